//! The `mounts` array: one config entry at a time, in order.
//!
//! Every destination is opened with [`open_in_root`] and mounted onto through
//! its `/proc/self/fd/N` path, so what we mount on is exactly what we
//! resolved inside the rootfs. Operations that must hit the *new* mount
//! (remount, propagation, recursive attributes) reopen the destination: a
//! magic link keeps pointing at the directory underneath it.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;

use super::options::MountOptions;
use super::safepath::{open_in_root, Kind};
use super::sys::{self, fd_path, MountAttr, Resolve};
use super::{CgroupMount, RootfsCtx};
use crate::error::{Error, Result};

const ATIME_MASK: libc::c_ulong = libc::MS_NOATIME | libc::MS_RELATIME | libc::MS_STRICTATIME | libc::MS_NODIRATIME;

/// Where a filesystem that a user namespace may not mount can be bound from.
const USERNS_FALLBACK: &[(&str, &str)] = &[("sysfs", "/sys"), ("mqueue", "/dev/mqueue")];

/// Everything one entry's error messages need.
struct Entry<'m> {
    index: usize,
    typ: &'m str,
    dest: &'m Path,
}

impl Entry<'_> {
    fn err(&self, e: io::Error) -> Error {
        Error::os(format!("mount {} on {}", self.typ, self.dest.display()), e).field(format!("mounts[{}]", self.index))
    }
    fn err_step(&self, step: &str, e: io::Error) -> Error {
        Error::os(format!("{step} for mount {} on {}", self.typ, self.dest.display()), e).field(format!("mounts[{}]", self.index))
    }
}

/// Whether `m` is a bind mount (by its type or its options).
pub(crate) fn is_bind_entry(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind") || MountOptions::parse(m.options().as_deref().unwrap_or(&[])).is_bind()
}

/// The host path a bind entry's source names: relative sources resolve
/// against the bundle directory.
fn bind_source(bundle: &Path, index: usize, m: &Mount) -> Result<PathBuf> {
    let src = m
        .source()
        .as_deref()
        .ok_or_else(|| Error::msg(format!("bind mount on {} has no source", m.destination().display())).field(format!("mounts[{index}]")))?;
    Ok(if src.is_absolute() { src.to_path_buf() } else { bundle.join(src) })
}

/// For a container in a user namespace, run by `create` on the host before
/// the init mounts anything: a detached copy (open_tree) of every bind
/// entry's source, in `mounts` order, one per bind entry. Looked up with
/// the host's credentials, so that a source the container's root could not
/// reach (below a 0700 directory of another owner) still mounts, as with
/// crun and runc 1.2.
pub fn open_bind_sources(spec: &oci_spec::runtime::Spec, bundle: &Path) -> Result<Vec<OwnedFd>> {
    let mut out = Vec::new();
    for (i, m) in spec.mounts().as_deref().unwrap_or(&[]).iter().enumerate().filter(|(_, m)| is_bind_entry(m)) {
        let src = bind_source(bundle, i, m)?;
        let recursive = MountOptions::parse(m.options().as_deref().unwrap_or(&[])).flags & libc::MS_REC != 0;
        let tree = sys::clone_path(&src, recursive).map_err(|err| {
            Error::os(format!("open source {} of the bind mount on {}", src.display(), m.destination().display()), err).field(format!("mounts[{i}]"))
        })?;
        out.push(tree);
    }
    Ok(out)
}

/// Mount `mounts[index]` under the rootfs open as `root`. `tree`: the
/// source of a bind entry, already opened on the host
/// ([`open_bind_sources`]).
pub(crate) fn mount_entry(ctx: &RootfsCtx, root: BorrowedFd, index: usize, m: &Mount, tree: Option<BorrowedFd>) -> Result<()> {
    let typ = m.typ().as_deref().unwrap_or("none");
    let e = Entry { index, typ, dest: m.destination() };
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
    if opts.idmap || m.uid_mappings().is_some() || m.gid_mappings().is_some() {
        return Err(Error::msg(format!("mount {typ} on {}: id-mapped mounts are not supported yet", e.dest.display())).field(format!("mounts[{index}]")));
    }
    let bind = opts.is_bind() || typ == "bind";
    let top = if bind {
        let src = bind_source(ctx.bundle, index, m)?;
        bind_mount(ctx, root, &e, &src, &opts, tree)?
    } else if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroup(ctx, root, &e, &opts);
    } else {
        let (dest, covered) = match typ {
            "tmpfs" => tmpfs_destination(root, &e)?,
            "proc" | "sysfs" => (ordinary_directory(root, &e)?, None),
            _ => (open_in_root(root, e.dest, Kind::Dir, true).map_err(|err| e.err(err))?, None),
        };
        let source = m.source().as_deref().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(typ));
        let mut data = opts.data.clone();
        // A tmpfs over an existing directory keeps its mode (and owner)
        // unless the options say otherwise, as runc and crun do: `docker run
        // --tmpfs /run` must not turn an image's 0755 /run into 1777.
        if let Some(st) = &covered {
            add_default(&mut data, "mode", &format!("{:o}", st.st_mode & 0o7777));
            if !ctx.in_userns {
                add_default(&mut data, "uid", &st.st_uid.to_string());
                add_default(&mut data, "gid", &st.st_gid.to_string());
            }
        }
        // With tmpcopyup, what the tmpfs covers is read through a
        // descriptor opened before the mount.
        let copy_from = match (&covered, opts.tmpcopyup) {
            (Some(_), true) => Some(
                sys::openat(dest.as_raw_fd(), c".", libc::O_RDONLY | libc::O_DIRECTORY, 0).map_err(|err| e.err_step("open the directory to copy up", err))?,
            ),
            _ => None,
        };
        // Filesystems whose files get a label from a mount option.
        let labelled = match ctx.mount_context {
            Some(c) if ["tmpfs", "devpts", "mqueue"].contains(&typ) => {
                if data.is_empty() {
                    c.to_string()
                } else {
                    format!("{data},{c}")
                }
            }
            _ => data,
        };
        let data = (!labelled.is_empty()).then(|| CString::new(labelled.as_str())).transpose().map_err(|_| e.err(einval()))?;
        // A read-only tmpfs is filled first (tmpcopyup here; the devices
        // when it is /dev, which prepare() makes read-only at its end) and
        // made read-only after, as runc does.
        let ro_later = typ == "tmpfs" && opts.flags & libc::MS_RDONLY != 0;
        let flags = if ro_later { opts.flags & !libc::MS_RDONLY } else { opts.flags };
        let res = sys::mount(Some(&sys::cstr(&source).map_err(|err| e.err(err))?), &fd_path(dest.as_fd()), Some(&cstring(typ)), flags, data.as_deref());
        let mut mounted = match res {
            Ok(()) => None,
            Err(err) if ctx.in_userns && err.raw_os_error() == Some(libc::EPERM) => {
                // A user namespace may not mount sysfs/mqueue it does not own
                // (e.g. no new netns): expose the host's instead, like runc.
                let Some((_, host)) = USERNS_FALLBACK.iter().find(|(t, _)| *t == typ) else { return Err(e.err(err)) };
                let mut o = opts.clone();
                o.flags |= libc::MS_BIND | libc::MS_REC;
                bind_onto(ctx, root, &e, Path::new(host), None, dest, &o)?
            }
            Err(err) => return Err(e.err(err)),
        };
        if let Some(from) = copy_from {
            let top = reopen(root, &e)?;
            let to = sys::openat(top.as_raw_fd(), c".", libc::O_RDONLY | libc::O_DIRECTORY, 0).map_err(|err| e.err_step("open the new tmpfs", err))?;
            super::copyup::copy_tree(from.as_fd(), to.as_fd()).map_err(|err| e.err_step("tmpcopyup", err))?;
            drop(to);
            mounted = Some(top);
        }
        if ro_later && !super::is_dest(m, "/dev") {
            let top = match mounted {
                Some(fd) => fd,
                None => reopen(root, &e)?,
            };
            readonly(top.as_fd()).map_err(|err| e.err_step("make the tmpfs read-only", err))?;
            mounted = Some(top);
        }
        mounted
    };
    if opts.propagation.is_empty() && opts.rec.is_empty() {
        return Ok(());
    }
    let top = match top {
        Some(fd) => fd,
        None => reopen(root, &e)?,
    };
    after_mount(top.as_fd(), &e, &opts)
}

/// Open a tmpfs destination, creating it if missing; the stat of the
/// directory it will cover when that existed before.
fn tmpfs_destination(root: BorrowedFd, e: &Entry) -> Result<(OwnedFd, Option<libc::stat>)> {
    match open_in_root(root, e.dest, Kind::Dir, false) {
        Ok(fd) => {
            let st = sys::fstat(fd.as_fd()).map_err(|err| e.err_step("stat destination", err))?;
            Ok((fd, Some(st)))
        }
        Err(err) if err.raw_os_error() == Some(libc::ENOENT) => Ok((open_in_root(root, e.dest, Kind::Dir, true).map_err(|err| e.err(err))?, None)),
        Err(err) => Err(e.err(err)),
    }
}

/// The destination of a proc or sysfs mount: a directory of the rootfs
/// itself, never a symlink (runc refuses one too): a rootfs whose /proc
/// points elsewhere would get the kernel's files where the masked and
/// read-only paths, and the runtime's own later steps, do not look. Made
/// when missing.
fn ordinary_directory(root: BorrowedFd, e: &Entry) -> Result<OwnedFd> {
    let not_dir = || Error::msg(format!("filesystem {:?} must be mounted on an ordinary directory: {} is not one", e.typ, e.dest.display()));
    match sys::openat2(root, e.dest, libc::O_PATH | libc::O_NOFOLLOW, 0, Resolve::InRoot) {
        Ok(fd) => {
            let st = sys::fstat(fd.as_fd()).map_err(|err| e.err_step("stat destination", err))?;
            if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
                return Err(not_dir().field(format!("mounts[{}]", e.index)));
            }
            Ok(fd)
        }
        Err(err) if err.raw_os_error() == Some(libc::ENOENT) => open_in_root(root, e.dest, Kind::Dir, true).map_err(|err| e.err(err)),
        Err(err) => Err(e.err(err)),
    }
}

/// Make the mount open as `top` read-only and change nothing else of it.
/// mount_setattr touches only the bits it is given; before Linux 5.12 a
/// bind remount carries the mount's other flags along.
pub(crate) fn readonly(top: BorrowedFd) -> io::Result<()> {
    let attr = MountAttr { attr_set: sys::MOUNT_ATTR_RDONLY, ..Default::default() };
    match sys::mount_setattr(top.as_raw_fd(), c"", libc::AT_EMPTY_PATH as libc::c_uint, &attr) {
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            let keep = sys::locked_flags(sys::mount_flags(top)?);
            bind_remount(top, keep | libc::MS_RDONLY, false)
        }
        r => r,
    }
}

/// Append `key=value` to comma-separated mount data unless `key` is set.
fn add_default(data: &mut String, key: &str, value: &str) {
    if data.split(',').any(|o| o.split_once('=').map_or(o, |(k, _)| k) == key) {
        return;
    }
    if !data.is_empty() {
        data.push(',');
    }
    data.push_str(key);
    data.push('=');
    data.push_str(value);
}

fn einval() -> io::Error {
    io::Error::from_raw_os_error(libc::EINVAL)
}

fn cstring(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

/// Open the destination again, now landing on the mount just made.
fn reopen(root: BorrowedFd, e: &Entry) -> Result<OwnedFd> {
    sys::openat2(root, e.dest, libc::O_PATH, 0, Resolve::InRoot).map_err(|err| e.err_step("reopen destination", err))
}

/// Propagation changes and recursive attributes, on the new mount.
fn after_mount(top: BorrowedFd, e: &Entry, opts: &MountOptions) -> Result<()> {
    let path = fd_path(top);
    for &flag in &opts.propagation {
        sys::mount(None, &path, None, flag, None).map_err(|err| e.err_step("set propagation", err))?;
    }
    if !opts.rec.is_empty() {
        let attr = MountAttr { attr_set: opts.rec.set, attr_clr: opts.rec.clr, ..Default::default() };
        sys::mount_setattr(top.as_raw_fd(), c"", (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint, &attr)
            .map_err(|err| e.err_step("set recursive attributes", err))?;
    }
    Ok(())
}

/// Bind `src` onto the destination; returns the reopened new mount if one
/// was needed for a remount.
fn bind_mount(ctx: &RootfsCtx, root: BorrowedFd, e: &Entry, src: &Path, opts: &MountOptions, tree: Option<BorrowedFd>) -> Result<Option<OwnedFd>> {
    // An existing destination of the wrong kind makes mount(2) fail with
    // ENOTDIR, so only a missing one needs the source's kind (a file can only
    // be bound onto a file) and the stat that tells it.
    let dest = match sys::openat2(root, e.dest, libc::O_PATH, 0, Resolve::InRoot) {
        Ok(fd) => fd,
        Err(err) if err.raw_os_error() == Some(libc::ENOENT) => {
            let is_dir = match tree {
                Some(t) => sys::fstat(t).map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR),
                None => std::fs::metadata(src).map(|m| m.is_dir()),
            };
            let is_dir = is_dir.map_err(|err| e.err_step(&format!("stat source {}", src.display()), err))?;
            let kind = if is_dir { Kind::Dir } else { Kind::File };
            open_in_root(root, e.dest, kind, true).map_err(|err| e.err(err))?
        }
        Err(err) => return Err(e.err(err)),
    };
    bind_onto(ctx, root, e, src, tree, dest, opts)
}

/// Bind `src` (or `tree`, its copy opened on the host, which already
/// holds the submounts when the entry is recursive) onto `dest`.
fn bind_onto(
    ctx: &RootfsCtx,
    root: BorrowedFd,
    e: &Entry,
    src: &Path,
    tree: Option<BorrowedFd>,
    dest: OwnedFd,
    opts: &MountOptions,
) -> Result<Option<OwnedFd>> {
    match tree {
        Some(t) => sys::attach_tree_at(t, dest.as_fd()).map_err(|err| e.err(err))?,
        None => {
            let csrc = sys::cstr(src).map_err(|err| e.err(err))?;
            let first = libc::MS_BIND | (opts.flags & libc::MS_REC);
            sys::mount(Some(&csrc), &fd_path(dest.as_fd()), None, first, None).map_err(|err| e.err(err))?;
        }
    }
    drop(dest);
    let flags = opts.remount_flags();
    if flags == 0 {
        return Ok(None);
    }
    let top = reopen(root, e)?;
    bind_remount(top.as_fd(), flags, ctx.in_userns).map_err(|err| e.err_step("remount", err))?;
    Ok(Some(top))
}

/// `MS_REMOUNT|MS_BIND|flags` on the mount open as `top`. In a user
/// namespace, the flags the mount already has are locked and must be kept.
pub(crate) fn bind_remount(top: BorrowedFd, flags: libc::c_ulong, in_userns: bool) -> io::Result<()> {
    let mut flags = flags;
    if in_userns {
        let mut locked = sys::locked_flags(sys::mount_flags(top)?);
        if flags & ATIME_MASK != 0 {
            // An explicit atime mode replaces the old one rather than mixing.
            locked &= !ATIME_MASK;
        }
        flags |= locked;
    }
    sys::mount(None, &fd_path(top), None, libc::MS_REMOUNT | libc::MS_BIND | flags, None)
}

/// Whether `/sys/fs/cgroup` on the host is a single cgroup2 hierarchy.
fn host_is_cgroup2() -> io::Result<bool> {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: the path is a NUL-terminated literal and `st` a writable buffer
    // the kernel fills on success.
    sys::check(unsafe { libc::statfs(c"/sys/fs/cgroup".as_ptr(), st.as_mut_ptr()) })?;
    // f_type and the constant differ in width across architectures.
    #[allow(clippy::unnecessary_cast)]
    // SAFETY: statfs succeeded and initialised the buffer.
    let is_v2 = unsafe { st.assume_init() }.f_type as i64 == libc::CGROUP2_SUPER_MAGIC as i64;
    Ok(is_v2)
}

/// A "cgroup"/"cgroup2" entry: expose the container's own cgroups.
fn mount_cgroup(ctx: &RootfsCtx, root: BorrowedFd, e: &Entry, opts: &MountOptions) -> Result<()> {
    let flags = opts.flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT);
    let dest = open_in_root(root, e.dest, Kind::Dir, true).map_err(|err| e.err(err))?;
    if host_is_cgroup2().map_err(|err| e.err_step("statfs /sys/fs/cgroup", err))? {
        let own = ctx.cgroups.first();
        if ctx.cgroupns || own.is_none() {
            // The cgroup namespace makes the container's cgroup the root.
            let res = sys::mount(Some(c"cgroup2"), &fd_path(dest.as_fd()), Some(c"cgroup2"), flags, None);
            match (res, own) {
                (Ok(()), _) => return Ok(()),
                // A user namespace without its own cgroupns may not mount it.
                (Err(err), Some(own)) if matches!(err.raw_os_error(), Some(libc::EPERM | libc::EBUSY)) => {
                    return bind_cgroup(ctx, root, e, &own.host_path, dest, flags)
                }
                (Err(err), _) => return Err(e.err(err)),
            }
        }
        return bind_cgroup(ctx, root, e, &own.expect("checked above").host_path, dest, flags);
    }

    // v1 or hybrid: a tmpfs holding one directory per hierarchy.
    let base = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    sys::mount(Some(c"tmpfs"), &fd_path(dest.as_fd()), Some(c"tmpfs"), base, Some(c"mode=755")).map_err(|err| e.err(err))?;
    drop(dest);
    let tmpfs = reopen(root, e)?;
    for cg in ctx.cgroups {
        mount_hierarchy(ctx, tmpfs.as_fd(), e, cg, flags)?;
    }
    if flags & libc::MS_RDONLY != 0 {
        // Only now: the directories above had to be created first.
        bind_remount(tmpfs.as_fd(), base | libc::MS_RDONLY, ctx.in_userns).map_err(|err| e.err_step("remount tmpfs read-only", err))?;
    }
    Ok(())
}

fn bind_cgroup(ctx: &RootfsCtx, root: BorrowedFd, e: &Entry, host: &Path, dest: OwnedFd, flags: libc::c_ulong) -> Result<()> {
    let o = MountOptions { flags: flags | libc::MS_BIND | libc::MS_REC, ..Default::default() };
    bind_onto(ctx, root, e, host, None, dest, &o).map(drop)
}

/// One hierarchy directory inside the cgroup tmpfs.
fn mount_hierarchy(ctx: &RootfsCtx, tmpfs: BorrowedFd, e: &Entry, cg: &CgroupMount, flags: libc::c_ulong) -> Result<()> {
    let step = |what: &str, err| e.err_step(&format!("{what} cgroup {}", cg.name), err);
    let name = sys::cstr(Path::new(&cg.name)).map_err(|err| step("name", err))?;
    // SAFETY: `name` is NUL-terminated and `tmpfs` an open directory fd.
    sys::check(unsafe { libc::mkdirat(tmpfs.as_raw_fd(), name.as_ptr(), 0o755) }).map_err(|err| step("mkdir", err))?;
    let dir = sys::openat2(tmpfs, Path::new(&cg.name), libc::O_PATH | libc::O_DIRECTORY, 0, Resolve::Plain).map_err(|err| step("open", err))?;
    let target = fd_path(dir.as_fd());
    if ctx.cgroupns {
        let (typ, data) = if cg.options.is_empty() { (c"cgroup2", None) } else { (c"cgroup", Some(cstring(&cg.options))) };
        sys::mount(Some(typ), &target, Some(typ), flags, data.as_deref()).map_err(|err| step("mount", err))?;
    } else {
        let src = sys::cstr(&cg.host_path).map_err(|err| step("bind", err))?;
        sys::mount(Some(&src), &target, None, libc::MS_BIND | libc::MS_REC, None).map_err(|err| step("bind", err))?;
        if flags != 0 {
            // The fresh tmpfs holds nothing but the directories we made, so
            // a plain no-follow lookup lands on the bind just made.
            let top = sys::openat(tmpfs.as_raw_fd(), &name, libc::O_PATH | libc::O_NOFOLLOW, 0).map_err(|err| step("reopen", err))?;
            bind_remount(top.as_fd(), flags, ctx.in_userns).map_err(|err| step("remount", err))?;
        }
    }
    // Co-mounted controllers ("cpu,cpuacct") are reachable under each name.
    if cg.name.contains(',') {
        for part in cg.name.split(',').filter(|p| *p != cg.name && !p.starts_with("name=")) {
            let link = cstring(part);
            // SAFETY: both strings are NUL-terminated; `tmpfs` is an open directory fd.
            match sys::check(unsafe { libc::symlinkat(name.as_ptr(), tmpfs.as_raw_fd(), link.as_ptr()) }) {
                Err(err) if err.raw_os_error() != Some(libc::EEXIST) => return Err(step("symlink", err)),
                _ => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tmpfs_defaults_never_override_options() {
        let mut d = String::new();
        add_default(&mut d, "mode", "755");
        assert_eq!(d, "mode=755");
        let mut d = "size=64k,mode=1777".to_string();
        add_default(&mut d, "mode", "755");
        add_default(&mut d, "uid", "0");
        assert_eq!(d, "size=64k,mode=1777,uid=0");
        // "modex" is not "mode".
        let mut d = "modex=1".to_string();
        add_default(&mut d, "mode", "700");
        assert_eq!(d, "modex=1,mode=700");
    }
}
