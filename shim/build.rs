//! Records what `containerd-shim-berth-v2 -v` prints besides the version,
//! as containerd's own shims do: the git commit (the same rule as berth's,
//! from runtime/build.rs) and the compiler's version.

#[path = "../runtime/build.rs"]
mod commit;

fn main() {
    commit::main();
    // `rustc 1.85.0 (4d91de4e4 2025-02-17)` -> `1.85.0`.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BERTH_RUSTC_VERSION={version}");
}
