//! `update` of the device rules of a v1 devices cgroup, with no instant at
//! which the container may open more than the old or the new rules allow,
//! nor less than both allow.
//!
//! A v1 cgroup takes rules one write at a time, and installing a new list
//! the way `create` does ("deny all", then the allows) leaves a moment in
//! which every device is refused: a container writing /dev/null right then
//! gets EPERM although both lists allow it. So the cgroup's state is read
//! back from devices.list, compared with the state the new rules make,
//! exception by exception and access bit by access bit, and the differences
//! are written in an order in which every state in between is checked
//! against both bounds ([`within`]). Only a change of the default (deny-all
//! to allow-all or back), or a cgroup whose default is allow (devices.list
//! then hides its deny exceptions), needs the whole-type rule that resets
//! the cgroup: the one case with a window, which no order of v1 writes can
//! avoid.

use super::devices::{self, Rule, V1State, ACC_MKNOD, ACC_READ, ACC_WRITE};
use super::Write;
use crate::error::{Error, Result};
use std::path::Path;

/// (type, major, minor) of an exception; None = any.
type Key = (char, Option<i64>, Option<i64>);

/// An exception of [`V1State`]: its key and access bits.
type Exception = (char, Option<i64>, Option<i64>, i32);

const FIELD: &str = "linux.resources.devices";

/// Read devices.list: "a *:* rwm" alone is allow-by-default (the kernel
/// shows nothing else then); otherwise each line is an allowed exception.
pub fn parse_list(text: &str) -> std::result::Result<V1State, String> {
    let mut st = V1State { allow_by_default: false, exceptions: Vec::new() };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let bad = || format!("unexpected devices.list line {line:?}");
        let mut f = line.split_whitespace();
        let (Some(kind), Some(nums), Some(access)) = (f.next(), f.next(), f.next()) else { return Err(bad()) };
        let kind = match kind {
            "a" | "c" | "b" => kind.chars().next().unwrap_or('a'),
            _ => return Err(bad()),
        };
        let (major, minor) = nums.split_once(':').ok_or_else(bad)?;
        let num = |s: &str| if s == "*" { Ok(None) } else { s.parse().map(Some).map_err(|_| bad()) };
        let bits = devices::access_bits(access);
        if kind == 'a' {
            st.allow_by_default = true;
            continue;
        }
        st.exceptions.push((kind, num(major)?, num(minor)?, bits));
    }
    if st.allow_by_default {
        st.exceptions.clear();
    }
    Ok(st)
}

/// Whether `mid` allows nothing that neither `from` nor `to` allows (no
/// excess), and whether it allows everything both allow (no loss). Decided
/// on one representative of every class of devices the three states tell
/// apart: each major and minor they name, and one they do not (-1, never a
/// wildcard's value here), for both types and every access.
pub fn bounds(from: &V1State, mid: &V1State, to: &V1State) -> (bool, bool) {
    let named = |pick: fn(&Exception) -> Option<i64>| {
        let mut v: Vec<i64> = [from, mid, to].iter().flat_map(|s| s.exceptions.iter().filter_map(pick)).collect();
        v.push(-1);
        v.sort_unstable();
        v.dedup();
        v
    };
    let (majors, minors) = (named(|e| e.1), named(|e| e.2));
    let (mut no_excess, mut no_loss) = (true, true);
    for kind in ['c', 'b'] {
        for &ma in &majors {
            for &mi in &minors {
                for req in 1..=(ACC_MKNOD | ACC_READ | ACC_WRITE) {
                    let (a, m, b) = (from.allows(kind, ma, mi, req), mid.allows(kind, ma, mi, req), to.allows(kind, ma, mi, req));
                    no_excess &= !m || a || b;
                    no_loss &= m || !(a && b);
                }
            }
        }
    }
    (no_excess, no_loss)
}

/// Both of [`bounds`]: `mid` is between `from` and `to`.
pub fn within(from: &V1State, mid: &V1State, to: &V1State) -> bool {
    bounds(from, mid, to) == (true, true)
}

fn access(bits: i32) -> String {
    [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')].iter().filter(|(b, _)| bits & b != 0).map(|(_, c)| *c).collect()
}

fn rule(allow: bool, (kind, major, minor): Key, bits: i32) -> Rule {
    Rule { allow, kind, major, minor, access: access(bits), field: FIELD.into() }
}

/// The rules that take a cgroup in state `from` to `to`, and whether every
/// state on the way is [`within`] the two. Between two deny-by-default
/// states no rule resets the cgroup: each differing access bit of each
/// exception is granted or taken on its own, the first one that keeps the
/// state in bounds going next; runs of one kind on one exception then share
/// a write. Rules whose exceptions overlap with partial access (`c 1:* rw`
/// beside `c *:* mw`) can leave no such order; then a step that only takes
/// access away is preferred, and one always exists: a revocation never
/// grants, and once an exception's revocations are done its grants stay
/// within `to`. So the container never holds more than the two rule sets
/// grant. Otherwise: the reset to `to`'s default, then its exceptions.
pub fn transition(from: &V1State, to: &V1State) -> (Vec<Rule>, bool) {
    if from.allow_by_default || to.allow_by_default {
        let mut out = vec![Rule { allow: to.allow_by_default, kind: 'a', major: None, minor: None, access: "rwm".into(), field: FIELD.into() }];
        out.extend(to.exceptions.iter().map(|e| rule(!to.allow_by_default, (e.0, e.1, e.2), e.3)));
        // The reset itself is `to` when `to` has no exceptions; otherwise
        // the moment after it allows everything (more than `to`) or nothing
        // (less than what both allow).
        return (out, to.exceptions.is_empty());
    }
    let bits_of = |st: &V1State, k: Key| st.exceptions.iter().find(|e| (e.0, e.1, e.2) == k).map_or(0, |e| e.3);
    let mut keys: Vec<Key> = Vec::new();
    for e in from.exceptions.iter().chain(&to.exceptions) {
        if !keys.contains(&(e.0, e.1, e.2)) {
            keys.push((e.0, e.1, e.2));
        }
    }
    // Grants before revocations when both would do.
    let mut pending: Vec<(Key, i32, bool)> = Vec::new();
    for add in [true, false] {
        for &k in &keys {
            let (a, b) = (bits_of(from, k), bits_of(to, k));
            let diff = if add { b & !a } else { a & !b };
            for bit in [ACC_READ, ACC_WRITE, ACC_MKNOD].into_iter().filter(|bit| diff & bit != 0) {
                pending.push((k, bit, add));
            }
        }
    }
    let mut cur = from.clone();
    let mut clean = true;
    let mut out: Vec<Rule> = Vec::new();
    while !pending.is_empty() {
        let after = |&(k, bit, add): &(Key, i32, bool)| {
            let mut s = cur.clone();
            s.play(&rule(add, k, bit));
            bounds(from, &s, to)
        };
        let verdicts: Vec<(bool, bool)> = pending.iter().map(after).collect();
        let at = verdicts.iter().position(|v| *v == (true, true)).unwrap_or_else(|| {
            clean = false;
            verdicts.iter().position(|v| v.0).unwrap_or(0)
        });
        let (k, bit, add) = pending.remove(at);
        let r = rule(add, k, bit);
        cur.play(&r);
        match out.last_mut() {
            Some(last) if last.allow == add && (last.kind, last.major, last.minor) == k => last.access = access(devices::access_bits(&last.access) | bit),
            _ => out.push(r),
        }
    }
    (out, clean)
}

/// The writes that take the v1 devices cgroup `dir` from what it holds now
/// to what `rules` say, in an order without a window ([`transition`]).
pub fn v1_writes(dir: &Path, rules: &[Rule]) -> Result<Vec<Write>> {
    let list = dir.join("devices.list");
    let text = std::fs::read_to_string(&list).map_err(|e| Error::os(format!("read {}", list.display()), e).field(FIELD))?;
    let from = parse_list(&text).map_err(|e| Error::msg(format!("read {}: {e}", list.display())).field(FIELD))?;
    let (out, clean) = transition(&from, &devices::v1_state(rules));
    if !clean {
        log::debug!("device rules of {}: the change of default access needs a reset of the cgroup's rules", dir.display());
    }
    Ok(devices::v1_writes(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(allow_by_default: bool, ex: &[(char, Option<i64>, Option<i64>, &str)]) -> V1State {
        V1State { allow_by_default, exceptions: ex.iter().map(|(k, ma, mi, a)| (*k, *ma, *mi, devices::access_bits(a))).collect() }
    }

    fn sorted(mut s: V1State) -> V1State {
        s.exceptions.sort();
        s
    }

    /// Play the transition from `from`: no state on the way may grant more
    /// than both, none less than both when it says it is clean, and the
    /// last one must be `to`. Returns the rules and whether it was clean.
    fn play(from: &V1State, to: &V1State) -> (Vec<String>, bool) {
        let (rules, clean) = transition(from, to);
        let mut cur = from.clone();
        for r in &rules {
            cur.play(r);
            let (no_excess, no_loss) = bounds(from, &cur, to);
            assert!(no_excess, "{from:?} -> {to:?}: {:?} grants more than both at {cur:?}", devices::v1_line(r));
            assert!(no_loss || !clean, "{from:?} -> {to:?}: {:?} takes what both grant at {cur:?}", devices::v1_line(r));
        }
        assert_eq!(sorted(cur), sorted(to.clone()));
        (rules.iter().map(|r| format!("{} {}", if r.allow { "allow" } else { "deny" }, devices::v1_line(r))).collect(), clean)
    }

    /// [`play`], which must be clean.
    fn check(from: &V1State, to: &V1State) -> Vec<String> {
        let (rules, clean) = play(from, to);
        assert!(clean, "{from:?} -> {to:?}: no window-free order found");
        rules
    }

    #[test]
    fn reads_devices_list() {
        assert_eq!(parse_list("a *:* rwm\n").unwrap(), st(true, &[]));
        assert_eq!(parse_list("").unwrap(), st(false, &[]));
        assert_eq!(
            parse_list("c 1:3 rwm\nc *:* m\nb 8:* r\n").unwrap(),
            st(false, &[('c', Some(1), Some(3), "rwm"), ('c', None, None, "m"), ('b', Some(8), None, "r")])
        );
        assert!(parse_list("x 1:3 rwm").is_err());
        assert!(parse_list("c 1-3 rwm").is_err());
    }

    #[test]
    fn same_rules_write_nothing() {
        let s = st(false, &[('c', Some(1), Some(3), "rwm"), ('c', None, None, "m")]);
        assert!(check(&s, &s).is_empty());
    }

    #[test]
    fn only_the_difference_is_written() {
        let from = st(false, &[('c', Some(1), Some(3), "rwm"), ('c', Some(1), Some(5), "rwm")]);
        let to = st(false, &[('c', Some(1), Some(3), "rwm"), ('c', Some(10), Some(200), "rw")]);
        assert_eq!(check(&from, &to), ["allow c 10:200 rw", "deny c 1:5 rwm"]);
    }

    /// r -> w on one device: granting w first would allow a read-write open
    /// that neither list allows, so r goes first.
    #[test]
    fn revocation_first_when_a_grant_would_exceed() {
        let from = st(false, &[('c', Some(1), Some(3), "r")]);
        let to = st(false, &[('c', Some(1), Some(3), "w")]);
        assert_eq!(check(&from, &to), ["deny c 1:3 r", "allow c 1:3 w"]);
    }

    /// A wildcard replaced by the one device both allow: the device must
    /// stay open throughout, so it is granted before the wildcard goes.
    #[test]
    fn wildcard_narrowed_keeps_what_both_allow() {
        let from = st(false, &[('c', None, None, "rwm")]);
        let to = st(false, &[('c', Some(1), Some(3), "rwm")]);
        assert_eq!(check(&from, &to), ["allow c 1:3 rwm", "deny c *:* rwm"]);
        check(&to, &from);
    }

    #[test]
    fn default_changes_reset() {
        let allow_all = st(true, &[]);
        let deny = st(false, &[('c', Some(1), Some(3), "rwm")]);
        let (rules, clean) = transition(&allow_all, &deny);
        assert!(!clean, "allow-all to deny-all cannot be done without a moment of less than both");
        assert_eq!(rules.iter().map(devices::v1_line).collect::<Vec<_>>(), ["a *:* rwm", "c 1:3 rwm"]);
        assert!(!rules[0].allow && rules[1].allow);
        // An empty whitelist to anything only grows; anything to allow-all too.
        assert!(transition(&st(false, &[]), &allow_all).1);
        assert!(transition(&allow_all, &allow_all).1);
        assert!(!transition(&deny, &st(true, &[('c', Some(1), Some(5), "r")])).1);
    }

    /// Pairs of whitelists over a small universe of keys (wildcards
    /// included) and access sets: the transition never grants more than
    /// both, ends where it should, and is clean but for a few pairs with
    /// overlapping partial wildcards (where no order may exist).
    #[test]
    fn every_small_pair_is_window_free() {
        let keys: [Key; 4] = [('c', Some(1), Some(3)), ('c', Some(1), None), ('c', None, None), ('b', Some(8), Some(0))];
        let state = |code: u32| {
            let mut s = V1State { allow_by_default: false, exceptions: Vec::new() };
            for (i, k) in keys.iter().enumerate() {
                let bits = ((code >> (3 * i)) & 7) as i32;
                if bits != 0 {
                    s.exceptions.push((k.0, k.1, k.2, bits));
                }
            }
            s
        };
        // A deterministic sample of the 2^24 pairs (all would take minutes).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut unclean = 0;
        for _ in 0..3000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let (a, b) = ((x >> 16) as u32 & 0xfff, (x >> 40) as u32 & 0xfff);
            unclean += usize::from(!play(&state(a), &state(b)).1);
        }
        assert!(unclean < 300, "{unclean} of 3000 pairs without a window-free order");
        // Exceptions with full access only (what runtimes and engines
        // write, bar read-only devices): always clean.
        for a in 0..16u32 {
            for b in 0..16u32 {
                let full = |m: u32| (0..4).map(|i| if m >> i & 1 == 1 { 7 << (3 * i) } else { 0 }).sum::<u32>();
                check(&state(full(a)), &state(full(b)));
            }
        }
    }

    /// Real writes to a v1 devices cgroup of our own: the list afterwards is
    /// the one the rules make.
    #[test]
    fn kernel_agrees() {
        let mounts = crate::procfs::read_small("/proc/self/mountinfo").unwrap_or_default();
        let Some(h) = super::super::parse_mountinfo(&mounts).into_iter().find(|h| !h.v2 && h.controllers.iter().any(|c| c == "devices")) else {
            eprintln!("SKIP: no v1 devices hierarchy");
            return;
        };
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIP: needs root");
            return;
        }
        let cg = super::super::TestCgroup::new(&h.mountpoint, "unit-devupd");
        let dir = cg.0.clone();
        let cfg = |v: serde_json::Value| devices::rules(Some(&serde_json::from_value::<Vec<oci_spec::runtime::LinuxDeviceCgroup>>(v).unwrap())).unwrap();
        let create = cfg(serde_json::json!([{"allow": false}, {"allow": true, "type": "b", "major": 7, "minor": 0, "access": "rw"}]));
        super::super::apply::run_all(&dir, &devices::v1_writes(&create)).unwrap();
        let list = || sorted(parse_list(&std::fs::read_to_string(dir.join("devices.list")).unwrap()).unwrap());
        assert_eq!(list(), sorted(devices::v1_state(&create)));
        let next = cfg(
            serde_json::json!([{"allow": false}, {"allow": true, "type": "b", "major": 7, "minor": 0, "access": "r"}, {"allow": false, "type": "c", "major": 1, "minor": 5}]),
        );
        let writes = v1_writes(&dir, &next).unwrap();
        let mut values: Vec<&str> = writes.iter().map(|w| w.value.as_str()).collect();
        values.sort();
        assert_eq!(values, ["b 7:0 w", "c 1:5 rwm"], "only the difference");
        super::super::apply::run_all(&dir, &writes).unwrap();
        assert_eq!(list(), sorted(devices::v1_state(&next)));
    }
}
