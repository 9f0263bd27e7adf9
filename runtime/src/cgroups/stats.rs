//! Resource usage for `events`, in the JSON shape runc's `events --stats`
//! prints (field names and omission of zero values as engines expect), and
//! the OOM notification `events` waits on.
//!
//! Each controller is read where it is mounted: the v1 hierarchy if there is
//! one, else the container's cgroup2 directory.

pub use super::stats_cpuset::{cpu_list, Cpuset};
use super::Placement;
use crate::error::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

fn zero(v: &u64) -> bool {
    *v == 0
}

/// CPU time, in nanoseconds.
#[derive(Debug, Default, Serialize)]
pub struct CpuUsage {
    /// Total.
    #[serde(skip_serializing_if = "zero")]
    pub total: u64,
    /// Per CPU.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Per CPU, in the kernel.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// Per CPU, in user space.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// In the kernel.
    pub kernel: u64,
    /// In user space.
    pub user: u64,
}

/// CFS throttling.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    /// Enforcement periods.
    #[serde(skip_serializing_if = "zero")]
    pub periods: u64,
    /// Periods in which the group was throttled.
    #[serde(skip_serializing_if = "zero")]
    pub throttled_periods: u64,
    /// Time throttled, ns.
    #[serde(skip_serializing_if = "zero")]
    pub throttled_time: u64,
}

/// CPU statistics.
#[derive(Debug, Default, Serialize)]
pub struct Cpu {
    /// Usage.
    pub usage: CpuUsage,
    /// Throttling.
    pub throttling: Throttling,
}

/// One memory counter family (usage, swap, kernel, kernel TCP).
#[derive(Debug, Default, Serialize)]
pub struct MemoryEntry {
    /// Limit in bytes.
    pub limit: u64,
    /// Usage in bytes.
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    /// Highest usage seen.
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Memory statistics.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    /// Page cache.
    #[serde(skip_serializing_if = "zero")]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Memory+swap (v1) or swap (v2).
    pub swap: MemoryEntry,
    /// Kernel memory.
    pub kernel: MemoryEntry,
    /// Kernel TCP buffers.
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// memory.stat as read.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// Process counts.
#[derive(Debug, Default, Serialize)]
pub struct Pids {
    /// Processes now.
    #[serde(skip_serializing_if = "zero")]
    pub current: u64,
    /// The limit (0: none).
    #[serde(skip_serializing_if = "zero")]
    pub limit: u64,
}

/// One block I/O counter.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct BlkioEntry {
    /// Device major.
    #[serde(skip_serializing_if = "zero")]
    pub major: u64,
    /// Device minor.
    #[serde(skip_serializing_if = "zero")]
    pub minor: u64,
    /// "Read", "Write", "Sync", "Async", "Discard", "Total".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// The count.
    #[serde(skip_serializing_if = "zero")]
    pub value: u64,
}

/// Block I/O statistics.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    /// Bytes moved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// Operations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// Huge page statistics for one page size.
#[derive(Debug, Default, Serialize)]
pub struct Hugetlb {
    /// Usage in bytes.
    #[serde(skip_serializing_if = "zero")]
    pub usage: u64,
    /// Highest usage.
    #[serde(skip_serializing_if = "zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Intel RDT statistics: Berth has no RDT support, so always empty (runc
/// prints `{}` where RDT is off).
#[derive(Debug, Default, Serialize)]
pub struct IntelRdt {}

/// Everything `events --stats` reports, in runc's key order.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    /// CPU.
    pub cpu: Cpu,
    /// cpuset.
    pub cpuset: Cpuset,
    /// Memory.
    pub memory: Memory,
    /// Processes.
    pub pids: Pids,
    /// Block I/O.
    pub blkio: Blkio,
    /// Huge pages by size ("2MB").
    pub hugetlb: BTreeMap<String, Hugetlb>,
    /// Intel RDT (always empty).
    pub intel_rdt: IntelRdt,
    /// Network interfaces: runc reports them only for containers it set a
    /// network up for (never, through the OCI runtime CLI): `null`.
    pub network_interfaces: Option<Vec<()>>,
}

pub(super) fn read(dir: &Path, f: &str) -> Option<String> {
    fs::read_to_string(dir.join(f)).ok()
}

/// A number; "max" (v2) and v1's "unlimited" near-2^63 read as given.
pub(super) fn num(dir: &Path, f: &str) -> u64 {
    read(dir, f).and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// "key value" lines.
pub fn kv(text: &str) -> BTreeMap<String, u64> {
    text.lines().filter_map(|l| l.split_once(' ')).filter_map(|(k, v)| Some((k.to_string(), v.trim().parse().ok()?))).collect()
}

/// A "key value" file; a missing one reads as empty, so its keys read as 0
/// the way `num` reads a missing file.
fn kv_file(dir: &Path, f: &str) -> BTreeMap<String, u64> {
    kv(&read(dir, f).unwrap_or_default())
}

/// How many processes the OOM killer ended in the memory cgroup among
/// `paths` ("oom_kill" of memory.oom_control on v1, memory.events on v2).
pub fn oom_kills(paths: &[std::path::PathBuf]) -> u64 {
    paths
        .iter()
        .map(|d| kv_file(d, "memory.oom_control").get("oom_kill").copied().unwrap_or(0) + kv_file(d, "memory.events").get("oom_kill").copied().unwrap_or(0))
        .sum()
}

fn list(dir: &Path, f: &str) -> Vec<u64> {
    read(dir, f).map(|s| s.split_whitespace().filter_map(|x| x.parse().ok()).collect()).unwrap_or_default()
}

/// Collect everything the container's cgroups report.
pub fn collect(p: &Placement) -> Stats {
    let v2 = p.v2().map(|(d, _)| d);
    let mut s = Stats::default();
    match (p.v1_dir("cpuacct"), v2) {
        (Some(d), _) => {
            s.cpu.usage.total = num(d, "cpuacct.usage");
            s.cpu.usage.percpu = list(d, "cpuacct.usage_percpu");
            s.cpu.usage.percpu_kernel = list(d, "cpuacct.usage_percpu_sys");
            s.cpu.usage.percpu_user = list(d, "cpuacct.usage_percpu_user");
            // cpuacct.stat counts USER_HZ ticks.
            let st = kv_file(d, "cpuacct.stat");
            let tick = 1_000_000_000 / clock_ticks();
            s.cpu.usage.user = st.get("user").copied().unwrap_or(0) * tick;
            s.cpu.usage.kernel = st.get("system").copied().unwrap_or(0) * tick;
        }
        (None, Some(d)) => {
            let st = kv_file(d, "cpu.stat");
            let g = |k: &str| st.get(k).copied().unwrap_or(0) * 1000;
            (s.cpu.usage.total, s.cpu.usage.user, s.cpu.usage.kernel) = (g("usage_usec"), g("user_usec"), g("system_usec"));
        }
        _ => {}
    }
    if let Some(d) = p.v1_dir("cpu").or(v2) {
        let st = kv_file(d, "cpu.stat");
        let g = |k: &str| st.get(k).copied().unwrap_or(0);
        s.cpu.throttling = Throttling {
            periods: g("nr_periods"),
            throttled_periods: g("nr_throttled"),
            throttled_time: st.get("throttled_time").copied().unwrap_or(g("throttled_usec") * 1000),
        };
    }
    match (p.v1_dir("memory"), v2) {
        (Some(d), _) => memory_v1(d, &mut s.memory),
        (None, Some(d)) => memory_v2(d, &mut s.memory),
        _ => {}
    }
    if let Some(d) = p.v1_dir("pids").or(v2) {
        s.pids = Pids { current: num(d, "pids.current"), limit: num(d, "pids.max") };
    }
    match (p.v1_dir("blkio"), v2) {
        (Some(d), _) => {
            // CFQ's counters, else BFQ's, else the throttle layer's.
            for pre in ["blkio.", "blkio.bfq.", "blkio.throttle."] {
                let bytes = read(d, &format!("{pre}io_service_bytes_recursive")).map(|t| blkio_v1(&t));
                if let Some(b) = bytes.filter(|b| !b.is_empty()) {
                    s.blkio.io_service_bytes_recursive = b;
                    s.blkio.io_serviced_recursive = read(d, &format!("{pre}io_serviced_recursive")).map(|t| blkio_v1(&t)).unwrap_or_default();
                    break;
                }
            }
        }
        (None, Some(d)) => (s.blkio.io_service_bytes_recursive, s.blkio.io_serviced_recursive) = io_v2(&read(d, "io.stat").unwrap_or_default()),
        _ => {}
    }
    hugetlb(p, &mut s.hugetlb);
    s.cpuset = super::stats_cpuset::collect(p);
    s
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

fn entry(d: &Path, pre: &str) -> MemoryEntry {
    MemoryEntry {
        limit: num(d, &format!("{pre}limit_in_bytes")),
        usage: num(d, &format!("{pre}usage_in_bytes")),
        max: num(d, &format!("{pre}max_usage_in_bytes")),
        failcnt: num(d, &format!("{pre}failcnt")),
    }
}

fn memory_v1(d: &Path, m: &mut Memory) {
    m.raw = kv_file(d, "memory.stat");
    m.cache = m.raw.get("cache").copied().unwrap_or(0);
    m.usage = entry(d, "memory.");
    m.swap = entry(d, "memory.memsw.");
    m.kernel = entry(d, "memory.kmem.");
    m.kernel_tcp = entry(d, "memory.kmem.tcp.");
}

fn memory_v2(d: &Path, m: &mut Memory) {
    m.raw = kv_file(d, "memory.stat");
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    let events = kv_file(d, "memory.events");
    let limit = |f: &str| read(d, f).map(|s| s.trim().parse().unwrap_or(u64::MAX)).unwrap_or(0);
    m.usage = MemoryEntry {
        limit: limit("memory.max"),
        usage: num(d, "memory.current"),
        max: num(d, "memory.peak"),
        failcnt: events.get("max").copied().unwrap_or(0),
    };
    // v1 reports memory+swap, v2 swap alone: runc adds memory to swap so
    // that `swap` means the same on both (usage, and a limit that is set).
    let swap_limit = limit("memory.swap.max");
    m.swap = MemoryEntry {
        limit: if swap_limit == u64::MAX || swap_limit == 0 { swap_limit } else { swap_limit.saturating_add(m.usage.limit) },
        usage: num(d, "memory.swap.current") + m.usage.usage,
        max: num(d, "memory.swap.peak"),
        failcnt: 0,
    };
}

/// v1 blkio lines: "8:0 Read 4096"; the "Total N" line is skipped.
pub fn blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (dev, op, v) = (f.next()?, f.next()?, f.next()?);
            let (ma, mi) = dev.split_once(':')?;
            Some(BlkioEntry { major: ma.parse().ok()?, minor: mi.parse().ok()?, op: op.to_string(), value: v.parse().ok()? })
        })
        .collect()
}

/// v2 io.stat lines: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 ..." → (bytes, ios).
pub fn io_v2(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    const KEYS: &[(&str, bool, &str)] = &[("rbytes", true, "Read"), ("wbytes", true, "Write"), ("rios", false, "Read"), ("wios", false, "Write")];
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for l in text.lines() {
        let mut f = l.split_whitespace();
        let Some((ma, mi)) = f.next().and_then(|d| d.split_once(':')) else { continue };
        let (Ok(major), Ok(minor)) = (ma.parse(), mi.parse()) else { continue };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else { continue };
            if let Some((_, is_bytes, op)) = KEYS.iter().find(|(n, _, _)| *n == k) {
                let e = BlkioEntry { major, minor, op: op.to_string(), value: v.parse().unwrap_or(0) };
                if *is_bytes {
                    bytes.push(e)
                } else {
                    ios.push(e)
                }
            }
        }
    }
    (bytes, ios)
}

/// Page sizes the kernel offers, as the cgroup files name them ("2MB").
pub fn page_sizes() -> Vec<String> {
    let mut out: Vec<(u64, String)> = fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let kb: u64 = e.file_name().to_str()?.strip_prefix("hugepages-")?.strip_suffix("kB")?.parse().ok()?;
                    Some((kb, size_name(kb)))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.into_iter().map(|(_, n)| n).collect()
}

/// 2048 (kB) → "2MB", 1048576 → "1GB", 64 → "64KB".
pub fn size_name(kb: u64) -> String {
    const UNITS: &[(u64, &str)] = &[(1 << 20, "GB"), (1 << 10, "MB"), (1, "KB")];
    let (div, unit) = UNITS.iter().find(|(d, _)| kb.is_multiple_of(*d) && kb >= *d).copied().unwrap_or((1, "KB"));
    format!("{}{unit}", kb / div)
}

fn hugetlb(p: &Placement, out: &mut BTreeMap<String, Hugetlb>) {
    let (dir, v1) = match (p.v1_dir("hugetlb"), p.v2()) {
        (Some(d), _) => (d, true),
        (None, Some((d, _))) => (d, false),
        _ => return,
    };
    for size in page_sizes() {
        let h = if v1 {
            Hugetlb {
                usage: num(dir, &format!("hugetlb.{size}.usage_in_bytes")),
                max: num(dir, &format!("hugetlb.{size}.max_usage_in_bytes")),
                failcnt: num(dir, &format!("hugetlb.{size}.failcnt")),
            }
        } else {
            let Some(cur) = read(dir, &format!("hugetlb.{size}.current")) else { continue };
            let ev = kv_file(dir, &format!("hugetlb.{size}.events"));
            Hugetlb { usage: cur.trim().parse().unwrap_or(0), max: 0, failcnt: ev.get("max").copied().unwrap_or(0) }
        };
        out.insert(size, h);
    }
}

/// A way to learn of OOM kills in the container's cgroup.
pub enum OomWatch {
    /// v1: an eventfd registered on memory.oom_control; readable on OOM.
    V1 {
        /// The eventfd.
        efd: OwnedFd,
        /// memory.oom_control, kept open while registered.
        _ctl: fs::File,
    },
    /// v2: the oom_kill counter of memory.events, polled.
    V2 {
        /// The container's memory.events.
        events: std::path::PathBuf,
        /// Last count seen.
        seen: u64,
    },
}

impl OomWatch {
    /// Register for OOM notifications, or None without a memory controller.
    pub fn new(p: &Placement) -> Result<Option<OomWatch>> {
        if let Some(d) = p.v1_dir("memory") {
            let ctl = fs::File::open(d.join("memory.oom_control")).map_err(|e| Error::os(format!("open {}/memory.oom_control", d.display()), e))?;
            // SAFETY: eventfd with constant flags; the result is checked.
            let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
            if fd < 0 {
                return Err(Error::last("create an eventfd for OOM events"));
            }
            // SAFETY: fd is new and ours.
            let efd = unsafe { OwnedFd::from_raw_fd(fd) };
            let line = format!("{} {}", efd.as_raw_fd(), ctl.as_raw_fd());
            fs::write(d.join("cgroup.event_control"), line).map_err(|e| Error::os(format!("register OOM events in {}", d.display()), e))?;
            return Ok(Some(OomWatch::V1 { efd, _ctl: ctl }));
        }
        if let Some((d, _)) = p.v2() {
            let events = d.join("memory.events");
            if let Some(t) = read(d, "memory.events") {
                let seen = kv(&t).get("oom_kill").copied().unwrap_or(0);
                return Ok(Some(OomWatch::V2 { events, seen }));
            }
        }
        Ok(None)
    }

    /// Wait up to `timeout` for OOM kills; returns how many happened.
    pub fn wait(&mut self, timeout: std::time::Duration) -> u64 {
        match self {
            OomWatch::V1 { efd, .. } => {
                let mut pfd = libc::pollfd { fd: efd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
                // SAFETY: pfd is valid for the call.
                if unsafe { libc::poll(&mut pfd, 1, ms) } <= 0 {
                    return 0;
                }
                let mut n = 0u64;
                // SAFETY: reading the eventfd's 8-byte counter into n.
                let r = unsafe { libc::read(efd.as_raw_fd(), (&mut n as *mut u64).cast(), 8) };
                if r == 8 {
                    n
                } else {
                    0
                }
            }
            OomWatch::V2 { events, seen } => {
                let deadline = std::time::Instant::now() + timeout;
                loop {
                    let now = fs::read_to_string(&*events).map(|t| kv(&t).get("oom_kill").copied().unwrap_or(0)).unwrap_or(*seen);
                    if now > *seen {
                        let n = now - *seen;
                        *seen = now;
                        return n;
                    }
                    if std::time::Instant::now() >= deadline {
                        return 0;
                    }
                    std::thread::sleep(timeout.min(std::time::Duration::from_millis(200)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blkio_and_io_stat() {
        let v1 = blkio_v1("8:0 Read 4096\n8:0 Write 8192\nTotal 12288\n");
        assert_eq!(v1.len(), 2);
        assert_eq!(v1[1], BlkioEntry { major: 8, minor: 0, op: "Write".into(), value: 8192 });
        let (b, i) = io_v2("8:16 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(b.iter().map(|e| e.value).collect::<Vec<_>>(), [10, 20]);
        assert_eq!(i[1].op, "Write");
        assert_eq!((i[1].major, i[1].minor), (8, 16));
    }

    #[test]
    fn page_size_names() {
        assert_eq!(size_name(2048), "2MB");
        assert_eq!(size_name(1_048_576), "1GB");
        assert_eq!(size_name(64), "64KB");
    }

    #[test]
    fn json_shape_matches_runc() {
        let mut s = Stats::default();
        s.memory.usage.limit = 100;
        s.pids.current = 3;
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["memory"]["usage"], serde_json::json!({"limit": 100, "failcnt": 0}));
        assert_eq!(v["memory"]["kernelTCP"], serde_json::json!({"limit": 0, "failcnt": 0}));
        assert_eq!(v["pids"], serde_json::json!({"current": 3}));
        assert_eq!(v["cpu"]["usage"], serde_json::json!({"kernel": 0, "user": 0}));
        assert!(v["blkio"].as_object().unwrap().is_empty());
        // Key order as runc prints it (serde_json's Value would sort them).
        let text = serde_json::to_string(&s).unwrap();
        let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
        let order = ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt", "network_interfaces"].map(at);
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert_eq!(v["intel_rdt"], serde_json::json!({}));
        assert!(v["network_interfaces"].is_null());
        assert_eq!(v["cpuset"]["sched_relax_domain_level"], 0);
        assert!(v["cpuset"].get("cpus").is_none());
        assert_eq!(cpu_list("0-2,5\n"), [0, 1, 2, 5]);
        assert!(cpu_list("").is_empty());
    }

    /// v2 statistics from a fake cgroup2 directory.
    #[test]
    fn v2_from_fake_tree() {
        let d = std::env::temp_dir().join(format!("berth-stats-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        for (f, v) in [
            ("cpu.stat", "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 4\nnr_throttled 1\nthrottled_usec 7\n"),
            ("memory.current", "4096\n"),
            ("memory.max", "max\n"),
            ("memory.stat", "anon 1\nfile 2\n"),
            ("memory.events", "low 0\nmax 6\noom 1\noom_kill 1\n"),
            ("pids.current", "2\n"),
            ("pids.max", "max\n"),
        ] {
            fs::write(d.join(f), v).unwrap();
        }
        let p = Placement { dirs: vec![(super::super::Hierarchy { mountpoint: "/fake".into(), controllers: vec![], v2: true }, d.clone())] };
        let s = collect(&p);
        assert_eq!((s.cpu.usage.total, s.cpu.usage.user, s.cpu.usage.kernel), (5000, 3000, 2000));
        assert_eq!((s.cpu.throttling.periods, s.cpu.throttling.throttled_time), (4, 7000));
        assert_eq!((s.memory.usage.usage, s.memory.usage.limit, s.memory.usage.failcnt, s.memory.cache), (4096, u64::MAX, 6, 2));
        assert_eq!((s.pids.current, s.pids.limit), (2, 0));
        // runc's swap on v2 is memory+swap, as v1's memsw.
        assert_eq!((s.memory.swap.usage, s.memory.swap.limit), (4096, 0), "no swap files: swap usage is memory's, no limit");
        fs::write(d.join("memory.max"), "1000\n").unwrap();
        fs::write(d.join("memory.swap.max"), "500\n").unwrap();
        fs::write(d.join("memory.swap.current"), "10\n").unwrap();
        let s = collect(&p);
        assert_eq!((s.memory.swap.usage, s.memory.swap.limit), (4106, 1500));
        fs::write(d.join("memory.swap.max"), "max\n").unwrap();
        assert_eq!(collect(&p).memory.swap.limit, u64::MAX);
        let mut w = OomWatch::new(&p).unwrap().unwrap();
        assert_eq!(w.wait(std::time::Duration::ZERO), 0);
        fs::write(d.join("memory.events"), "oom_kill 3\n").unwrap();
        assert_eq!(w.wait(std::time::Duration::ZERO), 2);
        fs::remove_dir_all(&d).unwrap();
    }
}
