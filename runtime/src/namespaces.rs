//! Namespaces (config-linux.md "Namespaces"): which to create with the one
//! clone, which to join by path, and the user and time namespace details
//! that must happen in a certain order.

use crate::error::{Error, Result};
use oci_spec::runtime::{Linux, LinuxNamespaceType};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};

/// Namespace types with their clone flag and /proc/<pid>/ns name.
pub const TABLE: &[(LinuxNamespaceType, libc::c_int, &str)] = &[
    (LinuxNamespaceType::User, libc::CLONE_NEWUSER, "user"),
    (LinuxNamespaceType::Pid, libc::CLONE_NEWPID, "pid"),
    (LinuxNamespaceType::Network, libc::CLONE_NEWNET, "net"),
    (LinuxNamespaceType::Ipc, libc::CLONE_NEWIPC, "ipc"),
    (LinuxNamespaceType::Uts, libc::CLONE_NEWUTS, "uts"),
    (LinuxNamespaceType::Mount, libc::CLONE_NEWNS, "mnt"),
    (LinuxNamespaceType::Cgroup, libc::CLONE_NEWCGROUP, "cgroup"),
    (LinuxNamespaceType::Time, libc::CLONE_NEWTIME, "time"),
];

/// The clone flag of a namespace type.
pub fn flag(t: LinuxNamespaceType) -> libc::c_int {
    TABLE.iter().find(|(x, _, _)| *x == t).map(|e| e.1).unwrap_or(0)
}

/// A namespace to join, opened early so a bad path fails before any kernel
/// state exists.
pub struct Join {
    /// Open namespace file.
    pub fd: OwnedFd,
    /// Its clone flag.
    pub flag: libc::c_int,
    /// Config field, for errors.
    pub field: String,
}

/// How the init gets its namespaces.
#[derive(Default)]
pub struct Plan {
    /// Flags for clone(2) (namespaces created with the init itself).
    pub clone_flags: libc::c_int,
    /// Flags the init unshares itself after joining a user namespace, so the
    /// new namespaces belong to it (clone would make them the host's).
    pub unshare_flags: libc::c_int,
    /// The init unshares its cgroup namespace once the parent has put it in
    /// its cgroup, so the namespace's root is the container's cgroup.
    pub new_cgroupns: bool,
    /// New time namespace: unshared by the parent before clone (time
    /// namespaces apply to children), with offsets written in between.
    pub new_timens: bool,
    /// A new user namespace is created.
    pub new_userns: bool,
    /// A user namespace (new or joined) is used.
    pub userns: bool,
    /// A new mount namespace is created (rootfs setup happens).
    pub new_mountns: bool,
    /// A new pid namespace: the init is pid 1.
    pub new_pidns: bool,
    /// Joined user namespace: entered first by the init.
    pub join_user: Option<Join>,
    /// Joined pid namespace: entered by the parent before clone (it applies
    /// to children only).
    pub join_pid: Option<Join>,
    /// Joined time namespace: entered by the parent before clone, likewise.
    pub join_time: Option<Join>,
    /// Other joined namespaces, entered by the init.
    pub join: Vec<Join>,
}

impl Plan {
    /// Whether the container gets a network namespace of its own making
    /// (not one joined by path), in which the runtime brings `lo` up.
    pub fn new_netns(&self) -> bool {
        (self.clone_flags | self.unshare_flags) & libc::CLONE_NEWNET != 0
    }

    /// Whether the container inherits the runtime's mount namespace (none
    /// listed): its mounts are then made in ours.
    pub fn host_mountns(&self) -> bool {
        !self.new_mountns && !self.join.iter().any(|j| j.flag == libc::CLONE_NEWNS)
    }
}

/// `struct ifreq` with the `ifr_flags` member of its union (40 bytes).
#[repr(C)]
struct IfreqFlags {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Bring the loopback interface of the calling process's network
/// namespace up (which also gives it 127.0.0.1 and ::1), as runc and crun
/// do in a network namespace they create: processes of a pod talk over it.
pub fn loopback_up() -> Result<()> {
    // SAFETY: socket(2) with constant arguments; the result is checked and owned.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(Error::last("open a socket to bring lo up"));
    }
    // SAFETY: s is a fresh descriptor owned by nobody else.
    let s = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(s) };
    let mut req = IfreqFlags { name: [0; libc::IFNAMSIZ], flags: 0, _pad: [0; 22] };
    for (d, b) in req.name.iter_mut().zip(b"lo") {
        *d = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write an ifreq we own,
    // laid out as the kernel's struct ifreq.
    unsafe {
        if libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) != 0 {
            return Err(Error::last("read the flags of lo"));
        }
        req.flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(s.as_raw_fd(), libc::SIOCSIFFLAGS, &req) != 0 {
            return Err(Error::last("bring lo up"));
        }
    }
    Ok(())
}

/// Work out the plan and open every namespace path.
pub fn plan(linux: Option<&Linux>) -> Result<Plan> {
    let mut plan = Plan::default();
    let nss = linux.and_then(|l| l.namespaces().as_deref()).unwrap_or(&[]);
    let user_joined = nss.iter().any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_some());
    for (i, ns) in nss.iter().enumerate() {
        let t = ns.typ();
        let fl = flag(t);
        let Some(path) = ns.path() else {
            match t {
                LinuxNamespaceType::Cgroup => plan.new_cgroupns = true,
                LinuxNamespaceType::Time => plan.new_timens = true,
                _ if user_joined => plan.unshare_flags |= fl,
                _ => plan.clone_flags |= fl,
            }
            if t == LinuxNamespaceType::User {
                plan.new_userns = true;
                plan.userns = true;
            }
            plan.new_mountns |= t == LinuxNamespaceType::Mount;
            plan.new_pidns |= t == LinuxNamespaceType::Pid;
            continue;
        };
        let field = format!("linux.namespaces[{i}].path");
        let f = File::open(path).map_err(|e| Error::os(format!("open {t} namespace {}", path.display()), e).field(field.clone()))?;
        // Check that the file is a namespace of the stated type: setns would
        // refuse it later, but only after we created kernel state. The
        // kernel is asked, not the file's name: engines pass nsfs inodes
        // bind-mounted onto plain files (`ip netns add`, /run/netns/...,
        // dockerd's netns/default), whose /proc/self/fd link is a path.
        match ns_type(&f) {
            Ok(kind) if kind == fl => {}
            Ok(kind) => {
                let actual = TABLE.iter().find(|x| x.1 == kind).map_or("another", |x| x.2);
                return Err(Error::msg(format!("{} is not a {t} namespace (it is a {actual} namespace)", path.display())).field(field));
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOTTY) || e.raw_os_error() == Some(libc::EINVAL) => {
                return Err(Error::msg(format!("{} is not a {t} namespace (not a namespace file)", path.display())).field(field));
            }
            Err(e) => return Err(Error::os(format!("ask the kernel what namespace {} is", path.display()), e).field(field)),
        }
        let join = Join { fd: f.into(), flag: fl, field };
        match t {
            LinuxNamespaceType::User => {
                plan.userns = true;
                plan.join_user = Some(join);
            }
            LinuxNamespaceType::Pid => plan.join_pid = Some(join),
            LinuxNamespaceType::Time => plan.join_time = Some(join),
            _ => plan.join.push(join),
        }
    }
    Ok(plan)
}

/// `NS_GET_NSTYPE` (linux/nsfs.h: `_IO(0xb7, 0x3)`).
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// The namespace type (its `CLONE_NEW*` flag) of an open namespace file,
/// by `ioctl(NS_GET_NSTYPE)` (Linux 4.11). Works for /proc/<pid>/ns/* links
/// and for nsfs inodes bind-mounted elsewhere alike. Errors: `ENOTTY` when
/// the file is not a namespace.
pub fn ns_type(f: &File) -> std::io::Result<libc::c_int> {
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the inode of a
    // descriptor we own.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_NSTYPE as _) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(r)
}

/// setns(2) into a joined namespace.
pub fn enter(j: &Join) -> Result<()> {
    // SAFETY: setns on a descriptor we own; it changes only this process.
    if unsafe { libc::setns(j.fd.as_raw_fd(), j.flag) } != 0 {
        return Err(Error::last("join namespace").field(j.field.clone()));
    }
    Ok(())
}

/// unshare(2) with the given flags.
pub fn unshare(flags: libc::c_int, what: &str) -> Result<()> {
    // SAFETY: unshare takes plain flags and changes only this process.
    if flags != 0 && unsafe { libc::unshare(flags) } != 0 {
        return Err(Error::last(format!("unshare {what}")));
    }
    Ok(())
}

/// The text for /proc/<pid>/{uid,gid}_map from mappings.
pub fn id_map_text(maps: &[oci_spec::runtime::LinuxIdMapping]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect()
}

/// Write the uid and gid maps of a child in a new user namespace.
pub fn write_id_maps(pid: i32, linux: &Linux) -> Result<()> {
    let uid = id_map_text(linux.uid_mappings().as_deref().unwrap_or(&[]));
    let gid = id_map_text(linux.gid_mappings().as_deref().unwrap_or(&[]));
    std::fs::write(format!("/proc/{pid}/uid_map"), uid.as_bytes())
        .map_err(|e| Error::os(format!("write uid_map {:?}", uid.trim_end()), e).field("linux.uidMappings"))?;
    std::fs::write(format!("/proc/{pid}/gid_map"), gid.as_bytes())
        .map_err(|e| Error::os(format!("write gid_map {:?}", gid.trim_end()), e).field("linux.gidMappings"))?;
    Ok(())
}

/// The text for /proc/self/timens_offsets.
pub fn time_offsets_text(linux: &Linux) -> Result<String> {
    let mut out = String::new();
    for (clock, off) in linux.time_offsets().iter().flatten() {
        let name = match clock.as_str() {
            "monotonic" => "monotonic",
            "boottime" => "boottime",
            other => return Err(Error::msg(format!("unknown clock {other:?}: only monotonic and boottime have offsets")).field("linux.timeOffsets")),
        };
        out.push_str(&format!("{name} {} {}\n", off.secs().unwrap_or(0), off.nanosecs().unwrap_or(0)));
    }
    Ok(out)
}

/// In the parent, before clone: enter a joined pid/time namespace or create
/// a new time namespace, so the init is born in it.
pub fn prepare_parent(plan: &Plan, linux: Option<&Linux>) -> Result<()> {
    if let Some(j) = &plan.join_pid {
        enter(j)?;
    }
    if let Some(j) = &plan.join_time {
        enter(j)?;
    }
    if plan.new_timens {
        unshare(libc::CLONE_NEWTIME, "time namespace")?;
        if let Some(l) = linux {
            let text = time_offsets_text(l)?;
            if !text.is_empty() {
                std::fs::write("/proc/self/timens_offsets", text.as_bytes())
                    .map_err(|e| Error::os("write /proc/self/timens_offsets", e).field("linux.timeOffsets"))?;
            }
        }
    }
    Ok(())
}

/// Run `clone` (which forks) with this process's pid and time namespaces for
/// children switched as `enter` does, then switch back, so that later
/// children of ours (hooks) stay in the runtime's namespaces.
/// `kinds` says which of the two (CLONE_NEWPID, CLONE_NEWTIME) `enter` touches.
pub fn for_children<T>(kinds: libc::c_int, enter: impl FnOnce() -> Result<()>, clone: impl FnOnce() -> Result<T>) -> Result<T> {
    let restore: Vec<(File, libc::c_int)> = [("/proc/self/ns/pid_for_children", libc::CLONE_NEWPID), ("/proc/self/ns/time_for_children", libc::CLONE_NEWTIME)]
        .into_iter()
        .filter(|(_, fl)| kinds & fl != 0)
        .map(|(p, fl)| File::open(p).map(|f| (f, fl)).map_err(|e| Error::os(format!("open {p}"), e)))
        .collect::<Result<_>>()?;
    enter()?;
    let out = clone();
    for (f, fl) in restore {
        // SAFETY: setns back into our own original namespace, by a descriptor we hold.
        if unsafe { libc::setns(f.as_raw_fd(), fl) } != 0 {
            return Err(Error::last("return to the runtime's namespace"));
        }
    }
    out
}

/// Fork-like clone(2) with extra flags; returns 0 in the child.
pub fn fork_clone(flags: libc::c_int) -> Result<i32> {
    let flags = flags as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: the caller is single-threaded, so a fork-like clone (no new
    // stack, no CLONE_VM) gives the child a consistent copy of memory.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if pid < 0 {
        return Err(Error::last("clone"));
    }
    Ok(pid as i32)
}

/// clone3's argument block, up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// [`fork_clone`], born in the cgroup2 directory open as `cgroup` when one
/// is given (clone3 with CLONE_INTO_CGROUP; see [`crate::cgroups::entry`]).
/// Returns 0 in the child; in the parent, the pid and whether the child was
/// born in that cgroup. Without clone3 (ENOSYS: an old kernel, or a seccomp
/// profile around us) it falls back to [`fork_clone`] and says so.
pub fn clone_into(flags: libc::c_int, cgroup: Option<(std::os::fd::RawFd, &std::path::Path)>) -> Result<(i32, bool)> {
    let Some((fd, dir)) = cgroup else { return fork_clone(flags).map(|p| (p, false)) };
    let mut args = CloneArgs { flags: flags as u32 as u64 | CLONE_INTO_CGROUP, exit_signal: libc::SIGCHLD as u64, cgroup: fd as u64, ..Default::default() };
    // SAFETY: the caller is single-threaded, so a fork-like clone3 (no new
    // stack, no CLONE_VM) gives the child a consistent copy of memory; args
    // is a valid, fully initialised argument block of the size we pass.
    let pid = unsafe { libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, std::mem::size_of::<CloneArgs>()) };
    if pid >= 0 {
        return Ok((pid as i32, true));
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ENOSYS) | Some(libc::E2BIG) => fork_clone(flags).map(|p| (p, false)),
        // What the cgroup can refuse: "no internal processes", a threaded or
        // invalid domain, a missing or foreign directory.
        Some(libc::EBUSY | libc::EOPNOTSUPP | libc::EACCES | libc::ENOENT | libc::ENODEV) => {
            let e = std::io::Error::last_os_error();
            Err(crate::cgroups::entry::refused(&format!("clone into cgroup {}", dir.display()), dir, e))
        }
        _ => Err(Error::last("clone")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(v: serde_json::Value) -> Linux {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn plan_new_namespaces() {
        let l = linux(serde_json::json!({"namespaces": [
            {"type": "pid"}, {"type": "mount"}, {"type": "cgroup"}, {"type": "network"}, {"type": "time"}
        ]}));
        let p = plan(Some(&l)).unwrap();
        assert_eq!(p.clone_flags, libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::CLONE_NEWNET);
        assert!(p.new_cgroupns && p.new_timens && p.new_pidns && p.new_mountns);
        assert_eq!(p.unshare_flags, 0);
    }

    #[test]
    fn joined_user_namespace_moves_new_ones_to_unshare() {
        let l = linux(serde_json::json!({"namespaces": [
            {"type": "user", "path": "/proc/self/ns/user"}, {"type": "uts"}, {"type": "ipc"}
        ]}));
        let p = plan(Some(&l)).unwrap();
        assert_eq!(p.clone_flags, 0);
        assert_eq!(p.unshare_flags, libc::CLONE_NEWUTS | libc::CLONE_NEWIPC);
        assert!(p.join_user.is_some() && p.userns && !p.new_userns);
    }

    #[test]
    fn wrong_namespace_type_path_is_rejected() {
        let l = linux(serde_json::json!({"namespaces": [{"type": "network", "path": "/proc/self/ns/uts"}]}));
        let e = plan(Some(&l)).err().unwrap();
        assert_eq!(e.field.as_deref(), Some("linux.namespaces[0].path"));
        let l = linux(serde_json::json!({"namespaces": [{"type": "network", "path": "/nonexistent/ns"}]}));
        assert!(plan(Some(&l)).is_err());
        // A plain file is not a namespace, whatever its name.
        let l = linux(serde_json::json!({"namespaces": [{"type": "network", "path": "/proc/self/status"}]}));
        let e = plan(Some(&l)).err().unwrap();
        assert!(e.to_string().contains("not a namespace file"), "{e}");
        assert_eq!(e.field.as_deref(), Some("linux.namespaces[0].path"));
    }

    #[test]
    fn namespace_type_comes_from_the_kernel() {
        for (name, flag) in [("net", libc::CLONE_NEWNET), ("uts", libc::CLONE_NEWUTS), ("mnt", libc::CLONE_NEWNS), ("user", libc::CLONE_NEWUSER)] {
            let f = File::open(format!("/proc/self/ns/{name}")).unwrap();
            assert_eq!(ns_type(&f).unwrap(), flag, "{name}");
        }
        let f = File::open("/proc/self/status").unwrap();
        assert_eq!(ns_type(&f).unwrap_err().raw_os_error(), Some(libc::ENOTTY));
    }

    #[test]
    fn maps_and_offsets_text() {
        let l = linux(serde_json::json!({
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 1000}, {"containerID": 1000, "hostID": 2000, "size": 1}],
            "timeOffsets": {"monotonic": {"secs": 5, "nanosecs": 7}}
        }));
        assert_eq!(id_map_text(l.uid_mappings().as_deref().unwrap()), "0 100000 1000\n1000 2000 1\n");
        assert_eq!(time_offsets_text(&l).unwrap(), "monotonic 5 7\n");
    }
}
