//! Everyday scenarios written once for both engines (their CLIs agree on
//! what these use); `docker_engine.rs` and `podman_engine.rs` run them in
//! groups, one private engine per group.
#![allow(dead_code)]

pub mod build;
pub mod lifecycle;
pub mod limits;
pub mod net;
pub mod storage;

use std::process::Output;
use std::time::{Duration, Instant};

use integration::engine::Engine;
use integration::show;

/// A unique container/network/volume name.
pub fn name(tag: &str) -> String {
    integration::unique_id(tag)
}

/// Polls `f` every 100 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Trimmed stdout.
pub fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// stderr.
pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Asserts `o` succeeded; returns its trimmed stdout.
pub fn ok(e: &Engine, o: &Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: {}\n{}", show(o), e.tail_calls());
    out(o)
}

/// A busybox web server serving `text` on port 80 (a container command).
pub fn web_server(text: &str) -> Vec<String> {
    let script = format!("mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www");
    vec!["sh".into(), "-c".into(), script]
}

/// `run` with `args` then `cmd`.
pub fn run_with(e: &Engine, args: &[&str], cmd: &[String]) -> Output {
    let mut v: Vec<&str> = args.to_vec();
    v.extend(cmd.iter().map(String::as_str));
    e.run(&v)
}

/// Fetches `url` from inside the engine's network namespace (busybox
/// wget), retrying for up to 20 s; the body, or the last failure.
pub fn fetch(e: &Engine, url: &str) -> Result<String, String> {
    let mut last = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let o = e.ns.busybox(&["wget", "-q", "-O", "-", url], Duration::from_secs(10));
        if o.status.success() {
            return Ok(out(&o));
        }
        last = show(&o);
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(last)
}
