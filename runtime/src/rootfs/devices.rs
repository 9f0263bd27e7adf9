//! Device nodes, the `/dev` symlinks and the console placeholder.
//!
//! Outside a user namespace nodes are made with mknod; inside one mknod of a
//! device is refused, so an empty file is created and the host's node is
//! bound onto it.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::safepath::{open_in_root, Kind};
use super::sys::{self, fd_path};
use super::RootfsCtx;
use crate::error::{Error, Result};

/// The devices every container gets (config-linux.md "Default Devices").
const DEFAULT_DEVICES: &[(&str, u32, u32)] = &[("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

/// runtime-linux.md "Dev symbolic links": (target, name under /dev).
const DEV_LINKS: &[(&str, &str)] = &[("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"), ("/proc/self/fd/2", "stderr")];

/// One node to create.
struct Node<'a> {
    /// Path inside the container (also the host node bound in a user namespace).
    path: &'a Path,
    /// File type bits (S_IFCHR, ...) and permissions.
    mode: libc::mode_t,
    dev: libc::dev_t,
    uid: u32,
    gid: u32,
}

/// Create the default devices and `/dev` links (when `setup_dev`), every
/// `linux.devices` entry, and `/dev/console` when a terminal is used.
pub(crate) fn setup(ctx: &RootfsCtx, root: BorrowedFd, setup_dev: bool, pts_mounted: bool) -> Result<()> {
    let devices: &[LinuxDevice] = ctx.spec.linux().as_ref().and_then(|l| l.devices().as_deref()).unwrap_or(&[]);
    if !setup_dev && devices.is_empty() && !ctx.terminal {
        return Ok(());
    }
    let dev = open_in_root(root, Path::new("dev"), Kind::Dir, true).map_err(|e| Error::os("open /dev in the rootfs", e))?;
    // The modes in the config are exact; the umask must not trim them.
    // SAFETY: umask cannot fail and only changes this process's mask.
    let old_mask = unsafe { libc::umask(0) };
    let res = make_nodes(ctx, root, dev.as_fd(), devices, setup_dev);
    // SAFETY: as above; restores the caller's mask.
    unsafe { libc::umask(old_mask) };
    res?;
    if setup_dev {
        links(dev.as_fd(), pts_mounted)?;
    }
    if ctx.terminal {
        // A plain file for the pty to be bound onto after pivot; an existing
        // file (even a device) is left alone and never opened.
        // SAFETY: the name is a NUL-terminated literal, `dev` an open directory fd.
        match sys::check(unsafe { libc::mknodat(dev.as_raw_fd(), c"console".as_ptr(), libc::S_IFREG | 0o666, 0) }) {
            Err(e) if e.raw_os_error() != Some(libc::EEXIST) => return Err(Error::os("create /dev/console", e)),
            _ => {}
        }
    }
    Ok(())
}

fn make_nodes(ctx: &RootfsCtx, root: BorrowedFd, dev: BorrowedFd, devices: &[LinuxDevice], setup_dev: bool) -> Result<()> {
    if setup_dev {
        for &(name, major, minor) in DEFAULT_DEVICES {
            let path = format!("/dev/{name}");
            // A config entry for the same path wins.
            if devices.iter().any(|d| d.path() == Path::new(&path)) {
                continue;
            }
            let node = Node { path: Path::new(&path), mode: libc::S_IFCHR | 0o666, dev: libc::makedev(major, minor), uid: 0, gid: 0 };
            create(ctx, dev, Path::new(name), &node).map_err(|e| Error::os(format!("create device {path}"), e))?;
        }
    }
    for (i, d) in devices.iter().enumerate() {
        let field = || format!("linux.devices[{i}]");
        let path = d.path();
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => return Err(Error::msg(format!("device {}: type \"a\" is not a node type", path.display())).field(field())),
        };
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(Error::msg(format!("device path {} has no file name", path.display())).field(field()));
        };
        let node = Node {
            path,
            mode: kind | (d.file_mode().unwrap_or(0o666) & 0o7777),
            dev: if kind == libc::S_IFIFO { 0 } else { libc::makedev(d.major() as u32, d.minor() as u32) },
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        let step = || format!("create device {}", path.display());
        let parent_fd;
        let dir = if parent == Path::new("/dev") {
            dev
        } else {
            parent_fd = open_in_root(root, parent, Kind::Dir, true).map_err(|e| Error::os(step(), e).field(field()))?;
            parent_fd.as_fd()
        };
        create(ctx, dir, Path::new(name), &node).map_err(|e| Error::os(step(), e).field(field()))?;
    }
    Ok(())
}

/// Create one node named `name` in the directory `dir`.
fn create(ctx: &RootfsCtx, dir: BorrowedFd, name: &Path, node: &Node) -> io::Result<()> {
    let cname = sys::cstr(name)?;
    let is_device = node.mode & libc::S_IFMT != libc::S_IFIFO;
    if ctx.in_userns && is_device {
        let placeholder = match sys::openat(dir.as_raw_fd(), &cname, libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_RDONLY, 0) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => return check_existing(dir, &cname, node),
            Err(e) => return Err(e),
        };
        let host = sys::cstr(node.path)?;
        return bind_node(&host, placeholder);
    }
    // SAFETY: `cname` is NUL-terminated and `dir` an open directory fd.
    match sys::check(unsafe { libc::mknodat(dir.as_raw_fd(), cname.as_ptr(), node.mode, node.dev) }) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => return check_existing(dir, &cname, node),
        Err(e) => return Err(e),
    }
    // A fresh node is already ours (uid/gid 0): skip the chown then.
    if node.uid != 0 || node.gid != 0 {
        // SAFETY: as above; AT_SYMLINK_NOFOLLOW keeps chown on the node itself.
        sys::check(unsafe { libc::fchownat(dir.as_raw_fd(), cname.as_ptr(), node.uid, node.gid, libc::AT_SYMLINK_NOFOLLOW) })?;
    }
    Ok(())
}

fn bind_node(host: &std::ffi::CStr, placeholder: OwnedFd) -> io::Result<()> {
    sys::mount(Some(host), &fd_path(placeholder.as_fd()), None, libc::MS_BIND, None)
}

/// The spec allows an existing node only if it is the requested device.
fn check_existing(dir: BorrowedFd, name: &std::ffi::CStr, node: &Node) -> io::Result<()> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated, `st` a writable stat buffer.
    sys::check(unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), st.as_mut_ptr(), libc::AT_SYMLINK_NOFOLLOW) })?;
    // SAFETY: fstatat succeeded and filled the buffer.
    let st = unsafe { st.assume_init() };
    let same_type = st.st_mode & libc::S_IFMT == node.mode & libc::S_IFMT;
    if same_type && (node.mode & libc::S_IFMT == libc::S_IFIFO || st.st_rdev == node.dev) {
        return Ok(());
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "a different file already exists at this path"))
}

fn links(dev: BorrowedFd, pts_mounted: bool) -> Result<()> {
    let symlink = |target: &std::ffi::CStr, name: &std::ffi::CStr| {
        // SAFETY: both strings are NUL-terminated; `dev` is an open directory fd.
        sys::check(unsafe { libc::symlinkat(target.as_ptr(), dev.as_raw_fd(), name.as_ptr()) })
    };
    let ok_if_exists = |r: io::Result<()>| match r {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        r => r,
    };
    for &(target, name) in DEV_LINKS {
        let (t, n) = (sys::cstr(Path::new(target)).expect("no NUL"), sys::cstr(Path::new(name)).expect("no NUL"));
        ok_if_exists(symlink(&t, &n)).map_err(|e| Error::os(format!("symlink /dev/{name} -> {target}"), e))?;
    }
    // SAFETY: the path is a NUL-terminated literal; access only reads it.
    if unsafe { libc::access(c"/proc/kcore".as_ptr(), libc::F_OK) } == 0 {
        ok_if_exists(symlink(c"/proc/kcore", c"core")).map_err(|e| Error::os("symlink /dev/core -> /proc/kcore", e))?;
    }
    if pts_mounted {
        // The ptmx of the container's own devpts instance, not a host node.
        let mut r = symlink(c"pts/ptmx", c"ptmx");
        if matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EEXIST)) {
            // SAFETY: the name is a NUL-terminated literal; `dev` an open directory fd.
            r = sys::check(unsafe { libc::unlinkat(dev.as_raw_fd(), c"ptmx".as_ptr(), 0) }).and_then(|()| symlink(c"pts/ptmx", c"ptmx"));
        }
        r.map_err(|e| Error::os("symlink /dev/ptmx -> pts/ptmx", e))?;
    }
    Ok(())
}
