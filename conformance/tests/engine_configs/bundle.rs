//! The bundle side of a replay: loading a fixture, and what its
//! placeholders stand for (a pinned network namespace file, the bind-mount
//! sources the engine would have written, the values the test pinned).

use conformance::*;
use serde_json::Value;
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::Stdio;

/// The captured engine configs and process files.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/engines");

/// The fixture `name` (`fixtures/engines/<name>.json`), parsed.
pub fn fixture(name: &str) -> Value {
    let p = format!("{FIXTURES}/{name}.json");
    serde_json::from_str(&fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// A network namespace pinned the way engines pin one: nsfs bind-mounted on
/// a plain file (`unshare --net=FILE`, as `ip netns add` does under
/// /run/netns, but inside the test directory so the host's /run/netns mount
/// table is not touched). Unmounted by [`NetnsFile::release`] or on drop.
pub struct NetnsFile {
    /// The file the namespace is bind-mounted on.
    pub path: PathBuf,
}

impl NetnsFile {
    /// Creates `path` and pins a new network namespace on it.
    pub fn new(path: PathBuf) -> NetnsFile {
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
    pub fn ns(&self) -> String {
        format!("net:[{}]", fs::metadata(&self.path).expect("stat netns file").ino())
    }
    /// Unmounts and removes the file; nothing may stay mounted on it.
    pub fn release(&mut self) {
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

/// Applies `f` to every string in `v`, at any depth.
pub fn map_strings(v: &mut Value, f: &impl Fn(&str) -> String) {
    match v {
        Value::String(s) => *s = f(s),
        Value::Array(a) => a.iter_mut().for_each(|x| map_strings(x, f)),
        Value::Object(o) => o.values_mut().for_each(|x| map_strings(x, f)),
        _ => {}
    }
}

/// Content of a bind-mount source file the engine would have written.
pub fn source_content(name: &str) -> &'static str {
    match name {
        "hosts" => "127.0.0.1\tlocalhost\n::1\tlocalhost\n",
        "hostname" => "fixture-host\n",
        "resolv.conf" => "nameserver 127.0.0.1\n",
        ".containerenv" => "engine=\"podman-fixture\"\n",
        _ => "",
    }
}

/// What the test pinned for the placeholders.
#[derive(Default)]
pub struct Pins {
    /// The network namespace file (`@NETNS@`).
    pub netns: Option<String>,
    /// The namespace holder's pid (`@HOLDER_PID@`).
    pub holder_pid: Option<i32>,
    /// The bundle directory (`@BUNDLE@`).
    pub bundle: PathBuf,
}
