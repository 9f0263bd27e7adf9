//! Inputs the spec allows (or asks runtimes to tolerate) that oci-spec's
//! types refuse or that need a fix-up before use:
//!
//! - a capability name this build does not know: config.md "capabilities"
//!   says what cannot be granted MUST be logged as a warning and the
//!   runtime SHOULD NOT fail; it is dropped with a warning (runc does the
//!   same). oci-spec would refuse the whole config.
//! - scheduler flags in the spec's spelling (`SCHED_FLAG_RESET_ON_FORK`,
//!   `SCHED_FLAG_DL_OVERRUN`), which oci-spec spells otherwise.
//! - a relative mount destination: config.md "Mounts" says it MAY be
//!   relative and MUST then be taken relative to "/" (runc warns too).
//!
//! The common case costs nothing: the JSON is first parsed as it is, and
//! only a refusal sends it through [`parse_lenient`]'s fixing pass.

use oci_spec::runtime::{Capability, Spec};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The spec's scheduler flag names oci-spec 0.10 spells differently.
const SCHED_FLAGS: &[(&str, &str)] = &[("SCHED_FLAG_RESET_ON_FORK", "SCHED_RESET_ON_FORK"), ("SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_D_L_OVERRUN")];

const CAP_SETS: &[&str] = &["bounding", "effective", "inheritable", "permitted", "ambient"];

/// Parse `data` as `T`; if that fails, once more after `fix` has mended
/// the JSON (when it changed anything). When the second try fails too, the
/// first error is returned: it names what was really wrong.
pub fn parse_lenient<T: DeserializeOwned>(data: &[u8], fix: impl Fn(&mut Value) -> bool) -> Result<T, serde_json::Error> {
    let first = match serde_json::from_slice::<T>(data) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let Ok(mut v) = serde_json::from_slice::<Value>(data) else { return Err(first) };
    if !fix(&mut v) {
        return Err(first);
    }
    serde_json::from_value(v).map_err(|_| first)
}

/// Mend a whole config (its `process`); see [`fix_process`].
pub fn fix_config(v: &mut Value) -> bool {
    v.get_mut("process").is_some_and(|p| fix_process(p, "process"))
}

/// Mend a process object (config.md "Process", also `exec --process`):
/// unknown capability names are dropped with a warning naming `field`,
/// scheduler flags are renamed. Returns whether anything changed.
pub fn fix_process(p: &mut Value, field: &str) -> bool {
    let mut changed = false;
    if let Some(caps) = p.get_mut("capabilities").and_then(Value::as_object_mut) {
        for set in CAP_SETS {
            let Some(list) = caps.get_mut(*set).and_then(Value::as_array_mut) else { continue };
            let mut unknown = Vec::new();
            list.retain(|c| {
                let known = serde_json::from_value::<Capability>(c.clone()).is_ok();
                if !known {
                    unknown.push(c.as_str().map_or_else(|| c.to_string(), str::to_string));
                }
                known || !c.is_string()
            });
            if !unknown.is_empty() {
                log::warn!("ignoring unknown capabilities in {field}.capabilities.{set}: {}", unknown.join(", "));
                changed = true;
            }
        }
    }
    if let Some(flags) = p.pointer_mut("/scheduler/flags").and_then(Value::as_array_mut) {
        for f in flags.iter_mut() {
            if let Some((_, ours)) = SCHED_FLAGS.iter().find(|(spec, _)| f.as_str() == Some(spec)) {
                *f = Value::from(*ours);
                changed = true;
            }
        }
    }
    changed
}

/// After parsing: a relative mount destination is taken relative to "/",
/// with a warning (it is deprecated).
pub fn fix_spec(spec: &mut Spec) {
    for (i, m) in spec.mounts_mut().iter_mut().flatten().enumerate() {
        if m.destination().is_relative() {
            let abs = std::path::Path::new("/").join(m.destination());
            log::warn!("mounts[{i}].destination {:?} is relative: taken as {:?} (relative destinations are deprecated)", m.destination(), abs);
            m.set_destination(abs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_capabilities_are_dropped() {
        let mut p = json!({"capabilities": {"bounding": ["CAP_KILL", "CAP_FUTURE"], "ambient": ["CAP_NOPE"], "effective": ["CAP_CHOWN"]}});
        assert!(fix_process(&mut p, "process"));
        assert_eq!(p["capabilities"]["bounding"], json!(["CAP_KILL"]));
        assert_eq!(p["capabilities"]["ambient"], json!([]));
        assert_eq!(p["capabilities"]["effective"], json!(["CAP_CHOWN"]));
        // Nothing to mend: no change reported, so the first error stands.
        let mut q = json!({"capabilities": {"bounding": ["CAP_KILL"]}});
        assert!(!fix_process(&mut q, "process"));
    }

    #[test]
    fn spec_scheduler_flag_names() {
        let mut p = json!({"scheduler": {"policy": "SCHED_BATCH", "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_RECLAIM"]}});
        assert!(fix_process(&mut p, "process"));
        let s: oci_spec::runtime::Scheduler = serde_json::from_value(p["scheduler"].clone()).unwrap();
        assert_eq!(s.flags().as_ref().unwrap().len(), 3);
    }

    #[test]
    fn lenient_parse_keeps_the_first_error() {
        let bad = br#"{"args": ["sh"], "cwd": "/", "user": {"uid": "x"}}"#;
        let e = parse_lenient::<oci_spec::runtime::Process>(bad, |p| fix_process(p, "process")).unwrap_err();
        assert!(e.to_string().contains("invalid type"), "{e}");
        let ok = br#"{"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "capabilities": {"bounding": ["CAP_WHATEVER", "CAP_KILL"]}}"#;
        let p: oci_spec::runtime::Process = parse_lenient(ok, |p| fix_process(p, "process")).unwrap();
        assert_eq!(p.capabilities().as_ref().unwrap().bounding().as_ref().unwrap().len(), 1);
    }
}
