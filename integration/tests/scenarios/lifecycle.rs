//! Everyday container life: `run -it` (exit code, window resize), a
//! published web server, exec (plain, -it, -u), top, stats, logs -f, and
//! stop/start/restart/pause/unpause/kill -s/rm -f.

use std::time::Duration;

use integration::engine::Engine;
use integration::pty::PtySession;
use integration::scenario::Group;
use integration::{run_timeout, show};

use super::{fetch, name, ok, out, run_with, wait_until, web_server};

/// Every scenario of this module.
pub fn all(g: &mut Group) {
    g.scenario("run_it_exit_code_and_resize", run_it_exit_code_and_resize);
    g.scenario("publish_port_web_server", publish_port_web_server);
    g.scenario("exec_plain_tty_and_user", exec_plain_tty_and_user);
    g.scenario("top_and_stats", top_and_stats);
    g.scenario("logs_follow", logs_follow);
    g.scenario("stop_start_restart_pause_kill_rm", stop_start_restart_pause_kill_rm);
}

/// `run -it`: a tty, input, the size at start and after a resize of the
/// client's terminal, the exit code.
pub fn run_it_exit_code_and_resize(e: &Engine) {
    let mark = e.calls_mark();
    let script = "tty; echo ready; read a; echo size-$(stty size | tr ' ' x); read b; echo size-$(stty size | tr ' ' x); exit 5";
    let cmd = e.run_cmd(&["--network", "none", "-it", "--rm", &e.image, "sh", "-c", script]);
    let mut s = PtySession::spawn(cmd, 30, 100);
    assert!(s.wait_for("ready", Duration::from_secs(60)), "no prompt: {:?}\n{}", s.output(), e.tail_calls());
    // Docker 20.10 sets the first size with a resize call right after start.
    std::thread::sleep(Duration::from_millis(700));
    s.write(b"a\r");
    assert!(s.wait_for("size-30x100", Duration::from_secs(10)), "start size not passed: {:?}", s.output());
    s.resize(40, 120);
    std::thread::sleep(Duration::from_millis(1000));
    s.write(b"b\r");
    assert!(s.wait_for("size-40x120", Duration::from_secs(10)), "resize not passed: {:?}", s.output());
    let code = s.wait(Duration::from_secs(30));
    assert_eq!(code, Some(5), "exit code; output: {:?}\n{}", s.output(), e.tail_calls());
    assert!(s.output().contains("/dev/pts/0"), "{:?}", s.output());
    e.assert_called(mark, "--console-socket");
}

/// `run -d -p 18080:80` of busybox httpd, fetched through the published
/// port from inside the engine's namespace.
pub fn publish_port_web_server(e: &Engine) {
    let mark = e.calls_mark();
    let n = name("web");
    let o = run_with(e, &["-d", "--name", &n, "-p", "18080:80", &e.image], &web_server("hello-published"));
    ok(e, &o, "run -d -p");
    let body = fetch(e, "http://127.0.0.1:18080/")
        .unwrap_or_else(|f| panic!("published port not reachable: {f}\nlogs: {}\n{}", show(&e.cli(&["logs", &n])), e.tail_calls()));
    assert_eq!(body, "hello-published");
    let ports = e.inspect(&n, "{{json .NetworkSettings.Ports}}");
    assert!(ports.contains("18080"), "{ports}");
    e.assert_called(mark, "create --bundle");
    e.rm_f(&n);
}

/// exec: exit code and output; `-u 1000` (uid, gid, HOME from the image's
/// passwd); `-it` on a pty.
pub fn exec_plain_tty_and_user(e: &Engine) {
    let mark = e.calls_mark();
    let n = name("ex");
    ok(e, &e.run(&["-d", "--network", "none", "--name", &n, &e.image, "sleep", "1000"]), "run -d");
    let o = e.cli(&["exec", &n, "sh", "-c", "echo in-exec; exit 4"]);
    assert_eq!(o.status.code(), Some(4), "{}", show(&o));
    assert_eq!(out(&o), "in-exec");

    let o = e.cli(&["exec", "-u", "1000", &n, "sh", "-c", "id -u; id -g; echo home=$HOME; echo x > /dev/stdout"]);
    assert_eq!(ok(e, &o, "exec -u 1000"), "1000\n1000\nhome=/home/user\nx");

    let cmd = e.cmd(&["exec", "-it", &n, "sh", "-c", "tty; echo ready; read x; echo got-$x; exit 6"]);
    let mut s = PtySession::spawn(cmd, 30, 100);
    assert!(s.wait_for("ready", Duration::from_secs(30)), "{:?}\n{}", s.output(), e.tail_calls());
    s.write(b"abc\r");
    let code = s.wait(Duration::from_secs(30));
    assert_eq!(code, Some(6), "exec -it exit code; output {:?}\n{}", s.output(), e.tail_calls());
    assert!(s.output().contains("/dev/pts/") && s.output().contains("got-abc"), "{:?}", s.output());
    let calls = e.calls_since(mark);
    assert!(calls.lines().any(|l| l.contains("exec ") && l.contains("--console-socket")), "no exec with a console socket; calls:\n{calls}");
    e.rm_f(&n);
}

/// `top` lists the container's processes; `stats --no-stream` reports its
/// memory from the cgroup.
pub fn top_and_stats(e: &Engine) {
    let mark = e.calls_mark();
    let n = name("top");
    ok(e, &e.run(&["-d", "--network", "none", "--name", &n, &e.image, "sleep", "1001"]), "run -d");
    let top = e.ok(&["top", &n]);
    assert!(top.contains("sleep 1001"), "top: {top}");
    let stats = e.ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}", &n]);
    let used = stats.split('/').next().unwrap_or("").trim().to_string();
    assert!(!used.is_empty() && !used.starts_with("0B") && !used.starts_with("0 B"), "stats: {stats:?}");
    if e.is_docker() {
        // docker top asks the runtime for the container's pids.
        e.assert_called(mark, "ps --format json");
    }
    e.rm_f(&n);
}

/// `logs -f` follows a running container's output and returns when it
/// exits.
pub fn logs_follow(e: &Engine) {
    let n = name("lg");
    let script = "for i in 1 2 3 4; do echo line-$i; sleep 0.5; done";
    ok(e, &e.run(&["-d", "--network", "none", "--name", &n, &e.image, "sh", "-c", script]), "run -d");
    let o = run_timeout(e.cmd(&["logs", "-f", &n]), Duration::from_secs(40));
    assert!(o.status.success(), "logs -f did not end with the container: {}", show(&o));
    assert_eq!(out(&o), "line-1\nline-2\nline-3\nline-4", "{}", show(&o));
    assert_eq!(e.inspect(&n, "{{.State.Status}} {{.State.ExitCode}}"), "exited 0");
    e.ok(&["rm", &n]);
}

/// kill -s USR1 reaches the trap; pause freezes the cgroup; stop (SIGTERM)
/// ends it with its trap's exit code; start and restart give a new pid;
/// kill -s KILL gives 137; rm -f removes a running one.
pub fn stop_start_restart_pause_kill_rm(e: &Engine) {
    let mark = e.calls_mark();
    let n = name("lc");
    let script = "trap 'echo got-usr1' USR1; trap 'echo bye; exit 3' TERM; echo started; while true; do sleep 0.1; done";
    let id = ok(e, &e.run(&["-d", "--network", "none", "--name", &n, &e.image, "sh", "-c", script]), "run -d");
    let logs = |e: &Engine| out(&e.cli(&["logs", &n]));
    assert!(wait_until(Duration::from_secs(10), || logs(e).contains("started")), "{}", logs(e));
    let pid1 = e.inspect(&n, "{{.State.Pid}}");

    e.ok(&["kill", "-s", "USR1", &n]);
    assert!(wait_until(Duration::from_secs(10), || logs(e).contains("got-usr1")), "USR1 not delivered: {}", logs(e));

    e.ok(&["pause", &n]);
    assert_eq!(e.inspect(&n, "{{.State.Status}}"), "paused");
    assert_eq!(e.cgroup_file("freezer", &id, "freezer.state"), "FROZEN");
    e.ok(&["unpause", &n]);
    assert_eq!(e.inspect(&n, "{{.State.Status}}"), "running");
    assert_eq!(e.cgroup_file("freezer", &id, "freezer.state"), "THAWED");

    e.ok(&["stop", "-t", "10", &n]);
    assert_eq!(e.inspect(&n, "{{.State.Status}} {{.State.ExitCode}}"), "exited 3", "SIGTERM should end it by its trap");
    assert!(logs(e).contains("bye"), "{}", logs(e));

    e.ok(&["start", &n]);
    assert_eq!(e.inspect(&n, "{{.State.Status}}"), "running");
    let pid2 = e.inspect(&n, "{{.State.Pid}}");
    assert_ne!(pid1, pid2, "start should make a new process");
    e.ok(&["restart", "-t", "10", &n]);
    assert_eq!(e.inspect(&n, "{{.State.Status}}"), "running");
    let pid3 = e.inspect(&n, "{{.State.Pid}}");
    assert_ne!(pid2, pid3, "restart should make a new process");
    assert!(wait_until(Duration::from_secs(10), || logs(e).matches("started").count() == 3), "{}", logs(e));

    e.ok(&["kill", "-s", "KILL", &n]);
    assert_eq!(e.ok(&["wait", &n]), "137");
    e.ok(&["start", &n]);
    e.rm_f(&n);
    let ps = e.ok(&["ps", "-a", "-q", "--filter", &format!("name={n}")]);
    assert!(ps.is_empty(), "rm -f left {ps}");
    for verb in ["pause ", "resume ", "kill ", "delete "] {
        e.assert_called(mark, verb);
    }
}
