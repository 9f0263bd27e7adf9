//! Signal names and numbers, for `kill` and for forwarding in `run`.

use crate::error::{Error, Result};

/// Signal names (without the SIG prefix) and numbers on Linux.
pub const TABLE: &[(&str, libc::c_int)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// The kernel's real-time signal range (glibc reserves the lowest few, but
/// a container's processes see the kernel's numbering).
const RTMIN: libc::c_int = 34;
const RTMAX: libc::c_int = 64;

/// Parse "KILL", "SIGKILL", "sigkill", "9", "RTMIN+3" or "SIGRTMAX-1".
/// "0" is the null signal of kill(2): it probes the process (runc's `kill
/// ID 0` does the same); only the number spells it, as with runc.
pub fn parse(s: &str) -> Result<libc::c_int> {
    let bad = || Error::msg(format!("unknown signal {s:?}"));
    if let Ok(n) = s.parse::<libc::c_int>() {
        return if (0..=RTMAX).contains(&n) { Ok(n) } else { Err(bad()) };
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(&(_, n)) = TABLE.iter().find(|(k, _)| *k == name) {
        return Ok(n);
    }
    let rt = |base: libc::c_int, rest: &str| -> Result<libc::c_int> {
        let n = if rest.is_empty() {
            base
        } else if let Some(off) = rest.strip_prefix('+') {
            base + off.parse::<libc::c_int>().map_err(|_| bad())?
        } else if let Some(off) = rest.strip_prefix('-') {
            base - off.parse::<libc::c_int>().map_err(|_| bad())?
        } else {
            return Err(bad());
        };
        if (RTMIN..=RTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        }
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt(RTMIN, rest);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return rt(RTMAX, rest);
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        for s in ["KILL", "SIGKILL", "sigkill", "9", "Kill"] {
            assert_eq!(parse(s).unwrap(), 9, "{s}");
        }
        assert_eq!(parse("TERM").unwrap(), 15);
        assert_eq!(parse("0").unwrap(), 0);
        assert_eq!(parse("SIGRTMIN+2").unwrap(), 36);
        assert_eq!(parse("RTMAX-1").unwrap(), 63);
        for s in ["", "SIG0", "-1", "65", "FOO", "SIGRTMIN+40", "RTMIN*2"] {
            assert!(parse(s).is_err(), "{s}");
        }
    }
}
