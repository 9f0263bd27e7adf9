//! Operations on a container's cgroups that engines call: `update`,
//! `pause`, `resume`, `events` and `ps` (runc's command lines).

use crate::cgroups::apply::Mode;
use crate::cgroups::stats::OomWatch;
use crate::cgroups::{Manager, Placement};
use crate::error::{Error, Result};
use crate::state::{Root, State, Status};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

/// `berth update`: runc's flags, or an OCI LinuxResources object from a
/// file or stdin (`--resources -`, as containerd's shim sends it). Flags
/// override the JSON. Only what is given is written.
#[derive(clap::Args, Debug, Default)]
pub struct UpdateArgs {
    /// LinuxResources JSON file, or "-" for stdin.
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    /// Block I/O weight (10-1000).
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period (µs).
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota (µs, -1 for none).
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS burst (µs) (runc 1.2's --cpu-burst; runc 1.1 lacks it).
    #[arg(long)]
    pub cpu_burst: Option<u64>,
    /// CPU shares (relative weight).
    #[arg(long, alias = "cpu-shares")]
    pub cpu_share: Option<u64>,
    /// Realtime period (µs).
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    /// Realtime runtime (µs).
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// SCHED_IDLE for the group (0 or 1) (runc 1.2's --cpu-idle; runc 1.1 lacks it).
    #[arg(long)]
    pub cpu_idle: Option<i64>,
    /// CPUs allowed (e.g. 0-1).
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed.
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Kernel memory limit, deprecated (runc's hidden --kernel-memory, which runc ignores; Berth sets it on cgroup v1 where the kernel still has it, and ignores it on v2).
    #[arg(long)]
    pub kernel_memory: Option<String>,
    /// Kernel TCP buffer limit (runc's hidden --kernel-memory-tcp, which runc ignores; Berth sets it on cgroup v1 and refuses it on v2).
    #[arg(long)]
    pub kernel_memory_tcp: Option<String>,
    /// Memory limit (bytes, or with k/m/g suffix; -1 for none).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit.
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory+swap limit (-1 for none).
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of processes (-1 for none).
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT L3 cache schema (unlike runc, always refused: Berth has no Intel RDT support).
    #[arg(long)]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (unlike runc, always refused: Berth has no Intel RDT support).
    #[arg(long)]
    pub mem_bw_schema: Option<String>,
    /// Container id.
    pub id: String,
}

/// "512m", "1G", "1024", "-1" → bytes (binary units, as runc reads them).
pub fn parse_size(s: &str) -> std::result::Result<i64, String> {
    const UNITS: &[(&str, i64)] = &[("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("t", 1 << 40), ("p", 1 << 50)];
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t.trim_end_matches('b').trim_end_matches('i');
    let (num, mult) = match UNITS.iter().find(|(u, _)| t.ends_with(u)) {
        Some((u, m)) => (&t[..t.len() - u.len()], *m),
        None => (t, 1),
    };
    let n: f64 = num.trim().parse().map_err(|_| format!("invalid size {s:?}"))?;
    if n < 0.0 {
        return Err(format!("invalid size {s:?}"));
    }
    Ok((n * mult as f64) as i64)
}

/// runc's Go-style durations: "5s", "100ms", "1m30s", "1.5h".
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    const UNITS: &[(&str, f64)] = &[("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0), ("m", 60.0), ("h", 3600.0)];
    let bad = || format!("invalid duration {s:?}");
    let mut rest = s.trim();
    let mut secs = 0.0;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let v: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let (u, m) = UNITS.iter().filter(|(u, _)| rest.starts_with(u)).max_by_key(|(u, _)| u.len()).ok_or_else(bad)?;
        secs += v * m;
        rest = &rest[u.len()..];
    }
    Ok(Duration::from_secs_f64(secs))
}

fn size_flag(v: &Option<String>, flag: &str) -> Result<Option<i64>> {
    v.as_deref().map(|s| parse_size(s).map_err(|e| Error::msg(format!("--{flag}: {e}")))).transpose()
}

/// The resources an `update` asks for.
pub fn update_resources(a: &UpdateArgs, stdin: &mut dyn Read) -> Result<LinuxResources> {
    for (v, flag) in [(&a.l3_cache_schema, "l3-cache-schema"), (&a.mem_bw_schema, "mem-bw-schema")] {
        if v.is_some() {
            return Err(Error::msg(format!("--{flag}: Intel RDT is not supported by berth")));
        }
    }
    let mut r: LinuxResources = match a.resources.as_deref() {
        None => LinuxResources::default(),
        Some(p) => {
            let mut text = String::new();
            if p.as_os_str() == "-" {
                stdin.read_to_string(&mut text).map_err(|e| Error::os("read resources from stdin", e))?;
            } else {
                text = std::fs::read_to_string(p).map_err(|e| Error::os(format!("read resources from {}", p.display()), e))?;
            }
            serde_json::from_str(&text).map_err(|e| Error::msg(format!("parse resources JSON: {e}")))?
        }
    };
    let mem = [
        (size_flag(&a.memory, "memory")?, LinuxMemory::set_limit as fn(&mut LinuxMemory, Option<i64>) -> &mut LinuxMemory),
        (size_flag(&a.memory_reservation, "memory-reservation")?, LinuxMemory::set_reservation),
        (size_flag(&a.memory_swap, "memory-swap")?, LinuxMemory::set_swap),
        (size_flag(&a.kernel_memory, "kernel-memory")?, LinuxMemory::set_kernel),
        (size_flag(&a.kernel_memory_tcp, "kernel-memory-tcp")?, LinuxMemory::set_kernel_tcp),
    ];
    if mem.iter().any(|(v, _)| v.is_some()) {
        let mut m = r.memory().unwrap_or_default();
        for (v, set) in mem {
            if v.is_some() {
                set(&mut m, v);
            }
        }
        r.set_memory(Some(m));
    }
    let cpu_given = a.cpu_share.is_some() || a.cpu_quota.is_some() || a.cpu_period.is_some() || a.cpu_burst.is_some();
    let cpu_given =
        cpu_given || a.cpu_rt_period.is_some() || a.cpu_rt_runtime.is_some() || a.cpu_idle.is_some() || a.cpuset_cpus.is_some() || a.cpuset_mems.is_some();
    if cpu_given {
        let mut c: LinuxCpu = r.cpu().clone().unwrap_or_default();
        a.cpu_share.map(|v| c.set_shares(Some(v)));
        a.cpu_quota.map(|v| c.set_quota(Some(v)));
        a.cpu_period.map(|v| c.set_period(Some(v)));
        a.cpu_burst.map(|v| c.set_burst(Some(v)));
        a.cpu_rt_period.map(|v| c.set_realtime_period(Some(v)));
        a.cpu_rt_runtime.map(|v| c.set_realtime_runtime(Some(v)));
        a.cpu_idle.map(|v| c.set_idle(Some(v)));
        a.cpuset_cpus.clone().map(|v| c.set_cpus(Some(v)));
        a.cpuset_mems.clone().map(|v| c.set_mems(Some(v)));
        r.set_cpu(Some(c));
    }
    if let Some(l) = a.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(l);
        r.set_pids(Some(p));
    }
    if let Some(w) = a.blkio_weight {
        let mut b: LinuxBlockIo = r.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    Ok(r)
}

fn live(root: &Root, id: &str, what: &str) -> Result<(State, Status, Placement)> {
    let st = root.load(id)?;
    let status = st.status(&root.container_dir(id));
    if status == Status::Stopped {
        return Err(Error::msg(format!("cannot {what} container {id}: container not running")));
    }
    let p = Placement::from_paths(&st.cgroup_paths)?;
    Ok((st, status, p))
}

/// `berth update`.
pub fn update(root: &Root, a: &UpdateArgs) -> Result<()> {
    let r = update_resources(a, &mut std::io::stdin())?;
    let _lock = root.lock(&a.id)?;
    let (st, _, p) = live(root, &a.id, "update")?;
    if r.devices().as_ref().is_some_and(|d| !d.is_empty()) {
        log::debug!("update {}: device rules change to the {} given", a.id, r.devices().as_ref().map_or(0, Vec::len));
    }
    if let Some(m) = r.memory().filter(|m| m.check_before_update() == Some(true)) {
        if let Some(l) = m.limit().filter(|l| *l > 0) {
            let usage = p.stats().memory.usage.usage;
            if (l as u64) < usage {
                return Err(Error::msg(format!("update {}: memory limit {l} is below the current usage {usage}", a.id)).field("linux.resources.memory.limit"));
            }
        }
    }
    match &st.systemd_unit {
        Some(unit) => crate::cgroups::systemd::update(unit, &p, &r),
        None => p.apply(&r, Mode::Update),
    }
    .map_err(|e| e.context(format!("update {}", a.id)))
}

/// `berth pause`: freeze every process of a created or running container.
pub fn pause(root: &Root, id: &str) -> Result<()> {
    let _lock = root.lock(id)?;
    let (_, status, p) = live(root, id, "pause")?;
    if status == Status::Paused {
        return Err(Error::msg(format!("cannot pause container {id}: it is already paused")));
    }
    p.freeze().map_err(|e| e.context(format!("pause {id}")))
}

/// `berth resume`: thaw a paused container.
pub fn resume(root: &Root, id: &str) -> Result<()> {
    let _lock = root.lock(id)?;
    let (_, status, p) = live(root, id, "resume")?;
    if status != Status::Paused {
        return Err(Error::msg(format!("cannot resume container {id}: it is not paused")));
    }
    p.thaw().map_err(|e| e.context(format!("resume {id}")))
}

/// One event line, keys in runc's order: type, id, then data (if any).
fn event(kind: &str, id: &str, data: Option<String>) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    match data {
        Some(d) => format!("{{\"type\":{},\"id\":{},\"data\":{d}}}", q(kind), q(id)),
        None => format!("{{\"type\":{},\"id\":{}}}", q(kind), q(id)),
    }
}

/// `berth events [--stats] [--interval D] ID`: with --stats one stats
/// event; otherwise stats every interval and an `oom` event for each OOM
/// kill, until the container stops. One JSON object per line.
pub fn events(root: &Root, id: &str, stats_only: bool, interval: Duration) -> Result<()> {
    let (st, _, p) = live(root, id, "get events from")?;
    let stats = |p: &Placement| event("stats", id, Some(serde_json::to_string(&p.stats()).unwrap_or_default()));
    if stats_only {
        crate::output::println(&stats(&p));
        return Ok(());
    }
    let mut oom = OomWatch::new(&p)?;
    while st.init_alive() {
        let n = match oom.as_mut() {
            Some(w) => w.wait(interval),
            None => {
                std::thread::sleep(interval);
                0
            }
        };
        if !st.cgroup_paths.iter().all(|d| d.exists()) {
            break;
        }
        if n > 0 {
            crate::output::println(&event("oom", id, None));
        } else if st.init_alive() {
            crate::output::println(&stats(&p));
        }
    }
    Ok(())
}

/// Output format of `ps`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsFormat {
    /// `ps` output, filtered to the container's processes.
    Table,
    /// A JSON array of host pids.
    Json,
}

/// `berth ps [--format table|json] ID [ps args]`.
pub fn ps(root: &Root, id: &str, format: PsFormat, args: &[String]) -> Result<String> {
    let st = root.load(id)?;
    let pids = crate::cgroups::procs(&st.cgroup_paths);
    if format == PsFormat::Json {
        // runc prints `null` for no processes (a stopped container).
        if pids.is_empty() {
            return Ok("null\n".into());
        }
        return Ok(format!("{}\n", serde_json::to_string(&pids).unwrap_or_default()));
    }
    let args: Vec<String> = if args.is_empty() { vec!["-ef".into()] } else { args.to_vec() };
    let out = std::process::Command::new("ps").args(&args).output().map_err(|e| Error::os(format!("run ps {}", args.join(" ")), e))?;
    if !out.status.success() {
        return Err(Error::msg(format!("ps {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())));
    }
    filter_ps(&String::from_utf8_lossy(&out.stdout), &pids)
}

/// Keep the header and the lines whose PID column is one of `pids`.
pub fn filter_ps(text: &str, pids: &[i32]) -> Result<String> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let col = header.split_whitespace().position(|h| h == "PID").ok_or_else(|| Error::msg("ps output has no PID column"))?;
    let mut out = format!("{header}\n");
    for l in lines {
        if l.split_whitespace().nth(col).and_then(|p| p.parse().ok()).is_some_and(|p: i32| pids.contains(&p)) {
            out.push_str(l);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("-1"), Ok(-1));
        assert!(parse_size("x").is_err());
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("5").is_err());
    }

    #[test]
    fn flags_override_json() {
        let a = UpdateArgs { resources: Some("-".into()), memory: Some("64m".into()), pids_limit: Some(20), cpu_share: Some(256), ..Default::default() };
        let mut stdin: &[u8] = br#"{"memory": {"limit": 1, "swap": 999999999}, "cpu": {"quota": 5000}}"#;
        let r = update_resources(&a, &mut stdin).unwrap();
        let m = r.memory().unwrap();
        assert_eq!((m.limit(), m.swap()), (Some(64 << 20), Some(999999999)));
        let c = r.cpu().as_ref().unwrap();
        assert_eq!((c.shares(), c.quota(), c.period()), (Some(256), Some(5000), None));
        assert_eq!(r.pids().unwrap().limit(), 20);
        assert!(r.block_io().is_none());
        let a = UpdateArgs { l3_cache_schema: Some("L3:0=f".into()), ..Default::default() };
        assert!(update_resources(&a, &mut &b""[..]).unwrap_err().to_string().contains("--l3-cache-schema"));
    }

    #[test]
    fn event_lines_in_runc_key_order() {
        assert_eq!(event("oom", "c\"1", None), r#"{"type":"oom","id":"c\"1"}"#);
        let d = serde_json::to_string(&crate::cgroups::stats::Stats::default()).unwrap();
        let line = event("stats", "x", Some(d));
        assert!(line.starts_with(r#"{"type":"stats","id":"x","data":{"cpu":"#), "{line}");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(v["data"]["memory"]["usage"].is_object());
    }

    #[test]
    fn ps_filter() {
        let t = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 init\nroot 42 1 0 10:00 ? 00:00:00 sleep 100\n";
        assert_eq!(filter_ps(t, &[42]).unwrap(), "UID PID PPID C STIME TTY TIME CMD\nroot 42 1 0 10:00 ? 00:00:00 sleep 100\n");
        assert!(filter_ps("no header\n", &[1]).is_err());
    }
}
