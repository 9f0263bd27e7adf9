//! One test's container: bundle, runtime root, lifecycle helpers, leak checks.

use super::*;
use serde_json::{json, Value};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

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

pub(crate) fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

impl TestContainer {
    /// A fresh container context for test `name`: unique id, bundle with a
    /// busybox rootfs and the default config (not yet written).
    pub fn new(name: &str) -> Self {
        // Resolve the runtime first: if it is missing we panic before
        // creating anything that Drop would have to clean.
        let bin = runtime_binary();
        *live() += 1;
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}-{}-{}", sanitize(name), std::process::id(), n);
        let base = Path::new(WORK_DIR).join(&id);
        let _ = fs::remove_dir_all(&base);
        let bundle = base.join("bundle");
        fs::create_dir_all(&bundle).expect("create bundle dir");
        install_rootfs(&bundle.join("rootfs"));
        let state = base.join("state");
        fs::create_dir_all(&state).unwrap();
        let rt = Runtime { bin, root: state, log: Some(base.join("runtime-log.json")), scratch: base.clone(), timeout: command_timeout() };
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
        fs::write(self.bundle.join("config.json"), serde_json::to_vec_pretty(&self.config).unwrap()).expect("write config.json");
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
        self.create_prepared(extra, |_| {})
    }

    /// [`TestContainer::create_with`], with a last say on the runtime's
    /// command (see [`Runtime::cmd_io_with`]).
    pub fn create_prepared(&self, extra: &[&str], prepare: impl FnOnce(&mut std::process::Command)) -> RtOutput {
        let bundle = self.bundle.display().to_string();
        let pid = self.pid_file.display().to_string();
        let mut args = vec!["create", "--bundle", &bundle, "--pid-file", &pid];
        args.extend_from_slice(extra);
        args.push(&self.id);
        let io = Stdio3 { stdin: Stdio::null(), stdout: File::create(&self.out_file).unwrap(), stderr: File::create(&self.err_file).unwrap() };
        let mut o = self.rt.cmd_io_with(&args, io, prepare);
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
        Captured { stdout: fs::read_to_string(&self.out_file).unwrap_or_default(), stderr: fs::read_to_string(&self.err_file).unwrap_or_default() }
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
            let has_env = fs::read(e.path().join("environ")).map(|b| b.split(|c| *c == 0).any(|x| x == marker.as_bytes())).unwrap_or(false);
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
        let mut n = live();
        *n -= 1;
        if *n == 0 {
            remove_prefix_if_empty();
        }
    }
}

/// How many test containers of this process exist. The runtime makes the
/// shared parent [`CGROUP_PREFIX`] on the way to a container's cgroup; it
/// is removed when the last container goes (under this lock, so never
/// while another test's create is on its way through it).
static LIVE: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

fn live() -> std::sync::MutexGuard<'static, usize> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Remove [`CGROUP_PREFIX`] from every hierarchy where nothing is left in
/// it (rmdir only: a cgroup still in use stays).
fn remove_prefix_if_empty() {
    let rel = CGROUP_PREFIX.trim_start_matches('/');
    let _ = fs::remove_dir(Path::new("/sys/fs/cgroup").join(rel));
    for e in fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        let _ = fs::remove_dir(e.path().join(rel));
    }
}

/// [`remove_prefix_if_empty`] unless a test container of this process
/// still exists: for helpers that make cgroups under the prefix
/// themselves, once they removed theirs.
pub(crate) fn release_prefix() {
    if *live() == 0 {
        remove_prefix_if_empty();
    }
}

/// Remove a cgroup directory tree (cgroup dirs are removed with rmdir only).
pub(crate) fn rmdir_tree(d: &Path) {
    if let Ok(rd) = fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                rmdir_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(d);
}

/// A started container whose process sleeps; returns it with its init's pid.
#[track_caller]
pub fn running(name: &str) -> (TestContainer, i32) {
    let mut c = TestContainer::new(name);
    c.args(&["sleep", "100"]);
    c.create().ok();
    c.start().ok();
    let pid = c.wait_status("running", Duration::from_secs(10)).unwrap()["pid"].as_i64().unwrap() as i32;
    (c, pid)
}
