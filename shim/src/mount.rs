//! Mounting the rootfs containerd hands over in `CreateTaskRequest.rootfs`
//! (usually one overlay mount from the snapshotter) at `<bundle>/rootfs`.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// One mount as containerd describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountSpec {
    /// Filesystem type (`overlay`, `bind`, ...).
    pub fstype: String,
    /// Source (device, directory, or a dummy like `overlay`).
    pub source: String,
    /// fstab-style options; those that are not flags become mount data.
    pub options: Vec<String>,
}

/// fstab option names that map to mount flags: (name, clear?, flag).
const FLAGS: &[(&str, bool, libc::c_ulong)] = &[
    ("async", true, libc::MS_SYNCHRONOUS),
    ("atime", true, libc::MS_NOATIME),
    ("bind", false, libc::MS_BIND),
    ("defaults", false, 0),
    ("dev", true, libc::MS_NODEV),
    ("diratime", true, libc::MS_NODIRATIME),
    ("dirsync", false, libc::MS_DIRSYNC),
    ("exec", true, libc::MS_NOEXEC),
    ("mand", false, libc::MS_MANDLOCK),
    ("noatime", false, libc::MS_NOATIME),
    ("nodev", false, libc::MS_NODEV),
    ("nodiratime", false, libc::MS_NODIRATIME),
    ("noexec", false, libc::MS_NOEXEC),
    ("nomand", true, libc::MS_MANDLOCK),
    ("norelatime", true, libc::MS_RELATIME),
    ("nostrictatime", true, libc::MS_STRICTATIME),
    ("nosuid", false, libc::MS_NOSUID),
    ("rbind", false, libc::MS_BIND | libc::MS_REC),
    ("relatime", false, libc::MS_RELATIME),
    ("remount", false, libc::MS_REMOUNT),
    ("ro", false, libc::MS_RDONLY),
    ("rw", true, libc::MS_RDONLY),
    ("strictatime", false, libc::MS_STRICTATIME),
    ("suid", true, libc::MS_NOSUID),
    ("sync", false, libc::MS_SYNCHRONOUS),
];

/// Splits options into mount flags and the data string.
pub fn parse_options(options: &[String]) -> (libc::c_ulong, String) {
    let mut flags = 0;
    let mut data = Vec::new();
    for o in options {
        match FLAGS.iter().find(|(name, _, _)| name == o) {
            Some((_, true, f)) => flags &= !f,
            Some((_, false, f)) => flags |= f,
            None => data.push(o.as_str()),
        }
    }
    (flags, data.join(","))
}

fn cstr(s: &[u8], what: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{what} contains a NUL byte"))
}

/// Mounts every entry of `mounts` on `target`, in order.
pub fn mount_all(mounts: &[MountSpec], target: &Path) -> Result<(), String> {
    for (i, m) in mounts.iter().enumerate() {
        let (flags, data) = parse_options(&m.options);
        let fstype = if m.fstype == "bind" { "none" } else { m.fstype.as_str() };
        let src = cstr(m.source.as_bytes(), "mount source")?;
        let dst = cstr(target.as_os_str().as_bytes(), "mount target")?;
        let ty = cstr(fstype.as_bytes(), "mount type")?;
        let dat = cstr(data.as_bytes(), "mount options")?;
        // SAFETY: every pointer is a valid NUL-terminated string that outlives
        // the call.
        let rc = unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), ty.as_ptr(), flags, dat.as_ptr().cast()) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            let _ = unmount_all(target);
            return Err(format!("mount rootfs[{i}] ({} {} on {}): {err}", m.fstype, m.source, target.display()));
        }
        // A read-only bind needs a second, remounting call.
        if flags & libc::MS_BIND != 0 && flags & libc::MS_RDONLY != 0 {
            let rflags = flags | libc::MS_REMOUNT;
            // SAFETY: as above; source and type are ignored for a remount.
            let rc = unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), ty.as_ptr(), rflags, std::ptr::null()) };
            if rc != 0 {
                let err = std::io::Error::last_os_error();
                let _ = unmount_all(target);
                return Err(format!("remount rootfs[{i}] read-only: {err}"));
            }
        }
    }
    Ok(())
}

/// Unmounts everything stacked on `target` (nothing mounted is fine).
pub fn unmount_all(target: &Path) -> Result<(), String> {
    let dst = cstr(target.as_os_str().as_bytes(), "unmount target")?;
    for _ in 0..64 {
        // SAFETY: dst is a valid NUL-terminated path.
        if unsafe { libc::umount2(dst.as_ptr(), 0) } == 0 {
            continue;
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::ENOENT) => return Ok(()),
            Some(libc::EBUSY) => {
                // SAFETY: as above. A lazy detach still frees the snapshot
                // once the last user goes away.
                if unsafe { libc::umount2(dst.as_ptr(), libc::MNT_DETACH) } != 0 {
                    return Err(format!("unmount {}: {}", target.display(), err));
                }
            }
            _ => return Err(format!("unmount {}: {}", target.display(), err)),
        }
    }
    Err(format!("unmount {}: too many stacked mounts", target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn overlay_options_stay_data() {
        let (f, d) = parse_options(&s(&["index=off", "workdir=/w", "upperdir=/u", "lowerdir=/l"]));
        assert_eq!(f, 0);
        assert_eq!(d, "index=off,workdir=/w,upperdir=/u,lowerdir=/l");
    }

    #[test]
    fn flags_set_and_clear() {
        let (f, d) = parse_options(&s(&["rbind", "ro", "nosuid", "rw"]));
        assert_eq!(f, libc::MS_BIND | libc::MS_REC | libc::MS_NOSUID);
        assert_eq!(d, "");
    }
}
