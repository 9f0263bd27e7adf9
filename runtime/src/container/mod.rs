//! The container lifecycle (runtime.md "Lifecycle"), ordering the modules of
//! each kernel concern.
//!
//! `create` runs in the caller's process up to one clone of the container's
//! init; from then on the two talk over a socketpair ([`crate::sync`]):
//!
//! 1. parent: validate the id and config, open namespace paths, make the
//!    state directory and write the record of what is to come (saved
//!    config, provisional state), then the cgroup directories, the start
//!    gate (a FIFO);
//! 2. parent: enter a joined pid/time namespace or create the time namespace
//!    (they apply to children), then clone the init with every new namespace;
//! 3. parent: record the init's pid and start time, write id maps and
//!    oom_score_adj, put the init in its cgroup, send Go;
//! 4. init ([`init`]): join namespaces, unshare the cgroup namespace, set up
//!    mounts, ask for the prestart/createRuntime hooks, run createContainer
//!    hooks, pivot_root, sysctls, hostname, console, masked and read-only
//!    paths, cwd, rlimits and process attributes, look up the executable,
//!    drop to the user and capabilities, report Ready and block on the gate;
//! 5. parent: write the final state and the pid file, return.
//!
//! `start` opens the gate; the init runs startContainer hooks and execs.

mod cgroup_ops;
mod checkpoint;
mod create;
mod exec;
mod exec_cgroups;
mod init;
mod ops;
mod recover;
mod wait;

pub use cgroup_ops::{events, parse_duration, pause, ps, resume, update, PsFormat, UpdateArgs};
pub use checkpoint::{checkpoint, restore, CheckpointOpts, CriuOpts, RestoreOpts};
pub use create::{create, Console, CreateOpts};
pub use exec::{exec, ExecOpts};
pub use ops::{delete, kill, list, run, start, state, ListFormat, RunOpts};
