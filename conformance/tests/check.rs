//! `berth check` (issue #14) on the machine the suite runs on. runc and
//! crun have no such command: against them every test here is skipped.
//!
//! The expectations come from the host's own files (mountinfo, the
//! cgroup2 root, /run/systemd/system), so the same tests hold on this
//! project's hybrid machine and in the pure-cgroup2 and systemd guests.

use conformance::*;
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

/// Only Berth has `check`.
fn berth_only() -> bool {
    if runtime_version().starts_with("berth") {
        return true;
    }
    eprintln!("SKIP: `check` is Berth's own command (runc has no counterpart)");
    false
}

/// `<runtime> args...`, without the harness's global flags (nothing here
/// makes a container); code, stdout, stderr.
fn run(args: &[&str], prepare: impl FnOnce(&mut Command)) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(runtime_binary());
    cmd.args(args).stdin(Stdio::null());
    prepare(&mut cmd);
    let out = cmd.output().expect("run the runtime");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// The layout as the host's mountinfo tells it.
fn host_layout() -> &'static str {
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let v1 = mi.lines().any(|l| l.contains(" - cgroup "));
    let v2 = mi.lines().any(|l| l.contains(" - cgroup2 "));
    match (v1, v2) {
        (true, true) => "hybrid",
        (true, false) => "v1",
        (false, true) => "v2",
        (false, false) => "none",
    }
}

/// The mount point of the host's cgroup2 hierarchy, if one is mounted.
fn host_v2_mount() -> Option<String> {
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap();
    mi.lines().find(|l| l.contains(" - cgroup2 ")).and_then(|l| l.split(' ').nth(4)).map(str::to_string)
}

fn item<'a>(j: &'a Value, section: &str, name: &str) -> &'a Value {
    j["items"].as_array().unwrap().iter().find(|i| i["section"] == section && i["name"] == name).unwrap_or_else(|| panic!("no {section}/{name} in {j:#}"))
}

#[test]
fn check_json_tells_this_hosts_story() {
    if !berth_only() {
        return;
    }
    let (code, out, err) = run(&["check", "--format", "json"], |_| {});
    let j: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"));
    assert_eq!(code, Some(0), "this host runs Berth's whole suite, so it must read as ready: {j:#}");
    assert_eq!(j["summary"]["ready"], true);
    assert_eq!(j["summary"]["blocking"], serde_json::json!([]));
    let items = j["items"].as_array().unwrap();
    assert!(items.len() > 20, "{j:#}");
    for i in items {
        for k in ["section", "name", "status", "detail", "meaning"] {
            assert!(i[k].is_string(), "{k} of {i}");
        }
        assert!(i["essential"].is_boolean(), "{i}");
        assert!(["ok", "warn", "missing", "unknown"].contains(&i["status"].as_str().unwrap()), "{i}");
    }
    // As root, nothing is unknown on a host with /proc and /sys mounted,
    // except the LSM list where securityfs is not mounted.
    for i in items.iter().filter(|i| i["status"] == "unknown") {
        assert_eq!(i["name"], "lsm", "only the LSM list may be unreadable here: {i}");
        assert!(!Path::new("/sys/kernel/security/lsm").exists());
    }

    let layout = host_layout();
    assert_eq!(j["summary"]["cgroupLayout"], layout);
    let l = item(&j, "cgroups", "layout");
    assert_eq!(l["status"], "ok");
    assert!(l["detail"].as_str().unwrap().starts_with(&format!("{layout}: ")), "{l}");
    if let Some(mp) = host_v2_mount() {
        // The cgroup2 root's controllers, as the kernel lists them.
        let ctl = fs::read_to_string(format!("{mp}/cgroup.controllers")).unwrap();
        let want = if ctl.trim().is_empty() { "none".to_string() } else { ctl.split_whitespace().collect::<Vec<_>>().join(", ") };
        let v2 = item(&j, "cgroups", "v2");
        assert!(v2["detail"].as_str().unwrap().starts_with(&format!("at {mp}: controllers {want};")), "{v2}");
        assert_eq!(item(&j, "cgroups", "clone-into-cgroup")["status"], "ok");
    }
    if layout == "hybrid" {
        assert!(l["detail"].as_str().unwrap().contains(&format!("cgroup2 at {}", host_v2_mount().unwrap())), "{l}");
        assert!(l["meaning"].as_str().unwrap().contains("v1 hierarchies"), "{l}");
    }
    let systemd = item(&j, "systemd", "systemd");
    let booted = Path::new("/run/systemd/system").is_dir();
    assert_eq!(systemd["status"], if booted { "ok" } else { "missing" }, "{systemd}");
    if !booted {
        assert!(systemd["meaning"].as_str().unwrap().contains("--systemd-cgroup"), "{systemd}");
    }
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(j["summary"]["kernel"], kernel.trim());
    for (s, n) in
        [("namespaces", "namespaces"), ("seccomp", "seccomp"), ("kernel", "openat2"), ("kernel", "mount-api"), ("kernel", "pidfd"), ("cgroups", "devices")]
    {
        assert_eq!(item(&j, s, n)["status"], "ok", "{s}/{n}");
    }
    // idmap mounts: whatever the kernel has, Berth says it lacks them.
    let idmap = item(&j, "kernel", "idmap-mounts");
    assert!(idmap["meaning"].as_str().unwrap().contains("refused"), "{idmap}");
    // The --version line's libseccomp is the one reported.
    let lib = runtime_version().lines().find_map(|l| l.strip_prefix("libseccomp: ")).unwrap_or_default().to_string();
    assert_eq!(item(&j, "seccomp", "libseccomp")["detail"], lib.as_str());
}

#[test]
fn check_text_help_and_bad_format() {
    if !berth_only() {
        return;
    }
    let (code, out, _) = run(&["check"], |_| {});
    assert_eq!(code, Some(0), "{out}");
    for heading in ["host\n", "\ncgroups\n", "\nsystemd\n", "\nnamespaces\n", "\nseccomp\n", "\nkernel\n", "\ncheckpoint\n"] {
        assert!(out.contains(heading), "{heading:?} missing:\n{out}");
    }
    assert!(out.contains("  layout ") && out.lines().last().unwrap().starts_with("ready: "), "{out}");
    let (code, out, _) = run(&["check", "--help"], |_| {});
    assert_eq!(code, Some(0));
    assert!(out.lines().nth(1).unwrap().starts_with("   berth check - report what this host supports"), "{out}");
    assert!(out.contains("Exit status: 0 when this host can run containers with Berth, 1 when an") && out.contains("--format value, -f value"), "{out}");
    let (code, _, err) = run(&["check", "-f", "yaml"], |_| {});
    assert_eq!(code, Some(1));
    assert!(err.contains("invalid format option"), "{err}");
}

/// It reads only: a --root that does not exist is not made, and a user
/// without privileges gets a report too (what it cannot read is unknown,
/// the privileges line says so), with the same verdict.
#[test]
fn check_writes_nothing_and_works_unprivileged() {
    if !berth_only() {
        return;
    }
    let root = Path::new(WORK_DIR).join(format!("check-root-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let r = root.display().to_string();
    let (code, out, _) = run(&["--root", &r, "check", "-f", "json"], |_| {});
    assert_eq!(code, Some(0), "{out}");
    assert!(!root.exists(), "check made its --root");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert!(item(&j, "host", "state-root")["detail"].as_str().unwrap().contains("not made yet"));

    if !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("SKIP (part): no setpriv to drop privileges with");
        return;
    }
    let (code, out, err) = run(&["check", "--format", "json"], |c| {
        // Run the runtime binary itself as nobody (setpriv execs it).
        let bin = runtime_binary();
        *c = Command::new("/usr/bin/setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(bin).args(["check", "--format", "json"]).stdin(Stdio::null());
    });
    let j: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"));
    assert_eq!(code, Some(0), "{j:#}");
    assert_eq!(item(&j, "host", "privileges")["status"], "warn");
    assert_eq!(j["summary"]["cgroupLayout"], host_layout());
}
