//! `tmpcopyup` (config.md "Mounts", a runc extension Podman passes for every
//! `--tmpfs`): the new tmpfs starts with a copy of what the image had in the
//! directory it covers, keeping types, modes, owners, times and links.
//!
//! The caller opens the directory before mounting over it; the descriptor
//! still reaches the covered content afterwards. Everything here goes
//! through `*at` calls on directory descriptors with `O_NOFOLLOW`: a symlink
//! in the image is copied as a symlink and never followed, so the copy can
//! neither read nor write outside the two trees.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::sys;

/// Deeper trees are refused rather than risking the init's stack.
const MAX_DEPTH: u32 = 128;

/// Copy the content of directory `src` into directory `dst` (both opened
/// for reading, `O_DIRECTORY`). The top directories' own mode and owner are
/// the caller's business.
pub(crate) fn copy_tree(src: BorrowedFd, dst: BorrowedFd) -> io::Result<()> {
    copy_dir(src, dst, 0)
}

fn copy_dir(src: BorrowedFd, dst: BorrowedFd, depth: u32) -> io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(io::Error::other(format!("directory tree deeper than {MAX_DEPTH} levels")));
    }
    for name in entries(src)? {
        let st = fstatat(src, &name)?;
        let mode = st.st_mode & 0o7777;
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                // SAFETY: mkdirat on a directory descriptor we hold with a NUL-terminated name.
                sys::check(unsafe { libc::mkdirat(dst.as_raw_fd(), name.as_ptr(), 0o700) })?;
                let s = sys::openat(src.as_raw_fd(), &name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
                let d = sys::openat(dst.as_raw_fd(), &name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
                copy_dir(s_fd(&s), s_fd(&d), depth + 1)?;
                // Mode last: a read-only directory could not be filled.
                own(d.as_raw_fd(), c"", &st, libc::AT_EMPTY_PATH)?;
                // SAFETY: fchmod on a descriptor we own.
                sys::check(unsafe { libc::fchmod(d.as_raw_fd(), mode) })?;
                times(d.as_raw_fd(), c"", &st, libc::AT_EMPTY_PATH)?;
            }
            libc::S_IFREG => {
                let s = sys::openat(src.as_raw_fd(), &name, libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NOCTTY, 0)?;
                let d = sys::openat(dst.as_raw_fd(), &name, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW, 0o600)?;
                let mut from = std::fs::File::from(s);
                let mut to = std::fs::File::from(d);
                io::copy(&mut from, &mut to)?;
                own(to.as_raw_fd(), c"", &st, libc::AT_EMPTY_PATH)?;
                // After chown, which clears set-id bits.
                // SAFETY: fchmod on a descriptor we own.
                sys::check(unsafe { libc::fchmod(to.as_raw_fd(), mode) })?;
                times(to.as_raw_fd(), c"", &st, libc::AT_EMPTY_PATH)?;
            }
            libc::S_IFLNK => {
                let target = readlinkat(src, &name)?;
                // SAFETY: NUL-terminated strings and a directory descriptor we hold.
                sys::check(unsafe { libc::symlinkat(target.as_ptr(), dst.as_raw_fd(), name.as_ptr()) })?;
                own(dst.as_raw_fd(), &name, &st, libc::AT_SYMLINK_NOFOLLOW)?;
                times(dst.as_raw_fd(), &name, &st, libc::AT_SYMLINK_NOFOLLOW)?;
            }
            kind => {
                // Devices, FIFOs, sockets: the node itself, not its content.
                // SAFETY: mknodat with a NUL-terminated name on a directory we hold.
                sys::check(unsafe { libc::mknodat(dst.as_raw_fd(), name.as_ptr(), kind | mode, st.st_rdev) })?;
                own(dst.as_raw_fd(), &name, &st, libc::AT_SYMLINK_NOFOLLOW)?;
                // SAFETY: as above; fchmodat without flags on a name that is not a symlink.
                sys::check(unsafe { libc::fchmodat(dst.as_raw_fd(), name.as_ptr(), mode, 0) })?;
                times(dst.as_raw_fd(), &name, &st, libc::AT_SYMLINK_NOFOLLOW)?;
            }
        }
    }
    Ok(())
}

fn s_fd(fd: &OwnedFd) -> BorrowedFd<'_> {
    std::os::fd::AsFd::as_fd(fd)
}

/// The names in directory `dir`, without "." and "..".
fn entries(dir: BorrowedFd) -> io::Result<Vec<CString>> {
    // A second descriptor: closedir closes the one it is given.
    let fd = sys::openat(dir.as_raw_fd(), c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
    // SAFETY: raw is an open directory descriptor whose ownership passes to
    // the DIR stream (closedir closes it).
    let d = unsafe { libc::fdopendir(raw) };
    if d.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so raw is still ours to close.
        drop(unsafe { OwnedFd::from_raw_fd(raw) });
        return Err(e);
    }
    let mut out = Vec::new();
    loop {
        // SAFETY: d is a live DIR stream; readdir returns NULL at the end.
        let e = unsafe { libc::readdir64(d) };
        if e.is_null() {
            break;
        }
        // SAFETY: d_name of a live dirent is NUL-terminated.
        let name = unsafe { CStr::from_ptr((*e).d_name.as_ptr()) };
        if name != c"." && name != c".." {
            out.push(name.to_owned());
        }
    }
    // SAFETY: d is a live DIR stream, closed once.
    unsafe { libc::closedir(d) };
    Ok(out)
}

fn fstatat(dir: BorrowedFd, name: &CStr) -> io::Result<libc::stat> {
    // SAFETY: a zeroed stat is a valid buffer for fstatat to fill.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: name is NUL-terminated, st is writable, dir is open.
    sys::check(unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

fn readlinkat(dir: BorrowedFd, name: &CStr) -> io::Result<CString> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: buf is writable for its length; name is NUL-terminated.
    let n = unsafe { libc::readlinkat(dir.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    CString::new(buf).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// The copy's owner is the original's. In a user namespace an id it does
/// not map cannot be given (EINVAL/EPERM): the copy then stays ours.
fn own(dir: libc::c_int, name: &CStr, st: &libc::stat, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: fchownat on a descriptor we hold; name is NUL-terminated.
    match sys::check(unsafe { libc::fchownat(dir, name.as_ptr(), st.st_uid, st.st_gid, flags) }) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EPERM)) => Ok(()),
        r => r,
    }
}

fn times(dir: libc::c_int, name: &CStr, st: &libc::stat, flags: libc::c_int) -> io::Result<()> {
    let ts = [libc::timespec { tv_sec: st.st_atime, tv_nsec: st.st_atime_nsec }, libc::timespec { tv_sec: st.st_mtime, tv_nsec: st.st_mtime_nsec }];
    if name.to_bytes().is_empty() {
        // The descriptor itself (glibc's utimensat refuses a NULL path).
        // SAFETY: ts holds the two timespecs futimens reads.
        return sys::check(unsafe { libc::futimens(dir, ts.as_ptr()) });
    }
    // SAFETY: ts holds two timespecs; name is NUL-terminated.
    sys::check(unsafe { libc::utimensat(dir, name.as_ptr(), ts.as_ptr(), flags & !libc::AT_EMPTY_PATH) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    #[test]
    fn copies_types_modes_and_links_without_following() {
        let base = std::env::temp_dir().join(format!("berth-copyup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (src, dst) = (base.join("src"), base.join("dst"));
        std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        std::fs::write(src.join("sub/file"), b"content").unwrap();
        std::fs::set_permissions(src.join("sub/file"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::set_permissions(src.join("sub"), std::fs::Permissions::from_mode(0o710)).unwrap();
        symlink("/etc/passwd", src.join("abs-link")).unwrap();
        symlink("sub/file", src.join("rel-link")).unwrap();
        let fifo = CString::new(src.join("fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);

        let open = |p: &std::path::Path| sys::openat(libc::AT_FDCWD, &sys::cstr(p).unwrap(), libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
        let (s, d) = (open(&src), open(&dst));
        copy_tree(s_fd(&s), s_fd(&d)).unwrap();

        assert_eq!(std::fs::read(dst.join("sub/file")).unwrap(), b"content");
        assert_eq!(std::fs::metadata(dst.join("sub/file")).unwrap().mode() & 0o7777, 0o640);
        assert_eq!(std::fs::metadata(dst.join("sub")).unwrap().mode() & 0o7777, 0o710);
        assert!(dst.join("sub/deeper").is_dir());
        assert_eq!(std::fs::read_link(dst.join("abs-link")).unwrap(), std::path::Path::new("/etc/passwd"));
        assert_eq!(std::fs::read_link(dst.join("rel-link")).unwrap(), std::path::Path::new("sub/file"));
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&std::fs::symlink_metadata(dst.join("fifo")).unwrap().file_type()));
        assert_eq!(std::fs::metadata(dst.join("sub/file")).unwrap().mtime(), std::fs::metadata(src.join("sub/file")).unwrap().mtime());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
