//! Spec-derived conformance suite for OCI runtimes.
//!
//! The harness drives any runtime binary through its runc-compatible CLI, the
//! way container engines do, and judges only what can be observed from the
//! outside: exit statuses, `state` output, files written by hooks, and what a
//! busybox-based container prints about itself.
//!
//! The runtime under test is chosen with `OCI_RUNTIME` (a path, or a name
//! looked up on `PATH`). Without it, the `berth` binary built in this
//! workspace is used.
//!
//! Every test gets a [`TestContainer`]: a private directory holding the
//! bundle (a busybox rootfs and `config.json`), the runtime's `--root`, and
//! the files the container's stdio is redirected to. Dropping it force-deletes
//! the container and removes everything the test created, even on failure.

/// Where every test directory and the cached rootfs template live.
pub const WORK_DIR: &str = "/tmp/berth-conformance";
/// Every test container's cgroup lives under this absolute cgroupsPath prefix.
pub const CGROUP_PREFIX: &str = "/berth-test";
/// Environment variable set in every container process, so leaked processes
/// can be found by scanning `/proc/*/environ`.
pub const MARKER_ENV: &str = "BERTH_TEST_ID";

// ---------------------------------------------------------------------------
// Runtime selection
// ---------------------------------------------------------------------------

mod cgroups;
mod container;
mod host;
mod rootfs;
mod runtime;

pub use cgroups::*;
pub use container::*;
pub use host::*;
pub use rootfs::*;
pub use runtime::*;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    #[test]
    fn json_pointer_set_and_remove() {
        let mut v = json!({"a": {"b": [1, 2]}});
        json_set(&mut v, "/a/b/-", json!(3));
        json_set(&mut v, "/a/c/d", json!("x"));
        json_set(&mut v, "/a/b/0", json!(0));
        json_set(&mut v, "/k~1v", json!(true));
        assert_eq!(v, json!({"a": {"b": [0, 2, 3], "c": {"d": "x"}}, "k/v": true}));
        json_remove(&mut v, "/a/b/1");
        json_remove(&mut v, "/a/c");
        json_remove(&mut v, "/nope/x");
        assert_eq!(v, json!({"a": {"b": [0, 3]}, "k/v": true}));
    }

    #[test]
    fn default_config_is_well_formed() {
        let c = default_config("x1");
        assert_eq!(c["linux"]["cgroupsPath"], "/berth-test/x1");
        assert!(c["process"]["env"].as_array().unwrap().iter().any(|e| e == "BERTH_TEST_ID=x1"));
        assert_eq!(c["root"]["path"], "rootfs");
    }

    #[test]
    fn capability_masks() {
        assert_eq!(cap_mask(&["CAP_CHOWN"]), 1);
        assert_eq!(cap_mask(&["CAP_KILL", "CAP_NET_BIND_SERVICE"]), (1 << 5) | (1 << 10));
        assert_eq!(cap_bit("CAP_CHECKPOINT_RESTORE"), 40);
    }

    #[test]
    fn status_and_dev_parsing() {
        let s = "Name:\tsh\nCapEff:\t00000000a80425fb\nNoNewPrivs:\t1\n";
        assert_eq!(status_field(s, "CapEff"), Some("00000000a80425fb"));
        assert_eq!(status_field(s, "NoNewPrivs"), Some("1"));
        assert_eq!(status_field(s, "Missing"), None);
        let d = parse_stat_dev("/dev/tty|character special file|5|0").unwrap();
        assert_eq!((d.2, d.3), (5, 0));
        assert_eq!(parse_stat_dev("/dev/x|character special file|88|a").unwrap().2, 136);
    }

    #[test]
    fn pids_and_mounts() {
        assert!(process_alive(std::process::id() as i32));
        assert!(!process_alive(i32::MAX));
        assert!(mounts_under(Path::new("/proc")).iter().any(|m| m == "/proc"));
        assert!(mounts_under(Path::new("/definitely/not/mounted")).is_empty());
    }
}
