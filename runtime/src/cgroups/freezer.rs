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
