//! Container state on disk: `<root>/<id>/state.json`, written atomically
//! (write-then-rename) and guarded by a lock on the container's directory.

use crate::error::{Context, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// OCI spec version Berth implements.
pub const OCI_VERSION: &str = "1.3.0";
/// The start gate: a FIFO in the state directory.
pub const EXEC_FIFO: &str = "exec.fifo";
const STATE_FILE: &str = "state.json";
/// Longest container id we accept (runc has no limit, but an id is a path
/// component and must fit one).
pub const MAX_ID_LEN: usize = 255;

/// Runtime status of a container (runtime.md "State").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being created: the init is still being set up.
    Creating,
    /// Created, the init waits on the start gate.
    Created,
    /// The user process runs.
    Running,
    /// Frozen by the cgroup freezer.
    Paused,
    /// The init has exited.
    Stopped,
}

impl Status {
    /// The lowercase name, as in the state JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// Hooks that run after `create` returns, kept in the state so `start` and
/// `delete` need not read the bundle again (it may have changed).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LaterHooks {
    /// Run by `start` after the user process started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<oci_spec::runtime::Hook>,
    /// Run by `delete`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<oci_spec::runtime::Hook>,
}

/// What Berth records about a container.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    /// OCI version of the config.
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Host pid of the container's init.
    pub pid: i32,
    /// Start time of the init in clock ticks since boot (field 22 of
    /// /proc/pid/stat): tells our init from a process that reused its pid.
    pub pid_start: u64,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Annotations from config.json.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The container's cgroup directories on the host.
    #[serde(default)]
    pub cgroup_paths: Vec<PathBuf>,
    /// Whether the container has its own pid namespace (killing the init then
    /// kills everything in it).
    #[serde(default)]
    pub own_pidns: bool,
    /// Hooks for later stages.
    #[serde(default)]
    pub hooks: LaterHooks,
    /// Without a mount namespace of its own: the mounts the container holds
    /// in the runtime's namespace, for `delete` to take down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_mounts: Option<HostMounts>,
    /// Only in the record `create` writes before it makes anything (see
    /// docs/ARCHITECTURE.md "Crash safety"): the pid and start time of the
    /// `berth create` at work. Gone from the final state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<(i32, u64)>,
    /// Under the systemd cgroup driver: the unit that holds the cgroups
    /// (`docker-<id>.scope`), stopped by `delete`, set by `update`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
}

/// The mounts of a container that has no mount namespace of its own (see
/// `rootfs::inherited`): mount ids at the rootfs path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostMounts {
    /// The mount the rootfs path was on before create.
    pub below: u64,
    /// The rootfs bound onto itself by create.
    pub ours: u64,
}

/// Validate a container id: it becomes a path component, so anything that
/// could climb out of the state root is refused.
pub fn validate_id(id: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::msg(format!("invalid container id {id:?}: {why}")));
    if id.is_empty() {
        return bad("empty");
    }
    if id.len() > MAX_ID_LEN {
        return bad(&format!("longer than {MAX_ID_LEN} bytes"));
    }
    if id == "." || id == ".." {
        return bad("not a name");
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b)) {
        return bad("only letters, digits, '_', '+', '-' and '.' are allowed");
    }
    Ok(())
}

/// The state root (`--root`), e.g. /run/berth.
#[derive(Clone, Debug)]
pub struct Root {
    /// Directory holding one subdirectory per container.
    pub dir: PathBuf,
}

impl Root {
    /// Wrap a root path.
    pub fn new(dir: PathBuf) -> Self {
        Root { dir }
    }

    /// Directory of one container.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Create the root (0700) if missing.
    pub fn ensure(&self) -> Result<()> {
        match fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) => Err(Error::os(format!("create state root {}", self.dir.display()), e)),
        }
    }

    /// Create the directory of a new container and lock it. Fails if the id
    /// is taken.
    pub fn create_container_dir(&self, id: &str) -> Result<Locked> {
        self.ensure()?;
        let dir = self.container_dir(id);
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::msg(format!("container with id {id:?} already exists")));
            }
            Err(e) => return Err(Error::os(format!("create state directory {}", dir.display()), e)),
        }
        lock_dir(dir)
    }

    /// Lock an existing container's directory.
    pub fn lock(&self, id: &str) -> Result<Locked> {
        validate_id(id)?;
        let dir = self.container_dir(id);
        lock_dir(dir).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => not_exist(id),
            _ => e,
        })
    }

    /// Read a container's state without taking the lock (the file is replaced
    /// atomically, so a reader never sees half of it).
    pub fn load(&self, id: &str) -> Result<State> {
        validate_id(id)?;
        read_state(&self.container_dir(id), id)
    }

    /// Ids of all containers under the root, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::os(format!("read state root {}", self.dir.display()), e)),
        };
        let mut ids: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| validate_id(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// The error for an id with no state.
pub fn not_exist(id: &str) -> Error {
    Error::not_found(format!("container {id:?} does not exist"))
}

fn read_state(dir: &Path, id: &str) -> Result<State> {
    let path = dir.join(STATE_FILE);
    let data = match fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_exist(id)),
        Err(e) => return Err(Error::os(format!("read {}", path.display()), e)),
    };
    serde_json::from_slice(&data).map_err(|e| Error::msg(format!("parse {}: {e}", path.display())))
}

/// A container directory held under an exclusive lock (released on drop).
pub struct Locked {
    /// The container's state directory.
    pub dir: PathBuf,
    _fd: OwnedFd,
}

fn lock_dir(dir: PathBuf) -> Result<Locked> {
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(&dir)
        .step(|| format!("open state directory {}", dir.display()))?;
    // SAFETY: flock on a valid, owned descriptor; no memory is involved.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(Error::last(format!("lock state directory {}", dir.display())));
    }
    Ok(Locked { dir, _fd: f.into() })
}

impl Locked {
    /// Keep `raw` (the bundle's config.json as create read it) as
    /// `<dir>/config.json`, readable by root only (it may hold secrets in
    /// env). Written before the state file, so whoever sees the state finds
    /// the config.
    pub fn save_config(&self, raw: &[u8]) -> Result<()> {
        let path = self.dir.join(crate::config::SAVED_CONFIG);
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, raw))
            .map_err(|e| Error::os(format!("save {}", path.display()), e))
    }

    /// The descriptor holding the lock. A forked child must close its copy,
    /// or the lock (owned by the shared open file) outlives us.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self._fd.as_raw_fd()
    }

    /// Read this container's state.
    pub fn load(&self, id: &str) -> Result<State> {
        read_state(&self.dir, id)
    }

    /// Write the state atomically.
    pub fn save(&self, st: &State) -> Result<()> {
        let tmp = self.dir.join(".state.json.tmp");
        let path = self.dir.join(STATE_FILE);
        let data = serde_json::to_vec(st).map_err(|e| Error::msg(format!("encode state: {e}")))?;
        let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).step(|| format!("write {}", tmp.display()))?;
        f.write_all(&data).step(|| format!("write {}", tmp.display()))?;
        drop(f);
        fs::rename(&tmp, &path).step(|| format!("rename {} to {}", tmp.display(), path.display()))
    }

    /// Path of the start gate FIFO.
    pub fn fifo(&self) -> PathBuf {
        self.dir.join(EXEC_FIFO)
    }

    /// Remove the whole state directory.
    pub fn remove(&self) -> Result<()> {
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::os(format!("remove state directory {}", self.dir.display()), e)),
        }
    }
}

/// Start time (clock ticks since boot) and state letter of a process, from
/// /proc/<pid>/stat; None if it does not exist.
pub fn proc_stat(pid: i32) -> Option<(u64, u8)> {
    let s = crate::procfs::read_small(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.bytes().next()?;
    // After the state (field 3) come fields 4..; starttime is field 22.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((start, state))
}

impl State {
    /// Whether the recorded init still lives (and is not a zombie).
    pub fn init_alive(&self) -> bool {
        matches!(proc_stat(self.pid), Some((start, st)) if start == self.pid_start && st != b'Z' && st != b'X')
    }

    /// The current status, derived from the process and the gate. A
    /// container whose `create` has not finished is `creating` while that
    /// create or the init lives, else `stopped` (never to become created:
    /// `delete` cleans it up).
    pub fn status(&self, dir: &Path) -> Status {
        if let Some((pid, start)) = self.creator {
            let creator_alive = matches!(proc_stat(pid), Some((s, st)) if s == start && st != b'Z' && st != b'X');
            return if creator_alive || (self.pid > 0 && self.init_alive()) { Status::Creating } else { Status::Stopped };
        }
        if self.pid <= 0 || !self.init_alive() {
            return Status::Stopped;
        }
        if crate::cgroups::is_frozen(&self.cgroup_paths) {
            return Status::Paused;
        }
        if init_waits_on_gate(&dir.join(EXEC_FIFO)) {
            return Status::Created;
        }
        Status::Running
    }

    /// The OCI state document (runtime.md "State") plus runc's extra fields
    /// (rootfs, created, owner), as `berth state` prints it.
    pub fn to_oci(&self, status: Status, owner: &str) -> serde_json::Value {
        let pid = if status == Status::Stopped { 0 } else { self.pid };
        let mut v = serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "pid": pid,
            "status": status.as_str(),
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": owner,
        });
        if !self.annotations.is_empty() {
            v["annotations"] = serde_json::to_value(&self.annotations).unwrap_or_default();
        }
        v
    }
}

/// Whether the init still holds the start gate open (it does until it
/// execs). A gate left behind by a `start` killed after releasing the init
/// has no reader any more (ENXIO): the container runs.
fn init_waits_on_gate(fifo: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(fifo.as_os_str().as_bytes()) else { return false };
    // SAFETY: `c` is NUL-terminated. A non-blocking write-only open of a
    // FIFO neither blocks nor wakes its reader; it is closed at once.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC) };
    if fd < 0 {
        return false;
    }
    // SAFETY: fd was just returned to us.
    unsafe { libc::close(fd) };
    true
}

/// The user name owning a path (for `list`'s OWNER column), or the uid.
pub fn owner_of(path: &Path) -> String {
    let uid = match fs::metadata(path) {
        Ok(m) => m.uid(),
        Err(_) => return String::new(),
    };
    if let Ok(passwd) = fs::read_to_string("/etc/passwd") {
        for line in passwd.lines() {
            let mut f = line.split(':');
            if let (Some(name), Some(_), Some(u)) = (f.next(), f.next(), f.next()) {
                if u.parse() == Ok(uid) {
                    return name.to_string();
                }
            }
        }
    }
    format!("#{uid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "web1", "a.b-c_d+e", "0123456789abcdef", &"x".repeat(255)] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "a\0b", "é", &"x".repeat(256)] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn proc_stat_of_self() {
        let (start, st) = proc_stat(std::process::id() as i32).unwrap();
        assert!(start > 0);
        assert!(st == b'R' || st == b'S');
        assert!(proc_stat(i32::MAX).is_none());
    }
}
