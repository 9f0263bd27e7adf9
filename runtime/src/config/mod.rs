//! Loading and validating a bundle's config.json (config.md, config-linux.md).
//!
//! Deserialization catches shape errors (wrong types, unknown enum values);
//! the checks here catch what the spec requires beyond shape, before any
//! kernel state is created, so that a bad config leaves nothing behind.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// A loaded config with its resolved paths.
pub struct Bundle {
    /// Absolute bundle directory.
    pub dir: PathBuf,
    /// Absolute, canonical rootfs path.
    pub rootfs: PathBuf,
    /// The parsed config.
    pub spec: Spec,
    /// config.json as read: `create` keeps a copy in the state directory.
    pub raw: Vec<u8>,
}

/// Name of the copy of config.json in a container's state directory.
pub const SAVED_CONFIG: &str = "config.json";

/// The config a running container was created from: the copy `create`
/// saved in `state_dir` (runtime.md: changes to config.json after create
/// MUST NOT affect the container), else, for containers created before
/// copies were kept, the bundle's.
pub fn load_saved(state_dir: &Path, bundle: &Path) -> Result<Spec> {
    let path = state_dir.join(SAVED_CONFIG);
    match std::fs::read(&path) {
        Ok(data) => parse(&data).map_err(|e| e.context(path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => load(bundle).map(|b| b.spec),
        Err(e) => Err(Error::os(format!("read {}", path.display()), e)),
    }
}

/// Read `<bundle>/config.json`, parse it and check it.
pub fn load(bundle: &Path) -> Result<Bundle> {
    let dir =
        if bundle.is_absolute() { bundle.to_path_buf() } else { std::env::current_dir().map_err(|e| Error::os("get current directory", e))?.join(bundle) };
    let dir = normalize(&dir);
    let path = dir.join("config.json");
    let data = std::fs::read(&path).map_err(|e| Error::os(format!("read {}", path.display()), e))?;
    let spec = parse(&data).map_err(|e| e.context(path.display()))?;
    let root = spec.root().as_ref().ok_or_else(|| Error::msg("root is required on Linux").field("root"))?;
    let rootfs = dir.join(root.path());
    let rootfs = std::fs::canonicalize(&rootfs).map_err(|e| Error::os(format!("rootfs {}", rootfs.display()), e).field("root.path"))?;
    if !rootfs.is_dir() {
        return Err(Error::msg(format!("rootfs {} is not a directory", rootfs.display())).field("root.path"));
    }
    Ok(Bundle { dir, rootfs, spec, raw: data })
}

pub mod compat;

/// Parse and validate config JSON. What the spec allows but oci-spec
/// refuses is mended first (see [`compat`]).
pub fn parse(data: &[u8]) -> Result<Spec> {
    let mut spec: Spec = compat::parse_lenient(data, compat::fix_config).map_err(|e| Error::msg(format!("invalid config: {e}")))?;
    compat::fix_spec(&mut spec);
    validate(&spec)?;
    Ok(spec)
}

/// Lexically remove `.` and `..` (bundle paths are shown and stored, so keep
/// them tidy without resolving symlinks the user chose).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Sysctl prefixes and the namespace that makes them the container's own
/// (config-linux.md "Sysctl": only namespaced ones may be set).
const SYSCTL_NS: &[(&str, LinuxNamespaceType)] = &[
    ("net.", LinuxNamespaceType::Network),
    ("kernel.msgmax", LinuxNamespaceType::Ipc),
    ("kernel.msgmnb", LinuxNamespaceType::Ipc),
    ("kernel.msgmni", LinuxNamespaceType::Ipc),
    ("kernel.sem", LinuxNamespaceType::Ipc),
    ("kernel.shmall", LinuxNamespaceType::Ipc),
    ("kernel.shmmax", LinuxNamespaceType::Ipc),
    ("kernel.shmmni", LinuxNamespaceType::Ipc),
    ("kernel.shm_rmid_forced", LinuxNamespaceType::Ipc),
    ("fs.mqueue.", LinuxNamespaceType::Ipc),
    ("kernel.hostname", LinuxNamespaceType::Uts),
    ("kernel.domainname", LinuxNamespaceType::Uts),
];

/// A hugepage size as the kernel names its files: "2MB", "1GB", "64KB".
fn valid_page_size(s: &str) -> bool {
    let Some(num) = s.strip_suffix("KB").or_else(|| s.strip_suffix("MB")).or_else(|| s.strip_suffix("GB")) else {
        return false;
    };
    !num.is_empty() && !num.starts_with('0') && num.bytes().all(|b| b.is_ascii_digit())
}

/// Valid settings this build of Berth cannot carry out: an error naming
/// the field rather than silence (config.md "Configuration": a runtime
/// MUST generate an error for values it does not support). Checked by
/// `create`, not by [`parse`]: the config is valid, only not runnable here.
pub fn check_supported(spec: &Spec) -> Result<()> {
    let Some(linux) = spec.linux() else { return Ok(()) };
    let unsupported = [
        ("linux.intelRdt", linux.intel_rdt().is_some(), "Intel RDT (resctrl) is not supported"),
        ("linux.memoryPolicy", linux.memory_policy().is_some(), "memory policies are not supported yet"),
        ("linux.netDevices", linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()), "moving network devices into the container is not supported yet"),
    ];
    match unsupported.iter().find(|(_, given, _)| *given) {
        Some((field, _, why)) => Err(Error::msg(format!("{why}; remove {field} from the config")).field(*field)),
        None => Ok(()),
    }
}

/// The spec's requirements beyond JSON shape.
pub fn validate(spec: &Spec) -> Result<()> {
    if spec.version().is_empty() {
        return Err(Error::msg("ociVersion is required").field("ociVersion"));
    }
    // Configs of pre-1.0 drafts still load (the spec's own examples use
    // them); a future major version may change meanings, so it is refused.
    let major = spec.version().split('.').next().unwrap_or("");
    if major != "1" && major != "0" {
        return Err(Error::msg(format!("unsupported ociVersion {:?}: Berth implements 1.x", spec.version())).field("ociVersion"));
    }
    let root = spec.root().as_ref().ok_or_else(|| Error::msg("root is required on Linux").field("root"))?;
    if root.path().as_os_str().is_empty() {
        return Err(Error::msg("root.path is empty").field("root.path"));
    }
    if let Some(p) = spec.process() {
        let args = p.args().as_deref().unwrap_or(&[]);
        if args.is_empty() {
            return Err(Error::msg("process.args must hold at least one entry").field("process.args"));
        }
        if !p.cwd().is_absolute() {
            return Err(Error::msg(format!("process.cwd {:?} is not an absolute path", p.cwd())).field("process.cwd"));
        }
        crate::rlimits::validate_rlimits(p.rlimits().as_deref().unwrap_or(&[]))?;
        for (i, e) in p.env().as_deref().unwrap_or(&[]).iter().enumerate() {
            if !e.contains('=') {
                return Err(Error::msg(format!("env entry {e:?} is not KEY=value")).field(format!("process.env[{i}]")));
            }
        }
    }
    for (i, m) in spec.mounts().as_deref().unwrap_or(&[]).iter().enumerate() {
        if !m.destination().is_absolute() {
            return Err(Error::msg(format!("mount destination {:?} is not absolute", m.destination())).field(format!("mounts[{i}].destination")));
        }
    }
    #[allow(deprecated)]
    if let Some(h) = spec.hooks() {
        let stages = [
            ("prestart", h.prestart()),
            ("createRuntime", h.create_runtime()),
            ("createContainer", h.create_container()),
            ("startContainer", h.start_container()),
            ("poststart", h.poststart()),
            ("poststop", h.poststop()),
        ];
        for (stage, list) in stages {
            for (i, hook) in list.iter().flatten().enumerate() {
                // config.md "POSIX-platform Hooks": path MUST be absolute,
                // timeout MUST be greater than zero.
                if !hook.path().is_absolute() {
                    return Err(Error::msg(format!("hook path {:?} is not absolute", hook.path())).field(format!("hooks.{stage}[{i}].path")));
                }
                if hook.timeout().is_some_and(|t| t <= 0) {
                    return Err(Error::msg(format!("hook timeout {} is not greater than zero", hook.timeout().unwrap_or(0)))
                        .field(format!("hooks.{stage}[{i}].timeout")));
                }
            }
        }
    }
    if let Some(linux) = spec.linux() {
        let hugepages = linux.resources().as_ref().and_then(|r| r.hugepage_limits().as_deref()).unwrap_or(&[]);
        for (i, h) in hugepages.iter().enumerate() {
            if !valid_page_size(h.page_size()) {
                return Err(Error::msg(format!("hugepage size {:?} is not of the form <number><K|M|G>B", h.page_size()))
                    .field(format!("linux.resources.hugepageLimits[{i}].pageSize")));
            }
        }
        let nss = linux.namespaces().as_deref().unwrap_or(&[]);
        let mut types = HashSet::new();
        for (i, ns) in nss.iter().enumerate() {
            if !types.insert(ns.typ()) {
                return Err(Error::msg(format!("namespace type {} appears twice", ns.typ())).field(format!("linux.namespaces[{i}]")));
            }
            if let Some(path) = ns.path() {
                if !path.is_absolute() {
                    return Err(Error::msg(format!("namespace path {path:?} is not absolute")).field(format!("linux.namespaces[{i}].path")));
                }
            }
        }
        let has = |t| types.contains(&t);
        let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty()) || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        let new_user = nss.iter().any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
        if maps && !has(LinuxNamespaceType::User) {
            return Err(Error::msg("uid/gid mappings are given but there is no user namespace").field("linux.uidMappings"));
        }
        if new_user && !maps {
            return Err(Error::msg("a new user namespace needs uidMappings and gidMappings").field("linux.uidMappings"));
        }
        if linux.time_offsets().as_ref().is_some_and(|o| !o.is_empty()) && !nss.iter().any(|n| n.typ() == LinuxNamespaceType::Time && n.path().is_none()) {
            return Err(Error::msg("timeOffsets need a new time namespace").field("linux.timeOffsets"));
        }
        for key in linux.sysctl().as_ref().map(|m| m.keys().collect::<Vec<_>>()).unwrap_or_default() {
            let ns = SYSCTL_NS.iter().find(|(prefix, _)| key.starts_with(prefix) && (prefix.ends_with('.') || key == prefix));
            match ns {
                Some((_, t)) if has(*t) => {}
                Some((_, t)) => {
                    return Err(Error::msg(format!("sysctl {key:?} is not allowed: the container shares the host's {t} namespace"))
                        .field(format!("linux.sysctl.{key}")))
                }
                None => {
                    return Err(Error::msg(format!("sysctl {key:?} is not namespaced and may not be set by a container")).field(format!("linux.sysctl.{key}")))
                }
            }
        }
    }
    // Settings that write a namespaced kernel value need their own
    // namespace (listed, new or joined): without it the write would land in
    // the runtime's namespace, i.e. change the host. Sysctls, time offsets
    // and id mappings are checked above.
    let uts = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref()).is_some_and(|n| n.iter().any(|n| n.typ() == LinuxNamespaceType::Uts));
    for (field, value) in [("hostname", spec.hostname()), ("domainname", spec.domainname())] {
        if value.as_ref().is_some_and(|v| !v.is_empty()) && !uts {
            return Err(Error::msg(format!("{field} needs a uts namespace: without one it would change the host's {field}")).field(field));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.3.0",
            "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}},
            "hostname": "h",
            "linux": {"namespaces": [{"type": "pid"}, {"type": "uts"}, {"type": "mount"}]}
        })
    }

    fn check(v: serde_json::Value) -> Result<Spec> {
        parse(&serde_json::to_vec(&v).unwrap())
    }

    #[test]
    fn base_is_valid() {
        check(base()).unwrap();
    }

    #[test]
    fn rejections_name_the_field() {
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            ("/ociVersion", serde_json::json!("2.0.0"), "ociVersion"),
            ("/linux/resources", serde_json::json!({"hugepageLimits": [{"pageSize": "2mb", "limit": 1}]}), "linux.resources.hugepageLimits[0].pageSize"),
            ("/process/args", serde_json::json!([]), "process.args"),
            ("/process/cwd", serde_json::json!("rel"), "process.cwd"),
            ("/linux/namespaces", serde_json::json!([{"type": "pid"}, {"type": "pid"}]), "linux.namespaces[1]"),
            ("/linux/sysctl", serde_json::json!({"net.ipv4.ip_forward": "1"}), "linux.sysctl.net.ipv4.ip_forward"),
            ("/linux/sysctl", serde_json::json!({"vm.swappiness": "1"}), "linux.sysctl.vm.swappiness"),
            ("/process/env", serde_json::json!(["NOEQUALS"]), "process.env[0]"),
            ("/linux/namespaces", serde_json::json!([{"type": "user"}, {"type": "uts"}]), "linux.uidMappings"),
            ("/linux/namespaces", serde_json::json!([{"type": "mount"}]), "hostname"),
            ("/hooks", serde_json::json!({"prestart": [{"path": "relative/hook"}]}), "hooks.prestart[0].path"),
            ("/hooks", serde_json::json!({"poststop": [{"path": "/bin/true"}, {"path": "/bin/true", "timeout": 0}]}), "hooks.poststop[1].timeout"),
        ];
        for (ptr, val, field) in cases {
            let mut v = base();
            let (parent, key) = ptr.rsplit_once('/').unwrap();
            v.pointer_mut(parent).unwrap()[key] = val;
            let e = check(v).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field), "{ptr}: {e}");
        }
    }

    #[test]
    fn unsupported_settings_name_their_field() {
        for (key, val) in [
            ("intelRdt", serde_json::json!({"closID": "x"})),
            ("netDevices", serde_json::json!({"eth1": {}})),
            ("memoryPolicy", serde_json::json!({"mode": "MPOL_DEFAULT"})),
        ] {
            let mut v = base();
            v["linux"][key] = val;
            let spec = check(v).unwrap();
            assert_eq!(check_supported(&spec).unwrap_err().field.as_deref(), Some(format!("linux.{key}").as_str()));
        }
        check_supported(&check(base()).unwrap()).unwrap();
    }

    #[test]
    fn lenient_inputs_load() {
        let mut v = base();
        v["process"]["capabilities"] = serde_json::json!({"bounding": ["CAP_KILL", "CAP_FROM_THE_FUTURE"]});
        v["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_RESET_ON_FORK"]});
        v["mounts"] = serde_json::json!([{"destination": "tmp", "type": "tmpfs", "source": "tmpfs"}]);
        let spec = check(v).unwrap();
        assert_eq!(spec.process().as_ref().unwrap().capabilities().as_ref().unwrap().bounding().as_ref().unwrap().len(), 1);
        assert_eq!(spec.mounts().as_ref().unwrap()[0].destination(), Path::new("/tmp"));
    }

    #[test]
    fn namespaced_values_need_their_namespace() {
        let mut v = base();
        v.as_object_mut().unwrap().remove("hostname");
        v["domainname"] = serde_json::json!("example.org");
        v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}]);
        let e = check(v.clone()).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("domainname"), "{e}");
        // An empty value writes nothing.
        v["domainname"] = serde_json::json!("");
        check(v.clone()).unwrap();
        // A joined uts namespace is the container's own.
        v["domainname"] = serde_json::json!("example.org");
        v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}, {"type": "uts", "path": "/proc/self/ns/uts"}]);
        check(v.clone()).unwrap();
        // Time offsets need a new time namespace, a joined one will not do.
        v["linux"]["timeOffsets"] = serde_json::json!({"monotonic": {"secs": 1}});
        v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}, {"type": "uts"}, {"type": "time", "path": "/proc/self/ns/time"}]);
        assert_eq!(check(v).unwrap_err().field.as_deref(), Some("linux.timeOffsets"));
    }

    #[test]
    fn unknown_namespace_type_is_rejected() {
        let mut v = base();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "bogus"}]);
        assert!(check(v).unwrap_err().to_string().contains("bogus"));
    }

    #[test]
    fn ipc_sysctl_with_ipc_namespace_is_fine() {
        let mut v = base();
        v["linux"]["namespaces"].as_array_mut().unwrap().push(serde_json::json!({"type": "ipc"}));
        v["linux"]["sysctl"] = serde_json::json!({"kernel.shmmax": "1000", "fs.mqueue.queues_max": "10"});
        check(v).unwrap();
    }

    #[test]
    fn page_sizes() {
        for ok in ["2MB", "1GB", "64KB"] {
            assert!(valid_page_size(ok), "{ok}");
        }
        for bad in ["64kB", "2M", "MB", "02MB", "1.5GB", ""] {
            assert!(!valid_page_size(bad), "{bad}");
        }
    }

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }
}

/// The spec's own schema examples (schema/test/config in the spec tree, kept
/// beside the repository in `../shared`): the Linux good ones must load, the
/// bad ones must be refused.
#[cfg(test)]
mod schema_examples {
    use super::*;

    fn dir(kind: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/oci-runtime-spec/schema/test/config").join(kind)
    }

    fn linux_files(kind: &str) -> Vec<PathBuf> {
        let d = dir(kind);
        let mut v: Vec<PathBuf> = std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("{}: {e} (the spec tree belongs beside the repository)", d.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                !n.starts_with("freebsd") && !n.starts_with("zos") && !n.starts_with("solaris") && !n.starts_with("windows")
            })
            .collect();
        v.sort();
        assert!(!v.is_empty(), "no examples in {}", d.display());
        v
    }

    #[test]
    fn good_examples_load() {
        for p in linux_files("good") {
            let data = std::fs::read(&p).unwrap();
            parse(&data).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    }

    #[test]
    fn bad_examples_are_refused() {
        for p in linux_files("bad") {
            let data = std::fs::read(&p).unwrap();
            assert!(parse(&data).is_err(), "{} was accepted", p.display());
        }
    }
}

/// A structure-aware mutation fuzzer for the config loader: valid configs
/// (the spec's examples and `berth spec`'s default) are mutated at random —
/// values swapped for other types, extremes, empty and huge strings, keys
/// dropped — and every result must load or be refused, never panic.
#[cfg(test)]
mod fuzz {
    use super::*;
    use serde_json::{json, Value};

    /// xorshift64*: deterministic, so a failure reproduces from its seed.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    fn replacement(r: &mut Rng) -> Value {
        match r.below(14) {
            0 => Value::Null,
            1 => json!(true),
            2 => json!(-1),
            3 => json!(u64::MAX),
            4 => json!(i64::MIN),
            5 => json!(1.5e300),
            6 => json!(""),
            7 => json!("x".repeat(70_000)),
            8 => json!("../../../../etc/passwd"),
            9 => json!([]),
            10 => json!({}),
            11 => json!(["a", 1, null]),
            12 => json!("\u{0}\u{ffff}"),
            _ => json!({"type": "bogus", "path": 7}),
        }
    }

    /// Mutate one random node of `v` in place.
    fn mutate(v: &mut Value, r: &mut Rng, depth: usize) {
        let descend = depth < 6 && r.below(3) != 0;
        match v {
            Value::Object(m) if !m.is_empty() => {
                let k = m.keys().nth(r.below(m.len())).cloned().unwrap();
                if descend {
                    mutate(m.get_mut(&k).unwrap(), r, depth + 1);
                } else if r.below(2) == 0 {
                    m.remove(&k);
                } else {
                    m.insert(k, replacement(r));
                }
            }
            Value::Array(a) if !a.is_empty() => {
                let i = r.below(a.len());
                if descend {
                    mutate(&mut a[i], r, depth + 1);
                } else if r.below(2) == 0 {
                    a.remove(i);
                } else {
                    let x = a[i].clone();
                    a.push(x);
                }
            }
            _ => *v = replacement(r),
        }
    }

    /// Past loading, the pure translations a config feeds: cgroup writes
    /// (v1 and v2), device rules and the seccomp program. Errors are fine.
    fn translate(spec: &Spec) {
        if let Some(l) = spec.linux() {
            if let Some(r) = l.resources() {
                let _ = crate::cgroups::v1::plan(r);
                let _ = crate::cgroups::v2::plan(r);
                let _ = crate::cgroups::v2::unified(r);
                let _ = crate::cgroups::devices::rules(r.devices().as_deref());
            }
            if let Some(sc) = l.seccomp() {
                let _ = crate::seccomp::build(sc);
            }
        }
    }

    fn check(bytes: &[u8]) -> std::thread::Result<()> {
        std::panic::catch_unwind(|| {
            if let Ok(spec) = parse(bytes) {
                translate(&spec);
            }
        })
    }

    #[test]
    fn mutated_configs_never_panic() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/oci-runtime-spec/schema/test/config/good");
        let mut seeds: Vec<Value> = vec![crate::specgen::default_spec(false), crate::specgen::default_spec(true)];
        for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let data = std::fs::read(e.unwrap().path()).unwrap();
            seeds.push(serde_json::from_slice(&data).unwrap());
        }
        let mut r = Rng(0x005e_ed0f_be47);
        for round in 0..3000 {
            let mut v = seeds[round % seeds.len()].clone();
            for _ in 0..1 + r.below(4) {
                mutate(&mut v, &mut r, 0);
            }
            let bytes = serde_json::to_vec(&v).unwrap();
            // Either outcome is fine; a panic fails the test with the input.
            let res = check(&bytes);
            assert!(res.is_ok(), "round {round}: config loader panicked on {}", String::from_utf8_lossy(&bytes[..bytes.len().min(2000)]));
        }
    }

    /// The corpus kept in the repository: inputs that once looked risky
    /// (extremes, empties, odd paths). Each must load or be refused, and
    /// they seed the mutations too.
    #[test]
    fn corpus_never_panics() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-corpus");
        let mut n = 0;
        let mut r = Rng(7);
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            assert!(check(&data).is_ok(), "{} panicked", path.display());
            if let Ok(v) = serde_json::from_slice::<Value>(&data) {
                for _ in 0..200 {
                    let mut m = v.clone();
                    mutate(&mut m, &mut r, 0);
                    let bytes = serde_json::to_vec(&m).unwrap();
                    assert!(check(&bytes).is_ok(), "mutation of {} panicked: {}", path.display(), String::from_utf8_lossy(&bytes[..bytes.len().min(2000)]));
                }
            }
            n += 1;
        }
        assert!(n >= 5, "corpus missing from {}", dir.display());
    }

    #[test]
    fn truncated_and_garbage_bytes_never_panic() {
        let full = serde_json::to_vec(&crate::specgen::default_spec(false)).unwrap();
        for cut in (0..full.len()).step_by(7) {
            let _ = parse(&full[..cut]);
        }
        let mut r = Rng(42);
        for _ in 0..500 {
            let junk: Vec<u8> = (0..r.below(300)).map(|_| r.next() as u8).collect();
            let _ = parse(&junk);
        }
    }
}
