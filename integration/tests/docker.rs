//! Docker 20.10 → containerd → containerd-shim-runc-v2 → berth, end to end,
//! through the `docker` CLI.
//!
//! Each test starts its own dockerd (integration::engine::Engine) in a
//! network and mount namespace of its own: data root, exec root, pid file,
//! socket and trust key under a temporary directory; the cgroupfs driver
//! with a cgroup parent `/berth-test/<unique>`; the runtime `berth`
//! (default) registered in a private daemon.json, pointing at a wrapper
//! script that logs each call and runs berth (or `BERTH_IT_RUNTIME`) with
//! Docker's arguments unchanged. Dropping the engine removes every
//! container, stops dockerd (by pid), kills every process left in its
//! namespaces and cgroups, and removes directory and cgroup tree, even when
//! the test failed.

use std::process::{Command, Output};
use std::time::Duration;

use integration::engine::{DockerOpts, Engine};
use integration::{run_in_pty, show, stdout, unique_id};

const IMAGE: &str = "berth-busybox:test";

/// The shared private dockerd (integration::engine), berth its default
/// runtime; containers get `--network none`.
struct Dockerd(Engine);

impl Dockerd {
    /// A private dockerd with the busybox image imported; `None` (after a
    /// loud message) when Docker is not installed.
    fn start() -> Option<Dockerd> {
        let d = Engine::docker(DockerOpts::default()).map(Dockerd)?;
        assert_eq!(d.0.image, IMAGE);
        Some(d)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        self.0.cmd(args)
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.0.cli(args)
    }

    /// `docker run` with `--network none` before `extra`.
    fn run(&self, extra: &[&str]) -> Output {
        let mut args = vec!["--network", "none"];
        args.extend_from_slice(extra);
        self.0.run(&args)
    }

    fn calls(&self) -> String {
        self.0.calls()
    }

    /// Host path of a container's cgroup file in a v1 hierarchy.
    fn cgroup_file(&self, ctl: &str, id: &str, file: &str) -> String {
        self.0.cgroup_file(ctl, id, file)
    }

    /// No container, runtime state, container cgroup or container mount left.
    fn assert_clean(&self) {
        self.0.assert_clean();
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
    assert!(
        calls.lines().any(|l| (l.starts_with("exec ") || l.contains(" exec ")) && l.contains("--console-socket")),
        "no exec with a console socket; calls:\n{calls}"
    );
    let out = d.docker(&["rm", "-f", &name]);
    assert!(out.status.success(), "rm -f: {}", show(&out));
    d.assert_clean();
}
