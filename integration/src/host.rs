//! Mounts and test cgroups on the host: the mount points under a directory
//! and their (lazy) unmount, and the `berth-test/...` cgroups of a test in
//! every hierarchy, listed and removed.

use std::path::{Path, PathBuf};

/// Unmounts (lazily) every mount point under `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    let prefix = dir.display().to_string();
    let mut points: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|p| p.starts_with(&prefix))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        if let Ok(c) = std::ffi::CString::new(p) {
            // SAFETY: c is a valid NUL-terminated path.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// Removes the (empty) cgroups `/berth-test/<id>` of the given containers,
/// in every hierarchy (v1 controllers and the v2 mount).
pub fn remove_test_cgroups(ids: &[String]) {
    let mut bases = vec![PathBuf::from("/sys/fs/cgroup/berth-test")];
    for ctl in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        bases.push(ctl.path().join("berth-test"));
    }
    for base in bases {
        for id in ids {
            let _ = std::fs::remove_dir(base.join(id));
        }
    }
    remove_shared_parent();
}

/// Removes `/berth-test` from every hierarchy where nothing is left in it
/// (rmdir only: one still in use by another test stays). The runtime and
/// the engines make it on the way to a test's cgroup.
pub fn remove_shared_parent() {
    let _ = std::fs::remove_dir("/sys/fs/cgroup/berth-test");
    for h in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        let _ = std::fs::remove_dir(h.path().join("berth-test"));
    }
}

/// Every hierarchy's directory for the cgroup `rel` (e.g.
/// `berth-test/pm-123`): the v1 controllers' and the cgroup2 mount's.
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    let mut out = vec![Path::new("/sys/fs/cgroup").join(rel)];
    for h in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        if h.path().join("cgroup.procs").exists() {
            out.push(h.path().join(rel));
        }
    }
    out.retain(|d| d.is_dir());
    out
}

/// Child cgroups left under `rel` in any hierarchy (e.g. a container's).
pub fn cgroup_children(rel: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in cgroup_dirs(rel) {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                out.push(e.path());
            }
        }
    }
    out
}

/// Removes the cgroup `rel` (one of ours, e.g. `berth-test/pm-123`) and
/// every cgroup below it, deepest first, in every hierarchy. Only rmdir:
/// nothing is written and no process is moved; a cgroup that still holds
/// processes stays (rmdir fails).
pub fn remove_cgroup_tree(rel: &str) {
    fn rm(d: &Path) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rm(&e.path());
            }
        }
        let _ = std::fs::remove_dir(d);
    }
    assert!(rel.starts_with("berth-test/") && !rel.contains(".."), "not one of our cgroups: {rel}");
    for d in cgroup_dirs(rel) {
        rm(&d);
    }
    remove_shared_parent();
}

/// Mount points at or under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|p| p.starts_with(&prefix))
        .collect()
}
