//! The checks of what a config promises against what the probe saw (one
//! process, a container's whole config) and against the container's cgroup
//! as the host sees it.

use conformance::*;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::bundle::Pins;
use crate::probe::{caps, strs, Probe};

/// Checks of one process against its `process` object.
pub fn check_process(p: &Probe, process: &Value, errs: &mut Vec<String>) {
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
    let home = env.iter().find_map(|e| e.strip_prefix("HOME=").map(str::to_string)).unwrap_or_else(|| if uid == 0 { "/root".into() } else { "/".into() });
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

/// Checks of a container's init against its whole config.
pub fn check_config(p: &Probe, cfg: &Value, pins: &Pins, errs: &mut Vec<String>) {
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
            let skip = userns && skip_for("runc version 1.1", "runc 1.1 in a user namespace bind-mounts the cgroup v1 hierarchies without remounting them ro");
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
            .rfind(|r| {
                r["type"].as_str().is_none_or(|t| t == "a" || t == ty)
                    && r["major"].as_u64().is_none_or(|x| x == ma)
                    && r["minor"].as_u64().is_none_or(|x| x == mi)
            })
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
pub fn check_cgroup(c: &TestContainer, cfg: &Value, errs: &mut Vec<String>) {
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
