//! Linux capabilities of the container process (`process.capabilities`).
//!
//! The bounding set is trimmed first, while the init still runs as root and
//! holds `CAP_SETPCAP`; the other sets are written after the uid change, in
//! one `capset(2)` for effective, permitted and inheritable, and then the
//! ambient set one capability at a time (the kernel has no bulk call for it).
//!
//! A missing `capabilities` object, or a missing set inside it, means "keep
//! nothing": the spec lists the capabilities that are *kept*.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

use crate::error::{Error, Result};

/// Every capability oci-spec can name, indexed by its kernel number
/// (`include/uapi/linux/capability.h`).
const TABLE: [(Capability, &str); 41] = [
    (Capability::Chown, "CAP_CHOWN"),
    (Capability::DacOverride, "CAP_DAC_OVERRIDE"),
    (Capability::DacReadSearch, "CAP_DAC_READ_SEARCH"),
    (Capability::Fowner, "CAP_FOWNER"),
    (Capability::Fsetid, "CAP_FSETID"),
    (Capability::Kill, "CAP_KILL"),
    (Capability::Setgid, "CAP_SETGID"),
    (Capability::Setuid, "CAP_SETUID"),
    (Capability::Setpcap, "CAP_SETPCAP"),
    (Capability::LinuxImmutable, "CAP_LINUX_IMMUTABLE"),
    (Capability::NetBindService, "CAP_NET_BIND_SERVICE"),
    (Capability::NetBroadcast, "CAP_NET_BROADCAST"),
    (Capability::NetAdmin, "CAP_NET_ADMIN"),
    (Capability::NetRaw, "CAP_NET_RAW"),
    (Capability::IpcLock, "CAP_IPC_LOCK"),
    (Capability::IpcOwner, "CAP_IPC_OWNER"),
    (Capability::SysModule, "CAP_SYS_MODULE"),
    (Capability::SysRawio, "CAP_SYS_RAWIO"),
    (Capability::SysChroot, "CAP_SYS_CHROOT"),
    (Capability::SysPtrace, "CAP_SYS_PTRACE"),
    (Capability::SysPacct, "CAP_SYS_PACCT"),
    (Capability::SysAdmin, "CAP_SYS_ADMIN"),
    (Capability::SysBoot, "CAP_SYS_BOOT"),
    (Capability::SysNice, "CAP_SYS_NICE"),
    (Capability::SysResource, "CAP_SYS_RESOURCE"),
    (Capability::SysTime, "CAP_SYS_TIME"),
    (Capability::SysTtyConfig, "CAP_SYS_TTY_CONFIG"),
    (Capability::Mknod, "CAP_MKNOD"),
    (Capability::Lease, "CAP_LEASE"),
    (Capability::AuditWrite, "CAP_AUDIT_WRITE"),
    (Capability::AuditControl, "CAP_AUDIT_CONTROL"),
    (Capability::Setfcap, "CAP_SETFCAP"),
    (Capability::MacOverride, "CAP_MAC_OVERRIDE"),
    (Capability::MacAdmin, "CAP_MAC_ADMIN"),
    (Capability::Syslog, "CAP_SYSLOG"),
    (Capability::WakeAlarm, "CAP_WAKE_ALARM"),
    (Capability::BlockSuspend, "CAP_BLOCK_SUSPEND"),
    (Capability::AuditRead, "CAP_AUDIT_READ"),
    (Capability::Perfmon, "CAP_PERFMON"),
    (Capability::Bpf, "CAP_BPF"),
    (Capability::CheckpointRestore, "CAP_CHECKPOINT_RESTORE"),
];

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit sets split over two data structs.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`; version 3 takes two of them (low and
/// high 32 bits of each set).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The kernel number of a capability.
pub fn number(cap: Capability) -> u32 {
    // TABLE covers every variant oci-spec has (a unit test checks it), so
    // the lookup cannot miss.
    TABLE.iter().position(|(c, _)| *c == cap).expect("capability missing from TABLE") as u32
}

/// The "CAP_..." name of a kernel capability number, if Berth knows it.
pub fn name(num: u32) -> Option<&'static str> {
    TABLE.get(num as usize).map(|(_, n)| *n)
}

/// The highest capability number the running kernel knows.
pub fn last_cap() -> u32 {
    static LAST: OnceLock<u32> = OnceLock::new();
    *LAST.get_or_init(|| std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").ok().and_then(|s| s.trim().parse().ok()).unwrap_or_else(probe_last_cap))
}

/// Find the last capability without /proc (e.g. after pivot_root into a
/// rootfs with no proc mount yet): the kernel answers EINVAL to
/// PR_CAPBSET_READ for numbers it does not know.
fn probe_last_cap() -> u32 {
    let mut n: u32 = 0;
    // SAFETY: PR_CAPBSET_READ only reads the calling thread's bounding set.
    while unsafe { libc::prctl(libc::PR_CAPBSET_READ, (n + 1) as libc::c_ulong, 0, 0, 0) } >= 0 {
        n += 1;
        if n == 63 {
            break;
        }
    }
    n
}

/// Every capability this build can name, "CAP_..." (`berth features`).
pub fn all_names() -> Vec<&'static str> {
    TABLE.iter().map(|(_, n)| *n).collect()
}

/// Capabilities this kernel knows (by /proc/sys/kernel/cap_last_cap), as
/// names "CAP_..." — used by `berth features`.
pub fn known() -> Vec<String> {
    (0..=last_cap()).filter_map(name).map(str::to_string).collect()
}

/// The kernel numbers of `set`, leaving out (with one warning) capabilities
/// the running kernel does not know: the spec asks runtimes to warn rather
/// than fail on capabilities they cannot grant.
fn numbers(set: Option<&Capabilities>, which: &str) -> BTreeSet<u32> {
    let last = last_cap();
    let mut out = BTreeSet::new();
    let mut unknown = Vec::new();
    for cap in set.into_iter().flatten() {
        let n = number(*cap);
        if n <= last {
            out.insert(n);
        } else {
            unknown.push(TABLE[n as usize].1);
        }
    }
    if !unknown.is_empty() {
        unknown.sort_unstable();
        log::warn!("ignoring capabilities unknown to this kernel in process.capabilities.{which}: {}", unknown.join(", "));
    }
    out
}

/// A 64-bit mask from capability numbers.
fn mask(set: &BTreeSet<u32>) -> u64 {
    set.iter().fold(0, |m, n| m | 1u64 << n)
}

/// Drop from the bounding set every capability not in `caps.bounding` (none
/// in = drop all). Needs CAP_SETPCAP, so called before the uid change.
pub fn apply_bounding(caps: Option<&LinuxCapabilities>) -> Result<()> {
    let keep = numbers(caps.and_then(|c| c.bounding().as_ref()), "bounding");
    for n in (0..=last_cap()).filter(|n| !keep.contains(n)) {
        // SAFETY: PR_CAPBSET_DROP takes a capability number and touches only
        // the calling thread's credentials.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, n as libc::c_ulong, 0, 0, 0) } == 0 {
            continue;
        }
        let err = std::io::Error::last_os_error();
        // Without CAP_SETPCAP (e.g. an exec into a container that dropped
        // it) dropping is refused even for capabilities that are already
        // gone; only a capability still present is a real failure.
        // SAFETY: PR_CAPBSET_READ only reads the calling thread's bounding set.
        if unsafe { libc::prctl(libc::PR_CAPBSET_READ, n as libc::c_ulong, 0, 0, 0) } == 0 {
            continue;
        }
        let cap = name(n).map(str::to_string).unwrap_or_else(|| format!("capability {n}"));
        return Err(Error::os(format!("drop {cap} from the bounding set"), err).field("process.capabilities.bounding"));
    }
    Ok(())
}

/// The calling thread's (effective, permitted, inheritable) masks.
fn current() -> Result<(u64, u64, u64)> {
    let mut header = CapHeader { version: CAP_VERSION_3, pid: 0 };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and data are live and `#[repr(C)]`; for version 3 the
    // kernel writes exactly two data elements.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header as *mut CapHeader, data.as_mut_ptr()) };
    if rc != 0 {
        return Err(Error::last("read the current capabilities"));
    }
    let join = |lo: u32, hi: u32| u64::from(hi) << 32 | u64::from(lo);
    Ok((join(data[0].effective, data[1].effective), join(data[0].permitted, data[1].permitted), join(data[0].inheritable, data[1].inheritable)))
}

/// Whether capability `n` is still in the calling thread's bounding set.
fn in_bounding(n: u32) -> bool {
    // SAFETY: PR_CAPBSET_READ only reads the calling thread's bounding set.
    unsafe { libc::prctl(libc::PR_CAPBSET_READ, n as libc::c_ulong, 0, 0, 0) == 1 }
}

/// Keep the capabilities of `set` that `ok` says can be granted, warning
/// about the rest: the spec asks runtimes not to fail on capabilities a
/// restricted environment cannot give (this very host's root lacks
/// CAP_SYS_RESOURCE, which `--privileged` asks for).
fn grantable(set: BTreeSet<u32>, which: &str, ok: impl Fn(u32) -> bool) -> BTreeSet<u32> {
    let (keep, drop): (BTreeSet<u32>, BTreeSet<u32>) = set.into_iter().partition(|n| ok(*n));
    if !drop.is_empty() {
        let names: Vec<&str> = drop.iter().map(|n| TABLE[*n as usize].1).collect();
        log::warn!("ignoring capabilities this process cannot grant in process.capabilities.{which}: {}", names.join(", "));
    }
    keep
}

/// Set effective, permitted, inheritable (one capset), then ambient (clear,
/// then raise each). Called after the uid/gid change (with PR_SET_KEEPCAPS
/// set around it so permitted survives setuid).
///
/// Capabilities that cannot be granted are left out with a warning
/// (config.md "capabilities": runtimes SHOULD NOT fail): those the process
/// does not hold itself, and ambient ones missing from the configured
/// permitted or inheritable set.
pub fn apply(caps: Option<&LinuxCapabilities>) -> Result<()> {
    let effective = numbers(caps.and_then(|c| c.effective().as_ref()), "effective");
    let permitted = numbers(caps.and_then(|c| c.permitted().as_ref()), "permitted");
    let inheritable = numbers(caps.and_then(|c| c.inheritable().as_ref()), "inheritable");
    let ambient = numbers(caps.and_then(|c| c.ambient().as_ref()), "ambient");

    // The kernel raises an ambient capability only if it is both permitted
    // and inheritable. Configs that list it as ambient alone are common
    // (Debian's `runc spec` template, every buildah RUN step): config.md
    // asks that what cannot be granted be a warning, not a failure, and
    // runc drops them too.
    let ambient = grantable(ambient, "ambient (not also in the permitted and inheritable sets)", |n| permitted.contains(&n) && inheritable.contains(&n));

    // The kernel's capset rules (capabilities(7)): permitted can only
    // shrink, effective must lie within the new permitted, and inheritable
    // may only gain what is in the bounding set and either already
    // permitted or allowed by an effective CAP_SETPCAP.
    let has = |mask: u64, n: u32| mask & (1u64 << n) != 0;
    let (cur_eff, cur_prm, cur_inh) = current()?;
    let setpcap = has(cur_eff, number(Capability::Setpcap));
    let permitted = grantable(permitted, "permitted", |n| has(cur_prm, n));
    let effective = grantable(effective, "effective", |n| permitted.contains(&n));
    let inheritable = grantable(inheritable, "inheritable", |n| has(cur_inh, n) || ((setpcap || has(cur_prm, n)) && in_bounding(n)));
    let ambient = grantable(ambient, "ambient", |n| permitted.contains(&n) && inheritable.contains(&n));

    let (eff, prm, inh) = (mask(&effective), mask(&permitted), mask(&inheritable));
    let mut header = CapHeader { version: CAP_VERSION_3, pid: 0 };
    let data = [
        CapData { effective: eff as u32, permitted: prm as u32, inheritable: inh as u32 },
        CapData { effective: (eff >> 32) as u32, permitted: (prm >> 32) as u32, inheritable: (inh >> 32) as u32 },
    ];
    // SAFETY: header and data are live, correctly laid out
    // (`#[repr(C)]`) and, for version 3, data has the two elements the
    // kernel reads.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr()) };
    if rc != 0 {
        return Err(Error::last(format!("set capabilities (effective {eff:#x}, permitted {prm:#x}, inheritable {inh:#x})")).field("process.capabilities"));
    }

    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes no pointers and touches only
    // the calling thread's credentials.
    let rc = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0) };
    // A kernel without ambient capabilities (before 4.3) has an empty
    // ambient set anyway; that only matters when some are asked for.
    if rc != 0 && !ambient.is_empty() {
        return Err(Error::last("clear the ambient capability set").field("process.capabilities.ambient"));
    }
    for &n in &ambient {
        // SAFETY: as above; the capability number is within cap_last_cap.
        let rc = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong, n as libc::c_ulong, 0, 0) };
        if rc != 0 {
            return Err(Error::last(format!("raise ambient capability {}", TABLE[n as usize].1)).field("process.capabilities.ambient"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_numbers_match_the_kernel_and_names_match_oci_spec() {
        for (i, (cap, name)) in TABLE.iter().enumerate() {
            let via_caps: caps::Capability = name.parse().expect(name);
            assert_eq!(via_caps.index() as usize, i, "{name}");
            let via_spec: Capability = serde_json::from_str(&format!("\"{name}\"")).expect(name);
            assert_eq!(via_spec, *cap, "{name}");
            assert_eq!(number(*cap), i as u32);
        }
    }

    #[test]
    fn known_lists_what_the_kernel_knows() {
        let k = known();
        assert_eq!(k[0], "CAP_CHOWN");
        assert_eq!(k.len() as u32, (last_cap() + 1).min(TABLE.len() as u32));
        assert_eq!(probe_last_cap(), last_cap());
    }

    #[test]
    fn mask_and_numbers() {
        let set: Capabilities = [Capability::Kill, Capability::NetBindService].into_iter().collect();
        let nums = numbers(Some(&set), "effective");
        assert_eq!(mask(&nums), 1 << 5 | 1 << 10);
        assert!(numbers(None, "effective").is_empty());
    }
}
