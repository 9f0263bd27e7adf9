//! Linux security modules: `process.apparmorProfile`, `process.selinuxLabel`
//! and `linux.mountLabel` (config.md, config-linux.md).
//!
//! A label is applied only where its LSM is active; asking for one on a host
//! without that LSM is an error, never a silent skip: a container that
//! expected confinement must not run unconfined.

use crate::error::{Error, Result};
use std::os::fd::OwnedFd;
use std::path::Path;

/// Which LSMs the host has, read once from the kernel's files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Host {
    /// AppArmor is enabled.
    pub apparmor: bool,
    /// SELinux is enabled (selinuxfs mounted).
    pub selinux: bool,
}

impl Host {
    /// Probe the running host.
    pub fn probe() -> Host {
        probe_at(Path::new("/"))
    }
}

/// Probe with the kernel's files under `root` (tests use a fake tree).
pub fn probe_at(root: &Path) -> Host {
    let aa = std::fs::read_to_string(root.join("sys/module/apparmor/parameters/enabled")).is_ok_and(|s| s.trim() == "Y");
    let se = root.join("sys/fs/selinux/enforce").exists();
    Host { apparmor: aa, selinux: se }
}

/// What to write, and where under /proc, for the labels a process asks for.
/// Errors if a label needs an LSM the host lacks.
pub fn plan(host: Host, apparmor: Option<&str>, selinux: Option<&str>) -> Result<Vec<(&'static str, String)>> {
    let mut out = Vec::new();
    if let Some(p) = apparmor.filter(|p| !p.is_empty()) {
        if !host.apparmor {
            return Err(Error::msg(format!("AppArmor profile {p:?} was asked for, but AppArmor is not enabled on this host")).field("process.apparmorProfile"));
        }
        // "exec <profile>" switches profile at the next execve, so berth's
        // own remaining steps run unconfined and the container's process
        // starts confined.
        out.push(("self/attr/apparmor/exec", format!("exec {p}")));
    }
    if let Some(l) = selinux.filter(|l| !l.is_empty()) {
        if !host.selinux {
            return Err(Error::msg(format!("SELinux label {l:?} was asked for, but SELinux is not enabled on this host")).field("process.selinuxLabel"));
        }
        out.push(("self/attr/exec", l.to_string()));
    }
    Ok(out)
}

/// Write the planned attributes through a checked /proc.
pub fn apply(proc_fd: &OwnedFd, writes: &[(&'static str, String)]) -> Result<()> {
    for (rel, data) in writes {
        let r = crate::procfs::write(proc_fd, rel, data.as_bytes());
        // Kernels before 5.8 have no per-LSM directory: AppArmor then uses
        // the shared attr file.
        let r = match r {
            Err(e) if *rel == "self/attr/apparmor/exec" && e.raw_os_error() == Some(libc::ENOENT) => {
                crate::procfs::write(proc_fd, "self/attr/exec", data.as_bytes())
            }
            r => r,
        };
        r.map_err(|e| e.context("apply LSM label"))?;
    }
    Ok(())
}

/// The mount option that labels a mount's files, or an error if SELinux is
/// off. Added to the data of mounts that take a `context=` option.
pub fn mount_context(host: Host, label: Option<&str>) -> Result<Option<String>> {
    match label.filter(|l| !l.is_empty()) {
        None => Ok(None),
        Some(l) if host.selinux => Ok(Some(format!("context=\"{l}\""))),
        Some(l) => Err(Error::msg(format!("mount label {l:?} was asked for, but SELinux is not enabled on this host")).field("linux.mountLabel")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(apparmor: bool, selinux: bool) -> (std::path::PathBuf, Host) {
        let d = std::env::temp_dir().join(format!("berth-lsm-{}-{apparmor}-{selinux}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sys/module/apparmor/parameters")).unwrap();
        std::fs::write(d.join("sys/module/apparmor/parameters/enabled"), if apparmor { "Y\n" } else { "N\n" }).unwrap();
        if selinux {
            std::fs::create_dir_all(d.join("sys/fs/selinux")).unwrap();
            std::fs::write(d.join("sys/fs/selinux/enforce"), "1").unwrap();
        }
        let h = probe_at(&d);
        (d, h)
    }

    #[test]
    fn probe_reads_the_kernel_files() {
        for (aa, se) in [(false, false), (true, false), (false, true), (true, true)] {
            let (d, h) = fake(aa, se);
            assert_eq!(h, Host { apparmor: aa, selinux: se });
            std::fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn labels_without_their_lsm_are_errors_naming_the_field() {
        let none = Host::default();
        assert_eq!(plan(none, Some("p"), None).unwrap_err().field.as_deref(), Some("process.apparmorProfile"));
        assert_eq!(plan(none, None, Some("l")).unwrap_err().field.as_deref(), Some("process.selinuxLabel"));
        assert_eq!(mount_context(none, Some("l")).unwrap_err().field.as_deref(), Some("linux.mountLabel"));
        // Empty or absent labels ask for nothing.
        assert!(plan(none, Some(""), None).unwrap().is_empty());
        assert_eq!(mount_context(none, None).unwrap(), None);
    }

    #[test]
    fn planned_writes() {
        let all = Host { apparmor: true, selinux: true };
        let w = plan(all, Some("docker-default"), Some("system_u:system_r:container_t:s0")).unwrap();
        assert_eq!(w[0], ("self/attr/apparmor/exec", "exec docker-default".to_string()));
        assert_eq!(w[1], ("self/attr/exec", "system_u:system_r:container_t:s0".to_string()));
        assert_eq!(mount_context(all, Some("x:y")).unwrap().unwrap(), "context=\"x:y\"");
    }

    #[test]
    fn label_writing_goes_through_a_checked_proc() {
        // This host has no LSM: writing an exec label fails inside procfs
        // (EINVAL/ENOENT from the kernel), proving the path is reached
        // through the real /proc and not refused earlier.
        let p = crate::procfs::open_proc().unwrap();
        let e = apply(&p, &[("self/attr/exec", "x".to_string())]).unwrap_err();
        assert!(e.to_string().contains("/proc/self/attr/exec"), "{e}");
    }
}
