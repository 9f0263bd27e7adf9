//! Terminals: the console socket a runtime sends a pseudoterminal master to
//! (`--console-socket`, one SCM_RIGHTS message), and window resizing.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A listening console socket, removed when dropped.
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    /// Binds a fresh socket under the temporary directory (short enough for
    /// `sun_path`).
    pub fn new() -> Result<ConsoleSocket, String> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!("berth-pty-{}-{}.sock", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|e| format!("bind {}: {e}", path.display()))?;
        Ok(ConsoleSocket { listener, path })
    }

    /// The socket's path, for `--console-socket`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts the runtime's connection and receives the master fd. Called
    /// once the runtime call returned, so the message is already queued; the
    /// timeout only guards against a runtime that never sent one.
    pub fn receive(&self, timeout: Duration) -> Result<OwnedFd, String> {
        self.listener.set_nonblocking(true).map_err(|e| format!("console socket: {e}"))?;
        let deadline = Instant::now() + timeout;
        let conn = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(format!("console socket: the runtime sent no terminal: {e}")),
            }
        };
        conn.set_nonblocking(false).map_err(|e| format!("console socket: {e}"))?;
        let _ = conn.set_read_timeout(Some(timeout));
        recv_fd(conn.as_raw_fd())
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Receives one fd passed with SCM_RIGHTS on the connected socket `sock`.
fn recv_fd(sock: i32) -> Result<OwnedFd, String> {
    let mut data = [0u8; 4096];
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
    // SAFETY: msghdr is plain data; zeroed is a valid empty header, and every
    // pointer set below refers to a live local buffer of the stated length.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: sock is a connected socket we own; msg points at valid buffers.
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(format!("receive the terminal: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the CMSG_* macros walk the control buffer recvmsg filled, within
    // msg_controllen; the payload of an SCM_RIGHTS message is an array of fds.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const i32);
                return Ok(OwnedFd::from_raw_fd(fd));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Err("receive the terminal: the runtime's message carried no fd".into())
}

/// Sets the window size of the terminal whose master is `master`.
pub fn resize(master: BorrowedFd, width: u32, height: u32) -> Result<(), String> {
    let ws = libc::winsize { ws_row: height as u16, ws_col: width as u16, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which is valid.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
        return Err(format!("resize terminal: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn receives_a_passed_fd() {
        let cs = ConsoleSocket::new().unwrap();
        let client = UnixStream::connect(cs.path()).unwrap();
        let f = std::fs::File::open("/dev/null").unwrap();
        let fd = f.as_raw_fd();
        let mut data = *b"x";
        let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: 1 };
        let mut control = [0u64; 8];
        // SAFETY: as in recv_fd: a zeroed msghdr pointing at live local buffers,
        // and CMSG_* used within the control buffer.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut i32, fd);
            assert_eq!(libc::sendmsg(client.as_raw_fd(), &msg, 0), 1);
        }
        let got = cs.receive(Duration::from_secs(5)).unwrap();
        assert_ne!(got.as_raw_fd(), fd);
        let p = cs.path().to_path_buf();
        drop(cs);
        assert!(!p.exists());
    }
}
