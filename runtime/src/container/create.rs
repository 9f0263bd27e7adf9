//! `berth create`: the parent side of container creation.

use super::init::{self, InitCtx};
use crate::cgroups::systemd::{self, Driver};
use crate::cgroups::{self, Placement};
use crate::config::{self, Bundle};
use crate::error::{Error, Result};
use crate::hooks;
use crate::namespaces::{self, Plan};
use crate::rootfs;
use crate::state::{self, LaterHooks, Locked, Root, State};
use crate::sync::{self, Msg};
use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where the container's terminal master goes.
pub enum Console {
    /// No terminal.
    None,
    /// `--console-socket PATH`: connect and send the master there.
    Socket(PathBuf),
    /// `run` in the foreground: if the config asks for a terminal, Berth
    /// receives the master itself (see [`Created::proxy`]) and proxies it.
    Proxy,
}

/// Options of `create` (and `run`).
pub struct CreateOpts {
    /// Container id.
    pub id: String,
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Terminal destination.
    pub console: Console,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--no-new-keyring`.
    pub no_new_keyring: bool,
    /// `--preserve-fds`: fds 3..3+N pass to the container.
    pub preserve_fds: u32,
    /// Entries added to process.env (LISTEN_FDS/LISTEN_PID for socket activation).
    pub extra_env: Vec<String>,
    /// Who makes the cgroups (`--systemd-cgroup`, `--cgroup-manager`).
    pub cgroup_driver: Driver,
}

/// What `create` leaves for `run`.
pub struct Created {
    /// Host pid of the init.
    pub pid: i32,
    /// With [`Console::Proxy`] and a terminal: our end of the console
    /// socket, on which the pty master arrives.
    pub proxy: Option<OwnedFd>,
}

/// Create a container: on success the init waits on the start gate.
pub fn create(root: &Root, o: CreateOpts) -> Result<Created> {
    state::validate_id(&o.id)?;
    let bundle = config::load(&o.bundle)?;
    config::check_supported(&bundle.spec)?;
    let process = bundle.spec.process().as_ref().ok_or_else(|| Error::msg("process is required to create a container").field("process"))?;
    let terminal = process.terminal().unwrap_or(false);
    if terminal && matches!(o.console, Console::None) {
        return Err(Error::msg("cannot allocate a terminal without --console-socket").field("process.terminal"));
    }
    let linux = bundle.spec.linux().as_ref();
    let plan = namespaces::plan(linux)?;
    log::debug!(
        "create {}: bundle {}, rootfs {}, clone flags {:#x}, unshare {:#x}, {} namespace(s) joined",
        o.id,
        bundle.dir.display(),
        bundle.rootfs.display(),
        plan.clone_flags,
        plan.unshare_flags,
        plan.join.len() + usize::from(plan.join_user.is_some()) + usize::from(plan.join_pid.is_some()) + usize::from(plan.join_time.is_some())
    );
    let cg_path = linux.and_then(|l| l.cgroups_path().as_deref());
    let (placement, unit) = match o.cgroup_driver {
        Driver::Cgroupfs => (cgroups::resolve(cg_path, &o.id)?, None),
        Driver::Systemd => {
            let (p, u) = systemd::resolve(cg_path, &o.id)?;
            (p, Some(u))
        }
    };
    log::debug!("create {}: cgroups {:?}{}", o.id, placement.paths(), unit.as_ref().map_or(String::new(), |u| format!(" in unit {}", u.name)));
    // Before anything exists: a frozen cgroup would hang the create, and a
    // unified key the host cannot carry out is refused whole.
    placement.check_existing()?;
    if let Some(r) = linux.and_then(|l| l.resources().as_ref()) {
        cgroups::apply::check_unified(&placement, r)?;
    }
    // LSM labels are checked against the host before anything exists.
    let (lsm_writes, mount_context) = lsm_plan(&bundle.spec)?;
    // Compiled before anything exists: a bad profile leaves nothing behind.
    // The compile costs milliseconds; the cache (outside the state root,
    // see seccomp::cache_dir) makes repeats cost microseconds.
    let filter = match linux.and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(crate::seccomp::build_cached(s, crate::seccomp::cache_dir().as_deref())?),
        None => None,
    };
    // Without a mount namespace of its own the container's mounts land in
    // ours: what the rootfs path is on now is where a clean-up stops.
    let below = match plan.host_mountns() {
        true => Some(
            rootfs::inherited::mount_id(&bundle.rootfs)
                .map_err(|e| Error::os(format!("find the mount of {}", bundle.rootfs.display()), e).field("root.path"))?,
        ),
        false => None,
    };
    let locked = root.create_container_dir(&o.id)?;
    // Under systemd the directories are the unit's: they are ours to remove
    // only once our unit started (a name taken by another container's unit
    // must not cost that container its cgroup).
    let ours = unit.is_none().then_some(&placement);
    let mut guard = Cleanup { locked: &locked, placement: ours, unit: None, pid: 0, host_mounts: below.map(|b| (bundle.rootfs.as_path(), b)) };
    // Intent first: from here on everything create makes (cgroups, the
    // init, mounts in our namespace) is named by a record on disk before it
    // exists, so that `delete --force` finds it whenever create is killed.
    locked.save_config(&bundle.raw)?;
    let mut st = new_state(&o.id, 0, 0, &bundle, placement.paths(), plan.new_pidns);
    st.systemd_unit = unit.as_ref().map(|u| u.name.clone());
    st.host_mounts = below.map(|below| state::HostMounts { below, ours: 0 });
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    st.creator = Some((me, state::proc_stat(me).map_or(0, |s| s.0)));
    locked.save(&st)?;
    let extras = InitExtras { seccomp: filter.as_ref(), lsm: &lsm_writes, mount_context: mount_context.as_deref() };
    let mut proxy = None;
    let cgroups = Cgroups { placement: &placement, unit: unit.as_ref() };
    let pid =
        build(&o, &bundle, &plan, cgroups, &locked, &mut st, terminal, extras, &mut proxy, &mut guard).map_err(|e| e.context(format!("create {}", o.id)))?;
    guard.disarm();
    Ok(Created { pid, proxy })
}

/// Where the container's cgroups are and, under systemd, the unit that
/// makes them.
#[derive(Clone, Copy)]
struct Cgroups<'a> {
    placement: &'a Placement,
    unit: Option<&'a systemd::Unit>,
}

/// Security settings prepared by the parent for the init.
struct InitExtras<'a> {
    seccomp: Option<&'a crate::seccomp::Filter>,
    lsm: &'a [(&'static str, String)],
    mount_context: Option<&'a str>,
}

/// The init's LSM writes (procfs attribute, label) and the mount label
/// option.
type LsmPlan = (Vec<(&'static str, String)>, Option<String>);

/// LSM writes for the init and the mount label option; the host is probed
/// only when a label is asked for.
fn lsm_plan(spec: &oci_spec::runtime::Spec) -> Result<LsmPlan> {
    let p = spec.process().as_ref();
    let aa = p.and_then(|p| p.apparmor_profile().as_deref()).filter(|s| !s.is_empty());
    let se = p.and_then(|p| p.selinux_label().as_deref()).filter(|s| !s.is_empty());
    let ml = spec.linux().as_ref().and_then(|l| l.mount_label().as_deref()).filter(|s| !s.is_empty());
    if aa.is_none() && se.is_none() && ml.is_none() {
        return Ok((Vec::new(), None));
    }
    let host = crate::lsm::Host::probe();
    Ok((crate::lsm::plan(host, aa, se)?, crate::lsm::mount_context(host, ml)?))
}

/// Undo a failed create: kill the init, unmount what it mounted in our
/// namespace (without one of its own), remove cgroups and the state dir.
struct Cleanup<'a> {
    locked: &'a Locked,
    placement: Option<&'a Placement>,
    /// A systemd unit started for the container: stopped.
    unit: Option<&'a str>,
    pid: i32,
    /// The rootfs and the id of the mount it was on before create.
    host_mounts: Option<(&'a Path, u64)>,
}

impl Cleanup<'_> {
    fn disarm(&mut self) {
        self.placement = None;
        self.unit = None;
        self.pid = -1;
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if self.pid < 0 {
            return;
        }
        if self.pid > 0 {
            // SAFETY: the init is our own child; SIGKILL then reap it.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
        if let Some((rootfs, below)) = self.host_mounts {
            if let Err(e) = rootfs::inherited::unmount_stack(rootfs, below, None) {
                log::warn!("unmount the container's mounts on {}: {e}", rootfs.display());
            }
        }
        if let Some(u) = self.unit {
            if let Err(e) = systemd::stop(u) {
                log::warn!("{e}");
            }
        }
        if let Some(p) = self.placement {
            if let Err(e) = cgroups::remove(&p.paths()) {
                log::warn!("{e}");
            }
        }
        if let Err(e) = self.locked.remove() {
            log::warn!("{e}");
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn build<'a>(
    o: &CreateOpts,
    bundle: &Bundle,
    plan: &Plan,
    cgroups: Cgroups<'a>,
    locked: &Locked,
    st: &mut State,
    terminal: bool,
    extras: InitExtras,
    proxy: &mut Option<OwnedFd>,
    guard: &mut Cleanup<'a>,
) -> Result<i32> {
    let spec = &bundle.spec;
    let linux = spec.linux().as_ref();
    let placement = cgroups.placement;
    // Only the cgroup2 directory before the clone: the init is born in it.
    // The v1 directories and every resource limit follow while the init
    // mounts its rootfs (it waits for them when it must join: see init.rs).
    // Under systemd the unit's directory is systemd's to make, once the
    // init exists.
    if cgroups.unit.is_none() {
        placement.create_v2()?;
    }

    // The start gate. The init holds it open read-write, so its read blocks
    // until `start` writes, and `start` can tell a dead init (ENXIO).
    let fifo = locked.fifo();
    let cfifo = CString::new(fifo.as_os_str().as_bytes()).map_err(|_| Error::msg("state path holds a NUL byte"))?;
    // SAFETY: cfifo is a valid NUL-terminated path.
    if unsafe { libc::mkfifo(cfifo.as_ptr(), 0o600) } != 0 {
        return Err(Error::last(format!("create start gate {}", fifo.display())));
    }
    // SAFETY: as above; the returned descriptor is checked and owned below.
    let gate = unsafe { libc::open(cfifo.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if gate < 0 {
        return Err(Error::last(format!("open start gate {}", fifo.display())));
    }
    // SAFETY: gate is a fresh descriptor owned by nobody else.
    let gate = unsafe { OwnedFd::from_raw_fd(gate) };

    let console = match (&o.console, terminal) {
        (Console::Socket(p), true) => Some(crate::console::connect_socket(p)?),
        (Console::Proxy, true) => {
            let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(|e| Error::os("create console socketpair", e))?;
            *proxy = Some(ours.into());
            Some(theirs.into())
        }
        _ => None,
    };
    let (parent_chan, child_chan) = sync::pair()?;
    let cgroup_mounts = placement.mounts();
    let born = match placement.v2() {
        Some((dir, _)) if cgroups.unit.is_none() => crate::cgroups::entry::Entry::v2_dir(dir)?,
        _ => crate::cgroups::entry::Entry::default(),
    };
    let v1_dirs = placement.v1_paths();
    let base_state = |status: &str, pid: i32| hook_state(&o.id, status, pid, bundle);

    let ctx = InitCtx {
        id: &o.id,
        bundle,
        plan,
        chan: &child_chan,
        gate: &gate,
        console: console.as_ref(),
        cgroup_mounts: &cgroup_mounts,
        cgroups: &born,
        v1_dirs: &v1_dirs,
        no_pivot: o.no_pivot,
        no_new_keyring: o.no_new_keyring,
        preserve_fds: o.preserve_fds,
        extra_env: &o.extra_env,
        seccomp: extras.seccomp,
        lsm: extras.lsm,
        mount_context: extras.mount_context,
        parent: std::process::id() as i32,
        close: [locked.raw_fd(), parent_chan.raw_fd()],
    };
    let (pid, in_v2) = clone_init(plan, linux, &ctx)?;
    log::debug!("create {}: init is pid {pid}{}", o.id, if in_v2 { ", born in its cgroup2 directory" } else { "" });
    guard.pid = pid;
    // Recorded before Go, so before the init can drop its parent-death
    // signal: a create killed from here on leaves an init `delete --force`
    // can find (pid and start time: never another process).
    st.pid = pid;
    st.pid_start = state::proc_stat(pid).map_or(0, |s| s.0);
    locked.save(st)?;
    drop(child_chan);
    drop(gate);
    drop(console);

    // The parent's half of the setup; the init waits for Go.
    if plan.new_userns {
        if let Some(l) = linux {
            namespaces::write_id_maps(pid, l)?;
        }
    }
    if let Some(adj) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
        std::fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string())
            .map_err(|e| Error::os(format!("set oom_score_adj to {adj}"), e).field("process.oomScoreAdj"))?;
    }
    if let Some(unit) = cgroups.unit {
        // systemd moves the init into the unit's cgroup; the unit (with its
        // limits) exists before the init runs a line of the container's.
        let props = systemd::start_properties(unit, &o.id, pid, placement, spec)?;
        systemd::start(unit, &props, placement, pid)?;
        guard.unit = Some(&unit.name);
        guard.placement = Some(placement);
    } else if !in_v2 {
        born.enter_v2(pid)?;
    }
    drop(born);
    // The init gave up first if a send fails: its own message says why.
    // Without a message, how it ended says more than our failed send.
    let init_error = |e: Error| match parent_chan.recv() {
        Ok(Some(Msg::Error(m))) => Error::msg(m),
        _ => peek_death(pid).map_or(e, |status| death_error(status, placement, spec)),
    };
    if plan.userns {
        // Bind sources, looked up with our credentials, not the
        // container root's.
        let trees = crate::rootfs::open_bind_sources(spec, &bundle.dir)?;
        let raw: Vec<_> = trees.iter().map(std::os::fd::AsRawFd::as_raw_fd).collect();
        for chunk in raw.chunks(sync::MAX_FDS) {
            parent_chan.send_fds(&Msg::BindSources, chunk).map_err(init_error)?;
        }
    }
    parent_chan.send(&Msg::Go).map_err(init_error)?;

    // Limits before Placed, so that no member of the cgroups ever sees them
    // half-done: a v1 device list is rewritten rule by rule (deny all, then
    // each allow), and a member creating /dev/null in between gets EPERM.
    placement.create_v1()?;
    crate::cgroups::apply::apply_config(placement, linux)?;
    let v1 = crate::cgroups::entry::Entry::v1_dirs(&v1_dirs)?;
    parent_chan.send_fds(&Msg::Placed, &v1.task_fds()).map_err(init_error)?;
    drop(v1);

    loop {
        match parent_chan.recv()? {
            Some(Msg::NeedHooks) => {
                // runtime.md "Lifecycle": these hooks are steps 3-4, after
                // the environment was created (step 2): the status is
                // `created` (runc says `creating`).
                let st = base_state("created", pid);
                if let Some(h) = spec.hooks() {
                    #[allow(deprecated)]
                    hooks::run_all("prestart", h.prestart().as_deref().unwrap_or(&[]), &st)?;
                    hooks::run_all("createRuntime", h.create_runtime().as_deref().unwrap_or(&[]), &st)?;
                }
                parent_chan.send(&Msg::HooksDone)?;
            }
            Some(Msg::Listener) => hand_listener(spec, &parent_chan, &base_state("creating", pid))?,
            Some(Msg::Ready) => break,
            Some(Msg::Error(e)) => return Err(Error::msg(e)),
            Some(m) => return Err(Error::msg(format!("unexpected {m:?} from the container's init"))),
            None => {
                // Reaped now: the guard must not signal a pid that may be reused.
                let e = init_died(pid, placement, spec);
                guard.pid = 0;
                return Err(e);
            }
        }
    }

    if state::proc_stat(pid).is_none_or(|(start, _)| start != st.pid_start) {
        let e = init_died(pid, placement, spec);
        guard.pid = 0;
        return Err(e);
    }
    if let Some(below) = guard.host_mounts.map(|(_, b)| b) {
        // The init waits on the gate: what is on the rootfs path now is
        // the bind it made.
        let ours = rootfs::inherited::mount_id(&bundle.rootfs).map_err(|e| Error::os(format!("find the mount of {}", bundle.rootfs.display()), e))?;
        st.host_mounts = Some(state::HostMounts { below, ours });
    }
    st.creator = None;
    st.created = crate::logging::rfc3339(std::time::SystemTime::now());
    locked.save(st)?;
    log::debug!("create {}: created, init {pid} waits on the start gate", o.id);
    if let Some(p) = &o.pid_file {
        write_pid_file(p, pid)?;
    }
    Ok(pid)
}

/// The state of a container whose init runs as `pid` (create and restore).
pub(crate) fn new_state(id: &str, pid: i32, pid_start: u64, bundle: &Bundle, cgroup_paths: Vec<PathBuf>, own_pidns: bool) -> State {
    let spec = &bundle.spec;
    let hooks = spec.hooks().as_ref();
    State {
        oci_version: spec.version().clone(),
        id: id.to_string(),
        pid,
        pid_start,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::logging::rfc3339(std::time::SystemTime::now()),
        annotations: spec.annotations().clone().unwrap_or_default().into_iter().collect(),
        cgroup_paths,
        own_pidns,
        hooks: LaterHooks {
            poststart: hooks.and_then(|h| h.poststart().clone()).unwrap_or_default(),
            poststop: hooks.and_then(|h| h.poststop().clone()).unwrap_or_default(),
        },
        host_mounts: None,
        creator: None,
        systemd_unit: None,
    }
}

/// Pass the seccomp notify fd the child sent to the agent at listenerPath.
pub(crate) fn hand_listener(spec: &oci_spec::runtime::Spec, chan: &sync::Channel, state: &serde_json::Value) -> Result<()> {
    let fd = chan.take_fd().ok_or_else(|| Error::msg("the seccomp listener did not arrive with its message"))?;
    let sc = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let path =
        sc.and_then(|s| s.listener_path().as_ref()).ok_or_else(|| Error::msg("a seccomp listener without listenerPath").field("linux.seccomp.listenerPath"))?;
    let meta = sc.and_then(|s| s.listener_metadata().as_deref()).unwrap_or("");
    crate::seccomp::send_listener(path, std::os::fd::AsFd::as_fd(&fd), state, meta)
}

/// The init closed the socket before Ready: collect its status for the message.
/// Reap the init that ended during setup and say how it ended.
fn init_died(pid: i32, placement: &Placement, spec: &oci_spec::runtime::Spec) -> Error {
    let mut status = 0;
    // SAFETY: waitpid on our own child with a valid status pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    if r != pid {
        return Error::msg("the container's init exited during setup");
    }
    death_error(status, placement, spec)
}

/// The wait status of the init if it has ended, without reaping it (the
/// clean-up guard does): it closed its end of the socket, so it is ending;
/// a second is plenty.
fn peek_death(pid: i32) -> Option<libc::c_int> {
    for _ in 0..100 {
        // SAFETY: a zeroed siginfo_t is a valid output buffer for waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own child with a valid output buffer.
        let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT | libc::WNOHANG) };
        // SAFETY: waitid filled `info` (si_pid 0 if the child has not ended).
        let (who, code, value) = unsafe { (info.si_pid(), info.si_code, info.si_status()) };
        if r == 0 && who == pid {
            return Some(if code == libc::CLD_EXITED { (value & 0xff) << 8 } else { value & 0x7f });
        }
        if r != 0 {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    None
}

/// How the init ended during setup, as an error; a SIGKILL from the OOM
/// killer names the memory limit that was too small.
fn death_error(status: libc::c_int, placement: &Placement, spec: &oci_spec::runtime::Spec) -> Error {
    if libc::WIFEXITED(status) {
        return Error::msg(format!("the container's init exited during setup with status {}", libc::WEXITSTATUS(status)));
    }
    let sig = libc::WTERMSIG(status);
    if sig == libc::SIGKILL && cgroups::stats::oom_kills(&placement.paths()) > 0 {
        let limit = spec.linux().as_ref().and_then(|l| l.resources().as_ref()).and_then(|r| r.memory().as_ref()).and_then(|m| m.limit());
        let what = limit.map_or_else(|| "the memory limit".to_string(), |l| format!("the memory limit of {l} bytes"));
        return Error::msg(format!("the container's init was killed by the OOM killer during setup: {what} is too small to set the container up"))
            .field("linux.resources.memory.limit");
    }
    Error::msg(format!("the container's init was killed by signal {sig} during setup"))
}

/// The state document hooks get on stdin.
pub(crate) fn hook_state(id: &str, status: &str, pid: i32, bundle: &Bundle) -> serde_json::Value {
    let mut v = serde_json::json!({
        "ociVersion": bundle.spec.version(),
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle.dir,
    });
    if let Some(a) = bundle.spec.annotations().as_ref().filter(|a| !a.is_empty()) {
        v["annotations"] = serde_json::to_value(a).unwrap_or_default();
    }
    v
}

/// Write the pid file atomically (engines poll for it).
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
    std::fs::write(&tmp, pid.to_string()).map_err(|e| Error::os(format!("write pid file {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::os(format!("write pid file {}", path.display()), e))
}

/// Clone the init. Joined pid/time namespaces and a new time namespace are
/// entered by this process first (they take effect for children only) and
/// left again afterwards, so the hooks this process runs stay outside.
/// Returns the pid and whether the init was born in its cgroup2 directory.
fn clone_init(plan: &Plan, linux: Option<&oci_spec::runtime::Linux>, ctx: &InitCtx) -> Result<(i32, bool)> {
    // The child inherits the dumpable flag at clone. Clearing it here closes
    // the window between clone and the init's own prctl in which a process
    // of a joined pid namespace could open /proc/<init>/exe (CVE-2019-5736).
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let mut kinds = 0;
    if plan.join_pid.is_some() {
        kinds |= libc::CLONE_NEWPID;
    }
    if plan.join_time.is_some() || plan.new_timens {
        kinds |= libc::CLONE_NEWTIME;
    }
    namespaces::for_children(
        kinds,
        || namespaces::prepare_parent(plan, linux),
        || {
            let v2 = ctx.cgroups.v2_fd().zip(ctx.cgroups.v2_path());
            let (pid, in_v2) = namespaces::clone_into(plan.clone_flags, v2).map_err(|e| e.context("the container's init"))?;
            if pid == 0 {
                init::run(ctx);
            }
            Ok((pid, in_v2))
        },
    )
}
