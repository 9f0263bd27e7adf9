//! The seccomp module against the real kernel: a forked child sets
//! no_new_privs (so no privilege is needed), loads a filter built in the
//! parent, and reports what its syscalls returned through its exit code.
//! The NOTIFY test plays the seccomp agent in the parent.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth::seccomp::{build, load, send_listener, Filter};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Value};

/// Forked children do not mix with parallel tests.
static SERIAL: Mutex<()> = Mutex::new(());

fn filter(v: Value) -> Filter {
    let s: LinuxSeccomp = serde_json::from_value(v).unwrap();
    build(&s).unwrap()
}

fn profile(name: &str) -> LinuxSeccomp {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Fork; the child sets no_new_privs, loads `f`, runs `body` and exits with
/// its code (100 + step if loading failed). Returns the raw wait status.
fn run_child(f: &Filter, body: impl FnOnce(Option<OwnedFd>) -> i32) -> i32 {
    // SAFETY: the child runs only `body` and _exits; glibc keeps malloc
    // usable after fork and the tests are serialised.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let zero = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: plain syscalls in the single-threaded child: no core
        // files from SIGSYS, a watchdog against a hung test, then no_new_privs.
        let code = unsafe {
            libc::setrlimit(libc::RLIMIT_CORE, &zero);
            libc::alarm(10);
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                libc::_exit(101)
            }
            match load(f) {
                Ok(fd) => body(fd),
                Err(_) => 102,
            }
        };
        // SAFETY: ends the child without running the parent's atexit state.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is a valid out-pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    status
}

fn exit_code(status: i32) -> i32 {
    assert!(libc::WIFEXITED(status), "child killed by signal {}", libc::WTERMSIG(status));
    libc::WEXITSTATUS(status)
}

#[test]
fn errno_log_trace_actions_and_flags() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTSUP},
        {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["getppid"], "action": "SCMP_ACT_LOG"},
        {"names": ["getpgrp"], "action": "SCMP_ACT_TRACE", "errnoRet": 3}],
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"]}));
    let status = run_child(&f, |_| {
        // SAFETY: raw syscalls with valid NUL-terminated paths / buffers.
        unsafe {
            if libc::syscall(libc::SYS_mkdir, c"/tmp/berth-seccomp-never".as_ptr(), 0o700) != -1 || errno() != libc::EPERM {
                return 1;
            }
            if libc::syscall(libc::SYS_mkdirat, libc::AT_FDCWD, c"/tmp/berth-seccomp-never".as_ptr(), 0o700) != -1 || errno() != libc::EPERM {
                return 2;
            }
            let mut buf = [0u8; 256];
            if libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) != -1 || errno() != libc::ENOTSUP {
                return 3;
            }
            // ERRNO without errnoRet is EPERM.
            if libc::syscall(libc::SYS_rmdir, c"/tmp/berth-seccomp-never".as_ptr()) != -1 || errno() != libc::EPERM {
                return 4;
            }
            // LOG allows; TRACE with no tracer attached fails with ENOSYS.
            if libc::syscall(libc::SYS_getppid) <= 0 {
                return 6;
            }
            if libc::syscall(libc::SYS_getpgrp) != -1 || errno() != libc::ENOSYS {
                return 7;
            }
            // Everything else is allowed.
            if libc::syscall(libc::SYS_getpid) <= 0 {
                return 5;
            }
        }
        0
    });
    assert_eq!(exit_code(status), 0);
}

/// runc parity: under a restrictive default, a syscall newer than every
/// one the profile names answers ENOSYS (libc then falls back); an older
/// one the profile does not name gets the default action.
#[test]
fn syscalls_newer_than_the_profile_get_enosys() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let f = filter(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["exit", "exit_group", "rt_sigreturn", "getpid", "write"], "action": "SCMP_ACT_ALLOW"}]}));
    let status = run_child(&f, |_| {
        // SAFETY: argument-less syscalls and a pidfd_open of our own pid.
        unsafe {
            if libc::syscall(libc::SYS_getpid) <= 0 {
                return 1;
            }
            // Below exit_group (231 on x86_64) and not named: the default.
            if libc::syscall(libc::SYS_getppid) != -1 || errno() != libc::EPERM {
                return 2;
            }
            // Above it: ENOSYS, not EPERM.
            if libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) != -1 || errno() != libc::ENOSYS {
                return 3;
            }
        }
        0
    });
    assert_eq!(exit_code(status), 0);
}

#[test]
fn kill_and_trap_actions_end_the_child_with_sigsys() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for act in ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"] {
        let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["uname"], "action": act}]}));
        let status = run_child(&f, |_| {
            let mut u = std::mem::MaybeUninit::<libc::utsname>::uninit();
            // SAFETY: a valid out-pointer for uname.
            unsafe { libc::syscall(libc::SYS_uname, u.as_mut_ptr()) };
            0
        });
        assert!(libc::WIFSIGNALED(status), "{act}: child was not killed (status {status:#x})");
        assert_eq!(libc::WTERMSIG(status), libc::SIGSYS, "{act}");
    }
}

#[test]
fn argument_conditions_and_or_as_runc_does() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        // personality: one argument index twice, so runc's split applies
        // and the conditions OR (as one rule they could never both hold).
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV,
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 0x20000, "op": "SCMP_CMP_EQ"}]},
        // umask: anything but 022 refused.
        {"names": ["umask"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 0o22, "op": "SCMP_CMP_NE"}]},
        // socket(AF_UNIX, SOCK_DGRAM | any flags) refused: two arguments AND.
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EACCES,
         "args": [{"index": 0, "value": libc::AF_UNIX, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 0xf, "valueTwo": libc::SOCK_DGRAM, "op": "SCMP_CMP_MASKED_EQ"}]}]}));
    let status = run_child(&f, |_| {
        // SAFETY: raw syscalls with integer arguments; fds are closed.
        unsafe {
            if libc::syscall(libc::SYS_personality, 0xffff_ffffu64) < 0 {
                return 1;
            }
            for v in [8u64, 0x20000] {
                if libc::syscall(libc::SYS_personality, v) != -1 || errno() != libc::EXDEV {
                    return 2;
                }
            }
            if libc::syscall(libc::SYS_umask, 0o22) < 0 {
                return 3;
            }
            if libc::syscall(libc::SYS_umask, 0o77) != -1 || errno() != libc::EPERM {
                return 3;
            }
            let s = libc::syscall(libc::SYS_socket, libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
            if s != -1 || errno() != libc::EACCES {
                return 4;
            }
            for (dom, ty) in [(libc::AF_UNIX, libc::SOCK_STREAM), (libc::AF_INET, libc::SOCK_DGRAM)] {
                let s = libc::syscall(libc::SYS_socket, dom, ty, 0);
                if s < 0 {
                    return 5;
                }
                libc::close(s as i32);
            }
        }
        0
    });
    assert_eq!(exit_code(status), 0);
}

#[test]
fn docker_and_podman_profiles_run_busybox() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let busybox = ["/bin/busybox", "/usr/bin/busybox"].into_iter().find(|p| std::path::Path::new(p).exists());
    let Some(busybox) = busybox else {
        eprintln!("skipped: no busybox (apt-get install busybox-static)");
        return;
    };
    for name in ["docker-default.json", "podman-default.json"] {
        let t = Instant::now();
        let f = build(&profile(name)).unwrap();
        let built = t.elapsed();
        let prog = CString::new(busybox).unwrap();
        let script = c"mkdir -p /tmp/berth-seccomp-bb && ls / >/dev/null && rmdir /tmp/berth-seccomp-bb && unshare -n true 2>/dev/null; test $? -ne 0";
        let argv = [prog.as_ptr(), c"sh".as_ptr(), c"-c".as_ptr(), script.as_ptr(), std::ptr::null()];
        let status = run_child(&f, |_| {
            // SAFETY: argv is a NULL-terminated array of valid C strings.
            unsafe { libc::execv(prog.as_ptr(), argv.as_ptr()) };
            103
        });
        eprintln!("{name}: {} instructions, build {built:?}", f.instructions());
        // unshare needs CAP_SYS_ADMIN that these profiles refuse: the
        // script checks it failed, and everything else ran.
        assert_eq!(exit_code(status), 0, "{name}");
    }
}

/// Accept one connection within the deadline.
fn accept_within(l: &UnixListener, deadline: Instant) -> std::os::unix::net::UnixStream {
    l.set_nonblocking(true).unwrap();
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("no connection from the runtime: {e}"),
        }
    }
}

/// Wait for a notification on the listener, then receive it.
fn recv_notif(fd: RawFd) -> libc::seccomp_notif {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    assert_eq!(unsafe { libc::poll(&mut pfd, 1, 10_000) }, 1, "no notification within 10s");
    // SAFETY: the kernel wants a zeroed seccomp_notif; all-zero is valid for it.
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: NOTIF_RECV fills the struct `n` points to.
    let rc = unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) };
    assert_eq!(rc, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
    n
}

fn answer(fd: RawFd, id: u64, val: i64, error: i32) {
    let mut r = libc::seccomp_notif_resp { id, val, error, flags: 0 };
    // SAFETY: NOTIF_SEND reads the response `r` points to.
    let rc = unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut r) };
    assert_eq!(rc, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
}

#[test]
fn notify_sends_fd_and_state_to_the_agent_which_answers() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let sock = PathBuf::from(format!("/tmp/berth-seccomp-agent-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).unwrap();
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": sock, "listenerMetadata": "MKDIR=answer",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [{"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_NOTIFY"}]}));
    assert!(f.wants_listener());

    let path = sock.clone();
    // SAFETY: as in run_child; the child only runs the closure below.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: plain syscalls in the single-threaded child.
        let code = unsafe {
            libc::alarm(10);
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
            match load(&f) {
                Ok(Some(fd)) => {
                    let state = json!({"ociVersion": "1.3.0", "id": "seccomp-test", "status": "creating",
                        "pid": libc::getpid(), "bundle": "/nowhere", "annotations": {"k": "v"}});
                    if send_listener(&path, fd.as_fd(), &state, "MKDIR=answer").is_err() {
                        libc::_exit(104)
                    }
                    drop(fd);
                    let p = c"/berth-seccomp-notify-never";
                    // First: the agent answers EXDEV. Second: it answers 42.
                    let r1 = libc::syscall(libc::SYS_mkdirat, libc::AT_FDCWD, p.as_ptr(), 0o700);
                    let e1 = errno();
                    let r2 = libc::syscall(libc::SYS_mkdir, p.as_ptr(), 0o700);
                    match (r1, e1, r2) {
                        (-1, libc::EXDEV, 42) => 0,
                        (-1, libc::EXDEV, _) => 2,
                        _ => 1,
                    }
                }
                Ok(None) => 105,
                Err(_) => 102,
            }
        };
        // SAFETY: ends the child.
        unsafe { libc::_exit(code) };
    }

    // The agent.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut conn = accept_within(&listener, deadline);
    let mut buf = vec![0u8; 64 * 1024];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let (n, fds) = {
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<UnixAddr>(conn.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC).unwrap();
        let fds: Vec<RawFd> = msg
            .cmsgs()
            .unwrap()
            .filter_map(|c| match c {
                ControlMessageOwned::ScmRights(f) => Some(f),
                _ => None,
            })
            .flatten()
            .collect();
        (msg.bytes, fds)
    };
    buf.truncate(n);
    conn.read_to_end(&mut buf).unwrap(); // the runtime closes after one state
    assert_eq!(fds.len(), 1, "exactly one fd with SCM_RIGHTS");
    // SAFETY: the fd just arrived with SCM_RIGHTS; nothing else owns it.
    let notify = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    let st: Value = serde_json::from_slice(&buf).unwrap();
    assert_eq!(st["fds"], json!(["seccompFd"]));
    assert_eq!(st["pid"], pid);
    assert_eq!(st["metadata"], "MKDIR=answer");
    assert_eq!(st["state"]["id"], "seccomp-test");
    assert_eq!(st["state"]["pid"], pid);
    assert!(st["ociVersion"].is_string());

    let n1 = recv_notif(notify.as_raw_fd());
    assert_eq!(n1.pid as i32, pid);
    assert_eq!(n1.data.nr as i64, libc::SYS_mkdirat);
    answer(notify.as_raw_fd(), n1.id, 0, -libc::EXDEV);
    let n2 = recv_notif(notify.as_raw_fd());
    assert_eq!(n2.data.nr as i64, libc::SYS_mkdir);
    answer(notify.as_raw_fd(), n2.id, 42, 0);

    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is a valid out-pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    let _ = std::fs::remove_file(&sock);
    assert_eq!(exit_code(status), 0);
}

#[test]
fn loading_without_no_new_privs_or_cap_sys_admin_names_the_requirement() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        // Root has CAP_SYS_ADMIN, so the kernel would accept the filter.
        eprintln!("skipped: runs only as non-root");
        return;
    }
    let f = filter(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    // SAFETY: as in run_child.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = match load(&f) {
            Err(e) if e.to_string().contains("no_new_privs or CAP_SYS_ADMIN") => 0,
            _ => 1,
        };
        // SAFETY: ends the child.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert_eq!(exit_code(status), 0);
}
