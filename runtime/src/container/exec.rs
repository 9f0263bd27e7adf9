//! `berth exec`: run another process in a running container.
//!
//! The new process joins every namespace of the container's init that
//! differs from ours, and its cgroup. A pid (or time) namespace applies only
//! to children, so this process enters it for its children, forks once, and
//! steps back; the child joins the rest itself, then becomes the process.

use crate::config;
use crate::error::{Error, Result};
use crate::state::{Root, Status};
use crate::sync::{self, Msg};
use crate::{capabilities, console, namespaces, process, rlimits};
use oci_spec::runtime::{Capability, LinuxCapabilities, Process};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::str::FromStr;

/// Options of `exec` (runc's flags).
#[derive(Default)]
pub struct ExecOpts {
    /// `--process FILE`: the whole process JSON.
    pub process: Option<PathBuf>,
    /// Command and arguments when there is no `--process`.
    pub args: Vec<String>,
    /// `--tty`.
    pub tty: bool,
    /// `--console-socket`.
    pub console_socket: Option<PathBuf>,
    /// `--cwd`.
    pub cwd: Option<PathBuf>,
    /// `--env K=V`, appended to the container's environment.
    pub env: Vec<String>,
    /// `--user UID[:GID]`.
    pub user: Option<String>,
    /// `--additional-gids`.
    pub additional_gids: Vec<u32>,
    /// `--cap`: capabilities added to the bounding, effective and permitted sets.
    pub caps: Vec<String>,
    /// `--no-new-privs`.
    pub no_new_privs: bool,
    /// `--apparmor`.
    pub apparmor: Option<String>,
    /// `--process-label`.
    pub process_label: Option<String>,
    /// `--detach`.
    pub detach: bool,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// `--cgroup [CONTROLLER[,CONTROLLER]:]PATH`, repeatable: sub-cgroups of
    /// the container's to join (see [`super::exec_cgroups`]).
    pub cgroup: Vec<String>,
    /// `--ignore-paused`.
    pub ignore_paused: bool,
}

/// Namespace kinds in the order a process joins them: user first, so it
/// holds the capabilities the others ask for; mount last but one (its
/// setns moves our root and cwd into the container).
const JOIN_ORDER: &[(&str, libc::c_int)] = &[
    ("user", libc::CLONE_NEWUSER),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("mnt", libc::CLONE_NEWNS),
];

/// Run a process in container `id`; returns berth's exit code.
pub fn exec(root: &Root, id: &str, o: ExecOpts) -> Result<i32> {
    let st = root.load(id)?;
    let dir = root.container_dir(id);
    match st.status(&dir) {
        Status::Running | Status::Created => {}
        Status::Paused if o.ignore_paused => {}
        Status::Paused => return Err(Error::msg(format!("cannot exec in container {id}: it is paused (use --ignore-paused)"))),
        s => return Err(Error::msg(format!("cannot exec in container {id}: it is {}", s.as_str()))),
    }
    // What the container was created from, not what config.json says now.
    let spec = config::load_saved(&dir, &st.bundle)?;
    let p = build_process(&spec, &o)?;
    let aa = o.apparmor.as_deref().or(p.apparmor_profile().as_deref()).filter(|s| !s.is_empty());
    let se = o.process_label.as_deref().or(p.selinux_label().as_deref()).filter(|s| !s.is_empty());
    let lsm_writes = if aa.is_some() || se.is_some() { crate::lsm::plan(crate::lsm::Host::probe(), aa, se)? } else { Vec::new() };
    // The container's seccomp profile applies to exec'd processes too.
    let filter = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(crate::seccomp::build_cached(s, crate::seccomp::cache_dir().as_deref())?),
        None => None,
    };
    let terminal = p.terminal().unwrap_or(false);
    let (console_target, proxy) = match (&o.console_socket, terminal, o.detach) {
        (Some(path), true, _) => (Some(console::connect_socket(path)?), None),
        (None, true, true) => return Err(Error::msg("cannot allocate a terminal for a detached process without --console-socket").field("--tty")),
        (None, true, false) => {
            let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(|e| Error::os("create console socketpair", e))?;
            (Some(OwnedFd::from(theirs)), Some(OwnedFd::from(ours)))
        }
        _ => (None, None),
    };

    // Namespaces of the init that differ from ours.
    let mut joins: Vec<(std::fs::File, libc::c_int, &str)> = Vec::new();
    let mut for_children: Vec<(std::fs::File, libc::c_int)> = Vec::new();
    for (kind, flag) in JOIN_ORDER.iter().copied().chain([("pid", libc::CLONE_NEWPID), ("time", libc::CLONE_NEWTIME)]) {
        let theirs = format!("/proc/{}/ns/{kind}", st.pid);
        let same = match (std::fs::metadata(&theirs), std::fs::metadata(format!("/proc/self/ns/{kind}"))) {
            (Ok(a), Ok(b)) => std::os::unix::fs::MetadataExt::ino(&a) == std::os::unix::fs::MetadataExt::ino(&b),
            (Err(_), _) => continue,
            _ => false,
        };
        if same {
            continue;
        }
        let f = std::fs::File::open(&theirs).map_err(|e| Error::os(format!("open {theirs}"), e))?;
        if flag == libc::CLONE_NEWPID || flag == libc::CLONE_NEWTIME {
            for_children.push((f, flag));
        } else {
            joins.push((f, flag, kind));
        }
    }
    let cgroups = super::exec_cgroups::dirs(&st.cgroup_paths, &o.cgroup)?;
    // A process entering a frozen cgroup freezes before it reports back:
    // the exec would hang. `--ignore-paused` asks for exactly that.
    if !o.ignore_paused {
        if let Some(why) = crate::cgroups::freezer::frozen_at_entry(&crate::cgroups::Placement::from_paths(&cgroups)?) {
            let e = Error::msg(format!("cannot exec in container {id}: its cgroup is frozen: {why}"));
            return Err(if o.cgroup.is_empty() { e } else { e.field("--cgroup") });
        }
    }
    // Still alive? (the pid could have been reused since `status` looked)
    if !st.init_alive() {
        return Err(Error::msg(format!("cannot exec in container {id}: it has stopped")));
    }

    // Without a mount namespace of its own, the container's root is a
    // chroot of the init's: the process goes there the same way.
    let chroot = match st.host_mounts {
        Some(_) => {
            let p = format!("/proc/{}/root", st.pid);
            Some(std::fs::File::open(&p).map_err(|e| Error::os(format!("open the container's root {p}"), e))?)
        }
        None => None,
    };
    let entry = crate::cgroups::entry::Entry::open(&cgroups).map_err(|e| e.context(format!("exec in {id}")))?;
    // config.md "execCPUAffinity": `initial` before the process enters the
    // container's cgroup (it inherits ours at clone), `final` after.
    let affinity = p.exec_cpu_affinity().as_ref();
    if let Some(initial) = affinity.and_then(|a| a.initial().as_deref()) {
        process::set_cpu_affinity(initial, "process.execCPUAffinity.initial")?;
    }
    let final_cpus = affinity.and_then(|a| a.cpu_affinity_final().clone());
    let (parent_chan, child_chan) = sync::pair()?;
    // Inherited by the child at fork: it is born in the container's pid
    // namespace already non-dumpable, with no window in which a container
    // process could open /proc/<child>/exe (CVE-2019-5736).
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let kinds = for_children.iter().fold(0, |k, (_, f)| k | f);
    let (pid, in_v2) = namespaces::for_children(
        kinds,
        || {
            for (f, fl) in &for_children {
                // SAFETY: setns on a descriptor we hold; for pid and time it
                // changes only what our children are born into.
                if unsafe { libc::setns(f.as_raw_fd(), *fl) } != 0 {
                    return Err(Error::last("join the container's pid/time namespace"));
                }
            }
            Ok(())
        },
        || {
            let (pid, in_v2) = namespaces::clone_into(0, entry.v2_fd().zip(entry.v2_path())).map_err(|e| e.context("exec"))?;
            if pid == 0 {
                // SAFETY: closing our copy of the parent's end in the child.
                unsafe { libc::close(parent_chan.raw_fd()) };
                // Our stderr is the container's: warnings go to the parent.
                crate::logging::forward_to(child_chan.raw_fd());
                let joined = entry.join_self().and_then(|()| match &final_cpus {
                    Some(cpus) => process::set_cpu_affinity(cpus, "process.execCPUAffinity.final"),
                    None => Ok(()),
                });
                entry.close_in_child();
                let setup = joined
                    .and_then(|()| child(&p, &joins, chroot.as_ref(), &child_chan, console_target.as_ref(), o.preserve_fds, filter.as_ref(), &lsm_writes));
                let e = match setup {
                    Err(e) => e,
                    Ok(never) => match never {},
                };
                let _ = child_chan.send(&Msg::Error(e.to_string()));
                // SAFETY: end the child without running the parent's destructors.
                unsafe { libc::_exit(127) }
            }
            Ok((pid, in_v2))
        },
    )?;
    drop(child_chan);
    drop(console_target);
    let fail = |e: Error| {
        // SAFETY: our own child; kill and reap it.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        e.context(format!("exec in {id}"))
    };
    if !in_v2 {
        entry.enter_v2(pid).map_err(fail)?;
    }
    drop(entry);
    parent_chan.send(&Msg::Go).map_err(fail)?;
    // The child's end is close-on-exec: EOF means the exec happened.
    let mut reply = parent_chan.recv();
    if let Ok(Some(Msg::Listener)) = reply {
        let state = serde_json::json!({"ociVersion": st.oci_version, "id": id, "status": "running", "pid": pid, "bundle": st.bundle});
        super::create::hand_listener(&spec, &parent_chan, &state).map_err(fail)?;
        reply = parent_chan.recv();
    }
    match reply {
        Ok(None) => {}
        Ok(Some(Msg::Error(e))) => {
            // SAFETY: reap our own child, which exits after reporting.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            return Err(Error::msg(e).context(format!("exec in {id}")));
        }
        Ok(Some(m)) => return Err(fail(Error::msg(format!("unexpected {m:?} from the exec'd process")))),
        Err(e) => return Err(fail(e)),
    }
    log::debug!("exec in {id}: process {pid} started: {:?}", p.args().as_deref().unwrap_or(&[]));
    if let Some(path) = &o.pid_file {
        // A caller that cannot learn the pid cannot manage the process:
        // runc ends it, and so does Berth.
        super::create::write_pid_file(path, pid).map_err(fail)?;
    }
    if o.detach {
        return Ok(0);
    }
    let master = match proxy {
        Some(sock) => Some(console::recv_fd(sock.as_fd())?),
        None => None,
    };
    super::wait::wait_forwarding(pid, master)
}

/// The process to run: `--process` JSON, or the container's process with
/// the command-line overrides (runc's rules).
fn build_process(spec: &oci_spec::runtime::Spec, o: &ExecOpts) -> Result<Process> {
    if let Some(path) = &o.process {
        let data = std::fs::read(path).map_err(|e| Error::os(format!("read process file {}", path.display()), e))?;
        let v: serde_json::Value = serde_json::from_slice(&data).map_err(|e| Error::msg(format!("parse process file {}: {e}", path.display())))?;
        // config.md "cwd" is REQUIRED (runc: "Cwd property must not be empty").
        if v.get("cwd").and_then(serde_json::Value::as_str).is_none_or(str::is_empty) {
            return Err(Error::msg("process.cwd is required").field("--process"));
        }
        let mut p: Process = config::compat::parse_lenient(&data, |v| {
            let mut changed = config::compat::fix_process(v, "--process");
            // runc runs a process without `user` as uid 0, gid 0 (Go's zero
            // value), and engines send such files.
            if let Some(obj) = v.as_object_mut().filter(|o| !o.contains_key("user")) {
                obj.insert("user".into(), serde_json::json!({"uid": 0, "gid": 0}));
                changed = true;
            }
            changed
        })
        .map_err(|e| Error::msg(format!("parse process file {}: {e}", path.display())))?;
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::msg("process.args must hold at least one entry").field("--process"));
        }
        if o.tty {
            p.set_terminal(Some(true));
        }
        return Ok(p);
    }
    if o.args.is_empty() {
        return Err(Error::msg("exec needs a command (or --process FILE)"));
    }
    let mut p = spec.process().clone().ok_or_else(|| Error::msg("the container's config has no process").field("process"))?;
    p.set_args(Some(o.args.clone()));
    p.set_terminal(Some(o.tty));
    p.set_console_size(None);
    if !o.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        env.extend(o.env.iter().cloned());
        p.set_env(Some(env));
    }
    if let Some(cwd) = &o.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(u) = &o.user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        let uid: u32 = uid.parse().map_err(|_| Error::msg(format!("user {u:?} is not UID[:GID]")).field("--user"))?;
        let user = p.user_mut();
        user.set_uid(uid);
        if let Some(g) = gid {
            user.set_gid(g.parse().map_err(|_| Error::msg(format!("user {u:?} is not UID[:GID]")).field("--user"))?);
        }
    }
    if !o.additional_gids.is_empty() {
        p.user_mut().set_additional_gids(Some(o.additional_gids.clone()));
    }
    if !o.caps.is_empty() {
        let mut caps: LinuxCapabilities = p.capabilities().clone().unwrap_or_else(empty_caps);
        for c in &o.caps {
            let name = c.to_ascii_uppercase();
            let name = name.strip_prefix("CAP_").unwrap_or(&name).to_string();
            // runc warns about a name it does not know and goes on.
            let Ok(cap) = Capability::from_str(&name).or_else(|_| Capability::from_str(&format!("CAP_{name}"))) else {
                log::warn!("ignoring unknown capability {c:?} (--cap)");
                continue;
            };
            let add = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = set.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            let (b, e, pm) = (add(caps.bounding()), add(caps.effective()), add(caps.permitted()));
            caps.set_bounding(b);
            caps.set_effective(e);
            caps.set_permitted(pm);
        }
        p.set_capabilities(Some(caps));
    }
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    Ok(p)
}

fn empty_caps() -> LinuxCapabilities {
    serde_json::from_str("{}").expect("an empty capability object parses")
}

/// The child: join namespaces, set the process up, exec. Returns only on error.
#[allow(clippy::too_many_arguments)]
fn child(
    p: &Process,
    joins: &[(std::fs::File, libc::c_int, &str)],
    chroot: Option<&std::fs::File>,
    chan: &sync::Channel,
    console_sock: Option<&OwnedFd>,
    preserve: u32,
    filter: Option<&crate::seccomp::Filter>,
    lsm: &[(&'static str, String)],
) -> Result<std::convert::Infallible> {
    // SAFETY: prctl with integer arguments; keeps the container's processes
    // from reading this process's memory while it still runs Berth's code.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    chan.expect(Msg::Go)?;
    let mut in_userns = false;
    for (f, fl, kind) in joins {
        // SAFETY: setns on a descriptor we hold.
        if unsafe { libc::setns(f.as_raw_fd(), *fl) } != 0 {
            return Err(Error::last(format!("join the container's {kind} namespace")));
        }
        in_userns |= *fl == libc::CLONE_NEWUSER;
    }
    if in_userns {
        // SAFETY: plain id-setting syscalls; become the namespace's root
        // before the user switch below.
        unsafe {
            libc::setresgid(0, 0, 0);
            libc::setresuid(0, 0, 0);
        }
    }
    if let Some(root) = chroot {
        // SAFETY: fchdir to a directory we hold open, then chroot to it.
        if unsafe { libc::fchdir(root.as_raw_fd()) } != 0 || unsafe { libc::chroot(c".".as_ptr()) } != 0 {
            return Err(Error::last("enter the container's root"));
        }
    }
    let cwd = crate::rootfs::open_dir_in_root(std::path::Path::new("/"), p.cwd(), false).map_err(|e| e.field("process.cwd"))?;
    // SAFETY: fchdir on a directory descriptor we own.
    if unsafe { libc::fchdir(cwd.as_raw_fd()) } != 0 {
        return Err(Error::last(format!("chdir to {}", p.cwd().display())).field("process.cwd"));
    }
    drop(cwd);
    if let Some(sock) = console_sock {
        let size = p.console_size().map(|b| (b.height() as u32, b.width() as u32));
        let slave = console::create_pty(sock.as_fd(), size)?;
        console::make_controlling(slave.as_fd())?;
    } else {
        // SAFETY: setsid has no preconditions; a new session keeps the
        // process apart from berth's terminal job control.
        unsafe { libc::setsid() };
    }
    if let Some(adj) = p.oom_score_adj() {
        process::set_oom_score_adj(adj)?;
    }
    rlimits::set_rlimits(p.rlimits().as_deref().unwrap_or(&[]))?;
    if let Some(s) = p.scheduler() {
        process::set_scheduler(s)?;
    }
    if let Some(io) = p.io_priority() {
        process::set_io_priority(io)?;
    }
    let passwd = crate::env::read_passwd();
    let env = crate::env::build(p.env().as_deref().unwrap_or(&[]), &[], p.user().uid(), passwd.as_deref());
    let args = p.args().clone().unwrap_or_default();
    let exe = process::find_executable(&args[0], &env).map_err(|e| e.field("process.args[0]"))?;
    if !lsm.is_empty() {
        crate::lsm::apply(&crate::procfs::open_proc()?, lsm)?;
    }
    process::prepare_fds(preserve)?;
    process::give_stdio_to(p.user().uid())?;
    let caps = p.capabilities().as_ref();
    let nnp = p.no_new_privileges().unwrap_or(false);
    capabilities::apply_bounding(caps)?;
    if !nnp {
        super::init::load_seccomp(filter, chan)?;
    }
    process::set_keep_caps(true)?;
    process::set_user(p.user(), super::init::setgroups_allowed(in_userns))?;
    process::set_keep_caps(false)?;
    capabilities::apply(caps)?;
    process::set_umask(p.user());
    if nnp {
        process::set_no_new_privs()?;
        super::init::load_seccomp(filter, chan)?;
    }
    super::init::reset_signals()?;
    Err(process::exec(&exe, &args, &env))
}
