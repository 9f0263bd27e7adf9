//! Pure cgroup v2 (config-linux.md "Control groups", "Unified"): what only
//! a host whose /sys/fs/cgroup is one cgroup2 hierarchy can show. Every
//! resource through its v2 file, `unified` keys, the freezer's
//! `cgroup.freeze`, `kill --all` through `cgroup.kill`, the init and exec'd
//! processes born in their cgroup (clone3 `CLONE_INTO_CGROUP`), the eBPF
//! device program replaced (not stacked) on update, a container nested
//! under a parent someone else made, and the refusals of a cgroup v2
//! topology (threaded subtrees, a parent holding processes), named clearly.
//!
//! On a v1 or hybrid host each test says SKIP and why: these hosts are
//! reached in the guest of `scripts/guest-v2.sh`.

use conformance::*;
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// True (with a loud SKIP) unless this host is pure cgroup2.
fn not_v2() -> bool {
    if pure_v2() {
        return false;
    }
    eprintln!("SKIP: needs a pure cgroup2 host (scripts/guest-v2.sh runs this suite in one)");
    true
}

/// The container's cgroup2 directory (its default cgroupsPath).
fn dir_of(c: &TestContainer) -> PathBuf {
    Path::new("/sys/fs/cgroup").join(rel_cgroup(c))
}

/// A cgroup of the test's own making, `/berth-test/<name>` (a parent for
/// a container's cgroup); removed with everything below it on drop, on
/// failure too.
struct Parent {
    rel: String,
    dir: PathBuf,
}

impl Parent {
    fn new(c: &TestContainer) -> Parent {
        let rel = format!("{}-parent", rel_cgroup(c));
        let dir = Path::new("/sys/fs/cgroup").join(&rel);
        fs::create_dir_all(&dir).unwrap();
        Parent { rel, dir }
    }

    /// The cgroupsPath of `sub` below it.
    fn path(&self, sub: &str) -> String {
        format!("/{}/{sub}", self.rel)
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        rmdir_all(&self.rel);
    }
}

#[track_caller]
fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).trim().to_string()
}

fn start(c: &TestContainer) -> i32 {
    c.create().ok();
    c.start().ok();
    c.wait_status("running", Duration::from_secs(20)).unwrap()["pid"].as_i64().unwrap() as i32
}

/// The first real disk's "major:minor", if any.
fn first_disk() -> Option<(i64, i64)> {
    let dev = fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with("loop") && !e.file_name().to_string_lossy().starts_with("ram"))
        .find_map(|e| fs::read_to_string(e.path().join("dev")).ok())?;
    let (a, b) = dev.trim().split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// `strace` for the tests that look at the runtime's syscalls.
fn strace() -> Option<PathBuf> {
    let p = ["/usr/bin/strace", "/bin/strace"].iter().map(PathBuf::from).find(|p| p.is_file());
    if p.is_none() {
        eprintln!("\n!!! SKIP: strace is not installed !!!\n");
    }
    p
}

/// The runtime under strace (syscalls `trace`; with `follow`, its children
/// too: never for `create`, whose init outlives it), its output in files
/// (a container's stdio must not be a pipe we wait on): (exit status,
/// stdout, stderr, trace).
fn traced(c: &TestContainer, follow: bool, trace: &str, args: &[&str]) -> (bool, String, String, String) {
    let [out, err, tr] = ["t.out", "t.err", "t.trace"].map(|f| c.base.join(format!("{}-{f}", args[0])));
    let mut child = Command::new(strace().expect("checked by the caller"))
        .args(if follow { &["-f", "-qq"][..] } else { &["-qq"][..] })
        .args(["-e", &format!("trace={trace}"), "-o"])
        .arg(&tr)
        .arg(&c.rt.bin)
        .arg("--root")
        .arg(&c.rt.root)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(&out).unwrap())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let (status, timed_out) = wait_timeout(&mut child, Duration::from_secs(60));
    assert!(!timed_out, "{args:?} under strace timed out");
    let read = |p: &Path| fs::read_to_string(p).unwrap_or_default();
    (status.is_some_and(|s| s.success()), read(&out), read(&err), read(&tr))
}

// Every resource of config-linux.md reaches its cgroup v2 file, with runc's
// conversions (v2.rs): memory (limit, reservation, memory+swap), cpu
// (shares → weight, quota/period, burst, cpus, mems), pids, block IO
// (weight → io.bfq.weight or io.weight, throttles → io.max), huge pages
// (limit and, where the kernel has it, reservation) and `unified` keys
// for what only v2 has (memory.high, memory.min).
#[test]
fn every_resource_reaches_its_v2_file() {
    if not_v2() {
        return;
    }
    let mut c = TestContainer::new("v2-files");
    c.args(&["sleep", "100"]);
    let mut r = json!({
        "memory": {"limit": 67108864, "reservation": 33554432, "swap": 100663296},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 10000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 33},
        "blockIO": {"weight": 500},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
        "unified": {"memory.high": "50331648", "memory.min": "16777216", "memory.oom.group": "1"}
    });
    let disk = first_disk();
    if let Some((ma, mi)) = disk {
        r["blockIO"]["throttleReadBpsDevice"] = json!([{"major": ma, "minor": mi, "rate": 1048576}]);
        r["blockIO"]["throttleWriteIOPSDevice"] = json!([{"major": ma, "minor": mi, "rate": 100}]);
    } else {
        eprintln!("SKIP (part): no block device for io.max");
    }
    c.set("/linux/resources", r);
    let pid = start(&c);
    let d = dir_of(&c);
    for (f, want) in [
        ("memory.max", "67108864"),
        ("memory.low", "33554432"),
        ("memory.swap.max", "33554432"),
        ("memory.high", "50331648"),
        ("memory.min", "16777216"),
        ("memory.oom.group", "1"),
        ("cpu.weight", "39"),
        ("cpu.max", "50000 100000"),
        ("cpu.max.burst", "10000"),
        ("cpuset.cpus", "0"),
        ("cpuset.mems", "0"),
        ("pids.max", "33"),
        ("hugetlb.2MB.max", "4194304"),
    ] {
        assert_eq!(read(&d.join(f)), want, "{f}");
    }
    if d.join("hugetlb.2MB.rsvd.max").exists() {
        assert_eq!(read(&d.join("hugetlb.2MB.rsvd.max")), "4194304", "the reservation limit follows the limit");
    } else {
        eprintln!("SKIP (part): this kernel has no hugetlb.2MB.rsvd.max");
    }
    // BFQ's own weight keeps the blkio scale; io.weight has 1..10000.
    let w = if d.join("io.bfq.weight").exists() { ("io.bfq.weight", "default 500") } else { ("io.weight", "default 4950") };
    assert_eq!(read(&d.join(w.0)), w.1, "{}", w.0);
    if let Some((ma, mi)) = disk {
        let io = read(&d.join("io.max"));
        assert!(io.contains(&format!("{ma}:{mi} rbps=1048576")) && io.contains("wiops=100"), "io.max: {io}");
    }
    // `events --stats` reads them back in v1 terms, as runc: swap is
    // memory+swap, so the limit is the config's memory.swap.
    let v = c.cmd(&["events", "--stats", &c.id]).ok().json();
    let m = &v["data"]["memory"];
    assert_eq!((m["usage"]["limit"].as_u64(), m["swap"]["limit"].as_u64()), (Some(67108864), Some(100663296)), "{v}");
    assert!(m["swap"]["usage"].as_u64() >= m["usage"]["usage"].as_u64(), "swap usage includes memory: {v}");
    assert_eq!(v["data"]["pids"]["limit"], 33, "{v}");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

// `update` on v2: the new values land in the v2 files, `unified` keys
// included, and cpu.idle (a v2-only field).
#[test]
fn update_writes_v2_files() {
    if not_v2() {
        return;
    }
    let mut c = TestContainer::new("v2-update");
    c.args(&["sleep", "100"]);
    c.set("/linux/resources", json!({"memory": {"limit": 67108864}, "pids": {"limit": 40}}));
    let pid = start(&c);
    let f = c.base.join("r.json");
    fs::write(&f, r#"{"memory": {"limit": 134217728}, "cpu": {"idle": 1}, "pids": {"limit": 20}, "unified": {"memory.high": "100663296"}}"#).unwrap();
    c.cmd(&["update", "--resources", &f.display().to_string(), &c.id]).ok();
    let d = dir_of(&c);
    assert_eq!(read(&d.join("memory.max")), "134217728");
    assert_eq!(read(&d.join("memory.high")), "100663296");
    assert_eq!(read(&d.join("pids.max")), "20");
    assert_eq!(read(&d.join("cpu.idle")), "1");
    // A key naming no file of the container's cgroup fails, naming it.
    fs::write(&f, r#"{"unified": {"memory.nonexistent": "1"}}"#).unwrap();
    let o = c.cmd(&["update", "--resources", &f.display().to_string(), &c.id]);
    o.fails();
    assert!(said(&o).contains("memory.nonexistent"), "{}", said(&o));
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

// A container without resources still gets every controller its parents
// can pass down (runc enables them all), so its own usage is there to
// read: `events --stats` reports memory and pids from memory.current,
// memory.stat and pids.current, and the container sees memory.current in
// its cgroup mount. Its cgroup sits below a fresh parent of the test's own,
// whose cgroup.subtree_control starts empty.
#[test]
fn controllers_and_stats_without_resources() {
    if not_v2() {
        return;
    }
    let mut c = TestContainer::new("v2-stats");
    let p = Parent::new(&c);
    let parent = p.dir.clone();
    c.set("/linux/cgroupsPath", json!(p.path("ctr")));
    c.push("/mounts", json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "ro"]}));
    c.sh("cat /sys/fs/cgroup/cgroup.controllers > /ctls; exec sleep 100");
    let pid = start(&c);
    let ctls = read(&parent.join("ctr/cgroup.controllers"));
    for want in ["memory", "pids", "cpu", "io"] {
        assert!(ctls.split(' ').any(|w| w == want), "the container's cgroup lacks {want}: {ctls:?}");
    }
    let v = c.cmd(&["events", "--stats", &c.id]).ok().json();
    let d = &v["data"];
    assert!(d["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0, "memory usage from memory.current: {v}");
    assert!(d["memory"]["raw"].as_object().is_some_and(|m| m.contains_key("anon") && m.contains_key("file")), "memory.stat keys: {v}");
    assert!(d["pids"]["current"].as_u64().unwrap_or(0) >= 1, "pids.current: {v}");
    assert!(d["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0, "cpu.stat: {v}");
    for _ in 0..100 {
        if c.bpath("rootfs/ctls").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let inside = fs::read_to_string(c.bpath("rootfs/ctls")).unwrap_or_default();
    assert!(inside.contains("memory") && inside.contains("pids"), "the container's own view: {inside:?}");
    c.delete_force().ok();
    assert!(!parent.join("ctr").exists(), "the container's cgroup is left");
    c.assert_no_leaks(Some(pid));
    assert!(parent.is_dir(), "the parent the test made is not the runtime's to remove");
}

// `pause` freezes through cgroup.freeze and waits for cgroup.events to say
// so; `resume` thaws.
#[test]
fn pause_uses_cgroup_freeze() {
    if not_v2() {
        return;
    }
    let (c, pid) = running("v2-freeze");
    let d = dir_of(&c);
    c.cmd(&["pause", &c.id]).ok();
    assert_eq!(read(&d.join("cgroup.freeze")), "1");
    assert!(read(&d.join("cgroup.events")).lines().any(|l| l == "frozen 1"), "paused but cgroup.events does not say frozen");
    assert_eq!(c.state_json()["status"], "paused");
    c.cmd(&["resume", &c.id]).ok();
    assert_eq!(read(&d.join("cgroup.freeze")), "0");
    assert!(read(&d.join("cgroup.events")).lines().any(|l| l == "frozen 0"));
    assert_eq!(c.state_json()["status"], "running");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

// `kill --all KILL` writes cgroup.kill where the kernel has it (5.14): one
// write kills the whole subtree, a process forking meanwhile included.
#[test]
fn kill_all_uses_cgroup_kill() {
    if not_v2() || skip_for("runc version 1.1", "runc 1.1 signals the processes one by one") {
        return;
    }
    let Some(_) = strace() else { return };
    let mut c = TestContainer::new("v2-kill");
    c.set("/linux/resources/pids", json!({"limit": 64}));
    c.sh("(while true; do sleep 30 & sleep 0.05; done) & exec sleep 100");
    let pid = start(&c);
    std::thread::sleep(Duration::from_millis(500));
    if !dir_of(&c).join("cgroup.kill").exists() {
        eprintln!("SKIP: this kernel has no cgroup.kill");
        c.delete_force().ok();
        return;
    }
    let (ok, _, err, trace) = traced(&c, true, "openat,write", &["kill", "--all", &c.id, "KILL"]);
    assert!(ok, "kill --all: {err}");
    assert!(trace.contains("cgroup.kill"), "kill --all did not use cgroup.kill:\n{trace}");
    c.wait_status("stopped", Duration::from_secs(10)).unwrap();
    for _ in 0..100 {
        if read(&dir_of(&c).join("cgroup.procs")).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(read(&dir_of(&c).join("cgroup.procs")), "", "processes survived kill --all");
    c.delete().ok();
    c.assert_no_leaks(Some(pid));
}

// The init and every exec'd process are born in the container's cgroup
// (clone3 with CLONE_INTO_CGROUP): nobody writes a pid to cgroup.procs.
#[test]
fn init_and_exec_are_born_in_their_cgroup() {
    if not_v2() || skip_for("runc", "runc moves its init through cgroup.procs") {
        return;
    }
    let Some(_) = strace() else { return };
    let mut c = TestContainer::new("v2-clone3");
    c.args(&["sleep", "100"]);
    c.write_config();
    let bundle = c.bundle.display().to_string();
    let (ok, _, err, trace) = traced(&c, false, "clone3,openat", &["create", "--bundle", &bundle, &c.id]);
    assert!(ok, "create: {err}");
    assert!(trace.contains("CLONE_INTO_CGROUP"), "create did not clone into the cgroup:\n{trace}");
    assert!(!trace.contains("cgroup.procs\", O_WRONLY"), "create wrote cgroup.procs:\n{trace}");
    c.start().ok();
    let (ok, out, err, trace) = traced(&c, true, "clone3,openat", &["exec", &c.id, "cat", "/proc/self/cgroup"]);
    assert!(ok, "exec: {err}");
    assert!(trace.contains("CLONE_INTO_CGROUP"), "exec did not clone into the cgroup:\n{trace}");
    assert_eq!(out, "0::/\n", "the exec'd process's cgroup");
    c.delete_force().ok();
    c.assert_no_leaks(None);
}

/// The device programs attached to `dir` itself, as bpftool lists them.
fn device_programs(dir: &Path) -> Option<Vec<String>> {
    let o = Command::new("bpftool").args(["cgroup", "show"]).arg(dir).output().ok()?;
    if !o.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.contains("cgroup_device") || l.contains(" device ")).map(str::to_string).collect())
}

// The device rules become one eBPF program on the container's cgroup;
// `update` with new rules replaces it: after several updates there is
// still exactly one, and it enforces the last rules.
#[test]
fn device_program_is_replaced_not_stacked() {
    if not_v2() {
        return;
    }
    let mut c = TestContainer::new("v2-bpf");
    let deny_all = json!({"allow": false, "access": "rwm"});
    // /dev/zero is one of the default devices: only a rule after the last
    // whole-type denial takes it away.
    let no_zero = json!({"allow": false, "type": "c", "major": 1, "minor": 5, "access": "rwm"});
    c.set("/linux/resources/devices", json!([deny_all]));
    c.args(&["sleep", "100"]);
    let pid = start(&c);
    let Some(progs) = device_programs(&dir_of(&c)) else {
        eprintln!("\n!!! SKIP: bpftool is not installed or cannot list programs !!!\n");
        c.delete_force().ok();
        return;
    };
    assert_eq!(progs.len(), 1, "one device program at create: {progs:?}");
    let f = c.base.join("d.json");
    for i in 0..5 {
        let devices = if i % 2 == 0 { json!([deny_all, no_zero]) } else { json!([deny_all]) };
        fs::write(&f, json!({"devices": devices}).to_string()).unwrap();
        c.cmd(&["update", "--resources", &f.display().to_string(), &c.id]).ok();
    }
    let progs = device_programs(&dir_of(&c)).unwrap();
    assert_eq!(progs.len(), 1, "update stacked device programs: {progs:?}");
    if !runtime_version().starts_with("runc") {
        // The last update (i = 4) denied /dev/zero.
        c.cmd(&["exec", &c.id, "sh", "-c", "head -c1 /dev/zero"]).fails();
    }
    c.cmd(&["exec", &c.id, "sh", "-c", "true > /dev/null"]).ok();
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

// A container nested under a parent someone else made and set up (a
// delegated subtree, with a limit of its own): the container's limits go
// to its own cgroup, the parent's stay, and the parent outlives it.
#[test]
fn nested_under_a_delegated_parent() {
    if not_v2() {
        return;
    }
    let mut c = TestContainer::new("v2-deleg");
    let p = Parent::new(&c);
    let parent = p.dir.clone();
    fs::write(parent.parent().unwrap().join("cgroup.subtree_control"), "+memory +pids").unwrap();
    fs::write(parent.join("memory.max"), "536870912").unwrap();
    fs::write(parent.join("cgroup.subtree_control"), "+memory +pids").unwrap();
    c.set("/linux/cgroupsPath", json!(p.path("a/b")));
    c.set("/linux/resources", json!({"memory": {"limit": 67108864}, "pids": {"limit": 10}}));
    c.args(&["sleep", "100"]);
    let pid = start(&c);
    assert_eq!(read(&parent.join("a/b/memory.max")), "67108864");
    assert_eq!(read(&parent.join("a/b/pids.max")), "10");
    assert_eq!(read(&parent.join("memory.max")), "536870912", "the parent's own limit was changed");
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cg.trim(), format!("0::{}", p.path("a/b")));
    c.delete_force().ok();
    assert!(!parent.join("a/b").exists(), "the container's cgroup is left");
    c.assert_no_leaks(Some(pid));
    assert!(parent.is_dir(), "the delegated parent is not the runtime's to remove");
}

// A cgroup inside a threaded subtree is "domain invalid": no process may
// enter it. A container asking for one (with a memory limit, a domain
// controller) fails, naming the cgroup; nothing is left.
#[test]
fn threaded_subtree_is_refused_clearly() {
    if not_v2() {
        return;
    }
    let mut c = TestContainer::new("v2-threaded");
    let p = Parent::new(&c);
    let base = p.dir.clone();
    fs::create_dir_all(base.join("td/t")).unwrap();
    fs::write(base.join("td/t/cgroup.type"), "threaded").unwrap();
    c.set("/linux/cgroupsPath", json!(p.path("td/t/c")));
    c.set("/linux/resources", json!({"memory": {"limit": 67108864}}));
    c.args(&["true"]);
    let o = c.create();
    o.fails();
    let text = said(&o);
    assert!(text.contains("/td/t"), "the error must name the cgroup: {text}");
    if !runtime_version().starts_with("runc") {
        assert!(text.contains("domain invalid") && text.contains("threaded") && text.contains("linux.cgroupsPath"), "{text}");
    }
    assert!(!base.join("td/t/c").exists(), "the refused cgroup was left behind");
    c.assert_no_leaks(None);
}

// cgroup v2 passes controllers down only from a cgroup without processes
// of its own. A container below a parent holding a process that asks for
// a memory limit fails, naming the field and the parent.
#[test]
fn parent_with_processes_is_refused_clearly() {
    if not_v2() {
        return;
    }
    let mut c = TestContainer::new("v2-busy");
    let p = Parent::new(&c);
    let busy = p.dir.join("busy");
    fs::create_dir_all(&busy).unwrap();
    let mut sleeper = Command::new("sleep").arg("100").spawn().unwrap();
    fs::write(busy.join("cgroup.procs"), sleeper.id().to_string()).unwrap();
    c.set("/linux/cgroupsPath", json!(p.path("busy/c")));
    c.set("/linux/resources", json!({"memory": {"limit": 67108864}}));
    c.args(&["true"]);
    let o = c.create();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    o.fails();
    let text = said(&o);
    assert!(text.contains(&busy.display().to_string()), "the error must name the parent: {text}");
    if !runtime_version().starts_with("runc") {
        assert!(text.contains("linux.resources.memory.limit") && text.contains("process"), "{text}");
    }
    assert!(!busy.join("c").exists(), "the refused cgroup was left behind");
    c.assert_no_leaks(None);
}
