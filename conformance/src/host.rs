//! Observing the host and the container: processes, mounts, capabilities, namespaces, consoles.

use std::fs::{self, File};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Whether `pid` exists and is not a zombie.
pub fn process_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
            !matches!(state, Some('Z') | Some('X') | None)
        }
        Err(_) => false,
    }
}

/// Mount points (in this process's mount namespace) at or under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let d = dir.display().to_string();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(|s| s.to_string()))
        .filter(|mp| mp == &d || mp.starts_with(&format!("{d}/")))
        .collect()
}

// ---------------------------------------------------------------------------
// Observation helpers
// ---------------------------------------------------------------------------

/// Parse `Key:\tvalue` lines (e.g. /proc/self/status) into pairs.
pub fn status_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// Capability bit numbers by name (CAP_CHOWN = 0 ...).
pub fn cap_bit(name: &str) -> u32 {
    const CAPS: &[&str] = &[
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    let n = name.trim_start_matches("CAP_");
    CAPS.iter().position(|c| *c == n).unwrap_or_else(|| panic!("unknown capability {name}")) as u32
}

/// The capability mask for a list of names.
pub fn cap_mask(names: &[&str]) -> u64 {
    names.iter().fold(0u64, |m, n| m | (1u64 << cap_bit(n)))
}

/// Inode identity (`type:[inode]`) of one of the host's namespaces.
pub fn host_ns(kind: &str) -> String {
    fs::read_link(format!("/proc/self/ns/{kind}")).map(|p| p.display().to_string()).unwrap_or_default()
}

/// A helper process (`sleep`) that the test starts in new namespaces with
/// `unshare`, so a container can join them by path. Killed by pid on drop.
pub struct NsHolder {
    pub child: std::process::Child,
}

impl NsHolder {
    /// `unshare <flags> sleep 1000`; waits until its namespaces differ from ours.
    pub fn new(unshare_flags: &[&str], kinds: &[&str]) -> Self {
        let child = Command::new("unshare").args(unshare_flags).args(["sleep", "1000"]).stdin(Stdio::null()).spawn().expect("spawn unshare");
        let h = NsHolder { child };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let ready = fs::read_to_string(format!("/proc/{}/comm", h.pid())).map(|c| c.trim() == "sleep").unwrap_or(false)
                && kinds.iter().all(|k| h.ns(k) != host_ns(k));
            if ready {
                return h;
            }
            thread::sleep(Duration::from_millis(5));
        }
        panic!("namespace holder did not come up");
    }
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
    pub fn ns_path(&self, kind: &str) -> String {
        format!("/proc/{}/ns/{kind}", self.pid())
    }
    pub fn ns(&self, kind: &str) -> String {
        fs::read_link(self.ns_path(kind)).map(|p| p.display().to_string()).unwrap_or_default()
    }
}

impl Drop for NsHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A unix socket the runtime sends the pty master to (`--console-socket`).
pub struct ConsoleSocket {
    pub path: PathBuf,
    rx: mpsc::Receiver<Result<OwnedFd, String>>,
}

impl ConsoleSocket {
    /// Listen at `path`; a background thread accepts one connection and
    /// receives one file descriptor with SCM_RIGHTS.
    pub fn listen(path: &Path) -> Self {
        let _ = fs::remove_file(path);
        let l = UnixListener::bind(path).expect("bind console socket");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let r = (|| -> Result<OwnedFd, String> {
                let (conn, _) = l.accept().map_err(|e| e.to_string())?;
                recv_fd(conn.as_raw_fd())
            })();
            let _ = tx.send(r);
        });
        ConsoleSocket { path: path.to_path_buf(), rx }
    }
    /// The received pty master, waiting up to `timeout`.
    pub fn master(&self, timeout: Duration) -> Result<OwnedFd, String> {
        self.rx.recv_timeout(timeout).map_err(|e| format!("no fd received: {e}"))?
    }
}

pub(crate) fn recv_fd(sock: i32) -> Result<OwnedFd, String> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC).map_err(|e| format!("recvmsg: {e}"))?;
    for c in msg.cmsgs().map_err(|e| e.to_string())? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this fd in our table; we own it.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err("message carried no file descriptor".into())
}

/// Read everything from a pty master until the slave side is closed (EIO)
/// or `timeout` passes.
pub fn read_pty(master: OwnedFd, timeout: Duration) -> String {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut f = File::from(master);
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    let _ = tx.send(String::from_utf8_lossy(&out).to_string());
                }
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&out).to_string());
    });
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while let Ok(s) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        last = s;
    }
    last
}

/// `(type, major, minor)` of a device node described by `ls -l`-free means:
/// parse a line `path type major minor` printed by `stat -c '%n %F %t %T'`.
pub fn parse_stat_dev(line: &str) -> Option<(String, String, u64, u64)> {
    // Format: "<path>|<file type>|<major hex>|<minor hex>"
    let mut it = line.split('|');
    let p = it.next()?.to_string();
    let t = it.next()?.to_string();
    let ma = u64::from_str_radix(it.next()?.trim(), 16).ok()?;
    let mi = u64::from_str_radix(it.next()?.trim(), 16).ok()?;
    Some((p, t, ma, mi))
}

/// Major/minor of a host device node.
pub fn host_dev(path: &str) -> Option<(u64, u64)> {
    let m = fs::metadata(path).ok()?;
    if !(m.file_type().is_char_device() || m.file_type().is_block_device()) {
        return None;
    }
    let r = m.rdev();
    Some((libc::major(r) as u64, libc::minor(r) as u64))
}

/// Build `source` (C) into a static program at `dest`, for what busybox
/// cannot do in a container (raw syscalls, namespaces without an exec in
/// between). None, with a loud skip, when the host has no C compiler for
/// static programs (scripts/setup.sh installs build-essential).
pub fn static_c_program(dest: &Path, source: &str) -> Option<()> {
    let src = dest.with_extension("c");
    fs::write(&src, source).unwrap();
    let ok = Command::new("cc").args(["-static", "-O1", "-o"]).arg(dest).arg(&src).status().is_ok_and(|s| s.success());
    let _ = fs::remove_file(&src);
    if !ok {
        eprintln!("\n!!! SKIP: no C compiler for static programs (scripts/setup.sh installs build-essential) !!!\n");
    }
    ok.then_some(())
}
