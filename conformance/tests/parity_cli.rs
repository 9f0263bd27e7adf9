//! runc's command line as callers observe it (issue #11, "runc parity"):
//! help and version texts, exit codes of failed commands, and the flags
//! runc 1.1 accepts. None of this is in the OCI runtime spec; engines,
//! shims and test suites written against runc depend on it. Every test
//! runs against runc as well (OCI_RUNTIME=runc), which is the reference.

use conformance::*;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The runtime's own name as its version line gives it (`runc`, `berth`).
fn rt_name() -> String {
    runtime_version().split_whitespace().next().unwrap_or_default().to_string()
}

/// The runtime run with `args` alone: none of the harness's global flags
/// (help and version ignore them, and `--log` would take the error records
/// away from stderr). Pipes are safe: nothing here starts a container.
fn bare(args: &[&str]) -> RtOutput {
    let start = Instant::now();
    let out = Command::new(runtime_binary()).args(args).stdin(Stdio::null()).output().expect("run the runtime");
    RtOutput {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        log: String::new(),
        timed_out: false,
        elapsed: start.elapsed(),
    }
}

// runc (urfave/cli) help: `NAME:` then `   runc - ...` for the root,
// `   runc kill - ...` for a command, on stdout, exit 0; `help CMD`, `h CMD`
// and `CMD --help` print the same text. Tools read line 2 to find commands.
#[test]
fn help_in_runc_layout() {
    let name = rt_name();
    for flag in ["-h", "--help"] {
        let o = bare(&[flag]);
        o.ok();
        let lines: Vec<&str> = o.stdout.lines().collect();
        assert_eq!(lines.first(), Some(&"NAME:"), "{o:?}");
        assert!(lines.get(1).is_some_and(|l| l.starts_with(&format!("   {name} - "))), "{o:?}");
        for section in ["USAGE:", "COMMANDS:", "GLOBAL OPTIONS:"] {
            assert!(lines.contains(&section), "{section} missing: {o:?}");
        }
        for cmd in ["checkpoint", "create", "delete", "exec", "kill", "list", "restore", "run", "spec", "state", "update"] {
            assert!(lines.iter().any(|l| l.starts_with(&format!("   {cmd} "))), "{cmd} not listed: {o:?}");
        }
    }
    // Without a command: the same help, and success.
    assert_eq!(bare(&[]).ok().stdout, bare(&["-h"]).stdout);
    for cmd in ["kill", "exec", "checkpoint", "list", "spec"] {
        let o = bare(&[cmd, "-h"]);
        o.ok();
        let lines: Vec<&str> = o.stdout.lines().collect();
        assert_eq!(lines.first(), Some(&"NAME:"), "{o:?}");
        assert!(lines.get(1).is_some_and(|l| l.starts_with(&format!("   {name} {cmd} - "))), "{o:?}");
        assert!(lines.contains(&"USAGE:"), "{o:?}");
        for same in [&[cmd, "--help"][..], &["help", cmd], &["h", cmd]] {
            assert_eq!(bare(same).ok().stdout, o.stdout, "{same:?}");
        }
        // Help wins over missing operands and extra words.
        bare(&[cmd, "-h", "extra", "words"]).ok();
    }
}

// An unknown command is an error even with -h (exit 3, urfave/cli's
// "No help topic"), and so is help for one; the text names the word.
#[test]
fn unknown_command_fails_even_with_help() {
    for args in [&["no-such-cmd"][..], &["no-such-cmd", "-h"], &["help", "no-such-cmd"], &["h", "no-such-cmd"]] {
        let o = bare(args);
        o.fails();
        assert_eq!(o.code, Some(3), "{o:?}");
        assert!(o.stderr.contains("no-such-cmd"), "the error names the command: {o:?}");
        assert!(o.stdout.is_empty(), "{o:?}");
    }
}

// runc's version text: `runc version X`, `commit: ...`, `spec: 1.x`,
// `libseccomp: x.y.z`, for `--version` and `-v` alike, before any command.
#[test]
fn version_in_runc_shape() {
    let name = rt_name();
    let o = bare(&["--version"]);
    o.ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    let first: Vec<&str> = lines[0].split(' ').collect();
    assert!(first.len() == 3 && first[0] == name && first[1] == "version" && !first[2].is_empty(), "{o:?}");
    let field = |k: &str| lines.iter().find_map(|l| l.strip_prefix(&format!("{k}: "))).unwrap_or_else(|| panic!("no `{k}:` line: {o:?}"));
    assert!(!field("commit").is_empty());
    assert!(field("spec").starts_with("1."), "{o:?}");
    let lib: Vec<&str> = field("libseccomp").split('.').collect();
    assert!(lib.len() == 3 && lib.iter().all(|p| p.parse::<u32>().is_ok()), "libseccomp x.y.z: {o:?}");
    assert_eq!(bare(&["-v"]).ok().stdout, o.stdout);
    // Before the command, whatever follows.
    assert_eq!(bare(&["--root", "/nonexistent", "-v", "kill"]).ok().stdout, o.stdout);
    if name == "runc" {
        return; // runc 1.1 has no `version` command (it answers "No help topic").
    }
    assert_eq!(bare(&["version"]).ok().stdout, o.stdout);
}

// Exit codes runc gives for failures before anything runs: 1 for a usage
// error or a failed command, 3 for an unknown command; 255 for an exec.
#[test]
fn failure_exit_codes() {
    let c = TestContainer::new("parity-codes");
    let id = "no-such-container-parity";
    let cases: &[(&[&str], i32)] = &[
        (&["state", id], 1),
        (&["start", id], 1),
        (&["kill", id], 1),
        (&["kill", id, "KILL"], 1),
        (&["delete", id], 1),
        (&["pause", id], 1),
        (&["resume", id], 1),
        (&["ps", id], 1),
        (&["events", "--stats", id], 1),
        (&["update", "--pids-limit", "5", id], 1),
        (&["checkpoint", id], 1),
        (&["exec", id, "true"], 255),
        (&["list", "--format", "xml"], 1),
        (&["kill"], 1),
        (&["list", "extra"], 1),
        (&["--no-such-flag", "list"], 1),
        (&["state"], 1),
        (&["no-such-cmd"], 3),
    ];
    for (args, code) in cases {
        let o = c.cmd(args);
        o.fails().reports_error();
        assert_eq!(o.code, Some(*code), "{args:?}: {o:?}");
    }
    // `delete --force` of nothing succeeds (runc: nothing to do).
    c.cmd(&["delete", "--force", id]).ok();
}

/// The long flags of each command in runc 1.1's help (the reference for
/// "inputs runc accepts"); newer runc only adds to these.
const RUNC_FLAGS: &[(&str, &[&str])] = &[
    (
        "checkpoint",
        &[
            "image-path",
            "work-path",
            "parent-path",
            "leave-running",
            "tcp-established",
            "ext-unix-sk",
            "shell-job",
            "lazy-pages",
            "status-fd",
            "page-server",
            "file-locks",
            "pre-dump",
            "manage-cgroups-mode",
            "empty-ns",
            "auto-dedup",
        ],
    ),
    (
        "restore",
        &[
            "console-socket",
            "image-path",
            "work-path",
            "tcp-established",
            "ext-unix-sk",
            "shell-job",
            "file-locks",
            "manage-cgroups-mode",
            "bundle",
            "detach",
            "pid-file",
            "no-subreaper",
            "no-pivot",
            "empty-ns",
            "auto-dedup",
            "lazy-pages",
            "lsm-profile",
            "lsm-mount-context",
        ],
    ),
    (
        "exec",
        &[
            "console-socket",
            "cwd",
            "env",
            "tty",
            "user",
            "additional-gids",
            "process",
            "detach",
            "pid-file",
            "process-label",
            "apparmor",
            "no-new-privs",
            "cap",
            "preserve-fds",
            "cgroup",
            "ignore-paused",
        ],
    ),
    ("run", &["bundle", "console-socket", "detach", "keep", "pid-file", "no-subreaper", "no-pivot", "no-new-keyring", "preserve-fds"]),
    ("create", &["bundle", "console-socket", "pid-file", "no-pivot", "no-new-keyring", "preserve-fds"]),
    ("delete", &["force"]),
    ("kill", &["all"]),
    ("list", &["format", "quiet"]),
    ("ps", &["format"]),
    ("events", &["interval", "stats"]),
    (
        "update",
        &[
            "resources",
            "blkio-weight",
            "cpu-period",
            "cpu-quota",
            "cpu-share",
            "cpu-rt-period",
            "cpu-rt-runtime",
            "cpuset-cpus",
            "cpuset-mems",
            "memory",
            "memory-reservation",
            "memory-swap",
            "pids-limit",
            "l3-cache-schema",
            "mem-bw-schema",
        ],
    ),
    ("spec", &["bundle", "rootless"]),
];

/// The `--flag` names listed under a help text's OPTIONS.
fn listed_flags(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.ends_with("OPTIONS:"))
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .map(|l| l.split([' ', ',']).next().unwrap_or_default().to_string())
        .collect()
}

// Every flag runc has is listed in the command's help...
#[test]
fn every_runc_flag_is_listed() {
    for (cmd, flags) in RUNC_FLAGS {
        let have = listed_flags(&bare(&[cmd, "-h"]).ok().stdout);
        let missing: Vec<&&str> = flags.iter().filter(|f| !have.iter().any(|h| h == *f)).collect();
        assert!(missing.is_empty(), "`{cmd}` lacks runc's flags {missing:?}");
    }
    let globals = listed_flags(&bare(&["-h"]).ok().stdout);
    for g in ["debug", "log", "log-format", "root", "criu", "systemd-cgroup", "rootless", "help", "version"] {
        assert!(globals.iter().any(|h| h == g), "global --{g} missing: {globals:?}");
    }
}

// ... and parses: with runc's value for each, the command gets as far as
// looking the container up (and fails on that, not on its flags).
#[test]
fn runc_flag_values_parse() {
    let c = TestContainer::new("parity-flags");
    let id = "no-such-container-parity";
    let cases: &[&[&str]] = &[
        &[
            "checkpoint",
            "--image-path",
            "/x",
            "--work-path",
            "/y",
            "--parent-path",
            "../p",
            "--leave-running",
            "--tcp-established",
            "--ext-unix-sk",
            "--shell-job",
            "--lazy-pages",
            "--status-fd",
            "-1",
            "--file-locks",
            "--pre-dump",
            "--manage-cgroups-mode",
            "full",
            "--empty-ns",
            "network",
            "--auto-dedup",
            id,
        ],
        &["checkpoint", "--page-server", "127.0.0.1:7777", "--manage-cgroups-mode=strict", id],
        &["kill", "--all=true", id, "0"],
        &["exec", "-dt", "--cgroup", "cpu:a", "--cgroup", "memory:b", "--cap", "CAP_KILL", "-e", "A=1", "-u", "1:1", "-g", "5", id, "true"],
        &["delete", "-f=false", id],
        &["-debug", "-root", "/nonexistent-parity", "state", id],
        &["--systemd-cgroup=false", "state", id],
        &["update", "-r", "-", id],
    ];
    for args in cases {
        let o = c.cmd(args);
        o.fails();
        let text = format!("{}{}", o.stderr, o.log);
        assert!(text.contains("does not exist"), "{args:?} must fail on the missing container, not its flags: {o:?}");
    }
}

// Help is answered without touching --root (no state directory made).
#[test]
fn help_does_not_touch_root() {
    let c = TestContainer::new("parity-help-root");
    let root = c.base.join("never-created");
    bare(&["--root", &root.display().to_string(), "list", "-h"]).ok();
    assert!(!root.exists(), "help created {}", root.display());
}

// The same for commands a live container refuses: runc exits 1 for each,
// except an exec that gets past parsing (255: no command, an unreadable
// --process, bad --cgroup); the container is left as it was.
#[test]
fn refusals_of_a_live_container() {
    let (c, pid) = running("parity-live-codes");
    let bundle = c.bundle.display().to_string();
    let cases: &[(&[&str], i32)] = &[
        (&["start", &c.id], 1),
        (&["delete", &c.id], 1),
        (&["resume", &c.id], 1),
        (&["create", "--bundle", &bundle, &c.id], 1),
        (&["kill", &c.id, "NOSUCHSIG"], 1),
        (&["exec", &c.id], 255),
        (&["exec"], 1),
        (&["exec", "--process", "/nonexistent/process.json", &c.id], 255),
        (&["exec", "--cgroup", "memory:a", "--cgroup", "memory:b", &c.id, "true"], 255),
        (&["ps", "--format", "xml", &c.id], 1),
    ];
    for (args, code) in cases {
        let o = c.cmd(args);
        o.fails().reports_error();
        assert_eq!(o.code, Some(*code), "{args:?}: {o:?}");
    }
    assert_eq!(c.state_json()["status"], "running");
    c.delete_force().ok();
    c.assert_no_leaks(Some(pid));
}

/// One row of a help text's OPTIONS, in urfave/cli's spelling:
/// `--bundle value, -b value  path to the root ... (default: ".")`.
#[derive(Debug)]
struct FlagRow {
    long: String,
    short: Option<String>,
    /// Spelled with ` value`: the flag takes one.
    value: bool,
    /// The `(default: X)` at the end of the text, without quotes.
    default: Option<String>,
    /// The text after the spelling.
    text: String,
}

/// A spelling and its text split at the first run of two spaces.
fn split_row(line: &str) -> (&str, &str) {
    let row = line.trim();
    match row.split_once("  ") {
        Some((names, text)) => (names, text.trim_start()),
        None => (row, ""),
    }
}

/// The rows under OPTIONS (or GLOBAL OPTIONS). Continuation lines of a
/// long text (runc's `update --resources` shows a JSON example) do not
/// start with a dash and are skipped.
fn flag_rows(help: &str) -> Vec<FlagRow> {
    help.lines()
        .skip_while(|l| !l.ends_with("OPTIONS:"))
        .filter(|l| l.starts_with("   -"))
        .filter_map(|l| {
            let (names, text) = split_row(l);
            let mut row = FlagRow { long: String::new(), short: None, value: false, default: None, text: text.to_string() };
            for n in names.split(", ") {
                let (n, value) = match n.strip_suffix(" value") {
                    Some(n) => (n, true),
                    None => (n, false),
                };
                row.value |= value;
                match n.strip_prefix("--") {
                    Some(long) => row.long = long.to_string(),
                    None => row.short = Some(n.trim_start_matches('-').to_string()),
                }
            }
            row.default = text.rfind("(default: ").and_then(|i| text[i + 10..].strip_suffix(')')).map(|d| d.trim_matches('"').to_string());
            (!row.long.is_empty()).then_some(row)
        })
        .collect()
}

/// The rows under COMMANDS: (names, text); `help, h` gives two names.
fn command_rows(help: &str) -> Vec<(Vec<String>, String)> {
    help.lines()
        .skip_while(|l| *l != "COMMANDS:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let (names, text) = split_row(l);
            (names.split(", ").map(str::to_string).collect(), text.to_string())
        })
        .collect()
}

/// Whether a help text says what a flag or command mirrors, or that it is
/// Berth's own: a parenthetical that names runc (or a runc version) or
/// crun, starts "unlike runc", or says "Berth's own" or "berth only" (in
/// any case).
fn names_its_origin(text: &str) -> bool {
    let text = text.to_lowercase();
    ["(runc", "(crun", "(unlike runc", "(berth's own", "(berth only"].iter().any(|m| text.contains(m))
}

/// How `ours` (a help text of the runtime under test) departs from runc's
/// help `theirs` for the same command (`scope`: "" for the root) without
/// saying so: a runc flag missing or spelled otherwise (short form, value),
/// a flag or command runc lacks whose text does not say what it mirrors, a
/// default unlike runc's without a word about it, a runc command missing.
fn undeclared_differences(scope: &str, theirs: &str, ours: &str) -> Vec<String> {
    let at = |what: String| if scope.is_empty() { what } else { format!("{scope}: {what}") };
    let mut out = Vec::new();
    let ours_flags = flag_rows(ours);
    let theirs_flags = flag_rows(theirs);
    for t in &theirs_flags {
        let Some(o) = ours_flags.iter().find(|o| o.long == t.long) else {
            out.push(at(format!("runc's --{} is missing", t.long)));
            continue;
        };
        if o.short != t.short {
            out.push(at(format!("--{}: short form {:?}, runc's is {:?}", t.long, o.short, t.short)));
        }
        if o.value != t.value {
            out.push(at(format!("--{}: takes a value: {}, runc's: {}", t.long, o.value, t.value)));
        }
        if let (Some(od), Some(td)) = (&o.default, &t.default) {
            if od != td && !names_its_origin(&o.text) {
                out.push(at(format!("--{}: default {od:?} unlike runc's {td:?}, and the help does not say so: {:?}", t.long, o.text)));
            }
        }
    }
    for o in ours_flags.iter().filter(|o| !theirs_flags.iter().any(|t| t.long == o.long)) {
        if !names_its_origin(&o.text) {
            out.push(at(format!("--{} is not runc's, and its help does not say what it mirrors: {:?}", o.long, o.text)));
        }
    }
    let ours_cmds = command_rows(ours);
    let theirs_cmds = command_rows(theirs);
    for (names, _) in &theirs_cmds {
        for n in names {
            if !ours_cmds.iter().any(|(o, _)| o.contains(n)) {
                out.push(at(format!("runc's command {n} is missing")));
            }
        }
    }
    for (names, text) in &ours_cmds {
        if !theirs_cmds.iter().any(|(t, _)| t.iter().any(|n| names.contains(n))) && !names_its_origin(text) {
            out.push(at(format!("command {} is not runc's, and its help does not say what it mirrors: {text:?}", names.join(", "))));
        }
    }
    out
}

/// `bin args...`'s stdout, or None if it cannot run or fails.
fn help_of(bin: &std::path::Path, args: &[&str]) -> Option<String> {
    let out = Command::new(bin).args(args).stdin(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

// A drop-in for runc accepts every flag runc's help lists, spelled the same
// (long, short, with or without a value), for every command runc has; what
// it adds or does differently says in its own help what it mirrors (crun's
// --cgroup-manager, runc 1.2's --cpu-burst) or that it is its own. Compared
// with the runc installed here (1.1.5 on Debian 12). runc's hidden flags
// (update --kernel-memory, --kernel-memory-tcp) are not in its help, so a
// runtime that shows them must say whose they are.
#[test]
fn help_names_what_each_difference_from_runc_mirrors() {
    let runc = std::path::Path::new("runc");
    let Some(theirs_root) = help_of(runc, &["--help"]) else {
        eprintln!("SKIP: no runc to compare with");
        return;
    };
    let ours = runtime_binary();
    let ours_root = help_of(&ours, &["--help"]).expect("the runtime's --help");
    let mut problems = undeclared_differences("", &theirs_root, &ours_root);
    for (names, _) in command_rows(&theirs_root).iter().filter(|(n, _)| n[0] != "help") {
        let cmd = names[0].as_str();
        let theirs = help_of(runc, &[cmd, "--help"]).unwrap_or_else(|| panic!("runc {cmd} --help"));
        match help_of(&ours, &[cmd, "--help"]) {
            Some(o) => problems.extend(undeclared_differences(cmd, &theirs, &o)),
            None => problems.push(format!("`{cmd} --help` fails: runc's command is missing")),
        }
    }
    assert!(problems.is_empty(), "help differs from runc's without saying so:\n{}", problems.join("\n"));
}

// The comparison above finds what it is meant to find.
#[test]
fn undeclared_differences_are_found() {
    let theirs = "NAME:\n   x\n\nCOMMANDS:\n   run   run it\n   help, h  help\n\nGLOBAL OPTIONS:\n   \
                  --root value       root (default: \"/run/runc\")\n   --bundle value, -b value  bundle\n   --debug  debug\n";
    let good = "NAME:\n   x\n\nCOMMANDS:\n   run   run it\n   version   print it (Berth's own)\n   help, h  help\n\nGLOBAL OPTIONS:\n   \
                --root value  root (runc's default is /run/runc) (default: \"/run/berth\")\n   --bundle value, -b value  bundle\n   \
                --debug  debug\n   --cgroup-manager value  manager (crun's --cgroup-manager)\n";
    assert_eq!(undeclared_differences("", theirs, good), Vec::<String>::new());
    let berth_only = good.replace("(Berth's own)", "(berth only; runc has no counterpart)");
    assert_eq!(undeclared_differences("", theirs, &berth_only), Vec::<String>::new());
    let bad = [
        ("(crun's --cgroup-manager)", "", "--cgroup-manager is not runc's"),
        (" (Berth's own)", "", "command version is not runc's"),
        ("(runc's default is /run/runc) ", "", "default \"/run/berth\" unlike runc's"),
        (", -b value", "", "short form None"),
        ("--debug  debug", "--debug value  debug", "takes a value"),
        ("   run   run it\n", "", "command run is missing"),
        ("   --bundle value, -b value  bundle\n", "", "--bundle is missing"),
    ];
    for (from, to, want) in bad {
        let broken = good.replacen(from, to, 1);
        assert_ne!(broken, good, "{from:?}");
        let found = undeclared_differences("", theirs, &broken);
        assert!(found.iter().any(|p| p.contains(want)), "{want:?} not found for {from:?}: {found:?}");
    }
}
