//! runc parses its flags with Go's `flag` package, whose rules differ from
//! clap's; callers written against runc rely on them:
//!
//! - a long flag may have one dash: `-root /r`, `-debug` (clap would read
//!   `-root` as `-r oot`);
//! - a boolean flag takes an optional `=value`: `--systemd-cgroup=true`,
//!   `--detach=false`, never a separate word;
//! - `-v` / `--version` before the subcommand prints the version whatever
//!   follows (`runc -v kill` does not complain that kill lacks an id).
//!
//! [`normalize`] rewrites the arguments into clap's forms before parsing and
//! [`go_bools`] makes every boolean flag take `=value`. Arguments after `--`,
//! and the command line `exec` and `ps` pass on, are never touched.

use clap::builder::BoolishValueParser;
use clap::{Arg, ArgAction, Command};
use std::ffi::OsString;

/// The arguments after [`normalize`], and whether `--version` was asked for
/// before the subcommand.
pub struct Normalized {
    /// What clap parses.
    pub args: Vec<OsString>,
    /// `-v`, `--version` or `-version` came before the subcommand.
    pub version: bool,
}

/// An argument of `cur` (or a global one of `root`) by long name.
fn long<'a>(cur: &'a Command, root: &'a Command, name: &str) -> Option<&'a Arg> {
    let of = |c: &'a Command| c.get_arguments().find(|a| a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|v| v.contains(&name)));
    of(cur).or_else(|| of(root).filter(|a| a.is_global_set()))
}

/// An argument of `cur` (or a global one of `root`) by short name.
fn short<'a>(cur: &'a Command, root: &'a Command, c: char) -> Option<&'a Arg> {
    let of = |cmd: &'a Command| cmd.get_arguments().find(|a| a.get_short() == Some(c));
    of(cur).or_else(|| of(root).filter(|a| a.is_global_set()))
}

/// Whether the flag consumes the next word as its value.
fn takes_value(a: &Arg) -> bool {
    a.get_action().takes_values()
}

/// Rewrite single-dash long flags to double-dash ones, and find `--version`
/// before the subcommand. See the module documentation.
pub fn normalize(root: &Command, args: Vec<OsString>) -> Normalized {
    let mut it = args.into_iter();
    let mut out: Vec<OsString> = it.next().into_iter().collect();
    let mut cur = root;
    let mut in_sub = false;
    while let Some(a) = it.next() {
        let Some(s) = a.to_str().map(str::to_string) else {
            out.push(a);
            continue;
        };
        if s == "--" {
            out.push(a);
            break;
        }
        let dashed = s.strip_prefix("--").or_else(|| s.strip_prefix('-')).filter(|b| !b.is_empty() && !s.starts_with("---"));
        let Some(body) = dashed else {
            // A word: the subcommand, or one of its operands.
            out.push(a);
            if !in_sub {
                match root.find_subcommand(&s) {
                    Some(sub) => {
                        cur = sub;
                        in_sub = true;
                    }
                    None => break,
                }
            } else if cur.get_arguments().any(Arg::is_trailing_var_arg_set) {
                // exec ID COMMAND..., ps ID PS-ARGS...: the rest is theirs.
                break;
            }
            continue;
        };
        let (name, has_value) = match body.split_once('=') {
            Some((n, _)) => (n, true),
            None => (body, false),
        };
        let single = !s.starts_with("--");
        if !in_sub && (name == "version" || (single && name == "v")) {
            return Normalized { args: out, version: true };
        }
        if name == "help" || (single && name == "h") {
            out.push(a);
            continue;
        }
        let arg = if single && name.chars().count() == 1 {
            short(cur, root, name.chars().next().unwrap_or('-'))
        } else if let Some(arg) = long(cur, root, name) {
            if single {
                out.push(OsString::from(format!("-{s}")));
                if takes_value(arg) && !has_value {
                    out.extend(it.next());
                }
                continue;
            }
            Some(arg)
        } else {
            None
        };
        out.push(a);
        // `-b /x`, `--bundle /x`: the value is the next word. A cluster
        // like `-dt` or an attached `-b/x` carries what it needs.
        if arg.is_some_and(takes_value) && !has_value && (!single || body.chars().count() == 1) {
            out.extend(it.next());
        }
    }
    out.extend(it);
    Normalized { args: out, version: false }
}

/// Every boolean flag (of every subcommand) takes an optional `=value`, as
/// Go's do: `--detach`, `--detach=true`, `--detach=false`.
pub fn go_bools(cmd: Command) -> Command {
    let cmd = cmd.mut_args(|a| {
        if matches!(a.get_action(), ArgAction::SetTrue) {
            a.action(ArgAction::Set)
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true")
                .default_value("false")
                .value_parser(BoolishValueParser::new())
        } else {
            a
        }
    });
    let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
    names.into_iter().fold(cmd, |c, n| c.mut_subcommand(n, go_bools))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::CommandFactory;

    fn norm(args: &[&str]) -> (Vec<String>, bool) {
        let n = normalize(&Cli::command(), args.iter().map(OsString::from).collect());
        (n.args.iter().map(|a| a.to_string_lossy().to_string()).collect(), n.version)
    }

    #[test]
    fn single_dash_long_flags() {
        let (a, v) = norm(&["berth", "-root", "/r", "-log-format=json", "-debug", "create", "-bundle", "/b", "-pid-file=/p", "id"]);
        assert_eq!(a, ["berth", "--root", "/r", "--log-format=json", "--debug", "create", "--bundle", "/b", "--pid-file=/p", "id"]);
        assert!(!v);
    }

    #[test]
    fn values_that_look_like_flags_are_values() {
        let (a, _) = norm(&["berth", "--root", "-debug", "list"]);
        assert_eq!(a, ["berth", "--root", "-debug", "list"]);
        let (a, _) = norm(&["berth", "exec", "-e", "-cwd", "id", "ls", "-cwd", "-la"]);
        assert_eq!(a, ["berth", "exec", "-e", "-cwd", "id", "ls", "-cwd", "-la"]);
        let (a, _) = norm(&["berth", "exec", "-cwd", "/", "id", "sh", "-debug"]);
        assert_eq!(a, ["berth", "exec", "--cwd", "/", "id", "sh", "-debug"]);
        let (a, _) = norm(&["berth", "ps", "id", "-ef"]);
        assert_eq!(a, ["berth", "ps", "id", "-ef"]);
        let (a, _) = norm(&["berth", "create", "--", "-bundle"]);
        assert_eq!(a, ["berth", "create", "--", "-bundle"]);
    }

    #[test]
    fn version_before_the_subcommand_only() {
        assert!(norm(&["berth", "-v"]).1);
        assert!(norm(&["berth", "--version", "kill"]).1);
        assert!(norm(&["berth", "--root", "/r", "-version"]).1);
        assert!(!norm(&["berth", "--root", "-v", "list"]).1);
        assert!(!norm(&["berth", "exec", "id", "sh", "-v"]).1);
    }

    #[test]
    fn booleans_take_go_values() {
        let cmd = go_bools(Cli::command());
        for (argv, debug) in
            [(&["berth", "--debug=false", "list"][..], false), (&["berth", "--debug", "list"], true), (&["berth", "--debug=true", "list"], true)]
        {
            let m = cmd.clone().try_get_matches_from(argv).unwrap();
            assert_eq!(m.get_one::<bool>("debug"), Some(&debug), "{argv:?}");
        }
        let m = cmd.clone().try_get_matches_from(["berth", "delete", "-f=true", "id"]).unwrap();
        assert_eq!(m.subcommand_matches("delete").unwrap().get_one::<bool>("force"), Some(&true));
        // A separate word is not the flag's value (Go's rule).
        let m = cmd.try_get_matches_from(["berth", "kill", "--all", "id", "KILL"]).unwrap();
        assert_eq!(m.subcommand_matches("kill").unwrap().get_one::<String>("signal").map(String::as_str), Some("KILL"));
    }
}
