//! Writes into /proc that cannot be redirected (CVE-2025-52881 class).
//!
//! After pivot_root, "/proc" is whatever the container's mounts made it. A
//! write meant for a sysctl or an LSM attribute must land in a real procfs
//! file: /proc is opened and checked to be procfs, and the file is reached
//! from it without crossing a mount, following a magic link or climbing out.

use crate::error::{Error, Result};
use crate::rootfs::sys::{self, openat2, Resolve};
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

/// Read a pseudo file (procfs, cgroupfs: their size reads as 0) in large
/// reads. std's `read_to_string` sizes its buffer from that 0 and grows it
/// from 32 bytes, one read per doubling: 8 reads of /proc/self/mountinfo
/// where 2 do, each making the kernel render the file again.
pub fn read_small(path: impl AsRef<Path>) -> std::io::Result<String> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path)?;
    let mut buf: Vec<u8> = Vec::with_capacity(16384);
    // Straight into the spare capacity: no zeroing first (a memset of the
    // buffer per read) and no statx for a size hint that reads 0 anyway.
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity());
        }
        let spare = buf.spare_capacity_mut();
        // SAFETY: read(2) writes at most spare.len() bytes into memory the
        // vector owns; only the bytes it reports are marked initialised.
        let n = unsafe { libc::read(f.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            break;
        }
        // SAFETY: the kernel initialised these n bytes.
        unsafe { buf.set_len(buf.len() + n as usize) };
    }
    String::from_utf8(buf).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// statfs f_type of procfs.
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// Open /proc (as this process sees it) and check that it is procfs.
pub fn open_proc() -> Result<OwnedFd> {
    open_proc_at(Path::new("/proc"))
}

fn open_proc_at(path: &Path) -> Result<OwnedFd> {
    let f = std::fs::OpenOptions::new().read(true).custom_flags_dir().open(path).map_err(|e| Error::os(format!("open {}", path.display()), e))?;
    let fd: OwnedFd = f.into();
    let fs = sys::fs_type(fd.as_fd()).map_err(|e| Error::os(format!("statfs {}", path.display()), e))?;
    let ino = sys::fstat(fd.as_fd()).map_err(|e| Error::os(format!("stat {}", path.display()), e))?.st_ino;
    // The root of a procfs has inode 1: a procfs subdirectory bound or
    // linked into place (CVE-2019-16884) is refused as well.
    if fs != PROC_SUPER_MAGIC || ino != 1 {
        return Err(Error::msg(format!("{} is not the root of a procfs mount; refusing to write through it", path.display())));
    }
    Ok(fd)
}

trait DirFlags {
    fn custom_flags_dir(&mut self) -> &mut Self;
}

impl DirFlags for std::fs::OpenOptions {
    fn custom_flags_dir(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::custom_flags(self, libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
    }
}

/// Write `data` to `rel` (e.g. "sys/net/ipv4/ip_forward", "self/attr/exec")
/// under a checked /proc descriptor.
pub fn write(proc_fd: &OwnedFd, rel: &str, data: &[u8]) -> Result<()> {
    let fd = openat2(proc_fd.as_fd(), Path::new(rel), libc::O_WRONLY, 0, Resolve::SameMount).map_err(|e| Error::os(format!("open /proc/{rel}"), e))?;
    let mut f = std::fs::File::from(fd);
    f.write_all(data).map_err(|e| Error::os(format!("write /proc/{rel}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_small_reads_pseudo_and_large_files_whole() {
        let status = read_small("/proc/self/status").unwrap();
        assert!(status.starts_with("Name:") && status.contains("\nPid:"), "{status}");
        let big: String = (0..5000).map(|i| format!("{i:07}\n")).collect();
        let p = std::env::temp_dir().join(format!("berth-read-small-{}", std::process::id()));
        std::fs::write(&p, &big).unwrap();
        let got = read_small(&p);
        let _ = std::fs::remove_file(&p);
        assert_eq!(got.unwrap(), big);
        assert_eq!(read_small("/nonexistent/berth").unwrap_err().kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn refuses_non_procfs() {
        let e = open_proc_at(Path::new("/tmp")).unwrap_err();
        assert!(e.to_string().contains("not the root of a procfs"), "{e}");
    }

    #[test]
    fn refuses_a_procfs_subdirectory() {
        assert!(open_proc_at(Path::new("/proc/sys")).is_err());
    }

    #[test]
    fn writes_through_real_proc_and_refuses_escapes() {
        let p = open_proc().unwrap();
        // Our own oom_score_adj: raising it is always allowed.
        let cur = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap();
        write(&p, "self/oom_score_adj", cur.trim().as_bytes()).unwrap();
        // Magic links and climbing out are refused.
        assert!(write(&p, "self/cwd/x", b"").is_err());
        assert!(write(&p, "../tmp/x", b"").is_err());
    }
}
