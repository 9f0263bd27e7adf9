//! Root-only integration test of the rootfs module: a forked child enters a
//! new mount namespace, runs prepare → pivot → finalize on a busybox rootfs
//! built here, checks the result from inside and reports through its exit
//! code. Nothing it mounts is visible to the host; the temp dirs are removed
//! by the parent whatever happens.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{symlink, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth::rootfs::{finalize, pivot, prepare, CgroupMount, RootfsCtx};

/// Forked children and process-wide state (cwd, umask) do not mix with
/// parallel tests.
static SERIAL: Mutex<()> = Mutex::new(());

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = PathBuf::from(format!("/tmp/berth-rootfs-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A busybox rootfs under `base/rootfs`.
fn build_rootfs(base: &Path) -> PathBuf {
    let busybox = Path::new("/bin/busybox");
    assert!(busybox.exists(), "install busybox-static: apt-get install -y busybox-static");
    let rootfs = base.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "etc", "rodir", "maskdir"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
    for tool in ["sh", "cat", "ls", "stat", "mount", "test"] {
        symlink("busybox", rootfs.join("bin").join(tool)).unwrap();
    }
    fs::write(rootfs.join("secret"), "topsecret").unwrap();
    fs::write(rootfs.join("maskdir/inner"), "hidden").unwrap();
    rootfs.canonicalize().unwrap()
}

/// Run `f` in a forked child inside a new mount namespace; its exit code.
fn in_child(f: impl FnOnce() -> Result<(), String>) -> i32 {
    // SAFETY: the child only runs `f` and then _exits; glibc keeps malloc
    // usable after fork and the tests are serialised.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = (|| {
            // SAFETY: plain syscall; the child is single-threaded.
            if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
                return Err(format!("unshare: {}", std::io::Error::last_os_error()));
            }
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| Err("panic".into()))
        })();
        let code = match code {
            Ok(()) => 0,
            Err(msg) => {
                let msg = format!("child: {msg}\n");
                // SAFETY: writes a valid buffer to stderr; no locks involved.
                unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
                1
            }
        };
        // SAFETY: ends the child without running the parent's atexit state.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is a valid out-pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
    libc::WEXITSTATUS(status)
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// (mount options, fs type) of the top-most mount at `point`.
fn mount_at(point: &str) -> Option<(String, String)> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().rev().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        let sep = f.iter().position(|x| *x == "-")?;
        (f[4] == point).then(|| (f[5].to_string(), f[sep + 1].to_string()))
    })
}

fn has_opt(point: &str, opt: &str) -> Result<(), String> {
    let (opts, _) = mount_at(point).ok_or_else(|| format!("nothing mounted on {point}"))?;
    ensure!(opts.split(',').any(|o| o == opt), "{point} has {opts}, wanted {opt}");
    Ok(())
}

fn fstype(point: &str, want: &str) -> Result<(), String> {
    let (_, t) = mount_at(point).ok_or_else(|| format!("nothing mounted on {point}"))?;
    ensure!(t == want, "{point} is {t}, wanted {want}");
    Ok(())
}

fn erofs(path: &str) -> Result<(), String> {
    match fs::write(path, "x") {
        Err(e) if e.raw_os_error() == Some(libc::EROFS) => Ok(()),
        other => Err(format!("writing {path}: {other:?}, wanted EROFS")),
    }
}

fn char_dev(path: &str, major: u64, minor: u64, mode: u32) -> Result<(), String> {
    let m = fs::symlink_metadata(path).map_err(|e| format!("{path}: {e}"))?;
    ensure!(m.file_type().is_char_device(), "{path} is not a char device");
    let rdev = m.rdev();
    ensure!(libc::major(rdev) as u64 == major && libc::minor(rdev) as u64 == minor, "{path} is {rdev:#x}");
    ensure!(m.permissions().mode() & 0o7777 == mode, "{path} mode {:o}", m.permissions().mode());
    Ok(())
}

fn link_to(path: &str, target: &str) -> Result<(), String> {
    let t = fs::read_link(path).map_err(|e| format!("readlink {path}: {e}"))?;
    ensure!(t == Path::new(target), "{path} -> {}, wanted {target}", t.display());
    Ok(())
}

#[test]
fn full_container_rootfs() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let base = TempDir::new("full");
    let outside = TempDir::new("outside");
    let rootfs = build_rootfs(&base.0);

    let data = base.0.join("hostdata");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("hello"), "from host").unwrap();
    fs::write(base.0.join("hostfile"), "bundle file").unwrap();
    // Escapes: a dangling symlink to a host dir, a symlink whose parent is
    // dangling, and a symlink to an existing host file.
    let host_evil = outside.0.join("evil");
    let host_evil2 = outside.0.join("evil2");
    let host_file = outside.0.join("victim");
    fs::write(&host_file, "host").unwrap();
    symlink(&host_evil, rootfs.join("evil")).unwrap();
    symlink(&host_evil2, rootfs.join("evil2")).unwrap();
    symlink(&host_file, rootfs.join("evil3")).unwrap();

    let spec_json = format!(
        r#"{{
        "ociVersion": "1.0.2",
        "root": {{"path": "rootfs", "readonly": false}},
        "mounts": [
            {{"destination": "/proc", "type": "proc", "source": "proc"}},
            {{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}},
            {{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}},
            {{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}},
            {{"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}},
            {{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}},
            {{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}},
            {{"destination": "/data", "type": "none", "source": "{data}", "options": ["rbind", "ro", "nosuid"]}},
            {{"destination": "/etc/hostfile", "type": "bind", "source": "hostfile", "options": ["ro"]}},
            {{"destination": "/evil", "type": "tmpfs", "source": "tmpfs"}},
            {{"destination": "/evil2/sub", "type": "tmpfs", "source": "tmpfs"}},
            {{"destination": "/evil3", "type": "bind", "source": "hostfile", "options": ["bind", "ro"]}},
            {{"destination": "/rec", "type": "tmpfs", "source": "tmpfs", "options": ["rnoexec", "rprivate"]}}
        ],
        "linux": {{
            "devices": [
                {{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0}},
                {{"path": "/dev/sub/fifo", "type": "p", "fileMode": 420}}
            ],
            "maskedPaths": ["/proc/kcore", "/secret", "/maskdir", "/nonexistent"],
            "readonlyPaths": ["/proc/sys", "/rodir", "/missing"]
        }}
    }}"#,
        data = data.display()
    );
    let spec: oci_spec::runtime::Spec = serde_json::from_str(&spec_json).unwrap();
    let cgroups = [
        CgroupMount { name: "memory".into(), options: "memory".into(), host_path: "/sys/fs/cgroup/memory".into() },
        CgroupMount { name: "cpu,cpuacct".into(), options: "cpu,cpuacct".into(), host_path: "/sys/fs/cgroup/cpu".into() },
    ];
    let host_v2 = fs::read_to_string("/proc/self/mountinfo").unwrap().lines().any(|l| l.contains(" /sys/fs/cgroup ") && l.contains(" - cgroup2 "));
    let ctx = RootfsCtx {
        spec: &spec,
        bundle: &base.0,
        rootfs: &rootfs,
        in_userns: false,
        no_pivot: false,
        host_mountns: false,
        terminal: true,
        cgroupns: false,
        cgroups: if host_v2 { &cgroups[..0] } else { &cgroups },
        mount_context: None,
        bind_trees: &[],
        place: &|| Ok(()),
    };
    let (host_evil_s, host_evil2_s) = (host_evil.display().to_string(), host_evil2.display().to_string());

    let code = in_child(|| {
        prepare(&ctx).map_err(|e| format!("prepare: {e}"))?;
        pivot(&ctx).map_err(|e| format!("pivot: {e}"))?;
        finalize(&ctx).map_err(|e| format!("finalize: {e}"))?;

        // Only the container's mounts remain: the old root is gone.
        let info = fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
        let points: Vec<&str> = info.lines().filter_map(|l| l.split(' ').nth(4)).collect();
        ensure!(!points.iter().any(|p| p.starts_with("/work") || p.starts_with("/tmp/berth-rootfs-full")), "host mounts still visible:\n{info}");
        ensure!(std::env::current_dir().map_err(|e| e.to_string())? == Path::new("/"), "cwd is not /");

        fstype("/proc", "proc")?;
        fstype("/dev", "tmpfs")?;
        has_opt("/dev", "nosuid")?;
        fstype("/dev/pts", "devpts")?;
        has_opt("/dev/shm", "nodev")?;
        fstype("/dev/mqueue", "mqueue")?;
        fstype("/sys", "sysfs")?;
        has_opt("/sys", "ro")?;

        // Binds: read-only, with extra flags, relative source, file source.
        has_opt("/data", "ro")?;
        has_opt("/data", "nosuid")?;
        ensure!(fs::read_to_string("/data/hello").ok().as_deref() == Some("from host"), "/data/hello");
        erofs("/data/new")?;
        ensure!(fs::read_to_string("/etc/hostfile").ok().as_deref() == Some("bundle file"), "/etc/hostfile");
        erofs("/etc/hostfile")?;

        // Symlinked destinations landed inside the rootfs.
        fstype(&host_evil_s, "tmpfs")?;
        fstype(&format!("{host_evil2_s}/sub"), "tmpfs")?;
        ensure!(fs::read_to_string("/evil3").ok().as_deref() == Some("bundle file"), "/evil3 not bound");

        has_opt("/rec", "noexec")?;

        // cgroups (v1/hybrid layout): tmpfs, ro, one dir per hierarchy.
        if !host_v2 {
            fstype("/sys/fs/cgroup", "tmpfs")?;
            has_opt("/sys/fs/cgroup", "ro")?;
            has_opt("/sys/fs/cgroup/memory", "ro")?;
            ensure!(Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists(), "memory hierarchy not bound");
            link_to("/sys/fs/cgroup/cpu", "cpu,cpuacct")?;
            link_to("/sys/fs/cgroup/cpuacct", "cpu,cpuacct")?;
        }

        // Devices and links.
        char_dev("/dev/null", 1, 3, 0o666)?;
        char_dev("/dev/tty", 5, 0, 0o666)?;
        char_dev("/dev/fuse", 10, 229, 0o666)?;
        let fifo = fs::metadata("/dev/sub/fifo").map_err(|e| format!("fifo: {e}"))?;
        ensure!(fifo.file_type().is_fifo() && fifo.permissions().mode() & 0o777 == 0o644, "fifo mode");
        fs::OpenOptions::new().write(true).open("/dev/null").and_then(|mut f| f.write_all(b"x")).map_err(|e| format!("/dev/null: {e}"))?;
        let mut z = [1u8; 4];
        fs::File::open("/dev/zero").and_then(|mut f| f.read_exact(&mut z)).map_err(|e| format!("/dev/zero: {e}"))?;
        ensure!(z == [0; 4], "/dev/zero");
        link_to("/dev/fd", "/proc/self/fd")?;
        link_to("/dev/stdin", "/proc/self/fd/0")?;
        link_to("/dev/stderr", "/proc/self/fd/2")?;
        link_to("/dev/ptmx", "pts/ptmx")?;
        ensure!(fs::symlink_metadata("/dev/console").map(|m| m.is_file()).unwrap_or(false), "/dev/console placeholder");

        // Masked and read-only paths.
        ensure!(fs::read_to_string("/secret").ok().as_deref() == Some(""), "/secret readable");
        ensure!(fs::read_dir("/maskdir").map(|d| d.count()).ok() == Some(0), "/maskdir not empty");
        erofs("/maskdir/x")?;
        if let Ok(m) = fs::metadata("/proc/kcore") {
            ensure!(m.len() == 0, "/proc/kcore not masked");
        }
        has_opt("/proc/sys", "ro")?;
        erofs("/rodir/x")?;
        // The root itself stays writable.
        fs::write("/newfile", "ok").map_err(|e| format!("/newfile: {e}"))?;

        // The console: a pty from the container's own devpts bound onto /dev/console.
        let ptmx = fs::OpenOptions::new().read(true).write(true).open("/dev/ptmx").map_err(|e| format!("/dev/ptmx: {e}"))?;
        // SAFETY: TIOCSPTLCK takes a pointer to an int; TIOCGPTPEER returns a new fd.
        let slave = unsafe {
            let unlock: libc::c_int = 0;
            libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&ptmx), libc::TIOCSPTLCK, &unlock);
            libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&ptmx), libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY)
        };
        ensure!(slave >= 0, "TIOCGPTPEER: {}", std::io::Error::last_os_error());
        // SAFETY: `slave` is a valid fd we own from here on.
        let slave = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(slave) };
        berth::rootfs::mount_console(std::os::fd::AsFd::as_fd(&slave)).map_err(|e| format!("mount_console: {e}"))?;
        let console = fs::metadata("/dev/console").map_err(|e| format!("/dev/console: {e}"))?;
        ensure!(console.file_type().is_char_device() && libc::major(console.rdev()) == 136, "/dev/console is not the pty");

        // A real binary runs in there.
        let st = std::process::Command::new("/bin/sh")
            .args(["-c", "test -c /dev/null && ls /dev/pts >/dev/null && cat /data/hello >/dev/null"])
            .status()
            .map_err(|e| format!("exec sh: {e}"))?;
        ensure!(st.success(), "sh: {st}");
        Ok(())
    });
    assert_eq!(code, 0, "checks in the container failed (see stderr)");

    // Nothing reached the host through the symlinks.
    assert!(!host_evil.exists() && !host_evil2.exists(), "created outside the rootfs");
    assert_eq!(fs::read_to_string(&host_file).unwrap(), "host");
    assert!(rootfs.join(host_evil.strip_prefix("/").unwrap()).is_dir());
}

#[test]
fn readonly_root_without_pivot() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let base = TempDir::new("ro");
    let rootfs = build_rootfs(&base.0);
    fs::create_dir_all(rootfs.join("sys")).unwrap();
    let host_v2 = fs::read_to_string("/proc/self/mountinfo").unwrap().lines().any(|l| l.contains(" /sys/fs/cgroup ") && l.contains(" - cgroup2 "));
    let all = [
        CgroupMount { name: "memory".into(), options: "memory".into(), host_path: "/sys/fs/cgroup/memory".into() },
        CgroupMount { name: "unified".into(), options: String::new(), host_path: "/sys/fs/cgroup/unified".into() },
    ];
    let cgroups = if host_v2 { &all[..0] } else { &all[..] };
    let spec: oci_spec::runtime::Spec = serde_json::from_str(
        r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs", "readonly": true},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                       {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nodev"]},
                       {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "ro"]}],
            "linux": {"rootfsPropagation": "rshared"}}"#,
    )
    .unwrap();
    let ctx = RootfsCtx {
        spec: &spec,
        bundle: &base.0,
        rootfs: &rootfs,
        in_userns: false,
        no_pivot: true,
        host_mountns: false,
        terminal: false,
        // New mounts of the hierarchies (as with a cgroup namespace): only
        // another view of them, in a mount namespace that dies with the child.
        cgroupns: true,
        cgroups,
        mount_context: None,
        bind_trees: &[],
        place: &|| Ok(()),
    };
    let code = in_child(|| {
        prepare(&ctx).map_err(|e| format!("prepare: {e}"))?;
        pivot(&ctx).map_err(|e| format!("pivot: {e}"))?;
        finalize(&ctx).map_err(|e| format!("finalize: {e}"))?;
        if !host_v2 {
            fstype("/sys/fs/cgroup/memory", "cgroup")?;
            has_opt("/sys/fs/cgroup/memory", "ro")?;
            fstype("/sys/fs/cgroup/unified", "cgroup2")?;
            has_opt("/sys/fs/cgroup", "ro")?;
        }
        erofs("/newfile")?;
        fs::write("/tmp/ok", "ok").map_err(|e| format!("/tmp stays writable: {e}"))?;
        // No /dev mount in the config: default devices go into the image's /dev.
        char_dev("/dev/null", 1, 3, 0o666)?;
        ensure!(fs::symlink_metadata("/dev/ptmx").is_err(), "/dev/ptmx without /dev/pts");
        ensure!(fs::read_to_string("/proc/self/mountinfo").map(|s| s.contains(" / ")).unwrap_or(false), "no /proc");
        Ok(())
    });
    assert_eq!(code, 0, "checks in the container failed (see stderr)");
}

#[test]
fn errors_name_the_mount() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let base = TempDir::new("err");
    let rootfs = build_rootfs(&base.0);
    fs::write(rootfs.join("afile"), "").unwrap();
    let spec: oci_spec::runtime::Spec = serde_json::from_str(
        r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                       {"destination": "/afile/sub", "type": "tmpfs", "source": "tmpfs"}]}"#,
    )
    .unwrap();
    let ctx = RootfsCtx {
        spec: &spec,
        bundle: &base.0,
        rootfs: &rootfs,
        in_userns: false,
        no_pivot: false,
        host_mountns: false,
        terminal: false,
        cgroupns: false,
        cgroups: &[],
        mount_context: None,
        bind_trees: &[],
        place: &|| Ok(()),
    };
    let code = in_child(|| {
        let e = prepare(&ctx).err().ok_or("prepare succeeded")?;
        let msg = e.to_string();
        ensure!(msg == "mount tmpfs on /afile/sub (mounts[1]): Not a directory", "message: {msg}");
        Ok(())
    });
    assert_eq!(code, 0);
}

/// Fork again and wait: the grandchild is pid 1 of the namespace just made.
fn fork_and_wait(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    // SAFETY: as in `in_child`: single-threaded, the child only runs `f`.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| Err("panic".into())) {
            Ok(()) => 0,
            Err(msg) => {
                let msg = format!("grandchild: {msg}\n");
                // SAFETY: writes a valid buffer to stderr.
                unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
                1
            }
        };
        // SAFETY: ends the grandchild.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` a valid out-pointer.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("grandchild failed: status {status:#x}"));
    }
    Ok(())
}

#[test]
fn user_namespace_binds_devices_and_keeps_locked_flags() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let base = TempDir::new("userns");
    let rootfs = build_rootfs(&base.0);
    let locked = base.0.join("locked");
    fs::create_dir(&locked).unwrap();
    let spec_json = format!(
        r#"{{"ociVersion": "1.0.2", "root": {{"path": "rootfs", "readonly": true}},
            "mounts": [
                {{"destination": "/proc", "type": "proc", "source": "proc"}},
                {{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]}},
                {{"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["newinstance", "ptmxmode=0666"]}},
                {{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}},
                {{"destination": "/locked", "type": "bind", "source": "{locked}", "options": ["rbind", "ro"]}}
            ],
            "linux": {{"maskedPaths": ["/secret"], "readonlyPaths": ["/rodir"],
                      "devices": [{{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}}]}}}}"#,
        locked = locked.display()
    );
    let spec: oci_spec::runtime::Spec = serde_json::from_str(&spec_json).unwrap();
    let ctx = RootfsCtx {
        spec: &spec,
        bundle: &base.0,
        rootfs: &rootfs,
        in_userns: true,
        no_pivot: false,
        host_mountns: false,
        terminal: false,
        cgroupns: false,
        cgroups: &[],
        mount_context: None,
        bind_trees: &[],
        place: &|| Ok(()),
    };
    let code = in_child(|| {
        // Still real root in a private mount namespace: make a mount whose
        // flags the user namespace below will inherit as locked.
        let slash = std::ffi::CString::new("/").unwrap();
        let target = std::ffi::CString::new(locked.to_str().unwrap()).unwrap();
        let (tmpfs, data) = (std::ffi::CString::new("tmpfs").unwrap(), std::ffi::CString::new("mode=755").unwrap());
        // SAFETY: NUL-terminated strings that outlive the calls.
        unsafe {
            if libc::mount(std::ptr::null(), slash.as_ptr(), std::ptr::null(), libc::MS_SLAVE | libc::MS_REC, std::ptr::null()) != 0
                || libc::mount(tmpfs.as_ptr(), target.as_ptr(), tmpfs.as_ptr(), libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOATIME, data.as_ptr().cast()) != 0
            {
                return Err(format!("setup mount: {}", std::io::Error::last_os_error()));
            }
        }
        fs::write(locked.join("f"), "locked").map_err(|e| e.to_string())?;
        // SAFETY: plain syscall in a single-threaded process.
        if unsafe { libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWPID) } != 0 {
            return Err(format!("unshare userns: {}", std::io::Error::last_os_error()));
        }
        fs::write("/proc/self/setgroups", "deny").map_err(|e| format!("setgroups: {e}"))?;
        fs::write("/proc/self/uid_map", "0 0 1").map_err(|e| format!("uid_map: {e}"))?;
        fs::write("/proc/self/gid_map", "0 0 1").map_err(|e| format!("gid_map: {e}"))?;
        fork_and_wait(|| {
            prepare(&ctx).map_err(|e| format!("prepare: {e}"))?;
            pivot(&ctx).map_err(|e| format!("pivot: {e}"))?;
            finalize(&ctx).map_err(|e| format!("finalize: {e}"))?;
            // Bound from the host, since mknod is refused here.
            char_dev("/dev/null", 1, 3, 0o666)?;
            // The host node's own mode comes along with the bind.
            if let Ok(host) = fs::metadata("/dev/fuse") {
                char_dev("/dev/fuse", 10, 229, host.permissions().mode() & 0o7777)?;
            }
            fs::OpenOptions::new().write(true).open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
            // The remount to ro kept the locked nosuid,nodev,noatime.
            for opt in ["ro", "nosuid", "nodev", "noatime"] {
                has_opt("/locked", opt)?;
            }
            ensure!(fs::read_to_string("/locked/f").ok().as_deref() == Some("locked"), "/locked/f");
            has_opt("/sys", "ro")?;
            ensure!(Path::new("/sys/kernel").is_dir(), "/sys is empty");
            erofs("/newfile")?;
            erofs("/rodir/x")?;
            ensure!(fs::read_to_string("/secret").ok().as_deref() == Some(""), "/secret readable");
            link_to("/dev/ptmx", "pts/ptmx")?;
            Ok(())
        })
    });
    assert_eq!(code, 0, "checks in the container failed (see stderr)");
}
