//! `berth check` against fake hosts: trees of /proc, /sys, /etc and /run
//! files in a temp dir, with fixed syscall answers. No root needed, and
//! nothing of the real host is read.

use super::facts::Read;
use super::probe::{Avail, Probe, Ran, Syscalls};
use super::*;
use std::fs;
use std::path::{Path, PathBuf};

/// A fake root directory, removed on drop.
struct Tree(PathBuf);

impl Tree {
    fn new(tag: &str) -> Tree {
        // Tests run in parallel, several with the same kind of tree.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("berth-check-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Tree(d)
    }

    fn file(&self, rel: &str, text: &str) -> &Tree {
        let p = self.0.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
        self
    }

    fn dir(&self, rel: &str) -> &Tree {
        fs::create_dir_all(self.0.join(rel)).unwrap();
        self
    }

    fn exe(&self, rel: &str) -> &Tree {
        use std::os::unix::fs::PermissionsExt;
        self.file(rel, "#!/bin/sh\n");
        fs::set_permissions(self.0.join(rel), fs::Permissions::from_mode(0o755)).unwrap();
        self
    }

    fn remove(&self, rel: &str) -> &Tree {
        let p = self.0.join(rel);
        let _ = fs::remove_file(&p).or_else(|_| fs::remove_dir_all(&p));
        self
    }

    fn options(&self) -> Options {
        Options {
            root: self.0.clone(),
            state_root: PathBuf::from("/run/berth"),
            criu: PathBuf::from("criu"),
            criu_check: false,
            path_var: Some("/usr/local/bin:/usr/sbin:/usr/bin".into()),
            sudo_user: None,
        }
    }

    /// Every file's path and text, to show that a run wrote nothing.
    fn snapshot(&self) -> Vec<(PathBuf, String)> {
        fn walk(d: &Path, out: &mut Vec<(PathBuf, String)>) {
            for e in fs::read_dir(d).unwrap().map(Result::unwrap) {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push((p.clone(), fs::read_to_string(&p).unwrap_or_default()));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.0, &mut out);
        out.sort();
        out
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Fixed answers for what is not a file.
struct Fixed {
    sys: Syscalls,
    lib: &'static str,
    version: Option<Ran>,
    check: Option<Ran>,
}

impl Fixed {
    fn modern() -> Fixed {
        Fixed { sys: Syscalls::ALL, lib: "2.5.4", version: Some(ran(true, "Version: 3.17.1\n")), check: None }
    }
}

fn ran(success: bool, output: &str) -> Ran {
    Ran { success, output: output.to_string() }
}

impl Probe for Fixed {
    fn syscalls(&self) -> Syscalls {
        self.sys
    }
    fn libseccomp(&self) -> String {
        self.lib.to_string()
    }
    fn run(&self, _program: &Path, args: &[&str]) -> Option<Ran> {
        if args == ["check"] {
            self.check.clone()
        } else {
            self.version.clone()
        }
    }
}

const NAMESPACES: &[&str] = &["cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts"];
const ACTIONS: &str = "kill_process kill_thread trap errno user_notif trace log allow\n";

fn common(t: &Tree, namespaces: &[&str]) {
    t.file("proc/self/status", "Name:\tberth\nUid:\t0\t0\t0\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n")
        .file("proc/sys/user/max_user_namespaces", "96364\n")
        .file("proc/sys/kernel/seccomp/actions_avail", ACTIONS)
        .file("etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n")
        .exe("usr/bin/newuidmap")
        .exe("usr/bin/newgidmap")
        .dir("run/berth");
    for n in namespaces {
        t.file(&format!("proc/self/ns/{n}"), "");
    }
}

/// This project's machine: v1 controllers under /sys/fs/cgroup, cgroup2 at
/// /sys/fs/cgroup/unified with only hugetlb (not passed down), no systemd,
/// no LSM, /run on the root ext4, empty subuid files, criu 3.17.
fn hybrid() -> Tree {
    let t = Tree::new("hybrid");
    common(&t, NAMESPACES);
    t.file("proc/sys/kernel/osrelease", "6.18.44-fc-v782\n")
        .file(
            "proc/self/mountinfo",
            "22 27 0:21 / /proc rw,relatime - proc proc rw\n\
             23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n\
             27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n\
             31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
             32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
             33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n\
             34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n\
             35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
             36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n\
             37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n\
             38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n\
             39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n\
             40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
        )
        .file(
            "proc/cgroups",
            "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t1\t1\ncpu\t1\t1\t1\ncpuacct\t2\t1\t1\nblkio\t7\t1\t1\nmemory\t4\t80\t1\n\
             devices\t5\t1\t1\nfreezer\t6\t1\t1\nnet_cls\t0\t1\t1\nperf_event\t0\t1\t1\nnet_prio\t0\t1\t1\nhugetlb\t0\t1\t1\npids\t8\t1\t1\n",
        )
        .file("sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n")
        .file("sys/fs/cgroup/unified/cgroup.subtree_control", "\n")
        .file("proc/filesystems", "nodev\tsysfs\nnodev\tcgroup\nnodev\tcgroup2\nnodev\toverlay\n\text4\n")
        .file("etc/subuid", "")
        .file("etc/subgid", "")
        .exe("usr/sbin/criu");
    t
}

/// Debian 12 / Ubuntu 22.04: cgroup2 only, systemd passing down the
/// controllers it manages (not hugetlb, rdma or misc, as seen in the
/// systemd guest), AppArmor, /run on tmpfs, subordinate ids for root and
/// the sudo user, no CRIU.
fn pure_v2() -> Tree {
    let t = Tree::new("v2");
    common(&t, NAMESPACES);
    t.file("proc/sys/kernel/osrelease", "6.1.0-18-amd64\n")
        .file(
            "proc/self/mountinfo",
            "21 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
             22 21 0:20 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n\
             25 21 0:23 / /run rw,nosuid,nodev shared:12 - tmpfs tmpfs rw,size=1605280k,mode=755\n\
             26 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
        )
        .file(
            "proc/cgroups",
            "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t0\t90\t1\ncpu\t0\t90\t1\nmemory\t0\t90\t1\npids\t0\t90\t1\nio\t0\t90\t1\n",
        )
        .file("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
        .file("sys/fs/cgroup/cgroup.subtree_control", "cpuset cpu io memory pids\n")
        .file("proc/filesystems", "nodev\tcgroup\nnodev\tcgroup2\nnodev\toverlay\n\text4\n")
        .file("proc/sys/kernel/unprivileged_userns_clone", "1\n")
        .dir("run/systemd/system")
        .file("run/dbus/system_bus_socket", "")
        .file("sys/kernel/security/lsm", "lockdown,capability,landlock,yama,apparmor\n")
        .file("sys/module/apparmor/parameters/enabled", "Y\n")
        .file("etc/subuid", "root:100000:65536\nalice:165536:65536\n")
        .file("etc/subgid", "root:100000:65536\n1000:165536:65536\n");
    t
}

/// CentOS 7: kernel 3.10, v1 only, SELinux enforcing, no cgroup or time
/// namespace, user namespaces off, none of the newer syscalls.
fn centos7() -> (Tree, Fixed) {
    let t = Tree::new("c7");
    common(&t, &["ipc", "mnt", "net", "pid", "user", "uts"]);
    let v1: String = [
        ("systemd", "xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd"),
        ("cpu,cpuacct", "cpu,cpuacct"),
        ("cpuset", "cpuset"),
        ("memory", "memory"),
        ("devices", "devices"),
        ("freezer", "freezer"),
        ("blkio", "blkio"),
        ("pids", "pids"),
        ("net_cls,net_prio", "net_cls,net_prio"),
        ("hugetlb", "hugetlb"),
        ("perf_event", "perf_event"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (dir, opts))| format!("{} 24 0:{} / /sys/fs/cgroup/{dir} rw,nosuid,nodev,noexec,relatime shared:{i} - cgroup cgroup rw,{opts}\n", 30 + i, 30 + i))
    .collect();
    t.file("proc/sys/kernel/osrelease", "3.10.0-1160.el7.x86_64\n")
        .file(
            "proc/self/mountinfo",
            &format!(
                "18 1 253:0 / / rw,relatime shared:1 - xfs /dev/mapper/centos-root rw\n\
                 20 1 0:19 / /run rw,nosuid,nodev shared:22 - tmpfs tmpfs rw,mode=755\n\
                 24 19 0:21 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n{v1}"
            ),
        )
        .file("proc/sys/user/max_user_namespaces", "0\n")
        .file("proc/filesystems", "nodev\tcgroup\n\txfs\nnodev\toverlay\n")
        .file("sys/fs/selinux/enforce", "1")
        .dir("run/systemd/system")
        .file("run/dbus/system_bus_socket", "")
        .remove("proc/sys/kernel/seccomp/actions_avail");
    let fixed = Fixed {
        sys: Syscalls { clone3: Avail::No, openat2: Avail::No, open_tree: Avail::No, mount_setattr: Avail::No, pidfd_open: Avail::No, bpf: Avail::Yes },
        lib: "2.3.1",
        version: None,
        check: None,
    };
    (t, fixed)
}

fn item<'a>(r: &'a Report, section: &str, name: &str) -> &'a Item {
    r.items.iter().find(|i| i.section == section && i.name == name).unwrap_or_else(|| panic!("no item {section}/{name} in\n{}", r.text()))
}

#[track_caller]
fn assert_status(r: &Report, section: &str, name: &str, want: Status) {
    let i = item(r, section, name);
    assert_eq!(i.status, want, "{section}/{name}: {i:?}\n{}", r.text());
}

#[test]
fn this_hybrid_machine() {
    let t = hybrid();
    let before = t.snapshot();
    let r = run(&t.options(), &Fixed::modern());
    assert_eq!(t.snapshot(), before, "berth check must write nothing");
    assert_eq!(r.cgroup_layout, Some("hybrid"));
    let layout = item(&r, "cgroups", "layout");
    assert!(layout.detail.starts_with("hybrid: 9 v1 hierarchies under /sys/fs/cgroup, cgroup2 at /sys/fs/cgroup/unified"), "{layout:?}");
    let v1 = item(&r, "cgroups", "v1");
    assert!(v1.detail.contains("cpu, cpuacct, cpuset, memory") && v1.detail.contains("on no hierarchy: net_cls, perf_event, net_prio"), "{v1:?}");
    assert!(!v1.detail.contains("hugetlb"), "hugetlb is on cgroup2, not idle: {v1:?}");
    let v2 = item(&r, "cgroups", "v2");
    assert!(v2.detail.contains("controllers hugetlb; passed down by the root (cgroup.subtree_control): none"), "{v2:?}");
    // hugetlb is on cgroup2 only and the root does not pass it down.
    assert_status(&r, "cgroups", "resources", Status::Warn);
    let res = item(&r, "cgroups", "resources");
    assert!(res.detail.contains("on cgroup2 but not passed down by the root: hugetlb"), "{res:?}");
    assert!(res.meaning.contains("linux.resources.hugepageLimits (hugetlb)"), "{res:?}");
    assert_status(&r, "cgroups", "devices", Status::Ok);
    assert!(item(&r, "cgroups", "devices").detail.contains("v1"));
    assert_status(&r, "cgroups", "clone-into-cgroup", Status::Ok);
    assert_status(&r, "cgroups", "cgroup-kill", Status::Ok);
    assert_status(&r, "systemd", "systemd", Status::Missing);
    assert!(item(&r, "systemd", "systemd").detail.contains("name=systemd v1 hierarchy is mounted"));
    assert_status(&r, "host", "state-root", Status::Warn);
    assert!(item(&r, "host", "state-root").detail.starts_with("/run/berth on ext4 (/)"), "{:?}", item(&r, "host", "state-root"));
    assert_status(&r, "namespaces", "subordinate-ids", Status::Warn);
    assert_eq!(item(&r, "namespaces", "subordinate-ids").detail, "root: none");
    assert_status(&r, "lsm", "lsm", Status::Unknown);
    assert_status(&r, "lsm", "apparmor", Status::Missing);
    assert_status(&r, "lsm", "selinux", Status::Missing);
    assert_status(&r, "kernel", "idmap-mounts", Status::Warn);
    assert!(item(&r, "kernel", "idmap-mounts").detail.contains("Berth does not support them yet"));
    assert_eq!(item(&r, "checkpoint", "criu").detail, "criu 3.17.1 at /usr/sbin/criu");
    assert!(r.ready(), "{}", r.text());
    assert_eq!(r.exit_code(), 0);
}

#[test]
fn pure_v2_systemd_host() {
    let t = pure_v2();
    let mut o = t.options();
    o.sudo_user = Some("alice".into());
    let r = run(&o, &Fixed { version: None, ..Fixed::modern() });
    assert_eq!(r.cgroup_layout, Some("v2"));
    assert!(item(&r, "cgroups", "layout").detail.starts_with("v2: cgroup2 only, at /sys/fs/cgroup"));
    assert!(!r.items.iter().any(|i| i.name == "v1"), "no v1 item on a pure v2 host");
    // systemd does not pass hugetlb down from the root: its limits fail.
    assert_status(&r, "cgroups", "resources", Status::Warn);
    let res = item(&r, "cgroups", "resources");
    assert_eq!(res.detail, "cgroup2: cpu, cpuset, memory, pids, io; on cgroup2 but not passed down by the root: hugetlb, rdma; nowhere: net_cls, net_prio");
    assert!(res.meaning.contains("linux.resources.hugepageLimits (hugetlb)"), "{res:?}");
    // With everything passed down, net_cls and net_prio (no cgroup2
    // counterpart) are noted, not a warning.
    t.file("sys/fs/cgroup/cgroup.subtree_control", "cpuset cpu io memory hugetlb pids rdma misc\n");
    let r = run(&o, &Fixed { version: None, ..Fixed::modern() });
    assert_status(&r, "cgroups", "resources", Status::Ok);
    assert!(item(&r, "cgroups", "resources").meaning.contains("network.classID"));
    assert_status(&r, "cgroups", "devices", Status::Ok);
    assert!(item(&r, "cgroups", "devices").detail.contains("eBPF"));
    assert_status(&r, "cgroups", "freezer", Status::Ok);
    assert_status(&r, "systemd", "systemd", Status::Ok);
    assert_status(&r, "host", "state-root", Status::Ok);
    assert_status(&r, "namespaces", "subordinate-ids", Status::Ok);
    assert_eq!(item(&r, "namespaces", "subordinate-ids").detail, "root: 65536 uids, 65536 gids; alice: 65536 uids, 65536 gids");
    assert_status(&r, "lsm", "apparmor", Status::Ok);
    // No criu on PATH (the tree has none, and the probe would not run one).
    assert_status(&r, "checkpoint", "criu", Status::Missing);
    assert_eq!(item(&r, "checkpoint", "criu").detail, "no criu on PATH");
    assert!(r.ready(), "{}", r.text());
}

#[test]
fn centos7_cannot_run_berth() {
    let (t, fixed) = centos7();
    let r = run(&t.options(), &fixed);
    assert_eq!(r.cgroup_layout, Some("v1"));
    assert!(item(&r, "cgroups", "layout").detail.starts_with("v1: 11 hierarchies under /sys/fs/cgroup, no cgroup2"), "{}", r.text());
    assert_status(&r, "cgroups", "resources", Status::Ok);
    assert_status(&r, "cgroups", "clone-into-cgroup", Status::Missing);
    assert_status(&r, "cgroups", "cgroup-kill", Status::Missing);
    assert_status(&r, "host", "kernel", Status::Warn);
    for n in ["openat2", "mount-api", "pidfd"] {
        assert_status(&r, "kernel", n, Status::Missing);
    }
    assert_status(&r, "kernel", "clone3", Status::Warn);
    assert_status(&r, "kernel", "mount-setattr", Status::Warn);
    assert_status(&r, "kernel", "idmap-mounts", Status::Missing);
    assert_status(&r, "namespaces", "namespaces", Status::Ok);
    assert_status(&r, "namespaces", "cgroup-namespace", Status::Missing);
    assert_status(&r, "namespaces", "time-namespace", Status::Missing);
    assert_status(&r, "namespaces", "user-namespaces", Status::Missing);
    assert_status(&r, "seccomp", "seccomp", Status::Ok);
    assert_status(&r, "seccomp", "seccomp-notify", Status::Unknown);
    assert_status(&r, "seccomp", "libseccomp", Status::Warn);
    assert_status(&r, "lsm", "selinux", Status::Ok);
    assert_eq!(item(&r, "lsm", "selinux").detail, "enforcing");
    assert!(!r.ready());
    assert_eq!(r.exit_code(), 1);
    let j = r.json();
    assert_eq!(j["summary"]["blocking"], serde_json::json!(["kernel/openat2", "kernel/mount-api", "kernel/pidfd"]));
    assert!(r.text().contains("not ready: essential items missing: kernel/openat2, kernel/mount-api, kernel/pidfd"), "{}", r.text());
}

#[test]
fn user_namespaces_off_or_root_only_is_not_fatal() {
    let t = hybrid();
    t.file("proc/sys/user/max_user_namespaces", "0\n");
    let r = run(&t.options(), &Fixed::modern());
    assert_status(&r, "namespaces", "user-namespaces", Status::Missing);
    assert_eq!(r.exit_code(), 0, "{}", r.text());
    t.file("proc/sys/user/max_user_namespaces", "100\n").file("proc/sys/kernel/unprivileged_userns_clone", "0\n");
    let r = run(&t.options(), &Fixed::modern());
    assert_status(&r, "namespaces", "user-namespaces", Status::Warn);
    assert!(item(&r, "namespaces", "user-namespaces").detail.contains("unprivileged_userns_clone is 0"));
    t.remove("proc/self/ns/user");
    let r = run(&t.options(), &Fixed::modern());
    assert_eq!(item(&r, "namespaces", "user-namespaces").detail, "the kernel has no user namespaces");
    assert_eq!(r.exit_code(), 0);
}

#[test]
fn essential_absences_fail() {
    // No cgroup hierarchy at all.
    let t = hybrid();
    t.file("proc/self/mountinfo", "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n");
    let r = run(&t.options(), &Fixed::modern());
    assert_eq!(r.cgroup_layout, Some("none"));
    assert_status(&r, "cgroups", "layout", Status::Missing);
    assert!(item(&r, "cgroups", "layout").detail.contains("the kernel has cgroup2"));
    assert_eq!(r.json()["summary"]["blocking"], serde_json::json!(["cgroups/layout"]));
    // No network namespace, no seccomp.
    let t = hybrid();
    t.remove("proc/self/ns/net").file("proc/self/status", "Uid:\t0\t0\t0\t0\n");
    let r = run(&t.options(), &Fixed::modern());
    assert_eq!(item(&r, "namespaces", "namespaces").detail, "no network namespace");
    assert_status(&r, "seccomp", "seccomp", Status::Missing);
    assert_eq!(r.json()["summary"]["blocking"], serde_json::json!(["namespaces/namespaces", "seccomp/seccomp"]));
    // Pure cgroup2 without bpf(2): device rules cannot be enforced.
    let t = pure_v2();
    let r = run(&t.options(), &Fixed { sys: Syscalls { bpf: Avail::No, ..Syscalls::ALL }, ..Fixed::modern() });
    assert_status(&r, "cgroups", "devices", Status::Missing);
    assert_eq!(r.exit_code(), 1);
}

#[test]
fn optional_absences_do_not_fail() {
    let t = hybrid();
    t.remove("usr/sbin/criu").remove("usr/bin/newgidmap").remove("proc/filesystems");
    let r = run(&t.options(), &Fixed { sys: Syscalls { clone3: Avail::No, mount_setattr: Avail::No, ..Syscalls::ALL }, ..Fixed::modern() });
    assert_status(&r, "checkpoint", "criu", Status::Missing);
    assert_eq!(item(&r, "namespaces", "newuidmap").detail, "not found on PATH: newgidmap");
    assert_status(&r, "engines", "overlayfs", Status::Unknown);
    assert_status(&r, "cgroups", "clone-into-cgroup", Status::Warn);
    assert_status(&r, "kernel", "mount-setattr", Status::Warn);
    assert_eq!(r.exit_code(), 0, "{}", r.text());
}

#[test]
fn non_root_and_unreadable_facts_are_unknown() {
    let t = pure_v2();
    t.file("proc/self/status", "Uid:\t1000\t1000\t1000\t1000\nSeccomp:\t2\n");
    // A directory where a file should be: readable by nobody, as a
    // permission error would be for root (which reads every mode).
    t.remove("proc/sys/kernel/osrelease").dir("proc/sys/kernel/osrelease");
    t.remove("sys/fs/cgroup/cgroup.subtree_control").dir("sys/fs/cgroup/cgroup.subtree_control");
    let r = run(&t.options(), &Fixed { sys: Syscalls { bpf: Avail::Refused(libc::EPERM), ..Syscalls::ALL }, ..Fixed::modern() });
    assert_status(&r, "host", "privileges", Status::Warn);
    assert_status(&r, "host", "kernel", Status::Unknown);
    assert!(item(&r, "host", "kernel").detail.starts_with("cannot read "), "{:?}", item(&r, "host", "kernel"));
    assert_status(&r, "cgroups", "devices", Status::Unknown);
    assert_status(&r, "cgroups", "v2", Status::Unknown);
    assert_status(&r, "cgroups", "resources", Status::Unknown);
    assert_status(&r, "cgroups", "cgroup-kill", Status::Unknown);
    assert_status(&r, "kernel", "idmap-mounts", Status::Unknown);
    assert_status(&r, "seccomp", "seccomp", Status::Warn);
    assert!(item(&r, "seccomp", "seccomp").detail.contains("runs under a seccomp filter (mode 2)"));
    // The subordinate ids of the caller are reported too.
    assert_eq!(item(&r, "namespaces", "subordinate-ids").detail, "root: 65536 uids, 65536 gids; alice: 65536 uids, 65536 gids");
    assert!(r.ready(), "unknown is not missing: {}", r.text());
}

#[test]
fn criu_check_on_request() {
    let t = hybrid();
    let mut o = t.options();
    o.criu_check = true;
    let failing = ran(
        false,
        "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\nError (criu/crtools.c:260): Could not initialize kernel features detection.\n",
    );
    let r = run(&o, &Fixed { check: Some(failing), ..Fixed::modern() });
    let c = item(&r, "checkpoint", "criu-check");
    assert_eq!(c.status, Status::Warn);
    assert_eq!(c.detail, "criu check failed: Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds");
    let r = run(&o, &Fixed { check: Some(ran(true, "Looks good.\n")), ..Fixed::modern() });
    assert_eq!(item(&r, "checkpoint", "criu-check").detail, "criu check: Looks good.");
    // Not asked: no item, and criu is never run with `check`.
    let r = run(&t.options(), &Fixed { check: Some(ran(true, "x")), ..Fixed::modern() });
    assert!(!r.items.iter().any(|i| i.name == "criu-check"));
    // --criu with a path.
    let mut o = t.options();
    o.criu = PathBuf::from("/opt/criu/bin/criu");
    let r = run(&o, &Fixed::modern());
    assert_eq!(item(&r, "checkpoint", "criu").detail, "/opt/criu/bin/criu not found");
}

#[test]
fn state_root_through_a_symlink_and_not_made_yet() {
    let t = pure_v2();
    t.remove("run/berth");
    std::os::unix::fs::symlink("run", t.0.join("var-run")).unwrap();
    let mut o = t.options();
    o.state_root = PathBuf::from("/var-run/berth");
    let r = run(&o, &Fixed::modern());
    let i = item(&r, "host", "state-root");
    assert_eq!(i.status, Status::Ok);
    assert_eq!(i.detail, "/var-run/berth on tmpfs (/run) (not made yet: the first create makes it)");
}

#[test]
fn json_shape_is_stable() {
    let t = hybrid();
    let r = run(&t.options(), &Fixed::modern());
    let j = r.json();
    let items = j["items"].as_array().unwrap();
    assert_eq!(items.len(), r.items.len());
    for i in items {
        let o = i.as_object().unwrap();
        let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["detail", "essential", "meaning", "name", "section", "status"]);
        assert!(["ok", "warn", "missing", "unknown"].contains(&i["status"].as_str().unwrap()), "{i}");
        let name = i["name"].as_str().unwrap();
        assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{name}");
    }
    let s = &j["summary"];
    assert_eq!(s["ready"], true);
    assert_eq!(s["cgroupLayout"], "hybrid");
    assert_eq!(s["kernel"], "6.18.44-fc-v782");
    let total: u64 = ["ok", "warn", "missing", "unknown"].iter().map(|k| s[k].as_u64().unwrap()).sum();
    assert_eq!(total as usize, items.len());
    // The printed text is the same document, fields in the documented order.
    let text = r.json_text();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), j);
    let at = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
    assert!(at("items") < at("section") && at("section") < at("name") && at("name") < at("status") && at("detail") < at("meaning"));
    assert!(at("meaning") < at("summary") && at("ready") < at("cgroupLayout"));
}

#[test]
fn text_is_aligned_and_grouped() {
    let t = hybrid();
    let r = run(&t.options(), &Fixed::modern());
    let text = r.text();
    let w = r.items.iter().map(|i| i.name.len()).max().unwrap();
    let mut sections = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with("ready:") {
            continue;
        }
        if !line.starts_with(' ') {
            sections.push(line);
            continue;
        }
        // An item line: its status word starts in the same column as all others.
        let col = 2 + w + 2;
        let rest = &line[col..];
        if !line[2..col].trim().is_empty() {
            let word = rest.split(' ').next().unwrap();
            assert!(["ok", "warn", "missing", "unknown"].contains(&word), "{line:?}\n{text}");
        }
    }
    assert_eq!(sections, ["host", "cgroups", "systemd", "namespaces", "seccomp", "lsm", "kernel", "checkpoint", "engines"]);
    assert!(
        text.ends_with(&format!(
            "ready: this host can run containers with Berth ({} ok, {} warn, {} missing, {} unknown)\n",
            r.items.iter().filter(|i| i.status == Status::Ok).count(),
            r.items.iter().filter(|i| i.status == Status::Warn).count(),
            r.items.iter().filter(|i| i.status == Status::Missing).count(),
            r.items.iter().filter(|i| i.status == Status::Unknown).count()
        )),
        "{text}"
    );
}

#[test]
fn subordinate_id_lines() {
    let alice = facts::User { name: "alice".into(), uid: Some(1000) };
    let text = "# comment\nalice:100000:65536\n1000:300000:10\nbob:1:5\nalice:bad:x\n";
    assert_eq!(judge::ids_of(text, &alice), 65546);
    assert!(matches!(Read::<u32>::Absent.map(|x| x + 1), Read::Absent));
}
