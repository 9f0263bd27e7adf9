//! config-linux.md "Seccomp" through the runtime: the filter is in force in
//! the container's process (and in processes exec'd into it), with the
//! actions and errno values the profile asks for.

use conformance::*;
use serde_json::{json, Value};
use std::time::Duration;

fn profile(name: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/tests/data").join(name);
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

// "errnoRet": the syscall fails with that errno; others still work.
#[test]
fn errno_action_applies_in_container_and_exec() {
    let mut c = TestContainer::new("seccomp-errno");
    c.set(
        "/linux/seccomp",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
        }),
    );
    c.sh("mkdir /tmp/d 2>&1; echo mkdir=$?; touch /tmp/f && echo touch-ok; exec sleep 100");
    c.create().ok();
    c.start().ok();
    c.wait_status("running", Duration::from_secs(10)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = std::fs::read_to_string(&c.out_file).unwrap();
    assert!(out.contains("Permission denied") && out.contains("mkdir=1") && out.contains("touch-ok"), "{out}");
    // An exec'd process gets the container's filter as well.
    let o = c.cmd(&["exec", &c.id, "mkdir", "/tmp/e"]);
    assert_ne!(o.code, Some(0), "mkdir in exec must fail: {o:?}");
    c.delete_force().ok();
    c.assert_no_leaks(None);
}

// SCMP_ACT_KILL_PROCESS: the process dies of SIGSYS (run exits 128+31).
#[test]
fn kill_action_kills() {
    let mut c = TestContainer::new("seccomp-kill");
    c.set("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_KILL_PROCESS"}]}));
    c.args(&["uname"]);
    c.write_config();
    let bundle = c.bundle.display().to_string();
    let o = c.rt.cmd(&["run", "--bundle", &bundle, &c.id]);
    assert_eq!(o.code, Some(128 + libc::SIGSYS), "{o:?}");
    c.delete_force().ok();
    c.assert_no_leaks(None);
}

// A default-deny profile in Docker's shape loads and busybox runs under it;
// what it leaves out (unshare) is refused.
#[test]
fn docker_like_default_profile_runs_busybox() {
    let mut c = TestContainer::new("seccomp-docker");
    c.set("/linux/seccomp", profile("docker-default.json"));
    let out = c.run_sh("echo hello; ls / >/dev/null && echo ls-ok; unshare -U true 2>/dev/null && echo unshare-ok || echo unshare-refused");
    assert_eq!(out, "hello\nls-ok\nunshare-refused\n");
    c.delete_and_check(None);
}

// A profile none of whose syscalls the runtime knows would silently filter
// nothing: berth refuses it (create fails, naming the field) and leaves
// nothing behind.
#[test]
fn bad_profile_fails_create_cleanly() {
    if skip_for("runc version", "runc drops unknown syscall names silently, even all of them") {
        return;
    }
    let mut c = TestContainer::new("seccomp-bad");
    c.set("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["no_such_syscall_at_all"], "action": "SCMP_ACT_ERRNO"}]}));
    c.write_config();
    let o = c.create();
    o.fails();
    c.assert_no_leaks(None);
}

/// A static program that makes raw syscalls and prints the errno of each
/// ("0" for success): `number` given on the command line.
fn syscall_probe(dest: &std::path::Path) -> Option<()> {
    static_c_program(
        dest,
        "#include <errno.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <unistd.h>\n#include <sys/syscall.h>\n\
         int main(int argc, char **argv) { for (int i = 1; i < argc; i++) { long r = syscall(atol(argv[i]), 0, 0, 0); \
         printf(\"%s=%d\\n\", argv[i], r < 0 ? errno : 0); } return 0; }\n",
    )
}

// runc parity: under a deny-by-default profile (Docker's), a syscall newer
// than every one the profile names answers ENOSYS, so libc falls back to
// an older call; an older syscall it does not allow keeps the default
// (EPERM).
#[test]
fn syscalls_newer_than_the_profile_answer_enosys() {
    let mut c = TestContainer::new("seccomp-enosys");
    if syscall_probe(&c.bundle.join("rootfs/bin/sysprobe")).is_none() {
        return;
    }
    c.set("/linux/seccomp", profile("docker-default.json"));
    // 163 = acct (older, denied by the profile); 600 = beyond every x86_64 syscall.
    c.args(&["/bin/sysprobe", "163", "600"]);
    let out = c.run_to_completion().stdout;
    assert_eq!(out, "163=1\n600=38\n", "acct must keep EPERM, an unknown newer number must give ENOSYS");
    c.delete_and_check(None);
}
