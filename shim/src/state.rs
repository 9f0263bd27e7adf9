//! What the shim writes in the bundle so that `shim delete` can clean up and
//! report the real exit status after the server is gone (shim crash, kill -9).
//!
//! Files, each written whole through a temporary name and a rename:
//! - `shim-runtime`: `binary=<path>` and `root=<path>` lines, and
//!   `systemd-cgroup=true` when the runtime is driven with `--systemd-cgroup`;
//! - `init.exit`: `<exit code> <unix seconds> <nanoseconds>`.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::runtime::Runtime;

fn write_atomic(path: &Path, data: &str) {
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, data).is_ok() && std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Records which runtime (binary and root) manages the bundle's container.
pub fn write_runtime(bundle: &Path, rt: &Runtime) {
    let mut data = format!("binary={}\nroot={}\n", rt.binary.display(), rt.root.display());
    if rt.systemd_cgroup {
        data.push_str("systemd-cgroup=true\n");
    }
    write_atomic(&bundle.join("shim-runtime"), &data);
}

/// Reads what [`write_runtime`] wrote.
pub fn read_runtime(bundle: &Path) -> Option<Runtime> {
    let s = std::fs::read_to_string(bundle.join("shim-runtime")).ok()?;
    let field = |k: &str| s.lines().find_map(|l| l.strip_prefix(k)).map(str::to_string);
    let systemd_cgroup = field("systemd-cgroup=").is_some_and(|v| v == "true");
    Some(Runtime { binary: field("binary=")?.into(), root: field("root=")?.into(), systemd_cgroup })
}

/// Records the init's exit code and time.
pub fn write_exit(bundle: &Path, code: u32, at: SystemTime) {
    let d = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    write_atomic(&bundle.join("init.exit"), &format!("{code} {} {}\n", d.as_secs(), d.subsec_nanos()));
}

/// Reads what [`write_exit`] wrote.
pub fn read_exit(bundle: &Path) -> Option<(u32, SystemTime)> {
    let s = std::fs::read_to_string(bundle.join("init.exit")).ok()?;
    let mut it = s.split_whitespace().map(|x| x.parse::<u64>().ok());
    let (code, secs, nanos) = (it.next()??, it.next()??, it.next()??);
    let at = SystemTime::UNIX_EPOCH + Duration::new(secs, nanos as u32);
    Some((code as u32, at))
}

/// Reads a pid file as runtimes write it (decimal, maybe no newline).
pub fn read_pid(path: &Path) -> Result<u32, String> {
    let s = std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    s.trim().parse().map_err(|_| format!("{}: not a pid: {:?}", path.display(), s.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let dir = std::env::temp_dir().join(format!("berth-shim-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rt = Runtime { binary: "/usr/bin/runc".into(), root: "/run/x/ns".into(), systemd_cgroup: false };
        write_runtime(&dir, &rt);
        assert_eq!(read_runtime(&dir), Some(rt.clone()));
        let sd = rt.with_systemd_cgroup(true);
        write_runtime(&dir, &sd);
        assert_eq!(read_runtime(&dir), Some(sd));
        let at = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 42);
        write_exit(&dir, 137, at);
        assert_eq!(read_exit(&dir), Some((137, at)));
        std::fs::write(dir.join("init.pid"), "1234").unwrap();
        assert_eq!(read_pid(&dir.join("init.pid")), Ok(1234));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
