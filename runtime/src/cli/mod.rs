//! The `berth` binary's command line (this module belongs to the binary, not
//! the library): runc's global flags, subcommands and their flags, parsed
//! with runc's rules where they differ from clap's (see [`argv`]), help in
//! runc's layout ([`help`]) and runc's exit codes for parse failures.

pub mod argv;
pub mod help;

use berth::container;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Global flags and the subcommand.
#[derive(Parser)]
#[command(name = "berth", about = "A low-level OCI container runtime", disable_version_flag = true, disable_help_subcommand = true)]
pub struct Cli {
    /// root directory for storage of container state (this should be located in tmpfs) (runc's --root, whose default is /run/runc)
    #[arg(long, global = true, default_value = "/run/berth")]
    pub root: PathBuf,
    /// set the log file to write berth logs to (default is '/dev/stderr')
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// set the log format ('text' (default), or 'json')
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// enable debug logging
    #[arg(long, global = true)]
    pub debug: bool,
    /// enable systemd cgroup support: cgroupsPath is slice:prefix:name, the cgroup a transient systemd scope (unlike runc's --systemd-cgroup, restore refuses it)
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// cgroup manager: cgroupfs, systemd or disabled (crun's --cgroup-manager; runc has only --systemd-cgroup; create, run and restore refuse disabled)
    #[arg(long, global = true)]
    pub cgroup_manager: Option<String>,
    // Before the subcommand only (not global): `spec --rootless` is another flag.
    /// ignore cgroup permission errors ('true', 'false', or 'auto') (runc's --rootless, accepted and not used: Berth goes by its effective uid, and skips only the device rules a non-root caller may not set)
    #[arg(long)]
    pub rootless: Option<String>,
    /// path to the criu binary used for checkpoint and restore
    #[arg(long, global = true, default_value = "criu")]
    pub criu: PathBuf,
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

/// The DESCRIPTION of `berth check --help` (lines after the first are
/// indented as the help layout indents the first).
const CHECK_DESCRIPTION: &str = "One line per item: cgroup layout and controllers, systemd, namespaces,
   subordinate ids, seccomp, LSMs, the syscalls Berth relies on, CRIU, overlayfs;
   each ok, warn, missing or unknown (not readable by this user), with what it
   means for Berth. It reads only: no container, no file written.

   Exit status: 0 when this host can run containers with Berth, 1 when an
   essential item is missing (no cgroup hierarchy, one of the mount, pid, uts,
   ipc or network namespaces, seccomp, openat2, the new mount API, pidfds, or
   any way to enforce device rules). Optional items (CRIU, AppArmor, SELinux,
   user namespaces, systemd) never make it fail.";

/// Flags shared by create and run.
#[derive(Args)]
pub struct CreateArgs {
    /// path to the root of the bundle directory, defaults to the current directory
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// specify the file to write the process id to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// do not use pivot root to jail process inside rootfs
    #[arg(long)]
    pub no_pivot: bool,
    /// do not create a new session keyring for the container
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Container id.
    pub id: String,
}

/// The subcommands (runc's, plus `version`).
#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once
pub enum Cmd {
    /// checkpoint a running container
    Checkpoint(CheckpointArgs),
    /// create a container
    Create(CreateArgs),
    /// delete any resources held by the container often used with detached container
    Delete {
        /// Forcibly deletes the container if it is still running (uses SIGKILL)
        #[arg(short, long)]
        force: bool,
        /// Container id.
        id: String,
    },
    /// display container events such as OOM notifications, cpu, memory, and IO usage statistics
    Events {
        /// set the stats collection interval
        #[arg(long, default_value = "5s")]
        interval: String,
        /// display the container's stats then exit
        #[arg(long)]
        stats: bool,
        /// Container id.
        id: String,
    },
    /// execute new process inside the container
    Exec(ExecArgs),
    /// kill sends the specified signal (default: SIGTERM) to the container's init process
    Kill {
        /// send the specified signal to all processes inside the container
        #[arg(short, long)]
        all: bool,
        /// Container id.
        id: String,
        /// A name (KILL, SIGKILL, sigkill), a number, or 0 to probe the init.
        #[arg(allow_negative_numbers = true)]
        signal: Option<String>,
    },
    /// lists containers started by berth with the given root
    #[command(alias = "ls")]
    List {
        /// select one of: table or json
        #[arg(short, long, default_value = "table")]
        format: String,
        /// display only container IDs
        #[arg(short, long)]
        quiet: bool,
    },
    /// pause suspends all processes inside the container
    Pause {
        /// Container id.
        id: String,
    },
    /// ps displays the processes running inside a container
    Ps {
        /// select one of: table or json
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Container id.
        id: String,
        /// Arguments for ps(1) (default -ef).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// restore a container from a previous checkpoint
    Restore(RestoreArgs),
    /// resumes all processes that have been previously paused
    Resume {
        /// Container id.
        id: String,
    },
    /// create and run a container
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// detach from the container's process
        #[arg(short, long)]
        detach: bool,
        /// do not delete the container after it exits
        #[arg(long)]
        keep: bool,
        /// disable the use of the subreaper used to reap reparented processes
        #[arg(long)]
        no_subreaper: bool,
    },
    /// create a new specification file
    Spec {
        /// path to the root of the bundle directory
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// generate a configuration for a rootless container
        #[arg(long)]
        rootless: bool,
    },
    /// executes the user defined process in a created container
    Start {
        /// Container id.
        id: String,
    },
    /// output the state of a container
    State {
        /// Container id.
        id: String,
    },
    /// update container resource constraints
    Update(container::UpdateArgs),
    /// show the enabled features
    Features,
    /// report what this host supports (berth only; runc has no counterpart, cf. lxc-checkconfig)
    #[command(long_about = CHECK_DESCRIPTION)]
    Check {
        /// select one of: text or json
        #[arg(short, long, default_value = "text")]
        format: String,
        /// also run `criu check` (CRIU's own kernel tests; CRIU may cache their result in /run/criu.kdat)
        #[arg(long)]
        criu_check: bool,
    },
    /// print the version (Berth's own; runc 1.1 has only --version)
    Version,
    /// Shows a list of commands or help for one command
    #[command(alias = "h")]
    Help { topic: Vec<String> },
}

/// Flags checkpoint and restore share.
#[derive(Args)]
pub struct CriuArgs {
    /// path for the criu image files (default ./checkpoint)
    #[arg(long)]
    pub image_path: Option<PathBuf>,
    /// path for saving work files and logs (default: the image path)
    #[arg(long)]
    pub work_path: Option<PathBuf>,
    /// allow open tcp connections
    #[arg(long)]
    pub tcp_established: bool,
    /// allow external unix sockets
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// allow shell jobs
    #[arg(long)]
    pub shell_job: bool,
    /// handle file locks, for safety
    #[arg(long)]
    pub file_locks: bool,
    /// cgroups mode: 'soft' (default), 'full', 'strict' or 'ignore' (runc 1.2's 'ignore' too; runc 1.1 knows the first three)
    #[arg(long)]
    pub manage_cgroups_mode: Option<String>,
    /// create a namespace, but don't restore its properties (network only)
    #[arg(long)]
    pub empty_ns: Vec<String>,
    /// enable auto deduplication of memory images
    #[arg(long)]
    pub auto_dedup: bool,
    /// use userfaultfd to lazily restore memory pages
    #[arg(long)]
    pub lazy_pages: bool,
}

/// `berth checkpoint` flags.
#[derive(Args)]
pub struct CheckpointArgs {
    #[command(flatten)]
    pub criu: CriuArgs,
    /// path for previous criu image files in pre-dump
    #[arg(long)]
    pub parent_path: Option<PathBuf>,
    /// leave the process running after checkpointing
    #[arg(long)]
    pub leave_running: bool,
    /// criu writes \0 to this FD once lazy-pages is ready
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub status_fd: i32,
    /// ADDRESS:PORT of the page server
    #[arg(long)]
    pub page_server: Option<String>,
    /// dump container's memory information only, leave the container running after this
    #[arg(long)]
    pub pre_dump: bool,
    /// Container id.
    pub id: String,
}

/// `berth restore` flags.
#[derive(Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub criu: CriuArgs,
    /// path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal (unlike runc, a container with a terminal cannot be restored yet)
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// path to the root of the bundle directory
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// detach from the container's process
    #[arg(short, long)]
    pub detach: bool,
    /// specify the file to write the process id to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// disable the use of the subreaper used to reap reparented processes (unlike runc, only with --detach: without it Berth waits for the restored init as its subreaper)
    #[arg(long)]
    pub no_subreaper: bool,
    /// do not use pivot root to jail process inside rootfs (unlike runc, accepted and not used: CRIU restores the mount namespace itself)
    #[arg(long)]
    pub no_pivot: bool,
    /// Specify an LSM profile to be used during restore in the form of TYPE:NAME.
    #[arg(long)]
    pub lsm_profile: Option<String>,
    /// Specify an LSM mount context to be used during restore.
    #[arg(long)]
    pub lsm_mount_context: Option<String>,
    /// Container id.
    pub id: String,
}

impl CriuArgs {
    /// The library's options, with the `--criu` binary.
    pub fn into_opts(self, criu: PathBuf) -> container::CriuOpts {
        container::CriuOpts {
            criu,
            image_path: self.image_path,
            work_path: self.work_path,
            tcp_established: self.tcp_established,
            ext_unix_sk: self.ext_unix_sk,
            shell_job: self.shell_job,
            file_locks: self.file_locks,
            manage_cgroups_mode: self.manage_cgroups_mode,
            empty_ns: self.empty_ns,
            auto_dedup: self.auto_dedup,
            lazy_pages: self.lazy_pages,
        }
    }
}

/// `berth exec` flags.
#[derive(Args)]
pub struct ExecArgs {
    /// path to the process.json
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// current working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// set environment variables
    #[arg(short, long)]
    pub env: Vec<String>,
    /// UID (format: <uid>[:<gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// additional gids
    #[arg(short = 'g', long)]
    pub additional_gids: Vec<u32>,
    /// add a capability to the bounding set for the process
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// set the no new privileges value for the process
    #[arg(long)]
    pub no_new_privs: bool,
    /// set the apparmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// set the asm process label for the process commonly used with selinux
    #[arg(long)]
    pub process_label: Option<String>,
    /// detach from the container's process
    #[arg(short, long)]
    pub detach: bool,
    /// specify the file to write the process id to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>.
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// allow exec in a paused container
    #[arg(long)]
    pub ignore_paused: bool,
    /// Container id.
    pub id: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}
