//! `checkpoint` / `restore` through CRIU (runc's CLI). Where this machine's
//! CRIU can work (`criu check` passes), a counter loop is checkpointed,
//! restored under a new id, and must continue from where it was. Where CRIU
//! refuses the kernel, the runtime must say so with CRIU's own error lines
//! and leave the container exactly as it was.

use conformance::*;
use std::process::Command;
use std::time::Duration;

fn criu_works() -> bool {
    Command::new("criu").arg("check").output().is_ok_and(|o| o.status.success())
}

#[test]
fn checkpoint_restore_or_clear_refusal() {
    if Command::new("criu").arg("--version").output().is_err() {
        panic!("criu is not installed (scripts/setup.sh --tests installs it)");
    }
    let mut c = TestContainer::new("criu-counter");
    c.sh("i=0; while true; do i=$((i+1)); echo $i > /tmp/counter; sleep 0.05; done");
    c.create().ok();
    c.start().ok();
    c.wait_status("running", Duration::from_secs(10)).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let image = c.base.join("image");
    let image_s = image.display().to_string();
    let o = c.cmd(&["checkpoint", "--image-path", &image_s, &c.id]);
    if !criu_works() {
        o.fails();
        let text = format!("{}{}", o.stderr, o.log);
        assert!(text.to_lowercase().contains("criu"), "the error must name CRIU: {o:?}");
        // Berth quotes CRIU's error lines (runc only points at its log).
        if runtime_version().starts_with("berth") {
            assert!(text.contains("criu dump failed") && text.contains("Error ("), "CRIU's own error lines must be quoted: {o:?}");
        }
        assert_eq!(c.state_json()["status"], "running", "a failed checkpoint must leave the container running");
        c.delete_force().ok();
        c.assert_no_leaks(None);
        return;
    }
    o.ok();
    let counter = std::fs::read_to_string(c.bpath("rootfs/tmp/counter")).unwrap();
    let at_dump: u64 = counter.trim().parse().unwrap();
    // The checkpointed container is gone; restore it under its own id.
    let bundle = c.bundle.display().to_string();
    c.cmd(&["restore", "--image-path", &image_s, "--bundle", &bundle, "--detach", &c.id]).ok();
    assert_eq!(c.state_json()["status"], "running");
    std::thread::sleep(Duration::from_millis(500));
    let now: u64 = std::fs::read_to_string(c.bpath("rootfs/tmp/counter")).unwrap().trim().parse().unwrap();
    assert!(now > at_dump, "the restored loop continues from its memory: {at_dump} then {now}");
    c.delete_force().ok();
    c.assert_no_leaks(None);
}
