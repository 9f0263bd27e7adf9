//! containerd → containerd-shim-berth-v2 → runtime, end to end, through `ctr`.
//!
//! Each test starts its own containerd (see `integration::Containerd`), whose
//! Drop cleans up everything even when the test fails. The runtime the shim
//! drives is berth (target/<profile>/berth) unless BERTH_IT_RUNTIME names
//! another (e.g. `runc`).

use std::path::PathBuf;
use std::time::Duration;

use integration::{run_timeout, unique_id, workspace_binary, which, Containerd, IMAGE, SHIM};

/// Starts containerd with our shim and the runtime under test, and imports
/// the image; `None` (after a loud message) when containerd is not installed.
fn setup() -> Option<Containerd> {
    if which("containerd").is_none() || which("ctr").is_none() {
        eprintln!("\n!!! SKIPPING containerd tests: containerd/ctr not installed (scripts/setup.sh --tests installs them) !!!\n");
        return None;
    }
    // BERTH_IT_SHIM: another build of the shim (e.g. an older one, to compare).
    let shim = match std::env::var("BERTH_IT_SHIM") {
        Ok(s) if !s.is_empty() => PathBuf::from(s),
        _ => integration::shim_binary().expect("build shim"),
    };
    let runtime: PathBuf = match std::env::var("BERTH_IT_RUNTIME") {
        Ok(r) if !r.is_empty() => which(&r).unwrap_or_else(|| PathBuf::from(r)),
        _ => workspace_binary("berth", "berth").expect("build berth"),
    };
    let shim_dir = shim.parent().unwrap().to_path_buf();
    let log = std::env::temp_dir().join("berth-shim-it.log");
    let c = Containerd::start(
        &shim_dir,
        &[
            ("BERTH_SHIM_RUNTIME", runtime.to_str().unwrap()),
            ("BERTH_SHIM_LOG", log.to_str().unwrap()),
        ],
    )
    .expect("start containerd");
    c.import_image().expect("import image");
    Some(c)
}

fn run(c: &Containerd, id: &str, cmd: &[&str]) -> std::process::Output {
    let mut args = c.run_args(id);
    args.push("--rm".into());
    args.push(IMAGE.into());
    args.push(id.into());
    args.extend(cmd.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    c.ctr(&args)
}

fn show(out: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn run_reports_exit_code_and_output() {
    let Some(c) = setup() else { return };
    let id = unique_id("exit");
    let out = run(&c, &id, &["sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}\ncontainerd log:\n{}", show(&out), c.log());

    let id = unique_id("echo");
    let out = run(&c, &id, &["echo", "hello"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello", "{}", show(&out));

    let id = unique_id("stderr");
    let out = run(&c, &id, &["sh", "-c", "echo oops >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("oops"), "{}", show(&out));

    // Nothing of ours is left in containerd once --rm is done.
    let ls = c.ctr(&["tasks", "ls", "-q"]);
    assert_eq!(String::from_utf8_lossy(&ls.stdout).trim(), "", "tasks left: {}", show(&ls));
    assert!(c.shim_pids().is_empty(), "shims still running: {:?}", c.shim_pids());
}

#[test]
fn kill_stops_a_long_running_task() {
    let Some(c) = setup() else { return };
    let id = unique_id("kill");
    // Foreground `ctr run` in a thread: it returns with the task's exit code.
    let runner = {
        let mut args = c.run_args(&id);
        args.extend(["--rm".into(), IMAGE.into(), id.clone(), "sleep".into(), "1000".into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let cmd = c.ctr_cmd(&args);
        std::thread::spawn(move || run_timeout(cmd, Duration::from_secs(90)))
    };
    let mut running = false;
    for _ in 0..200 {
        let ls = c.ctr(&["tasks", "ls"]);
        let listing = String::from_utf8_lossy(&ls.stdout).to_string();
        if listing.lines().any(|l| l.contains(&id) && l.contains("RUNNING")) {
            running = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(running, "task never ran\n{}", c.log());
    let out = c.ctr(&["tasks", "kill", "-s", "SIGKILL", &id]);
    assert!(out.status.success(), "{}", show(&out));
    let out = runner.join().unwrap();
    assert_eq!(out.status.code(), Some(137), "{}", show(&out));
    // Killing a finished task is an error, never a hang.
    let ls = c.ctr(&["tasks", "ls", "-q"]);
    assert_eq!(String::from_utf8_lossy(&ls.stdout).trim(), "", "{}", show(&ls));
}

/// The `/tasks/...` topics in `ctr events` output that concern `id`, in order.
fn topics_for(events: &str, id: &str) -> Vec<String> {
    events
        .lines()
        .filter(|l| l.contains(id))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("/tasks/")).map(String::from))
        .collect()
}

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

/// Resident and private memory (kB) and thread count of a process, from /proc.
fn rss_kb(pid: i32) -> (u64, u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
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
    by.sort_by(|a, b| b.1.cmp(&a.1));
    by.iter().filter(|(_, kb)| *kb > 0).map(|(n, kb)| format!("{n} {kb}")).collect::<Vec<_>>().join(", ")
}

/// Benchmark, not a check: shim RSS and `ctr run --rm` latency, berth's shim
/// and berth against containerd-shim-runc-v2 and runc. Run with
/// `cargo test --release -p integration --test containerd -- --ignored --nocapture measure`.
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
            report += &format!(
                "\n  {what}: {} shim(s), VmRSS {rss} kB, Pss {pss} kB, RssAnon {anon} kB, {threads} threads {names:?}",
                pids.len()
            );
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

#[test]
fn twenty_containers_in_parallel() {
    let Some(c) = setup() else { return };
    let c = std::sync::Arc::new(c);
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let c = c.clone();
            std::thread::spawn(move || {
                let id = unique_id("par");
                let code = i % 7;
                let out = run(&c, &id, &["sh", "-c", &format!("echo n{i}; exit {code}")]);
                (i, code, out)
            })
        })
        .collect();
    for h in handles {
        let (i, code, out) = h.join().unwrap();
        assert_eq!(out.status.code(), Some(code), "container {i}: {}", show(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("n{i}"), "{}", show(&out));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(c.shim_pids().is_empty(), "shims left: {:?}", c.shim_pids());
}

/// The runtime binary the shim drives in these tests.
fn runtime_path() -> PathBuf {
    match std::env::var("BERTH_IT_RUNTIME") {
        Ok(r) if !r.is_empty() => which(&r).unwrap_or_else(|| PathBuf::from(r)),
        _ => workspace_binary("berth", "berth").expect("build berth"),
    }
}

/// Whether the runtime under test has subcommand `cmd`.
fn runtime_has(cmd: &str) -> bool {
    let out = std::process::Command::new(runtime_path()).args([cmd, "--help"]).output();
    out.is_ok_and(|o| o.status.success())
}

/// `ctr run -d IMAGE id CMD...`.
fn run_detached(c: &Containerd, id: &str, cmd: &[&str]) {
    run_detached_with(c, id, &[], cmd);
}

/// `ctr run -d FLAGS... IMAGE id CMD...`.
fn run_detached_with(c: &Containerd, id: &str, flags: &[&str], cmd: &[&str]) {
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
fn wait_status(c: &Containerd, id: &str, status: &str) -> bool {
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
fn kill_and_remove(c: &Containerd, id: &str) {
    let _ = c.ctr(&["tasks", "kill", "-s", "SIGKILL", id]);
    assert!(wait_status(c, id, "STOPPED"), "task {id} not stopped\n{}", c.log());
    let out = c.ctr(&["tasks", "delete", id]);
    assert!(out.status.success(), "{}", show(&out));
    let out = c.ctr(&["containers", "delete", id]);
    assert!(out.status.success(), "{}", show(&out));
}

#[test]
fn exec_reports_exit_code_kill_pids_and_events() {
    let Some(c) = setup() else { return };
    let events = c.events();
    let id = unique_id("exec");
    run_detached(&c, &id, &["sleep", "1000"]);
    assert!(wait_status(&c, &id, "RUNNING"), "{}", c.log());

    let out = c.ctr(&["tasks", "exec", "--exec-id", "xq1", &id, "sh", "-c", "echo in-exec; echo e-err >&2; exit 6"]);
    assert_eq!(out.status.code(), Some(6), "{}\n{}", show(&out), c.log());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "in-exec", "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("e-err"), "{}", show(&out));

    // A detached exec shows up in `tasks ps` and can be killed by exec id.
    let out = c.ctr(&["tasks", "exec", "-d", "--exec-id", "xq2", &id, "sleep", "1000"]);
    assert!(out.status.success(), "{}", show(&out));
    let ps = c.ctr(&["tasks", "ps", &id]);
    let listed = String::from_utf8_lossy(&ps.stdout).lines().skip(1).filter(|l| !l.trim().is_empty()).count();
    assert!(listed >= 2, "want init and exec listed: {}", show(&ps));
    let out = c.ctr(&["tasks", "kill", "--exec-id", "xq2", "-s", "SIGKILL", &id]);
    assert!(out.status.success(), "{}", show(&out));
    // The init is unaffected.
    std::thread::sleep(Duration::from_millis(200));
    assert!(wait_status(&c, &id, "RUNNING"));

    events.wait_for(Duration::from_secs(10), |t| t.lines().any(|l| l.contains("/tasks/exit") && l.contains("\"xq2\"")));
    kill_and_remove(&c, &id);
    let all = events.stop();
    let xq1: Vec<_> = topics_for(&all, "\"xq1\"");
    assert_eq!(xq1, ["/tasks/exec-added", "/tasks/exec-started", "/tasks/exit"], "{all}");
    let exit = all.lines().find(|l| l.contains("/tasks/exit") && l.contains("\"xq1\"")).unwrap();
    assert!(exit.contains("\"exit_status\":6"), "{exit}");
    let exit2 = all.lines().find(|l| l.contains("/tasks/exit") && l.contains("\"xq2\"")).unwrap();
    assert!(exit2.contains("\"exit_status\":137"), "{exit2}");
}

#[test]
fn interactive_tty_resize_input_and_exit_code() {
    let Some(c) = setup() else { return };
    let id = unique_id("tty");
    let mut args = c.run_args(&id);
    args.extend(["-t".into(), "--rm".into(), IMAGE.into(), id.clone()]);
    args.extend(["sh", "-c", "sleep 1; tty; stty size; read x; echo got-$x; exit 5"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let cmd = c.ctr_cmd(&args);
    let (code, out) =
        integration::run_in_pty(cmd, 33, 101, b"abc\n", Duration::from_millis(1500), Duration::from_secs(60));
    assert_eq!(code, Some(5), "output: {out:?}\n{}", c.log());
    assert!(out.contains("/dev/pts/"), "not a terminal: {out:?}");
    assert!(out.contains("33 101"), "ResizePty not applied: {out:?}");
    assert!(out.contains("got-abc"), "input not delivered: {out:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(c.shim_pids().is_empty(), "shims left: {:?}", c.shim_pids());
}

#[test]
fn exec_with_tty() {
    let Some(c) = setup() else { return };
    let id = unique_id("exectty");
    run_detached(&c, &id, &["sleep", "1000"]);
    assert!(wait_status(&c, &id, "RUNNING"), "{}", c.log());
    let cmd = c.ctr_cmd(&["tasks", "exec", "-t", "--exec-id", "tt1", &id, "sh", "-c", "sleep 1; tty; stty size; exit 9"]);
    let (code, out) = integration::run_in_pty(cmd, 20, 70, b"", Duration::ZERO, Duration::from_secs(60));
    assert_eq!(code, Some(9), "output: {out:?}\n{}", c.log());
    assert!(out.contains("/dev/pts/") && out.contains("20 70"), "{out:?}");
    kill_and_remove(&c, &id);
}

/// Polls `path` until `pred` holds for its contents (at most 10 s).
fn wait_file(path: &std::path::Path, pred: impl Fn(&str) -> bool) -> String {
    for _ in 0..200 {
        let s = std::fs::read_to_string(path).unwrap_or_default();
        if pred(&s) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn logs_through_file_and_binary_uris() {
    let Some(c) = setup() else { return };
    // file://
    let log = c.dir.join("logs/file.log");
    let id = unique_id("flog");
    let mut args = c.run_args(&id);
    args.extend(["--log-uri".into(), format!("file://{}", log.display()), "--rm".into(), IMAGE.into(), id.clone()]);
    args.extend(["sh", "-c", "echo to-out; echo to-err >&2; exit 2"].map(String::from));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = c.ctr(&a);
    assert_eq!(out.status.code(), Some(2), "{}\n{}", show(&out), c.log());
    let got = wait_file(&log, |s| s.contains("to-out") && s.contains("to-err"));
    assert!(got.contains("to-out") && got.contains("to-err"), "file log: {got:?}");

    // binary://: a logger that records its environment and copies fds 3 and 4.
    let dir = c.dir.join("blog");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("logger.sh");
    let d = dir.display();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$CONTAINER_ID $CONTAINER_NAMESPACE $1 $2\" > {d}/env.tmp && mv {d}/env.tmp {d}/env\n\
             exec 5>&-\ncat <&3 > {d}/out &\ncat <&4 > {d}/err &\nwait\ntouch {d}/done\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let id = unique_id("blog");
    let mut args = c.run_args(&id);
    args.extend(["--log-uri".into(), format!("binary://{}?tag=x1", script.display()), "--rm".into(), IMAGE.into()]);
    args.push(id.clone());
    args.extend(["sh", "-c", "echo b-out; echo b-err >&2; exit 3"].map(String::from));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = c.ctr(&a);
    assert_eq!(out.status.code(), Some(3), "{}\n{}", show(&out), c.log());
    wait_file(&dir.join("done"), |_| dir.join("done").exists());
    let env = std::fs::read_to_string(dir.join("env")).unwrap_or_default();
    assert_eq!(env.trim(), format!("{id} {} tag x1", integration::NAMESPACE), "logger env/args");
    assert_eq!(std::fs::read_to_string(dir.join("out")).unwrap_or_default(), "b-out\n");
    assert_eq!(std::fs::read_to_string(dir.join("err")).unwrap_or_default(), "b-err\n");
}

#[test]
fn pause_resume_and_update() {
    let Some(c) = setup() else { return };
    for cmd in ["pause", "resume", "update"] {
        if !runtime_has(cmd) {
            eprintln!(
                "\n!!! SKIPPING pause/resume/update: runtime {} has no `{cmd}` command (run with BERTH_IT_RUNTIME=runc) !!!\n",
                runtime_path().display()
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
        eprintln!(
            "\n!!! SKIPPING stats: runtime {} has no `events` command (run with BERTH_IT_RUNTIME=runc) !!!\n",
            runtime_path().display()
        );
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

#[test]
fn checkpoint_reaches_the_runtime_and_its_error_reaches_ctr() {
    let Some(c) = setup() else { return };
    if !runtime_has("checkpoint") {
        eprintln!("\n!!! SKIPPING checkpoint: runtime {} has no `checkpoint` command !!!\n", runtime_path().display());
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
