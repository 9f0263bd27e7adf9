//! `berth features` (features.md, features-linux.md) and `--version`: what
//! this build really implements, and nothing it does not.

use crate::state::OCI_VERSION;
use serde_json::{json, Value};

/// The features document.
pub fn document() -> Value {
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": crate::rootfs::mount_option_names(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            // What this build knows (features.md: not what this kernel has).
            "capabilities": crate::capabilities::all_names(),
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": false, "rdma": true},
            "seccomp": crate::seccomp::features(),
            // Built in; whether the host runs them is another matter
            // (features-linux.md "AppArmor", "SELinux").
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "io.github.berth.version": env!("CARGO_PKG_VERSION")
        }
    })
}

/// The text of `berth --version` / `-v` / `berth version`, in runc's shape
/// (`runc version X`, `commit: ...`, `spec: ...`, `libseccomp: ...`): the
/// commit is the git hash at build time (build.rs), or "unknown".
pub fn version_text() -> String {
    format!(
        "berth version {}\ncommit: {}\nspec: {OCI_VERSION}\nlibseccomp: {}\n",
        env!("CARGO_PKG_VERSION"),
        env!("BERTH_COMMIT"),
        crate::seccomp::library_version()
    )
}
