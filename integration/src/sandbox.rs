//! What the Docker and Podman tests share around their engine: a private
//! directory, the runtime under test and its state directory, a cgroup
//! parent of their own, and the clean-up of all of it.
//!
//! An engine's guard holds a [`Sandbox`] as a field: the guard's own Drop
//! ends the engine's containers and processes first, then the Sandbox's Drop
//! (which runs after it) deletes the runtime state left, unmounts, removes
//! the cgroup tree and the directory, even when the test failed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::host::{cgroup_children, cgroup_dirs, mounts_under, remove_cgroup_tree, unmount_under};
use crate::process::{kill_pids, run_timeout, show, unique_id};
use crate::runtime::{runtime_list, runtime_under_test};

/// A test's private directory, runtime and cgroup parent.
pub struct Sandbox {
    /// Temporary directory holding the engine's configuration and storage,
    /// the runtime wrapper and its log.
    pub dir: PathBuf,
    /// The runtime under test.
    pub runtime: PathBuf,
    /// The runtime's state directory (its `--root`).
    pub state: PathBuf,
    /// Our cgroup parent, relative to the hierarchy roots.
    pub cgroup: String,
}

impl Sandbox {
    /// A new directory `berth-<unique tag>` under the temporary directory,
    /// with the runtime's state at `state` inside it.
    pub fn new(tag: &str, state: &str) -> Sandbox {
        let tag = unique_id(tag);
        let dir = std::env::temp_dir().join(format!("berth-{tag}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let runtime = runtime_under_test();
        Sandbox { runtime, state: dir.join(state), cgroup: format!("berth-test/{tag}"), dir }
    }

    /// Nothing of the test's containers is left: `ps` (the engine's
    /// `ps -a -q`) lists none, the runtime holds no state, and no cgroup or
    /// mount is left but those the engine keeps for itself until Drop.
    pub fn assert_clean(&self, ps: &Output, engine_cgroup: impl Fn(&Path) -> bool, engine_mount: impl Fn(&str) -> bool) {
        assert!(String::from_utf8_lossy(&ps.stdout).trim().is_empty(), "containers left: {}", show(ps));
        let left = runtime_list(&self.runtime, &self.state);
        assert!(left.is_empty(), "runtime state left in {}: {left:?}", self.state.display());
        let cgroups: Vec<PathBuf> = cgroup_children(&self.cgroup).into_iter().filter(|p| !engine_cgroup(p)).collect();
        assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
        let mounts: Vec<String> = mounts_under(&self.dir).into_iter().filter(|m| !engine_mount(m)).collect();
        assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Whatever is left in our cgroups (e.g. a container whose shim was
        // killed) is ours: end it so the cgroups can go.
        kill_cgroup_procs(&self.cgroup, Duration::from_secs(10));
        for id in runtime_list(&self.runtime, &self.state) {
            let mut cmd = Command::new(&self.runtime);
            cmd.arg("--root").arg(&self.state).args(["delete", "--force", &id]);
            let _ = run_timeout(cmd, Duration::from_secs(20));
        }
        unmount_under(&self.dir);
        remove_cgroup_tree(&self.cgroup);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Pids in the cgroup `rel` (one of ours) or below it, in any hierarchy.
pub fn cgroup_procs(rel: &str) -> Vec<i32> {
    fn walk(d: &Path, out: &mut Vec<i32>) {
        let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        out.extend(procs.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    for d in cgroup_dirs(rel) {
        walk(&d, &mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// SIGKILLs every process left in the cgroup `rel` (one of ours, e.g.
/// `berth-test/dk-123`) and below it, thawing frozen ones of ours first,
/// until none is left or `timeout` passes.
pub fn kill_cgroup_procs(rel: &str, timeout: Duration) {
    assert!(rel.starts_with("berth-test/") && !rel.contains(".."), "not one of our cgroups: {rel}");
    fn thaw(d: &Path) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                thaw(&e.path());
            }
        }
        let state = d.join("freezer.state");
        if std::fs::read_to_string(&state).is_ok_and(|s| s.trim() != "THAWED") {
            let _ = std::fs::write(&state, "THAWED");
        }
    }
    let deadline = Instant::now() + timeout;
    loop {
        let pids = cgroup_procs(rel);
        if pids.is_empty() || Instant::now() > deadline {
            return;
        }
        for d in cgroup_dirs(rel) {
            if d.starts_with("/sys/fs/cgroup/freezer") {
                thaw(&d);
            }
        }
        kill_pids(&pids);
        std::thread::sleep(Duration::from_millis(100));
    }
}
