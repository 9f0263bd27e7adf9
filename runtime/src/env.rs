//! The environment of a container process (the init and `exec`), built the
//! way runc builds it, since the spec says only that `process.env` is the
//! process's environ (config.md "Process"):
//!
//! - a name given twice keeps the place of its first entry and the value of
//!   its last (runc sets them one by one);
//! - `HOME`, when the config does not give it, is the home directory of
//!   `process.user.uid` in the container's `/etc/passwd`, else `/`.
//!
//! Hooks are not container processes: see `hooks.rs`.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;

/// The process's environment from `config` (process.env) and `extra`
/// (what the runtime adds, e.g. LISTEN_FDS), with `HOME` filled in from
/// `passwd` (the text of the container's /etc/passwd, if any) for `uid`.
/// Entries without `=` are kept as they are (config validation refuses
/// them for the init; `exec --env` passes what it is given).
pub fn build(config: &[String], extra: &[String], uid: u32, passwd: Option<&str>) -> Vec<String> {
    let mut out = merged(config, extra);
    if !out.iter().any(|e| e.starts_with("HOME=")) {
        let home = passwd.and_then(|p| passwd_home(p, uid)).filter(|h| !h.is_empty()).unwrap_or_else(|| "/".into());
        out.push(format!("HOME={home}"));
    }
    out
}

/// `config` then `extra`, a name given twice keeping the place of its first
/// entry and the value of its last. Without `HOME`: what runc's init has
/// set when it runs createContainer hooks (see `hooks.rs`).
pub fn merged(config: &[String], extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(config.len() + extra.len() + 1);
    for kv in config.iter().chain(extra) {
        let name = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        match out.iter_mut().find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == name) {
            Some(e) => e.clone_from(kv),
            None => out.push(kv.clone()),
        }
    }
    out
}

/// The home directory of `uid` in passwd(5) text: the sixth field of the
/// first line whose third field is `uid`.
pub fn passwd_home(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].trim().parse::<u32>().ok() == Some(uid)).then(|| f[5].to_string())
    })
}

/// The container's /etc/passwd, read by the process whose root is already
/// the container's (after pivot_root, or after joining its mount
/// namespace). Only a regular file is read, and without blocking: an image
/// can hold a FIFO there. Up to 4 MiB; anything unreadable is None.
pub fn read_passwd() -> Option<String> {
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY).open("/etc/passwd").ok()?;
    let md = f.metadata().ok()?;
    if !md.file_type().is_file() {
        return None;
    }
    let mut s = String::new();
    f.take(4 << 20).read_to_string(&mut s).ok()?;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nbroken line\napp:x:1000:1000::/home/app:/bin/sh\nnohome:x:1001:1001::\n";

    #[test]
    fn home_from_passwd_or_slash() {
        assert_eq!(build(&v(&["PATH=/bin"]), &[], 0, Some(PASSWD)), v(&["PATH=/bin", "HOME=/root"]));
        assert_eq!(build(&v(&["PATH=/bin"]), &[], 1000, Some(PASSWD)), v(&["PATH=/bin", "HOME=/home/app"]));
        assert_eq!(build(&[], &[], 1001, Some(PASSWD)), v(&["HOME=/"]));
        assert_eq!(build(&[], &[], 4242, Some(PASSWD)), v(&["HOME=/"]));
        assert_eq!(build(&[], &[], 0, None), v(&["HOME=/"]));
        // The config's own HOME wins, even empty.
        assert_eq!(build(&v(&["HOME="]), &[], 0, Some(PASSWD)), v(&["HOME="]));
    }

    #[test]
    fn duplicates_keep_first_place_and_last_value() {
        let env = build(&v(&["A=1", "B=2", "A=3"]), &v(&["LISTEN_FDS=1", "B=4"]), 0, None);
        assert_eq!(env, v(&["A=3", "B=4", "LISTEN_FDS=1", "HOME=/"]));
        // A=x and A= are the same name; "AB=1" is another.
        assert_eq!(build(&v(&["A=x", "AB=1", "A="]), &[], 0, None), v(&["A=", "AB=1", "HOME=/"]));
    }
}
