//! README's feature table agrees with `berth features` (issue #14), and
//! Berth's features document names everything runc's does: a drop-in must
//! accept what an engine may send runc (features.md: the runtime MUST
//! recognise the listed names in config.json).

use integration::{show, which, workspace_binary};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn features(bin: &Path) -> Value {
    let out = Command::new(bin).arg("features").output().expect("run features");
    assert!(out.status.success(), "{} features: {}", bin.display(), show(&out));
    serde_json::from_slice(&out.stdout).expect("features is JSON")
}

fn names(doc: &Value, path: &[&str]) -> Vec<String> {
    let mut v = doc;
    for k in path {
        v = &v[k];
    }
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
}

#[test]
fn readme_feature_table_matches_berth_features() {
    let berth = workspace_binary("berth", "berth").expect("berth built");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("/usr/bin/python3")
        .arg(root.join("scripts/feature-table.py"))
        .arg("--berth")
        .arg(&berth)
        .arg("--check")
        .arg(root.join("README.md"))
        .output()
        .expect("run scripts/feature-table.py");
    assert!(out.status.success(), "README's feature table is stale (scripts/feature-table.py --write):\n{}", show(&out));
}

#[test]
fn berth_recognises_every_name_runc_features_lists() {
    let Some(runc) = which("runc") else {
        eprintln!("\n!!! SKIPPING: runc not installed !!!\n");
        return;
    };
    let berth = features(&workspace_binary("berth", "berth").expect("berth built"));
    let runc = features(&runc);
    for path in [
        &["hooks"][..],
        &["mountOptions"],
        &["linux", "namespaces"],
        &["linux", "capabilities"],
        &["linux", "seccomp", "actions"],
        &["linux", "seccomp", "operators"],
    ] {
        let ours = names(&berth, path);
        let missing: Vec<String> = names(&runc, path).into_iter().filter(|n| !ours.contains(n)).collect();
        assert!(missing.is_empty(), "{}: runc lists {missing:?}, berth features does not", path.join("."));
    }
    for key in ["v1", "v2", "systemd"] {
        if runc["linux"]["cgroup"][key] == true {
            assert_eq!(berth["linux"]["cgroup"][key], true, "linux.cgroup.{key}: runc has it");
        }
    }
}
