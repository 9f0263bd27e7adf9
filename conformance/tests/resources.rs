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
// Checked in every hierarchy the host mounts (on a hybrid host: each v1
// controller, the named systemd one and the unified tree).
fn assert_placed_everywhere(c: &TestContainer, pid: i64) {
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("{CGROUP_PREFIX}/{}", c.id);
    let astray: Vec<&str> = cg.lines().filter(|l| l.splitn(3, ':').nth(2) != Some(want.as_str())).collect();
    assert!(!cg.is_empty() && astray.is_empty(), "container process not in {want} in every hierarchy:\n{cg}");
}

#[test]
fn process_is_in_cgroups_path() {
    let mut c = TestContainer::new("cg-path");
    c.args(&["sleep", "100"]);
    c.create().ok();
    let pid = c.state_json()["pid"].as_i64().unwrap();
    assert_placed_everywhere(&c, pid);
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid as i32));
}

/// A classic-BPF seccomp program: clone3 fails with ENOSYS, everything
/// else is allowed (what Docker's default profile does to a runtime that
/// runs inside a container).
fn deny_clone3() -> std::io::Result<()> {
    const CLONE3: u32 = 435;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    let ins = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    let ld = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    let jeq = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    let ret = (libc::BPF_RET | libc::BPF_K) as u16;
    let mut prog = [
        ins(ld, 0, 0, 4), // seccomp_data.arch
        ins(jeq, 0, 3, AUDIT_ARCH_X86_64),
        ins(ld, 0, 0, 0), // seccomp_data.nr
        ins(jeq, 0, 1, CLONE3),
        ins(ret, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        ins(ret, 0, 0, libc::SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_mut_ptr() };
    // SAFETY: prctl with a valid filter program that outlives the call.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog as *const libc::sock_fprog) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

// The same placement where the runtime cannot use clone3 (an old kernel, or
// a seccomp profile around the runtime answering ENOSYS): a runtime that
// starts the init in its cgroup through clone3 must fall back, not fail.
#[test]
fn placed_when_clone3_is_unavailable() {
    if std::env::consts::ARCH != "x86_64" {
        eprintln!("skipped: the test's filter is written for x86_64");
        return;
    }
    let mut c = TestContainer::new("cg-noclone3");
    c.args(&["sleep", "100"]);
    c.write_config();
    let out = c.create_prepared(&[], |cmd| {
        // SAFETY: the closure runs in the forked child before exec and only
        // makes prctl calls.
        unsafe { std::os::unix::process::CommandExt::pre_exec(cmd, deny_clone3) };
    });
    out.ok();
    let pid = c.state_json()["pid"].as_i64().unwrap();
    assert_placed_everywhere(&c, pid);
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
    let pid = c.wait_status("running", std::time::Duration::from_secs(10)).unwrap()["pid"].as_i64().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let n = c.marked_processes().len();
    assert!((1..=4).contains(&n), "pids.max 4 not enforced: {n} processes");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid as i32));
}

fn running_with(name: &str, resources: serde_json::Value) -> (TestContainer, i32) {
    let mut c = TestContainer::new(name);
    c.args(&["sleep", "100"]);
    c.set("/linux/resources", resources);
    c.create().ok();
    c.start().ok();
    let pid = c.wait_status("running", std::time::Duration::from_secs(10)).unwrap()["pid"].as_i64().unwrap() as i32;
    (c, pid)
}

/// Check a v1 file where the controller's v1 hierarchy is mounted, else the
/// v2 file: `(controller, v1 file, value)`, `(v2 file, value)`.
#[track_caller]
fn expect(c: &TestContainer, v1f: (&str, &str, &str), v2f: (&str, &str)) {
    let (ctl, f1, want1) = v1f;
    let (f2, want2) = v2f;
    let p = cg_file(c, ctl, f1, f2);
    let want = if p.ends_with(f1) { want1 } else { want2 };
    assert_eq!(read(&p), want, "{}", p.display());
}

/// Whether the v1 `controller` hierarchy is mounted on this host.
fn v1(controller: &str) -> bool {
    PathBuf::from("/sys/fs/cgroup").join(controller).join("cgroup.procs").exists()
}

// config-linux.md "Memory", "CPU": the other v1 memory and cpuset fields
// reach the kernel's files.
#[test]
fn memory_extras_and_cpuset() {
    // swappiness has no cgroup v2 file: only asked for where v1 memory is.
    let mut mem = json!({"limit": 67108864, "swap": 100663296, "reservation": 33554432});
    if v1("memory") {
        mem["swappiness"] = json!(10);
    }
    let (c, pid) = running_with("cg-extras", json!({"memory": mem, "cpu": {"cpus": "0", "mems": "0"}}));
    expect(&c, ("memory", "memory.memsw.limit_in_bytes", "100663296"), ("memory.swap.max", "33554432"));
    expect(&c, ("memory", "memory.soft_limit_in_bytes", "33554432"), ("memory.low", "33554432"));
    if v1("memory") {
        assert_eq!(read(&cg_file(&c, "memory", "memory.swappiness", "")), "10");
    }
    expect(&c, ("cpuset", "cpuset.cpus", "0"), ("cpuset.cpus", "0"));
    expect(&c, ("cpuset", "cpuset.mems", "0"), ("cpuset.mems", "0"));
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

// config-linux.md "Block IO": throttle limits for the host's first disk.
#[test]
fn blkio_throttle() {
    let dev = fs::read_dir("/sys/block")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with("loop") && !e.file_name().to_string_lossy().starts_with("ram"))
        .find_map(|e| fs::read_to_string(e.path().join("dev")).ok());
    let Some(dev) = dev else {
        eprintln!("SKIP: no block device");
        return;
    };
    let (ma, mi) = dev.trim().split_once(':').unwrap();
    let (ma, mi): (i64, i64) = (ma.parse().unwrap(), mi.parse().unwrap());
    let (c, pid) = running_with(
        "cg-blkio",
        json!({"blockIO": {"throttleReadBpsDevice": [{"major": ma, "minor": mi, "rate": 1048576}],
                           "throttleWriteIOPSDevice": [{"major": ma, "minor": mi, "rate": 100}]}}),
    );
    let r = read(&cg_file(&c, "blkio", "blkio.throttle.read_bps_device", "io.max"));
    assert!(r.contains(&format!("{ma}:{mi} 1048576")) || r.contains(&format!("{ma}:{mi} rbps=1048576")), "{r}");
    let w = read(&cg_file(&c, "blkio", "blkio.throttle.write_iops_device", "io.max"));
    assert!(w.contains(&format!("{ma}:{mi} 100")) || w.contains("wiops=100"), "{w}");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

// A value the kernel refuses fails create with the field and the value
// named, and leaves nothing behind. (A realtime runtime needs one in every
// ancestor, which test cgroups never have.)
#[test]
fn rejected_value_names_field_and_value() {
    if !v1("cpu") || !PathBuf::from("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists() {
        eprintln!("SKIP: needs the v1 cpu hierarchy with realtime group scheduling");
        return;
    }
    let mut c = TestContainer::new("cg-reject");
    c.args(&["true"]);
    c.set("/linux/resources", json!({"cpu": {"realtimeRuntime": 12345}}));
    let o = c.create();
    o.fails();
    let text = format!("{}{}", o.stderr, o.log);
    // Berth names the config field; runc the kernel file.
    assert!(text.contains("12345") && (text.contains("cpu.realtimeRuntime") || text.contains("cpu.rt_runtime_us")), "error must name value and field: {text}");
    c.assert_no_leaks(None);
}

// config-linux.md "Huge page limits": applied where a hugetlb controller is
// available to the container, otherwise an error naming the field (never
// silently ignored).
#[test]
fn hugetlb_limit_applied_or_refused() {
    let mut c = TestContainer::new("cg-hugetlb");
    c.args(&["true"]);
    c.set("/linux/resources", json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}));
    let o = c.create();
    if o.success() {
        let v = read(&cg_file(&c, "hugetlb", "hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.max"));
        assert_eq!(v, "4194304");
        c.delete_force().ok();
    } else {
        let text = format!("{}{}", o.stderr, o.log);
        assert!(text.contains("hugetlb"), "the error must say what failed: {text}");
    }
    c.assert_no_leaks(None);
}

// `update` (runc's flags, then containerd's `--resources -` on stdin)
// changes the kernel's files of a running container.
#[test]
fn update_flags_and_resources_json() {
    let (c, pid) = running_with("cg-update", json!({"memory": {"limit": 67108864, "swap": 67108864}, "pids": {"limit": 50}}));
    c.cmd(&[
        "update",
        "--memory",
        "128m",
        "--memory-swap",
        "256m",
        "--pids-limit",
        "30",
        "--cpu-share",
        "256",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        &c.id,
    ])
    .ok();
    // v2 holds swap alone (memory+swap − memory) and cpu.weight for shares
    // (1 + (256 − 2) × 9999 / 262142 = 10).
    expect(&c, ("memory", "memory.limit_in_bytes", "134217728"), ("memory.max", "134217728"));
    expect(&c, ("memory", "memory.memsw.limit_in_bytes", "268435456"), ("memory.swap.max", "134217728"));
    expect(&c, ("pids", "pids.max", "30"), ("pids.max", "30"));
    expect(&c, ("cpu", "cpu.shares", "256"), ("cpu.weight", "10"));
    expect(&c, ("cpu", "cpu.cfs_quota_us", "20000"), ("cpu.max", "20000 100000"));
    let json_file = c.base.join("resources.json");
    fs::write(&json_file, r#"{"memory": {"limit": 33554432, "swap": 33554432}, "pids": {"limit": 10}}"#).unwrap();
    let io = Stdio3 {
        stdin: std::process::Stdio::from(fs::File::open(&json_file).unwrap()),
        stdout: fs::File::create(c.base.join("update.out")).unwrap(),
        stderr: fs::File::create(c.base.join("update.err")).unwrap(),
    };
    let o = c.rt.cmd_io(&["update", "--resources", "-", &c.id], io);
    assert!(o.success(), "update --resources -: {}", fs::read_to_string(c.base.join("update.err")).unwrap());
    expect(&c, ("memory", "memory.limit_in_bytes", "33554432"), ("memory.max", "33554432"));
    expect(&c, ("pids", "pids.max", "10"), ("pids.max", "10"));
    // A file works too; a value the kernel refuses is an error naming it.
    fs::write(&json_file, r#"{"cpu": {"realtimeRuntime": 12345}}"#).unwrap();
    let f = json_file.display().to_string();
    let o = c.cmd(&["update", "--resources", &f, &c.id]);
    o.fails();
    let text = format!("{}{}", o.stderr, o.log);
    assert!(text.contains("12345") && (text.contains("cpu.realtimeRuntime") || text.contains("cpu.rt_runtime_us")), "{text}");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
    c.cmd(&["update", "--pids-limit", "5", &c.id]).fails();
}

// The container sees its own limits in its cgroup mount (cgroup namespace:
// its cgroup is the root there).
#[test]
fn limits_seen_inside_container() {
    let mut c = TestContainer::new("cg-inside");
    c.push(
        "/mounts",
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    );
    c.set("/linux/resources", json!({"memory": {"limit": 50331648}, "pids": {"limit": 42}}));
    if v1("memory") && v1("pids") {
        let out = c.run_sh("cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; grep memory /proc/self/cgroup");
        assert_eq!(out, format!("50331648\n42\n{}:memory:/\n", memory_hierarchy_id()));
    } else {
        let out = c.run_sh("cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; grep '^0::' /proc/self/cgroup");
        assert_eq!(out, "50331648\n42\n0::/\n");
    }
    c.delete_and_check(None);
}

fn memory_hierarchy_id() -> String {
    fs::read_to_string("/proc/self/cgroup")
        .unwrap()
        .lines()
        .find(|l| l.split(':').nth(1) == Some("memory"))
        .and_then(|l| l.split(':').next().map(str::to_string))
        .unwrap()
}

// `events --stats` prints one event in runc's shape.
#[test]
fn events_stats_shape() {
    let (c, pid) = running_with("cg-stats", json!({"memory": {"limit": 67108864}, "pids": {"limit": 20}}));
    let v = c.cmd(&["events", "--stats", &c.id]).ok().json();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], c.id.as_str());
    let d = &v["data"];
    assert_eq!(d["memory"]["usage"]["limit"], 67108864, "{v}");
    assert!(d["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0, "{v}");
    assert_eq!(d["pids"]["current"], 1, "{v}");
    assert_eq!(d["pids"]["limit"], 20, "{v}");
    assert!(d["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(d["cpu"]["usage"]["kernel"].is_u64() && d["cpu"]["usage"]["user"].is_u64(), "{v}");
    assert!(d["hugetlb"].is_object() && d["blkio"].is_object(), "{v}");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

// A memory hog is OOM-killed inside its limit and `events` reports it.
#[test]
fn oom_kill_reported_by_events() {
    let mut c = TestContainer::new("cg-oom");
    c.set("/linux/resources", json!({"memory": {"limit": 16777216, "swap": 16777216}}));
    // tail keeps the whole "line" of /dev/zero in memory.
    c.sh("tail /dev/zero; exec sleep 100");
    c.create().ok();
    let out_p = c.base.join("events.out");
    let mut events = std::process::Command::new(&c.rt.bin)
        .args(["--root", &c.rt.root.display().to_string(), "events", "--interval", "1s", &c.id])
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(&out_p).unwrap())
        .stderr(fs::File::create(c.base.join("events.err")).unwrap())
        .spawn()
        .unwrap();
    c.start().ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = false;
    while !seen && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
        seen = fs::read_to_string(&out_p).unwrap_or_default().lines().any(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
            v["type"] == "oom" && v["id"] == c.id.as_str()
        });
    }
    let _ = events.kill();
    let _ = events.wait();
    let out = fs::read_to_string(&out_p).unwrap_or_default();
    assert!(seen, "no oom event; events printed:\n{out}\nstderr: {}", fs::read_to_string(c.base.join("events.err")).unwrap_or_default());
    c.delete_force().ok();
    c.assert_no_leaks(None);
}

// A device the rules deny cannot be opened, even a default one such as
// /dev/null when a rule after "deny all" names it; other defaults still work.
#[test]
fn device_denied_null() {
    if skip_for("runc", "runc appends its default device rules after the config's, so /dev/null cannot be denied") {
        return;
    }
    let mut c = TestContainer::new("cg-deny-null");
    c.set("/linux/resources/devices", json!([{"allow": false, "access": "rwm"}, {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]));
    let out = c.run_sh("(echo x > /dev/null) 2>/tmp/err && echo null-open || echo null-denied; head -c 2 /dev/zero | wc -c");
    assert_eq!(out, "null-denied\n2\n");
    c.delete_and_check(None);
}
