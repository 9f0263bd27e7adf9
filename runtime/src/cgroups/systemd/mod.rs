//! The systemd cgroup driver (`--systemd-cgroup`, `--cgroup-manager
//! systemd`): the container's cgroup is a transient unit's, made by systemd.
//!
//! On a host whose cgroups systemd manages, the cgroup tree is systemd's:
//! a process that makes its own directories in it is outside systemd's
//! view (`systemctl status`, slices' limits, shutdown ordering). So, as
//! runc's driver does, Berth asks systemd over D-Bus for a transient scope
//! `<prefix>-<name>.scope` in the slice the cgroupsPath names
//! ([`path`]), with `Delegate=yes` and the init's pid, and waits for the
//! start job. Limits go both ways: as unit properties ([`properties`], so
//! systemd's view and what it re-applies agree) and to the cgroup files
//! through the cgroupfs code (what systemd has no property for, exact
//! values). Everything after the start (exec, pause/resume through the
//! freezer, stats, events, kill) works on the unit's cgroup directories
//! like the cgroupfs driver's; `update` sets properties, then files;
//! `delete` stops the unit.
//!
//! The driver only costs when asked for: nothing here runs, and no D-Bus
//! connection is made, for the cgroupfs driver.

pub mod dbus;
pub mod path;
pub mod properties;

pub use path::Unit;

use super::{apply, devices, v1, v2, Placement};
use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxResources, Spec};
use properties::{Property, Value};
use std::path::Path;

/// Which cgroup manager makes a container's cgroups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Driver {
    /// Berth makes the directories itself (runc's default).
    #[default]
    Cgroupfs,
    /// systemd makes them, as a transient unit.
    Systemd,
}

/// Whether the caller is rootless (picks the default slice and the bus).
fn rootless() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() != 0 }
}

/// The unit and the cgroup directories of a container under systemd.
/// Errors name `linux.cgroupsPath` (its form, the slice name).
pub fn resolve(cgroups_path: Option<&Path>, id: &str) -> Result<(Placement, Unit)> {
    let text = match cgroups_path {
        Some(p) => Some(p.to_str().ok_or_else(|| Error::msg("cgroupsPath is not UTF-8").field("linux.cgroupsPath"))?),
        None => None,
    };
    let unit = path::parse(text, id, rootless())?;
    // sd_booted(3)'s test, before anything exists (runc checks the same).
    if !Path::new("/run/systemd/system").is_dir() {
        return Err(Error::msg("the systemd cgroup manager was asked for, but systemd is not running on this host (no /run/systemd/system)"));
    }
    let placement = super::resolve(Some(Path::new(&unit.cgroup)), id)?;
    Ok((placement, unit))
}

/// Whether a cgroupsPath reads as the systemd form (`slice:prefix:name`),
/// for a container whose state is lost and only its config is left.
pub fn looks_like_unit(cgroups_path: &str) -> bool {
    let parts: Vec<&str> = cgroups_path.split(':').collect();
    parts.len() == 3 && !cgroups_path.starts_with('/') && (parts[0].is_empty() || parts[0].ends_with(".slice"))
}

/// The properties systemd takes for `r`, on this placement's layout.
/// Device rules become DevicePolicy/DeviceAllow only when given.
pub fn resource_properties(p: &Placement, r: &LinuxResources) -> Result<Vec<Property>> {
    let r = apply::zeros_unset(r);
    let mut out = if p.has_v1() {
        properties::resources(&v1::plan(&r)?, false)
    } else {
        let mut w = v2::plan(&r)?;
        w.extend(v2::unified(&r)?);
        properties::resources(&w, true)
    };
    if let Some(cfg) = r.devices().as_deref() {
        let rules = devices::rules(Some(cfg))?;
        let proc_devices = std::fs::read_to_string("/proc/devices").unwrap_or_default();
        out.extend(properties::devices(&rules, &proc_devices));
    }
    Ok(out)
}

/// Everything the unit starts with: where it goes, delegation, the init's
/// pid (a scope), accounting, the config's limits, then the config's
/// `org.systemd.property.*` annotations (which may override any of them).
pub fn start_properties(unit: &Unit, id: &str, pid: i32, p: &Placement, spec: &Spec) -> Result<Vec<Property>> {
    let b = |n: &str, v: bool| (n.to_string(), Value::Bool(v));
    let mut out = vec![("Description".to_string(), Value::Str(format!("berth container {id}")))];
    if unit.is_slice() {
        out.push(("Wants".to_string(), Value::Strs(vec![unit.slice.clone()])));
    } else {
        out.push(("Slice".to_string(), Value::Str(unit.slice.clone())));
        out.push(b("Delegate", true));
        out.push(("PIDs".to_string(), Value::U32s(vec![pid as u32])));
    }
    // Accounting on: systemd then enables the controllers down the slices
    // (cgroup2's subtree_control), as the cgroupfs driver does itself.
    out.push(b("MemoryAccounting", true));
    out.push(b("CPUAccounting", true));
    out.push(b(if p.has_v1() { "BlockIOAccounting" } else { "IOAccounting" }, true));
    out.push(b("TasksAccounting", true));
    out.push(b("DefaultDependencies", false));
    if let Some(r) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
        out.extend(resource_properties(p, r)?);
    }
    if let Some(a) = spec.annotations() {
        out.extend(properties::annotations(&a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())?);
    }
    Ok(out)
}

/// Start the container's unit for its init `pid` and wait until systemd
/// has put the init in the unit's cgroup. A slice unit holds no process at
/// start: the init then joins through `cgroup.procs`. On failure the unit
/// is stopped again (a slice only if this call made it).
pub fn start(unit: &Unit, props: &[Property], p: &Placement, pid: i32) -> Result<()> {
    let sd = dbus::Systemd::connect()?;
    let made = sd.start_transient(&unit.name, props, unit.is_slice())?;
    let joined = match p.v2() {
        Some((dir, _)) if unit.is_slice() => apply::write_existing(&dir.join("cgroup.procs"), &pid.to_string())
            .map_err(|e| Error::os(format!("move the init into {}", dir.display()), e).field("linux.cgroupsPath")),
        _ => Ok(()),
    };
    if joined.is_err() && made {
        let _ = sd.stop(&unit.name);
    }
    joined
}

/// Stop the unit (`delete`, a failed create); one that is gone is fine.
pub fn stop(unit: &str) -> Result<()> {
    dbus::Systemd::connect()?.stop(unit)
}

/// `update` under systemd: the unit's properties first, then the files.
pub fn update(unit: &str, p: &Placement, r: &LinuxResources) -> Result<()> {
    let props = resource_properties(p, r)?;
    dbus::Systemd::connect()?.set_properties(unit, &props)?;
    use super::Manager;
    p.apply(r, apply::Mode::Update)
}
