//! A container's cgroup is a tree: the container may make cgroups of its
//! own below its directory (systemd in a container, a nested runtime,
//! Kubernetes-in-Docker). Everything that looks at "the container's
//! processes" (`ps`, `kill --all`, `delete`) takes the whole subtree, as
//! runc does, and removal goes deepest first.

use crate::error::{Error, Result};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `dir` and every cgroup below it, parents before children.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if let Ok(rd) = fs::read_dir(&out[i]) {
            // kernfs reports d_type, so no stat per entry.
            let subs: Vec<PathBuf> = rd.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect();
            out.extend(subs);
        }
        i += 1;
    }
    out
}

/// Pids in `dir` and below, in tree order, each once; None when `dir`
/// has no readable `cgroup.procs` (it does not exist).
pub fn pids_below(dir: &Path) -> Option<Vec<i32>> {
    let top = fs::read_to_string(dir.join("cgroup.procs")).ok()?;
    let mut pids: Vec<i32> = top.lines().filter_map(|l| l.trim().parse().ok()).collect();
    for sub in walk(dir).into_iter().skip(1) {
        let Ok(s) = fs::read_to_string(sub.join("cgroup.procs")) else { continue };
        for p in s.lines().filter_map(|l| l.trim().parse().ok()) {
            if !pids.contains(&p) {
                pids.push(p);
            }
        }
    }
    Some(pids)
}

/// SIGKILL every process in the container's cgroup and every cgroup below
/// it with one write to cgroup2's `cgroup.kill` (Linux 5.14): the kernel
/// kills the whole subtree at once, frozen tasks too, and a process forking
/// meanwhile cannot slip through as it can between the reads and kills of
/// a sweep. False where no directory of `paths` has the file (older
/// kernels, v1 only): the caller sweeps then.
pub fn kill_all(paths: &[PathBuf]) -> bool {
    paths.iter().any(|d| super::apply::write_existing(&d.join("cgroup.kill"), "1").is_ok())
}

/// How long an rmdir of a cgroup whose last task is still exiting is retried.
const BUSY_FOR: Duration = Duration::from_secs(2);

/// Remove `dir` and every cgroup below it, deepest first. A cgroup whose
/// last task is still exiting is busy for a moment: EBUSY is retried for
/// [`BUSY_FOR`]. A missing directory is not an error.
pub fn remove_tree(dir: &Path) -> Result<()> {
    // The common case, a leaf with nothing left in it, costs one rmdir; a
    // cgroup with children (or a task still exiting) answers EBUSY.
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let mut all = walk(dir);
    all.reverse();
    for d in all {
        let deadline = Instant::now() + BUSY_FOR;
        loop {
            match fs::remove_dir(&d) {
                Ok(()) => break,
                Err(e) if e.kind() == ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => {
                    let left = pids_below(&d).unwrap_or_default();
                    let why = if left.is_empty() { String::new() } else { format!(" (processes {left:?} are still in it)") };
                    return Err(Error::os(format!("remove cgroup {}{why}", d.display()), e));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_parents_first_and_removes_deepest_first() {
        // A plain directory tree stands in for a cgroup tree (rmdir works the same).
        let t = std::env::temp_dir().join(format!("berth-tree-{}", std::process::id()));
        let _ = fs::remove_dir_all(&t);
        fs::create_dir_all(t.join("a/b/c")).unwrap();
        fs::create_dir_all(t.join("d")).unwrap();
        fs::write(t.join("cgroup.procs"), "1\n2\n").unwrap();
        fs::write(t.join("a/b/cgroup.procs"), "2\n3\n").unwrap();
        let w = walk(&t);
        assert_eq!(w[0], t);
        let pos = |p: &str| w.iter().position(|x| *x == t.join(p)).unwrap();
        assert!(pos("a") < pos("a/b") && pos("a/b") < pos("a/b/c"), "{w:?}");
        assert_eq!(pids_below(&t), Some(vec![1, 2, 3]));
        assert_eq!(pids_below(&t.join("nope")), None);
        fs::remove_file(t.join("cgroup.procs")).unwrap();
        fs::remove_file(t.join("a/b/cgroup.procs")).unwrap();
        remove_tree(&t).unwrap();
        assert!(!t.exists());
        remove_tree(&t).unwrap();
    }
}
