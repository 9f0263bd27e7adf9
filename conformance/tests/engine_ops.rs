//! runc CLI operations beyond the OCI spec that containerd's shim and
//! Podman/conmon call (see GUIDE.md "What engines call"): `exec`, `ps`,
//! `pause`/`resume`, `kill --all`. The spec's "Query State" status values
//! allow runtime-defined states (runtime.md "State": additional values MUST
//! represent new states): runc's `paused` is one.

use conformance::*;
use serde_json::json;
use std::fs::{self, File};
use std::process::Stdio;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn ns_of(pid: i32, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}")).map(|p| p.display().to_string()).unwrap_or_default()
}

// containerd: `exec --process F --detach --pid-file P ID`. The new process
// joins the container's namespaces and cgroup.
#[test]
fn exec_detached_with_process_file() {
    let (c, pid) = running("ops-exec-detach");
    let proc_file = c.base.join("process.json");
    let marker = format!("{MARKER_ENV}={}", c.id);
    fs::write(
        &proc_file,
        serde_json::to_vec(&json!({
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh", "-c", "echo exec-ok > /tmp/exec-marker; exec sleep 100"],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", marker],
            "cwd": "/"
        }))
        .unwrap(),
    )
    .unwrap();
    let pf = c.base.join("exec.pid");
    let (p, f) = (proc_file.display().to_string(), pf.display().to_string());
    c.cmd(&["exec", "--process", &p, "--detach", "--pid-file", &f, &c.id]).ok();
    let epid: i32 = fs::read_to_string(&pf).unwrap().trim().parse().expect("exec pid-file");
    assert!(process_alive(epid));
    for k in ["pid", "mnt", "net", "ipc", "uts"] {
        assert_eq!(ns_of(epid, k), ns_of(pid, k), "exec'd process must share the {k} namespace");
    }
    let deadline = std::time::Instant::now() + WAIT;
    // The shell creates the file before it writes to it: wait for the text.
    let marker = || fs::read_to_string(c.bpath("rootfs/tmp/exec-marker")).unwrap_or_default();
    while marker() != "exec-ok\n" && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(marker(), "exec-ok\n");
    // `ps --format json` lists host pids of the container's processes.
    let v = c.cmd(&["ps", "--format", "json", &c.id]).ok().json();
    let pids: Vec<i64> = v.as_array().expect("ps json array").iter().filter_map(|x| x.as_i64()).collect();
    assert!(pids.contains(&(pid as i64)) && pids.contains(&(epid as i64)), "ps: {v}");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
    assert!(!process_alive(epid), "exec'd process must die with the container");
}

// Non-detached `exec ID cmd...` returns the command's exit status.
#[test]
fn exec_exit_code() {
    let (c, pid) = running("ops-exec-code");
    let io = Stdio3 { stdin: Stdio::null(), stdout: File::create(c.base.join("exec.out")).unwrap(), stderr: File::create(c.base.join("exec.err")).unwrap() };
    let o = c.rt.cmd_io(&["exec", &c.id, "sh", "-c", "echo $$ > /dev/null; hostname; exit 5"], io);
    assert_eq!(o.code, Some(5), "exec must exit with the process's status: {o:?}");
    assert_eq!(fs::read_to_string(c.base.join("exec.out")).unwrap(), "berth-test\n");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

// exec into a container that is not running must fail.
#[test]
fn exec_into_stopped_fails() {
    let mut c = TestContainer::new("ops-exec-stopped");
    c.args(&["true"]);
    c.run_to_completion();
    c.cmd(&["exec", &c.id, "true"]).fails();
    c.delete_and_check(None);
}

// `pause` freezes every process (state `paused`), `resume` thaws them.
#[test]
fn pause_and_resume() {
    let (c, pid) = running("ops-pause");
    c.cmd(&["pause", &c.id]).ok();
    assert_eq!(c.state_json()["status"], "paused");
    let st = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let state = st.rsplit_once(") ").unwrap().1.chars().next().unwrap();
    assert!(state == 'S' || state == 'D', "frozen task state {state}");
    c.cmd(&["resume", &c.id]).ok();
    assert_eq!(c.state_json()["status"], "running");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

// `delete --force` of a paused container must still clean everything.
#[test]
fn delete_force_paused() {
    let (c, pid) = running("ops-pause-delete");
    c.cmd(&["pause", &c.id]).ok();
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

// `kill --all ID SIG` signals every process of the container.
#[test]
fn kill_all() {
    let mut c = TestContainer::new("ops-kill-all");
    // Without a pid namespace, killing pid 1 would not take the children along.
    c.drop_namespace("pid");
    c.sh("sleep 100 & sleep 100 & exec sleep 100");
    c.create().ok();
    c.start().ok();
    let pid = c.wait_status("running", WAIT).unwrap()["pid"].as_i64().unwrap() as i32;
    let deadline = std::time::Instant::now() + WAIT;
    while c.marked_processes().len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(c.marked_processes().len(), 3);
    c.cmd(&["kill", "--all", &c.id, "KILL"]).ok();
    c.wait_status("stopped", WAIT).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while !c.marked_processes().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(c.marked_processes().is_empty(), "kill --all must reach every process");
    c.delete_and_check(Some(pid));
}

// containerd: `ps --format json ID` is the list of host pids; the table
// form is ps(1) output cut to the container's processes.
#[test]
fn ps_json_and_table() {
    let (c, pid) = running("ops-ps");
    let v = c.cmd(&["ps", "--format", "json", &c.id]).ok().json();
    assert_eq!(v, json!([pid]), "ps json");
    let t = c.cmd(&["ps", &c.id]).ok().stdout.clone();
    let mut lines = t.lines();
    let header = lines.next().unwrap_or("");
    let col = header.split_whitespace().position(|h| h == "PID").expect("PID column");
    let pids: Vec<String> = lines.map(|l| l.split_whitespace().nth(col).unwrap_or("").to_string()).collect();
    assert_eq!(pids, vec![pid.to_string()], "ps table:\n{t}");
    let t = c.cmd(&["ps", &c.id, "-o", "pid,comm"]).ok().stdout.clone();
    assert!(t.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == [pid.to_string().as_str(), "sleep"]), "ps -o:\n{t}");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

// A paused container can be killed (runc thaws it so SIGKILL lands) and
// resume of a running one fails.
#[test]
fn kill_paused_and_resume_running() {
    let (c, pid) = running("ops-pause-kill");
    c.cmd(&["resume", &c.id]).fails();
    c.cmd(&["pause", &c.id]).ok();
    c.cmd(&["pause", &c.id]).fails();
    c.kill("KILL").ok();
    c.wait_status("stopped", WAIT).unwrap();
    c.delete_and_check(Some(pid));
}
