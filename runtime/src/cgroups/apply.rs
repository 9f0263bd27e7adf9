//! Carrying out a resource plan: each [`Write`] goes to the directory of
//! the hierarchy that holds its controller.
//!
//! Only fields present in the config produce writes (every write is three
//! syscalls), and a failing write names the value and the config field:
//! `set memory limit 1000 (linux.resources.memory.limit): Device or resource busy`.

use super::{bpf, device_update, devices, freezer, stats, v1, v2, Placement};
use crate::error::{Error, Result};
use oci_spec::runtime::LinuxResources;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

/// One write to a controller file, planned from the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// Controller that owns the file (v1 hierarchy or v2 controller name);
    /// empty for core files such as `cgroup.max.depth`.
    pub ctl: String,
    /// File name inside the container's cgroup directory.
    pub file: String,
    /// What is written.
    pub value: String,
    /// A `(file, value)` tried when `file` does not exist (e.g. blkio.weight
    /// → blkio.bfq.weight on kernels with BFQ only).
    pub alt: Option<(String, String)>,
    /// What is being set, for messages ("memory limit").
    pub what: String,
    /// The config field ("linux.resources.memory.limit").
    pub field: String,
    /// A missing file is not an error (a feature the kernel may lack).
    pub optional: bool,
}

impl Write {
    /// A write of `value` to `file` of controller `ctl`.
    pub fn new(ctl: &str, file: impl Into<String>, value: impl ToString, what: impl Into<String>, field: impl Into<String>) -> Write {
        Write { ctl: ctl.into(), file: file.into(), value: value.to_string(), alt: None, what: what.into(), field: field.into(), optional: false }
    }

    /// With a fallback file (and value) for kernels without `file`.
    pub fn or(mut self, file: impl Into<String>, value: impl ToString) -> Write {
        self.alt = Some((file.into(), value.to_string()));
        self
    }

    /// Tolerate a missing file.
    pub fn optional(mut self) -> Write {
        self.optional = true;
        self
    }

    fn fail(&self, value: &str, e: std::io::Error) -> Error {
        Error::os(format!("set {} {value}", self.what), e).field(self.field.clone())
    }

    /// Write into `dir`, trying the fallback file when the first is missing.
    pub fn run(&self, dir: &Path) -> Result<()> {
        let mut missing = self.attempt(dir)?;
        // cgroup v2 lists a controller in a child's cgroup.controllers as
        // soon as the parent's subtree_control has it, a moment before the
        // kernel has made the child's files: when another create under the
        // same parent is enabling it right now, they are on their way.
        if missing && !self.ctl.is_empty() && v2::has_word(&dir.join("cgroup.controllers"), &self.ctl) {
            for _ in 0..50 {
                std::thread::sleep(std::time::Duration::from_millis(2));
                missing = self.attempt(dir)?;
                if !missing {
                    break;
                }
            }
        }
        if !missing {
            return Ok(());
        }
        if self.optional {
            log::debug!("{} not set: the kernel has no {}", self.what, self.file);
            return Ok(());
        }
        Err(Error::msg(format!("set {} {}: this kernel has no {} in {}", self.what, self.value, self.file, dir.display())).field(self.field.clone()))
    }

    /// One try of the file, then of the fallback: Ok(true) when neither
    /// exists, Ok(false) when written.
    fn attempt(&self, dir: &Path) -> Result<bool> {
        match write_existing(&dir.join(&self.file), &self.value) {
            Ok(()) => return Ok(false),
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(self.fail(&self.value, e)),
            Err(_) => {}
        }
        if let Some((f, v)) = &self.alt {
            match write_existing(&dir.join(f), v) {
                Ok(()) => return Ok(false),
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(self.fail(v, e)),
                Err(_) => {}
            }
        }
        Ok(true)
    }
}

/// Write to a file that must exist (no O_CREAT: a missing controller file
/// is ENOENT, never a new file).
pub fn write_existing(path: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    fs::OpenOptions::new().write(true).open(path)?.write_all(value.as_bytes())
}

/// Run writes in order in one directory. Consecutive writes to one file
/// (device rules) share one open descriptor: the kernel takes each write(2)
/// on its own. v1 refuses a memory limit above memory+swap and a
/// memory+swap below the memory limit, so when raising both, the limit
/// fails with EINVAL: write memory+swap first, then retry.
pub fn run_all(dir: &Path, writes: &[Write]) -> Result<()> {
    let mut i = 0;
    while i < writes.len() {
        let w = &writes[i];
        let same = writes[i..].iter().take_while(|n| n.file == w.file).count();
        if same > 1 {
            if let Ok(mut f) = fs::OpenOptions::new().write(true).open(dir.join(&w.file)) {
                use std::io::Write as _;
                for n in &writes[i..i + same] {
                    f.write_all(n.value.as_bytes()).map_err(|e| n.fail(&n.value, e))?;
                }
                i += same;
                continue;
            }
        }
        match w.run(dir) {
            Ok(()) => i += 1,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && w.file == v1::MEMORY_LIMIT && writes.get(i + 1).is_some_and(|n| n.file == v1::MEMSW_LIMIT) => {
                writes[i + 1].run(dir)?;
                w.run(dir)?;
                i += 2;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Why resources are applied.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// At create, into new directories.
    Create,
    /// `berth update` of a live container: device rules, if given, change
    /// from the current ones without a window ([`device_update`],
    /// [`bpf::replace_bpf`]).
    Update,
}

/// The cgroup manager the container code talks to; [`Placement`] is the
/// cgroupfs driver.
pub trait Manager {
    /// Apply `linux.resources` (or an update of it).
    fn apply(&self, r: &LinuxResources, mode: Mode) -> Result<()>;
    /// Freeze every process (`pause`).
    fn freeze(&self) -> Result<()>;
    /// Thaw them (`resume`).
    fn thaw(&self) -> Result<()>;
    /// Resource usage, in runc's `events --stats` shape.
    fn stats(&self) -> stats::Stats;
    /// Pids of the processes in the container's cgroup.
    fn pids(&self) -> Vec<i32>;
}

impl Manager for Placement {
    fn apply(&self, r: &LinuxResources, mode: Mode) -> Result<()> {
        let r = &zeros_unset(r);
        if self.has_v1() {
            apply_hybrid(self, r, mode)
        } else {
            apply_v2(self, r, mode)
        }
    }

    fn freeze(&self) -> Result<()> {
        freezer::set(self, true)
    }

    fn thaw(&self) -> Result<()> {
        freezer::set(self, false)
    }

    fn stats(&self) -> stats::Stats {
        stats::collect(self)
    }

    fn pids(&self) -> Vec<i32> {
        super::procs(&self.paths())
    }
}

/// Apply the config's resources at create: one call from the create sequence.
pub fn apply_config(p: &Placement, linux: Option<&oci_spec::runtime::Linux>) -> Result<()> {
    if let Some((dir, mount)) = p.v2().filter(|_| !p.has_v1()) {
        v2::enable_all(mount, dir);
    }
    let Some(l) = linux else { return Ok(()) };
    let Some(r) = l.resources() else { return Ok(()) };
    p.apply(r, Mode::Create)
}

/// `linux.resources.unified` names cgroup2 files. On a host with v1
/// hierarchies a key whose controller is bound to a v1 hierarchy there
/// (`memory.max` where memory is v1) cannot be carried out: cgroup2 never
/// sees that controller. Such a key is an invalid configuration, named in
/// the error; so is any key where no cgroup2 is mounted. Keys of core files
/// (`cgroup.*`) and of controllers only cgroup2 offers are allowed.
/// runc 1.1 refuses `unified` outright unless the host is pure cgroup2.
pub fn check_unified(p: &Placement, r: &LinuxResources) -> Result<()> {
    let Some(keys) = r.unified().as_ref().filter(|u| !u.is_empty()) else { return Ok(()) };
    let mut keys: Vec<&String> = keys.keys().collect();
    keys.sort();
    for k in keys {
        let f = format!("linux.resources.unified.{k}");
        if p.v2().is_none() {
            return Err(Error::msg(format!("invalid configuration: cannot use unified key {k}: no cgroup2 hierarchy is mounted on this host")).field(f));
        }
        let ctl = k.split('.').next().unwrap_or("");
        let v1_name = if ctl == "io" { "blkio" } else { ctl };
        if ctl == "cgroup" || !p.has_v1() {
            continue;
        }
        if let Some((h, _)) = p.dirs.iter().find(|(h, _)| !h.v2 && h.controllers.iter().any(|c| c == v1_name)) {
            let msg = format!(
                "invalid configuration: cannot use unified key {k}: the {ctl} controller is a cgroup v1 hierarchy on this host ({})",
                h.mountpoint.display()
            );
            return Err(Error::msg(msg).field(f));
        }
    }
    Ok(())
}

/// v1 or hybrid host: every controller where its v1 hierarchy is mounted;
/// controllers without one (hugetlb on the test machine) and `unified` keys
/// in the cgroup2 directory, if it offers them.
fn apply_hybrid(p: &Placement, r: &LinuxResources, mode: Mode) -> Result<()> {
    check_unified(p, r)?;
    let mut writes = v1::plan(r)?;
    let rules = devices::rules(r.devices().as_deref())?;
    let bpf_rules = match p.v1_dir("devices") {
        Some(dir) if !rules.is_empty() => {
            match mode {
                Mode::Create => writes.extend(devices::v1_writes(&rules)),
                Mode::Update => writes.extend(device_update::v1_writes(dir, &rules)?),
            }
            Vec::new()
        }
        Some(_) => Vec::new(),
        None => rules,
    };
    // Consecutive writes for one hierarchy go together (the memory/swap
    // ordering needs them side by side).
    let mut v2_ctls: Vec<&str> = Vec::new();
    let mut start = 0;
    while start < writes.len() {
        let ctl = writes[start].ctl.as_str();
        let end = start + writes[start..].iter().take_while(|w| w.ctl == ctl).count();
        match p.v1_dir(ctl) {
            Some(dir) => skip_rootless_devices(ctl, run_all(dir, &writes[start..end]))?,
            None => {
                let v2name = v2::from_v1_controller(ctl).ok_or_else(|| missing(&writes[start]))?;
                if !v2_ctls.contains(&v2name) {
                    v2_ctls.push(v2name);
                }
            }
        }
        start = end;
    }
    let mut v2_writes: Vec<Write> = Vec::new();
    if !v2_ctls.is_empty() {
        // Translate only what goes to cgroup2: a v1-only field set on v1
        // (say swappiness) must not fail the v2 translation.
        let planned = v2::plan(&subset(r, &v2_ctls))?;
        v2_writes.extend(planned.into_iter().filter(|w| v2_ctls.contains(&w.ctl.as_str())));
    }
    v2_writes.extend(v2::unified(r)?);
    if v2_writes.is_empty() && bpf_rules.is_empty() {
        return Ok(());
    }
    let Some((dir, mount)) = p.v2() else {
        let w = v2_writes.first().or(writes.first());
        return Err(w.map(missing).unwrap_or_else(|| Error::msg("device rules need the devices hierarchy or cgroup2").field("linux.resources.devices")));
    };
    v2::enable_controllers(mount, dir, &v2_writes)?;
    run_all(dir, &v2_writes)?;
    skip_rootless_devices("devices", attach_or_replace(dir, &bpf_rules, mode))
}

/// The device program for `rules` (none without rules): attached at
/// create, swapped for the current one at update.
fn attach_or_replace(dir: &Path, rules: &[devices::Rule], mode: Mode) -> Result<()> {
    match mode {
        _ if rules.is_empty() => Ok(()),
        Mode::Create => bpf::attach_bpf(dir, rules),
        Mode::Update => bpf::replace_bpf(dir, rules),
    }
}

/// Device rules a rootless caller may not set are skipped with a warning,
/// the one exception runc makes for rootless containers (every other
/// resource error stands).
fn skip_rootless_devices(ctl: &str, r: Result<()>) -> Result<()> {
    match r {
        // SAFETY: geteuid has no preconditions.
        Err(e) if ctl == "devices" && matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) && unsafe { libc::geteuid() } != 0 => {
            log::warn!("{e}: device rules are not enforced for this rootless container");
            Ok(())
        }
        r => r,
    }
}

/// Pure cgroup v2: translate, enable the controllers, write, attach the
/// device program.
fn apply_v2(p: &Placement, r: &LinuxResources, mode: Mode) -> Result<()> {
    let Some((dir, mount)) = p.v2() else { return Ok(()) };
    let mut writes = v2::plan(r)?;
    writes.extend(v2::unified(r)?);
    // Checked before anything is written.
    let rules = devices::rules(r.devices().as_deref())?;
    v2::enable_controllers(mount, dir, &writes)?;
    run_all(dir, &writes)?;
    skip_rootless_devices("devices", attach_or_replace(dir, &rules, mode))
}

/// `r` without the fields whose 0 means "not set" to engines and to runc.
///
/// Docker fills every numeric field it knows with 0 when the user gave none:
/// `"cpu": {"shares": 0}, "blockIO": {"weight": 0}` at create, and at
/// `docker update` also `"memory": {"limit": 0, "reservation": 0,
/// "kernel": 0}, "cpu": {"quota": 0, "period": 0}` for "leave as is".
/// Written, these zeros would fail (blkio weight, cpu period) or do harm:
/// cpu.shares 0 becomes 2, the lowest priority; memory limit 0 would
/// starve the container. runc skips all of them, and so do we.
pub fn zeros_unset(r: &LinuxResources) -> LinuxResources {
    fn nz<T: Default + PartialEq>(v: Option<T>) -> Option<T> {
        v.filter(|v| *v != T::default())
    }
    let mut r = r.clone();
    if let Some(mut m) = *r.memory() {
        let (limit, reservation, swap) = (nz(m.limit()), nz(m.reservation()), nz(m.swap()));
        let (kernel, kernel_tcp) = (nz(m.kernel()), nz(m.kernel_tcp()));
        m.set_limit(limit).set_reservation(reservation).set_swap(swap).set_kernel(kernel).set_kernel_tcp(kernel_tcp);
        r.set_memory(Some(m));
    }
    if let Some(mut c) = r.cpu().clone() {
        let (shares, quota, period) = (nz(c.shares()), nz(c.quota()), nz(c.period()));
        let (rt_runtime, rt_period) = (nz(c.realtime_runtime()), nz(c.realtime_period()));
        c.set_shares(shares).set_quota(quota).set_period(period).set_realtime_runtime(rt_runtime).set_realtime_period(rt_period);
        r.set_cpu(Some(c));
    }
    if let Some(mut b) = r.block_io().clone() {
        let (weight, leaf_weight) = (nz(b.weight()), nz(b.leaf_weight()));
        b.set_weight(weight).set_leaf_weight(leaf_weight);
        r.set_block_io(Some(b));
    }
    r
}

/// The part of `r` that v2 controllers `ctls` take.
fn subset(r: &LinuxResources, ctls: &[&str]) -> LinuxResources {
    let has = |c: &str| ctls.contains(&c);
    let mut out = LinuxResources::default();
    if has("memory") {
        out.set_memory(*r.memory());
    }
    if has("cpu") || has("cpuset") {
        out.set_cpu(r.cpu().clone());
    }
    if has("pids") {
        out.set_pids(*r.pids());
    }
    if has("io") {
        out.set_block_io(r.block_io().clone());
    }
    if has("hugetlb") {
        out.set_hugepage_limits(r.hugepage_limits().clone());
    }
    if has("rdma") {
        out.set_rdma(r.rdma().clone());
    }
    out
}

fn missing(w: &Write) -> Error {
    Error::msg(format!("set {} {}: no {} controller is available to this container", w.what, w.value, w.ctl)).field(w.field.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_falls_back_and_names_field() {
        let d = std::env::temp_dir().join(format!("berth-apply-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("blkio.bfq.weight"), "").unwrap();
        let w = Write::new("blkio", "blkio.weight", 300, "blkio weight", "linux.resources.blockIO.weight").or("blkio.bfq.weight", 300);
        w.run(&d).unwrap();
        assert_eq!(fs::read_to_string(d.join("blkio.bfq.weight")).unwrap(), "300");
        let e = Write::new("pids", "nope/pids.max", 5, "pids limit", "linux.resources.pids.limit").run(&d).unwrap_err();
        assert!(e.to_string().contains("set pids limit 5: this kernel has no nope/pids.max"), "{e}");
        assert!(e.to_string().ends_with("(linux.resources.pids.limit)"), "{e}");
        Write::new("x", "missing", 1, "x", "f").optional().run(&d).unwrap();
        // Several writes to one file go through one descriptor, in order.
        fs::write(d.join("devices.allow"), "").unwrap();
        let rules = ["c 1:3 rwm", "c 1:5 rwm"].map(|v| Write::new("devices", "devices.allow", v, "device rule allow", "f"));
        run_all(&d, &rules).unwrap();
        // On a hybrid host only the part going to cgroup2 is translated for it.
        let r: LinuxResources =
            serde_json::from_value(serde_json::json!({"memory": {"swappiness": 10}, "hugepageLimits": [{"pageSize": "2MB", "limit": 1}]})).unwrap();
        let files: Vec<String> = v2::plan(&subset(&r, &["hugetlb"])).unwrap().into_iter().map(|w| w.file).collect();
        assert_eq!(files, ["hugetlb.2MB.rsvd.max", "hugetlb.2MB.max"]);
        assert_eq!(fs::read_to_string(d.join("devices.allow")).unwrap(), "c 1:3 rwmc 1:5 rwm");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn unified_keys_of_v1_controllers_are_refused() {
        use super::super::Hierarchy;
        let v1 = |c: &str| (Hierarchy { mountpoint: format!("/sys/fs/cgroup/{c}").into(), controllers: vec![c.into()], v2: false }, "/x".into());
        let v2 = (Hierarchy { mountpoint: "/sys/fs/cgroup/unified".into(), controllers: vec![], v2: true }, "/y".into());
        let hybrid = Placement { dirs: vec![v1("memory"), v1("blkio"), v2.clone()] };
        let res = |k: &str| -> LinuxResources { serde_json::from_value(serde_json::json!({"unified": {k: "1"}})).unwrap() };
        let e = check_unified(&hybrid, &res("memory.max")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("linux.resources.unified.memory.max"));
        assert!(e.to_string().starts_with("invalid configuration: cannot use unified key memory.max"), "{e}");
        assert!(check_unified(&hybrid, &res("io.max")).is_err(), "io is blkio on v1");
        check_unified(&hybrid, &res("hugetlb.2MB.max")).unwrap();
        check_unified(&hybrid, &res("cgroup.max.depth")).unwrap();
        check_unified(&Placement { dirs: vec![v2] }, &res("memory.max")).unwrap();
        let e = check_unified(&Placement { dirs: vec![v1("memory")] }, &res("cgroup.max.depth")).unwrap_err();
        assert!(e.to_string().contains("no cgroup2 hierarchy"), "{e}");
    }

    #[test]
    fn zeros_from_engines_are_unset() {
        // What Docker 20.10 sends at create and at `docker update --cpus 0.5`.
        let create: LinuxResources = serde_json::from_value(serde_json::json!(
            {"memory": {"disableOOMKiller": false}, "cpu": {"shares": 0}, "blockIO": {"weight": 0}}))
        .unwrap();
        let files = |r: &LinuxResources| -> Vec<String> { v1::plan(&zeros_unset(r)).unwrap().into_iter().map(|w| w.file).collect() };
        assert_eq!(files(&create), ["memory.oom_control"]);
        let update: LinuxResources = serde_json::from_value(serde_json::json!(
            {"memory": {"limit": 0, "reservation": 0, "kernel": 0}, "cpu": {"shares": 0, "quota": 50000, "period": 0}, "blockIO": {"weight": 0}}))
        .unwrap();
        assert_eq!(files(&update), ["cpu.cfs_quota_us"]);
        let v2: Vec<(String, String)> = v2::plan(&zeros_unset(&update)).unwrap().into_iter().map(|w| (w.file, w.value)).collect();
        assert_eq!(v2, [("cpu.max".to_string(), "50000".to_string())]);
        // -1 (unlimited) and real values stay.
        let keep: LinuxResources = serde_json::from_value(serde_json::json!({"memory": {"limit": -1}, "cpu": {"shares": 512}})).unwrap();
        assert_eq!(files(&keep), ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "cpu.shares"]);
    }
}
