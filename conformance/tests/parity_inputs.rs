//! Inputs runc accepts and callers send (issue #11, "runc parity"), and
//! exec's exit code when it cannot start the process: `kill ID 0`, `exec
//! --cgroup`, a process JSON without `user`, device access strings in any
//! order, `list -q` / `list --format json` with runc's keys, and `--criu`
//! with checkpoint/restore flags. Each test runs against runc as well.

use conformance::*;
use serde_json::json;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// `exec ARGS` with its stdout captured; returns (output, stdout).
fn exec_out(c: &TestContainer, args: &[&str]) -> (RtOutput, String) {
    let out = c.base.join("parity-exec.out");
    let err = c.base.join("parity-exec.err");
    let io = Stdio3 { stdin: Stdio::null(), stdout: File::create(&out).unwrap(), stderr: File::create(&err).unwrap() };
    let mut all = vec!["exec"];
    all.extend_from_slice(args);
    let mut o = c.rt.cmd_io(&all, io);
    o.stderr = fs::read_to_string(&err).unwrap_or_default();
    (o, fs::read_to_string(&out).unwrap_or_default())
}

/// Pids in the container's cgroup of the pids hierarchy (v1) or the
/// unified one.
fn cgroup_pids(c: &TestContainer) -> Vec<i32> {
    let dirs = c.cgroup_dirs();
    let dir = dirs.iter().find(|d| d.starts_with("/sys/fs/cgroup/pids")).or(dirs.first()).expect("container cgroup");
    fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default().lines().filter_map(|l| l.parse().ok()).collect()
}

// runc: an exec that cannot start (or whose pid cannot be handed over)
// exits 255, so that callers tell it from the process's own status; the
// process it started for a --pid-file it cannot write is gone again.
#[test]
fn exec_failures_exit_255() {
    let (c, pid) = running("parity-exec-255");
    let (o, _) = exec_out(&c, &[&c.id, "sh", "-c", "exit 1"]);
    assert_eq!(o.code, Some(1), "the process's own status: {o:?}");
    let (o, _) = exec_out(&c, &[&c.id, "no-such-binary"]);
    assert_eq!(o.code, Some(255), "missing binary: {o:?}");
    o.reports_error();
    let bad_pid_file = c.base.join("no-such-dir/exec.pid").display().to_string();
    let (o, _) = exec_out(&c, &["--pid-file", &bad_pid_file, &c.id, "sleep", "100"]);
    assert_eq!(o.code, Some(255), "--pid-file in a missing directory: {o:?}");
    o.reports_error();
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while cgroup_pids(&c) != [pid] && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(cgroup_pids(&c), [pid], "the exec'd process must not outlive the failed exec");
    // A paused container refuses exec unless --ignore-paused.
    c.cmd(&["pause", &c.id]).ok();
    let (o, _) = exec_out(&c, &[&c.id, "true"]);
    assert_eq!(o.code, Some(255), "exec in a paused container: {o:?}");
    assert!(format!("{}{}", o.stderr, o.log).contains("paused"), "the error says why: {o:?}");
    c.cmd(&["resume", &c.id]).ok();
    assert_eq!(exec_out(&c, &[&c.id, "true"]).0.code, Some(0));
    c.kill("KILL").ok();
    c.wait_status("stopped", WAIT).unwrap();
    let (o, _) = exec_out(&c, &[&c.id, "true"]);
    assert_eq!(o.code, Some(255), "exec in a stopped container: {o:?}");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

// runc's `kill ID 0`: signal 0 probes the init (kill(2)'s null signal):
// success while it exists, failure once it has stopped; nothing changes.
#[test]
fn kill_signal_zero_probes() {
    let mut c = TestContainer::new("parity-kill0");
    c.args(&["sleep", "100"]);
    c.create().ok();
    c.kill("0").ok();
    assert_eq!(c.state_json()["status"], "created");
    c.start().ok();
    c.wait_status("running", WAIT).unwrap();
    c.kill("0").ok();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(c.state_json()["status"], "running", "signal 0 must not stop the init");
    c.kill("KILL").ok();
    c.wait_status("stopped", WAIT).unwrap();
    c.kill("0").fails().reports_error();
    c.delete_and_check(None);
}

/// Make `sub` under the container's cgroup in the hierarchies whose
/// directory name is in `hier` (every one with an empty list).
fn make_sub(c: &TestContainer, sub: &str, hier: &[&str]) -> Vec<PathBuf> {
    let mut made = Vec::new();
    for d in c.cgroup_dirs() {
        let h = d.strip_prefix("/sys/fs/cgroup").unwrap().iter().next().unwrap().to_string_lossy().to_string();
        if hier.is_empty() || hier.contains(&h.as_str()) {
            let p = d.join(sub);
            fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
            // A v1 cpuset cgroup takes no task before it has cpus and mems.
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(v) = fs::read_to_string(d.join(f)) {
                    fs::write(p.join(f), v.trim()).unwrap_or_else(|e| panic!("write {f}: {e}"));
                }
            }
            made.push(p);
        }
    }
    made
}

/// The cgroup path of `controller` in /proc/self/cgroup text.
fn cg_of<'a>(text: &'a str, controller: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.split_once(':').and_then(|(_, r)| r.split_once(':')).filter(|(c, _)| c.split(',').any(|x| x == controller)).map(|(_, p)| p))
        .unwrap_or("?")
}

// runc's `exec --cgroup`: `[CONTROLLER[,CONTROLLER]:]PATH`, a sub-cgroup
// of the container's; with controllers, repeatable for different ones
// (cgroup v1). The others stay in the container's cgroup.
#[test]
fn exec_into_sub_cgroups() {
    if !Path::new("/sys/fs/cgroup/memory").is_dir() {
        eprintln!("SKIP: controller prefixes need cgroup v1 hierarchies");
        return;
    }
    let (c, pid) = running("parity-exec-cgroup");
    let mut made = make_sub(&c, "sub", &[]);
    made.extend(make_sub(&c, "other", &["pids"]));
    let script = "cat /proc/self/cgroup";
    let (o, out) = exec_out(&c, &["--cgroup", "memory:sub", "--cgroup", "pids:other", &c.id, "sh", "-c", script]);
    o.ok();
    assert_eq!((cg_of(&out, "memory"), cg_of(&out, "pids"), cg_of(&out, "cpu")), ("/sub", "/other", "/"), "{out}");
    let (o, out) = exec_out(&c, &["--cgroup", "cpu,memory:sub", &c.id, "sh", "-c", script]);
    o.ok();
    assert_eq!((cg_of(&out, "memory"), cg_of(&out, "cpu"), cg_of(&out, "pids")), ("/sub", "/sub", "/"), "{out}");
    let (o, out) = exec_out(&c, &["--cgroup", "sub", &c.id, "sh", "-c", script]);
    o.ok();
    assert_eq!((cg_of(&out, "memory"), cg_of(&out, "pids"), cg_of(&out, "devices")), ("/sub", "/sub", "/sub"), "{out}");
    // Refusals (exit 255, nothing started): one controller twice, a path
    // twice without controllers, a sub-cgroup that does not exist.
    for bad in [&["--cgroup", "memory:sub", "--cgroup", "memory:other"][..], &["--cgroup", "sub", "--cgroup", "other"], &["--cgroup", "memory:missing"]] {
        let mut args = bad.to_vec();
        args.extend([c.id.as_str(), "sleep", "100"]);
        let (o, _) = exec_out(&c, &args);
        o.fails().reports_error();
        assert_eq!(o.code, Some(255), "{bad:?}: {o:?}");
        assert_eq!(cgroup_pids(&c), [pid], "{bad:?} left a process");
    }
    for d in made.iter().rev() {
        fs::remove_dir(d).unwrap_or_else(|e| panic!("rmdir {}: {e}", d.display()));
    }
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

// An `exec --process` file without `user` runs as root (runc takes Go's
// zero value, uid 0 gid 0); engines send such files.
#[test]
fn exec_process_without_user() {
    let (c, pid) = running("parity-exec-nouser");
    let p = c.base.join("process.json");
    fs::write(&p, json!({"args": ["sh", "-c", "id -u; id -g"], "cwd": "/", "env": ["PATH=/bin"]}).to_string()).unwrap();
    let (o, out) = exec_out(&c, &["--process", &p.display().to_string(), &c.id]);
    o.ok();
    assert_eq!(out, "0\n0\n");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

// Device access letters in any order, repeated, or with letters other
// than r, w, m ("wr", "mrw", "rrw", "rwa") are what runc accepts: the rule
// the kernel gets holds the r/w/m letters given. (The
// devices are none of runc's defaults, which it allows after the config's.)
#[test]
fn device_access_in_any_order() {
    if !Path::new("/sys/fs/cgroup/devices").is_dir() {
        eprintln!("SKIP: needs the cgroup v1 devices hierarchy to read the rules back");
        return;
    }
    let mut c = TestContainer::new("parity-devices");
    c.args(&["sleep", "100"]);
    c.set(
        "/linux/resources/devices",
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "wr"},
            {"allow": true, "type": "c", "major": 1, "minor": 4, "access": "mrw"},
            {"allow": true, "type": "c", "major": 4, "minor": 2, "access": "rwa"},
            {"allow": true, "type": "c", "major": 4, "minor": 3, "access": "rrw"}
        ]),
    );
    c.create().ok();
    let dir = c.cgroup_dirs().into_iter().find(|d| d.starts_with("/sys/fs/cgroup/devices")).expect("devices cgroup");
    let list = fs::read_to_string(dir.join("devices.list")).unwrap();
    for want in ["c 1:11 rw", "c 1:4 rwm", "c 4:2 rw", "c 4:3 rw"] {
        assert!(list.lines().any(|l| l == want), "{want:?} missing from devices.list:\n{list}");
    }
    c.delete_force().ok();
    c.assert_no_leaks(None);
}

// runc's `list -q` prints ids only; `list --format json` an array of
// objects with runc's keys, in runc's order.
#[test]
fn list_quiet_and_json_keys() {
    let mut c = TestContainer::new("parity-list");
    c.args(&["sleep", "100"]);
    c.create().ok();
    assert_eq!(c.cmd(&["list", "-q"]).ok().stdout, format!("{}\n", c.id));
    assert_eq!(c.cmd(&["list", "--quiet=true"]).ok().stdout, format!("{}\n", c.id));
    let o = c.cmd(&["list", "--format", "json"]);
    let v = o.ok().json();
    let obj = v[0].as_object().unwrap_or_else(|| panic!("an array of objects: {v}"));
    const KEYS: [&str; 8] = ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"];
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    let mut want = KEYS.to_vec();
    want.sort();
    assert_eq!(keys, want, "{v}");
    let at: Vec<usize> = KEYS.iter().map(|k| o.stdout.find(&format!("\"{k}\":")).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "keys in runc's order {KEYS:?}: {}", o.stdout);
    assert_eq!(obj["owner"], "root");
    assert_eq!(obj["rootfs"], c.bpath("rootfs").display().to_string().as_str());
    c.delete_force().ok();
    c.assert_no_leaks(None);
}

/// A stand-in for criu: writes its arguments, one a line, to `args` and
/// fails (so nothing is dumped or restored).
fn fake_criu(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("fake-criu");
    let args = dir.join("fake-criu.args");
    fs::write(&bin, format!("#!/bin/sh\nprintf '%s\\n' \"$@\" >> {}\necho 'Error (fake): refusing' >&2\nexit 1\n", args.display())).unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    (bin, args)
}

// `--criu PATH` picks the CRIU binary; checkpoint's flags reach it (runc
// talks to CRIU over RPC, `criu swrk`, so only a command-line CRIU can be
// read back): --manage-cgroups-mode as ONE argument `--manage-cgroups=MODE`.
// A failed checkpoint leaves the container running; a failed restore
// leaves nothing.
#[test]
fn criu_path_and_flags() {
    let (c, pid) = running("parity-criu");
    let (bin, args_file) = fake_criu(&c.base);
    let image = c.base.join("image").display().to_string();
    let o = c.cmd(&["--criu", &bin.display().to_string(), "checkpoint", "--image-path", &image, "--manage-cgroups-mode", "full", "--file-locks", &c.id]);
    o.fails().reports_error();
    let args = fs::read_to_string(&args_file).unwrap_or_else(|_| panic!("--criu {} was not run: {o:?}", bin.display()));
    if !args.starts_with("swrk") {
        let lines: Vec<&str> = args.lines().collect();
        assert!(lines.contains(&"dump") && lines.contains(&"--file-locks"), "{args}");
        assert!(lines.contains(&"--manage-cgroups=full"), "one argument --manage-cgroups=full: {args}");
    }
    assert_eq!(c.state_json()["status"], "running", "a failed checkpoint leaves the container running");
    let o = c.cmd(&["checkpoint", "--manage-cgroups-mode", "bogus", &c.id]);
    o.fails().reports_error();
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));

    // Restore through the same stand-in, under a new id: nothing stays.
    let mut r = TestContainer::new("parity-criu-restore");
    r.args(&["sleep", "100"]);
    r.write_config();
    let bundle = r.bundle.display().to_string();
    let o = r.cmd(&["--criu", &bin.display().to_string(), "restore", "--image-path", &image, "--bundle", &bundle, "--detach", &r.id]);
    o.fails().reports_error();
    assert!(!r.state().success(), "a failed restore leaves no container: {o:?}");
    r.assert_no_leaks(None);
}
