//! Task metrics from the runtime's `events --stats ID` (one JSON object
//! `{"type":"stats","data":{...}}`, runc's layout), turned into containerd's
//! cgroup metrics messages: v2 on a unified hierarchy, v1 otherwise; for a
//! runtime without `events` (crun), read from the init's cgroup v2 directory.

use containerd_shim_protos::cgroups::metrics as v1;
use containerd_shim_protos::cgroups_v2::metrics as v2;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::{Message, MessageField};

/// Finds the number at `path` (object keys, outermost first) in `json`.
/// Each key is searched after the previous one, which is enough for the
/// runtime's fixed layout (no serde in the shim).
fn num(json: &str, path: &[&str]) -> u64 {
    let mut at = 0;
    for key in path {
        let pat = format!("\"{key}\":");
        match json[at..].find(&pat) {
            Some(i) => at += i + pat.len(),
            None => return 0,
        }
    }
    let rest = json[at..].trim_start();
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    rest[..end].parse().unwrap_or(0)
}

/// Whether /sys/fs/cgroup is the unified (v2) hierarchy.
fn unified() -> bool {
    std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Converts `events --stats` output into a metrics `Any`.
pub fn to_metrics(out: &str) -> Result<Any, String> {
    let data = out.find("\"data\":").map(|i| &out[i..]).ok_or_else(|| format!("no stats in {out:?}"))?;
    let mut any = Any::new();
    if unified() {
        let mut m = v2::Metrics::new();
        let mut p = v2::PidsStat::new();
        p.current = num(data, &["pids", "current"]);
        p.limit = num(data, &["pids", "limit"]);
        m.pids = MessageField::some(p);
        let mut c = v2::CPUStat::new();
        c.usage_usec = num(data, &["cpu", "usage", "total"]) / 1000;
        c.system_usec = num(data, &["cpu", "usage", "kernel"]) / 1000;
        c.user_usec = num(data, &["cpu", "usage", "user"]) / 1000;
        m.cpu = MessageField::some(c);
        let mut mem = v2::MemoryStat::new();
        mem.usage = num(data, &["memory", "usage", "usage"]);
        mem.usage_limit = num(data, &["memory", "usage", "limit"]);
        m.memory = MessageField::some(mem);
        any.type_url = "io.containerd.cgroups.v2.Metrics".into();
        any.value = m.write_to_bytes().map_err(|e| e.to_string())?;
    } else {
        let mut m = v1::Metrics::new();
        let mut p = v1::PidsStat::new();
        p.current = num(data, &["pids", "current"]);
        p.limit = num(data, &["pids", "limit"]);
        m.pids = MessageField::some(p);
        let mut u = v1::CPUUsage::new();
        u.total = num(data, &["cpu", "usage", "total"]);
        u.kernel = num(data, &["cpu", "usage", "kernel"]);
        u.user = num(data, &["cpu", "usage", "user"]);
        let mut c = v1::CPUStat::new();
        c.usage = MessageField::some(u);
        m.cpu = MessageField::some(c);
        let mut e = v1::MemoryEntry::new();
        e.usage = num(data, &["memory", "usage", "usage"]);
        e.limit = num(data, &["memory", "usage", "limit"]);
        e.max = num(data, &["memory", "usage", "max"]);
        e.failcnt = num(data, &["memory", "usage", "failcnt"]);
        let mut mem = v1::MemoryStat::new();
        mem.usage = MessageField::some(e);
        m.memory = MessageField::some(mem);
        any.type_url = "io.containerd.cgroups.v1.Metrics".into();
        any.value = m.write_to_bytes().map_err(|e| e.to_string())?;
    }
    Ok(any)
}

/// Metrics read from the cgroup v2 directory of process `pid` (the path
/// `/proc/<pid>/cgroup` gives, wherever a driver put it), for runtimes that
/// have no `events --stats`. Only on a unified hierarchy.
pub fn from_cgroup(pid: u32) -> Result<Any, String> {
    if !unified() {
        return Err("not a unified cgroup hierarchy".into());
    }
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).map_err(|e| format!("/proc/{pid}/cgroup: {e}"))?;
    let rel = cg.lines().find_map(|l| l.strip_prefix("0::")).ok_or_else(|| format!("/proc/{pid}/cgroup: no cgroup2 line"))?;
    metrics_v2(&std::path::Path::new("/sys/fs/cgroup").join(rel.trim_start_matches('/')))
}

/// The v2 metrics of cgroup directory `dir`: pids, cpu.stat usage, memory
/// usage and limit (`max` reads as u64::MAX, as containerd's own reader has it).
fn metrics_v2(dir: &std::path::Path) -> Result<Any, String> {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).map_err(|e| format!("{}: {e}", dir.join(f).display()));
    let value = |f: &str| -> Result<u64, String> {
        let s = read(f)?;
        match s.trim() {
            "max" => Ok(u64::MAX),
            v => v.parse().map_err(|_| format!("{}: not a number: {v:?}", dir.join(f).display())),
        }
    };
    let cpu = read("cpu.stat")?;
    let field = |k: &str| cpu.lines().find_map(|l| l.strip_prefix(k)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0);
    let mut m = v2::Metrics::new();
    let mut p = v2::PidsStat::new();
    p.current = value("pids.current").unwrap_or(0);
    p.limit = value("pids.max").map(|v| if v == u64::MAX { 0 } else { v }).unwrap_or(0);
    m.pids = MessageField::some(p);
    let mut c = v2::CPUStat::new();
    c.usage_usec = field("usage_usec");
    c.user_usec = field("user_usec");
    c.system_usec = field("system_usec");
    m.cpu = MessageField::some(c);
    let mut mem = v2::MemoryStat::new();
    mem.usage = value("memory.current")?;
    mem.usage_limit = value("memory.max")?;
    m.memory = MessageField::some(mem);
    let mut any = Any::new();
    any.type_url = "io.containerd.cgroups.v2.Metrics".into();
    any.value = m.write_to_bytes().map_err(|e| e.to_string())?;
    Ok(any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_by_path() {
        let s = r#"{"type":"stats","data":{"cpu":{"usage":{"total":5000,"percpu":[1,2],"kernel":2000,"user":3000}},"memory":{"usage":{"limit":9,"usage":7}},"pids":{"current":2,"limit":0}}}"#;
        assert_eq!(num(s, &["data", "pids", "current"]), 2);
        assert_eq!(num(s, &["data", "cpu", "usage", "kernel"]), 2000);
        assert_eq!(num(s, &["data", "memory", "usage", "usage"]), 7);
        assert_eq!(num(s, &["data", "nope"]), 0);
        assert!(to_metrics(s).is_ok());
    }

    #[test]
    fn metrics_from_a_v2_directory() {
        let dir = std::env::temp_dir().join(format!("berth-shim-stats-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (f, v) in [
            ("cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\n"),
            ("pids.current", "2\n"),
            ("pids.max", "max\n"),
            ("memory.current", "311296\n"),
            ("memory.max", "67108864\n"),
        ] {
            std::fs::write(dir.join(f), v).unwrap();
        }
        let any = metrics_v2(&dir).unwrap();
        assert_eq!(any.type_url, "io.containerd.cgroups.v2.Metrics");
        let m = v2::Metrics::parse_from_bytes(&any.value).unwrap();
        assert_eq!((m.pids.current, m.pids.limit), (2, 0));
        assert_eq!((m.cpu.usage_usec, m.cpu.user_usec, m.cpu.system_usec), (1500, 1000, 500));
        assert_eq!((m.memory.usage, m.memory.usage_limit), (311296, 67108864));
        std::fs::write(dir.join("memory.max"), "max\n").unwrap();
        let m = v2::Metrics::parse_from_bytes(&metrics_v2(&dir).unwrap().value).unwrap();
        assert_eq!(m.memory.usage_limit, u64::MAX);
        std::fs::remove_file(dir.join("memory.current")).unwrap();
        assert!(metrics_v2(&dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
