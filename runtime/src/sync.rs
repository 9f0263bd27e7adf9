//! The typed conversation between `berth create` and the container's init
//! over a SOCK_SEQPACKET socketpair: one message per datagram, a tag byte
//! and a text payload.

use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A message between parent and init.
#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    /// Parent → init: the id maps and oom score are in place (and the
    /// cgroup2 directory, which the init was born in).
    Go,
    /// Parent → init: the v1 cgroups exist and their resources are set; the
    /// init's `tasks` descriptors ride along (SCM_RIGHTS), one per v1
    /// hierarchy in placement order.
    Placed,
    /// Parent → init, before Go, for a container in a user namespace: bind
    /// sources opened on the host ride along (SCM_RIGHTS, up to
    /// [`MAX_FDS`] a message, as many messages as needed).
    BindSources,
    /// Init → parent: mounts are done; run prestart and createRuntime hooks.
    NeedHooks,
    /// Parent → init: those hooks ran.
    HooksDone,
    /// Init → parent: set up and waiting on the start gate.
    Ready,
    /// Init → parent: the seccomp notify listener rides along (SCM_RIGHTS);
    /// the parent hands it to the agent at listenerPath.
    Listener,
    /// Init → parent: setup failed; the text says where.
    Error(String),
    /// Init (or exec'd child) → parent: a log record (a warning, say) for
    /// the runtime's log. Never the container's stderr, which belongs to
    /// the container (`docker logs`). [`Channel::recv`] logs these itself.
    Log(log::Level, String),
}

/// Level ↔ one tag byte for [`Msg::Log`].
const LEVELS: [(log::Level, u8); 5] =
    [(log::Level::Error, b'e'), (log::Level::Warn, b'w'), (log::Level::Info, b'i'), (log::Level::Debug, b'd'), (log::Level::Trace, b't')];

impl Msg {
    fn encode(&self) -> Vec<u8> {
        match self {
            Msg::Go => vec![b'G'],
            Msg::Placed => vec![b'P'],
            Msg::BindSources => vec![b'B'],
            Msg::NeedHooks => vec![b'H'],
            Msg::HooksDone => vec![b'D'],
            Msg::Ready => vec![b'R'],
            Msg::Listener => vec![b'L'],
            Msg::Error(s) => {
                let mut v = vec![b'E'];
                v.extend_from_slice(s.as_bytes());
                v
            }
            Msg::Log(level, s) => {
                let tag = LEVELS.iter().find(|(l, _)| l == level).map_or(b'w', |x| x.1);
                let mut v = vec![b'W', tag];
                v.extend_from_slice(s.as_bytes());
                v
            }
        }
    }

    fn decode(b: &[u8]) -> Result<Msg> {
        Ok(match b.first() {
            Some(b'G') => Msg::Go,
            Some(b'P') => Msg::Placed,
            Some(b'B') => Msg::BindSources,
            Some(b'H') => Msg::NeedHooks,
            Some(b'D') => Msg::HooksDone,
            Some(b'R') => Msg::Ready,
            Some(b'L') => Msg::Listener,
            Some(b'E') => Msg::Error(String::from_utf8_lossy(&b[1..]).into_owned()),
            Some(b'W') if b.len() >= 2 => {
                let level = LEVELS.iter().find(|(_, t)| *t == b[1]).map_or(log::Level::Warn, |x| x.0);
                Msg::Log(level, String::from_utf8_lossy(&b[2..]).into_owned())
            }
            _ => return Err(Error::msg(format!("unexpected message {b:?} from the container's init"))),
        })
    }
}

/// One end of the socketpair.
pub struct Channel {
    fd: OwnedFd,
    /// Descriptors received with the last message.
    received: std::cell::RefCell<Vec<OwnedFd>>,
}

/// A connected pair of channels (close-on-exec).
pub fn pair() -> Result<(Channel, Channel)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid 2-element array for socketpair to fill.
    if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) } != 0 {
        return Err(Error::last("create socketpair"));
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((Channel { fd: a, received: Default::default() }, Channel { fd: b, received: Default::default() }))
}

/// Largest message (an error text) we send.
const MAX: usize = 8192;

/// Most descriptors one message carries (a v1 host mounts about a dozen
/// hierarchies).
pub const MAX_FDS: usize = 32;

impl Channel {
    /// The socket descriptor (a forked child closes the parent's end).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    /// Send a message.
    pub fn send(&self, m: &Msg) -> Result<()> {
        let mut b = m.encode();
        b.truncate(MAX);
        // SAFETY: b is a valid buffer of b.len() bytes.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), b.as_ptr().cast(), b.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            return Err(Error::last("send to the other side of the sync socket"));
        }
        Ok(())
    }

    /// Send a message with a descriptor attached (SCM_RIGHTS).
    pub fn send_fd(&self, m: &Msg, fd: std::os::fd::BorrowedFd) -> Result<()> {
        self.send_fds(m, &[fd.as_raw_fd()])
    }

    /// Send a message with up to [`MAX_FDS`] descriptors attached.
    pub fn send_fds(&self, m: &Msg, fds: &[std::os::fd::RawFd]) -> Result<()> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
        let b = m.encode();
        let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &[ControlMessage::ScmRights(fds)] };
        sendmsg::<UnixAddr>(self.fd.as_raw_fd(), &[std::io::IoSlice::new(&b)], cmsgs, MsgFlags::MSG_NOSIGNAL, None)
            .map_err(|e| Error::errno("send descriptors over the sync socket", e))?;
        Ok(())
    }

    /// The (first) descriptor that came with the last message, if any.
    pub fn take_fd(&self) -> Option<OwnedFd> {
        let mut r = self.received.borrow_mut();
        (!r.is_empty()).then(|| r.remove(0))
    }

    /// Every descriptor that came with the last message.
    pub fn take_fds(&self) -> Vec<OwnedFd> {
        std::mem::take(&mut *self.received.borrow_mut())
    }

    /// Send raw encoded bytes without blocking; for the logger, which must
    /// never stall the init. Returns false when the datagram did not go.
    pub fn send_log(fd: std::os::fd::RawFd, level: log::Level, text: &str) -> bool {
        let mut b = Msg::Log(level, text.to_string()).encode();
        b.truncate(MAX);
        // SAFETY: b is a valid buffer of b.len() bytes; fd is the caller's
        // socket (a failure is reported, not fatal).
        let n = unsafe { libc::send(fd, b.as_ptr().cast(), b.len(), libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
        n >= 0
    }

    /// Receive a message; None when the other side has closed (or died).
    /// A descriptor sent along is kept for [`Channel::take_fd`]. Log
    /// records ([`Msg::Log`]) are written to the runtime's log here and not
    /// returned.
    pub fn recv(&self) -> Result<Option<Msg>> {
        loop {
            match self.recv_any()? {
                Some(Msg::Log(level, text)) => log::log!(level, "{text}"),
                m => return Ok(m),
            }
        }
    }

    fn recv_any(&self) -> Result<Option<Msg>> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
        let mut b = vec![0u8; MAX];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; MAX_FDS]);
        self.received.borrow_mut().clear();
        let mut reset_seen = false;
        loop {
            let mut iov = [std::io::IoSliceMut::new(&mut b)];
            let r = recvmsg::<UnixAddr>(self.fd.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC);
            let msg = match r {
                Err(nix::errno::Errno::EINTR) => continue,
                // A peer that exits with our messages unread leaves a reset
                // for us, reported once, ahead of what it sent before dying
                // (its error text, say): read on to get that.
                Err(nix::errno::Errno::ECONNRESET) if !reset_seen => {
                    reset_seen = true;
                    continue;
                }
                Err(e) => return Err(Error::errno("receive from the sync socket", e)),
                Ok(m) => m,
            };
            for c in msg.cmsgs().into_iter().flatten() {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    for fd in fds {
                        // SAFETY: the kernel just installed this descriptor for us alone.
                        self.received.borrow_mut().push(unsafe { OwnedFd::from_raw_fd(fd) });
                    }
                }
            }
            let n = msg.bytes;
            if n == 0 {
                return Ok(None);
            }
            return Msg::decode(&b[..n]).map(Some);
        }
    }

    /// Receive and require a specific message.
    pub fn expect(&self, want: Msg) -> Result<()> {
        match self.recv()? {
            Some(m) if m == want => Ok(()),
            Some(Msg::Error(e)) => Err(Error::msg(e)),
            Some(m) => Err(Error::msg(format!("expected {want:?}, got {m:?} on the sync socket"))),
            None => Err(Error::msg(format!("the other side closed the sync socket while we waited for {want:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let (a, b) = pair().unwrap();
        for m in [Msg::Go, Msg::BindSources, Msg::NeedHooks, Msg::HooksDone, Msg::Ready, Msg::Listener, Msg::Error("mount x: EPERM".into())] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), Some(m));
        }
        // Log records are consumed by recv (and logged), never returned.
        assert!(Channel::send_log(a.raw_fd(), log::Level::Warn, "ignoring CAP_X"));
        a.send(&Msg::Ready).unwrap();
        assert_eq!(b.recv().unwrap(), Some(Msg::Ready));
        for l in [log::Level::Error, log::Level::Warn, log::Level::Debug] {
            let m = Msg::Log(l, "t".into());
            assert_eq!(Msg::decode(&m.encode()).unwrap(), m);
        }
        let f = std::fs::File::open("/proc/self/status").unwrap();
        a.send_fd(&Msg::Listener, std::os::fd::AsFd::as_fd(&f)).unwrap();
        assert_eq!(b.recv().unwrap(), Some(Msg::Listener));
        assert!(b.take_fd().is_some() && b.take_fd().is_none());
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }

    /// An init that fails with the parent's message unread: its error text
    /// still reaches the parent, not "Connection reset by peer".
    #[test]
    fn last_words_survive_a_reset() {
        let (parent, init) = pair().unwrap();
        parent.send(&Msg::HooksDone).unwrap();
        init.send(&Msg::Error("mount devpts on /dev/pts: Read-only file system".into())).unwrap();
        drop(init);
        assert_eq!(parent.recv().unwrap(), Some(Msg::Error("mount devpts on /dev/pts: Read-only file system".into())));
        assert_eq!(parent.recv().unwrap(), None);
    }
}
