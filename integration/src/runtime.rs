//! Helpers for the Podman and Docker tests: the runtime under test, the
//! logging wrapper an engine is pointed at and the calls it logged, and the
//! containers left in a runtime state directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::binaries::{which, workspace_binary};
use crate::process::run_timeout;

/// The runtime under test: `BERTH_IT_RUNTIME` (a path or a name on PATH,
/// e.g. `runc` to compare), else this build's berth.
pub fn runtime_under_test() -> PathBuf {
    match std::env::var("BERTH_IT_RUNTIME") {
        Ok(r) if !r.is_empty() => which(&r).unwrap_or_else(|| PathBuf::from(r)),
        _ => workspace_binary("berth", "berth").expect("build berth"),
    }
}

/// Writes `<dir>/runtime`, the "runtime binary" an engine is pointed at: a
/// shell script that appends each command line to `<dir>/calls.log`, then
/// execs `runtime` with `extra` arguments first (e.g. a private `--root`)
/// and the engine's arguments unchanged. The log proves which runtime ran
/// and which calls the engine made.
pub fn runtime_wrapper(dir: &Path, runtime: &Path, extra: &[&str]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("runtime");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{log}'\nexec '{rt}' {extra} \"$@\"\n",
        log = dir.join("calls.log").display(),
        rt = runtime.display(),
        extra = extra.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" "),
    );
    std::fs::write(&path, script).expect("write runtime wrapper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod runtime wrapper");
    path
}

/// The runtime calls logged by [`runtime_wrapper`] in `dir`.
pub fn runtime_calls(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default()
}

/// Container ids in the state directory `root` of the runtime under test
/// (`<runtime> --root <root> list -q`); empty when `root` does not exist.
pub fn runtime_list(runtime: &Path, root: &Path) -> Vec<String> {
    if !root.exists() {
        return Vec::new();
    }
    let mut cmd = Command::new(runtime);
    cmd.arg("--root").arg(root).args(["list", "-q"]).stdin(Stdio::null());
    let out = run_timeout(cmd, Duration::from_secs(20));
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect()
}
