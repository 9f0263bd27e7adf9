//! Berth: a low-level OCI container runtime.
//!
//! The library holds one module per kernel concern; [`container`] orders them
//! into the create / start / kill / delete lifecycle of the OCI runtime spec.

pub mod capabilities;
pub mod console;
pub mod error;
pub mod process;
pub mod rootfs;
