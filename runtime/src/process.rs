//! Attributes of the container process that are set from inside it, just
//! before exec: user and groups, umask, OOM score, scheduler, I/O priority,
//! personality, no_new_privs, inherited file descriptors; and the lookup and
//! exec of `process.args[0]`. Rlimits are in [`crate::rlimits`].
//!
//! Each function maps one piece of `process` (or `linux.personality`) to the
//! kernel call that implements it; string constants from the config go
//! through lookup tables, never if-chains.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxPersonality, LinuxPersonalityDomain, LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler, User,
};

use crate::error::{Error, Result};

/// PATH searched when the container's environment has none; the same list
/// runc and Docker use.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// PR_SET_KEEPCAPS on/off.
pub fn set_keep_caps(on: bool) -> Result<()> {
    // SAFETY: PR_SET_KEEPCAPS takes an integer and touches only the calling
    // thread's securebits.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(Error::last(format!("set keep-capabilities {}", if on { "on" } else { "off" })));
    }
    Ok(())
}

/// Set additionalGids (setgroups), then setresgid(gid), then setresuid(uid).
///
/// `setgroups_allowed` is false in a user namespace whose setgroups file
/// says "deny"; then the supplementary groups are left alone and a
/// non-empty additionalGids is an error. Errors name process.user.uid/gid.
pub fn set_user(user: &User, setgroups_allowed: bool) -> Result<()> {
    let extra: &[u32] = user.additional_gids().as_deref().unwrap_or(&[]);
    if setgroups_allowed {
        // Even an empty list is written: the init must not keep the
        // supplementary groups of whoever ran Berth.
        let gids: Vec<Gid> = extra.iter().map(|g| Gid::from_raw(*g)).collect();
        nix::unistd::setgroups(&gids).map_err(|e| Error::errno(format!("set additional groups {extra:?}"), e).field("process.user.additionalGids"))?;
    } else if !extra.is_empty() {
        return Err(Error::msg(format!("set additional groups {extra:?}: setgroups is denied in this user namespace")).field("process.user.additionalGids"));
    }
    let gid = Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| Error::errno(format!("switch to gid {gid}"), e).field("process.user.gid"))?;
    let uid = Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| Error::errno(format!("switch to uid {uid}"), e).field("process.user.uid"))?;
    Ok(())
}

/// Give the standard descriptors 0-2 to `uid` before the process switches
/// to it, as runc does: a non-root process must be able to reopen its own
/// stdio (`/dev/stdout`, `/dev/stderr`, `$(tty)`), which the kernel checks
/// against the pipe's, file's or pty's owner. Each keeps its group (devpts
/// gives a pty its own). Left alone: a descriptor already owned by `uid`,
/// /dev/null, and one whose ids the user namespace does not map (EINVAL,
/// EPERM), where doing nothing is better than failing.
pub fn give_stdio_to(uid: u32) -> Result<()> {
    for fd in 0..=2 {
        // SAFETY: fstat fills a stat buffer we own for a descriptor number;
        // a closed descriptor only gives EBADF.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            continue;
        }
        let is_null = st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3);
        if st.st_uid == uid || is_null {
            continue;
        }
        // SAFETY: fchown changes only the owner of the open file.
        if unsafe { libc::fchown(fd, uid, st.st_gid) } != 0 {
            let e = io::Error::last_os_error();
            if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EPERM)) {
                continue;
            }
            return Err(Error::os(format!("give standard descriptor {fd} to uid {uid}"), e).field("process.user.uid"));
        }
    }
    Ok(())
}

/// Set the umask if user.umask is given. The spec (config.md, "umask")
/// says an unset umask leaves the calling process's umask unchanged.
pub fn set_umask(user: &User) {
    if let Some(m) = user.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m & 0o777));
    }
}

/// oomScoreAdj → /proc/self/oom_score_adj. Lowering it below its current
/// minimum needs CAP_SYS_RESOURCE, so call it while the init is still root.
pub fn set_oom_score_adj(v: i32) -> Result<()> {
    std::fs::write("/proc/self/oom_score_adj", v.to_string())
        .map_err(|e| Error::os(format!("write {v} to /proc/self/oom_score_adj"), e).field("process.oomScoreAdj"))
}

/// `struct sched_attr` as of SCHED_ATTR_SIZE_VER1 (with utilization clamps).
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

/// Config policy → (kernel number, name). SCHED_ISO is in the spec but was
/// never merged into Linux; the kernel refuses it with EINVAL.
const SCHED_POLICIES: [(LinuxSchedulerPolicy, u32, &str); 7] = [
    (LinuxSchedulerPolicy::SchedOther, 0, "SCHED_OTHER"),
    (LinuxSchedulerPolicy::SchedFifo, 1, "SCHED_FIFO"),
    (LinuxSchedulerPolicy::SchedRr, 2, "SCHED_RR"),
    (LinuxSchedulerPolicy::SchedBatch, 3, "SCHED_BATCH"),
    (LinuxSchedulerPolicy::SchedIso, 4, "SCHED_ISO"),
    (LinuxSchedulerPolicy::SchedIdle, 5, "SCHED_IDLE"),
    (LinuxSchedulerPolicy::SchedDeadline, 6, "SCHED_DEADLINE"),
];

/// Config scheduler flag → kernel bit. Note that oci-spec 0.10 spells two
/// of them unlike the spec (`SCHED_RESET_ON_FORK`, `SCHED_FLAG_D_L_OVERRUN`),
/// so a config with the spec's names fails to parse before it gets here.
const SCHED_FLAGS: [(LinuxSchedulerFlag, u64); 7] = [
    (LinuxSchedulerFlag::SchedResetOnFork, libc::SCHED_FLAG_RESET_ON_FORK as u64),
    (LinuxSchedulerFlag::SchedFlagReclaim, libc::SCHED_FLAG_RECLAIM as u64),
    (LinuxSchedulerFlag::SchedFlagDLOverrun, libc::SCHED_FLAG_DL_OVERRUN as u64),
    (LinuxSchedulerFlag::SchedFlagKeepPolicy, libc::SCHED_FLAG_KEEP_POLICY as u64),
    (LinuxSchedulerFlag::SchedFlagKeepParams, libc::SCHED_FLAG_KEEP_PARAMS as u64),
    (LinuxSchedulerFlag::SchedFlagUtilClampMin, libc::SCHED_FLAG_UTIL_CLAMP_MIN as u64),
    (LinuxSchedulerFlag::SchedFlagUtilClampMax, libc::SCHED_FLAG_UTIL_CLAMP_MAX as u64),
];

/// SCHED_CAPACITY_SCALE: the top of the utilization clamp range.
const UTIL_MAX: u32 = 1024;

/// Build the sched_attr for a config scheduler, and the policy's name.
fn sched_attr(s: &Scheduler) -> Result<(SchedAttr, &'static str)> {
    let (_, policy, name) = SCHED_POLICIES.iter().find(|(p, _, _)| p == s.policy()).expect("policy missing");
    let flags = s.flags().iter().flatten().map(|f| SCHED_FLAGS.iter().find(|(k, _)| k == f).expect("flag missing").1).fold(0, |a, b| a | b);
    let priority = s.priority().unwrap_or(0);
    let priority = u32::try_from(priority)
        .map_err(|_| Error::msg(format!("set scheduler {name}: priority {priority} is negative")).field("process.scheduler.priority"))?;
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: *policy,
        flags,
        nice: s.nice().unwrap_or(0),
        priority,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        // The spec has the clamp flags but no clamp values; the full range
        // is the kernel's default, so the flags then only reset the clamps.
        util_min: 0,
        util_max: UTIL_MAX,
    };
    Ok((attr, name))
}

/// process.scheduler via sched_setattr (raw syscall: glibc has no wrapper).
pub fn set_scheduler(s: &Scheduler) -> Result<()> {
    let (attr, name) = sched_attr(s)?;
    // SAFETY: `attr` is a live `#[repr(C)]` sched_attr whose `size` field
    // tells the kernel how much of it to read; pid 0 is the calling thread.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if rc != 0 {
        return Err(
            Error::last(format!("set scheduler {name} (nice {}, priority {}, flags {:#x})", attr.nice, attr.priority, attr.flags)).field("process.scheduler")
        );
    }
    Ok(())
}

/// Config I/O class → kernel IOPRIO_CLASS_* number.
const IOPRIO_CLASSES: [(IOPriorityClass, i32, &str); 3] = [
    (IOPriorityClass::IoprioClassRt, 1, "IOPRIO_CLASS_RT"),
    (IOPriorityClass::IoprioClassBe, 2, "IOPRIO_CLASS_BE"),
    (IOPriorityClass::IoprioClassIdle, 3, "IOPRIO_CLASS_IDLE"),
];

/// IOPRIO_CLASS_SHIFT: the class sits above 13 bits of per-class data.
const IOPRIO_CLASS_SHIFT: i32 = 13;
/// IOPRIO_WHO_PROCESS.
const IOPRIO_WHO_PROCESS: i32 = 1;

/// The ioprio value (class << 13 | priority) for a config I/O priority.
pub fn ioprio_value(p: &LinuxIOPriority) -> Result<i32> {
    let (_, class, name) = IOPRIO_CLASSES.iter().find(|(c, _, _)| *c == p.class()).expect("class missing");
    if !(0..=7).contains(&p.priority()) {
        return Err(Error::msg(format!("set I/O priority {name} {}: the priority must be 0 to 7", p.priority())).field("process.ioPriority.priority"));
    }
    Ok(class << IOPRIO_CLASS_SHIFT | p.priority() as i32)
}

/// process.ioPriority via ioprio_set(IOPRIO_WHO_PROCESS, 0, class<<13 | prio).
pub fn set_io_priority(p: &LinuxIOPriority) -> Result<()> {
    let value = ioprio_value(p)?;
    // SAFETY: ioprio_set takes three integers; 0 is the calling process.
    if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) } != 0 {
        return Err(Error::last(format!("set I/O priority {value:#x}")).field("process.ioPriority"));
    }
    Ok(())
}

/// Config personality domain → kernel persona (PER_LINUX, PER_LINUX32).
const PERSONALITIES: [(LinuxPersonalityDomain, libc::c_ulong, &str); 2] =
    [(LinuxPersonalityDomain::PerLinux, 0x0000, "LINUX"), (LinuxPersonalityDomain::PerLinux32, 0x0008, "LINUX32")];

/// The persona for a config personality; the spec defines no flags yet, so
/// any flag is refused rather than silently dropped.
pub fn persona(p: &LinuxPersonality) -> Result<libc::c_ulong> {
    if let Some((i, f)) = p.flags().iter().flatten().enumerate().next() {
        return Err(Error::msg(format!("unsupported personality flag {f:?}")).field(format!("linux.personality.flags[{i}]")));
    }
    Ok(PERSONALITIES.iter().find(|(d, _, _)| *d == p.domain()).expect("domain missing").1)
}

/// linux.personality (domain LINUX / LINUX32, flags) via personality(2).
pub fn set_personality(p: &LinuxPersonality) -> Result<()> {
    let value = persona(p)?;
    // SAFETY: personality(2) takes an integer and changes only the calling
    // process's execution domain.
    if unsafe { libc::personality(value) } == -1 {
        return Err(Error::last(format!("set personality {}", p.domain())).field("linux.personality"));
    }
    Ok(())
}

/// PR_SET_NO_NEW_PRIVS.
pub fn set_no_new_privs() -> Result<()> {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integers only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(Error::last("set no_new_privs").field("process.noNewPrivileges"));
    }
    Ok(())
}

/// Close every descriptor from `3 + preserve` up that is not close-on-exec:
/// those the caller of `berth create` left open (a lock file, say). runc's
/// init never has them; ours is a clone of `create` and would hold them
/// from creation until start. Berth's own descriptors are all close-on-exec
/// and stay until the exec.
pub fn close_inherited(preserve: u32) -> Result<()> {
    for fd in open_fds_from(3i64 + i64::from(preserve))? {
        // SAFETY: F_GETFD reads a flag; closing a descriptor that is not
        // close-on-exec touches nothing of ours (all of ours are), and the
        // read_dir descriptor is gone by now (EBADF at worst).
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
                libc::close(fd);
            }
        }
    }
    Ok(())
}

/// This process's open descriptors numbered `first` or more, from
/// /proc/self/fd (the listing's own descriptor among them, closed by the
/// time they are used: EBADF at worst).
fn open_fds_from(first: i64) -> Result<Vec<i32>> {
    Ok(std::fs::read_dir("/proc/self/fd")
        .map_err(|e| Error::os("list /proc/self/fd", e))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd: &i32| i64::from(*fd) >= first)
        .collect())
}

/// Close-on-exec every fd >= 3 + preserve, and clear FD_CLOEXEC on
/// 3..3+preserve, so that exactly stdio and the preserved fds pass exec.
///
/// Marking instead of closing keeps the init's own descriptors (sync
/// socket, exec fifo) usable until the exec itself.
pub fn prepare_fds(preserve: u32) -> Result<()> {
    let first = 3u32.checked_add(preserve).ok_or_else(|| Error::msg(format!("preserve {preserve} file descriptors: too many")))?;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on the
    // calling process's descriptors; no memory is passed.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if rc != 0 {
        // Kernels before 5.11 lack CLOSE_RANGE_CLOEXEC: walk /proc instead.
        for fd in open_fds_from(i64::from(first))? {
            // SAFETY: F_SETFD only changes a descriptor flag; a descriptor
            // that closed meanwhile (read_dir's own) just gives EBADF.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
    for fd in 3..first as i32 {
        // SAFETY: F_GETFD/F_SETFD read and write a descriptor flag only.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        // SAFETY: as above.
        if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) } < 0 {
            return Err(Error::last(format!("keep preserved file descriptor {fd} open across exec")));
        }
    }
    Ok(())
}

/// An OS error's text the way Go prints it ("no such file or directory"),
/// so that our exec errors read exactly like runc's.
fn go_text(e: &io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s);
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Why `path` cannot be executed, in Go's words, or Ok.
fn check_executable(path: &Path) -> std::result::Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("stat {}: {}", path.display(), go_text(&e)))?;
    if meta.is_dir() {
        return Err(go_text(&io::Error::from_raw_os_error(libc::EISDIR)));
    }
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| "invalid argument".to_string())?;
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    // AT_EACCESS checks with the effective ids, as execve will; access(2)
    // also catches noexec mounts, which the mode bits do not show.
    if unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::X_OK, libc::AT_EACCESS) } != 0 {
        return Err(go_text(&io::Error::last_os_error()));
    }
    Ok(())
}

/// Find args[0] as execve would, in the container (after pivot_root):
/// containing '/' → it must exist and be executable (relative to cwd);
/// otherwise search PATH from `env` (DEFAULT_PATH when env has none).
/// Errors read like runc's, e.g. `exec: "foo": executable file not found in $PATH`.
pub fn find_executable(arg0: &str, env: &[String]) -> Result<CString> {
    let to_c = |s: &str| CString::new(s).map_err(|_| Error::msg(format!("exec: {arg0:?}: contains a NUL byte")).field("process.args[0]"));
    if arg0.is_empty() {
        return Err(Error::msg("exec: no command given").field("process.args"));
    }
    if arg0.contains('/') {
        check_executable(Path::new(arg0)).map_err(|why| Error::msg(format!("exec: {arg0:?}: {why}")))?;
        return to_c(arg0);
    }
    // The first PATH= wins, as getenv(3) in the container would see it.
    let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        // An empty PATH element means the current directory (execvp).
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = format!("{}/{arg0}", dir.trim_end_matches('/'));
        if check_executable(Path::new(&candidate)).is_ok() {
            return to_c(&candidate);
        }
    }
    Err(Error::msg(format!("exec: {arg0:?}: executable file not found in $PATH")))
}

/// Strings to C strings for execve; `field` names the list for errors.
fn c_strings(list: &[String], field: &str) -> Result<Vec<CString>> {
    list.iter()
        .enumerate()
        .map(|(i, s)| CString::new(s.as_bytes()).map_err(|_| Error::msg(format!("{s:?} contains a NUL byte")).field(format!("{field}[{i}]"))))
        .collect()
}

/// execve(path, args, env); returns only on error (named `exec /bin/foo: ...`).
pub fn exec(path: &CStr, args: &[String], env: &[String]) -> Error {
    let (args, env) = match (c_strings(args, "process.args"), c_strings(env, "process.env")) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    let envp: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
    // SAFETY: path, argv and envp are NUL-terminated strings and
    // NULL-terminated pointer arrays, all alive for the duration of the call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Error::last(format!("exec {}", path.to_string_lossy()))
}

/// Parse a CPU list ("0-3,7") as execCPUAffinity gives it.
pub fn parse_cpu_list(list: &str) -> std::result::Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |s: &str| s.trim().parse::<usize>().map_err(|_| format!("invalid CPU {s:?} in {list:?}"));
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("invalid CPU range {part:?} in {list:?}"));
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(num(part)?),
        }
    }
    Ok(cpus)
}

/// Pin the calling process to the CPUs in `list` (execCPUAffinity.initial
/// or .final); `field` names the config field for errors. An empty list
/// leaves the affinity alone, as the spec asks for `final`.
pub fn set_cpu_affinity(list: &str, field: &str) -> Result<()> {
    let cpus = parse_cpu_list(list).map_err(|e| Error::msg(format!("set CPU affinity: {e}")).field(field))?;
    if cpus.is_empty() {
        return Ok(());
    }
    let mut set = nix::sched::CpuSet::new();
    for cpu in cpus {
        set.set(cpu).map_err(|e| Error::errno(format!("set CPU affinity {list}: CPU {cpu}"), e).field(field))?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).map_err(|e| Error::errno(format!("set CPU affinity {list}"), e).field(field))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    #[test]
    fn ioprio_encoding() {
        let p: LinuxIOPriority = serde_json::from_str(r#"{"class":"IOPRIO_CLASS_BE","priority":4}"#).unwrap();
        assert_eq!(ioprio_value(&p).unwrap(), 2 << 13 | 4);
        let p: LinuxIOPriority = serde_json::from_str(r#"{"class":"IOPRIO_CLASS_RT","priority":0}"#).unwrap();
        assert_eq!(ioprio_value(&p).unwrap(), 1 << 13);
        let p: LinuxIOPriority = serde_json::from_str(r#"{"class":"IOPRIO_CLASS_IDLE","priority":8}"#).unwrap();
        assert_eq!(
            ioprio_value(&p).unwrap_err().to_string(),
            "set I/O priority IOPRIO_CLASS_IDLE 8: the priority must be 0 to 7 (process.ioPriority.priority)"
        );
    }

    #[test]
    fn scheduler_attr() {
        let s: Scheduler =
            serde_json::from_str(r#"{"policy":"SCHED_DEADLINE","runtime":10,"deadline":20,"period":30,"flags":["SCHED_FLAG_RECLAIM"]}"#).unwrap();
        let (a, name) = sched_attr(&s).unwrap();
        assert_eq!(name, "SCHED_DEADLINE");
        assert_eq!((a.policy, a.flags, a.runtime, a.deadline, a.period), (6, 2, 10, 20, 30));
        assert_eq!(a.size, 56);
        for (p, n, name) in SCHED_POLICIES {
            let parsed: LinuxSchedulerPolicy = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(parsed, p, "{name} is {n}");
        }
        let s: Scheduler = serde_json::from_str(r#"{"policy":"SCHED_FIFO","priority":-1}"#).unwrap();
        assert!(sched_attr(&s).is_err());
    }

    #[test]
    fn personality_values() {
        let p: LinuxPersonality = serde_json::from_str(r#"{"domain":"LINUX32"}"#).unwrap();
        assert_eq!(persona(&p).unwrap(), 8);
        let p: LinuxPersonality = serde_json::from_str(r#"{"domain":"LINUX","flags":["X"]}"#).unwrap();
        assert_eq!(persona(&p).unwrap_err().to_string(), "unsupported personality flag \"X\" (linux.personality.flags[0])");
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,7").unwrap(), vec![0, 1, 2, 3, 7]);
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<usize>::new());
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("a").is_err());
    }

    /// A temp dir removed on drop.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> Self {
            let p = std::env::temp_dir().join(format!("berth-procattrs-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn file(path: &Path, mode: u32) {
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn path_search_and_messages() {
        let t = TempDir::new("path");
        let (a, b) = (t.0.join("a"), t.0.join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        file(&a.join("tool"), 0o644); // not executable: skipped by the search
        file(&b.join("tool"), 0o755);
        std::fs::create_dir(a.join("sub")).unwrap();
        let env = vec!["HOME=/".to_string(), format!("PATH={}:{}", a.display(), b.display())];

        let found = find_executable("tool", &env).unwrap();
        assert_eq!(found.to_str().unwrap(), b.join("tool").to_str().unwrap());

        assert_eq!(find_executable("nope", &env).unwrap_err().to_string(), "exec: \"nope\": executable file not found in $PATH");
        let missing = a.join("missing");
        let missing = missing.to_str().unwrap();
        assert_eq!(find_executable(missing, &env).unwrap_err().to_string(), format!("exec: \"{missing}\": stat {missing}: no such file or directory"));
        let noexec = a.join("tool");
        let noexec = noexec.to_str().unwrap();
        assert_eq!(find_executable(noexec, &env).unwrap_err().to_string(), format!("exec: \"{noexec}\": permission denied"));
        let dir = a.join("sub");
        let dir = dir.to_str().unwrap();
        assert_eq!(find_executable(dir, &env).unwrap_err().to_string(), format!("exec: \"{dir}\": is a directory"));
        // A path with '/' is taken as given, PATH or not.
        let direct = b.join("tool");
        assert_eq!(find_executable(direct.to_str().unwrap(), &[]).unwrap().to_str().unwrap(), direct.to_str().unwrap());
    }

    #[test]
    fn default_path_is_used_without_path_in_env() {
        let sh = find_executable("sh", &[]).unwrap();
        assert!(DEFAULT_PATH.split(':').any(|d| sh.to_str().unwrap() == format!("{d}/sh")), "{sh:?}");
    }
}
