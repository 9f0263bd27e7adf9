//! Facts → items for every section but cgroups and systemd
//! ([`super::judge_cgroups`]). Each item says what was found and what it
//! means for Berth, and is essential only where Berth has no fallback.

use super::facts::{kernel_version, Facts, Read, User};
use super::probe::Avail;
use super::{Item, Status};

/// Whether the kernel is at least `major.minor`; None if its release is unknown.
pub(super) fn kernel_at_least(f: &Facts, major: u32, minor: u32) -> Option<bool> {
    f.kernel.found().and_then(|r| kernel_version(r)).map(|v| v >= (major, minor))
}

/// Words joined for a detail.
pub(super) fn list<S: AsRef<str>>(v: &[S]) -> String {
    v.iter().map(|s| s.as_ref()).collect::<Vec<_>>().join(", ")
}

fn unknown(section: &'static str, name: &'static str, what: &str, r: &Read<impl Sized>) -> Item {
    let detail = match r {
        Read::Unreadable(e) => format!("cannot read {e}"),
        _ => format!("no {what}"),
    };
    Item::new(section, name, Status::Unknown, detail, "")
}

/// The host section: kernel, privileges, state root.
pub(super) fn host(f: &Facts, out: &mut Vec<Item>) {
    const S: &str = "host";
    let kernel = match &f.kernel {
        Read::Found(r) => match kernel_version(r) {
            Some(v) if v >= (5, 6) => {
                Item::new(S, "kernel", Status::Ok, r.clone(), "Berth needs Linux 5.6 or newer (openat2, the new mount API, pidfds: see the kernel section)")
            }
            Some(_) => Item::new(
                S,
                "kernel",
                Status::Warn,
                format!("{r} (older than 5.6)"),
                "older than Berth needs (5.6, for openat2); the kernel section says which syscalls are there (distributions backport some)",
            ),
            None => Item::new(S, "kernel", Status::Warn, format!("{r} (version not understood)"), "the kernel section says which syscalls are there"),
        },
        r => unknown(S, "kernel", "/proc/sys/kernel/osrelease", r),
    };
    out.push(kernel);
    out.push(match f.euid {
        Some(0) => Item::new(S, "privileges", Status::Ok, "root", "Berth creates containers as root"),
        Some(uid) => Item::new(
            S,
            "privileges",
            Status::Warn,
            format!("uid {uid}, not root"),
            "create needs root (Berth has no rootless cgroup driver yet); items this user cannot read say unknown",
        ),
        None => Item::new(S, "privileges", Status::Unknown, "no Uid line in /proc/self/status", ""),
    });
    let st = &f.state_root;
    let made = if st.exists { "" } else { " (not made yet: the first create makes it)" };
    out.push(match &st.mount {
        Some((t, mp)) if t == "tmpfs" => Item::new(
            S,
            "state-root",
            Status::Ok,
            format!("{} on tmpfs ({mp}){made}", st.path.display()),
            "container state goes away with a reboot, as the containers do",
        ),
        Some((t, mp)) => Item::new(
            S,
            "state-root",
            Status::Warn,
            format!("{} on {t} ({mp}), not tmpfs{made}", st.path.display()),
            "container state outlives a reboot while the containers do not: afterwards they list as stopped until deleted (keep --root on a tmpfs such as /run)",
        ),
        None => Item::new(S, "state-root", Status::Unknown, format!("{}: its file system could not be told", st.path.display()), ""),
    });
}

/// The namespaces section, with user namespaces and subordinate ids.
pub(super) fn namespaces(f: &Facts, out: &mut Vec<Item>) {
    const S: &str = "namespaces";
    const NEEDED: &[(&str, &str)] = &[("mnt", "mount"), ("pid", "pid"), ("uts", "uts"), ("ipc", "ipc"), ("net", "network")];
    let ns = f.namespaces.found();
    let has = |n: &str| ns.map(|v| v.iter().any(|x| x == n));
    out.push(
        match &f.namespaces {
            Read::Found(v) => {
                let lacking: Vec<&str> = NEEDED.iter().filter(|(n, _)| !v.iter().any(|x| x == n)).map(|(_, t)| *t).collect();
                // pid_for_children and time_for_children are views of pid and time.
                let kinds: Vec<&String> = v.iter().filter(|n| !n.ends_with("_for_children")).collect();
                if lacking.is_empty() {
                    Item::new(S, "namespaces", Status::Ok, list(&kinds), "the mount, pid, uts, ipc and network namespaces every engine asks for can be made")
                } else {
                    Item::new(
                        S,
                        "namespaces",
                        Status::Missing,
                        format!("no {} namespace", list(&lacking)),
                        "containers that ask for them (every engine's default) cannot be created",
                    )
                }
            }
            Read::Absent => Item::new(S, "namespaces", Status::Missing, "no /proc/self/ns", "the kernel has no namespaces: no container can be created"),
            r => unknown(S, "namespaces", "", r),
        }
        .essential(),
    );
    out.push(user_namespaces(f, has("user")));
    out.push(match has("cgroup") {
        Some(true) => Item::new(
            S,
            "cgroup-namespace",
            Status::Ok,
            "cgroup namespaces (Linux 4.6+)",
            "a container can have its own view of its cgroups (Docker's default on cgroup2)",
        ),
        Some(false) => Item::new(S, "cgroup-namespace", Status::Missing, "no cgroup namespace", "configs that ask for a cgroup namespace fail"),
        None => Item::new(S, "cgroup-namespace", Status::Unknown, "/proc/self/ns unreadable", ""),
    });
    out.push(match has("time") {
        Some(true) => Item::new(S, "time-namespace", Status::Ok, "time namespaces (Linux 5.6+)", "linux.timeOffsets work"),
        Some(false) => Item::new(
            S,
            "time-namespace",
            Status::Missing,
            "no time namespace (Linux before 5.6)",
            "configs with a time namespace fail; nothing else needs one",
        ),
        None => Item::new(S, "time-namespace", Status::Unknown, "/proc/self/ns unreadable", ""),
    });
    out.push(subordinate_ids(f));
    out.push(match (&f.newuidmap, &f.newgidmap) {
        (Some(u), Some(g)) => {
            Item::new(S, "newuidmap", Status::Ok, format!("{}, {}", u.display(), g.display()), "rootless engines map ranges of ids with these setuid helpers")
        }
        (u, g) => {
            let lacking: Vec<&str> = [("newuidmap", u.is_none()), ("newgidmap", g.is_none())].iter().filter(|(_, l)| *l).map(|(n, _)| *n).collect();
            Item::new(
                S,
                "newuidmap",
                Status::Warn,
                format!("not found on PATH: {}", list(&lacking)),
                "rootless engines cannot map ranges of ids; Berth as root writes the maps itself and does not need them",
            )
        }
    });
}

fn user_namespaces(f: &Facts, has: Option<bool>) -> Item {
    const S: &str = "namespaces";
    const N: &str = "user-namespaces";
    const NONE: &str = "configs with a user namespace fail (Podman --userns, Docker userns-remap); everything else works";
    const ROOT_ONLY: &str = "root can make them, which is all Berth needs; rootless engines cannot";
    if has == Some(false) {
        return Item::new(S, N, Status::Missing, "the kernel has no user namespaces", NONE);
    }
    match &f.max_user_namespaces {
        Read::Found(0) => return Item::new(S, N, Status::Missing, "user.max_user_namespaces is 0", NONE),
        Read::Unreadable(e) => return Item::new(S, N, Status::Unknown, format!("cannot read {e}"), ""),
        _ => {}
    }
    if f.unprivileged_userns_clone == Read::Found(0) {
        return Item::new(S, N, Status::Warn, "root only: kernel.unprivileged_userns_clone is 0", ROOT_ONLY);
    }
    if f.apparmor_restrict_userns == Read::Found(1) {
        return Item::new(S, N, Status::Warn, "root only: kernel.apparmor_restrict_unprivileged_userns is 1", ROOT_ONLY);
    }
    let max = f.max_user_namespaces.found().map_or_else(String::new, |m| format!(" (user.max_user_namespaces {m})"));
    Item::new(S, N, Status::Ok, format!("available{max}"), "configs with a user namespace and uid/gid mappings work; as root, Berth writes the maps itself")
}

/// Total ids in `user`'s ranges of a subuid/subgid text (`name-or-uid:start:count` lines).
pub(super) fn ids_of(text: &str, user: &User) -> u64 {
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let (who, _start, count) = (f.next()?, f.next()?, f.next()?);
            let me = who == user.name || user.uid.is_some_and(|u| who == u.to_string());
            me.then(|| count.trim().parse::<u64>().ok()).flatten()
        })
        .sum()
}

fn subordinate_ids(f: &Facts) -> Item {
    const S: &str = "namespaces";
    const N: &str = "subordinate-ids";
    const MEANING: &str = "engines take the host ids of user-namespaced containers from these ranges (Podman's --userns=auto, rootless engines); \
                           Berth takes its mappings from config.json and needs none";
    for r in [&f.subuid, &f.subgid] {
        if let Read::Unreadable(e) = r {
            return Item::new(S, N, Status::Unknown, format!("cannot read {e}"), "");
        }
    }
    if f.subuid == Read::Absent && f.subgid == Read::Absent {
        return Item::new(S, N, Status::Warn, "no /etc/subuid or /etc/subgid", MEANING);
    }
    let (uids, gids) = (f.subuid.found().map_or("", String::as_str), f.subgid.found().map_or("", String::as_str));
    let mut all = true;
    let parts: Vec<String> = f
        .users
        .iter()
        .map(|u| {
            let (a, b) = (ids_of(uids, u), ids_of(gids, u));
            all &= a > 0 && b > 0;
            if a == 0 && b == 0 {
                format!("{}: none", u.name)
            } else {
                format!("{}: {a} uids, {b} gids", u.name)
            }
        })
        .collect();
    Item::new(S, N, if all { Status::Ok } else { Status::Warn }, parts.join("; "), MEANING)
}

/// The seccomp section.
pub(super) fn seccomp(f: &Facts, out: &mut Vec<Item>) {
    const S: &str = "seccomp";
    let actions = f.seccomp_actions.found();
    out.push(
        match &f.seccomp_mode {
            Read::Found(mode) => {
                let mut detail = match actions {
                    Some(a) => format!("filters; actions: {}", a.join(" ")),
                    None => "filters (no actions_avail: a kernel before 4.14)".to_string(),
                };
                let mut meaning = "linux.seccomp profiles (every engine sends one) are compiled with libseccomp and loaded in the init".to_string();
                let status = if *mode == 0 {
                    Status::Ok
                } else {
                    detail.push_str(&format!("; berth itself runs under a seccomp filter (mode {mode})"));
                    meaning.push_str("; the filter around berth may refuse what it needs (clone3 falls back to clone)");
                    Status::Warn
                };
                Item::new(S, "seccomp", status, detail, meaning)
            }
            Read::Absent => Item::new(
                S,
                "seccomp",
                Status::Missing,
                "no Seccomp line in /proc/self/status: the kernel has no seccomp",
                "configs with linux.seccomp fail, and engines send one by default",
            ),
            r => unknown(S, "seccomp", "", r),
        }
        .essential(),
    );
    let lib = lib_version(&f.libseccomp);
    out.push(match actions {
        Some(a) if a.iter().any(|x| x == "user_notif") => match lib {
            Some(v) if v < (2, 5) => Item::new(
                S,
                "seccomp-notify",
                Status::Warn,
                format!("the kernel has user_notif; libseccomp {} is older than 2.5", f.libseccomp),
                "profiles with SCMP_ACT_NOTIFY fail until libseccomp is 2.5 or newer",
            ),
            _ => Item::new(
                S,
                "seccomp-notify",
                Status::Ok,
                "user_notif (SCMP_ACT_NOTIFY)",
                "profiles with SCMP_ACT_NOTIFY work: the listener goes to linux.seccomp.listenerPath",
            ),
        },
        Some(_) => {
            Item::new(S, "seccomp-notify", Status::Missing, "no user_notif action (Linux before 5.0)", "profiles with SCMP_ACT_NOTIFY fail; others work")
        }
        None => unknown(S, "seccomp-notify", "/proc/sys/kernel/seccomp/actions_avail", &f.seccomp_actions),
    });
    out.push(match lib {
        Some(v) if v >= (2, 5) => {
            Item::new(S, "libseccomp", Status::Ok, f.libseccomp.clone(), "the library Berth compiles profiles with; a newer one knows newer syscalls")
        }
        Some(_) => Item::new(S, "libseccomp", Status::Warn, format!("{} (older than 2.5)", f.libseccomp), "profiles compile, but SCMP_ACT_NOTIFY needs 2.5"),
        None => Item::new(S, "libseccomp", Status::Unknown, "its version could not be read", ""),
    });
}

/// (major, minor) of a libseccomp version such as "2.5.4".
fn lib_version(v: &str) -> Option<(u32, u32)> {
    let mut it = v.split('.');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// The LSM section.
pub(super) fn lsm(f: &Facts, out: &mut Vec<Item>) {
    const S: &str = "lsm";
    out.push(match &f.lsm_list {
        Read::Found(l) => Item::new(S, "lsm", Status::Ok, l.clone(), "the security modules this kernel runs"),
        Read::Absent => Item::new(
            S,
            "lsm",
            Status::Unknown,
            "no /sys/kernel/security/lsm (securityfs not mounted, or a kernel before 4.15)",
            "AppArmor and SELinux are judged from their own files below",
        ),
        r => unknown(S, "lsm", "", r),
    });
    out.push(if f.lsm.apparmor {
        Item::new(S, "apparmor", Status::Ok, "enabled", "process.apparmorProfile is applied as the container's process starts")
    } else {
        Item::new(
            S,
            "apparmor",
            Status::Missing,
            "not enabled (/sys/module/apparmor/parameters/enabled)",
            "a config naming an AppArmor profile is refused, never run unconfined (Docker and Podman ask for one only where AppArmor is on)",
        )
    });
    out.push(match &f.selinux_enforce {
        Read::Found(m) => {
            let mode = if m == "1" { "enforcing" } else { "permissive" };
            Item::new(S, "selinux", Status::Ok, mode, "process.selinuxLabel and linux.mountLabel are applied")
        }
        Read::Absent => {
            Item::new(S, "selinux", Status::Missing, "not enabled (no /sys/fs/selinux)", "a config with an SELinux label is refused, never run unlabelled")
        }
        r => unknown(S, "selinux", "", r),
    });
}

/// Say what a refused probe means.
fn refused(e: i32) -> String {
    format!("refused to berth ({})", std::io::Error::from_raw_os_error(e).to_string().split(" (os error").next().unwrap_or(""))
}

/// The kernel section: the syscalls Berth needs or falls back from.
pub(super) fn kernel(f: &Facts, out: &mut Vec<Item>) {
    const S: &str = "kernel";
    let sc = f.syscalls;
    let ess = |name: &'static str, a: Avail, found: &str, lacking: &str, yes: &str, no: &str| {
        let (status, detail, meaning) = match a {
            Avail::Yes => (Status::Ok, found.to_string(), yes),
            Avail::No => (Status::Missing, lacking.to_string(), no),
            Avail::Refused(e) => (Status::Missing, format!("{name}: {}", refused(e)), no),
        };
        Item::new(S, name, status, detail, meaning).essential()
    };
    out.push(ess(
        "openat2",
        sc.openat2,
        "openat2 (Linux 5.6+)",
        "no openat2 (Linux before 5.6)",
        "every path in a rootfs is resolved inside it (RESOLVE_IN_ROOT): a symlink cannot send a mount to the host",
        "create fails: Berth resolves paths in a rootfs only with openat2",
    ));
    out.push(ess(
        "mount-api",
        sc.open_tree,
        "open_tree and move_mount (Linux 5.2+)",
        "no open_tree (Linux before 5.2)",
        "masked paths are covered with clones of one checked /dev/null mount; bind sources of user-namespaced containers are opened on the host's side",
        "create fails for configs with masked paths (every engine's)",
    ));
    out.push(ess(
        "pidfd",
        sc.pidfd_open,
        "pidfd_open (Linux 5.3+)",
        "no pidfd_open (Linux before 5.3)",
        "kill reaches the init through a pidfd (no pid-reuse race), and hook timeouts wait on one",
        "kill fails: Berth signals a container's init only through a pidfd",
    ));
    out.push(match sc.mount_setattr {
        Avail::Yes => Item::new(
            S,
            "mount-setattr",
            Status::Ok,
            "mount_setattr (Linux 5.12+)",
            "read-only paths and a read-only root change only the read-only flag; recursive options (rro, rnosuid, ...) work",
        ),
        a => Item::new(
            S,
            "mount-setattr",
            Status::Warn,
            match a {
                Avail::Refused(e) => format!("mount_setattr: {}", refused(e)),
                _ => "no mount_setattr (Linux before 5.12)".to_string(),
            },
            "read-only remounts fall back to a bind remount; recursive mount options fail",
        ),
    });
    out.push(match (sc.mount_setattr, kernel_at_least(f, 5, 12)) {
        (Avail::Yes, Some(true)) => Item::new(
            S,
            "idmap-mounts",
            Status::Warn,
            "the kernel has them (MOUNT_ATTR_IDMAP, Linux 5.12+); Berth does not support them yet",
            "mounts with the idmap option or uidMappings are refused (berth features: mountExtensions.idmap.enabled is false)",
        ),
        (_, None) => Item::new(S, "idmap-mounts", Status::Unknown, "kernel version unknown", "Berth does not support id-mapped mounts yet"),
        _ => Item::new(
            S,
            "idmap-mounts",
            Status::Missing,
            "the kernel lacks them (Linux before 5.12)",
            "mounts with the idmap option or uidMappings are refused (Berth does not support them yet either)",
        ),
    });
    out.push(match sc.clone3 {
        Avail::Yes => Item::new(
            S,
            "clone3",
            Status::Ok,
            "clone3 (Linux 5.3+)",
            "the init and exec'd processes are born in their cgroup2 directory with it (cgroups/clone-into-cgroup); without cgroup2 Berth uses clone(2)",
        ),
        Avail::No => Item::new(
            S,
            "clone3",
            Status::Warn,
            "no clone3 (a kernel before 5.3, or a seccomp filter around berth)",
            "Berth falls back to clone(2) and a cgroup.procs write",
        ),
        Avail::Refused(e) => Item::new(S, "clone3", Status::Warn, format!("clone3: {}", refused(e)), "Berth falls back to clone(2) and a cgroup.procs write"),
    });
}

/// The checkpoint section: CRIU.
pub(super) fn checkpoint(f: &Facts, out: &mut Vec<Item>) {
    const S: &str = "checkpoint";
    let c = &f.criu;
    let Some(path) = &c.path else {
        let name = c.name.display();
        let detail = if c.name.components().count() > 1 { format!("{name} not found") } else { format!("no {name} on PATH") };
        out.push(Item::new(S, "criu", Status::Missing, detail, "checkpoint and restore are unavailable; nothing else needs CRIU"));
        return;
    };
    out.push(match &c.version {
        Some(v) => Item::new(
            S,
            "criu",
            Status::Ok,
            format!("criu {v} at {}", path.display()),
            "checkpoint and restore drive it (--criu names another binary; berth check --criu-check runs `criu check`)",
        ),
        None => Item::new(S, "criu", Status::Warn, format!("{}, but `criu --version` failed", path.display()), "checkpoint and restore will likely fail"),
    });
    if !c.check_asked {
        return;
    }
    out.push(match &c.check {
        Some(r) if r.success => Item::new(S, "criu-check", Status::Ok, format!("criu check: {}", last_line(&r.output, false)), "CRIU accepts this kernel"),
        Some(r) => Item::new(
            S,
            "criu-check",
            Status::Warn,
            format!("criu check failed: {}", last_line(&r.output, true)),
            "checkpoint and restore fail until CRIU accepts this kernel",
        ),
        None => Item::new(S, "criu-check", Status::Warn, "criu check could not be run", ""),
    });
}

/// The last non-empty line of a program's output; with `error`, the first
/// line that reads as an error, if any (CRIU's last line is often a
/// generic summary of the one before).
fn last_line(output: &str, error: bool) -> String {
    let lines: Vec<&str> = output.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let pick = if error { lines.iter().find(|l| l.starts_with("Error")).or(lines.last()) } else { lines.last() };
    pick.map_or_else(|| "(no output)".to_string(), |l| l.to_string())
}

/// What engines driving Berth need from the host.
pub(super) fn engines(f: &Facts, out: &mut Vec<Item>) {
    const S: &str = "engines";
    out.push(match f.filesystems.found() {
        Some(fs) if fs.iter().any(|t| t == "overlay") => Item::new(
            S,
            "overlayfs",
            Status::Ok,
            "overlay in /proc/filesystems",
            "engines can keep image layers on overlayfs (containerd's overlayfs snapshotter, Docker's overlay2, Podman's overlay driver); Berth itself only needs the rootfs it is given",
        ),
        Some(_) => Item::new(
            S,
            "overlayfs",
            Status::Warn,
            "overlay is not in /proc/filesystems (it may be a module not loaded yet)",
            "engines fall back to slower storage drivers or fail; Berth itself does not need it",
        ),
        None => unknown(S, "overlayfs", "/proc/filesystems", &f.filesystems),
    });
}
