//! Replays the configs and process files real engines sent (captured on this
//! host: `fixtures/engines/`, see its README) through the runtime under test.
//!
//! Each test loads one fixture, fills its placeholders (`@CGROUP@`,
//! `@BUNDLE@/files|dirs/...`, `@NETNS@`, `/proc/@HOLDER_PID@/ns/*`), keeps
//! everything else exactly as the engine sent it, and replaces only
//! `process.args` with a probe script (plus the harness's marker variable in
//! `process.env`, and `terminal: false` unless the test drives a pty). It runs
//! the container the way the engine did (`create` + `start`; `exec --process
//! --detach --pid-file` for exec fixtures) and checks what the config
//! promises, the way runc honours it: user, groups, HOME, cwd, capabilities
//! (ambient ones only where the kernel allows them), rlimits, umask,
//! no_new_privs, seccomp, namespaces (new, joined by path, or shared with the
//! runtime), lo up in a new network namespace, hostname, sysctls, every
//! mount (present, type, ro, propagation, tmpfs mode, tmpcopyup), masked and
//! read-only paths, devices (node and device-cgroup access), cgroup limits,
//! and that a process of any uid can open /dev/stdout. Afterwards `delete`
//! must leave nothing (state, cgroups, processes, mounts), as in errors.rs.
//!
//! Run against runc: `OCI_RUNTIME=runc cargo test --release -p conformance
//! --test engine_configs`. Where runc 1.1 itself does not do what the config
//! says, the check is skipped for it with a printed reason (`skip_for`).

#[path = "engine_configs/bundle.rs"]
mod bundle;
#[path = "engine_configs/checks.rs"]
mod checks;
#[path = "engine_configs/probe.rs"]
mod probe;
#[path = "engine_configs/replay.rs"]
mod replay;

use bundle::FIXTURES;
use checks::check_config;
use conformance::*;
use probe::Probe;
use replay::{no_extra, replay, replay_exec, Replay};
use serde_json::json;
use std::fs;
use std::time::Duration;

// ---------------------------------------------------------------------------
// Docker 20.10 (dockerd → containerd → containerd-shim-runc-v2 → runtime)
// ---------------------------------------------------------------------------

#[test]
fn docker_run() {
    replay("docker-run", "", no_extra);
}

#[test]
fn docker_run_net_host() {
    // Docker pins the "host" network namespace on a file (exec-root/netns/default).
    replay("docker-run-net-host", "", |p, r, errs| {
        let want = r.netns.as_ref().unwrap().ns();
        if p.get("ns:net") != Some(want.as_str()) {
            errs.push(format!("--network host: want the netns file's namespace {want}, got {:?}", p.get("ns:net")));
        }
    });
}

#[test]
fn docker_run_net_none() {
    replay("docker-run-net-none", "", no_extra);
}

#[test]
fn docker_run_user() {
    replay("docker-run-user", "", no_extra);
}

#[test]
fn docker_run_read_only() {
    replay("docker-run-read-only", "p runwrite \"$( (touch /run/probe && echo ok) 2>&1)\"", |p, _, errs| {
        if p.get("runwrite") != Some("ok") {
            errs.push(format!("--tmpfs /run should be writable under a read-only root: {:?}", p.get("runwrite")));
        }
    });
}

#[test]
fn docker_run_device_read_only() {
    replay("docker-run-device", "", |p, _, errs| {
        if !p.get("devw:/dev/xloop").unwrap_or("").contains("Operation not permitted") {
            errs.push(format!("--device ...:r: a write open must fail with EPERM, got {:?}", p.get("devw:/dev/xloop")));
        }
    });
}

#[test]
fn docker_run_volume_rshared() {
    replay("docker-run-volume-rshared", "p volwrite \"$( (echo v > /dst/probe && echo ok) 2>&1)\"", |p, r, errs| {
        // (/dst being rshared and / shared are checked from the config.)
        if !r.pins.bundle.join("dirs/vol/probe").is_file() {
            errs.push(format!("the volume write did not reach the source: {:?}", p.get("volwrite")));
        }
    });
}

#[test]
fn docker_run_limits() {
    replay(
        "docker-run-limits",
        "p memlimit \"$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)\"; p pidsmax \"$(cat /sys/fs/cgroup/pids/pids.max)\"",
        |p, _, errs| {
            if p.get("memlimit") != Some("67108864") || p.get("pidsmax") != Some("50") {
                errs.push(format!("inside: memory limit {:?} (want 67108864), pids.max {:?} (want 50)", p.get("memlimit"), p.get("pidsmax")));
            }
        },
    );
}

/// `docker run -it`: terminal true, the pty comes back over --console-socket.
#[test]
fn docker_run_tty() {
    let mut r = Replay::new("docker-run-tty");
    r.probe("p tty \"$(tty)\"", false);
    r.c.set("/process/terminal", json!(true));
    let sock = ConsoleSocket::listen(&r.c.base.join("console.sock"));
    let path = sock.path.display().to_string();
    r.c.write_config();
    let o = r.c.create_with(&["--console-socket", &path]);
    assert!(o.success(), "[docker-run-tty] create failed: {}\n{}", o.stderr.trim(), o.log.trim());
    let pid = r.c.pid_from_file().expect("pid file");
    let master = sock.master(Duration::from_secs(5)).expect("pty master via --console-socket");
    let o = r.c.start();
    assert!(o.success(), "[docker-run-tty] start failed: {}\n{}", o.stderr.trim(), o.log.trim());
    let out = read_pty(master, Duration::from_secs(10)).replace("\r\n", "\n");
    let p = Probe { out, err: String::new() };
    assert!(p.done(), "[docker-run-tty] probe did not finish: {:?}", p.out);
    let mut errs = Vec::new();
    check_config(&p, &r.c.config, &r.pins, &mut errs);
    if !p.get("tty").unwrap_or("").starts_with("/dev/pts/") {
        errs.push(format!("tty: want /dev/pts/N, got {:?}", p.get("tty")));
    }
    r.check(&p, errs);
    r.finish(pid);
}

#[test]
fn docker_exec() {
    replay_exec("docker-exec-target", "docker-exec");
}

#[test]
fn docker_exec_user() {
    replay_exec("docker-exec-target", "docker-exec-user");
}

#[test]
fn docker_build_run_step() {
    replay("docker-build-run", "echo built > /built", |_, r, errs| {
        if fs::read_to_string(r.pins.bundle.join("rootfs/built")).ok().as_deref() != Some("built\n") {
            errs.push("the RUN step's write to /built did not land in the rootfs".into());
        }
    });
}

// ---------------------------------------------------------------------------
// Podman 4.3 (conmon → runtime) and buildah (podman build)
// ---------------------------------------------------------------------------

/// Default network (netavark bridge): the netns is a file under /run/netns.
#[test]
fn podman_run() {
    replay("podman-run", "", |p, r, errs| {
        let want = r.netns.as_ref().unwrap().ns();
        if p.get("ns:net") != Some(want.as_str()) {
            errs.push(format!("netns path: want the file's namespace {want}, got {:?}", p.get("ns:net")));
        }
    });
}

#[test]
fn podman_run_net_none() {
    replay("podman-run-net-none", "", no_extra);
}

#[test]
fn podman_run_net_host() {
    replay("podman-run-net-host", "", |p, _, errs| {
        if p.get("ns:net") != Some(host_ns("net").as_str()) {
            errs.push(format!("--network host: want the runtime's netns, got {:?}", p.get("ns:net")));
        }
    });
}

#[test]
fn podman_run_tmpfs_copyup() {
    replay("podman-run-tmpfs", "p marker \"$(cat /run/image-marker 2>&1)\"", |p, _, errs| {
        if p.get("marker") != Some("from-image") {
            errs.push(format!("--tmpfs /run (tmpcopyup): the image's /run/image-marker should be there, got {:?}", p.get("marker")));
        }
        if p.get("mode:/run") != Some("755") {
            errs.push(format!("--tmpfs /run: the tmpfs should keep /run's mode 755, got {:?}", p.get("mode:/run")));
        }
    });
}

#[test]
fn podman_run_user() {
    replay("podman-run-user", "", no_extra);
}

#[test]
fn podman_pod_infra() {
    replay("podman-pod-infra", "", no_extra);
}

/// A pod member joins the infra container's net, ipc and uts namespaces by
/// /proc/<pid>/ns paths.
#[test]
fn podman_pod_container() {
    replay("podman-pod-container", "", |p, r, errs| {
        let h = r.holder.as_ref().unwrap();
        for k in ["net", "ipc", "uts"] {
            if p.get(&format!("ns:{k}")) != Some(h.ns(k).as_str()) {
                errs.push(format!("pod member {k}: want the infra's {}, got {:?}", h.ns(k), p.get(&format!("ns:{k}"))));
            }
        }
    });
}

#[test]
fn podman_exec() {
    replay_exec("podman-exec-target", "podman-exec");
}

/// buildah's RUN as root: ambient capabilities without inheritable ones.
#[test]
fn podman_build_run_step() {
    replay("podman-build-run", "echo built > /built", |_, r, errs| {
        if fs::read_to_string(r.pins.bundle.join("rootfs/built")).ok().as_deref() != Some("built\n") {
            errs.push("the RUN step's write to /built did not land in the rootfs".into());
        }
    });
}

/// buildah's RUN after `USER 1000`.
#[test]
fn podman_build_run_step_user() {
    replay("podman-build-run-user", "", no_extra);
}

// ---------------------------------------------------------------------------
// containerd 1.6 `ctr run` (containerd-shim-runc-v2 → runtime)
// ---------------------------------------------------------------------------

#[test]
fn containerd_run() {
    replay("containerd-run", "", no_extra);
}

#[test]
fn containerd_run_net_host() {
    replay("containerd-run-net-host", "p hosts \"$(cat /etc/hosts | head -1)\"", |p, _, errs| {
        if p.get("hosts") != Some("127.0.0.1\tlocalhost") {
            errs.push(format!("/etc/hosts should be the bind-mounted file, got {:?}", p.get("hosts")));
        }
    });
}

// ---------------------------------------------------------------------------
// `spec` outputs (terminal turned off; cgroupsPath added by the harness)
// ---------------------------------------------------------------------------

#[test]
fn spec_runc() {
    replay("spec-runc", "", no_extra);
}

#[test]
fn spec_runc_rootless() {
    replay("spec-runc-rootless", "p uidmap \"$(echo $(cat /proc/self/uid_map))\"", |p, _, errs| {
        if p.get("uidmap") != Some("0 0 1") {
            errs.push(format!("uid_map: want \"0 0 1\", got {:?}", p.get("uidmap")));
        }
    });
}

#[test]
fn spec_berth() {
    replay("spec-berth", "", no_extra);
}

/// Every fixture in the directory has a test above.
#[test]
fn every_fixture_is_replayed() {
    let me = include_str!("engine_configs.rs");
    let mut missing = Vec::new();
    for e in fs::read_dir(FIXTURES).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if let Some(stem) = n.strip_suffix(".json") {
            if !me.contains(&format!("\"{stem}\"")) {
                missing.push(stem.to_string());
            }
        }
    }
    assert!(missing.is_empty(), "fixtures without a replay test: {missing:?}");
}
