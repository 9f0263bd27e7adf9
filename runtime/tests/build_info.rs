//! `berth --version` and `berth features` against the build they come
//! from: the package version, the commit, the spec version the library
//! implements, the libseccomp linked in, and a features document that
//! claims nothing this build lacks. The binary is cargo's
//! (`CARGO_BIN_EXE_berth`, built for this run: target/release/berth under
//! `cargo test --release`), so it is never older than the tree.

use serde_json::Value;
use std::process::Command;

fn berth(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_berth")).args(args).output().expect("run berth");
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The commit `git rev-parse HEAD` names, when the build took its commit
/// from git (not from $BERTH_COMMIT, a packager's) and git still answers.
/// build.rs has cargo rebuild whenever HEAD moves, so in a fresh clone as
/// in a working tree the binary carries HEAD.
fn git_head() -> Option<String> {
    if env!("BERTH_COMMIT_FROM") != "git" {
        return None;
    }
    let out = Command::new("git").args(["rev-parse", "HEAD"]).current_dir(env!("CARGO_MANIFEST_DIR")).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The version of the libseccomp linked in, as its pkg-config file next
/// to the static library says (.cargo/config.toml links the one in
/// LIBSECCOMP_LIB_PATH statically); None when linked otherwise.
fn static_libseccomp_version() -> Option<String> {
    if option_env!("LIBSECCOMP_LINK_TYPE") != Some("static") {
        return None;
    }
    let pc = std::fs::read_to_string(format!("{}/pkgconfig/libseccomp.pc", option_env!("LIBSECCOMP_LIB_PATH")?)).ok()?;
    pc.lines().find_map(|l| l.strip_prefix("Version:")).map(|v| v.trim().to_string())
}

#[test]
fn version_names_this_build() {
    let text = berth(&["--version"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], format!("berth version {}", env!("CARGO_PKG_VERSION")));
    let field = |k: &str| lines.iter().find_map(|l| l.strip_prefix(&format!("{k}: "))).unwrap_or_else(|| panic!("no `{k}:` line: {text}"));

    let commit = field("commit");
    assert_eq!(commit, env!("BERTH_COMMIT"));
    match git_head() {
        Some(head) => assert_eq!(commit, head, "built from another commit than HEAD"),
        None if env!("BERTH_COMMIT_FROM") == "none" => assert_eq!(commit, "unknown"),
        None => assert!(!commit.is_empty()),
    }

    assert_eq!(field("spec"), berth::state::OCI_VERSION);

    // The library this test links the same way as the binary, and, when
    // linked statically, the version its package declares.
    let v = libseccomp::ScmpVersion::current().expect("libseccomp version");
    assert_eq!(field("libseccomp"), format!("{}.{}.{}", v.major, v.minor, v.micro));
    if let Some(declared) = static_libseccomp_version() {
        assert_eq!(field("libseccomp"), declared, "libseccomp.pc of the linked library");
    }

    for same in [&["-v"][..], &["-version"], &["version"], &["--root", "/nonexistent", "-v", "kill"]] {
        assert_eq!(berth(same), text, "{same:?}");
    }
}

// features.md: the document describes this build. The version in its
// annotations and the spec version are --version's; the hooks are the six
// stages; what Berth does not implement is reported off.
#[test]
fn features_describe_this_build() {
    let v: Value = serde_json::from_str(&berth(&["features"])).expect("features is JSON");
    let version = berth(&["--version"]);
    let spec = version.lines().find_map(|l| l.strip_prefix("spec: ")).expect("spec line");
    assert_eq!(v["ociVersionMax"], spec);
    assert_eq!(v["ociVersionMax"], berth::state::OCI_VERSION);
    assert_eq!(v["ociVersionMin"], "1.0.0");
    assert_eq!(v["annotations"]["io.github.berth.version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["hooks"], serde_json::json!(["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]));
    // Id-mapped mounts are refused (rootfs/mounts.rs), so they are off and
    // their options are not offered; Intel RDT is not built in.
    assert_eq!(v["linux"]["mountExtensions"]["idmap"]["enabled"], false);
    let options: Vec<&str> = v["mountOptions"].as_array().expect("mountOptions").iter().filter_map(Value::as_str).collect();
    assert!(!options.iter().any(|o| o.contains("idmap")), "{options:?}");
    assert_eq!(v["linux"]["intelRdt"]["enabled"], false);
    assert_eq!(v["linux"]["seccomp"]["enabled"], true);
    assert_eq!(v["linux"]["cgroup"]["systemdUser"], false);
}
