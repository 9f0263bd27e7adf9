//! `run` in the foreground: wait for the init, forward signals to it, and
//! proxy its terminal when Berth made one.

use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Signals forwarded to the container (everything a terminal or a
/// supervisor sends; SIGCHLD is ours).
const FORWARD: &[libc::c_int] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGALRM,
    libc::SIGPIPE,
];

/// Wait for `pid` to exit and return its status as a shell would
/// (128 + signal for a signal), forwarding signals and terminal I/O.
pub fn wait_forwarding(pid: i32, master: Option<OwnedFd>) -> Result<i32> {
    // SAFETY: building and installing a signal mask; no handlers involved.
    let sfd = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        for &s in FORWARD {
            libc::sigaddset(&mut set, s);
        }
        if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return Err(Error::last("block signals"));
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(Error::last("create signalfd"));
        }
        OwnedFd::from_raw_fd(fd)
    };
    let _raw = master.as_ref().and_then(RawTerminal::enter);
    let mut master_open = master.is_some();
    let mut stdin_open = master.is_some();
    loop {
        // The init may have exited before we blocked SIGCHLD.
        if let Some(code) = reap(pid) {
            if let Some(m) = &master {
                drain(m.as_raw_fd());
            }
            return Ok(code);
        }
        let mut fds = [
            libc::pollfd { fd: sfd.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: if stdin_open { 0 } else { -1 }, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: if master_open { master.as_ref().map_or(-1, |m| m.as_raw_fd()) } else { -1 }, events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: fds is a valid array of 3 pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 3, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(Error::last("poll"));
        }
        if fds[0].revents != 0 {
            // SAFETY: reading one signalfd_siginfo into a properly sized buffer.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let sz = std::mem::size_of::<libc::signalfd_siginfo>();
            // SAFETY: info is sz bytes long.
            if unsafe { libc::read(sfd.as_raw_fd(), (&mut info as *mut libc::signalfd_siginfo).cast(), sz) } == sz as isize {
                let sig = info.ssi_signo as libc::c_int;
                if sig == libc::SIGWINCH {
                    if let Some(m) = &master {
                        copy_winsize(m.as_raw_fd());
                    }
                }
                if sig != libc::SIGCHLD {
                    // SAFETY: signalling our own child.
                    unsafe { libc::kill(pid, sig) };
                }
            }
        }
        if let Some(m) = &master {
            if fds[1].revents != 0 && !pump(0, m.as_raw_fd()) {
                stdin_open = false;
            }
            if fds[2].revents != 0 && !pump(m.as_raw_fd(), 1) {
                master_open = false;
            }
        }
    }
}

/// Reap any exited children; Some(code) once `pid` is among them.
fn reap(pid: i32) -> Option<i32> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with a valid status pointer.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r <= 0 {
            return None;
        }
        if r == pid {
            return Some(if libc::WIFSIGNALED(status) { 128 + libc::WTERMSIG(status) } else { libc::WEXITSTATUS(status) });
        }
    }
}

/// Copy what is available from one fd to another; false at EOF or error.
fn pump(from: i32, to: i32) -> bool {
    let mut buf = [0u8; 8192];
    // SAFETY: buf is a valid buffer of its length.
    let n = unsafe { libc::read(from, buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return false;
    }
    let mut off = 0;
    while off < n as usize {
        // SAFETY: writing initialized bytes from buf.
        let w = unsafe { libc::write(to, buf[off..].as_ptr().cast(), n as usize - off) };
        if w <= 0 {
            return false;
        }
        off += w as usize;
    }
    true
}

/// Output left in the pty after the process exited.
fn drain(master: i32) {
    // SAFETY: switching our own descriptor to non-blocking.
    unsafe { libc::fcntl(master, libc::F_SETFL, libc::fcntl(master, libc::F_GETFL) | libc::O_NONBLOCK) };
    while pump(master, 1) {}
}

fn copy_winsize(master: i32) {
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a valid winsize struct.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master, libc::TIOCSWINSZ, &ws);
        }
    }
}

/// Our stdin in raw mode while proxying a terminal; restored on drop.
struct RawTerminal {
    saved: libc::termios,
}

impl RawTerminal {
    fn enter(master: &OwnedFd) -> Option<RawTerminal> {
        copy_winsize(master.as_raw_fd());
        // SAFETY: tcgetattr/tcsetattr on stdin with valid termios structs.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return None;
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSANOW, &t);
            Some(RawTerminal { saved })
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // SAFETY: restoring the attributes we saved from stdin.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &self.saved) };
    }
}
