//! The calls to systemd's manager (org.freedesktop.systemd1.Manager, see
//! org.freedesktop.systemd1(5)) over D-Bus, with zbus's blocking API.
//!
//! Only the systemd driver connects: the cgroupfs path never pays for it.
//! zbus runs its I/O on threads of its own, so a connection is made only
//! after the container's init is cloned (a fork of a threaded process may
//! inherit a lock held by another thread).

use super::properties::{Property, Value};
use crate::error::{Error, Result};
use std::sync::mpsc;
use std::time::Duration;
use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::{self, ObjectPath, OwnedObjectPath};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// How long a start or stop job may take (runc waits 30 s too).
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to systemd: the system instance for root, the caller's
/// user instance otherwise (rootless).
pub struct Systemd {
    conn: Connection,
    user: bool,
}

fn dbus_err(step: &str, e: zbus::Error) -> Error {
    Error::msg(format!("{step}: {e}"))
}

/// The D-Bus error name of a failed call, if it is one (systemd's own
/// errors, org.freedesktop.systemd1.*, arrive as method errors).
fn error_name(e: &zbus::Error) -> Option<String> {
    match e {
        zbus::Error::MethodError(name, _, _) => Some(name.to_string()),
        _ => None,
    }
}

/// All signals blocked in the calling thread while it lives, so that
/// threads zbus starts meanwhile inherit a full mask: a signal meant for
/// `berth run`'s forwarding (which reads them from a signalfd of the main
/// thread) must never be taken by one of them, whose default action for
/// SIGTERM would end the process.
struct SignalsHeld(libc::sigset_t);

impl SignalsHeld {
    fn new() -> SignalsHeld {
        // SAFETY: sigset_t is plain data; sigfillset and pthread_sigmask
        // get valid pointers to it.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
            SignalsHeld(old)
        }
    }
}

impl Drop for SignalsHeld {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in new().
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}

impl Systemd {
    /// Connect to the bus systemd listens on for this caller.
    ///
    /// Not systemd's private socket (/run/systemd/private, which systemctl
    /// uses as root): zbus 5.19 takes the sender field of systemd's
    /// messages there for an invalid unique name and panics in its
    /// executor thread, which aborts the process (tried in the guest).
    /// Errors say which bus and why (no systemd, no D-Bus).
    pub fn connect() -> Result<Systemd> {
        let _held = SignalsHeld::new();
        // SAFETY: geteuid has no preconditions.
        let user = unsafe { libc::geteuid() } != 0;
        let conn = if user { Connection::session() } else { Connection::system() };
        let conn = conn.map_err(|e| {
            let bus = if user { "the user's session bus" } else { "the system bus" };
            Error::msg(format!("the systemd cgroup manager needs systemd on {bus}: {e}"))
        })?;
        Ok(Systemd { conn, user })
    }

    /// Whether this is the user instance (rootless).
    pub fn is_user(&self) -> bool {
        self.user
    }

    fn manager(&self) -> Result<Proxy<'_>> {
        zbus::blocking::proxy::Builder::new(&self.conn)
            .destination(DEST)
            .and_then(|b| b.path(PATH))
            .and_then(|b| b.interface(MANAGER))
            .map(|b| b.cache_properties(zbus::proxy::CacheProperties::No))
            .and_then(|b| b.build())
            .map_err(|e| dbus_err("reach systemd's manager", e))
    }

    /// Start a transient unit with `props` and wait until its start job is
    /// done. A unit of that name left failed by an earlier container is
    /// reset and the start tried once more; for a slice (`exists_ok`) an
    /// existing unit is fine (pod slices are shared). Returns whether this
    /// call made the unit. A failed start job leaves no unit behind.
    pub fn start_transient(&self, unit: &str, props: &[Property], exists_ok: bool) -> Result<bool> {
        let _held = SignalsHeld::new();
        let m = self.manager()?;
        let jobs = JobWatch::new(&m)?;
        let body: Vec<(&str, zvariant::Value)> = props.iter().map(|(n, v)| (n.as_str(), to_zvariant(v))).collect();
        let aux: Vec<(&str, Vec<(&str, zvariant::Value)>)> = Vec::new();
        let mut retried = false;
        loop {
            let r: zbus::Result<OwnedObjectPath> = m.call("StartTransientUnit", &(unit, "replace", &body, &aux));
            match r {
                Ok(job) => {
                    let done = jobs.wait(&job, &format!("start unit {unit}"));
                    if done.is_err() {
                        drop(_held);
                        let _ = self.stop(unit);
                    }
                    return done.map(|()| true);
                }
                Err(e) if error_name(&e).as_deref() == Some("org.freedesktop.systemd1.UnitExists") => {
                    if exists_ok {
                        return Ok(false);
                    }
                    if retried {
                        return Err(Error::msg(format!("start unit {unit}: a unit of that name exists already (another container with this cgroupsPath?)"))
                            .field("linux.cgroupsPath"));
                    }
                    retried = true;
                    self.reset_failed(unit);
                }
                Err(e) => return Err(dbus_err(&format!("start unit {unit}"), e)),
            }
        }
    }

    /// Stop a unit and wait for it; a unit that is gone already is fine.
    pub fn stop(&self, unit: &str) -> Result<()> {
        let _held = SignalsHeld::new();
        let m = self.manager()?;
        let jobs = JobWatch::new(&m)?;
        let r: zbus::Result<OwnedObjectPath> = m.call("StopUnit", &(unit, "replace"));
        let res = match r {
            Ok(job) => jobs.wait(&job, &format!("stop unit {unit}")),
            Err(e) if error_name(&e).as_deref() == Some("org.freedesktop.systemd1.NoSuchUnit") => Ok(()),
            Err(e) => Err(dbus_err(&format!("stop unit {unit}"), e)),
        };
        // A unit whose processes were killed may be left "failed":
        // systemd keeps those until reset, and its name would stay taken.
        self.reset_failed(unit);
        res
    }

    fn reset_failed(&self, unit: &str) {
        if let Ok(m) = self.manager() {
            let _: zbus::Result<()> = m.call("ResetFailedUnit", &(unit,));
        }
    }

    /// Set properties of a running unit (`runtime`: not written to disk).
    pub fn set_properties(&self, unit: &str, props: &[Property]) -> Result<()> {
        let _held = SignalsHeld::new();
        if props.is_empty() {
            return Ok(());
        }
        let m = self.manager()?;
        let body: Vec<(&str, zvariant::Value)> = props.iter().map(|(n, v)| (n.as_str(), to_zvariant(v))).collect();
        let r: zbus::Result<()> = m.call("SetUnitProperties", &(unit, true, &body));
        r.map_err(|e| dbus_err(&format!("set properties of unit {unit}"), e))
    }
}

/// JobRemoved signals, subscribed before the call that makes the job so
/// that a quick job cannot finish unseen. A thread reads them (the blocking
/// iterator has no timeout) and hands (job, result) pairs over.
struct JobWatch {
    rx: mpsc::Receiver<(OwnedObjectPath, String)>,
}

impl JobWatch {
    fn new(m: &Proxy<'_>) -> Result<JobWatch> {
        let signals = m.receive_signal("JobRemoved").map_err(|e| dbus_err("subscribe to systemd's job signals", e))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for msg in signals {
                let Ok((_id, job, _unit, result)) = msg.body().deserialize::<(u32, OwnedObjectPath, String, String)>() else { continue };
                if tx.send((job, result)).is_err() {
                    break;
                }
            }
        });
        Ok(JobWatch { rx })
    }

    /// Wait for `job` to be removed; anything but "done" is an error.
    fn wait(&self, job: &ObjectPath<'_>, step: &str) -> Result<()> {
        let deadline = std::time::Instant::now() + JOB_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok((j, result)) if j.as_str() == job.as_str() => {
                    return match result.as_str() {
                        "done" => Ok(()),
                        r => Err(Error::msg(format!("{step}: systemd's job ended {r:?} (see `journalctl -u` for the unit)"))),
                    };
                }
                Ok(_) => {}
                Err(_) => return Err(Error::msg(format!("{step}: systemd did not finish the job within {} s", JOB_TIMEOUT.as_secs()))),
            }
        }
    }
}

fn to_zvariant(v: &Value) -> zvariant::Value<'_> {
    use zvariant::Value as Z;
    match v {
        Value::Bool(b) => Z::from(*b),
        Value::Byte(n) => Z::from(*n),
        Value::I16(n) => Z::from(*n),
        Value::U16(n) => Z::from(*n),
        Value::I32(n) => Z::from(*n),
        Value::U32(n) => Z::from(*n),
        Value::I64(n) => Z::from(*n),
        Value::U64(n) => Z::from(*n),
        Value::Double(n) => Z::from(*n),
        Value::Str(s) => Z::from(s.as_str()),
        Value::Bytes(b) => Z::from(b.clone()),
        Value::U32s(v) => Z::from(v.clone()),
        Value::Strs(v) => Z::from(v.iter().map(String::as_str).collect::<Vec<_>>()),
        Value::Pairs(v) => Z::from(v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect::<Vec<_>>()),
    }
}
