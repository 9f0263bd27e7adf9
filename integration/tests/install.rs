//! `scripts/install.sh` against engines' configuration files as users have
//! them, then Docker and Podman running the README's commands through
//! Berth on the configuration it wrote.
//!
//! The config tests need no engine: each engine's files (install_fixtures/,
//! containerd's own `config default`, an empty file, a missing one) go
//! through install, a second install, `--default` and `--uninstall`, and the
//! parsed result is compared with the README's snippet for that engine: the
//! snippet is in the result, every other setting is as it was, the default
//! runtime changes only with `--default`, a second run changes no byte, and
//! uninstall brings back the very bytes. Files that do not parse and
//! unknown engines must fail, naming what is wrong and changing nothing.
//! Everything lands under a temporary DESTDIR and the files the test names
//! (`--docker-config` ...): nothing of the host's /usr/local or /etc.
//!
//! The engine tests start a private dockerd and Podman
//! (integration::engine) on a configuration install.sh edited, with the
//! DESTDIR's bin directory bind-mounted over /usr/local/bin inside the
//! engine's mount namespace only, so `/usr/local/bin/berth` as the config
//! names it is the test's copy there and nowhere else; they run the
//! README's `docker-run` / `podman-run` snippet as it stands, then
//! uninstall and check the engine has no Berth left.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use integration::engine::{DockerOpts, Engine, PodmanOpts};
use integration::{profile, readme, run_timeout, runtime_list, show, stdout, target_dir, unique_id, which, workspace_binary, SHIM, SHIM_TARGET};
use serde_json::{json, Value};

/// The directory install.sh writes into configs (its default prefix's).
const BIN: &str = "/usr/local/bin";

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/install_fixtures").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A directory of the test's own, removed when dropped (a failed test too).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("berth-{}", unique_id(tag)));
        std::fs::create_dir_all(&d).expect("mkdir");
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether install.sh can run here: the release binaries `--no-build`
/// copies (built if stale, once per test process) and Python's tomlkit,
/// its config editor (else it would apt-get it: skipped loudly instead).
fn ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        let tomlkit = Command::new("/usr/bin/python3").args(["-c", "import tomlkit"]).output();
        if !tomlkit.is_ok_and(|o| o.status.success()) {
            eprintln!("\n!!! SKIPPING install.sh tests: /usr/bin/python3 has no tomlkit (scripts/setup.sh --tests installs python3-tomlkit) !!!\n");
            return false;
        }
        if profile() == "release" {
            workspace_binary("berth", "berth").expect("build berth");
            workspace_binary("containerd-shim-berth-v2", SHIM).expect("build the shim");
        }
        let berth = target_dir().join("release/berth");
        assert!(berth.is_file(), "{} not built: run these tests with --release", berth.display());
        true
    })
}

/// The shim install.sh picks: the static musl build when there is one.
fn shim_built() -> PathBuf {
    let musl = target_dir().join(SHIM_TARGET).join("release").join(SHIM);
    if musl.is_file() {
        musl
    } else {
        target_dir().join("release").join(SHIM)
    }
}

/// `DESTDIR=dest install.sh --no-build --no-reload ARGS`.
fn install(dest: &Path, args: &[&str]) -> Output {
    let mut c = Command::new("bash");
    c.arg(repo().join("scripts/install.sh")).args(["--no-build", "--no-reload"]).args(args);
    c.env("DESTDIR", dest).env("CARGO_TARGET_DIR", target_dir());
    run_timeout(c, Duration::from_secs(120))
}

/// [`install`], which must succeed; its stdout.
fn install_ok(dest: &Path, args: &[&str]) -> String {
    let out = install(dest, args);
    assert!(out.status.success(), "install.sh {args:?}: {}", show(&out));
    stdout(&out)
}

/// Every file (not directory) under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(files_under(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// The binaries and the manifest are in DESTDIR, the binaries as built.
fn assert_installed(dest: &Path) {
    let bin = dest.join(BIN.trim_start_matches('/'));
    let same = |a: &Path, b: &Path| std::fs::read(a).ok() == std::fs::read(b).ok();
    assert!(same(&bin.join("berth"), &target_dir().join("release/berth")), "DESTDIR{BIN}/berth is not the built berth");
    assert!(same(&bin.join(SHIM), &shim_built()), "DESTDIR{BIN}/{SHIM} is not the built shim");
    for b in ["berth", SHIM] {
        let mode = std::fs::metadata(bin.join(b)).unwrap().mode();
        assert_eq!(mode & 0o777, 0o755, "{b}: mode {mode:o}");
    }
    assert!(dest.join("usr/local/share/berth/installed").is_file(), "no manifest in DESTDIR");
}

// ---------------------------------------------------------------- configs

/// An engine whose configuration install.sh edits.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Eng {
    Docker,
    Podman,
    Containerd,
}

impl Eng {
    fn name(self) -> &'static str {
        match self {
            Eng::Docker => "docker",
            Eng::Podman => "podman",
            Eng::Containerd => "containerd",
        }
    }

    /// install.sh's option naming this engine's file.
    fn option(self) -> String {
        format!("--{}-config", self.name())
    }

    /// The file's settings as JSON (TOML through the `toml` crate); an
    /// empty daemon.json is `{}`, as the script reads it.
    fn parse(self, text: &str) -> Result<Value, String> {
        match self {
            Eng::Docker if text.trim().is_empty() => Ok(json!({})),
            Eng::Docker => serde_json::from_str(text).map_err(|e| e.to_string()),
            _ => toml::from_str::<toml::Table>(text).map(|t| serde_json::to_value(t).unwrap()).map_err(|e| e.to_string()),
        }
    }

    /// containerd's CRI runtime plugin, by the file's config version
    /// (a file without one is the old format, an empty one becomes 2).
    fn cri(original: &Value) -> &'static str {
        match original.get("version").and_then(Value::as_i64) {
            Some(3) => "io.containerd.cri.v1.runtime",
            Some(2) => "io.containerd.grpc.v1.cri",
            None if original.as_object().is_some_and(|o| o.is_empty()) => "io.containerd.grpc.v1.cri",
            _ => "cri",
        }
    }

    /// What install must add to a file holding `original`: the README's
    /// snippet, as the README says the script adapts it: Podman's
    /// runtime_supports_json extends the file's own list when it has one;
    /// containerd's handlers take the runc handler's SystemdCgroup (else
    /// whether systemd runs here) and sit under the plugin of the file's
    /// version, and an empty file gets `version = 2`.
    fn additions(self, original: &Value) -> Value {
        match self {
            Eng::Docker => self.parse(&readme::snippet("docker-daemon-json")).expect("README docker-daemon-json"),
            Eng::Podman => {
                let mut s = self.parse(&readme::snippet("podman-containers-conf")).expect("README podman-containers-conf");
                if let Some(own) = original.pointer("/engine/runtime_supports_json").and_then(Value::as_array) {
                    let mut list = own.clone();
                    if !list.contains(&json!("berth")) {
                        list.push(json!("berth"));
                    }
                    s["engine"]["runtime_supports_json"] = Value::Array(list);
                }
                s
            }
            Eng::Containerd => {
                let s = self.parse(&readme::snippet("containerd-config")).expect("README containerd-config");
                let key = Self::cri(original);
                let systemd = original
                    .pointer(&format!("/plugins/{key}/containerd/runtimes/runc/options/SystemdCgroup"))
                    .and_then(Value::as_bool)
                    .unwrap_or_else(|| Path::new("/run/systemd/system").is_dir());
                let mut cri = s["plugins"]["io.containerd.grpc.v1.cri"].clone();
                for handler in ["berth", "berth-runc-shim"] {
                    cri["containerd"]["runtimes"][handler]["options"]["SystemdCgroup"] = json!(systemd);
                }
                let mut out = json!({ "plugins": { key: cri } });
                if original.as_object().is_some_and(|o| o.is_empty()) {
                    out["version"] = json!(2);
                }
                out
            }
        }
    }

    /// Where the default runtime is set.
    fn default_key(self, original: &Value) -> Vec<String> {
        let v: Vec<&str> = match self {
            Eng::Docker => vec!["default-runtime"],
            Eng::Podman => vec!["engine", "runtime"],
            Eng::Containerd => vec!["plugins", Self::cri(original), "containerd", "default_runtime_name"],
        };
        v.into_iter().map(String::from).collect()
    }

    /// `text` with a change of the user's own, made after install.
    fn user_edit(self, text: &str) -> String {
        match self {
            Eng::Docker => {
                let mut v = self.parse(text).unwrap();
                v["debug"] = json!(true);
                serde_json::to_string_pretty(&v).unwrap() + "\n"
            }
            _ => format!("{text}\n# Added by the admin after Berth's install.\n[berth_it_admin]\nnote = \"kept\"\n"),
        }
    }
}

/// `base` with `add` laid over it (tables merged, other values replaced).
fn merge(base: &Value, add: &Value) -> Value {
    match (base, add) {
        (Value::Object(b), Value::Object(a)) => {
            let mut m = b.clone();
            for (k, v) in a {
                let n = m.get(k).map_or_else(|| v.clone(), |old| merge(old, v));
                m.insert(k.clone(), n);
            }
            Value::Object(m)
        }
        _ => add.clone(),
    }
}

/// Whether every setting of `part` is in `whole` with the same value.
fn subset_of(part: &Value, whole: &Value) -> bool {
    match (part, whole) {
        (Value::Object(p), Value::Object(w)) => p.iter().all(|(k, v)| w.get(k).is_some_and(|x| subset_of(v, x))),
        _ => part == whole,
    }
}

/// Sets the value at `path`, making tables on the way.
fn set_at(v: &mut Value, path: &[String], x: Value) {
    let mut n = v;
    for k in path {
        n = &mut n[k.as_str()];
    }
    *n = x;
}

/// One file through install, a second install, `--default`, uninstall;
/// then install `--default`, a change of the user's, uninstall. `original`
/// None: no file before install.
fn cycle(eng: Eng, label: &str, original: Option<&str>) {
    let t = TempDir::new("inst");
    let dest = t.0.join("dest");
    let file = t.0.join(label);
    let backup = t.0.join(format!("{label}.pre-berth"));
    if let Some(text) = original {
        std::fs::write(&file, text).unwrap();
    }
    let file_s = file.display().to_string();
    let opt = eng.option();
    let configure = |extra: &[&str]| {
        let mut args = vec!["--configure", eng.name(), &opt, &file_s];
        args.extend_from_slice(extra);
        install_ok(&dest, &args)
    };
    let parse = |text: &str| eng.parse(text).unwrap_or_else(|e| panic!("{label}: does not parse: {e}\n{text}"));
    let orig = original.map_or_else(|| json!({}), parse);
    let add = eng.additions(&orig);

    // Install: the snippet is in, every other setting (the default runtime
    // too) as it was, the original kept aside.
    let out = configure(&[]);
    assert!(out.contains("added Berth to"), "{label}: {out}");
    let installed = read(&file);
    let v = parse(&installed);
    assert!(subset_of(&add, &v), "{label}: the README snippet is not in the result\nsnippet: {add:#}\nresult:\n{installed}");
    assert_eq!(v, merge(&orig, &add), "{label}: settings besides Berth's changed; file:\n{installed}");
    match original {
        Some(o) => assert_eq!(read(&backup), o, "{label}: .pre-berth is not the original"),
        None => assert!(!backup.exists(), "{label}: a .pre-berth of a file that did not exist"),
    }
    assert_installed(&dest);

    // Again: not a byte changes.
    let out = configure(&[]);
    assert!(out.contains("has Berth already"), "{label}: second run says: {out}");
    assert_eq!(read(&file), installed, "{label}: the second run changed the file");

    // --default: Berth becomes the default, nothing else changes.
    configure(&["--default"]);
    let mut want = merge(&orig, &add);
    set_at(&mut want, &eng.default_key(&orig), json!("berth"));
    assert_eq!(parse(&read(&file)), want, "{label}: --default; file:\n{}", read(&file));

    // Uninstall: the very bytes, the previous default with them.
    let out = install_ok(&dest, &["--uninstall"]);
    match original {
        Some(o) => assert_eq!(read(&file), o, "{label}: uninstall did not bring the file back byte for byte; it says:\n{out}"),
        None => assert!(!file.exists(), "{label}: uninstall left the file install created:\n{}", read(&file)),
    }
    assert!(!backup.exists(), "{label}: .pre-berth left after the file went back");
    assert_eq!(files_under(&dest), Vec::<PathBuf>::new(), "{label}: files left in DESTDIR by uninstall");

    // --default, then a change of the user's: uninstall takes out Berth's
    // entries and puts the previous default back, keeping the change.
    configure(&["--default"]);
    std::fs::write(&file, eng.user_edit(&read(&file))).unwrap();
    install_ok(&dest, &["--uninstall"]);
    let mut got = parse(&read(&file));
    if eng == Eng::Containerd && orig.get("version").is_none() {
        // What install added to a file without a version may stay with
        // the user's settings.
        got.as_object_mut().unwrap().remove("version");
    }
    let want = parse(&eng.user_edit(original.unwrap_or("")));
    assert_eq!(got, want, "{label}: uninstall after a user's change; file:\n{}", read(&file));
    if let Some(o) = original {
        assert_eq!(read(&backup), o, "{label}: the original's copy must stay while the file cannot go back");
    }
    assert_eq!(files_under(&dest), Vec::<PathBuf>::new(), "{label}: files left in DESTDIR by uninstall");
}

/// [`cycle`] for each (label, original) of `files`, side by side (each in
/// a directory of its own); fails naming every file that failed.
fn cycles(eng: Eng, files: Vec<(&str, Option<String>)>) {
    if !ready() {
        return;
    }
    let failed: Vec<String> = std::thread::scope(|s| {
        let runs: Vec<_> = files.iter().map(|(label, text)| (label, s.spawn(move || cycle(eng, label, text.as_deref())))).collect();
        runs.into_iter().filter_map(|(label, h)| h.join().is_err().then(|| label.to_string())).collect()
    });
    assert!(failed.is_empty(), "{eng:?}: failed for {failed:?} (messages above)");
}

#[test]
fn docker_daemon_json_edits() {
    cycles(
        Eng::Docker,
        vec![
            ("daemon.json", Some(fixture("docker-daemon.json"))),
            ("compact.json", Some("{\"log-level\":\"warn\",\"default-runtime\":\"runc\"}\n".into())),
            ("empty.json", Some(String::new())),
            ("missing.json", None),
        ],
    );
}

#[test]
fn podman_containers_conf_edits() {
    cycles(
        Eng::Podman,
        vec![
            ("containers.conf", Some(fixture("podman-containers.conf"))),
            // Its own runtime_supports_json: extended, and kept on uninstall
            // even when it is Podman's default list.
            ("own-json-list.conf", Some(fixture("podman-own-json-list.conf"))),
            ("default-json-list.conf", Some(fixture("podman-default-json-list.conf"))),
            ("empty.conf", Some(String::new())),
            ("missing.conf", None),
        ],
    );
}

#[test]
fn containerd_config_toml_edits() {
    let mut files = vec![
        ("debian.toml", Some(fixture("containerd-debian.toml"))),
        ("v3.toml", Some(fixture("containerd-v3.toml"))),
        ("v1.toml", Some(fixture("containerd-v1.toml"))),
        ("empty.toml", Some(String::new())),
        ("missing.toml", None),
    ];
    match which("containerd") {
        Some(ctd) => {
            let out = Command::new(ctd).args(["config", "default"]).output().expect("containerd config default");
            assert!(out.status.success(), "containerd config default: {}", show(&out));
            files.push(("config-default.toml", Some(stdout(&out))));
        }
        None => eprintln!("\n!!! SKIPPING `containerd config default`: containerd not installed (scripts/setup.sh --tests installs it) !!!\n"),
    }
    cycles(Eng::Containerd, files);
}

/// Files that do not parse: install fails naming the file and leaves it as
/// it was; so does uninstall, keeping the binaries its config names.
#[test]
fn unparsable_files_are_left_alone() {
    if !ready() {
        return;
    }
    let cases = [
        (Eng::Docker, "{\n  \"log-level\": \"warn\",\n}\n", "not valid JSON"),
        (Eng::Podman, "[engine\ncgroup_manager = \"cgroupfs\"\n", "not valid TOML"),
        (Eng::Containerd, "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"\n", "not valid TOML"),
    ];
    for (eng, bad, says) in cases {
        let t = TempDir::new("bad");
        let dest = t.0.join("dest");
        let file = t.0.join("config");
        let file_s = file.display().to_string();
        std::fs::write(&file, bad).unwrap();
        let out = install(&dest, &["--configure", eng.name(), &eng.option(), &file_s]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{eng:?}: install on a bad file succeeded: {}", show(&out));
        assert!(err.contains(&file_s) && err.contains(says), "{eng:?}: the error should name {file_s} ({says}): {}", show(&out));
        assert_eq!(read(&file), bad, "{eng:?}: the bad file was changed");
        assert!(!t.0.join("config.pre-berth").exists(), "{eng:?}: a .pre-berth of a bad file");

        // Installed on a good file that then breaks: uninstall stops, the
        // binaries its config still names stay.
        std::fs::remove_file(&file).unwrap();
        install_ok(&dest, &["--configure", eng.name(), &eng.option(), &file_s]);
        std::fs::write(&file, bad).unwrap();
        let out = install(&dest, &["--uninstall"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{eng:?}: uninstall with a bad file succeeded: {}", show(&out));
        assert!(err.contains(&file_s), "{eng:?}: the error should name {file_s}: {}", show(&out));
        assert_eq!(read(&file), bad, "{eng:?}: uninstall changed the bad file");
        assert_installed(&dest);
    }
}

/// An unknown engine name: a clear error before anything is installed.
#[test]
fn unknown_engine_is_refused() {
    if !ready() {
        return;
    }
    let t = TempDir::new("unk");
    let dest = t.0.join("dest");
    let out = install(&dest, &["--configure", "docker,cri-o"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{}", show(&out));
    assert!(err.contains("unknown engine 'cri-o'") && err.contains("docker, podman or containerd"), "{}", show(&out));
    assert_eq!(files_under(&dest), Vec::<PathBuf>::new(), "installed something anyway");
}

/// Several engines in one run; a bare `--uninstall` finds them all in the
/// manifest and brings every file back.
#[test]
fn uninstall_restores_every_engine_it_configured() {
    if !ready() {
        return;
    }
    let t = TempDir::new("all");
    let dest = t.0.join("dest");
    let files = [
        (Eng::Docker, "daemon.json", fixture("docker-daemon.json")),
        (Eng::Podman, "containers.conf", fixture("podman-containers.conf")),
        (Eng::Containerd, "config.toml", fixture("containerd-v3.toml")),
    ];
    let paths: Vec<String> = files.iter().map(|(_, name, _)| t.0.join(name).display().to_string()).collect();
    for ((_, _, text), p) in files.iter().zip(&paths) {
        std::fs::write(p, text).unwrap();
    }
    let (d, p, c) = (Eng::Docker.option(), Eng::Podman.option(), Eng::Containerd.option());
    install_ok(&dest, &["--configure", "docker,podman", "--configure", "containerd", "--default", &d, &paths[0], &p, &paths[1], &c, &paths[2]]);
    for ((eng, _, text), path) in files.iter().zip(&paths) {
        let now = read(Path::new(path));
        assert_ne!(&now, text, "{eng:?}: not configured");
        let orig = eng.parse(text).unwrap();
        let v = eng.parse(&now).unwrap();
        let got = eng.default_key(&orig).iter().try_fold(&v, |n, k| n.get(k)).cloned();
        assert_eq!(got, Some(json!("berth")), "{eng:?}: --default");
    }
    install_ok(&dest, &["--uninstall"]);
    for ((eng, _, text), path) in files.iter().zip(&paths) {
        assert_eq!(&read(Path::new(path)), text, "{eng:?}: not back as it was");
    }
    assert_eq!(files_under(&dest), Vec::<PathBuf>::new(), "files left in DESTDIR by uninstall");
}

// ---------------------------------------------------------------- engines

/// `path` inside the engine's namespace is the host file `host` (same
/// device and inode: the bind mount), and the host's own `path` is not.
fn assert_bound(e: &Engine, path: &str, host: &Path) {
    let mut c = e.ns.command("stat");
    c.args(["-L", "-c", "%d %i", path]);
    let out = run_timeout(c, Duration::from_secs(20));
    let m = std::fs::metadata(host).unwrap();
    assert_eq!(stdout(&out).trim(), format!("{} {}", m.dev(), m.ino()), "{path} in the namespace is not {}: {}", host.display(), show(&out));
    if let Ok(h) = std::fs::metadata(path) {
        assert!((h.dev(), h.ino()) != (m.dev(), m.ino()), "the host's {path} is the test's copy: the bind leaked");
    }
}

/// The last lines of a log, for failure messages.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

#[test]
fn docker_runs_the_readme_command_through_the_installed_config() {
    if !ready() {
        return;
    }
    let t = TempDir::new("dk-inst");
    let dest = t.0.join("dest");
    let bin = dest.join(BIN.trim_start_matches('/'));
    // The existing daemon.json: the harness's settings (cgroup driver and
    // parent, storage driver, key path), a user's, then install.sh. The
    // user has a runtime of their own: dockerd's SIGHUP replaces its
    // runtimes only with those the file sets (none set, none dropped).
    let hook = |dir: &Path, harness: &str| {
        let mut v: Value = serde_json::from_str(harness).expect("the harness's daemon.json");
        v["log-level"] = json!("warn");
        v["default-runtime"] = json!("runc");
        v["features"] = json!({ "buildkit": false });
        v["runtimes"] = json!({ "crun": { "path": "/usr/bin/crun" } });
        let path = dir.join("daemon.json");
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap() + "\n").unwrap();
        install_ok(&dest, &["--configure", "docker", "--docker-config", &path.display().to_string()]);
        path
    };
    let opts = DockerOpts { daemon_json: Some(&hook), usr_local_bin: Some(&bin), ..DockerOpts::default() };
    let Some(mut e) = Engine::docker(opts) else { return };
    let backup = PathBuf::from(format!("{}.pre-berth", e.config.display()));
    let before = read(&backup);
    assert!(read(&e.config).contains("/usr/local/bin/berth"), "install did not edit the daemon.json dockerd reads");
    assert_bound(&e, "/usr/local/bin/berth", &bin.join("berth"));

    // dockerd has Berth at the path install wrote; runc stays the default.
    let runtimes: Value = serde_json::from_str(&e.ok(&["info", "--format", "{{json .Runtimes}}"])).unwrap();
    assert_eq!(runtimes["berth"]["path"], json!(format!("{BIN}/berth")), "docker info runtimes: {runtimes}");
    assert_eq!(e.ok(&["info", "--format", "{{.DefaultRuntime}}"]), "runc");

    // The README's command, as it stands.
    e.ok(&["tag", &e.image, "busybox"]);
    let run = readme::commands(&readme::snippet("docker-run"));
    assert!(!run.is_empty(), "README docker-run has no command");
    for line in &run {
        let out = e.shell(line);
        assert!(out.status.success(), "`{line}`: {}\ndockerd log:\n{}", show(&out), tail(&e.daemon_log()));
        assert_eq!(stdout(&out).trim(), "hi", "`{line}`: {}", show(&out));
    }
    // Berth made it: a container kept running is in Berth's state, under
    // the runtime root dockerd gives the runc shim (exec-root/runtime-runc,
    // whatever the runtime's name).
    let id = e.ok(&["run", "-d", "--runtime", "berth", "--network", "none", "busybox", "sleep", "60"]);
    let listed: Vec<String> = std::fs::read_dir(e.sb.dir.join("exec"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|d| d.file_name().to_string_lossy().starts_with("runtime-"))
        .flat_map(|d| runtime_list(&bin.join("berth"), &d.path().join("moby")))
        .collect();
    assert!(listed.contains(&id), "berth does not list {id}: {listed:?}");
    e.rm_f(&id);

    // Uninstall: the file as it was; dockerd rereads it on SIGHUP and
    // forgets Berth, keeping the user's runtime.
    install_ok(&dest, &["--uninstall"]);
    assert_eq!(read(&e.config), before, "daemon.json is not back as it was");
    assert!(!bin.join("berth").exists(), "berth still installed");
    e.reload();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let runtimes: Value = serde_json::from_str(&e.ok(&["info", "--format", "{{json .Runtimes}}"])).unwrap();
        if runtimes.get("berth").is_none() {
            assert_eq!(runtimes["crun"]["path"], json!("/usr/bin/crun"), "{runtimes}");
            break;
        }
        assert!(Instant::now() < deadline, "dockerd still has berth after SIGHUP: {runtimes}\n{}", tail(&e.daemon_log()));
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = e.shell(&run[0]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("berth"), "`{}` after uninstall: {}", run[0], show(&out));
    e.shutdown();
}

#[test]
fn podman_runs_the_readme_command_through_the_installed_config() {
    if !ready() {
        return;
    }
    let t = TempDir::new("pm-inst");
    let dest = t.0.join("dest");
    let bin = dest.join(BIN.trim_start_matches('/'));
    // The existing containers.conf: the harness's settings (no runtime),
    // a user's comments, then install.sh.
    let hook = |dir: &Path, harness: &str| {
        let text =
            format!("# This host's Podman settings (containers.conf(5)).\n\n{}", harness.replace("[engine]\n", "[engine]\n# No systemd on this host.\n"));
        let path = dir.join("containers.conf");
        std::fs::write(&path, text).unwrap();
        install_ok(&dest, &["--configure", "podman", "--podman-config", &path.display().to_string()]);
        path
    };
    // A cgroup namespace rooted at our parent: the README's command passes
    // no --cgroup-parent, and Podman's default parent must land in ours.
    let opts = PodmanOpts { cgroupns: true, containers_conf: Some(&hook), usr_local_bin: Some(&bin) };
    let Some(mut e) = Engine::podman_with(opts) else { return };
    let backup = PathBuf::from(format!("{}.pre-berth", e.config.display()));
    let before = read(&backup);
    assert!(before.contains("# No systemd on this host.") && !before.contains(BIN), "not the file before install:\n{before}");
    assert_bound(&e, "/usr/local/bin/berth", &bin.join("berth"));

    // Podman reads the file install edited (CONTAINERS_CONF): Berth's
    // entry is known by name, at the path install wrote; the default
    // runtime is not Berth.
    let info = e.ok(&["--runtime", "berth", "info", "--format", "{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}}"]);
    assert_eq!(info, format!("berth {BIN}/berth"));
    assert_ne!(e.ok(&["info", "--format", "{{.Host.OCIRuntime.Name}}"]), "berth");

    e.ok(&["tag", &e.image, "busybox"]);
    let run = readme::commands(&readme::snippet("podman-run"));
    assert!(!run.is_empty(), "README podman-run has no command");
    for line in &run {
        let out = e.shell(line);
        assert!(out.status.success(), "`{line}`: {}", show(&out));
        assert_eq!(stdout(&out).trim(), "hi", "`{line}`: {}", show(&out));
    }
    // Nothing left in Berth's state (its default root, the namespace's /run).
    let mut c = e.ns.command(format!("{BIN}/berth"));
    c.args(["list", "-q"]);
    let out = run_timeout(c, Duration::from_secs(20));
    assert!(out.status.success() && stdout(&out).trim().is_empty(), "berth list: {}", show(&out));

    // Uninstall: the file as it was, and Podman no longer knows Berth.
    install_ok(&dest, &["--uninstall"]);
    assert_eq!(read(&e.config), before, "containers.conf is not back as it was");
    let out = e.shell(&run[0]);
    assert!(!out.status.success(), "`{}` after uninstall: {}", run[0], show(&out));
    e.shutdown();
}
