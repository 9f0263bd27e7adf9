//! Limits and identities: `--memory` OOM, `--pids-limit` against a fork
//! bomb, `--user 1000` writing /dev/stdout, /dev/stderr and its tty, and a
//! read-only `--device`.

use std::path::Path;
use std::time::Duration;

use integration::engine::Engine;
use integration::pty::PtySession;
use integration::scenario::Group;
use integration::show;

use super::{err, name, ok, out};

/// Every scenario of this module.
pub fn all(g: &mut Group) {
    g.scenario("memory_limit_oom_killed", memory_limit_oom_killed);
    g.scenario("pids_limit_stops_fork_bomb", pids_limit_stops_fork_bomb);
    g.scenario("user_1000_writes_stdio_and_tty", user_1000_writes_stdio_and_tty);
    g.scenario("device_read_only", device_read_only);
}

/// `--memory 16m`: a 64 MB buffer gets the container OOM-killed (137,
/// Docker's State.OOMKilled true); the limit is in its memory cgroup.
pub fn memory_limit_oom_killed(e: &Engine) {
    let n = name("oom");
    let script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; sleep 1; exec dd if=/dev/zero of=/dev/null bs=64M count=1";
    let o = e.run(&["--name", &n, "--network", "none", "--memory", "16m", "--memory-swap", "16m", &e.image, "sh", "-c", script]);
    assert_eq!(o.status.code(), Some(137), "{}\n{}", show(&o), e.tail_calls());
    assert_eq!(out(&o), "16777216", "{}", show(&o));
    if e.is_docker() {
        assert_eq!(e.inspect(&n, "{{.State.OOMKilled}} {{.State.ExitCode}}"), "true 137");
    } else {
        // conmon 2.1 on cgroup v1 does not report the OOM kill to Podman 4.3
        // (State.OOMKilled stays false with runc too): the exit code says it.
        assert_eq!(e.inspect(&n, "{{.State.ExitCode}}"), "137");
    }
    e.ok(&["rm", &n]);
}

/// `--pids-limit 20`: a shell starting 40 background sleeps gets "can't
/// fork" past the limit; pids.max is 20 and pids.current stays within it.
pub fn pids_limit_stops_fork_bomb(e: &Engine) {
    // ash gives up at the first failed fork: the loop runs in a subshell,
    // and only builtins come after it (no fork is left to spare).
    let script = "(i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done); \
                  read m < /sys/fs/cgroup/pids/pids.max; read c < /sys/fs/cgroup/pids/pids.current; echo $m; echo $c; exit 0";
    let o = e.run(&["--rm", "--network", "none", "--pids-limit", "20", &e.image, "sh", "-c", script]);
    let text = ok(e, &o, "run --pids-limit");
    let nums: Vec<u32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
    assert_eq!(nums.first(), Some(&20), "pids.max: {}", show(&o));
    assert!(nums.get(1).is_some_and(|&c| (15..=20).contains(&c)), "pids.current: {}", show(&o));
    assert!(err(&o).contains("can't fork") || err(&o).contains("Resource temporarily unavailable"), "{}", show(&o));
}

/// `--user 1000` opens /dev/stdout and /dev/stderr (pipes of the engine),
/// and, with `-t`, its terminal.
pub fn user_1000_writes_stdio_and_tty(e: &Engine) {
    let script = "id -u; echo to-stdout > /dev/stdout; echo to-stderr > /dev/stderr";
    let o = e.run(&["--rm", "--network", "none", "--user", "1000", &e.image, "sh", "-c", script]);
    assert_eq!(ok(e, &o, "run --user 1000"), "1000\nto-stdout", "{}", show(&o));
    assert!(err(&o).contains("to-stderr"), "{}", show(&o));

    let script = "echo via-tty > $(tty) && echo via-dev-stdout > /dev/stdout && echo done-$(id -u)";
    let cmd = e.run_cmd(&["--rm", "--network", "none", "-t", "--user", "1000", &e.image, "sh", "-c", script]);
    let mut s = PtySession::spawn(cmd, 30, 100);
    let code = s.wait(Duration::from_secs(60));
    let text = s.output();
    assert_eq!(code, Some(0), "run -t --user 1000: {text:?}\n{}", e.tail_calls());
    assert!(text.contains("via-tty") && text.contains("via-dev-stdout") && text.contains("done-1000"), "{text:?}");
}

/// `--device DEV:/dev/xdev:r`: reading works, opening it for writing is
/// refused (EPERM from the devices cgroup), and the cgroup allows `r` only.
pub fn device_read_only(e: &Engine) {
    // /dev/loop0 where it exists (block device 7:0); else /dev/zero.
    let dev = ["/dev/loop0", "/dev/zero"].into_iter().find(|d| Path::new(d).exists()).expect("no device");
    if dev != "/dev/loop0" {
        eprintln!("\n!!! device_read_only: /dev/loop0 missing here, using {dev} !!!\n");
    }
    let script = "dd if=/dev/xdev of=/dev/null bs=512 count=1 && echo read-ok; (echo x > /dev/xdev) && echo write-ok; \
                  grep -E '^[bc] ' /sys/fs/cgroup/devices/devices.list | grep -v 'm$' | grep ' r$'";
    let o = e.run(&["--rm", "--network", "none", "--device", &format!("{dev}:/dev/xdev:r"), &e.image, "sh", "-c", script]);
    let text = out(&o);
    assert!(text.contains("read-ok"), "read failed: {}\n{}", show(&o), e.tail_calls());
    assert!(!text.contains("write-ok"), "write-open allowed: {}", show(&o));
    assert!(err(&o).contains("Operation not permitted"), "write-open not refused with EPERM: {}", show(&o));
    let (kind, major_minor) = if dev == "/dev/loop0" { ("b", "7:0") } else { ("c", "1:5") };
    assert!(text.contains(&format!("{kind} {major_minor} r")), "devices.list has no `{kind} {major_minor} r`: {}", show(&o));
}
