//! Unit properties for the systemd driver: what systemd itself should know
//! of a container's limits, so that its own view (`systemctl show`, and
//! what it re-applies on `daemon-reload`) matches the cgroup files.
//!
//! The properties are derived from the same planned writes the cgroupfs
//! driver carries out ([`super::super::v2::plan`], [`super::super::v1::plan`]),
//! so one config means one value in both; the files are then written as
//! well (runc does the same), which covers what systemd has no property
//! for and keeps values systemd would round (CPU quota to 1%).
//!
//! | file (v2) | property | file (v1) | property |
//! |---|---|---|---|
//! | memory.max | MemoryMax | memory.limit_in_bytes | MemoryLimit |
//! | memory.high, .low, .min, .swap.max | MemoryHigh, MemoryLow, MemoryMin, MemorySwapMax | | |
//! | cpu.weight | CPUWeight | cpu.shares | CPUShares |
//! | cpu.max | CPUQuotaPerSecUSec (+ CPUQuotaPeriodUSec) | cpu.cfs_quota_us, cpu.cfs_period_us | the same |
//! | cpuset.cpus, cpuset.mems | AllowedCPUs, AllowedMemoryNodes (bit masks) | | |
//! | pids.max | TasksMax | pids.max | TasksMax |
//! | io.weight (from blockIO.weight) | IOWeight | blkio.weight | BlockIOWeight |
//!
//! `max` is `u64::MAX` (systemd's "infinity"). Device rules become
//! DevicePolicy/DeviceAllow ([`devices`]); annotations
//! `org.systemd.property.<Name>` pass through ([`annotations`]).

use super::super::devices::{self, Rule};
use super::super::Write;
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// A property value, in the D-Bus type systemd expects for it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `b`
    Bool(bool),
    /// `y`
    Byte(u8),
    /// `n`
    I16(i16),
    /// `q`
    U16(u16),
    /// `i`
    I32(i32),
    /// `u`
    U32(u32),
    /// `x`
    I64(i64),
    /// `t`
    U64(u64),
    /// `d`
    Double(f64),
    /// `s`
    Str(String),
    /// `ay` (bit masks such as AllowedCPUs)
    Bytes(Vec<u8>),
    /// `au` (PIDs)
    U32s(Vec<u32>),
    /// `as`
    Strs(Vec<String>),
    /// `a(ss)` (DeviceAllow: path or class, access)
    Pairs(Vec<(String, String)>),
}

/// A unit property: name and value.
pub type Property = (String, Value);

fn prop(name: &str, v: Value) -> Property {
    (name.to_string(), v)
}

/// `max` → infinity, else the number.
fn limit(v: &str) -> Option<u64> {
    match v.trim() {
        "max" | "-1" => Some(u64::MAX),
        n => n.parse().ok(),
    }
}

/// Quota per period → quota per second, rounded up to whole percents of a
/// CPU (systemd's resolution), as runc rounds it.
fn quota_per_sec(quota: u64, period: u64) -> u64 {
    let per_sec = quota.saturating_mul(1_000_000) / period.max(1);
    per_sec.div_ceil(10_000) * 10_000
}

/// A cpuset list ("0-2,4") → systemd's bit mask: byte i, bit j is CPU (or
/// node) 8i + j.
pub fn cpuset_mask(list: &str) -> Option<Vec<u8>> {
    let mut mask: Vec<u8> = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<usize>().ok()?, b.trim().parse::<usize>().ok()?),
            None => {
                let n = part.trim().parse::<usize>().ok()?;
                (n, n)
            }
        };
        if a > b || b >= 1 << 16 {
            return None;
        }
        for n in a..=b {
            if mask.len() <= n / 8 {
                mask.resize(n / 8 + 1, 0);
            }
            mask[n / 8] |= 1 << (n % 8);
        }
    }
    Some(mask)
}

/// Properties for planned writes (`v2`: cgroup2 file names, else v1's).
/// Writes systemd has no property for are left to the files.
pub fn resources(writes: &[Write], v2: bool) -> Vec<Property> {
    let mut out = Vec::new();
    let mut v1_quota: (Option<i64>, Option<u64>) = (None, None);
    for w in writes {
        let v = w.value.as_str();
        let named = |name: &str| limit(v).map(|n| prop(name, Value::U64(n)));
        let p = match (v2, w.file.as_str()) {
            (true, "memory.max") => named("MemoryMax"),
            (true, "memory.high") => named("MemoryHigh"),
            (true, "memory.low") => named("MemoryLow"),
            (true, "memory.min") => named("MemoryMin"),
            (true, "memory.swap.max") => named("MemorySwapMax"),
            (true, "cpu.weight") => named("CPUWeight"),
            (true, "pids.max") | (false, "pids.max") => named("TasksMax"),
            (true, "io.weight") if !v.contains(':') => named("IOWeight"),
            // blockIO.weight is planned as io.bfq.weight with io.weight (converted) as the fallback.
            (true, "io.bfq.weight") => match &w.alt {
                Some((f, alt)) if f == "io.weight" && !v.contains(':') => limit(alt).map(|n| prop("IOWeight", Value::U64(n))),
                _ => None,
            },
            (true, "cpuset.cpus") => cpuset_mask(v).map(|m| prop("AllowedCPUs", Value::Bytes(m))),
            (true, "cpuset.mems") => cpuset_mask(v).map(|m| prop("AllowedMemoryNodes", Value::Bytes(m))),
            (true, "cpu.max") => {
                let mut it = v.split_whitespace();
                let quota = it.next().unwrap_or("max");
                let period = it.next().and_then(|p| p.parse::<u64>().ok());
                if let Some(p) = period {
                    out.push(prop("CPUQuotaPeriodUSec", Value::U64(p)));
                }
                match quota {
                    "max" => Some(prop("CPUQuotaPerSecUSec", Value::U64(u64::MAX))),
                    q => q.parse::<u64>().ok().map(|q| prop("CPUQuotaPerSecUSec", Value::U64(quota_per_sec(q, period.unwrap_or(100_000))))),
                }
            }
            (false, "memory.limit_in_bytes") => named("MemoryLimit"),
            (false, "cpu.shares") => named("CPUShares"),
            (false, "blkio.weight") => named("BlockIOWeight"),
            (false, "cpu.cfs_quota_us") => {
                v1_quota.0 = v.trim().parse().ok();
                None
            }
            (false, "cpu.cfs_period_us") => {
                v1_quota.1 = v.trim().parse().ok();
                None
            }
            _ => None,
        };
        out.extend(p);
    }
    if let (Some(q), period) = v1_quota {
        if let Some(p) = period {
            out.push(prop("CPUQuotaPeriodUSec", Value::U64(p)));
        }
        let per_sec = if q < 0 { u64::MAX } else { quota_per_sec(q as u64, period.unwrap_or(100_000)) };
        out.push(prop("CPUQuotaPerSecUSec", Value::U64(per_sec)));
    }
    out
}

/// Device rules → DevicePolicy and DeviceAllow, from the state the rules
/// leave (as the kernel's v1 device cgroup would hold it):
/// - allow by default (a deny list): `DevicePolicy=auto` and no list —
///   systemd cannot express denials; Berth's own program enforces them;
/// - deny by default: `DevicePolicy=strict` and one entry per exception:
///   `/dev/char/M:N` for one device, `char-<group>` for a whole major (the
///   group name from /proc/devices, `proc_devices`), `char-*` for every
///   major. An exception /proc/devices has no name for cannot be
///   expressed: it is left out with a warning (systemd then refuses that
///   device, as runc's driver does).
///
/// Without rules: nothing (systemd's default, no restriction).
pub fn devices(rules: &[Rule], proc_devices: &str) -> Vec<Property> {
    if rules.is_empty() {
        return Vec::new();
    }
    let st = devices::v1_state(rules);
    if st.allow_by_default {
        return vec![prop("DevicePolicy", Value::Str("auto".into())), prop("DeviceAllow", Value::Pairs(Vec::new()))];
    }
    let mut allow = Vec::new();
    for (kind, major, minor, bits) in &st.exceptions {
        let class = if *kind == 'b' { "block" } else { "char" };
        let access: String = ['r', 'w', 'm'].into_iter().filter(|c| bits & devices::access_bits(&c.to_string()) != 0).collect();
        let what = match (major, minor) {
            (None, _) => format!("{class}-*"),
            (Some(ma), None) => match group_name(proc_devices, class, *ma) {
                Some(name) => format!("{class}-{name}"),
                None => {
                    log::warn!("device rule {kind} {ma}:* {access}: /proc/devices names no {class} group {ma}, systemd's DeviceAllow cannot express it");
                    continue;
                }
            },
            (Some(ma), Some(mi)) => format!("/dev/{class}/{ma}:{mi}"),
        };
        allow.push((what, access));
    }
    // An empty DeviceAllow first: on a running unit a list adds to the
    // current one, an empty one resets it.
    vec![prop("DevicePolicy", Value::Str("strict".into())), prop("DeviceAllow", Value::Pairs(Vec::new())), prop("DeviceAllow", Value::Pairs(allow))]
}

/// The group name /proc/devices gives a major of a class ("char"/"block").
fn group_name(proc_devices: &str, class: &str, major: i64) -> Option<String> {
    let header = if class == "char" { "Character devices:" } else { "Block devices:" };
    let mut inside = false;
    for line in proc_devices.lines() {
        if line.ends_with("devices:") {
            inside = line == header;
            continue;
        }
        if !inside {
            continue;
        }
        let mut f = line.split_whitespace();
        if let (Some(n), Some(name)) = (f.next(), f.next()) {
            if n.parse::<i64>().ok() == Some(major) {
                return Some(name.to_string());
            }
        }
    }
    None
}

/// The annotation prefix whose keys are unit properties.
pub const ANNOTATION_PREFIX: &str = "org.systemd.property.";

/// `org.systemd.property.<Name>` annotations → properties. Values are in
/// GVariant text form (`uint64 123`, `'str'`, `true`, `@t 5`, `['a', 'b']`);
/// a name ending in `Sec` (not `USec`/`NSec`) takes seconds and becomes
/// `<stem>USec` in microseconds, as with runc. Errors name the annotation.
pub fn annotations(a: &BTreeMap<String, String>) -> Result<Vec<Property>> {
    let mut out = Vec::new();
    for (k, v) in a {
        let Some(name) = k.strip_prefix(ANNOTATION_PREFIX) else { continue };
        let field = format!("annotations.{k}");
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::msg(format!("{name:?} is not a systemd property name")).field(field));
        }
        let value = gvariant(v).map_err(|why| Error::msg(format!("value {v:?}: {why}")).field(field.clone()))?;
        if name.ends_with("Sec") && !name.ends_with("USec") && !name.ends_with("NSec") {
            let secs = match value {
                Value::Double(d) if d >= 0.0 => d,
                Value::Byte(_) | Value::I16(_) | Value::U16(_) | Value::I32(_) | Value::U32(_) | Value::I64(_) | Value::U64(_) => {
                    number(&value).ok_or_else(|| Error::msg(format!("value {v:?}: seconds must not be negative")).field(field.clone()))?
                }
                _ => return Err(Error::msg(format!("value {v:?}: {name} takes a number of seconds")).field(field)),
            };
            let stem = &name[..name.len() - 3];
            out.push(prop(&format!("{stem}USec"), Value::U64((secs * 1e6).round() as u64)));
        } else {
            out.push(prop(name, value));
        }
    }
    Ok(out)
}

fn number(v: &Value) -> Option<f64> {
    let n = match *v {
        Value::Byte(n) => n as f64,
        Value::I16(n) => n as f64,
        Value::U16(n) => n as f64,
        Value::I32(n) => n as f64,
        Value::U32(n) => n as f64,
        Value::I64(n) => n as f64,
        Value::U64(n) => n as f64,
        Value::Double(n) => n,
        _ => return None,
    };
    (n >= 0.0).then_some(n)
}

/// The subset of the GVariant text format unit properties use.
pub fn gvariant(text: &str) -> std::result::Result<Value, String> {
    let t = text.trim();
    let (ty, rest) = match t.split_once(char::is_whitespace) {
        Some((w, rest)) if w.starts_with('@') || KEYWORDS.iter().any(|(k, _)| *k == w) => {
            let code = if let Some(c) = w.strip_prefix('@') { c } else { KEYWORDS.iter().find(|(k, _)| *k == w).map(|(_, c)| *c).unwrap_or("") };
            (Some(code), rest.trim())
        }
        _ => (None, t),
    };
    if let Some(inner) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        if !matches!(ty, None | Some("as")) {
            return Err("only arrays of strings are supported".into());
        }
        let items = split_items(inner)?;
        return items
            .iter()
            .map(|i| string(i).ok_or_else(|| format!("{i:?} is not a quoted string")))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map(Value::Strs);
    }
    if let Some(s) = string(rest) {
        return match ty {
            None | Some("s") | Some("o") => Ok(Value::Str(s)),
            Some(c) => Err(format!("a string where type {c} is wanted")),
        };
    }
    let bad = || format!("{rest:?} is not a value of type {}", ty.unwrap_or("i"));
    Ok(match ty {
        Some("b") | None if rest == "true" || rest == "false" => Value::Bool(rest == "true"),
        Some("b") => return Err(bad()),
        Some("y") => Value::Byte(rest.parse().map_err(|_| bad())?),
        Some("n") => Value::I16(rest.parse().map_err(|_| bad())?),
        Some("q") => Value::U16(rest.parse().map_err(|_| bad())?),
        Some("i") => Value::I32(rest.parse().map_err(|_| bad())?),
        Some("u") => Value::U32(rest.parse().map_err(|_| bad())?),
        Some("x") => Value::I64(rest.parse().map_err(|_| bad())?),
        Some("t") => Value::U64(rest.parse().map_err(|_| bad())?),
        Some("d") => Value::Double(rest.parse().map_err(|_| bad())?),
        Some(c) => return Err(format!("type {c} is not supported")),
        // Untyped: an integer is int32 (int64 when it does not fit), else a double.
        None => match rest.parse::<i64>() {
            Ok(n) => i32::try_from(n).map_or(Value::I64(n), Value::I32),
            Err(_) => Value::Double(rest.parse().map_err(|_| format!("{rest:?} is not a GVariant value"))?),
        },
    })
}

const KEYWORDS: &[(&str, &str)] = &[
    ("boolean", "b"),
    ("byte", "y"),
    ("int16", "n"),
    ("uint16", "q"),
    ("int32", "i"),
    ("uint32", "u"),
    ("int64", "x"),
    ("uint64", "t"),
    ("double", "d"),
    ("string", "s"),
    ("objectpath", "o"),
];

/// A quoted string ('…' or "…", backslash escapes) → its text.
fn string(t: &str) -> Option<String> {
    let q = t.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let body = t.strip_prefix(q)?.strip_suffix(q)?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(match chars.next()? {
                'n' => '\n',
                't' => '\t',
                o => o,
            }),
            c if c == q => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// Comma-separated items of an array, quotes respected.
fn split_items(inner: &str) -> std::result::Result<Vec<String>, String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in inner.chars() {
        match (quote, c) {
            (Some(_), _) if escaped => escaped = false,
            (Some(_), '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, ',') => {
                items.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if quote.is_some() {
        return Err("unterminated string".into());
    }
    if !cur.trim().is_empty() {
        items.push(cur.trim().to_string());
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::v2;
    use oci_spec::runtime::LinuxResources;

    fn res(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).unwrap()
    }

    fn get<'a>(ps: &'a [Property], name: &str) -> Option<&'a Value> {
        ps.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    #[test]
    fn v2_resources_become_properties() {
        let r = res(serde_json::json!({
            "memory": {"limit": 67108864, "reservation": 1048576, "swap": 134217728},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1,3", "mems": "0"},
            "pids": {"limit": 100},
            "blockIO": {"weight": 500},
            "unified": {"memory.high": "max", "memory.min": "4096"}
        }));
        let mut w = v2::plan(&r).unwrap();
        w.extend(v2::unified(&r).unwrap());
        let p = resources(&w, true);
        assert_eq!(get(&p, "MemoryMax"), Some(&Value::U64(67108864)));
        assert_eq!(get(&p, "MemoryLow"), Some(&Value::U64(1048576)));
        assert_eq!(get(&p, "MemorySwapMax"), Some(&Value::U64(134217728 - 67108864)));
        assert_eq!(get(&p, "MemoryHigh"), Some(&Value::U64(u64::MAX)));
        assert_eq!(get(&p, "MemoryMin"), Some(&Value::U64(4096)));
        assert_eq!(get(&p, "CPUWeight"), Some(&Value::U64(v2::cpu_weight(1024))));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(500_000)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(100_000)));
        assert_eq!(get(&p, "AllowedCPUs"), Some(&Value::Bytes(vec![0b1011])));
        assert_eq!(get(&p, "AllowedMemoryNodes"), Some(&Value::Bytes(vec![1])));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(100)));
        assert_eq!(get(&p, "IOWeight"), Some(&Value::U64(v2::io_weight(500))));
        // Unlimited, and a quota systemd can only hold in whole percents.
        let r = res(serde_json::json!({"memory": {"limit": -1}, "cpu": {"quota": 12345, "period": 100000}, "pids": {"limit": -1}}));
        let p = resources(&v2::plan(&r).unwrap(), true);
        assert_eq!(get(&p, "MemoryMax"), Some(&Value::U64(u64::MAX)));
        assert_eq!(get(&p, "TasksMax"), Some(&Value::U64(u64::MAX)));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(130_000)));
        // unified cpu.max wins as the later write.
        let r = res(serde_json::json!({"unified": {"cpu.max": "max 50000", "cpu.weight": "77"}}));
        let p = resources(&v2::unified(&r).unwrap(), true);
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(u64::MAX)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(50000)));
        assert_eq!(get(&p, "CPUWeight"), Some(&Value::U64(77)));
    }

    #[test]
    fn v1_resources_become_properties() {
        let r = res(serde_json::json!({"memory": {"limit": 1048576}, "cpu": {"shares": 512, "quota": 20000, "period": 50000}, "blockIO": {"weight": 300}}));
        let p = resources(&crate::cgroups::v1::plan(&r).unwrap(), false);
        assert_eq!(get(&p, "MemoryLimit"), Some(&Value::U64(1048576)));
        assert_eq!(get(&p, "CPUShares"), Some(&Value::U64(512)));
        assert_eq!(get(&p, "BlockIOWeight"), Some(&Value::U64(300)));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Value::U64(400_000)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Value::U64(50_000)));
    }

    const PROC_DEVICES: &str = "Character devices:\n  1 mem\n  4 tty\n  5 /dev/tty\n136 pts\n\nBlock devices:\n  7 loop\n  8 sd\n";

    #[test]
    fn device_rules_become_allow_lists() {
        let rules = devices::rules(Some(&[])).unwrap();
        assert!(rules.is_empty() || !devices(&rules, PROC_DEVICES).is_empty());
        let cfg: Vec<oci_spec::runtime::LinuxDeviceCgroup> = serde_json::from_value(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "b", "major": 7, "minor": -1, "access": "r"},
            {"allow": true, "type": "c", "major": 250, "access": "rw"}
        ]))
        .unwrap();
        let p = devices(&devices::rules(Some(&cfg)).unwrap(), PROC_DEVICES);
        assert_eq!(get(&p, "DevicePolicy"), Some(&Value::Str("strict".into())));
        let Some(Value::Pairs(allow)) = get(&p, "DeviceAllow") else { panic!("{p:?}") };
        let has = |a: &str, b: &str| allow.iter().any(|(x, y)| x == a && y == b);
        assert!(has("char-*", "m") && has("block-*", "m"), "{allow:?}");
        assert!(has("/dev/char/1:3", "rwm") && has("char-pts", "rwm"), "{allow:?}");
        assert!(has("block-loop", "r"), "{allow:?}");
        // Major 250 has no group name: left out.
        assert!(!allow.iter().any(|(x, _)| x.contains("250")), "{allow:?}");
        // A deny list cannot be expressed: policy auto, Berth's program enforces.
        let deny: Vec<oci_spec::runtime::LinuxDeviceCgroup> =
            serde_json::from_value(serde_json::json!([{"allow": true, "access": "rwm"}, {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"}]))
                .unwrap();
        let p = devices(&devices::rules(Some(&deny)).unwrap(), PROC_DEVICES);
        assert_eq!(get(&p, "DevicePolicy"), Some(&Value::Str("auto".into())));
    }

    #[test]
    fn annotations_pass_through() {
        let mut a = BTreeMap::new();
        a.insert("org.systemd.property.TimeoutStopSec".to_string(), "uint64 5".to_string());
        a.insert("org.systemd.property.CollectMode".to_string(), "'inactive-or-failed'".to_string());
        a.insert("org.systemd.property.MemoryAccounting".to_string(), "true".to_string());
        a.insert("org.systemd.property.CPUWeight".to_string(), "@t 300".to_string());
        a.insert("org.systemd.property.After".to_string(), "['a.service', \"b,c.service\"]".to_string());
        a.insert("org.systemd.property.RuntimeMaxSec".to_string(), "1.5".to_string());
        a.insert("other".to_string(), "x".to_string());
        let p = annotations(&a).unwrap();
        assert_eq!(get(&p, "TimeoutStopUSec"), Some(&Value::U64(5_000_000)));
        assert_eq!(get(&p, "RuntimeMaxUSec"), Some(&Value::U64(1_500_000)));
        assert_eq!(get(&p, "CollectMode"), Some(&Value::Str("inactive-or-failed".into())));
        assert_eq!(get(&p, "MemoryAccounting"), Some(&Value::Bool(true)));
        assert_eq!(get(&p, "CPUWeight"), Some(&Value::U64(300)));
        assert_eq!(get(&p, "After"), Some(&Value::Strs(vec!["a.service".into(), "b,c.service".into()])));
        assert_eq!(p.len(), 6);
        for (k, v) in [("org.systemd.property.Bad-Name", "1"), ("org.systemd.property.X", "uint64 -1"), ("org.systemd.property.TimeoutStopSec", "'x'")] {
            let e = annotations(&BTreeMap::from([(k.to_string(), v.to_string())])).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(format!("annotations.{k}").as_str()), "{e}");
        }
        assert_eq!(gvariant("int32 -5").unwrap(), Value::I32(-5));
        assert_eq!(gvariant("5000000000").unwrap(), Value::I64(5_000_000_000));
        assert_eq!(gvariant("'it\\'s'").unwrap(), Value::Str("it's".into()));
    }

    #[test]
    fn cpu_masks() {
        assert_eq!(cpuset_mask("0").unwrap(), vec![1]);
        assert_eq!(cpuset_mask("0-7,9").unwrap(), vec![0xff, 2]);
        assert_eq!(cpuset_mask("").unwrap(), Vec::<u8>::new());
        assert!(cpuset_mask("3-1").is_none());
        assert!(cpuset_mask("x").is_none());
    }
}
