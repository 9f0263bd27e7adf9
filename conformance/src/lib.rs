//! Spec-derived conformance suite for OCI runtimes.
//!
//! The harness drives any runtime binary through its runc-compatible CLI, the
//! way container engines do, and judges only what can be observed from the
//! outside: exit statuses, `state` output, files written by hooks, and what a
//! busybox-based container prints about itself.
//!
//! The runtime under test is chosen with `OCI_RUNTIME` (a path, or a name
//! looked up on `PATH`). Without it, the `berth` binary built in this
//! workspace is used.
//!
//! Every test gets a [`TestContainer`]: a private directory holding the
//! bundle (a busybox rootfs and `config.json`), the runtime's `--root`, and
//! the files the container's stdio is redirected to. Dropping it force-deletes
//! the container and removes everything the test created, even on failure.

use serde_json::{json, Value};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Where every test directory and the cached rootfs template live.
pub const WORK_DIR: &str = "/tmp/berth-conformance";
/// Every test container's cgroup lives under this absolute cgroupsPath prefix.
pub const CGROUP_PREFIX: &str = "/berth-test";
/// Environment variable set in every container process, so leaked processes
/// can be found by scanning `/proc/*/environ`.
pub const MARKER_ENV: &str = "BERTH_TEST_ID";

// ---------------------------------------------------------------------------
// Runtime selection
// ---------------------------------------------------------------------------

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Resolve the runtime binary under test.
///
/// `OCI_RUNTIME` may be a path or a command name; otherwise the workspace's
/// `target/release/berth` or `target/debug/berth` is used. Panics with an
/// explanation when nothing is found, so a misconfigured run fails loudly.
pub fn runtime_binary() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(v) = std::env::var_os("OCI_RUNTIME") {
            let s = v.to_string_lossy().to_string();
            if s.contains('/') {
                let p = PathBuf::from(&s);
                return if p.is_file() {
                    Ok(p)
                } else {
                    Err(format!("OCI_RUNTIME={s}: no such file"))
                };
            }
            return find_on_path(&s).ok_or_else(|| format!("OCI_RUNTIME={s}: not found on PATH"));
        }
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
        for p in ["release/berth", "debug/berth"] {
            let p = target.join(p);
            if p.is_file() {
                return Ok(p.canonicalize().unwrap_or(p));
            }
        }
        Err("no runtime under test: set OCI_RUNTIME=runc (or a path), or build berth \
             (cargo build -p berth) so target/{release,debug}/berth exists"
            .to_string())
    })
    .clone()
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The output of `<runtime> --version`, cached; used to recognise runtimes
/// with known, legitimate gaps (see [`skip_for`]).
pub fn runtime_version() -> String {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        Command::new(runtime_binary())
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default()
    })
    .clone()
}

/// Returns true (and prints why) when the runtime under test's `--version`
/// output starts with `prefix`, e.g. `"runc version 1.1"`. Tests use it to
/// skip a check for a runtime that lacks a feature, never to relax one.
///
/// `CONFORMANCE_NO_SKIP=1` disables all skips, to see the actual failures.
pub fn skip_for(prefix: &str, reason: &str) -> bool {
    if std::env::var_os("CONFORMANCE_NO_SKIP").is_some() {
        return false;
    }
    if runtime_version().starts_with(prefix) {
        eprintln!("SKIP for `{prefix}`: {reason}");
        true
    } else {
        false
    }
}

/// Per-command timeout; `CONFORMANCE_TIMEOUT` (seconds) overrides it.
pub fn command_timeout() -> Duration {
    std::env::var("CONFORMANCE_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(15))
}

// ---------------------------------------------------------------------------
// Rootfs
// ---------------------------------------------------------------------------

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\n\
audio:x:29:\nusers:x:100:\nnogroup:x:65534:\n";

extern "C" fn remove_template() {
    let _ = fs::remove_dir_all(template_dir());
}

fn template_dir() -> PathBuf {
    Path::new(WORK_DIR).join(format!(".rootfs-template-{}", std::process::id()))
}

/// Build (once per test process) a busybox-static rootfs template and return
/// its path. Templates of test processes that no longer exist are removed.
pub fn rootfs_template() -> &'static Path {
    static T: OnceLock<PathBuf> = OnceLock::new();
    T.get_or_init(|| {
        fs::create_dir_all(WORK_DIR).expect("create work dir");
        // Drop templates left by earlier test processes that are gone.
        if let Ok(rd) = fs::read_dir(WORK_DIR) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if let Some(pid) = name.strip_prefix(".rootfs-template-") {
                    if !Path::new("/proc").join(pid).exists() {
                        let _ = fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let t = template_dir();
        let _ = fs::remove_dir_all(&t);
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .expect("busybox not found: apt-get install busybox-static");
        for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "root", "var", "run"] {
            fs::create_dir_all(t.join(d)).unwrap();
        }
        fs::copy(&busybox, t.join("bin/busybox")).expect("copy busybox");
        let list = Command::new(&busybox).arg("--list").output().expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let applet = applet.trim();
            if applet.is_empty() || applet == "busybox" || applet.contains('/') {
                continue;
            }
            let _ = symlink("busybox", t.join("bin").join(applet));
        }
        fs::write(t.join("etc/passwd"), PASSWD).unwrap();
        fs::write(t.join("etc/group"), GROUP).unwrap();
        fs::write(t.join("etc/hostname"), "template\n").unwrap();
        // SAFETY: registering a plain extern "C" fn with no captured state.
        unsafe { libc::atexit(remove_template) };
        t
    })
}

/// Copy the cached template to `dest` (preserving symlinks and modes).
pub fn install_rootfs(dest: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(rootfs_template())
        .arg(dest)
        .status()
        .expect("run cp");
    assert!(st.success(), "cp -a rootfs template failed");
}

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

/// The default capability set given to test containers (the set engines
/// commonly use).
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// A runc-like default `config.json` for container `id`.
pub fn default_config(id: &str) -> Value {
    // Some runtimes (crun 1.8) only accept the versions they know:
    // CONFORMANCE_OCI_VERSION overrides the default "1.3.0".
    let version = std::env::var("CONFORMANCE_OCI_VERSION").unwrap_or_else(|_| "1.3.0".into());
    json!({
        "ociVersion": version,
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                format!("{MARKER_ENV}={id}"),
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS,
                "effective": DEFAULT_CAPS,
                "permitted": DEFAULT_CAPS,
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "berth-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ],
            "cgroupsPath": format!("{CGROUP_PREFIX}/{id}")
        }
    })
}

fn unescape_token(t: &str) -> String {
    t.replace("~1", "/").replace("~0", "~")
}

/// Set the value at JSON pointer `ptr`, creating intermediate objects. The
/// last token `-` appends to an array.
pub fn json_set(root: &mut Value, ptr: &str, v: Value) {
    assert!(ptr.starts_with('/'), "JSON pointer must start with '/': {ptr}");
    let tokens: Vec<String> = ptr[1..].split('/').map(unescape_token).collect();
    let mut cur = root;
    for (i, tok) in tokens.iter().enumerate() {
        let last = i + 1 == tokens.len();
        if cur.is_null() {
            *cur = json!({});
        }
        cur = match cur {
            Value::Object(m) => {
                if last {
                    m.insert(tok.clone(), v);
                    return;
                }
                m.entry(tok.clone()).or_insert(Value::Null)
            }
            Value::Array(a) => {
                if tok == "-" {
                    assert!(last, "'-' only allowed as last token: {ptr}");
                    a.push(v);
                    return;
                }
                let idx: usize = tok.parse().unwrap_or_else(|_| panic!("bad index in {ptr}"));
                if last {
                    a[idx] = v;
                    return;
                }
                &mut a[idx]
            }
            other => panic!("cannot descend into {other} at {tok} in {ptr}"),
        };
    }
    unreachable!()
}

/// Remove the value at JSON pointer `ptr` (no-op if absent).
pub fn json_remove(root: &mut Value, ptr: &str) {
    let (parent, last) = ptr.rsplit_once('/').expect("pointer");
    let last = unescape_token(last);
    match root.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(&last);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = last.parse::<usize>() {
                if i < a.len() {
                    a.remove(i);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Running the runtime
// ---------------------------------------------------------------------------

/// Result of one runtime invocation.
#[derive(Debug, Clone)]
pub struct RtOutput {
    pub args: Vec<String>,
    /// Exit code, `None` if killed by a signal or timed out.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Content of the `--log` file after the command (whole file).
    pub log: String,
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl RtOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    fn describe(&self) -> String {
        format!(
            "`{}` -> code {:?}{} in {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- log ---\n{}",
            self.args.join(" "),
            self.code,
            if self.timed_out { " (TIMED OUT, killed)" } else { "" },
            self.elapsed,
            self.stdout,
            self.stderr,
            self.log
        )
    }
    /// Panic unless the command exited 0.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(self.success(), "expected success: {}", self.describe());
        self
    }
    /// Panic unless the command exited non-zero (not by timeout).
    #[track_caller]
    pub fn fails(&self) -> &Self {
        assert!(!self.timed_out, "runtime hung: {}", self.describe());
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "expected a non-zero exit: {}",
            self.describe()
        );
        // Shown with --nocapture: what the runtime said, for comparing runtimes.
        eprintln!(
            "[expected failure] {} -> {:?}: stderr={:?} log={:?}",
            self.args.iter().skip(1).skip_while(|a| a.starts_with("--") || a.contains('/') || *a == "json").cloned().collect::<Vec<_>>().join(" "),
            self.code,
            self.stderr.trim(),
            self.log.trim()
        );
        self
    }
    /// Panic unless the runtime reported an error on stderr or in its log.
    #[track_caller]
    pub fn reports_error(&self) -> &Self {
        assert!(
            !self.stderr.trim().is_empty() || !self.log.trim().is_empty(),
            "expected an error message on stderr or in the log: {}",
            self.describe()
        );
        self
    }
    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.describe()))
    }
}

/// Where a spawned runtime's stdio goes.
pub struct Stdio3 {
    pub stdin: Stdio,
    pub stdout: File,
    pub stderr: File,
}

/// A runtime binary with a private `--root` and a JSON `--log` file.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub bin: PathBuf,
    pub root: PathBuf,
    pub log: Option<PathBuf>,
    /// Directory for captured stdout/stderr files.
    pub scratch: PathBuf,
    pub timeout: Duration,
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

impl Runtime {
    fn global_args(&self) -> Vec<String> {
        let mut v = vec!["--root".to_string(), self.root.display().to_string()];
        if let Some(l) = &self.log {
            v.extend(["--log".into(), l.display().to_string(), "--log-format".into(), "json".into()]);
        }
        v
    }

    /// Run `<bin> <global args> <args>` with stdin from /dev/null and stdout,
    /// stderr captured through files (never pipes: a container inheriting a
    /// pipe would keep it open and hang the reader).
    pub fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> RtOutput {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let out_p = self.scratch.join(format!("cmd-{n}.out"));
        let err_p = self.scratch.join(format!("cmd-{n}.err"));
        let io = Stdio3 {
            stdin: Stdio::null(),
            stdout: File::create(&out_p).expect("create stdout file"),
            stderr: File::create(&err_p).expect("create stderr file"),
        };
        let mut o = self.cmd_io(args, io);
        o.stdout = fs::read_to_string(&out_p).unwrap_or_default();
        o.stderr = fs::read_to_string(&err_p).unwrap_or_default();
        let _ = fs::remove_file(&out_p);
        let _ = fs::remove_file(&err_p);
        o
    }

    /// Like [`Runtime::cmd`] with caller-provided stdio; `stdout`/`stderr`
    /// of the result are empty.
    pub fn cmd_io<S: AsRef<OsStr>>(&self, args: &[S], io: Stdio3) -> RtOutput {
        let mut all = self.global_args();
        all.extend(args.iter().map(|a| a.as_ref().to_string_lossy().to_string()));
        let start = Instant::now();
        let mut child = Command::new(&self.bin)
            .args(&all)
            .stdin(io.stdin)
            .stdout(io.stdout)
            .stderr(io.stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.bin.display()));
        let (status, timed_out) = wait_timeout(&mut child, self.timeout);
        let mut shown = vec![self.bin.display().to_string()];
        shown.extend(all);
        RtOutput {
            args: shown,
            code: status.and_then(|s| s.code()),
            stdout: String::new(),
            stderr: String::new(),
            log: self.log.as_ref().and_then(|l| fs::read_to_string(l).ok()).unwrap_or_default(),
            timed_out,
            elapsed: start.elapsed(),
        }
    }
}

/// Wait for `child` up to `timeout`; on timeout SIGKILL it (by its PID) and
/// reap it. Returns the status (None on timeout) and whether it timed out.
pub fn wait_timeout(child: &mut std::process::Child, timeout: Duration) -> (Option<ExitStatus>, bool) {
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_micros(500);
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return (Some(st), false),
            Ok(None) => {}
            Err(_) => return (None, false),
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (None, true);
        }
        thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------
// Test container
// ---------------------------------------------------------------------------

/// Output captured from a container run to completion.
#[derive(Debug, Clone)]
pub struct Captured {
    pub stdout: String,
    pub stderr: String,
}

/// One test's container: bundle, private runtime root, id and config.
/// Dropping it force-deletes the container and removes its directories.
pub struct TestContainer {
    pub id: String,
    /// `WORK_DIR/<id>`: holds bundle/, state/ and captured files.
    pub base: PathBuf,
    pub bundle: PathBuf,
    pub rt: Runtime,
    pub config: Value,
    pub pid_file: PathBuf,
    /// Container stdout/stderr files used by [`TestContainer::create`].
    pub out_file: PathBuf,
    pub err_file: PathBuf,
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect()
}

impl TestContainer {
    /// A fresh container context for test `name`: unique id, bundle with a
    /// busybox rootfs and the default config (not yet written).
    pub fn new(name: &str) -> Self {
        // Resolve the runtime first: if it is missing we panic before
        // creating anything that Drop would have to clean.
        let bin = runtime_binary();
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}-{}-{}", sanitize(name), std::process::id(), n);
        let base = Path::new(WORK_DIR).join(&id);
        let _ = fs::remove_dir_all(&base);
        let bundle = base.join("bundle");
        fs::create_dir_all(&bundle).expect("create bundle dir");
        install_rootfs(&bundle.join("rootfs"));
        let state = base.join("state");
        fs::create_dir_all(&state).unwrap();
        let rt = Runtime {
            bin,
            root: state,
            log: Some(base.join("runtime-log.json")),
            scratch: base.clone(),
            timeout: command_timeout(),
        };
        TestContainer {
            config: default_config(&id),
            pid_file: base.join("container.pid"),
            out_file: base.join("container.out"),
            err_file: base.join("container.err"),
            id,
            base,
            bundle,
            rt,
        }
    }

    /// The process args (`process.args`).
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.set("/process/args", json!(args))
    }
    /// Run `script` with `sh -c` as the container process.
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.args(&["sh", "-c", script])
    }
    /// Set a config field by JSON pointer.
    pub fn set(&mut self, ptr: &str, v: Value) -> &mut Self {
        json_set(&mut self.config, ptr, v);
        self
    }
    /// Append to an array by JSON pointer (created if missing).
    pub fn push(&mut self, ptr: &str, v: Value) -> &mut Self {
        if self.config.pointer(ptr).is_none() {
            json_set(&mut self.config, ptr, json!([]));
        }
        json_set(&mut self.config, &format!("{ptr}/-"), v);
        self
    }
    /// Remove a config field by JSON pointer.
    pub fn remove(&mut self, ptr: &str) -> &mut Self {
        json_remove(&mut self.config, ptr);
        self
    }
    /// Remove the namespace entry of `ty` from linux.namespaces.
    pub fn drop_namespace(&mut self, ty: &str) -> &mut Self {
        if let Some(Value::Array(a)) = self.config.pointer_mut("/linux/namespaces") {
            a.retain(|n| n["type"] != ty);
        }
        self
    }
    /// Write `config.json` into the bundle.
    pub fn write_config(&self) {
        fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .expect("write config.json");
    }

    /// Run a runtime command (global flags added).
    pub fn cmd(&self, args: &[&str]) -> RtOutput {
        self.rt.cmd(args)
    }

    /// Write the config and `create --bundle B --pid-file P ID`, with the
    /// container's stdout/stderr going to [`Self::out_file`]/[`Self::err_file`].
    pub fn create(&self) -> RtOutput {
        self.write_config();
        self.create_with(&[])
    }

    /// `create` with extra flags before the id, without rewriting config.json.
    pub fn create_with(&self, extra: &[&str]) -> RtOutput {
        let bundle = self.bundle.display().to_string();
        let pid = self.pid_file.display().to_string();
        let mut args = vec!["create", "--bundle", &bundle, "--pid-file", &pid];
        args.extend_from_slice(extra);
        args.push(&self.id);
        let io = Stdio3 {
            stdin: Stdio::null(),
            stdout: File::create(&self.out_file).unwrap(),
            stderr: File::create(&self.err_file).unwrap(),
        };
        let mut o = self.rt.cmd_io(&args, io);
        // For create, the runtime's own stdio is the container's stdio.
        o.stdout = fs::read_to_string(&self.out_file).unwrap_or_default();
        o.stderr = fs::read_to_string(&self.err_file).unwrap_or_default();
        o
    }

    pub fn start(&self) -> RtOutput {
        self.cmd(&["start", &self.id])
    }
    pub fn state(&self) -> RtOutput {
        self.cmd(&["state", &self.id])
    }
    /// `state ID` parsed, panicking if it fails.
    #[track_caller]
    pub fn state_json(&self) -> Value {
        self.state().ok().json()
    }
    pub fn kill(&self, sig: &str) -> RtOutput {
        self.cmd(&["kill", &self.id, sig])
    }
    pub fn delete(&self) -> RtOutput {
        self.cmd(&["delete", &self.id])
    }
    pub fn delete_force(&self) -> RtOutput {
        self.cmd(&["delete", "--force", &self.id])
    }

    /// Poll `state` until its status is `want` or `timeout` passes.
    pub fn wait_status(&self, want: &str, timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        let mut failures = 0;
        loop {
            let o = self.state();
            if !o.success() {
                // `state` must work from create until delete: a container
                // that cannot be queried will never reach `want`.
                failures += 1;
                if failures >= 5 {
                    return Err(format!("state keeps failing: {}", o.stderr.trim()));
                }
            } else {
                failures = 0;
            }
            if o.success() {
                if let Ok(v) = serde_json::from_str::<Value>(&o.stdout) {
                    if v["status"] == want {
                        return Ok(v);
                    }
                    last = v["status"].to_string();
                }
            } else {
                last = format!("state failed: {}", o.stderr.trim());
            }
            if Instant::now() >= deadline {
                return Err(format!("status never became {want:?} (last: {last})"));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// create + start, then wait for the container to stop; return what it
    /// printed. Panics if any step fails.
    #[track_caller]
    pub fn run_to_completion(&self) -> Captured {
        self.create().ok();
        self.start().ok();
        if let Err(e) = self.wait_status("stopped", command_timeout()) {
            panic!(
                "container did not stop: {e}\nstdout: {}\nstderr: {}",
                fs::read_to_string(&self.out_file).unwrap_or_default(),
                fs::read_to_string(&self.err_file).unwrap_or_default()
            );
        }
        Captured {
            stdout: fs::read_to_string(&self.out_file).unwrap_or_default(),
            stderr: fs::read_to_string(&self.err_file).unwrap_or_default(),
        }
    }

    /// Run `sh -c script` in the container to completion and return stdout.
    #[track_caller]
    pub fn run_sh(&mut self, script: &str) -> String {
        self.sh(script);
        self.run_to_completion().stdout
    }

    /// Pid written to the `--pid-file`.
    pub fn pid_from_file(&self) -> Option<i32> {
        fs::read_to_string(&self.pid_file).ok()?.trim().parse().ok()
    }

    /// `delete` (no force) must succeed, then nothing may be left behind.
    #[track_caller]
    pub fn delete_and_check(&self, pid: Option<i32>) {
        self.delete().ok();
        self.assert_no_leaks(pid);
    }

    /// Assert nothing of this container survives: state dir, cgroup dirs,
    /// processes (by pid, by cgroup, by marker env), mounts under the base.
    #[track_caller]
    pub fn assert_no_leaks(&self, pid: Option<i32>) {
        // Processes die asynchronously after SIGKILL: allow a short grace.
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let leaks = self.leaks(pid);
            if leaks.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                panic!("container {} left things behind:\n  {}", self.id, leaks.join("\n  "));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything of this container still present, as readable lines.
    pub fn leaks(&self, pid: Option<i32>) -> Vec<String> {
        let mut v = Vec::new();
        let sd = self.rt.root.join(&self.id);
        if sd.exists() {
            v.push(format!("state dir {} still exists", sd.display()));
        }
        for d in self.cgroup_dirs() {
            v.push(format!("cgroup dir {} still exists", d.display()));
        }
        if let Some(p) = pid {
            if process_alive(p) {
                v.push(format!("container pid {p} still running"));
            }
        }
        for p in self.marked_processes() {
            if Some(p) != pid {
                v.push(format!("process {p} of this container still running"));
            }
        }
        for m in mounts_under(&self.base) {
            v.push(format!("mount left on {m}"));
        }
        v
    }

    /// Existing cgroup directories for this container in any hierarchy.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let rel = format!("{}/{}", CGROUP_PREFIX.trim_start_matches('/'), self.id);
        let mut out = Vec::new();
        if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
            for e in rd.flatten() {
                let p = e.path();
                if fs::symlink_metadata(&p).map(|m| m.is_dir()).unwrap_or(false) {
                    let d = p.join(&rel);
                    if d.is_dir() {
                        out.push(d);
                    }
                }
            }
        }
        let d = Path::new("/sys/fs/cgroup").join(&rel);
        if d.is_dir() && !out.contains(&d) {
            out.push(d);
        }
        out
    }

    /// Live (non-zombie) processes belonging to this container: in its
    /// cgroup, or carrying its marker environment variable.
    pub fn marked_processes(&self) -> Vec<i32> {
        let cg = format!("{CGROUP_PREFIX}/{}", self.id);
        let marker = format!("{MARKER_ENV}={}", self.id);
        let mut out = Vec::new();
        let Ok(rd) = fs::read_dir("/proc") else { return out };
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            if !process_alive(pid) {
                continue;
            }
            let in_cg = fs::read_to_string(e.path().join("cgroup"))
                .map(|s| {
                    s.lines().any(|l| {
                        let path = l.splitn(3, ':').nth(2).unwrap_or("");
                        path == cg || path.starts_with(&format!("{cg}/"))
                    })
                })
                .unwrap_or(false);
            let has_env = fs::read(e.path().join("environ"))
                .map(|b| b.split(|c| *c == 0).any(|x| x == marker.as_bytes()))
                .unwrap_or(false);
            if in_cg || has_env {
                out.push(pid);
            }
        }
        out
    }

    /// A path inside the bundle.
    pub fn bpath(&self, rel: &str) -> PathBuf {
        self.bundle.join(rel)
    }
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        let _ = self.rt.cmd(&["delete", "--force", &self.id]);
        // Anything the runtime failed to clean is still ours: kill by pid.
        for _ in 0..50 {
            let procs = self.marked_processes();
            if procs.is_empty() {
                break;
            }
            for p in procs {
                // SAFETY: kill(2) on a pid we identified as this test's container.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
            thread::sleep(Duration::from_millis(20));
        }
        let mut dirs = self.cgroup_dirs();
        for d in dirs.drain(..) {
            rmdir_tree(&d);
        }
        // Lazily unmount anything left under our own directory before removing
        // it, so remove_dir_all never descends into a foreign filesystem.
        let mut ms = mounts_under(&self.base);
        ms.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in &ms {
            if let Ok(c) = std::ffi::CString::new(m.as_str()) {
                // SAFETY: plain syscall with a valid C string.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        if mounts_under(&self.base).is_empty() && std::env::var_os("CONFORMANCE_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.base);
        }
    }
}

/// Remove a cgroup directory tree (cgroup dirs are removed with rmdir only).
fn rmdir_tree(d: &Path) {
    if let Ok(rd) = fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                rmdir_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(d);
}

/// Whether `pid` exists and is not a zombie.
pub fn process_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

/// Mount points (in this process's mount namespace) at or under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let d = dir.display().to_string();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(|s| s.to_string()))
        .filter(|mp| mp == &d || mp.starts_with(&format!("{d}/")))
        .collect()
}

// ---------------------------------------------------------------------------
// Observation helpers
// ---------------------------------------------------------------------------

/// Parse `Key:\tvalue` lines (e.g. /proc/self/status) into pairs.
pub fn status_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// Capability bit numbers by name (CAP_CHOWN = 0 ...).
pub fn cap_bit(name: &str) -> u32 {
    const CAPS: &[&str] = &[
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
        "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
        "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
        "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
        "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
        "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
    ];
    let n = name.trim_start_matches("CAP_");
    CAPS.iter()
        .position(|c| *c == n)
        .unwrap_or_else(|| panic!("unknown capability {name}")) as u32
}

/// The capability mask for a list of names.
pub fn cap_mask(names: &[&str]) -> u64 {
    names.iter().fold(0u64, |m, n| m | (1u64 << cap_bit(n)))
}

/// Inode identity (`type:[inode]`) of one of the host's namespaces.
pub fn host_ns(kind: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{kind}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// A helper process (`sleep`) that the test starts in new namespaces with
/// `unshare`, so a container can join them by path. Killed by pid on drop.
pub struct NsHolder {
    pub child: std::process::Child,
}

impl NsHolder {
    /// `unshare <flags> sleep 1000`; waits until its namespaces differ from ours.
    pub fn new(unshare_flags: &[&str], kinds: &[&str]) -> Self {
        let child = Command::new("unshare")
            .args(unshare_flags)
            .args(["sleep", "1000"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn unshare");
        let h = NsHolder { child };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let ready = fs::read_to_string(format!("/proc/{}/comm", h.pid()))
                .map(|c| c.trim() == "sleep")
                .unwrap_or(false)
                && kinds.iter().all(|k| h.ns(k) != host_ns(k));
            if ready {
                return h;
            }
            thread::sleep(Duration::from_millis(5));
        }
        panic!("namespace holder did not come up");
    }
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
    pub fn ns_path(&self, kind: &str) -> String {
        format!("/proc/{}/ns/{kind}", self.pid())
    }
    pub fn ns(&self, kind: &str) -> String {
        fs::read_link(self.ns_path(kind))
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }
}

impl Drop for NsHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A unix socket the runtime sends the pty master to (`--console-socket`).
pub struct ConsoleSocket {
    pub path: PathBuf,
    rx: mpsc::Receiver<Result<OwnedFd, String>>,
}

impl ConsoleSocket {
    /// Listen at `path`; a background thread accepts one connection and
    /// receives one file descriptor with SCM_RIGHTS.
    pub fn listen(path: &Path) -> Self {
        let _ = fs::remove_file(path);
        let l = UnixListener::bind(path).expect("bind console socket");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let r = (|| -> Result<OwnedFd, String> {
                let (conn, _) = l.accept().map_err(|e| e.to_string())?;
                recv_fd(conn.as_raw_fd())
            })();
            let _ = tx.send(r);
        });
        ConsoleSocket { path: path.to_path_buf(), rx }
    }
    /// The received pty master, waiting up to `timeout`.
    pub fn master(&self, timeout: Duration) -> Result<OwnedFd, String> {
        self.rx.recv_timeout(timeout).map_err(|e| format!("no fd received: {e}"))?
    }
}

fn recv_fd(sock: i32) -> Result<OwnedFd, String> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(|e| format!("recvmsg: {e}"))?;
    for c in msg.cmsgs().map_err(|e| e.to_string())? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this fd in our table; we own it.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err("message carried no file descriptor".into())
}

/// Read everything from a pty master until the slave side is closed (EIO)
/// or `timeout` passes.
pub fn read_pty(master: OwnedFd, timeout: Duration) -> String {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut f = File::from(master);
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    let _ = tx.send(String::from_utf8_lossy(&out).to_string());
                }
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&out).to_string());
    });
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while let Ok(s) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        last = s;
    }
    last
}

/// `(type, major, minor)` of a device node described by `ls -l`-free means:
/// parse a line `path type major minor` printed by `stat -c '%n %F %t %T'`.
pub fn parse_stat_dev(line: &str) -> Option<(String, String, u64, u64)> {
    // Format: "<path>|<file type>|<major hex>|<minor hex>"
    let mut it = line.split('|');
    let p = it.next()?.to_string();
    let t = it.next()?.to_string();
    let ma = u64::from_str_radix(it.next()?.trim(), 16).ok()?;
    let mi = u64::from_str_radix(it.next()?.trim(), 16).ok()?;
    Some((p, t, ma, mi))
}

/// Major/minor of a host device node.
pub fn host_dev(path: &str) -> Option<(u64, u64)> {
    let m = fs::metadata(path).ok()?;
    if !(m.file_type().is_char_device() || m.file_type().is_block_device()) {
        return None;
    }
    let r = m.rdev();
    Some((libc::major(r) as u64, libc::minor(r) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_pointer_set_and_remove() {
        let mut v = json!({"a": {"b": [1, 2]}});
        json_set(&mut v, "/a/b/-", json!(3));
        json_set(&mut v, "/a/c/d", json!("x"));
        json_set(&mut v, "/a/b/0", json!(0));
        json_set(&mut v, "/k~1v", json!(true));
        assert_eq!(v, json!({"a": {"b": [0, 2, 3], "c": {"d": "x"}}, "k/v": true}));
        json_remove(&mut v, "/a/b/1");
        json_remove(&mut v, "/a/c");
        json_remove(&mut v, "/nope/x");
        assert_eq!(v, json!({"a": {"b": [0, 3]}, "k/v": true}));
    }

    #[test]
    fn default_config_is_well_formed() {
        let c = default_config("x1");
        assert_eq!(c["linux"]["cgroupsPath"], "/berth-test/x1");
        assert!(c["process"]["env"].as_array().unwrap().iter().any(|e| e == "BERTH_TEST_ID=x1"));
        assert_eq!(c["root"]["path"], "rootfs");
    }

    #[test]
    fn capability_masks() {
        assert_eq!(cap_mask(&["CAP_CHOWN"]), 1);
        assert_eq!(cap_mask(&["CAP_KILL", "CAP_NET_BIND_SERVICE"]), (1 << 5) | (1 << 10));
        assert_eq!(cap_bit("CAP_CHECKPOINT_RESTORE"), 40);
    }

    #[test]
    fn status_and_dev_parsing() {
        let s = "Name:\tsh\nCapEff:\t00000000a80425fb\nNoNewPrivs:\t1\n";
        assert_eq!(status_field(s, "CapEff"), Some("00000000a80425fb"));
        assert_eq!(status_field(s, "NoNewPrivs"), Some("1"));
        assert_eq!(status_field(s, "Missing"), None);
        let d = parse_stat_dev("/dev/tty|character special file|5|0").unwrap();
        assert_eq!((d.2, d.3), (5, 0));
        assert_eq!(parse_stat_dev("/dev/x|character special file|88|a").unwrap().2, 136);
    }

    #[test]
    fn pids_and_mounts() {
        assert!(process_alive(std::process::id() as i32));
        assert!(!process_alive(i32::MAX));
        assert!(mounts_under(Path::new("/proc")).iter().any(|m| m == "/proc"));
        assert!(mounts_under(Path::new("/definitely/not/mounted")).is_empty());
    }
}
