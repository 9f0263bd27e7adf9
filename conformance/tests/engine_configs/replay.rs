//! Running a fixture: [`Replay`] fills its placeholders, runs the container
//! the way the engine did and cleans up checking for leaks; [`replay`] and
//! [`replay_exec`] are the common create/start and exec replays.

use conformance::*;
use serde_json::json;
use std::fs::{self, File};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::bundle::{fixture, map_strings, source_content, NetnsFile, Pins};
use crate::checks::{check_cgroup, check_config, check_process};
use crate::probe::{probe_script, Probe};

/// How long a probe may take.
const WAIT: Duration = Duration::from_secs(15);

/// A fixture being replayed: its container, and what was pinned for its
/// placeholders.
pub struct Replay {
    /// The container, its config the filled fixture.
    pub c: TestContainer,
    /// The fixture's name, for messages.
    pub fixture: String,
    /// The pinned network namespace, when the fixture names `@NETNS@`.
    pub netns: Option<NetnsFile>,
    /// The namespace holder, when the fixture names `@HOLDER_PID@`.
    pub holder: Option<NsHolder>,
    /// What was pinned for the placeholders.
    pub pins: Pins,
}

impl Replay {
    /// A container whose config is the fixture with its placeholders filled.
    pub fn new(name: &str) -> Replay {
        let mut c = TestContainer::new(&format!("ec-{name}"));
        let mut cfg = fixture(name);
        let text = cfg.to_string();
        let bundle = c.bundle.clone();
        let netns = text.contains("@NETNS@").then(|| NetnsFile::new(c.base.join("netns")));
        let holder = text.contains("@HOLDER_PID@").then(|| NsHolder::new(&["--net", "--ipc", "--uts"], &["net", "ipc", "uts"]));
        let pins = Pins { netns: netns.as_ref().map(|n| n.path.display().to_string()), holder_pid: holder.as_ref().map(NsHolder::pid), bundle: bundle.clone() };
        let cgroup = format!("{CGROUP_PREFIX}/{}", c.id);
        map_strings(&mut cfg, &|s: &str| {
            let mut s = s.replace("@CGROUP@", &cgroup).replace("@BUNDLE@", &bundle.display().to_string());
            if let Some(n) = &pins.netns {
                s = s.replace("@NETNS@", n);
            }
            if let Some(h) = pins.holder_pid {
                s = s.replace("@HOLDER_PID@", &h.to_string());
            }
            s
        });
        // The files and directories the engine would have bind-mounted.
        for m in cfg["mounts"].as_array().into_iter().flatten() {
            let Some(src) = m["source"].as_str() else { continue };
            let rel = src.strip_prefix(&bundle.display().to_string()).unwrap_or("");
            if let Some(name) = rel.strip_prefix("/files/") {
                fs::create_dir_all(bundle.join("files")).unwrap();
                fs::write(src, source_content(name)).unwrap();
            } else if rel.starts_with("/dirs/") {
                fs::create_dir_all(src).unwrap();
            }
        }
        // The image's /run content (what tmpcopyup copies up).
        fs::write(bundle.join("rootfs/run/image-marker"), "from-image\n").unwrap();
        // Harness needs: its marker env (finds leaked processes) and a
        // cgroup of its own when the config names none (spec output).
        json_set(&mut cfg, "/process/env/-", json!(format!("{MARKER_ENV}={}", c.id)));
        if cfg.pointer("/linux/cgroupsPath").is_none() {
            json_set(&mut cfg, "/linux/cgroupsPath", json!(cgroup));
        }
        c.config = cfg;
        Replay { c, fixture: name.to_string(), netns, holder, pins }
    }

    /// Replace process.args with the probe (terminal off).
    pub fn probe(&mut self, extra: &str, hold: bool) {
        let script = probe_script(&self.c.config, extra, hold);
        self.c.set("/process/args", json!(["sh", "-c", script]));
        self.c.set("/process/terminal", json!(false));
    }

    /// create + start; waits for the probe's end. Returns what it printed
    /// and the init's pid.
    pub fn run(&self) -> (Probe, i32) {
        let o = self.c.create();
        assert!(o.success(), "[{}] create failed: {}\n{}", self.fixture, o.stderr.trim(), o.log.trim());
        let pid = self.c.pid_from_file().expect("pid file");
        let o = self.c.start();
        assert!(o.success(), "[{}] start failed: {}\n{}", self.fixture, o.stderr.trim(), o.log.trim());
        let deadline = Instant::now() + WAIT;
        loop {
            let p = self.output();
            if p.done() {
                return (p, pid);
            }
            if Instant::now() > deadline || !process_alive(pid) {
                // One last read: the process may have just finished.
                let p = self.output();
                if p.done() {
                    return (p, pid);
                }
                panic!("[{}] probe did not finish (init alive: {})\nstdout:\n{}\nstderr:\n{}", self.fixture, process_alive(pid), p.out, p.err);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn output(&self) -> Probe {
        Probe { out: fs::read_to_string(&self.c.out_file).unwrap_or_default(), err: fs::read_to_string(&self.c.err_file).unwrap_or_default() }
    }

    /// Ends the held probe, deletes the container as the engine would, and
    /// checks that nothing is left (state, cgroups, processes, mounts,
    /// the pinned namespaces).
    pub fn finish(mut self, pid: i32) {
        // The probe may end by itself (a tty probe on hangup) between the
        // look and the kill: a refused kill is fine only if it is gone.
        if process_alive(pid) && !self.c.kill("KILL").success() {
            assert!(!process_alive(pid), "kill said the container is not running while its init {pid} lives");
        }
        self.c.wait_status("stopped", WAIT).unwrap();
        self.c.delete().ok();
        if let Some(mut n) = self.netns.take() {
            n.release();
        }
        self.c.assert_no_leaks(Some(pid));
        drop(self.holder.take());
    }

    /// Fails the test with every mismatch in `errs` and the probe's output.
    pub fn check(&self, p: &Probe, errs: Vec<String>) {
        assert!(
            errs.is_empty(),
            "[{}] against {}: {} mismatch(es):\n  {}\n--- probe stdout ---\n{}\n--- probe stderr ---\n{}",
            self.fixture,
            runtime_binary().display(),
            errs.len(),
            errs.join("\n  "),
            p.out,
            p.err
        );
    }
}

/// The common replay: probe, run, check the whole config and its cgroup,
/// then `extra_check` on the probe; clean up and check for leaks.
pub fn replay(name: &str, extra_probe: &str, extra_check: impl FnOnce(&Probe, &Replay, &mut Vec<String>)) {
    let mut r = Replay::new(name);
    r.probe(extra_probe, true);
    let (p, pid) = r.run();
    let mut errs = Vec::new();
    check_config(&p, &r.c.config, &r.pins, &mut errs);
    check_cgroup(&r.c, &r.c.config, &mut errs);
    extra_check(&p, &r, &mut errs);
    r.check(&p, errs);
    r.finish(pid);
}

/// No extra check, for [`replay`].
pub fn no_extra(_: &Probe, _: &Replay, _: &mut Vec<String>) {}

/// Runs `target` (held by a sleeping init), then `exec --process` of the
/// fixture `process` with the probe, as containerd's shim and conmon do.
pub fn replay_exec(target: &str, process: &str) {
    let mut r = Replay::new(target);
    r.c.set("/process/args", json!(["sh", "-c", "echo probe-done; exec sleep 60"]));
    r.c.set("/process/terminal", json!(false));
    let (_, pid) = r.run();
    r.fixture = format!("{process} (exec into {target})");
    let mut proc_v = fixture(process);
    proc_v["args"] = json!(["sh", "-c", probe_script(&json!({}), "", false)]);
    proc_v["terminal"] = json!(false);
    json_set(&mut proc_v, "/env/-", json!(format!("{MARKER_ENV}={}", r.c.id)));
    let pf = r.c.base.join("process.json");
    fs::write(&pf, serde_json::to_vec_pretty(&proc_v).unwrap()).unwrap();
    let (out_p, err_p, pid_p) = (r.c.base.join("exec.out"), r.c.base.join("exec.err"), r.c.base.join("exec.pid"));
    let io = Stdio3 { stdin: Stdio::null(), stdout: File::create(&out_p).unwrap(), stderr: File::create(&err_p).unwrap() };
    let (pfs, pids) = (pf.display().to_string(), pid_p.display().to_string());
    let o = r.c.rt.cmd_io(&["exec", "--process", &pfs, "--detach", "--pid-file", &pids, &r.c.id], io);
    let p = || Probe { out: fs::read_to_string(&out_p).unwrap_or_default(), err: fs::read_to_string(&err_p).unwrap_or_default() };
    assert!(o.success(), "[{process}] exec failed: {}\n{}", p().err.trim(), o.log.trim());
    let epid: i32 = fs::read_to_string(&pid_p).ok().and_then(|s| s.trim().parse().ok()).expect("exec pid file");
    let deadline = Instant::now() + WAIT;
    while process_alive(epid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let probe = p();
    assert!(probe.done(), "[{process}] exec probe did not finish\nstdout:\n{}\nstderr:\n{}", probe.out, probe.err);
    let mut errs = Vec::new();
    check_process(&probe, &proc_v, &mut errs);
    // The exec'd process is in the container's namespaces.
    for kind in ["net", "ipc", "uts", "pid", "mnt"] {
        let want = fs::read_link(format!("/proc/{pid}/ns/{kind}")).map(|l| l.display().to_string()).unwrap_or_default();
        if probe.get(&format!("ns:{kind}")) != Some(want.as_str()) {
            errs.push(format!("exec {kind} namespace: want the container's {want}, got {:?}", probe.get(&format!("ns:{kind}"))));
        }
    }
    r.check(&probe, errs);
    r.finish(pid);
}
