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

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Exit callback run on the reaper thread with the exit code.
type Watcher = Box<dyn FnOnce(u32) + Send>;

/// At most this many unclaimed exits are kept (orphans we never asked about).
const MAX_PARKED: usize = 4096;

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
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it, and
    // pthread_sigmask only reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
    }
    Ok(())
}

impl Reaper {
    /// Starts the reaper thread. SIGCHLD must already be blocked (see
    /// [`block_sigchld`]).
    pub fn start() -> Arc<Reaper> {
        let reaper = Arc::new(Reaper::default());
        let r = reaper.clone();
        std::thread::Builder::new()
            .name("reaper".into())
            .stack_size(64 * 1024)
            .spawn(move || r.run())
            .expect("spawn reaper thread");
        reaper
    }

    fn run(&self) {
        // SAFETY: as in block_sigchld, the set is initialised before use.
        let set = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGCHLD);
            set
        };
        loop {
            self.reap_all();
            let mut sig = 0;
            // SAFETY: set is a valid signal set and sig a valid out pointer.
            unsafe { libc::sigwait(&set, &mut sig) };
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
