//! The cgroup and systemd items: the layout as Berth's placement code
//! sees it (the same mountinfo parser), where each controller's limits
//! would go, and what the cgroup2-only features need.

use super::facts::{Facts, Read};
use super::judge::{kernel_at_least, list};
use super::probe::Avail;
use super::{Item, Status};
use crate::cgroups::{v2, Hierarchy};

const S: &str = "cgroups";

/// v1 controllers whose limits Berth sets, the config field that needs
/// each, and whether an everyday engine config may set it (the rest are
/// rare: a missing one only shows in the detail).
const CONTROLLERS: &[(&str, &str, bool)] = &[
    ("cpu", "linux.resources.cpu", true),
    ("cpuset", "linux.resources.cpu.cpus/mems", true),
    ("memory", "linux.resources.memory", true),
    ("pids", "linux.resources.pids", true),
    ("blkio", "linux.resources.blockIO", true),
    ("hugetlb", "linux.resources.hugepageLimits", true),
    ("net_cls", "linux.resources.network.classID", false),
    ("net_prio", "linux.resources.network.priorities", false),
    ("rdma", "linux.resources.rdma", false),
];

/// Where a controller's limits go on this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// Its v1 hierarchy.
    V1,
    /// The cgroup2 tree, which passes it down from the root.
    V2,
    /// cgroup2 has it, but the root's cgroup.subtree_control does not pass
    /// it down (and Berth never writes the host's root).
    V2Held,
    /// cgroup2's files could not be read.
    Unknown,
    /// Nowhere.
    Absent,
}

/// The layout name: "v1", "v2", "hybrid" or "none"; None if unknown.
pub(super) fn layout(f: &Facts) -> Option<&'static str> {
    let hs = f.hierarchies.found()?;
    let v1 = hs.iter().any(|h| !h.v2);
    let v2 = hs.iter().any(|h| h.v2);
    Some(match (v1, v2) {
        (true, true) => "hybrid",
        (true, false) => "v1",
        (false, true) => "v2",
        (false, false) => "none",
    })
}

fn place(f: &Facts, hs: &[Hierarchy], v1_name: &str) -> Place {
    if hs.iter().any(|h| !h.v2 && h.controllers.iter().any(|c| c == v1_name)) {
        return Place::V1;
    }
    let (Some(name), Some(root)) = (v2::from_v1_controller(v1_name), &f.v2) else { return Place::Absent };
    match (&root.controllers, &root.subtree_control) {
        (Read::Found(have), _) if !have.iter().any(|c| c == name) => Place::Absent,
        (Read::Found(_), Read::Found(given)) if given.iter().any(|c| c == name) => Place::V2,
        (Read::Found(_), Read::Found(_)) => Place::V2Held,
        _ => Place::Unknown,
    }
}

/// The cgroups section.
pub(super) fn cgroups(f: &Facts, out: &mut Vec<Item>) {
    let hs = match &f.hierarchies {
        Read::Found(hs) => hs,
        Read::Absent => {
            out.push(Item::new(S, "layout", Status::Unknown, "no /proc/self/mountinfo", "the cgroup layout cannot be told").essential());
            return;
        }
        Read::Unreadable(e) => {
            out.push(Item::new(S, "layout", Status::Unknown, format!("cannot read {e}"), "the cgroup layout cannot be told").essential());
            return;
        }
    };
    let v1: Vec<&Hierarchy> = hs.iter().filter(|h| !h.v2).collect();
    let v2 = hs.iter().find(|h| h.v2);
    let v1_where = common_parent(&v1);
    let item = match (v1.is_empty(), v2) {
        (true, None) => {
            let has2 = f.filesystems.found().is_some_and(|fs| fs.iter().any(|t| t == "cgroup2"));
            let hint = if has2 { " (the kernel has cgroup2: mount it on /sys/fs/cgroup)" } else { "" };
            out.push(
                Item::new(S, "layout", Status::Missing, format!("no cgroup hierarchy is mounted{hint}"), "create fails: every container is placed in cgroups")
                    .essential(),
            );
            return;
        }
        (true, Some(h)) => Item::new(
            S,
            "layout",
            Status::Ok,
            format!("v2: cgroup2 only, at {}", h.mountpoint.display()),
            "limits, device rules (eBPF), freezing and statistics all go through the unified tree",
        ),
        (false, None) => Item::new(
            S,
            "layout",
            Status::Ok,
            format!("v1: {} hierarchies{v1_where}, no cgroup2", v1.len()),
            "every limit goes to its controller's v1 hierarchy; what only cgroup2 has is unavailable (linux.resources.unified, cgroup.kill, birth in the cgroup)",
        ),
        (false, Some(h)) => Item::new(
            S,
            "layout",
            Status::Ok,
            format!("hybrid: {} v1 hierarchies{v1_where}, cgroup2 at {}", v1.len(), h.mountpoint.display()),
            "limits are set in the v1 hierarchies, and in the unified tree only for controllers v1 lacks (so are linux.resources.unified keys); \
             the init is born in its cgroup2 directory; runc places containers the same way on such hosts",
        ),
    };
    out.push(item.essential());
    if !v1.is_empty() {
        out.push(v1_item(f, &v1));
    }
    if let Some(h) = v2 {
        out.push(v2_item(f, h, !v1.is_empty()));
    }
    out.push(resources(f, hs));
    out.push(devices(f, &v1, v2.is_some()));
    out.push(freezer(f, &v1, v2.is_some()));
    out.push(clone_into_cgroup(f, v2.is_some()));
    out.push(cgroup_kill(f, v2.is_some()));
}

/// " under /sys/fs/cgroup" when the hierarchies share a parent.
fn common_parent(v1: &[&Hierarchy]) -> String {
    let parents: Vec<_> = v1.iter().filter_map(|h| h.mountpoint.parent()).collect();
    match parents.first() {
        Some(p) if parents.iter().all(|q| q == p) => format!(" under {}", p.display()),
        _ => String::new(),
    }
}

fn v1_item(f: &Facts, v1: &[&Hierarchy]) -> Item {
    let mounted: Vec<&str> = v1.iter().flat_map(|h| h.controllers.iter().map(String::as_str)).collect();
    let mut detail = list(&mounted);
    if let Read::Found(kc) = &f.kernel_controllers {
        let on_v2 =
            |n: &str| f.v2.as_ref().and_then(|r| r.controllers.found()).is_some_and(|c| c.iter().any(|x| v2::from_v1_controller(n) == Some(x.as_str())));
        let idle: Vec<&str> = kc.iter().filter(|c| c.enabled && !mounted.contains(&c.name.as_str()) && !on_v2(&c.name)).map(|c| c.name.as_str()).collect();
        let off: Vec<&str> = kc.iter().filter(|c| !c.enabled).map(|c| c.name.as_str()).collect();
        if !idle.is_empty() {
            detail.push_str(&format!("; on no hierarchy: {}", list(&idle)));
        }
        if !off.is_empty() {
            detail.push_str(&format!("; disabled at boot: {}", list(&off)));
        }
    }
    Item::new(S, "v1", Status::Ok, detail, "a container gets a directory in each of these hierarchies (from /proc/self/mountinfo and /proc/cgroups)")
}

fn v2_item(f: &Facts, h: &Hierarchy, hybrid: bool) -> Item {
    let Some(root) = &f.v2 else { return Item::new(S, "v2", Status::Unknown, "", "") };
    let show = |r: &Read<Vec<String>>| match r {
        Read::Found(v) if v.is_empty() => "none".to_string(),
        Read::Found(v) => list(v),
        Read::Absent => "no file".to_string(),
        Read::Unreadable(e) => format!("unreadable ({e})"),
    };
    let detail = format!(
        "at {}: controllers {}; passed down by the root (cgroup.subtree_control): {}",
        h.mountpoint.display(),
        show(&root.controllers),
        show(&root.subtree_control)
    );
    let status = if root.controllers.found().is_some() && root.subtree_control.found().is_some() { Status::Ok } else { Status::Unknown };
    let meaning = if hybrid {
        "the init is born here; a controller is used here only where no v1 hierarchy has it, and only if the root passes it down (Berth never writes the host's root cgroup)"
    } else {
        "Berth passes controllers down from below the root to the container, never in the host's root cgroup: what the root does not pass down cannot be limited"
    };
    Item::new(S, "v2", status, detail, meaning)
}

fn resources(f: &Facts, hs: &[Hierarchy]) -> Item {
    let mut by: Vec<(Place, Vec<&str>)> = [Place::V1, Place::V2, Place::V2Held, Place::Unknown, Place::Absent].into_iter().map(|p| (p, Vec::new())).collect();
    let mut failing: Vec<String> = Vec::new();
    let mut unknown = false;
    let mut core_lost = false;
    for (v1_name, field, core) in CONTROLLERS {
        let p = place(f, hs, v1_name);
        // Named as the hierarchy that has it names it (blkio is io on cgroup2).
        let ctl = match p {
            Place::V2 | Place::V2Held => v2::from_v1_controller(v1_name).unwrap_or(v1_name),
            _ => v1_name,
        };
        if let Some((_, v)) = by.iter_mut().find(|(q, _)| *q == p) {
            v.push(ctl);
        }
        match p {
            Place::V1 | Place::V2 => {}
            Place::Unknown => unknown |= core,
            Place::V2Held | Place::Absent => {
                core_lost |= core;
                failing.push(format!("{field} ({ctl})"));
            }
        }
    }
    let label = |p: Place| match p {
        Place::V1 => "v1",
        Place::V2 => "cgroup2",
        Place::V2Held => "on cgroup2 but not passed down by the root",
        Place::Unknown => "unknown",
        Place::Absent => "nowhere",
    };
    let detail = by.iter().filter(|(_, v)| !v.is_empty()).map(|(p, v)| format!("{}: {}", label(*p), list(v))).collect::<Vec<_>>().join("; ");
    let (status, meaning) = if core_lost {
        (Status::Warn, format!("these settings fail, naming their field: {}", failing.join(", ")))
    } else if unknown {
        (Status::Unknown, "cgroup2's controller files could not be read".to_string())
    } else if failing.is_empty() {
        (Status::Ok, "every linux.resources setting has its controller".to_string())
    } else {
        (Status::Ok, format!("everyday limits work; these rarer settings fail, naming their field: {}", failing.join(", ")))
    };
    Item::new(S, "resources", status, detail, meaning)
}

fn devices(f: &Facts, v1: &[&Hierarchy], has_v2: bool) -> Item {
    const MEANING: &str = "linux.resources.devices (a deny-all and an allow list in every engine's config) is enforced";
    if v1.iter().any(|h| h.controllers.iter().any(|c| c == "devices")) {
        return Item::new(S, "devices", Status::Ok, "the v1 devices controller", MEANING).essential();
    }
    if !has_v2 {
        return Item::new(
            S,
            "devices",
            Status::Missing,
            "no devices hierarchy and no cgroup2",
            "device rules cannot be enforced: create fails for configs that have them",
        )
        .essential();
    }
    let item = match f.syscalls.bpf {
        Avail::Yes => Item::new(S, "devices", Status::Ok, "eBPF programs on cgroup2 (bpf(2) answers; the program type is checked at create)", MEANING),
        Avail::No => Item::new(
            S,
            "devices",
            Status::Missing,
            "no devices hierarchy, and no bpf(2) for cgroup2 device programs",
            "device rules cannot be enforced: create fails for configs that have them",
        ),
        Avail::Refused(_) => {
            Item::new(S, "devices", Status::Unknown, "bpf(2) is refused to this caller", "run berth check as root to know whether device rules can be enforced")
        }
    };
    item.essential()
}

fn freezer(f: &Facts, v1: &[&Hierarchy], has_v2: bool) -> Item {
    const MEANING: &str = "pause and resume work";
    if v1.iter().any(|h| h.controllers.iter().any(|c| c == "freezer")) {
        return Item::new(S, "freezer", Status::Ok, "the v1 freezer", MEANING);
    }
    match (has_v2, kernel_at_least(f, 5, 2)) {
        (true, Some(true)) => Item::new(S, "freezer", Status::Ok, "cgroup.freeze on cgroup2 (Linux 5.2+)", MEANING),
        (true, None) => {
            Item::new(S, "freezer", Status::Unknown, "cgroup2 without a v1 freezer; kernel version unknown", "pause needs cgroup.freeze (Linux 5.2)")
        }
        _ => Item::new(S, "freezer", Status::Missing, "no v1 freezer and no cgroup.freeze", "pause and resume fail"),
    }
}

fn clone_into_cgroup(f: &Facts, has_v2: bool) -> Item {
    const N: &str = "clone-into-cgroup";
    if !has_v2 {
        return Item::new(S, N, Status::Missing, "no cgroup2 hierarchy", "the init joins its v1 cgroups by writing to their tasks files, as on any v1 host");
    }
    match (f.syscalls.clone3, kernel_at_least(f, 5, 7)) {
        (Avail::Yes, Some(true)) => Item::new(
            S,
            N,
            Status::Ok,
            "clone3 with CLONE_INTO_CGROUP (Linux 5.7+)",
            "the init is born in its cgroup2 directory: no cgroup.procs write, which can cost 4-25 ms per create",
        ),
        (Avail::Yes, None) => Item::new(S, N, Status::Unknown, "clone3 is there; kernel version unknown", "CLONE_INTO_CGROUP needs Linux 5.7"),
        (Avail::Yes, Some(false)) => {
            Item::new(S, N, Status::Warn, "clone3 without CLONE_INTO_CGROUP (Linux before 5.7)", "the init is moved with a cgroup.procs write: slower create")
        }
        (Avail::No, _) => Item::new(
            S,
            N,
            Status::Warn,
            "no clone3 (an old kernel, or a seccomp filter around berth)",
            "the init is moved with a cgroup.procs write: slower create",
        ),
        (Avail::Refused(_), _) => Item::new(S, N, Status::Warn, "clone3 is refused to berth", "the init is moved with a cgroup.procs write: slower create"),
    }
}

fn cgroup_kill(f: &Facts, has_v2: bool) -> Item {
    const SWEEP: &str = "kill --all and delete --force signal the cgroup's processes one by one, until a sweep finds none new";
    if !has_v2 {
        return Item::new(S, "cgroup-kill", Status::Missing, "no cgroup2 hierarchy", SWEEP);
    }
    match kernel_at_least(f, 5, 14) {
        Some(true) => Item::new(
            S,
            "cgroup-kill",
            Status::Ok,
            "cgroup.kill (Linux 5.14+)",
            "kill --all KILL and delete --force kill the container's whole cgroup subtree in one write",
        ),
        Some(false) => Item::new(S, "cgroup-kill", Status::Missing, "no cgroup.kill (Linux before 5.14)", SWEEP),
        None => Item::new(S, "cgroup-kill", Status::Unknown, "kernel version unknown", "cgroup.kill needs Linux 5.14"),
    }
}

/// The systemd section.
pub(super) fn systemd(f: &Facts, out: &mut Vec<Item>) {
    if f.systemd {
        let (status, bus) = if f.system_bus {
            (Status::Ok, "; the system bus at /run/dbus/system_bus_socket")
        } else if f.euid == Some(0) {
            (Status::Warn, "; no system bus socket at /run/dbus/system_bus_socket")
        } else {
            (Status::Ok, "")
        };
        out.push(Item::new(
            "systemd",
            "systemd",
            status,
            format!("systemd runs (/run/systemd/system){bus}"),
            "--systemd-cgroup (or --cgroup-manager systemd) works: each container becomes a transient scope, its limits set as unit properties too; \
             Berth asks systemd over D-Bus (the system bus as root)",
        ));
        return;
    }
    let named = f.hierarchies.found().is_some_and(|hs| hs.iter().any(|h| h.controllers.iter().any(|c| c == "name=systemd")));
    let also = if named { "; a name=systemd v1 hierarchy is mounted all the same" } else { "" };
    out.push(Item::new(
        "systemd",
        "systemd",
        Status::Missing,
        format!("systemd is not running (no /run/systemd/system){also}"),
        "--systemd-cgroup and --cgroup-manager systemd are refused; the default cgroupfs driver works",
    ));
}
