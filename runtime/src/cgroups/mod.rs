//! Control groups (config-linux.md "Control groups").
//!
//! This module is the placement: the container's cgroup directories on v1,
//! v2 and hybrid hosts, the init put into them ([`entry`]), and their
//! removal on delete.
//! On a hybrid host (v1 controllers under /sys/fs/cgroup/<name>, cgroup2 at
//! /sys/fs/cgroup/unified) the container joins every v1 hierarchy and the
//! unified tree, as runc does.
//!
//! Resources are translated into plans of file writes ([`v1`], [`v2`],
//! [`devices`]) that [`apply`] carries out: on a hybrid host each controller
//! is set where it is mounted (v1 first, the unified tree for controllers
//! only it offers, such as hugetlb on this project's test machine). The
//! freezer ([`freezer`]) and statistics ([`stats`]) read the same layout.
//! A container's cgroup is a tree ([`tree`]): what it makes below its own
//! directory is listed, signalled, thawed and removed with it. `update` of
//! device rules goes through [`device_update`] (v1) and [`bpf`] (cgroup2),
//! without a window.
//! [`Manager`] is the interface the container code uses. The directories
//! are Berth's own (the cgroupfs driver) or a systemd unit's ([`systemd`]:
//! systemd makes them, the rest is the same code).

pub mod apply;
pub mod bpf;
pub mod device_update;
pub mod devices;
pub mod entry;
pub mod freezer;
pub mod stats;
pub mod stats_cpuset;
pub mod systemd;
pub mod tree;
pub mod v1;
pub mod v2;

pub use apply::{Manager, Write};

use crate::error::{Error, Result};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// A mounted cgroup hierarchy on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted, e.g. /sys/fs/cgroup/memory.
    pub mountpoint: PathBuf,
    /// Controllers (v1) such as ["cpu", "cpuacct"], or ["name=systemd"]; empty for cgroup2.
    pub controllers: Vec<String>,
    /// Whether this is a cgroup2 hierarchy.
    pub v2: bool,
}

/// Mount option words that are not controllers.
const NOT_CONTROLLERS: &[&str] = &[
    "rw",
    "ro",
    "nosuid",
    "nodev",
    "noexec",
    "relatime",
    "noatime",
    "clone_children",
    "xattr",
    "noprefix",
    "nsdelegate",
    "memory_recursiveprot",
    "memory_localevents",
    "favordynmods",
];

/// Parse /proc/self/mountinfo text for cgroup hierarchies.
///
/// Runs on every create, so it works on the text's slices: only cgroup
/// lines become owned values.
pub fn parse_mountinfo(text: &str) -> Vec<Hierarchy> {
    // Every mount point in mount order (still escaped: escaping is per
    // character and leaves '/' alone, so prefixes compare the same). A
    // hierarchy over-mounted later, at its own path or above it (a tmpfs
    // hiding /sys/fs/cgroup/unified, say), is out of reach.
    let mut points: Vec<&str> = Vec::new();
    let mut found: Vec<(usize, Hierarchy)> = Vec::new();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else { continue };
        let Some(mp) = pre.split(' ').nth(4) else { continue };
        points.push(mp);
        let mut post = post.split(' ');
        let (Some(fstype), Some(_source), Some(options)) = (post.next(), post.next(), post.next()) else { continue };
        let h = match fstype {
            "cgroup2" => Hierarchy { mountpoint: PathBuf::from(unescape(mp)), controllers: Vec::new(), v2: true },
            "cgroup" => {
                let controllers = options.split(',').filter(|o| !NOT_CONTROLLERS.contains(o) && !o.starts_with("release_agent=")).map(str::to_string).collect();
                Hierarchy { mountpoint: PathBuf::from(unescape(mp)), controllers, v2: false }
            }
            _ => continue,
        };
        found.push((points.len() - 1, h));
    }
    let under = |p: &str, base: &str| base == "/" || p == base || (p.starts_with(base) && p.as_bytes().get(base.len()) == Some(&b'/'));
    let mut out: Vec<Hierarchy> = Vec::new();
    for (at, h) in found {
        if points[at + 1..].iter().any(|later| under(points[at], later)) {
            continue;
        }
        // The same hierarchy may be mounted twice; keep the first mount of each.
        if !out.iter().any(|o| o.v2 == h.v2 && o.controllers == h.controllers) {
            out.push(h);
        }
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as octal.
pub(crate) fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The caller's own cgroup in a hierarchy, from /proc/self/cgroup text.
pub fn own_path(proc_cgroup: &str, h: &Hierarchy) -> PathBuf {
    for line in proc_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = match (f.next(), f.next(), f.next()) {
            (Some(a), Some(b), Some(c)) => (a, b, c),
            _ => continue,
        };
        let matches = if h.v2 {
            ctrls.is_empty()
        } else {
            let mut got: Vec<&str> = ctrls.split(',').collect();
            let mut want: Vec<&str> = h.controllers.iter().map(String::as_str).collect();
            got.sort();
            want.sort();
            !ctrls.is_empty() && got == want
        };
        if matches {
            return PathBuf::from(path);
        }
    }
    PathBuf::from("/")
}

/// The container's cgroup directories: one per hierarchy.
#[derive(Clone, Debug)]
pub struct Placement {
    /// (hierarchy, directory on the host) pairs.
    pub dirs: Vec<(Hierarchy, PathBuf)>,
}

/// Resolve `linux.cgroupsPath` for every hierarchy: absolute paths are taken
/// from each hierarchy's root, relative ones (and the default, the id) from
/// the caller's own cgroup, as runc's cgroupfs driver does. On a pure
/// cgroup2 host a relative path starts at the parent of the caller's own
/// cgroup (runc's rule there: the caller's cgroup holds the caller, and a
/// cgroup2 directory with processes cannot delegate controllers to a child).
/// The path is cleaned as runc cleans it: `.` and `..` are resolved
/// lexically and can never climb above the starting point.
pub fn resolve(cgroups_path: Option<&Path>, id: &str) -> Result<Placement> {
    let mountinfo = crate::procfs::read_small("/proc/self/mountinfo").map_err(|e| Error::os("read /proc/self/mountinfo", e))?;
    let own = crate::procfs::read_small("/proc/self/cgroup").unwrap_or_default();
    let given = cgroups_path.filter(|p| !p.as_os_str().is_empty());
    let rel = clean_path(given.unwrap_or(Path::new(id)));
    if rel.as_os_str().is_empty() || rel == Path::new("/") {
        let shown = given.map_or_else(|| id.to_string(), |p| p.display().to_string());
        return Err(Error::msg(format!("cgroupsPath {shown:?} names the root cgroup, which a container cannot own")).field("linux.cgroupsPath"));
    }
    let hs = parse_mountinfo(&mountinfo);
    if hs.is_empty() {
        return Err(Error::msg("no cgroup hierarchy is mounted on this host"));
    }
    let pure_v2 = hs.iter().all(|h| h.v2);
    let dirs = hs
        .into_iter()
        .map(|h| {
            let inner = if rel.is_absolute() {
                rel.clone()
            } else {
                let base = own_path(&own, &h);
                let base = if pure_v2 { base.parent().map(Path::to_path_buf).unwrap_or(base) } else { base };
                base.join(&rel)
            };
            let inner = inner.strip_prefix("/").unwrap_or(&inner).to_path_buf();
            let dir = h.mountpoint.join(inner);
            (h, dir)
        })
        .collect();
    Ok(Placement { dirs })
}

/// runc's CleanPath: `.` and `..` resolved lexically, `..` stopping at the
/// start (so "a/../../b" is "b" and "/../x" is "/x"); an absolute path
/// stays absolute, a relative one relative.
pub fn clean_path(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => parts.push(n),
            Component::ParentDir => {
                parts.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    let mut out = if p.is_absolute() { PathBuf::from("/") } else { PathBuf::new() };
    out.extend(parts);
    out
}

impl Placement {
    /// Rebuild a placement from the directories stored in a container's
    /// state: each is matched to the mounted hierarchy that holds it.
    pub fn from_paths(paths: &[PathBuf]) -> Result<Placement> {
        let mountinfo = crate::procfs::read_small("/proc/self/mountinfo").map_err(|e| Error::os("read /proc/self/mountinfo", e))?;
        Ok(Self::from_paths_in(&parse_mountinfo(&mountinfo), paths))
    }

    /// [`Placement::from_paths`] against a known list of hierarchies.
    pub fn from_paths_in(hs: &[Hierarchy], paths: &[PathBuf]) -> Placement {
        let dirs = paths
            .iter()
            .filter_map(|d| hs.iter().filter(|h| d.starts_with(&h.mountpoint)).max_by_key(|h| h.mountpoint.as_os_str().len()).map(|h| (h.clone(), d.clone())))
            .collect();
        Placement { dirs }
    }

    /// The directory of the v1 hierarchy that holds controller `ctl`.
    pub fn v1_dir(&self, ctl: &str) -> Option<&Path> {
        self.dirs.iter().find(|(h, _)| !h.v2 && h.controllers.iter().any(|c| c == ctl)).map(|(_, d)| d.as_path())
    }

    /// The container's directory in the unified (cgroup2) hierarchy, with
    /// that hierarchy's mount point.
    pub fn v2(&self) -> Option<(&Path, &Path)> {
        self.dirs.iter().find(|(h, _)| h.v2).map(|(h, d)| (d.as_path(), h.mountpoint.as_path()))
    }

    /// Whether any v1 hierarchy is mounted (v1 or hybrid host).
    pub fn has_v1(&self) -> bool {
        self.dirs.iter().any(|(h, _)| !h.v2)
    }

    /// The directories, as stored in the state.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|(_, d)| d.clone()).collect()
    }

    /// Refuse a directory (or nearest existing ancestor) that is frozen
    /// before the container exists: the init would freeze on entry and
    /// `create` would hang (runc: "container's cgroup unexpectedly
    /// frozen"). Processes already in a directory are warned about when
    /// its mkdir finds it existing ([`Placement::create`]).
    pub fn check_existing(&self) -> Result<()> {
        if let Some(why) = freezer::frozen_at_entry(self) {
            return Err(Error::msg(format!("container's cgroup unexpectedly frozen: {why}")).field("linux.cgroupsPath"));
        }
        Ok(())
    }

    /// Create every directory (parents included). A cpuset directory starts
    /// with empty cpus/mems on v1, which refuses tasks: copy the parent's.
    pub fn create(&self) -> Result<()> {
        self.create_v2()?;
        self.create_v1()
    }

    /// Create the cgroup2 directory only (the init is born in it; the v1
    /// directories follow while the init mounts its rootfs).
    pub fn create_v2(&self) -> Result<()> {
        for (h, dir) in self.dirs.iter().filter(|(h, _)| h.v2) {
            mkdir_levels(&h.mountpoint, dir, false, true)?;
        }
        Ok(())
    }

    /// Create the v1 directories only.
    pub fn create_v1(&self) -> Result<()> {
        for (h, dir) in self.dirs.iter().filter(|(h, _)| !h.v2) {
            mkdir_levels(&h.mountpoint, dir, h.controllers.iter().any(|c| c == "cpuset"), true)?;
        }
        Ok(())
    }

    /// The v1 directories, in placement order.
    pub fn v1_paths(&self) -> Vec<PathBuf> {
        self.dirs.iter().filter(|(h, _)| !h.v2).map(|(_, d)| d.clone()).collect()
    }

    /// Mount descriptions for "cgroup" mounts inside the container.
    pub fn mounts(&self) -> Vec<crate::rootfs::CgroupMount> {
        self.dirs
            .iter()
            .map(|(h, dir)| {
                let name = h.mountpoint.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let options = if h.v2 {
                    String::new()
                } else if h.controllers.iter().any(|c| c.starts_with("name=")) {
                    format!("none,{}", h.controllers.join(","))
                } else {
                    h.controllers.join(",")
                };
                crate::rootfs::CgroupMount { name, options, host_path: dir.clone() }
            })
            .collect()
    }
}

fn mkdir_levels(mountpoint: &Path, dir: &Path, cpuset: bool, leaf: bool) -> Result<()> {
    // The leaf first: its parents usually exist (a shared prefix), and each
    // needless mkdir of a cgroup directory is a syscall on every create.
    let err = |e| Error::os(format!("create cgroup {}", dir.display()), e).field("linux.cgroupsPath");
    match fs::create_dir(dir) {
        Ok(()) => init_cpuset(mountpoint, dir, cpuset, true),
        // Someone else's directory, maybe with an empty cpuset (`mkdir` alone),
        // maybe with processes in it: runc warns and goes on. Only a
        // directory that existed is looked at: no syscall on a new one.
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let n = if leaf { tree::pids_below(dir).map_or(0, |p| p.len()) } else { 0 };
            if n > 0 {
                log::warn!("container's cgroup is not empty: {n} process(es) found in {}", dir.display());
            }
            init_cpuset(mountpoint, dir, cpuset, false)
        }
        Err(e) if e.kind() == ErrorKind::NotFound && dir != mountpoint && dir.starts_with(mountpoint) => {
            let parent = dir.parent().ok_or_else(|| err(e))?;
            // A shared parent (`/berth-test`, a slice) may be removed by
            // its owner's clean-up between our two mkdirs, when it looked
            // empty: make it again, a few times.
            let mut tries = 0;
            loop {
                mkdir_levels(mountpoint, parent, cpuset, false)?;
                match fs::create_dir(dir) {
                    Ok(()) => return init_cpuset(mountpoint, dir, cpuset, true),
                    Err(e) if e.kind() == ErrorKind::AlreadyExists => return init_cpuset(mountpoint, dir, cpuset, false),
                    Err(e) if e.kind() == ErrorKind::NotFound && tries < 3 => tries += 1,
                    Err(e) => return Err(err(e)),
                }
            }
        }
        Err(e) => Err(err(e)),
    }
}

/// A v1 cpuset directory starts with empty cpus and mems, and the kernel
/// refuses tasks (ENOSPC) in a cpuset whose cpus or mems are empty: give an
/// empty one its parent's, top-down from the first ancestor below the root
/// that has values, as runc does. Only empty files are written: a cpuset
/// with no cpus holds no task, so filling it changes nothing for anyone,
/// and values someone chose are never overwritten.
/// `fresh`: `dir` was just made, so its files are known to be empty.
fn init_cpuset(mountpoint: &Path, dir: &Path, cpuset: bool, fresh: bool) -> Result<()> {
    if !cpuset {
        return Ok(());
    }
    for f in ["cpuset.cpus", "cpuset.mems"] {
        fill_cpuset(mountpoint, dir, f, fresh)?;
    }
    Ok(())
}

/// The value of `f` in `dir`, after filling it (and its empty ancestors)
/// from the nearest ancestor that has one.
fn fill_cpuset(mountpoint: &Path, dir: &Path, f: &str, fresh: bool) -> Result<String> {
    let empty = |v: &str| v.bytes().all(|b| b.is_ascii_whitespace());
    let v = if fresh { String::new() } else { crate::procfs::read_small(dir.join(f)).unwrap_or_default() };
    if !empty(&v) || dir == mountpoint || !dir.starts_with(mountpoint) {
        return Ok(v);
    }
    let Some(parent) = dir.parent() else { return Ok(v) };
    let from = fill_cpuset(mountpoint, parent, f, false)?;
    if empty(&from) {
        return Ok(v);
    }
    fs::write(dir.join(f), &from).map_err(|e| Error::os(format!("initialize {}", dir.join(f).display()), e))?;
    Ok(from)
}

/// Remove the container's cgroup directories and every cgroup the
/// container made below them, deepest first (not their parents: those may
/// be shared). Every directory is tried; the first error is returned.
pub fn remove(paths: &[PathBuf]) -> Result<()> {
    let mut first_err = None;
    for dir in paths {
        if let Err(e) = tree::remove_tree(dir) {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Pids in the container's cgroup and the cgroups below it, from the first
/// directory that exists (each hierarchy holds every process somewhere in
/// the container's subtree).
pub fn procs(paths: &[PathBuf]) -> Vec<i32> {
    paths.iter().find_map(|d| tree::pids_below(d)).unwrap_or_default()
}

/// Whether the freezer holds the container frozen (v1 freezer.state, or
/// cgroup.freeze where no v1 freezer is mounted).
pub fn is_frozen(paths: &[PathBuf]) -> bool {
    freezer::is_frozen(paths)
}

/// A cgroup of a unit test: `<mountpoint>/berth-test/<name>-<pid>`, made
/// with its parents, removed on drop (on failure too) with the shared
/// parent when that is left empty.
#[cfg(test)]
pub(crate) struct TestCgroup(pub PathBuf);

#[cfg(test)]
impl TestCgroup {
    pub(crate) fn new(mountpoint: &Path, name: &str) -> Self {
        let dir = mountpoint.join("berth-test").join(format!("{name}-{}", std::process::id()));
        // Another test may remove the empty shared parent between the two
        // mkdirs of create_dir_all.
        let mut tries = 0;
        while let Err(e) = fs::create_dir_all(&dir) {
            tries += 1;
            assert!(tries < 5, "create {}: {e}", dir.display());
        }
        TestCgroup(dir)
    }
}

#[cfg(test)]
impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.0);
        if let Some(parent) = self.0.parent() {
            let _ = fs::remove_dir(parent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid shared:6 - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:7 - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:8 - cgroup cgroup rw,memory
35 30 0:30 / /mnt/again rw,nosuid shared:8 - cgroup cgroup rw,memory
";

    #[test]
    fn hybrid_mountinfo() {
        let hs = parse_mountinfo(HYBRID);
        assert_eq!(hs.len(), 4);
        assert!(hs[0].v2 && hs[0].mountpoint == Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(hs[1].controllers, vec!["name=systemd"]);
        assert_eq!(hs[2].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(hs[3].mountpoint, Path::new("/sys/fs/cgroup/memory"));
    }

    #[test]
    fn over_mounted_hierarchies_are_skipped() {
        // A tmpfs over the unified mount point hides only that hierarchy.
        let text = format!("{HYBRID}40 31 0:50 / /sys/fs/cgroup/unified rw - tmpfs none rw\n");
        let hs = parse_mountinfo(&text);
        assert!(hs.iter().all(|h| !h.v2), "{hs:?}");
        assert_eq!(hs.len(), 3);
        let text = format!("{HYBRID}41 25 0:51 / /sys/fs/cgroup rw - tmpfs none rw\n");
        let hs = parse_mountinfo(&text);
        // One over /sys/fs/cgroup hides all of them but the memory
        // hierarchy's second mount, at /mnt/again.
        assert_eq!(hs.len(), 1, "{hs:?}");
        assert_eq!(hs[0].mountpoint, Path::new("/mnt/again"));
    }

    #[test]
    fn own_paths() {
        let hs = parse_mountinfo(HYBRID);
        let pc = "9:name=systemd:/sd\n4:memory:/process_api/x\n2:cpuacct,cpu:/c\n0::/u\n";
        assert_eq!(own_path(pc, &hs[0]), Path::new("/u"));
        assert_eq!(own_path(pc, &hs[1]), Path::new("/sd"));
        assert_eq!(own_path(pc, &hs[2]), Path::new("/c"));
        assert_eq!(own_path(pc, &hs[3]), Path::new("/process_api/x"));
    }

    #[test]
    fn paths_are_cleaned_as_runc_does() {
        assert_eq!(clean_path(Path::new("/a/../../b/./c/")), Path::new("/b/c"));
        assert_eq!(clean_path(Path::new("rel/../../x")), Path::new("x"));
        assert_eq!(clean_path(Path::new("a//b")), Path::new("a/b"));
        assert_eq!(clean_path(Path::new("/..")), Path::new("/"));
        assert_eq!(clean_path(Path::new("..")), Path::new(""));
    }

    /// A fake v1 cpuset tree: the root has values, "mid" was made with
    /// mkdir alone (empty), the leaf is new; values set by someone stay.
    #[test]
    fn empty_cpusets_are_filled_top_down() {
        let root = std::env::temp_dir().join(format!("berth-cpuset-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let leaf = root.join("mid/leaf");
        fs::create_dir_all(&leaf).unwrap();
        for (d, cpus) in [(&root, "0-1\n"), (&root.join("mid"), "\n"), (&leaf, "")] {
            fs::write(d.join("cpuset.cpus"), cpus).unwrap();
            fs::write(d.join("cpuset.mems"), if d == &root { "0\n" } else { "" }).unwrap();
        }
        init_cpuset(&root, &leaf, true, true).unwrap();
        assert_eq!(fs::read_to_string(root.join("mid/cpuset.cpus")).unwrap(), "0-1\n");
        assert_eq!(fs::read_to_string(leaf.join("cpuset.cpus")).unwrap(), "0-1\n");
        assert_eq!(fs::read_to_string(leaf.join("cpuset.mems")).unwrap(), "0\n");
        fs::write(root.join("mid/cpuset.cpus"), "1").unwrap();
        fs::write(leaf.join("cpuset.cpus"), "").unwrap();
        init_cpuset(&root, &leaf, true, false).unwrap();
        assert_eq!(fs::read_to_string(leaf.join("cpuset.cpus")).unwrap(), "1", "the nearest values win");
        assert_eq!(fs::read_to_string(root.join("cpuset.cpus")).unwrap(), "0-1\n", "the root is never written");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn frozen_cgroups_are_found_before_create() {
        let root = std::env::temp_dir().join(format!("berth-frozen-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("a")).unwrap();
        fs::write(root.join("a/freezer.state"), "FROZEN\n").unwrap();
        let h = Hierarchy { mountpoint: root.clone(), controllers: vec!["freezer".into()], v2: false };
        let p = Placement { dirs: vec![(h, root.join("a/b"))] };
        let why = freezer::frozen_at_entry(&p).unwrap();
        assert!(why.contains("a/b does not exist") && why.contains("FROZEN"), "{why}");
        fs::write(root.join("a/freezer.state"), "THAWED\n").unwrap();
        assert_eq!(freezer::frozen_at_entry(&p), None);
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/b/freezer.state"), "FREEZING\n").unwrap();
        assert!(freezer::frozen_at_entry(&p).unwrap().ends_with("a/b is FREEZING"));
        // cgroup2: frozen by itself, or through an ancestor (cgroup.events).
        let h2 = Hierarchy { mountpoint: root.clone(), controllers: vec![], v2: true };
        let p2 = Placement { dirs: vec![(h2, root.join("c"))] };
        fs::create_dir_all(root.join("c")).unwrap();
        fs::write(root.join("c/cgroup.freeze"), "0\n").unwrap();
        fs::write(root.join("c/cgroup.events"), "populated 0\nfrozen 1\n").unwrap();
        assert!(freezer::frozen_at_entry(&p2).unwrap().contains("by an ancestor"));
        fs::write(root.join("c/cgroup.events"), "populated 0\nfrozen 0\n").unwrap();
        assert_eq!(freezer::frozen_at_entry(&p2), None);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn unescape_octal() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
