//! Crash safety (issue #12): `berth create` killed (SIGKILL) at any of its
//! system calls leaves nothing `delete --force` cannot find: no process,
//! cgroup, mount or state survives the pair, and while something exists,
//! `state` and `list` show the container. The kill points come from
//! strace: every syscall the create process makes, each occurrence, killed
//! there with strace's `inject=SYSCALL:signal=SIGKILL:when=N`.
//!
//! Berth-specific: runc loses containers at some of these points.

use conformance::*;
use std::collections::BTreeMap;
use std::fs;
use std::process::{Command, Stdio};

/// The syscalls `berth ARGS` makes (its own process only, not the init
/// or anything it starts), in order, as (name, occurrence) pairs: every
/// kill point.
fn kill_points(c: &TestContainer, args: &[&str]) -> Vec<(String, usize)> {
    let log = c.base.join("strace.log");
    let st = under_strace(c, &["-o", &log.display().to_string()], args);
    assert!(st.success(), "{args:?} under strace failed: {}", fs::read_to_string(&c.err_file).unwrap_or_default());
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut points = Vec::new();
    for line in fs::read_to_string(&log).unwrap().lines() {
        let Some(name) = line.split('(').next().filter(|n| !n.is_empty() && n.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_')) else { continue };
        let n = seen.entry(name.to_string()).or_insert(0);
        *n += 1;
        points.push((name.to_string(), *n));
    }
    assert!(points.len() > 10, "too few syscalls seen for {args:?}: {points:?}");
    points
}

/// `strace <strace_args> berth --root R <args>`, its stdio going to the
/// container's files (for create, the container's own stdio).
fn under_strace(c: &TestContainer, strace_args: &[&str], args: &[&str]) -> std::process::ExitStatus {
    let mut cmd = Command::new("strace");
    cmd.arg("-qq").args(strace_args).arg(&c.rt.bin).arg("--root").arg(&c.rt.root).args(args);
    cmd.stdin(Stdio::null()).stdout(fs::File::create(&c.out_file).unwrap()).stderr(fs::File::create(&c.err_file).unwrap());
    cmd.status().expect("strace is installed by scripts/setup.sh --tests")
}

/// Kill `berth ARGS` at each of its syscalls, after `setup` made what it
/// needs; then what is left must be visible (`state`, `list`) and
/// `delete --force` must remove all of it.
fn kill_everywhere(c: &TestContainer, args: &[&str], setup: impl Fn(&TestContainer)) {
    setup(c);
    let points = kill_points(c, args);
    c.delete_force().ok();
    c.assert_no_leaks(None);
    let mut hidden = Vec::new();
    for (name, n) in &points {
        setup(c);
        let inject = format!("inject={name}:signal=SIGKILL:when={n}");
        under_strace(c, &["-o", "/dev/null", "-e", &format!("trace={name}"), "-e", &inject], args);
        if !c.cgroup_dirs().is_empty() || !c.marked_processes().is_empty() {
            // Whatever is left, the runtime must show it. (Whether the init
            // had exec'd is read before `state` is asked.)
            let pid: i32 = fs::read_to_string(&c.pid_file).ok().and_then(|p| p.trim().parse().ok()).unwrap_or(0);
            let exec_done = pid > 0 && fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|s| s.trim() == "sleep");
            let st = c.state();
            let listed = c.cmd(&["list", "-q"]).stdout.lines().any(|l| l == c.id);
            if !st.success() || !listed {
                hidden.push(format!("{args:?} {name}#{n}: state ok={} listed={listed}: {}", st.success(), st.stderr.trim()));
            } else {
                // An init that exec'd its process runs, whatever was killed.
                let v = st.json();
                if exec_done && v["pid"] == pid && v["status"] != "running" {
                    hidden.push(format!("{args:?} {name}#{n}: the process runs but the status is {}", v["status"]));
                }
            }
        }
        let d = c.delete_force();
        assert!(d.success(), "{args:?} {name}#{n}: delete --force failed: {} {}", d.stderr, d.log);
        assert!(wait_clean(c), "{args:?} {name}#{n}: left behind after delete --force:\n  {}", c.leaks(None).join("\n  "));
    }
    assert!(hidden.is_empty(), "containers hidden while their parts existed:\n  {}", hidden.join("\n  "));
}

fn skip_others() -> bool {
    skip_for("runc", "runc leaves orphans at some kill points") || skip_for("crun", "not a goal for other runtimes")
}

#[test]
fn create_killed_at_every_syscall_is_recoverable() {
    if skip_others() {
        return;
    }
    let mut c = TestContainer::new("crash-create");
    c.args(&["sleep", "100"]);
    c.write_config();
    let (bundle, id) = (c.bundle.display().to_string(), c.id.clone());
    kill_everywhere(&c, &["create", "--bundle", &bundle, &id], |_| {});
}

#[test]
fn start_killed_at_every_syscall_is_recoverable() {
    if skip_others() {
        return;
    }
    let mut c = TestContainer::new("crash-start");
    c.args(&["sleep", "100"]);
    c.write_config();
    let id = c.id.clone();
    kill_everywhere(&c, &["start", &id], |c| {
        c.create_with(&[]).ok();
    });
}

#[test]
fn delete_killed_at_every_syscall_is_recoverable() {
    if skip_others() {
        return;
    }
    let mut c = TestContainer::new("crash-delete");
    c.args(&["sleep", "100"]);
    c.write_config();
    let id = c.id.clone();
    kill_everywhere(&c, &["delete", "--force", &id], |c| {
        c.create_with(&[]).ok();
        c.start().ok();
    });
}

#[test]
fn exec_killed_at_every_syscall_is_recoverable() {
    if skip_others() {
        return;
    }
    let mut c = TestContainer::new("crash-exec");
    c.args(&["sleep", "100"]);
    c.write_config();
    let id = c.id.clone();
    kill_everywhere(&c, &["exec", "--detach", &id, "sleep", "50"], |c| {
        if !c.state().success() {
            c.create_with(&[]).ok();
            c.start().ok();
        }
    });
}
/// A killed process takes a moment to vanish: a short grace.
fn wait_clean(c: &TestContainer) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        if c.leaks(None).is_empty() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

/// What a test does to a state file (its path, its parsed content).
type Damage = fn(&std::path::Path, serde_json::Value);

/// A running container whose state file is then damaged by `damage`.
fn running_then_damaged(name: &str, damage: impl FnOnce(&std::path::Path, serde_json::Value)) -> TestContainer {
    let mut c = TestContainer::new(name);
    c.args(&["sleep", "100"]);
    c.write_config();
    c.create_with(&[]).ok();
    c.start().ok();
    let file = c.rt.root.join(&c.id).join("state.json");
    let v: serde_json::Value = serde_json::from_slice(&fs::read(&file).unwrap()).unwrap();
    damage(&file, v);
    c
}

// A damaged state (truncated, garbage, without a pid) hides nothing:
// `list` shows the container with an error, `state` says what is wrong,
// and `delete --force` removes process, cgroups and state from what
// remains (the saved config names the cgroups; their members are the
// processes).
#[test]
fn damaged_state_is_listed_and_recoverable() {
    if skip_others() {
        return;
    }
    let damages: [(&str, Damage); 3] = [
        ("crash-truncated", |f, _| {
            let b = fs::read(f).unwrap();
            fs::write(f, &b[..b.len() / 2]).unwrap();
        }),
        ("crash-garbage", |f, _| fs::write(f, b"\x00\x01not json at all").unwrap()),
        ("crash-nopid", |f, mut v| {
            v.as_object_mut().unwrap().remove("pid");
            fs::write(f, v.to_string()).unwrap();
        }),
    ];
    for (name, damage) in damages {
        let c = running_then_damaged(name, damage);
        assert!(!c.marked_processes().is_empty(), "{name}: the container should run");
        let list = c.cmd(&["list", "--format", "json"]);
        list.ok();
        let rows = list.json();
        let row = rows.as_array().and_then(|r| r.iter().find(|r| r["id"] == c.id.as_str())).unwrap_or_else(|| panic!("{name}: not listed: {rows}"));
        assert_eq!(row["status"], "running", "{name}: {row}");
        assert!(row["error"].as_str().is_some_and(|e| e.contains("delete --force")), "{name}: {row}");
        let st = c.state();
        st.fails();
        assert!(st.stderr.contains("state.json") || st.log.contains("state.json"), "{name}: {}", st.stderr);
        c.cmd(&["delete", &c.id]).fails();
        c.delete_force().ok();
        assert!(wait_clean(&c), "{name}: left behind:\n  {}", c.leaks(None).join("\n  "));
    }
}

// A state whose pid now names an unrelated process: `delete --force` kills
// the container (found by its cgroups), never that process.
#[test]
fn delete_never_kills_a_process_that_took_the_pid() {
    if skip_others() {
        return;
    }
    let mut bystander = Command::new("sleep").arg("100").spawn().unwrap();
    let pid = bystander.id() as i64;
    let c = running_then_damaged("crash-pidreuse", move |f, mut v| {
        v["pid"] = serde_json::json!(pid);
        fs::write(f, v.to_string()).unwrap();
    });
    c.delete_force().ok();
    let clean = wait_clean(&c);
    let bystander_alive = bystander.try_wait().unwrap().is_none();
    let _ = bystander.kill();
    let _ = bystander.wait();
    assert!(bystander_alive, "delete --force killed the process that took the recorded pid");
    assert!(clean, "left behind:\n  {}", c.leaks(None).join("\n  "));
}

// An init the OOM killer ends during setup (a memory limit far too small):
// the error says so and names the limit, not "killed by signal 9" or a
// broken pipe; nothing is left behind.
#[test]
fn init_killed_by_the_oom_killer_names_the_memory_limit() {
    if skip_others() {
        return;
    }
    let mut c = TestContainer::new("crash-oom");
    c.set("/linux/resources/memory", serde_json::json!({"limit": 4096}));
    let o = c.create();
    o.fails();
    let text = format!("{}{}", o.stderr, o.log);
    assert!(text.contains("OOM killer") && text.contains("linux.resources.memory.limit"), "{text}");
    c.assert_no_leaks(None);
}
