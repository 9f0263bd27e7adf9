//! Commands and processes of a test: ids unique to this test process,
//! running a command with a timeout, stopping a child, finding processes by
//! command line and killing them by pid, and a command's output as text.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A unique id for a container of this test process.
pub fn unique_id(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("bit-{}-{}-{tag}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// Runs a command, killing it (by pid) after `timeout`.
pub fn run_timeout(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => panic!("spawn {cmd:?}: {e}"),
    };
    let (mut so, mut se) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: t_out.join().unwrap_or_default(), stderr: t_err.join().unwrap_or_default() }
}

/// Sends SIGTERM to `child`, waits up to `grace` for it, then SIGKILLs it.
pub fn stop_child(child: &mut Child, grace: Duration) {
    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Pids of processes whose command line's first word ends with `binary`
/// and which mention `needle` in some argument.
pub fn pids_matching(binary: &str, needle: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).to_string()).collect();
        if args.first().is_some_and(|a| a.ends_with(binary)) && args.iter().any(|a| a.contains(needle)) {
            pids.push(pid);
        }
    }
    pids
}

/// Sends SIGKILL to each pid (processes this test started, found by
/// [`pids_matching`] on its private directory).
pub fn kill_pids(pids: &[i32]) {
    for &pid in pids {
        // SAFETY: kill(2) on a pid of a process this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Formats a command's output for assertion messages.
pub fn show(out: &Output) -> String {
    format!("status {:?}\nstdout: {}\nstderr: {}", out.status.code(), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A command's stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}
