//! scripts/install.sh with containerd, as the README's "Use Berth with ..."
//! section tells a user (issue #14): the `ctr-run` snippet run as written
//! against a containerd whose config install.sh edited; the Kubernetes
//! snippets (`containerd-config`, `runtimeclass`) checked against what the
//! CRI plugin of such a containerd reports over its gRPC API; and the
//! version-3 config form of containerd 2 (file level only: Debian 12 ships
//! containerd 1.6).
//!
//! A [`Node`] is one test's machine: a directory (DESTDIR, configs, root,
//! state, sockets), a network + mount namespace that is also a cgroup
//! namespace rooted at our `/berth-test/<tag>` cgroup, the DESTDIR's
//! `usr/local/bin` bind-mounted over `/usr/local/bin` inside it (so the
//! README's `/usr/local/bin/berth` is the copy install.sh made, and the
//! host's /usr/local/bin is never touched), and containerd running in it.
//! `ctr run` without `--cgroup` puts a container at `/<namespace>/<id>`:
//! inside the cgroup namespace that is below our cgroup. Dropping a Node
//! stops containerd and its shims (by pid), kills whatever is left in the
//! namespaces and our cgroups, and removes the cgroups and the directory;
//! mounts go with the mount namespace.
//!
//! Needs the release build (install.sh --no-build installs target/release):
//! `cargo test --release -p integration --test install_containerd`.

#[path = "../src/cri.rs"]
#[allow(dead_code)] // the client serves later tests too; not all of it is used here
mod cri;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration::netns::EngineNs;
use integration::readme::{commands, snippet};
use integration::sandbox::Sandbox;
use integration::{profile, run_timeout, shim_binary, show, which, workspace_binary, Containerd, NAMESPACE};

/// The image reference the README's `ctr-run` snippet names.
const README_IMAGE: &str = "docker.io/library/busybox:latest";
/// Where install.sh puts the binaries (its default prefix).
const BIN: &str = "/usr/local/bin";

/// One test's machine; fields drop in order: containerd, namespaces, sandbox.
struct Node {
    ctrd: Containerd,
    ns: EngineNs,
    sb: Sandbox,
    /// DESTDIR given to install.sh.
    dest: PathBuf,
    /// The containerd config install.sh edited.
    config: PathBuf,
}

/// Why these tests cannot run here, if they cannot (printed loudly).
fn missing_prerequisite() -> Option<String> {
    let tools: Vec<&str> = ["containerd", "ctr", "unshare", "nsenter", "ip", "mount"].into_iter().filter(|t| which(t).is_none()).collect();
    if !tools.is_empty() {
        return Some(format!("{tools:?} not installed (scripts/setup.sh --tests installs containerd; util-linux, iproute2)"));
    }
    if profile() != "release" {
        return Some("install.sh --no-build installs target/release: run with `cargo test --release`".into());
    }
    None
}

fn skip(what: &str) -> bool {
    match missing_prerequisite() {
        Some(why) => {
            eprintln!("\n!!! SKIPPING {what}: {why} !!!\n");
            true
        }
        None => false,
    }
}

/// Builds berth and the shim (as install.sh --no-build expects them) and
/// runs `DESTDIR=<dest> bash scripts/install.sh --no-build --no-reload
/// --configure containerd --containerd-config <config> [extra...]`;
/// returns its output after checking it succeeded.
fn install(dest: &Path, config: &Path, extra: &[&str]) -> String {
    workspace_binary("berth", "berth").expect("build berth");
    shim_binary().expect("build the shim");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(&script).args(["--no-build", "--no-reload", "--configure", "containerd", "--containerd-config"]).arg(config).args(extra);
    cmd.env("DESTDIR", dest);
    let out = run_timeout(cmd, Duration::from_secs(300));
    assert!(out.status.success(), "install.sh: {}", show(&out));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A containerd config as a kubeadm node has one, before Berth: version 2,
/// laid out like `containerd config default` (two spaces a level), the
/// runc handler with `SystemdCgroup = true`; and private to the test: root,
/// state, socket, CNI directories and opt under `dir`, the CRI streaming
/// server on 127.0.0.1 (inside the test's network namespace anyway), OOM
/// score adjustment restricted (root lacks CAP_SYS_RESOURCE here). Without
/// `cri` the CRI plugin is disabled.
fn node_config(dir: &Path, sock: &Path, cri: bool) -> String {
    let d = |s: &str| dir.join(s).display().to_string();
    let disabled = if cri { "disabled_plugins = []" } else { "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]" };
    format!(
        r#"{disabled}
root = "{root}"
state = "{state}"
version = 2

[grpc]
  address = "{sock}"

[plugins]

  [plugins."io.containerd.grpc.v1.cri"]
    restrict_oom_score_adj = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"

    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "{cni_bin}"
      conf_dir = "{cni_conf}"

    [plugins."io.containerd.grpc.v1.cri".containerd]
      default_runtime_name = "runc"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes]

        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
          runtime_type = "io.containerd.runc.v2"

          [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
            SystemdCgroup = true

  [plugins."io.containerd.internal.v1.opt"]
    path = "{opt}"
"#,
        root = d("root"),
        state = d("state"),
        sock = sock.display(),
        cni_bin = d("cni/bin"),
        cni_conf = d("cni/net.d"),
        opt = d("opt"),
    )
}

impl Node {
    /// Installs Berth under a DESTDIR, configures a kubeadm-like containerd
    /// config with install.sh, and starts containerd on it inside the
    /// test's namespaces.
    fn start(cri: bool) -> Node {
        let sb = Sandbox::new("ic", "berth-state");
        let dir = sb.dir.clone();
        let dest = dir.join("dest");
        let config = dir.join("etc/containerd/config.toml");
        let sock = dir.join("containerd.sock");
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        let before = node_config(&dir, &sock, cri);
        std::fs::write(&config, &before).unwrap();
        let out = install(&dest, &config, &[]);
        assert!(out.contains("containerd: added Berth to"), "install.sh did not edit {}:\n{out}", config.display());
        let after = std::fs::read_to_string(&config).unwrap();
        assert_eq!(std::fs::read_to_string(config.with_extension("toml.pre-berth")).unwrap(), before, "the original is kept");
        // Every setting the file had is still there.
        assert_subset(&parse_toml(&before), &parse_toml(&after), "");

        let ns = EngineNs::new_in_cgroup(&dir, &sb.cgroup).expect("namespace");
        ns.bind_mount(&dest.join(BIN.trim_start_matches('/')), Path::new(BIN)).expect("bind the install over /usr/local/bin");
        // containerd finds the shim on its PATH: the directory install.sh filled.
        let path = format!("{}:{}", dest.join("usr/local/bin").display(), std::env::var("PATH").unwrap_or_default());
        let ctrd = Containerd::start_with(&dir, &config, &sock, Some(&ns), &[("PATH", &path)]).expect("start containerd");
        Node { ctrd, ns, sb, dest, config }
    }

    /// `sh -c LINE` inside the namespaces, `ctr` pointed at our containerd
    /// the way a user would: CONTAINERD_ADDRESS and CONTAINERD_NAMESPACE.
    fn shell(&self, line: &str) -> std::process::Output {
        let mut cmd = self.ns.command("sh");
        cmd.args(["-c", line]);
        cmd.env("CONTAINERD_ADDRESS", &self.ctrd.sock).env("CONTAINERD_NAMESPACE", NAMESPACE);
        run_timeout(cmd, Duration::from_secs(120))
    }
}

fn parse_toml(text: &str) -> toml::Table {
    text.parse::<toml::Table>().unwrap_or_else(|e| panic!("not TOML: {e}\n{text}"))
}

/// Asserts every key of `part` is in `whole` with the same value (tables
/// compared key by key, recursively); `at` names the table for messages.
fn assert_subset(part: &toml::Table, whole: &toml::Table, at: &str) {
    for (k, v) in part {
        let here = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
        match (v, whole.get(k)) {
            (toml::Value::Table(p), Some(toml::Value::Table(w))) => assert_subset(p, w, &here),
            (v, Some(w)) => assert_eq!(v, w, "value of {here}"),
            (_, None) => panic!("{here} is missing"),
        }
    }
}

/// Asserts every line of `snippet` is a line of `config` once indented as
/// the `runc_header` line there is (install.sh lays its tables out as the
/// file does).
fn assert_lines_like_runc(config: &str, snippet: &str, runc_header: &str) {
    let runc = config.lines().find(|l| l.trim_start() == runc_header).unwrap_or_else(|| panic!("no {runc_header} in:\n{config}"));
    let pad = &runc[..runc.len() - runc.trim_start().len()];
    for line in snippet.lines().filter(|l| !l.trim().is_empty()) {
        let want = format!("{pad}{line}");
        assert!(config.lines().any(|l| l == want), "no line {want:?} in the config:\n{config}");
    }
}

/// Cgroup directories `/<name>` at the top of the host's hierarchies.
fn top_level_cgroups(name: &str) -> Vec<PathBuf> {
    let mut out = vec![Path::new("/sys/fs/cgroup").join(name)];
    for h in std::fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten() {
        out.push(h.path().join(name));
    }
    out.retain(|p| p.is_dir());
    out
}

/// Every cgroup directory at or below `dir`.
fn cgroup_tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(cgroup_tree(&e.path()));
        }
    }
    out
}

#[test]
fn ctr_run_snippet_runs_with_both_shims() {
    if skip("install.sh + ctr-run snippet") {
        return;
    }
    let node = Node::start(false);
    let c = &node.ctrd;
    c.import_image_as(README_IMAGE).expect("import busybox as the README names it");

    // /usr/local/bin/berth, as the README writes it, is install.sh's copy.
    let installed = node.dest.join("usr/local/bin/berth");
    let out = node.shell(&format!(
        "test /usr/local/bin/berth -ef '{}' && test /usr/local/bin/containerd-shim-berth-v2 -ef '{}'",
        installed.display(),
        node.dest.join("usr/local/bin/containerd-shim-berth-v2").display()
    ));
    assert!(out.status.success(), "/usr/local/bin inside is not the DESTDIR's: {}", show(&out));
    // ... and the build this test made.
    let built = workspace_binary("berth", "berth").unwrap();
    assert!(std::fs::read(&installed).unwrap() == std::fs::read(&built).unwrap(), "install.sh installed another build than {}", built.display());

    let tops_before = top_level_cgroups(NAMESPACE);
    let lines = commands(&snippet("ctr-run"));
    assert_eq!(lines.len(), 2, "ctr-run: one line per shim: {lines:?}");
    assert!(lines[0].contains("--runtime io.containerd.berth.v2"), "{}", lines[0]);
    assert!(lines[1].contains("--runtime io.containerd.runc.v2") && lines[1].contains("--runc-binary /usr/local/bin/berth"), "{}", lines[1]);
    for line in &lines {
        let out = node.shell(line);
        assert!(out.status.success(), "`{line}`: {}\ncontainerd log:\n{}", show(&out), c.log());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hi", "`{line}`: {}", show(&out));
    }

    // The containers' cgroups (/<namespace>/<id> inside) were made below
    // ours, never at the top of the host's hierarchies.
    assert_eq!(top_level_cgroups(NAMESPACE), tops_before, "a cgroup /{NAMESPACE} appeared at the host's top level");
    let ours: Vec<PathBuf> = integration::cgroup_dirs(&node.sb.cgroup).iter().flat_map(|d| cgroup_tree(d)).filter(|p| p.ends_with(NAMESPACE)).collect();
    assert!(!ours.is_empty(), "no /{NAMESPACE} cgroup below {}: did the containers get a cgroup at all?", node.sb.cgroup);

    // --rm left nothing: no task, no container, no shim.
    for what in ["tasks", "containers"] {
        let out = c.ctr(&[what, "ls", "-q"]);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "", "{what} left: {}", show(&out));
    }
    let mut shims = Vec::new();
    for _ in 0..50 {
        shims = [c.shim_pids(), c.pids_of("containerd-shim-runc-v2")].concat();
        if shims.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(shims.is_empty(), "shims still running: {shims:?}");
}

#[test]
fn kubernetes_snippets_match_what_the_cri_plugin_reports() {
    if skip("install.sh + CRI plugin") {
        return;
    }
    let node = Node::start(true);
    let text = std::fs::read_to_string(&node.config).unwrap();
    let config = parse_toml(&text);
    // The README's tables are what install.sh wrote (SystemdCgroup copied
    // from the runc handler) ...
    let readme = snippet("containerd-config");
    assert_subset(&parse_toml(&readme), &config, "");
    // ... line for line, indented as the runc handler is.
    assert_lines_like_runc(&text, &readme, "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]");

    let client = cri::CriClient::connect(&node.ctrd.sock).expect("CRI client");
    let version = client.version().expect("Version");
    assert_eq!(version.runtime_name, "containerd", "{version:?}");
    assert_eq!(version.runtime_api_version, "v1", "{version:?}");
    let status = client.status(true).expect("Status");
    assert_eq!(cri::condition(&status, "RuntimeReady"), Some(true), "{:?}", status.status);
    // No CNI config: the network is not ready, and that is all.
    assert_eq!(cri::condition(&status, "NetworkReady"), Some(false), "{:?}", status.status);

    let cfg = cri::cri_config(&status).unwrap();
    let rt = &cfg["containerd"]["runtimes"];
    assert_eq!(rt["berth"]["runtimeType"], "io.containerd.berth.v2", "{rt:#}");
    assert_eq!(rt["berth"]["options"]["SystemdCgroup"], true, "{rt:#}");
    assert_eq!(rt["berth-runc-shim"]["runtimeType"], "io.containerd.runc.v2", "{rt:#}");
    assert_eq!(rt["berth-runc-shim"]["options"]["BinaryName"], "/usr/local/bin/berth", "{rt:#}");
    assert_eq!(rt["berth-runc-shim"]["options"]["SystemdCgroup"], true, "{rt:#}");
    assert_eq!(cfg["containerd"]["defaultRuntimeName"], "runc", "install.sh changes the default only with --default");
    // The plugin kept to the test's own ground.
    let dir = node.sb.dir.display().to_string();
    assert_eq!(cfg["streamServerAddress"], "127.0.0.1", "{cfg:#}");
    for key in ["containerdRootDir", "rootDir", "stateDir"] {
        assert!(cfg[key].as_str().is_some_and(|p| p.starts_with(&dir)), "{key} = {} is not under {dir}", cfg[key]);
    }
    assert!(cfg["cni"]["confDir"].as_str().is_some_and(|p| p.starts_with(&dir)), "{:#}", cfg["cni"]);
    let handlers = cri::runtime_handlers(&status).unwrap();

    // The RuntimeClass names one of those handlers.
    let rc = yaml_fields(&snippet("runtimeclass"));
    assert_eq!(rc.get("apiVersion").map(String::as_str), Some("node.k8s.io/v1"), "{rc:?}");
    assert_eq!(rc.get("kind").map(String::as_str), Some("RuntimeClass"), "{rc:?}");
    assert_eq!(rc.get("metadata.name").map(String::as_str), Some("berth"), "{rc:?}");
    let handler = rc.get("handler").expect("runtimeclass has a handler");
    assert!(handlers.contains(handler), "RuntimeClass handler {handler:?} is not one the CRI plugin has: {handlers:?}");
}

/// The scalar fields of a small YAML document as `key` / `parent.key` ->
/// value: two-space nesting, `key: value` lines, no lists or quoting beyond
/// plain scalars (all the runtimeclass snippet uses; anything else panics).
fn yaml_fields(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut parents: Vec<(usize, String)> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')) {
        let indent = line.len() - line.trim_start().len();
        let (key, value) = line.trim().split_once(':').unwrap_or_else(|| panic!("not a `key: value` line: {line:?}"));
        assert!(!key.starts_with('-') && !value.trim().starts_with(['[', '{', '|', '>']), "beyond this tiny YAML reader: {line:?}");
        parents.retain(|(i, _)| *i < indent);
        let mut path: Vec<&str> = parents.iter().map(|(_, k)| k.as_str()).collect();
        path.push(key);
        let value = value.trim().trim_matches('"');
        if value.is_empty() {
            parents.push((indent, key.to_string()));
        } else {
            out.insert(path.join("."), value.to_string());
        }
    }
    out
}

#[test]
fn tiny_yaml_reader_reads_nesting() {
    let f = yaml_fields("a: 1\nm:\n  name: x\n  n:\n    k: \"v\"\nb: 2\n");
    let want: Vec<(&str, &str)> = vec![("a", "1"), ("b", "2"), ("m.n.k", "v"), ("m.name", "x")];
    assert_eq!(f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>(), want);
}

/// containerd 2 reads config version 3, where the CRI runtime plugin is
/// `io.containerd.cri.v1.runtime`: install.sh writes the README's tables
/// there (not under the version-2 name), keeps the runc handler's
/// SystemdCgroup, changes nothing when run again, and `--uninstall` gives
/// the file back byte for byte. File level only: no containerd 2 here.
#[test]
fn install_writes_the_version_3_form() {
    if profile() != "release" {
        eprintln!("\n!!! SKIPPING install.sh version-3 form: install.sh --no-build installs target/release: run with `cargo test --release` !!!\n");
        return;
    }
    let sb = Sandbox::new("ic3", "berth-state");
    let dest = sb.dir.join("dest");
    let config = sb.dir.join("config.toml");
    let before = "version = 3\n\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]\n  runtime_type = 'io.containerd.runc.v2'\n\n  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n    SystemdCgroup = true\n";
    std::fs::write(&config, before).unwrap();
    install(&dest, &config, &[]);
    let text = std::fs::read_to_string(&config).unwrap();
    let got = parse_toml(&text);
    let plugins = got["plugins"].as_table().unwrap();
    assert_eq!(plugins.keys().collect::<Vec<_>>(), ["io.containerd.cri.v1.runtime"], "only the version-3 plugin name:\n{text}");
    // The README's tables, under the version-3 name (quoted as containerd
    // 2's own `config default` quotes it, which the new headers follow).
    let v3 = snippet("containerd-config").replace("\"io.containerd.grpc.v1.cri\"", "'io.containerd.cri.v1.runtime'");
    assert_subset(&parse_toml(&v3), &got, "");
    assert_lines_like_runc(&text, &v3, "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]");
    let berth = &plugins["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]["berth"];
    assert_eq!(berth["runtime_type"].as_str(), Some("io.containerd.berth.v2"), "{text}");
    assert_subset(&parse_toml(before), &got, "");

    let out = install(&dest, &config, &[]);
    assert!(out.contains("has Berth already"), "{out}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text, "a second run changed the file");

    let mut cmd = Command::new("bash");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install.sh")).arg("--uninstall").env("DESTDIR", &dest);
    let out = run_timeout(cmd, Duration::from_secs(120));
    assert!(out.status.success(), "install.sh --uninstall: {}", show(&out));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before, "--uninstall gives the file back");
    assert!(!config.with_extension("toml.pre-berth").exists(), "the backup goes with it");
    assert!(!dest.join("usr/local/bin/berth").exists(), "--uninstall removes the binaries");
}
