//! A real containerd private to one test: configuration, root, state and
//! sockets under a temporary directory, CRI disabled, driving our shim and
//! runtime; and [`EventStream`], a running `ctr events`.
//! [`Containerd::start_with`] starts one on a configuration file the test
//! wrote (e.g. with the CRI plugin enabled, as scripts/install.sh left it),
//! optionally inside an [`EngineNs`].
//!
//! [`Containerd`] owns everything a test starts; dropping it kills every task
//! it still holds, stops containerd, ends leftover shims of this containerd
//! (by pid), unmounts whatever is left under the temporary directory, removes
//! the test cgroups and the directory itself, even when the test panicked.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::binaries::SHIM;
use crate::host::{remove_test_cgroups, unmount_under};
use crate::image;
use crate::netns::EngineNs;
use crate::process::{run_timeout, stop_child, unique_id};

/// Name of the image every test imports.
pub const IMAGE: &str = "docker.io/library/berth-busybox:test";
/// The containerd namespace tests use.
pub const NAMESPACE: &str = "berth-it";

/// A running containerd private to one test.
pub struct Containerd {
    /// Temporary directory holding config, root, state and sockets.
    pub dir: PathBuf,
    /// containerd's gRPC socket.
    pub sock: PathBuf,
    /// Environment given to containerd (and so to the shims it starts).
    env: Vec<(String, String)>,
    /// The configuration file when the test wrote it (else `spawn` writes
    /// the default one).
    config: Option<PathBuf>,
    /// Words before `containerd` (`nsenter ... --` into an [`EngineNs`]).
    launcher: Vec<String>,
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
        let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.push(("PATH".into(), path));
        env.push(("BERTH_SHIM_ROOT".into(), dir.join("runtime").display().to_string()));
        let mut c = Containerd { dir, sock, env, config: None, launcher: Vec::new(), child: None, ids: Default::default() };
        c.spawn()?;
        Ok(c)
    }

    /// Starts containerd on the configuration file `config`, which the test
    /// wrote: its root, state and gRPC address `sock` must lie under `dir`
    /// (the test's directory, removed on Drop like the default one's), and
    /// every other path it names too (CRI's CNI directories, ...). With `ns`,
    /// containerd runs inside those namespaces (and so do its shims and what
    /// they start); a `ctr` run from outside still reaches it through
    /// `sock`. `env` is set on top of the inherited environment (give it a
    /// PATH when the shim's directory must come first).
    pub fn start_with(dir: &Path, config: &Path, sock: &Path, ns: Option<&EngineNs>, env: &[(&str, &str)]) -> Result<Containerd, String> {
        for p in [config, sock] {
            assert!(p.starts_with(dir), "{} is not under the test's directory {}", p.display(), dir.display());
        }
        let mut c = Containerd {
            dir: dir.to_path_buf(),
            sock: sock.to_path_buf(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            config: Some(config.to_path_buf()),
            launcher: ns.map(EngineNs::enter_args).unwrap_or_default(),
            child: None,
            ids: Default::default(),
        };
        c.spawn()?;
        Ok(c)
    }

    /// The configuration file containerd runs with.
    pub fn config_path(&self) -> PathBuf {
        self.config.clone().unwrap_or_else(|| self.dir.join("config.toml"))
    }

    fn spawn(&mut self) -> Result<(), String> {
        if self.config.is_none() {
            self.write_default_config()?;
        }
        let cfg = self.config_path();
        let d = &self.dir;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(d.join("containerd.log")).map_err(|e| format!("containerd log: {e}"))?;
        let mut cmd = match self.launcher.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg("containerd");
                c
            }
            None => Command::new("containerd"),
        };
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
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!("containerd exited ({status}); log:\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("containerd did not come up; log:\n{}", self.log()))
    }

    /// The harness's own configuration: everything under `dir`, CRI off.
    fn write_default_config(&self) -> Result<(), String> {
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
        std::fs::write(d.join("config.toml"), config).map_err(|e| format!("write config: {e}"))
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
        self.import_image_as(IMAGE)
    }

    /// Imports the busybox test image under the reference `name` (e.g. the
    /// README's `docker.io/library/busybox:latest`).
    pub fn import_image_as(&self, name: &str) -> Result<(), String> {
        let tar = self.dir.join("image.tar");
        image::write_busybox_image(&tar, name).map_err(|e| format!("build image: {e}"))?;
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
            let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).to_string()).collect();
            if args.first().is_some_and(|a| a.ends_with(binary)) && args.contains(&needle) {
                pids.push(pid);
            }
        }
        pids
    }

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
