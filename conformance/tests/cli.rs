//! runc-compatible CLI conventions engines rely on: `run` exit codes, `list`,
//! `spec`, `--version`. These are not in the OCI runtime spec (runtime.md
//! "Operations" leaves the command line to the runtime); they are the de facto
//! interface containerd, Docker and Podman drive, so a drop-in must match.

use conformance::*;
use serde_json::{json, Value};
use std::fs::{self, File};
use std::process::Stdio;
use std::thread;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// `run --bundle B ID` with the container's stdio in files; returns the
/// runtime's result (exit code is the container's) and the container stdout.
fn run_in(c: &TestContainer) -> (RtOutput, String) {
    c.write_config();
    let bundle = c.bundle.display().to_string();
    let io = Stdio3 { stdin: Stdio::null(), stdout: File::create(&c.out_file).unwrap(), stderr: File::create(&c.err_file).unwrap() };
    let mut o = c.rt.cmd_io(&["run", "--bundle", &bundle, &c.id], io);
    o.stderr = fs::read_to_string(&c.err_file).unwrap_or_default();
    (o, fs::read_to_string(&c.out_file).unwrap_or_default())
}

// runtime.md "Lifecycle": run = create + start + wait; the runtime's exit
// status is the container process's (runc convention).
#[test]
fn run_exit_zero() {
    let mut c = TestContainer::new("cli-run-0");
    c.sh("echo out-of-run");
    let (o, out) = run_in(&c);
    o.ok();
    assert_eq!(out, "out-of-run\n");
    // After `run` returns the container is stopped (runc keeps it until
    // deleted) or already gone; either way a forced delete cleans up.
    c.delete_force().ok();
    c.assert_no_leaks(None);
}

#[test]
fn run_exit_code_propagates() {
    let mut c = TestContainer::new("cli-run-3");
    c.sh("exit 3");
    let (o, _) = run_in(&c);
    assert_eq!(o.code, Some(3), "run must exit with the container's status: {o:?}");
    c.delete_force().ok();
    c.assert_no_leaks(None);
}

/// Start `run` in a thread, signal the container with `kill`, return run's code.
fn run_then_kill(c: &TestContainer, sig: &str) -> Option<i32> {
    c.write_config();
    let rt = c.rt.clone();
    let bundle = c.bundle.display().to_string();
    let id = c.id.clone();
    let (out, err) = (c.out_file.clone(), c.err_file.clone());
    let h = thread::spawn(move || {
        let io = Stdio3 { stdin: Stdio::null(), stdout: File::create(out).unwrap(), stderr: File::create(err).unwrap() };
        rt.cmd_io(&["run", "--bundle", &bundle, &id], io)
    });
    c.wait_status("running", WAIT).expect("container running under `run`");
    // Give sh time to install its trap before signalling.
    thread::sleep(Duration::from_millis(150));
    c.kill(sig).ok();
    let o = h.join().unwrap();
    assert!(!o.timed_out, "run did not return after kill {sig}");
    o.code
}

// runtime.md "Kill": MUST send the signal to the container process; the
// process's handler decides (pid 1 ignores TERM without a handler).
#[test]
fn run_then_sigterm() {
    let mut c = TestContainer::new("cli-run-term");
    c.sh("trap 'echo got-term; exit 143' TERM; while true; do sleep 0.05; done");
    let code = run_then_kill(&c, "SIGTERM");
    assert_eq!(code, Some(143), "run must report the trap's exit status");
    assert_eq!(fs::read_to_string(&c.out_file).unwrap(), "got-term\n");
    c.delete_force().ok();
    c.assert_no_leaks(None);
}

#[test]
fn run_then_sigkill_exit_137() {
    let mut c = TestContainer::new("cli-run-kill");
    c.args(&["sleep", "100"]);
    let code = run_then_kill(&c, "KILL");
    // runc convention (shells too): killed by signal N -> exit 128 + N.
    assert_eq!(code, Some(137));
    c.delete_force().ok();
    c.assert_no_leaks(None);
}

/// Columns of `list`'s table output.
fn table(out: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default().split_whitespace().map(String::from).collect();
    let rows = lines.filter(|l| !l.trim().is_empty()).map(|l| l.split_whitespace().map(String::from).collect()).collect();
    (header, rows)
}

// runc `list`: table with header ID PID STATUS BUNDLE CREATED OWNER;
// `--format json` an array of states; `-q` only ids.
#[test]
fn list_formats() {
    let mut c = TestContainer::new("cli-list");
    c.args(&["sleep", "100"]);
    c.set("/annotations", json!({"list.test": "a"}));

    // Empty root: header only / empty JSON (runc prints `null`, others `[]`).
    let o = c.cmd(&["list"]);
    o.ok();
    let (h, rows) = table(&o.stdout);
    assert_eq!(h, ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"], "{}", o.stdout);
    assert!(rows.is_empty(), "{}", o.stdout);
    let v = c.cmd(&["list", "--format", "json"]).ok().json();
    assert!(v.is_null() || v == json!([]), "empty list json: {v}");
    assert_eq!(c.cmd(&["list", "-q"]).ok().stdout.trim(), "");

    c.create().ok();
    let pid = c.state_json()["pid"].as_i64().unwrap();
    let o = c.cmd(&["list"]);
    let (h, rows) = table(&o.ok().stdout);
    assert_eq!(h, ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]);
    assert_eq!(rows.len(), 1, "{}", o.stdout);
    assert_eq!(rows[0][0], c.id);
    assert_eq!(rows[0][1], pid.to_string());
    assert_eq!(rows[0][2], "created");
    assert_eq!(rows[0][3], c.bundle.display().to_string());

    let v = c.cmd(&["list", "--format", "json"]).ok().json();
    let arr = v.as_array().unwrap_or_else(|| panic!("list json must be an array: {v}"));
    assert_eq!(arr.len(), 1);
    assert_eq!(arr[0]["id"], c.id.as_str());
    assert_eq!(arr[0]["pid"].as_i64(), Some(pid));
    assert_eq!(arr[0]["status"], "created");
    assert_eq!(arr[0]["bundle"], c.bundle.display().to_string().as_str());
    assert!(arr[0]["created"].is_string(), "created timestamp: {v}");

    assert_eq!(c.cmd(&["list", "-q"]).ok().stdout, format!("{}\n", c.id));

    c.start().ok();
    c.wait_status("running", WAIT).unwrap();
    let (_, rows) = table(&c.cmd(&["list"]).ok().stdout);
    assert_eq!(rows[0][2], "running");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid as i32));
}

// runc `state` extras engines read: `created` timestamp (RFC 3339) and
// `rootfs`; after the process exits, status stopped.
#[test]
fn state_extra_fields() {
    let mut c = TestContainer::new("cli-state");
    c.args(&["sleep", "100"]);
    c.create().ok();
    let s = c.state_json();
    let created = s["created"].as_str().unwrap_or_else(|| panic!("created missing: {s}"));
    assert!(created.len() >= 20 && created.as_bytes()[4] == b'-' && created.contains('T'), "{s}");
    assert_eq!(s["rootfs"], c.bpath("rootfs").display().to_string().as_str(), "{s}");
    c.kill("KILL").ok();
    let s = c.wait_status("stopped", WAIT).unwrap();
    eprintln!("stopped state: {s}");
    c.delete_and_check(None);
}

// runc `spec`: writes a default config.json into the bundle; refuses to
// overwrite an existing one.
#[test]
fn spec_writes_default_config() {
    let c = TestContainer::new("cli-spec");
    let dir = c.base.join("spec-out");
    fs::create_dir_all(&dir).unwrap();
    let d = dir.display().to_string();
    c.cmd(&["spec", "--bundle", &d]).ok();
    let v: Value = serde_json::from_str(&fs::read_to_string(dir.join("config.json")).unwrap()).expect("spec output is JSON");
    assert!(v["ociVersion"].is_string(), "{v}");
    assert!(v["process"]["args"].is_array(), "{v}");
    assert_eq!(v["root"]["path"], "rootfs", "{v}");
    assert!(v["linux"]["namespaces"].is_array(), "{v}");
    c.cmd(&["spec", "--bundle", &d]).fails();
}

// `--version` prints a version and the spec version (containerd/podman log it).
#[test]
fn version() {
    let c = TestContainer::new("cli-version");
    let o = c.cmd(&["--version"]);
    o.ok();
    assert!(o.stdout.contains("version"), "{}", o.stdout);
    assert!(o.stdout.lines().any(|l| l.starts_with("spec:")), "runc prints `spec: <version>`: {}", o.stdout);
}

// runc parity ("--debug", "--log", "--log-format"): debug records for the
// whole command, an exec's too, to stderr or to the log file; an error is
// a `level=error` record whose text says the command failed.
#[test]
fn debug_records_and_error_records() {
    let mut c = TestContainer::new("cli-debug");
    c.args(&["true"]);
    c.rt.log = None;
    c.write_config();
    let o = c.cmd(&["--debug", "run", "--bundle", &c.bundle.display().to_string(), &c.id]);
    o.ok();
    assert!(o.stderr.lines().filter(|l| l.contains("level=debug")).count() >= 3, "debug records on stderr: {o:?}");
    c.assert_no_leaks(None);

    // To the log, as JSON; exec included.
    let (mut c, _) = running("cli-debug-exec");
    let log = c.base.join("debug.json");
    c.rt.log = Some(log.clone());
    let o = c.cmd(&["--debug", "exec", &c.id, "true"]);
    o.ok();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let records: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(records.iter().any(|r| r["level"] == "debug" && r["msg"].is_string() && r["time"].is_string()), "JSON debug records for exec: {text}");
    assert!(o.stdout.is_empty(), "nothing of the runtime's on the process's stdout: {o:?}");
    c.delete_force().ok();
    c.assert_no_leaks(None);

    // Errors: a record with level error, to stderr without --log ...
    let mut c = TestContainer::new("cli-error-record");
    c.set("/process/cwd", json!("relative"));
    c.rt.log = None;
    let o = c.create();
    o.fails();
    assert!(o.stderr.contains("level=error") && o.stderr.contains("failed"), "{o:?}");
    // ... and to the log file with it, as JSON.
    let log = c.base.join("error.json");
    c.rt.log = Some(log.clone());
    let o = c.create();
    o.fails();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let rec: serde_json::Value = text.lines().rev().find_map(|l| serde_json::from_str(l).ok()).unwrap_or_default();
    assert_eq!(rec["level"], "error", "{text}");
    assert!(rec["msg"].as_str().unwrap_or("").contains("create failed"), "{text}");
    c.assert_no_leaks(None);
}
