//! Building and finding binaries: the workspace's target directory and
//! profile, a workspace binary built on demand, the shim as users install
//! it (static musl where that target is installed), and a name on PATH.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Shim binary name.
pub const SHIM: &str = "containerd-shim-berth-v2";

/// The workspace's target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The cargo profile directory matching this test build.
pub fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// Builds (if stale) and returns a workspace binary of `package`, in this
/// test build's profile.
pub fn workspace_binary(package: &str, bin: &str) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q", "-p", package]).current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile() == "release" {
        cmd.arg("--release");
    }
    let out = cmd.output().map_err(|e| format!("cargo build -p {package}: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo build -p {package} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let p = target_dir().join(profile()).join(bin);
    p.canonicalize().map_err(|e| format!("{}: {e}", p.display()))
}

/// The target the shim is built for when its standard library is installed
/// (scripts/setup.sh adds it through rustup where it can): a static musl
/// binary keeps the long-lived shim's resident memory near 1 MB, where
/// static glibc plus std makes it nearly 2.
pub const SHIM_TARGET: &str = "x86_64-unknown-linux-musl";

/// Whether rustc has the standard library for `target`.
pub fn has_target(target: &str) -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).args(["--print", "target-libdir", "--target", target]).output();
    match out {
        Ok(o) if o.status.success() => {
            // rustc prints the directory whether or not the target is installed.
            let dir = String::from_utf8_lossy(&o.stdout).trim().to_string();
            std::fs::read_dir(&dir).is_ok_and(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("libstd-")))
        }
        _ => false,
    }
}

/// Builds (if stale) and returns the shim as users install it: for
/// [`SHIM_TARGET`] when that target is installed, else for the host.
pub fn shim_binary() -> Result<PathBuf, String> {
    if !has_target(SHIM_TARGET) {
        return workspace_binary("containerd-shim-berth-v2", SHIM);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q", "-p", "containerd-shim-berth-v2", "--target", SHIM_TARGET]).current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile() == "release" {
        cmd.arg("--release");
    }
    let out = cmd.output().map_err(|e| format!("cargo build the shim for {SHIM_TARGET}: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo build the shim for {SHIM_TARGET} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let p = target_dir().join(SHIM_TARGET).join(profile()).join(SHIM);
    p.canonicalize().map_err(|e| format!("{}: {e}", p.display()))
}

/// Finds `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}
