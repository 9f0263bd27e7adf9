//! Errors leave nothing behind.
//!
//! runtime.md "Errors": generating an error MUST leave the environment as if
//! the operation were never attempted (modulo logging). runtime.md "Create":
//! if the runtime cannot apply a property it MUST generate an error and a new
//! container MUST NOT be created.

use conformance::*;
use serde_json::json;
use std::fs;

/// The private state root holds no entry at all after a failed create.
#[track_caller]
fn assert_root_empty(c: &TestContainer) {
    let entries: Vec<_> = fs::read_dir(&c.rt.root).map(|rd| rd.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(entries.is_empty(), "state root not empty after failed create: {entries:?}");
}

/// `create` must fail, say why, and leave nothing (state, cgroup, process, mount).
#[track_caller]
fn create_must_fail(c: &TestContainer) {
    c.create_with(&[]).fails().reports_error();
    c.state().fails();
    c.assert_no_leaks(None);
    assert_root_empty(c);
}

#[track_caller]
fn config_must_fail(c: &TestContainer) {
    c.write_config();
    create_must_fail(c);
}

// bundle.md / runtime.md "Create": config.json is required in the bundle.
#[test]
fn missing_config_json() {
    let c = TestContainer::new("err-no-config");
    create_must_fail(&c);
}

#[test]
fn malformed_config_json() {
    let c = TestContainer::new("err-bad-json");
    fs::write(c.bpath("config.json"), "{\"ociVersion\": \"1.3.0\", \"process\": {").unwrap();
    create_must_fail(&c);
}

// config.md "Root": root.path is the container's root filesystem; it must exist.
#[test]
fn missing_root_path() {
    let mut c = TestContainer::new("err-no-rootfs");
    c.set("/root/path", json!("does-not-exist"));
    config_must_fail(&c);
}

fn bad_id(name: &str, id: &str) {
    let mut c = TestContainer::new(name);
    c.args(&["true"]);
    c.write_config();
    let bundle = c.bundle.display().to_string();
    // runtime.md "Create": an id that is "not valid in any other way" MUST
    // generate an error and no container MUST be created.
    c.cmd(&["create", "--bundle", &bundle, id]).fails().reports_error();
    c.assert_no_leaks(None);
    assert_root_empty(&c);
    // Nothing may have been created outside the root either (path traversal).
    assert!(!c.base.join("b").exists() && !c.base.join("state.json").exists());
}

#[test]
fn invalid_id_slash() {
    bad_id("err-id-slash", "a/b");
}
#[test]
fn invalid_id_dotdot() {
    bad_id("err-id-dotdot", "..");
}
#[test]
fn invalid_id_dot() {
    bad_id("err-id-dot", ".");
}
#[test]
fn invalid_id_empty() {
    bad_id("err-id-empty", "");
}
#[test]
fn invalid_id_too_long() {
    bad_id("err-id-long", &"x".repeat(1000));
}

// config-linux.md "Namespaces": type must be one of the listed values.
#[test]
fn unknown_namespace_type() {
    let mut c = TestContainer::new("err-ns-type");
    c.push("/linux/namespaces", json!({"type": "bogus"}));
    config_must_fail(&c);
}

// config-linux.md "Namespaces": duplicated types MUST generate an error.
#[test]
fn duplicate_namespace_type() {
    let mut c = TestContainer::new("err-ns-dup");
    c.push("/linux/namespaces", json!({"type": "uts"}));
    config_must_fail(&c);
}

// config-linux.md "Namespaces": the runtime MUST place the process in the
// namespace at `path`; a path that does not exist cannot be joined.
#[test]
fn namespace_path_missing() {
    let mut c = TestContainer::new("err-ns-path");
    c.drop_namespace("network");
    c.push("/linux/namespaces", json!({"type": "network", "path": "/proc/self/ns/no-such-ns"}));
    config_must_fail(&c);
}

// config-linux.md "Namespaces": MUST generate an error if `path` is not
// associated with a namespace of type `type`.
#[test]
fn namespace_path_wrong_type() {
    let mut c = TestContainer::new("err-ns-wrongtype");
    c.drop_namespace("ipc");
    // The test process's own (host) uts namespace given as the ipc namespace.
    let path = format!("/proc/{}/ns/uts", std::process::id());
    c.push("/linux/namespaces", json!({"type": "ipc", "path": path}));
    config_must_fail(&c);
}

#[test]
fn namespace_path_not_a_namespace() {
    let mut c = TestContainer::new("err-ns-notns");
    c.drop_namespace("uts");
    c.push("/linux/namespaces", json!({"type": "uts", "path": "/etc/hostname"}));
    c.remove("/hostname");
    config_must_fail(&c);
}

/// `create` or `start` fails; afterwards (`delete --force`) nothing remains.
#[track_caller]
fn create_or_start_must_fail(c: &TestContainer) {
    c.write_config();
    let created = c.create_with(&[]);
    if created.success() {
        let started = c.start();
        assert!(!started.success(), "create succeeded, so start must fail; start: {:?} stderr {}", started.code, started.stderr);
        started.fails().reports_error();
        c.delete_force().ok();
        c.assert_no_leaks(c.pid_from_file());
    } else {
        created.fails().reports_error();
        c.assert_no_leaks(None);
        assert_root_empty(c);
    }
}

// config.md "Process": args[0] is used as execvp's file; it must be found.
#[test]
fn executable_not_found() {
    let mut c = TestContainer::new("err-noexec");
    c.args(&["/no/such/binary"]);
    create_or_start_must_fail(&c);
}

#[test]
fn executable_not_on_path() {
    let mut c = TestContainer::new("err-noexec-path");
    c.args(&["no-such-command-xyz"]);
    create_or_start_must_fail(&c);
}

#[test]
fn executable_not_executable() {
    let mut c = TestContainer::new("err-noexec-perm");
    c.args(&["/etc/passwd"]);
    create_or_start_must_fail(&c);
}

// config.md "Process": cwd is the working directory; a file is not one.
#[test]
fn cwd_not_a_directory() {
    let mut c = TestContainer::new("err-cwd-file");
    c.args(&["true"]);
    c.set("/process/cwd", json!("/etc/passwd"));
    create_or_start_must_fail(&c);
}

// config.md "Process": cwd MUST be an absolute path.
#[test]
fn cwd_relative() {
    let mut c = TestContainer::new("err-cwd-rel");
    c.args(&["true"]);
    c.set("/process/cwd", json!("tmp"));
    create_or_start_must_fail(&c);
}

// config.md "Process": args needs at least one entry on POSIX.
#[test]
fn empty_args() {
    let mut c = TestContainer::new("err-empty-args");
    c.set("/process/args", json!([]));
    create_or_start_must_fail(&c);
}

// runtime.md "Start": MUST generate an error if `process` was not set.
#[test]
fn no_process() {
    let mut c = TestContainer::new("err-no-process");
    c.remove("/process");
    create_or_start_must_fail(&c);
}

// config.md "Mounts": a bind mount whose source does not exist cannot be applied.
#[test]
fn bind_mount_missing_source() {
    let mut c = TestContainer::new("err-bind-src");
    c.args(&["true"]);
    let src = c.base.join("no-such-source").display().to_string();
    c.push("/mounts", json!({"destination": "/mnt", "type": "bind", "source": src, "options": ["rbind"]}));
    config_must_fail(&c);
}

// config-linux.md "Devices": a device type outside c/b/u/p is invalid.
#[test]
fn device_bad_type() {
    let mut c = TestContainer::new("err-dev-type");
    c.args(&["true"]);
    c.push("/linux/devices", json!({"path": "/dev/bogus", "type": "x", "major": 1, "minor": 3}));
    config_must_fail(&c);
}
