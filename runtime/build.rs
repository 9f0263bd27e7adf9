//! Records the git commit Berth is built from, for `berth --version`
//! (runc prints `commit: ...` the same way). `BERTH_COMMIT` in the build's
//! environment wins (a packager building from a tarball has no git);
//! without either the version says "unknown". `BERTH_COMMIT_FROM` says
//! which it was (`env`, `git` or `none`), so that a test compares the
//! commit with `git rev-parse HEAD` only when the build took it from there.
//!
//! The shim's build script compiles this file in as a module (its `-v`
//! prints the same commit), hence `pub fn main`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

/// Emits `BERTH_COMMIT` and `BERTH_COMMIT_FROM` for the package's targets.
pub fn main() {
    println!("cargo:rerun-if-env-changed=BERTH_COMMIT");
    let (commit, from) = match std::env::var("BERTH_COMMIT").ok().filter(|s| !s.is_empty()) {
        Some(c) => (c, "env"),
        None => match git(&["rev-parse", "HEAD"]) {
            Some(c) => (c, "git"),
            None => ("unknown".to_string(), "none"),
        },
    };
    // Rebuild when HEAD moves: HEAD itself (a checkout) and the branch it
    // names (a commit). A worktree keeps its HEAD apart from the refs.
    for path in [git(&["rev-parse", "--git-path", "HEAD"]), git(&["symbolic-ref", "-q", "HEAD"]).and_then(|r| git(&["rev-parse", "--git-path", &r]))]
        .into_iter()
        .flatten()
    {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rustc-env=BERTH_COMMIT={commit}");
    println!("cargo:rustc-env=BERTH_COMMIT_FROM={from}");
}
