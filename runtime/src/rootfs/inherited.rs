//! A container without a mount namespace of its own (config-linux.md
//! "Namespaces": a type not listed MUST be inherited from the runtime).
//! Its mounts are made in the caller's mount namespace: the rootfs bound
//! onto itself and everything mounted on that bind. They outlive the
//! container's processes, so `delete` (and a failed `create`) takes them
//! down again by unmounting what is stacked on the rootfs path, down to the
//! mount that was there before.
//!
//! Mount ids come from `statx(STATX_MNT_ID)` (Linux 5.8).

use std::io;
use std::path::Path;

use super::sys;

const STATX_MNT_ID: u32 = 0x1000;

/// The id of the mount `path` lies on (the topmost one at a mount point).
pub fn mount_id(path: &Path) -> io::Result<u64> {
    let c = sys::cstr(path)?;
    let mut st = std::mem::MaybeUninit::<libc::statx>::uninit();
    // SAFETY: `c` is NUL-terminated and `st` a writable statx buffer.
    sys::check(unsafe { libc::statx(libc::AT_FDCWD, c.as_ptr(), libc::AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, st.as_mut_ptr()) })?;
    // SAFETY: statx succeeded and filled the buffer.
    let st = unsafe { st.assume_init() };
    if st.stx_mask & STATX_MNT_ID == 0 {
        return Err(io::Error::from_raw_os_error(libc::ENOSYS));
    }
    Ok(st.stx_mnt_id)
}

/// Whether a mount of this id exists in the caller's mount namespace.
fn mounted(id: u64) -> bool {
    let text = crate::procfs::read_small("/proc/self/mountinfo").unwrap_or_default();
    text.lines().any(|l| l.split(' ').next().and_then(|f| f.parse::<u64>().ok()) == Some(id))
}

/// Unmount (detached, with everything below) what is stacked on `rootfs`
/// above the mount `below` that held it before create. With `ours` (the
/// rootfs bind, known once create succeeded), stop as soon as that mount
/// is gone: whatever is at the path then is somebody else's.
pub fn unmount_stack(rootfs: &Path, below: u64, ours: Option<u64>) -> io::Result<()> {
    let c = sys::cstr(rootfs)?;
    // A container can stack mounts of its own on its "/"; far fewer than this.
    for _ in 0..64 {
        let top = match mount_id(rootfs) {
            Ok(id) => id,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e) => return Err(e),
        };
        if top == below || ours.is_some_and(|o| !mounted(o)) {
            return Ok(());
        }
        // SAFETY: `c` is a NUL-terminated path.
        sys::check(unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) })?;
    }
    Err(io::Error::other(format!("more than 64 mounts stacked on {}", rootfs.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_ids_differ_across_mounts() {
        let root = mount_id(Path::new("/")).unwrap();
        assert_eq!(mount_id(Path::new("/proc/self")).unwrap(), mount_id(Path::new("/proc")).unwrap());
        assert_ne!(mount_id(Path::new("/proc")).unwrap(), root);
        assert!(mounted(root));
        assert!(!mounted(u64::MAX));
    }
}
