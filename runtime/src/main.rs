//! The `berth` command line: runc-compatible flags and subcommands.
//!
//! Berth runs three times per container (create, start, delete), so its own
//! start-up counts: the C `main` below skips the Rust runtime's set-up (a
//! read of /proc/self/maps for the stack guard, an alternate signal stack,
//! SIGSEGV/SIGBUS handlers), about 15 syscalls a call.
//! Arguments still reach `std::env::args` (glibc hands them over at load
//! time), and `process::exit` still flushes stdout. SIGPIPE is ignored here
//! as the Rust runtime would have done.
#![cfg_attr(not(test), no_main)]

mod cli;

use berth::cgroups::systemd::Driver;
use berth::container::{self, CreateOpts, ListFormat, RunOpts};
use berth::error::{Error, Result};
use berth::state::Root;
use berth::{logging, signals};
use cli::{Cli, Cmd, CreateArgs};

/// The process entry point, called by the C runtime.
#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    // A hook that exits without reading its state must not kill us with
    // SIGPIPE: the write fails with EPIPE instead, which hooks.rs ignores.
    // Children get SIGPIPE back: std's spawn and the init both restore it.
    // SAFETY: installing SIG_IGN involves no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    run_cli();
    0
}

#[cfg_attr(test, allow(dead_code))] // reached only from the C `main`, not built for tests
fn run_cli() {
    let (cli, command) = parse_cli();
    let format = if cli.log_format == "json" { logging::Format::Json } else { logging::Format::Text };
    if let Err(e) = logging::init(cli.log.as_deref(), format, cli.debug) {
        berth::output::eprintln(&format!("berth: open log file: {e}"));
        std::process::exit(1);
    }
    let log_to_file = cli.log.is_some();
    log::debug!("berth {} {command}: pid {}", env!("CARGO_PKG_VERSION"), std::process::id());
    // runc's exit code for an exec it could not start: 255, so that a caller
    // tells it from the process's own exit status (which may well be 1).
    let failed = if matches!(cli.cmd, Some(Cmd::Exec(_))) { 255 } else { 1 };
    match dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // As runc: an error record ("level=error", the text says the
            // command failed) in the log; with --log, the log gets it and
            // stderr a plain line, else stderr gets the record itself.
            log::error!("berth {command} failed: {e}");
            if log_to_file {
                berth::output::eprintln(&format!("berth {command} failed: {e}"));
            }
            std::process::exit(failed);
        }
    }
}

/// `Cli::parse()` and the subcommand's name, with runc's rules and exit codes, minus freeing the
/// parser: clap builds the whole command tree for one parse, and tearing it
/// down again costs as much as a fifth of the instructions of a short
/// invocation (berth runs up to three times per container). The process
/// exits soon after; the kernel reclaims it all.
///
/// Exit codes as runc's: help and version 0; an unknown command 3 ("No
/// help topic for 'x'", as urfave/cli says it); any other usage error 1
/// (clap's own is 2, which no runc caller expects).
#[cfg_attr(test, allow(dead_code))] // reached only from the C `main`, not built for tests
fn parse_cli() -> (Cli, String) {
    use clap::error::ErrorKind;
    use clap::{CommandFactory, FromArgMatches};
    let mut cmd = Cli::command();
    let norm = cli::argv::normalize(&cmd, std::env::args_os().collect());
    if norm.version {
        berth::output::print(&berth::features::version_text());
        std::process::exit(0);
    }
    if cli::help::wanted(&norm.args) {
        cmd = cli::help::install(cmd, &berth::features::version_text());
    }
    let mut cmd = cli::argv::go_bools(cmd);
    let mut matches = match cmd.try_get_matches_from_mut(&norm.args) {
        Ok(m) => m,
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
            ErrorKind::InvalidSubcommand => {
                let name = e.get(clap::error::ContextKind::InvalidSubcommand).map(|v| v.to_string()).unwrap_or_default();
                no_help_topic(&name);
                std::process::exit(3);
            }
            _ => {
                let _ = e.print();
                std::process::exit(1);
            }
        },
    };
    let name = matches.subcommand_name().unwrap_or("").to_string();
    let cli = Cli::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| {
        let _ = e.format(&mut cmd).print();
        std::process::exit(1)
    });
    std::mem::forget((cmd, matches));
    (cli, name)
}

/// An unknown command or help topic: an error record on stderr, in the
/// text format (the command line that would choose another did not parse),
/// as runc writes it.
#[cfg_attr(test, allow(dead_code))] // reached only from the C `main`, not built for tests
fn no_help_topic(name: &str) {
    let now = logging::rfc3339(std::time::SystemTime::now());
    let line = logging::format_line(logging::Format::Text, log::Level::Error, &format!("No help topic for '{name}'"), &now);
    berth::output::eprintln(line.trim_end());
}

/// `help [TOPIC]` and `berth` alone: the help, on stdout, exit 0; an
/// unknown topic exits 3 as runc's does.
#[cfg_attr(test, allow(dead_code))] // reached only from the C `main`, not built for tests
fn help(topic: Option<&str>) -> Result<i32> {
    use clap::CommandFactory;
    let cmd = cli::help::install(Cli::command(), &berth::features::version_text());
    let text = match topic {
        None => cmd.clone().render_help().to_string(),
        Some(t) => match cli::help::topic(&cmd, t) {
            Some(text) => text,
            None => {
                no_help_topic(t);
                return Ok(3);
            }
        },
    };
    berth::output::print(&text);
    Ok(0)
}

/// The cgroup manager the global flags ask for; only commands that make
/// cgroups care (a container's later commands use the paths it recorded).
#[cfg_attr(test, allow(dead_code))] // reached only from the C `main`, not built for tests
fn check_cgroup_manager(cli: &Cli) -> Result<Driver> {
    let manager = cli.cgroup_manager.as_deref().unwrap_or(if cli.systemd_cgroup { "systemd" } else { "cgroupfs" });
    let makes_cgroups = matches!(cli.cmd, Some(Cmd::Create(_) | Cmd::Run { .. } | Cmd::Restore(_)));
    match manager {
        "cgroupfs" => Ok(Driver::Cgroupfs),
        "systemd" if matches!(cli.cmd, Some(Cmd::Restore(_))) => {
            Err(Error::msg("restore with the systemd cgroup manager is not supported yet (--systemd-cgroup); use --cgroup-manager cgroupfs"))
        }
        "systemd" => Ok(Driver::Systemd),
        "disabled" if makes_cgroups => Err(Error::msg("--cgroup-manager disabled is not supported yet; use cgroupfs")),
        "disabled" => Ok(Driver::Cgroupfs),
        other => Err(Error::msg(format!("unknown cgroup manager {other:?}: expected cgroupfs, systemd or disabled"))),
    }
}

/// runc's `--format` values for list and ps; anything else is its error.
fn table_or_json(format: &str) -> Result<bool> {
    match format {
        "table" => Ok(false),
        "json" => Ok(true),
        _ => Err(Error::msg("invalid format option")),
    }
}

#[cfg_attr(test, allow(dead_code))] // reached only from the C `main`, not built for tests
fn dispatch(cli: Cli) -> Result<i32> {
    let driver = check_cgroup_manager(&cli)?;
    let root = Root::new(cli.root);
    let criu = cli.criu;
    let Some(cmd) = cli.cmd else {
        // runc without a command shows its help and succeeds.
        return help(None);
    };
    match cmd {
        Cmd::Help { topic } => help(topic.first().map(String::as_str)),
        Cmd::Version => {
            berth::output::print(&berth::features::version_text());
            Ok(0)
        }
        Cmd::Create(a) => {
            container::create(&root, create_opts(a, driver))?;
            Ok(0)
        }
        Cmd::Start { id } => container::start(&root, &id).map(|_| 0),
        Cmd::State { id } => {
            berth::output::println(&container::state(&root, &id)?);
            Ok(0)
        }
        Cmd::Kill { all, id, signal } => {
            let sig = signal.as_deref().map(signals::parse).transpose()?;
            container::kill(&root, &id, sig, all).map(|_| 0)
        }
        Cmd::Delete { force, id } => container::delete(&root, &id, force).map(|_| 0),
        Cmd::Run { create, detach, keep, no_subreaper } => container::run(&root, create_opts(create, driver), RunOpts { detach, keep, no_subreaper }),
        Cmd::List { format, quiet } => {
            let f = if table_or_json(&format)? { ListFormat::Json } else { ListFormat::Table };
            berth::output::print(&container::list(&root, f, quiet)?);
            Ok(0)
        }
        Cmd::Spec { bundle, rootless } => berth::specgen::write(&bundle, rootless).map(|_| 0),
        Cmd::Exec(a) => container::exec(
            &root,
            &a.id,
            container::ExecOpts {
                process: a.process,
                args: a.command,
                tty: a.tty,
                console_socket: a.console_socket,
                cwd: a.cwd,
                env: a.env,
                user: a.user,
                additional_gids: a.additional_gids,
                caps: a.cap,
                no_new_privs: a.no_new_privs,
                apparmor: a.apparmor,
                process_label: a.process_label,
                detach: a.detach,
                pid_file: a.pid_file,
                preserve_fds: a.preserve_fds,
                cgroup: a.cgroup,
                ignore_paused: a.ignore_paused,
            },
        ),
        Cmd::Checkpoint(a) => {
            let o = container::CheckpointOpts {
                criu: a.criu.into_opts(criu),
                leave_running: a.leave_running,
                pre_dump: a.pre_dump,
                parent_path: a.parent_path,
                status_fd: a.status_fd,
                page_server: a.page_server,
            };
            container::checkpoint(&root, &a.id, o).map(|_| 0)
        }
        Cmd::Restore(a) => {
            let o = container::RestoreOpts {
                criu: a.criu.into_opts(criu),
                bundle: a.bundle,
                pid_file: a.pid_file,
                console_socket: a.console_socket,
                detach: a.detach,
                no_subreaper: a.no_subreaper,
                lsm_profile: a.lsm_profile,
                lsm_mount_context: a.lsm_mount_context,
            };
            container::restore(&root, &a.id, o)
        }
        Cmd::Update(a) => container::update(&root, &a).map(|_| 0),
        Cmd::Pause { id } => container::pause(&root, &id).map(|_| 0),
        Cmd::Resume { id } => container::resume(&root, &id).map(|_| 0),
        Cmd::Events { stats, interval, id } => {
            let every = container::parse_duration(&interval).map_err(|e| Error::msg(format!("--interval: {e}")))?;
            container::events(&root, &id, stats, every).map(|_| 0)
        }
        Cmd::Ps { format, id, ps_args } => {
            let f = if table_or_json(&format)? { container::PsFormat::Json } else { container::PsFormat::Table };
            berth::output::print(&container::ps(&root, &id, f, &ps_args)?);
            Ok(0)
        }
        Cmd::Check { format, criu_check } => {
            let json = match format.as_str() {
                "text" => false,
                "json" => true,
                _ => return Err(Error::msg("invalid format option: expected text or json")),
            };
            let report = berth::check::run(&berth::check::Options::host(root.dir, criu, criu_check), &berth::check::HostProbe);
            if json {
                berth::output::println(&report.json_text());
            } else {
                berth::output::print(&report.text());
            }
            Ok(report.exit_code())
        }
        Cmd::Features => {
            berth::output::println(&serde_json::to_string_pretty(&berth::features::document()).unwrap_or_default());
            Ok(0)
        }
    }
}

#[cfg_attr(test, allow(dead_code))] // reached only from the C `main`, not built for tests
fn create_opts(a: CreateArgs, cgroup_driver: Driver) -> CreateOpts {
    let console = match a.console_socket {
        Some(p) => container::Console::Socket(p),
        None => container::Console::None,
    };
    // systemd socket activation: LISTEN_FDS fds follow stdio and pass on,
    // announced to the container's init (pid 1 in its namespace).
    // As sd_listen_fds(3) does, honour them only when LISTEN_PID names us:
    // otherwise the variables were inherited by accident.
    let for_us = std::env::var("LISTEN_PID").ok().and_then(|v| v.parse::<u32>().ok()) == Some(std::process::id());
    let listen = std::env::var("LISTEN_FDS").ok().and_then(|v| v.parse::<u32>().ok()).filter(|_| for_us).unwrap_or(0);
    let extra_env = if listen > 0 { vec![format!("LISTEN_FDS={listen}"), "LISTEN_PID=1".to_string()] } else { Vec::new() };
    CreateOpts {
        id: a.id,
        bundle: a.bundle,
        console,
        pid_file: a.pid_file,
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds + listen,
        extra_env,
        cgroup_driver,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};

    /// clap checks its own definition (duplicate flags, type mismatches)
    /// only when asked: a conflict would otherwise panic at run time.
    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
        cli::argv::go_bools(Cli::command()).debug_assert();
        cli::help::install(cli::argv::go_bools(Cli::command()), "berth version 0").debug_assert();
    }

    /// What `parse_cli` does, returning clap's error instead of exiting.
    fn try_parse(argv: &[&str]) -> std::result::Result<Cli, clap::Error> {
        let norm = cli::argv::normalize(&Cli::command(), argv.iter().map(std::ffi::OsString::from).collect());
        let m = cli::argv::go_bools(Cli::command()).try_get_matches_from(norm.args)?;
        Cli::from_arg_matches(&m)
    }

    /// The calls engines make parse as intended.
    #[test]
    fn engine_command_lines_parse() {
        let lines: &[&[&str]] = &[
            &["berth", "--root", "/r", "--log", "/b/log.json", "--log-format", "json", "create", "--bundle", "/b", "--pid-file", "/b/init.pid", "id"],
            &["berth", "--log-format=json", "--log", "/f", "create", "--bundle", "/b", "--pid-file", "/p", "--console-socket", "/s", "id"],
            &["berth", "--root", "/r", "delete", "--force", "id"],
            &["berth", "--root", "/r", "exec", "--process", "/p.json", "--detach", "--pid-file", "/p", "id"],
            &["berth", "exec", "-t", "-e", "A=1", "-u", "1000:1000", "id", "sh", "-c", "ls -l"],
            &["berth", "--systemd-cgroup", "kill", "--all", "id", "9"],
            &["berth", "--rootless", "false", "spec", "--rootless"],
            &["berth", "--cgroup-manager", "cgroupfs", "run", "-d", "--keep", "-b", "/b", "id"],
            &["berth", "-root", "/r", "-systemd-cgroup=false", "exec", "-dt", "--cgroup", "cpu:a", "--cgroup", "memory:b", "id", "sh"],
            &["berth", "--criu", "/c", "checkpoint", "--manage-cgroups-mode", "full", "--empty-ns", "network", "--status-fd", "-1", "id"],
            &["berth", "restore", "--lsm-profile", "apparmor:p", "--no-subreaper", "--no-pivot", "--console-socket", "/s", "-d", "id"],
            &["berth", "kill", "id", "0"],
            &["berth", "kill", "id", "-9"],
            &["berth", "h", "kill"],
            &["berth", "version"],
        ];
        for l in lines {
            try_parse(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
        }
        let exec = try_parse(&["berth", "exec", "id", "sh", "-c", "--not-a-flag"]).unwrap();
        match exec.cmd {
            Some(Cmd::Exec(a)) => assert_eq!(a.command, ["sh", "-c", "--not-a-flag"]),
            _ => panic!("not exec"),
        }
        match try_parse(&["berth", "exec", "-dt", "id", "sh"]).unwrap().cmd {
            Some(Cmd::Exec(a)) => assert!(a.detach && a.tty),
            _ => panic!("not exec"),
        }
        match try_parse(&["berth", "run", "--detach=false", "--keep=true", "id"]).unwrap().cmd {
            Some(Cmd::Run { detach, keep, .. }) => assert!(!detach && keep),
            _ => panic!("not run"),
        }
        for bad in [&["berth", "--bogus", "list"][..], &["berth", "kill"], &["berth", "list", "x"], &["berth", "--log-format", "xml", "list"]] {
            assert!(try_parse(bad).is_err(), "{bad:?}");
        }
    }

    /// Random argument vectors: clap may refuse them, never panic.
    #[test]
    fn random_argv_never_panics() {
        let words = [
            "create",
            "start",
            "run",
            "exec",
            "kill",
            "delete",
            "state",
            "list",
            "spec",
            "features",
            "--root",
            "--log",
            "--log-format",
            "json",
            "text",
            "-b",
            "--bundle",
            "--pid-file",
            "--console-socket",
            "--preserve-fds",
            "-1",
            "99999999999",
            "--force",
            "-f",
            "--all",
            "id",
            "",
            "--",
            "-",
            "--detach",
            "-t",
            "-e",
            "=",
            "--format",
            "--rootless",
            "--cgroup-manager",
            "\u{0}",
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..5000 {
            let mut argv = vec!["berth".to_string()];
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for i in 0..(x % 8) {
                argv.push(words[((x >> (i * 5)) % words.len() as u64) as usize].to_string());
            }
            let r = std::panic::catch_unwind(|| {
                let a: Vec<&str> = argv.iter().map(String::as_str).collect();
                let _ = try_parse(&a);
            });
            assert!(r.is_ok(), "clap panicked on {argv:?}");
        }
    }
}
