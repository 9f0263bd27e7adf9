//! The `seccomp(2)` side: probing which filter flags this kernel knows, and
//! loading a compiled [`Filter`].

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::OnceLock;

use super::Filter;
use crate::error::{Error, Result};

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`.
///
/// # Safety
/// `prog` must be null or point to a valid `sock_fprog` whose program
/// outlives the call.
unsafe fn set_mode_filter(flags: libc::c_ulong, prog: *const libc::sock_fprog) -> libc::c_long {
    // SAFETY: forwarded from the caller; the kernel copies the program.
    unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags, prog) }
}

/// Whether the kernel accepts `bit` (one `SECCOMP_FILTER_FLAG_*`). Asked the
/// way libseccomp asks: with a null program a known flag fails with EFAULT
/// (the copy of the program), an unknown one with EINVAL. Needs no privilege
/// and installs nothing. Answers are cached for the process.
pub(super) fn flag_supported(bit: libc::c_ulong) -> bool {
    static CACHE: OnceLock<libc::c_ulong> = OnceLock::new();
    let all = *CACHE.get_or_init(|| {
        let mut ok = 0;
        for b in 0..8 {
            let bit: libc::c_ulong = 1 << b;
            // The kernel takes WAIT_KILLABLE_RECV only together with NEW_LISTENER.
            let probe = if bit == libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV { bit | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER } else { bit };
            // SAFETY: a null program is allowed; the kernel fails before using it.
            let rc = unsafe { set_mode_filter(probe, std::ptr::null()) };
            if rc < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT) {
                ok |= bit;
            }
        }
        ok
    });
    all & bit == bit
}

/// The kernel refuses TSYNC with NEW_LISTENER, because a TSYNC failure
/// returns a thread id where the listener fd should be, unless
/// TSYNC_ESRCH (Linux 5.7) turns that failure into ESRCH. Add it when the
/// kernel has it; otherwise drop TSYNC, which changes nothing for Berth's
/// init (it is single-threaded when it loads the filter).
pub(super) fn fix_tsync_with_listener(flags: libc::c_ulong) -> libc::c_ulong {
    if flags & libc::SECCOMP_FILTER_FLAG_TSYNC == 0 {
        return flags;
    }
    if flag_supported(libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH) {
        flags | libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH
    } else {
        log::debug!("seccomp: TSYNC dropped: this kernel cannot combine it with a notify listener");
        flags & !libc::SECCOMP_FILTER_FLAG_TSYNC
    }
}

/// Load the filter into the calling thread (and, with TSYNC, its siblings).
/// The kernel requires no_new_privs or CAP_SYS_ADMIN. Returns the notify
/// listener fd (close-on-exec) when a rule uses `SCMP_ACT_NOTIFY`.
///
/// One syscall and no allocation on success, so it can run as the very
/// last step before exec.
pub fn load(f: &Filter) -> Result<Option<OwnedFd>> {
    let prog = libc::sock_fprog {
        // build() keeps the program within BPF_MAXINSNS, which fits in u16.
        len: f.program.len() as libc::c_ushort,
        filter: f.program.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` points into `f.program`, which lives across the call;
    // the kernel only reads it.
    let rc = unsafe { set_mode_filter(f.flags, &prog) };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        let step = if err.raw_os_error() == Some(libc::EACCES) {
            "load the seccomp filter (the kernel requires no_new_privs or CAP_SYS_ADMIN)"
        } else {
            "load the seccomp filter"
        };
        return Err(Error::os(step, err).field("linux.seccomp"));
    }
    if f.flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
        // SAFETY: with NEW_LISTENER the kernel returns a new fd we now own.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(rc as libc::c_int) }));
    }
    if rc > 0 {
        // With TSYNC (and no TSYNC_ESRCH) a positive return is the id of a
        // thread that could not be synchronised: the filter was not loaded.
        return Err(Error::msg(format!("load the seccomp filter: thread {rc} could not be synchronised (TSYNC)")).field("linux.seccomp.flags"));
    }
    Ok(None)
}
