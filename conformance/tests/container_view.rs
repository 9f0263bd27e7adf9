//! What the container process sees from the inside (config.md,
//! config-linux.md, runtime-linux.md). Each test runs a busybox script to
//! completion and parses what it prints.

use conformance::*;
use serde_json::json;
use std::collections::HashMap;
use std::fs;
use std::time::Duration;

/// Lines "key value..." into a map.
fn kv(out: &str) -> HashMap<String, String> {
    out.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ').unwrap_or((l, ""));
            (!k.is_empty()).then(|| (k.to_string(), v.trim().to_string()))
        })
        .collect()
}

// config.md "Hostname": the container's hostname as seen by processes inside.
#[test]
fn hostname() {
    let mut c = TestContainer::new("view-hostname");
    c.set("/hostname", json!("conformance-host"));
    let out = c.run_sh("hostname; cat /proc/sys/kernel/hostname");
    assert_eq!(out, "conformance-host\nconformance-host\n");
    c.delete_and_check(None);
}

// config-linux.md "Namespaces" (pid): with a new pid namespace the container
// process is its init, pid 1.
#[test]
fn pid_one_in_new_pid_namespace() {
    let mut c = TestContainer::new("view-pid1");
    let out = c.run_sh("echo $$; ls /proc | grep -c '^[0-9]'");
    let mut l = out.lines();
    assert_eq!(l.next(), Some("1"), "the process must be pid 1: {out}");
    // Only the shell and the `ls`/`grep` it forked may be visible.
    let n: u32 = l.next().unwrap().trim().parse().unwrap();
    assert!(n <= 3, "pid namespace shows foreign processes ({n}): {out}");
    c.delete_and_check(None);
}

const NS_KINDS: &[&str] = &["cgroup", "ipc", "mnt", "net", "pid", "uts", "user", "time"];

fn ns_script() -> String {
    let mut s = String::new();
    for k in NS_KINDS {
        s.push_str(&format!("echo {k} $(readlink /proc/self/ns/{k}); "));
    }
    s
}

// config-linux.md "Namespaces": without `path` the runtime MUST create a new
// namespace; a type not listed MUST be inherited from the runtime.
#[test]
fn new_namespaces_differ_from_host() {
    let mut c = TestContainer::new("view-ns-new");
    let out = c.run_sh(&ns_script());
    let m = kv(&out);
    for k in ["cgroup", "ipc", "mnt", "net", "pid", "uts"] {
        let inside = m.get(k).unwrap_or_else(|| panic!("no {k} line: {out}"));
        assert!(!inside.is_empty(), "{k} ns unreadable: {out}");
        assert_ne!(inside, &host_ns(k), "{k} namespace must be new");
    }
    for k in ["user", "time"] {
        assert_eq!(m[k], host_ns(k), "{k} namespace not in config must be inherited");
    }
    c.delete_and_check(None);
}

// config-linux.md "Namespaces": a type not listed is inherited (here: all
// but mount and pid are dropped from the config).
#[test]
fn unlisted_namespaces_inherited() {
    let mut c = TestContainer::new("view-ns-inherit");
    for k in ["network", "ipc", "uts", "cgroup"] {
        c.drop_namespace(k);
    }
    c.remove("/hostname");
    let out = c.run_sh(&ns_script());
    let m = kv(&out);
    for k in ["net", "ipc", "uts", "cgroup", "user"] {
        assert_eq!(m[k], host_ns(k), "{k} namespace must be inherited: {out}");
    }
    assert_ne!(m["mnt"], host_ns("mnt"));
    assert_ne!(m["pid"], host_ns("pid"));
    c.delete_and_check(None);
}

// config-linux.md "Namespaces": with `path`, the runtime MUST place the
// container process in that namespace.
#[test]
fn join_namespaces_by_path() {
    let holder = NsHolder::new(&["--net", "--uts", "--ipc"], &["net", "uts", "ipc"]);
    let mut c = TestContainer::new("view-ns-join");
    for (ty, kind) in [("network", "net"), ("uts", "uts"), ("ipc", "ipc")] {
        c.drop_namespace(ty);
        c.push("/linux/namespaces", json!({"type": ty, "path": holder.ns_path(kind)}));
    }
    c.remove("/hostname");
    let out = c.run_sh(&ns_script());
    let m = kv(&out);
    for k in ["net", "uts", "ipc"] {
        assert_eq!(m[k], holder.ns(k), "{k} namespace must be the one at path: {out}");
        assert_ne!(m[k], host_ns(k));
    }
    c.delete_and_check(None);
    // The joined namespaces belong to the holder and must survive the container.
    assert!(process_alive(holder.pid()));
    assert_eq!(holder.ns("net"), m["net"]);
}

// config.md "User": uid, gid, additionalGids; config.md "POSIX process": umask.
#[test]
fn user_and_groups() {
    let mut c = TestContainer::new("view-user");
    c.set("/process/user", json!({"uid": 1000, "gid": 1001, "additionalGids": [29, 100]}));
    let out = c.run_sh("grep -E '^(Uid|Gid|Groups):' /proc/self/status; id -u; id -g");
    let uid = status_field(&out, "Uid").unwrap();
    let gid = status_field(&out, "Gid").unwrap();
    assert_eq!(uid.split_whitespace().collect::<Vec<_>>(), ["1000"; 4], "{out}");
    assert_eq!(gid.split_whitespace().collect::<Vec<_>>(), ["1001"; 4], "{out}");
    let groups: Vec<&str> = status_field(&out, "Groups").unwrap().split_whitespace().collect();
    for g in ["29", "100"] {
        assert!(groups.contains(&g), "additionalGids {g} missing: {out}");
    }
    assert!(groups.iter().all(|g| ["29", "100", "1001"].contains(g)), "extra groups: {out}");
    c.delete_and_check(None);
}

#[test]
fn umask() {
    if skip_for("runc version 1.0", "umask support arrived in runc 1.1") {
        return;
    }
    let mut c = TestContainer::new("view-umask");
    c.set("/process/user/umask", json!(0o027));
    let out = c.run_sh("umask; touch /tmp/f; stat -c %a /tmp/f");
    assert_eq!(out, "0027\n640\n");
    c.delete_and_check(None);
}

// config.md "Process": cwd is the working directory; env is the environment.
#[test]
fn cwd_and_env() {
    let mut c = TestContainer::new("view-cwd-env");
    fs::create_dir_all(c.bpath("rootfs/work/dir")).unwrap();
    c.set("/process/cwd", json!("/work/dir"));
    c.push("/process/env", json!("CONFORMANCE_A=1"));
    c.push("/process/env", json!("CONFORMANCE_B=two words"));
    let out = c.run_sh("pwd; env");
    let mut l = out.lines();
    assert_eq!(l.next(), Some("/work/dir"));
    let env: Vec<&str> = l.collect();
    for want in ["CONFORMANCE_A=1", "CONFORMANCE_B=two words", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] {
        assert!(env.contains(&want), "{want} missing from env: {out}");
    }
    c.delete_and_check(None);
}

// config.md "POSIX process": rlimits; the runtime MUST apply soft and hard.
#[test]
fn rlimits() {
    let mut c = TestContainer::new("view-rlimits");
    c.set(
        "/process/rlimits",
        json!([
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
            {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400}
        ]),
    );
    let out = c.run_sh("cat /proc/self/limits; ulimit -n; ulimit -Hn");
    let line = |name: &str| -> Vec<String> {
        let l = out.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} missing: {out}"));
        l[name.len()..].split_whitespace().map(String::from).collect()
    };
    assert_eq!(&line("Max open files")[..2], ["512", "1000"], "{out}");
    assert_eq!(&line("Max core file size")[..2], ["0", "4096"], "{out}");
    assert_eq!(&line("Max processes")[..2], ["300", "400"], "{out}");
    let tail: Vec<&str> = out.lines().rev().take(2).collect();
    assert_eq!(tail, ["1000", "512"], "ulimit -n / -Hn: {out}");
    c.delete_and_check(None);
}

fn cap_sets(out: &str) -> [u64; 5] {
    let f = |k| u64::from_str_radix(status_field(out, k).unwrap_or_else(|| panic!("{k}: {out}")), 16).unwrap();
    [f("CapInh"), f("CapPrm"), f("CapEff"), f("CapBnd"), f("CapAmb")]
}

// config.md "Linux process": capabilities sets. As root with
// effective = permitted = bounding, exec keeps exactly these sets.
#[test]
fn capabilities_root() {
    let mut c = TestContainer::new("view-caps-root");
    let bnd = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_SETUID"];
    let inh = ["CAP_KILL"];
    c.set("/process/capabilities", json!({"bounding": bnd, "effective": bnd, "permitted": bnd, "inheritable": inh}));
    let out = c.run_sh("grep ^Cap /proc/self/status");
    let [i, p, e, b, a] = cap_sets(&out);
    assert_eq!(b, cap_mask(&bnd), "CapBnd: {out}");
    assert_eq!(p, cap_mask(&bnd), "CapPrm: {out}");
    assert_eq!(e, cap_mask(&bnd), "CapEff: {out}");
    assert_eq!(i, cap_mask(&inh), "CapInh: {out}");
    assert_eq!(a, 0, "CapAmb: {out}");
    c.delete_and_check(None);
}

// Default config: no inheritable/ambient given -> both empty.
#[test]
fn capabilities_default() {
    let mut c = TestContainer::new("view-caps-default");
    let out = c.run_sh("grep ^Cap /proc/self/status");
    let [i, p, e, b, a] = cap_sets(&out);
    let want = cap_mask(DEFAULT_CAPS);
    assert_eq!((b, p, e), (want, want, want), "{out}");
    assert_eq!((i, a), (0, 0), "{out}");
    c.delete_and_check(None);
}

// A non-root process with ambient capabilities keeps them across exec.
#[test]
fn capabilities_ambient_non_root() {
    let mut c = TestContainer::new("view-caps-ambient");
    let bnd = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"];
    let amb = ["CAP_NET_BIND_SERVICE", "CAP_KILL"];
    c.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    c.set("/process/capabilities", json!({"bounding": bnd, "effective": amb, "permitted": amb, "inheritable": amb, "ambient": amb}));
    let out = c.run_sh("grep ^Cap /proc/self/status");
    let [i, p, e, b, a] = cap_sets(&out);
    assert_eq!(b, cap_mask(&bnd), "CapBnd: {out}");
    for (name, v) in [("CapInh", i), ("CapPrm", p), ("CapEff", e), ("CapAmb", a)] {
        assert_eq!(v, cap_mask(&amb), "{name}: {out}");
    }
    c.delete_and_check(None);
}

// config.md "Linux process": noNewPrivileges sets no_new_privs.
#[test]
fn no_new_privileges() {
    for (nnp, want) in [(true, "1"), (false, "0")] {
        let mut c = TestContainer::new(&format!("view-nnp-{nnp}"));
        c.set("/process/noNewPrivileges", json!(nnp));
        let out = c.run_sh("grep ^NoNewPrivs /proc/self/status");
        assert_eq!(status_field(&out, "NoNewPrivs"), Some(want), "{out}");
        c.delete_and_check(None);
    }
}

// config.md "Linux process": oomScoreAdj is written to the process's oom_score_adj.
#[test]
fn oom_score_adj() {
    let mut c = TestContainer::new("view-oom");
    c.set("/process/oomScoreAdj", json!(123));
    let out = c.run_sh("cat /proc/self/oom_score_adj");
    assert_eq!(out.trim(), "123");
    c.delete_and_check(None);
}

/// Mount point -> (per-mount options, fs type) from mountinfo.
fn mountinfo(out: &str) -> HashMap<String, (Vec<String>, String)> {
    let mut m = HashMap::new();
    for l in out.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        if f.len() < 10 {
            continue;
        }
        let sep = f.iter().position(|x| *x == "-").unwrap();
        let opts = f[5].split(',').map(String::from).collect();
        m.insert(f[4].to_string(), (opts, f[sep + 1].to_string()));
    }
    m
}

// config.md "Mounts": each mount MUST appear at its destination with its
// options; config-linux.md "Default Filesystems".
#[test]
fn mounts_and_flags() {
    let mut c = TestContainer::new("view-mounts");
    let src = c.base.join("bindsrc");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("hello"), "from-host\n").unwrap();
    c.push(
        "/mounts",
        json!({"destination": "/mnt/bind", "type": "bind", "source": src.display().to_string(),
               "options": ["rbind", "ro", "nosuid", "nodev"]}),
    );
    c.push(
        "/mounts",
        json!({"destination": "/mnt/tmp", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "nodev", "noexec", "size=1m"]}),
    );
    let out = c.run_sh(
        "cat /proc/self/mountinfo; echo ===; cat /mnt/bind/hello; \
         (echo x > /mnt/bind/new) 2>/dev/null && echo bind-writable || echo bind-ro; \
         (echo x > /mnt/tmp/new) && echo tmp-writable",
    );
    let (mi, rest) = out.split_once("===\n").unwrap();
    let m = mountinfo(mi);
    let has = |mp: &str, opt: &str| {
        let (o, _) = m.get(mp).unwrap_or_else(|| panic!("{mp} not mounted:\n{mi}"));
        assert!(o.iter().any(|x| x == opt), "{mp} lacks {opt}: {o:?}");
    };
    has("/sys", "ro");
    has("/sys", "nosuid");
    has("/mnt/bind", "ro");
    has("/mnt/bind", "nosuid");
    has("/mnt/bind", "nodev");
    has("/mnt/tmp", "noexec");
    has("/mnt/tmp", "nosuid");
    has("/dev", "nosuid");
    has("/dev/shm", "nodev");
    for (mp, ty) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
        ("/mnt/tmp", "tmpfs"),
    ] {
        assert_eq!(m.get(mp).map(|x| x.1.as_str()), Some(ty), "{mp} type:\n{mi}");
    }
    assert_eq!(rest, "from-host\nbind-ro\ntmp-writable\n");
    assert!(!src.join("new").exists());
    c.delete_and_check(None);
}

// config.md "Root": readonly true makes the root filesystem read-only.
#[test]
fn readonly_root() {
    let mut c = TestContainer::new("view-ro-root");
    c.set("/root/readonly", json!(true));
    let out = c.run_sh(
        "(touch /newfile) 2>/dev/null && echo root-writable || echo root-ro; \
         touch /dev/shm/ok && echo shm-writable; cat /proc/self/mountinfo",
    );
    let mut l = out.lines();
    assert_eq!(l.next(), Some("root-ro"), "{out}");
    assert_eq!(l.next(), Some("shm-writable"), "{out}");
    let m = mountinfo(&out);
    let (opts, _) = m.get("/").unwrap_or_else(|| panic!("no / in mountinfo: {out}"));
    assert!(opts.iter().any(|o| o == "ro"), "/ not ro: {opts:?}");
    assert!(!c.bpath("rootfs/newfile").exists());
    c.delete_and_check(None);
}

// config-linux.md "Masked Paths": masked paths MUST be unreadable/empty;
// "Readonly Paths": MUST be read-only.
#[test]
fn masked_and_readonly_paths() {
    let mut c = TestContainer::new("view-masked");
    fs::write(c.bpath("rootfs/etc/secret"), "top-secret\n").unwrap();
    fs::create_dir_all(c.bpath("rootfs/secretdir")).unwrap();
    fs::write(c.bpath("rootfs/secretdir/file"), "hidden\n").unwrap();
    fs::create_dir_all(c.bpath("rootfs/rodir")).unwrap();
    fs::create_dir_all(c.bpath("rootfs/rwdir")).unwrap();
    c.push("/linux/maskedPaths", json!("/etc/secret"));
    c.push("/linux/maskedPaths", json!("/secretdir"));
    c.push("/linux/readonlyPaths", json!("/rodir"));
    let out = c.run_sh(
        "echo kcore=$(head -c 16 /proc/kcore 2>/dev/null | wc -c); \
         echo secret=$(cat /etc/secret 2>/dev/null); \
         echo secretdir=$(ls /secretdir 2>/dev/null); \
         echo firmware=$(ls /sys/firmware 2>/dev/null | wc -l); \
         (touch /rodir/x) 2>/dev/null && echo rodir=writable || echo rodir=ro; \
         (touch /rwdir/x) 2>/dev/null && echo rwdir=writable || echo rwdir=ro; \
         (echo 1 > /proc/sys/kernel/ns_last_pid) 2>/dev/null && echo procsys=writable || echo procsys=ro; \
         (echo b > /proc/sysrq-trigger) 2>/dev/null && echo sysrq=writable || echo sysrq=ro",
    );
    let m: HashMap<_, _> = out.lines().filter_map(|l| l.split_once('=')).collect();
    assert_eq!(m["kcore"], "0", "/proc/kcore must be masked: {out}");
    assert_eq!(m["secret"], "", "masked file readable: {out}");
    assert_eq!(m["secretdir"], "", "masked dir listable: {out}");
    assert_eq!(m["firmware"], "0", "/sys/firmware must be masked: {out}");
    assert_eq!(m["rodir"], "ro", "{out}");
    assert_eq!(m["rwdir"], "writable", "{out}");
    assert_eq!(m["procsys"], "ro", "{out}");
    assert_eq!(m["sysrq"], "ro", "{out}");
    c.delete_and_check(None);
}

// config-linux.md "Default Devices": the runtime MUST supply null, zero,
// full, random, urandom, tty, console (with terminal) and ptmx (a bind or
// symlink to pts/ptmx). runtime-linux.md "Dev symbolic links": /dev/fd,
// stdin, stdout, stderr MUST be symlinks to /proc/self/fd/...
#[test]
fn default_devices_and_symlinks() {
    let mut c = TestContainer::new("view-devices");
    let out = c.run_sh(
        "for d in null zero full random urandom tty; do stat -c '%n|%F|%t|%T|%a' /dev/$d; done; \
         for l in fd stdin stdout stderr ptmx; do echo \"link $l $(readlink /dev/$l)\"; done; \
         head -c 4 /dev/zero | wc -c; echo ok > /dev/null && echo null-ok",
    );
    for (name, ma, mi) in [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)] {
        let path = format!("/dev/{name}");
        let line = out.lines().find(|l| l.starts_with(&format!("{path}|"))).unwrap_or_else(|| panic!("{path}: {out}"));
        let (_, ty, a, b) = parse_stat_dev(line).unwrap();
        assert_eq!(ty, "character special file", "{line}");
        assert_eq!((a, b), (ma, mi), "{path} major/minor: {line}");
        assert_eq!(host_dev(&path), Some((ma, mi)), "host sanity");
        assert!(line.ends_with("|666"), "{path} should be rw for all: {line}");
    }
    let links: HashMap<&str, &str> = out.lines().filter_map(|l| l.strip_prefix("link ")).filter_map(|l| l.split_once(' ')).collect();
    assert_eq!(links["fd"], "/proc/self/fd");
    assert_eq!(links["stdin"], "/proc/self/fd/0");
    assert_eq!(links["stdout"], "/proc/self/fd/1");
    assert_eq!(links["stderr"], "/proc/self/fd/2");
    // /dev/ptmx may be a symlink to pts/ptmx or a bind mount of it.
    assert!(links["ptmx"] == "pts/ptmx" || links["ptmx"] == "/dev/pts/ptmx" || links["ptmx"].is_empty(), "{out}");
    assert!(out.contains("\n4\nnull-ok\n"), "{out}");
    c.delete_and_check(None);
}

// config-linux.md "Devices": listed devices MUST be available in the container
// with the given type, major, minor, fileMode, uid and gid.
#[test]
fn extra_device_node() {
    let mut c = TestContainer::new("view-linux-devices");
    c.push(
        "/linux/devices",
        json!({"path": "/dev/conf-null", "type": "c", "major": 1, "minor": 3,
               "fileMode": 0o640, "uid": 0, "gid": 29}),
    );
    c.push("/linux/devices", json!({"path": "/dev/sub/conf-zero", "type": "c", "major": 1, "minor": 5}));
    let out = c.run_sh("stat -c '%n|%F|%t|%T|%a|%u|%g' /dev/conf-null; stat -c '%n|%F|%t|%T' /dev/sub/conf-zero");
    let mut l = out.lines();
    let first = l.next().unwrap();
    let (_, ty, a, b) = parse_stat_dev(first).unwrap();
    assert_eq!((ty.as_str(), a, b), ("character special file", 1, 3), "{out}");
    assert!(first.ends_with("|640|0|29"), "mode/uid/gid: {first}");
    let (_, ty, a, b) = parse_stat_dev(l.next().unwrap()).unwrap();
    assert_eq!((ty.as_str(), a, b), ("character special file", 1, 5), "{out}");
    c.delete_and_check(None);
}

// config-linux.md "Sysctl": kernel parameters MUST be set for the container.
#[test]
fn sysctl() {
    let mut c = TestContainer::new("view-sysctl");
    c.set("/linux/sysctl", json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "12345678"}));
    let out = c.run_sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax");
    assert_eq!(out, "1\n12345678\n");
    // The host's values are untouched (new net and ipc namespaces).
    assert_ne!(fs::read_to_string("/proc/sys/kernel/shmmax").unwrap().trim(), "12345678");
    c.delete_and_check(None);
}

// config-linux.md "User namespace mappings": uidMappings/gidMappings.
#[test]
fn user_namespace_mappings() {
    let mut c = TestContainer::new("view-userns");
    c.push("/linux/namespaces", json!({"type": "user"}));
    c.set("/linux/uidMappings", json!([{"containerID": 0, "hostID": 200000, "size": 65536}]));
    c.set("/linux/gidMappings", json!([{"containerID": 0, "hostID": 200000, "size": 65536}]));
    let out = c.run_sh("cat /proc/self/uid_map /proc/self/gid_map; id -u; readlink /proc/self/ns/user");
    let rows: Vec<Vec<&str>> = out.lines().take(2).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows, vec![vec!["0", "200000", "65536"]; 2], "{out}");
    let rest: Vec<&str> = out.lines().skip(2).collect();
    assert_eq!(rest[0], "0");
    assert_ne!(rest[1], host_ns("user"));
    c.delete_and_check(None);
}

// config-linux.md "Offset for Time Namespace": timeOffsets for a new time ns.
#[test]
fn time_namespace_offsets() {
    if skip_for("runc version 1.1", "runc 1.1 has no time namespace support") {
        return;
    }
    let mut c = TestContainer::new("view-timens");
    c.push("/linux/namespaces", json!({"type": "time"}));
    c.set("/linux/timeOffsets", json!({"monotonic": {"secs": 86400, "nanosecs": 0}, "boottime": {"secs": 172800, "nanosecs": 0}}));
    let out = c.run_sh("cat /proc/self/timens_offsets; readlink /proc/self/ns/time");
    // The kernel pads the columns with spaces; compare the words.
    let m: std::collections::HashMap<String, String> = kv(&out).into_iter().map(|(k, v)| (k, v.split_whitespace().collect::<Vec<_>>().join(" "))).collect();
    assert_eq!(m.get("monotonic").map(String::as_str), Some("86400 0"), "{out}");
    assert_eq!(m.get("boottime").map(String::as_str), Some("172800 0"), "{out}");
    assert!(out.lines().last().unwrap() != host_ns("time"));
    c.delete_and_check(None);
}

// config.md "Process": terminal true -> the runtime allocates a pty and sends
// its master over --console-socket (runc CLI convention, used by all engines).
#[test]
fn terminal_console_socket() {
    let mut c = TestContainer::new("view-terminal");
    c.set("/process/terminal", json!(true));
    c.sh("echo hello-tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-tty; tty; stat -c '%F|%t|%T' /dev/console");
    c.write_config();
    let sock = ConsoleSocket::listen(&c.base.join("console.sock"));
    let path = sock.path.display().to_string();
    c.create_with(&["--console-socket", &path]).ok();
    let master = sock.master(Duration::from_secs(5)).expect("pty master via SCM_RIGHTS");
    c.start().ok();
    let out = read_pty(master, Duration::from_secs(5)).replace("\r\n", "\n");
    assert!(out.contains("hello-tty\n"), "{out:?}");
    assert!(out.contains("stdio-is-tty\n"), "{out:?}");
    assert!(out.contains("/dev/pts/"), "tty should be a pts: {out:?}");
    // config-linux.md "Default Devices": /dev/console when terminal is enabled.
    assert!(
        out.contains("character special file|88|") || out.contains("character special file|88"),
        "/dev/console must be the pty (major 136 = 0x88): {out:?}"
    );
    c.wait_status("stopped", Duration::from_secs(10)).unwrap();
    c.delete_and_check(None);
}
