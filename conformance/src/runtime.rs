//! Finding and driving the runtime under test: its binary, version, CLI calls with timeouts.

use serde_json::Value;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Resolve the runtime binary under test.
///
/// `OCI_RUNTIME` may be a path or a command name; otherwise the workspace's
/// `target/release/berth` or `target/debug/berth` is used. Panics with an
/// explanation when nothing is found, so a misconfigured run fails loudly.
pub fn runtime_binary() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(v) = std::env::var_os("OCI_RUNTIME") {
            let s = v.to_string_lossy().to_string();
            if s.contains('/') {
                let p = PathBuf::from(&s);
                return if p.is_file() { Ok(p) } else { Err(format!("OCI_RUNTIME={s}: no such file")) };
            }
            return find_on_path(&s).ok_or_else(|| format!("OCI_RUNTIME={s}: not found on PATH"));
        }
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
        for p in ["release/berth", "debug/berth"] {
            let p = target.join(p);
            if p.is_file() {
                return Ok(p.canonicalize().unwrap_or(p));
            }
        }
        Err("no runtime under test: set OCI_RUNTIME=runc (or a path), or build berth \
             (cargo build -p berth) so target/{release,debug}/berth exists"
            .to_string())
    })
    .clone()
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The output of `<runtime> --version`, cached; used to recognise runtimes
/// with known, legitimate gaps (see [`skip_for`]).
pub fn runtime_version() -> String {
    static V: OnceLock<String> = OnceLock::new();
    V.get_or_init(|| {
        Command::new(runtime_binary())
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default()
    })
    .clone()
}

/// Returns true (and prints why) when the runtime under test's `--version`
/// output starts with `prefix`, e.g. `"runc version 1.1"`. Tests use it to
/// skip a check for a runtime that lacks a feature, never to relax one.
///
/// `CONFORMANCE_NO_SKIP=1` disables all skips, to see the actual failures.
pub fn skip_for(prefix: &str, reason: &str) -> bool {
    if std::env::var_os("CONFORMANCE_NO_SKIP").is_some() {
        return false;
    }
    if runtime_version().starts_with(prefix) {
        eprintln!("SKIP for `{prefix}`: {reason}");
        true
    } else {
        false
    }
}

/// Per-command timeout; `CONFORMANCE_TIMEOUT` (seconds) overrides it.
pub fn command_timeout() -> Duration {
    std::env::var("CONFORMANCE_TIMEOUT").ok().and_then(|s| s.parse().ok()).map(Duration::from_secs).unwrap_or(Duration::from_secs(15))
}

// ---------------------------------------------------------------------------
// Rootfs
// ---------------------------------------------------------------------------

/// Result of one runtime invocation.
#[derive(Debug, Clone)]
pub struct RtOutput {
    pub args: Vec<String>,
    /// Exit code, `None` if killed by a signal or timed out.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Content of the `--log` file after the command (whole file).
    pub log: String,
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl RtOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    fn describe(&self) -> String {
        format!(
            "`{}` -> code {:?}{} in {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- log ---\n{}",
            self.args.join(" "),
            self.code,
            if self.timed_out { " (TIMED OUT, killed)" } else { "" },
            self.elapsed,
            self.stdout,
            self.stderr,
            self.log
        )
    }
    /// Panic unless the command exited 0.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(self.success(), "expected success: {}", self.describe());
        self
    }
    /// Panic unless the command exited non-zero (not by timeout).
    #[track_caller]
    pub fn fails(&self) -> &Self {
        assert!(!self.timed_out, "runtime hung: {}", self.describe());
        assert!(matches!(self.code, Some(c) if c != 0), "expected a non-zero exit: {}", self.describe());
        // Shown with --nocapture: what the runtime said, for comparing runtimes.
        eprintln!(
            "[expected failure] {} -> {:?}: stderr={:?} log={:?}",
            self.args.iter().skip(1).skip_while(|a| a.starts_with("--") || a.contains('/') || *a == "json").cloned().collect::<Vec<_>>().join(" "),
            self.code,
            self.stderr.trim(),
            self.log.trim()
        );
        self
    }
    /// Panic unless the runtime reported an error on stderr or in its log.
    #[track_caller]
    pub fn reports_error(&self) -> &Self {
        assert!(!self.stderr.trim().is_empty() || !self.log.trim().is_empty(), "expected an error message on stderr or in the log: {}", self.describe());
        self
    }
    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.describe()))
    }
}

/// Where a spawned runtime's stdio goes.
pub struct Stdio3 {
    pub stdin: Stdio,
    pub stdout: File,
    pub stderr: File,
}

/// A runtime binary with a private `--root` and a JSON `--log` file.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub bin: PathBuf,
    pub root: PathBuf,
    pub log: Option<PathBuf>,
    /// Directory for captured stdout/stderr files.
    pub scratch: PathBuf,
    pub timeout: Duration,
}

pub(crate) static SEQ: AtomicUsize = AtomicUsize::new(0);

impl Runtime {
    fn global_args(&self) -> Vec<String> {
        let mut v = vec!["--root".to_string(), self.root.display().to_string()];
        if let Some(l) = &self.log {
            v.extend(["--log".into(), l.display().to_string(), "--log-format".into(), "json".into()]);
        }
        v
    }

    /// Run `<bin> <global args> <args>` with stdin from /dev/null and stdout,
    /// stderr captured through files (never pipes: a container inheriting a
    /// pipe would keep it open and hang the reader).
    pub fn cmd<S: AsRef<OsStr>>(&self, args: &[S]) -> RtOutput {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let out_p = self.scratch.join(format!("cmd-{n}.out"));
        let err_p = self.scratch.join(format!("cmd-{n}.err"));
        let io = Stdio3 {
            stdin: Stdio::null(),
            stdout: File::create(&out_p).expect("create stdout file"),
            stderr: File::create(&err_p).expect("create stderr file"),
        };
        let mut o = self.cmd_io(args, io);
        o.stdout = fs::read_to_string(&out_p).unwrap_or_default();
        o.stderr = fs::read_to_string(&err_p).unwrap_or_default();
        let _ = fs::remove_file(&out_p);
        let _ = fs::remove_file(&err_p);
        o
    }

    /// Like [`Runtime::cmd`] with caller-provided stdio; `stdout`/`stderr`
    /// of the result are empty.
    pub fn cmd_io<S: AsRef<OsStr>>(&self, args: &[S], io: Stdio3) -> RtOutput {
        self.cmd_io_with(args, io, |_| {})
    }

    /// [`Runtime::cmd_io`] with a last say on the command before it is
    /// spawned (an environment variable, a `pre_exec` step).
    pub fn cmd_io_with<S: AsRef<OsStr>>(&self, args: &[S], io: Stdio3, prepare: impl FnOnce(&mut Command)) -> RtOutput {
        let mut all = self.global_args();
        all.extend(args.iter().map(|a| a.as_ref().to_string_lossy().to_string()));
        let start = Instant::now();
        let mut cmd = Command::new(&self.bin);
        cmd.args(&all).stdin(io.stdin).stdout(io.stdout).stderr(io.stderr);
        prepare(&mut cmd);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", self.bin.display()));
        let (status, timed_out) = wait_timeout(&mut child, self.timeout);
        let mut shown = vec![self.bin.display().to_string()];
        shown.extend(all);
        RtOutput {
            args: shown,
            code: status.and_then(|s| s.code()),
            stdout: String::new(),
            stderr: String::new(),
            log: self.log.as_ref().and_then(|l| fs::read_to_string(l).ok()).unwrap_or_default(),
            timed_out,
            elapsed: start.elapsed(),
        }
    }
}

/// Wait for `child` up to `timeout`; on timeout SIGKILL it (by its PID) and
/// reap it. Returns the status (None on timeout) and whether it timed out.
pub fn wait_timeout(child: &mut std::process::Child, timeout: Duration) -> (Option<ExitStatus>, bool) {
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_micros(500);
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return (Some(st), false),
            Ok(None) => {}
            Err(_) => return (None, false),
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (None, true);
        }
        thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------
// Test container
// ---------------------------------------------------------------------------
