//! The facts `berth check` judges, read from the files of a root directory
//! (`/` on a host; a fake tree of /proc, /sys, /etc and /run in the unit
//! tests) and from a [`Probe`]. Nothing here judges, and nothing writes.
//!
//! Each file read keeps the difference between "absent" (the kernel or the
//! distribution lacks it: a fact) and "unreadable" (permissions, a file of
//! the wrong kind: the report says what could not be read).

use super::probe::{Probe, Ran, Syscalls};
use super::Options;
use crate::cgroups::{self, Hierarchy};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The outcome of reading one fact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read<T> {
    /// Read, with its value.
    Found(T),
    /// The file (or the line in it) does not exist.
    Absent,
    /// It exists but could not be read; the error, in words.
    Unreadable(String),
}

impl<T> Read<T> {
    /// The value, if it was read.
    pub fn found(&self) -> Option<&T> {
        match self {
            Read::Found(v) => Some(v),
            _ => None,
        }
    }

    /// The value transformed, absence and errors kept.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Read<U> {
        match self {
            Read::Found(v) => Read::Found(f(v)),
            Read::Absent => Read::Absent,
            Read::Unreadable(e) => Read::Unreadable(e),
        }
    }
}

/// A controller the kernel knows, from /proc/cgroups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelController {
    /// Its v1 name, e.g. "memory".
    pub name: String,
    /// The id of the v1 hierarchy it is bound to; 0 when it is on none
    /// (unmounted, or given to cgroup2).
    pub hierarchy: u32,
    /// Whether it is enabled (`cgroup_disable=` turns one off).
    pub enabled: bool,
}

/// The root of the cgroup2 hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Root {
    /// Where it is mounted, e.g. /sys/fs/cgroup/unified.
    pub mountpoint: PathBuf,
    /// Its `cgroup.controllers`: what the kernel offers on cgroup2.
    pub controllers: Read<Vec<String>>,
    /// Its `cgroup.subtree_control`: what the root passes down.
    pub subtree_control: Read<Vec<String>>,
}

/// The state root (`--root`) and the file system it lives on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateRoot {
    /// The path, as given.
    pub path: PathBuf,
    /// Whether the directory exists yet.
    pub exists: bool,
    /// The file system type and mount point of the mount that holds it
    /// (or would hold it), if mountinfo could tell.
    pub mount: Option<(String, String)>,
}

/// The CRIU binary `--criu` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Criu {
    /// The name or path given.
    pub name: PathBuf,
    /// Where it was found, if anywhere.
    pub path: Option<PathBuf>,
    /// What `criu --version` printed (its version number when it says
    /// "Version: X"), None if it could not be run.
    pub version: Option<String>,
    /// Whether `criu check` was asked for.
    pub check_asked: bool,
    /// What `criu check` said, when asked for and run.
    pub check: Option<Ran>,
}

/// A user whose subordinate id ranges are reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// The login name, or the number if /etc/passwd has none.
    pub name: String,
    /// The uid, when known.
    pub uid: Option<u32>,
}

/// Everything `berth check` judges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// /proc/sys/kernel/osrelease, trimmed.
    pub kernel: Read<String>,
    /// The effective uid, from /proc/self/status.
    pub euid: Option<u32>,
    /// The mounted cgroup hierarchies (/proc/self/mountinfo).
    pub hierarchies: Read<Vec<Hierarchy>>,
    /// /proc/cgroups.
    pub kernel_controllers: Read<Vec<KernelController>>,
    /// The cgroup2 root, if a cgroup2 hierarchy is mounted.
    pub v2: Option<V2Root>,
    /// File system types the kernel has (/proc/filesystems).
    pub filesystems: Read<Vec<String>>,
    /// /run/systemd/system is a directory (sd_booted(3)'s test).
    pub systemd: bool,
    /// /run/dbus/system_bus_socket exists.
    pub system_bus: bool,
    /// Entries of /proc/self/ns.
    pub namespaces: Read<Vec<String>>,
    /// /proc/sys/user/max_user_namespaces.
    pub max_user_namespaces: Read<u64>,
    /// /proc/sys/kernel/unprivileged_userns_clone (Debian's knob).
    pub unprivileged_userns_clone: Read<u64>,
    /// /proc/sys/kernel/apparmor_restrict_unprivileged_userns (Ubuntu's).
    pub apparmor_restrict_userns: Read<u64>,
    /// /etc/subuid and /etc/subgid, as text.
    pub subuid: Read<String>,
    /// See `subuid`.
    pub subgid: Read<String>,
    /// Whose ranges to report: root, `SUDO_USER`, and the caller.
    pub users: Vec<User>,
    /// newuidmap and newgidmap, where found on PATH.
    pub newuidmap: Option<PathBuf>,
    /// See `newuidmap`.
    pub newgidmap: Option<PathBuf>,
    /// The `Seccomp:` mode of /proc/self/status (0: no filter on us).
    pub seccomp_mode: Read<u32>,
    /// /proc/sys/kernel/seccomp/actions_avail.
    pub seccomp_actions: Read<Vec<String>>,
    /// The libseccomp version Berth runs with.
    pub libseccomp: String,
    /// /sys/kernel/security/lsm.
    pub lsm_list: Read<String>,
    /// AppArmor and SELinux, as the `lsm` module sees them.
    pub lsm: crate::lsm::Host,
    /// /sys/fs/selinux/enforce, trimmed ("1" enforcing, "0" permissive).
    pub selinux_enforce: Read<String>,
    /// The syscall probes.
    pub syscalls: Syscalls,
    /// The CRIU binary.
    pub criu: Criu,
    /// The state root.
    pub state_root: StateRoot,
}

/// Read every fact. Never fails: what cannot be read is recorded as such.
pub fn gather(o: &Options, probe: &dyn Probe) -> Facts {
    let root = o.root.as_path();
    let status = read(root, "proc/self/status");
    let mountinfo = read(root, "proc/self/mountinfo");
    let hierarchies = mountinfo.clone().map(|t| cgroups::parse_mountinfo(&t));
    let v2 = hierarchies.found().and_then(|hs| hs.iter().find(|h| h.v2)).map(|h| {
        let dir = under(root, &h.mountpoint);
        V2Root {
            mountpoint: h.mountpoint.clone(),
            controllers: read_path(&dir.join("cgroup.controllers")).map(|t| words(&t)),
            subtree_control: read_path(&dir.join("cgroup.subtree_control")).map(|t| words(&t)),
        }
    });
    let euid = status.found().and_then(|s| status_uid(s));
    let seccomp_mode = match &status {
        Read::Found(s) => s.lines().find_map(|l| l.strip_prefix("Seccomp:")).and_then(|v| v.trim().parse().ok()).map_or(Read::Absent, Read::Found),
        Read::Absent => Read::Absent,
        Read::Unreadable(e) => Read::Unreadable(e.clone()),
    };
    let passwd = read(root, "etc/passwd").found().cloned().unwrap_or_default();
    let path_var = o.path_var.clone().unwrap_or_else(|| "/bin:/usr/bin".into());
    let mounts = mountinfo.found().map(|t| mount_types(t)).unwrap_or_default();
    Facts {
        kernel: read(root, "proc/sys/kernel/osrelease").map(|s| s.trim().to_string()),
        euid,
        hierarchies,
        kernel_controllers: read(root, "proc/cgroups").map(|t| proc_cgroups(&t)),
        v2,
        filesystems: read(root, "proc/filesystems").map(|t| t.lines().filter_map(|l| l.split_whitespace().last()).map(str::to_string).collect()),
        systemd: root.join("run/systemd/system").is_dir(),
        system_bus: root.join("run/dbus/system_bus_socket").exists(),
        namespaces: list_dir(&root.join("proc/self/ns")),
        max_user_namespaces: number(root, "proc/sys/user/max_user_namespaces"),
        unprivileged_userns_clone: number(root, "proc/sys/kernel/unprivileged_userns_clone"),
        apparmor_restrict_userns: number(root, "proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
        subuid: read(root, "etc/subuid"),
        subgid: read(root, "etc/subgid"),
        users: users(&passwd, euid, o.sudo_user.as_deref()),
        newuidmap: which(root, &path_var, Path::new("newuidmap")),
        newgidmap: which(root, &path_var, Path::new("newgidmap")),
        seccomp_mode,
        seccomp_actions: read(root, "proc/sys/kernel/seccomp/actions_avail").map(|t| words(&t)),
        libseccomp: probe.libseccomp(),
        lsm_list: read(root, "sys/kernel/security/lsm").map(|s| s.trim().to_string()),
        lsm: crate::lsm::probe_at(root),
        selinux_enforce: read(root, "sys/fs/selinux/enforce").map(|s| s.trim().to_string()),
        syscalls: probe.syscalls(),
        criu: criu(o, probe, &path_var),
        state_root: state_root(root, &o.state_root, &mounts),
    }
}

/// `rel` (or an absolute host path) under the root directory.
fn under(root: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        root.join(p.strip_prefix("/").unwrap_or(p))
    } else {
        p.to_path_buf()
    }
}

fn read(root: &Path, rel: &str) -> Read<String> {
    read_path(&root.join(rel))
}

/// A file's text. Not-found and not-a-directory (a missing parent) are
/// absence; anything else (EACCES, EISDIR, bad UTF-8) is unreadable.
fn read_path(p: &Path) -> Read<String> {
    match crate::procfs::read_small(p) {
        Ok(t) => Read::Found(t),
        Err(e) if e.kind() == ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) => Read::Absent,
        Err(e) => Read::Unreadable(format!("{}: {e}", p.display())),
    }
}

fn number(root: &Path, rel: &str) -> Read<u64> {
    match read(root, rel) {
        Read::Found(t) => match t.trim().parse() {
            Ok(n) => Read::Found(n),
            Err(_) => Read::Unreadable(format!("{rel}: not a number: {:?}", t.trim())),
        },
        Read::Absent => Read::Absent,
        Read::Unreadable(e) => Read::Unreadable(e),
    }
}

fn list_dir(p: &Path) -> Read<Vec<String>> {
    match fs::read_dir(p) {
        Ok(rd) => {
            let mut names: Vec<String> = rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            names.sort();
            Read::Found(names)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Read::Absent,
        Err(e) => Read::Unreadable(format!("{}: {e}", p.display())),
    }
}

fn words(t: &str) -> Vec<String> {
    t.split_whitespace().map(str::to_string).collect()
}

/// The effective uid of a /proc/<pid>/status text (`Uid:` real, effective, ...).
pub(super) fn status_uid(status: &str) -> Option<u32> {
    status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|v| v.split_whitespace().nth(1)).and_then(|v| v.parse().ok())
}

/// (major, minor) of a kernel release such as "6.1.0-18-amd64".
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.trim().split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// /proc/cgroups: `#subsys_name hierarchy num_cgroups enabled` lines.
fn proc_cgroups(t: &str) -> Vec<KernelController> {
    t.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f[..] {
                [name, h, _, en, ..] => Some(KernelController { name: name.to_string(), hierarchy: h.parse().ok()?, enabled: en == "1" }),
                _ => None,
            }
        })
        .collect()
}

/// (mount point, file system type) of every mount, in mount order.
fn mount_types(mountinfo: &str) -> Vec<(String, String)> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let mp = pre.split(' ').nth(4)?;
            let fstype = post.split(' ').next()?;
            Some((cgroups::unescape(mp), fstype.to_string()))
        })
        .collect()
}

/// The users whose subordinate ids matter: root (engines running as root
/// take ranges from its entries or a dedicated user's), the user behind
/// sudo, and the caller when not root.
fn users(passwd: &str, euid: Option<u32>, sudo_user: Option<&str>) -> Vec<User> {
    let entries: Vec<(&str, u32)> = passwd
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((name, uid))
        })
        .collect();
    let by_uid = |uid: u32| User { name: entries.iter().find(|(_, u)| *u == uid).map_or_else(|| uid.to_string(), |(n, _)| n.to_string()), uid: Some(uid) };
    let mut out = vec![by_uid(0)];
    if let Some(s) = sudo_user.filter(|s| !s.is_empty()) {
        out.push(User { name: s.to_string(), uid: entries.iter().find(|(n, _)| *n == s).map(|(_, u)| *u) });
    }
    if let Some(uid) = euid.filter(|u| *u != 0) {
        out.push(by_uid(uid));
    }
    let mut seen: Vec<String> = Vec::new();
    out.retain(|u| {
        let new = !seen.contains(&u.name);
        seen.push(u.name.clone());
        new
    });
    out
}

/// Where `name` is found as a program would find it: a name with a slash
/// as it is, else the first executable file in a PATH directory. The path
/// returned is the host's (without the root directory in front).
fn which(root: &Path, path_var: &str, name: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| fs::metadata(under(root, p)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if name.as_os_str().as_encoded_bytes().contains(&b'/') {
        return runnable(name).then(|| name.to_path_buf());
    }
    path_var.split(':').filter(|d| !d.is_empty()).map(|d| Path::new(d).join(name)).find(|p| runnable(p))
}

fn criu(o: &Options, probe: &dyn Probe, path_var: &str) -> Criu {
    let path = which(&o.root, path_var, &o.criu);
    let run = |args: &[&str]| path.as_ref().and_then(|p| probe.run(&under(&o.root, p), args));
    let version = run(&["--version"]).filter(|r| r.success).map(|r| {
        let said = r.output.lines().find_map(|l| l.trim().strip_prefix("Version:")).map(|v| v.trim().to_string());
        said.unwrap_or_else(|| r.output.lines().next().unwrap_or("").trim().to_string())
    });
    let check = if o.criu_check { run(&["check"]) } else { None };
    Criu { name: o.criu.clone(), path, version, check_asked: o.criu_check, check }
}

/// The state root and the mount it is (or will be) on: the last mount in
/// mountinfo whose point is the longest prefix of the path with symlinks
/// resolved (/var/run is often a link to /run).
fn state_root(root: &Path, path: &Path, mounts: &[(String, String)]) -> StateRoot {
    let full = under(root, path);
    let exists = full.is_dir();
    let mut near = full.as_path();
    while !near.exists() {
        match near.parent() {
            Some(p) => near = p,
            None => break,
        }
    }
    let host = fs::canonicalize(near).ok().and_then(|c| {
        let base = fs::canonicalize(root).ok()?;
        c.strip_prefix(&base).ok().map(|rel| Path::new("/").join(rel))
    });
    let mount = host.and_then(|h| {
        let mut best: Option<&(String, String)> = None;
        for m in mounts {
            let mp = Path::new(&m.0);
            if h.starts_with(mp) && best.is_none_or(|b| mp.as_os_str().len() >= b.0.len()) {
                best = Some(m);
            }
        }
        best.map(|(mp, t)| (t.clone(), mp.clone()))
    });
    StateRoot { path: path.to_path_buf(), exists, mount }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.18.44-fc-v782"), Some((6, 18)));
        assert_eq!(kernel_version("3.10.0-1160.el7.x86_64\n"), Some((3, 10)));
        assert_eq!(kernel_version("5.4"), Some((5, 4)));
        assert_eq!(kernel_version("garbage"), None);
    }

    #[test]
    fn proc_cgroups_lines() {
        let t = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t1\t1\nhugetlb\t0\t1\t1\nrdma\t0\t1\t0\n";
        let c = proc_cgroups(t);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0], KernelController { name: "cpuset".into(), hierarchy: 3, enabled: true });
        assert!(!c[2].enabled);
    }

    #[test]
    fn users_are_root_sudo_user_and_caller_once_each() {
        let pw = "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        let names = |u: Vec<User>| u.into_iter().map(|u| (u.name, u.uid)).collect::<Vec<_>>();
        assert_eq!(names(users(pw, Some(0), None)), [("root".to_string(), Some(0))]);
        assert_eq!(names(users(pw, Some(0), Some("alice"))), [("root".to_string(), Some(0)), ("alice".to_string(), Some(1000))]);
        assert_eq!(names(users(pw, Some(1000), Some("alice"))).len(), 2);
        assert_eq!(names(users(pw, Some(2000), None))[1], ("2000".to_string(), Some(2000)));
    }

    #[test]
    fn mount_types_unescape_points() {
        let t = "22 27 0:21 / /proc rw - proc proc rw\n40 27 0:5 / /a\\040b rw - tmpfs tmpfs rw\n";
        assert_eq!(mount_types(t), [("/proc".to_string(), "proc".to_string()), ("/a b".to_string(), "tmpfs".to_string())]);
    }
}
