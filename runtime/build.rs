//! Records the git commit Berth is built from, for `berth --version`
//! (runc prints `commit: ...` the same way). `BERTH_COMMIT` in the build's
//! environment wins (a packager building from a tarball has no git);
//! without either the version says "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=BERTH_COMMIT");
    let commit = std::env::var("BERTH_COMMIT").ok().filter(|s| !s.is_empty()).or_else(|| git(&["rev-parse", "HEAD"]));
    // Rebuild when HEAD moves: HEAD itself (a checkout) and the branch it
    // names (a commit). A worktree keeps its HEAD apart from the refs.
    for path in [git(&["rev-parse", "--git-path", "HEAD"]), git(&["symbolic-ref", "-q", "HEAD"]).and_then(|r| git(&["rev-parse", "--git-path", &r]))]
        .into_iter()
        .flatten()
    {
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rustc-env=BERTH_COMMIT={}", commit.unwrap_or_else(|| "unknown".into()));
}
