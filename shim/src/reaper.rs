//! Child reaping for a subreaper.
//!
//! The shim is a child subreaper: every process it starts (runtime CLI calls)
//! and every container init (orphaned to us when `berth create` exits) ends up
//! reaped here. One thread waits for SIGCHLD and reaps everything with
//! `waitpid(-1, WNOHANG)`; nobody else may call `waitpid`, so a runtime call
//! and a container exit can never steal each other's status.
//!
//! An exit that nobody is waiting for yet is parked, so a process that exits
//! before its pid is even known (an init that dies right after `create`) is
//! never lost.
//!
//! The reaper thread is an epoll loop: SIGCHLD arrives through a signalfd,
//! and the same loop serves the containers' OOM notifications
//! ([`crate::oom`]), so neither costs a thread of its own.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Exit callback run on the reaper thread with the exit code.
type Watcher = Box<dyn FnOnce(u32) + Send>;

/// At most this many unclaimed exits are kept (orphans we never asked about).
const MAX_PARKED: usize = 4096;

/// OOM callback run on the reaper thread.
type OomHandler = Box<dyn Fn() + Send>;

/// epoll data of the signalfd (OOM watches use their fd number).
const SIGNAL_TOKEN: u64 = u64::MAX;

#[derive(Default)]
struct Inner {
    parked: HashMap<i32, u32>,
    watchers: HashMap<i32, Watcher>,
}

/// The shim's single reaper.
#[derive(Default)]
pub struct Reaper {
    inner: Mutex<Inner>,
    cond: Condvar,
    /// The loop's epoll instance (set by [`Reaper::start`]).
    epoll: OnceLock<OwnedFd>,
    /// OOM watches by key (container id): the watch and its handler.
    ooms: Mutex<HashMap<String, (crate::oom::Watch, OomHandler)>>,
}

fn sigchld_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        set
    }
}

fn epoll_add(epfd: RawFd, fd: RawFd, token: u64) -> std::io::Result<()> {
    let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: token };
    // SAFETY: epfd is our epoll instance, fd an open descriptor, ev valid.
    if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Turns a `waitpid` status into the code containerd reports: the exit code,
/// or 128 + signal number for a process killed by a signal.
pub fn exit_code(status: i32) -> u32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status) as u32
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status) as u32
    } else {
        255
    }
}

/// Blocks SIGCHLD in the calling thread. Call it in `main` before any other
/// thread exists, so that every thread inherits the mask and only the reaper
/// thread's `sigwait` ever sees the signal.
pub fn block_sigchld() -> std::io::Result<()> {
    let set = sigchld_set();
    // SAFETY: pthread_sigmask only reads the initialised set.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

impl Reaper {
    /// Starts the reaper thread. SIGCHLD must already be blocked (see
    /// [`block_sigchld`]).
    pub fn start() -> std::io::Result<Arc<Reaper>> {
        let reaper = Arc::new(Reaper::default());
        // SAFETY: epoll_create1 takes flags and returns a new fd or -1.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: epoll_create1 just returned this fd; nothing else owns it.
        let ep = unsafe { OwnedFd::from_raw_fd(ep) };
        let set = sigchld_set();
        // SAFETY: -1 asks for a new signalfd for the initialised set.
        let sfd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
        if sfd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: signalfd just returned this fd; nothing else owns it.
        let sfd = unsafe { OwnedFd::from_raw_fd(sfd) };
        epoll_add(ep.as_raw_fd(), sfd.as_raw_fd(), SIGNAL_TOKEN)?;
        let _ = reaper.epoll.set(ep);
        let r = reaper.clone();
        std::thread::Builder::new().name("reaper".into()).stack_size(64 * 1024).spawn(move || r.run(sfd))?;
        Ok(reaper)
    }

    fn run(&self, sfd: OwnedFd) {
        let ep = self.epoll.get().expect("epoll set before the loop starts").as_raw_fd();
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 16];
        loop {
            self.reap_all();
            // SAFETY: evs is a valid array of the stated length.
            let n = unsafe { libc::epoll_wait(ep, evs.as_mut_ptr(), evs.len() as i32, -1) };
            if n < 0 {
                continue; // EINTR
            }
            // OOM first: an OOM kill's notification and the victim's SIGCHLD
            // often come in the same wake-up, and TaskOOM belongs before TaskExit.
            let mut signalled = false;
            for ev in &evs[..n as usize] {
                match ev.u64 {
                    SIGNAL_TOKEN => signalled = true,
                    fd => self.oom_ready(fd as RawFd),
                }
            }
            if signalled {
                let mut buf = [0u8; 128 * 8];
                // SAFETY: reads into a local buffer from our nonblocking signalfd.
                while unsafe { libc::read(sfd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
            }
        }
    }

    /// Calls `on_oom` on the reaper thread whenever `cgroup` reports an OOM,
    /// until [`Reaper::unwatch_oom`] with the same `key` (or the cgroup goes).
    pub fn watch_oom(&self, key: &str, cgroup: crate::oom::MemCgroup, on_oom: impl Fn() + Send + 'static) -> Result<(), String> {
        let ep = self.epoll.get().ok_or("the reaper loop is not running")?;
        let w = crate::oom::Watch::register(cgroup)?;
        let fd = w.raw_fd();
        let mut ooms = self.ooms.lock().unwrap();
        epoll_add(ep.as_raw_fd(), fd, fd as u64).map_err(|e| format!("epoll add: {e}"))?;
        if let Some((old, _)) = ooms.insert(key.to_string(), (w, Box::new(on_oom))) {
            self.forget(&old);
        }
        Ok(())
    }

    /// Stops the OOM watch `key` (no-op if there is none).
    pub fn unwatch_oom(&self, key: &str) {
        if let Some((w, _)) = self.ooms.lock().unwrap().remove(key) {
            self.forget(&w);
        }
    }

    fn forget(&self, w: &crate::oom::Watch) {
        if let Some(ep) = self.epoll.get() {
            // SAFETY: removes an fd we added; the event pointer may be null.
            unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_DEL, w.raw_fd(), std::ptr::null_mut()) };
        }
    }

    fn oom_ready(&self, fd: RawFd) {
        let mut ooms = self.ooms.lock().unwrap();
        let Some(key) = ooms.iter().find(|(_, (w, _))| w.raw_fd() == fd).map(|(k, _)| k.clone()) else {
            return;
        };
        let (w, on_oom) = ooms.get_mut(&key).unwrap();
        match w.check() {
            crate::oom::Wake::Oom => on_oom(),
            crate::oom::Wake::Nothing => {}
            crate::oom::Wake::Gone => {
                if let Some((w, _)) = ooms.remove(&key) {
                    self.forget(&w);
                }
            }
        }
    }

    fn reap_all(&self) {
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes only to `status`.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                return;
            }
            self.deliver(pid, exit_code(status));
        }
    }

    /// Hands an exit to its watcher, or parks it.
    fn deliver(&self, pid: i32, code: u32) {
        let watcher = {
            let mut inner = self.inner.lock().unwrap();
            match inner.watchers.remove(&pid) {
                Some(w) => Some(w),
                None => {
                    if inner.parked.len() >= MAX_PARKED {
                        inner.parked.clear();
                    }
                    inner.parked.insert(pid, code);
                    None
                }
            }
        };
        match watcher {
            Some(w) => w(code),
            None => self.cond.notify_all(),
        }
    }

    /// Runs `f` with the exit code of `pid` once it exits (at once, on the
    /// calling thread, if it already has).
    pub fn watch(&self, pid: i32, f: impl FnOnce(u32) + Send + 'static) {
        let parked = {
            let mut inner = self.inner.lock().unwrap();
            match inner.parked.remove(&pid) {
                Some(code) => Some(code),
                None => {
                    inner.watchers.insert(pid, Box::new(f));
                    return;
                }
            }
        };
        if let Some(code) = parked {
            f(code);
        }
    }

    /// Waits for a child we spawned to exit and returns its exit code, or
    /// `None` after `timeout`.
    pub fn wait(&self, pid: i32, timeout: Duration) -> Option<u32> {
        let deadline = Instant::now() + timeout;
        let mut inner = self.inner.lock().unwrap();
        loop {
            if let Some(code) = inner.parked.remove(&pid) {
                return Some(code);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            inner = self.cond.wait_timeout(inner, deadline - now).unwrap().0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        // Encoded as the kernel does: code << 8 for exit, signal number for a kill.
        assert_eq!(exit_code(7 << 8), 7);
        assert_eq!(exit_code(9), 137);
        assert_eq!(exit_code(15), 143);
    }

    #[test]
    fn parked_exit_reaches_a_late_watcher() {
        let r = Reaper::default();
        r.deliver(4242, 3);
        let (tx, rx) = std::sync::mpsc::channel();
        r.watch(4242, move |c| tx.send(c).unwrap());
        assert_eq!(rx.recv().unwrap(), 3);
    }

    #[test]
    fn watcher_gets_a_later_exit_and_wait_times_out() {
        let r = Reaper::default();
        let (tx, rx) = std::sync::mpsc::channel();
        r.watch(17, move |c| tx.send(c).unwrap());
        r.deliver(17, 0);
        assert_eq!(rx.recv().unwrap(), 0);
        assert_eq!(r.wait(18, Duration::from_millis(10)), None);
        r.deliver(18, 1);
        assert_eq!(r.wait(18, Duration::from_millis(10)), Some(1));
    }
}
