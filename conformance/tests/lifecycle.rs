//! Lifecycle and operations (runtime.md: State, Lifecycle, Operations).

use conformance::*;
use serde_json::{json, Value};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// Check a state document against state-schema.json's required shape.
#[track_caller]
fn check_state_shape(s: &Value, c: &TestContainer, status: &str) {
    // runtime.md "State": ociVersion, id, status, bundle are REQUIRED; pid is
    // REQUIRED on Linux when created or running; bundle is an absolute path.
    assert!(s["ociVersion"].is_string(), "ociVersion missing: {s}");
    assert_eq!(s["id"], c.id.as_str(), "id: {s}");
    assert_eq!(s["status"], status, "status: {s}");
    let bundle = s["bundle"].as_str().unwrap_or_else(|| panic!("bundle missing: {s}"));
    assert!(bundle.starts_with('/'), "bundle must be absolute: {s}");
    assert_eq!(std::fs::canonicalize(bundle).ok(), std::fs::canonicalize(&c.bundle).ok(), "bundle path: {s}");
    if status == "created" || status == "running" {
        assert!(s["pid"].as_i64().unwrap_or(0) > 0, "pid must be > 0 when {status}: {s}");
    }
    if let Some(a) = s.get("annotations") {
        assert!(a.is_object(), "annotations must be a map: {s}");
    }
}

// runtime.md "Lifecycle" + "Operations": create -> created (program not run),
// start -> running, program exits -> stopped, delete -> gone (query state of an
// unknown container MUST generate an error).
#[test]
fn create_start_stop_delete() {
    let mut c = TestContainer::new("lifecycle");
    // The program signals it ran by writing a file; after create it MUST NOT have run.
    c.sh("echo ran > /ran; sleep 0.3");
    c.set("/annotations", json!({"org.berth.test": "yes", "k": "v"}));
    c.create().ok();
    let s = c.state_json();
    check_state_shape(&s, &c, "created");
    // runtime.md "State": annotations as given in config.
    assert_eq!(s["annotations"], json!({"org.berth.test": "yes", "k": "v"}), "annotations: {s}");
    let pid = s["pid"].as_i64().unwrap() as i32;
    assert!(process_alive(pid), "created container's pid {pid} must exist");
    assert!(!c.bpath("rootfs/ran").exists(), "process.args MUST NOT run before start");
    // --pid-file holds the container's pid, the same one state reports.
    assert_eq!(c.pid_from_file(), Some(pid), "pid-file content must equal state pid");

    c.start().ok();
    let s = c.state_json();
    // Either still running or (if very fast) stopped; it must have run.
    assert!(s["status"] == "running" || s["status"] == "stopped", "after start: {s}");
    if s["status"] == "running" {
        check_state_shape(&s, &c, "running");
        assert_eq!(s["pid"].as_i64(), Some(pid as i64), "pid stays the same after start");
    }
    let s = c.wait_status("stopped", WAIT).unwrap();
    check_state_shape(&s, &c, "stopped");
    assert_eq!(std::fs::read_to_string(c.bpath("rootfs/ran")).unwrap(), "ran\n");

    c.delete().ok();
    // runtime.md "Query State": unknown container MUST generate an error.
    c.state().fails();
    c.assert_no_leaks(Some(pid));
}

// runtime.md "Create": "If the ID provided is not unique ... MUST generate an
// error and a new container MUST NOT be created".
#[test]
fn create_duplicate_id_fails() {
    let mut c = TestContainer::new("dup-id");
    c.args(&["sleep", "100"]);
    c.create().ok();
    let pid = c.state_json()["pid"].as_i64().unwrap();
    c.create_with(&[]).fails().reports_error();
    // The first container is untouched.
    let s = c.state_json();
    assert_eq!(s["status"], "created");
    assert_eq!(s["pid"].as_i64(), Some(pid));
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid as i32));
}

// runtime.md "Start": starting a container that is not `created` MUST have no
// effect and MUST generate an error.
#[test]
fn start_twice_fails() {
    let mut c = TestContainer::new("start-twice");
    c.args(&["sleep", "100"]);
    c.create().ok();
    c.start().ok();
    c.wait_status("running", WAIT).unwrap();
    let pid = c.state_json()["pid"].as_i64().unwrap() as i32;
    c.start().fails().reports_error();
    let s = c.state_json();
    assert_eq!(s["status"], "running", "second start must not affect the container");
    assert_eq!(s["pid"].as_i64(), Some(pid as i64));
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

// runtime.md "Start": starting a stopped container MUST generate an error.
#[test]
fn start_stopped_fails() {
    let mut c = TestContainer::new("start-stopped");
    c.args(&["true"]);
    c.run_to_completion();
    c.start().fails();
    assert_eq!(c.state_json()["status"], "stopped");
    c.delete_and_check(None);
}

// runtime.md "Delete": deleting a container that is not `stopped` MUST have no
// effect and MUST generate an error.
#[test]
fn delete_running_without_force_fails() {
    let mut c = TestContainer::new("delete-running");
    c.args(&["sleep", "100"]);
    c.create().ok();
    c.start().ok();
    let pid = c.wait_status("running", WAIT).unwrap()["pid"].as_i64().unwrap() as i32;
    c.delete().fails().reports_error();
    assert_eq!(c.state_json()["status"], "running");
    assert!(process_alive(pid));
    // runc extension used by every engine: --force kills and deletes.
    c.delete_force().ok();
    c.state().fails();
    c.assert_no_leaks(Some(pid));
}

// runtime.md "Delete" on a `created` container without force is an error too.
#[test]
fn delete_created_without_force_fails() {
    if skip_for("runc version 1.1", "runc deletes (kills) a `created` container on plain `delete`, against runtime.md Delete") {
        return;
    }
    let mut c = TestContainer::new("delete-created");
    c.args(&["sleep", "100"]);
    c.create().ok();
    let pid = c.state_json()["pid"].as_i64().unwrap() as i32;
    c.delete().fails();
    assert_eq!(c.state_json()["status"], "created");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

// Engines (containerd) call `delete --force` for ids that are already gone;
// it must succeed. runtime.md "Delete" only constrains existing containers.
#[test]
fn delete_force_unknown_id_succeeds() {
    let c = TestContainer::new("delete-unknown");
    c.delete_force().ok();
    c.delete_force().ok();
    // Plain delete / state / start / kill of an unknown id MUST generate an error.
    c.delete().fails();
    c.state().fails().reports_error();
    c.start().fails();
    c.kill("KILL").fails();
}

fn kill_form(name: &str, sig: &str) {
    let mut c = TestContainer::new(name);
    c.args(&["sleep", "100"]);
    c.create().ok();
    c.start().ok();
    let pid = c.wait_status("running", WAIT).unwrap()["pid"].as_i64().unwrap() as i32;
    // runtime.md "Kill": MUST send the specified signal to the container process.
    c.kill(sig).ok();
    c.wait_status("stopped", WAIT).unwrap();
    assert!(!process_alive(pid));
    // runtime.md "Kill": signalling a container that is neither created nor
    // running MUST generate an error.
    c.kill(sig).fails();
    c.delete_and_check(Some(pid));
}

#[test]
fn kill_sigkill_name() {
    kill_form("kill-SIGKILL", "SIGKILL");
}
#[test]
fn kill_kill_name() {
    kill_form("kill-KILL", "KILL");
}
#[test]
fn kill_number_9() {
    kill_form("kill-9", "9");
}
#[test]
fn kill_sigterm() {
    // sh as pid 1 ignores SIGTERM unless it traps it: use a trap that exits.
    let mut c = TestContainer::new("kill-term");
    c.sh("trap 'exit 0' TERM; while true; do sleep 0.05; done");
    c.create().ok();
    c.start().ok();
    let pid = c.wait_status("running", WAIT).unwrap()["pid"].as_i64().unwrap() as i32;
    std::thread::sleep(Duration::from_millis(100)); // let the trap install
    c.kill("TERM").ok();
    c.wait_status("stopped", WAIT).unwrap();
    c.delete_and_check(Some(pid));
}

// runtime.md "Kill": a `created` container can be signalled too.
#[test]
fn kill_created_container() {
    let mut c = TestContainer::new("kill-created");
    c.args(&["sleep", "100"]);
    c.create().ok();
    let pid = c.state_json()["pid"].as_i64().unwrap() as i32;
    c.kill("KILL").ok();
    c.wait_status("stopped", WAIT).unwrap();
    c.delete_and_check(Some(pid));
}

// `delete --force` on a created (never started) container cleans up everything.
#[test]
fn delete_force_created() {
    let mut c = TestContainer::new("force-created");
    c.args(&["sleep", "100"]);
    c.create().ok();
    let pid = c.state_json()["pid"].as_i64().unwrap() as i32;
    c.delete_force().ok();
    c.state().fails();
    c.assert_no_leaks(Some(pid));
}

// runtime.md "Create": updates to config.json after create MUST NOT affect the container.
#[test]
fn config_changes_after_create_ignored() {
    let mut c = TestContainer::new("config-after-create");
    c.sh("echo original");
    c.create().ok();
    c.sh("echo changed");
    c.write_config();
    c.start().ok();
    c.wait_status("stopped", WAIT).unwrap();
    let out = std::fs::read_to_string(&c.out_file).unwrap();
    assert_eq!(out.trim(), "original");
    c.delete_and_check(None);
}

// runtime.md "Lifecycle": every `create` of a valid bundle MUST build the
// container. Many short runs in a row, each its own container (and cgroup),
// catch setup steps that race each other (a cgroup's device list still
// being written while the init creates /dev/null, say) and fail only now
// and then.
#[test]
fn two_hundred_runs_in_a_row_all_succeed() {
    let mut c = TestContainer::new("many-runs");
    c.args(&["true"]);
    // Deny every device but the defaults, as `runc spec` writes it: the
    // runtime then rewrites the cgroup's device list on each create.
    c.set("/linux/resources", serde_json::json!({"devices": [{"allow": false, "access": "rwm"}]}));
    c.write_config();
    let bundle = c.bundle.display().to_string();
    for i in 0..200 {
        let id = format!("{}-{i}", c.id);
        let o = c.rt.cmd(&["run", "--bundle", &bundle, &id]);
        assert!(o.success(), "run {i} of 200 failed: {}", o.stderr.trim());
    }
    c.assert_no_leaks(None);
    let left: Vec<_> = std::fs::read_dir(&c.rt.root).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.iter().all(|n| n.to_string_lossy().starts_with('@')), "state left under the root: {left:?}");
}
