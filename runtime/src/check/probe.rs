//! What `berth check` learns by asking the kernel and running programs,
//! rather than by reading files: which syscalls exist, the libseccomp Berth
//! links, and what `criu` says. Behind the [`Probe`] trait so that the unit
//! tests replace it with fixed answers.
//!
//! A syscall is probed with arguments the kernel refuses before doing
//! anything (a zero-sized argument block, unknown flags, pid 0): ENOSYS
//! means the kernel (or a seccomp filter around us, as Docker's answers for
//! clone3) does not offer it; EPERM or EACCES that something refuses it to
//! this caller; any other error that it is there. No probe can create a
//! process, open a file, load a program or change a mount.

use std::path::Path;
use std::process::{Command, Stdio};

/// Whether a syscall is available to this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Avail {
    /// The kernel answered with an argument error: the syscall exists.
    Yes,
    /// ENOSYS: the kernel lacks it, or a seccomp filter hides it.
    No,
    /// EPERM or EACCES (the errno): refused to this caller (privileges, a
    /// seccomp filter or an LSM), so whether it exists is not known.
    Refused(i32),
}

/// The syscalls Berth relies on, or falls back from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syscalls {
    /// clone3 (Linux 5.3): the init is born in its cgroup2 directory.
    pub clone3: Avail,
    /// openat2 (Linux 5.6): every path in a rootfs is resolved inside it.
    pub openat2: Avail,
    /// open_tree, with move_mount (Linux 5.2): masked paths, bind sources
    /// of user-namespaced containers.
    pub open_tree: Avail,
    /// mount_setattr (Linux 5.12): read-only bits and recursive options.
    pub mount_setattr: Avail,
    /// pidfd_open (Linux 5.3): signals reach the init without a pid race.
    pub pidfd_open: Avail,
    /// bpf (Linux 3.18; cgroup device programs from 4.15): device rules on
    /// cgroup2.
    pub bpf: Avail,
}

impl Syscalls {
    /// Every syscall available: a modern kernel, for tests.
    pub const ALL: Syscalls =
        Syscalls { clone3: Avail::Yes, openat2: Avail::Yes, open_tree: Avail::Yes, mount_setattr: Avail::Yes, pidfd_open: Avail::Yes, bpf: Avail::Yes };
}

/// The output of a program [`Probe::run`] ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ran {
    /// It exited 0.
    pub success: bool,
    /// Its stdout, then its stderr.
    pub output: String,
}

/// The host facts that are not files.
pub trait Probe {
    /// Which syscalls this process may make.
    fn syscalls(&self) -> Syscalls;
    /// The version of the libseccomp Berth runs with, e.g. "2.5.4".
    fn libseccomp(&self) -> String;
    /// Run `program` with `args` (stdin from /dev/null) and collect its
    /// output; None if it could not be started at all.
    fn run(&self, program: &Path, args: &[&str]) -> Option<Ran>;
}

/// The real host.
pub struct HostProbe;

impl Probe for HostProbe {
    fn syscalls(&self) -> Syscalls {
        Syscalls {
            // SAFETY: a NULL argument block with size 0: clone3 refuses a
            // size below its first version (EINVAL) before reading it, so
            // no process is made.
            clone3: avail(unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) }),
            // SAFETY: NULL path and `how` with size 0: openat2 checks the
            // size (EINVAL) before reading either pointer.
            openat2: avail(unsafe { libc::syscall(libc::SYS_openat2, -1, std::ptr::null::<u8>(), std::ptr::null::<u8>(), 0usize) }),
            // SAFETY: every flag bit set: open_tree refuses unknown flags
            // (EINVAL) before it looks at the NULL path.
            open_tree: avail(unsafe { libc::syscall(libc::SYS_open_tree, -1, std::ptr::null::<u8>(), libc::c_uint::MAX) }),
            // SAFETY: unknown flags and a NULL attribute of size 0:
            // mount_setattr refuses both (EINVAL) before reading anything.
            mount_setattr: avail(unsafe {
                libc::syscall(libc::SYS_mount_setattr, -1, std::ptr::null::<u8>(), libc::c_uint::MAX, std::ptr::null::<u8>(), 0usize)
            }),
            // SAFETY: pid 0 is refused (EINVAL); no descriptor is made.
            pidfd_open: avail(unsafe { libc::syscall(libc::SYS_pidfd_open, 0, 0) }),
            // SAFETY: an unknown command with a NULL, zero-sized attribute:
            // bpf copies nothing and answers EINVAL for the command.
            bpf: avail(unsafe { libc::syscall(libc::SYS_bpf, -1, std::ptr::null::<u8>(), 0u32) }),
        }
    }

    fn libseccomp(&self) -> String {
        crate::seccomp::library_version()
    }

    fn run(&self, program: &Path, args: &[&str]) -> Option<Ran> {
        let out = Command::new(program).args(args).stdin(Stdio::null()).output().ok()?;
        let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
        output.push_str(&String::from_utf8_lossy(&out.stderr));
        Some(Ran { success: out.status.success(), output })
    }
}

/// A probe's return value as [`Avail`]. A probe that succeeded (it never
/// should) counts as present; its result is not a descriptor we own.
fn avail(ret: libc::c_long) -> Avail {
    if ret >= 0 {
        return Avail::Yes;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ENOSYS) => Avail::No,
        Some(e @ (libc::EPERM | libc::EACCES)) => Avail::Refused(e),
        _ => Avail::Yes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kernel release as (major, minor), from uname.
    fn kernel() -> (u32, u32) {
        let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        super::super::facts::kernel_version(&r).unwrap()
    }

    /// The probes agree with the running kernel's version (this project's
    /// hosts and guests run 6.x; as root, nothing is refused).
    #[test]
    fn probes_match_the_running_kernel() {
        let s = HostProbe.syscalls();
        let k = kernel();
        let root = euid() == 0;
        if k >= (5, 6) {
            assert_eq!(s.openat2, Avail::Yes);
            assert_eq!(s.open_tree, Avail::Yes);
            assert_eq!(s.pidfd_open, Avail::Yes);
            assert_eq!(s.clone3, Avail::Yes);
        }
        if k >= (5, 12) {
            assert_eq!(s.mount_setattr, Avail::Yes);
        }
        if root {
            assert_eq!(s.bpf, Avail::Yes);
        }
        assert_ne!(HostProbe.libseccomp(), "unknown");
    }

    #[test]
    fn run_collects_output_and_status() {
        let r = HostProbe.run(Path::new("/bin/sh"), &["-c", "echo out; echo err >&2; exit 3"]).unwrap();
        assert!(!r.success);
        assert_eq!(r.output, "out\nerr\n");
        assert!(HostProbe.run(Path::new("/nonexistent/criu"), &["--version"]).is_none());
    }

    fn euid() -> u32 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        super::super::facts::status_uid(&s).unwrap()
    }
}
