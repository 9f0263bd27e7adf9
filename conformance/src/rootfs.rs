//! The busybox rootfs template and the default config tests start from.

use super::*;
use serde_json::{json, Value};
use std::fs::{self};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub(crate) const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
pub(crate) const GROUP: &str = "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\n\
audio:x:29:\nusers:x:100:\nnogroup:x:65534:\n";

extern "C" fn remove_template() {
    let _ = fs::remove_dir_all(template_dir());
}

pub(crate) fn template_dir() -> PathBuf {
    Path::new(WORK_DIR).join(format!(".rootfs-template-{}", std::process::id()))
}

/// Build (once per test process) a busybox-static rootfs template and return
/// its path. Templates of test processes that no longer exist are removed.
pub fn rootfs_template() -> &'static Path {
    static T: OnceLock<PathBuf> = OnceLock::new();
    T.get_or_init(|| {
        fs::create_dir_all(WORK_DIR).expect("create work dir");
        // Drop templates left by earlier test processes that are gone.
        if let Ok(rd) = fs::read_dir(WORK_DIR) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if let Some(pid) = name.strip_prefix(".rootfs-template-") {
                    if !Path::new("/proc").join(pid).exists() {
                        let _ = fs::remove_dir_all(e.path());
                    }
                }
            }
        }
        let t = template_dir();
        let _ = fs::remove_dir_all(&t);
        let busybox =
            ["/bin/busybox", "/usr/bin/busybox"].iter().map(PathBuf::from).find(|p| p.is_file()).expect("busybox not found: apt-get install busybox-static");
        for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "root", "var", "run"] {
            fs::create_dir_all(t.join(d)).unwrap();
        }
        fs::copy(&busybox, t.join("bin/busybox")).expect("copy busybox");
        let list = Command::new(&busybox).arg("--list").output().expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            let applet = applet.trim();
            if applet.is_empty() || applet == "busybox" || applet.contains('/') {
                continue;
            }
            let _ = symlink("busybox", t.join("bin").join(applet));
        }
        fs::write(t.join("etc/passwd"), PASSWD).unwrap();
        fs::write(t.join("etc/group"), GROUP).unwrap();
        fs::write(t.join("etc/hostname"), "template\n").unwrap();
        // SAFETY: registering a plain extern "C" fn with no captured state.
        unsafe { libc::atexit(remove_template) };
        t
    })
}

/// Copy the cached template to `dest` (preserving symlinks and modes).
pub fn install_rootfs(dest: &Path) {
    let st = Command::new("cp").arg("-a").arg(rootfs_template()).arg(dest).status().expect("run cp");
    assert!(st.success(), "cp -a rootfs template failed");
}

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

/// The default capability set given to test containers (the set engines
/// commonly use).
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// A runc-like default `config.json` for container `id`.
pub fn default_config(id: &str) -> Value {
    // Some runtimes (crun 1.8) only accept the versions they know:
    // CONFORMANCE_OCI_VERSION overrides the default "1.3.0".
    let version = std::env::var("CONFORMANCE_OCI_VERSION").unwrap_or_else(|_| "1.3.0".into());
    json!({
        "ociVersion": version,
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                format!("{MARKER_ENV}={id}"),
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS,
                "effective": DEFAULT_CAPS,
                "permitted": DEFAULT_CAPS,
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "berth-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ],
            "cgroupsPath": format!("{CGROUP_PREFIX}/{id}")
        }
    })
}

pub(crate) fn unescape_token(t: &str) -> String {
    t.replace("~1", "/").replace("~0", "~")
}

/// Set the value at JSON pointer `ptr`, creating intermediate objects. The
/// last token `-` appends to an array.
pub fn json_set(root: &mut Value, ptr: &str, v: Value) {
    assert!(ptr.starts_with('/'), "JSON pointer must start with '/': {ptr}");
    let tokens: Vec<String> = ptr[1..].split('/').map(unescape_token).collect();
    let mut cur = root;
    for (i, tok) in tokens.iter().enumerate() {
        let last = i + 1 == tokens.len();
        if cur.is_null() {
            *cur = json!({});
        }
        cur = match cur {
            Value::Object(m) => {
                if last {
                    m.insert(tok.clone(), v);
                    return;
                }
                m.entry(tok.clone()).or_insert(Value::Null)
            }
            Value::Array(a) => {
                if tok == "-" {
                    assert!(last, "'-' only allowed as last token: {ptr}");
                    a.push(v);
                    return;
                }
                let idx: usize = tok.parse().unwrap_or_else(|_| panic!("bad index in {ptr}"));
                if last {
                    a[idx] = v;
                    return;
                }
                &mut a[idx]
            }
            other => panic!("cannot descend into {other} at {tok} in {ptr}"),
        };
    }
    unreachable!()
}

/// Remove the value at JSON pointer `ptr` (no-op if absent).
pub fn json_remove(root: &mut Value, ptr: &str) {
    let (parent, last) = ptr.rsplit_once('/').expect("pointer");
    let last = unescape_token(last);
    match root.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(&last);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = last.parse::<usize>() {
                if i < a.len() {
                    a.remove(i);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Running the runtime
// ---------------------------------------------------------------------------
