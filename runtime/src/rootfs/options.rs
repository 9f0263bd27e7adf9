//! Translating a mount's option strings into mount(2) flags, propagation
//! changes, recursive (`mount_setattr`) attributes and the data string.
//!
//! Pure logic, so it is unit-tested without root.

use super::sys::*;

/// What one option string means.
#[derive(Clone, Copy, Debug)]
enum Opt {
    /// Set these mount(2) flags.
    Set(libc::c_ulong),
    /// Clear these mount(2) flags (the option is the opposite of a flag).
    Clear(libc::c_ulong),
    /// A propagation change, applied by a second mount(2) call.
    Propagation(libc::c_ulong),
    /// A recursive attribute: bits to set and bits to clear with mount_setattr.
    Recursive(u64, u64),
    /// Accepted and meaningless to mount(2).
    Nothing,
    /// Id-mapped mounts.
    Idmap,
    /// Copy the destination's contents into the new tmpfs.
    TmpCopyUp,
}

const ATIME_CLR: u64 = MOUNT_ATTR__ATIME;

/// Every option string with a meaning beyond "filesystem data".
const OPTIONS: &[(&str, Opt)] = &[
    ("defaults", Opt::Nothing),
    ("ro", Opt::Set(libc::MS_RDONLY)),
    ("rw", Opt::Clear(libc::MS_RDONLY)),
    ("nosuid", Opt::Set(libc::MS_NOSUID)),
    ("suid", Opt::Clear(libc::MS_NOSUID)),
    ("nodev", Opt::Set(libc::MS_NODEV)),
    ("dev", Opt::Clear(libc::MS_NODEV)),
    ("noexec", Opt::Set(libc::MS_NOEXEC)),
    ("exec", Opt::Clear(libc::MS_NOEXEC)),
    ("sync", Opt::Set(libc::MS_SYNCHRONOUS)),
    ("async", Opt::Clear(libc::MS_SYNCHRONOUS)),
    ("dirsync", Opt::Set(libc::MS_DIRSYNC)),
    ("remount", Opt::Set(libc::MS_REMOUNT)),
    ("mand", Opt::Set(libc::MS_MANDLOCK)),
    ("nomand", Opt::Clear(libc::MS_MANDLOCK)),
    ("noatime", Opt::Set(libc::MS_NOATIME)),
    ("atime", Opt::Clear(libc::MS_NOATIME)),
    ("nodiratime", Opt::Set(libc::MS_NODIRATIME)),
    ("diratime", Opt::Clear(libc::MS_NODIRATIME)),
    ("relatime", Opt::Set(libc::MS_RELATIME)),
    ("norelatime", Opt::Clear(libc::MS_RELATIME)),
    ("strictatime", Opt::Set(libc::MS_STRICTATIME)),
    ("nostrictatime", Opt::Clear(libc::MS_STRICTATIME)),
    ("lazytime", Opt::Set(libc::MS_LAZYTIME)),
    ("nolazytime", Opt::Clear(libc::MS_LAZYTIME)),
    ("iversion", Opt::Set(libc::MS_I_VERSION)),
    ("noiversion", Opt::Clear(libc::MS_I_VERSION)),
    // As runc: the flag, not filesystem data (a filesystem that has no
    // `acl` data option still takes the flag).
    ("acl", Opt::Set(libc::MS_POSIXACL)),
    ("noacl", Opt::Clear(libc::MS_POSIXACL)),
    ("silent", Opt::Set(libc::MS_SILENT)),
    ("loud", Opt::Clear(libc::MS_SILENT)),
    ("nosymfollow", Opt::Set(libc::MS_NOSYMFOLLOW)),
    ("symfollow", Opt::Clear(libc::MS_NOSYMFOLLOW)),
    ("bind", Opt::Set(libc::MS_BIND)),
    ("rbind", Opt::Set(libc::MS_BIND | libc::MS_REC)),
    ("private", Opt::Propagation(libc::MS_PRIVATE)),
    ("rprivate", Opt::Propagation(libc::MS_PRIVATE | libc::MS_REC)),
    ("shared", Opt::Propagation(libc::MS_SHARED)),
    ("rshared", Opt::Propagation(libc::MS_SHARED | libc::MS_REC)),
    ("slave", Opt::Propagation(libc::MS_SLAVE)),
    ("rslave", Opt::Propagation(libc::MS_SLAVE | libc::MS_REC)),
    ("unbindable", Opt::Propagation(libc::MS_UNBINDABLE)),
    ("runbindable", Opt::Propagation(libc::MS_UNBINDABLE | libc::MS_REC)),
    ("rro", Opt::Recursive(MOUNT_ATTR_RDONLY, 0)),
    ("rrw", Opt::Recursive(0, MOUNT_ATTR_RDONLY)),
    ("rnosuid", Opt::Recursive(MOUNT_ATTR_NOSUID, 0)),
    ("rsuid", Opt::Recursive(0, MOUNT_ATTR_NOSUID)),
    ("rnodev", Opt::Recursive(MOUNT_ATTR_NODEV, 0)),
    ("rdev", Opt::Recursive(0, MOUNT_ATTR_NODEV)),
    ("rnoexec", Opt::Recursive(MOUNT_ATTR_NOEXEC, 0)),
    ("rexec", Opt::Recursive(0, MOUNT_ATTR_NOEXEC)),
    ("rnodiratime", Opt::Recursive(MOUNT_ATTR_NODIRATIME, 0)),
    ("rdiratime", Opt::Recursive(0, MOUNT_ATTR_NODIRATIME)),
    // The atime modes are one 3-bit field: the kernel wants the whole field
    // cleared whenever one of them is set. `rnorelatime` takes away a flag
    // whose value is 0 (MOUNT_ATTR_RELATIME): it changes nothing, as with
    // runc (and as `norelatime` on a remount, which keeps the atime mode).
    // `ratime` and `rnostrictatime` give the kernel's default, relatime,
    // where runc asks the kernel to clear part of the field and gets EINVAL.
    ("rnoatime", Opt::Recursive(MOUNT_ATTR_NOATIME, ATIME_CLR)),
    ("ratime", Opt::Recursive(MOUNT_ATTR_RELATIME, ATIME_CLR)),
    ("rrelatime", Opt::Recursive(MOUNT_ATTR_RELATIME, ATIME_CLR)),
    ("rnorelatime", Opt::Recursive(0, 0)),
    ("rstrictatime", Opt::Recursive(MOUNT_ATTR_STRICTATIME, ATIME_CLR)),
    ("rnostrictatime", Opt::Recursive(MOUNT_ATTR_RELATIME, ATIME_CLR)),
    ("rnosymfollow", Opt::Recursive(MOUNT_ATTR_NOSYMFOLLOW, 0)),
    ("rsymfollow", Opt::Recursive(0, MOUNT_ATTR_NOSYMFOLLOW)),
    ("idmap", Opt::Idmap),
    ("ridmap", Opt::Idmap),
    ("tmpcopyup", Opt::TmpCopyUp),
];

/// Options only mount(8) acts on (fstab bookkeeping, helpers, labels):
/// config.md "Mounts" asks runtimes to follow mount(8), which never hands
/// them to the kernel. Exact names, and prefixes ending in `-` or `=`.
const USERSPACE_ONLY: &[&str] = &["auto", "noauto", "nofail", "_netdev", "user", "nouser", "users", "owner", "group", "x-", "comment="];

fn userspace_only(opt: &str) -> bool {
    USERSPACE_ONLY.iter().any(|u| if u.ends_with('-') || u.ends_with('=') { opt.starts_with(u) } else { opt == *u })
}

/// The option names with a meaning to Berth (`berth features`):
/// everything but the id-mapped mounts, which are not supported yet.
pub(crate) fn names() -> Vec<&'static str> {
    OPTIONS.iter().map(|(n, _)| *n).filter(|n| !matches!(*n, "idmap" | "ridmap")).collect()
}

/// A mount's options, sorted by how they reach the kernel.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct MountOptions {
    /// Flags for the mount(2) call itself.
    pub flags: libc::c_ulong,
    /// Propagation changes, in the order given.
    pub propagation: Vec<libc::c_ulong>,
    /// Recursive attributes for mount_setattr(AT_RECURSIVE).
    pub rec: MountAttrBits,
    /// Everything else, comma-joined: filesystem-specific data.
    pub data: String,
    /// `idmap`/`ridmap` was asked for.
    pub idmap: bool,
    /// `tmpcopyup` was asked for.
    pub tmpcopyup: bool,
}

/// Bits for `struct mount_attr`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MountAttrBits {
    pub set: u64,
    pub clr: u64,
}

impl MountAttrBits {
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clr == 0
    }
}

impl MountOptions {
    /// Parse the option strings of one mount (later options win).
    pub fn parse<S: AsRef<str>>(options: &[S]) -> Self {
        let mut o = MountOptions::default();
        for opt in options {
            let opt = opt.as_ref();
            match OPTIONS.iter().find(|(name, _)| *name == opt).map(|(_, v)| *v) {
                Some(Opt::Set(f)) => o.flags |= f,
                Some(Opt::Clear(f)) => o.flags &= !f,
                Some(Opt::Propagation(f)) => o.propagation.push(f),
                Some(Opt::Recursive(set, clr)) => {
                    // A later option overrides an earlier one on the same bits.
                    let field = if clr & ATIME_CLR != 0 { ATIME_CLR } else { set | clr };
                    o.rec.set = (o.rec.set & !field) | set;
                    o.rec.clr = (o.rec.clr & !(set | clr)) | clr;
                }
                Some(Opt::Nothing) => {}
                Some(Opt::Idmap) => o.idmap = true,
                Some(Opt::TmpCopyUp) => o.tmpcopyup = true,
                None if userspace_only(opt) => {}
                None => {
                    if !o.data.is_empty() {
                        o.data.push(',');
                    }
                    o.data.push_str(opt);
                }
            }
        }
        o
    }

    /// Whether this is a bind mount (flag-wise).
    pub fn is_bind(&self) -> bool {
        self.flags & libc::MS_BIND != 0
    }

    /// Flags a bind mount cannot take on its first mount(2) call and needs a
    /// remount for (everything but bind/rec/remount).
    pub fn remount_flags(&self) -> libc::c_ulong {
        self.flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_data_and_overrides() {
        let o = MountOptions::parse(&["nosuid", "strictatime", "mode=755", "size=65536k", "ro", "rw"]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(o.propagation.is_empty() && o.rec.is_empty() && !o.is_bind());
    }

    #[test]
    fn bind_and_remount_flags() {
        let o = MountOptions::parse(&["rbind", "ro", "nosuid"]);
        assert!(o.is_bind());
        assert_eq!(o.flags, libc::MS_BIND | libc::MS_REC | libc::MS_RDONLY | libc::MS_NOSUID);
        assert_eq!(o.remount_flags(), libc::MS_RDONLY | libc::MS_NOSUID);
        assert_eq!(MountOptions::parse(&["bind"]).remount_flags(), 0);
    }

    #[test]
    fn propagation_in_order() {
        let o = MountOptions::parse(&["bind", "rprivate", "shared"]);
        assert_eq!(o.propagation, vec![libc::MS_PRIVATE | libc::MS_REC, libc::MS_SHARED]);
        assert_eq!(o.flags, libc::MS_BIND);
    }

    #[test]
    fn recursive_attributes() {
        let o = MountOptions::parse(&["rbind", "rro", "rnosuid", "rnoatime"]);
        assert_eq!(o.rec.set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME);
        assert_eq!(o.rec.clr, MOUNT_ATTR__ATIME);
        let o = MountOptions::parse(&["rro", "rrw", "rnoatime", "rstrictatime"]);
        assert_eq!(o.rec.set, MOUNT_ATTR_STRICTATIME);
        assert_eq!(o.rec.clr, MOUNT_ATTR_RDONLY | MOUNT_ATTR__ATIME);
        assert_eq!(o.flags, 0);
        assert!(o.data.is_empty());
    }

    /// A recursive atime option that sets a mode always clears the whole
    /// atime field (the kernel refuses a partial MOUNT_ATTR__ATIME with
    /// EINVAL); rnorelatime changes nothing, alone or after another one.
    #[test]
    fn recursive_atime_options() {
        for (opt, mode) in [
            ("rnoatime", MOUNT_ATTR_NOATIME),
            ("rstrictatime", MOUNT_ATTR_STRICTATIME),
            ("rrelatime", MOUNT_ATTR_RELATIME),
            ("ratime", MOUNT_ATTR_RELATIME),
            ("rnostrictatime", MOUNT_ATTR_RELATIME),
        ] {
            let o = MountOptions::parse(&[opt]);
            assert_eq!((o.rec.set, o.rec.clr), (mode, MOUNT_ATTR__ATIME), "{opt}");
        }
        assert!(MountOptions::parse(&["rnorelatime"]).rec.is_empty());
        let o = MountOptions::parse(&["rnoatime", "rnorelatime"]);
        assert_eq!((o.rec.set, o.rec.clr), (MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME));
    }

    #[test]
    fn mount8_only_options_never_reach_the_kernel() {
        let o = MountOptions::parse(&["nofail", "x-systemd.automount", "comment=foo", "_netdev", "noauto", "size=1m", "xattr"]);
        assert_eq!(o.data, "size=1m,xattr");
        assert!(names().contains(&"tmpcopyup") && names().contains(&"iversion") && !names().contains(&"idmap"));
    }

    #[test]
    fn special_options() {
        let o = MountOptions::parse(&["idmap", "tmpcopyup", "defaults", "uid=5"]);
        assert!(o.idmap && o.tmpcopyup);
        assert_eq!(o.data, "uid=5");
        assert_eq!(o.flags, 0);
    }
}
