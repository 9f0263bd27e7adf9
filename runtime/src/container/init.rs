//! The container's init, from clone to execve. It runs Berth's code only
//! until exec, non-dumpable, so nothing in the container can reach the
//! runtime binary through /proc during that window.

use super::create::hook_state;
use crate::config::Bundle;
use crate::error::{Error, Result};
use crate::namespaces::{self, Plan};
use crate::rootfs::{self, CgroupMount, RootfsCtx};
use crate::sync::{Channel, Msg};
use crate::{capabilities, console, hooks, process, rlimits};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

/// Everything the init needs, borrowed from the parent's memory (the clone
/// gave the child its own copy).
pub struct InitCtx<'a> {
    pub id: &'a str,
    pub bundle: &'a Bundle,
    pub plan: &'a Plan,
    pub chan: &'a Channel,
    pub gate: &'a OwnedFd,
    pub console: Option<&'a OwnedFd>,
    pub cgroup_mounts: &'a [CgroupMount],
    /// The cgroup2 directory the init is born in (clone3's descriptor).
    pub cgroups: &'a crate::cgroups::entry::Entry,
    /// The v1 directories the init enters itself once they exist.
    pub v1_dirs: &'a [std::path::PathBuf],
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub extra_env: &'a [String],
    pub seccomp: Option<&'a crate::seccomp::Filter>,
    pub lsm: &'a [(&'static str, String)],
    pub mount_context: Option<&'a str>,
    pub parent: i32,
    /// The parent's descriptors the init inherited but must not hold: the
    /// state lock and the parent's end of the socketpair.
    pub close: [std::os::fd::RawFd; 2],
}

/// The init's whole life; never returns.
pub fn run(ctx: &InitCtx) -> ! {
    for fd in ctx.close {
        // SAFETY: these descriptors are the parent's; this copy of them is
        // ours to close and nothing in the init uses them.
        unsafe { libc::close(fd) };
    }
    // Our stderr is the container's (`docker logs`): warnings go to the
    // parent, which writes them to the runtime's log.
    crate::logging::forward_to(ctx.chan.raw_fd());
    // Nothing of the caller's but stdio and --preserve-fds, from the start.
    if let Err(e) = process::close_inherited(ctx.preserve_fds) {
        let _ = ctx.chan.send(&Msg::Error(e.to_string()));
        // SAFETY: _exit ends this process without running the parent's destructors.
        unsafe { libc::_exit(1) }
    }
    let (exe, env) = match setup(ctx) {
        Ok(ready) => ready,
        Err(e) => {
            let _ = ctx.chan.send(&Msg::Error(e.to_string()));
            // SAFETY: _exit ends this process without running the parent's
            // destructors (they belong to the parent's copy of the state).
            unsafe { libc::_exit(1) }
        }
    };
    if ctx.chan.send(&Msg::Ready).is_err() {
        // SAFETY: as above.
        unsafe { libc::_exit(1) }
    }
    // From here create has returned; errors can only go to our stderr.
    let err = match after_gate(ctx, &exe, &env) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // `start` waits on the gate FIFO until we exec or exit, then reads
    // what we left in it: an error text means the start failed.
    let msg = err.to_string();
    // SAFETY: writing msg's bytes to the gate descriptor we own.
    unsafe { libc::write(ctx.gate.as_raw_fd(), msg.as_ptr().cast(), msg.len().min(4000)) };
    crate::output::eprintln(&format!("berth: {}: {msg}", ctx.id));
    // SAFETY: as above.
    unsafe { libc::_exit(127) }
}

/// Wait on the gate, run startContainer hooks, exec.
fn after_gate(ctx: &InitCtx, exe: &CString, env: &[String]) -> Result<std::convert::Infallible> {
    let mut b = [0u8; 1];
    loop {
        // SAFETY: reading one byte into a valid one-byte buffer.
        let n = unsafe { libc::read(ctx.gate.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
        if n == 1 {
            break;
        }
        if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return Err(Error::last("wait on the start gate"));
    }
    let spec = &ctx.bundle.spec;
    if let Some(h) = spec.hooks().as_ref().and_then(|h| h.start_container().as_ref()) {
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        hooks::run_all_in("startContainer", h, &hook_state(ctx.id, "created", pid, ctx.bundle), Some(env))?;
    }
    let p = spec.process().as_ref().expect("checked by create");
    Err(process::exec(exe, p.args().as_deref().unwrap_or(&[]), env))
}

fn prctl(op: libc::c_int, arg: libc::c_ulong, what: &str) -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(op, arg, 0, 0, 0) } != 0 {
        return Err(Error::last(what.to_string()));
    }
    Ok(())
}

/// Everything up to Ready; returns the executable to run and its
/// environment.
fn setup(ctx: &InitCtx) -> Result<(CString, Vec<String>)> {
    let spec = &ctx.bundle.spec;
    let plan = ctx.plan;
    let process = spec.process().as_ref().expect("checked by create");
    let linux = spec.linux().as_ref();

    // Die with create rather than linger half-built.
    prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, "set parent death signal")?;
    // SAFETY: getppid has no preconditions. In a new pid namespace the
    // parent lives outside it and shows as 0.
    let ppid = unsafe { libc::getppid() };
    if ppid != ctx.parent && ppid != 0 {
        return Err(Error::msg("berth create exited during setup"));
    }
    prctl(libc::PR_SET_DUMPABLE, 0, "make the init non-dumpable")?;
    ctx.cgroups.close_in_child();
    let bind_trees = receive_until_go(ctx.chan)?;

    // Namespaces: user first, so the rest belong to it.
    if let Some(j) = &plan.join_user {
        namespaces::enter(j)?;
    }
    if plan.userns {
        become_root_in_userns(linux)?;
    }
    namespaces::unshare(plan.unshare_flags, "namespaces")?;
    for j in &plan.join {
        namespaces::enter(j)?;
    }
    if plan.new_netns() {
        namespaces::loopback_up().map_err(|e| e.field("linux.namespaces"))?;
    }
    // Into the v1 cgroups (cgroup2 took us at birth) once the parent has
    // made them, then the cgroup namespace rooted there. As late as it can
    // be, so that the parent's cgroup work overlaps our mounts: before the
    // first cgroup mount, before any hook (hooks look the init up in its
    // cgroups), else once the rootfs is final, before privileges go.
    let placed = std::cell::Cell::new(false);
    let place = || -> Result<()> {
        if placed.replace(true) {
            return Ok(());
        }
        ctx.chan.expect(Msg::Placed)?;
        let v1 = crate::cgroups::entry::Entry::from_tasks(ctx.chan.take_fds(), ctx.v1_dirs.to_vec())?;
        v1.join_self()?;
        drop(v1);
        if plan.new_cgroupns {
            namespaces::unshare(libc::CLONE_NEWCGROUP, "cgroup namespace")?;
        }
        Ok(())
    };

    let rctx = RootfsCtx {
        spec,
        bundle: &ctx.bundle.dir,
        rootfs: &ctx.bundle.rootfs,
        in_userns: plan.userns,
        no_pivot: ctx.no_pivot,
        host_mountns: plan.host_mountns(),
        terminal: process.terminal().unwrap_or(false),
        cgroupns: plan.new_cgroupns,
        cgroups: ctx.cgroup_mounts,
        mount_context: ctx.mount_context,
        bind_trees: &bind_trees,
        place: &place,
    };
    log::debug!("init: namespaces ready");
    rootfs::prepare(&rctx)?;
    log::debug!("init: rootfs mounts done");

    #[allow(deprecated)]
    let wants_hooks = spec
        .hooks()
        .as_ref()
        .is_some_and(|h| h.prestart().as_ref().is_some_and(|v| !v.is_empty()) || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty()));
    if wants_hooks {
        place()?;
        ctx.chan.send(&Msg::NeedHooks)?;
        ctx.chan.expect(Msg::HooksDone)?;
    }
    if let Some(h) = spec.hooks().as_ref().and_then(|h| h.create_container().as_ref()) {
        place()?;
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        // As under runc, these hooks run in the rootfs directory (the path
        // still seen from the runtime's root: pivot_root comes after them).
        std::env::set_current_dir(&ctx.bundle.rootfs).map_err(|e| Error::os(format!("chdir to {}", ctx.bundle.rootfs.display()), e))?;
        // Step 5 of runtime.md's lifecycle: after create's step 2.
        let env = crate::env::merged(process.env().as_deref().unwrap_or(&[]), ctx.extra_env);
        hooks::run_all_in("createContainer", h, &hook_state(ctx.id, "created", pid, ctx.bundle), Some(&env))?;
    }

    rootfs::pivot(&rctx)?;
    log::debug!("init: root is now {}", ctx.bundle.rootfs.display());
    // A missing cwd is created (as runc and crun do), before the root may
    // become read-only (the default of `runc spec`).
    if spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false) {
        rootfs::open_dir_in_root(Path::new("/"), process.cwd(), true).map_err(|e| e.field("process.cwd"))?;
    }

    if let Some(sysctl) = linux.and_then(|l| l.sysctl().as_ref()).filter(|s| !s.is_empty()) {
        let proc = crate::procfs::open_proc().map_err(|e| e.field("linux.sysctl"))?;
        for (k, v) in sysctl {
            let rel = format!("sys/{}", k.replace('.', "/"));
            crate::procfs::write(&proc, &rel, v.as_bytes()).map_err(|e| e.context(format!("set sysctl {k}={v}")).field(format!("linux.sysctl.{k}")))?;
        }
    }
    if let Some(h) = spec.hostname().as_ref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).map_err(|e| Error::errno(format!("set hostname {h:?}"), e).field("hostname"))?;
    }
    if let Some(d) = spec.domainname().as_ref().filter(|d| !d.is_empty()) {
        // SAFETY: d points to d.len() valid bytes.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
            return Err(Error::last(format!("set domainname {d:?}")).field("domainname"));
        }
    }
    if let Some(sock) = ctx.console {
        let size = process.console_size().map(|b| (b.height() as u32, b.width() as u32));
        let slave = console::create_pty(sock.as_fd(), size)?;
        rootfs::mount_console(slave.as_fd())?;
        console::make_controlling(slave.as_fd())?;
    }
    rootfs::finalize(&rctx)?;
    place()?;

    let cwd = rootfs::open_dir_in_root(Path::new("/"), process.cwd(), true).map_err(|e| e.field("process.cwd"))?;
    // SAFETY: fchdir on a directory descriptor we own.
    if unsafe { libc::fchdir(cwd.as_raw_fd()) } != 0 {
        return Err(Error::last(format!("chdir to {}", process.cwd().display())).field("process.cwd"));
    }
    drop(cwd);

    if !ctx.no_new_keyring {
        join_session_keyring(ctx.id)?;
    }
    rlimits::set_rlimits(process.rlimits().as_deref().unwrap_or(&[]))?;
    if let Some(s) = process.scheduler() {
        process::set_scheduler(s)?;
    }
    if let Some(p) = process.io_priority() {
        process::set_io_priority(p)?;
    }
    if let Some(p) = linux.and_then(|l| l.personality().as_ref()) {
        process::set_personality(p)?;
    }
    let args = process.args().as_deref().unwrap_or(&[]);
    let passwd = crate::env::read_passwd();
    let env = crate::env::build(process.env().as_deref().unwrap_or(&[]), ctx.extra_env, process.user().uid(), passwd.as_deref());
    let exe = process::find_executable(&args[0], &env).map_err(|e| e.field("process.args[0]"))?;

    if !ctx.lsm.is_empty() {
        let proc = crate::procfs::open_proc()?;
        crate::lsm::apply(&proc, ctx.lsm)?;
    }
    process::prepare_fds(ctx.preserve_fds)?;
    process::give_stdio_to(process.user().uid())?;
    let caps = process.capabilities().as_ref();
    let nnp = process.no_new_privileges().unwrap_or(false);
    capabilities::apply_bounding(caps)?;
    if !nnp {
        // Without no_new_privs loading a filter takes CAP_SYS_ADMIN, which
        // the user switch below may drop.
        load_seccomp(ctx.seccomp, ctx.chan)?;
    }
    process::set_keep_caps(true)?;
    process::set_user(process.user(), setgroups_allowed(plan.userns))?;
    process::set_keep_caps(false)?;
    capabilities::apply(caps)?;
    process::set_umask(process.user());
    if nnp {
        process::set_no_new_privs()?;
        // Last, so the filter constrains the process and not our setup.
        load_seccomp(ctx.seccomp, ctx.chan)?;
    }
    reset_signals()?;
    // create returns once we report Ready; we must outlive it.
    prctl(libc::PR_SET_PDEATHSIG, 0, "clear parent death signal")?;
    log::debug!("init: ready to exec {}", exe.to_string_lossy());
    Ok((exe, env))
}

/// Load the seccomp filter; a notify listener goes to the parent, which
/// hands it to the agent (it knows the host pid for the agent's state).
pub(super) fn load_seccomp(filter: Option<&crate::seccomp::Filter>, chan: &Channel) -> Result<()> {
    if let Some(f) = filter {
        if let Some(fd) = crate::seccomp::load(f)? {
            chan.send_fd(&Msg::Listener, fd.as_fd())?;
        }
    }
    Ok(())
}

/// In a user namespace the init starts as an unmapped id; become the
/// namespace's root (if root is mapped) so files it creates are owned
/// sensibly and the later user switch starts from uid 0.
fn become_root_in_userns(linux: Option<&oci_spec::runtime::Linux>) -> Result<()> {
    let maps_root = |m: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>| m.is_none_or(|m| m.is_empty() || m.iter().any(|x| x.container_id() == 0));
    let l = linux;
    if maps_root(l.and_then(|l| l.gid_mappings().as_ref())) {
        // SAFETY: plain id-setting syscall.
        if unsafe { libc::setresgid(0, 0, 0) } != 0 {
            return Err(Error::last("become root in the user namespace (setresgid 0)"));
        }
    }
    if maps_root(l.and_then(|l| l.uid_mappings().as_ref())) {
        // SAFETY: plain id-setting syscall.
        if unsafe { libc::setresuid(0, 0, 0) } != 0 {
            return Err(Error::last("become root in the user namespace (setresuid 0)"));
        }
    }
    Ok(())
}

/// Wait for Go; the bind sources `create` opened on the host
/// (Msg::BindSources, user namespaces only) come before it.
fn receive_until_go(chan: &Channel) -> Result<Vec<OwnedFd>> {
    let mut trees = Vec::new();
    loop {
        match chan.recv()? {
            Some(Msg::Go) => return Ok(trees),
            Some(Msg::BindSources) => trees.extend(chan.take_fds()),
            Some(Msg::Error(e)) => return Err(Error::msg(e)),
            other => return Err(Error::msg(format!("expected Go, got {other:?} on the sync socket"))),
        }
    }
}

/// setgroups(2) is refused in a user namespace whose setgroups file says deny.
pub(super) fn setgroups_allowed(in_userns: bool) -> bool {
    !in_userns || std::fs::read_to_string("/proc/self/setgroups").map_or(true, |s| s.trim() == "allow")
}

/// A fresh session keyring named after the container, so it does not share
/// the host's keys.
fn join_session_keyring(id: &str) -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
    let name = CString::new(format!("_ses.{id}")).map_err(|_| Error::msg("container id holds a NUL byte"))?;
    // SAFETY: keyctl with a valid NUL-terminated name pointer.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        // Kernels without keys, or quotas exhausted in a user namespace, are not fatal.
        if !matches!(e.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EDQUOT) | Some(libc::EACCES)) {
            return Err(Error::os("join a new session keyring", e));
        }
    }
    Ok(())
}

/// The Rust runtime ignores SIGPIPE in Berth; an ignored signal stays ignored
/// across execve, so restore it, and unblock everything.
pub(super) fn reset_signals() -> Result<()> {
    // SAFETY: setting the default disposition and an empty mask involves no handlers.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        if libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut()) != 0 {
            return Err(Error::last("reset the signal mask"));
        }
    }
    Ok(())
}
