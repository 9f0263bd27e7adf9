//! The container's terminal (`process.terminal`, `process.consoleSize`).
//!
//! As with runc, the pseudoterminal is made inside the container (on the
//! container's devpts instance), and its master end travels to whoever
//! passed `--console-socket` as an SCM_RIGHTS message; the slave end becomes
//! the process's stdio and controlling terminal, and is bound to
//! /dev/console by the caller.

use std::ffi::CString;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::sys::socket::{connect, recvmsg, sendmsg, socket, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr};

use crate::error::{p, Error, Result};

/// What the master fd's message carries: runc sends the master's file name,
/// which is the multiplexer it was opened from. Receivers (containerd,
/// conmon) only use it to label the file.
const MASTER_NAME: &[u8] = b"/dev/ptmx";

/// Connect to the console socket given by --console-socket (a unix stream
/// socket path on the host) — called before pivot_root — returning the
/// connected fd.
pub fn connect_socket(path: &Path) -> Result<OwnedFd> {
    let step = || format!("connect to the console socket {}", p(path));
    let sock = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).map_err(|e| Error::errno(step(), e))?;
    match UnixAddr::new(path) {
        Ok(addr) => connect(sock.as_raw_fd(), &addr).map_err(|e| Error::errno(step(), e))?,
        Err(nix::errno::Errno::ENAMETOOLONG) => {
            // sun_path holds only 108 bytes, and engines put sockets under
            // deep state directories: reach the socket through an O_PATH
            // handle on its directory instead.
            let (dir, name) = match (path.parent(), path.file_name()) {
                (Some(d), Some(n)) => (if d.as_os_str().is_empty() { Path::new(".") } else { d }, n),
                _ => return Err(Error::errno(step(), nix::errno::Errno::ENAMETOOLONG)),
            };
            let dir = std::fs::File::options().read(true).custom_flags(libc::O_PATH | libc::O_DIRECTORY).open(dir).map_err(|e| Error::os(step(), e))?;
            let short = format!("/proc/self/fd/{}/{}", dir.as_raw_fd(), name.to_string_lossy());
            let addr = UnixAddr::new(short.as_str()).map_err(|e| Error::errno(step(), e))?;
            connect(sock.as_raw_fd(), &addr).map_err(|e| Error::errno(step(), e))?;
        }
        Err(e) => return Err(Error::errno(step(), e)),
    }
    Ok(sock)
}

/// Unlock the slave side of a fresh master (the kernel creates it locked).
fn unlockpt(master: &OwnedFd) -> Result<()> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the pointer, which is valid.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } != 0 {
        return Err(Error::last("unlock the pseudoterminal"));
    }
    Ok(())
}

/// The slave's number in its devpts instance.
fn pty_number(master: &OwnedFd) -> Result<u32> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int through the pointer, which is
    // valid and writable.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) } != 0 {
        return Err(Error::last("get the pseudoterminal number"));
    }
    Ok(n)
}

/// Open the slave of `master`. TIOCGPTPEER (Linux 4.13) opens it through
/// the master itself, so nothing in the container's /dev/pts can stand in
/// for it; older kernels fall back to the path.
fn open_slave(master: &OwnedFd, path: &str) -> Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags by value and returns a new fd.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    if fd >= 0 {
        // SAFETY: the kernel just returned this fd to us; nothing else owns it.
        return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    let c = CString::new(path).expect("pts path has no NUL");
    // SAFETY: `c` is a NUL-terminated path alive for the call.
    let fd = unsafe { libc::open(c.as_ptr(), flags) };
    if fd < 0 {
        return Err(Error::last(format!("open the pseudoterminal slave {path}")));
    }
    // SAFETY: as above, a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Set the terminal's size in characters.
fn set_size(fd: &OwnedFd, (height, width): (u32, u32)) -> Result<()> {
    let too_big = || Error::msg(format!("set the console size to {height}x{width}: too large")).field("process.consoleSize");
    let ws = libc::winsize {
        ws_row: u16::try_from(height).map_err(|_| too_big())?,
        ws_col: u16::try_from(width).map_err(|_| too_big())?,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize through the pointer, which is valid.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
        return Err(Error::last(format!("set the console size to {height}x{width}")).field("process.consoleSize"));
    }
    Ok(())
}

/// After pivot_root (and after /dev/pts is mounted): open /dev/ptmx, unlock
/// it, open the slave, apply consoleSize (height, width) if given, send the
/// master fd over `socket` with SCM_RIGHTS, and return the slave fd (the
/// caller binds it to /dev/console).
pub fn create_pty(socket: BorrowedFd, size: Option<(u32, u32)>) -> Result<OwnedFd> {
    let ptmx = c"/dev/ptmx";
    // SAFETY: a constant NUL-terminated path; the result is checked.
    let fd = unsafe { libc::open(ptmx.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::last("open /dev/ptmx"));
    }
    // SAFETY: a fresh fd we own.
    let master = unsafe { OwnedFd::from_raw_fd(fd) };
    unlockpt(&master)?;
    let path = format!("/dev/pts/{}", pty_number(&master)?);
    let slave = open_slave(&master, &path)?;
    if let Some(size) = size {
        set_size(&slave, size)?;
    }
    let fds = [master.as_raw_fd()];
    sendmsg::<UnixAddr>(
        socket.as_raw_fd(),
        &[IoSlice::new(MASTER_NAME)],
        &[ControlMessage::ScmRights(&fds)],
        // A caller that went away must give an error here, not a SIGPIPE
        // that kills the init before it can report anything.
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(|e| Error::errno(format!("send the pseudoterminal master of {path} to the console socket"), e))?;
    // The master now lives on the other side; ours closes on drop here.
    Ok(slave)
}

/// Make the slave the controlling terminal and stdio: setsid, ioctl
/// TIOCSCTTY, dup2 to 0/1/2.
pub fn make_controlling(slave: BorrowedFd) -> Result<()> {
    if let Err(e) = nix::unistd::setsid() {
        // EPERM: already a process group leader. Fine if it already leads
        // its own session (e.g. the caller did setsid itself).
        let me = nix::unistd::getpid();
        if nix::unistd::getsid(None).ok() != Some(me) {
            return Err(Error::errno("start a new session for the terminal", e));
        }
    }
    // SAFETY: TIOCSCTTY takes an int by value (0: do not steal a terminal
    // that is another session's).
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(Error::last("make the pseudoterminal the controlling terminal"));
    }
    for target in 0..=2 {
        // SAFETY: dup2 onto the standard descriptors, which this process
        // deliberately gives over to the terminal.
        if unsafe { libc::dup2(slave.as_raw_fd(), target) } < 0 {
            return Err(Error::last(format!("duplicate the terminal onto fd {target}")));
        }
    }
    Ok(())
}

/// The receiving end, for tests and for `berth run` with a terminal: on a
/// connected unix socket, receive one fd sent with SCM_RIGHTS.
pub fn recv_fd(listener_conn: BorrowedFd) -> Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 4]);
    let msg = recvmsg::<UnixAddr>(listener_conn.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(|e| Error::errno("receive the terminal from the console socket", e))?;
    let mut received: Vec<OwnedFd> = Vec::new();
    for c in msg.cmsgs().map_err(|e| Error::errno("receive the terminal from the console socket", e))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel installed these fds in our table for us.
            received.extend(fds.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    if msg.bytes == 0 && received.is_empty() {
        return Err(Error::msg("receive the terminal: the console socket closed without sending one"));
    }
    // Any extra fds close when `received` drops.
    received.into_iter().next().ok_or_else(|| Error::msg("receive the terminal: the message carried no file descriptor"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn connect_to_missing_socket_names_the_path() {
        let e = connect_socket(Path::new("/nonexistent/berth-console.sock")).unwrap_err();
        assert_eq!(e.to_string(), "connect to the console socket /nonexistent/berth-console.sock: No such file or directory");
        let long = format!("/nonexistent/{}/c.sock", "d".repeat(150));
        let e = connect_socket(Path::new(&long)).unwrap_err();
        assert!(e.to_string().ends_with("No such file or directory"), "{e}");
    }

    #[test]
    fn master_name_is_a_path() {
        assert!(Path::new(std::ffi::OsStr::from_bytes(MASTER_NAME)).is_absolute());
    }
}
