//! `update` of a running container's device rules (issue #11, runc
//! parity): the new rules take effect, and at no instant does the container
//! lose access that both the old and the new rules grant (nor gain access
//! neither grants). runc 1.1 takes no device rules from `update`; its
//! re-application of the old ones has no window either, which is what the
//! window half of these tests checks against it.

use conformance::*;
use serde_json::json;
use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn update(c: &TestContainer, resources: &serde_json::Value) -> RtOutput {
    let f = c.base.join("resources.json");
    fs::write(&f, resources.to_string()).unwrap();
    c.cmd(&["update", "--resources", &f.display().to_string(), &c.id])
}

/// Whether the runtime under test applies device rules given to `update`.
fn updates_devices() -> bool {
    !runtime_version().starts_with("runc")
}

// A loop in the container keeps opening /dev/null, which every rule set
// here allows, while /dev/zero is taken away and given back many times. No
// open may fail; on v1, devices.list, read as fast as the test can, must
// never lose /dev/null's rule nor show more than both lists. In the end
// /dev/zero is refused, /dev/null still works.
#[test]
fn device_update_has_no_window() {
    let mut c = TestContainer::new("cgd-window");
    let deny_all = json!({"allow": false, "access": "rwm"});
    let no_zero = json!({"allow": false, "type": "c", "major": 1, "minor": 5, "access": "rwm"});
    c.set("/linux/resources/devices", json!([deny_all]));
    c.sh("n=0; while [ ! -e /stop ]; do true > /dev/null || echo \"open $n failed\" >> /failed; n=$((n+1)); done; echo $n > /opens; exec sleep 100");
    c.create().ok();
    c.start().ok();
    let pid = c.wait_status("running", Duration::from_secs(10)).unwrap()["pid"].as_i64().unwrap() as i32;
    let list = hierarchies().into_iter().find(|(m, v2)| !v2 && m.ends_with("devices")).map(|(m, _)| m.join(rel_cgroup(&c)).join("devices.list"));
    let stop = AtomicBool::new(false);
    let seen = std::thread::scope(|s| {
        // The v1 list as the kernel has it, between every write.
        let watcher = s.spawn(|| {
            let mut bad = Vec::new();
            let mut reads = 0;
            while let Some(l) = list.as_ref().filter(|_| !stop.load(Ordering::Relaxed)) {
                let Ok(text) = fs::read_to_string(l) else { break };
                reads += 1;
                let lines: Vec<&str> = text.lines().collect();
                if !lines.contains(&"c 1:3 rwm") || lines.contains(&"a *:* rwm") {
                    bad.push(text);
                }
            }
            (reads, bad)
        });
        for i in 0..40 {
            let devices = if i % 2 == 0 { json!([deny_all, no_zero]) } else { json!([deny_all]) };
            update(&c, &json!({"devices": devices})).ok();
        }
        update(&c, &json!({"devices": [deny_all, no_zero]})).ok();
        stop.store(true, Ordering::Relaxed);
        watcher.join().unwrap()
    });
    fs::write(c.bpath("rootfs/stop"), "").unwrap();
    let opens = c.bpath("rootfs/opens");
    for _ in 0..250 {
        if opens.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let failed = fs::read_to_string(c.bpath("rootfs/failed")).unwrap_or_default();
    let n = fs::read_to_string(&opens).unwrap_or_default();
    eprintln!("{} opens of /dev/null in the container, {} reads of devices.list", n.trim(), seen.0);
    assert_eq!(failed, "", "/dev/null, allowed before and after every update, was refused");
    assert!(seen.1.is_empty(), "devices.list left the bounds of the two lists: {:?}", seen.1.first());
    let zero = c.cmd(&["exec", &c.id, "sh", "-c", "head -c1 /dev/zero > /dev/null"]);
    if updates_devices() {
        assert!(!zero.success(), "/dev/zero must be refused after the update");
    }
    c.cmd(&["exec", &c.id, "sh", "-c", "true > /dev/null"]).ok();
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

// A device rule that is not valid (an access string with none of r, w, m)
// fails the whole update, naming the rule, and nothing of the update is
// applied (the pids limit stays).
#[test]
fn invalid_device_update_changes_nothing() {
    if skip_for("runc version 1.1", "runc 1.1 ignores device rules given to update") {
        return;
    }
    let mut c = TestContainer::new("cgd-invalid");
    c.set("/linux/resources/pids", json!({"limit": 100}));
    c.args(&["sleep", "100"]);
    c.create().ok();
    c.start().ok();
    let pid = c.wait_status("running", Duration::from_secs(10)).unwrap()["pid"].as_i64().unwrap() as i32;
    let o = update(&c, &json!({"pids": {"limit": 50}, "devices": [{"allow": false}, {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "xyz"}]}));
    o.fails();
    assert!(said(&o).contains("linux.resources.devices[1]"), "the error must name the rule: {}", said(&o));
    let pids_max = hierarchies().into_iter().find_map(|(m, _)| fs::read_to_string(m.join(rel_cgroup(&c)).join("pids.max")).ok()).unwrap();
    assert_eq!(pids_max.trim(), "100", "the pids limit of a failed update was applied");
    c.cmd(&["exec", &c.id, "sh", "-c", "head -c1 /dev/zero > /dev/null"]).ok();
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}
