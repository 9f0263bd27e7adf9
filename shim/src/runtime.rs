//! Driving a runc-compatible runtime binary through its CLI, the way
//! containerd's runc shim drives runc: every call carries
//! `--root R --log B/log.json --log-format json`, and `--systemd-cgroup`
//! when the runtime options ask for the systemd cgroup driver (go-runc puts
//! it on every call, as we do).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::reaper::Reaper;

/// How long any single runtime call may take before we give up on it.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variable naming the runtime binary (overrides the default).
pub const ENV_BINARY: &str = "BERTH_SHIM_RUNTIME";
/// Environment variable naming the runtime's `--root` base directory.
pub const ENV_ROOT: &str = "BERTH_SHIM_ROOT";

/// A runtime binary and the state root it keeps containers under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    /// The runtime executable (berth, runc, crun).
    pub binary: PathBuf,
    /// Value of the runtime's global `--root` flag.
    pub root: PathBuf,
    /// Pass the global `--systemd-cgroup` flag (runtime options'
    /// `SystemdCgroup`).
    pub systemd_cgroup: bool,
}

/// Standard streams handed to a runtime call (and through `create` to the
/// container's init).
pub struct CallStdio {
    /// Becomes fd 0.
    pub stdin: Option<OwnedFd>,
    /// Becomes fd 1.
    pub stdout: Option<OwnedFd>,
    /// Becomes fd 2.
    pub stderr: Option<OwnedFd>,
}

impl Runtime {
    /// Picks the runtime for namespace `ns`: `binary_name` (from runtime
    /// options) if given, else `$BERTH_SHIM_RUNTIME`, else `berth` next to the
    /// shim binary, else `berth` on PATH. The root is `root` if given, else
    /// `$BERTH_SHIM_ROOT/<ns>`, else `/run/containerd/berth/<ns>`.
    pub fn resolve(ns: &str, binary_name: &str, root: &str) -> Runtime {
        let binary = if !binary_name.is_empty() {
            PathBuf::from(binary_name)
        } else if let Some(b) = std::env::var_os(ENV_BINARY).filter(|b| !b.is_empty()) {
            PathBuf::from(b)
        } else {
            let beside = std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join("berth"))).filter(|p| p.is_file());
            beside.unwrap_or_else(|| PathBuf::from("berth"))
        };
        let root = if !root.is_empty() {
            PathBuf::from(root)
        } else if let Some(r) = std::env::var_os(ENV_ROOT).filter(|r| !r.is_empty()) {
            PathBuf::from(r).join(ns)
        } else {
            Path::new("/run/containerd/berth").join(ns)
        };
        Runtime { binary, root, systemd_cgroup: false }
    }

    /// The same runtime with the systemd cgroup driver on or off.
    pub fn with_systemd_cgroup(self, on: bool) -> Runtime {
        Runtime { systemd_cgroup: on, ..self }
    }

    /// Runs `runtime --root R [--log L --log-format json] ARGS...`, waits for
    /// it through the reaper, and returns its stdout. On failure the error
    /// names the call and carries the runtime's own message (from the JSON
    /// log, else its stderr).
    pub fn call(&self, reaper: &Reaper, log: Option<&Path>, args: &[&str], stdio: Option<CallStdio>) -> Result<String, String> {
        self.call_input(reaper, log, args, stdio, None)
    }

    /// [`Runtime::call`], writing `input` to the runtime's stdin (e.g. the
    /// resources JSON for `update --resources -`) when no stdio is given.
    pub fn call_input(&self, reaper: &Reaper, log: Option<&Path>, args: &[&str], stdio: Option<CallStdio>, input: Option<&[u8]>) -> Result<String, String> {
        let mut cmd = Command::new(&self.binary);
        // containerd under systemd (Type=notify) hands its NOTIFY_SOCKET to
        // shims. runc, seeing it, proxies it into the container and `start`
        // waits for the container's READY=1: forever, for anything but a
        // notify-aware service (seen in the systemd guest). go-runc drops it
        // for the same reason.
        cmd.env_remove("NOTIFY_SOCKET");
        cmd.arg("--root").arg(&self.root);
        if let Some(log) = log {
            cmd.arg("--log").arg(log).arg("--log-format").arg("json");
        }
        if self.systemd_cgroup {
            cmd.arg("--systemd-cgroup");
        }
        cmd.args(args);
        let captured = stdio.is_none();
        match stdio {
            Some(s) => {
                cmd.stdin(s.stdin.map(Stdio::from).unwrap_or_else(Stdio::null));
                cmd.stdout(s.stdout.map(Stdio::from).unwrap_or_else(Stdio::null));
                cmd.stderr(s.stderr.map(Stdio::from).unwrap_or_else(Stdio::null));
            }
            None => {
                cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
                cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            }
        }
        let what = format!("{} {}", self.binary.display(), args.join(" "));
        let mut child = cmd.spawn().map_err(|e| format!("{what}: spawn: {e}"))?;
        // The Command keeps no copy of the fds it was given once spawned, so
        // the container's init holds the only ones from here on.
        drop(cmd);
        if let (Some(data), Some(mut w)) = (input, child.stdin.take()) {
            // Small (a resources document): fits the pipe, no thread needed.
            let _ = w.write_all(data);
        }
        let (mut out, mut err) = (String::new(), String::new());
        if captured {
            // Read both pipes to EOF before waiting: stderr is small, and a
            // runtime that fills it must not block on us.
            if let Some(mut e) = child.stderr.take() {
                let t = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || {
                    let mut s = String::new();
                    let _ = e.read_to_string(&mut s);
                    s
                });
                if let Some(mut o) = child.stdout.take() {
                    let _ = o.read_to_string(&mut out);
                }
                if let Ok(t) = t {
                    err = t.join().unwrap_or_default();
                }
            }
        }
        let code = reaper.wait(child.id() as i32, CALL_TIMEOUT).ok_or_else(|| format!("{what}: timed out after {CALL_TIMEOUT:?}"))?;
        if code == 0 {
            return Ok(out);
        }
        let msg = log.and_then(last_log_error).or_else(|| Some(err.trim().to_string()).filter(|s| !s.is_empty())).unwrap_or_else(|| "no message".to_string());
        Err(format!("{what}: exit status {code}: {msg}"))
    }
}

/// Returns the `msg` of the last error-level record of a runc-style JSON log.
pub fn last_log_error(path: &Path) -> Option<String> {
    let mut s = String::new();
    File::open(path).ok()?.read_to_string(&mut s).ok()?;
    s.lines().rev().filter(|l| l.contains("\"level\":\"error\"") || l.contains("\"level\":\"fatal\"")).find_map(|l| json_string_field(l, "msg"))
}

/// Extracts a top-level string field from one flat JSON object line, enough
/// for runtime log records (no serde dependency in the shim).
pub fn json_string_field(line: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\":\"");
    let start = line.find(&pat)? + pat.len();
    let mut out = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_field_unescapes() {
        let l = r#"{"level":"error","msg":"mount \"proc\": no\u0021","time":"x"}"#;
        assert_eq!(json_string_field(l, "msg").unwrap(), "mount \"proc\": no!");
        assert_eq!(json_string_field(l, "level").unwrap(), "error");
        assert_eq!(json_string_field(l, "nope"), None);
    }

    #[test]
    fn resolve_prefers_explicit_values() {
        let r = Runtime::resolve("ns", "/usr/bin/runc", "/tmp/r");
        assert_eq!(r.binary, PathBuf::from("/usr/bin/runc"));
        assert_eq!(r.root, PathBuf::from("/tmp/r"));
        assert!(!r.systemd_cgroup);
        assert!(r.with_systemd_cgroup(true).systemd_cgroup);
    }
}
