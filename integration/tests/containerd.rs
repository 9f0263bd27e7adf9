//! containerd → containerd-shim-berth-v2 → runtime, end to end, through `ctr`.
//! This file: run (exit code, output), kill, twenty in parallel, exec, `-t`
//! for run and exec, `file://` and `binary://` logs. The shim's events,
//! crashes and grouping are in containerd_shim.rs; pause/resume/update,
//! stats and checkpoint in containerd_ops.rs; the helpers they share in
//! `integration::ctr`.
//!
//! Each test starts its own containerd (see `integration::Containerd`), whose
//! Drop cleans up everything even when the test fails. The runtime the shim
//! drives is berth (target/<profile>/berth) unless BERTH_IT_RUNTIME names
//! another (e.g. `runc`).

use std::time::Duration;

use integration::ctr::{kill_and_remove, run, run_detached, setup, topics_for, wait_status};
use integration::{run_timeout, show, unique_id, IMAGE};

#[test]
fn run_reports_exit_code_and_output() {
    let Some(c) = setup() else { return };
    let id = unique_id("exit");
    let out = run(&c, &id, &["sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}\ncontainerd log:\n{}", show(&out), c.log());

    let id = unique_id("echo");
    let out = run(&c, &id, &["echo", "hello"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello", "{}", show(&out));

    let id = unique_id("stderr");
    let out = run(&c, &id, &["sh", "-c", "echo oops >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("oops"), "{}", show(&out));

    // Nothing of ours is left in containerd once --rm is done.
    let ls = c.ctr(&["tasks", "ls", "-q"]);
    assert_eq!(String::from_utf8_lossy(&ls.stdout).trim(), "", "tasks left: {}", show(&ls));
    assert!(c.shim_pids().is_empty(), "shims still running: {:?}", c.shim_pids());
}

#[test]
fn kill_stops_a_long_running_task() {
    let Some(c) = setup() else { return };
    let id = unique_id("kill");
    // Foreground `ctr run` in a thread: it returns with the task's exit code.
    let runner = {
        let mut args = c.run_args(&id);
        args.extend(["--rm".into(), IMAGE.into(), id.clone(), "sleep".into(), "1000".into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let cmd = c.ctr_cmd(&args);
        std::thread::spawn(move || run_timeout(cmd, Duration::from_secs(90)))
    };
    let mut running = false;
    for _ in 0..200 {
        let ls = c.ctr(&["tasks", "ls"]);
        let listing = String::from_utf8_lossy(&ls.stdout).to_string();
        if listing.lines().any(|l| l.contains(&id) && l.contains("RUNNING")) {
            running = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(running, "task never ran\n{}", c.log());
    let out = c.ctr(&["tasks", "kill", "-s", "SIGKILL", &id]);
    assert!(out.status.success(), "{}", show(&out));
    let out = runner.join().unwrap();
    assert_eq!(out.status.code(), Some(137), "{}", show(&out));
    // Killing a finished task is an error, never a hang.
    let ls = c.ctr(&["tasks", "ls", "-q"]);
    assert_eq!(String::from_utf8_lossy(&ls.stdout).trim(), "", "{}", show(&ls));
}

#[test]
fn twenty_containers_in_parallel() {
    let Some(c) = setup() else { return };
    let c = std::sync::Arc::new(c);
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let c = c.clone();
            std::thread::spawn(move || {
                let id = unique_id("par");
                let code = i % 7;
                let out = run(&c, &id, &["sh", "-c", &format!("echo n{i}; exit {code}")]);
                (i, code, out)
            })
        })
        .collect();
    for h in handles {
        let (i, code, out) = h.join().unwrap();
        assert_eq!(out.status.code(), Some(code), "container {i}: {}", show(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("n{i}"), "{}", show(&out));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(c.shim_pids().is_empty(), "shims left: {:?}", c.shim_pids());
}

#[test]
fn exec_reports_exit_code_kill_pids_and_events() {
    let Some(c) = setup() else { return };
    let events = c.events();
    let id = unique_id("exec");
    run_detached(&c, &id, &["sleep", "1000"]);
    assert!(wait_status(&c, &id, "RUNNING"), "{}", c.log());

    let out = c.ctr(&["tasks", "exec", "--exec-id", "xq1", &id, "sh", "-c", "echo in-exec; echo e-err >&2; exit 6"]);
    assert_eq!(out.status.code(), Some(6), "{}\n{}", show(&out), c.log());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "in-exec", "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("e-err"), "{}", show(&out));

    // A detached exec shows up in `tasks ps` and can be killed by exec id.
    let out = c.ctr(&["tasks", "exec", "-d", "--exec-id", "xq2", &id, "sleep", "1000"]);
    assert!(out.status.success(), "{}", show(&out));
    let ps = c.ctr(&["tasks", "ps", &id]);
    let listed = String::from_utf8_lossy(&ps.stdout).lines().skip(1).filter(|l| !l.trim().is_empty()).count();
    assert!(listed >= 2, "want init and exec listed: {}", show(&ps));
    let out = c.ctr(&["tasks", "kill", "--exec-id", "xq2", "-s", "SIGKILL", &id]);
    assert!(out.status.success(), "{}", show(&out));
    // The init is unaffected.
    std::thread::sleep(Duration::from_millis(200));
    assert!(wait_status(&c, &id, "RUNNING"));

    events.wait_for(Duration::from_secs(10), |t| t.lines().any(|l| l.contains("/tasks/exit") && l.contains("\"xq2\"")));
    kill_and_remove(&c, &id);
    let all = events.stop();
    let xq1: Vec<_> = topics_for(&all, "\"xq1\"");
    assert_eq!(xq1, ["/tasks/exec-added", "/tasks/exec-started", "/tasks/exit"], "{all}");
    let exit = all.lines().find(|l| l.contains("/tasks/exit") && l.contains("\"xq1\"")).unwrap();
    assert!(exit.contains("\"exit_status\":6"), "{exit}");
    let exit2 = all.lines().find(|l| l.contains("/tasks/exit") && l.contains("\"xq2\"")).unwrap();
    assert!(exit2.contains("\"exit_status\":137"), "{exit2}");
}

#[test]
fn interactive_tty_resize_input_and_exit_code() {
    let Some(c) = setup() else { return };
    let id = unique_id("tty");
    let mut args = c.run_args(&id);
    args.extend(["-t".into(), "--rm".into(), IMAGE.into(), id.clone()]);
    args.extend(["sh", "-c", "sleep 1; tty; stty size; read x; echo got-$x; exit 5"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let cmd = c.ctr_cmd(&args);
    let (code, out) = integration::run_in_pty(cmd, 33, 101, b"abc\n", Duration::from_millis(1500), Duration::from_secs(60));
    assert_eq!(code, Some(5), "output: {out:?}\n{}", c.log());
    assert!(out.contains("/dev/pts/"), "not a terminal: {out:?}");
    assert!(out.contains("33 101"), "ResizePty not applied: {out:?}");
    assert!(out.contains("got-abc"), "input not delivered: {out:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(c.shim_pids().is_empty(), "shims left: {:?}", c.shim_pids());
}

#[test]
fn exec_with_tty() {
    let Some(c) = setup() else { return };
    let id = unique_id("exectty");
    run_detached(&c, &id, &["sleep", "1000"]);
    assert!(wait_status(&c, &id, "RUNNING"), "{}", c.log());
    let cmd = c.ctr_cmd(&["tasks", "exec", "-t", "--exec-id", "tt1", &id, "sh", "-c", "sleep 1; tty; stty size; exit 9"]);
    let (code, out) = integration::run_in_pty(cmd, 20, 70, b"", Duration::ZERO, Duration::from_secs(60));
    assert_eq!(code, Some(9), "output: {out:?}\n{}", c.log());
    assert!(out.contains("/dev/pts/") && out.contains("20 70"), "{out:?}");
    kill_and_remove(&c, &id);
}

/// Polls `path` until `pred` holds for its contents (at most 10 s).
fn wait_file(path: &std::path::Path, pred: impl Fn(&str) -> bool) -> String {
    for _ in 0..200 {
        let s = std::fs::read_to_string(path).unwrap_or_default();
        if pred(&s) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn logs_through_file_and_binary_uris() {
    let Some(c) = setup() else { return };
    // file://
    let log = c.dir.join("logs/file.log");
    let id = unique_id("flog");
    let mut args = c.run_args(&id);
    args.extend(["--log-uri".into(), format!("file://{}", log.display()), "--rm".into(), IMAGE.into(), id.clone()]);
    args.extend(["sh", "-c", "echo to-out; echo to-err >&2; exit 2"].map(String::from));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = c.ctr(&a);
    assert_eq!(out.status.code(), Some(2), "{}\n{}", show(&out), c.log());
    let got = wait_file(&log, |s| s.contains("to-out") && s.contains("to-err"));
    assert!(got.contains("to-out") && got.contains("to-err"), "file log: {got:?}");

    // binary://: a logger that records its environment and copies fds 3 and 4.
    let dir = c.dir.join("blog");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("logger.sh");
    let d = dir.display();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$CONTAINER_ID $CONTAINER_NAMESPACE $1 $2\" > {d}/env.tmp && mv {d}/env.tmp {d}/env\n\
             exec 5>&-\ncat <&3 > {d}/out &\ncat <&4 > {d}/err &\nwait\ntouch {d}/done\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let id = unique_id("blog");
    let mut args = c.run_args(&id);
    args.extend(["--log-uri".into(), format!("binary://{}?tag=x1", script.display()), "--rm".into(), IMAGE.into()]);
    args.push(id.clone());
    args.extend(["sh", "-c", "echo b-out; echo b-err >&2; exit 3"].map(String::from));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = c.ctr(&a);
    assert_eq!(out.status.code(), Some(3), "{}\n{}", show(&out), c.log());
    wait_file(&dir.join("done"), |_| dir.join("done").exists());
    let env = std::fs::read_to_string(dir.join("env")).unwrap_or_default();
    assert_eq!(env.trim(), format!("{id} {} tag x1", integration::NAMESPACE), "logger env/args");
    assert_eq!(std::fs::read_to_string(dir.join("out")).unwrap_or_default(), "b-out\n");
    assert_eq!(std::fs::read_to_string(dir.join("err")).unwrap_or_default(), "b-err\n");
}
