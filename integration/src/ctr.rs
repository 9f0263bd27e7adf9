//! What the containerd tests (`tests/containerd*.rs`) share: containerd
//! with our shim and the runtime under test ([`setup`]), `ctr run` in the
//! foreground or detached, waiting for a task's status, killing and
//! removing a task, the event topics of one task, and whether the runtime
//! under test has a command.

use std::path::PathBuf;
use std::time::Duration;

use crate::binaries::{shim_binary, which};
use crate::containerd::{Containerd, IMAGE};
use crate::process::show;
use crate::runtime::runtime_under_test;

/// Starts containerd with our shim and the runtime under test, and imports
/// the image; `None` (after a loud message) when containerd is not installed.
pub fn setup() -> Option<Containerd> {
    if which("containerd").is_none() || which("ctr").is_none() {
        eprintln!("\n!!! SKIPPING containerd tests: containerd/ctr not installed (scripts/setup.sh --tests installs them) !!!\n");
        return None;
    }
    // BERTH_IT_SHIM: another build of the shim (e.g. an older one, to compare).
    let shim = match std::env::var("BERTH_IT_SHIM") {
        Ok(s) if !s.is_empty() => PathBuf::from(s),
        _ => shim_binary().expect("build shim"),
    };
    let runtime = runtime_under_test();
    let shim_dir = shim.parent().unwrap().to_path_buf();
    let log = std::env::temp_dir().join("berth-shim-it.log");
    let c = Containerd::start(&shim_dir, &[("BERTH_SHIM_RUNTIME", runtime.to_str().unwrap()), ("BERTH_SHIM_LOG", log.to_str().unwrap())])
        .expect("start containerd");
    c.import_image().expect("import image");
    Some(c)
}

/// `ctr run --rm IMAGE id CMD...` in the foreground; its output.
pub fn run(c: &Containerd, id: &str, cmd: &[&str]) -> std::process::Output {
    let mut args = c.run_args(id);
    args.push("--rm".into());
    args.push(IMAGE.into());
    args.push(id.into());
    args.extend(cmd.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    c.ctr(&args)
}

/// The `/tasks/...` topics in `ctr events` output that concern `id`, in order.
pub fn topics_for(events: &str, id: &str) -> Vec<String> {
    events.lines().filter(|l| l.contains(id)).filter_map(|l| l.split_whitespace().find(|w| w.starts_with("/tasks/")).map(String::from)).collect()
}

/// Whether the runtime under test has subcommand `cmd`.
pub fn runtime_has(cmd: &str) -> bool {
    let out = std::process::Command::new(runtime_under_test()).args([cmd, "--help"]).output();
    out.is_ok_and(|o| o.status.success())
}

/// `ctr run -d IMAGE id CMD...`.
pub fn run_detached(c: &Containerd, id: &str, cmd: &[&str]) {
    run_detached_with(c, id, &[], cmd);
}

/// `ctr run -d FLAGS... IMAGE id CMD...`.
pub fn run_detached_with(c: &Containerd, id: &str, flags: &[&str], cmd: &[&str]) {
    let mut args = c.run_args(id);
    args.push("-d".into());
    args.extend(flags.iter().map(|s| s.to_string()));
    args.extend([IMAGE.into(), id.into()]);
    args.extend(cmd.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = c.ctr(&args);
    assert!(out.status.success(), "{}", show(&out));
}

/// Waits until `ctr tasks ls` lists `id` with `status`.
pub fn wait_status(c: &Containerd, id: &str, status: &str) -> bool {
    for _ in 0..200 {
        let ls = String::from_utf8_lossy(&c.ctr(&["tasks", "ls"]).stdout).to_string();
        if ls.lines().any(|l| l.contains(id) && l.contains(status)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Kills (SIGKILL) and deletes a detached task and its container.
pub fn kill_and_remove(c: &Containerd, id: &str) {
    let _ = c.ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
    assert!(wait_status(c, id, "STOPPED"), "task {id} not stopped\n{}", c.log());
    let out = c.ctr(&["tasks", "delete", id]);
    assert!(out.status.success(), "{}", show(&out));
    let out = c.ctr(&["containers", "delete", id]);
    assert!(out.status.success(), "{}", show(&out));
}
