//! Engine-driven tests: a real containerd, started by the test with a private
//! configuration (root, state and sockets under a temporary directory, CRI
//! disabled), driving our shim and runtime; and Docker and Podman engines of
//! a test's own ([`engine`]) driving the runtime under test.
//!
//! The crate root only re-exports: [`Containerd`] and [`EventStream`] (the
//! private containerd, `containerd`), the helpers the containerd tests share
//! ([`ctr`]), building and finding binaries (`binaries`), commands and
//! processes (`process`), mounts and test cgroups on the host (`host`), the
//! runtime under test for the engines (`runtime`), and [`run_in_pty`]
//! ([`pty`]).
//!
//! `src/cri.rs`, a client of containerd's CRI plugin (the kubelet's gRPC
//! API), is not a module of this library: the tests that need it include it
//! by path, so that its gRPC stack is linked into those test binaries only
//! (see the file's own documentation).

mod binaries;
mod containerd;
pub mod ctr;
pub mod engine;
mod host;
pub mod image;
pub mod netns;
mod process;
pub mod pty;
pub mod readme;
mod runtime;
pub mod sandbox;
pub mod scenario;

pub use binaries::{has_target, profile, shim_binary, target_dir, which, workspace_binary, SHIM, SHIM_TARGET};
pub use containerd::{Containerd, EventStream, IMAGE, NAMESPACE};
pub use host::{cgroup_children, cgroup_dirs, mounts_under, remove_cgroup_tree, remove_test_cgroups, unmount_under};
pub use process::{kill_pids, pids_matching, run_timeout, show, stdout, stop_child, unique_id};
pub use pty::run_in_pty;
pub use runtime::{runtime_calls, runtime_list, runtime_under_test, runtime_wrapper};
