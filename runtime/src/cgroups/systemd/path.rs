//! The systemd driver's `linux.cgroupsPath`: `slice:prefix:name`
//! (config-linux.md "Cgroups path": the runtime MAY interpret it in its own
//! way; this is runc's systemd form, which every engine sends).
//!
//! | cgroupsPath | unit | cgroup (below the hierarchy root) |
//! |---|---|---|
//! | `system.slice:docker:abc` | `docker-abc.scope` | `/system.slice/docker-abc.scope` |
//! | `kubepods-besteffort-pod1.slice:cri-containerd:abc` | `cri-containerd-abc.scope` | `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-abc.scope` |
//! | `kubepods.slice::pod2.slice` | `pod2.slice` (a slice, not a scope) | `/kubepods.slice/pod2.slice` |
//! | `:berth:abc` | `berth-abc.scope` in the default slice | `/system.slice/berth-abc.scope` |
//! | (empty) | `berth-<id>.scope` in the default slice | `/system.slice/berth-<id>.scope` |
//!
//! The default slice is `system.slice`, `user.slice` for a rootless caller
//! (runc's defaults). `-.slice` is the root slice.

use crate::error::{Error, Result};

const FIELD: &str = "linux.cgroupsPath";

/// A systemd unit that holds a container's cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// Unit name: `<prefix>-<name>.scope`, or `<name>` when it ends in `.slice`.
    pub name: String,
    /// The slice the unit goes in (`system.slice`); for a slice unit, its
    /// parent slice.
    pub slice: String,
    /// The unit's cgroup below the hierarchy root, starting with `/`.
    pub cgroup: String,
}

impl Unit {
    /// Whether the unit is a slice (it holds no processes of its own at
    /// start: the init joins its cgroup through `cgroup.procs`).
    pub fn is_slice(&self) -> bool {
        self.name.ends_with(".slice")
    }
}

/// Parse `linux.cgroupsPath` for the systemd driver; `rootless` picks the
/// default slice. Errors name `linux.cgroupsPath` and say the expected form.
pub fn parse(cgroups_path: Option<&str>, id: &str, rootless: bool) -> Result<Unit> {
    let default_slice = if rootless { "user.slice" } else { "system.slice" };
    let (slice, prefix, name) = match cgroups_path.filter(|p| !p.is_empty()) {
        None => (default_slice, "berth", id),
        Some(p) => {
            let parts: Vec<&str> = p.split(':').collect();
            let [slice, prefix, name] = parts[..] else {
                return Err(
                    Error::msg(format!("expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got {p:?} instead")).field(FIELD)
                );
            };
            (if slice.is_empty() { default_slice } else { slice }, prefix, name)
        }
    };
    if name.is_empty() {
        return Err(Error::msg(format!("cgroupsPath {:?}: the name part is empty", cgroups_path.unwrap_or_default())).field(FIELD));
    }
    let unit = if name.ends_with(".slice") { name.to_string() } else { format!("{prefix}-{name}.scope") };
    if !valid_unit_name(&unit) {
        return Err(Error::msg(format!("cgroupsPath {:?}: {unit:?} is not a valid systemd unit name", cgroups_path.unwrap_or(id))).field(FIELD));
    }
    let parent = expand_slice(slice)?;
    let cgroup = if unit.ends_with(".slice") {
        // A slice's place follows from its own name; it must sit in the
        // given parent.
        let own = expand_slice(&unit)?;
        let expected = if parent == "/" { format!("/{unit}") } else { format!("{parent}/{unit}") };
        if own != expected {
            return Err(Error::msg(format!("cgroupsPath {:?}: slice {unit} does not belong in {slice}", cgroups_path.unwrap_or_default())).field(FIELD));
        }
        own
    } else if parent == "/" {
        format!("/{unit}")
    } else {
        format!("{parent}/{unit}")
    };
    Ok(Unit { name: unit, slice: slice.to_string(), cgroup })
}

/// A slice name → its cgroup below the root, as systemd nests them:
/// `a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` → `/`.
/// Refuses names without the `.slice` suffix, with `/`, or with empty
/// dash-separated parts (`a--b.slice`, `-a.slice`, `a-.slice`).
pub fn expand_slice(slice: &str) -> Result<String> {
    let bad = || Error::msg(format!("invalid slice name {slice:?} in cgroupsPath")).field(FIELD);
    let stem = slice.strip_suffix(".slice").ok_or_else(bad)?;
    if stem.is_empty() || slice.contains('/') {
        return Err(bad());
    }
    if stem == "-" {
        return Ok("/".into());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        if part.is_empty() {
            return Err(bad());
        }
        path.push('/');
        path.push_str(&prefix);
        path.push_str(part);
        path.push_str(".slice");
        prefix.push_str(part);
        prefix.push('-');
    }
    Ok(path)
}

/// systemd's unit name rules: at most 255 bytes of `[A-Za-z0-9:_.\-\\@]`,
/// a non-empty stem before the type suffix.
fn valid_unit_name(u: &str) -> bool {
    let stem = u.rsplit_once('.').map_or("", |(s, _)| s);
    !stem.is_empty() && u.len() <= 255 && u.bytes().all(|b| b.is_ascii_alphanumeric() || b":_.-\\@".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_forms() {
        let u = parse(Some("system.slice:docker:abc"), "abc", false).unwrap();
        assert_eq!((u.name.as_str(), u.slice.as_str(), u.cgroup.as_str()), ("docker-abc.scope", "system.slice", "/system.slice/docker-abc.scope"));
        let u = parse(Some("kubepods-besteffort-pod1.slice:cri-containerd:abc"), "abc", false).unwrap();
        assert_eq!(u.cgroup, "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-abc.scope");
        let u = parse(Some("machine.slice:libpod:abc"), "abc", false).unwrap();
        assert_eq!(u.name, "libpod-abc.scope");
        assert!(!u.is_slice());
        // A pod's own slice (kubelet's systemd form).
        let u = parse(Some("kubepods.slice::kubepods-pod2.slice"), "x", false).unwrap();
        assert_eq!((u.name.as_str(), u.cgroup.as_str()), ("kubepods-pod2.slice", "/kubepods.slice/kubepods-pod2.slice"));
        assert!(u.is_slice());
        assert!(parse(Some("system.slice::kubepods-pod2.slice"), "x", false).is_err());
        // Defaults.
        assert_eq!(parse(None, "id1", false).unwrap().cgroup, "/system.slice/berth-id1.scope");
        assert_eq!(parse(Some(""), "id1", true).unwrap().cgroup, "/user.slice/berth-id1.scope");
        assert_eq!(parse(Some(":p:n"), "id1", false).unwrap().cgroup, "/system.slice/p-n.scope");
        assert_eq!(parse(Some("-.slice:p:n"), "id1", false).unwrap().cgroup, "/p-n.scope");
    }

    #[test]
    fn bad_forms_name_the_field() {
        for p in ["/berth-test/x", "a:b", "a:b:c:d", "system.slice:p:", "nope:p:n", "a--b.slice:p:n", "system.slice:p:n/x"] {
            let e = parse(Some(p), "id", false).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(FIELD), "{p}: {e}");
        }
        let e = parse(Some("/berth-test/x"), "id", false).unwrap_err();
        assert!(e.to_string().contains("slice:prefix:name"), "{e}");
    }

    #[test]
    fn slices_expand() {
        assert_eq!(expand_slice("-.slice").unwrap(), "/");
        assert_eq!(expand_slice("a.slice").unwrap(), "/a.slice");
        assert_eq!(expand_slice("a-b-c.slice").unwrap(), "/a.slice/a-b.slice/a-b-c.slice");
        for s in [".slice", "a", "-a.slice", "a-.slice", "a--b.slice", "a/b.slice"] {
            assert!(expand_slice(s).is_err(), "{s}");
        }
    }
}
