//! `--no-pivot`: the rootfs is moved onto "/" and chrooted into, so the
//! mounts of the namespace outside the rootfs stay in the namespace, only
//! out of sight. A procfs or sysfs among them would still count for the
//! kernel's "is a full one already visible?" check (mount_too_revealing):
//! a process of the container that makes a user namespace could then mount
//! a fresh, unmasked procfs or sysfs. runc takes them away too; so do we,
//! before the move.

use std::path::{Path, PathBuf};

use super::sys;
use crate::error::{Error, Result};

/// The proc and sysfs mount points of `mountinfo` (the text of
/// /proc/self/mountinfo) that lie outside `rootfs`, the latest mount first
/// (so that a mount is taken away before the one it sits on).
pub(crate) fn outside_rootfs(mountinfo: &str, rootfs: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split(' ').next()?;
            let point = PathBuf::from(crate::cgroups::unescape(pre.split(' ').nth(4)?));
            (matches!(fstype, "proc" | "sysfs") && !point.starts_with(rootfs)).then_some(point)
        })
        .collect();
    out.reverse();
    out
}

/// Detach every proc and sysfs mount outside the rootfs from the
/// container's mount namespace (a copy of the host's: the host keeps its
/// own). One the namespace cannot drop (locked, in a user namespace) gets
/// an empty read-only tmpfs over it, which makes it not "fully visible".
pub(crate) fn hide_host_kernel_filesystems(rootfs: &Path) -> Result<()> {
    let text = crate::procfs::read_small("/proc/self/mountinfo").map_err(|e| Error::os("read /proc/self/mountinfo", e))?;
    for point in outside_rootfs(&text, rootfs) {
        let c = sys::cstr(&point).map_err(|e| Error::os("mount point path", e))?;
        // SAFETY: `c` is a NUL-terminated path.
        match sys::check(unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) }) {
            Ok(()) => {}
            // Gone with a mount below it, detached a moment ago.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOENT)) && !still_mounted(&point) => {}
            Err(_) => {
                let flags = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
                sys::mount(Some(c"tmpfs"), &c, Some(c"tmpfs"), flags, Some(c"size=0,mode=0"))
                    .map_err(|e| Error::os(format!("cover the host's {} (--no-pivot)", point.display()), e))?;
            }
        }
    }
    Ok(())
}

/// Whether a proc or sysfs is still mounted at `point`.
fn still_mounted(point: &Path) -> bool {
    let text = crate::procfs::read_small("/proc/self/mountinfo").unwrap_or_default();
    outside_rootfs(&text, Path::new("/nonexistent/rootfs")).iter().any(|p| p == point)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_and_sysfs_outside_the_rootfs_latest_first() {
        let mi = "\
22 1 0:5 / /proc rw,nosuid - proc proc rw
23 1 0:6 / /sys rw - sysfs sysfs rw
24 22 0:7 / /proc/sys/fs/binfmt_misc rw - autofs systemd-1 rw
25 1 0:8 / /run/my\\040proc rw - proc proc rw
26 1 0:9 / /b/rootfs/proc rw - proc proc rw
27 1 0:10 / /tmp rw - tmpfs tmpfs rw
";
        let got = outside_rootfs(mi, Path::new("/b/rootfs"));
        assert_eq!(got, vec![PathBuf::from("/run/my proc"), PathBuf::from("/sys"), PathBuf::from("/proc")]);
    }
}
