//! A container whose state file cannot be read (truncated, garbage, a
//! disk that filled): `list` still shows it and `delete --force` still
//! removes it, from what remains. The cgroups come from the config create
//! saved beside the state (written before the state, so it is there
//! whenever a state is); the processes from membership of those cgroups,
//! never from a pid that may by now belong to someone else. See
//! docs/ARCHITECTURE.md "Crash safety".

use crate::cgroups;
use crate::error::{Error, Result};
use crate::state::{self, Locked, Root};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The container's cgroup directories, whether it has a pid namespace of
/// its own, and its systemd unit, from the config saved in `dir`. A
/// cgroupsPath in systemd's `slice:prefix:name` form was the systemd
/// driver's (the record of which driver made it was in the lost state).
fn cgroup_paths(dir: &Path, id: &str) -> Result<(Vec<PathBuf>, bool, Option<String>)> {
    let path = dir.join(crate::config::SAVED_CONFIG);
    let raw = std::fs::read(&path).map_err(|e| Error::os(format!("read {}", path.display()), e))?;
    let spec = crate::config::parse(&raw).map_err(|e| e.context(path.display()))?;
    let linux = spec.linux().as_ref();
    let cg = linux.and_then(|l| l.cgroups_path().as_deref());
    let own_pidns = crate::namespaces::plan(linux).is_ok_and(|p| p.new_pidns);
    if cg.and_then(Path::to_str).is_some_and(cgroups::systemd::looks_like_unit) {
        let (p, unit) = cgroups::systemd::resolve(cg, id)?;
        return Ok((p.paths(), own_pidns, Some(unit.name)));
    }
    Ok((cgroups::resolve(cg, id)?.paths(), own_pidns, None))
}

/// The pid namespace of `pid` (the nsfs link text), if it can be read.
fn pid_ns(pid: &str) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok()
}

/// SIGKILL every process of the container in `paths` and the cgroups below
/// them (every frozen one thawed first: a frozen task takes SIGKILL only
/// once thawed) until none is left, or fail after a few seconds. With
/// `own_pidns`, the container's processes are those in a pid namespace
/// other than ours: a process that sat in a pre-existing cgroup before the
/// container came (runc's "cgroup is not empty" case) is not the
/// container's and is left alone.
pub(super) fn kill_members(paths: &[PathBuf], own_pidns: bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let ours = pid_ns("self");
    loop {
        let mut pids = cgroups::procs(paths);
        if own_pidns {
            pids.retain(|p| pid_ns(&p.to_string()).is_some_and(|ns| Some(ns) != ours));
        }
        if pids.is_empty() {
            return Ok(());
        }
        cgroups::freezer::thaw_tree(paths);
        for pid in &pids {
            // SAFETY: kill with a pid read from the container's own cgroup.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        if Instant::now() >= deadline {
            return Err(Error::msg(format!("processes {pids:?} in the container's cgroups did not die within 5s of SIGKILL")));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `delete --force` of a container whose state could not be read (`why`).
pub(super) fn delete_damaged(locked: &Locked, id: &str, why: Error) -> Result<()> {
    log::warn!("delete {id}: {why}; recovering from the saved config");
    match cgroup_paths(&locked.dir, id) {
        Ok((paths, own_pidns, unit)) => {
            kill_members(&paths, own_pidns)?;
            if let Some(u) = unit {
                if let Err(e) = cgroups::systemd::stop(&u) {
                    log::warn!("delete {id}: {e}");
                }
            }
            // A cgroup that cannot go keeps the state dir, for another try.
            cgroups::remove(&paths)?;
        }
        Err(e) => log::warn!("delete {id}: no cgroups to clean ({e})"),
    }
    locked.remove()
}

/// `list`'s row for a container whose state could not be read: running if
/// its cgroups hold processes, else stopped, with the reason in "error".
pub(super) fn damaged_row(root: &Root, id: &str, why: &Error) -> serde_json::Value {
    let dir = root.container_dir(id);
    let alive = cgroup_paths(&dir, id).is_ok_and(|(p, _, _)| !cgroups::procs(&p).is_empty());
    serde_json::json!({
        "ociVersion": "",
        "id": id,
        "pid": 0,
        "status": if alive { "running" } else { "stopped" },
        "bundle": "",
        "rootfs": "",
        "created": "",
        "owner": state::owner_of(&dir),
        "error": format!("{why}; `delete --force {id}` removes what is left"),
    })
}
