//! `berth features` (features.md, features-linux.md) and `--version`: what
//! this build really implements, and nothing it does not.

use crate::state::OCI_VERSION;
use serde_json::{json, Value};

/// Mount options the rootfs module understands.
pub const MOUNT_OPTIONS: &[&str] = &[
    "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "lazytime", "mand", "noatime", "nodev",
    "nodiratime", "noexec", "nolazytime", "nomand", "norelatime", "nostrictatime", "nosuid", "nosymfollow", "private",
    "rbind", "relatime", "remount", "ro", "rprivate", "rshared", "rslave", "runbindable", "rw", "shared", "slave",
    "strictatime", "suid", "symfollow", "sync", "unbindable", "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev",
    "rnoexec", "rexec", "rnoatime", "ratime", "rrelatime", "rnorelatime", "rstrictatime", "rnostrictatime",
    "rnodiratime", "rdiratime", "rnosymfollow", "rsymfollow",
];

/// The features document.
pub fn document() -> Value {
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": crate::capabilities::known(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": true},
            "seccomp": crate::seccomp::features(),
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "io.github.berth.version": env!("CARGO_PKG_VERSION")
        }
    })
}

/// The text of `berth --version`.
pub fn version_text() -> String {
    format!("berth version {}\nspec: {OCI_VERSION}\nlibseccomp: {}\n", env!("CARGO_PKG_VERSION"), crate::seccomp::library_version())
}
