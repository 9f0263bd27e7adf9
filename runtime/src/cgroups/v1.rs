//! cgroup v1: `linux.resources` → writes to controller files, one table row
//! per field. Device rules are in [`super::devices`].

use super::Write;
use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources, LinuxThrottleDevice};

/// The v1 memory limit file (see [`super::apply::run_all`] for its ordering
/// with memory+swap).
pub const MEMORY_LIMIT: &str = "memory.limit_in_bytes";
/// The v1 memory+swap limit file.
pub const MEMSW_LIMIT: &str = "memory.memsw.limit_in_bytes";

type Getter<T> = fn(&T) -> Option<String>;

/// Memory fields with plain values; -1 means unlimited and v1 takes it as is.
/// The limit comes right before memory+swap (their order matters).
const MEMORY: &[(Getter<LinuxMemory>, &str, &str, &str)] = &[
    (|m| m.limit().map(|v| v.to_string()), MEMORY_LIMIT, "memory limit", "memory.limit"),
    (|m| m.swap().or(unlimited_swap(m)).map(|v| v.to_string()), MEMSW_LIMIT, "memory+swap limit", "memory.swap"),
    (|m| m.reservation().map(|v| v.to_string()), "memory.soft_limit_in_bytes", "memory reservation", "memory.reservation"),
    (|m| m.kernel().map(|v| v.to_string()), "memory.kmem.limit_in_bytes", "kernel memory limit", "memory.kernel"),
    (|m| m.kernel_tcp().map(|v| v.to_string()), "memory.kmem.tcp.limit_in_bytes", "kernel TCP memory limit", "memory.kernelTCP"),
    (|m| m.swappiness().map(|v| v.to_string()), "memory.swappiness", "memory swappiness", "memory.swappiness"),
    (|m| m.disable_oom_killer().map(|b| u8::from(b).to_string()), "memory.oom_control", "OOM killer disabled", "memory.disableOOMKiller"),
    (|m| m.use_hierarchy().map(|b| u8::from(b).to_string()), "memory.use_hierarchy", "memory hierarchy", "memory.useHierarchy"),
];

/// An unlimited memory limit with no swap given means both unlimited (else
/// an old memory+swap limit would keep capping the container).
fn unlimited_swap(m: &LinuxMemory) -> Option<i64> {
    (m.limit() == Some(-1)).then_some(-1)
}

/// CPU fields: (getter, controller, file, what, field). Period comes before
/// quota, the rt period before the rt runtime, as the kernel checks each
/// against the other.
const CPU: &[(Getter<LinuxCpu>, &str, &str, &str, &str)] = &[
    (|c| c.shares().map(|v| v.to_string()), "cpu", "cpu.shares", "cpu shares", "cpu.shares"),
    (|c| c.period().map(|v| v.to_string()), "cpu", "cpu.cfs_period_us", "cpu period", "cpu.period"),
    (|c| c.quota().map(|v| v.to_string()), "cpu", "cpu.cfs_quota_us", "cpu quota", "cpu.quota"),
    (|c| c.burst().map(|v| v.to_string()), "cpu", "cpu.cfs_burst_us", "cpu burst", "cpu.burst"),
    (|c| c.realtime_period().map(|v| v.to_string()), "cpu", "cpu.rt_period_us", "realtime period", "cpu.realtimePeriod"),
    (|c| c.realtime_runtime().map(|v| v.to_string()), "cpu", "cpu.rt_runtime_us", "realtime runtime", "cpu.realtimeRuntime"),
    (|c| c.idle().map(|v| v.to_string()), "cpu", "cpu.idle", "cpu idle", "cpu.idle"),
    (|c| c.cpus().clone().filter(|s| !s.is_empty()), "cpuset", "cpuset.cpus", "cpuset cpus", "cpu.cpus"),
    (|c| c.mems().clone().filter(|s| !s.is_empty()), "cpuset", "cpuset.mems", "cpuset mems", "cpu.mems"),
];

/// Throttle lists: (getter, file, field).
type Throttles = fn(&LinuxBlockIo) -> &Option<Vec<LinuxThrottleDevice>>;
const THROTTLE: &[(Throttles, &str, &str)] = &[
    (LinuxBlockIo::throttle_read_bps_device, "blkio.throttle.read_bps_device", "blockIO.throttleReadBpsDevice"),
    (LinuxBlockIo::throttle_write_bps_device, "blkio.throttle.write_bps_device", "blockIO.throttleWriteBpsDevice"),
    (LinuxBlockIo::throttle_read_iops_device, "blkio.throttle.read_iops_device", "blockIO.throttleReadIOPSDevice"),
    (LinuxBlockIo::throttle_write_iops_device, "blkio.throttle.write_iops_device", "blockIO.throttleWriteIOPSDevice"),
];

fn field(f: &str) -> String {
    format!("linux.resources.{f}")
}

/// The v1 writes for `r`, in order; nothing for absent fields.
pub fn plan(r: &LinuxResources) -> Result<Vec<Write>> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        if let Some(s) = m.swappiness().filter(|s| *s > 100 && *s != u64::MAX) {
            return Err(Error::msg(format!("memory swappiness {s} is out of range 0-100")).field(field("memory.swappiness")));
        }
        for (get, file, what, f) in MEMORY {
            // u64::MAX is how some engines say "swappiness not set".
            if let Some(v) = get(m).filter(|v| !(*file == "memory.swappiness" && *v == u64::MAX.to_string())) {
                let w = Write::new("memory", *file, v, *what, field(f));
                // Kernels without swap accounting or kernel memory lack these files.
                let optional = (*file == MEMSW_LIMIT && m.swap().is_none()) || *file == "memory.kmem.limit_in_bytes";
                out.push(if optional { w.optional() } else { w });
            }
        }
    }
    if let Some(c) = r.cpu() {
        for (get, ctl, file, what, f) in CPU {
            if let Some(v) = get(c) {
                out.push(Write::new(ctl, *file, v, *what, field(f)));
            }
        }
    }
    if let Some(p) = r.pids() {
        // 0 leaves the limit alone (runc's meaning); below 0 is unlimited.
        match p.limit() {
            0 => {}
            l if l < 0 => out.push(Write::new("pids", "pids.max", "max", "pids limit", field("pids.limit"))),
            l => out.push(Write::new("pids", "pids.max", l, "pids limit", field("pids.limit"))),
        }
    }
    if let Some(b) = r.block_io() {
        blkio(b, &mut out);
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let size = h.page_size();
        let f = field(&format!("hugepageLimits[{i}]"));
        // Reservation accounting where the kernel has it, else page faults only.
        out.push(Write::new("hugetlb", format!("hugetlb.{size}.rsvd.limit_in_bytes"), h.limit(), format!("hugetlb {size} reservation limit"), &f).optional());
        out.push(Write::new("hugetlb", format!("hugetlb.{size}.limit_in_bytes"), h.limit(), format!("hugetlb {size} limit"), f));
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            out.push(Write::new("net_cls", "net_cls.classid", id, "network class id", field("network.classID")));
        }
        for (i, p) in n.priorities().iter().flatten().enumerate() {
            let v = format!("{} {}", p.name(), p.priority());
            out.push(Write::new("net_prio", "net_prio.ifpriomap", v, "network priority", field(&format!("network.priorities[{i}]"))));
        }
    }
    out.extend(rdma(r));
    Ok(out)
}

fn blkio(b: &LinuxBlockIo, out: &mut Vec<Write>) {
    // CFQ's files, else BFQ's (which take the same values).
    if let Some(w) = b.weight() {
        out.push(Write::new("blkio", "blkio.weight", w, "blkio weight", field("blockIO.weight")).or("blkio.bfq.weight", w));
    }
    if let Some(w) = b.leaf_weight() {
        out.push(Write::new("blkio", "blkio.leaf_weight", w, "blkio leaf weight", field("blockIO.leafWeight")));
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        let f = field(&format!("blockIO.weightDevice[{i}]"));
        if let Some(w) = d.weight() {
            let v = format!("{}:{} {w}", d.major(), d.minor());
            out.push(Write::new("blkio", "blkio.weight_device", &v, "blkio device weight", &f).or("blkio.bfq.weight_device", &v));
        }
        if let Some(w) = d.leaf_weight() {
            let v = format!("{}:{} {w}", d.major(), d.minor());
            out.push(Write::new("blkio", "blkio.leaf_weight_device", v, "blkio device leaf weight", f));
        }
    }
    for (get, file, name) in THROTTLE {
        for (i, d) in get(b).iter().flatten().enumerate() {
            let v = format!("{}:{} {}", d.major(), d.minor(), d.rate());
            out.push(Write::new("blkio", *file, v, "blkio throttle", field(&format!("{name}[{i}]"))));
        }
    }
}

/// rdma.max lines (the same syntax on v1 and v2), sorted by device.
pub fn rdma(r: &LinuxResources) -> Vec<Write> {
    let mut devs: Vec<_> = r.rdma().iter().flatten().collect();
    devs.sort_by(|a, b| a.0.cmp(b.0));
    devs.into_iter()
        .filter_map(|(dev, l)| {
            let mut v = dev.clone();
            if let Some(h) = l.hca_handles() {
                v.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(o) = l.hca_objects() {
                v.push_str(&format!(" hca_object={o}"));
            }
            (v.len() > dev.len()).then(|| Write::new("rdma", "rdma.max", v, "rdma limit", field(&format!("rdma.{dev}"))))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(j: serde_json::Value) -> LinuxResources {
        serde_json::from_value(j).unwrap()
    }

    fn files(ws: &[Write]) -> Vec<(String, String)> {
        ws.iter().map(|w| (w.file.clone(), w.value.clone())).collect()
    }

    #[test]
    fn absent_fields_write_nothing() {
        assert!(plan(&res(serde_json::json!({}))).unwrap().is_empty());
        assert!(plan(&res(serde_json::json!({"memory": {}, "cpu": {}}))).unwrap().is_empty());
    }

    #[test]
    fn memory_cpu_pids() {
        let r = res(serde_json::json!({
            "memory": {"limit": 1000, "swap": 2000, "reservation": 500, "swappiness": 10, "disableOOMKiller": true},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": ""},
            "pids": {"limit": -1}
        }));
        let p = plan(&r).unwrap();
        assert_eq!(
            files(&p),
            [
                ("memory.limit_in_bytes", "1000"),
                ("memory.memsw.limit_in_bytes", "2000"),
                ("memory.soft_limit_in_bytes", "500"),
                ("memory.swappiness", "10"),
                ("memory.oom_control", "1"),
                ("cpu.shares", "512"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "50000"),
                ("cpuset.cpus", "0"),
                ("pids.max", "max"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert_eq!(p[0].field, "linux.resources.memory.limit");
        assert_eq!(p[8].ctl, "cpuset");
    }

    #[test]
    fn unlimited_memory_unlimits_swap_and_bad_swappiness_fails() {
        let p = plan(&res(serde_json::json!({"memory": {"limit": -1}}))).unwrap();
        assert_eq!(files(&p)[1], ("memory.memsw.limit_in_bytes".into(), "-1".into()));
        assert!(p[1].optional);
        let e = plan(&res(serde_json::json!({"memory": {"swappiness": 101}}))).unwrap_err();
        assert_eq!(e.to_string(), "memory swappiness 101 is out of range 0-100 (linux.resources.memory.swappiness)");
    }

    #[test]
    fn blkio_hugetlb_network_rdma() {
        let r = res(serde_json::json!({
            "blockIO": {"weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 500}],
                        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
            "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
            "rdma": {"mlx5_1": {"hcaHandles": 3}}
        }));
        let p = plan(&r).unwrap();
        let f = files(&p);
        assert_eq!(f[0], ("blkio.weight".into(), "300".into()));
        assert_eq!(p[0].alt, Some(("blkio.bfq.weight".into(), "300".into())));
        assert_eq!(f[1], ("blkio.weight_device".into(), "8:0 500".into()));
        assert_eq!(f[2], ("blkio.throttle.read_bps_device".into(), "8:0 1048576".into()));
        assert_eq!(p[2].field, "linux.resources.blockIO.throttleReadBpsDevice[0]");
        assert_eq!(f[3].0, "hugetlb.2MB.rsvd.limit_in_bytes");
        assert_eq!(f[4], ("hugetlb.2MB.limit_in_bytes".into(), "4194304".into()));
        assert_eq!(f[5], ("net_cls.classid".into(), "1048577".into()));
        assert_eq!(f[6], ("net_prio.ifpriomap".into(), "eth0 5".into()));
        assert_eq!(f[7], ("rdma.max".into(), "mlx5_1 hca_handle=3".into()));
    }
}
