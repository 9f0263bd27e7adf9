//! Podman 4.3 (with conmon) → berth, end to end, through the `podman` CLI.
//!
//! Each test gets a private Podman (integration::engine::Engine): its
//! containers.conf and storage.conf in a temporary directory, a cgroup
//! parent `/berth-test/<unique>` of its own, every command run in a network
//! and mount namespace of the test's own (so nothing lands in the host's
//! /run). The OCI runtime is a wrapper script that logs each call and runs
//! berth (or `BERTH_IT_RUNTIME`) with a private `--root`. Dropping the
//! engine removes every container, kills every process left in its
//! namespaces and cgroups, and removes directory and cgroup tree, even when
//! the test failed.

use std::process::{Command, Output};
use std::time::Duration;

use integration::engine::Engine;
use integration::{run_in_pty, show, stdout, unique_id};

const IMAGE: &str = "localhost/berth-busybox:test";

/// The shared private Podman (integration::engine), its commands run in a
/// network and mount namespace of the test's own; containers get
/// `--network none`.
struct Podman(Engine);

impl Podman {
    /// A private Podman with the busybox image imported; `None` (after a loud
    /// message) when podman is not installed.
    fn new() -> Option<Podman> {
        let p = Engine::podman().map(Podman)?;
        assert_eq!(p.0.image, IMAGE);
        Some(p)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        self.0.cmd(args)
    }

    fn podman(&self, args: &[&str]) -> Output {
        self.0.cli(args)
    }

    /// `podman run` arguments every test container gets.
    fn run_args(&self) -> Vec<String> {
        self.0.run_args(&["--network", "none"])
    }

    fn run(&self, extra: &[&str]) -> Output {
        let mut args = vec!["--network", "none"];
        args.extend_from_slice(extra);
        self.0.run(&args)
    }

    fn calls(&self) -> String {
        self.0.calls()
    }

    /// Nothing of the test's containers is left (see Engine::assert_clean).
    fn assert_clean(&self) {
        self.0.assert_clean();
    }
}

#[test]
fn podman_run_rm_reports_exit_code_and_output() {
    let Some(p) = Podman::new() else { return };
    let out = p.run(&["--rm", IMAGE, "sh", "-c", "echo hello; echo oops >&2; exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", show(&out));
    assert_eq!(stdout(&out).trim(), "hello", "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("oops"), "{}", show(&out));

    // The runtime's exec errors become the shell's exit codes.
    let out = p.run(&["--rm", IMAGE, "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", show(&out));
    let out = p.run(&["--rm", IMAGE, "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126), "{}", show(&out));

    // Podman really drove our runtime: create, start, delete --force.
    let calls = p.calls();
    for verb in ["create --bundle", "start ", "delete --force "] {
        assert!(calls.contains(verb), "no `{verb}` call; calls:\n{calls}");
    }
    p.assert_clean();
}

#[test]
fn podman_run_detached_exec_stop_rm() {
    let Some(p) = Podman::new() else { return };
    let name = unique_id("d");
    // A shell that leaves on SIGTERM, so `stop` ends it without SIGKILL.
    let script = "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 0.1; done";
    let out = p.run(&["-d", "--name", &name, IMAGE, "sh", "-c", script]);
    assert!(out.status.success(), "{}", show(&out));
    let id = stdout(&out).trim().to_string();

    let insp = p.podman(&["inspect", "--format", "{{.State.Status}} {{.State.Pid}}", &name]);
    assert!(stdout(&insp).starts_with("running "), "{}", show(&insp));

    let out = p.podman(&["exec", &name, "sh", "-c", "echo in-exec $FOO; exit 4"]);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert_eq!(stdout(&out).trim(), "in-exec", "{}", show(&out));
    let out = p.podman(&["exec", "--env", "FOO=bar", &name, "sh", "-c", "echo $FOO"]);
    assert_eq!(stdout(&out).trim(), "bar", "{}", show(&out));

    // The container sits in our cgroup parent.
    let cg = p.podman(&["exec", &name, "cat", "/proc/1/cgroup"]);
    assert!(stdout(&cg).contains(&format!("/{}/libpod-{id}", p.0.sb.cgroup)), "{}", show(&cg));

    let out = p.podman(&["pause", &name]);
    assert!(out.status.success(), "pause: {}", show(&out));
    let insp = p.podman(&["inspect", "--format", "{{.State.Status}}", &name]);
    assert_eq!(stdout(&insp).trim(), "paused", "{}", show(&insp));
    let out = p.podman(&["unpause", &name]);
    assert!(out.status.success(), "unpause: {}", show(&out));

    let out = p.podman(&["stop", "--time", "10", &name]);
    assert!(out.status.success(), "stop: {}", show(&out));
    let insp = p.podman(&["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", &name]);
    assert_eq!(stdout(&insp).trim(), "exited 0", "SIGTERM should have ended it: {}", show(&insp));
    let logs = p.podman(&["logs", &name]);
    assert_eq!(stdout(&logs), "ready\nbye\n", "{}", show(&logs));

    let out = p.podman(&["rm", &name]);
    assert!(out.status.success(), "rm: {}", show(&out));
    let calls = p.calls();
    for verb in ["exec --pid-file", "pause ", "resume ", "kill "] {
        assert!(calls.contains(verb), "no `{verb}` call; calls:\n{calls}");
    }
    p.assert_clean();
}

#[test]
fn podman_run_kill_and_rm_force() {
    let Some(p) = Podman::new() else { return };
    let name = unique_id("k");
    let out = p.run(&["-d", "--name", &name, IMAGE, "sleep", "1000"]);
    assert!(out.status.success(), "{}", show(&out));
    let out = p.podman(&["kill", &name]);
    assert!(out.status.success(), "kill: {}", show(&out));
    let out = p.podman(&["wait", &name]);
    assert_eq!(stdout(&out).trim(), "137", "{}", show(&out));
    // rm -f of a running one.
    let out = p.run(&["-d", "--name", &format!("{name}-2"), IMAGE, "sleep", "1000"]);
    assert!(out.status.success(), "{}", show(&out));
    let out = p.podman(&["rm", "--force", "--time", "0", &name, &format!("{name}-2")]);
    assert!(out.status.success(), "rm -f: {}", show(&out));
    p.assert_clean();
}

#[test]
fn podman_run_interactive_tty() {
    let Some(p) = Podman::new() else { return };
    let mut args = p.run_args();
    args.extend(["-it", "--rm", IMAGE, "sh", "-c", "tty; stty size; read x; echo got-$x; exit 5"].map(String::from));
    let cmd = p.cmd(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let (code, out) = run_in_pty(cmd, 30, 100, b"abc\r", Duration::from_millis(1500), Duration::from_secs(60));
    assert_eq!(code, Some(5), "output: {out:?}\ncalls:\n{}", p.calls());
    assert!(out.contains("/dev/pts/0"), "{out:?}");
    assert!(out.contains("30 100"), "window size not passed: {out:?}");
    assert!(out.contains("got-abc"), "{out:?}");
    assert!(p.calls().contains("--console-socket"), "{}", p.calls());
    p.assert_clean();
}

#[test]
fn podman_exec_interactive_tty() {
    let Some(p) = Podman::new() else { return };
    let name = unique_id("px");
    let out = p.run(&["-d", "--name", &name, IMAGE, "sleep", "1000"]);
    assert!(out.status.success(), "{}\ncalls:\n{}", show(&out), p.calls());
    // conmon runs `exec --console-socket S --process P` and copies the pty.
    let cmd = p.cmd(&["exec", "-it", &name, "sh", "-c", "tty; read x; echo got-$x; exit 6"]);
    let (code, out) = run_in_pty(cmd, 30, 100, b"abc\r", Duration::from_millis(1500), Duration::from_secs(60));
    assert_eq!(code, Some(6), "output: {out:?}\ncalls:\n{}", p.calls());
    assert!(out.contains("/dev/pts/"), "{out:?}");
    assert!(out.contains("got-abc"), "{out:?}");
    let calls = p.calls();
    assert!(
        calls.lines().any(|l| (l.starts_with("exec ") || l.contains(" exec ")) && l.contains("--console-socket")),
        "no exec with a console socket; calls:\n{calls}"
    );
    let out = p.podman(&["rm", "-f", &name]);
    assert!(out.status.success(), "rm -f: {}", show(&out));
    p.assert_clean();
}
