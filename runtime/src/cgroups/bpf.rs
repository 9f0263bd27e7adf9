//! The cgroup2 device program through raw bpf(2): load the program
//! [`devices::program`] builds, attach it at create, and swap it for a new
//! one at `update`.
//!
//! The swap attaches the new program beside the old one (`BPF_F_ALLOW_MULTI`)
//! and only then detaches the old one. While both are attached the kernel
//! allows an access only if every program allows it, so at no instant does
//! the container get more than both rule sets allow, nor less than both
//! allow; detaching first would leave a moment with no program at all (every
//! device allowed), and one program replacing itself in place is what the
//! kernel's `BPF_F_REPLACE` offers only from Linux 5.6 on.

use super::devices::{self, Rule};
use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The name every device program Berth loads carries: `update` detaches
/// only programs of that name, never one someone else attached.
const PROG_NAME: &[u8] = b"berth_devcg";

const FIELD: &str = "linux.resources.devices";

/// The leading fields of union bpf_attr for BPF_PROG_LOAD.
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
}

/// The leading fields of union bpf_attr for BPF_PROG_ATTACH and _DETACH.
#[repr(C)]
#[derive(Default)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// The leading fields of union bpf_attr for BPF_PROG_QUERY.
#[repr(C)]
#[derive(Default)]
struct ProgQuery {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
}

/// The leading fields of union bpf_attr for BPF_PROG_GET_FD_BY_ID.
#[repr(C)]
#[derive(Default)]
struct GetById {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// The leading fields of union bpf_attr for BPF_OBJ_GET_INFO_BY_FD.
#[repr(C)]
#[derive(Default)]
struct InfoByFd {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The leading fields of struct bpf_prog_info, through `name`.
#[repr(C)]
#[derive(Default)]
struct ProgInfo {
    prog_type: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; 16],
}

/// bpf(2) with one command's attribute struct.
fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<i64> {
    // SAFETY: attr is a live, initialised #[repr(C)] prefix of union bpf_attr
    // of the given size; the kernel zero-extends the rest. Pointers inside it
    // are set by the callers to buffers that outlive the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(r)
}

/// A bpf(2) result that is a new descriptor.
fn owned(fd: i64) -> OwnedFd {
    // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// Load the device program for `rules`.
fn load(rules: &[Rule]) -> Result<OwnedFd> {
    let prog = devices::program(rules);
    let license = b"Apache-2.0\0";
    let mut log = vec![0u8; 16 * 1024];
    let mut name = [0u8; 16];
    name[..PROG_NAME.len()].copy_from_slice(PROG_NAME);
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(owned(fd)),
        Err(e) => {
            let text = String::from_utf8_lossy(&log[..log.iter().position(|b| *b == 0).unwrap_or(0)]).trim().to_string();
            let step = if text.is_empty() { "load the device eBPF program".to_string() } else { format!("load the device eBPF program ({text})") };
            Err(Error::os(step, e).field(FIELD))
        }
    }
}

fn open_cgroup(dir: &Path) -> Result<std::fs::File> {
    std::fs::File::open(dir).map_err(|e| Error::os(format!("open cgroup {}", dir.display()), e).field(FIELD))
}

fn attach(cg: &std::fs::File, prog: &OwnedFd, dir: &Path) -> Result<()> {
    let mut attr = ProgAttach {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| Error::os(format!("attach the device eBPF program to {}", dir.display()), e).field(FIELD))?;
    Ok(())
}

/// Load the program for `rules` and attach it to the cgroup2 directory
/// `dir`; nothing to do without rules.
pub fn attach_bpf(dir: &Path, rules: &[Rule]) -> Result<()> {
    if rules.is_empty() {
        return Ok(());
    }
    let prog = load(rules)?;
    attach(&open_cgroup(dir)?, &prog, dir)
}

/// Ids of the device programs attached to `cg` itself (not inherited).
fn attached(cg: &std::fs::File) -> std::io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut q =
        ProgQuery { target_fd: cg.as_raw_fd() as u32, attach_type: BPF_CGROUP_DEVICE, prog_ids: ids.as_mut_ptr() as u64, prog_cnt: 64, ..Default::default() };
    bpf(BPF_PROG_QUERY, &mut q)?;
    ids.truncate(q.prog_cnt as usize);
    Ok(ids)
}

/// The id and name (among other things) of a loaded program.
fn program_info(fd: &OwnedFd) -> std::io::Result<ProgInfo> {
    let mut info = ProgInfo::default();
    let mut attr = InfoByFd { bpf_fd: fd.as_raw_fd() as u32, info_len: std::mem::size_of::<ProgInfo>() as u32, info: &mut info as *mut ProgInfo as u64 };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(info)
}

/// The ids of Berth's device programs attached to the cgroup2 directory
/// `dir` itself.
pub fn berth_programs(dir: &Path) -> Result<Vec<u32>> {
    let cg = open_cgroup(dir)?;
    let ids = attached(&cg).map_err(|e| Error::os(format!("list the device programs of {}", dir.display()), e).field(FIELD))?;
    let mut out = Vec::new();
    for id in ids {
        let Ok(fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut GetById { prog_id: id, ..Default::default() }).map(owned) else { continue };
        if program_info(&fd).is_ok_and(|i| i.name.starts_with(PROG_NAME) && i.name[PROG_NAME.len()] == 0) {
            out.push(id);
        }
    }
    Ok(out)
}

/// `update` on cgroup2: attach the program for `rules`, then detach every
/// older Berth device program of `dir` (see the module's comment for why
/// this order has no window).
pub fn replace_bpf(dir: &Path, rules: &[Rule]) -> Result<()> {
    let prog = load(rules)?;
    let new_id = program_info(&prog).map_err(|e| Error::os("read the new device program's id", e).field(FIELD))?.id;
    let cg = open_cgroup(dir)?;
    let old: Vec<u32> = berth_programs(dir)?.into_iter().filter(|id| *id != new_id).collect();
    attach(&cg, &prog, dir)?;
    for id in old {
        // One that is gone already (a concurrent update) is no error.
        let Ok(fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut GetById { prog_id: id, ..Default::default() }).map(owned) else { continue };
        let mut attr = ProgAttach { target_fd: cg.as_raw_fd() as u32, attach_bpf_fd: fd.as_raw_fd() as u32, attach_type: BPF_CGROUP_DEVICE, attach_flags: 0 };
        match bpf(BPF_PROG_DETACH, &mut attr) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            // Both programs stay attached: the container has what both allow.
            Err(e) => return Err(Error::os(format!("detach the previous device program (id {id}) from {}", dir.display()), e).field(FIELD)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(allow: bool, kind: char, major: Option<i64>, minor: Option<i64>, access: &str) -> Rule {
        Rule { allow, kind, major, minor, access: access.into(), field: String::new() }
    }

    /// A cgroup2 directory of our own under /berth-test, removed even when
    /// the test fails; None (test skipped) without cgroup2 or root.
    fn temp_cgroup(name: &str) -> Option<super::super::TestCgroup> {
        let mounts = crate::procfs::read_small("/proc/self/mountinfo").unwrap_or_default();
        let Some(h) = super::super::parse_mountinfo(&mounts).into_iter().find(|h| h.v2) else {
            eprintln!("SKIP: no cgroup2 mounted");
            return None;
        };
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIP: needs root");
            return None;
        }
        Some(super::super::TestCgroup::new(&h.mountpoint, &format!("unit-{name}")))
    }

    /// Fork a child into `dir` that runs `body` and exits with its result;
    /// returns the child's pid.
    fn child_in(dir: &Path, body: impl FnOnce() -> i32) -> libc::pid_t {
        let procs = std::ffi::CString::new(dir.join("cgroup.procs").into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: the child only makes raw syscalls on data prepared before
        // the fork, then _exits; the parent reaps it.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: see above; the path is a valid C string.
            unsafe {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    libc::_exit(10);
                }
                libc::close(fd);
                libc::_exit(body());
            }
        }
        pid
    }

    fn reap(pid: libc::pid_t) -> i32 {
        let mut status = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "child died: {status}");
        libc::WEXITSTATUS(status)
    }

    /// 0 if `path` opens with `flags`, 1 if it is refused with EPERM, 2 otherwise.
    fn try_open(path: &std::ffi::CStr, flags: libc::c_int) -> i32 {
        // SAFETY: a valid C string; the descriptor is closed at once.
        unsafe {
            let fd = libc::open(path.as_ptr(), flags);
            if fd >= 0 {
                libc::close(fd);
                return 0;
            }
            if *libc::__errno_location() == libc::EPERM {
                1
            } else {
                2
            }
        }
    }

    /// The program attached for real: a process in the cgroup may open
    /// /dev/zero and write /dev/null, not read it.
    #[test]
    fn bpf_program_enforced_on_cgroup2() {
        let Some(cg) = temp_cgroup("bpf") else { return };
        let deny_null = [rule(false, 'a', None, None, "rwm"), rule(true, 'c', Some(1), Some(5), "rwm"), rule(true, 'c', Some(1), Some(3), "w")];
        attach_bpf(&cg.0, &deny_null).unwrap();
        let pid = child_in(&cg.0, || {
            match (try_open(c"/dev/zero", libc::O_RDONLY), try_open(c"/dev/null", libc::O_RDONLY), try_open(c"/dev/null", libc::O_WRONLY)) {
                (0, 1, 0) => 0,
                (z, _, _) if z != 0 => 11,
                (_, 0 | 2, _) => 12,
                _ => 13,
            }
        });
        assert_eq!(reap(pid), 0, "11: /dev/zero denied, 12: /dev/null read not refused with EPERM, 13: /dev/null write denied");
        assert_eq!(berth_programs(&cg.0).unwrap().len(), 1);
    }

    /// `update` swaps programs while a process keeps opening /dev/null,
    /// which both rule sets allow: no open may fail. The rule sets differ
    /// in /dev/zero, and the last one is what stays, alone.
    #[test]
    fn replace_has_no_window() {
        let Some(cg) = temp_cgroup("bpf-replace") else { return };
        let base = [rule(false, 'a', None, None, "rwm"), rule(true, 'c', Some(1), Some(3), "rwm")];
        let with_zero = [base[0].clone(), base[1].clone(), rule(true, 'c', Some(1), Some(5), "r")];
        attach_bpf(&cg.0, &base).unwrap();
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills the two-element array.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) }, 0);
        let (rd, wr) = (fds[0], fds[1]);
        // The child opens /dev/null until the pipe is closed (read gives 0).
        let pid = child_in(&cg.0, move || {
            // SAFETY: closing our copy of the write end, so the parent's close is EOF.
            unsafe { libc::close(wr) };
            let mut opens = 0u64;
            loop {
                if try_open(c"/dev/null", libc::O_RDWR) != 0 {
                    return 20;
                }
                opens += 1;
                let mut b = 0u8;
                // SAFETY: reading one byte into a local from our pipe end.
                if opens.is_multiple_of(16) && unsafe { libc::read(rd, (&mut b as *mut u8).cast(), 1) } == 0 {
                    return 0;
                }
            }
        });
        for i in 0..200 {
            replace_bpf(&cg.0, if i % 2 == 0 { &with_zero } else { &base }).unwrap();
        }
        // SAFETY: closing our own pipe descriptors.
        unsafe {
            libc::close(wr);
            libc::close(rd);
        }
        assert_eq!(reap(pid), 0, "an open of /dev/null failed while the program was swapped");
        assert_eq!(berth_programs(&cg.0).unwrap().len(), 1, "the old programs must be detached");
        // The last update (i = 199) installed `base`: /dev/zero is denied.
        let pid = child_in(&cg.0, || try_open(c"/dev/zero", libc::O_RDONLY) * 10 + try_open(c"/dev/null", libc::O_RDONLY));
        assert_eq!(reap(pid), 10, "/dev/zero must be refused (EPERM), /dev/null allowed");
        replace_bpf(&cg.0, &with_zero).unwrap();
        let pid = child_in(&cg.0, || try_open(c"/dev/zero", libc::O_RDONLY));
        assert_eq!(reap(pid), 0, "/dev/zero allowed after the update");
    }
}
