//! The `cpuset` part of `events --stats`: runc's keys, the v1 settings
//! (cpus and mems expanded from the list syntax), on cgroup2 the effective
//! cpus and mems.

use super::stats::{num, read};
use super::Placement;
use serde::Serialize;

/// cpuset settings (v1 files; on cgroup2 the effective cpus and mems).
#[derive(Debug, Default, Serialize)]
pub struct Cpuset {
    /// CPUs, expanded from the list syntax.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    /// cpuset.cpu_exclusive.
    pub cpu_exclusive: u64,
    /// Memory nodes, expanded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    /// cpuset.mem_hardwall.
    pub mem_hardwall: u64,
    /// cpuset.mem_exclusive.
    pub mem_exclusive: u64,
    /// cpuset.memory_migrate.
    pub memory_migrate: u64,
    /// cpuset.memory_spread_page.
    pub memory_spread_page: u64,
    /// cpuset.memory_spread_slab.
    pub memory_spread_slab: u64,
    /// cpuset.memory_pressure.
    pub memory_pressure: u64,
    /// cpuset.sched_load_balance.
    pub sched_load_balance: u64,
    /// cpuset.sched_relax_domain_level (-1: the system default).
    pub sched_relax_domain_level: i64,
}

/// A cpuset list ("0-2,5") expanded: [0, 1, 2, 5].
pub fn cpu_list(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
            out.extend(a..=b);
        }
    }
    out
}

/// The container's cpuset settings, as `events --stats` shows them.
pub fn collect(p: &Placement) -> Cpuset {
    if let Some(d) = p.v1_dir("cpuset") {
        let n = |f: &str| num(d, &format!("cpuset.{f}"));
        return Cpuset {
            cpus: cpu_list(&read(d, "cpuset.cpus").unwrap_or_default()),
            cpu_exclusive: n("cpu_exclusive"),
            mems: cpu_list(&read(d, "cpuset.mems").unwrap_or_default()),
            mem_hardwall: n("mem_hardwall"),
            mem_exclusive: n("mem_exclusive"),
            memory_migrate: n("memory_migrate"),
            memory_spread_page: n("memory_spread_page"),
            memory_spread_slab: n("memory_spread_slab"),
            memory_pressure: n("memory_pressure"),
            sched_load_balance: n("sched_load_balance"),
            sched_relax_domain_level: read(d, "cpuset.sched_relax_domain_level").and_then(|s| s.trim().parse().ok()).unwrap_or(0),
        };
    }
    match p.v2() {
        Some((d, _)) => Cpuset {
            cpus: cpu_list(&read(d, "cpuset.cpus.effective").unwrap_or_default()),
            mems: cpu_list(&read(d, "cpuset.mems.effective").unwrap_or_default()),
            ..Default::default()
        },
        None => Cpuset::default(),
    }
}
