//! Flags engines pass that the spec leaves to the runtime's CLI (runtime.md
//! "Operations" names only the operations): runc's `--preserve-fds`,
//! `LISTEN_FDS`, `--no-pivot`, `run --detach` / `--keep`, `--log-format json`,
//! and the file descriptors a container may inherit at all.

use conformance::*;
use serde_json::Value;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Run `<runtime> --root R run --bundle B ID` with fds 3 and 4 open on files
/// and extra env; return (exit code, container stdout).
fn run_with_fds(c: &TestContainer, extra: &[&str], listen_fds: Option<&str>) -> (Option<i32>, String) {
    c.write_config();
    let f3 = File::open(c.bpath("fd3")).unwrap();
    let f4 = File::open(c.bpath("fd4")).unwrap();
    let (r3, r4) = (f3.as_raw_fd(), f4.as_raw_fd());
    // sd_listen_fds(3): LISTEN_PID must name the process that gets the fds,
    // so a shell sets it to its own pid and execs the runtime.
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg("[ -n \"$LISTEN_FDS\" ] && export LISTEN_PID=$$; exec \"$@\"").arg("sh");
    cmd.arg(&c.rt.bin).arg("--root").arg(&c.rt.root).arg("run");
    cmd.args(extra).arg("--bundle").arg(&c.bundle).arg(&c.id);
    cmd.env_remove("LISTEN_FDS").env_remove("LISTEN_PID");
    if let Some(n) = listen_fds {
        cmd.env("LISTEN_FDS", n);
    }
    cmd.stdin(Stdio::null()).stdout(File::create(&c.out_file).unwrap()).stderr(File::create(&c.err_file).unwrap());
    // SAFETY: dup2 between descriptors that stay open until spawn returns;
    // only async-signal-safe calls run between fork and exec. The sources
    // may themselves be 3 or 4, so go through spare numbers first (dup2
    // also clears close-on-exec on the copies).
    unsafe {
        cmd.pre_exec(move || {
            for (from, to) in [(r3, 100), (r4, 101), (100, 3), (101, 4)] {
                if libc::dup2(from, to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            libc::close(100);
            libc::close(101);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let (status, _) = wait_timeout(&mut child, command_timeout());
    (status.and_then(|s| s.code()), fs::read_to_string(&c.out_file).unwrap_or_default())
}

fn fd_fixture(c: &TestContainer) {
    fs::write(c.bpath("fd3"), "three\n").unwrap();
    fs::write(c.bpath("fd4"), "four\n").unwrap();
}

// runc: `--preserve-fds N` passes fds 3..3+N to the container; nothing else
// beyond stdio crosses (runc's fd hygiene, CVE-2016-9962 / CVE-2024-21626).
#[test]
fn preserve_fds_passes_exactly_n() {
    let mut c = TestContainer::new("flags-preserve");
    fd_fixture(&c);
    c.sh("cat <&3; (cat <&4) 2>/dev/null || echo no-fd-4; ls /proc/self/fd | wc -l");
    let (code, out) = run_with_fds(&c, &["--preserve-fds", "1"], None);
    assert_eq!(code, Some(0), "{out}");
    // ls sees 0,1,2,3 and its own directory fd.
    assert_eq!(out, "three\nno-fd-4\n5\n");
    c.delete_force().ok();
    c.assert_no_leaks(None);
}

#[test]
fn without_preserve_only_stdio_passes() {
    let mut c = TestContainer::new("flags-nofds");
    fd_fixture(&c);
    c.sh("ls /proc/self/fd | wc -l; (cat <&3) 2>/dev/null || echo no-fd-3");
    let (code, out) = run_with_fds(&c, &[], None);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, "4\nno-fd-3\n");
    c.delete_force().ok();
    c.assert_no_leaks(None);
}

// systemd socket activation through the runtime: LISTEN_FDS fds follow
// stdio, and the container's init is told so (LISTEN_PID=1, its own pid).
#[test]
fn listen_fds_are_passed_and_announced() {
    let mut c = TestContainer::new("flags-listen");
    fd_fixture(&c);
    c.sh("echo LISTEN_FDS=$LISTEN_FDS LISTEN_PID=$LISTEN_PID; cat <&3; (cat <&4) 2>/dev/null || echo no-fd-4");
    let (code, out) = run_with_fds(&c, &[], Some("1"));
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, "LISTEN_FDS=1 LISTEN_PID=1\nthree\nno-fd-4\n");
    c.delete_force().ok();
    c.assert_no_leaks(None);
}

// runc `--no-pivot`: the rootfs is moved onto / and chrooted into; the
// container still sees only its rootfs.
#[test]
fn no_pivot_root() {
    let mut c = TestContainer::new("flags-nopivot");
    c.sh("ls /; test -e /bundle-marker && echo escaped || echo contained");
    fs::write(c.bpath("bundle-marker"), "").unwrap();
    c.write_config();
    c.create_with(&["--no-pivot"]).ok();
    c.start().ok();
    c.wait_status("stopped", command_timeout()).unwrap();
    let out = fs::read_to_string(&c.out_file).unwrap();
    assert!(out.contains("bin") && out.ends_with("contained\n"), "{out}");
    c.delete_and_check(None);
}

// runc `run --detach`: returns once started, the container keeps running.
// `run --keep`: the stopped container stays listed until deleted.
#[test]
fn run_detach_and_keep() {
    let mut c = TestContainer::new("flags-detach");
    c.args(&["sleep", "30"]);
    c.write_config();
    let bundle = c.bundle.display().to_string();
    c.rt.cmd(&["run", "--detach", "--bundle", &bundle, &c.id]).ok();
    assert_eq!(c.state_json()["status"], "running");
    c.kill("KILL").ok();
    c.wait_status("stopped", Duration::from_secs(10)).unwrap();
    c.delete_and_check(None);

    let mut k = TestContainer::new("flags-keep");
    k.sh("exit 4");
    k.write_config();
    let bundle = k.bundle.display().to_string();
    let o = k.rt.cmd(&["run", "--keep", "--bundle", &bundle, &k.id]);
    assert_eq!(o.code, Some(4), "{o:?}");
    assert_eq!(k.state_json()["status"], "stopped");
    k.delete_and_check(None);
}

// containerd and conmon read the `--log` file: with `--log-format json` each
// line is an object with level, msg and time, and an error names its cause.
#[test]
fn json_log_on_error() {
    let c = TestContainer::new("flags-jsonlog");
    let o = c.rt.cmd(&["state", "no-such-container-xyz"]);
    o.fails();
    let line = o.log.lines().last().unwrap_or_else(|| panic!("no log line: {o:?}"));
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert_eq!(v["level"], "error", "{line}");
    assert!(v["msg"].as_str().unwrap().contains("does not exist"), "{line}");
    assert!(v["time"].as_str().is_some_and(|t| t.contains('T')), "{line}");
}

// features.md: `features` prints a JSON document with the version range,
// hooks, mount options and Linux namespaces the runtime implements.
#[test]
fn features_document() {
    if skip_for("runc version 1.1", "runc 1.1 has no `features` command") {
        return;
    }
    let c = TestContainer::new("flags-features");
    let o = c.rt.cmd(&["features"]);
    o.ok();
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert!(v["ociVersionMin"].is_string() && v["ociVersionMax"].is_string(), "{v}");
    let hooks: Vec<&str> = v["hooks"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for h in ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"] {
        assert!(hooks.contains(&h), "{h} missing: {v}");
    }
    let ns: Vec<&str> = v["linux"]["namespaces"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for n in ["pid", "mount", "network", "user", "cgroup", "ipc", "uts"] {
        assert!(ns.contains(&n), "{n} missing: {v}");
    }
    assert!(v["mountOptions"].as_array().unwrap().iter().any(|o| o == "rro"), "{v}");
}

// features.md: the document lists what the runtime implements, so a
// feature it reports off is refused, never half done: an id-mapped mount
// (mountExtensions.idmap) is not mounted without its mapping, an Intel
// RDT schema (intelRdt) is not dropped. A runtime whose document lacks a
// field says nothing about it and is not checked for it.
#[test]
fn features_reported_off_are_refused() {
    let probe = TestContainer::new("flags-features-off");
    let o = probe.rt.cmd(&["features"]);
    if !o.success() {
        eprintln!("SKIP: no features command");
        return;
    }
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    if v["linux"]["mountExtensions"]["idmap"]["enabled"] == false {
        // The same bind without idmap is fine: the refusal is the idmap's.
        for (name, opts) in [("flags-idmap-plain", &["rbind"][..]), ("flags-idmap-off", &["rbind", "idmap"])] {
            let mut c = TestContainer::new(name);
            c.args(&["true"]);
            let src = c.base.join("idmap-src");
            fs::create_dir_all(&src).unwrap();
            c.push("/mounts", serde_json::json!({"destination": "/mapped", "type": "bind", "source": src.display().to_string(), "options": opts}));
            if opts.contains(&"idmap") {
                c.create().fails().reports_error();
            } else {
                c.create().ok();
                c.delete_force().ok();
            }
            c.assert_no_leaks(None);
        }
    }
    if v["linux"]["intelRdt"]["enabled"] == false {
        let (c, pid) = running("flags-rdt-off");
        for flag in ["--l3-cache-schema", "--mem-bw-schema"] {
            c.cmd(&["update", flag, "L3:0=f", &c.id]).fails().reports_error();
        }
        c.delete_force().ok();
        c.assert_no_leaks(Some(pid));
    }
}

// runc parity (file descriptors): a created, not yet started container
// holds nothing of its creator's but stdio and --preserve-fds. A lock the
// caller held on an inherited descriptor is free once create returns.
#[test]
fn created_container_holds_none_of_the_callers_descriptors() {
    let mut c = TestContainer::new("flags-fd-hygiene");
    c.args(&["sleep", "100"]);
    c.write_config();
    let lock_path = c.base.join("caller.lock");
    let lock = File::create(&lock_path).unwrap();
    // SAFETY: flock on a descriptor we own.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let raw = lock.as_raw_fd();
    let o = c.create_prepared(&[], |cmd| {
        // SAFETY: dup2 onto fd 9 (clearing close-on-exec) between fork and
        // exec; async-signal-safe.
        unsafe {
            cmd.pre_exec(move || if libc::dup2(raw, 9) < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) });
        }
    });
    o.ok();
    drop(lock);
    let again = File::open(&lock_path).unwrap();
    // SAFETY: flock on a descriptor we own.
    let free = unsafe { libc::flock(again.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    assert!(free, "the created container still holds the caller's locked descriptor");
    c.delete_force().ok();
    c.assert_no_leaks(None);
}
