//! Engine-driven tests: a real containerd, started by the test with a private
//! configuration (root, state and sockets under a temporary directory, CRI
//! disabled), driving our shim and runtime.
//!
//! [`Containerd`] owns everything a test starts; dropping it kills every task
//! it still holds, stops containerd, ends leftover shims of this containerd
//! (by pid), unmounts whatever is left under the temporary directory, removes
//! the test cgroups and the directory itself, even when the test panicked.

pub mod engine;
pub mod image;
pub mod netns;
pub mod pty;
pub mod sandbox;
pub mod scenario;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Name of the image every test imports.
pub const IMAGE: &str = "docker.io/library/berth-busybox:test";
/// The containerd namespace tests use.
pub const NAMESPACE: &str = "berth-it";
/// Shim binary name.
pub const SHIM: &str = "containerd-shim-berth-v2";

/// The workspace's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The cargo profile directory matching this test build.
pub fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// Builds (if stale) and returns a workspace binary of `package`, in this
/// test build's profile.
pub fn workspace_binary(package: &str, bin: &str) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q", "-p", package]).current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile() == "release" {
        cmd.arg("--release");
    }
    let out = cmd.output().map_err(|e| format!("cargo build -p {package}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo build -p {package} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let p = target_dir().join(profile()).join(bin);
    p.canonicalize().map_err(|e| format!("{}: {e}", p.display()))
}

/// The target the shim is built for when its standard library is installed
/// (scripts/setup.sh adds it through rustup where it can): a static musl
/// binary keeps the long-lived shim's resident memory near 1 MB, where
/// static glibc plus std makes it nearly 2.
pub const SHIM_TARGET: &str = "x86_64-unknown-linux-musl";

/// Whether rustc has the standard library for `target`.
pub fn has_target(target: &str) -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).args(["--print", "target-libdir", "--target", target]).output();
    match out {
        Ok(o) if o.status.success() => {
            // rustc prints the directory whether or not the target is installed.
            let dir = String::from_utf8_lossy(&o.stdout).trim().to_string();
            std::fs::read_dir(&dir).is_ok_and(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("libstd-")))
        }
        _ => false,
    }
}

/// Builds (if stale) and returns the shim as users install it: for
/// [`SHIM_TARGET`] when that target is installed, else for the host.
pub fn shim_binary() -> Result<PathBuf, String> {
    if !has_target(SHIM_TARGET) {
        return workspace_binary("containerd-shim-berth-v2", SHIM);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q", "-p", "containerd-shim-berth-v2", "--target", SHIM_TARGET]).current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile() == "release" {
        cmd.arg("--release");
    }
    let out = cmd.output().map_err(|e| format!("cargo build the shim for {SHIM_TARGET}: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo build the shim for {SHIM_TARGET} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let p = target_dir().join(SHIM_TARGET).join(profile()).join(SHIM);
    p.canonicalize().map_err(|e| format!("{}: {e}", p.display()))
}

/// Finds `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// A unique id for a container of this test process.
pub fn unique_id(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("bit-{}-{}-{tag}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// A running containerd private to one test.
pub struct Containerd {
    /// Temporary directory holding config, root, state and sockets.
    pub dir: PathBuf,
    /// containerd's gRPC socket.
    pub sock: PathBuf,
    /// Environment given to containerd (and so to the shims it starts).
    env: Vec<(String, String)>,
    child: Option<Child>,
    /// Container ids handed out by `run_args*`, whose cgroups Drop removes.
    ids: std::sync::Mutex<Vec<String>>,
}

impl Containerd {
    /// Starts containerd with the shim's directory first on its PATH and
    /// `env` in its environment. `shim_dir` holds `containerd-shim-berth-v2`.
    pub fn start(shim_dir: &Path, env: &[(&str, &str)]) -> Result<Containerd, String> {
        let dir = std::env::temp_dir().join(format!("berth-ctrd-{}", unique_id("d")));
        std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let sock = dir.join("c.sock");
        let path = format!("{}:{}", shim_dir.display(), std::env::var("PATH").unwrap_or_default());
        let mut env: Vec<(String, String)> =
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.push(("PATH".into(), path));
        env.push(("BERTH_SHIM_ROOT".into(), dir.join("runtime").display().to_string()));
        let mut c = Containerd { dir, sock, env, child: None, ids: Default::default() };
        c.spawn()?;
        Ok(c)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let d = &self.dir;
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{sock}\"\n\
             [plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{opt}\"\n",
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = self.sock.display(),
            opt = d.join("opt").display(),
        );
        let cfg = d.join("config.toml");
        std::fs::write(&cfg, config).map_err(|e| format!("write config: {e}"))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("containerd.log"))
            .map_err(|e| format!("containerd log: {e}"))?;
        let mut cmd = Command::new("containerd");
        cmd.arg("--config").arg(&cfg).stdin(Stdio::null());
        cmd.stdout(log.try_clone().map_err(|e| e.to_string())?).stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().map_err(|e| format!("spawn containerd: {e}"))?);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.sock.exists() && self.ctr(&["version"]).status.success() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("containerd did not come up; log:\n{}", self.log()))
    }

    /// The pid of the running containerd.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// containerd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// A `ctr` command aimed at this containerd, in the test namespace.
    pub fn ctr_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address").arg(&self.sock).args(["--namespace", NAMESPACE]).args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs `ctr` with a timeout of two minutes.
    pub fn ctr(&self, args: &[&str]) -> Output {
        run_timeout(self.ctr_cmd(args), Duration::from_secs(120))
    }

    /// Imports the busybox test image.
    pub fn import_image(&self) -> Result<(), String> {
        let tar = self.dir.join("image.tar");
        image::write_busybox_image(&tar, IMAGE).map_err(|e| format!("build image: {e}"))?;
        let out = self.ctr(&["images", "import", &tar.display().to_string()]);
        if !out.status.success() {
            return Err(format!("ctr images import: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(())
    }

    /// Arguments for `ctr run` that every test container gets: our runtime,
    /// a cgroup under /berth-test, FIFOs under the temp dir.
    pub fn run_args(&self, id: &str) -> Vec<String> {
        self.run_args_with("io.containerd.berth.v2", id)
    }

    /// [`Containerd::run_args`] for another containerd runtime (e.g.
    /// `io.containerd.runc.v2`, to compare).
    pub fn run_args_with(&self, runtime: &str, id: &str) -> Vec<String> {
        self.ids.lock().unwrap().push(id.to_string());
        vec![
            "run".into(),
            "--runtime".into(),
            runtime.into(),
            "--cgroup".into(),
            format!("/berth-test/{id}"),
            "--fifo-dir".into(),
            self.dir.join("fifo").display().to_string(),
        ]
    }

    /// Stops containerd (SIGTERM, then SIGKILL after 10 s) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, Duration::from_secs(10));
        }
    }

    /// Kills and deletes every task and container in the test namespace.
    pub fn remove_all(&self) {
        let ids = String::from_utf8_lossy(&self.ctr(&["containers", "ls", "-q"]).stdout).to_string();
        for id in ids.split_whitespace() {
            let _ = self.ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
            let _ = self.ctr(&["tasks", "delete", "-f", id]);
            let _ = self.ctr(&["containers", "delete", id]);
        }
    }

    /// Pids of our shim processes serving this containerd.
    pub fn shim_pids(&self) -> Vec<i32> {
        self.pids_of(SHIM)
    }

    /// Pids of processes named `binary` whose arguments name this containerd.
    pub fn pids_of(&self, binary: &str) -> Vec<i32> {
        let needle = self.sock.display().to_string();
        let mut pids = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else { continue };
            let args: Vec<String> =
                cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).to_string()).collect();
            if args.first().is_some_and(|a| a.ends_with(binary)) && args.contains(&needle) {
                pids.push(pid);
            }
        }
        pids
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.remove_all();
        }
        self.stop();
        for pid in self.shim_pids().into_iter().chain(self.pids_of("containerd-shim-runc-v2")) {
            // SAFETY: kill(2) on a shim started for our own containerd.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        unmount_under(&self.dir);
        remove_test_cgroups(&self.ids.lock().unwrap());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Unmounts (lazily) every mount point under `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    let prefix = dir.display().to_string();
    let mut points: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        if let Ok(c) = std::ffi::CString::new(p) {
            // SAFETY: c is a valid NUL-terminated path.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// Removes the (empty) cgroups `/berth-test/<id>` of the given containers,
/// in every hierarchy (v1 controllers and the v2 mount).
pub fn remove_test_cgroups(ids: &[String]) {
    let mut bases = vec![PathBuf::from("/sys/fs/cgroup/berth-test")];
    for ctl in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        bases.push(ctl.path().join("berth-test"));
    }
    for base in bases {
        for id in ids {
            let _ = std::fs::remove_dir(base.join(id));
        }
    }
}

/// Runs a command, killing it (by pid) after `timeout`.
pub fn run_timeout(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => panic!("spawn {cmd:?}: {e}"),
    };
    let (mut so, mut se) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: t_out.join().unwrap_or_default(), stderr: t_err.join().unwrap_or_default() }
}

impl Containerd {
    /// Kills containerd with SIGKILL (as a crash would) and starts it again
    /// on the same root, state and socket; shims keep running meanwhile.
    pub fn crash_and_restart(&mut self) -> Result<(), String> {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.sock);
        self.spawn()
    }

    /// Starts `ctr events` in the background; read it with
    /// [`EventStream::wait_for`] and [`EventStream::stop`].
    pub fn events(&self) -> EventStream {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address").arg(&self.sock).arg("events");
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = cmd.spawn().expect("spawn ctr events");
        let mut out = child.stdout.take().unwrap();
        let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = text.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        // `ctr events` subscribes after it connects; give it a moment.
        std::thread::sleep(Duration::from_millis(700));
        EventStream { child: Some(child), text }
    }
}

/// A running `ctr events`.
pub struct EventStream {
    child: Option<Child>,
    text: std::sync::Arc<std::sync::Mutex<String>>,
}

impl EventStream {
    /// Waits until `pred` holds for the output so far, at most `timeout`;
    /// returns whether it did.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if pred(&self.text.lock().unwrap()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Stops `ctr events` and returns everything it printed.
    pub fn stop(mut self) -> String {
        self.kill();
        std::thread::sleep(Duration::from_millis(50));
        let s = self.text.lock().unwrap().clone();
        s
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `cmd` as the session leader of a fresh pseudoterminal of `rows` x
/// `cols` (its controlling terminal, on fds 0-2), writes `input` to the
/// terminal after `input_after`, and returns its exit code and everything it
/// printed. Killed (by pid) after `timeout`.
pub fn run_in_pty(
    mut cmd: Command,
    rows: u16,
    cols: u16,
    input: &[u8],
    input_after: Duration,
    timeout: Duration,
) -> (Option<i32>, String) {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    let (mut master, mut slave) = (0, 0);
    let mut ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: openpty fills the two fds; name and termios may be null, and ws
    // points at a valid winsize.
    let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &mut ws) };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty just returned both fds; nothing else owns them.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()));
    cmd.stdout(Stdio::from(slave.try_clone().unwrap()));
    cmd.stderr(Stdio::from(slave));
    // SAFETY: runs in the child before exec; setsid and ioctl are
    // async-signal-safe. fd 0 is the slave, made the controlling terminal.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn in pty");
    drop(cmd);
    let mut reader = std::fs::File::from(master.try_clone().unwrap());
    let text = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // Ends with EIO once the child and everything holding the slave is gone.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let deadline = Instant::now() + timeout;
    let start = Instant::now();
    let mut sent = input.is_empty();
    let status = loop {
        if !sent && start.elapsed() >= input_after {
            use std::io::Write;
            let mut w = std::fs::File::from(master.try_clone().unwrap());
            let _ = w.write_all(input);
            sent = true;
        }
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(100));
    let _ = master.as_raw_fd();
    let out = String::from_utf8_lossy(&text.lock().unwrap()).to_string();
    (status.code(), out)
}

// ---- Helpers for the Podman and Docker tests ----

/// The runtime under test: `BERTH_IT_RUNTIME` (a path or a name on PATH,
/// e.g. `runc` to compare), else this build's berth.
pub fn runtime_under_test() -> PathBuf {
    match std::env::var("BERTH_IT_RUNTIME") {
        Ok(r) if !r.is_empty() => which(&r).unwrap_or_else(|| PathBuf::from(r)),
        _ => workspace_binary("berth", "berth").expect("build berth"),
    }
}

/// Writes `<dir>/runtime`, the "runtime binary" an engine is pointed at: a
/// shell script that appends each command line to `<dir>/calls.log`, then
/// execs `runtime` with `extra` arguments first (e.g. a private `--root`)
/// and the engine's arguments unchanged. The log proves which runtime ran
/// and which calls the engine made.
pub fn runtime_wrapper(dir: &Path, runtime: &Path, extra: &[&str]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("runtime");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{log}'\nexec '{rt}' {extra} \"$@\"\n",
        log = dir.join("calls.log").display(),
        rt = runtime.display(),
        extra = extra.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" "),
    );
    std::fs::write(&path, script).expect("write runtime wrapper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod runtime wrapper");
    path
}

/// The runtime calls logged by [`runtime_wrapper`] in `dir`.
pub fn runtime_calls(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default()
}

/// Container ids in the state directory `root` of the runtime under test
/// (`<runtime> --root <root> list -q`); empty when `root` does not exist.
pub fn runtime_list(runtime: &Path, root: &Path) -> Vec<String> {
    if !root.exists() {
        return Vec::new();
    }
    let mut cmd = Command::new(runtime);
    cmd.arg("--root").arg(root).args(["list", "-q"]).stdin(Stdio::null());
    let out = run_timeout(cmd, Duration::from_secs(20));
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect()
}

/// Pids of processes whose command line's first word ends with `binary`
/// and which mention `needle` in some argument.
pub fn pids_matching(binary: &str, needle: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).to_string()).collect();
        if args.first().is_some_and(|a| a.ends_with(binary)) && args.iter().any(|a| a.contains(needle)) {
            pids.push(pid);
        }
    }
    pids
}

/// Sends SIGKILL to each pid (processes this test started, found by
/// [`pids_matching`] on its private directory).
pub fn kill_pids(pids: &[i32]) {
    for &pid in pids {
        // SAFETY: kill(2) on a pid of a process this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Every hierarchy's directory for the cgroup `rel` (e.g.
/// `berth-test/pm-123`): the v1 controllers' and the cgroup2 mount's.
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    let mut out = vec![Path::new("/sys/fs/cgroup").join(rel)];
    for h in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        if h.path().join("cgroup.procs").exists() {
            out.push(h.path().join(rel));
        }
    }
    out.retain(|d| d.is_dir());
    out
}

/// Child cgroups left under `rel` in any hierarchy (e.g. a container's).
pub fn cgroup_children(rel: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in cgroup_dirs(rel) {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                out.push(e.path());
            }
        }
    }
    out
}

/// Removes the cgroup `rel` (one of ours, e.g. `berth-test/pm-123`) and
/// every cgroup below it, deepest first, in every hierarchy. Only rmdir:
/// nothing is written and no process is moved; a cgroup that still holds
/// processes stays (rmdir fails).
pub fn remove_cgroup_tree(rel: &str) {
    fn rm(d: &Path) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rm(&e.path());
            }
        }
        let _ = std::fs::remove_dir(d);
    }
    assert!(rel.starts_with("berth-test/") && !rel.contains(".."), "not one of our cgroups: {rel}");
    for d in cgroup_dirs(rel) {
        rm(&d);
    }
}

/// Mount points at or under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|p| p.starts_with(&prefix))
        .collect()
}

/// Formats a command's output for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A command's stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Sends SIGTERM to `child`, waits up to `grace` for it, then SIGKILLs it.
pub fn stop_child(child: &mut Child, grace: Duration) {
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}
