//! `exec` as engines drive it (runc's CLI; the OCI spec leaves exec to the
//! runtime): every flag observed from inside the container, exit codes,
//! terminals through a console socket, and many execs at once.

use conformance::*;
use std::fs::{self, File};
use std::process::Stdio;
use std::time::Duration;

/// `exec` in the foreground with its stdout captured; returns (code, stdout).
fn exec_out(c: &TestContainer, args: &[&str]) -> (Option<i32>, String) {
    let out = c.base.join(format!("exec-{}.out", std::process::id()));
    let io = Stdio3 { stdin: Stdio::null(), stdout: File::create(&out).unwrap(), stderr: File::create(c.base.join("exec.err")).unwrap() };
    let mut all = vec!["exec"];
    all.extend_from_slice(args);
    let o = c.rt.cmd_io(&all, io);
    let text = fs::read_to_string(&out).unwrap_or_default();
    let _ = fs::remove_file(&out);
    (o.code, text)
}

#[test]
fn user_env_cwd_and_groups() {
    let (c, pid) = running("exec-user");
    let (code, out) = exec_out(
        &c,
        &[
            "--user",
            "1000:1001",
            "--additional-gids",
            "7",
            "--env",
            "EXTRA=yes",
            "--cwd",
            "/tmp",
            &c.id,
            "sh",
            "-c",
            "id -u; id -g; id -G; pwd; echo $EXTRA; echo $PATH",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..5], ["1000", "1001", "1001 7", "/tmp", "yes"], "{out}");
    assert!(lines[5].contains("/bin"), "the container's env is the base: {out}");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

#[test]
fn caps_and_no_new_privs() {
    let (c, pid) = running("exec-caps");
    let (_, base) = exec_out(&c, &[&c.id, "sh", "-c", "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status"]);
    let (code, out) = exec_out(&c, &["--cap", "CAP_SYS_ADMIN", "--no-new-privs", &c.id, "sh", "-c", "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status"]);
    assert_eq!(code, Some(0));
    let eff = |s: &str| u64::from_str_radix(status_field(s, "CapEff").unwrap(), 16).unwrap();
    assert_eq!(eff(&out), eff(&base) | cap_mask(&["CAP_SYS_ADMIN"]), "{base} / {out}");
    assert_eq!(status_field(&out, "NoNewPrivs"), Some("1"));
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

#[test]
fn joins_every_namespace_and_the_cgroup() {
    let (c, pid) = running("exec-ns");
    let (_, out) = exec_out(&c, &[&c.id, "sh", "-c", "for n in pid mnt net ipc uts cgroup; do readlink /proc/self/ns/$n; done; cat /proc/self/cgroup"]);
    let lines: Vec<&str> = out.lines().collect();
    for (i, n) in ["pid", "mnt", "net", "ipc", "uts", "cgroup"].iter().enumerate() {
        let theirs = fs::read_link(format!("/proc/{pid}/ns/{n}")).unwrap().display().to_string();
        assert_eq!(lines[i], theirs, "{n} namespace");
    }
    // With a cgroup namespace the container's cgroup is its root.
    assert!(out.lines().skip(6).all(|l| l.ends_with(":/")), "{out}");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

#[test]
fn exit_codes_and_signals() {
    let (c, pid) = running("exec-codes");
    assert_eq!(exec_out(&c, &[&c.id, "sh", "-c", "exit 42"]).0, Some(42));
    assert_eq!(exec_out(&c, &[&c.id, "sh", "-c", "kill -9 $$"]).0, Some(137));
    let (code, _) = exec_out(&c, &[&c.id, "no-such-binary"]);
    assert!(code.is_some_and(|c| c != 0), "exec of a missing binary must fail");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

#[test]
fn exec_into_unknown_container_fails() {
    let c = TestContainer::new("exec-unknown");
    c.rt.cmd(&["exec", "no-such-container-xyz", "true"]).fails();
}

#[test]
fn tty_through_console_socket() {
    let (c, pid) = running("exec-tty");
    let sock = ConsoleSocket::listen(&c.base.join("exec-console.sock"));
    let path = sock.path.display().to_string();
    let pf = c.base.join("exec-tty.pid").display().to_string();
    c.cmd(&["exec", "--tty", "--detach", "--console-socket", &path, "--pid-file", &pf, &c.id, "sh", "-c", "tty; echo tty-ok"]).ok();
    let master = sock.master(Duration::from_secs(5)).expect("pty master via SCM_RIGHTS");
    let out = read_pty(master, Duration::from_secs(5)).replace("\r\n", "\n");
    assert!(out.contains("/dev/pts/") && out.contains("tty-ok"), "{out:?}");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

#[test]
fn many_concurrent_execs() {
    let (c, pid) = running("exec-many");
    let handles: Vec<_> = (0..12)
        .map(|i| {
            let rt = c.rt.clone();
            let id = c.id.clone();
            std::thread::spawn(move || rt.cmd(&["exec", &id, "sh", "-c", &format!("exit {i}")]).code)
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), Some(i as i32));
    }
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}
