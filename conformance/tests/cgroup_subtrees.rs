//! Cgroups a container makes below its own (systemd in a container, a
//! nested runtime): every operation on "the container's processes" takes
//! the whole subtree, and a sub-cgroup the container froze neither hangs an
//! operation nor survives `delete` (issue #11, runc parity). Every cgroup
//! lives under `/berth-test/<id>` and is thawed and removed on failure too
//! ([`Nested`]).

use conformance::*;
use std::fs;
use std::time::{Duration, Instant};

// `ps` lists the processes of the container's sub-cgroups too, and
// `delete --force` kills them and removes every cgroup the container made,
// deepest first, with or without a pid namespace.
#[test]
fn delete_force_removes_sub_cgroups() {
    for own_pidns in [true, false] {
        let n = Nested::start("cgs-nested", own_pidns, false);
        let c = &n.c;
        let pids: Vec<i64> = c.cmd(&["ps", "--format", "json", &c.id]).ok().json().as_array().unwrap().iter().filter_map(|v| v.as_i64()).collect();
        assert_eq!(pids.len(), 2, "ps must list the process in the sub-cgroup too: {pids:?}");
        c.delete_force().ok();
        c.assert_no_leaks(Some(n.pid));
    }
}

// The same when the container froze its own sub-cgroup (a frozen task takes
// SIGKILL only once thawed).
#[test]
fn delete_force_thaws_frozen_sub_cgroups() {
    if skip_for("runc version 1.1", "runc 1.1.5 thaws only the container's own cgroup and cannot remove a frozen sub-cgroup") {
        return;
    }
    let n = Nested::start("cgs-nested-ice", true, true);
    let c = &n.c;
    let (f, frozen, _) = freezer_of(&format!("{}/sub/deeper", rel_cgroup(c)));
    assert_eq!(fs::read_to_string(&f).unwrap().trim(), frozen, "the container did not freeze {}", f.display());
    c.delete_force().ok();
    c.assert_no_leaks(Some(n.pid));
}

// `kill --all KILL` reaches the processes of every sub-cgroup, a frozen one
// included (without a pid namespace of its own nothing else would kill them).
#[test]
fn kill_all_reaches_frozen_sub_cgroups() {
    if skip_for("runc version 1.1", "runc 1.1.5 thaws only the container's own cgroup after kill --all: a task in a frozen sub-cgroup survives") {
        return;
    }
    let n = Nested::start("cgs-killall", false, true);
    let c = &n.c;
    c.cmd(&["kill", "--all", &c.id, "KILL"]).ok();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !c.marked_processes().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(c.marked_processes(), Vec::<i32>::new(), "processes survived kill --all KILL");
    c.wait_status("stopped", Duration::from_secs(5)).unwrap();
    c.delete().ok();
    c.assert_no_leaks(Some(n.pid));
}

// `exec --cgroup` into a sub-cgroup the container froze would freeze the
// new process before it reports back: refused at once, saying so.
#[test]
fn exec_into_frozen_sub_cgroup_is_refused() {
    if skip_for("runc version 1.1", "runc 1.1.5 hangs in exec --cgroup into a frozen sub-cgroup") {
        return;
    }
    let n = Nested::start("cgs-exec-ice", true, true);
    let c = &n.c;
    // Only the freezer's sub-cgroup: a v1 cpuset sub-cgroup has no cpus.
    let target = if hierarchies().iter().any(|(m, v2)| !v2 && m.ends_with("freezer")) { "freezer:/sub/deeper" } else { "/sub/deeper" };
    let o = c.cmd(&["exec", "--cgroup", target, &c.id, "true"]);
    o.fails();
    assert!(o.elapsed < Duration::from_secs(5), "refused only after {:?}", o.elapsed);
    assert!(said(&o).contains("cgroup is frozen"), "the error must say the cgroup is frozen: {}", said(&o));
    // A sub-cgroup that is not frozen still works.
    thaw_below(&rel_cgroup(c));
    c.cmd(&["exec", "--cgroup", target, &c.id, "true"]).ok();
    c.delete_force().ok();
    c.assert_no_leaks(Some(n.pid));
}
