//! The systemd cgroup driver (`--systemd-cgroup`, issue #13), checked
//! against systemd itself: the unit systemctl shows, the cgroup the init
//! sits in, the properties systemd holds, and that nothing is left —
//! neither a unit nor a cgroup — after delete or a failed create.
//!
//! These tests need systemd as PID 1 on a cgroup2 host: CI runs them in the
//! systemd guest (scripts/guest-tests.sh). Elsewhere each says why it
//! skips. Units are named `berth-test-<id>.scope` in `system.slice`.

use conformance::*;
use serde_json::json;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const SD: &str = "--systemd-cgroup";

fn have_systemd() -> bool {
    if Path::new("/run/systemd/system").is_dir() && pure_v2() {
        return true;
    }
    eprintln!("skipped: needs systemd as PID 1 on a pure cgroup2 host (run in the systemd guest: scripts/guest-tests.sh)");
    false
}

fn unit_of(c: &TestContainer) -> String {
    format!("berth-test-{}.scope", c.id)
}

fn scope_dir(c: &TestContainer) -> PathBuf {
    Path::new("/sys/fs/cgroup/system.slice").join(unit_of(c))
}

/// `systemctl show -p NAME --value UNIT`.
fn show(unit: &str, prop: &str) -> String {
    let o = Command::new("systemctl").args(["show", "-p", prop, "--value", unit]).output().expect("run systemctl");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A container in `system.slice:berth-test:<id>` running `sleep`.
fn sd_container(name: &str) -> TestContainer {
    let mut c = TestContainer::new(name);
    let path = format!("system.slice:berth-test:{}", c.id);
    c.set("/linux/cgroupsPath", json!(path));
    c.args(&["sleep", "100"]);
    c
}

/// `--systemd-cgroup create` of the config as it stands.
fn create_sd(c: &TestContainer) -> RtOutput {
    c.write_config();
    let bundle = c.bundle.display().to_string();
    let pid = c.pid_file.display().to_string();
    let io = Stdio3 { stdin: Stdio::null(), stdout: File::create(&c.out_file).unwrap(), stderr: File::create(&c.err_file).unwrap() };
    c.rt.cmd_io(&[SD, "create", "--bundle", &bundle, "--pid-file", &pid, &c.id], io)
}

/// Nothing of the container's unit is left: not loaded, no cgroup.
#[track_caller]
fn assert_unit_gone(c: &TestContainer) {
    let unit = unit_of(c);
    for _ in 0..100 {
        if show(&unit, "LoadState") == "not-found" && !scope_dir(c).exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("unit {unit} is left: LoadState={} ActiveState={} cgroup exists={}", show(&unit, "LoadState"), show(&unit, "ActiveState"), scope_dir(c).exists());
}

// The "done when": a scope named after the cgroupsPath, with
// MemoryMax from linux.resources.memory.limit, holding the init; exec'd
// processes join it; update changes the property and the file; pause and
// resume freeze the unit's cgroup; delete removes the unit.
#[test]
fn scope_holds_the_container() {
    if !have_systemd() {
        return;
    }
    let mut c = sd_container("sd-scope");
    c.set("/linux/resources/memory", json!({"limit": 67108864}));
    create_sd(&c).ok();
    let pid = c.pid_from_file().expect("pid file");
    let unit = unit_of(&c);
    assert_eq!(show(&unit, "ActiveState"), "active");
    assert_eq!(show(&unit, "MemoryMax"), "67108864");
    assert_eq!(show(&unit, "Delegate"), "yes");
    assert_eq!(show(&unit, "ControlGroup"), format!("/system.slice/{unit}"));
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(own.trim(), format!("0::/system.slice/{unit}"), "the init is not in the unit's cgroup");
    assert_eq!(fs::read_to_string(scope_dir(&c).join("memory.max")).unwrap().trim(), "67108864");
    c.start().ok();
    c.wait_status("running", Duration::from_secs(10)).unwrap();

    let exec_pid = c.base.join("exec.pid");
    c.cmd(&["exec", "--detach", "--pid-file", &exec_pid.display().to_string(), &c.id, "sleep", "50"]).ok();
    let epid: i32 = fs::read_to_string(&exec_pid).unwrap().trim().parse().unwrap();
    assert_eq!(fs::read_to_string(format!("/proc/{epid}/cgroup")).unwrap().trim(), format!("0::/system.slice/{unit}"));

    c.cmd(&[SD, "update", "--memory", "128M", &c.id]).ok();
    assert_eq!(show(&unit, "MemoryMax"), "134217728");
    assert_eq!(fs::read_to_string(scope_dir(&c).join("memory.max")).unwrap().trim(), "134217728");

    c.cmd(&["pause", &c.id]).ok();
    assert_eq!(c.state_json()["status"], "paused");
    assert_eq!(fs::read_to_string(scope_dir(&c).join("cgroup.freeze")).unwrap().trim(), "1");
    c.cmd(&["resume", &c.id]).ok();
    assert_eq!(c.state_json()["status"], "running");

    let ps = c.cmd(&["ps", "--format", "json", &c.id]).ok().json();
    assert_eq!(ps.as_array().map(Vec::len), Some(2), "ps: {ps}");
    c.cmd(&["kill", "--all", &c.id, "KILL"]).ok();
    c.wait_status("stopped", Duration::from_secs(10)).unwrap();
    c.delete().ok();
    assert_unit_gone(&c);
    c.assert_no_leaks(Some(pid));
}

// delete --force of a running container stops the unit too.
#[test]
fn delete_force_stops_the_unit() {
    if !have_systemd() {
        return;
    }
    let c = sd_container("sd-force");
    create_sd(&c).ok();
    let pid = c.pid_from_file();
    c.start().ok();
    c.delete_force().ok();
    assert_unit_gone(&c);
    c.assert_no_leaks(pid);
}

// CPU, pids and device rules become the properties systemd has for them;
// the cgroup files hold the exact values; the device policy holds inside.
#[test]
fn limits_become_unit_properties() {
    if !have_systemd() {
        return;
    }
    let mut c = sd_container("sd-props");
    c.set("/linux/resources/cpu", json!({"quota": 50000, "period": 100000, "shares": 1024}));
    c.set("/linux/resources/pids", json!({"limit": 64}));
    c.set("/linux/resources/devices", json!([{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]));
    // A node of a device no rule allows (kmsg, 1:11).
    c.push("/linux/devices", json!({"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 438}));
    create_sd(&c).ok();
    let unit = unit_of(&c);
    assert_eq!(show(&unit, "CPUQuotaPerSecUSec"), "500ms");
    assert_eq!(show(&unit, "TasksMax"), "64");
    assert_eq!(show(&unit, "DevicePolicy"), "strict");
    assert!(show(&unit, "DeviceAllow").contains("/dev/char/1:3 rwm"), "DeviceAllow: {}", show(&unit, "DeviceAllow"));
    assert_eq!(fs::read_to_string(scope_dir(&c).join("cpu.max")).unwrap().trim(), "50000 100000");
    assert_eq!(fs::read_to_string(scope_dir(&c).join("pids.max")).unwrap().trim(), "64");
    c.start().ok();
    let null_ok = c.cmd(&["exec", &c.id, "sh", "-c", "echo x > /dev/null"]);
    null_ok.ok();
    let kmsg = c.cmd(&["exec", &c.id, "sh", "-c", "echo x > /dev/kmsg"]);
    assert!(!kmsg.success(), "/dev/kmsg must be refused by the device policy");
    // systemd's own list carries the devices every container gets.
    assert!(show(&unit, "DeviceAllow").contains("char-pts rwm"), "DeviceAllow: {}", show(&unit, "DeviceAllow"));
    c.delete_force().ok();
    assert_unit_gone(&c);
}

// org.systemd.property.* annotations reach the unit; a name ending in Sec
// takes seconds.
#[test]
fn annotations_become_unit_properties() {
    if !have_systemd() {
        return;
    }
    let mut c = sd_container("sd-annot");
    c.set("/annotations", json!({"org.systemd.property.CollectMode": "'inactive-or-failed'", "org.systemd.property.TimeoutStopSec": "uint64 7"}));
    create_sd(&c).ok();
    let unit = unit_of(&c);
    assert_eq!(show(&unit, "CollectMode"), "inactive-or-failed");
    assert_eq!(show(&unit, "TimeoutStopUSec"), "7s");
    c.delete_force().ok();
    assert_unit_gone(&c);
}

// Every failure a user can cause names what was wrong and leaves nothing:
// no unit, no cgroup, no state, no process.
#[test]
fn bad_input_leaves_no_unit() {
    if !have_systemd() {
        return;
    }
    // (name, config field, value, what the error must say)
    let cases = [
        ("sd-bad", "/linux/cgroupsPath", json!("/berth-test/not-a-unit"), &["slice:prefix:name", "linux.cgroupsPath"][..]),
        ("sd-bad-annot", "/annotations", json!({"org.systemd.property.TimeoutStopSec": "'soon'"}), &["org.systemd.property.TimeoutStopSec"][..]),
        // A property systemd refuses: its answer, and nothing left.
        ("sd-bad-prop", "/annotations", json!({"org.systemd.property.NoSuchProperty": "true"}), &["NoSuchProperty"][..]),
    ];
    for (name, ptr, value, says) in cases {
        let mut c = sd_container(name);
        c.set(ptr, value);
        let o = create_sd(&c);
        o.fails();
        assert!(says.iter().all(|w| said(&o).contains(w)), "{name}: {}", said(&o));
        assert_unit_gone(&c);
        c.assert_no_leaks(None);
    }
}

// Two containers with one cgroupsPath: the second is refused, the first
// keeps its unit.
#[test]
fn taken_unit_name_is_refused() {
    if !have_systemd() {
        return;
    }
    let a = sd_container("sd-taken");
    create_sd(&a).ok();
    let mut b = TestContainer::new("sd-taken-2");
    b.config = a.config.clone();
    let o = create_sd(&b);
    o.fails();
    assert!(said(&o).contains("exists"), "{}", said(&o));
    assert_eq!(show(&unit_of(&a), "ActiveState"), "active");
    let pid = a.pid_from_file().unwrap();
    assert_eq!(fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap().trim(), format!("0::/system.slice/{}", unit_of(&a)));
    b.assert_no_leaks(None);
    a.delete_force().ok();
    assert_unit_gone(&a);
}

// Where systemd is not running, the driver is refused before anything
// exists, saying so.
#[test]
fn without_systemd_is_refused_cleanly() {
    if Path::new("/run/systemd/system").is_dir() {
        eprintln!("skipped: systemd runs here (the other tests cover this host)");
        return;
    }
    let c = sd_container("sd-none");
    let o = create_sd(&c);
    o.fails();
    assert!(said(&o).contains("systemd is not running"), "{}", said(&o));
    c.assert_no_leaks(None);
}
