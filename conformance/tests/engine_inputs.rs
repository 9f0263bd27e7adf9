//! Inputs real engines send every day (Docker, Podman, buildah, `runc
//! spec`), each in the smallest form that shows it, with the behaviour the
//! spec asks for and runc gives. Each test failed on Berth before the fix
//! it pins.

use conformance::*;
use serde_json::json;
use std::fs;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

/// A network namespace made by `ip netns add`: an nsfs inode bind-mounted
/// onto the plain file /run/netns/<name>, exactly what Podman/netavark, CNI
/// and dockerd (`--network host`: <exec-root>/netns/default) pass. Deleted
/// (by `ip netns del`) on drop.
struct NetNs {
    name: String,
}

impl NetNs {
    fn new(tag: &str) -> NetNs {
        let name = format!("berth-ct-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).stderr(Stdio::null()).status();
        let st = Command::new("ip").args(["netns", "add", &name]).status().expect("run ip netns add (iproute2)");
        assert!(st.success(), "ip netns add {name}");
        NetNs { name }
    }
    fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }
    /// `net:[inode]`, as /proc/<pid>/ns/net of a member reads.
    fn id(&self) -> String {
        use std::os::unix::fs::MetadataExt;
        format!("net:[{}]", fs::metadata(self.path()).unwrap().ino())
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

// config-linux.md "Namespaces": with `path` the process MUST be placed in
// the namespace that file refers to. An nsfs bind mount is such a file.
#[test]
fn namespace_path_may_be_a_bind_mounted_nsfs_file() {
    let ns = NetNs::new("join");
    let mut c = TestContainer::new("inputs-nsfs");
    c.drop_namespace("network");
    c.push("/linux/namespaces", json!({"type": "network", "path": ns.path()}));
    let out = c.run_sh("readlink /proc/self/ns/net");
    assert_eq!(out.trim(), ns.id(), "the container must be in the namespace at {}", ns.path());
    c.delete_and_check(None);
}

// runtime.md "Errors": a path that is not a namespace of the stated type is
// an error that names the field; nothing is left behind.
#[test]
fn namespace_path_of_the_wrong_kind_is_refused() {
    let ns = NetNs::new("wrong");
    for (ty, path, why) in [("uts", ns.path(), "a net namespace given as uts"), ("network", "/etc/hostname".to_string(), "a plain file")] {
        let mut c = TestContainer::new("inputs-nsfs-wrong");
        c.drop_namespace(ty);
        c.push("/linux/namespaces", json!({"type": ty, "path": path}));
        let o = c.create();
        o.fails().reports_error();
        let text = format!("{}{}", o.stderr, o.log);
        if !skip_for("runc version", "runc's setns error names neither the path nor the field") {
            assert!(text.contains(&path), "{why}: the error must name the path: {text}");
            assert!(text.contains("linux.namespaces["), "{why}: the error must name the field: {text}");
        }
        c.assert_no_leaks(None);
    }
}

/// Capability sets as Debian's `runc spec` template and buildah's RUN steps
/// give them: ambient without inheritable.
fn ambient_only_caps() -> serde_json::Value {
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    json!({"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps})
}

// config.md "capabilities": capabilities that cannot be granted MUST be
// logged as a warning, and the runtime SHOULD NOT fail. The warning goes to
// the runtime's log or stderr, never into the container's stderr (which is
// what `docker logs` shows).
#[test]
fn ambient_capabilities_without_inheritable_run_with_a_warning() {
    let mut c = TestContainer::new("inputs-ambient");
    c.set("/process/capabilities", ambient_only_caps());
    // With --log (as every engine passes it) the runtime's messages go
    // there; the container's stderr is the container's alone.
    let out = c.run_to_completion_sh("grep -E '^Cap(Amb|Eff):' /proc/self/status");
    let log = fs::read_to_string(c.rt.log.as_ref().unwrap()).unwrap_or_default();
    if !runtime_version().starts_with("runc") {
        assert!(log.contains("CAP_AUDIT_WRITE") && log.contains("\"level\":\"warning\""), "no warning in the runtime's log: {log}");
    }
    assert!(out.stdout.contains("CapAmb:\t0000000000000000"), "ambient capabilities cannot be raised without inheritable: {out:?}");
    assert!(out.stdout.contains(&format!("CapEff:\t{:016x}", cap_mask(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]))), "{out:?}");
    assert!(!out.stderr.contains("ambient"), "a runtime warning reached the container's stderr: {:?}", out.stderr);
    c.delete_and_check(None);
}

// The same, through `run` in the foreground: the warning is on the
// runtime's stderr.
#[test]
fn ambient_warning_is_the_runtimes_own() {
    let mut c = TestContainer::new("inputs-ambient-run");
    c.set("/process/capabilities", ambient_only_caps());
    c.sh("echo container-out; echo container-err >&2");
    c.rt.log = None;
    c.write_config();
    let o = c.cmd(&["run", "--bundle", &c.bundle.display().to_string(), &c.id]);
    o.ok();
    assert!(o.stdout.contains("container-out"), "{o:?}");
    if !runtime_version().starts_with("runc") {
        assert!(o.stderr.contains("CAP_AUDIT_WRITE"), "the dropped ambient capabilities must be named in a warning: {o:?}");
    }
    c.assert_no_leaks(None);
}

// config.md "Hostname"/"Domainname" and config-linux.md: a value that lives
// in a namespace needs that namespace; without one it would change the
// host's. Refused before anything exists.
#[test]
fn domainname_without_uts_namespace_is_refused() {
    let before = fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
    let mut c = TestContainer::new("inputs-domainname");
    c.drop_namespace("uts");
    c.remove("/hostname");
    c.set("/domainname", json!("berth-must-not-leak.example"));
    let o = c.create();
    if !skip_for("runc version 1.1", "runc 1.1 ignores domainname without a uts namespace") {
        o.fails().reports_error();
        c.assert_no_leaks(None);
    }
    c.delete_force();
    assert_eq!(fs::read_to_string("/proc/sys/kernel/domainname").unwrap(), before, "the host's domain name changed");
}

// A caller that closes the pipe early (`berth state ID | head -1`) gets no
// panic: the runtime ends quietly, as runc does (by SIGPIPE).
#[test]
fn output_into_a_closed_pipe_is_quiet() {
    let mut c = TestContainer::new("inputs-epipe");
    c.args(&["sleep", "100"]);
    c.create().ok();
    for args in [vec!["state", c.id.as_str()], vec!["list"], vec!["ps", c.id.as_str()], vec!["--version"]] {
        let mut fds = [0; 2];
        // SAFETY: fds is a valid two-element array for pipe to fill.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both descriptors were just created and belong to nobody else.
        let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        drop(r);
        let mut cmd = Command::new(&c.rt.bin);
        cmd.arg("--root").arg(&c.rt.root).args(&args);
        let out = cmd.stdin(Stdio::null()).stdout(Stdio::from(w)).stderr(Stdio::piped()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{args:?}: {err}");
        assert_ne!(out.status.code(), Some(101), "{args:?} panicked: {err}");
    }
    c.delete_force().ok();
    c.assert_no_leaks(None);
}

// Engines share their --root with runc and read every entry in it as a
// container: nothing but containers may live there.
#[test]
fn state_root_holds_containers_only() {
    let mut c = TestContainer::new("inputs-root");
    c.set("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_ERRNO"}]}));
    c.args(&["sleep", "100"]);
    c.create().ok();
    let entries: Vec<String> = fs::read_dir(&c.rt.root).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(entries, [c.id.clone()], "the state root holds more than the container");
    let listed = c.cmd(&["list", "-q"]);
    assert_eq!(listed.ok().stdout.trim(), c.id);
    c.delete_force().ok();
    c.assert_no_leaks(None);
}

// config-linux.md "Allowed Device list": the access of a rule is exactly
// what it says. Docker's `--device /dev/loop0:/dev/xloop:r` sends the node
// and a rule `b 7:0 r`: reading works, a write-open is refused.
#[test]
fn device_listed_read_only_stays_read_only() {
    let Some((major, minor)) = host_dev("/dev/loop0") else {
        eprintln!("SKIP: no /dev/loop0 on this host");
        return;
    };
    let mut c = TestContainer::new("inputs-device-r");
    c.push("/linux/devices", json!({"path": "/dev/xloop", "type": "b", "major": major, "minor": minor, "fileMode": 0o660, "uid": 0, "gid": 0}));
    c.set(
        "/linux/resources/devices",
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "b", "major": major, "minor": minor, "access": "r"}
        ]),
    );
    let out = c.run_sh("(exec 3</dev/xloop) && echo read-ok; (exec 3>/dev/xloop) 2>/dev/null && echo write-ok || echo write-refused");
    assert_eq!(out, "read-ok\nwrite-refused\n", "device access must be exactly the rule's `r`");
    c.delete_and_check(None);
}

// A process running as a non-root user reopens its own stdio
// (`/dev/stdout`, `/dev/stderr`): runc gives the descriptors to
// process.user first. `docker run --user 1000`, Dockerfile `USER 1000`.
#[test]
fn non_root_user_can_reopen_its_stdio() {
    let mut c = TestContainer::new("inputs-user-stdio");
    c.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    // Everything through the reopened files, appending: they are files
    // here, and `>` would truncate them under the descriptor's offset.
    let out = c.run_to_completion_sh("echo out-ok >> /dev/stdout; echo err-ok >> /dev/stderr; id -u >> /dev/stdout");
    assert_eq!(out.stdout, "out-ok\n1000\n", "stderr: {}", out.stderr);
    assert_eq!(out.stderr, "err-ok\n");
    c.delete_and_check(None);
}

// The same for `exec --user` and a process JSON with a user, and for the
// terminal: the pty slave (and /dev/console) belong to process.user.
#[test]
fn non_root_exec_and_terminal_own_their_stdio() {
    let (c, _pid) = running("inputs-user-exec");
    let o = c.cmd(&["exec", "--user", "1000:1000", &c.id, "sh", "-c", "echo exec-ok >> /dev/stdout && id -u >> /dev/stdout"]);
    assert_eq!(o.ok().stdout, "exec-ok\n1000\n", "{o:?}");
    c.delete_force().ok();
    c.assert_no_leaks(None);

    let mut c = TestContainer::new("inputs-user-tty");
    c.set("/process/terminal", json!(true));
    c.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    c.sh("echo via-tty > $(tty) && stat -c 'owner %u' $(tty) /dev/console");
    c.write_config();
    let sock = ConsoleSocket::listen(&c.base.join("console.sock"));
    let path = sock.path.display().to_string();
    c.create_with(&["--console-socket", &path]).ok();
    let master = sock.master(std::time::Duration::from_secs(5)).expect("pty master");
    c.start().ok();
    let out = read_pty(master, std::time::Duration::from_secs(5)).replace("\r\n", "\n");
    assert!(out.contains("via-tty\n"), "{out:?}");
    assert_eq!(out.matches("owner 1000").count(), 2, "the pty and /dev/console must belong to uid 1000: {out:?}");
    c.wait_status("stopped", std::time::Duration::from_secs(10)).unwrap();
    c.delete_and_check(None);
}

// A network namespace the runtime creates has `lo` up (runc and crun bring
// it up): the containers of a pod talk over 127.0.0.1.
#[test]
fn loopback_is_up_in_a_new_network_namespace() {
    let mut c = TestContainer::new("inputs-lo");
    let out = c.run_sh("cat /sys/class/net/lo/flags; nc -l -p 4321 -w 5 > /tmp/got & sleep 0.3; echo over-lo | nc -w 2 127.0.0.1 4321; wait; cat /tmp/got");
    let mut l = out.lines();
    let flags = u32::from_str_radix(l.next().unwrap_or("").trim_start_matches("0x"), 16).unwrap_or(0);
    assert_eq!(flags & 1, 1, "lo must be up (IFF_UP): {out}");
    assert_eq!(l.next(), Some("over-lo"), "a connection over 127.0.0.1 must work: {out}");
    c.delete_and_check(None);
}

// runc and crun set HOME from the container's /etc/passwd entry of
// process.user (else "/") when the config does not; for exec too. A name
// given twice in process.env keeps its last value.
#[test]
fn home_is_set_from_the_containers_passwd() {
    let mut c = TestContainer::new("inputs-home");
    c.set("/process/env", json!(["PATH=/bin", "DUP=first", "DUP=last", format!("{MARKER_ENV}={}", c.id)]));
    let out = c.run_sh("echo HOME=$HOME DUP=$DUP; env | grep -c '^DUP='");
    assert_eq!(out, "HOME=/root DUP=last\n1\n");
    c.delete_and_check(None);

    let mut c = TestContainer::new("inputs-home-user");
    c.set("/process/user", json!({"uid": 4242, "gid": 4242}));
    assert_eq!(c.run_sh("echo $HOME"), "/\n", "a uid without a passwd entry gets HOME=/");
    c.delete_and_check(None);

    let mut c = TestContainer::new("inputs-home-own");
    c.push("/process/env", json!("HOME=/custom"));
    assert_eq!(c.run_sh("echo $HOME"), "/custom\n", "the config's HOME wins");
    c.delete_and_check(None);

    let (c, _) = running("inputs-home-exec");
    let o = c.cmd(&["exec", &c.id, "sh", "-c", "echo $HOME"]);
    assert_eq!(o.ok().stdout, "/root\n");
    let o = c.cmd(&["exec", "--user", "1", &c.id, "sh", "-c", "echo $HOME"]);
    assert_eq!(o.ok().stdout, "/usr/sbin\n", "daemon's home in the template's passwd");
    c.delete_force().ok();
    c.assert_no_leaks(None);
}

// runc and crun create a missing process.cwd, also when root.readonly is
// true (the default of `runc spec`).
#[test]
fn missing_cwd_is_created_under_a_read_only_root() {
    let mut c = TestContainer::new("inputs-cwd-ro");
    c.set("/root/readonly", json!(true));
    c.set("/process/cwd", json!("/srv/not/there"));
    let out = c.run_sh("pwd; touch /x 2>/dev/null && echo root-writable || echo root-read-only");
    assert_eq!(out, "/srv/not/there\nroot-read-only\n");
    c.delete_and_check(None);
}

// A hook without `env` inherits the runtime's environment, as runc's
// hooks do (Docker's libnetwork-setkey hook has none); one with `env` gets
// exactly that.
#[test]
fn hook_without_env_inherits_the_runtimes_environment() {
    let mut c = TestContainer::new("inputs-hook-env");
    let out = c.base.join("hook-env");
    let script = format!("env > {}", out.display());
    c.push("/hooks/createRuntime", json!({"path": "/bin/sh", "args": ["sh", "-c", script]}));
    c.args(&["true"]);
    c.write_config();
    c.create_prepared(&[], |cmd| {
        cmd.env("BERTH_HOOK_PARENT_VAR", "inherited");
    })
    .ok();
    let seen = fs::read_to_string(&out).unwrap_or_default();
    assert!(seen.contains("BERTH_HOOK_PARENT_VAR=inherited"), "hook env: {seen}");
    c.delete_force().ok();
    c.assert_no_leaks(None);
}

/// A directory of the test's made a shared mount (bound onto itself), as an
/// rshared volume's source must be; everything under it is unmounted on
/// drop.
struct SharedDir(std::path::PathBuf);

impl SharedDir {
    fn new(path: std::path::PathBuf) -> SharedDir {
        fs::create_dir_all(&path).unwrap();
        let p = path.display().to_string();
        assert!(Command::new("mount").args(["--bind", &p, &p]).status().unwrap().success());
        let d = SharedDir(path);
        assert!(Command::new("mount").args(["--make-shared", &p]).status().unwrap().success());
        d
    }
}

impl Drop for SharedDir {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-R").arg("-l").arg(&self.0).status();
    }
}

// config-linux.md "Rootfs Mount Propagation" with Docker's `-v src:dst:rshared`
// (rootfsPropagation rshared, the bind `rshared`): the container's / is
// shared, and a mount made on either side of the bind appears on the other.
#[test]
fn rshared_root_and_bind_propagate_both_ways() {
    let mut c = TestContainer::new("inputs-rshared");
    let src = SharedDir::new(c.base.join("shared-src"));
    c.set("/linux/rootfsPropagation", json!("rshared"));
    c.push("/mounts", json!({"destination": "/vol", "type": "bind", "source": src.0.display().to_string(), "options": ["rbind", "rshared"]}));
    for set in ["bounding", "effective", "permitted"] {
        c.push(&format!("/process/capabilities/{set}"), json!("CAP_SYS_ADMIN"));
    }
    c.args(&["sleep", "100"]);
    c.create().ok();
    c.start().ok();
    let root_line = c.cmd(&["exec", &c.id, "sh", "-c", "awk '$5 == \"/\"' /proc/self/mountinfo"]);
    let skip = skip_for("runc version 1.1", "runc 1.1 never makes the container's / shared");
    if !skip {
        assert!(root_line.ok().stdout.contains("shared:"), "the container's / must be shared: {root_line:?}");
    }
    // Inside → host.
    c.cmd(&["exec", &c.id, "sh", "-c", "mkdir -p /vol/inner && mount -t tmpfs inner /vol/inner && touch /vol/inner/from-container"]).ok();
    assert!(src.0.join("inner/from-container").exists(), "a mount made in the container must appear at the source on the host");
    // Host → inside.
    fs::create_dir_all(src.0.join("fromhost")).unwrap();
    assert!(Command::new("mount").args(["-t", "tmpfs", "fromhost"]).arg(src.0.join("fromhost")).status().unwrap().success());
    fs::write(src.0.join("fromhost/marker"), "x").unwrap();
    let seen = c.cmd(&["exec", &c.id, "cat", "/vol/fromhost/marker"]);
    assert_eq!(seen.ok().stdout, "x", "a mount made on the host must appear in the container");
    c.delete_force().ok();
    drop(src);
    c.assert_no_leaks(None);
}

// runc and crun: a tmpfs mounted over an existing directory keeps its mode
// and owner unless the options say otherwise (`docker run --tmpfs /run` on
// an image whose /run is 0755); with `tmpcopyup` (Podman's `--tmpfs`) the
// tmpfs starts with a copy of the directory's content.
#[test]
fn tmpfs_keeps_the_directorys_mode_and_copies_up() {
    let mut c = TestContainer::new("inputs-tmpfs");
    let rootfs = c.bundle.join("rootfs");
    for (d, mode) in [("kept", 0o750), ("copied", 0o710), ("given", 0o700)] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
        fs::set_permissions(rootfs.join(d), std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }
    std::os::unix::fs::chown(rootfs.join("kept"), Some(123), Some(456)).unwrap();
    fs::create_dir_all(rootfs.join("copied/sub")).unwrap();
    fs::write(rootfs.join("copied/sub/file"), "image-content").unwrap();
    std::os::unix::fs::symlink("sub/file", rootfs.join("copied/link")).unwrap();
    c.push("/mounts", json!({"destination": "/kept", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}));
    c.push("/mounts", json!({"destination": "/copied", "type": "tmpfs", "source": "tmpfs", "options": ["rw", "nosuid", "nodev", "tmpcopyup"]}));
    c.push("/mounts", json!({"destination": "/given", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}));
    c.push("/mounts", json!({"destination": "/fresh", "type": "tmpfs", "source": "tmpfs"}));
    let out = c.run_sh("stat -c '%n %a %u:%g' /kept /copied /given /fresh; cat /copied/link; ls -la /copied >&2");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "/kept 750 123:456", "{out}");
    assert_eq!(lines[1], "/copied 710 0:0", "{out}");
    assert_eq!(lines[2], "/given 1777 0:0", "the options' mode wins: {out}");
    assert_eq!(lines[3], "/fresh 1777 0:0", "a tmpfs on a directory that did not exist gets tmpfs's default: {out}");
    if !skip_for("runc version 1.1", "runc 1.1 copies up but this check is berth's") || lines.len() > 4 {
        assert_eq!(lines.get(4), Some(&"image-content"), "tmpcopyup must copy the image's content: {out}");
    }
    c.delete_and_check(None);
}

// config-linux.md "Namespaces": a type not listed MUST be inherited from
// the runtime, the mount namespace too. The rootfs mounts are then made in
// the runtime's namespace, and delete removes every one of them.
#[test]
fn no_mount_namespace_mounts_in_the_runtimes_and_delete_removes_them() {
    if skip_for("runc version", "runc refuses maskedPaths/readonlyPaths without a mount namespace") {
        return;
    }
    let mut c = TestContainer::new("inputs-no-mntns");
    c.drop_namespace("mount");
    c.args(&["sleep", "100"]);
    c.create().ok();
    c.start().ok();
    let rootfs = c.bundle.join("rootfs");
    let mounts = mounts_under(&rootfs);
    assert!(mounts.iter().any(|m| m.ends_with("/rootfs/proc")), "the container's /proc must be mounted in our namespace: {mounts:?}");
    let o = c.cmd(&["exec", &c.id, "sh", "-c", "readlink /proc/self/ns/mnt; cat /etc/group | head -1; ls /proc | grep -c '^[0-9]'"]);
    let out = o.ok().stdout.clone();
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], host_ns("mnt"), "the mount namespace is the runtime's: {out}");
    assert_eq!(l[1], "root:x:0:", "exec must see the container's root, not the host's: {out}");
    assert!(l[2].parse::<u32>().unwrap_or(99) <= 4, "its /proc is the container's pid namespace: {out}");
    c.delete_force().ok();
    assert!(mounts_under(&rootfs).is_empty(), "delete must remove the mounts: {:?}", mounts_under(&rootfs));
    c.assert_no_leaks(None);

    // A create that fails half-way takes its mounts down too.
    let mut c = TestContainer::new("inputs-no-mntns-fail");
    c.drop_namespace("mount");
    c.push("/mounts", json!({"destination": "/late", "type": "no-such-fs", "source": "none"}));
    c.create().fails().reports_error();
    assert!(mounts_under(&c.bundle.join("rootfs")).is_empty(), "a failed create left mounts: {:?}", mounts_under(&c.bundle.join("rootfs")));
    c.assert_no_leaks(None);
}

trait ShCapture {
    fn run_to_completion_sh(&mut self, script: &str) -> Captured;
}

impl ShCapture for TestContainer {
    fn run_to_completion_sh(&mut self, script: &str) -> Captured {
        self.sh(script);
        self.run_to_completion()
    }
}
