//! Lifecycle hooks (config.md "POSIX-platform Hooks", runtime.md "Lifecycle").
//!
//! A hook gets the container state on stdin; `timeout` seconds bound it. The
//! caller decides what a failure means: prestart, createRuntime,
//! createContainer and startContainer failures abort the container,
//! poststart and poststop failures are only warnings.

use crate::error::{Error, Result};
use oci_spec::runtime::Hook;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

/// Run every hook of one stage in order; stop at the first failure.
pub fn run_all(stage: &str, hooks: &[Hook], state: &serde_json::Value) -> Result<()> {
    run_all_in(stage, hooks, state, None)
}

/// [`run_all`] for the hooks the container's init runs (createContainer,
/// startContainer): one without `env` gets `process_env`, the container
/// process's environment, as under runc (whose init has already taken it on
/// when it runs them).
pub fn run_all_in(stage: &str, hooks: &[Hook], state: &serde_json::Value, process_env: Option<&[String]>) -> Result<()> {
    if hooks.is_empty() {
        return Ok(());
    }
    let input = state.to_string();
    for (i, h) in hooks.iter().enumerate() {
        log::debug!("running hook {stage}[{i}]: {}", h.path().display());
        run_with(h, &input, process_env).map_err(|e| e.field(format!("hooks.{stage}[{i}]")))?;
    }
    Ok(())
}

/// Run every hook, logging failures as warnings (poststart, poststop).
pub fn run_all_warn(stage: &str, hooks: &[Hook], state: &serde_json::Value) {
    let input = state.to_string();
    for (i, h) in hooks.iter().enumerate() {
        log::debug!("running hook {stage}[{i}]: {}", h.path().display());
        if let Err(e) = run(h, &input) {
            log::warn!("{}", e.field(format!("hooks.{stage}[{i}]")));
        }
    }
}

/// Run one hook with the state JSON on stdin.
pub fn run(h: &Hook, state: &str) -> Result<()> {
    run_with(h, state, None)
}

/// [`run`]; a hook without `env` gets `inherited` when given, else the
/// runtime's own environment.
fn run_with(h: &Hook, state: &str, inherited: Option<&[String]>) -> Result<()> {
    let path = h.path();
    let name = path.display().to_string();
    let mut cmd = Command::new(path);
    if let Some(args) = h.args() {
        // args[0] is the hook's argv[0], like execv's.
        if let Some((first, rest)) = args.split_first() {
            std::os::unix::process::CommandExt::arg0(&mut cmd, first);
            cmd.args(rest);
        }
    }
    // A hook with `env` gets exactly that; one without inherits the
    // runtime's environment, as under runc (whose hooks see what the engine
    // gave runc, e.g. containerd's or dockerd's PATH).
    if let Some(env) = h.env().as_deref().or(inherited) {
        cmd.env_clear();
        for kv in env {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::inherit()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|e| Error::os(format!("run hook {name}"), e))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its input; EPIPE is not a failure.
        let _ = stdin.write_all(state.as_bytes());
    }
    let timeout = h.timeout().filter(|t| *t > 0);
    let status = match timeout {
        None => child.wait().map_err(|e| Error::os(format!("wait for hook {name}"), e))?,
        Some(secs) => {
            if !wait_exit(child.id() as i32, secs.saturating_mul(1000))? {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::msg(format!("hook {name} did not finish within its timeout of {secs}s")));
            }
            child.wait().map_err(|e| Error::os(format!("wait for hook {name}"), e))?
        }
    };
    if status.success() {
        return Ok(());
    }
    match (status.code(), status.signal()) {
        (Some(c), _) => Err(Error::msg(format!("hook {name} exited with status {c}"))),
        (_, Some(s)) => Err(Error::msg(format!("hook {name} was killed by signal {s}"))),
        _ => Err(Error::msg(format!("hook {name} failed"))),
    }
}

/// Wait up to `ms` for a child to exit, without reaping it. True if it exited.
pub fn wait_exit(pid: i32, ms: i64) -> Result<bool> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Error::last(format!("pidfd_open {pid}")));
    }
    // SAFETY: the syscall just returned this descriptor to us alone.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(ms.max(0) as u64);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now()).as_millis() as i32;
        // SAFETY: pfd is a valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, left) };
        if n > 0 {
            return Ok(true);
        }
        if n == 0 {
            return Ok(false);
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(Error::os("poll pidfd", e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(v: serde_json::Value) -> Hook {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn hook_reads_state_and_env() {
        let dir = std::env::temp_dir().join(format!("berth-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let h = hook(serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {}; echo \" $FOO\" >> {}", out.display(), out.display())],
            "env": ["FOO=bar"]
        }));
        run(&h, "{\"id\":\"x\"}").unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "{\"id\":\"x\"} bar\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failures_and_timeouts() {
        let e = run(&hook(serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]})), "{}").unwrap_err();
        assert!(e.to_string().contains("status 3"), "{e}");
        let t = std::time::Instant::now();
        let e = run(&hook(serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c", "sleep 10"], "timeout": 1})), "{}").unwrap_err();
        assert!(e.to_string().contains("timeout"), "{e}");
        assert!(t.elapsed().as_secs() < 5);
        let e = run(&hook(serde_json::json!({"path": "/nonexistent/hook"})), "{}").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/hook"), "{e}");
    }

    #[test]
    fn stage_failure_names_the_hook() {
        let hooks = vec![hook(serde_json::json!({"path": "/bin/true"})), hook(serde_json::json!({"path": "/bin/false"}))];
        let e = run_all("prestart", &hooks, &serde_json::json!({})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("hooks.prestart[1]"));
    }
}
