//! An interactive pseudoterminal session: a command as the session leader
//! of a fresh pty, whose output can be waited for, which can be typed into
//! and resized (TIOCSWINSZ on the master: the kernel sends SIGWINCH to the
//! foreground process group, e.g. `docker run -it`, which forwards the size).
//!
//! [`run_in_pty`] is the one-shot form: a command on a fresh pty, input
//! typed after a delay, its exit code and everything it printed.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A command running on a pty of its own.
pub struct PtySession {
    master: OwnedFd,
    child: Option<Child>,
    text: Arc<Mutex<Vec<u8>>>,
}

impl PtySession {
    /// Spawns `cmd` on a new pty of `rows` x `cols` (fds 0-2, controlling
    /// terminal).
    pub fn spawn(mut cmd: Command, rows: u16, cols: u16) -> PtySession {
        use std::os::unix::process::CommandExt;
        let (mut master, mut slave) = (0, 0);
        let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: openpty fills the two fds; name and termios may be null.
        let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &ws) };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: openpty just returned both fds; nothing else owns them.
        let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()));
        cmd.stdout(Stdio::from(slave.try_clone().unwrap()));
        cmd.stderr(Stdio::from(slave));
        // SAFETY: runs in the child before exec; setsid and ioctl are
        // async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn in pty");
        drop(cmd);
        let mut reader = std::fs::File::from(master.try_clone().unwrap());
        let text = Arc::new(Mutex::new(Vec::new()));
        let sink = text.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        PtySession { master, child: Some(child), text }
    }

    /// Everything printed so far.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.text.lock().unwrap()).to_string()
    }

    /// Waits until the output contains `needle`; returns whether it did.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.output().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Types `input`.
    pub fn write(&self, input: &[u8]) {
        let mut w = std::fs::File::from(self.master.try_clone().unwrap());
        let _ = w.write_all(input);
    }

    /// Resizes the terminal (the foreground process group gets SIGWINCH).
    pub fn resize(&self, rows: u16, cols: u16) {
        let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ on our pty master with a valid winsize.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        assert_eq!(rc, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
    }

    /// Waits for the command to exit (killed by pid after `timeout`) and
    /// returns its exit code.
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Ok(Some(s)) = child.try_wait() {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                break child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100));
        status.code()
    }
}

impl Drop for PtySession {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs `cmd` as the session leader of a fresh pseudoterminal of `rows` x
/// `cols` (its controlling terminal, on fds 0-2), writes `input` to the
/// terminal after `input_after`, and returns its exit code and everything it
/// printed. Killed (by pid) after `timeout`.
pub fn run_in_pty(mut cmd: Command, rows: u16, cols: u16, input: &[u8], input_after: Duration, timeout: Duration) -> (Option<i32>, String) {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    let (mut master, mut slave) = (0, 0);
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: openpty fills the two fds; name and termios may be null, and ws
    // points at a valid winsize.
    let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), &ws) };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty just returned both fds; nothing else owns them.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()));
    cmd.stdout(Stdio::from(slave.try_clone().unwrap()));
    cmd.stderr(Stdio::from(slave));
    // SAFETY: runs in the child before exec; setsid and ioctl are
    // async-signal-safe. fd 0 is the slave, made the controlling terminal.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn in pty");
    drop(cmd);
    let mut reader = std::fs::File::from(master.try_clone().unwrap());
    let text = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        // Ends with EIO once the child and everything holding the slave is gone.
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let deadline = Instant::now() + timeout;
    let start = Instant::now();
    let mut sent = input.is_empty();
    let status = loop {
        if !sent && start.elapsed() >= input_after {
            use std::io::Write;
            let mut w = std::fs::File::from(master.try_clone().unwrap());
            let _ = w.write_all(input);
            sent = true;
        }
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(100));
    let _ = master.as_raw_fd();
    let out = String::from_utf8_lossy(&text.lock().unwrap()).to_string();
    (status.code(), out)
}
