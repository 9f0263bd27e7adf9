//! A network and mount namespace of a test's own, for an engine and
//! everything it starts.
//!
//! [`EngineNs::new`] starts a holder process under `unshare --net --mount
//! --propagation private`: in the new namespaces it brings `lo` up, mounts a
//! sysfs of the new network namespace over /sys (with the host's cgroup
//! hierarchies bound back in), and a private tmpfs over /run (so the
//! engines' /run/netns, /run/containers, xtables lock and such never touch
//! the host), then sleeps. Engines and the clients that must share their view
//! run through [`EngineNs::command`] (`nsenter` into the holder's namespaces).
//!
//! Bridges, veths, iptables rules and published ports are made inside, so
//! they live and die with the namespace; the only addresses are loopback
//! and those of the bridges inside it. Dropping the guard SIGKILLs every
//! process in either namespace (all of them started by the test), then the
//! holder: the namespaces and every mount made in them go with it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A holder process owning a network and a mount namespace.
pub struct EngineNs {
    holder: Option<Child>,
    /// The holder's pid (target of `nsenter`).
    pub pid: i32,
    /// `net:[inode]` of the namespace.
    net: String,
    /// `mnt:[inode]` of the namespace.
    mnt: String,
    /// Whether the holder also has a cgroup namespace of ours.
    cgroupns: bool,
}

const SETUP: &str = r#"set -e
ip link set lo up
mount -t sysfs sysfs "$1"
mount --rbind /sys/fs/cgroup "$1/fs/cgroup"
mount --move "$1" /sys
mount -t tmpfs -o mode=0755 tmpfs /run
echo ready
exec sleep infinity
"#;

/// For [`EngineNs::new_in_cgroup`]: joins our cgroup (files in "$@"), then
/// a new cgroup namespace rooted there, whose hierarchies ($HIER:
/// `name:options` words) it mounts afresh.
const SETUP_CGROUPNS: &str = r#"set -e
stage=$1; shift
for f in "$@"; do echo $$ > "$f"; done
exec unshare --cgroup -- sh -c '
set -e
ip link set lo up
mount -t sysfs sysfs "$1"
mount -t tmpfs -o mode=0755 tmpfs "$1/fs/cgroup"
for h in $HIER; do
    n=${h%%:*}; o=${h#*:}
    mkdir "$1/fs/cgroup/$n"
    if [ "$o" = cgroup2 ]; then mount -t cgroup2 cgroup2 "$1/fs/cgroup/$n"
    else mount -t cgroup -o "$o" cgroup "$1/fs/cgroup/$n"; fi
done
mount --move "$1" /sys
mount -t tmpfs -o mode=0755 tmpfs /run
echo ready
exec sleep infinity
' sh "$stage"
"#;

/// The machine's cgroup hierarchies under /sys/fs/cgroup: (directory name,
/// mount options: the v1 controllers or `name=...`, or `cgroup2`).
fn hierarchies() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for l in std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default().lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let Some(dash) = f.iter().position(|x| *x == "-") else { continue };
        let (point, fstype, sopts) = (f[4], f.get(dash + 1).copied().unwrap_or(""), f.get(dash + 3).copied().unwrap_or(""));
        let Some(name) = point.strip_prefix("/sys/fs/cgroup/") else { continue };
        match fstype {
            "cgroup" => {
                let opts: Vec<&str> = sopts.split(',').filter(|o| *o != "rw" && *o != "ro").collect();
                out.push((name.to_string(), opts.join(",")));
            }
            "cgroup2" => out.push((name.to_string(), "cgroup2".into())),
            _ => {}
        }
    }
    out
}

impl EngineNs {
    /// New namespaces; `dir` (a test's private directory) holds a staging
    /// directory. Commands run inside start in `/`.
    pub fn new(dir: &Path) -> Result<EngineNs, String> {
        Self::spawn(dir, None)
    }

    /// Like [`EngineNs::new`], and the holder also joins our cgroup `rel`
    /// (e.g. `berth-test/pm-1`, made here in every hierarchy) and a new
    /// cgroup namespace rooted there, with the hierarchies mounted afresh:
    /// inside, `/` of every hierarchy is our cgroup, so even an engine's
    /// default cgroup parent (Podman's `/libpod_parent`) lands in it.
    pub fn new_in_cgroup(dir: &Path, rel: &str) -> Result<EngineNs, String> {
        assert!(rel.starts_with("berth-test/") && !rel.contains(".."), "not one of our cgroups: {rel}");
        Self::spawn(dir, Some(rel))
    }

    fn spawn(dir: &Path, cgroup: Option<&str>) -> Result<EngineNs, String> {
        let stage = dir.join("ns-sys");
        std::fs::create_dir_all(&stage).map_err(|e| format!("mkdir {}: {e}", stage.display()))?;
        let mut cmd = Command::new("unshare");
        cmd.args(["--net", "--mount", "--propagation", "private", "--", "sh", "-c"]);
        match cgroup {
            None => {
                cmd.args([SETUP, "sh"]).arg(&stage);
            }
            Some(rel) => {
                cmd.args([SETUP_CGROUPNS, "sh"]).arg(&stage);
                let hier = hierarchies();
                for (name, _) in &hier {
                    let base = Path::new("/sys/fs/cgroup").join(name);
                    // The shared parent may vanish under another test's
                    // clean-up while we walk down: start again.
                    let mut tries = 0;
                    let d = loop {
                        match make_cgroup_path(&base, rel) {
                            Ok(d) => break d,
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 3 => tries += 1,
                            Err(e) => return Err(format!("make cgroup {rel} under {}: {e}", base.display())),
                        }
                    };
                    cmd.arg(d.join("cgroup.procs"));
                }
                let words: Vec<String> = hier.iter().map(|(n, o)| format!("{n}:{o}")).collect();
                cmd.env("HIER", words.join(" "));
            }
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("spawn unshare: {e}"))?;
        let pid = child.id() as i32;
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        if line.trim() != "ready" {
            let _ = child.kill();
            let out = child.wait_with_output().map_err(|e| e.to_string())?;
            return Err(format!("namespace holder failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let link = |k: &str| std::fs::read_link(format!("/proc/{pid}/ns/{k}")).map(|p| p.display().to_string());
        let (net, mnt) = match (link("net"), link("mnt")) {
            (Ok(n), Ok(m)) => (n, m),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("cannot read the holder's namespaces".into());
            }
        };
        let own = std::fs::read_link("/proc/self/ns/net").map(|p| p.display().to_string()).unwrap_or_default();
        assert_ne!(net, own, "holder shares our network namespace");
        Ok(EngineNs { holder: Some(child), pid, net, mnt, cgroupns: cgroup.is_some() })
    }

    /// `program` run inside the namespaces (nsenter execs it, so a spawned
    /// command's pid is the program's).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let enter = self.enter_args();
        let mut cmd = Command::new(&enter[0]);
        cmd.args(&enter[1..]).arg(program);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// The `nsenter ... --` words that [`EngineNs::command`] puts before a
    /// program, for code that builds its commands later (e.g. a containerd
    /// restarted inside).
    pub fn enter_args(&self) -> Vec<String> {
        let mut v: Vec<String> = ["nsenter", "--target", &self.pid.to_string(), "--net", "--mount"].map(String::from).into();
        if self.cgroupns {
            v.push("--cgroup".into());
        }
        // No --wd: nsenter opens that directory before it enters the mount
        // namespace, leaving an "(unreachable)" cwd; without it the kernel
        // starts the program at the namespace's root.
        v.push("--".into());
        v
    }

    /// Bind-mounts `src` over `dst` inside the mount namespace only (e.g. an
    /// install's `usr/local/bin` over `/usr/local/bin`): the host never
    /// sees it, and it goes with the namespace.
    pub fn bind_mount(&self, src: &Path, dst: &Path) -> Result<(), String> {
        let mut cmd = self.command("mount");
        cmd.arg("--bind").arg(src).arg(dst);
        let out = crate::process::run_timeout(cmd, Duration::from_secs(20));
        if !out.status.success() {
            return Err(format!("mount --bind {} {} in the namespace: {}", src.display(), dst.display(), crate::process::show(&out)));
        }
        Ok(())
    }

    /// Bind-mounts `src` (a host path) over `target` inside the mount
    /// namespace only: it is private, so the host never sees the mount,
    /// which goes with the namespace.
    pub fn bind(&self, src: &Path, target: &Path) -> Result<(), String> {
        let mut cmd = self.command("mount");
        cmd.arg("--bind").arg(src).arg(target);
        let out = crate::process::run_timeout(cmd, Duration::from_secs(20));
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("mount --bind {} {} in the namespace: {}", src.display(), target.display(), crate::process::show(&out)))
        }
    }

    /// Runs `busybox <args>` inside (e.g. `wget -qO- http://127.0.0.1:8080/`).
    pub fn busybox(&self, args: &[&str], timeout: Duration) -> std::process::Output {
        let mut cmd = self.command("busybox");
        cmd.args(args);
        crate::process::run_timeout(cmd, timeout)
    }

    /// `/proc/<holder>/ns/net`, for `nsenter --net=`.
    pub fn net_path(&self) -> String {
        format!("/proc/{}/ns/net", self.pid)
    }

    /// The mount table as seen inside.
    pub fn mountinfo(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/mountinfo", self.pid)).unwrap_or_default()
    }

    /// Mount points inside at or under `dir`.
    pub fn mounts_under(&self, dir: &Path) -> Vec<String> {
        let prefix = dir.display().to_string();
        self.mountinfo().lines().filter_map(|l| l.split(' ').nth(4).map(str::to_string)).filter(|p| p.starts_with(&prefix)).collect()
    }

    /// Network namespaces pinned by a mount inside (nsfs bind mounts such
    /// as /run/netns/* or an engine's exec-root/netns/*).
    pub fn netns_mounts(&self) -> Vec<String> {
        self.mountinfo()
            .lines()
            .filter(|l| l.split(" - ").nth(1).is_some_and(|t| t.starts_with("nsfs ")))
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .collect()
    }

    /// Processes (pid, command line) in our network or mount namespace,
    /// the holder excepted: every one of them was started by the test.
    pub fn processes(&self) -> Vec<(i32, String)> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            if pid == self.pid {
                continue;
            }
            let ns = |k: &str| std::fs::read_link(e.path().join("ns").join(k)).map(|p| p.display().to_string());
            let inside = ns("net").is_ok_and(|n| n == self.net) || ns("mnt").is_ok_and(|m| m == self.mnt);
            if inside {
                let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                let cmdline: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).to_string()).collect();
                out.push((pid, cmdline.join(" ").trim().to_string()));
            }
        }
        out
    }

    /// SIGKILLs every process of [`EngineNs::processes`], a few rounds
    /// (a dying parent may still fork), and waits until none is left.
    pub fn kill_all(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = self.processes();
            if left.is_empty() || Instant::now() > deadline {
                return;
            }
            let pids: Vec<i32> = left.iter().map(|(p, _)| *p).collect();
            crate::process::kill_pids(&pids);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for EngineNs {
    fn drop(&mut self) {
        self.kill_all();
        if let Some(mut h) = self.holder.take() {
            let _ = h.kill();
            let _ = h.wait();
        }
    }
}

/// Make the cgroup `rel` below the hierarchy root `base`, level by level,
/// giving each new v1 cpuset its parent's cpus and mems (a new one starts
/// with none and refuses tasks). Returns its directory.
fn make_cgroup_path(base: &Path, rel: &str) -> std::io::Result<std::path::PathBuf> {
    let mut d = base.to_path_buf();
    for part in rel.split('/') {
        let parent = d.clone();
        d = d.join(part);
        match std::fs::create_dir(&d) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if std::fs::read_to_string(d.join(f)).is_ok_and(|v| v.trim().is_empty()) {
                let v = std::fs::read_to_string(parent.join(f)).unwrap_or_default();
                std::fs::write(d.join(f), v.trim())?;
            }
        }
    }
    Ok(d)
}
