//! `process.rlimits`: checked when the config is read, set from inside the
//! container just before exec (see [`crate::process`] for the rest).

use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

use crate::error::{Error, Result};

/// Config rlimit type → (kernel resource, name as the spec spells it).
const RLIMITS: [(PosixRlimitType, libc::__rlimit_resource_t, &str); 16] = [
    (PosixRlimitType::RlimitCpu, libc::RLIMIT_CPU, "RLIMIT_CPU"),
    (PosixRlimitType::RlimitFsize, libc::RLIMIT_FSIZE, "RLIMIT_FSIZE"),
    (PosixRlimitType::RlimitData, libc::RLIMIT_DATA, "RLIMIT_DATA"),
    (PosixRlimitType::RlimitStack, libc::RLIMIT_STACK, "RLIMIT_STACK"),
    (PosixRlimitType::RlimitCore, libc::RLIMIT_CORE, "RLIMIT_CORE"),
    (PosixRlimitType::RlimitRss, libc::RLIMIT_RSS, "RLIMIT_RSS"),
    (PosixRlimitType::RlimitNproc, libc::RLIMIT_NPROC, "RLIMIT_NPROC"),
    (PosixRlimitType::RlimitNofile, libc::RLIMIT_NOFILE, "RLIMIT_NOFILE"),
    (PosixRlimitType::RlimitMemlock, libc::RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"),
    (PosixRlimitType::RlimitAs, libc::RLIMIT_AS, "RLIMIT_AS"),
    (PosixRlimitType::RlimitLocks, libc::RLIMIT_LOCKS, "RLIMIT_LOCKS"),
    (PosixRlimitType::RlimitSigpending, libc::RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"),
    (PosixRlimitType::RlimitMsgqueue, libc::RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"),
    (PosixRlimitType::RlimitNice, libc::RLIMIT_NICE, "RLIMIT_NICE"),
    (PosixRlimitType::RlimitRtprio, libc::RLIMIT_RTPRIO, "RLIMIT_RTPRIO"),
    (PosixRlimitType::RlimitRttime, libc::RLIMIT_RTTIME, "RLIMIT_RTTIME"),
];

/// The kernel resource number and name of an rlimit type.
pub fn rlimit_resource(typ: PosixRlimitType) -> (libc::__rlimit_resource_t, &'static str) {
    let (_, res, name) = RLIMITS.iter().find(|(t, _, _)| *t == typ).expect("rlimit type missing from RLIMITS");
    (*res, name)
}

/// Check process.rlimits before any is applied: duplicate types and a soft
/// limit above the hard one are errors (the kernel would only say EINVAL).
pub fn validate_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
    for (i, r) in rlimits.iter().enumerate() {
        let (_, name) = rlimit_resource(r.typ());
        if let Some(first) = rlimits[..i].iter().position(|o| o.typ() == r.typ()) {
            return Err(Error::msg(format!("duplicate rlimit {name}, first given in process.rlimits[{first}]")).field(format!("process.rlimits[{i}]")));
        }
        if r.soft() > r.hard() {
            return Err(Error::msg(format!("set {name} to soft {} hard {}: the soft limit is above the hard limit", r.soft(), r.hard()))
                .field(format!("process.rlimits[{i}]")));
        }
    }
    Ok(())
}

/// Every process.rlimits entry via setrlimit; duplicate types are an error
/// (spec); errors name the field (process.rlimits[i]) and the type.
pub fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
    validate_rlimits(rlimits)?;
    for (i, r) in rlimits.iter().enumerate() {
        let (resource, name) = rlimit_resource(r.typ());
        // u64::MAX is RLIM_INFINITY, which is what "unlimited" means in
        // configs, so the values pass through unchanged.
        let lim = libc::rlimit { rlim_cur: r.soft(), rlim_max: r.hard() };
        // SAFETY: `lim` is a valid rlimit that outlives the call.
        if unsafe { libc::setrlimit(resource, &lim) } != 0 {
            return Err(Error::last(format!("set {name} to soft {} hard {}", r.soft(), r.hard())).field(format!("process.rlimits[{i}]")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlimit_table_matches_oci_spec_names() {
        for (typ, res, name) in RLIMITS {
            let parsed: PosixRlimitType = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(parsed, typ);
            assert_eq!(rlimit_resource(typ), (res, name));
        }
        assert_eq!(rlimit_resource(PosixRlimitType::RlimitNofile).0, 7);
    }

    fn rl(typ: PosixRlimitType, soft: u64, hard: u64) -> PosixRlimit {
        oci_spec::runtime::PosixRlimitBuilder::default().typ(typ).soft(soft).hard(hard).build().unwrap()
    }

    #[test]
    fn duplicate_and_inverted_rlimits_are_errors() {
        let dup = [rl(PosixRlimitType::RlimitNofile, 1, 2), rl(PosixRlimitType::RlimitCore, 0, 0), rl(PosixRlimitType::RlimitNofile, 3, 4)];
        assert_eq!(validate_rlimits(&dup).unwrap_err().to_string(), "duplicate rlimit RLIMIT_NOFILE, first given in process.rlimits[0] (process.rlimits[2])");
        let inv = [rl(PosixRlimitType::RlimitCore, 5, 4)];
        assert_eq!(
            validate_rlimits(&inv).unwrap_err().to_string(),
            "set RLIMIT_CORE to soft 5 hard 4: the soft limit is above the hard limit (process.rlimits[0])"
        );
        assert!(validate_rlimits(&dup[..2]).is_ok());
    }
}
