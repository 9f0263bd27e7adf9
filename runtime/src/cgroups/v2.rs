//! cgroup v2: `linux.resources` (written in v1 terms) → unified-hierarchy
//! files, with the conversions runc applies so that one config means the
//! same on both:
//!
//! | config field | v2 file | conversion |
//! |---|---|---|
//! | memory.limit | memory.max | -1 → `max` |
//! | memory.reservation | memory.low | -1 → `max` |
//! | memory.swap (memory+swap) | memory.swap.max | swap − limit (swap only); -1 → `max` |
//! | cpu.shares (2..262144) | cpu.weight (1..10000) | 1 + (shares − 2) × 9999 / 262142 |
//! | cpu.quota, cpu.period | cpu.max | `"quota period"`, quota ≤ 0 or absent → `max` |
//! | cpu.burst | cpu.max.burst | |
//! | cpu.idle | cpu.idle | |
//! | cpu.cpus, cpu.mems | cpuset.cpus, cpuset.mems | |
//! | pids.limit | pids.max | ≤ 0 → `max` (0 leaves it alone) |
//! | blockIO.weight (10..1000) | io.bfq.weight, else io.weight (1..10000) | 1 + (weight − 10) × 9999 / 990 for io.weight |
//! | blockIO.weightDevice | io.bfq.weight `"maj:min w"` | |
//! | blockIO.throttle* | io.max `"maj:min rbps=N"` (wbps, riops, wiops) | |
//! | hugepageLimits | hugetlb.SIZE.max (+ hugetlb.SIZE.rsvd.max) | |
//! | rdma | rdma.max | |
//! | unified | the named file | written as given |
//!
//! Fields v2 has no equivalent for are errors (they would silently do
//! nothing): realtime runtime/period, kernelTCP, swappiness, disabling the
//! OOM killer, turning hierarchy off, blkio leaf weights, network. The
//! deprecated `memory.kernel` is ignored with a warning.

use super::{v1, Write};
use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};
use std::fs;
use std::path::Path;

/// v1 controller → the v2 controller that replaces it.
const FROM_V1: &[(&str, &str)] =
    &[("memory", "memory"), ("cpu", "cpu"), ("cpuset", "cpuset"), ("pids", "pids"), ("blkio", "io"), ("hugetlb", "hugetlb"), ("rdma", "rdma")];

/// The v2 controller that takes over a v1 one, if any (net_cls, net_prio
/// and devices have none).
pub fn from_v1_controller(v1: &str) -> Option<&'static str> {
    FROM_V1.iter().find(|(a, _)| *a == v1).map(|(_, b)| *b)
}

/// cpu.shares → cpu.weight.
pub fn cpu_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// blkio weight (10..1000) → io.weight (1..10000).
pub fn io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (u64::from(weight).clamp(10, 1000) - 10) * 9999 / 990
}

/// memory+swap (v1) → swap alone (v2), given the memory limit.
pub fn swap_max(swap: i64, limit: Option<i64>) -> std::result::Result<String, &'static str> {
    if swap == -1 {
        return Ok("max".into());
    }
    match limit {
        None | Some(-1) => Err("a swap limit needs a memory limit"),
        Some(l) if swap < l => Err("memory+swap must not be below the memory limit"),
        Some(l) => Ok((swap - l).to_string()),
    }
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

fn field(f: &str) -> String {
    format!("linux.resources.{f}")
}

fn unsupported(f: &str, value: impl std::fmt::Display) -> Error {
    Error::msg(format!("set {f} {value}: cgroup v2 has no equivalent")).field(field(f))
}

/// The v2 writes for `r` (without `unified`), in order.
pub fn plan(r: &LinuxResources) -> Result<Vec<Write>> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        memory(m, &mut out)?;
    }
    if let Some(c) = r.cpu() {
        cpu(c, &mut out)?;
    }
    if let Some(p) = r.pids() {
        if p.limit() != 0 {
            out.push(Write::new("pids", "pids.max", max_or(p.limit()), "pids limit", field("pids.limit")));
        }
    }
    if let Some(b) = r.block_io() {
        io(b, &mut out)?;
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let size = h.page_size();
        let f = field(&format!("hugepageLimits[{i}]"));
        out.push(Write::new("hugetlb", format!("hugetlb.{size}.rsvd.max"), max_or(h.limit()), format!("hugetlb {size} reservation limit"), &f).optional());
        out.push(Write::new("hugetlb", format!("hugetlb.{size}.max"), max_or(h.limit()), format!("hugetlb {size} limit"), f));
    }
    if r.network().is_some() {
        return Err(unsupported("network", serde_json::to_string(r.network()).unwrap_or_default()));
    }
    out.extend(v1::rdma(r));
    Ok(out)
}

fn memory(m: &LinuxMemory, out: &mut Vec<Write>) -> Result<()> {
    if let Some(l) = m.limit() {
        out.push(Write::new("memory", "memory.max", max_or(l), "memory limit", field("memory.limit")));
    }
    let swap = m.swap().or((m.limit() == Some(-1)).then_some(-1));
    if let Some(s) = swap {
        let v = swap_max(s, m.limit()).map_err(|why| Error::msg(format!("memory+swap limit {s}: {why}")).field(field("memory.swap")))?;
        let w = Write::new("memory", "memory.swap.max", v, "swap limit", field("memory.swap"));
        out.push(if m.swap().is_none() { w.optional() } else { w });
    }
    if let Some(r) = m.reservation() {
        out.push(Write::new("memory", "memory.low", max_or(r), "memory reservation", field("memory.reservation")));
    }
    if m.kernel().is_some() {
        log::warn!("linux.resources.memory.kernel is deprecated and has no cgroup v2 equivalent: ignored");
    }
    if let Some(v) = m.kernel_tcp() {
        return Err(unsupported("memory.kernelTCP", v));
    }
    if let Some(v) = m.swappiness().filter(|s| *s != u64::MAX) {
        return Err(unsupported("memory.swappiness", v));
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(unsupported("memory.disableOOMKiller", true));
    }
    if m.use_hierarchy() == Some(false) {
        return Err(unsupported("memory.useHierarchy", false));
    }
    Ok(())
}

fn cpu(c: &LinuxCpu, out: &mut Vec<Write>) -> Result<()> {
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        out.push(Write::new("cpu", "cpu.weight", cpu_weight(s), "cpu weight (from shares)", field("cpu.shares")));
    }
    if c.quota().is_some() || c.period().is_some() {
        let mut v = match c.quota() {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".to_string(),
        };
        if let Some(p) = c.period().filter(|p| *p != 0) {
            v.push_str(&format!(" {p}"));
        }
        out.push(Write::new("cpu", "cpu.max", v, "cpu quota and period", field("cpu.quota")));
    }
    if let Some(b) = c.burst() {
        out.push(Write::new("cpu", "cpu.max.burst", b, "cpu burst", field("cpu.burst")));
    }
    if let Some(i) = c.idle() {
        out.push(Write::new("cpu", "cpu.idle", i, "cpu idle", field("cpu.idle")));
    }
    if let Some(v) = c.realtime_runtime().filter(|v| *v != 0) {
        return Err(unsupported("cpu.realtimeRuntime", v));
    }
    if let Some(v) = c.realtime_period().filter(|v| *v != 0) {
        return Err(unsupported("cpu.realtimePeriod", v));
    }
    if let Some(s) = c.cpus().as_ref().filter(|s| !s.is_empty()) {
        out.push(Write::new("cpuset", "cpuset.cpus", s, "cpuset cpus", field("cpu.cpus")));
    }
    if let Some(s) = c.mems().as_ref().filter(|s| !s.is_empty()) {
        out.push(Write::new("cpuset", "cpuset.mems", s, "cpuset mems", field("cpu.mems")));
    }
    Ok(())
}

/// Throttle lists and their io.max keys.
type Throttles = fn(&LinuxBlockIo) -> &Option<Vec<oci_spec::runtime::LinuxThrottleDevice>>;
const IO_MAX: &[(Throttles, &str, &str)] = &[
    (LinuxBlockIo::throttle_read_bps_device, "rbps", "blockIO.throttleReadBpsDevice"),
    (LinuxBlockIo::throttle_write_bps_device, "wbps", "blockIO.throttleWriteBpsDevice"),
    (LinuxBlockIo::throttle_read_iops_device, "riops", "blockIO.throttleReadIOPSDevice"),
    (LinuxBlockIo::throttle_write_iops_device, "wiops", "blockIO.throttleWriteIOPSDevice"),
];

fn io(b: &LinuxBlockIo, out: &mut Vec<Write>) -> Result<()> {
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        out.push(Write::new("io", "io.bfq.weight", w, "io weight", field("blockIO.weight")).or("io.weight", io_weight(w)));
    }
    if let Some(v) = b.leaf_weight() {
        return Err(unsupported("blockIO.leafWeight", v));
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let f = format!("blockIO.weightDevice[{i}]");
        if let Some(w) = d.weight() {
            let (maj, min) = (d.major(), d.minor());
            out.push(
                Write::new("io", "io.bfq.weight", format!("{maj}:{min} {w}"), "io device weight", field(&f))
                    .or("io.weight", format!("{maj}:{min} {}", io_weight(w))),
            );
        }
        if let Some(v) = d.leaf_weight() {
            return Err(unsupported(&format!("{f}.leafWeight"), v));
        }
    }
    for (get, key, name) in IO_MAX {
        for (i, d) in get(b).iter().flatten().enumerate() {
            let v = format!("{}:{} {key}={}", d.major(), d.minor(), d.rate());
            out.push(Write::new("io", "io.max", v, "io limit", field(&format!("{name}[{i}]"))));
        }
    }
    Ok(())
}

/// `linux.resources.unified`: each key names a file in the container's
/// cgroup2 directory; the controller is the part before the first dot.
/// Keys are sorted so that the order of writes is stable.
pub fn unified(r: &LinuxResources) -> Result<Vec<Write>> {
    let mut kv: Vec<_> = r.unified().iter().flatten().collect();
    kv.sort();
    kv.into_iter()
        .map(|(k, v)| {
            let f = format!("linux.resources.unified.{k}");
            if k.is_empty() || k.contains('/') || k.starts_with('.') {
                return Err(Error::msg(format!("unified key {k:?} is not a file name")).field(f));
            }
            let ctl = k.split('.').next().unwrap_or("");
            let ctl = if ctl == "cgroup" { "" } else { ctl };
            Ok(Write::new(ctl, k.as_str(), v, format!("unified {k}"), f))
        })
        .collect()
}

/// Whether the whitespace-separated words of the file at `path` include
/// `word` (cgroup.controllers, cgroup.subtree_control); false when unreadable.
pub(super) fn has_word(path: &Path, word: &str) -> bool {
    fs::read_to_string(path).map(|s| s.split_whitespace().any(|w| w == word)).unwrap_or(false)
}

fn words(path: &Path) -> Vec<String> {
    fs::read_to_string(path).map(|s| s.split_whitespace().map(str::to_string).collect()).unwrap_or_default()
}

/// Give the container's cgroup every controller its ancestors can pass
/// down, as runc does: a container without limits still has its memory,
/// pids and io files (its own usage in `events --stats`, the limits a
/// nested runtime or systemd inside it may set). Each level between the
/// hierarchy's root and `dir` enables what it has in its
/// `cgroup.subtree_control`; the root (the host's) is never written.
/// Best effort, as runc's: a level that refuses (it holds processes, it is
/// threaded) is left as it is, and a controller the config needs fails
/// later in [`enable_controllers`], naming its field.
/// Costs two reads when the container already has everything the root
/// delegates (the common case once a shared parent is set up).
pub fn enable_all(mount: &Path, dir: &Path) {
    let Ok(rel) = dir.strip_prefix(mount) else { return };
    let root_gives = words(&mount.join("cgroup.subtree_control"));
    let have = words(&dir.join("cgroup.controllers"));
    if root_gives.iter().all(|c| have.contains(c)) {
        return;
    }
    let mut levels: Vec<_> = rel.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()).map(|a| mount.join(a)).collect();
    levels.reverse();
    for level in levels {
        let offered = words(&level.join("cgroup.controllers"));
        let enabled = words(&level.join("cgroup.subtree_control"));
        let missing: Vec<String> = offered.iter().filter(|c| !enabled.contains(c)).map(|c| format!("+{c}")).collect();
        if missing.is_empty() {
            continue;
        }
        // One write for all; where the kernel refuses one (a threaded
        // subtree takes only threaded controllers), one by one.
        if fs::write(level.join("cgroup.subtree_control"), missing.join(" ")).is_err() {
            for m in &missing {
                if let Err(e) = fs::write(level.join("cgroup.subtree_control"), m) {
                    log::debug!("enable {m} in {}: {e}", level.display());
                }
            }
        }
    }
}

/// Why writing `+ctl` to `level`'s `cgroup.subtree_control` failed, in words.
fn subtree_refusal(level: &Path, ctl: &str, e: &std::io::Error) -> String {
    let why = match e.raw_os_error() {
        Some(libc::EBUSY) => {
            let procs = fs::read_to_string(level.join("cgroup.procs")).unwrap_or_default();
            let n = procs.lines().filter(|l| !l.trim().is_empty()).count();
            if n > 0 {
                Some(format!("it holds {n} process(es) of its own, and cgroup v2 passes controllers down only from a cgroup without processes"))
            } else {
                None
            }
        }
        Some(libc::EOPNOTSUPP) => super::entry::topology(level),
        _ => None,
    };
    match why {
        Some(why) => format!("enable the {ctl} controller in {}: {e}: {why}", level.join("cgroup.subtree_control").display()),
        None => format!("enable the {ctl} controller in {}: {e}", level.join("cgroup.subtree_control").display()),
    }
}

/// Make the controllers these writes need available in `dir`: enable them
/// in the `cgroup.subtree_control` of each ancestor between the hierarchy's
/// root and `dir`. The root itself (the host's) is never written: if it does
/// not delegate a controller, the setting fails, naming its field.
pub fn enable_controllers(mount: &Path, dir: &Path, writes: &[Write]) -> Result<()> {
    let mut needed: Vec<&Write> = Vec::new();
    for w in writes {
        if !w.ctl.is_empty() && !needed.iter().any(|n| n.ctl == w.ctl) {
            needed.push(w);
        }
    }
    if needed.is_empty() {
        return Ok(());
    }
    let Ok(rel) = dir.strip_prefix(mount) else { return Ok(()) };
    let levels: Vec<_> = rel.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()).map(|a| mount.join(a)).collect();
    for w in needed {
        if has_word(&dir.join("cgroup.controllers"), &w.ctl) {
            continue;
        }
        // Top-down: each level must receive the controller from its parent.
        for level in levels.iter().rev() {
            if !has_word(&level.join("cgroup.controllers"), &w.ctl) {
                let parent = level.parent().unwrap_or(mount);
                let mut msg = format!(
                    "set {}: the {} controller is not enabled for {} by {} ({} lacks it)",
                    w.what,
                    w.ctl,
                    level.display(),
                    parent.display(),
                    parent.join("cgroup.subtree_control").display()
                );
                if let Some(why) = super::entry::topology(level).filter(|w| w.contains("threaded")) {
                    msg.push_str(&format!("; {why}"));
                }
                return Err(Error::msg(msg).field(w.field.clone()));
            }
            if !has_word(&level.join("cgroup.subtree_control"), &w.ctl) {
                fs::write(level.join("cgroup.subtree_control"), format!("+{}", w.ctl))
                    .map_err(|e| Error::msg(format!("set {}: {}", w.what, subtree_refusal(level, &w.ctl, &e))).field(w.field.clone()))?;
            }
        }
        if levels.is_empty() && !has_word(&dir.join("cgroup.controllers"), &w.ctl) {
            return Err(Error::msg(format!(
                "set {}: the {} controller is not enabled by {} ({} lacks it)",
                w.what,
                w.ctl,
                mount.display(),
                mount.join("cgroup.subtree_control").display()
            ))
            .field(w.field.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan_of(j: serde_json::Value) -> Result<Vec<(String, String)>> {
        let r: LinuxResources = serde_json::from_value(j).unwrap();
        Ok(plan(&r)?.into_iter().map(|w| (w.file, w.value)).collect())
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn conversions() {
        assert_eq!(cpu_weight(2), 1);
        assert_eq!(cpu_weight(1024), 39);
        assert_eq!(cpu_weight(262_144), 10_000);
        assert_eq!(io_weight(10), 1);
        assert_eq!(io_weight(500), 4950);
        assert_eq!(io_weight(1000), 10_000);
        assert_eq!(swap_max(-1, Some(100)).unwrap(), "max");
        assert_eq!(swap_max(300, Some(100)).unwrap(), "200");
        assert!(swap_max(50, Some(100)).is_err());
        assert!(swap_max(50, None).is_err());
    }

    #[test]
    fn translates_memory_cpu_pids_io() {
        let got = plan_of(json!({
            "memory": {"limit": 67108864, "swap": 134217728, "reservation": 1000},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1"},
            "pids": {"limit": 50},
            "blockIO": {"weight": 500, "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 100}]},
            "hugepageLimits": [{"pageSize": "1GB", "limit": -1}]
        }))
        .unwrap();
        assert_eq!(
            got,
            pairs(&[
                ("memory.max", "67108864"),
                ("memory.swap.max", "67108864"),
                ("memory.low", "1000"),
                ("cpu.weight", "39"),
                ("cpu.max", "50000 100000"),
                ("cpuset.cpus", "0-1"),
                ("pids.max", "50"),
                ("io.bfq.weight", "500"),
                ("io.max", "8:16 wiops=100"),
                ("hugetlb.1GB.rsvd.max", "max"),
                ("hugetlb.1GB.max", "max"),
            ])
        );
        let r: LinuxResources = serde_json::from_value(json!({"blockIO": {"weight": 500}})).unwrap();
        assert_eq!(plan(&r).unwrap()[0].alt, Some(("io.weight".into(), "4950".into())));
    }

    #[test]
    fn quota_only_period_only_and_unlimited() {
        assert_eq!(plan_of(json!({"cpu": {"period": 20000}})).unwrap(), pairs(&[("cpu.max", "max 20000")]));
        assert_eq!(plan_of(json!({"cpu": {"quota": -1}})).unwrap(), pairs(&[("cpu.max", "max")]));
        assert_eq!(
            plan_of(json!({"memory": {"limit": -1}, "pids": {"limit": -1}})).unwrap(),
            pairs(&[("memory.max", "max"), ("memory.swap.max", "max"), ("pids.max", "max")])
        );
    }

    #[test]
    fn v1_only_fields_are_errors_naming_the_field() {
        for (j, f) in [
            (json!({"cpu": {"realtimeRuntime": 950000}}), "linux.resources.cpu.realtimeRuntime"),
            (json!({"memory": {"swappiness": 10}}), "linux.resources.memory.swappiness"),
            (json!({"memory": {"disableOOMKiller": true}}), "linux.resources.memory.disableOOMKiller"),
            (json!({"network": {"classID": 1}}), "linux.resources.network"),
            (json!({"memory": {"swap": 10, "limit": 100}}), "linux.resources.memory.swap"),
        ] {
            let e = plan_of(j).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(f), "{e}");
        }
        let e = plan_of(json!({"cpu": {"realtimeRuntime": 950000}})).unwrap_err();
        assert_eq!(e.to_string(), "set cpu.realtimeRuntime 950000: cgroup v2 has no equivalent (linux.resources.cpu.realtimeRuntime)");
    }

    #[test]
    fn unified_keys() {
        let r: LinuxResources = serde_json::from_value(json!({"unified": {"memory.high": "1G", "cgroup.max.depth": "3"}})).unwrap();
        let w = unified(&r).unwrap();
        assert_eq!((w[0].ctl.as_str(), w[0].file.as_str()), ("", "cgroup.max.depth"));
        assert_eq!((w[1].ctl.as_str(), w[1].value.as_str()), ("memory", "1G"));
        let r: LinuxResources = serde_json::from_value(json!({"unified": {"../x": "1"}})).unwrap();
        assert!(unified(&r).is_err());
    }

    /// A fake cgroup2 tree: the root delegates memory and pids; the
    /// levels below it pass down what they are offered, the root is never
    /// written, and a container that has everything costs no write.
    #[test]
    fn enable_all_passes_down_what_the_root_delegates() {
        let t = std::env::temp_dir().join(format!("berth-v2-all-{}", std::process::id()));
        let mid = t.join("berth-test");
        let dir = mid.join("p/c1");
        fs::create_dir_all(&dir).unwrap();
        fs::write(t.join("cgroup.subtree_control"), "memory pids").unwrap();
        fs::write(mid.join("cgroup.controllers"), "memory pids").unwrap();
        fs::write(mid.join("cgroup.subtree_control"), "pids").unwrap();
        fs::write(mid.join("p/cgroup.controllers"), "memory pids").unwrap();
        fs::write(mid.join("p/cgroup.subtree_control"), "").unwrap();
        fs::write(dir.join("cgroup.controllers"), "").unwrap();
        enable_all(&t, &dir);
        assert_eq!(fs::read_to_string(mid.join("cgroup.subtree_control")).unwrap(), "+memory");
        assert_eq!(fs::read_to_string(mid.join("p/cgroup.subtree_control")).unwrap(), "+memory +pids");
        assert_eq!(fs::read_to_string(t.join("cgroup.subtree_control")).unwrap(), "memory pids", "the root is never written");
        // Already complete: nothing is written.
        fs::write(dir.join("cgroup.controllers"), "pids memory").unwrap();
        fs::write(mid.join("p/cgroup.subtree_control"), "untouched").unwrap();
        enable_all(&t, &dir);
        assert_eq!(fs::read_to_string(mid.join("p/cgroup.subtree_control")).unwrap(), "untouched");
        // A refusal is explained: a level holding processes.
        fs::write(mid.join("cgroup.procs"), "42\n").unwrap();
        let why = subtree_refusal(&mid, "io", &std::io::Error::from_raw_os_error(libc::EBUSY));
        assert!(why.contains("holds 1 process(es) of its own") && why.contains("berth-test/cgroup.subtree_control"), "{why}");
        fs::remove_dir_all(&t).unwrap();
    }

    /// A fake cgroup2 tree: root delegates memory only; berth-test is ours.
    #[test]
    fn enables_controllers_below_the_root_only() {
        let t = std::env::temp_dir().join(format!("berth-v2-{}", std::process::id()));
        let mid = t.join("berth-test");
        let dir = mid.join("c1");
        fs::create_dir_all(&dir).unwrap();
        fs::write(t.join("cgroup.subtree_control"), "memory").unwrap();
        fs::write(mid.join("cgroup.controllers"), "memory").unwrap();
        fs::write(mid.join("cgroup.subtree_control"), "").unwrap();
        fs::write(dir.join("cgroup.controllers"), "").unwrap();
        let r: LinuxResources = serde_json::from_value(json!({"memory": {"limit": 1000}, "unified": {"cgroup.max.depth": "2"}})).unwrap();
        let mut ws = plan(&r).unwrap();
        ws.extend(unified(&r).unwrap());
        enable_controllers(&t, &dir, &ws).unwrap();
        assert_eq!(fs::read_to_string(mid.join("cgroup.subtree_control")).unwrap(), "+memory");
        assert_eq!(fs::read_to_string(t.join("cgroup.subtree_control")).unwrap(), "memory", "the root is never written");
        let r: LinuxResources = serde_json::from_value(json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]})).unwrap();
        let e = enable_controllers(&t, &dir, &plan(&r).unwrap()).unwrap_err();
        assert!(e.to_string().contains("hugetlb controller is not enabled"), "{e}");
        assert_eq!(e.field.as_deref(), Some("linux.resources.hugepageLimits[0]"));
        fs::remove_dir_all(&t).unwrap();
    }
}
