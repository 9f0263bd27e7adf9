//! containerd → containerd-shim-berth-v2 → runtime, end to end, through
//! `ctr`: task operations that reach the runtime's other commands. Pause,
//! resume and update (the shim's ttrpc Update, which ctr 1.6 lacks), stats
//! (`ctr tasks metrics`) and checkpoint.
//!
//! Each test starts its own containerd (see `integration::Containerd`), whose
//! Drop cleans up everything even when the test fails. The runtime the shim
//! drives is berth (target/<profile>/berth) unless BERTH_IT_RUNTIME names
//! another (e.g. `runc`).

use std::time::Duration;

use integration::ctr::{kill_and_remove, run_detached, runtime_has, setup, topics_for, wait_status};
use integration::{runtime_under_test, show, unique_id, Containerd};

#[test]
fn pause_resume_and_update() {
    let Some(c) = setup() else { return };
    for cmd in ["pause", "resume", "update"] {
        if !runtime_has(cmd) {
            eprintln!(
                "\n!!! SKIPPING pause/resume/update: runtime {} has no `{cmd}` command (run with BERTH_IT_RUNTIME=runc) !!!\n",
                runtime_under_test().display()
            );
            return;
        }
    }
    let events = c.events();
    let id = unique_id("pause");
    run_detached(&c, &id, &["sleep", "1000"]);
    assert!(wait_status(&c, &id, "RUNNING"), "{}", c.log());
    let out = c.ctr(&["tasks", "pause", &id]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(wait_status(&c, &id, "PAUSED"), "not paused");
    let out = c.ctr(&["tasks", "resume", &id]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(wait_status(&c, &id, "RUNNING"), "not resumed");
    // ctr 1.6 has no `tasks update`: ask the shim directly, as containerd
    // would (LinuxResources as JSON in the Any).
    shim_update(&c, &id, r#"{"memory":{"limit":67108864}}"#).expect("update");
    // cgroup v2 (memory.max) or v1 (memory controller's limit_in_bytes).
    let v2 = format!("/sys/fs/cgroup/berth-test/{id}/memory.max");
    let v1 = format!("/sys/fs/cgroup/memory/berth-test/{id}/memory.limit_in_bytes");
    let max = std::fs::read_to_string(&v2).or_else(|_| std::fs::read_to_string(&v1)).unwrap_or_default();
    assert_eq!(max.trim(), "67108864", "memory limit after update ({v2} or {v1})");
    events.wait_for(Duration::from_secs(10), |t| t.contains("/tasks/resumed"));
    kill_and_remove(&c, &id);
    let all = events.stop();
    let got = topics_for(&all, &id);
    let pos = |t: &str| got.iter().position(|x| x == t);
    assert!(pos("/tasks/paused").is_some() && pos("/tasks/paused") < pos("/tasks/resumed"), "{all}");
}

/// Sends an Update with `resources_json` to the shim serving `id`, over its
/// ttrpc socket (from the bundle's `address` file).
fn shim_update(c: &Containerd, id: &str, resources_json: &str) -> Result<(), String> {
    use containerd_shim_protos::{api, protobuf::well_known_types::any::Any, protobuf::MessageField, ttrpc};
    let bundle = c.dir.join("state/io.containerd.runtime.v2.task").join(integration::NAMESPACE).join(id);
    let addr = std::fs::read_to_string(bundle.join("address")).map_err(|e| format!("address: {e}"))?;
    let client = containerd_shim_protos::TaskClient::new(ttrpc::Client::connect(addr.trim()).map_err(|e| e.to_string())?);
    let mut any = Any::new();
    any.type_url = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources".into();
    any.value = resources_json.as_bytes().to_vec();
    let mut req = api::UpdateTaskRequest::new();
    req.id = id.to_string();
    req.resources = MessageField::some(any);
    let ctx = ttrpc::context::with_timeout(Duration::from_secs(30).as_nanos() as i64);
    client.update(ctx, &req).map(drop).map_err(|e| format!("{e:?}"))
}

#[test]
fn stats_through_the_runtime() {
    let Some(c) = setup() else { return };
    if !runtime_has("events") {
        eprintln!("\n!!! SKIPPING stats: runtime {} has no `events` command (run with BERTH_IT_RUNTIME=runc) !!!\n", runtime_under_test().display());
        return;
    }
    let id = unique_id("stats");
    run_detached(&c, &id, &["sleep", "1000"]);
    assert!(wait_status(&c, &id, "RUNNING"), "{}", c.log());
    let out = c.ctr(&["tasks", "metrics", &id]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", show(&out));
    // The table names the task and carries a nonzero memory usage and 1 pid.
    assert!(text.contains(&id), "{text}");
    let usage = text
        .lines()
        .find(|l| l.contains("memory.usage_in_bytes") || l.trim_start().starts_with("memory.usage"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(usage.is_some_and(|u| u > 0), "memory usage missing: {text}");
    kill_and_remove(&c, &id);
}

#[test]
fn checkpoint_reaches_the_runtime_and_its_error_reaches_ctr() {
    let Some(c) = setup() else { return };
    if !runtime_has("checkpoint") {
        eprintln!("\n!!! SKIPPING checkpoint: runtime {} has no `checkpoint` command !!!\n", runtime_under_test().display());
        return;
    }
    let id = unique_id("ckpt");
    run_detached(&c, &id, &["sleep", "1000"]);
    assert!(wait_status(&c, &id, "RUNNING"), "{}", c.log());
    let img = c.dir.join("ckpt-image");
    let out = c.ctr(&["tasks", "checkpoint", "--image-path", &img.display().to_string(), &id]);
    let text = show(&out);
    eprintln!("checkpoint: {text}");
    if !out.status.success() {
        // CRIU cannot dump here (e.g. it fails at vDSO detection on this
        // kernel): the runtime's call and its reason must reach the client.
        assert!(text.contains("checkpoint"), "{text}");
        assert!(!text.contains("not implemented"), "{text}");
        assert!(text.to_lowercase().contains("criu"), "no CRIU reason in: {text}");
    }
    // --leave-running (no --exit): the task still runs either way.
    assert!(wait_status(&c, &id, "RUNNING"), "task not running after checkpoint");
    kill_and_remove(&c, &id);
}
