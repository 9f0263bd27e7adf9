//! `containerd-shim-berth-v2 -v` as containerd's shims print it
//! (`containerd-shim-runc-v2 -v`): the name, `Version:` (the workspace's
//! version), `Revision:` (the commit the binary was built from), the
//! compiler, an empty line; for every spelling containerd's flag package
//! accepts.

use std::process::Command;

fn shim(arg: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_containerd-shim-berth-v2")).arg(arg).output().expect("run the shim");
    assert!(out.status.success(), "{arg}: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// `[workspace.package] version` of the workspace's Cargo.toml.
fn workspace_version() -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml")).expect("workspace Cargo.toml");
    let section = text.split("[workspace.package]").nth(1).expect("[workspace.package]");
    let line = section.lines().find(|l| l.trim_start().starts_with("version")).expect("version");
    line.split('"').nth(1).expect("quoted version").to_string()
}

/// The commit `git rev-parse HEAD` names, when the build took its commit
/// from git (not from $BERTH_COMMIT) and git still answers. Cargo rebuilds
/// the binary under test whenever HEAD moves (build.rs), so the two agree
/// in a fresh clone as in a working tree.
fn git_head() -> Option<String> {
    if env!("BERTH_COMMIT_FROM") != "git" {
        return None;
    }
    let out = Command::new("git").args(["rev-parse", "HEAD"]).current_dir(env!("CARGO_MANIFEST_DIR")).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn version_in_containerd_shim_layout() {
    let text = shim("-v");
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines[0], "containerd-shim-berth-v2:", "{text}");
    assert_eq!(lines[1], format!("  Version:  {}", workspace_version()), "{text}");
    assert_eq!(lines[1], format!("  Version:  {}", env!("CARGO_PKG_VERSION")), "{text}");
    let revision = lines[2].strip_prefix("  Revision: ").unwrap_or_else(|| panic!("no Revision line: {text}"));
    assert_eq!(revision, env!("BERTH_COMMIT"));
    if let Some(head) = git_head() {
        assert_eq!(revision, head, "the shim was built from another commit than HEAD");
    }
    assert!(lines[3].strip_prefix("  Rust version: ").is_some_and(|v| v.split('.').count() == 3), "{text}");
    assert_eq!(&lines[4..], ["", ""], "an empty line ends it: {text:?}");
    for spelling in ["-version", "--version", "--v", "-v=true"] {
        assert_eq!(shim(spelling), text, "{spelling}");
    }
}
