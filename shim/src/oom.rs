//! OOM notifications from a container's memory cgroup, without polling.
//!
//! - cgroup v1 (and hybrid hosts whose memory controller is on v1): an
//!   eventfd registered through `cgroup.event_control` on `memory.oom_control`;
//!   the kernel signals it on every OOM in the cgroup, and once more when the
//!   cgroup is removed (then `cgroup.event_control` is gone with it).
//! - cgroup v2: an inotify watch on `memory.events`; an OOM kill raises its
//!   `oom_kill` counter.
//!
//! The descriptors are watched by the reaper's epoll loop (see
//! [`crate::reaper`]), so OOM watching costs no thread.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// Where a process's memory cgroup lives, and which interface it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemCgroup {
    /// A v1 memory controller directory.
    V1(PathBuf),
    /// A v2 cgroup directory with the memory controller enabled.
    V2(PathBuf),
}

/// Finds the mount point of the v1 hierarchy carrying `controller`, or of the
/// v2 hierarchy when `controller` is `None`, from a mountinfo text.
fn mount_point(mountinfo: &str, controller: Option<&str>) -> Option<PathBuf> {
    for line in mountinfo.lines() {
        // ... mount point is field 5; after " - " come fstype, source, super options.
        let Some((pre, post)) = line.split_once(" - ") else { continue };
        let Some(mp) = pre.split(' ').nth(4) else { continue };
        let mut post = post.split(' ');
        let fstype = post.next().unwrap_or("");
        let opts = post.nth(1).unwrap_or("");
        match controller {
            Some(c) if fstype == "cgroup" && opts.split(',').any(|o| o == c) => return Some(mp.into()),
            None if fstype == "cgroup2" => return Some(mp.into()),
            _ => {}
        }
    }
    None
}

/// The memory cgroup of `pid` (as this process's mounts see it): the v1
/// memory controller if the host has one, else the v2 cgroup if it has
/// `memory.events`.
pub fn memory_cgroup_of(pid: u32) -> Option<MemCgroup> {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let mi = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    memory_cgroup_from(&cg, &mi)
}

fn memory_cgroup_from(cgroup: &str, mountinfo: &str) -> Option<MemCgroup> {
    let rel = |p: &str| p.trim_start_matches('/').to_string();
    for line in cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctls, path) = (f.next()?, f.next()?, f.next()?);
        if ctls.split(',').any(|c| c == "memory") {
            let dir = mount_point(mountinfo, Some("memory"))?.join(rel(path));
            return Some(MemCgroup::V1(dir));
        }
    }
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = mount_point(mountinfo, None)?.join(rel(path));
    dir.join("memory.events").exists().then_some(MemCgroup::V2(dir))
}

/// A registered OOM notification: the descriptor epoll watches, and what
/// [`Watch::check`] needs to tell an OOM from other wake-ups.
pub struct Watch {
    fd: OwnedFd,
    cgroup: MemCgroup,
    /// v1: memory.oom_control, which must stay open while registered.
    _ctl: Option<File>,
    /// v2: the last `oom_kill` count seen.
    seen: u64,
}

/// What a wake-up of a [`Watch`] meant.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    /// One or more OOM kills (or, on v1, OOM conditions).
    Oom,
    /// Nothing to report (a v2 `memory.events` change other than oom_kill).
    Nothing,
    /// The cgroup is gone: drop the watch.
    Gone,
}

fn oom_kills(dir: &Path) -> Option<u64> {
    let t = std::fs::read_to_string(dir.join("memory.events")).ok()?;
    t.lines().find_map(|l| l.strip_prefix("oom_kill ")).and_then(|v| v.trim().parse().ok())
}

impl Watch {
    /// Registers for OOM notifications on `cgroup`.
    pub fn register(cgroup: MemCgroup) -> Result<Watch, String> {
        match &cgroup {
            MemCgroup::V1(dir) => {
                let ctl_path = dir.join("memory.oom_control");
                let ctl = File::open(&ctl_path).map_err(|e| format!("open {}: {e}", ctl_path.display()))?;
                // SAFETY: eventfd takes two integers and returns a new fd or -1.
                let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
                if efd < 0 {
                    return Err(format!("eventfd: {}", std::io::Error::last_os_error()));
                }
                // SAFETY: eventfd just returned this fd; nothing else owns it.
                let fd = unsafe { OwnedFd::from_raw_fd(efd) };
                let reg = dir.join("cgroup.event_control");
                let line = format!("{} {}", fd.as_raw_fd(), ctl.as_raw_fd());
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&reg)
                    .and_then(|mut f| f.write_all(line.as_bytes()))
                    .map_err(|e| format!("register OOM eventfd in {}: {e}", reg.display()))?;
                Ok(Watch { fd, cgroup, _ctl: Some(ctl), seen: 0 })
            }
            MemCgroup::V2(dir) => {
                // SAFETY: inotify_init1 takes flags and returns a new fd or -1.
                let ifd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
                if ifd < 0 {
                    return Err(format!("inotify_init1: {}", std::io::Error::last_os_error()));
                }
                // SAFETY: inotify_init1 just returned this fd; nothing else owns it.
                let fd = unsafe { OwnedFd::from_raw_fd(ifd) };
                let events = dir.join("memory.events");
                let c = std::ffi::CString::new(events.as_os_str().as_encoded_bytes()).map_err(|_| format!("{}: NUL in path", events.display()))?;
                // SAFETY: fd is our inotify instance and c a valid C string.
                if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY) } < 0 {
                    return Err(format!("watch {}: {}", events.display(), std::io::Error::last_os_error()));
                }
                let seen = oom_kills(dir).unwrap_or(0);
                Ok(Watch { fd, cgroup, _ctl: None, seen })
            }
        }
    }

    /// The descriptor to poll for readability.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Consumes a wake-up and says what it meant.
    pub fn check(&mut self) -> Wake {
        let mut buf = [0u8; 4096];
        let mut ignored = false;
        loop {
            // SAFETY: reads into a local buffer of the stated length from our fd.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            if let MemCgroup::V2(_) = self.cgroup {
                // inotify_event: wd i32, mask u32, cookie u32, len u32, name.
                let mut off = 0usize;
                while off + 16 <= n as usize {
                    let mask = u32::from_ne_bytes(buf[off + 4..off + 8].try_into().unwrap());
                    let len = u32::from_ne_bytes(buf[off + 12..off + 16].try_into().unwrap()) as usize;
                    ignored |= mask & libc::IN_IGNORED != 0;
                    off += 16 + len;
                }
            }
        }
        match &self.cgroup {
            MemCgroup::V1(dir) => {
                if dir.join("cgroup.event_control").exists() {
                    Wake::Oom
                } else {
                    Wake::Gone
                }
            }
            MemCgroup::V2(dir) => {
                let now = oom_kills(dir);
                let fired = now.is_some_and(|n| n > self.seen);
                self.seen = now.unwrap_or(self.seen);
                if fired {
                    Wake::Oom
                } else if ignored || now.is_none() {
                    Wake::Gone
                } else {
                    Wake::Nothing
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MI: &str = "\
25 30 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
28 25 0:25 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
29 25 0:26 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 25 0:30 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn v1_memory_wins_on_hybrid_hosts() {
        let cg = "4:memory:/berth-test/a\n1:cpu:/berth-test/a\n0::/berth-test/a\n";
        assert_eq!(memory_cgroup_from(cg, MI), Some(MemCgroup::V1("/sys/fs/cgroup/memory/berth-test/a".into())));
        // No memory controller on v1 and no memory.events on v2: nothing to watch.
        assert_eq!(memory_cgroup_from("0::/no-such-berth-cgroup\n", MI), None);
    }

    #[test]
    fn mount_points() {
        assert_eq!(mount_point(MI, Some("cpu")), Some("/sys/fs/cgroup/cpu".into()));
        assert_eq!(mount_point(MI, None), Some("/sys/fs/cgroup/unified".into()));
        assert_eq!(mount_point(MI, Some("pids")), None);
    }
}
