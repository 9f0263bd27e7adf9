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

use berth::container::{self, CreateOpts, ListFormat, RunOpts};
use berth::error::{Error, Result};
use berth::state::Root;
use berth::{logging, signals};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "berth", about = "A low-level OCI container runtime", disable_version_flag = true)]
struct Cli {
    /// State directory.
    #[arg(long, global = true, default_value = "/run/berth")]
    root: PathBuf,
    /// Log file (default: stderr).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Debug logging.
    #[arg(long, global = true)]
    debug: bool,
    /// Use systemd to manage cgroups.
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// cgroup manager: cgroupfs, systemd or disabled.
    #[arg(long, global = true)]
    cgroup_manager: Option<String>,
    /// Rootless mode: auto, true or false (accepted for runc compatibility;
    /// before the subcommand only, as `spec --rootless` is a different flag).
    #[arg(long)]
    rootless: Option<String>,
    /// Path to criu (accepted for runc compatibility).
    #[arg(long, global = true)]
    criu: Option<String>,
    /// Print the version.
    #[arg(short = 'v', long)]
    version: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Args)]
struct CreateArgs {
    /// Bundle directory.
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket to send the terminal's master fd to.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// File to write the init's pid to.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Use MS_MOVE and chroot instead of pivot_root.
    #[arg(long)]
    no_pivot: bool,
    /// Do not create a new session keyring.
    #[arg(long)]
    no_new_keyring: bool,
    /// Pass N extra fds (3..3+N) to the container.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// Container id.
    id: String,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once
enum Cmd {
    /// Create a container; it waits for `start`.
    Create(CreateArgs),
    /// Start a created container.
    Start { id: String },
    /// Output a container's state as JSON.
    State { id: String },
    /// Send a signal to a container's init (default SIGTERM).
    Kill {
        /// Signal every process in the container.
        #[arg(short, long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Delete a container and what it holds.
    Delete {
        /// Kill it first if it runs; succeed if it does not exist.
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create and start a container, then wait for it.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return after start.
        #[arg(short, long)]
        detach: bool,
        /// Do not delete the container after it exits.
        #[arg(long)]
        keep: bool,
    },
    /// List containers.
    #[command(alias = "ls")]
    List {
        /// table or json.
        #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        /// Ids only.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write a default config.json.
    Spec {
        /// Bundle directory to write config.json into.
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A config for rootless containers.
        #[arg(long)]
        rootless: bool,
    },
    /// Describe what this build of Berth supports (JSON).
    Features,
    /// Change a container's resource limits.
    Update(container::UpdateArgs),
    /// Freeze every process of a container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Print resource statistics and OOM events as JSON lines.
    Events {
        /// Print one stats event and exit.
        #[arg(long)]
        stats: bool,
        /// Time between stats events.
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// List the processes of a container.
    Ps {
        /// table or json.
        #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        id: String,
        /// Arguments for ps(1) (default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Run a new process in a running container.
    Exec(ExecArgs),
    /// Checkpoint a running container with CRIU.
    Checkpoint {
        #[command(flatten)]
        criu: CriuArgs,
        /// Leave the container running after the dump.
        #[arg(long)]
        leave_running: bool,
        /// Dump memory only (iterative migration); the container keeps running.
        #[arg(long)]
        pre_dump: bool,
        /// A previous (pre-)dump, relative to the image path.
        #[arg(long)]
        parent_path: Option<PathBuf>,
        id: String,
    },
    /// Restore a container from a CRIU checkpoint.
    Restore {
        #[command(flatten)]
        criu: CriuArgs,
        /// Bundle directory.
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// File to write the restored init's pid to.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// Return once restored (restore is always detached for now).
        #[arg(short, long)]
        detach: bool,
        id: String,
    },
}

#[derive(Args)]
struct CriuArgs {
    /// Directory for the images (default ./checkpoint).
    #[arg(long)]
    image_path: Option<PathBuf>,
    /// Directory for CRIU's logs and work files (default: the image path).
    #[arg(long)]
    work_path: Option<PathBuf>,
    /// Checkpoint established TCP connections.
    #[arg(long)]
    tcp_established: bool,
    /// Allow external unix sockets.
    #[arg(long)]
    ext_unix_sk: bool,
    /// Allow shell jobs.
    #[arg(long)]
    shell_job: bool,
    /// Handle file locks.
    #[arg(long)]
    file_locks: bool,
    /// cgroups mode: soft, full, strict or ignore.
    #[arg(long, value_parser = ["soft", "full", "strict", "ignore"])]
    manage_cgroups_mode: Option<String>,
}

impl From<CriuArgs> for container::CriuOpts {
    fn from(a: CriuArgs) -> Self {
        container::CriuOpts {
            image_path: a.image_path,
            work_path: a.work_path,
            tcp_established: a.tcp_established,
            ext_unix_sk: a.ext_unix_sk,
            shell_job: a.shell_job,
            file_locks: a.file_locks,
            manage_cgroups_mode: a.manage_cgroups_mode,
        }
    }
}

#[derive(Args)]
struct ExecArgs {
    /// Process JSON (config.md "process") to run instead of COMMAND.
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Allocate a terminal.
    #[arg(short, long)]
    tty: bool,
    /// Unix socket to send the terminal's master fd to.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Working directory in the container.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Environment entries (KEY=value) added to the container's.
    #[arg(short, long)]
    env: Vec<String>,
    /// UID[:GID] to run as.
    #[arg(short, long)]
    user: Option<String>,
    /// Supplementary group ids.
    #[arg(short = 'g', long)]
    additional_gids: Vec<u32>,
    /// Capabilities to add.
    #[arg(short, long)]
    cap: Vec<String>,
    /// Set no_new_privs.
    #[arg(long)]
    no_new_privs: bool,
    /// AppArmor profile.
    #[arg(long)]
    apparmor: Option<String>,
    /// SELinux process label.
    #[arg(long)]
    process_label: Option<String>,
    /// Return once the process runs.
    #[arg(short, long)]
    detach: bool,
    /// File to write the process's pid to.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Pass N extra fds (3..3+N) to the process.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// Sub-cgroup of the container's to join.
    #[arg(long)]
    cgroup: Option<String>,
    /// Allow exec in a paused container.
    #[arg(long)]
    ignore_paused: bool,
    /// Container id.
    id: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

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
            std::process::exit(1);
        }
    }
}

/// `Cli::parse()` and the subcommand's name, minus freeing the parser: clap builds the whole command
/// tree for one parse, and tearing it down again costs as much as a fifth of
/// the instructions of a short invocation (berth runs up to three times per
/// container). The process exits soon after; the kernel reclaims it all.
#[cfg_attr(test, allow(dead_code))] // reached only from the C `main`, not built for tests
fn parse_cli() -> (Cli, String) {
    use clap::{CommandFactory, FromArgMatches};
    let mut cmd = Cli::command();
    let mut matches = cmd.try_get_matches_from_mut(std::env::args_os()).unwrap_or_else(|e| e.exit());
    let name = matches.subcommand_name().unwrap_or("").to_string();
    let cli = Cli::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| e.format(&mut cmd).exit());
    std::mem::forget((cmd, matches));
    (cli, name)
}

#[cfg_attr(test, allow(dead_code))] // reached only from the C `main`, not built for tests
fn dispatch(cli: Cli) -> Result<i32> {
    if cli.version {
        berth::output::print(&berth::features::version_text());
        return Ok(0);
    }
    let manager = cli.cgroup_manager.as_deref().unwrap_or(if cli.systemd_cgroup { "systemd" } else { "cgroupfs" });
    match manager {
        "cgroupfs" => {}
        "systemd" => return Err(Error::msg("the systemd cgroup manager is not built yet; use --cgroup-manager cgroupfs")),
        "disabled" => return Err(Error::msg("--cgroup-manager disabled is not supported yet; use cgroupfs")),
        other => return Err(Error::msg(format!("unknown cgroup manager {other:?}: expected cgroupfs, systemd or disabled"))),
    }
    let root = Root::new(cli.root);
    let Some(cmd) = cli.cmd else {
        return Err(Error::msg("no command given; see berth --help"));
    };
    match cmd {
        Cmd::Create(a) => {
            container::create(&root, create_opts(a))?;
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
        Cmd::Run { create, detach, keep } => container::run(&root, create_opts(create), RunOpts { detach, keep }),
        Cmd::List { format, quiet } => {
            let f = if format == "json" { ListFormat::Json } else { ListFormat::Table };
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
        Cmd::Checkpoint { criu, leave_running, pre_dump, parent_path, id } => {
            container::checkpoint(&root, &id, container::CheckpointOpts { criu: criu.into(), leave_running, pre_dump, parent_path }).map(|_| 0)
        }
        Cmd::Restore { criu, bundle, pid_file, detach: _, id } => {
            container::restore(&root, &id, container::RestoreOpts { criu: criu.into(), bundle, pid_file }).map(|_| 0)
        }
        Cmd::Update(a) => container::update(&root, &a).map(|_| 0),
        Cmd::Pause { id } => container::pause(&root, &id).map(|_| 0),
        Cmd::Resume { id } => container::resume(&root, &id).map(|_| 0),
        Cmd::Events { stats, interval, id } => {
            let every = container::parse_duration(&interval).map_err(|e| Error::msg(format!("--interval: {e}")))?;
            container::events(&root, &id, stats, every).map(|_| 0)
        }
        Cmd::Ps { format, id, ps_args } => {
            let f = if format == "json" { container::PsFormat::Json } else { container::PsFormat::Table };
            berth::output::print(&container::ps(&root, &id, f, &ps_args)?);
            Ok(0)
        }
        Cmd::Features => {
            berth::output::println(&serde_json::to_string_pretty(&berth::features::document()).unwrap_or_default());
            Ok(0)
        }
    }
}

#[cfg_attr(test, allow(dead_code))] // reached only from the C `main`, not built for tests
fn create_opts(a: CreateArgs) -> CreateOpts {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// clap checks its own definition (duplicate flags, type mismatches)
    /// only when asked: a conflict would otherwise panic at run time.
    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
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
        ];
        for l in lines {
            Cli::try_parse_from(*l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
        }
        let exec = Cli::try_parse_from(["berth", "exec", "id", "sh", "-c", "--not-a-flag"]).unwrap();
        match exec.cmd {
            Some(Cmd::Exec(a)) => assert_eq!(a.command, ["sh", "-c", "--not-a-flag"]),
            _ => panic!("not exec"),
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
                let _ = Cli::try_parse_from(&argv);
            });
            assert!(r.is_ok(), "clap panicked on {argv:?}");
        }
    }
}
