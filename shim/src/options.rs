//! The runtime options containerd sends with CreateTask, decoded into what
//! the shim honours: which runtime binary, its `--root`, and whether it
//! manages cgroups through systemd (`--systemd-cgroup`).
//!
//! containerd sends one of two messages in the request's `options` (`Any`):
//! - `containerd.runc.v1.Options`: what the runc shim takes (CRI's
//!   `runtimes.<name>.options` table when the runtime type is runc's, `ctr
//!   run --runc-binary/--runc-systemd-cgroup`, Docker). The fields we honour:
//!   `BinaryName`, `Root`, `SystemdCgroup`.
//! - `runtimeoptions.v1.Options` (`type_url`, `config_path`, and since
//!   containerd 1.7 `config_body`): what containerd sends any other runtime
//!   type, e.g. CRI's `options = { ConfigPath = "/etc/berth/shim.toml" }` or
//!   `ctr run --runtime-config-path FILE`. The body (or else the file) holds
//!   the same keys as the runc options table, one `Key = value` per line:
//!   `SystemdCgroup = true`, `BinaryName = "/usr/local/bin/berth"`,
//!   `Root = "/run/berth"`. Other keys, `[table]` headers and `#` comments
//!   are ignored, so a runc options table pasted whole works.
//!
//! A config file that cannot be read, or a value of the wrong kind, fails
//! the create: a container silently left on the cgroupfs driver on a host
//! where systemd owns the cgroups is worse than an error.

use containerd_shim_protos::protobuf::rt::WireType;
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::{CodedInputStream, Message};
use containerd_shim_protos::shim::oci::Options as RuncOptions;

/// What the shim takes from the runtime options (empty strings: unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShimOptions {
    /// The runtime binary (`BinaryName`).
    pub binary_name: String,
    /// The runtime's `--root` (`Root`).
    pub root: String,
    /// Pass `--systemd-cgroup` to the runtime (`SystemdCgroup`).
    pub systemd_cgroup: bool,
}

/// Decodes the CreateTask request's `options`; `None` or an unknown type
/// gives the defaults.
pub fn decode(any: Option<&Any>) -> Result<ShimOptions, String> {
    let Some(any) = any.filter(|a| !a.type_url.is_empty() || !a.value.is_empty()) else {
        return Ok(ShimOptions::default());
    };
    let t = any.type_url.as_str();
    if t.ends_with("containerd.runc.v1.Options") {
        let o = RuncOptions::parse_from_bytes(&any.value).map_err(|e| format!("runtime options ({t}): {e}"))?;
        return Ok(ShimOptions { binary_name: o.binary_name, root: o.root, systemd_cgroup: o.systemd_cgroup });
    }
    if t.ends_with("runtimeoptions.v1.Options") {
        let (path, body) = runtime_options(&any.value).map_err(|e| format!("runtime options ({t}): {e}"))?;
        if !body.is_empty() {
            return parse_config(&body).map_err(|e| format!("runtime options ConfigBody: {e}"));
        }
        if path.is_empty() {
            return Ok(ShimOptions::default());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| format!("runtime options ConfigPath {path}: {e}"))?;
        return parse_config(&text).map_err(|e| format!("runtime options ConfigPath {path}: {e}"));
    }
    crate::slog!("ignoring runtime options of type {t:?}");
    Ok(ShimOptions::default())
}

/// `runtimeoptions.v1.Options` (`string type_url = 1; string config_path =
/// 2; string config_body = 3;`): returns (config_path, config_body). No
/// generated type exists for it in containerd-shim-protos.
fn runtime_options(bytes: &[u8]) -> Result<(String, String), String> {
    let mut input = CodedInputStream::from_bytes(bytes);
    let (mut path, mut body) = (String::new(), String::new());
    while let Some(tag) = input.read_raw_tag_or_eof().map_err(|e| e.to_string())? {
        match tag {
            // field 2 or 3, wire type 2 (length-delimited)
            0x12 => path = input.read_string().map_err(|e| e.to_string())?,
            0x1a => body = input.read_string().map_err(|e| e.to_string())?,
            _ => {
                let wire = WireType::new(tag & 7).ok_or_else(|| format!("bad wire type in tag {tag:#x}"))?;
                input.skip_field(wire).map_err(|e| e.to_string())?
            }
        }
    }
    Ok((path, body))
}

/// Reads `Key = value` lines (TOML's subset a runc options table uses).
fn parse_config(text: &str) -> Result<ShimOptions, String> {
    let mut o = ShimOptions::default();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: not `Key = value`: {raw:?}", n + 1));
        };
        let (key, value) = (key.trim().trim_matches('"'), strip_comment(value.trim()));
        let string = || -> Result<String, String> {
            let v = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')));
            v.map(str::to_string).ok_or_else(|| format!("line {}: {key} wants a quoted string, got {value}", n + 1))
        };
        match key {
            "SystemdCgroup" | "systemd_cgroup" => {
                o.systemd_cgroup = match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(format!("line {}: SystemdCgroup wants true or false, got {value}", n + 1)),
                }
            }
            "BinaryName" | "binary_name" => o.binary_name = string()?,
            "Root" | "root" => o.root = string()?,
            _ => {}
        }
    }
    Ok(o)
}

/// `value` without a trailing `# comment` (outside quotes).
fn strip_comment(value: &str) -> &str {
    let mut quote = None;
    for (i, c) in value.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') => return value[..i].trim_end(),
            _ => {}
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(type_url: &str, value: Vec<u8>) -> Any {
        let mut a = Any::new();
        a.type_url = type_url.into();
        a.value = value;
        a
    }

    /// Encodes `runtimeoptions.v1.Options` the way containerd's gogo code does.
    fn runtime_options_bytes(type_url: &str, path: &str, body: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for (tag, s) in [(0x0a, type_url), (0x12, path), (0x1a, body)] {
            if !s.is_empty() {
                out.push(tag);
                assert!(s.len() < 128);
                out.push(s.len() as u8);
                out.extend_from_slice(s.as_bytes());
            }
        }
        out
    }

    #[test]
    fn none_and_unknown_give_defaults() {
        assert_eq!(decode(None), Ok(ShimOptions::default()));
        assert_eq!(decode(Some(&Any::new())), Ok(ShimOptions::default()));
        assert_eq!(decode(Some(&any("example.com/Other", vec![1, 2, 3]))), Ok(ShimOptions::default()));
    }

    #[test]
    fn runc_options() {
        let mut o = RuncOptions::new();
        o.systemd_cgroup = true;
        o.binary_name = "/usr/local/bin/berth".into();
        o.root = "/run/berth".into();
        o.no_pivot_root = true;
        let bytes = o.write_to_bytes().unwrap();
        // containerd 1.6 sends the bare type name; typeurl may add a prefix.
        for t in ["containerd.runc.v1.Options", "types.containerd.io/containerd.runc.v1.Options"] {
            let got = decode(Some(&any(t, bytes.clone()))).unwrap();
            assert_eq!(got, ShimOptions { binary_name: "/usr/local/bin/berth".into(), root: "/run/berth".into(), systemd_cgroup: true });
        }
        let plain = decode(Some(&any("containerd.runc.v1.Options", RuncOptions::new().write_to_bytes().unwrap()))).unwrap();
        assert_eq!(plain, ShimOptions::default());
        assert!(decode(Some(&any("containerd.runc.v1.Options", vec![0xff, 0xff]))).is_err());
    }

    #[test]
    fn runtime_options_config_path_and_body() {
        let dir = std::env::temp_dir().join(format!("berth-shim-opts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("shim.toml");
        std::fs::write(
            &file,
            "# berth shim\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.berth.options]\n  \
             SystemdCgroup = true  # the host's cgroups are systemd's\n  BinaryName = \"/opt/berth # 1/berth\"\n  NoPivotRoot = false\n",
        )
        .unwrap();
        let path = file.display().to_string();
        let got = decode(Some(&any("runtimeoptions.v1.Options", runtime_options_bytes("", &path, "")))).unwrap();
        assert_eq!(got, ShimOptions { binary_name: "/opt/berth # 1/berth".into(), root: String::new(), systemd_cgroup: true });

        // ConfigBody wins over ConfigPath.
        let body = "SystemdCgroup = false\nRoot = '/run/b'\n";
        let got = decode(Some(&any("runtimeoptions.v1.Options", runtime_options_bytes("x", &path, body)))).unwrap();
        assert_eq!(got, ShimOptions { binary_name: String::new(), root: "/run/b".into(), systemd_cgroup: false });

        // Neither: defaults.
        assert_eq!(decode(Some(&any("runtimeoptions.v1.Options", runtime_options_bytes("x", "", "")))), Ok(ShimOptions::default()));

        // A file that is not there, and values of the wrong kind, are errors.
        let missing = dir.join("missing.toml").display().to_string();
        let e = decode(Some(&any("runtimeoptions.v1.Options", runtime_options_bytes("", &missing, "")))).unwrap_err();
        assert!(e.contains("ConfigPath") && e.contains("missing.toml"), "{e}");
        for bad in ["SystemdCgroup = yes", "BinaryName = /usr/bin/berth", "SystemdCgroup"] {
            assert!(decode(Some(&any("runtimeoptions.v1.Options", runtime_options_bytes("", "", bad)))).is_err(), "{bad}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
