//! Process attributes, capabilities and the console, applied for real in a
//! forked child (these change the calling process for good, so never in the
//! test process itself). Needs root; skipped otherwise.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use berth::{capabilities, console, process, rlimits};
use oci_spec::runtime::{LinuxCapabilities, PosixRlimit, User};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipped: needs root");
    }
    root
}

/// Run `f` in a forked child; its error (or panic) text comes back over a
/// pipe, since the child's output capture is lost with the child.
fn in_child(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh descriptors we own.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the child only runs `f` and then _exits; glibc keeps malloc
    // usable across fork.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        drop(r);
        // Move the report pipe out of the low numbers the tests overwrite.
        // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor we then own.
        let w = unsafe { OwnedFd::from_raw_fd(libc::fcntl(w.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 200)) };
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .unwrap_or_else(|p| Err(format!("panic: {:?}", p.downcast_ref::<String>().map(String::as_str).or(p.downcast_ref::<&str>().copied()))));
        let code = match res {
            Ok(()) => 0,
            Err(msg) => {
                // SAFETY: writing a live buffer to our own pipe.
                unsafe { libc::write(w.as_raw_fd(), msg.as_ptr().cast(), msg.len()) };
                1
            }
        };
        // SAFETY: _exit skips the test harness's exit handlers, which
        // belong to the parent.
        unsafe { libc::_exit(code) };
    }
    drop(w);
    let mut msg = String::new();
    std::fs::File::from(r).read_to_string(&mut msg).unwrap();
    let mut status = 0;
    // SAFETY: waiting for our own child; `status` is writable.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else {
        Err(format!("child failed (status {status:#x}): {msg}"))
    }
}

/// A line of /proc/self/status, e.g. status("CapEff").
fn status(key: &str) -> String {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines().find_map(|l| l.strip_prefix(&format!("{key}:"))).map(|v| v.split_whitespace().collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

fn check<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

fn json<T: serde::de::DeserializeOwned>(s: &str) -> T {
    serde_json::from_str(s).unwrap()
}

#[test]
fn rlimits_are_set_and_errors_name_the_field() {
    if !is_root() {
        return;
    }
    in_child(|| {
        let limits: Vec<PosixRlimit> = json(r#"[{"type":"RLIMIT_NOFILE","soft":1024,"hard":2048},{"type":"RLIMIT_CORE","soft":0,"hard":0}]"#);
        rlimits::set_rlimits(&limits).map_err(|e| e.to_string())?;
        let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: `r` is writable.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
        check("nofile", (r.rlim_cur, r.rlim_max), (1024, 2048))?;
        // SAFETY: as above.
        unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut r) };
        check("core", (r.rlim_cur, r.rlim_max), (0, 0))?;

        // Raising a hard limit needs CAP_SYS_RESOURCE: drop it so the
        // failure is the same on every host.
        caps::drop(None, caps::CapSet::Effective, caps::Capability::CAP_SYS_RESOURCE).map_err(|e| e.to_string())?;
        let too_high: Vec<PosixRlimit> = json(r#"[{"type":"RLIMIT_NOFILE","soft":30000,"hard":30000}]"#);
        let err = rlimits::set_rlimits(&too_high).unwrap_err().to_string();
        check("error", err.as_str(), "set RLIMIT_NOFILE to soft 30000 hard 30000 (process.rlimits[0]): Operation not permitted")
    })
    .unwrap();
}

#[test]
fn user_groups_and_capabilities() {
    if !is_root() {
        return;
    }
    in_child(|| {
        let caps: LinuxCapabilities = json(
            r#"{"bounding":["CAP_CHOWN","CAP_KILL","CAP_NET_BIND_SERVICE","CAP_SYS_RESOURCE"],
                "effective":["CAP_KILL","CAP_NET_BIND_SERVICE","CAP_SYS_RESOURCE"],
                "permitted":["CAP_KILL","CAP_NET_BIND_SERVICE","CAP_SYS_RESOURCE"],
                "inheritable":["CAP_KILL","CAP_NET_BIND_SERVICE"],
                "ambient":["CAP_NET_BIND_SERVICE"]}"#,
        );
        let user: User = json(r#"{"uid":1000,"gid":1000,"umask":63,"additionalGids":[10,20]}"#);
        let e = |e: berth::error::Error| e.to_string();
        // A capability the runtime itself lacks (as this host's root lacks
        // CAP_SYS_RESOURCE) is skipped with a warning, not an error.
        use caps::{CapSet, Capability::CAP_SYS_RESOURCE};
        for set in [CapSet::Bounding, CapSet::Effective, CapSet::Permitted] {
            caps::drop(None, set, CAP_SYS_RESOURCE).map_err(|e| e.to_string())?;
        }
        capabilities::apply_bounding(Some(&caps)).map_err(e)?;
        process::set_keep_caps(true).map_err(e)?;
        process::set_user(&user, true).map_err(e)?;
        process::set_keep_caps(false).map_err(e)?;
        capabilities::apply(Some(&caps)).map_err(e)?;
        process::set_umask(&user);

        check("CapBnd", status("CapBnd"), format!("{:016x}", 1 << 0 | 1 << 5 | 1 << 10))?;
        check("CapEff", status("CapEff"), format!("{:016x}", 1 << 5 | 1 << 10))?;
        check("CapPrm", status("CapPrm"), format!("{:016x}", 1 << 5 | 1 << 10))?;
        check("CapInh", status("CapInh"), format!("{:016x}", 1 << 5 | 1 << 10))?;
        check("CapAmb", status("CapAmb"), format!("{:016x}", 1 << 10))?;
        check("Uid", status("Uid"), "1000 1000 1000 1000".to_string())?;
        check("Gid", status("Gid"), "1000 1000 1000 1000".to_string())?;
        check("Groups", status("Groups"), "10 20".to_string())?;
        // SAFETY: umask has no preconditions; set it back to read it.
        let mask = unsafe { libc::umask(0o022) };
        check("umask", mask, 0o077)
    })
    .unwrap();
}

#[test]
fn no_capabilities_object_drops_everything() {
    if !is_root() {
        return;
    }
    in_child(|| {
        capabilities::apply_bounding(None).map_err(|e| e.to_string())?;
        capabilities::apply(None).map_err(|e| e.to_string())?;
        for key in ["CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"] {
            check(key, status(key), "0000000000000000".to_string())?;
        }
        Ok(())
    })
    .unwrap();
}

/// config.md "capabilities": what cannot be granted is a warning, not a
/// failure. An ambient capability missing from inheritable is left out;
/// the others are applied.
#[test]
fn ambient_outside_inheritable_is_left_out() {
    if !is_root() {
        return;
    }
    in_child(|| {
        let caps: LinuxCapabilities = json(r#"{"bounding":["CAP_KILL"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"],"ambient":["CAP_KILL"]}"#);
        capabilities::apply(Some(&caps)).map_err(|e| e.to_string())?;
        check("CapEff", status("CapEff"), "0000000000000020".to_string())?;
        check("CapAmb", status("CapAmb"), "0000000000000000".to_string())
    })
    .unwrap();
}

#[test]
fn setgroups_denied_refuses_additional_gids() {
    if !is_root() {
        return;
    }
    in_child(|| {
        let user: User = json(r#"{"uid":0,"gid":0,"additionalGids":[10]}"#);
        let err = process::set_user(&user, false).unwrap_err().to_string();
        check("error", err.as_str(), "set additional groups [10]: setgroups is denied in this user namespace (process.user.additionalGids)")
    })
    .unwrap();
}

#[test]
fn nnp_oom_personality_scheduler_ioprio_fds() {
    if !is_root() {
        return;
    }
    in_child(|| {
        let e = |e: berth::error::Error| e.to_string();

        process::set_no_new_privs().map_err(e)?;
        // SAFETY: PR_GET_NO_NEW_PRIVS takes no pointers.
        check("no_new_privs", unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) }, 1)?;

        // Raising is always allowed; lowering would need CAP_SYS_RESOURCE.
        let cur: i32 = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap().trim().parse().unwrap();
        let want = (cur + 100).min(1000);
        process::set_oom_score_adj(want).map_err(e)?;
        let got: i32 = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap().trim().parse().unwrap();
        check("oom_score_adj", got, want)?;

        process::set_personality(&json(r#"{"domain":"LINUX32"}"#)).map_err(e)?;
        // SAFETY: 0xffffffff only queries the persona.
        check("personality", unsafe { libc::personality(0xffff_ffff) } & 0xff, 0x0008)?;

        process::set_scheduler(&json(r#"{"policy":"SCHED_BATCH","nice":5}"#)).map_err(e)?;
        // SAFETY: queries of our own scheduling state.
        check("policy", unsafe { libc::sched_getscheduler(0) }, libc::SCHED_BATCH)?;
        // SAFETY: as above.
        check("nice", unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }, 5)?;

        process::set_io_priority(&json(r#"{"class":"IOPRIO_CLASS_BE","priority":4}"#)).map_err(e)?;
        // SAFETY: ioprio_get takes integers only.
        check("ioprio", unsafe { libc::syscall(libc::SYS_ioprio_get, 1, 0) }, 2 << 13 | 4)?;

        // fds 3 and 4 stay open across exec, 5 and up do not.
        let null = std::fs::File::open("/dev/null").unwrap();
        // Above the range under test, whatever number open picked.
        // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor we then own.
        let null = unsafe { OwnedFd::from_raw_fd(libc::fcntl(null.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 100)) };
        for fd in 3..=6 {
            // SAFETY: dup3 onto descriptors this test owns in the child.
            unsafe { libc::dup3(null.as_raw_fd(), fd, libc::O_CLOEXEC) };
        }
        process::prepare_fds(2).map_err(e)?;
        for (fd, cloexec) in [(3, false), (4, false), (5, true), (6, true), (null.as_raw_fd(), true)] {
            // SAFETY: F_GETFD reads a descriptor flag.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            check(&format!("fd {fd} close-on-exec"), flags & libc::FD_CLOEXEC != 0, cloexec)?;
        }
        Ok(())
    })
    .unwrap();
}

#[test]
fn exec_reports_a_missing_program() {
    if !is_root() {
        return;
    }
    in_child(|| {
        let err = process::exec(c"/nonexistent/prog", &["prog".into()], &[]);
        check("error", err.to_string().as_str(), "exec /nonexistent/prog: No such file or directory")
    })
    .unwrap();
}

#[test]
fn console_master_reaches_the_socket() {
    if !is_root() {
        return;
    }
    let mut sv = [0; 2];
    // SAFETY: `sv` has room for the two descriptors socketpair writes.
    let rc = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) };
    assert_eq!(rc, 0);
    // SAFETY: fresh descriptors we own.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) };

    let child = std::thread::scope(|s| {
        let ours = &ours;
        // The master is handed back rather than closed here: closing it
        // hangs up the terminal, and SIGHUP would kill the child.
        let parent = s.spawn(move || -> Result<OwnedFd, String> {
            let master = console::recv_fd(ours.as_fd()).map_err(|e| e.to_string())?;
            let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
            // SAFETY: TIOCGWINSZ writes one winsize into `ws`.
            unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
            check("size", (ws.ws_row, ws.ws_col), (24, 80))?;
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            while !got.ends_with(b"hello") {
                // SAFETY: reading into a live buffer of the given length.
                let n = unsafe { libc::read(master.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n as usize]);
            }
            // Let the child exit only now, so the slave outlives our read.
            // SAFETY: writing one byte from a live buffer.
            unsafe { libc::write(ours.as_raw_fd(), b"x".as_ptr().cast(), 1) };
            check("read", String::from_utf8_lossy(&got).into_owned(), "hello".to_string())?;
            Ok(master)
        });
        let child = in_child(|| {
            let slave = console::create_pty(theirs.as_fd(), Some((24, 80))).map_err(|e| e.to_string())?;
            console::make_controlling(slave.as_fd()).map_err(|e| e.to_string())?;
            // Only a process with a controlling terminal can open /dev/tty.
            std::fs::File::open("/dev/tty").map_err(|e| format!("open /dev/tty: {e}"))?;
            // SAFETY: writing a live buffer to fd 1, now the terminal.
            unsafe { libc::write(1, b"hello".as_ptr().cast(), 5) };
            let mut b = [0u8; 1];
            // SAFETY: reading one byte into a live buffer.
            unsafe { libc::read(theirs.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
            Ok(())
        });
        let master = parent.join().unwrap().unwrap();
        (child, master)
    });
    child.0.unwrap();
}

#[test]
fn console_socket_path_longer_than_sun_path() {
    use nix::sys::socket::{accept, bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};
    let base = std::env::temp_dir().join(format!("berth-procattrs-console-{}", std::process::id()));
    let dir = base.join("d".repeat(120));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("console.sock");
    assert!(path.as_os_str().len() > 108);

    let listener = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
    // Bind through the directory's fd: the full path does not fit sun_path.
    let dirfd = std::fs::File::open(&dir).unwrap();
    let short = format!("/proc/self/fd/{}/console.sock", dirfd.as_raw_fd());
    bind(listener.as_raw_fd(), &UnixAddr::new(short.as_str()).unwrap()).unwrap();
    listen(&listener, Backlog::new(1).unwrap()).unwrap();

    let res = console::connect_socket(&path).map(|conn| {
        // SAFETY: accept returned a fresh connected descriptor we own.
        let accepted = unsafe { OwnedFd::from_raw_fd(accept(listener.as_raw_fd()).unwrap()) };
        drop((conn, accepted));
    });
    std::fs::remove_dir_all(&base).unwrap();
    res.unwrap();
}
