//! Cgroup helpers for the tests of cgroup semantics: the host's
//! hierarchies, freezers, and containers that make cgroups of their own.
//! Everything here works under `/berth-test/<id>` only.

use super::*;
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Every cgroup hierarchy mounted under /sys/fs/cgroup: (mount point, is cgroup2).
pub fn hierarchies() -> Vec<(PathBuf, bool)> {
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut out = Vec::new();
    for l in mi.lines() {
        let Some((pre, post)) = l.split_once(" - ") else { continue };
        let mp = pre.split(' ').nth(4).unwrap_or("");
        let fstype = post.split(' ').next().unwrap_or("");
        if mp.starts_with("/sys/fs/cgroup")
            && (fstype == "cgroup" || fstype == "cgroup2")
            && !out.iter().any(|(p, _): &(PathBuf, bool)| p.as_path() == Path::new(mp))
        {
            out.push((PathBuf::from(mp), fstype == "cgroup2"));
        }
    }
    out
}

/// Whether every mounted hierarchy is cgroup2 (a pure cgroup2 host).
pub fn pure_v2() -> bool {
    hierarchies().iter().all(|(_, v2)| *v2)
}

/// The freezer of `rel` (relative to each hierarchy's root): the v1 freezer
/// hierarchy if mounted, else cgroup2. (file, frozen value, thawed value).
pub fn freezer_of(rel: &str) -> (PathBuf, &'static str, &'static str) {
    let hs = hierarchies();
    if let Some((m, _)) = hs.iter().find(|(m, v2)| !v2 && m.ends_with("freezer")) {
        return (m.join(rel).join("freezer.state"), "FROZEN", "THAWED");
    }
    let (m, _) = hs.iter().find(|(_, v2)| *v2).expect("no freezer: neither a v1 freezer hierarchy nor cgroup2");
    (m.join(rel).join("cgroup.freeze"), "1", "0")
}

/// Remove every cgroup under `rel` in every hierarchy, deepest first, and
/// the shared prefix once no test container of this process needs it.
pub fn rmdir_all(rel: &str) {
    for (m, _) in hierarchies() {
        container::rmdir_tree(&m.join(rel));
    }
    container::release_prefix();
}

/// A frozen cgroup the test made (`/berth-test/<name>`); thawed and removed
/// on drop, on failure too.
pub struct FrozenCgroup {
    rel: String,
    file: PathBuf,
    thawed: &'static str,
}

impl FrozenCgroup {
    /// Make `rel` in the freezer's hierarchy and freeze it.
    pub fn new(rel: String) -> Self {
        let (file, frozen, thawed) = freezer_of(&rel);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        let g = FrozenCgroup { rel, file, thawed };
        fs::write(&g.file, frozen).unwrap();
        g
    }
}

impl Drop for FrozenCgroup {
    fn drop(&mut self) {
        let _ = fs::write(&self.file, self.thawed);
        rmdir_all(&self.rel);
    }
}

/// What the runtime said: its stderr and its log.
pub fn said(o: &RtOutput) -> String {
    format!("{}{}", o.stderr, o.log)
}

/// `/berth-test/<id>` without the leading slash: the container's cgroup
/// relative to each hierarchy's root.
pub fn rel_cgroup(c: &TestContainer) -> String {
    format!("{}/{}", CGROUP_PREFIX.trim_start_matches('/'), c.id)
}

/// Thaw every freezer in and below `rel`, in every hierarchy.
pub fn thaw_below(rel: &str) {
    fn walk(d: &Path) {
        for (f, thawed) in [("freezer.state", "THAWED"), ("cgroup.freeze", "0")] {
            if fs::read_to_string(d.join(f)).is_ok_and(|s| s.trim() != thawed) {
                let _ = fs::write(d.join(f), thawed);
            }
        }
        if let Ok(rd) = fs::read_dir(d) {
            for e in rd.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
                walk(&e.path());
            }
        }
    }
    for (m, _) in hierarchies() {
        walk(&m.join(rel));
    }
}

/// A running container that made `sub/deeper` in every hierarchy of its
/// cgroup namespace and moved a child there (what systemd or a nested
/// runtime in a container does); with `freeze`, it froze that cgroup too.
/// Dropping it thaws everything below the container's cgroup before the
/// container is force-deleted (a frozen task takes SIGKILL only once
/// thawed), so a failing test leaves nothing behind.
pub struct Nested {
    /// The container.
    pub c: TestContainer,
    /// Its init's pid.
    pub pid: i32,
}

impl Nested {
    /// Start it; `own_pidns`: whether it has a pid namespace of its own.
    pub fn start(name: &str, own_pidns: bool, freeze: bool) -> Nested {
        let mut c = TestContainer::new(name);
        if !own_pidns {
            c.drop_namespace("pid");
        }
        c.push("/mounts", json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "rw"]}));
        // The child moves itself (a v1 cpuset child refuses it: no cpus; it
        // stays in the container's cpuset then), then the parent freezes it.
        let freeze_cmd = if freeze {
            "sleep 0.3; for f in /sys/fs/cgroup/freezer/sub/deeper/freezer.state /sys/fs/cgroup/sub/deeper/cgroup.freeze /sys/fs/cgroup/unified/sub/deeper/cgroup.freeze; do \
             [ -f $f ] && { [ \"${f##*/}\" = freezer.state ] && echo FROZEN > $f || echo 1 > $f; break; }; done;"
        } else {
            ""
        };
        // The hierarchies are listed once, before any mkdir: on pure
        // cgroup2 /sys/fs/cgroup is the one hierarchy, and a glob taken
        // after `sub` exists would name it as another.
        let script = format!(
            "hs=; for h in /sys/fs/cgroup /sys/fs/cgroup/*; do [ -f \"$h/cgroup.procs\" ] && hs=\"$hs $h\"; done; \
             for h in $hs; do mkdir -p $h/sub/deeper; done; export hs; \
             sh -c 'for h in $hs; do echo 0 > $h/sub/deeper/cgroup.procs; done 2>/dev/null; exec sleep 100' & \
             {freeze_cmd} exec sleep 100"
        );
        c.sh(&script);
        let mut n = Nested { c, pid: 0 };
        n.c.create().ok();
        n.c.start().ok();
        n.pid = n.c.wait_status("running", Duration::from_secs(10)).unwrap()["pid"].as_i64().unwrap() as i32;
        let deadline = Instant::now() + Duration::from_secs(10);
        let rel = rel_cgroup(&n.c);
        let in_sub = || hierarchies().iter().any(|(m, _)| fs::read_to_string(m.join(&rel).join("sub/deeper/cgroup.procs")).is_ok_and(|s| !s.trim().is_empty()));
        while !(in_sub() && n.c.marked_processes().len() >= 2) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(in_sub(), "the container's child never reached its sub-cgroup");
        if freeze {
            let (f, frozen, _) = freezer_of(&format!("{rel}/sub/deeper"));
            while fs::read_to_string(&f).map(|s| s.trim() != frozen).unwrap_or(true) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        n
    }
}

impl Drop for Nested {
    fn drop(&mut self) {
        thaw_below(&rel_cgroup(&self.c));
    }
}
