//! The freezer: `pause` and `resume`. v1 `freezer.state` where a v1 freezer
//! hierarchy is mounted, otherwise cgroup2's `cgroup.freeze`. Freezing is
//! asynchronous on both: we wait until the kernel reports it done.

use super::apply::write_existing;
use super::Placement;
use crate::error::{Error, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Freeze (`true`) or thaw the container's processes and wait for it.
pub fn set(p: &Placement, frozen: bool) -> Result<()> {
    if let Some(dir) = p.v1_dir("freezer") {
        return set_v1(dir, frozen);
    }
    match p.v2() {
        Some((dir, _)) => set_v2(dir, frozen),
        None => Err(Error::msg("no freezer is available to this container (no v1 freezer hierarchy, no cgroup2)")),
    }
}

fn set_v1(dir: &Path, frozen: bool) -> Result<()> {
    let file = dir.join("freezer.state");
    let want = if frozen { "FROZEN" } else { "THAWED" };
    let deadline = Instant::now() + TIMEOUT;
    let mut pause = Duration::from_micros(100);
    loop {
        // Writing again is what moves a freezer stuck in FREEZING (a task
        // that was busy in the kernel) along.
        fs::write(&file, want).map_err(|e| Error::os(format!("write {want} to {}", file.display()), e))?;
        let now = fs::read_to_string(&file).map_err(|e| Error::os(format!("read {}", file.display()), e))?;
        if now.trim() == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            if frozen {
                let _ = fs::write(&file, "THAWED");
            }
            return Err(Error::msg(format!("{} stayed {} for {TIMEOUT:?}", file.display(), now.trim())));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

fn set_v2(dir: &Path, frozen: bool) -> Result<()> {
    let file = dir.join("cgroup.freeze");
    let v = if frozen { "1" } else { "0" };
    fs::write(&file, v).map_err(|e| Error::os(format!("write {v} to {}", file.display()), e))?;
    let events = dir.join("cgroup.events");
    let want = format!("frozen {v}");
    let deadline = Instant::now() + TIMEOUT;
    let mut pause = Duration::from_micros(100);
    loop {
        let s = fs::read_to_string(&events).map_err(|e| Error::os(format!("read {}", events.display()), e))?;
        if s.lines().any(|l| l.trim() == want) {
            return Ok(());
        }
        if Instant::now() > deadline {
            if frozen {
                let _ = fs::write(&file, "0");
            }
            return Err(Error::msg(format!("{} did not report {want} within {TIMEOUT:?}", events.display())));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Thaw without waiting, best effort (before or after a SIGKILL: a frozen
/// task handles it only once thawed). Only a frozen freezer is written.
pub fn thaw_paths(paths: &[PathBuf]) {
    if !is_frozen(paths) {
        return;
    }
    for dir in paths {
        if write_existing(&dir.join("freezer.state"), "THAWED").is_ok() {
            return;
        }
    }
    for dir in paths {
        if write_existing(&dir.join("cgroup.freeze"), "0").is_ok() {
            return;
        }
    }
}

/// Thaw every frozen cgroup of the container's trees, top-down, without
/// waiting (before removing them: a task frozen in a cgroup of its own
/// below the container's, which thawing the container's does not reach on
/// v1, handles SIGKILL only once thawed).
pub fn thaw_tree(paths: &[PathBuf]) {
    for dir in paths {
        for d in super::tree::walk(dir) {
            if fs::read_to_string(d.join("freezer.state")).is_ok_and(|s| s.trim() != "THAWED") {
                let _ = write_existing(&d.join("freezer.state"), "THAWED");
            }
            if fs::read_to_string(d.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1") {
                let _ = write_existing(&d.join("cgroup.freeze"), "0");
            }
        }
    }
}

/// Why a process entering the container's cgroups would be frozen at once,
/// if it would: the v1 freezer directory or the cgroup2 directory is frozen
/// (or freezing), by itself or through an ancestor. A directory that does
/// not exist yet would inherit the state of its nearest existing ancestor,
/// so that one is asked. The hierarchy's root cannot be frozen.
///
/// Creating into such a cgroup would hang: the init freezes on entry and
/// never reports back.
pub fn frozen_at_entry(p: &Placement) -> Option<String> {
    for (h, dir) in &p.dirs {
        let v1_freezer = !h.v2 && h.controllers.iter().any(|c| c == "freezer");
        if !(v1_freezer || h.v2) {
            continue;
        }
        let mut d = dir.as_path();
        while d != h.mountpoint && d.starts_with(&h.mountpoint) {
            let state = if v1_freezer { v1_state(d) } else { v2_state(d) };
            match state {
                Some(None) => break,
                Some(Some(s)) if d == dir => return Some(format!("{} is {s}", d.display())),
                Some(Some(s)) => return Some(format!("{} does not exist and its parent {} is {s}", dir.display(), d.display())),
                None => d = d.parent().unwrap_or(&h.mountpoint),
            }
        }
    }
    None
}

/// v1: None if `d` does not exist; Some(None) if thawed; else the state.
fn v1_state(d: &Path) -> Option<Option<String>> {
    let s = fs::read_to_string(d.join("freezer.state")).ok()?;
    Some(Some(s.trim().to_string()).filter(|s| s != "THAWED"))
}

/// cgroup2: None if `d` does not exist; Some(None) if not frozen (by
/// itself: cgroup.freeze, or by an ancestor: "frozen 1" in cgroup.events).
fn v2_state(d: &Path) -> Option<Option<String>> {
    let freeze = fs::read_to_string(d.join("cgroup.freeze")).ok()?;
    if freeze.trim() == "1" {
        return Some(Some("frozen (cgroup.freeze 1)".into()));
    }
    let events = fs::read_to_string(d.join("cgroup.events")).unwrap_or_default();
    Some(events.lines().any(|l| l.trim() == "frozen 1").then(|| "frozen by an ancestor (cgroup.events: frozen 1)".to_string()))
}

/// Whether the container is frozen, from the directories in its state.
/// The v1 freezer is preferred, as in [`set`].
pub fn is_frozen(paths: &[PathBuf]) -> bool {
    // Try the directory that looks like the freezer's first: one read.
    let mut order: Vec<&PathBuf> = paths.iter().filter(|d| d.components().any(|c| c.as_os_str() == "freezer")).collect();
    order.extend(paths.iter().filter(|d| !d.components().any(|c| c.as_os_str() == "freezer")));
    for dir in &order {
        if let Ok(s) = fs::read_to_string(dir.join("freezer.state")) {
            return s.trim() == "FROZEN";
        }
    }
    for dir in order {
        if let Ok(s) = fs::read_to_string(dir.join("cgroup.freeze")) {
            return s.trim() == "1";
        }
    }
    false
}
