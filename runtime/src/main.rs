//! The `berth` command line: runc-compatible flags and subcommands.

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
}

fn main() {
    let cli = Cli::parse();
    let format = if cli.log_format == "json" { logging::Format::Json } else { logging::Format::Text };
    if let Err(e) = logging::init(cli.log.as_deref(), format, cli.debug) {
        eprintln!("berth: open log file: {e}");
        std::process::exit(1);
    }
    let log_to_file = cli.log.is_some();
    match dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // Engines read the log file; people read stderr.
            if log_to_file {
                log::error!("{e}");
            }
            eprintln!("berth: {e}");
            std::process::exit(1);
        }
    }
}

fn dispatch(cli: Cli) -> Result<i32> {
    if cli.version {
        print!("{}", berth::features::version_text());
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
            println!("{}", container::state(&root, &id)?);
            Ok(0)
        }
        Cmd::Kill { all, id, signal } => {
            let sig = signals::parse(signal.as_deref().unwrap_or("SIGTERM"))?;
            container::kill(&root, &id, sig, all).map(|_| 0)
        }
        Cmd::Delete { force, id } => container::delete(&root, &id, force).map(|_| 0),
        Cmd::Run { create, detach, keep } => container::run(&root, create_opts(create), RunOpts { detach, keep }),
        Cmd::List { format, quiet } => {
            let f = if format == "json" { ListFormat::Json } else { ListFormat::Table };
            print!("{}", container::list(&root, f, quiet)?);
            Ok(0)
        }
        Cmd::Spec { bundle, rootless } => berth::specgen::write(&bundle, rootless).map(|_| 0),
        Cmd::Update(a) => container::update(&root, &a).map(|_| 0),
        Cmd::Pause { id } => container::pause(&root, &id).map(|_| 0),
        Cmd::Resume { id } => container::resume(&root, &id).map(|_| 0),
        Cmd::Events { stats, interval, id } => {
            let every = container::parse_duration(&interval).map_err(|e| Error::msg(format!("--interval: {e}")))?;
            container::events(&root, &id, stats, every).map(|_| 0)
        }
        Cmd::Ps { format, id, ps_args } => {
            let f = if format == "json" { container::PsFormat::Json } else { container::PsFormat::Table };
            print!("{}", container::ps(&root, &id, f, &ps_args)?);
            Ok(0)
        }
        Cmd::Features => {
            println!("{}", serde_json::to_string_pretty(&berth::features::document()).unwrap_or_default());
            Ok(0)
        }
    }
}

fn create_opts(a: CreateArgs) -> CreateOpts {
    let console = match a.console_socket {
        Some(p) => container::Console::Socket(p),
        None => container::Console::None,
    };
    // systemd socket activation: LISTEN_FDS fds follow stdio and pass on.
    let listen = std::env::var("LISTEN_FDS").ok().and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    CreateOpts {
        id: a.id,
        bundle: a.bundle,
        console,
        pid_file: a.pid_file,
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds + listen,
    }
}
