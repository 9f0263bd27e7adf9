//! Help in runc's layout (urfave/cli's): `NAME:` on the first line, then
//! `   berth <command> - <what it does>`, `USAGE:`, `OPTIONS:` with Go's flag
//! spelling (`--bundle value, -b value`). Tools and test suites written for
//! runc read these lines (`runc kill -h` must name `runc kill` on line 2).
//!
//! The text is rendered from the clap definitions, and installed only when
//! the command line asks for help, so an ordinary call pays nothing for it.

use clap::{Arg, Command};

/// runc's operand synopsis of each command (after `berth <command> `).
const USAGE: &[(&str, &str)] = &[
    ("checkpoint", "[command options] <container-id>"),
    ("create", "[command options] <container-id>"),
    ("delete", "[command options] <container-id>"),
    ("events", "[command options] <container-id>"),
    ("exec", "[command options] <container-id> <command> [command options]  || -p process.json <container-id>"),
    ("kill", "[command options] <container-id> [signal]"),
    ("list", "[command options]"),
    ("pause", "<container-id>"),
    ("ps", "[command options] <container-id> [ps options]"),
    ("restore", "[command options] <container-id>"),
    ("resume", "<container-id>"),
    ("run", "[command options] <container-id>"),
    ("spec", "[command options]"),
    ("start", "<container-id>"),
    ("state", "<container-id>"),
    ("update", "[command options] <container-id>"),
    ("features", ""),
    ("check", "[command options]"),
    ("version", ""),
    ("help", "[command]"),
];

/// Whether the arguments ask for help anywhere (`-h`, `--help`, `help`,
/// `h`); a false positive (an operand spelled `help`) costs only rendering.
pub fn wanted(args: &[std::ffi::OsString]) -> bool {
    args.iter().skip(1).any(|a| matches!(a.to_str(), Some("-h" | "--help" | "-help" | "help" | "h")))
}

/// Install runc-style help texts on the command and every subcommand.
pub fn install(cmd: Command, version: &str) -> Command {
    let root_text = render_root(&cmd, version);
    let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
    let mut cmd = cmd.override_help(root_text);
    for n in names {
        let text = cmd.find_subcommand(&n).map(render_command).unwrap_or_default();
        cmd = cmd.mut_subcommand(n, |s| s.override_help(text));
    }
    cmd
}

/// The help of `topic` (a subcommand name or alias), None if there is no such command.
pub fn topic(cmd: &Command, topic: &str) -> Option<String> {
    cmd.find_subcommand(topic).map(render_command)
}

/// `--bundle value, -b value` / `--force, -f`.
fn spelling(a: &Arg) -> String {
    let value = if a.get_action().takes_values() && a.get_num_args().is_none_or(|n| n.min_values() > 0) { " value" } else { "" };
    let mut names: Vec<String> = a.get_long().map(|l| format!("--{l}{value}")).into_iter().collect();
    names.extend(a.get_short().map(|s| format!("-{s}{value}")));
    names.join(", ")
}

/// Aligned `   name  help` lines.
fn table(rows: &[(String, String)]) -> String {
    let w = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    rows.iter().map(|(n, h)| if h.is_empty() { format!("   {n}\n") } else { format!("   {n:<w$}  {h}\n") }).collect()
}

/// The OPTIONS rows of a command's own (non-positional, non-hidden) flags.
fn option_rows(cmd: &Command) -> Vec<(String, String)> {
    cmd.get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set())
        .map(|a| {
            let mut help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            let defaults: Vec<String> = a.get_default_values().iter().map(|v| v.to_string_lossy().to_string()).collect();
            // Shown even when the text already says it, as runc's `--log-format` does.
            if a.get_action().takes_values() && !defaults.is_empty() && defaults != ["false"] {
                let d = defaults.join(", ");
                let shown = if d.parse::<i64>().is_ok() { d } else { format!("{d:?}") };
                help = format!("{help} (default: {shown})");
            }
            (spelling(a), help)
        })
        .collect()
}

fn about(cmd: &Command) -> String {
    cmd.get_about().map(|s| s.to_string()).unwrap_or_default()
}

fn render_root(cmd: &Command, version: &str) -> String {
    let mut commands: Vec<(String, String)> = cmd
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .map(|s| {
            let mut names = vec![s.get_name().to_string()];
            names.extend(s.get_visible_aliases().map(str::to_string));
            (names.join(", "), about(s))
        })
        .collect();
    commands.push(("help, h".into(), "Shows a list of commands or help for one command".into()));
    let mut globals = option_rows(cmd);
    globals.push(("--help, -h".into(), "show help".into()));
    globals.push(("--version, -v".into(), "print the version".into()));
    let version = version.trim_end().strip_prefix("berth version ").unwrap_or(version.trim_end());
    format!(
        "NAME:\n   berth - {}\n\n\
         berth is a command line client for running applications packaged according to\n\
         the Open Container Initiative (OCI) format, a drop-in for runc.\n\n\
         To start a new instance of a container:\n\n    # berth run [ -b bundle ] <container-id>\n\n\
         USAGE:\n   berth [global options] command [command options] [arguments...]\n\n\
         VERSION:\n   {version}\n\nCOMMANDS:\n{}\nGLOBAL OPTIONS:\n{}",
        about(cmd),
        table(&commands),
        table(&globals)
    )
}

fn render_command(cmd: &Command) -> String {
    let name = cmd.get_name();
    let usage = USAGE.iter().find(|(n, _)| *n == name).map_or("[command options] [arguments...]", |(_, u)| u);
    let mut text = format!("NAME:\n   berth {name} - {}\n\nUSAGE:\n   berth {name} {usage}\n", about(cmd));
    if let Some(long) = cmd.get_long_about() {
        text.push_str(&format!("\nDESCRIPTION:\n   {long}\n"));
    }
    let rows = option_rows(cmd);
    if !rows.is_empty() {
        text.push_str(&format!("\nOPTIONS:\n{}", table(&rows)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::CommandFactory;

    #[test]
    fn command_help_in_runc_layout() {
        let cmd = Cli::command();
        let t = topic(&cmd, "checkpoint").unwrap();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "NAME:");
        assert_eq!(lines[1], "   berth checkpoint - checkpoint a running container");
        assert!(t.contains("   --image-path value "), "{t}");
        assert!(t.contains("   --leave-running "), "{t}");
        assert!(t.contains("(default: -1)"), "{t}");
        let t = topic(&cmd, "create").unwrap();
        assert!(t.contains("   --bundle value, -b value  "), "{t}");
        assert!(topic(&cmd, "ls").unwrap().contains("berth list - "));
        assert!(topic(&cmd, "foo").is_none());
    }

    #[test]
    fn root_help_lists_commands_and_globals() {
        let t = render_root(&Cli::command(), "berth version 1\ncommit: x\n");
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "NAME:");
        assert!(lines[1].starts_with("   berth - "), "{t}");
        for w in ["   checkpoint ", "   list ", "   help, h ", "   --root value ", "   --criu value ", "   --debug ", "   --version, -v "] {
            assert!(t.contains(w), "{w:?} missing:\n{t}");
        }
        assert!(t.contains("VERSION:\n   1\ncommit: x\n"), "{t}");
    }
}
