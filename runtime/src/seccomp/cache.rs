//! A cache of compiled programs. libseccomp's BPF generation costs ~6 ms for
//! Docker's default profile with its three x86 architectures (under 1 ms
//! for the native one alone), a large share of a `create`. Engines send the
//! same few profiles again and again, so the program is kept on disk, keyed
//! by everything the compilation depends on.
//!
//! A cached program is loaded into containers, so the cache is trusted only
//! as far as its directory and files are: both must belong to the caller and
//! be writable by no one else, and an entry is used only if its stored key
//! (the whole profile, libseccomp's version, the kernel release) equals the
//! one asked for, so a hash collision cannot select another profile's
//! program. Any problem with the cache falls back to building; failing to
//! write an entry is not an error.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;

use super::{build, library_version, Filter};
use crate::error::Result;

/// Bumped whenever what `build` produces for a profile changes (2: the
/// ENOSYS stub), so entries of an older Berth are never used.
const MAGIC: &[u8; 8] = b"BERTHSC2";

/// Where compiled programs are kept by default: `/run/berth-seccomp` for
/// root, `$XDG_RUNTIME_DIR/berth-seccomp` for other users, else nowhere
/// (no cache). Never under a state root (`/run/berth` is the default
/// one): engines share their `--root` with runc and take every entry there
/// for a container. Both live on a tmpfs, so entries go at reboot together
/// with the kernel they were built for.
pub fn default_dir() -> Option<PathBuf> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return Some(PathBuf::from("/run/berth-seccomp"));
    }
    let run = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty())?;
    Some(Path::new(&run).join("berth-seccomp"))
}

/// Like [`build`], but reuse a program compiled earlier for the same profile
/// by this libseccomp on this kernel, kept in `dir` (created 0700 if
/// missing; the directory and its parent must belong to the caller and be
/// writable by nobody else, see [`default_dir`]). `None`: no cache.
pub fn build_cached(s: &LinuxSeccomp, dir: Option<&Path>) -> Result<Filter> {
    let Some(dir) = dir else { return build(s) };
    let Some(key) = key(s) else { return build(s) };
    let name = format!("{:016x}.bpf", fnv1a(&key));
    if let Some(f) = read(dir, &name, &key) {
        return Ok(f);
    }
    let f = build(s)?;
    if let Err(e) = write(dir, &name, &key, &f) {
        log::debug!("seccomp: not caching the compiled filter in {}: {e}", dir.display());
    }
    Ok(f)
}

/// Everything the compiled program depends on.
fn key(s: &LinuxSeccomp) -> Option<Vec<u8>> {
    let mut k = serde_json::to_vec(s).ok()?;
    k.push(0);
    k.extend_from_slice(library_version().as_bytes());
    k.push(0);
    k.extend_from_slice(fs::read("/proc/sys/kernel/osrelease").ok()?.trim_ascii());
    Some(k)
}

/// FNV-1a: stable across builds and Rust versions, unlike `DefaultHasher`.
/// Only names the file; the stored key is compared in full.
fn fnv1a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3))
}

/// Owned by us and writable by nobody else.
fn trusted(md: &fs::Metadata) -> bool {
    // SAFETY: geteuid has no preconditions.
    md.uid() == unsafe { libc::geteuid() } && md.mode() & 0o022 == 0
}

/// The directory and its parent are [`trusted`]: whoever could rename the
/// parent's entries could swap the directory.
fn trusted_dir(dir: &Path) -> bool {
    let ok = |p: &Path| fs::symlink_metadata(p).is_ok_and(|md| md.is_dir() && trusted(&md));
    ok(dir) && dir.parent().is_none_or(ok)
}

fn read(dir: &Path, name: &str, key: &[u8]) -> Option<Filter> {
    if !trusted_dir(dir) {
        return None;
    }
    let mut file = OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(dir.join(name)).ok()?;
    let md = file.metadata().ok()?;
    if !md.is_file() || !trusted(&md) {
        return None;
    }
    let mut b = Vec::with_capacity(md.len() as usize);
    file.read_to_end(&mut b).ok()?;
    decode(&b, key)
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if b.len() < n {
        return None;
    }
    let (h, t) = b.split_at(n);
    *b = t;
    Some(h)
}

fn u32_at(b: &mut &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(take(b, 4)?.try_into().ok()?))
}

/// Layout (native endian): magic, key length, key, flags (u64), notify (u8),
/// instruction count, instructions as `sock_filter`.
fn encode(key: &[u8], f: &Filter) -> Vec<u8> {
    let mut b = Vec::with_capacity(32 + key.len() + f.program.len() * 8);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&(key.len() as u32).to_ne_bytes());
    b.extend_from_slice(key);
    #[allow(clippy::useless_conversion)] // c_ulong is u64 only on 64-bit targets
    b.extend_from_slice(&u64::from(f.flags).to_ne_bytes());
    b.push(u8::from(f.notify));
    b.extend_from_slice(&(f.program.len() as u32).to_ne_bytes());
    for i in &f.program {
        b.extend_from_slice(&i.code.to_ne_bytes());
        b.push(i.jt);
        b.push(i.jf);
        b.extend_from_slice(&i.k.to_ne_bytes());
    }
    b
}

fn decode(mut b: &[u8], key: &[u8]) -> Option<Filter> {
    let b = &mut b;
    if take(b, 8)? != MAGIC {
        return None;
    }
    let klen = u32_at(b)? as usize;
    if take(b, klen)? != key {
        return None;
    }
    let flags = u64::from_ne_bytes(take(b, 8)?.try_into().ok()?) as libc::c_ulong;
    let notify = take(b, 1)?[0] != 0;
    let n = u32_at(b)? as usize;
    if n == 0 || n > super::MAX_INSNS || b.len() != n * 8 {
        return None;
    }
    let program = super::decode_program(b);
    Some(Filter { program, flags, notify })
}

fn write(dir: &Path, name: &str, key: &[u8], f: &Filter) -> std::io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    if !trusted_dir(dir) {
        return Err(std::io::Error::other("directory not owned by us or writable by others"));
    }
    // Write then rename, so a reader never sees half an entry.
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let res = (|| {
        let mut file: File = OpenOptions::new().write(true).create_new(true).mode(0o600).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(&tmp)?;
        file.write_all(&encode(key, f))?;
        fs::rename(&tmp, dir.join(name))
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn docker() -> LinuxSeccomp {
        let path = format!("{}/tests/data/docker-default.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
    }

    struct Tmp(std::path::PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn second_build_comes_from_the_cache_and_matches() {
        let tmp = Tmp(std::env::temp_dir().join(format!("berth-seccomp-cache-{}", std::process::id())));
        let dir = tmp.0.join("cache");
        let s = docker();
        let t = std::time::Instant::now();
        let a = build_cached(&s, Some(&dir)).unwrap();
        let cold = t.elapsed();
        let t = std::time::Instant::now();
        let b = build_cached(&s, Some(&dir)).unwrap();
        let warm = t.elapsed();
        eprintln!("docker-default: cold {cold:?}, cached {warm:?}");
        assert_eq!(encode(b"k", &a), encode(b"k", &b));
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);

        // Another profile gets another entry, and a corrupted or foreign-key
        // entry is not used.
        let mut other = s.clone();
        other.set_default_errno_ret(Some(38));
        let c = build_cached(&other, Some(&dir)).unwrap();
        assert_ne!(encode(b"k", &a), encode(b"k", &c));
        let k = key(&s).unwrap();
        let mut bytes = encode(&k, &a);
        assert!(decode(&bytes, &k).is_some());
        assert!(decode(&bytes, b"another key").is_none());
        bytes.pop();
        assert!(decode(&bytes, &k).is_none());

        // A group-writable directory is not trusted.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o770)).unwrap();
        assert!(read(&dir, &format!("{:016x}.bpf", fnv1a(&k)), &k).is_none());
        assert!(build_cached(&s, Some(&dir)).is_ok());
        // So is a trusted directory in a parent others may write.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        assert!(read(&dir, &format!("{:016x}.bpf", fnv1a(&k)), &k).is_some());
        fs::set_permissions(&tmp.0, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(read(&dir, &format!("{:016x}.bpf", fnv1a(&k)), &k).is_none());
    }
}
