//! Translation tests: need no privilege (building a filter and probing the
//! kernel's flags install nothing).

use super::*;
use serde_json::json;

fn profile(v: Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("valid linux.seccomp")
}

fn data(name: &str) -> LinuxSeccomp {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn err(v: Value) -> String {
    build(&profile(v)).unwrap_err().to_string()
}

#[test]
fn table_names_match_the_spec_serialisation() {
    for (n, a) in ACTIONS {
        assert_eq!(serde_json::from_value::<A>(json!(n)).unwrap(), *a, "{n}");
    }
    for (n, o) in OPERATORS {
        assert_eq!(serde_json::from_value::<O>(json!(n)).unwrap(), *o, "{n}");
    }
    for (n, a, _) in ARCHS {
        assert_eq!(serde_json::from_value::<Arch>(json!(n)).unwrap(), *a, "{n}");
    }
    for (n, f, _) in FLAGS {
        assert_eq!(serde_json::from_value::<F>(json!(n)).unwrap(), *f, "{n}");
    }
}

#[test]
fn actions_translate_with_errno_defaults() {
    assert_eq!(action(A::ScmpActKill, None, "f").unwrap(), ScmpAction::KillThread);
    assert_eq!(action(A::ScmpActKillThread, None, "f").unwrap(), ScmpAction::KillThread);
    assert_eq!(action(A::ScmpActKillProcess, None, "f").unwrap(), ScmpAction::KillProcess);
    assert_eq!(action(A::ScmpActTrap, None, "f").unwrap(), ScmpAction::Trap);
    assert_eq!(action(A::ScmpActErrno, None, "f").unwrap(), ScmpAction::Errno(libc::EPERM));
    assert_eq!(action(A::ScmpActErrno, Some(38), "f").unwrap(), ScmpAction::Errno(38));
    assert_eq!(action(A::ScmpActTrace, None, "f").unwrap(), ScmpAction::Trace(libc::EPERM as u16));
    assert_eq!(action(A::ScmpActTrace, Some(7), "f").unwrap(), ScmpAction::Trace(7));
    assert_eq!(action(A::ScmpActAllow, None, "f").unwrap(), ScmpAction::Allow);
    assert_eq!(action(A::ScmpActLog, None, "f").unwrap(), ScmpAction::Log);
    assert_eq!(action(A::ScmpActNotify, None, "f").unwrap(), ScmpAction::Notify);
    let e = action(A::ScmpActAllow, Some(1), "linux.seccomp.syscalls[0].errnoRet").unwrap_err().to_string();
    assert!(e.contains("only valid with SCMP_ACT_ERRNO") && e.contains("(linux.seccomp.syscalls[0].errnoRet)"), "{e}");
    assert!(action(A::ScmpActErrno, Some(70000), "f").is_err());
}

#[test]
fn operators_translate_masked_eq_takes_mask_from_value() {
    let c = |op| condition(2, op, 5, Some(9));
    assert_eq!(c(O::ScmpCmpMaskedEq), ScmpArgCompare::new(2, ScmpCompareOp::MaskedEqual(5), 9));
    assert_eq!(condition(0, O::ScmpCmpMaskedEq, 5, None), ScmpArgCompare::new(0, ScmpCompareOp::MaskedEqual(5), 0));
    assert_eq!(c(O::ScmpCmpNe), ScmpArgCompare::new(2, ScmpCompareOp::NotEqual, 5));
    assert_eq!(c(O::ScmpCmpLt), ScmpArgCompare::new(2, ScmpCompareOp::Less, 5));
    assert_eq!(c(O::ScmpCmpLe), ScmpArgCompare::new(2, ScmpCompareOp::LessOrEqual, 5));
    assert_eq!(c(O::ScmpCmpEq), ScmpArgCompare::new(2, ScmpCompareOp::Equal, 5));
    assert_eq!(c(O::ScmpCmpGe), ScmpArgCompare::new(2, ScmpCompareOp::GreaterEqual, 5));
    assert_eq!(c(O::ScmpCmpGt), ScmpArgCompare::new(2, ScmpCompareOp::Greater, 5));
}

#[test]
fn simple_profile_builds() {
    let f = build(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["getcwd", "chmod"], "action": "SCMP_ACT_ERRNO"}]
    })))
    .unwrap();
    assert!(f.instructions() > 4);
    assert_eq!(f.flags(), 0);
    assert!(!f.wants_listener());
}

#[test]
fn every_action_and_operator_builds() {
    let syscalls: Vec<Value> = ACTIONS
        .iter()
        .filter(|(n, _)| *n != "SCMP_ACT_ALLOW")
        .zip(["mkdir", "rmdir", "chmod", "chown", "fchmod", "fchown", "link", "symlink", "getcwd"])
        .map(|((n, _), sc)| json!({"names": [sc], "action": n}))
        .chain(OPERATORS.iter().zip(0..).map(|((op, _), i)| {
            json!({"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5 + i, "args": [{"index": 0, "value": 3, "valueTwo": 1, "op": op}]})
        }))
        .collect();
    let f = build(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock", "syscalls": syscalls}))).unwrap();
    assert!(f.wants_listener());
    assert_ne!(f.flags() & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER, 0);
}

#[test]
fn errors_name_fields() {
    let e = err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["write"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}));
    assert!(e.ends_with("(linux.seccomp.syscalls[1].args[0].index)"), "{e}");
    let e = err(json!({"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 3}));
    assert!(e.contains("(linux.seccomp.defaultErrnoRet)"), "{e}");
    let e = err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_KILL"}]}));
    assert!(e.contains("(linux.seccomp.syscalls[0].names)"), "{e}");
    let e = err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_LOG", "errnoRet": 1}]}));
    assert!(e.contains("(linux.seccomp.syscalls[0].errnoRet)"), "{e}");
    let e = err(json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"}));
    assert!(e.contains("(linux.seccomp.defaultAction)"), "{e}");
    let e = err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}));
    assert!(e.contains("(linux.seccomp.listenerPath)"), "{e}");
    let e = err(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
        "syscalls": [{"names": ["mkdir", "write"], "action": "SCMP_ACT_NOTIFY"}]}));
    assert!(e.contains("(linux.seccomp.syscalls[0].names[1])"), "{e}");
    let e = err(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "m"}));
    assert!(e.contains("(linux.seccomp.listenerMetadata)"), "{e}");
}

#[test]
fn unknown_flags_and_actions_are_refused_when_parsed() {
    assert!(serde_json::from_value::<LinuxSeccomp>(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]})).is_err());
    assert!(serde_json::from_value::<LinuxSeccomp>(json!({"defaultAction": "SCMP_ACT_MAYBE"})).is_err());
    assert!(serde_json::from_value::<LinuxSeccomp>(json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]})).is_err());
}

#[test]
fn unknown_names_are_skipped_but_not_all_of_them() {
    let f = build(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["no_such_syscall", "mkdir"], "action": "SCMP_ACT_ERRNO"}]})));
    assert!(f.is_ok());
    let e = err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["no_such_syscall"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["nor_this_one"], "action": "SCMP_ACT_KILL"}]}));
    assert!(e.contains("none of the 2 syscall names") && e.contains("(linux.seccomp.syscalls)"), "{e}");
}

#[test]
fn rules_equal_to_default_are_skipped() {
    // Default ENOSYS: no ENOSYS stub either, so the programs compare.
    let only_default = build(&profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]})))
    .unwrap();
    let empty = build(&profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}))).unwrap();
    assert_eq!(only_default.instructions(), empty.instructions());
    // A different errno is a different action.
    let other = build(&profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2}]})))
    .unwrap();
    assert!(other.instructions() > empty.instructions());
}

#[test]
fn same_argument_twice_splits_into_rules() {
    // libseccomp alone refuses two conditions on one argument in one rule.
    let f = build(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}]})));
    assert!(f.is_ok(), "{:?}", f.err().map(|e| e.to_string()));
    let f = build(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mmap"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 7, "op": "SCMP_CMP_MASKED_EQ", "valueTwo": 7}]}]})));
    assert!(f.is_ok());
}

#[test]
fn flags_translate() {
    let f = build(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})))
    .unwrap();
    // No listener: WAIT_KILLABLE_RECV would make the kernel refuse the filter.
    let want = libc::SECCOMP_FILTER_FLAG_TSYNC | libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    assert_eq!(f.flags(), want);
    let f = build(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/a",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]})))
    .unwrap();
    let want = libc::SECCOMP_FILTER_FLAG_TSYNC
        | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH
        | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
        | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    assert_eq!(f.flags(), want);
}

#[test]
fn architectures_are_added() {
    let one = build(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_KILL"}]}))).unwrap();
    let three = build(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_KILL"}]})))
    .unwrap();
    assert!(three.instructions() > one.instructions());
}

#[test]
fn docker_and_podman_defaults_build() {
    for name in ["docker-default.json", "podman-default.json"] {
        let t = std::time::Instant::now();
        let f = build(&data(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        eprintln!("{name}: {} instructions, built in {:?}", f.instructions(), t.elapsed());
        assert!(f.instructions() > 100);
    }
}

#[test]
fn features_lists_names() {
    let v = features();
    assert_eq!(v["enabled"], true);
    assert_eq!(v["actions"].as_array().unwrap().len(), 9);
    assert_eq!(v["operators"].as_array().unwrap().len(), 7);
    let archs = v["archs"].as_array().unwrap();
    assert!(archs.contains(&json!("SCMP_ARCH_X86_64")) && archs.contains(&json!("SCMP_ARCH_AARCH64")));
    assert_eq!(v["knownFlags"].as_array().unwrap().len(), 4);
    // Linux 5.19 or later has all four.
    assert!(v["supportedFlags"].as_array().unwrap().contains(&json!("SECCOMP_FILTER_FLAG_LOG")));
}

#[test]
fn library_version_is_dotted() {
    let v = library_version();
    assert_eq!(v.split('.').count(), 3, "{v}");
}

#[test]
fn architectures_unknown_to_libseccomp_are_errors() {
    let archs = features()["archs"].clone();
    // Both byte orders are listed: each is probed in a filter of its own.
    assert!(archs.as_array().unwrap().contains(&json!("SCMP_ARCH_S390X")), "{archs}");
    for (name, _, _) in ARCHS.iter().filter(|(n, _, _)| *n != "SCMP_ARCH_NATIVE") {
        let r = build(&profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", name]})));
        if !archs.as_array().unwrap().contains(&json!(name)) {
            let e = r.unwrap_err().to_string();
            assert!(e.contains("unknown to libseccomp") && e.contains("(linux.seccomp.architectures[1])"), "{e}");
        }
    }
}
