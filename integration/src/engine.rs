//! A Docker or Podman engine of a test's own, in its own network and mount
//! namespace ([`EngineNs`]), driving the runtime under test through a
//! wrapper that logs every call ([`runtime_wrapper`]).
//!
//! Docker: dockerd (with its own containerd) runs inside the namespace with
//! data root, exec root, pid file, socket and key under the test's
//! directory; the cgroupfs driver with a cgroup parent `/berth-test/<tag>`;
//! its default bridge, iptables rules and docker-proxy live in the
//! namespace. The runtime is registered as `berth`, either in daemon.json as
//! the default runtime or with `--add-runtime` (then every `run` passes
//! `--runtime berth`); optionally a directory with `runc` -> the wrapper
//! comes first on dockerd's PATH (BuildKit in dockerd 20.10 runs the `runc`
//! it finds there, whatever the default runtime). The client runs outside,
//! through the socket.
//!
//! Podman: every `podman` command runs inside the namespace (nsenter), with
//! a private containers.conf and storage.conf (graph root, run root, tmp
//! dir, volumes, network config under the test's directory; cgroupfs; file
//! locks and events), netavark and aardvark-dns for networks.
//!
//! A test may bring its own configuration instead ([`ConfigHook`] in
//! [`DockerOpts`] / [`PodmanOpts`]: the harness's settings without a runtime,
//! for the test to extend, e.g. with `scripts/install.sh`) and a directory
//! bind-mounted over `/usr/local/bin` inside the namespace only, so that
//! paths an installer wrote resolve to the test's copies there.
//!
//! Dropping an [`Engine`] removes its containers, stops dockerd (by pid),
//! kills every process left in its namespaces and cgroups, then removes
//! runtime state, cgroups and the directory ([`Sandbox`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::binaries::which;
use crate::host::cgroup_dirs;
use crate::image::busybox_rootfs_tar;
use crate::netns::EngineNs;
use crate::process::{run_timeout, show, stop_child};
use crate::runtime::{runtime_calls, runtime_list, runtime_wrapper};
use crate::sandbox::{cgroup_procs, Sandbox};

/// Which engine.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Docker 20.10 (dockerd + containerd + containerd-shim-runc-v2).
    Docker,
    /// Podman 4.3 (conmon).
    Podman,
}

/// A test's own engine configuration: called with the test's directory
/// and the harness's settings for the engine's configuration file (Docker:
/// daemon.json's JSON, Podman: containers.conf's TOML) without any runtime
/// entry, it writes the file the engine is to read (e.g. those settings
/// plus a user's, then edited by `scripts/install.sh`) and returns its path.
pub type ConfigHook<'a> = &'a dyn Fn(&Path, &str) -> PathBuf;

/// How dockerd knows the runtime under test.
#[derive(Clone, Copy, Default)]
pub struct DockerOpts<'a> {
    /// Register it with `--add-runtime berth=...` and pass `--runtime berth`
    /// to every `run`, the default runtime staying runc; else it is
    /// daemon.json's `default-runtime`.
    pub runtime_flag: bool,
    /// Put a directory holding `runc` -> the wrapper first on dockerd's
    /// PATH (for BuildKit).
    pub shadow_runc: bool,
    /// dockerd reads the daemon.json this returns ([`ConfigHook`]) instead
    /// of the harness's: the harness registers no runtime then (neither in
    /// the file nor with `--add-runtime`), whatever the file names is used.
    pub daemon_json: Option<ConfigHook<'a>>,
    /// A directory bind-mounted over `/usr/local/bin` in the engine's mount
    /// namespace before dockerd starts: the paths an installer wrote into a
    /// config resolve to the test's copies there, and only there.
    pub usr_local_bin: Option<&'a Path>,
}

/// How a private Podman is set up.
#[derive(Clone, Copy, Default)]
pub struct PodmanOpts<'a> {
    /// The namespace is also a cgroup namespace rooted at our cgroup parent
    /// ([`Engine::podman_in_cgroupns`]); `run` then gets no
    /// `--cgroup-parent`.
    pub cgroupns: bool,
    /// Podman reads (`CONTAINERS_CONF`) the containers.conf this returns
    /// ([`ConfigHook`]) instead of the harness's, which registers the
    /// runtime under test as the default `berth`.
    pub containers_conf: Option<ConfigHook<'a>>,
    /// A directory bind-mounted over `/usr/local/bin` in the namespace
    /// before Podman first runs (see [`DockerOpts::usr_local_bin`]).
    pub usr_local_bin: Option<&'a Path>,
}

/// A private engine in namespaces of its own.
pub struct Engine {
    /// Docker or Podman.
    pub kind: Kind,
    client: PathBuf,
    daemon: Option<Child>,
    /// The imported busybox image, as `run` names it.
    pub image: String,
    run_extra: Vec<String>,
    /// Whether the namespace is a cgroup namespace rooted at our parent.
    cgroupns: bool,
    /// The configuration file the engine reads: dockerd's daemon.json,
    /// Podman's containers.conf (`CONTAINERS_CONF`).
    pub config: PathBuf,
    /// Network and mount namespace (dropped before the sandbox).
    pub ns: EngineNs,
    /// Directory, runtime, cgroup parent (dropped last).
    pub sb: Sandbox,
    /// Set by [`Engine::shutdown`].
    down: bool,
}

impl Engine {
    /// A private dockerd with the busybox image imported; `None` (after a
    /// loud message) when Docker is not installed.
    pub fn docker(opts: DockerOpts) -> Option<Engine> {
        // Debian's docker.io client matches its daemon; a newer `docker`
        // may come first on PATH.
        let client = Some(PathBuf::from("/usr/bin/docker")).filter(|p| p.is_file()).or_else(|| which("docker"));
        let (Some(client), Some(_)) = (client, which("dockerd")) else {
            eprintln!("\n!!! SKIPPING docker scenarios: dockerd/docker not installed (scripts/setup.sh --tests installs docker.io) !!!\n");
            return None;
        };
        if !has_namespace_tools() {
            return None;
        }
        let sb = Sandbox::new("dk", "exec/runtime-runc/moby");
        let ns = EngineNs::new(&sb.dir).expect("engine namespace");
        let dir = sb.dir.clone();
        let mut e = Engine {
            kind: Kind::Docker,
            client,
            daemon: None,
            image: "berth-busybox:test".into(),
            run_extra: vec!["--pull".into(), "never".into()],
            cgroupns: false,
            config: dir.join("daemon.json"),
            ns,
            sb,
            down: false,
        };
        let wrapper = runtime_wrapper(&dir, &e.sb.runtime, &[]);
        let add_runtime = opts.runtime_flag && opts.daemon_json.is_none();
        let runtimes = if add_runtime {
            e.run_extra.extend(["--runtime".into(), "berth".into()]);
            String::new()
        } else if opts.daemon_json.is_some() {
            String::new()
        } else {
            format!(r#""runtimes": {{"berth": {{"path": "{}"}}}}, "default-runtime": "berth","#, wrapper.display())
        };
        let config = format!(
            r#"{{
  "exec-opts": ["native.cgroupdriver=cgroupfs"],
  "cgroup-parent": "/{cgroup}",
  {runtimes}
  "storage-driver": "overlay2",
  "deprecated-key-path": "{key}"
}}"#,
            cgroup = e.sb.cgroup,
            key = dir.join("key.json").display(),
        );
        match opts.daemon_json {
            Some(hook) => e.config = hook(&dir, &config),
            None => std::fs::write(&e.config, config).unwrap(),
        }
        if let Some(bin) = opts.usr_local_bin {
            e.ns.bind(bin, Path::new("/usr/local/bin")).expect("bind over /usr/local/bin in the engine's namespace");
        }
        let mut path = std::env::var("PATH").unwrap_or_default();
        if opts.shadow_runc {
            std::fs::create_dir_all(dir.join("bin")).unwrap();
            std::fs::copy(&wrapper, dir.join("bin/runc")).unwrap();
            path = format!("{}:{path}", dir.join("bin").display());
        }
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let mut cmd = e.ns.command("dockerd");
        cmd.arg("--config-file").arg(&e.config);
        cmd.arg("--data-root").arg(dir.join("data"));
        cmd.arg("--exec-root").arg(dir.join("exec"));
        cmd.arg("--pidfile").arg(dir.join("docker.pid"));
        cmd.arg("-H").arg(format!("unix://{}", e.docker_sock().display()));
        if add_runtime {
            cmd.arg("--add-runtime").arg(format!("berth={}", wrapper.display()));
        }
        cmd.env("PATH", path);
        cmd.stdout(log.try_clone().unwrap()).stderr(log);
        e.daemon = Some(cmd.spawn().expect("spawn dockerd"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if e.docker_sock().exists() && e.cli(&["version"]).status.success() {
                break;
            }
            assert!(Instant::now() < deadline, "dockerd did not come up; log:\n{}", e.daemon_log());
            std::thread::sleep(Duration::from_millis(100));
        }
        let tar = dir.join("rootfs.tar");
        std::fs::write(&tar, busybox_rootfs_tar().expect("busybox rootfs")).unwrap();
        let image = e.image.clone();
        let out = e.cli(&["import", "--change", "ENV PATH=/bin", &tar.display().to_string(), &image]);
        assert!(out.status.success(), "docker import: {}", show(&out));
        Some(e)
    }

    /// A private Podman with the busybox image imported; `None` (after a
    /// loud message) when podman is not installed.
    pub fn podman() -> Option<Engine> {
        Self::podman_with(PodmanOpts::default())
    }

    /// A private Podman whose namespace is also a cgroup namespace rooted
    /// at our cgroup parent ([`EngineNs::new_in_cgroup`]): for what takes no
    /// cgroup parent (`play kube`'s pods use `/libpod_parent`, which then
    /// lands under ours).
    pub fn podman_in_cgroupns() -> Option<Engine> {
        Self::podman_with(PodmanOpts { cgroupns: true, ..PodmanOpts::default() })
    }

    /// A private Podman set up as `opts` says; `None` (after a loud
    /// message) when podman is not installed.
    pub fn podman_with(opts: PodmanOpts) -> Option<Engine> {
        let cgroupns = opts.cgroupns;
        if which("podman").is_none() || which("conmon").is_none() {
            eprintln!("\n!!! SKIPPING podman scenarios: podman/conmon not installed (scripts/setup.sh --tests installs them) !!!\n");
            return None;
        }
        if !has_namespace_tools() {
            return None;
        }
        let sb = Sandbox::new("pm", "state");
        let ns = if cgroupns { EngineNs::new_in_cgroup(&sb.dir, &sb.cgroup) } else { EngineNs::new(&sb.dir) };
        let ns = ns.expect("engine namespace");
        let cgroup = sb.cgroup.clone();
        let mut run_extra = vec!["--pull=never".to_string()];
        if !cgroupns {
            run_extra.insert(0, format!("--cgroup-parent=/{cgroup}"));
        }
        let mut e = Engine {
            kind: Kind::Podman,
            client: PathBuf::from("podman"),
            daemon: None,
            image: "localhost/berth-busybox:test".into(),
            run_extra,
            cgroupns,
            config: sb.dir.join("containers.conf"),
            ns,
            sb,
            down: false,
        };
        let wrapper = runtime_wrapper(&e.sb.dir, &e.sb.runtime, &["--root", &e.sb.state.display().to_string()]);
        let d = |s: &str| e.sb.dir.join(s).display().to_string();
        // lock_type "file": the default SHM locks are shared by every Podman
        // on the machine. static_dir stays under graphroot (conmon's cleanup
        // command passes --root but no static dir).
        let settings = format!(
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n\
             [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nlock_type = \"file\"\n\
             {runtime}tmp_dir = \"{tmp}\"\nvolume_path = \"{vol}\"\n\
             {runtimes}\
             [network]\nnetwork_backend = \"netavark\"\nnetwork_config_dir = \"{net}\"\n",
            runtime = if opts.containers_conf.is_some() { "" } else { "runtime = \"berth\"\n" },
            runtimes = if opts.containers_conf.is_some() { String::new() } else { format!("[engine.runtimes]\nberth = [\"{}\"]\n", wrapper.display()) },
            tmp = d("tmp"),
            vol = d("volumes"),
            net = d("net"),
        );
        let config = match opts.containers_conf {
            Some(hook) => hook(&e.sb.dir, &settings),
            None => {
                std::fs::write(&e.config, settings).unwrap();
                e.config.clone()
            }
        };
        e.config = config;
        if let Some(bin) = opts.usr_local_bin {
            e.ns.bind(bin, Path::new("/usr/local/bin")).expect("bind over /usr/local/bin in the engine's namespace");
        }
        let storage = format!("[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n", d("graph"), d("run"));
        std::fs::write(e.sb.dir.join("storage.conf"), storage).unwrap();
        let tar = e.sb.dir.join("rootfs.tar");
        std::fs::write(&tar, busybox_rootfs_tar().expect("busybox rootfs")).unwrap();
        let image = e.image.clone();
        let out = e.cli(&["import", "--change", "ENV=PATH=/bin", &tar.display().to_string(), &image]);
        assert!(out.status.success(), "podman import: {}", show(&out));
        Some(e)
    }

    /// "docker" or "podman".
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Docker => "docker",
            Kind::Podman => "podman",
        }
    }

    /// Whether this is Docker.
    pub fn is_docker(&self) -> bool {
        self.kind == Kind::Docker
    }

    fn docker_sock(&self) -> PathBuf {
        self.sb.dir.join("docker.sock")
    }

    /// dockerd's log (empty for Podman).
    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.sb.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// The client command `docker ARGS` / `podman ARGS` (Podman's inside
    /// the namespace), stdin null.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = match self.kind {
            Kind::Docker => {
                let mut c = Command::new(&self.client);
                c.env("DOCKER_HOST", format!("unix://{}", self.docker_sock().display()));
                c.env("DOCKER_CONFIG", self.sb.dir.join("client"));
                c
            }
            Kind::Podman => {
                let mut c = self.ns.command(&self.client);
                c.env("CONTAINERS_CONF", &self.config);
                c.env("CONTAINERS_STORAGE_CONF", self.sb.dir.join("storage.conf"));
                c
            }
        };
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    /// A shell command line (`sh -c LINE`, e.g. a README snippet's) run as
    /// a user would type it against this engine, killed after two minutes:
    /// Docker's outside, with DOCKER_HOST at the private socket and
    /// `docker` the harness's client; Podman's inside the namespace with
    /// the private configuration.
    pub fn shell(&self, line: &str) -> Output {
        let mut cmd = match self.kind {
            Kind::Docker => {
                let bin = self.sb.dir.join("client-bin");
                if !bin.join("docker").exists() {
                    std::fs::create_dir_all(&bin).unwrap();
                    std::os::unix::fs::symlink(&self.client, bin.join("docker")).unwrap();
                }
                let mut c = Command::new("sh");
                c.env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()));
                c.env("DOCKER_HOST", format!("unix://{}", self.docker_sock().display()));
                c.env("DOCKER_CONFIG", self.sb.dir.join("client"));
                c
            }
            Kind::Podman => {
                let mut c = self.ns.command("sh");
                c.env("CONTAINERS_CONF", &self.config);
                c.env("CONTAINERS_STORAGE_CONF", self.sb.dir.join("storage.conf"));
                c
            }
        };
        cmd.arg("-c").arg(line).stdin(Stdio::null());
        run_timeout(cmd, Duration::from_secs(120))
    }

    /// Sends dockerd SIGHUP: it rereads its daemon.json (runtimes, default
    /// runtime and a few more settings).
    pub fn reload(&self) {
        let d = self.daemon.as_ref().expect("reload: no dockerd");
        // SAFETY: kill(2) on the pid of the dockerd this engine spawned
        // (nsenter execs it) and has not reaped.
        let rc = unsafe { libc::kill(d.id() as i32, libc::SIGHUP) };
        assert_eq!(rc, 0, "SIGHUP dockerd: {}", std::io::Error::last_os_error());
    }

    /// Runs the client (killed after two minutes).
    pub fn cli(&self, args: &[&str]) -> Output {
        run_timeout(self.cmd(args), Duration::from_secs(120))
    }

    /// Runs the client, asserts success, returns trimmed stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.status.success(), "{} {args:?}: {}\n{}", self.kind_name(), show(&out), self.tail_calls());
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `run` + the engine's own run arguments + `args`.
    pub fn run_args(&self, args: &[&str]) -> Vec<String> {
        let mut v = vec!["run".to_string()];
        v.extend(self.run_extra.iter().cloned());
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    /// The `run` command (for a pty).
    pub fn run_cmd(&self, args: &[&str]) -> Command {
        let v = self.run_args(args);
        self.cmd(&v.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Runs `run ARGS`.
    pub fn run(&self, args: &[&str]) -> Output {
        run_timeout(self.run_cmd(args), Duration::from_secs(120))
    }

    /// Arguments that put a container of `pod create`/`build` in our cgroup
    /// parent (empty for Docker, whose daemon has it).
    pub fn cgroup_parent_args(&self) -> Vec<String> {
        match self.kind {
            Kind::Podman if !self.cgroupns => vec![format!("--cgroup-parent=/{}", self.sb.cgroup)],
            _ => vec![],
        }
    }

    /// `build` arguments that put its RUN containers in our cgroup parent:
    /// buildah takes `--cgroup-parent` as the container's own cgroup, so a
    /// child of ours (empty for Docker).
    pub fn build_cgroup_args(&self) -> Vec<String> {
        match self.kind {
            Kind::Podman if !self.cgroupns => vec![format!("--cgroup-parent=/{}/build", self.sb.cgroup)],
            _ => vec![],
        }
    }

    /// Removes a container, running or not, at once (Podman's `rm -f`
    /// would first wait its stop timeout).
    pub fn rm_f(&self, name: &str) {
        match self.kind {
            Kind::Docker => self.ok(&["rm", "-f", name]),
            Kind::Podman => self.ok(&["rm", "-f", "-t", "0", name]),
        };
    }

    /// `inspect --format FMT NAME`, trimmed.
    pub fn inspect(&self, name: &str, fmt: &str) -> String {
        self.ok(&["inspect", "--format", fmt, name])
    }

    /// Every runtime call so far.
    pub fn calls(&self) -> String {
        runtime_calls(&self.sb.dir)
    }

    /// The length of the call log now, for [`Engine::calls_since`].
    pub fn calls_mark(&self) -> usize {
        self.calls().len()
    }

    /// Runtime calls made after `mark`.
    pub fn calls_since(&self, mark: usize) -> String {
        self.calls().get(mark..).unwrap_or_default().to_string()
    }

    /// Asserts the runtime under test got a call containing `needle` after
    /// `mark` (the engine really used it).
    pub fn assert_called(&self, mark: usize, needle: &str) {
        let calls = self.calls_since(mark);
        assert!(calls.contains(needle), "runtime under test got no `{needle}` call; calls:\n{calls}");
    }

    /// The last runtime calls, for failure messages.
    pub fn tail_calls(&self) -> String {
        let c = self.calls();
        let lines: Vec<&str> = c.lines().collect();
        format!("last runtime calls:\n{}", lines[lines.len().saturating_sub(8)..].join("\n"))
    }

    /// Host path of a container's cgroup directory in the v1 hierarchy `ctl`
    /// (found anywhere under our cgroup parent).
    pub fn cgroup_dir(&self, ctl: &str, id: &str) -> PathBuf {
        let leaf = match self.kind {
            Kind::Docker => id.to_string(),
            Kind::Podman => format!("libpod-{id}"),
        };
        cgroup_descendants(&self.sb.cgroup)
            .into_iter()
            .find(|d| d.starts_with(Path::new("/sys/fs/cgroup").join(ctl)) && d.ends_with(&leaf))
            .unwrap_or_else(|| panic!("no {ctl} cgroup for {id} under {}", self.sb.cgroup))
    }

    /// A container's cgroup file in the v1 hierarchy `ctl`, trimmed.
    pub fn cgroup_file(&self, ctl: &str, id: &str, file: &str) -> String {
        let p = self.cgroup_dir(ctl, id).join(file);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).trim().to_string()
    }

    /// Runtime state directories (`--root`s) the engine used.
    fn state_roots(&self) -> Vec<PathBuf> {
        let mut roots = vec![self.sb.state.clone()];
        if self.is_docker() {
            for e in std::fs::read_dir(self.sb.dir.join("exec")).into_iter().flatten().flatten() {
                if e.file_name().to_string_lossy().starts_with("runtime-") {
                    roots.push(e.path().join("moby"));
                }
            }
        }
        roots.retain(|r| r.exists());
        roots.dedup();
        roots
    }

    /// Removes every container, pod, volume and network of the engine.
    pub fn reset(&self) {
        match self.kind {
            Kind::Docker => {
                let ids = self.cli(&["ps", "-a", "-q"]);
                for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                    let _ = self.cli(&["rm", "--force", "--volumes", id]);
                }
            }
            Kind::Podman => {
                let _ = self.cli(&["pod", "rm", "--all", "--force", "--time", "0"]);
                let _ = self.cli(&["rm", "--all", "--force", "--time", "0"]);
            }
        }
        let _ = self.cli(&["volume", "prune", "--force"]);
        let _ = self.cli(&["network", "prune", "--force"]);
    }

    /// Mounts of the engine itself, kept until it stops.
    fn engine_mount(&self, m: &str) -> bool {
        let rel = m.strip_prefix(&self.sb.dir.display().to_string()).unwrap_or(m);
        match self.kind {
            // The graph driver's own bind and the namespace staging dir.
            // The data root and graph driver binds, the host network's
            // sandbox (made on the first --network host), the staging dir.
            Kind::Docker => rel == "/data" || rel == "/data/overlay2" || rel == "/exec/netns/default" || rel.starts_with("/ns-sys"),
            Kind::Podman => rel == "/graph/overlay" || rel.starts_with("/ns-sys"),
        }
    }

    /// Nothing of the engine's containers is left: none listed, no runtime
    /// state, no container cgroup (conmon's may stay until shutdown), no
    /// mount under the test's directory but the engine's own, no network
    /// namespace pinned by a mount.
    pub fn assert_clean(&self) {
        let ps = self.cli(&["ps", "-a", "-q"]);
        assert!(stdout_trim(&ps).is_empty(), "containers left: {}", show(&ps));
        if self.kind == Kind::Podman {
            let pods = self.cli(&["pod", "ps", "-q"]);
            assert!(stdout_trim(&pods).is_empty(), "pods left: {}", show(&pods));
        }
        for root in self.state_roots() {
            let left = runtime_list(&self.sb.runtime, &root);
            assert!(left.is_empty(), "runtime state left in {}: {left:?}", root.display());
        }
        if self.is_docker() {
            // BuildKit runs `runc` with its default root: the namespace's /run.
            let mut c = self.ns.command(&self.sb.runtime);
            c.args(["list", "-q"]);
            let o = run_timeout(c, Duration::from_secs(20));
            assert!(stdout_trim(&o).is_empty(), "runtime state left in its default root: {}", show(&o));
        }
        // Engines keep their parents until the end: Podman conmon's (and
        // its default parent in a cgroup namespace), BuildKit's `buildkit`.
        // Podman also leaves a removed pod's cgroup in the hierarchies it
        // does not manage (name=systemd, unified), whatever the runtime.
        let podman_leftover = |p: &Path| {
            self.kind == Kind::Podman
                && (p.starts_with("/sys/fs/cgroup/systemd") || p.starts_with("/sys/fs/cgroup/unified"))
                && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("libpod-"))
        };
        let cgroups: Vec<PathBuf> = cgroup_descendants(&self.sb.cgroup)
            .into_iter()
            .filter(|p| !p.ends_with("conmon") && !p.ends_with("libpod_parent") && !p.ends_with("buildkit"))
            .filter(|p| !podman_leftover(p))
            .collect();
        assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
        let mounts: Vec<String> = self.ns.mounts_under(&self.sb.dir).into_iter().filter(|m| !self.engine_mount(m)).collect();
        assert!(mounts.is_empty(), "mounts left: {mounts:?}");
        let netns: Vec<String> = self.ns.netns_mounts().into_iter().filter(|m| !self.engine_mount(m)).collect();
        assert!(netns.is_empty(), "network namespaces left: {netns:?}");
    }

    /// Removes everything, checks it is gone, stops dockerd and checks that
    /// no process is left in the namespaces or our cgroups.
    pub fn shutdown(&mut self) {
        self.down = true;
        self.reset();
        self.assert_clean();
        if let Some(mut d) = self.daemon.take() {
            stop_child(&mut d, Duration::from_secs(20));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut left = self.ns.processes();
        while !left.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            left = self.ns.processes();
        }
        let holder = self.ns.pid;
        let in_cgroups: Vec<i32> = cgroup_procs(&self.sb.cgroup).into_iter().filter(|p| *p != holder).collect();
        assert!(left.is_empty(), "processes left in the engine's namespaces: {left:?}");
        assert!(in_cgroups.is_empty(), "processes left in our cgroups: {in_cgroups:?}");
    }
}

/// Every cgroup directory below our cgroup `rel`, in every hierarchy.
fn cgroup_descendants(rel: &str) -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(e.path());
                walk(&e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    for d in cgroup_dirs(rel) {
        walk(&d, &mut out);
    }
    out
}

fn stdout_trim(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// unshare, nsenter and ip are needed for the namespace (util-linux and
/// iproute2, on every Debian).
fn has_namespace_tools() -> bool {
    let missing: Vec<&str> = ["unshare", "nsenter", "ip"].into_iter().filter(|t| which(t).is_none()).collect();
    if !missing.is_empty() {
        eprintln!("\n!!! SKIPPING engine scenarios: {missing:?} not installed (util-linux, iproute2) !!!\n");
    }
    missing.is_empty()
}

impl Drop for Engine {
    fn drop(&mut self) {
        if !self.down {
            self.reset();
        }
        if let Some(mut d) = self.daemon.take() {
            stop_child(&mut d, Duration::from_secs(20));
        }
    }
}
