//! Resolving and creating paths inside the container root without ever
//! leaving it.
//!
//! Every lookup goes through `openat2(RESOLVE_IN_ROOT)` relative to an
//! `O_PATH` descriptor of the rootfs, so a symlink (absolute or relative, even
//! one planted by the image) is resolved as if the rootfs were `/`. Missing
//! components are created one at a time relative to the descriptor of their
//! already-resolved parent, never through a path string the host would walk.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

use super::sys::{self, Resolve};
use crate::error::{Error, Result};

/// What the last component of a path must be.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// A directory; created (0755) when missing.
    Dir,
    /// Anything but a directory is expected; created as an empty regular file.
    File,
}

/// The kernel's own limit on symlinks followed in one lookup.
const MAX_LINKS: u32 = 40;

/// Split a container path into components relative to the root; `/` and `.`
/// vanish, `..` stays (the kernel clamps it at the root).
pub(crate) fn rel_components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// Open `path` (a container path) under `root` as an `O_PATH` descriptor.
/// With `create`, missing directories are made and the final component is
/// made according to `kind`.
pub(crate) fn open_in_root(root: BorrowedFd, path: &Path, kind: Kind, create: bool) -> io::Result<OwnedFd> {
    let comps = rel_components(path);
    let mut budget = MAX_LINKS;
    resolve(root, &comps, kind, create, &mut budget)
}

fn open_flags(kind: Kind) -> libc::c_int {
    match kind {
        Kind::Dir => libc::O_PATH | libc::O_DIRECTORY,
        Kind::File => libc::O_PATH,
    }
}

fn resolve(root: BorrowedFd, comps: &[OsString], kind: Kind, create: bool, budget: &mut u32) -> io::Result<OwnedFd> {
    let rel: PathBuf = comps.iter().collect();
    // The common case (everything exists) costs exactly this one syscall.
    match sys::openat2(root, &rel, open_flags(kind), 0, Resolve::InRoot) {
        Err(e) if create && e.raw_os_error() == Some(libc::ENOENT) => {}
        other => return other,
    }
    let Some((last, parent)) = comps.split_last() else {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    };
    if last == ".." {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    }
    let parent_fd;
    let dir = if parent.is_empty() {
        root
    } else {
        parent_fd = resolve(root, parent, Kind::Dir, true, budget)?;
        parent_fd.as_fd()
    };
    let name = sys::cstr(Path::new(last))?;
    let made = match kind {
        // O_EXCL|O_NOFOLLOW: never open (let alone create through) whatever a
        // concurrent writer or a dangling symlink put there.
        Kind::File => sys::openat(dir.as_raw_fd(), &name, libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_RDONLY, 0o644).map(Some),
        // SAFETY: `name` is NUL-terminated and `dir` an open directory fd.
        Kind::Dir => sys::check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o755) }).map(|()| None),
    };
    match made {
        Ok(Some(fd)) => Ok(fd),
        Ok(None) => sys::openat2(dir, Path::new(last), open_flags(kind), 0, Resolve::Plain),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            // The lookup said ENOENT but the name exists: a dangling symlink.
            // Create its target instead, still interpreted inside the root.
            let target = match readlinkat(dir, &name) {
                Ok(t) => t,
                // Not a symlink: it appeared under us; just open it.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return sys::openat2(root, &rel, open_flags(kind), 0, Resolve::InRoot),
                Err(e) => return Err(e),
            };
            if *budget == 0 {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            *budget -= 1;
            let target = PathBuf::from(target);
            let mut next: Vec<OsString> = if target.is_absolute() { Vec::new() } else { parent.to_vec() };
            next.extend(rel_components(&target));
            resolve(root, &next, kind, create, budget)
        }
        Err(e) => Err(e),
    }
}

fn readlinkat(dir: BorrowedFd, name: &std::ffi::CStr) -> io::Result<OsString> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: `buf` is writable for `buf.len()` bytes and `name` is
    // NUL-terminated; readlinkat writes at most that many bytes.
    let n = unsafe { libc::readlinkat(dir.as_raw_fd(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(OsString::from_vec(buf))
}

/// Open (creating missing directories when `create_dirs`) a directory path
/// inside the root `root`, never following a symlink out of it.
///
/// `root` is a host path; `path` is interpreted as a path inside it (a
/// leading `/` is the root itself). The result is an `O_PATH` descriptor,
/// enough for `fchdir(2)` and for `*at` calls.
pub fn open_dir_in_root(root: &Path, path: &Path, create_dirs: bool) -> Result<OwnedFd> {
    let c = sys::cstr(root).map_err(|e| Error::os(format!("open root {}", root.display()), e))?;
    let root_fd = sys::openat(libc::AT_FDCWD, &c, libc::O_PATH | libc::O_DIRECTORY, 0).map_err(|e| Error::os(format!("open root {}", root.display()), e))?;
    open_in_root(root_fd.as_fd(), path, Kind::Dir, create_dirs).map_err(|e| Error::os(format!("open {} in {}", path.display(), root.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("berth-safepath-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn components_drop_root_and_dot() {
        let c = rel_components(Path::new("/a/./b/../c/"));
        assert_eq!(c, vec!["a", "b", "..", "c"].into_iter().map(OsString::from).collect::<Vec<_>>());
    }

    #[test]
    fn creates_missing_dirs_and_files_inside_root() {
        let d = tempdir("create");
        let fd = open_dir_in_root(&d, Path::new("/x/y/z"), true).unwrap();
        drop(fd);
        assert!(d.join("x/y/z").is_dir());
        let root = sys::openat(libc::AT_FDCWD, &sys::cstr(&d).unwrap(), libc::O_PATH, 0).unwrap();
        open_in_root(root.as_fd(), Path::new("x/f"), Kind::File, true).unwrap();
        assert!(d.join("x/f").is_file());
        // A file where a directory is wanted is an error, not a silent success.
        let e = open_in_root(root.as_fd(), Path::new("x/f"), Kind::Dir, true).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTDIR));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn dangling_symlinks_resolve_inside_root() {
        let d = tempdir("links");
        let outside = tempdir("outside");
        let target = outside.join("gone");
        symlink(&target, d.join("evil")).unwrap();
        symlink("../../..", d.join("up")).unwrap();
        open_dir_in_root(&d, Path::new("/evil/sub"), true).unwrap();
        assert!(!target.exists(), "created outside the root");
        assert!(d.join(target.strip_prefix("/").unwrap()).join("sub").is_dir());
        open_dir_in_root(&d, Path::new("/up/tmp2"), true).unwrap();
        assert!(d.join("tmp2").is_dir());
        assert!(open_dir_in_root(&d, Path::new("/missing"), false).is_err());
        std::fs::remove_dir_all(&d).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }
}
