//! Mounts and rootfs hardening where runc's behaviour is the reference
//! (issue #11, kind 7): read-only tmpfs mounts that others mount under,
//! proc and sysfs only on real directories, `--no-pivot` without the
//! host's kernel filesystems in reach, bind sources a user namespace's
//! root cannot reach, and the recursive atime options as mount(8) reads
//! their plain forms (config.md "Linux mount options").

use conformance::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The mount options (field 6 of mountinfo) of each mount point asked for,
/// from a container's `grep` of its own mountinfo: "point opts" lines.
fn opts_of(out: &str, point: &str) -> String {
    out.lines().find_map(|l| l.strip_prefix(&format!("{point} "))).unwrap_or_else(|| panic!("{point} not mounted in:\n{out}")).to_string()
}

/// A script printing "point options" for each given mount point.
fn mountinfo_script(points: &[&str]) -> String {
    let pat = points.iter().map(|p| format!("$5==\"{p}\"")).collect::<Vec<_>>().join("||");
    format!("awk '{pat} {{print $5, $6}}' /proc/self/mountinfo")
}

// config.md mount options: `ro` on the /dev tmpfs. What goes under /dev
// (devpts, mqueue, shm, the device nodes) is mounted and made first; /dev
// is read-only after (runc does the same).
#[test]
fn read_only_dev_tmpfs() {
    let mut c = TestContainer::new("harden-rodev");
    let mut cfg = c.config.clone();
    let dev = cfg["mounts"].as_array_mut().unwrap().iter_mut().find(|m| m["destination"] == "/dev").expect("a /dev mount in the default config");
    dev["options"].as_array_mut().unwrap().push(json!("ro"));
    c.config = cfg;
    let script = format!(
        "{}; test -c /dev/null && echo > /dev/null && echo null-ok; touch /dev/new 2>/dev/null || echo dev-ro",
        mountinfo_script(&["/dev", "/dev/pts"])
    );
    let out = c.run_sh(&script);
    assert!(opts_of(&out, "/dev").starts_with("ro"), "{out}");
    assert!(opts_of(&out, "/dev/pts").starts_with("rw"), "{out}");
    assert!(out.contains("null-ok\n") && out.contains("dev-ro\n"), "{out}");
    c.delete_and_check(None);
}

// A read-only tmpfs with tmpcopyup: the copy is made, then the tmpfs is
// read-only.
#[test]
fn read_only_tmpfs_with_tmpcopyup() {
    if skip_for("runc version 1.1", "runc 1.1 has no tmpcopyup") {
        return;
    }
    let mut c = TestContainer::new("harden-rotmpfs");
    fs::create_dir_all(c.bpath("rootfs/seed")).unwrap();
    fs::write(c.bpath("rootfs/seed/kept"), "from the image\n").unwrap();
    c.push("/mounts", json!({"destination": "/seed", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "tmpcopyup"]}));
    let out = c.run_sh(&format!("{}; cat /seed/kept; touch /seed/new 2>/dev/null || echo seed-ro", mountinfo_script(&["/seed"])));
    assert!(opts_of(&out, "/seed").starts_with("ro"), "{out}");
    assert!(out.contains("from the image\n") && out.contains("seed-ro\n"), "{out}");
    c.delete_and_check(None);
}

// runc refuses a rootfs whose /proc or /sys is a symlink ("must be mounted
// on ordinary directory"): the kernel's files would land where the symlink
// points, away from the masked and read-only paths.
#[test]
fn proc_or_sys_symlink_in_rootfs_is_refused() {
    for (dir, name) in [("proc", "harden-symproc"), ("sys", "harden-symsys")] {
        let c = TestContainer::new(name);
        let d = c.bpath(&format!("rootfs/{dir}"));
        fs::remove_dir(&d).unwrap();
        fs::create_dir_all(c.bpath("rootfs/elsewhere")).unwrap();
        std::os::unix::fs::symlink("elsewhere", &d).unwrap();
        c.write_config();
        let o = c.create();
        o.fails();
        assert!(o.stderr.contains("ordinary directory"), "/{dir}: {}", o.stderr);
        assert!(fs::read_dir(c.bpath("rootfs/elsewhere")).unwrap().next().is_none(), "nothing was mounted through the symlink");
        c.assert_no_leaks(None);
    }
}

/// A static program: new user, mount, pid and net namespaces, then in the
/// new pid namespace's first process, a fresh procfs and sysfs mount.
/// Prints `unshare=E proc=E sysfs=E` (errno, 0 for success).
const FRESH_KERNEL_FS: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    int r = unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET);
    printf("unshare=%d ", r ? errno : 0);
    fflush(stdout);
    if (r) { printf("\n"); return 0; }
    pid_t p = fork();
    if (p == 0) {
        mkdir("/tmp/p", 0755);
        mkdir("/tmp/s", 0755);
        r = mount("proc", "/tmp/p", "proc", 0, 0);
        printf("proc=%d ", r ? errno : 0);
        r = mount("sysfs", "/tmp/s", "sysfs", 0, 0);
        printf("sysfs=%d\n", r ? errno : 0);
        return 0;
    }
    waitpid(p, 0, 0);
    return 0;
}
"#;

// runc `--no-pivot`: the host's procfs and sysfs must not stay in the
// container's mount namespace (out of sight behind the chroot): the kernel
// lets a new user namespace mount a fresh procfs or sysfs when a full one
// is visible anywhere in the namespace, and that one would have no masked
// paths. With pivot_root (the control) they are gone with the old root.
#[test]
fn no_pivot_leaves_no_host_procfs_or_sysfs_behind() {
    for (name, extra) in [("harden-pivot", &[][..]), ("harden-nopivot", &["--no-pivot"][..])] {
        let mut c = TestContainer::new(name);
        if static_c_program(&c.bpath("rootfs/bin/freshfs"), FRESH_KERNEL_FS).is_none() {
            return;
        }
        c.args(&["/bin/freshfs"]);
        c.write_config();
        c.create_with(extra).ok();
        c.start().ok();
        c.wait_status("stopped", command_timeout()).unwrap();
        let out = fs::read_to_string(&c.out_file).unwrap();
        assert!(out.starts_with("unshare=0 "), "{name}: the probe could not make its namespaces: {out}");
        assert_eq!(out.trim_end(), "unshare=0 proc=1 sysfs=1", "{name}: a fresh procfs or sysfs was allowed (EPERM expected)");
        c.delete_and_check(None);
    }
}

/// A directory on the host with a submount (a strictatime tmpfs) below it,
/// unmounted and removed on drop, on failure too.
struct SourceWithSubmount {
    dir: PathBuf,
}

impl SourceWithSubmount {
    fn new(base: &Path) -> Self {
        let dir = base.join("src");
        fs::create_dir_all(dir.join("sub")).unwrap();
        let ok = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "strictatime,size=64k", "hardensub"]).arg(dir.join("sub")).status().unwrap();
        assert!(ok.success());
        SourceWithSubmount { dir }
    }
}

impl Drop for SourceWithSubmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.dir.join("sub")).status();
    }
}

// config.md "Linux mount options": a recursive atime option reaches every
// mount of the tree. `rnoatime`, `rstrictatime` and `rrelatime` set their
// mode; `rnorelatime` changes nothing (as runc, and as `norelatime` on a
// remount); `rnodiratime` adds nodiratime. The source is relatime, its
// submount strictatime (no atime word in mountinfo).
#[test]
fn recursive_atime_options_reach_every_mount() {
    let mut c = TestContainer::new("harden-ratime");
    let src = SourceWithSubmount::new(&c.base);
    // (option, atime words on the top mount, on the submount)
    let cases = [
        ("rnoatime", "noatime", "noatime"),
        ("rstrictatime", "", ""),
        ("rrelatime", "relatime", "relatime"),
        ("rnorelatime", "relatime", ""),
        ("rnodiratime", "nodiratime,relatime", "nodiratime"),
    ];
    let mut points = Vec::new();
    for (i, (opt, _, _)) in cases.iter().enumerate() {
        c.push("/mounts", json!({"destination": format!("/m{i}"), "type": "bind", "source": src.dir, "options": ["rbind", opt]}));
        points.push(format!("/m{i}"));
        points.push(format!("/m{i}/sub"));
    }
    let refs: Vec<&str> = points.iter().map(String::as_str).collect();
    let out = c.run_sh(&mountinfo_script(&refs));
    let atime = |opts: String| opts.split(',').filter(|o| ["noatime", "relatime", "nodiratime"].contains(o)).collect::<Vec<_>>().join(",");
    for (i, (opt, top, sub)) in cases.iter().enumerate() {
        assert_eq!(atime(opts_of(&out, &format!("/m{i}"))), *top, "{opt} on the bind itself:\n{out}");
        assert_eq!(atime(opts_of(&out, &format!("/m{i}/sub"))), *sub, "{opt} on the submount:\n{out}");
    }
    drop(src);
    c.delete_and_check(None);
}

// `ratime` and `rnostrictatime` (mount(8): `atime`, `nostrictatime` give
// the kernel's default) make every mount relatime. runc 1.1 asks the
// kernel to clear part of the atime field and fails with EINVAL.
#[test]
fn ratime_and_rnostrictatime_give_relatime() {
    if skip_for("runc", "runc fails these with EINVAL from mount_setattr") {
        return;
    }
    let mut c = TestContainer::new("harden-ratime2");
    let src = SourceWithSubmount::new(&c.base);
    for (i, opt) in ["ratime", "rnostrictatime"].iter().enumerate() {
        c.push("/mounts", json!({"destination": format!("/a{i}"), "type": "bind", "source": src.dir, "options": ["rbind", opt]}));
    }
    let out = c.run_sh(&mountinfo_script(&["/a0", "/a0/sub", "/a1", "/a1/sub"]));
    for p in ["/a0", "/a0/sub", "/a1", "/a1/sub"] {
        assert!(opts_of(&out, p).split(',').any(|o| o == "relatime"), "{p}: {out}");
    }
    drop(src);
    c.delete_and_check(None);
}

// In a user namespace the container's root is an unprivileged uid on the
// host: a bind source below a 0700 directory of another owner is out of
// its reach. The source is opened on the host (crun and runc do too), so it
// mounts; the closed directory itself stays closed.
#[test]
fn userns_bind_source_behind_a_closed_directory() {
    let mut c = TestContainer::new("harden-userns-bind");
    let closed = c.base.join("closed");
    fs::create_dir_all(closed.join("inner")).unwrap();
    fs::write(closed.join("inner/file"), "reachable\n").unwrap();
    fs::set_permissions(&closed, fs::Permissions::from_mode(0o700)).unwrap();
    c.push("/linux/namespaces", json!({"type": "user"}));
    c.set("/linux/uidMappings", json!([{"containerID": 0, "hostID": 200000, "size": 65536}]));
    c.set("/linux/gidMappings", json!([{"containerID": 0, "hostID": 200000, "size": 65536}]));
    // The rootfs belongs to the host's root: the mapped root could not make
    // the mount points itself.
    fs::create_dir_all(c.bpath("rootfs/data")).unwrap();
    fs::write(c.bpath("rootfs/one"), "").unwrap();
    c.push("/mounts", json!({"destination": "/data", "type": "bind", "source": closed.join("inner"), "options": ["rbind", "ro"]}));
    c.push("/mounts", json!({"destination": "/one", "type": "bind", "source": closed.join("inner/file"), "options": ["bind"]}));
    let out = c.run_sh("cat /data/file /one; touch /data/x 2>/dev/null || echo data-ro");
    assert_eq!(out, "reachable\nreachable\ndata-ro\n");
    c.delete_and_check(None);
}

// A bind source that does not exist fails create with the entry named, in
// a user namespace as without one, and leaves nothing behind.
#[test]
fn missing_bind_source_names_the_entry() {
    for (name, userns) in [("harden-nosrc", false), ("harden-nosrc-userns", true)] {
        let mut c = TestContainer::new(name);
        if userns {
            c.push("/linux/namespaces", json!({"type": "user"}));
            c.set("/linux/uidMappings", json!([{"containerID": 0, "hostID": 200000, "size": 65536}]));
            c.set("/linux/gidMappings", json!([{"containerID": 0, "hostID": 200000, "size": 65536}]));
        }
        c.push("/mounts", json!({"destination": "/data", "type": "bind", "source": "/nonexistent/berth-source", "options": ["rbind"]}));
        c.write_config();
        let o = c.create();
        o.fails();
        assert!(o.stderr.contains("/nonexistent/berth-source") || o.log.contains("/nonexistent/berth-source"), "{name}: {}", o.stderr);
        c.assert_no_leaks(None);
    }
}
