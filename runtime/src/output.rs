//! What Berth prints on standard output for its caller (`state`, `list`,
//! `ps`, `events`, `spec`, `features`, `--version`).
//!
//! A caller may close the pipe early (`berth state x | head -1`). Berth
//! ignores SIGPIPE (see `main`), so such a write fails with EPIPE, and std's
//! `print!` would panic on it. Here the process instead ends the way runc's
//! does: killed by SIGPIPE, quietly, as any Unix filter.

use std::io::Write;

/// Write `text` to stdout and flush it. On EPIPE the process ends by
/// SIGPIPE; on any other write error it says so on stderr and exits 1.
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let res = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    match res {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => die_of_sigpipe(),
        Err(e) => {
            eprintln(&format!("berth: write to standard output: {e}"));
            std::process::exit(1);
        }
    }
}

/// [`print`] with a newline after `text`.
pub fn println(text: &str) {
    let mut s = String::with_capacity(text.len() + 1);
    s.push_str(text);
    s.push('\n');
    print(&s);
}

/// Write a line to stderr, ignoring failure: `eprintln!` panics when
/// stderr is a closed pipe, and there is nowhere else to report that.
pub fn eprintln(text: &str) {
    let mut s = String::with_capacity(text.len() + 1);
    s.push_str(text);
    s.push('\n');
    let _ = std::io::stderr().lock().write_all(s.as_bytes());
}

/// End the process by the default action of SIGPIPE.
fn die_of_sigpipe() -> ! {
    // SAFETY: restoring the default disposition and raising a signal run no
    // handler code of ours; _exit is the fallback should the signal be
    // blocked.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(libc::SIGPIPE);
        libc::_exit(128 + libc::SIGPIPE)
    }
}
