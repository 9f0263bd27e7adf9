//! Replays the configs and process files real engines sent (captured on this
//! host: `fixtures/engines/`, see its README) through the runtime under test.
//!
//! Each test loads one fixture, fills its placeholders (`@CGROUP@`,
//! `@BUNDLE@/files|dirs/...`, `@NETNS@`, `/proc/@HOLDER_PID@/ns/*`), keeps
//! everything else exactly as the engine sent it, and replaces only
//! `process.args` with a probe script (plus the harness's marker variable in
//! `process.env`, and `terminal: false` unless the test drives a pty). It runs
//! the container the way the engine did (`create` + `start`; `exec --process
//! --detach --pid-file` for exec fixtures) and checks what the config
//! promises, the way runc honours it: user, groups, HOME, cwd, capabilities
//! (ambient ones only where the kernel allows them), rlimits, umask,
//! no_new_privs, seccomp, namespaces (new, joined by path, or shared with the
//! runtime), lo up in a new network namespace, hostname, sysctls, every
//! mount (present, type, ro, propagation, tmpfs mode, tmpcopyup), masked and
//! read-only paths, devices (node and device-cgroup access), cgroup limits,
//! and that a process of any uid can open /dev/stdout. Afterwards `delete`
//! must leave nothing (state, cgroups, processes, mounts), as in errors.rs.
//!
//! Run against runc: `OCI_RUNTIME=runc cargo test --release -p conformance
//! --test engine_configs`. Where runc 1.1 itself does not do what the config
//! says, the check is skipped for it with a printed reason (`skip_for`).

use conformance::*;
use serde_json::{json, Value};
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/engines");
const WAIT: Duration = Duration::from_secs(15);

fn fixture(name: &str) -> Value {
    let p = format!("{FIXTURES}/{name}.json");
    serde_json::from_str(&fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}")))
        .unwrap_or_else(|e| panic!("{p}: {e}"))
}

// ---------------------------------------------------------------------------
// Placeholders
// ---------------------------------------------------------------------------

/// A network namespace pinned the way engines pin one: nsfs bind-mounted on
/// a plain file (`unshare --net=FILE`, as `ip netns add` does under
/// /run/netns, but inside the test directory so the host's /run/netns mount
/// table is not touched). Unmounted by [`NetnsFile::release`] or on drop.
struct NetnsFile {
    path: PathBuf,
}

impl NetnsFile {
    fn new(path: PathBuf) -> NetnsFile {
        File::create(&path).expect("create netns file");
        let st = std::process::Command::new("unshare")
            .arg(format!("--net={}", path.display()))
            .arg("true")
            .stdin(Stdio::null())
            .status()
            .expect("run unshare --net=FILE");
        assert!(st.success(), "unshare --net={} failed", path.display());
        NetnsFile { path }
    }
    /// `net:[inode]`, as readlink(/proc/self/ns/net) shows it inside.
    fn ns(&self) -> String {
        format!("net:[{}]", fs::metadata(&self.path).expect("stat netns file").ino())
    }
    fn release(&mut self) {
        let c = std::ffi::CString::new(self.path.display().to_string()).unwrap();
        // SAFETY: umount2 with a valid C string; the mount is our own.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        let _ = fs::remove_file(&self.path);
        assert!(mounts_under(&self.path).is_empty(), "netns mount left on {}", self.path.display());
    }
}

impl Drop for NetnsFile {
    fn drop(&mut self) {
        if self.path.exists() {
            self.release();
        }
    }
}

fn map_strings(v: &mut Value, f: &impl Fn(&str) -> String) {
    match v {
        Value::String(s) => *s = f(s),
        Value::Array(a) => a.iter_mut().for_each(|x| map_strings(x, f)),
        Value::Object(o) => o.values_mut().for_each(|x| map_strings(x, f)),
        _ => {}
    }
}

/// Content of a bind-mount source file the engine would have written.
fn source_content(name: &str) -> &'static str {
    match name {
        "hosts" => "127.0.0.1\tlocalhost\n::1\tlocalhost\n",
        "hostname" => "fixture-host\n",
        "resolv.conf" => "nameserver 127.0.0.1\n",
        ".containerenv" => "engine=\"podman-fixture\"\n",
        _ => "",
    }
}

// ---------------------------------------------------------------------------
// Probe
// ---------------------------------------------------------------------------

/// What the probe printed: `key=value` lines.
struct Probe {
    out: String,
    err: String,
}

impl Probe {
    fn all(&self, key: &str) -> Vec<&str> {
        self.out
            .lines()
            .filter_map(|l| l.trim_end_matches('\r').split_once('='))
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .collect()
    }
    fn get(&self, key: &str) -> Option<&str> {
        self.all(key).into_iter().next()
    }
    fn done(&self) -> bool {
        self.out.lines().any(|l| l.trim_end_matches('\r') == "probe-done")
    }
    /// The topmost mountinfo entry at `dest`: (options, optional fields, fstype).
    fn mount(&self, dest: &str) -> Option<(String, String, String)> {
        self.all("mi")
            .into_iter()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                let sep = f.iter().position(|x| *x == "-")?;
                (f.get(4)? == &dest).then(|| (f[5].to_string(), f[6..sep].join(" "), f[sep + 1].to_string()))
            })
            .last()
    }
}

const PROBE_BASE: &str = r#"p() { echo "$1=$2"; }
p uid "$(id -u)"; p gid "$(id -g)"; p groups "$(id -G)"
p home "${HOME-<unset>}"
p cwd "$(pwd)"
for k in net ipc uts pid mnt cgroup user; do p "ns:$k" "$(readlink /proc/self/ns/$k)"; done
p lo "$(cat /sys/class/net/lo/flags 2>&1)"
p hostname "$(hostname)"
p domainname "$(cat /proc/sys/kernel/domainname)"
if echo probe-stdout >> /dev/stdout; then p stdout ok; else p stdout fail; fi
while IFS=":	" read -r k v; do case "$k" in Cap*|NoNewPrivs|Seccomp) p "$k" "$(echo $v)";; esac; done < /proc/self/status
p nofile "$(ulimit -n)"; p nproc "$(ulimit -u)"; p umask "$(umask)"
env | while read -r l; do p env "$l"; done
while read -r l; do p mi "$l"; done < /proc/self/mountinfo
p rootwrite "$( (touch /.probe-write && echo ok) 2>&1)"
"#;

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The probe for a process of `cfg` (a whole config; for exec only its
/// `process` matters): the base lines plus what this config asks for.
fn probe_script(cfg: &Value, extra: &str, hold: bool) -> String {
    let mut s = String::from(PROBE_BASE);
    if let Some(m) = cfg.pointer("/linux/sysctl").and_then(Value::as_object) {
        for k in m.keys() {
            s += &format!("p {} \"$(echo $(cat /proc/sys/{}))\"\n", sh_quote(&format!("sysctl:{k}")), k.replace('.', "/"));
        }
    }
    for p in strs(cfg, "/linux/maskedPaths") {
        let q = sh_quote(&p);
        s += &format!(
            "if [ -d {q} ]; then p 'masked:{p}' \"$(ls -A {q} | wc -l)\"; elif [ -e {q} ]; then p 'masked:{p}' \"$(wc -c < {q} 2>&1)\"; else p 'masked:{p}' absent; fi\n"
        );
    }
    for p in strs(cfg, "/linux/readonlyPaths") {
        s += &format!("if [ -e {} ]; then p 'exists:{p}' yes; else p 'exists:{p}' no; fi\n", sh_quote(&p));
    }
    for d in cfg.pointer("/linux/devices").and_then(Value::as_array).into_iter().flatten() {
        let p = d["path"].as_str().unwrap_or_default();
        let q = sh_quote(p);
        s += &format!("p 'dev:{p}' \"$(stat -c '%F %t:%T %a %u:%g' {q} 2>&1)\"\n");
        s += &format!("p 'devr:{p}' \"$( (exec 3<{q} && echo ok) 2>&1)\"\n");
        s += &format!("p 'devw:{p}' \"$( (exec 3>{q} && echo ok) 2>&1)\"\n");
    }
    for m in cfg.pointer("/mounts").and_then(Value::as_array).into_iter().flatten() {
        if m["type"] == "tmpfs" {
            let d = m["destination"].as_str().unwrap_or_default();
            let q = sh_quote(d);
            s += &format!("p 'mode:{d}' \"$(stat -c %a {q})\"; p 'ls:{d}' \"$(ls -A {q} | tr '\\n' ' ')\"\n");
        }
    }
    s += extra;
    s += "\necho probe-done\n";
    if hold {
        // Kept alive so the test can read the cgroup from the host.
        s += "exec sleep 60\n";
    }
    s
}

fn strs(v: &Value, ptr: &str) -> Vec<String> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn caps(v: &Value, set: &str) -> u64 {
    let names = strs(v, &format!("/capabilities/{set}"));
    cap_mask(&names.iter().map(String::as_str).collect::<Vec<_>>())
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/// Checks of one process against its `process` object.
fn check_process(p: &Probe, process: &Value, errs: &mut Vec<String>) {
    let mut want = |k: &str, v: String| {
        let got = p.get(k).unwrap_or("<missing>");
        if got != v {
            errs.push(format!("{k}: want {v:?}, got {got:?}"));
        }
    };
    let uid = process.pointer("/user/uid").and_then(Value::as_u64).unwrap_or(0);
    let gid = process.pointer("/user/gid").and_then(Value::as_u64).unwrap_or(0);
    want("uid", uid.to_string());
    want("gid", gid.to_string());
    let env: Vec<String> = strs(process, "/env");
    // runc: HOME from the image's /etc/passwd when the engine sent none;
    // "/" for a uid that has no entry (the busybox rootfs knows root only).
    let home = env.iter().find_map(|e| e.strip_prefix("HOME=").map(str::to_string)).unwrap_or_else(|| {
        if uid == 0 { "/root".into() } else { "/".into() }
    });
    want("home", home);
    want("cwd", process["cwd"].as_str().unwrap_or("/").to_string());
    want("stdout", "ok".into());
    // Kernel rules after execve (no file capabilities): ambient only where
    // also permitted and inheritable; root gets bounding | inheritable.
    let (bnd, inh, prm, amb) = (caps(process, "bounding"), caps(process, "inheritable"), caps(process, "permitted"), caps(process, "ambient"));
    let amb = amb & inh & prm;
    let eff = if uid == 0 { bnd | inh | amb } else { amb };
    let hex = |m: u64| format!("{m:016x}");
    want("CapBnd", hex(bnd));
    want("CapInh", hex(inh));
    want("CapPrm", hex(eff));
    want("CapEff", hex(eff));
    want("CapAmb", hex(amb));
    let nnp = process["noNewPrivileges"].as_bool().unwrap_or(false);
    want("NoNewPrivs", if nnp { "1" } else { "0" }.into());
    for r in process["rlimits"].as_array().into_iter().flatten() {
        let key = match r["type"].as_str() {
            Some("RLIMIT_NOFILE") => "nofile",
            Some("RLIMIT_NPROC") => "nproc",
            _ => continue,
        };
        want(key, r["soft"].to_string());
    }
    if let Some(u) = process.pointer("/user/umask").and_then(Value::as_u64) {
        want("umask", format!("{u:04o}"));
    }
    let got_env: Vec<&str> = p.all("env");
    for e in &env {
        if !got_env.contains(&e.as_str()) {
            errs.push(format!("env {e:?} missing: {got_env:?}"));
        }
    }
}

/// What the test pinned for the placeholders.
#[derive(Default)]
struct Pins {
    netns: Option<String>,
    holder_pid: Option<i32>,
    bundle: PathBuf,
}

/// Checks of a container's init against its whole config.
fn check_config(p: &Probe, cfg: &Value, pins: &Pins, errs: &mut Vec<String>) {
    check_process(p, &cfg["process"], errs);
    let want_seccomp = if cfg.pointer("/linux/seccomp").is_some() { "2" } else { "0" };
    if p.get("Seccomp") != Some(want_seccomp) {
        errs.push(format!("Seccomp: want {want_seccomp}, got {:?}", p.get("Seccomp")));
    }
    // Namespaces: joined by path, new, or the runtime's own.
    let nss = cfg.pointer("/linux/namespaces").and_then(Value::as_array).cloned().unwrap_or_default();
    for (ty, kind) in [("network", "net"), ("ipc", "ipc"), ("uts", "uts"), ("pid", "pid"), ("mount", "mnt"), ("cgroup", "cgroup"), ("user", "user")] {
        let got = p.get(&format!("ns:{kind}")).unwrap_or("").to_string();
        match nss.iter().find(|n| n["type"] == ty) {
            Some(n) => match n["path"].as_str() {
                Some(path) => {
                    let want = if ty == "network" && pins.netns.as_deref() == Some(path) {
                        format!("net:[{}]", fs::metadata(path).map(|m| m.ino()).unwrap_or(0))
                    } else {
                        fs::read_link(path).map(|l| l.display().to_string()).unwrap_or_default()
                    };
                    if got != want {
                        errs.push(format!("{ty} namespace: want the one at {path} ({want}), got {got}"));
                    }
                }
                None => {
                    if got == host_ns(kind) {
                        errs.push(format!("{ty} namespace: want a new one, got the runtime's ({got})"));
                    }
                    // runc brings lo up in a network namespace it creates.
                    if ty == "network" && p.get("lo") != Some("0x9") {
                        errs.push(format!("lo in the new network namespace: want flags 0x9 (UP), got {:?}", p.get("lo")));
                    }
                }
            },
            None => {
                if got != host_ns(kind) {
                    errs.push(format!("{ty} namespace: want the runtime's ({}), got {got}", host_ns(kind)));
                }
            }
        }
    }
    let new_uts = nss.iter().any(|n| n["type"] == "uts" && n["path"].is_null());
    if let (true, Some(h)) = (new_uts, cfg["hostname"].as_str()) {
        if p.get("hostname") != Some(h) {
            errs.push(format!("hostname: want {h:?}, got {:?}", p.get("hostname")));
        }
    }
    if !nss.iter().any(|n| n["type"] == "uts") || !new_uts {
        // No UTS namespace of its own: the host's names stay.
        let host = fs::read_to_string("/proc/sys/kernel/domainname").unwrap_or_default();
        if p.get("domainname") != Some(host.trim()) {
            errs.push(format!("domainname: want the host's {host:?}, got {:?}", p.get("domainname")));
        }
    }
    if let Some(m) = cfg.pointer("/linux/sysctl").and_then(Value::as_object) {
        for (k, v) in m {
            let want = v.as_str().unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ");
            let got = p.get(&format!("sysctl:{k}")).unwrap_or("<missing>");
            if got != want {
                errs.push(format!("sysctl {k}: want {want:?}, got {got:?}"));
            }
        }
    }
    // Root filesystem.
    let ro_root = cfg.pointer("/root/readonly").and_then(Value::as_bool).unwrap_or(false);
    match p.mount("/") {
        None => errs.push("no mountinfo entry for /".into()),
        Some((opts, optional, _)) => {
            if ro_root != opts.split(',').any(|o| o == "ro") {
                errs.push(format!("/ mounted {opts}, root.readonly is {ro_root}"));
            }
            let prop = cfg.pointer("/linux/rootfsPropagation").and_then(Value::as_str).unwrap_or("");
            if prop.contains("shared")
                && !optional.contains("shared:")
                && !skip_for(
                    "runc version 1.1",
                    "runc 1.1 applies rootfsPropagation to the old / before pivot_root, then makes the rootfs's parent private and \
                     bind-mounts the rootfs onto itself, so the new / is never shared (seen here, also with a shared rootfs mount point)",
                )
            {
                errs.push(format!("rootfsPropagation {prop}: / should be a shared mount, mountinfo optional fields {optional:?}"));
            }
        }
    }
    let rootwrite = p.get("rootwrite").unwrap_or("");
    if ro_root && !rootwrite.contains("Read-only file system") {
        errs.push(format!("read-only root: writing / should fail with EROFS, got {rootwrite:?}"));
    }
    let uid = cfg.pointer("/process/user/uid").and_then(Value::as_u64).unwrap_or(0);
    if !ro_root && uid == 0 && rootwrite != "ok" {
        errs.push(format!("writable root: root should write /, got {rootwrite:?}"));
    }
    // Mounts, in the engine's words.
    for m in cfg["mounts"].as_array().into_iter().flatten() {
        let dest = m["destination"].as_str().unwrap_or_default();
        let ty = m["type"].as_str().unwrap_or_default();
        let opts = strs(m, "/options");
        let Some((mopts, optional, fstype)) = p.mount(dest) else {
            errs.push(format!("mount {dest} ({ty}) missing"));
            continue;
        };
        if ["proc", "sysfs", "tmpfs", "devpts", "mqueue"].contains(&ty) && fstype != ty {
            errs.push(format!("mount {dest}: type {fstype}, want {ty}"));
        }
        let ro = opts.iter().any(|o| o == "ro");
        if ty == "cgroup" && ro {
            // cgroup v1 (this hybrid host): a tmpfs holding one bind mount per
            // hierarchy; every hierarchy must be ro.
            let userns = cfg.pointer("/linux/namespaces").and_then(Value::as_array).is_some_and(|a| a.iter().any(|n| n["type"] == "user"));
            let skip = userns
                && skip_for("runc version 1.1", "runc 1.1 in a user namespace bind-mounts the cgroup v1 hierarchies without remounting them ro");
            // Only the hierarchies on the tmpfs the container sees: mounts
            // hidden under it (an rbind of /sys brings the host's along) are
            // out of reach and keep whatever their own mount gave them.
            let lines = p.all("mi");
            let top = lines.iter().rev().map(|l| l.split(' ').collect::<Vec<&str>>()).find(|f| f.len() > 4 && f[4] == dest).map(|f| f[0].to_string());
            for l in lines.iter().filter(|_| !skip) {
                let f: Vec<&str> = l.split(' ').collect();
                let on_top = top.as_deref().is_some_and(|t| f.get(1) == Some(&t));
                if f.len() > 5 && on_top && f[4].starts_with(&format!("{dest}/")) && !f[5].split(',').any(|o| o == "ro") {
                    errs.push(format!("mount {dest}: options {opts:?} say ro, {} mounted {}", f[4], f[5]));
                }
            }
        }
        if ro
            && !mopts.split(',').any(|o| o == "ro")
            && !(ty == "cgroup"
                && skip_for("runc version 1.1", &format!("runc 1.1 leaves the cgroup v1 tmpfs at {dest} rw (only the hierarchies below it ro)")))
        {
            errs.push(format!("mount {dest}: options {opts:?} say ro, mounted {mopts}"));
        }
        if opts.iter().any(|o| o == "rshared" || o == "shared") && !optional.contains("shared:") {
            errs.push(format!("mount {dest}: options {opts:?} say shared, mountinfo optional fields {optional:?}"));
        }
        if ty == "tmpfs" {
            let rootfs_dir = pins.bundle.join("rootfs").join(dest.trim_start_matches('/'));
            let mode_opt = opts.iter().find_map(|o| o.strip_prefix("mode="));
            let want_mode = match (mode_opt, fs::metadata(&rootfs_dir)) {
                (Some(m), _) => Some(format!("{:o}", u32::from_str_radix(m, 8).unwrap_or(0))),
                // runc: a tmpfs without mode= over an existing directory keeps its mode.
                (None, Ok(md)) if md.is_dir() => Some(format!("{:o}", md.mode() & 0o7777)),
                _ => None,
            };
            if let Some(w) = want_mode {
                if p.get(&format!("mode:{dest}")) != Some(w.as_str()) {
                    errs.push(format!("tmpfs {dest} ({opts:?}): mode want {w}, got {:?}", p.get(&format!("mode:{dest}"))));
                }
            }
            if opts.iter().any(|o| o == "tmpcopyup") {
                let listing = p.get(&format!("ls:{dest}")).unwrap_or("");
                for e in fs::read_dir(&rootfs_dir).into_iter().flatten().flatten() {
                    let n = e.file_name().to_string_lossy().to_string();
                    if !listing.split(' ').any(|x| x == n) {
                        errs.push(format!("tmpfs {dest} with tmpcopyup: the image's {n} was not copied up (listing {listing:?})"));
                    }
                }
            }
        }
    }
    for path in strs(cfg, "/linux/maskedPaths") {
        let got = p.get(&format!("masked:{path}")).unwrap_or("<missing>");
        if got != "absent" && got != "0" {
            errs.push(format!("masked path {path}: want empty, got {got:?}"));
        }
    }
    for path in strs(cfg, "/linux/readonlyPaths") {
        if p.get(&format!("exists:{path}")) == Some("yes") {
            match p.mount(&path) {
                Some((o, _, _)) if o.split(',').any(|x| x == "ro") => {}
                other => errs.push(format!("readonly path {path}: want a ro mount, got {other:?}")),
            }
        }
    }
    // Devices: the node, and the device cgroup's rule for it.
    let rules = cfg.pointer("/linux/resources/devices").and_then(Value::as_array).cloned().unwrap_or_default();
    for d in cfg.pointer("/linux/devices").and_then(Value::as_array).into_iter().flatten() {
        let path = d["path"].as_str().unwrap_or_default();
        let (ty, ma, mi) = (d["type"].as_str().unwrap_or(""), d["major"].as_u64().unwrap_or(0), d["minor"].as_u64().unwrap_or(0));
        let kind = if ty == "b" { "block special file" } else { "character special file" };
        let mode = d["fileMode"].as_u64().map(|m| format!("{:o}", m & 0o7777)).unwrap_or_default();
        let want = format!("{kind} {ma:x}:{mi:x} {mode} {}:{}", d["uid"].as_u64().unwrap_or(0), d["gid"].as_u64().unwrap_or(0));
        if p.get(&format!("dev:{path}")) != Some(want.as_str()) {
            errs.push(format!("device {path}: want {want:?}, got {:?}", p.get(&format!("dev:{path}"))));
        }
        // The last matching rule decides (config-linux.md "Allowed Device list").
        let access = rules
            .iter()
            .filter(|r| {
                r["type"].as_str().is_none_or(|t| t == "a" || t == ty)
                    && r["major"].as_u64().is_none_or(|x| x == ma)
                    && r["minor"].as_u64().is_none_or(|x| x == mi)
            })
            .last()
            .map(|r| if r["allow"].as_bool().unwrap_or(false) { r["access"].as_str().unwrap_or("rwm").to_string() } else { String::new() });
        if let Some(access) = access {
            let w = p.get(&format!("devw:{path}")).unwrap_or("");
            let r = p.get(&format!("devr:{path}")).unwrap_or("");
            if !access.contains('w') && !w.contains("Operation not permitted") {
                errs.push(format!("device {path}: rule access {access:?} has no w, a write open should fail with EPERM, got {w:?}"));
            }
            if access.contains('r') && r != "ok" {
                errs.push(format!("device {path}: rule access {access:?} allows r, a read open got {r:?}"));
            }
        }
    }
}

/// Host-side checks of the container's cgroup (v1 hierarchies of this
/// hybrid host), while its process still runs.
fn check_cgroup(c: &TestContainer, cfg: &Value, errs: &mut Vec<String>) {
    let dir = |ctl: &str| Path::new("/sys/fs/cgroup").join(ctl).join(CGROUP_PREFIX.trim_start_matches('/')).join(&c.id);
    let read = |ctl: &str, f: &str| fs::read_to_string(dir(ctl).join(f)).map(|s| s.trim().to_string()).unwrap_or_else(|e| format!("<{e}>"));
    let mut want = |ctl: &str, f: &str, v: String| {
        if !dir(ctl).is_dir() {
            return; // not a v1 hierarchy here
        }
        let got = read(ctl, f);
        if got != v {
            errs.push(format!("cgroup {ctl}/{f}: want {v:?}, got {got:?}"));
        }
    };
    let r = &cfg["linux"]["resources"];
    if let Some(l) = r.pointer("/memory/limit").and_then(Value::as_i64) {
        want("memory", "memory.limit_in_bytes", l.to_string());
    }
    if let Some(l) = r.pointer("/memory/swap").and_then(Value::as_i64) {
        want("memory", "memory.memsw.limit_in_bytes", l.to_string());
    }
    if let Some(l) = r.pointer("/pids/limit").and_then(Value::as_i64) {
        want("pids", "pids.max", if l > 0 { l.to_string() } else { "max".into() });
    }
    if let Some(s) = r.pointer("/cpu/shares").and_then(Value::as_u64).filter(|s| *s > 0) {
        want("cpu", "cpu.shares", s.to_string());
    }
    // Every allow rule shows in devices.list with exactly its access.
    if dir("devices").is_dir() {
        let list = read("devices", "devices.list");
        let rules = r["devices"].as_array().cloned().unwrap_or_default();
        let denies_all = rules.first().is_some_and(|x| x["allow"] == false && x["type"].is_null() && x["major"].is_null());
        if denies_all {
            for rule in rules.iter().skip(1).filter(|x| x["allow"] == true) {
                let n = |k: &str| rule[k].as_i64().map(|x| x.to_string()).unwrap_or("*".into());
                let line = format!("{} {}:{} {}", rule["type"].as_str().unwrap_or("a"), n("major"), n("minor"), rule["access"].as_str().unwrap_or("rwm"));
                if !list.lines().any(|l| l == line) {
                    errs.push(format!("devices.list lacks {line:?} (rule {rule}): {list:?}"));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Replay
// ---------------------------------------------------------------------------

struct Replay {
    c: TestContainer,
    fixture: String,
    netns: Option<NetnsFile>,
    holder: Option<NsHolder>,
    pins: Pins,
}

impl Replay {
    /// A container whose config is the fixture with its placeholders filled.
    fn new(name: &str) -> Replay {
        let mut c = TestContainer::new(&format!("ec-{name}"));
        let mut cfg = fixture(name);
        let text = cfg.to_string();
        let bundle = c.bundle.clone();
        let netns = text.contains("@NETNS@").then(|| NetnsFile::new(c.base.join("netns")));
        let holder = text.contains("@HOLDER_PID@").then(|| NsHolder::new(&["--net", "--ipc", "--uts"], &["net", "ipc", "uts"]));
        let pins = Pins {
            netns: netns.as_ref().map(|n| n.path.display().to_string()),
            holder_pid: holder.as_ref().map(NsHolder::pid),
            bundle: bundle.clone(),
        };
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
    fn probe(&mut self, extra: &str, hold: bool) {
        let script = probe_script(&self.c.config, extra, hold);
        self.c.set("/process/args", json!(["sh", "-c", script]));
        self.c.set("/process/terminal", json!(false));
    }

    /// create + start; waits for the probe's end. Returns what it printed
    /// and the init's pid.
    fn run(&self) -> (Probe, i32) {
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
        Probe {
            out: fs::read_to_string(&self.c.out_file).unwrap_or_default(),
            err: fs::read_to_string(&self.c.err_file).unwrap_or_default(),
        }
    }

    /// Ends the held probe, deletes the container as the engine would, and
    /// checks that nothing is left (state, cgroups, processes, mounts,
    /// the pinned namespaces).
    fn finish(mut self, pid: i32) {
        if process_alive(pid) {
            self.c.kill("KILL").ok();
        }
        self.c.wait_status("stopped", WAIT).unwrap();
        self.c.delete().ok();
        if let Some(mut n) = self.netns.take() {
            n.release();
        }
        self.c.assert_no_leaks(Some(pid));
        drop(self.holder.take());
    }

    fn check(&self, p: &Probe, errs: Vec<String>) {
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
fn replay(name: &str, extra_probe: &str, extra_check: impl FnOnce(&Probe, &Replay, &mut Vec<String>)) {
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

fn no_extra(_: &Probe, _: &Replay, _: &mut Vec<String>) {}

/// Runs `target` (held by a sleeping init), then `exec --process` of the
/// fixture `process` with the probe, as containerd's shim and conmon do.
fn replay_exec(target: &str, process: &str) {
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

// ---------------------------------------------------------------------------
// Docker 20.10 (dockerd → containerd → containerd-shim-runc-v2 → runtime)
// ---------------------------------------------------------------------------

#[test]
fn docker_run() {
    replay("docker-run", "", no_extra);
}

#[test]
fn docker_run_net_host() {
    // Docker pins the "host" network namespace on a file (exec-root/netns/default).
    replay("docker-run-net-host", "", |p, r, errs| {
        let want = r.netns.as_ref().unwrap().ns();
        if p.get("ns:net") != Some(want.as_str()) {
            errs.push(format!("--network host: want the netns file's namespace {want}, got {:?}", p.get("ns:net")));
        }
    });
}

#[test]
fn docker_run_net_none() {
    replay("docker-run-net-none", "", no_extra);
}

#[test]
fn docker_run_user() {
    replay("docker-run-user", "", no_extra);
}

#[test]
fn docker_run_read_only() {
    replay("docker-run-read-only", "p runwrite \"$( (touch /run/probe && echo ok) 2>&1)\"", |p, _, errs| {
        if p.get("runwrite") != Some("ok") {
            errs.push(format!("--tmpfs /run should be writable under a read-only root: {:?}", p.get("runwrite")));
        }
    });
}

#[test]
fn docker_run_device_read_only() {
    replay("docker-run-device", "", |p, _, errs| {
        if !p.get("devw:/dev/xloop").unwrap_or("").contains("Operation not permitted") {
            errs.push(format!("--device ...:r: a write open must fail with EPERM, got {:?}", p.get("devw:/dev/xloop")));
        }
    });
}

#[test]
fn docker_run_volume_rshared() {
    replay("docker-run-volume-rshared", "p volwrite \"$( (echo v > /dst/probe && echo ok) 2>&1)\"", |p, r, errs| {
        // (/dst being rshared and / shared are checked from the config.)
        if !r.pins.bundle.join("dirs/vol/probe").is_file() {
            errs.push(format!("the volume write did not reach the source: {:?}", p.get("volwrite")));
        }
    });
}

#[test]
fn docker_run_limits() {
    replay("docker-run-limits", "p memlimit \"$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)\"; p pidsmax \"$(cat /sys/fs/cgroup/pids/pids.max)\"", |p, _, errs| {
        if p.get("memlimit") != Some("67108864") || p.get("pidsmax") != Some("50") {
            errs.push(format!("inside: memory limit {:?} (want 67108864), pids.max {:?} (want 50)", p.get("memlimit"), p.get("pidsmax")));
        }
    });
}

/// `docker run -it`: terminal true, the pty comes back over --console-socket.
#[test]
fn docker_run_tty() {
    let mut r = Replay::new("docker-run-tty");
    r.probe("p tty \"$(tty)\"", false);
    r.c.set("/process/terminal", json!(true));
    let sock = ConsoleSocket::listen(&r.c.base.join("console.sock"));
    let path = sock.path.display().to_string();
    r.c.write_config();
    let o = r.c.create_with(&["--console-socket", &path]);
    assert!(o.success(), "[docker-run-tty] create failed: {}\n{}", o.stderr.trim(), o.log.trim());
    let pid = r.c.pid_from_file().expect("pid file");
    let master = sock.master(Duration::from_secs(5)).expect("pty master via --console-socket");
    let o = r.c.start();
    assert!(o.success(), "[docker-run-tty] start failed: {}\n{}", o.stderr.trim(), o.log.trim());
    let out = read_pty(master, Duration::from_secs(10)).replace("\r\n", "\n");
    let p = Probe { out, err: String::new() };
    assert!(p.done(), "[docker-run-tty] probe did not finish: {:?}", p.out);
    let mut errs = Vec::new();
    check_config(&p, &r.c.config, &r.pins, &mut errs);
    if !p.get("tty").unwrap_or("").starts_with("/dev/pts/") {
        errs.push(format!("tty: want /dev/pts/N, got {:?}", p.get("tty")));
    }
    r.check(&p, errs);
    r.finish(pid);
}

#[test]
fn docker_exec() {
    replay_exec("docker-exec-target", "docker-exec");
}

#[test]
fn docker_exec_user() {
    replay_exec("docker-exec-target", "docker-exec-user");
}

#[test]
fn docker_build_run_step() {
    replay("docker-build-run", "echo built > /built", |_, r, errs| {
        if fs::read_to_string(r.pins.bundle.join("rootfs/built")).ok().as_deref() != Some("built\n") {
            errs.push("the RUN step's write to /built did not land in the rootfs".into());
        }
    });
}

// ---------------------------------------------------------------------------
// Podman 4.3 (conmon → runtime) and buildah (podman build)
// ---------------------------------------------------------------------------

/// Default network (netavark bridge): the netns is a file under /run/netns.
#[test]
fn podman_run() {
    replay("podman-run", "", |p, r, errs| {
        let want = r.netns.as_ref().unwrap().ns();
        if p.get("ns:net") != Some(want.as_str()) {
            errs.push(format!("netns path: want the file's namespace {want}, got {:?}", p.get("ns:net")));
        }
    });
}

#[test]
fn podman_run_net_none() {
    replay("podman-run-net-none", "", no_extra);
}

#[test]
fn podman_run_net_host() {
    replay("podman-run-net-host", "", |p, _, errs| {
        if p.get("ns:net") != Some(host_ns("net").as_str()) {
            errs.push(format!("--network host: want the runtime's netns, got {:?}", p.get("ns:net")));
        }
    });
}

#[test]
fn podman_run_tmpfs_copyup() {
    replay("podman-run-tmpfs", "p marker \"$(cat /run/image-marker 2>&1)\"", |p, _, errs| {
        if p.get("marker") != Some("from-image") {
            errs.push(format!("--tmpfs /run (tmpcopyup): the image's /run/image-marker should be there, got {:?}", p.get("marker")));
        }
        if p.get("mode:/run") != Some("755") {
            errs.push(format!("--tmpfs /run: the tmpfs should keep /run's mode 755, got {:?}", p.get("mode:/run")));
        }
    });
}

#[test]
fn podman_run_user() {
    replay("podman-run-user", "", no_extra);
}

#[test]
fn podman_pod_infra() {
    replay("podman-pod-infra", "", no_extra);
}

/// A pod member joins the infra container's net, ipc and uts namespaces by
/// /proc/<pid>/ns paths.
#[test]
fn podman_pod_container() {
    replay("podman-pod-container", "", |p, r, errs| {
        let h = r.holder.as_ref().unwrap();
        for k in ["net", "ipc", "uts"] {
            if p.get(&format!("ns:{k}")) != Some(h.ns(k).as_str()) {
                errs.push(format!("pod member {k}: want the infra's {}, got {:?}", h.ns(k), p.get(&format!("ns:{k}"))));
            }
        }
    });
}

#[test]
fn podman_exec() {
    replay_exec("podman-exec-target", "podman-exec");
}

/// buildah's RUN as root: ambient capabilities without inheritable ones.
#[test]
fn podman_build_run_step() {
    replay("podman-build-run", "echo built > /built", |_, r, errs| {
        if fs::read_to_string(r.pins.bundle.join("rootfs/built")).ok().as_deref() != Some("built\n") {
            errs.push("the RUN step's write to /built did not land in the rootfs".into());
        }
    });
}

/// buildah's RUN after `USER 1000`.
#[test]
fn podman_build_run_step_user() {
    replay("podman-build-run-user", "", no_extra);
}

// ---------------------------------------------------------------------------
// containerd 1.6 `ctr run` (containerd-shim-runc-v2 → runtime)
// ---------------------------------------------------------------------------

#[test]
fn containerd_run() {
    replay("containerd-run", "", no_extra);
}

#[test]
fn containerd_run_net_host() {
    replay("containerd-run-net-host", "p hosts \"$(cat /etc/hosts | head -1)\"", |p, _, errs| {
        if p.get("hosts") != Some("127.0.0.1\tlocalhost") {
            errs.push(format!("/etc/hosts should be the bind-mounted file, got {:?}", p.get("hosts")));
        }
    });
}

// ---------------------------------------------------------------------------
// `spec` outputs (terminal turned off; cgroupsPath added by the harness)
// ---------------------------------------------------------------------------

#[test]
fn spec_runc() {
    replay("spec-runc", "", no_extra);
}

#[test]
fn spec_runc_rootless() {
    replay("spec-runc-rootless", "p uidmap \"$(echo $(cat /proc/self/uid_map))\"", |p, _, errs| {
        if p.get("uidmap") != Some("0 0 1") {
            errs.push(format!("uid_map: want \"0 0 1\", got {:?}", p.get("uidmap")));
        }
    });
}

#[test]
fn spec_berth() {
    replay("spec-berth", "", no_extra);
}

/// Every fixture in the directory has a test above.
#[test]
fn every_fixture_is_replayed() {
    let me = include_str!("engine_configs.rs");
    let mut missing = Vec::new();
    for e in fs::read_dir(FIXTURES).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if let Some(stem) = n.strip_suffix(".json") {
            if !me.contains(&format!("\"{stem}\"")) {
                missing.push(stem.to_string());
            }
        }
    }
    assert!(missing.is_empty(), "fixtures without a replay test: {missing:?}");
}
