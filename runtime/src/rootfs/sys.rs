//! Thin, checked wrappers over the mount-related syscalls the rootfs code uses.
//!
//! Each wrapper returns `io::Result` so that callers attach the step and the
//! config field; none of them allocate beyond the C strings they need.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `struct mount_attr` from linux/mount.h (libc does not export it).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

pub(crate) const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub(crate) const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub(crate) const MOUNT_ATTR_NODEV: u64 = 0x4;
pub(crate) const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub(crate) const MOUNT_ATTR__ATIME: u64 = 0x70;
pub(crate) const MOUNT_ATTR_RELATIME: u64 = 0x0;
pub(crate) const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub(crate) const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub(crate) const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub(crate) const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// `struct open_how` from linux/openat2.h; libc's copy is non-exhaustive.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE_NO_XDEV: u64 = 0x01;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// How `openat2` may resolve a path.
#[derive(Clone, Copy)]
pub(crate) enum Resolve {
    /// Symlinks resolve as if the dirfd were `/`; `..` cannot climb above it.
    InRoot,
    /// A single fresh component: no symlink may be followed at all.
    Plain,
    /// Inside one mount: plain symlinks (like procfs's `self`) may be
    /// followed, but no magic links, no `..` above the dirfd and no mount
    /// crossings — what a write into /proc needs so that nothing the
    /// container mounted or linked can redirect it.
    SameMount,
    /// Beneath the dirfd, no symlink followed, mount points may be crossed.
    NoSymlinks,
}

pub(crate) fn cstr(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn cvt(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `openat2(dirfd, path, flags | O_CLOEXEC, ...)`.
pub(crate) fn openat2(dirfd: BorrowedFd, path: &Path, flags: libc::c_int, mode: u32, how: Resolve) -> io::Result<OwnedFd> {
    let resolve = match how {
        Resolve::InRoot => RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        Resolve::Plain => RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        Resolve::SameMount => RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        Resolve::NoSymlinks => RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    let how = OpenHow { flags: (flags | libc::O_CLOEXEC) as u64, mode: mode as u64, resolve };
    let path = if path.as_os_str().is_empty() { Path::new(".") } else { path };
    let c = cstr(path)?;
    // SAFETY: `c` is a NUL-terminated string and `how` a properly sized
    // `open_how` that both outlive the call; the kernel only reads them.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_openat2, dirfd.as_raw_fd(), c.as_ptr(), &how as *const OpenHow, std::mem::size_of::<OpenHow>()) })?;
    // SAFETY: the syscall succeeded, so `fd` is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Plain `openat` (used on the host side and after pivot).
pub(crate) fn openat(dirfd: RawFd, path: &CStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated and lives across the call.
    let fd = unsafe { libc::openat(dirfd, path.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) };
    cvt(fd as libc::c_long)?;
    // SAFETY: openat succeeded, so `fd` is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The magic-link path that names an open descriptor, for syscalls that only take paths.
pub(crate) fn fd_path(fd: BorrowedFd) -> CString {
    CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("no NUL in a number")
}

/// `fstat` of an open descriptor (O_PATH ones included).
pub(crate) fn fstat(fd: BorrowedFd) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is a writable stat buffer the kernel fills on success.
    check(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded and initialised the buffer.
    Ok(unsafe { st.assume_init() })
}

/// The nearest ancestor of `path` (itself included) that is the root of a
/// mount: the mount point of the mount `path` lives on. Asked of the
/// kernel with `statx` (STATX_ATTR_MOUNT_ROOT, Linux 5.8), without
/// following a final symlink.
pub(crate) fn mount_point_of(path: &Path) -> io::Result<std::path::PathBuf> {
    let mut p = path;
    loop {
        let c = cstr(p)?;
        let mut st = std::mem::MaybeUninit::<libc::statx>::uninit();
        // SAFETY: `c` is NUL-terminated and `st` a writable statx buffer.
        check(unsafe { libc::statx(libc::AT_FDCWD, c.as_ptr(), libc::AT_SYMLINK_NOFOLLOW, 0, st.as_mut_ptr()) })?;
        // SAFETY: statx succeeded and filled the buffer.
        let st = unsafe { st.assume_init() };
        let known = st.stx_attributes_mask & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0;
        if !known {
            return Err(io::Error::from_raw_os_error(libc::ENOSYS));
        }
        if st.stx_attributes & libc::STATX_ATTR_MOUNT_ROOT as u64 != 0 {
            return Ok(p.to_path_buf());
        }
        p = p.parent().unwrap_or(Path::new("/"));
    }
}

/// The filesystem magic of an open descriptor (`fstatfs`'s f_type).
pub(crate) fn fs_type(fd: BorrowedFd) -> io::Result<i64> {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `st` is a writable statfs buffer the kernel fills on success.
    check(unsafe { libc::fstatfs(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // f_type's width differs across architectures.
    #[allow(clippy::unnecessary_cast)]
    // SAFETY: fstatfs succeeded and initialised the buffer.
    Ok(unsafe { st.assume_init() }.f_type as i64)
}

/// A detached copy of the mount at the open descriptor `fd` (the file
/// itself, not the path that led to it): `open_tree(OPEN_TREE_CLONE)`.
pub(crate) fn clone_tree(fd: BorrowedFd) -> io::Result<OwnedFd> {
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_EMPTY_PATH as libc::c_uint;
    // SAFETY: the path is an empty NUL-terminated literal; `fd` is open.
    let ret = cvt(unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) })?;
    // SAFETY: open_tree succeeded, so `ret` is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// open_tree: copy the mount into a new detached tree.
const OPEN_TREE_CLONE: libc::c_uint = 1;

/// A detached copy (open_tree OPEN_TREE_CLONE) of the mount at `path`,
/// with the mounts below it when `recursive`: a bind source held open.
pub(crate) fn clone_path(path: &Path, recursive: bool) -> io::Result<OwnedFd> {
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    let c = cstr(path)?;
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    let ret = cvt(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) })?;
    // SAFETY: open_tree succeeded, so `ret` is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// Attach the detached mount `tree` at `target` (a path; `move_mount`).
pub(crate) fn attach_tree(tree: BorrowedFd, target: &CStr) -> io::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
    // SAFETY: both paths are NUL-terminated; `tree` is an open mount fd.
    cvt(unsafe { libc::syscall(libc::SYS_move_mount, tree.as_raw_fd(), c"".as_ptr(), libc::AT_FDCWD, target.as_ptr(), MOVE_MOUNT_F_EMPTY_PATH) }).map(drop)
}

/// Attach the detached mount `tree` onto the directory or file open as
/// `target` (`move_mount` with both paths empty: the kernel refuses a
/// /proc/self/fd magic link as the target path).
pub(crate) fn attach_tree_at(tree: BorrowedFd, target: BorrowedFd) -> io::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    let flags = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: both paths are empty NUL-terminated literals; both descriptors are open.
    cvt(unsafe { libc::syscall(libc::SYS_move_mount, tree.as_raw_fd(), c"".as_ptr(), target.as_raw_fd(), c"".as_ptr(), flags) }).map(drop)
}

/// `mount(2)`; `None` arguments become NULL pointers.
pub(crate) fn mount(source: Option<&CStr>, target: &CStr, fstype: Option<&CStr>, flags: libc::c_ulong, data: Option<&CStr>) -> io::Result<()> {
    let ptr = |s: Option<&CStr>| s.map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: every non-null pointer is a NUL-terminated string borrowed for
    // the duration of the call.
    let ret = unsafe { libc::mount(ptr(source), target.as_ptr(), ptr(fstype), flags, ptr(data).cast()) };
    cvt(ret as libc::c_long).map(drop)
}

/// `mount_setattr(dirfd, path, flags, attr)`.
pub(crate) fn mount_setattr(dirfd: RawFd, path: &CStr, flags: libc::c_uint, attr: &MountAttr) -> io::Result<()> {
    // SAFETY: `path` is NUL-terminated, `attr` is a `struct mount_attr` of the
    // size we pass; both outlive the call and are only read by the kernel.
    let ret = unsafe { libc::syscall(libc::SYS_mount_setattr, dirfd, path.as_ptr(), flags, attr as *const MountAttr, std::mem::size_of::<MountAttr>()) };
    cvt(ret).map(drop)
}

/// `fstatvfs(fd).f_flag`: the flags of the mount the descriptor lives on.
pub(crate) fn mount_flags(fd: BorrowedFd) -> io::Result<libc::c_ulong> {
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `st` is a writable statvfs buffer the kernel fills on success.
    let ret = unsafe { libc::fstatvfs(fd.as_raw_fd(), st.as_mut_ptr()) };
    cvt(ret as libc::c_long)?;
    // SAFETY: fstatvfs succeeded and initialised the buffer.
    Ok(unsafe { st.assume_init() }.f_flag)
}

/// Translate statvfs flags into the mount(2) flags a bind remount must keep:
/// a mount inherited from a more privileged user namespace has these locked,
/// and a remount that would clear one fails with EPERM.
pub(crate) fn locked_flags(st_flags: libc::c_ulong) -> libc::c_ulong {
    const MAP: &[(libc::c_ulong, libc::c_ulong)] = &[
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ];
    MAP.iter().filter(|(st, _)| st_flags & st != 0).fold(0, |acc, (_, ms)| acc | ms)
}

/// Run a path-taking libc call on `path`, turning -1 into the last OS error.
pub(crate) fn check(ret: libc::c_int) -> io::Result<()> {
    cvt(ret as libc::c_long).map(drop)
}
