//! Docker 20.10 → containerd → containerd-shim-runc-v2 → berth, end to end,
//! through the `docker` CLI.
//!
//! Each test starts its own dockerd: data root, exec root, pid file, socket
//! and trust key under a temporary directory; no iptables, no bridge; the
//! cgroupfs driver with a cgroup parent `/berth-test/<unique>`; the runtime
//! `berth` (default) registered in a private daemon.json, pointing at a
//! wrapper script that logs each call and runs berth (or
//! `BERTH_IT_RUNTIME`) with Docker's arguments unchanged. dockerd starts and
//! stops its own containerd. [`Dockerd`]'s Drop removes every container,
//! stops dockerd (by pid), kills whatever of ours is left (containerd, shims,
//! by pid, found by our directory in their arguments), unmounts and deletes
//! the directory and removes the cgroup tree, even when the test failed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use integration::{
    cgroup_dirs, image::busybox_rootfs_tar, kill_pids, pids_matching, run_in_pty, run_timeout, runtime_calls,
    runtime_wrapper, sandbox::Sandbox, show, stdout, stop_child, unique_id, which,
};

const IMAGE: &str = "berth-busybox:test";

struct Dockerd {
    client: PathBuf,
    child: Option<Child>,
    /// Dropped after Dockerd's own Drop has stopped dockerd and its processes.
    sb: Sandbox,
}

impl Dockerd {
    /// A private dockerd with the busybox image imported; `None` (after a
    /// loud message) when Docker is not installed.
    fn start() -> Option<Dockerd> {
        // Debian's docker.io client matches its daemon; another `docker` may
        // come first on PATH (a newer one lives in /usr/local/bin here).
        let client = Some(PathBuf::from("/usr/bin/docker")).filter(|p| p.is_file()).or_else(|| which("docker"));
        let (Some(client), Some(_)) = (client, which("dockerd")) else {
            eprintln!("\n!!! SKIPPING docker tests: dockerd/docker not installed (scripts/setup.sh --tests installs docker.io) !!!\n");
            return None;
        };
        // Docker passes --root itself (<exec-root>/runtime-runc/moby).
        let mut d = Dockerd { client, child: None, sb: Sandbox::new("dk", "exec/runtime-runc/moby") };
        let wrapper = runtime_wrapper(&d.sb.dir, &d.sb.runtime, &[]);
        let config = format!(
            r#"{{
  "exec-opts": ["native.cgroupdriver=cgroupfs"],
  "cgroup-parent": "/{cgroup}",
  "runtimes": {{"berth": {{"path": "{wrapper}"}}}},
  "default-runtime": "berth",
  "iptables": false, "ip-forward": false, "ip-masq": false, "bridge": "none",
  "storage-driver": "overlay2",
  "deprecated-key-path": "{key}"
}}"#,
            cgroup = d.sb.cgroup,
            wrapper = wrapper.display(),
            key = d.sb.dir.join("key.json").display(),
        );
        std::fs::write(d.sb.dir.join("daemon.json"), config).unwrap();
        let log = std::fs::File::create(d.sb.dir.join("dockerd.log")).unwrap();
        let mut cmd = Command::new("dockerd");
        cmd.arg("--config-file").arg(d.sb.dir.join("daemon.json"));
        cmd.arg("--data-root").arg(d.sb.dir.join("data"));
        cmd.arg("--exec-root").arg(d.sb.dir.join("exec"));
        cmd.arg("--pidfile").arg(d.sb.dir.join("docker.pid"));
        cmd.arg("-H").arg(format!("unix://{}", d.sock().display()));
        cmd.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
        d.child = Some(cmd.spawn().expect("spawn dockerd"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if d.sock().exists() && d.docker(&["version"]).status.success() {
                break;
            }
            assert!(Instant::now() < deadline, "dockerd did not come up; log:\n{}", d.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        let tar = d.sb.dir.join("rootfs.tar");
        std::fs::write(&tar, busybox_rootfs_tar().expect("busybox rootfs")).unwrap();
        let out = d.docker(&["import", "--change", "ENV PATH=/bin", &tar.display().to_string(), IMAGE]);
        assert!(out.status.success(), "docker import: {}", show(&out));
        Some(d)
    }

    fn sock(&self) -> PathBuf {
        self.sb.dir.join("docker.sock")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.sb.dir.join("dockerd.log")).unwrap_or_default()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.client);
        cmd.args(args).stdin(Stdio::null());
        cmd.env("DOCKER_HOST", format!("unix://{}", self.sock().display()));
        cmd.env("DOCKER_CONFIG", self.sb.dir.join("client"));
        cmd
    }

    fn docker(&self, args: &[&str]) -> Output {
        run_timeout(self.cmd(args), Duration::from_secs(60))
    }

    /// `docker run` with `--network none` before `extra`.
    fn run(&self, extra: &[&str]) -> Output {
        let mut args = vec!["run", "--network", "none"];
        args.extend_from_slice(extra);
        self.docker(&args)
    }

    fn calls(&self) -> String {
        runtime_calls(&self.sb.dir)
    }

    /// Host path of a container's cgroup file in a v1 hierarchy.
    fn cgroup_file(&self, ctl: &str, id: &str, file: &str) -> String {
        let dir = cgroup_dirs(&format!("{}/{id}", self.sb.cgroup))
            .into_iter()
            .find(|d| d.starts_with(Path::new("/sys/fs/cgroup").join(ctl)))
            .unwrap_or_else(|| panic!("no {ctl} cgroup for {id}"));
        std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display())).trim().to_string()
    }

    /// No container, runtime state, container cgroup or container mount left.
    fn assert_clean(&self) {
        // dockerd's own mounts (data root overlay2, exec root netns dir) stay
        // until Drop; a container's (rootfs, shm, network namespace) must not.
        let container_mount = |m: &str| m.contains("/merged") || m.contains("/mounts/") || m.contains("/netns/");
        self.sb.assert_clean(&self.docker(&["ps", "-a", "-q"]), |_| false, |m| !container_mount(m));
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if self.child.is_some() {
            let ids = self.docker(&["ps", "-a", "-q"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = self.docker(&["rm", "--force", id]);
            }
        }
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, Duration::from_secs(20));
        }
        let needle = self.sb.dir.display().to_string();
        for bin in ["containerd-shim-runc-v2", "containerd", "dockerd"] {
            kill_pids(&pids_matching(bin, &needle));
        }
    }
}

#[test]
fn docker_run_rm_reports_exit_code_and_output() {
    let Some(d) = Dockerd::start() else { return };
    let out = d.run(&["--rm", IMAGE, "sh", "-c", "echo hello; echo oops >&2; exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}\ncalls:\n{}", show(&out), d.calls());
    assert_eq!(stdout(&out).trim(), "hello", "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("oops"), "{}", show(&out));

    // Docker maps the runtime's exec errors to the shell's exit codes.
    let out = d.run(&["--rm", IMAGE, "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", show(&out));
    let out = d.run(&["--rm", IMAGE, "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126), "{}", show(&out));

    // Docker really drove our runtime, through the runc shim's calls.
    let calls = d.calls();
    for verb in ["--log-format json create --bundle", " start ", " delete --force "] {
        assert!(calls.contains(verb), "no `{verb}` call; calls:\n{calls}");
    }
    d.assert_clean();
}

#[test]
fn docker_run_detached_exec_stop_kill_rm() {
    let Some(d) = Dockerd::start() else { return };
    let name = unique_id("d");
    // A shell that leaves on SIGTERM, so `stop` ends it without SIGKILL.
    let script = "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 0.1; done";
    let out = d.run(&["-d", "--name", &name, IMAGE, "sh", "-c", script]);
    assert!(out.status.success(), "{}\ncalls:\n{}", show(&out), d.calls());

    let out = d.docker(&["exec", &name, "sh", "-c", "echo in-exec; exit 4"]);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert_eq!(stdout(&out).trim(), "in-exec", "{}", show(&out));
    let out = d.docker(&["exec", "-e", "FOO=bar", &name, "sh", "-c", "echo $FOO"]);
    assert_eq!(stdout(&out).trim(), "bar", "{}", show(&out));

    // `docker top` asks the runtime for the pids (`ps --format json`).
    let top = d.docker(&["top", &name]);
    assert!(top.status.success() && stdout(&top).contains("sh -c"), "{}", show(&top));

    let out = d.docker(&["pause", &name]);
    assert!(out.status.success(), "pause: {}", show(&out));
    let st = d.docker(&["inspect", "-f", "{{.State.Status}}", &name]);
    assert_eq!(stdout(&st).trim(), "paused", "{}", show(&st));
    let out = d.docker(&["unpause", &name]);
    assert!(out.status.success(), "unpause: {}", show(&out));

    let out = d.docker(&["stop", "-t", "10", &name]);
    assert!(out.status.success(), "stop: {}", show(&out));
    let st = d.docker(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", &name]);
    assert_eq!(stdout(&st).trim(), "exited 0", "SIGTERM should have ended it: {}", show(&st));
    let logs = d.docker(&["logs", &name]);
    assert_eq!(stdout(&logs), "ready\nbye\n", "{}", show(&logs));

    // Started again, then killed.
    let out = d.docker(&["start", &name]);
    assert!(out.status.success(), "start: {}", show(&out));
    let out = d.docker(&["kill", &name]);
    assert!(out.status.success(), "kill: {}", show(&out));
    let out = d.docker(&["wait", &name]);
    assert_eq!(stdout(&out).trim(), "137", "{}", show(&out));

    let out = d.docker(&["rm", &name]);
    assert!(out.status.success(), "rm: {}", show(&out));
    let calls = d.calls();
    for verb in [" exec --process ", " ps --format json ", " pause ", " resume ", " kill "] {
        assert!(calls.contains(verb), "no `{verb}` call; calls:\n{calls}");
    }
    d.assert_clean();
}

#[test]
fn docker_memory_limit_cpu_shares_and_update() {
    let Some(d) = Dockerd::start() else { return };
    let name = unique_id("m");
    let out = d.run(&["-d", "--name", &name, "--memory", "64m", IMAGE, "sleep", "1000"]);
    assert!(out.status.success(), "{}\ncalls:\n{}", show(&out), d.calls());
    let id = stdout(&out).trim().to_string();

    assert_eq!(d.cgroup_file("memory", &id, "memory.limit_in_bytes"), "67108864");
    // Docker sends "shares": 0 for "not set"; it must not become 2.
    assert_eq!(d.cgroup_file("cpu", &id, "cpu.shares"), "1024");
    let inside = d.docker(&["exec", &name, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]);
    assert_eq!(stdout(&inside).trim(), "67108864", "{}", show(&inside));

    // docker update fills what it leaves alone with zeros.
    let out = d.docker(&["update", "--memory", "32m", "--memory-swap", "64m", &name]);
    assert!(out.status.success(), "update: {}", show(&out));
    assert_eq!(d.cgroup_file("memory", &id, "memory.limit_in_bytes"), "33554432");
    assert_eq!(d.cgroup_file("memory", &id, "memory.memsw.limit_in_bytes"), "67108864");
    let out = d.docker(&["update", "--cpus", "0.5", "--pids-limit", "50", &name]);
    assert!(out.status.success(), "update: {}", show(&out));
    assert_eq!(d.cgroup_file("cpu", &id, "cpu.cfs_quota_us"), "50000");
    assert_eq!(d.cgroup_file("pids", &id, "pids.max"), "50");
    assert_eq!(d.cgroup_file("memory", &id, "memory.limit_in_bytes"), "33554432", "memory limit changed by a cpu update");
    assert!(d.calls().contains(" update --resources - "), "{}", d.calls());

    let out = d.docker(&["rm", "--force", &name]);
    assert!(out.status.success(), "rm -f: {}", show(&out));
    d.assert_clean();
}

#[test]
fn docker_run_interactive_tty() {
    let Some(d) = Dockerd::start() else { return };
    // No `stty size` here: docker 20.10 sets the window size only after
    // start (a resize call), a race with any runtime, runc included.
    let cmd = d.cmd(&["run", "--network", "none", "-it", "--rm", IMAGE, "sh", "-c", "tty; read x; echo got-$x; exit 5"]);
    let (code, out) = run_in_pty(cmd, 30, 100, b"abc\r", Duration::from_millis(2000), Duration::from_secs(60));
    assert_eq!(code, Some(5), "output: {out:?}\ncalls:\n{}", d.calls());
    assert!(out.contains("/dev/pts/0"), "{out:?}");
    assert!(out.contains("got-abc"), "{out:?}");
    assert!(d.calls().contains("--console-socket"), "{}", d.calls());
    d.assert_clean();
}

#[test]
fn docker_exec_interactive_tty() {
    let Some(d) = Dockerd::start() else { return };
    let name = unique_id("dx");
    let out = d.run(&["-d", "--name", &name, IMAGE, "sleep", "1000"]);
    assert!(out.status.success(), "{}\ncalls:\n{}", show(&out), d.calls());
    // containerd's runc shim runs `exec --console-socket S --process P`; the
    // pty comes back through the socket and docker copies it to ours.
    let cmd = d.cmd(&["exec", "-it", &name, "sh", "-c", "tty; read x; echo got-$x; exit 6"]);
    let (code, out) = run_in_pty(cmd, 30, 100, b"abc\r", Duration::from_millis(2000), Duration::from_secs(60));
    assert_eq!(code, Some(6), "output: {out:?}\ncalls:\n{}", d.calls());
    assert!(out.contains("/dev/pts/"), "{out:?}");
    assert!(out.contains("got-abc"), "{out:?}");
    let calls = d.calls();
    assert!(calls.lines().any(|l| (l.starts_with("exec ") || l.contains(" exec ")) && l.contains("--console-socket")), "no exec with a console socket; calls:\n{calls}");
    let out = d.docker(&["rm", "-f", &name]);
    assert!(out.status.success(), "rm -f: {}", show(&out));
    d.assert_clean();
}

