//! How a new process (the init, or a process of `exec`) gets into its
//! cgroups without anyone writing its pid to `cgroup.procs`.
//!
//! Moving a whole process through `cgroup.procs` takes the kernel's global
//! threadgroup lock for writing, and that waits for an RCU grace period
//! whenever no other migration happened just before: 4 to 25 ms per
//! container on this project's test machine, the largest single cost of a
//! `create` under containerd. Two ways need no such lock:
//! - cgroup2: the child is born in its cgroup (clone3 with
//!   `CLONE_INTO_CGROUP`, Linux 5.7);
//! - cgroup v1: the child, still single-threaded, moves itself by writing
//!   "0" to each hierarchy's `tasks` file. That migrates only the calling
//!   thread, which the kernel does without the threadgroup lock.
//!
//! The parent opens every descriptor before the clone, so the child needs
//! no view of /sys/fs/cgroup, and the kernel checks permissions against the
//! opener's credentials (root's), whatever user namespace the child is in.
//! Where clone3 is missing (old kernels, or a seccomp profile around us that
//! answers ENOSYS, as Docker's does) the parent falls back to `cgroup.procs`
//! for the cgroup2 directory.

use crate::error::{Error, Result};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// statfs magic of a cgroup2 file system.
const CGROUP2_SUPER_MAGIC: libc::c_long = 0x6367_7270;

/// Descriptors for entering a set of cgroup directories.
#[derive(Debug, Default)]
pub struct Entry {
    /// `tasks` of each v1 directory, opened for writing.
    tasks: Vec<(OwnedFd, PathBuf)>,
    /// The cgroup2 directory, if any.
    v2: Option<(OwnedFd, PathBuf)>,
}

fn open_path(path: &Path, flags: libc::c_int, what: &Path) -> Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::msg(format!("cgroup path {} holds a NUL byte", what.display())))?;
    // SAFETY: open with a valid NUL-terminated path; the result is checked.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::last(format!("open cgroup {}", what.display())).field("linux.cgroupsPath"));
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn open_tasks(dir: &Path) -> Result<OwnedFd> {
    open_path(&dir.join("tasks"), libc::O_WRONLY, dir)
}

fn open_dir(dir: &Path) -> Result<OwnedFd> {
    open_path(dir, libc::O_PATH | libc::O_DIRECTORY, dir)
}

impl Entry {
    /// The cgroup2 directory `dir` alone, for a caller that knows it is on
    /// cgroup2 (a placement read from mountinfo).
    pub fn v2_dir(dir: &Path) -> Result<Entry> {
        Ok(Entry { tasks: Vec::new(), v2: Some((open_dir(dir)?, dir.to_path_buf())) })
    }

    /// The `tasks` files of v1 directories.
    pub fn v1_dirs(dirs: &[PathBuf]) -> Result<Entry> {
        let tasks = dirs.iter().map(|d| Ok((open_tasks(d)?, d.clone()))).collect::<Result<_>>()?;
        Ok(Entry { tasks, v2: None })
    }

    /// Opens what entering `dirs` takes when their kinds are not known (the
    /// paths a container's state lists). A directory with a `tasks` file is
    /// v1 (one open); any other must be on cgroup2, which its file system
    /// type confirms.
    pub fn open(dirs: &[PathBuf]) -> Result<Entry> {
        let mut e = Entry::default();
        for dir in dirs {
            match open_tasks(dir) {
                Ok(t) => {
                    e.tasks.push((t, dir.clone()));
                    continue;
                }
                Err(err) if err.raw_os_error() != Some(libc::ENOENT) => return Err(err),
                Err(_) => {}
            }
            let d = open_dir(dir)?;
            // SAFETY: fstatfs into a zeroed struct we own, on a descriptor we hold.
            let mut sfs: libc::statfs = unsafe { std::mem::zeroed() };
            if unsafe { libc::fstatfs(d.as_raw_fd(), &mut sfs) } != 0 {
                return Err(Error::last(format!("statfs cgroup {}", dir.display())));
            }
            if sfs.f_type as libc::c_long != CGROUP2_SUPER_MAGIC {
                return Err(Error::msg(format!("{} is not a cgroup directory (no tasks file, not on cgroup2)", dir.display())).field("linux.cgroupsPath"));
            }
            if e.v2.is_some() {
                return Err(Error::msg(format!("more than one cgroup2 directory to enter ({})", dir.display())));
            }
            e.v2 = Some((d, dir.clone()));
        }
        Ok(e)
    }

    /// An entry made of `tasks` descriptors received from the parent, one
    /// per directory of `dirs` (all v1).
    pub fn from_tasks(fds: Vec<OwnedFd>, dirs: Vec<PathBuf>) -> Result<Entry> {
        if fds.len() != dirs.len() {
            return Err(Error::msg(format!("expected {} cgroup descriptors from the runtime, got {}", dirs.len(), fds.len())));
        }
        Ok(Entry { tasks: fds.into_iter().zip(dirs).collect(), v2: None })
    }

    /// The `tasks` descriptors, to send to the init.
    pub fn task_fds(&self) -> Vec<RawFd> {
        self.tasks.iter().map(|(fd, _)| fd.as_raw_fd()).collect()
    }

    /// The cgroup2 directory for `CLONE_INTO_CGROUP`, if there is one.
    pub fn v2_fd(&self) -> Option<RawFd> {
        self.v2.as_ref().map(|(fd, _)| fd.as_raw_fd())
    }

    /// The cgroup2 directory's path (for messages).
    pub fn v2_path(&self) -> Option<&Path> {
        self.v2.as_ref().map(|(_, p)| p.as_path())
    }

    /// Parent side, when the child could not be born in its cgroup2
    /// directory: move it there the slow way.
    pub fn enter_v2(&self, pid: i32) -> Result<()> {
        let Some((_, dir)) = &self.v2 else { return Ok(()) };
        std::fs::write(dir.join("cgroup.procs"), pid.to_string()).map_err(|e| refused(&format!("join cgroup {}", dir.display()), dir, e))
    }

    /// Child side, while single-threaded: move this thread (hence the
    /// process) into every v1 directory.
    pub fn join_self(&self) -> Result<()> {
        for (fd, dir) in &self.tasks {
            // SAFETY: writing one byte from a static buffer to a descriptor we hold.
            if unsafe { libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) } != 1 {
                return Err(Error::last(format!("join cgroup {}", dir.display())).field("linux.cgroupsPath"));
            }
        }
        Ok(())
    }

    /// Child side, for an entry the child got by fork (a copy of the
    /// parent's, never dropped in the child): close the child's copy of the
    /// descriptors. An entry the child owns closes them when dropped.
    pub fn close_in_child(&self) {
        for fd in self.tasks.iter().map(|(f, _)| f).chain(self.v2.as_ref().map(|(f, _)| f)) {
            // SAFETY: closing the child's copy of a descriptor; the child never
            // uses it again.
            unsafe { libc::close(fd.as_raw_fd()) };
        }
    }
}

/// The error for a process the kernel would not put into the cgroup2
/// directory `dir` (`step` failed with `e`), with the reason in words where
/// the cgroup's topology explains it: a "domain invalid" cgroup (below a
/// threaded subtree) holds no process (EOPNOTSUPP), and a cgroup that
/// delegates controllers to children holds none either ("no internal
/// processes", EBUSY). Read only on this failure path.
pub fn refused(step: &str, dir: &Path, e: std::io::Error) -> Error {
    let why = match e.raw_os_error() {
        Some(libc::EOPNOTSUPP | libc::EBUSY) => topology(dir),
        _ => None,
    };
    match why {
        Some(why) => Error::msg(format!("{step}: {e}: {why}")).field("linux.cgroupsPath"),
        None => Error::os(step.to_string(), e).field("linux.cgroupsPath"),
    }
}

/// What about `dir`'s place in a cgroup2 tree keeps processes out of it.
pub fn topology(dir: &Path) -> Option<String> {
    let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).ok().map(|s| s.trim().to_string());
    let ty = read(dir, "cgroup.type")?;
    explain(dir, &ty, read(dir, "cgroup.subtree_control").unwrap_or_default().as_str(), |d| read(d, "cgroup.type"))
}

/// [`topology`] with the files read through `type_of` (unit-testable).
fn explain(dir: &Path, ty: &str, subtree_control: &str, type_of: impl Fn(&Path) -> Option<String>) -> Option<String> {
    let d = dir.display();
    match ty {
        "domain invalid" => {
            let threaded = dir.ancestors().skip(1).find(|a| matches!(type_of(a).as_deref(), Some("threaded" | "domain threaded")));
            let below = threaded.map_or(String::new(), |t| format!(" (it is below the threaded subtree of {})", t.display()));
            Some(format!(
                "cgroup {d} is of type \"domain invalid\"{below}: cgroup v2 puts no process there; a container needs a domain cgroup outside threaded subtrees"
            ))
        }
        "threaded" | "domain threaded" => {
            Some(format!("cgroup {d} is of type \"{ty}\": it takes threads, not whole processes with domain controllers (memory, io, pids, hugetlb)"))
        }
        _ if !subtree_control.is_empty() => Some(format!(
            "cgroup {d} delegates controllers to its children (cgroup.subtree_control: {subtree_control}), and cgroup v2 puts no process in such a cgroup"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_explained_by_the_cgroup_type() {
        let types = |d: &Path| match d.to_str()? {
            "/cg/td" => Some("domain threaded".to_string()),
            "/cg/td/t" => Some("threaded".to_string()),
            _ => Some("domain".to_string()),
        };
        let why = explain(Path::new("/cg/td/t/c"), "domain invalid", "", types).unwrap();
        assert!(why.contains("\"domain invalid\"") && why.contains("below the threaded subtree of /cg/td/t"), "{why}");
        let why = explain(Path::new("/cg/td/t"), "threaded", "", types).unwrap();
        assert!(why.contains("/cg/td/t is of type \"threaded\""), "{why}");
        let why = explain(Path::new("/cg/p"), "domain", "memory pids", types).unwrap();
        assert!(why.contains("cgroup.subtree_control: memory pids"), "{why}");
        assert_eq!(explain(Path::new("/cg/p"), "domain", "", types), None);
        let e = refused("join cgroup /nonexistent", Path::new("/nonexistent"), std::io::Error::from_raw_os_error(libc::EBUSY));
        assert_eq!(e.field.as_deref(), Some("linux.cgroupsPath"));
    }

    #[test]
    fn a_missing_directory_names_the_path_and_field() {
        let e = Entry::open(&[PathBuf::from("/nonexistent/berth-entry-test")]).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/berth-entry-test") && e.contains("linux.cgroupsPath"), "{e}");
    }

    #[test]
    fn a_directory_that_is_not_a_cgroup_is_refused() {
        let d = std::env::temp_dir();
        let e = Entry::open(std::slice::from_ref(&d)).unwrap_err().to_string();
        assert!(e.contains(&d.display().to_string()) && e.contains("not a cgroup directory"), "{e}");
    }
}
