//! Storage: a named volume shared by two containers, a read-only bind, tmpfs
//! modes, a read-only root, and an rshared bind whose mounts propagate both
//! ways.

use std::path::{Path, PathBuf};
use std::time::Duration;

use integration::engine::Engine;
use integration::scenario::Group;
use integration::{run_timeout, show};

use super::{err, name, ok, out, wait_until};

/// Every scenario of this module.
pub fn all(g: &mut Group) {
    g.scenario("named_volume_shared", named_volume_shared);
    g.scenario("bind_read_only", bind_read_only);
    g.scenario("tmpfs_mode_kept", tmpfs_mode_kept);
    g.scenario("read_only_rootfs", read_only_rootfs);
    g.scenario("rshared_bind_propagates_both_ways", rshared_bind_propagates_both_ways);
}

/// One container writes a named volume, another reads it while the first
/// runs, and the first sees what the second wrote.
pub fn named_volume_shared(e: &Engine) {
    let mark = e.calls_mark();
    let (v, a) = (name("vol"), name("va"));
    e.ok(&["volume", "create", &v]);
    let mnt = format!("{v}:/data");
    let script = "echo from-a > /data/a; while [ ! -f /data/b ]; do sleep 0.1; done; cat /data/b; sleep 1000";
    ok(e, &e.run(&["-d", "--network", "none", "--name", &a, "-v", &mnt, &e.image, "sh", "-c", script]), "run writer");
    let o = e.run(&["--rm", "--network", "none", "-v", &mnt, &e.image, "sh", "-c", "cat /data/a; echo from-b > /data/b"]);
    assert_eq!(ok(e, &o, "run reader"), "from-a");
    assert!(
        wait_until(Duration::from_secs(10), || out(&e.cli(&["logs", &a])).contains("from-b")),
        "first container did not see the second's file: {}",
        show(&e.cli(&["logs", &a]))
    );
    e.rm_f(&a);
    e.ok(&["volume", "rm", &v]);
    e.assert_called(mark, "create --bundle");
}

/// A bind mount with `:ro`: readable, and writing fails with EROFS.
pub fn bind_read_only(e: &Engine) {
    let src = e.sb.dir.join(name("ro"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "host-file\n").unwrap();
    let mnt = format!("{}:/m:ro", src.display());
    let o = e.run(&["--rm", "--network", "none", "-v", &mnt, &e.image, "sh", "-c", "cat /m/f; echo x > /m/new"]);
    assert_ne!(o.status.code(), Some(0), "write to a :ro bind succeeded: {}", show(&o));
    assert_eq!(out(&o), "host-file", "{}", show(&o));
    assert!(err(&o).contains("Read-only file system"), "{}", show(&o));
    assert!(!src.join("new").exists(), "file written through a :ro bind");
    std::fs::remove_dir_all(&src).unwrap();
}

/// `--tmpfs` keeps the mode: `mode=0750` gives 750; with no mode, the
/// tmpfs takes the mode of the image's directory (/secret is 0710, as runc
/// does). Podman's tmpfs also copies the directory's content up
/// (tmpcopyup).
pub fn tmpfs_mode_kept(e: &Engine) {
    let script = "stat -c %a /secret; stat -c %a /scratch; ls /secret; grep -E ' /(secret|scratch) ' /proc/mounts | cut -d' ' -f3 | sort -u";
    let o = e.run(&["--rm", "--network", "none", "--tmpfs", "/secret", "--tmpfs", "/scratch:mode=0750", &e.image, "sh", "-c", script]);
    let text = ok(e, &o, "run --tmpfs");
    let lines: Vec<&str> = text.lines().collect();
    let mut wrong = Vec::new();
    if lines.first() != Some(&"710") {
        wrong.push("tmpfs on /secret lost the directory's mode 710");
    }
    if lines.get(1) != Some(&"750") {
        wrong.push("mode=0750 not kept");
    }
    if lines.last() != Some(&"tmpfs") {
        wrong.push("not tmpfs");
    }
    if !e.is_docker() && !lines.contains(&"keep") {
        wrong.push("tmpcopyup did not copy /secret/keep");
    }
    assert!(wrong.is_empty(), "{}: got {text:?}", wrong.join("; "));
}

/// `--read-only`: the root cannot be written.
pub fn read_only_rootfs(e: &Engine) {
    let o = e.run(&["--rm", "--network", "none", "--read-only", &e.image, "sh", "-c", "grep ' / ' /proc/mounts; touch /etc/x"]);
    assert_ne!(o.status.code(), Some(0), "wrote to a read-only root: {}", show(&o));
    assert!(err(&o).contains("Read-only file system"), "{}", show(&o));
    assert!(out(&o).split_whitespace().nth(3).is_some_and(|opts| opts.split(',').any(|x| x == "ro")), "{}", show(&o));
}

/// Unmounts everything at and under a directory inside the engine's
/// namespace when dropped (the test's shared mount and what propagated).
struct UmountGuard<'a>(&'a Engine, PathBuf);

impl Drop for UmountGuard<'_> {
    fn drop(&mut self) {
        let mut c = self.0.ns.command("umount");
        c.arg("-R").arg(&self.1);
        let _ = run_timeout(c, Duration::from_secs(10));
    }
}

fn in_ns(e: &Engine, script: &str) -> std::process::Output {
    let mut c = e.ns.command("sh");
    c.args(["-c", script]);
    run_timeout(c, Duration::from_secs(20))
}

/// `-v SRC:DST:rshared` with SRC a shared mount on the engine's side: a
/// mount made inside the container appears at SRC, and one made at SRC
/// appears inside.
pub fn rshared_bind_propagates_both_ways(e: &Engine) {
    let src: PathBuf = e.sb.dir.join(name("shared"));
    std::fs::create_dir_all(&src).unwrap();
    let s = src.display().to_string();
    let o = in_ns(e, &format!("mount --bind {s} {s} && mount --make-shared {s}"));
    assert!(o.status.success(), "make {s} a shared mount: {}", show(&o));
    let _guard = UmountGuard(e, src.clone());

    let n = name("rs");
    let mnt = format!("{s}:/shared:rshared");
    let script = "mkdir -p /shared/in && mount -t tmpfs tmpfs /shared/in && echo inside > /shared/in/f && echo mounted; sleep 1000";
    let o = e.run(&["-d", "--network", "none", "--cap-add", "SYS_ADMIN", "--name", &n, "-v", &mnt, &e.image, "sh", "-c", script]);
    ok(e, &o, "run -v :rshared");
    assert!(wait_until(Duration::from_secs(10), || out(&e.cli(&["logs", &n])).contains("mounted")), "{}", show(&e.cli(&["logs", &n])));
    assert_eq!(e.inspect(&n, "{{range .Mounts}}{{.Propagation}}{{end}}"), "rshared");
    // The container's mount, seen on the engine's side.
    let o = in_ns(e, &format!("cat {s}/in/f"));
    assert_eq!(out(&o), "inside", "container's mount did not propagate out: {}", show(&o));
    // One made on the engine's side, seen inside.
    let o = in_ns(e, &format!("mkdir -p {s}/out && mount -t tmpfs tmpfs {s}/out && echo outside > {s}/out/f"));
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(e.ok(&["exec", &n, "cat", "/shared/out/f"]), "outside", "engine-side mount did not propagate in");
    e.rm_f(&n);
    drop(_guard);
    assert!(e.ns.mounts_under(Path::new(&s)).is_empty(), "{:?}", e.ns.mounts_under(Path::new(&s)));
    std::fs::remove_dir_all(&src).unwrap();
}
