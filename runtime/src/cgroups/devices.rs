//! Device access rules (config-linux.md "Allowed Device list"): v1
//! `devices.allow`/`devices.deny` writes in rule order, and on cgroup v2 an
//! eBPF `BPF_PROG_TYPE_CGROUP_DEVICE` program built here instruction by
//! instruction ([`super::bpf`] loads and attaches it). There is no fallback: a
//! container that asked for rules gets them enforced or fails.
//!
//! The devices every container needs (null, zero, full, tty, random,
//! urandom, console, pts, ptmx, tun, and mknod of anything) are allowed
//! right after the config's last rule that denies a whole type (usually the leading "deny all"). runc appends them
//! after all the config's rules instead, so a config cannot deny /dev/null
//! there; here a later rule of the config still can. Without a wildcard
//! deny nothing is added (everything not denied is allowed anyway), and
//! without rules nothing is written: the cgroup keeps its parent's list.

use super::Write;
use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// One rule: allow or deny `access` ("rwm" subset) to type `kind` ('a', 'c'
/// or 'b'), major and minor (None = any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Allow (true) or deny.
    pub allow: bool,
    /// 'a' (all), 'c' or 'b'.
    pub kind: char,
    /// Major number, None for any.
    pub major: Option<i64>,
    /// Minor number, None for any.
    pub minor: Option<i64>,
    /// Some of "rwm".
    pub access: String,
    /// Where it came from, for messages.
    pub field: String,
}

/// Devices every container may use: (type, major, minor, access); -1 = any.
const DEFAULT_ALLOWED: &[(char, i64, i64, &str)] = &[
    ('c', -1, -1, "m"),
    ('b', -1, -1, "m"),
    ('c', 1, 3, "rwm"),    // null
    ('c', 1, 5, "rwm"),    // zero
    ('c', 1, 7, "rwm"),    // full
    ('c', 5, 0, "rwm"),    // tty
    ('c', 1, 8, "rwm"),    // random
    ('c', 1, 9, "rwm"),    // urandom
    ('c', 5, 1, "rwm"),    // console
    ('c', 136, -1, "rwm"), // pts
    ('c', 5, 2, "rwm"),    // ptmx
    ('c', 10, 200, "rwm"), // net/tun
];

fn any(v: Option<i64>) -> Option<i64> {
    v.filter(|n| *n >= 0)
}

fn kind_of(t: LinuxDeviceType) -> Option<char> {
    match t {
        LinuxDeviceType::A => Some('a'),
        LinuxDeviceType::C | LinuxDeviceType::U => Some('c'),
        LinuxDeviceType::B => Some('b'),
        LinuxDeviceType::P => None,
    }
}

/// The rules to enforce: the config's, in order, with the defaults every
/// container needs right after its last whole-type deny; empty when the
/// config has none.
///
/// `linux.devices` adds no rule: a device node in the container is not
/// access to it. The access is exactly what `linux.resources.devices`
/// says, as with runc: Docker's `--device /dev/loop0:/dev/xloop:r` sends the
/// node plus an `r` rule, and a write-open must fail.
pub fn rules(cfg: Option<&[LinuxDeviceCgroup]>) -> Result<Vec<Rule>> {
    let cfg = cfg.unwrap_or(&[]);
    if cfg.is_empty() {
        return Ok(Vec::new());
    }
    let mut out: Vec<Rule> = Vec::new();
    for (i, d) in cfg.iter().enumerate() {
        let field = format!("linux.resources.devices[{i}]");
        let given = d.access().clone().filter(|a| !a.is_empty()).unwrap_or_else(|| "rwm".into());
        // As runc reads it: r, w and m in any order, repeats allowed, other
        // letters ignored (with a warning here); the rule is written in the
        // kernel's canonical order. Nothing of r/w/m at all is an error
        // (runc fails on it too, later, at its device-cgroup check).
        let access: String = "rwm".chars().filter(|c| given.contains(*c)).collect();
        if access.is_empty() {
            return Err(Error::msg(format!("device access {given:?} holds none of r, w, m")).field(field));
        }
        if given.chars().any(|c| !"rwm".contains(c)) {
            log::warn!("{field}.access {given:?}: ignoring letters other than r, w, m");
        }
        let kind = kind_of(d.typ().unwrap_or_default()).ok_or_else(|| Error::msg("device rules apply to types a, c and b only").field(field.clone()))?;
        out.push(Rule { allow: d.allow(), kind, major: any(d.major()), minor: any(d.minor()), access, field });
    }
    let Some(at) = out.iter().rposition(|r| !r.allow && r.major.is_none() && r.minor.is_none()) else { return Ok(out) };
    let defaults = DEFAULT_ALLOWED.iter().map(|(kind, ma, mi, acc)| Rule {
        allow: true,
        kind: *kind,
        major: any(Some(*ma)),
        minor: any(Some(*mi)),
        access: acc.to_string(),
        field: "default devices".into(),
    });
    out.splice(at + 1..at + 1, defaults);
    Ok(out)
}

/// The v1 line for a rule: "c 1:5 rwm".
pub fn v1_line(r: &Rule) -> String {
    let n = |v: Option<i64>| v.map_or("*".to_string(), |v| v.to_string());
    format!("{} {}:{} {}", r.kind, n(r.major), n(r.minor), r.access)
}

/// v1 writes, in rule order.
pub fn v1_writes(rules: &[Rule]) -> Vec<Write> {
    rules
        .iter()
        .map(|r| {
            let (file, what) = if r.allow { ("devices.allow", "device rule allow") } else { ("devices.deny", "device rule deny") };
            Write::new("devices", file, v1_line(r), what, r.field.clone())
        })
        .collect()
}

/// One eBPF instruction (struct bpf_insn).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    /// Opcode.
    pub code: u8,
    /// dst_reg (low nibble) and src_reg (high nibble).
    pub regs: u8,
    /// Jump or memory offset.
    pub off: i16,
    /// Immediate.
    pub imm: i32,
}

// Opcodes used (linux/bpf_common.h, linux/bpf.h).
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND32_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const RSH32_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JSET_K: u8 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const MOV64_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const AND64_K: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: dst | (src << 4), off, imm }
}

/// bpf_cgroup_dev_ctx: access_type = (access << 16) | type; then major, minor.
pub(crate) const DEV_BLOCK: i32 = 1;
pub(crate) const DEV_CHAR: i32 = 2;
pub(crate) const ACC_MKNOD: i32 = 1;
pub(crate) const ACC_READ: i32 = 2;
pub(crate) const ACC_WRITE: i32 = 4;

pub(crate) fn access_bits(a: &str) -> i32 {
    a.chars()
        .map(|c| match c {
            'm' => ACC_MKNOD,
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            _ => 0,
        })
        .fold(0, |x, y| x | y)
}

/// What a v1 device cgroup holds after a list of rules: a default and the
/// exceptions to it (security/device_cgroup.c's model, which the eBPF
/// program reproduces so that one config means the same on v1 and v2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V1State {
    /// Default: allow (true) or deny.
    pub allow_by_default: bool,
    /// (kind, major, minor, access bits); None = any.
    pub exceptions: Vec<(char, Option<i64>, Option<i64>, i32)>,
}

/// Play rules the way the v1 kernel does: a rule of type `a` resets the
/// default and drops every exception; a rule agreeing with the default
/// takes its access bits away from the exception for exactly that device;
/// a rule against the default adds them to it. A cgroup starts as its
/// parent: allow everything.
pub fn v1_state(rules: &[Rule]) -> V1State {
    let mut st = V1State { allow_by_default: true, exceptions: Vec::new() };
    for r in rules {
        st.play(r);
    }
    st
}

impl V1State {
    /// Take one rule as the v1 kernel takes one write ([`v1_state`]).
    pub fn play(&mut self, r: &Rule) {
        if r.kind == 'a' {
            *self = V1State { allow_by_default: r.allow, exceptions: Vec::new() };
            return;
        }
        let bits = access_bits(&r.access);
        let same = |e: &(char, Option<i64>, Option<i64>, i32)| e.0 == r.kind && e.1 == r.major && e.2 == r.minor;
        if r.allow == self.allow_by_default {
            for e in self.exceptions.iter_mut().filter(|e| same(e)) {
                e.3 &= !bits;
            }
            self.exceptions.retain(|e| e.3 != 0);
        } else if let Some(e) = self.exceptions.iter_mut().find(|e| same(e)) {
            e.3 |= bits;
        } else {
            self.exceptions.push((r.kind, r.major, r.minor, bits));
        }
    }

    /// Whether an access (`req`: access bits) to a device passes, decided
    /// as the v1 kernel decides: under allow-by-default no exception may
    /// name any requested bit; under deny-by-default one exception must
    /// grant them all.
    pub fn allows(&self, kind: char, major: i64, minor: i64, req: i32) -> bool {
        let mut hits = self.exceptions.iter().filter(|e| e.0 == kind && e.1.is_none_or(|m| m == major) && e.2.is_none_or(|m| m == minor));
        if self.allow_by_default {
            !hits.any(|e| e.3 & req != 0)
        } else {
            hits.any(|e| req & !e.3 == 0)
        }
    }
}

/// The device program for `rules`, deciding as a v1 cgroup given the same
/// rules would ([`v1_state`]). Registers: r2 type, r3 access, r4 major, r5
/// minor. One block per exception, each test jumping to the next block on
/// mismatch; a matching exception returns the opposite of the default.
/// Under deny-by-default an exception must grant every requested access
/// bit; under allow-by-default any requested bit it names denies.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let st = v1_state(rules);
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND32_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH32_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    let all = ACC_MKNOD | ACC_READ | ACC_WRITE;
    for (kind, major, minor, acc) in &st.exceptions {
        let mut block = Vec::new();
        block.push(insn(JNE_K, 2, 0, 0, if *kind == 'b' { DEV_BLOCK } else { DEV_CHAR }));
        if let Some(m) = major {
            block.push(insn(JNE_K, 4, 0, 0, *m as i32));
        }
        if let Some(m) = minor {
            block.push(insn(JNE_K, 5, 0, 0, *m as i32));
        }
        if *acc != all {
            if st.allow_by_default {
                // No requested bit among the exception's: not a match.
                block.push(insn(MOV64_X, 1, 3, 0, 0));
                block.push(insn(AND64_K, 1, 0, 0, *acc));
                block.push(insn(JEQ_K, 1, 0, 0, 0));
            } else {
                // A requested bit the exception lacks: not a match.
                block.push(insn(JSET_K, 3, 0, 0, !acc & all));
            }
        }
        block.push(insn(MOV64_K, 0, 0, 0, i32::from(!st.allow_by_default)));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let n = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if matches!(ins.code, JNE_K | JSET_K | JEQ_K) {
                ins.off = (n - i - 1) as i16;
            }
        }
        p.extend(block);
    }
    p.push(insn(MOV64_K, 0, 0, 0, i32::from(st.allow_by_default)));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(allow: bool, kind: char, major: Option<i64>, minor: Option<i64>, access: &str) -> Rule {
        Rule { allow, kind, major, minor, access: access.into(), field: String::new() }
    }

    /// Run the program on one access, as the kernel would (the subset of
    /// eBPF that [`program`] emits).
    fn eval(p: &[Insn], kind: i32, access: i32, major: i32, minor: i32) -> u64 {
        let ctx = [((access << 16) | kind) as u32, major as u32, minor as u32];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            assert!(src == 0 || (src == 1 && i.code == LDX_W) || (src == 3 && i.code == MOV64_X));
            pc += 1;
            match i.code {
                LDX_W => r[dst] = u64::from(ctx[i.off as usize / 4]),
                AND32_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                RSH32_K => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
                MOV64_K => r[dst] = i.imm as i64 as u64,
                MOV64_X => r[dst] = r[src],
                AND64_K => r[dst] &= i.imm as i64 as u64,
                JEQ_K if r[dst] == i.imm as i64 as u64 => pc += i.off as usize,
                JEQ_K => {}
                JNE_K if r[dst] != i.imm as i64 as u64 => pc += i.off as usize,
                JSET_K if r[dst] & (i.imm as i64 as u64) != 0 => pc += i.off as usize,
                JNE_K | JSET_K => {}
                EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn deny_all_then_allow_zero() {
        let rs = [rule(false, 'a', None, None, "rwm"), rule(true, 'c', Some(1), Some(5), "rwm")];
        let p = program(&rs);
        // 6 loads, one 5-instruction block for c 1:5 (type, major, minor + verdict), the catch-all verdict.
        assert_eq!(p.len(), 6 + 5 + 2);
        assert_eq!(p[6], insn(JNE_K, 2, 0, 4, DEV_CHAR));
        assert_eq!(p[7], insn(JNE_K, 4, 0, 3, 1));
        assert_eq!(p[8], insn(JNE_K, 5, 0, 2, 5));
        assert_eq!(p[9], insn(MOV64_K, 0, 0, 0, 1));
        assert_eq!(p[11], insn(MOV64_K, 0, 0, 0, 0));
        assert_eq!(eval(&p, DEV_CHAR, ACC_READ, 1, 5), 1);
        assert_eq!(eval(&p, DEV_CHAR, ACC_READ, 1, 11), 0);
        assert_eq!(eval(&p, DEV_BLOCK, ACC_READ, 1, 5), 0);
    }

    #[test]
    fn access_subsets_and_exceptions() {
        let rs = [rule(true, 'c', Some(1), None, "r"), rule(false, 'c', Some(1), Some(3), "w")];
        let p = program(&rs);
        assert_eq!(eval(&p, DEV_CHAR, ACC_READ, 1, 3), 1);
        assert_eq!(eval(&p, DEV_CHAR, ACC_WRITE, 1, 3), 0);
        assert_eq!(eval(&p, DEV_CHAR, ACC_WRITE, 1, 4), 1, "no rule matches: allowed (inherited allow-all)");
        assert_eq!(eval(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 4), 1);
        // A read+write request is not covered by an "r" rule.
        let p = program(&[rule(false, 'a', None, None, "rwm"), rule(true, 'c', Some(1), None, "r")]);
        assert_eq!(eval(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 4), 0);
        assert_eq!(eval(&p, DEV_CHAR, ACC_READ, 1, 4), 1);
    }

    /// A deny after "deny all" removes only the exception for exactly that
    /// device, as v1 does: "c *:* m" still lets it be created, not opened.
    #[test]
    fn v1_exception_semantics() {
        let rs = [
            rule(false, 'a', None, None, "rwm"),
            rule(true, 'c', None, None, "m"),
            rule(true, 'c', Some(1), Some(3), "rwm"),
            rule(false, 'c', Some(1), Some(3), "rwm"),
        ];
        let st = v1_state(&rs);
        assert_eq!(st, V1State { allow_by_default: false, exceptions: vec![('c', None, None, ACC_MKNOD)] });
        let p = program(&rs);
        assert_eq!(eval(&p, DEV_CHAR, ACC_MKNOD, 1, 3), 1);
        assert_eq!(eval(&p, DEV_CHAR, ACC_READ, 1, 3), 0);
        assert_eq!(eval(&p, DEV_BLOCK, ACC_MKNOD, 8, 0), 0);
        // Allow-by-default with a deny exception: any overlapping bit denies.
        let p = program(&[rule(false, 'c', Some(1), Some(3), "rw")]);
        assert_eq!(eval(&p, DEV_CHAR, ACC_READ | ACC_MKNOD, 1, 3), 0);
        assert_eq!(eval(&p, DEV_CHAR, ACC_MKNOD, 1, 3), 1);
        assert_eq!(eval(&p, DEV_CHAR, ACC_WRITE, 1, 4), 1);
        // Merging and partial removal of one exception's bits.
        let st = v1_state(&[
            rule(false, 'a', None, None, ""),
            rule(true, 'b', Some(8), None, "r"),
            rule(true, 'b', Some(8), None, "w"),
            rule(false, 'b', Some(8), None, "r"),
        ]);
        assert_eq!(st.exceptions, vec![('b', Some(8), None, ACC_WRITE)]);
    }

    #[test]
    fn config_rules_then_defaults() {
        let cfg: Vec<LinuxDeviceCgroup> = serde_json::from_value(serde_json::json!([
            {"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rw"}
        ]))
        .unwrap();
        let rs = rules(Some(&cfg)).unwrap();
        let ws = v1_writes(&rs);
        let n = DEFAULT_ALLOWED.len();
        assert_eq!((ws[0].file.as_str(), ws[0].value.as_str()), ("devices.deny", "a *:* rwm"));
        assert_eq!(ws[1].value, "c *:* m");
        assert_eq!(ws[3].value, "c 1:3 rwm");
        assert_eq!((ws[n + 1].file.as_str(), ws[n + 1].value.as_str()), ("devices.allow", "c 1:5 rw"));
        assert_eq!(ws[n + 1].field, "linux.resources.devices[1]");
        assert_eq!(ws.len(), 2 + n);
        assert!(rules(None).unwrap().is_empty());
        // Without a wildcard deny nothing is added; a later deny of a default device stays last.
        let only: Vec<LinuxDeviceCgroup> = serde_json::from_value(serde_json::json!([{"allow": false, "type": "c", "major": 1, "minor": 3}])).unwrap();
        assert_eq!(rules(Some(&only)).unwrap().len(), 1);
        let deny_null: Vec<LinuxDeviceCgroup> =
            serde_json::from_value(serde_json::json!([{"allow": false}, {"allow": false, "type": "c", "major": 1, "minor": 3}])).unwrap();
        let rs = rules(Some(&deny_null)).unwrap();
        assert_eq!(v1_line(rs.last().unwrap()), "c 1:3 rwm");
        assert!(!rs.last().unwrap().allow);
        let bad: Vec<LinuxDeviceCgroup> = serde_json::from_value(serde_json::json!([{"allow": true, "access": "xa"}])).unwrap();
        assert_eq!(rules(Some(&bad)).unwrap_err().field.as_deref(), Some("linux.resources.devices[0]"));
        // runc's reading: any order, repeats, other letters dropped.
        for (given, canon) in [("wr", "rw"), ("mrw", "rwm"), ("rrw", "rw"), ("rwa", "rw"), ("rwmx", "rwm"), ("m", "m")] {
            let one: Vec<LinuxDeviceCgroup> =
                serde_json::from_value(serde_json::json!([{"allow": true, "type": "c", "major": 4, "minor": 2, "access": given}])).unwrap();
            assert_eq!(v1_line(&rules(Some(&one)).unwrap()[0]), format!("c 4:2 {canon}"), "{given}");
        }
    }

    /// Docker's `--device /dev/loop0:/dev/xloop:r`: its rules give read
    /// access and nothing more, on v1 and in the eBPF program alike.
    #[test]
    fn a_read_only_device_rule_stays_read_only() {
        let cfg: Vec<LinuxDeviceCgroup> = serde_json::from_value(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "b", "major": 7, "minor": 0, "access": "r"}
        ]))
        .unwrap();
        let rs = rules(Some(&cfg)).unwrap();
        let st = v1_state(&rs);
        let loop0: Vec<_> = st.exceptions.iter().filter(|e| e.0 == 'b' && e.1 == Some(7) && e.2 == Some(0)).collect();
        assert_eq!(loop0, [&('b', Some(7), Some(0), ACC_READ)]);
        let p = program(&rs);
        assert_eq!(eval(&p, DEV_BLOCK, ACC_READ, 7, 0), 1);
        assert_eq!(eval(&p, DEV_BLOCK, ACC_WRITE, 7, 0), 0);
        assert_eq!(eval(&p, DEV_BLOCK, ACC_READ | ACC_WRITE, 7, 0), 0);
        // mknod of any block device is among the defaults.
        assert_eq!(eval(&p, DEV_BLOCK, ACC_MKNOD, 7, 0), 1);
    }
}
