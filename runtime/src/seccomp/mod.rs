//! `linux.seccomp` (config-linux.md "Seccomp"): translate the profile into a
//! classic BPF program with libseccomp, then load it ourselves.
//!
//! Why compile here and load with a raw `seccomp(2)`: libseccomp's own
//! `seccomp_load` generates the program at load time, i.e. inside the
//! container init after privileges are dropped, and it knows only the filter
//! flags of the libseccomp it was built with (Debian 12's 2.5.4 predates
//! `WAIT_KILLABLE_RECV`). [`build`] does all the work (rule translation and
//! BPF generation) and yields a [`Filter`] that owns the program; [`load`] is
//! one syscall with no allocation, and the program can be cached as bytes.
//!
//! Semantics that follow runc, so profiles behave the same under both:
//! - a syscall name the running libseccomp cannot resolve is skipped with a
//!   debug log; a profile none of whose names resolve is an error;
//! - a rule whose action equals `defaultAction` is skipped (libseccomp would
//!   refuse it, and it changes nothing);
//! - when one rule names the same argument index twice, every condition of
//!   that rule becomes its own single-condition rule (they OR), otherwise all
//!   conditions go into one rule (they AND);
//! - `SCMP_ACT_KILL` is the thread-killing action, `SCMP_ACT_TRACE` without
//!   `errnoRet` uses EPERM like `SCMP_ACT_ERRNO`;
//! - under a restrictive default, syscalls newer than the profile answer
//!   ENOSYS, so libc falls back to older ones ([`enosys`]).
//!
//! Berth's own rules on top: `SCMP_ACT_NOTIFY` needs `listenerPath`, cannot
//! be the default action, and cannot target [`NOTIFY_REFUSED`] (the init
//! would wait on an agent that has no fd yet); TSYNC with a listener gets
//! TSYNC_ESRCH, which the kernel demands; WAIT_KILLABLE_RECV without a
//! listener is dropped (the kernel refuses it alone).
//!
//! Compiling Docker's default profile (three x86 ABIs) costs ~6-14 ms on
//! this machine; [`build_cached`] keeps compiled programs on disk and
//! answers a repeat in ~25-50 µs. Loading takes ~0.3 ms of kernel time.

mod cache;
mod enosys;
mod kernel;
mod listener;

use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{FromRawFd, OwnedFd};

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall, ScmpVersion};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompFilterFlag as F, LinuxSeccompOperator as O};
use serde_json::{json, Value};

use crate::error::{Error, Result};

pub use cache::{build_cached, default_dir as cache_dir};
pub use kernel::load;
pub use listener::send_listener;

/// Syscalls Berth's init makes after the filter is loaded and before the
/// listener fd has left the process (reporting to the parent, handing over
/// the fd). A `SCMP_ACT_NOTIFY` on one of them would block the init on an
/// agent that has not got the fd yet, so [`build`] refuses it.
pub const NOTIFY_REFUSED: &[&str] = &["write", "sendmsg", "sendto"];

/// The kernel's limit on a classic BPF program (`BPF_MAXINSNS`).
const MAX_INSNS: usize = 4096;

/// Highest syscall argument index (syscalls take at most six arguments).
const MAX_ARG_INDEX: usize = 5;

/// A compiled filter ready to load: the BPF program and the `seccomp(2)`
/// flags. Build it before dropping privileges; loading is one syscall.
#[derive(Clone)]
pub struct Filter {
    program: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
    notify: bool,
}

impl Filter {
    /// Number of BPF instructions.
    pub fn instructions(&self) -> usize {
        self.program.len()
    }

    /// The `SECCOMP_FILTER_FLAG_*` bits [`load`] passes to the kernel.
    pub fn flags(&self) -> libc::c_ulong {
        self.flags
    }

    /// Whether a rule uses `SCMP_ACT_NOTIFY`, i.e. [`load`] returns a
    /// listener fd that must go to the agent at `listenerPath`.
    pub fn wants_listener(&self) -> bool {
        self.notify
    }
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.program.len())
            .field("flags", &format_args!("{:#x}", self.flags))
            .field("notify", &self.notify)
            .finish()
    }
}

/// Action names of config-linux.md and their spec enum.
const ACTIONS: &[(&str, A)] = &[
    ("SCMP_ACT_KILL", A::ScmpActKill),
    ("SCMP_ACT_KILL_PROCESS", A::ScmpActKillProcess),
    ("SCMP_ACT_KILL_THREAD", A::ScmpActKillThread),
    ("SCMP_ACT_TRAP", A::ScmpActTrap),
    ("SCMP_ACT_ERRNO", A::ScmpActErrno),
    ("SCMP_ACT_TRACE", A::ScmpActTrace),
    ("SCMP_ACT_ALLOW", A::ScmpActAllow),
    ("SCMP_ACT_LOG", A::ScmpActLog),
    ("SCMP_ACT_NOTIFY", A::ScmpActNotify),
];

/// Operator names and their spec enum.
const OPERATORS: &[(&str, O)] = &[
    ("SCMP_CMP_NE", O::ScmpCmpNe),
    ("SCMP_CMP_LT", O::ScmpCmpLt),
    ("SCMP_CMP_LE", O::ScmpCmpLe),
    ("SCMP_CMP_EQ", O::ScmpCmpEq),
    ("SCMP_CMP_GE", O::ScmpCmpGe),
    ("SCMP_CMP_GT", O::ScmpCmpGt),
    ("SCMP_CMP_MASKED_EQ", O::ScmpCmpMaskedEq),
];

/// Architecture names, the spec enum, and libseccomp's token.
const ARCHS: &[(&str, Arch, ScmpArch)] = &[
    ("SCMP_ARCH_NATIVE", Arch::ScmpArchNative, ScmpArch::Native),
    ("SCMP_ARCH_X86", Arch::ScmpArchX86, ScmpArch::X86),
    ("SCMP_ARCH_X86_64", Arch::ScmpArchX86_64, ScmpArch::X8664),
    ("SCMP_ARCH_X32", Arch::ScmpArchX32, ScmpArch::X32),
    ("SCMP_ARCH_ARM", Arch::ScmpArchArm, ScmpArch::Arm),
    ("SCMP_ARCH_AARCH64", Arch::ScmpArchAarch64, ScmpArch::Aarch64),
    ("SCMP_ARCH_MIPS", Arch::ScmpArchMips, ScmpArch::Mips),
    ("SCMP_ARCH_MIPS64", Arch::ScmpArchMips64, ScmpArch::Mips64),
    ("SCMP_ARCH_MIPS64N32", Arch::ScmpArchMips64n32, ScmpArch::Mips64N32),
    ("SCMP_ARCH_MIPSEL", Arch::ScmpArchMipsel, ScmpArch::Mipsel),
    ("SCMP_ARCH_MIPSEL64", Arch::ScmpArchMipsel64, ScmpArch::Mipsel64),
    ("SCMP_ARCH_MIPSEL64N32", Arch::ScmpArchMipsel64n32, ScmpArch::Mipsel64N32),
    ("SCMP_ARCH_PPC", Arch::ScmpArchPpc, ScmpArch::Ppc),
    ("SCMP_ARCH_PPC64", Arch::ScmpArchPpc64, ScmpArch::Ppc64),
    ("SCMP_ARCH_PPC64LE", Arch::ScmpArchPpc64le, ScmpArch::Ppc64Le),
    ("SCMP_ARCH_S390", Arch::ScmpArchS390, ScmpArch::S390),
    ("SCMP_ARCH_S390X", Arch::ScmpArchS390x, ScmpArch::S390X),
    ("SCMP_ARCH_PARISC", Arch::ScmpArchParisc, ScmpArch::Parisc),
    ("SCMP_ARCH_PARISC64", Arch::ScmpArchParisc64, ScmpArch::Parisc64),
    ("SCMP_ARCH_RISCV64", Arch::ScmpArchRiscv64, ScmpArch::Riscv64),
    ("SCMP_ARCH_LOONGARCH64", Arch::ScmpArchLoongarch64, ScmpArch::Loongarch64),
    ("SCMP_ARCH_M68K", Arch::ScmpArchM68k, ScmpArch::M68k),
    ("SCMP_ARCH_SH", Arch::ScmpArchSh, ScmpArch::Sh),
    ("SCMP_ARCH_SHEB", Arch::ScmpArchSheb, ScmpArch::Sheb),
];

/// Filter flag names, the spec enum, and the kernel bit.
const FLAGS: &[(&str, F, libc::c_ulong)] = &[
    ("SECCOMP_FILTER_FLAG_TSYNC", F::SeccompFilterFlagTsync, libc::SECCOMP_FILTER_FLAG_TSYNC),
    ("SECCOMP_FILTER_FLAG_LOG", F::SeccompFilterFlagLog, libc::SECCOMP_FILTER_FLAG_LOG),
    ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", F::SeccompFilterFlagSpecAllow, libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW),
    ("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", F::SeccompFilterFlagWaitKillableRecv, libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV),
];

fn action_name(a: A) -> &'static str {
    ACTIONS.iter().find(|(_, x)| *x == a).map_or("?", |(n, _)| n)
}

/// The libseccomp action for a spec action and its optional errno; `field`
/// names the errno's config field for errors.
fn action(a: A, errno: Option<u32>, field: &str) -> Result<ScmpAction> {
    let ret = |errno: Option<u32>| -> Result<u16> {
        let v = errno.unwrap_or(libc::EPERM as u32);
        u16::try_from(v).map_err(|_| Error::msg(format!("errno {v} does not fit in 16 bits")).field(field.to_string()))
    };
    Ok(match a {
        A::ScmpActErrno => ScmpAction::Errno(i32::from(ret(errno)?)),
        A::ScmpActTrace => ScmpAction::Trace(ret(errno)?),
        _ if errno.is_some() => {
            return Err(
                Error::msg(format!("an errno return is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {}", action_name(a))).field(field.to_string())
            )
        }
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActAllow => ScmpAction::Allow,
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActNotify => ScmpAction::Notify,
    })
}

/// libseccomp's comparison for a spec operator. For `SCMP_CMP_MASKED_EQ`,
/// `value` is the mask and `valueTwo` the value the masked argument must
/// equal (the order of libseccomp's `SCMP_CMP` and of runc).
fn condition(index: usize, op: O, value: u64, value_two: Option<u64>) -> ScmpArgCompare {
    let (op, datum) = match op {
        O::ScmpCmpNe => (ScmpCompareOp::NotEqual, value),
        O::ScmpCmpLt => (ScmpCompareOp::Less, value),
        O::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, value),
        O::ScmpCmpEq => (ScmpCompareOp::Equal, value),
        O::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, value),
        O::ScmpCmpGt => (ScmpCompareOp::Greater, value),
        O::ScmpCmpMaskedEq => (ScmpCompareOp::MaskedEqual(value), value_two.unwrap_or(0)),
    };
    // Index is checked against MAX_ARG_INDEX by the caller.
    ScmpArgCompare::new(index as u32, op, datum)
}

fn lib_err(what: String, e: libseccomp::error::SeccompError) -> Error {
    match e.sysrawrc() {
        Some(rc) => Error::os(what, std::io::Error::from_raw_os_error(rc.abs())),
        None => Error::msg(format!("{what}: {e}")),
    }
}

/// Build the filter for `linux.seccomp`. Errors name the config field, e.g.
/// `linux.seccomp.syscalls[3].args[0].index`.
pub fn build(s: &LinuxSeccomp) -> Result<Filter> {
    const F_ROOT: &str = "linux.seccomp";
    let default = action(s.default_action(), s.default_errno_ret(), "linux.seccomp.defaultErrnoRet")?;
    if default == ScmpAction::Notify {
        return Err(Error::msg("SCMP_ACT_NOTIFY cannot be the default action: the init would block on its own syscalls").field("linux.seccomp.defaultAction"));
    }
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| lib_err("create a seccomp filter".into(), e))?;
    // Berth sets no_new_privs itself, from process.noNewPrivileges.
    ctx.set_ctl_nnp(false).map_err(|e| lib_err("clear the filter's no_new_privs attribute".into(), e))?;

    let mut listed = Vec::new();
    for (i, arch) in s.architectures().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.architectures[{i}]");
        let (name, _, token) = ARCHS.iter().find(|(_, a, _)| a == arch).ok_or_else(|| Error::msg("unknown architecture").field(field.clone()))?;
        listed.push(*token);
        if ctx.is_arch_present(*token).unwrap_or(false) {
            continue;
        }
        ctx.add_arch(*token).map_err(|e| {
            let why = match e.sysrawrc() {
                Some(rc) if rc == -libc::EINVAL => "unknown to",
                _ => "cannot be combined with the native architecture by",
            };
            Error::msg(format!("{name} {why} libseccomp {}", library_version())).field(field)
        })?;
    }

    let mut flags: libc::c_ulong = 0;
    for (i, flag) in s.flags().iter().flatten().enumerate() {
        let (name, _, bit) = FLAGS.iter().find(|(_, f, _)| f == flag).expect("FLAGS covers every spec flag");
        if !kernel::flag_supported(*bit) {
            return Err(Error::msg(format!("{name} is not supported by this kernel")).field(format!("linux.seccomp.flags[{i}]")));
        }
        flags |= bit;
    }

    let mut notify = false;
    let (mut total, mut known, mut added) = (0usize, 0usize, 0usize);
    for (i, rule) in s.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        if rule.names().is_empty() {
            return Err(Error::msg("names must contain at least one entry").field(format!("{field}.names")));
        }
        let act = action(rule.action(), rule.errno_ret(), &format!("{field}.errnoRet"))?;
        let mut conds = Vec::new();
        let mut seen = [0u8; MAX_ARG_INDEX + 1];
        for (j, arg) in rule.args().iter().flatten().enumerate() {
            if arg.index() > MAX_ARG_INDEX {
                return Err(Error::msg(format!("argument index {} is above {MAX_ARG_INDEX}", arg.index())).field(format!("{field}.args[{j}].index")));
            }
            seen[arg.index()] += 1;
            conds.push(condition(arg.index(), arg.op(), arg.value(), arg.value_two()));
        }
        // One rule ANDs its conditions; libseccomp refuses two on the same
        // argument, and runc then gives each condition a rule of its own.
        let split = seen.iter().any(|&n| n > 1);

        for (j, name) in rule.names().iter().enumerate() {
            total += 1;
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                log::debug!("seccomp: skipping syscall {name:?} ({field}.names[{j}]): unknown to libseccomp {}", library_version());
                continue;
            };
            known += 1;
            if act == default {
                continue;
            }
            if act == ScmpAction::Notify {
                if NOTIFY_REFUSED.contains(&name.as_str()) {
                    return Err(Error::msg(format!("SCMP_ACT_NOTIFY on {name} would block the container init")).field(format!("{field}.names[{j}]")));
                }
                notify = true;
            }
            let what = || format!("add seccomp rule {} for {name}", action_name(rule.action()));
            let res = if conds.is_empty() {
                ctx.add_rule(act, nr).map(|_| ())
            } else if split {
                conds.iter().try_for_each(|c| ctx.add_rule_conditional(act, nr, std::slice::from_ref(c)).map(|_| ()))
            } else {
                ctx.add_rule_conditional(act, nr, &conds).map(|_| ())
            };
            res.map_err(|e| lib_err(what(), e).field(format!("{field}.names[{j}]")))?;
            added += 1;
        }
    }
    if total > 0 && known == 0 {
        return Err(Error::msg(format!("none of the {total} syscall names is known to libseccomp {}", library_version())).field("linux.seccomp.syscalls"));
    }

    if notify {
        if s.listener_path().is_none() {
            return Err(Error::msg("SCMP_ACT_NOTIFY needs a listenerPath to send the notify fd to").field("linux.seccomp.listenerPath"));
        }
        flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        flags = kernel::fix_tsync_with_listener(flags);
    } else if flags & libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0 {
        // The kernel accepts it only with a listener; without one it means nothing.
        log::debug!("seccomp: WAIT_KILLABLE_RECV dropped, no rule uses SCMP_ACT_NOTIFY");
        flags &= !libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    }
    if s.listener_metadata().is_some() && s.listener_path().is_none() {
        return Err(Error::msg("listenerMetadata must not be set without listenerPath").field("linux.seccomp.listenerMetadata"));
    }

    // A binary tree over syscall numbers instead of a chain of compares:
    // for Docker's profile the kernel loads it in ~0.27 ms instead of
    // ~0.63 ms (it runs the filter for every syscall number to fill its
    // action cache), and a filtered syscall walks O(log n) instructions.
    // Like runc, only for more than a few rules (libseccomp <= 2.5.3
    // ignored the default action of a rule-less tree).
    if added > 8 {
        ctx.set_ctl_optimize(2).map_err(|e| lib_err("ask libseccomp for a binary-tree filter".into(), e))?;
    }
    // Syscalls newer than the profile answer ENOSYS, as under runc.
    let mut program = enosys::stub(s, &listed);
    program.extend(export(&ctx).map_err(|e| e.field(F_ROOT))?);
    if program.len() > MAX_INSNS {
        return Err(Error::msg(format!("the seccomp program has {} instructions, above the kernel's limit of {MAX_INSNS}", program.len())).field(F_ROOT));
    }
    Ok(Filter { program, flags, notify })
}

/// Generate the BPF program. libseccomp 2.5 exports only to a file
/// descriptor; a memfd holds it whatever its size (a pipe could fill up).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>> {
    // SAFETY: the name is a NUL-terminated literal; the flags are valid.
    let raw = unsafe { libc::memfd_create(c"berth-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if raw < 0 {
        return Err(Error::last("create a memfd for the seccomp program"));
    }
    // SAFETY: memfd_create returned a new descriptor that nothing else owns.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(raw) });
    ctx.export_bpf(&file).map_err(|e| lib_err("generate the seccomp BPF program".into(), e))?;
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0)).and_then(|_| file.read_to_end(&mut bytes)).map_err(|e| Error::os("read back the seccomp BPF program", e))?;
    let size = std::mem::size_of::<libc::sock_filter>();
    if bytes.len() % size != 0 || bytes.is_empty() {
        return Err(Error::msg(format!("libseccomp produced a {}-byte program, not whole instructions", bytes.len())));
    }
    let program = decode_program(&bytes);
    if program.len() > MAX_INSNS {
        return Err(Error::msg(format!("the seccomp program has {} instructions, above the kernel's limit of {MAX_INSNS}", program.len())));
    }
    Ok(program)
}

/// The running libseccomp's version, e.g. "2.5.4".
pub fn library_version() -> String {
    match ScmpVersion::current() {
        Ok(v) => format!("{}.{}.{}", v.major, v.minor, v.micro),
        Err(_) => "unknown".into(),
    }
}

/// The `linux.seccomp` object of `berth features`: every name Berth
/// recognises, and the flags this kernel supports.
pub fn features() -> Value {
    // An architecture is listed when this libseccomp accepts it. One fresh
    // filter each, without the native arch: libseccomp refuses to mix
    // byte orders in one filter.
    let archs: Vec<&str> = ARCHS
        .iter()
        .filter(|(_, a, _)| *a != Arch::ScmpArchNative)
        .filter(|(_, _, t)| {
            ScmpFilterContext::new(ScmpAction::Allow)
                .and_then(|mut c| {
                    c.remove_arch(ScmpArch::Native)?;
                    c.add_arch(*t).map(|_| ())
                })
                .is_ok()
        })
        .map(|(n, _, _)| *n)
        .collect();
    let known: Vec<&str> = FLAGS.iter().map(|(n, _, _)| *n).collect();
    let supported: Vec<&str> = FLAGS.iter().filter(|(_, _, b)| kernel::flag_supported(*b)).map(|(n, _, _)| *n).collect();
    json!({
        "enabled": true,
        "actions": ACTIONS.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        "operators": OPERATORS.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        "archs": archs,
        "knownFlags": known,
        "supportedFlags": supported,
    })
}

/// Raw BPF bytes (libseccomp's export, or the cache) as instructions;
/// a trailing partial instruction is dropped (callers check the length).
pub(crate) fn decode_program(bytes: &[u8]) -> Vec<libc::sock_filter> {
    bytes
        .chunks_exact(std::mem::size_of::<libc::sock_filter>())
        .map(|c| libc::sock_filter { code: u16::from_ne_bytes([c[0], c[1]]), jt: c[2], jf: c[3], k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]) })
        .collect()
}

#[cfg(test)]
mod tests;
