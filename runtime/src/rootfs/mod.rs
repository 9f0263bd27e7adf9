//! Root filesystem setup: propagation, the `mounts` array, devices,
//! pivot_root, and the masked and read-only paths.
//!
//! Called from the container's init process, already in its own mount
//! namespace, in this order: [`prepare`] (before the createContainer hooks),
//! [`pivot`] (after them), [`mount_console`] (with a terminal), then
//! [`finalize`] (after sysctls).
//!
//! Paths inside the container are always resolved with
//! `openat2(RESOLVE_IN_ROOT)` against one `O_PATH` descriptor of the rootfs
//! and mounted onto through `/proc/self/fd/N`: a symlink in the image can
//! never redirect a mount or a mkdir to the host.

mod copyup;
mod devices;
pub mod inherited;
mod mounts;
pub use mounts::open_bind_sources;
mod nopivot;
mod options;
mod safepath;
pub(crate) mod sys;

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub use safepath::open_dir_in_root;

/// Mount option names Berth acts on (`berth features` lists them).
pub fn mount_option_names() -> Vec<&'static str> {
    options::names()
}

/// A cgroup hierarchy to expose inside the container when config has a
/// mount of type "cgroup" or "cgroup2".
#[derive(Debug, Clone)]
pub struct CgroupMount {
    /// Directory name under /sys/fs/cgroup on the host, e.g. "memory",
    /// "cpu,cpuacct", "systemd", "unified".
    pub name: String,
    /// Mount options of that v1 hierarchy (e.g. "memory", "cpu,cpuacct",
    /// "none,name=systemd"); empty for a cgroup2 hierarchy.
    pub options: String,
    /// The container's own cgroup directory on the host for that hierarchy,
    /// e.g. /sys/fs/cgroup/memory/berth-test/c1.
    pub host_path: PathBuf,
}

/// Everything the rootfs steps need to know about the container.
pub struct RootfsCtx<'a> {
    /// The container's configuration.
    pub spec: &'a oci_spec::runtime::Spec,
    /// Absolute bundle directory (relative bind sources resolve against it).
    pub bundle: &'a Path,
    /// Absolute, canonical rootfs directory on the host.
    pub rootfs: &'a Path,
    /// True when the container runs in a new or joined user namespace:
    /// device nodes are bound from the host and remounts keep locked flags.
    pub in_userns: bool,
    /// --no-pivot: MS_MOVE the rootfs onto / and chroot instead of pivot_root.
    pub no_pivot: bool,
    /// No mount namespace of the container's own: the mounts are made in
    /// the caller's (see [`inherited`]), whose propagation is left alone,
    /// and the process is chrooted, not pivoted.
    pub host_mountns: bool,
    /// process.terminal: create an empty /dev/console to bind the pty onto.
    pub terminal: bool,
    /// Whether the container has its own cgroup namespace.
    pub cgroupns: bool,
    /// Hierarchies for "cgroup"/"cgroup2" mounts (empty if the container has
    /// no cgroup).
    pub cgroups: &'a [CgroupMount],
    /// `context="<linux.mountLabel>"` for filesystems that take it (SELinux
    /// hosts only; the caller refuses a label elsewhere).
    pub mount_context: Option<&'a str>,
    /// In a user namespace: the bind entries' sources, opened on the host by
    /// `create` ([`open_bind_sources`]), one per bind entry in order; empty
    /// otherwise (sources are then looked up by path).
    pub bind_trees: &'a [std::os::fd::OwnedFd],
    /// Waits until the process is in its cgroups (and cgroup namespace):
    /// called before the first cgroup mount (the caller calls it later
    /// otherwise).
    pub place: &'a dyn Fn() -> Result<()>,
}

/// What `linux.rootfsPropagation` asks of the mounts, step by step
/// (config-linux.md "Rootfs Mount Propagation"; runc's order).
#[derive(Debug, PartialEq, Eq)]
struct Propagation {
    /// On "/" before anything is mounted.
    root: libc::c_ulong,
    /// Make the mount holding the rootfs private before binding the rootfs
    /// onto itself: "/" then still shares the host's peer groups, and the
    /// bind (and everything mounted on it) would appear on the host.
    private_parent: bool,
    /// On the rootfs mount before pivot_root.
    rootfs: Option<libc::c_ulong>,
    /// On the container's "/" once all of Berth's own mounts are made:
    /// pivot_root refuses a shared new root, so sharing comes after it.
    new_root: Option<libc::c_ulong>,
}

fn propagation_plan(value: Option<&str>) -> Result<Propagation> {
    use libc::{MS_PRIVATE, MS_REC, MS_SHARED, MS_SLAVE, MS_UNBINDABLE};
    let plain = |root| Propagation { root, private_parent: false, rootfs: None, new_root: None };
    Ok(match value.unwrap_or("") {
        "" | "slave" | "rslave" => plain(MS_SLAVE | MS_REC),
        "private" | "rprivate" => plain(MS_PRIVATE | MS_REC),
        // Shared: the container's mounts stay in the host's peer groups, so
        // an rshared bind propagates both ways (Docker `-v a:b:rshared`).
        "shared" => Propagation { root: MS_SHARED, private_parent: true, rootfs: None, new_root: Some(MS_SHARED) },
        "rshared" => Propagation { root: MS_SHARED | MS_REC, private_parent: true, rootfs: None, new_root: Some(MS_SHARED | MS_REC) },
        // An unbindable "/" would make the rootfs self-bind fail.
        "unbindable" => Propagation { rootfs: Some(MS_UNBINDABLE), ..plain(MS_PRIVATE | MS_REC) },
        "runbindable" => Propagation { rootfs: Some(MS_UNBINDABLE | MS_REC), ..plain(MS_PRIVATE | MS_REC) },
        other => return Err(Error::msg(format!("unknown rootfs propagation {other:?}")).field("linux.rootfsPropagation")),
    })
}

fn is_dest(m: &oci_spec::runtime::Mount, path: &str) -> bool {
    safepath::rel_components(m.destination()) == safepath::rel_components(Path::new(path))
}

/// Before the createContainer hooks (cwd and root are still the host's):
/// make "/" a recursive slave (or per `linux.rootfsPropagation`), bind the
/// rootfs onto itself, mount every `mounts` entry in order, then create the
/// devices, the /dev symlinks and (with a terminal) an empty /dev/console.
///
/// Like runc, the default devices and /dev symlinks are skipped when the
/// config bind-mounts something onto /dev; `linux.devices` entries are always
/// created (an existing node that matches is accepted).
pub fn prepare(ctx: &RootfsCtx) -> Result<()> {
    let linux = ctx.spec.linux().as_ref();
    let prop = propagation_plan(linux.and_then(|l| l.rootfs_propagation().as_deref()))?;
    if ctx.host_mountns {
        // The host's mounts are not ours to change.
        if prop != propagation_plan(None)? {
            log::warn!("linux.rootfsPropagation is ignored: the container has no mount namespace of its own");
        }
    } else {
        sys::mount(None, c"/", None, prop.root, None).map_err(|e| Error::os("set propagation of /", e).field("linux.rootfsPropagation"))?;
    }
    if prop.private_parent && !ctx.host_mountns {
        let at = sys::mount_point_of(ctx.rootfs).map_err(|e| Error::os(format!("find the mount holding {}", ctx.rootfs.display()), e).field("root.path"))?;
        let c = sys::cstr(&at).map_err(|e| Error::os("mount point path", e))?;
        sys::mount(None, &c, None, libc::MS_PRIVATE, None)
            .map_err(|e| Error::os(format!("make {} private", at.display()), e).field("linux.rootfsPropagation"))?;
    }

    let rootfs = sys::cstr(ctx.rootfs).map_err(|e| Error::os("rootfs path", e))?;
    sys::mount(Some(&rootfs), &rootfs, None, libc::MS_BIND | libc::MS_REC, None)
        .map_err(|e| Error::os(format!("bind rootfs {} onto itself", ctx.rootfs.display()), e).field("root.path"))?;
    // Opened after the bind so that every lookup starts on the new mount.
    let root = sys::openat(libc::AT_FDCWD, &rootfs, libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(|e| Error::os(format!("open rootfs {}", ctx.rootfs.display()), e).field("root.path"))?;

    let mounts = ctx.spec.mounts().as_deref().unwrap_or(&[]);
    let mut trees = ctx.bind_trees.iter();
    for (i, m) in mounts.iter().enumerate() {
        if matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")) {
            (ctx.place)()?;
        }
        let tree = if mounts::is_bind_entry(m) { trees.next().map(|t| t.as_fd()) } else { None };
        mounts::mount_entry(ctx, root.as_fd(), i, m, tree)?;
    }

    let dev_is_bind =
        mounts.iter().any(|m| is_dest(m, "/dev") && (m.typ().as_deref() == Some("bind") || m.options().iter().flatten().any(|o| o == "bind" || o == "rbind")));
    let pts_mounted = mounts.iter().any(|m| is_dest(m, "/dev/pts"));
    devices::setup(ctx, root.as_fd(), !dev_is_bind, pts_mounted)?;
    // A read-only /dev tmpfs (mounted writable so that what goes under it
    // could be made: see mounts.rs) is made read-only now, as runc does.
    let dev_tmpfs_ro = mounts.iter().enumerate().rev().find(|(_, m)| is_dest(m, "/dev")).filter(|(_, m)| {
        m.typ().as_deref() == Some("tmpfs") && options::MountOptions::parse(m.options().as_deref().unwrap_or(&[])).flags & libc::MS_RDONLY != 0
    });
    if let Some((i, _)) = dev_tmpfs_ro {
        let field = format!("mounts[{i}]");
        let dev =
            sys::openat2(root.as_fd(), Path::new("dev"), libc::O_PATH, 0, sys::Resolve::InRoot).map_err(|e| Error::os("open /dev", e).field(field.clone()))?;
        mounts::readonly(dev.as_fd()).map_err(|e| Error::os("make the /dev tmpfs read-only", e).field(field))?;
    }

    if let Some(flags) = prop.rootfs.filter(|_| !ctx.host_mountns) {
        // Last, so that (with the r-variants) it covers every mount above.
        sys::mount(None, &rootfs, None, flags, None).map_err(|e| Error::os("set rootfs propagation", e).field("linux.rootfsPropagation"))?;
    }
    Ok(())
}

/// After the createContainer hooks: make the rootfs the process's root
/// (pivot_root, or MS_MOVE + chroot with `no_pivot`) and chdir to "/".
pub fn pivot(ctx: &RootfsCtx) -> Result<()> {
    let rootfs = sys::cstr(ctx.rootfs).map_err(|e| Error::os("rootfs path", e))?;
    // SAFETY: `rootfs` is a NUL-terminated path.
    sys::check(unsafe { libc::chdir(rootfs.as_ptr()) }).map_err(|e| Error::os(format!("chdir to {}", ctx.rootfs.display()), e))?;
    if ctx.host_mountns {
        // pivot_root would change the root of every process of the
        // caller's namespace: a chroot into the rootfs bind instead.
        // SAFETY: "." is a NUL-terminated literal.
        sys::check(unsafe { libc::chroot(c".".as_ptr()) }).map_err(|e| Error::os("chroot into rootfs", e))?;
    } else if ctx.no_pivot {
        // Moving onto a shared "/" (rootfsPropagation shared) would put a
        // copy of the rootfs on the host's "/": detach "/" from its peers.
        sys::mount(None, c"/", None, libc::MS_PRIVATE, None).map_err(|e| Error::os("make / private", e))?;
        nopivot::hide_host_kernel_filesystems(ctx.rootfs)?;
        sys::mount(Some(&rootfs), c"/", None, libc::MS_MOVE, None).map_err(|e| Error::os("move rootfs onto /", e))?;
        // SAFETY: "." is a NUL-terminated literal.
        sys::check(unsafe { libc::chroot(c".".as_ptr()) }).map_err(|e| Error::os("chroot into rootfs", e))?;
    } else {
        // The old root, held open: after pivot_root the cwd is the new
        // root, and "." would name the new root's tree, not the old one.
        let old_root = sys::openat(libc::AT_FDCWD, c"/", libc::O_PATH | libc::O_DIRECTORY, 0).map_err(|e| Error::os("open the old root", e))?;
        // pivot_root(".", ".") stacks the old root on top of the new one, so
        // no directory for it is needed inside the rootfs.
        // SAFETY: both arguments are NUL-terminated literals.
        let ret = unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) };
        sys::check(ret as libc::c_int).map_err(|e| Error::os("pivot_root", e))?;
        // SAFETY: fchdir on a directory descriptor we own.
        sys::check(unsafe { libc::fchdir(std::os::fd::AsRawFd::as_raw_fd(&old_root)) }).map_err(|e| Error::os("chdir to the old root", e))?;
        drop(old_root);
        // If the old root were shared (rootfsPropagation), detaching it
        // would propagate the unmount to the host: cut that link first.
        // Only the old root's tree: the container's own mounts keep what
        // their options and rootfsPropagation gave them.
        sys::mount(None, c".", None, libc::MS_SLAVE | libc::MS_REC, None).map_err(|e| Error::os("make old root a slave", e))?;
        // SAFETY: "." is a NUL-terminated literal.
        sys::check(unsafe { libc::umount2(c".".as_ptr(), libc::MNT_DETACH) }).map_err(|e| Error::os("detach old root", e))?;
    }
    // SAFETY: "/" is a NUL-terminated literal.
    sys::check(unsafe { libc::chdir(c"/".as_ptr()) }).map_err(|e| Error::os("chdir to /", e))
}

/// After pivot: bind the pty slave, given as an open descriptor, onto
/// /dev/console (which [`prepare`] created when `terminal` was set).
///
/// The target is opened without following any symlink and must still be the
/// placeholder (a regular file) or a character device: a /dev/console that
/// something in the container swapped for a symlink would otherwise have the
/// pty mounted over a path of the attacker's choosing (CVE-2025-52565).
pub fn mount_console(slave: BorrowedFd) -> Result<()> {
    let root = sys::openat(libc::AT_FDCWD, c"/", libc::O_PATH | libc::O_DIRECTORY, 0).map_err(|e| Error::os("open / to find /dev/console", e))?;
    let target = sys::openat2(root.as_fd(), Path::new("dev/console"), libc::O_PATH, 0, sys::Resolve::NoSymlinks)
        .map_err(|e| Error::os("open /dev/console without following symlinks", e))?;
    let kind = sys::fstat(target.as_fd()).map_err(|e| Error::os("stat /dev/console", e))?.st_mode & libc::S_IFMT;
    if kind != libc::S_IFREG && kind != libc::S_IFCHR {
        return Err(Error::msg("/dev/console is neither the placeholder file nor a device; refusing to mount the console on it"));
    }
    sys::mount(Some(&sys::fd_path(slave)), &sys::fd_path(target.as_fd()), None, libc::MS_BIND, None)
        .map_err(|e| Error::os("bind the console onto /dev/console", e))
}

/// The container's /dev/null, opened without following a symlink and checked
/// to be the null device (1:3). Masking binds this very file, never a path:
/// a /dev/null swapped for a symlink would otherwise put an attacker-chosen
/// file (say /proc/sys/kernel/core_pattern) writable over every masked path
/// (CVE-2025-31133).
fn open_dev_null() -> Result<std::os::fd::OwnedFd> {
    let fd = sys::openat(libc::AT_FDCWD, c"/dev/null", libc::O_PATH | libc::O_NOFOLLOW, 0).map_err(|e| Error::os("open /dev/null to mask paths", e))?;
    let st = sys::fstat(fd.as_fd()).map_err(|e| Error::os("stat /dev/null", e))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
        return Err(Error::msg("/dev/null in the container is not the null device (1:3); refusing to mask paths with it").field("linux.maskedPaths"));
    }
    Ok(fd)
}

/// Make the mount at `path` (already a mount) read-only, keeping its other
/// flags.
///
/// mount_setattr only touches the bits it is given, so nothing locked can be
/// dropped by mistake and no statvfs is needed; before Linux 5.12 fall back
/// to a bind remount that carries the existing flags along.
fn make_readonly(path: &std::ffi::CStr) -> std::io::Result<()> {
    let fd = sys::openat(libc::AT_FDCWD, path, libc::O_PATH, 0)?;
    mounts::readonly(fd.as_fd())
}

/// After pivot and sysctls: `linux.readonlyPaths` (bound onto themselves,
/// then read-only), `linux.maskedPaths` (a file gets /dev/null bound over
/// it, a directory a read-only empty tmpfs), then `root.readonly`. Missing
/// paths are skipped.
pub fn finalize(ctx: &RootfsCtx) -> Result<()> {
    let linux = ctx.spec.linux().as_ref();
    for (i, p) in linux.and_then(|l| l.readonly_paths().as_deref()).unwrap_or(&[]).iter().enumerate() {
        let field = || format!("linux.readonlyPaths[{i}]");
        let c = sys::cstr(Path::new(p)).map_err(|e| Error::os(format!("read-only path {p}"), e).field(field()))?;
        match sys::mount(Some(&c), &c, None, libc::MS_BIND | libc::MS_REC, None) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            r => r.map_err(|e| Error::os(format!("bind {p} onto itself"), e).field(field()))?,
        }
        make_readonly(&c).map_err(|e| Error::os(format!("make {p} read-only"), e).field(field()))?;
    }
    let masked = linux.and_then(|l| l.masked_paths().as_deref()).unwrap_or(&[]);
    let null = if masked.is_empty() { None } else { Some(open_dev_null()?) };
    // A detached clone of the checked /dev/null mount; a new one is cloned
    // only after one has been attached (a failed attach leaves it unused).
    let mut spare: Option<std::os::fd::OwnedFd> = None;
    for (i, p) in masked.iter().enumerate() {
        let field = || format!("linux.maskedPaths[{i}]");
        let c = sys::cstr(Path::new(p)).map_err(|e| Error::os(format!("masked path {p}"), e).field(field()))?;
        // Try the file case first: it is the common one. A clone of the
        // checked /dev/null mount is attached, so no path is looked up for
        // the source (and no /proc is needed).
        let null = null.as_ref().expect("opened when there are masked paths");
        let tree = match spare.take() {
            Some(t) => t,
            None => sys::clone_tree(null.as_fd()).map_err(|e| Error::os("clone the /dev/null mount", e).field(field()))?,
        };
        match sys::attach_tree(tree.as_fd(), &c) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => spare = Some(tree),
            // move_mount refuses a file onto a directory with EINVAL.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTDIR | libc::EINVAL)) => {
                spare = Some(tree);
                let flags = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
                sys::mount(Some(c"tmpfs"), &c, Some(c"tmpfs"), flags, Some(c"size=0,mode=755"))
                    .map_err(|e| Error::os(format!("mask directory {p}"), e).field(field()))?;
            }
            Err(e) => return Err(Error::os(format!("mask {p}"), e).field(field())),
        }
    }
    if ctx.spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false) {
        make_readonly(c"/").map_err(|e| Error::os("make / read-only", e).field("root.readonly"))?;
    }
    // Last, so that none of our own mounts above travels to a peer.
    if let Some(flags) = propagation_plan(linux.and_then(|l| l.rootfs_propagation().as_deref()))?.new_root.filter(|_| !ctx.host_mountns) {
        sys::mount(None, c"/", None, flags, None).map_err(|e| Error::os("set propagation of the container's /", e).field("linux.rootfsPropagation"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn propagation_steps() {
        use libc::{MS_PRIVATE, MS_REC, MS_SHARED, MS_SLAVE, MS_UNBINDABLE};
        let p = propagation_plan(None).unwrap();
        assert_eq!(p, Propagation { root: MS_SLAVE | MS_REC, private_parent: false, rootfs: None, new_root: None });
        // Shared: never before pivot_root (it refuses a shared new root),
        // and the rootfs' own mount is made private so its bind stays ours.
        let p = propagation_plan(Some("rshared")).unwrap();
        assert_eq!(p, Propagation { root: MS_SHARED | MS_REC, private_parent: true, rootfs: None, new_root: Some(MS_SHARED | MS_REC) });
        assert_eq!(propagation_plan(Some("shared")).unwrap().new_root, Some(MS_SHARED));
        for v in ["private", "rprivate", "slave", "rslave", "unbindable", "runbindable"] {
            let p = propagation_plan(Some(v)).unwrap();
            assert_eq!(p.root & (MS_SHARED | MS_UNBINDABLE), 0, "{v}");
            assert!(p.new_root.is_none() && !p.private_parent, "{v}");
        }
        assert_eq!(propagation_plan(Some("runbindable")).unwrap().rootfs, Some(MS_UNBINDABLE | MS_REC));
        assert_eq!(propagation_plan(Some("private")).unwrap().root, MS_PRIVATE | MS_REC);
        assert!(propagation_plan(Some("bogus")).is_err());
    }

    #[test]
    fn mount_point_of_a_path() {
        assert_eq!(sys::mount_point_of(Path::new("/proc/self/status")).unwrap(), Path::new("/proc"));
        assert_eq!(sys::mount_point_of(Path::new("/proc")).unwrap(), Path::new("/proc"));
        assert_eq!(sys::mount_point_of(Path::new("/")).unwrap(), Path::new("/"));
    }
}
