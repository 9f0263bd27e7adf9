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

trait ShCapture {
    fn run_to_completion_sh(&mut self, script: &str) -> Captured;
}

impl ShCapture for TestContainer {
    fn run_to_completion_sh(&mut self, script: &str) -> Captured {
        self.sh(script);
        self.run_to_completion()
    }
}
