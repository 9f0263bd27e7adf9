//! Podman 4.3 (with conmon) → berth, end to end, through the `podman` CLI.
//!
//! Each test gets a private Podman: containers.conf and storage.conf in a
//! temporary directory (graphroot, runroot, tmp dir, file locks, network
//! config all under it; cgroupfs manager; file events logger; ulimits the
//! machine allows), and a cgroup parent `/berth-test/<unique>` of its own.
//! The OCI runtime is a wrapper script that logs each call and runs berth
//! (or `BERTH_IT_RUNTIME`) with a private `--root`, since Podman passes no
//! `--root` itself. [`Podman`]'s Drop removes every container, kills any
//! conmon of ours left (by pid), unmounts and deletes the directory and
//! removes the cgroup tree, even when the test failed.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use integration::{
    image::busybox_rootfs_tar, kill_pids, pids_matching, run_in_pty, run_timeout, runtime_calls, runtime_wrapper,
    sandbox::Sandbox, show, stdout, unique_id, which,
};

const IMAGE: &str = "localhost/berth-busybox:test";

struct Podman {
    /// Dropped after Podman's own Drop has removed the containers.
    sb: Sandbox,
}

impl Podman {
    /// A private Podman with the busybox image imported; `None` (after a loud
    /// message) when podman is not installed.
    fn new() -> Option<Podman> {
        if which("podman").is_none() || which("conmon").is_none() {
            eprintln!("\n!!! SKIPPING podman tests: podman/conmon not installed (scripts/setup.sh --tests installs them) !!!\n");
            return None;
        }
        let p = Podman { sb: Sandbox::new("pm", "state") };
        let wrapper = runtime_wrapper(&p.sb.dir, &p.sb.runtime, &["--root", &p.sb.state.display().to_string()]);
        let d = |s: &str| p.sb.dir.join(s).display().to_string();
        // lock_type "file": the default SHM locks (/dev/shm/libpod_lock) are
        // shared by every Podman on the machine. static_dir is left to its
        // default (under graphroot): conmon's cleanup command passes --root
        // but not a static dir, so a custom one would hide the database from it.
        let conf = format!(
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n\
             [engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nlock_type = \"file\"\n\
             runtime = \"berth\"\ntmp_dir = \"{tmp}\"\nvolume_path = \"{vol}\"\n\
             [engine.runtimes]\nberth = [\"{wrapper}\"]\n\
             [network]\nnetwork_config_dir = \"{net}\"\n",
            tmp = d("tmp"),
            vol = d("volumes"),
            wrapper = wrapper.display(),
            net = d("net"),
        );
        std::fs::write(p.sb.dir.join("containers.conf"), conf).unwrap();
        let storage = format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            d("graph"),
            d("run")
        );
        std::fs::write(p.sb.dir.join("storage.conf"), storage).unwrap();
        let tar = p.sb.dir.join("rootfs.tar");
        std::fs::write(&tar, busybox_rootfs_tar().expect("busybox rootfs")).unwrap();
        let out = p.podman(&["import", "--change", "ENV=PATH=/bin", &tar.display().to_string(), IMAGE]);
        assert!(out.status.success(), "podman import: {}", show(&out));
        Some(p)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("podman");
        cmd.args(args).stdin(Stdio::null());
        cmd.env("CONTAINERS_CONF", self.sb.dir.join("containers.conf"));
        cmd.env("CONTAINERS_STORAGE_CONF", self.sb.dir.join("storage.conf"));
        cmd
    }

    fn podman(&self, args: &[&str]) -> Output {
        run_timeout(self.cmd(args), Duration::from_secs(60))
    }

    /// `podman run` arguments every test container gets.
    fn run_args(&self) -> Vec<String> {
        vec!["run".into(), "--network".into(), "none".into(), format!("--cgroup-parent=/{}", self.sb.cgroup)]
    }

    fn run(&self, extra: &[&str]) -> Output {
        let mut args = self.run_args();
        args.extend(extra.iter().map(|s| s.to_string()));
        self.podman(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn calls(&self) -> String {
        runtime_calls(&self.sb.dir)
    }

    /// Nothing of the test's containers is left: no Podman container, no
    /// runtime state, no container cgroup (conmon's own cgroup may stay
    /// until Drop), no mount but the storage driver's own.
    fn assert_clean(&self) {
        self.sb.assert_clean(
            &self.podman(&["ps", "-a", "-q"]),
            |p| p.ends_with("conmon"),
            |m| Path::new(m).ends_with("graph/overlay"),
        );
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.podman(&["rm", "--all", "--force", "--time", "0"]);
        kill_pids(&pids_matching("conmon", &self.sb.dir.display().to_string()));
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
    assert!(stdout(&cg).contains(&format!("/{}/libpod-{id}", p.sb.cgroup)), "{}", show(&cg));

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
    assert!(calls.lines().any(|l| (l.starts_with("exec ") || l.contains(" exec ")) && l.contains("--console-socket")), "no exec with a console socket; calls:\n{calls}");
    let out = p.podman(&["rm", "-f", &name]);
    assert!(out.status.success(), "rm -f: {}", show(&out));
    p.assert_clean();
}

