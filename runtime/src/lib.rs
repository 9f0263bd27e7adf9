//! Berth: a low-level OCI container runtime.
//!
//! The library holds one module per kernel concern; [`container`] orders them
//! into the create / start / kill / delete lifecycle of the OCI runtime spec.

pub mod capabilities;
pub mod cgroups;
pub mod check;
pub mod config;
pub mod console;
pub mod container;
pub mod env;
pub mod error;
pub mod features;
pub mod hooks;
pub mod logging;
pub mod lsm;
pub mod namespaces;
pub mod output;
pub mod process;
pub mod procfs;
pub mod rlimits;
pub mod rootfs;
pub mod seccomp;
pub mod signals;
pub mod specgen;
pub mod state;
pub mod sync;
