//! Root filesystem setup (interface stub; the real module lands from the rootfs branch).

use crate::error::{Error, Result};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A cgroup hierarchy to expose inside the container.
pub struct CgroupMount {
    /// Directory name under /sys/fs/cgroup.
    pub name: String,
    /// v1 mount options; empty for cgroup2.
    pub options: String,
    /// The container's cgroup directory on the host.
    pub host_path: PathBuf,
}

/// Inputs of rootfs setup.
pub struct RootfsCtx<'a> {
    pub spec: &'a oci_spec::runtime::Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub in_userns: bool,
    pub no_pivot: bool,
    pub terminal: bool,
    pub cgroupns: bool,
    pub cgroups: &'a [CgroupMount],
}

pub fn prepare(_: &RootfsCtx) -> Result<()> { Err(Error::msg("rootfs not built")) }
pub fn pivot(_: &RootfsCtx) -> Result<()> { Err(Error::msg("rootfs not built")) }
pub fn mount_console(_: BorrowedFd) -> Result<()> { Err(Error::msg("rootfs not built")) }
pub fn finalize(_: &RootfsCtx) -> Result<()> { Err(Error::msg("rootfs not built")) }
pub fn open_dir_in_root(_: &Path, _: &Path, _: bool) -> Result<OwnedFd> { Err(Error::msg("rootfs not built")) }
