//! Opening the container's standard streams from what containerd passes in
//! `CreateTaskRequest`: FIFO paths made by the client (ctr, CRI), `file://`
//! URIs, or nothing.
//!
//! Output FIFOs are handed straight to the container (no copy threads): they
//! are opened read-write, so the container's own descriptor keeps a
//! reader on the pipe and a departed client never SIGPIPEs it, and the shim
//! keeps no writer, so the client sees EOF when the container's last writer
//! closes.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::pty::ConsoleSocket;
use crate::runtime::CallStdio;

fn null(write: bool) -> std::io::Result<OwnedFd> {
    Ok(OpenOptions::new().read(!write).write(write).open("/dev/null")?.into())
}

/// Opens an output stream (stdout or stderr): a FIFO or a file (`file://`
/// or a bare path), appended to.
pub fn open_output(uri: &str) -> Result<OwnedFd, String> {
    if uri.is_empty() {
        return null(true).map_err(|e| format!("open /dev/null: {e}"));
    }
    let path = uri.strip_prefix("file://").unwrap_or(uri);
    let is_fifo = std::fs::metadata(path).map(|m| m.file_type().is_fifo()).unwrap_or(false);
    let f = if is_fifo {
        // O_RDWR on a FIFO never blocks and keeps a reader alive.
        OpenOptions::new().read(true).write(true).open(path)
    } else {
        if let Some(dir) = Path::new(path).parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        OpenOptions::new().append(true).create(true).open(path)
    };
    f.map(OwnedFd::from).map_err(|e| format!("open {path}: {e}"))
}

/// How long a `binary://` logger may take to signal readiness.
const LOGGER_READY_MS: i32 = 30_000;

fn pipe() -> Result<(OwnedFd, OwnedFd), String> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2 just returned these fds and nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Splits `binary:///path?k=v&k2` into the logger's path and its arguments
/// (each key, then its value when it has one).
fn binary_command(uri: &str) -> (String, Vec<String>) {
    let rest = uri.strip_prefix("binary://").unwrap_or(uri);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut args = Vec::new();
    for kv in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        args.push(k.to_string());
        if !v.is_empty() {
            args.push(v.to_string());
        }
    }
    (path.to_string(), args)
}

/// Starts a `binary://` logger: it gets the reading ends of a stdout and a
/// stderr pipe as fds 3 and 4 and a readiness pipe as fd 5 (it closes or
/// writes to it when ready), `CONTAINER_ID` and `CONTAINER_NAMESPACE` in its
/// environment. Returns the writing ends for the container. The logger is
/// our child; the reaper collects it when it exits.
fn start_logger(uri: &str, ns: &str, id: &str) -> Result<(OwnedFd, OwnedFd), String> {
    let (path, args) = binary_command(uri);
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (ready_r, ready_w) = pipe()?;
    let mut cmd = Command::new(&path);
    cmd.args(&args).env("CONTAINER_ID", id).env("CONTAINER_NAMESPACE", ns);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let fds = [out_r.as_raw_fd(), err_r.as_raw_fd(), ready_w.as_raw_fd()];
    // SAFETY: runs in the forked child before exec and only calls fcntl and
    // dup2, which are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // Lift them above 5 first so no dup2 clobbers a source.
            let mut high = [0; 3];
            for (h, fd) in high.iter_mut().zip(fds) {
                *h = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10);
                if *h < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (i, h) in high.into_iter().enumerate() {
                if libc::dup2(h, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| format!("start logger {path}: {e}"))?;
    drop(cmd);
    drop((out_r, err_r, ready_w));
    // Ready when the logger writes to or closes fd 5 (or exits); a logger
    // that never does must not hang Create forever.
    let mut pfd = libc::pollfd { fd: ready_r.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: pfd is one valid pollfd for the duration of the call.
    if unsafe { libc::poll(&mut pfd, 1, LOGGER_READY_MS) } <= 0 {
        let _ = child.kill();
        return Err(format!("logger {path} (pid {}) did not become ready", child.id()));
    }
    let mut b = [0u8; 1];
    let _ = File::from(ready_r).read(&mut b);
    crate::slog!("logger {path} (pid {}) ready", child.id());
    Ok((out_w, err_w))
}

/// Opens the input stream: `/dev/null`, a file, or a client FIFO.
///
/// A client FIFO cannot be handed to the container directly: opening it for
/// reading blocks until the client opens its writing end, and a client whose
/// own stdin is already at EOF (ctr with /dev/null) may never do so. So a
/// small thread opens the FIFO and copies it into a socket pair whose other
/// end the container gets; the container sees EOF when the client closes its
/// end, or at CloseIO (shutdown of our end). [`release_input`] unblocks that
/// thread if the client never shows up.
fn open_input(uri: &str, ctl: &mut IoCtl) -> Result<OwnedFd, String> {
    if uri.is_empty() {
        return null(false).map_err(|e| format!("open /dev/null: {e}"));
    }
    let path = uri.strip_prefix("file://").unwrap_or(uri).to_string();
    let is_fifo = std::fs::metadata(&path).map(|m| m.file_type().is_fifo()).unwrap_or(false);
    if !is_fifo {
        return File::open(&path).map(OwnedFd::from).map_err(|e| format!("open stdin {path}: {e}"));
    }
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints for socketpair to fill.
    if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) } != 0 {
        return Err(format!("stdin socketpair: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: socketpair just returned these fds and nothing else owns them.
    let (theirs, ours) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    ctl.stdin = Some(ours.try_clone().map_err(|e| format!("dup stdin: {e}"))?);
    spawn_copy_from_fifo(path, File::from(ours))?;
    Ok(theirs)
}

/// Copies the client FIFO `path` into `w` on a small thread.
fn spawn_copy_from_fifo(path: String, mut w: File) -> Result<(), String> {
    std::thread::Builder::new()
        .name("stdin".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            if let Ok(mut fifo) = File::open(&path) {
                let _ = std::io::copy(&mut fifo, &mut w);
            }
        })
        .map(drop)
        .map_err(|e| format!("stdin copy thread: {e}"))
}

/// Unblocks a stdin copy thread still waiting for the client to open the
/// FIFO `uri` (a writer that opens and closes at once gives it EOF). Harmless
/// when the client is connected: its own writer keeps the stream open.
pub fn release_input(uri: &str) {
    let path = uri.strip_prefix("file://").unwrap_or(uri);
    if !path.is_empty() {
        let _ = OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(path);
    }
}

/// What the shim keeps of a process's stdio after it started: for CloseIO
/// and ResizePty.
#[derive(Default)]
pub struct IoCtl {
    /// Our end of the stdin socket pair (not a terminal).
    stdin: Option<OwnedFd>,
    /// The terminal's master.
    pub master: Option<OwnedFd>,
}

impl IoCtl {
    /// Closes the process's stdin: EOF for a pipe-like stdin. A terminal has
    /// no way to close input short of hanging up, so it is left as it is.
    pub fn close_stdin(&mut self) {
        if let Some(fd) = self.stdin.take() {
            // SAFETY: shutdown on a socket we own; the copy thread's own
            // descriptor of it then fails its writes (EPIPE), which ends it.
            unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_WR) };
        }
    }
}

/// A process's stdio prepared for a runtime call.
pub struct Prepared {
    /// The streams the runtime call (and so the process) gets.
    pub stdio: CallStdio,
    /// With a terminal: the socket the runtime sends the master to.
    pub console: Option<ConsoleSocket>,
    /// Handles kept for CloseIO and ResizePty.
    pub ctl: IoCtl,
}

/// Prepares the streams of a process from containerd's URIs (FIFO paths,
/// `file://`, `binary://`, or empty). With `terminal`, only a console socket
/// is made; [`Prepared::finish`] connects the terminal once the runtime sent it.
pub fn prepare(ns: &str, id: &str, stdin: &str, stdout: &str, stderr: &str, terminal: bool) -> Result<Prepared, String> {
    let mut ctl = IoCtl::default();
    if terminal {
        let none = || CallStdio { stdin: None, stdout: None, stderr: None };
        return Ok(Prepared { stdio: none(), console: Some(ConsoleSocket::new()?), ctl });
    }
    let (out, err) = if stdout.starts_with("binary://") {
        let (o, e) = start_logger(stdout, ns, id)?;
        (o, Some(e))
    } else {
        (open_output(stdout)?, None)
    };
    let err = match err {
        Some(e) if stderr == stdout => e,
        _ if stderr == stdout && !stderr.is_empty() => out.try_clone().map_err(|e| format!("dup stdout: {e}"))?,
        _ if stderr.starts_with("binary://") => start_logger(stderr, ns, id)?.1,
        _ => open_output(stderr)?,
    };
    let inp = open_input(stdin, &mut ctl)?;
    Ok(Prepared { stdio: CallStdio { stdin: Some(inp), stdout: Some(out), stderr: Some(err) }, console: None, ctl })
}

impl Prepared {
    /// Takes the streams for the runtime call, leaving empty ones behind.
    pub fn stdio_take(&mut self) -> CallStdio {
        CallStdio { stdin: self.stdio.stdin.take(), stdout: self.stdio.stdout.take(), stderr: self.stdio.stderr.take() }
    }

    /// After a successful runtime call: with a terminal, receive its master
    /// and copy the client's stdin FIFO into it and its output into the
    /// client's stdout. Returns the handles to keep.
    pub fn finish(self, stdin: &str, stdout: &str) -> Result<IoCtl, String> {
        let mut ctl = self.ctl;
        let Some(cs) = self.console else { return Ok(ctl) };
        let master = cs.receive(Duration::from_secs(10))?;
        if !stdin.is_empty() {
            let w = master.try_clone().map_err(|e| format!("dup terminal: {e}"))?;
            let path = stdin.strip_prefix("file://").unwrap_or(stdin).to_string();
            spawn_copy_from_fifo(path, File::from(w))?;
        }
        let mut r = File::from(master.try_clone().map_err(|e| format!("dup terminal: {e}"))?);
        let mut out = File::from(open_output(stdout)?);
        std::thread::Builder::new()
            .name("tty-out".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                // Ends with EIO once the last slave descriptor is closed; the
                // client then sees EOF when `out` is dropped.
                let _ = std::io::copy(&mut r, &mut out);
            })
            .map_err(|e| format!("terminal copy thread: {e}"))?;
        ctl.master = Some(master);
        Ok(ctl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn binary_uri_splits_into_path_and_args() {
        assert_eq!(binary_command("binary:///usr/bin/lg"), ("/usr/bin/lg".into(), vec![]));
        let (p, a) = binary_command("binary:///lg?-x&level=2");
        assert_eq!((p.as_str(), a), ("/lg", vec!["-x".to_string(), "level".into(), "2".into()]));
    }

    #[test]
    fn empty_means_dev_null_and_files_append() {
        let dir = std::env::temp_dir().join(format!("berth-shim-stdio-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = dir.join("out.log");
        let uri = format!("file://{}", out.display());
        let s = prepare("ns", "id", "", &uri, &uri, false).unwrap().stdio;
        File::from(s.stdout.unwrap()).write_all(b"a").unwrap();
        File::from(s.stderr.unwrap()).write_all(b"b").unwrap();
        let mut got = String::new();
        File::open(&out).unwrap().read_to_string(&mut got).unwrap();
        assert_eq!(got, "ab");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
