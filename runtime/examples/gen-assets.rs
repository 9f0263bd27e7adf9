//! Generates berth's shell completions and man pages from its clap
//! definitions, for scripts/install.sh to install:
//!
//! ```text
//! cargo run --release -p berth --example gen-assets -- OUTDIR
//! ```
//!
//! writes
//!
//! - `OUTDIR/completions/berth.bash` (bash), `_berth` (zsh), `berth.fish` (fish):
//!   subcommands and their flags, global flags, the values a flag allows;
//! - `OUTDIR/man/man8/berth.8` (the global options and the list of
//!   commands) and one `berth-<command>.8` per subcommand (as runc's
//!   runc-create(8) ...), each with NAME, SYNOPSIS, DESCRIPTION, OPTIONS and
//!   SEE ALSO.
//!
//! Why an example: clap_complete and clap_mangen are dev-dependencies, so
//! the `berth` binary neither links them nor grows (it starts up to three
//! times per container). The command-line module belongs to the binary
//! (`runtime/src/cli`), so it is compiled in here by path; the pages and
//! scripts follow whatever subcommands and flags it defines, `check` or any
//! later one included. An existing OUTDIR is written into; the files named
//! above are replaced.

// The parsing helpers the binary uses are not called here.
#[allow(dead_code)]
#[path = "../src/cli/mod.rs"]
mod cli;

use clap::{Arg, ArgAction, Command, CommandFactory};
use clap_complete::Shell;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;
use std::fs;
use std::path::{Path, PathBuf};

/// runc's man pages are in section 8 (system administration commands).
const SECTION: &str = "8";

/// berth(8)'s DESCRIPTION: what clap's definitions do not say.
const DESCRIPTION: &str = "berth creates and runs containers from OCI bundles (a root filesystem and its config.json), \
with runc's command line, so that engines that drive runc (containerd, Docker, Podman) can use it in its place.

The global options go before the command: berth --root /run/x create --bundle /b ID. \
Each command has a page of its own, berth-COMMAND(8); berth help COMMAND and berth COMMAND --help print the same in short.

As runc's, flags may be spelled with one dash or two (-root, --root), and a boolean flag takes an optional value \
(--detach, --detach=true, --detach=false).";

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        eprintln!("usage: gen-assets OUTDIR");
        std::process::exit(2);
    };
    let out = PathBuf::from(out);
    for (rel, data) in assets() {
        let path = out.join(rel);
        let written = path.parent().map_or(Ok(()), fs::create_dir_all).and_then(|_| fs::write(&path, data));
        if let Err(e) = written {
            eprintln!("gen-assets: write {}: {e}", path.display());
            std::process::exit(1);
        }
    }
}

/// Every file, by its path under OUTDIR.
fn assets() -> Vec<(PathBuf, Vec<u8>)> {
    let cmd = command();
    let mut out = Vec::new();
    for (shell, file) in [(Shell::Bash, "berth.bash"), (Shell::Zsh, "_berth"), (Shell::Fish, "berth.fish")] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), "berth", &mut buf);
        out.push((Path::new("completions").join(file), buf));
    }
    let man = PathBuf::from(format!("man/man{SECTION}"));
    let pages = documented_subcommands(&cmd);
    let see_also: Vec<String> = pages.iter().map(|s| format!("berth-{}", s.get_name())).collect();
    // berth(8) lists only the commands that have a page of their own.
    let undocumented: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).filter(|n| !pages.iter().any(|p| p.get_name() == n)).collect();
    let root = undocumented.iter().fold(cmd.clone(), |c, n| c.mut_subcommand(n, |s| s.hide(true)));
    // runc's wording, and no "see a summary with '-h'": berth's -h and
    // --help print the same.
    let root = root.long_about(DESCRIPTION).disable_help_flag(true).arg(Arg::new("help").short('h').long("help").action(ArgAction::Help).help("show help"));
    out.push((man.join(format!("berth.{SECTION}")), page(root, "berth", &see_also)));
    for sub in pages {
        let name = format!("berth-{}", sub.get_name());
        // Display and binary names as clap gives a subcommand: the page's
        // title, and `berth create` in its synopsis. Built on its own, the
        // page shows the command's own flags; the global ones are berth(8)'s.
        let sub = sub.clone().display_name(&name).bin_name(format!("berth {}", sub.get_name()));
        out.push((man.join(format!("{name}.{SECTION}")), page(sub, &name, &["berth".to_string()])));
    }
    out
}

/// The command line as users see it. The binary answers `-v`/`--version`
/// before clap parses (cli::argv::normalize), so clap's definition lacks
/// it; it is added here so that pages and completions show it.
fn command() -> Command {
    cli::Cli::command()
        .version(env!("CARGO_PKG_VERSION"))
        .arg(Arg::new("version").short('v').long("version").action(ArgAction::Version).help("print the version"))
}

/// The subcommands that get a page: all but hidden ones and `help`, which
/// is the help system rather than a command (runc has no runc-help(8)).
fn documented_subcommands(cmd: &Command) -> Vec<&Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help").collect()
}

/// One man page: clap_mangen's sections, then SEE ALSO naming `related`.
fn page(cmd: Command, title: &str, related: &[String]) -> Vec<u8> {
    let mut buf = Vec::new();
    let man = Man::new(cmd).title(title).section(SECTION).source(concat!("berth ", env!("CARGO_PKG_VERSION"))).manual("Berth Manual");
    man.render(&mut buf).expect("render into memory");
    let mut see_also = Roff::new();
    see_also.control("SH", ["SEE ALSO"]);
    let mut refs = Vec::new();
    for (i, name) in related.iter().enumerate() {
        if i > 0 {
            refs.push(roman(", "));
        }
        refs.push(bold(name.as_str()));
        refs.push(roman(format!("({SECTION})")));
    }
    see_also.text(refs);
    // to_roff: no second preamble (render wrote one); the names hold no
    // apostrophes for it to guard.
    buf.extend_from_slice(see_also.to_roff().as_bytes());
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(assets: &[(PathBuf, Vec<u8>)], rel: &str) -> String {
        let (_, data) = assets.iter().find(|(p, _)| p == Path::new(rel)).unwrap_or_else(|| panic!("{rel} not generated"));
        String::from_utf8(data.clone()).unwrap()
    }

    /// Every subcommand the CLI defines gets a page, named in berth(8)'s
    /// SEE ALSO, and is completed with its flags, whatever the list is.
    #[test]
    fn pages_and_completions_cover_every_command_and_flag() {
        let a = assets();
        let root = text(&a, "man/man8/berth.8");
        assert!(root.contains(".SH \"SEE ALSO\""), "{root}");
        for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS"] {
            assert!(root.contains(&format!(".SH {section}")), "{section}: {root}");
        }
        let cmd = cli::Cli::command();
        let bash = text(&a, "completions/berth.bash");
        let fish = text(&a, "completions/berth.fish");
        let zsh = text(&a, "completions/_berth");
        for g in cmd.get_arguments().filter_map(|a| a.get_long()) {
            // roff escapes dashes: \-\-root.
            assert!(root.contains(&format!("\\-\\-{}", g.replace('-', "\\-"))), "--{g} not in berth(8)");
        }
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let name = sub.get_name();
            let page = text(&a, &format!("man/man8/berth-{name}.8"));
            assert!(page.starts_with(".ie") && page.contains(&format!(".TH berth-{name} 8")), "{name}: {page}");
            assert!(page.contains("\\fBberth\\fR(8)"), "{name}: SEE ALSO berth(8): {page}");
            assert!(root.contains(&format!("\\fBberth\\-{name}\\fR(8)")), "berth(8) does not name berth-{name}(8)");
            for shell in [&bash, &fish, &zsh] {
                assert!(shell.contains(name), "{name} not completed");
            }
            for flag in sub.get_arguments().filter_map(|a| a.get_long()) {
                assert!(page.contains(&flag.replace('-', "\\-")), "{name} --{flag} not on its page");
                assert!(bash.contains(&format!("--{flag}")), "bash lacks {name} --{flag}");
                assert!(fish.contains(&format!("-l {flag}")), "fish lacks {name} --{flag}");
                assert!(zsh.contains(&format!("--{flag}")), "zsh lacks {name} --{flag}");
            }
        }
        assert!(!a.iter().any(|(p, _)| p.ends_with("berth-help.8")));
    }
}
