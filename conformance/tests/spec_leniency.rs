//! Clauses where the spec asks a runtime to tolerate, warn or choose
//! (config.md, config-linux.md): "SHOULD NOT fail", "MUST log a warning",
//! "MAY be relative", "MUST generate an error" for what is unsupported.
//! docs/ARCHITECTURE.md lists each with the behaviour Berth chose.

use conformance::*;
use serde_json::json;
use std::fs;

fn log_of(c: &TestContainer) -> String {
    fs::read_to_string(c.rt.log.as_ref().unwrap()).unwrap_or_default()
}

// config.md "capabilities": a name that cannot be mapped MUST be logged as
// a warning; the runtime SHOULD NOT fail.
#[test]
fn unknown_capability_names_are_a_warning() {
    let mut c = TestContainer::new("lenient-cap");
    for set in ["bounding", "effective", "permitted"] {
        c.push(&format!("/process/capabilities/{set}"), json!("CAP_FROM_THE_FUTURE"));
    }
    let out = c.run_sh("grep CapEff /proc/self/status");
    assert!(out.starts_with("CapEff:"), "{out}");
    if !runtime_version().starts_with("runc") {
        assert!(log_of(&c).contains("CAP_FROM_THE_FUTURE"), "no warning names the capability: {}", log_of(&c));
    }
    c.delete_and_check(None);
}

// config.md "Mounts": a relative destination MUST be taken relative to "/".
#[test]
fn relative_mount_destination_is_under_root() {
    let mut c = TestContainer::new("lenient-reldest");
    c.push("/mounts", json!({"destination": "rel-tmp", "type": "tmpfs", "source": "tmpfs"}));
    let out = c.run_sh("grep -c ' /rel-tmp ' /proc/self/mountinfo");
    assert_eq!(out.trim(), "1", "tmpfs must be mounted at /rel-tmp");
    c.delete_and_check(None);
}

// config.md "POSIX-platform Hooks": path MUST be absolute; timeout MUST be
// greater than zero. Refused before anything exists.
#[test]
fn hook_path_must_be_absolute_and_timeout_positive() {
    for (hook, what) in [(json!({"path": "sh"}), "relative path"), (json!({"path": "/bin/true", "timeout": 0}), "zero timeout")] {
        let mut c = TestContainer::new("lenient-hook");
        c.push("/hooks/createRuntime", hook);
        c.args(&["true"]);
        let o = c.create();
        if skip_for("runc version 1.1", "runc 1.1 runs a relative hook path through $PATH and treats timeout 0 as none") {
            c.delete_force();
            continue;
        }
        o.fails().reports_error();
        assert!(format!("{}{}", o.stderr, o.log).contains("hooks.createRuntime[0]"), "{what}: the error must name the hook: {o:?}");
        c.assert_no_leaks(None);
    }
}

// config.md "Configuration": a runtime MUST generate an error when it
// meets a value it does not support (Intel RDT here: no resctrl).
#[test]
fn unsupported_settings_are_errors_not_silence() {
    let mut c = TestContainer::new("lenient-rdt");
    c.set("/linux/intelRdt", json!({"closID": "berth-test", "l3CacheSchema": "L3:0=f"}));
    c.args(&["true"]);
    c.create().fails().reports_error();
    c.assert_no_leaks(None);
}

// config.md "Mounts": options SHOULD follow mount(8), which never passes
// its own options (nofail, x-*, comment=) to the kernel.
#[test]
fn mount8_only_options_are_not_passed_to_the_kernel() {
    if skip_for("runc version", "runc hands nofail and x-* to mount(2), which refuses them") {
        return;
    }
    let mut c = TestContainer::new("lenient-mount8");
    c.push("/mounts", json!({"destination": "/m8", "type": "tmpfs", "source": "tmpfs", "options": ["nofail", "x-systemd.automount", "comment=x", "size=1m"]}));
    let out = c.run_sh("grep ' /m8 ' /proc/self/mountinfo | grep -c size=1024k");
    assert_eq!(out.trim(), "1");
    c.delete_and_check(None);
}

// config.md "Annotations": org.opencontainers.image.stopSignal SHOULD be
// the signal that stops the container when none is named.
#[test]
fn kill_without_signal_sends_the_stop_signal() {
    if skip_for("runc version", "runc ignores org.opencontainers.image.stopSignal") {
        return;
    }
    let mut c = TestContainer::new("lenient-stopsig");
    c.set("/annotations", json!({"org.opencontainers.image.stopSignal": "SIGUSR1"}));
    c.sh("trap 'echo got-usr1; exit 0' USR1; trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done");
    c.create().ok();
    c.start().ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !fs::read_to_string(&c.out_file).unwrap_or_default().contains("ready") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    c.cmd(&["kill", &c.id]).ok();
    c.wait_status("stopped", std::time::Duration::from_secs(5)).unwrap();
    assert!(fs::read_to_string(&c.out_file).unwrap().contains("got-usr1"));
    c.delete_and_check(None);
}

// config.md "execCPUAffinity": `final` is the CPU list of the exec'd
// process once in the container's cgroup.
#[test]
fn exec_cpu_affinity_final_applies() {
    if skip_for("runc version 1.1", "runc 1.1 predates execCPUAffinity") {
        return;
    }
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("SKIP: one CPU only");
        return;
    }
    let (c, _) = running("lenient-affinity");
    let process = json!({"args": ["sh", "-c", "grep Cpus_allowed_list /proc/self/status"], "cwd": "/", "user": {"uid": 0, "gid": 0},
        "env": ["PATH=/bin"], "execCPUAffinity": {"initial": "0", "final": "1"}});
    let pf = c.base.join("affinity-process.json");
    fs::write(&pf, process.to_string()).unwrap();
    let o = c.cmd(&["exec", "--process", &pf.display().to_string(), &c.id]);
    assert_eq!(o.ok().stdout.split_whitespace().last(), Some("1"), "{o:?}");
    c.delete_force().ok();
    c.assert_no_leaks(None);
}

// config.md "Scheduler": flags in the spec's spelling load.
#[test]
fn scheduler_flags_in_the_specs_spelling() {
    if skip_for("runc version 1.1", "runc 1.1 predates process.scheduler") {
        return;
    }
    let mut c = TestContainer::new("lenient-sched");
    c.set("/process/scheduler", json!({"policy": "SCHED_BATCH", "flags": ["SCHED_FLAG_RESET_ON_FORK"]}));
    let out = c.run_sh("grep -c . /proc/self/sched >/dev/null && echo ran");
    assert_eq!(out.trim(), "ran");
    c.delete_and_check(None);
}

// runtime.md "Create": updates to config.json after create MUST NOT affect
// the container; `exec` takes its defaults from what create read.
#[test]
fn config_changes_after_create_do_not_reach_exec() {
    if skip_for("runc version", "runc's exec reads process defaults from the bundle's current config.json") {
        return;
    }
    let (mut c, _) = running("lenient-saved-config");
    c.push("/process/env", json!("CHANGED_AFTER_CREATE=yes"));
    c.write_config();
    let o = c.cmd(&["exec", &c.id, "sh", "-c", "echo x${CHANGED_AFTER_CREATE}x"]);
    assert_eq!(o.ok().stdout, "xx\n", "exec saw a config change made after create");
    c.delete_force().ok();
    c.assert_no_leaks(None);
}
