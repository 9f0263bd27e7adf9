//! Control groups (config-linux.md "Control groups"). Observed from the host:
//! on a v1 or hybrid host the controller hierarchies under /sys/fs/cgroup/<c>,
//! on a pure v2 host the unified hierarchy.

use conformance::*;
use serde_json::json;
use std::fs;
use std::path::PathBuf;

/// Path of controller file `v1` (or `v2` on a unified host) for the container.
fn cg_file(c: &TestContainer, controller: &str, v1: &str, v2: &str) -> PathBuf {
    let rel = format!("{}/{}", CGROUP_PREFIX.trim_start_matches('/'), c.id);
    let p = PathBuf::from("/sys/fs/cgroup").join(controller).join(&rel).join(v1);
    if p.exists() {
        return p;
    }
    for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        let p = PathBuf::from(root).join(&rel).join(v2);
        if p.exists() {
            return p;
        }
    }
    panic!("neither v1 {controller}/{v1} nor v2 {v2} exists for {}", c.id)
}

fn read(p: &PathBuf) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).trim().to_string()
}

// config-linux.md "Cgroups Path": an absolute cgroupsPath is taken relative
// to the cgroups mount point; the container process MUST be placed there.
#[test]
fn process_is_in_cgroups_path() {
    let mut c = TestContainer::new("cg-path");
    c.args(&["sleep", "100"]);
    c.create().ok();
    let pid = c.state_json()["pid"].as_i64().unwrap();
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("{CGROUP_PREFIX}/{}", c.id);
    let placed: Vec<&str> = cg
        .lines()
        .filter(|l| l.splitn(3, ':').nth(2) == Some(want.as_str()))
        .collect();
    // At least the memory and pids hierarchies (v1) or the unified one.
    let has = |ctl: &str| placed.iter().any(|l| l.split(':').nth(1).unwrap_or("").split(',').any(|x| x == ctl));
    assert!(
        (has("memory") && has("pids")) || placed.iter().any(|l| l.starts_with("0::")),
        "container process not in {want}:\n{cg}"
    );
    eprintln!("container cgroups:\n{cg}");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid as i32));
}

// config-linux.md "Memory", "PIDs", "CPU": limits MUST be applied to the cgroup.
#[test]
fn memory_pids_cpu_limits() {
    let mut c = TestContainer::new("cg-limits");
    c.args(&["sleep", "100"]);
    c.set(
        "/linux/resources",
        json!({
            "memory": {"limit": 67108864},
            "pids": {"limit": 50},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000}
        }),
    );
    c.create().ok();
    let pid = c.state_json()["pid"].as_i64().unwrap();
    let mem = read(&cg_file(&c, "memory", "memory.limit_in_bytes", "memory.max"));
    assert_eq!(mem, "67108864");
    let pids = read(&cg_file(&c, "pids", "pids.max", "pids.max"));
    assert_eq!(pids, "50");
    let p = cg_file(&c, "cpu", "cpu.cfs_quota_us", "cpu.max");
    let q = read(&p);
    assert!(q == "50000" || q == "50000 100000", "cpu quota: {q}");
    if p.ends_with("cpu.cfs_quota_us") {
        assert_eq!(read(&cg_file(&c, "cpu", "cpu.shares", "")), "512");
        assert_eq!(read(&cg_file(&c, "cpu", "cpu.cfs_period_us", "")), "100000");
    }
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid as i32));
}

// config-linux.md "Allowed Device list": entries MUST be applied in order;
// a device not allowed cannot be opened even if its node exists.
#[test]
fn device_allow_list_enforced() {
    let mut c = TestContainer::new("cg-devices");
    c.set(
        "/linux/resources/devices",
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"}
        ]),
    );
    let out = c.run_sh(
        "mknod /tmp/zero c 1 5 && mknod /tmp/kmsg c 1 11; \
         head -c 3 /tmp/zero | wc -c; \
         (head -c 1 /tmp/kmsg >/dev/null) 2>/dev/null && echo kmsg-open || echo kmsg-denied",
    );
    assert_eq!(out, "3\nkmsg-denied\n");
    c.delete_and_check(None);
}

// config-linux.md "PIDs": the limit is enforced for the processes inside
// (counted from the host: processes in the container's cgroup).
#[test]
fn pids_limit_enforced() {
    let mut c = TestContainer::new("cg-pids");
    c.set("/linux/resources/pids", json!({"limit": 4}));
    // The inner shell forks until the limit stops it (ash then exits); the
    // outer one execs, so it needs no fork of its own.
    c.sh("sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 30 & done' 2>/dev/null; exec sleep 30");
    c.create().ok();
    c.start().ok();
    let pid = c.wait_status("running", std::time::Duration::from_secs(10)).unwrap()["pid"]
        .as_i64()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let n = c.marked_processes().len();
    assert!(n >= 1 && n <= 4, "pids.max 4 not enforced: {n} processes");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid as i32));
}
