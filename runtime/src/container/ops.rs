//! start, state, kill, delete, list and run.

use super::create::{create, Console, CreateOpts};
use crate::cgroups;
use crate::error::{Error, Result};
use crate::hooks;
use crate::state::{self, Locked, Root, State, Status};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `berth start ID`: open the gate, then run poststart hooks.
pub fn start(root: &Root, id: &str) -> Result<()> {
    let locked = root.lock(id)?;
    let st = locked.load(id)?;
    match st.status(&locked.dir) {
        Status::Created => {}
        Status::Stopped => return Err(Error::msg(format!("cannot start container {id}: it has stopped"))),
        s => return Err(Error::msg(format!("cannot start container {id}: it is already {}", s.as_str()))),
    }
    let fifo = locked.fifo();
    log::debug!("start {id}: releasing init {} through {}", st.pid, fifo.display());
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).map_err(|_| Error::msg("state path holds a NUL byte"))?;
    // SAFETY: c is a valid NUL-terminated path.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENXIO) {
            return Err(Error::msg(format!("cannot start container {id}: its init is gone")));
        }
        return Err(Error::os(format!("open start gate {}", fifo.display()), e));
    }
    // SAFETY: fd was just returned to us.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // Open a reader before releasing the init, to learn how its start went:
    // the init holds the FIFO open until exec (close-on-exec) or exit, and
    // on failure writes the reason into it first.
    // SAFETY: c is a valid NUL-terminated path.
    let rd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC) };
    if rd < 0 {
        return Err(Error::last(format!("open start gate {}", fifo.display())));
    }
    // SAFETY: rd was just returned to us.
    let rd = unsafe { OwnedFd::from_raw_fd(rd) };
    // SAFETY: writing one byte from a valid buffer.
    if unsafe { libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) } != 1 {
        return Err(Error::last(format!("open start gate {}", fifo.display())));
    }
    drop(fd);
    wait_started(&rd, id)?;
    let _ = std::fs::remove_file(&fifo);
    // runtime.md "Lifecycle" step 9: a failing poststart hook is an error
    // and stops the container (its deletion is left to `delete`).
    if let Err(e) = hooks::run_all("poststart", &st.hooks.poststart, &oci_state(&st, Status::Running)) {
        let _ = stop(&st);
        return Err(e.context(format!("start {id}")));
    }
    Ok(())
}

/// Wait until no writer holds the gate (the init exec'd or died), then read
/// what it left: nothing on success, an error text on failure.
fn wait_started(rd: &OwnedFd, id: &str) -> Result<()> {
    let mut pfd = libc::pollfd { fd: rd.as_raw_fd(), events: 0, revents: 0 };
    loop {
        // SAFETY: pfd is valid for the call. With no events requested, poll
        // returns on POLLHUP: the last writer closed the FIFO.
        let n = unsafe { libc::poll(&mut pfd, 1, -1) };
        if n >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    let mut buf = [0u8; 4096];
    // SAFETY: reading into a valid buffer of its length.
    let n = unsafe { libc::read(rd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    let text = if n > 0 { String::from_utf8_lossy(&buf[..n as usize]).into_owned() } else { String::new() };
    match text.as_str() {
        "" => Ok(()),
        // Our own byte, never read: the init died before it could start.
        "0" => Err(Error::msg(format!("cannot start container {id}: its init died"))),
        t => Err(Error::msg(format!("start {id}: {t}"))),
    }
}

/// The state document hooks and `state` show.
fn oci_state(st: &State, status: Status) -> serde_json::Value {
    let mut v = serde_json::json!({
        "ociVersion": st.oci_version,
        "id": st.id,
        "status": status.as_str(),
        "pid": st.pid,
        "bundle": st.bundle,
    });
    if !st.annotations.is_empty() {
        v["annotations"] = serde_json::to_value(&st.annotations).unwrap_or_default();
    }
    v
}

/// `berth state ID`.
pub fn state(root: &Root, id: &str) -> Result<String> {
    let st = root.load(id)?;
    let dir = root.container_dir(id);
    let v = st.to_oci(st.status(&dir), &state::owner_of(&dir));
    Ok(runc_order(&v, true))
}

/// runc's key order of a state object (its Go struct's field order), so
/// that `state` and `list --format json` read byte for byte as runc's do.
const STATE_KEYS: &[&str] = &["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "annotations", "owner"];

/// A state object as JSON with [`STATE_KEYS`] first, in that order, then
/// any other key; `pretty` indents as `state` does (two spaces).
fn runc_order(v: &serde_json::Value, pretty: bool) -> String {
    let Some(map) = v.as_object() else { return v.to_string() };
    let keys = STATE_KEYS.iter().copied().filter(|k| map.contains_key(*k)).chain(map.keys().map(String::as_str).filter(|k| !STATE_KEYS.contains(k)));
    let fields: Vec<String> = keys
        .map(|k| {
            let key = serde_json::Value::from(k);
            if pretty {
                let val = serde_json::to_string_pretty(&map[k]).unwrap_or_default().replace('\n', "\n  ");
                format!("  {key}: {val}")
            } else {
                format!("{key}:{}", map[k])
            }
        })
        .collect();
    if pretty {
        format!("{{\n{}\n}}", fields.join(",\n"))
    } else {
        format!("{{{}}}", fields.join(","))
    }
}

/// A pidfd for the recorded init, or None if it is gone (or its pid reused).
fn init_pidfd(st: &State) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, st.pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: fd is new and ours.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // Check after opening: the pidfd pins this process, so if the start
    // time matches now, signals through it reach our init and no other.
    st.init_alive().then_some(fd)
}

fn pidfd_signal(fd: &OwnedFd, sig: libc::c_int) -> std::io::Result<()> {
    // SAFETY: pidfd_send_signal with a valid pidfd and a null siginfo.
    if unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), sig, std::ptr::null::<libc::siginfo_t>(), 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `berth kill [--all] ID [SIGNAL]`; without a signal, the one the
/// `org.opencontainers.image.stopSignal` annotation names, else SIGTERM.
pub fn kill(root: &Root, id: &str, sig: Option<libc::c_int>, all: bool) -> Result<()> {
    let st = root.load(id)?;
    // config.md "Annotations": the image's stop signal SHOULD be what kills
    // the container when no signal is named; else SIGTERM, as runc.
    let sig = match sig {
        Some(s) => s,
        None => match st.annotations.get(STOP_SIGNAL) {
            Some(name) => crate::signals::parse(name).map_err(|e| e.field(format!("annotations[{STOP_SIGNAL}]")))?,
            None => libc::SIGTERM,
        },
    };
    let status = st.status(&root.container_dir(id));
    // Signal 0 (runc accepts it) delivers nothing: it asks whether the
    // init is there, and fails as any signal would if it is not.
    if status == Status::Stopped && !all {
        return Err(Error::msg(format!("cannot kill container {id}: container not running")));
    }
    if all {
        signal_cgroup(&st, sig);
        return Ok(());
    }
    let fd = init_pidfd(&st).ok_or_else(|| Error::msg(format!("cannot kill container {id}: container not running")))?;
    pidfd_signal(&fd, sig).map_err(|e| Error::os(format!("send signal {sig} to container {id} (pid {})", st.pid), e))?;
    if status == Status::Paused && sig == libc::SIGKILL {
        // A frozen task handles SIGKILL only once thawed.
        cgroups_thaw(&st);
    }
    Ok(())
}

/// The annotation naming the signal that stops the container.
const STOP_SIGNAL: &str = "org.opencontainers.image.stopSignal";

/// Signal every process in the container's cgroup and the cgroups below
/// it. A process may fork while the list is read: the sweep is repeated
/// until it finds no process it has not signalled (a few rounds at most).
/// After SIGKILL every frozen cgroup of the tree is thawed, the
/// container's own and any it froze below it: a frozen task takes SIGKILL
/// only once thawed.
fn signal_cgroup(st: &State, sig: libc::c_int) {
    let mut sent: Vec<i32> = Vec::new();
    for _ in 0..10 {
        let new: Vec<i32> = cgroups::procs(&st.cgroup_paths).into_iter().filter(|p| !sent.contains(p)).collect();
        if new.is_empty() {
            break;
        }
        for pid in new {
            // SAFETY: kill with a pid read from our container's cgroup.
            unsafe { libc::kill(pid, sig) };
            sent.push(pid);
        }
    }
    if sig == libc::SIGKILL {
        cgroups::freezer::thaw_tree(&st.cgroup_paths);
    }
}

fn cgroups_thaw(st: &State) {
    cgroups::freezer::thaw_paths(&st.cgroup_paths);
}

/// `berth delete [--force] ID`.
pub fn delete(root: &Root, id: &str, force: bool) -> Result<()> {
    let locked = match root.lock(id) {
        Ok(l) => l,
        Err(e) if force && e.is_not_found() => return Ok(()),
        Err(e) => return Err(e),
    };
    let st = match locked.load(id) {
        Ok(st) => st,
        // A directory without a state file is a create that died before
        // making anything (it writes the state first).
        Err(e) if e.is_not_found() => return locked.remove(),
        Err(e) if force => return super::recover::delete_damaged(&locked, id, e),
        Err(e) => return Err(e.context(format!("delete {id} (delete --force removes a container whose state is damaged)"))),
    };
    let status = st.status(&locked.dir);
    log::debug!("delete {id}: status {}, force {force}", status.as_str());
    match status {
        Status::Stopped => {}
        _ if force => stop(&st)?,
        s => return Err(Error::msg(format!("cannot delete container {id} that is not stopped: {}", s.as_str()))),
    }
    destroy(&locked, &st)
}

/// SIGKILL the init (and, without its own pid namespace, everything in its
/// cgroup) and wait until it has died.
fn stop(st: &State) -> Result<()> {
    if let Some(fd) = init_pidfd(st) {
        let _ = pidfd_signal(&fd, libc::SIGKILL);
        // The whole tree: a task frozen in a cgroup of the container's own
        // making would hold the pid namespace's teardown up.
        cgroups::freezer::thaw_tree(&st.cgroup_paths);
        let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: pfd is valid for the call. A pidfd polls readable once the
        // process has exited, reaped or not.
        let n = unsafe { libc::poll(&mut pfd, 1, 10_000) };
        if n == 0 {
            return Err(Error::msg(format!("container {} (pid {}) did not die within 10s of SIGKILL", st.id, st.pid)));
        }
    }
    if !st.own_pidns {
        signal_cgroup(st, libc::SIGKILL);
    }
    Ok(())
}

/// Remove what a stopped container holds: remaining processes, cgroups,
/// then poststop hooks and the state directory.
fn destroy(locked: &Locked, st: &State) -> Result<()> {
    // Everything in the container's cgroups, not only what the recorded
    // pid led to: a damaged state's pid may be somebody else's by now.
    super::recover::kill_members(&st.cgroup_paths, st.own_pidns)?;
    if let Some(m) = st.host_mounts {
        // Mounts made in our namespace (no mount namespace of its own).
        // `ours` is 0 in the record of a create that did not finish.
        crate::rootfs::inherited::unmount_stack(&st.rootfs, m.below, Some(m.ours).filter(|o| *o != 0))
            .map_err(|e| Error::os(format!("unmount the mounts of container {} on {}", st.id, st.rootfs.display()), e))?;
    }
    if let Some(unit) = &st.systemd_unit {
        // Its processes are gone: stopping the unit lets systemd forget it
        // (and free the name). Without systemd the directories still go.
        if let Err(e) = cgroups::systemd::stop(unit) {
            log::warn!("delete {}: {e}", st.id);
        }
    }
    // A cgroup that cannot go still holds something of the container's:
    // the state stays, so that a later `delete --force` can find it.
    cgroups::remove(&st.cgroup_paths)?;
    if st.creator.is_none() {
        hooks::run_all_warn("poststop", &st.hooks.poststop, &oci_state(st, Status::Stopped));
    }
    locked.remove()
}

/// Output format of `list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    /// Aligned columns.
    Table,
    /// A JSON array.
    Json,
}

/// `berth list`.
pub fn list(root: &Root, format: ListFormat, quiet: bool) -> Result<String> {
    let mut rows = Vec::new();
    for id in root.ids()? {
        let st = match root.load(&id) {
            Ok(st) => st,
            Err(e) if e.is_not_found() => continue,
            Err(e) => {
                rows.push(super::recover::damaged_row(root, &id, &e));
                continue;
            }
        };
        let dir = root.container_dir(&id);
        rows.push(st.to_oci(st.status(&dir), &state::owner_of(&dir)));
    }
    if quiet {
        return Ok(rows.iter().map(|r| format!("{}\n", r["id"].as_str().unwrap_or(""))).collect());
    }
    if format == ListFormat::Json {
        // runc prints `null` for no containers (a nil Go slice).
        if rows.is_empty() {
            return Ok("null\n".into());
        }
        let items: Vec<String> = rows.iter().map(|r| runc_order(r, false)).collect();
        return Ok(format!("[{}]\n", items.join(",")));
    }
    let mut table = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from).to_vec()];
    for r in &rows {
        let s = |k: &str| r[k].as_str().map(str::to_string).unwrap_or_else(|| r[k].to_string());
        table.push(vec![s("id"), s("pid"), s("status"), s("bundle"), s("created"), s("owner")]);
    }
    Ok(columns(&table))
}

/// Left-aligned columns, each at least 12 wide and 3 spaces apart.
fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..n).map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0).max(9) + 3).collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == n {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}", w = widths[c]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Options of `run` beyond create's.
pub struct RunOpts {
    /// `--detach`.
    pub detach: bool,
    /// `--keep`: do not delete the container after it exits.
    pub keep: bool,
    /// `--no-subreaper`: leave the container's orphans to our own reaper.
    pub no_subreaper: bool,
}

/// `berth run`: create, start, and (unless detached) wait, forwarding
/// signals and the terminal; returns the exit code for berth.
pub fn run(root: &Root, mut o: CreateOpts, r: RunOpts) -> Result<i32> {
    let id = o.id.clone();
    // A terminal without a console socket: receive the pty ourselves and proxy it.
    if matches!(o.console, Console::None) && !r.detach {
        o.console = Console::Proxy;
    }
    if !r.detach && !r.no_subreaper {
        // Orphans of the container (without a pid namespace) come to us.
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    let created = create(root, o)?;
    let master = match created.proxy {
        Some(sock) => Some(crate::console::recv_fd(std::os::fd::AsFd::as_fd(&sock)).inspect_err(|_| {
            let _ = delete(root, &id, true);
        })?),
        None => None,
    };
    if let Err(e) = start(root, &id) {
        let _ = delete(root, &id, true);
        return Err(e);
    }
    if r.detach {
        return Ok(0);
    }
    let code = super::wait::wait_forwarding(created.pid, master)?;
    if !r.keep {
        delete(root, &id, true)?;
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_keys_in_runc_order() {
        let v = serde_json::json!({"owner": "root", "annotations": {"b": "1", "a": "2"}, "zzz": 1, "id": "c", "ociVersion": "1.0", "pid": 7,
            "status": "running", "bundle": "/b", "rootfs": "/b/r", "created": "T"});
        let compact = runc_order(&v, false);
        assert_eq!(
            compact,
            r#"{"ociVersion":"1.0","id":"c","pid":7,"status":"running","bundle":"/b","rootfs":"/b/r","created":"T","annotations":{"a":"2","b":"1"},"owner":"root","zzz":1}"#
        );
        let pretty = runc_order(&v, true);
        assert!(pretty.starts_with("{\n  \"ociVersion\": \"1.0\",\n  \"id\": \"c\",\n"), "{pretty}");
        assert!(pretty.contains("\"annotations\": {\n    \"a\": \"2\",\n    \"b\": \"1\"\n  },\n"), "{pretty}");
        // Both read back as the same value.
        for text in [compact, pretty] {
            assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), v);
        }
    }
}
