//! containerd → containerd-shim-berth-v2 → runtime, end to end, through
//! `ctr`: the shim's own life. The events it publishes (order, OOM), a shim
//! killed and containerd restarted, one shim for a group of containers, and
//! what a shim costs (the ignored `measure` benchmark).
//!
//! Each test starts its own containerd (see `integration::Containerd`), whose
//! Drop cleans up everything even when the test fails. The runtime the shim
//! drives is berth (target/<profile>/berth) unless BERTH_IT_RUNTIME names
//! another (e.g. `runc`).

use std::time::Duration;

use integration::ctr::{kill_and_remove, run, run_detached, run_detached_with, setup, topics_for, wait_status};
use integration::{show, unique_id, Containerd, IMAGE, SHIM};

#[test]
fn events_arrive_in_order() {
    let Some(c) = setup() else { return };
    let events = c.events();
    let id = unique_id("ev");
    let out = run(&c, &id, &["sh", "-c", "exit 4"]);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    events.wait_for(Duration::from_secs(10), |t| t.contains("/tasks/delete"));
    let all = events.stop();
    let got = topics_for(&all, &id);
    assert_eq!(got, ["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"], "{all}");
    let exit = all.lines().find(|l| l.contains("/tasks/exit")).unwrap();
    assert!(exit.contains("\"exit_status\":4"), "{exit}");
}

#[test]
fn shim_killed_then_containerd_cleans_up_with_recorded_status() {
    let Some(c) = setup() else { return };
    let id = unique_id("shimkill");
    // The task exits with 5 while nobody deletes it (-d); the shim records it.
    run_detached(&c, &id, &["sh", "-c", "exit 5"]);
    let mut stopped = false;
    for _ in 0..200 {
        let ls = String::from_utf8_lossy(&c.ctr(&["tasks", "ls"]).stdout).to_string();
        if ls.lines().any(|l| l.contains(&id) && l.contains("STOPPED")) {
            stopped = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(stopped, "task never stopped");
    let shims = c.shim_pids();
    assert_eq!(shims.len(), 1, "{shims:?}");
    let events = c.events();
    // SAFETY: kill(2) on the shim our containerd started for this test.
    unsafe { libc::kill(shims[0], libc::SIGKILL) };
    // containerd notices, runs `shim delete`, and reports the recorded status.
    let mut gone = false;
    for _ in 0..200 {
        let ls = String::from_utf8_lossy(&c.ctr(&["tasks", "ls", "-q"]).stdout).to_string();
        if !ls.contains(&id) {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    events.wait_for(Duration::from_secs(10), |t| t.lines().any(|l| l.contains("/tasks/exit") && l.contains(&id)));
    let all = events.stop();
    assert!(gone, "task still listed after its shim died\n{}", c.log());
    // `shim delete` forced the runtime's delete: no state is left for the id.
    let state = c.dir.join("runtime").join(integration::NAMESPACE).join(&id);
    assert!(!state.exists(), "runtime state {} left after shim delete", state.display());
    let exit = all.lines().find(|l| l.contains("/tasks/exit") && l.contains(&id));
    assert!(exit.is_some_and(|l| l.contains("\"exit_status\":5")), "events:\n{all}\nlog:\n{}", c.log());
}

#[test]
fn task_survives_containerd_restart() {
    let Some(mut c) = setup() else { return };
    let id = unique_id("restart");
    run_detached(&c, &id, &["sleep", "1000"]);
    c.crash_and_restart().expect("restart containerd");
    let ls = String::from_utf8_lossy(&c.ctr(&["tasks", "ls"]).stdout).to_string();
    assert!(ls.lines().any(|l| l.contains(&id) && l.contains("RUNNING")), "after restart: {ls}\n{}", c.log());
    let out = c.ctr(&["tasks", "kill", "-s", "SIGKILL", &id]);
    assert!(out.status.success(), "{}", show(&out));
    let mut stopped = false;
    for _ in 0..200 {
        let ls = String::from_utf8_lossy(&c.ctr(&["tasks", "ls"]).stdout).to_string();
        if ls.lines().any(|l| l.contains(&id) && l.contains("STOPPED")) {
            stopped = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(stopped, "task not stopped after kill\n{}", c.log());
    let out = c.ctr(&["tasks", "delete", &id]);
    assert!(out.status.success(), "{}", show(&out));
    let out = c.ctr(&["containers", "delete", &id]);
    assert!(out.status.success(), "{}", show(&out));
    std::thread::sleep(Duration::from_millis(300));
    assert!(c.shim_pids().is_empty(), "shim left: {:?}", c.shim_pids());
}

#[test]
fn oom_kill_publishes_task_oom_and_exits_137() {
    let Some(c) = setup() else { return };
    let events = c.events();
    let id = unique_id("oom");
    let mut args = c.run_args(&id);
    // 16 MiB limit; dd's 64 MiB buffer is touched as /dev/zero fills it.
    args.extend(["--rm".into(), "--memory-limit".into(), (16u64 << 20).to_string(), IMAGE.into(), id.clone()]);
    args.extend(["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = c.ctr(&args);
    assert_eq!(out.status.code(), Some(137), "{}", show(&out));
    events.wait_for(Duration::from_secs(10), |t| t.contains("/tasks/delete"));
    let all = events.stop();
    let got = topics_for(&all, &id);
    let pos = |t: &str| got.iter().position(|x| x == t);
    assert!(pos("/tasks/oom").is_some(), "no TaskOOM for {id}: {got:?}\n{all}");
    assert!(pos("/tasks/start") < pos("/tasks/oom"), "{got:?}");
    let exit = all.lines().find(|l| l.contains("/tasks/exit") && l.contains(&id)).unwrap();
    assert!(exit.contains("\"exit_status\":137"), "{exit}");
}

/// The pids of our shims serving this containerd right now.
fn live_shims(c: &Containerd) -> Vec<i32> {
    std::thread::sleep(Duration::from_millis(300));
    c.shim_pids()
}

#[test]
fn a_group_annotation_shares_one_shim_until_its_last_container() {
    let Some(c) = setup() else { return };
    let group = format!("io.containerd.berth.v2.group={}", unique_id("g"));
    let (a, b) = (unique_id("grpa"), unique_id("grpb"));
    for id in [&a, &b] {
        run_detached_with(&c, id, &["--annotation", &group], &["sleep", "1000"]);
    }
    assert!(wait_status(&c, &a, "RUNNING") && wait_status(&c, &b, "RUNNING"), "{}", c.log());
    let shims = live_shims(&c);
    assert_eq!(shims.len(), 1, "one shim for the group: {shims:?}");
    // Exec and kill still reach the right container through the shared shim.
    let out = c.ctr(&["tasks", "exec", "--exec-id", "e1", &b, "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    kill_and_remove(&c, &a);
    assert_eq!(live_shims(&c), shims, "the shim must stay while it holds {b}");
    assert!(wait_status(&c, &b, "RUNNING"), "{b} not running after {a} went");
    kill_and_remove(&c, &b);
    assert!(live_shims(&c).is_empty(), "shim left after the group's last container");

    // The shim sees only the bundle, but ctr 1.6 copies `--label`s into the
    // spec's annotations too, so the label groups as well.
    let label = format!("io.containerd.berth.v2.group={}", unique_id("g"));
    let (x, y) = (unique_id("lbl"), unique_id("lbl"));
    for id in [&x, &y] {
        run_detached_with(&c, id, &["--label", &label], &["sleep", "1000"]);
    }
    assert_eq!(live_shims(&c).len(), 1, "one shim for a --label group");
    kill_and_remove(&c, &x);
    kill_and_remove(&c, &y);
}

/// Resident and private memory (kB) and thread count of a process, from /proc.
fn rss_kb(pid: i32) -> (u64, u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |k: &str| s.lines().find(|l| l.starts_with(k)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0);
    (field("VmRSS:"), field("RssAnon:"), field("Threads:"))
}

/// Proportional set size (kB): shared pages divided among their users.
fn pss_kb(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    s.lines().find(|l| l.starts_with("Pss:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Resident kB per mapped file (anonymous memory as `[anon]`) of a process,
/// largest first, from /proc/PID/smaps.
fn rss_by_mapping(pid: i32) -> String {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut by: Vec<(String, u64)> = Vec::new();
    let mut name = String::new();
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let first = f.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            name = f.nth(4).unwrap_or("[anon]").rsplit('/').next().unwrap_or("").to_string();
        } else if first == "Rss:" {
            let kb: u64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            match by.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => *v += kb,
                None => by.push((name.clone(), kb)),
            }
        }
    }
    by.sort_by_key(|b| std::cmp::Reverse(b.1));
    by.iter().filter(|(_, kb)| *kb > 0).map(|(n, kb)| format!("{n} {kb}")).collect::<Vec<_>>().join(", ")
}

/// Benchmark, not a check: shim RSS and `ctr run --rm` latency, berth's shim
/// and berth against containerd-shim-runc-v2 and runc. Run with
/// `cargo test --release -p integration --test containerd_shim -- --ignored --nocapture measure`.
#[test]
#[ignore]
fn measure_shim_rss_and_run_latency() {
    let Some(c) = setup() else { return };
    for runtime in ["io.containerd.berth.v2", "io.containerd.runc.v2"] {
        let shim = if runtime.contains("berth") { SHIM } else { "containerd-shim-runc-v2" };
        let mut ids = Vec::new();
        let mut report = String::new();
        // Five alone, then five in one pod (both shims group by CRI's sandbox id).
        let sandbox = format!("io.kubernetes.cri.sandbox-id={}", unique_id("pod"));
        for n in 1..=10 {
            let id = unique_id("rss");
            let mut args = c.run_args_with(runtime, &id);
            args.push("-d".into());
            if n > 5 {
                args.extend(["--annotation".into(), sandbox.clone()]);
            }
            args.extend([IMAGE.into(), id.clone(), "sleep".into(), "1000".into()]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = c.ctr(&args);
            assert!(out.status.success(), "{}", show(&out));
            ids.push(id);
            if n != 1 && n != 5 && n != 10 {
                continue;
            }
            std::thread::sleep(Duration::from_millis(500));
            let pids = c.pids_of(shim);
            let (mut rss, mut anon, mut threads, mut pss) = (0, 0, 0, 0);
            for &p in &pids {
                let (r, a, t) = rss_kb(p);
                (rss, anon, threads) = (rss + r, anon + a, threads + t);
                pss += pss_kb(p);
            }
            let names: Vec<String> = pids
                .iter()
                .flat_map(|p| std::fs::read_dir(format!("/proc/{p}/task")).into_iter().flatten().flatten())
                .map(|t| std::fs::read_to_string(t.path().join("comm")).unwrap_or_default().trim().to_string())
                .collect();
            if n == 1 {
                report += &format!("\n  by mapping (kB): {}", rss_by_mapping(pids[0]));
            }
            let what = if n == 10 { "5 alone + 5 in one pod".to_string() } else { format!("{n} alone") };
            report += &format!("\n  {what}: {} shim(s), VmRSS {rss} kB, Pss {pss} kB, RssAnon {anon} kB, {threads} threads {names:?}", pids.len());
        }
        for id in &ids {
            let _ = c.ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
        }
        std::thread::sleep(Duration::from_millis(300));
        for id in &ids {
            let _ = c.ctr(&["tasks", "delete", id]);
            let _ = c.ctr(&["containers", "delete", id]);
        }

        eprintln!("MEASURE {runtime}: shim memory{report}");
    }

    // `ctr run --rm true`, the two runtimes taking turns (so a slow phase of
    // the machine hits both), 8 rounds of 5 runs each; medians and the ratio.
    let runtimes = ["io.containerd.berth.v2", "io.containerd.runc.v2"];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); runtimes.len()];
    for _round in 0..8 {
        for (k, runtime) in runtimes.iter().enumerate() {
            for _ in 0..5 {
                let id = unique_id("lat");
                let mut args = c.run_args_with(runtime, &id);
                args.extend(["--rm".into(), IMAGE.into(), id.clone(), "true".into()]);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let t0 = std::time::Instant::now();
                let out = c.ctr(&args);
                times[k].push(t0.elapsed().as_secs_f64() * 1000.0);
                assert!(out.status.success(), "{}", show(&out));
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let m: Vec<f64> = times.iter_mut().map(median).collect();
    eprintln!(
        "MEASURE ctr run --rm true (median of 40, interleaved): berth shim + berth {:.1} ms, runc-v2 shim + runc {:.1} ms, ratio {:.2}",
        m[0],
        m[1],
        m[0] / m[1]
    );
}
