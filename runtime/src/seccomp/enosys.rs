//! ENOSYS for syscalls newer than the profile, as runc does.
//!
//! A deny-by-default profile written before a syscall existed would answer
//! it with the default action, typically EPERM. libc then takes the
//! syscall for forbidden and gives up, where ENOSYS ("not implemented")
//! makes it fall back to an older call (glibc's clone3 → clone, statx →
//! fstatat, faccessat2 → faccessat, ...). So, for every architecture of the
//! filter, a syscall number above the largest one the profile names gets
//! ENOSYS; everything else goes through the profile's own program.
//!
//! Skipped, as in runc, when the default action lets syscalls through
//! anyway (allow, log, trace) or already answers ENOSYS. Unlike runc, the
//! native architecture is covered even when `architectures` is empty (the
//! filter holds it all the same).
//!
//! The stub is prepended to libseccomp's program:
//! ```text
//!   ld  arch
//!   per arch: jeq AUDIT_ARCH, 0, next
//!             ld  nr
//!             [x86_64: jset X32 bit → x32 or x86_64 compare]
//!             jgt LAST, enosys, filter
//!   ja  filter
//!   enosys: ret ERRNO(ENOSYS)
//!   filter: (libseccomp's program, which loads the arch itself)
//! ```

use libseccomp::{ScmpArch, ScmpSyscall};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction as A};

/// `struct seccomp_data` offsets.
const NR: u32 = 0;
const ARCH: u32 = 4;

/// The x32 ABI's marker bit on syscall numbers (`__X32_SYSCALL_BIT`).
const X32_BIT: u32 = 0x4000_0000;

const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const JA: u16 = 0x05; // BPF_JMP | BPF_JA
const RET_K: u16 = 0x06; // BPF_RET | BPF_K
const RET_ERRNO_ENOSYS: u32 = 0x0005_0000 | libc::ENOSYS as u32; // SECCOMP_RET_ERRNO | ENOSYS

/// libseccomp's architectures and the `AUDIT_ARCH_*` value the kernel puts
/// in `seccomp_data.arch` for them (x32 shares x86_64's).
const AUDIT: &[(ScmpArch, u32)] = &[
    (ScmpArch::X86, 0x4000_0003),
    (ScmpArch::X8664, 0xC000_003E),
    (ScmpArch::X32, 0xC000_003E),
    (ScmpArch::Arm, 0x4000_0028),
    (ScmpArch::Aarch64, 0xC000_00B7),
    (ScmpArch::Mips, 0x0000_0008),
    (ScmpArch::Mips64, 0x8000_0008),
    (ScmpArch::Mips64N32, 0xA000_0008),
    (ScmpArch::Mipsel, 0x4000_0008),
    (ScmpArch::Mipsel64, 0xC000_0008),
    (ScmpArch::Mipsel64N32, 0xE000_0008),
    (ScmpArch::Ppc, 0x0000_0014),
    (ScmpArch::Ppc64, 0x8000_0015),
    (ScmpArch::Ppc64Le, 0xC000_0015),
    (ScmpArch::S390, 0x0000_0016),
    (ScmpArch::S390X, 0x8000_0016),
    (ScmpArch::Riscv64, 0xC000_00F3),
    (ScmpArch::Loongarch64, 0xC000_0102),
];

/// The largest syscall numbers named per kernel architecture: the
/// ordinary ABI and, on x86_64, the x32 one.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Last {
    audit: u32,
    main: Option<u32>,
    x32: Option<u32>,
    s390: bool,
}

/// Whether a profile gets the stub (see the module docs).
fn wanted(s: &LinuxSeccomp) -> bool {
    let permissive = matches!(s.default_action(), A::ScmpActAllow | A::ScmpActLog | A::ScmpActTrace);
    let enosys_already = s.default_action() == A::ScmpActErrno && s.default_errno_ret() == Some(libc::ENOSYS as u32);
    !permissive && !enosys_already
}

/// The filter's architectures: the native one and those listed.
fn arches(listed: &[ScmpArch]) -> Vec<ScmpArch> {
    let mut v = vec![ScmpArch::native()];
    for a in listed {
        let a = if *a == ScmpArch::Native { ScmpArch::native() } else { *a };
        if !v.contains(&a) {
            v.push(a);
        }
    }
    v
}

fn last_syscalls(s: &LinuxSeccomp, listed: &[ScmpArch]) -> Vec<Last> {
    let names: Vec<&str> = s.syscalls().iter().flatten().flat_map(|r| r.names().iter().map(String::as_str)).collect();
    let mut out: Vec<Last> = Vec::new();
    for arch in arches(listed) {
        let Some((_, audit)) = AUDIT.iter().find(|(a, _)| *a == arch) else { continue };
        let max = names.iter().filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok()).map(i32::from).filter(|n| *n >= 0).max();
        let Some(max) = max.map(|m| m as u32) else { continue };
        let entry = match out.iter_mut().find(|l| l.audit == *audit) {
            Some(e) => e,
            None => {
                out.push(Last { audit: *audit, ..Default::default() });
                out.last_mut().expect("just pushed")
            }
        };
        match arch {
            // libseccomp's x32 numbers carry the x32 bit, as the kernel's do.
            ScmpArch::X32 => entry.x32 = Some(max | X32_BIT),
            _ => entry.main = Some(max),
        }
        entry.s390 |= matches!(arch, ScmpArch::S390 | ScmpArch::S390X);
    }
    out
}

/// A jump target while the stub is laid out.
#[derive(Clone, Copy)]
enum To {
    /// The next instruction.
    Fall,
    /// This many instructions further on.
    Skip(usize),
    /// The first instruction of the next architecture's block.
    NextArch,
    /// `ret ERRNO(ENOSYS)`.
    Enosys,
    /// The profile's own program.
    Filter,
}

/// The stub for `s` (empty when it gets none), given the architectures
/// the filter was built with.
pub(super) fn stub(s: &LinuxSeccomp, listed: &[ScmpArch]) -> Vec<libc::sock_filter> {
    if !wanted(s) {
        return Vec::new();
    }
    let lasts = last_syscalls(s, listed);
    if lasts.is_empty() {
        return Vec::new();
    }
    // Blocks of (code, k, jt, jf), jumps symbolic.
    let mut blocks: Vec<Vec<(u16, u32, To, To)>> = Vec::new();
    for l in &lasts {
        let mut b = vec![(JEQ_K, l.audit, To::Fall, To::NextArch), (LD_W_ABS, NR, To::Fall, To::Fall)];
        if l.s390 {
            // On s390 an unknown large syscall number reaches the filter as
            // 0 (the multiplexer `setup`), never used by userspace now.
            b.push((JEQ_K, 0, To::Enosys, To::Fall));
        }
        match (l.main, l.x32) {
            (Some(m), Some(x)) => {
                b.push((JSET_K, X32_BIT, To::Skip(1), To::Fall));
                b.push((JGT_K, m, To::Enosys, To::Filter));
                b.push((JGT_K, x, To::Enosys, To::Filter));
            }
            (Some(m), None) if l.audit == 0xC000_003E => {
                b.push((JSET_K, X32_BIT, To::Filter, To::Fall));
                b.push((JGT_K, m, To::Enosys, To::Filter));
            }
            (None, Some(x)) => {
                b.push((JSET_K, X32_BIT, To::Fall, To::Filter));
                b.push((JGT_K, x, To::Enosys, To::Filter));
            }
            (Some(m), None) => b.push((JGT_K, m, To::Enosys, To::Filter)),
            (None, None) => continue,
        }
        blocks.push(b);
    }
    // Layout: ld arch, the blocks, ja filter, ret ENOSYS.
    let starts: Vec<usize> = blocks
        .iter()
        .scan(1, |at, b| {
            let s = *at;
            *at += b.len();
            Some(s)
        })
        .collect();
    let ja_at = 1 + blocks.iter().map(Vec::len).sum::<usize>();
    let (enosys_at, filter_at) = (ja_at + 1, ja_at + 2);
    let mut out = vec![insn(LD_W_ABS, ARCH, 0, 0)];
    for (bi, b) in blocks.iter().enumerate() {
        let next_arch = starts.get(bi + 1).copied().unwrap_or(ja_at);
        for (i, (code, k, jt, jf)) in b.iter().enumerate() {
            let at = starts[bi] + i;
            let off = |t: To| -> u8 {
                let target = match t {
                    To::Fall => at + 1,
                    To::Skip(n) => at + 1 + n,
                    To::NextArch => next_arch,
                    To::Enosys => enosys_at,
                    To::Filter => filter_at,
                };
                // The stub is a few instructions per architecture: far
                // below the 255 a conditional jump can reach.
                u8::try_from(target - at - 1).expect("seccomp stub jump within 255")
            };
            out.push(insn(*code, *k, off(*jt), off(*jf)));
        }
    }
    out.push(insn(JA, 1, 0, 0));
    out.push(insn(RET_K, RET_ERRNO_ENOSYS, 0, 0));
    out
}

fn insn(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A classic BPF interpreter for what the stub and a fake filter use.
    fn run(prog: &[libc::sock_filter], arch: u32, nr: u32) -> u32 {
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = prog[pc];
            pc += 1;
            let jump = |cond: bool| if cond { i.jt as usize } else { i.jf as usize };
            match i.code {
                LD_W_ABS => acc = if i.k == ARCH { arch } else { nr },
                JEQ_K => pc += jump(acc == i.k),
                JGT_K => pc += jump(acc > i.k),
                JSET_K => pc += jump(acc & i.k != 0),
                JA => pc += i.k as usize,
                RET_K => return i.k,
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    /// Stands in for libseccomp's program: a recognisable return value.
    const FILTER: u32 = 0x7fff_0000;

    fn with_filter(mut stub: Vec<libc::sock_filter>) -> Vec<libc::sock_filter> {
        stub.push(insn(RET_K, FILTER, 0, 0));
        stub
    }

    fn profile(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn newer_syscalls_get_enosys_older_ones_the_filter() {
        let s = profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "getpid", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}));
        let p = with_filter(stub(&s, &[]));
        let x86_64 = 0xC000_003E;
        // exit_group is 231 on x86_64: the largest named.
        assert_eq!(run(&p, x86_64, 231), FILTER);
        assert_eq!(run(&p, x86_64, 100), FILTER);
        assert_eq!(run(&p, x86_64, 232), RET_ERRNO_ENOSYS);
        assert_eq!(run(&p, x86_64, 450), RET_ERRNO_ENOSYS);
        // x32 numbers are not covered without SCMP_ARCH_X32; another arch
        // goes to the filter (its bad-arch action).
        assert_eq!(run(&p, x86_64, 500 | X32_BIT), FILTER);
        assert_eq!(run(&p, 0x4000_0003, 5000), FILTER);
    }

    #[test]
    fn every_listed_arch_has_its_own_last_syscall() {
        let s = profile(json!({"defaultAction": "SCMP_ACT_KILL_PROCESS", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["read", "exit_group"], "action": "SCMP_ACT_ALLOW"}]}));
        let p = with_filter(stub(&s, &[ScmpArch::X8664, ScmpArch::X86, ScmpArch::X32]));
        // i386: exit_group is 252.
        assert_eq!(run(&p, 0x4000_0003, 252), FILTER);
        assert_eq!(run(&p, 0x4000_0003, 253), RET_ERRNO_ENOSYS);
        // x32: exit_group is 231 | bit.
        assert_eq!(run(&p, 0xC000_003E, 231 | X32_BIT), FILTER);
        assert_eq!(run(&p, 0xC000_003E, 400 | X32_BIT), RET_ERRNO_ENOSYS);
        assert_eq!(run(&p, 0xC000_003E, 231), FILTER);
        assert_eq!(run(&p, 0xC000_003E, 300), RET_ERRNO_ENOSYS);
    }

    #[test]
    fn permissive_or_enosys_defaults_get_no_stub() {
        for d in [
            json!({"defaultAction": "SCMP_ACT_ALLOW"}),
            json!({"defaultAction": "SCMP_ACT_LOG"}),
            json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}),
        ] {
            let mut v = d.clone();
            v["syscalls"] = json!([{"names": ["mount"], "action": "SCMP_ACT_ERRNO"}]);
            assert!(stub(&profile(v), &[]).is_empty(), "{d}");
        }
        assert!(stub(&profile(json!({"defaultAction": "SCMP_ACT_ERRNO"})), &[]).is_empty(), "no names: nothing to compare with");
    }
}
