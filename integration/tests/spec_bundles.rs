//! The default configs of `runc spec` (Debian's runc) and `berth spec` run
//! unmodified, the way a newcomer tries a runtime: `run` in a terminal
//! (both templates ask for one), an interactive shell, its exit code. The
//! only change is an absolute `linux.cgroupsPath` of ours (this machine's
//! rule: a relative one lands inside the caller's cgroup).
//!
//! Before Berth 0.1's engine-input fixes, `runc spec`'s template failed
//! (ambient capabilities without inheritable ones), and both failed under
//! their read-only root as soon as a missing cwd was asked for.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration::{cgroup_dirs, mounts_under, remove_cgroup_tree, run_in_pty, runtime_list, runtime_under_test, unique_id, which};

/// A bundle directory of the test's, removed (with its cgroup) on drop.
struct Bundle {
    dir: PathBuf,
    cgroup: String,
}

impl Bundle {
    /// A busybox rootfs (scripts/mkbundle.sh) with the config `spec`
    /// writes in place of mkbundle's own.
    fn new(tag: &str, spec: &[&str]) -> Bundle {
        let id = unique_id(tag);
        let dir = std::env::temp_dir().join(format!("berth-{id}"));
        let b = Bundle { dir, cgroup: format!("berth-test/{id}") };
        let mkbundle = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/mkbundle.sh");
        let st = Command::new("bash").arg(&mkbundle).arg(&b.dir).status().expect("run mkbundle.sh");
        assert!(st.success(), "mkbundle.sh failed");
        std::fs::remove_file(b.dir.join("config.json")).unwrap();
        let out = Command::new(spec[0]).args(&spec[1..]).current_dir(&b.dir).output().expect("run spec");
        assert!(out.status.success(), "{spec:?}: {}", String::from_utf8_lossy(&out.stderr));
        let path = b.dir.join("config.json");
        let mut cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        cfg["linux"]["cgroupsPath"] = serde_json::json!(format!("/{}", b.cgroup));
        std::fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
        b
    }

    fn state(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// `run` in a terminal: type into the template's `sh`, return its exit
    /// code and what it printed.
    fn run_in_terminal(&self, input: &[u8]) -> (Option<i32>, String) {
        let mut cmd = Command::new(runtime_under_test());
        cmd.arg("--root").arg(self.state()).arg("run").arg("--bundle").arg(&self.dir).arg(unique_id("spec"));
        run_in_pty(cmd, 24, 80, input, Duration::from_millis(1500), Duration::from_secs(30))
    }

    fn assert_clean(&self) {
        assert!(runtime_list(&runtime_under_test(), &self.state()).is_empty(), "runtime state left");
        assert!(cgroup_dirs(&self.cgroup).is_empty(), "cgroups left: {:?}", cgroup_dirs(&self.cgroup));
        assert!(mounts_under(&self.dir).is_empty(), "mounts left: {:?}", mounts_under(&self.dir));
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        remove_cgroup_tree(&self.cgroup);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const SESSION: &[u8] = b"echo home=$HOME; echo user=$(id -u); touch /probe 2>/dev/null || echo root-ro; exit 3\r";

fn check(out: &str, code: Option<i32>, what: &str) {
    assert_eq!(code, Some(3), "{what}: the shell's exit code must come back: {out:?}");
    assert!(out.contains("home=/root"), "{what}: HOME from the container's passwd: {out:?}");
    assert!(out.contains("user=0"), "{what}: {out:?}");
    assert!(out.contains("root-ro"), "{what}: the template's root is read-only: {out:?}");
}

#[test]
fn runc_spec_template_runs_unmodified() {
    let Some(runc) = which("runc") else {
        eprintln!("\n!!! SKIPPING: runc not installed (scripts/setup.sh installs it) !!!\n");
        return;
    };
    let b = Bundle::new("runc-spec", &[runc.to_str().unwrap(), "spec"]);
    let (code, out) = b.run_in_terminal(SESSION);
    check(&out, code, "runc spec");
    b.assert_clean();
}

#[test]
fn berth_spec_template_runs_unmodified() {
    let berth = runtime_under_test();
    // `runc spec` when the runtime under test is runc: both must pass either way.
    let b = Bundle::new("berth-spec", &[berth.to_str().unwrap(), "spec"]);
    let (code, out) = b.run_in_terminal(SESSION);
    check(&out, code, "berth spec");
    b.assert_clean();
}
