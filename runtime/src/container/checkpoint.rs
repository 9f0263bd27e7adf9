//! `checkpoint` and `restore` through CRIU's command line (runc's flags).
//!
//! Berth prepares what CRIU cannot know about a container — its root, its
//! bind mounts as external mounts, its freezer cgroup, its stdio — and turns
//! CRIU's failures into errors that quote CRIU's own log.

use super::create::{new_state, write_pid_file};
use crate::cgroups;
use crate::config;
use crate::error::{Error, Result};
use crate::state::{self, Root, Status};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Flags shared by checkpoint and restore.
#[derive(Default)]
pub struct CriuOpts {
    /// The criu binary (global `--criu`; default: `criu` on PATH).
    pub criu: PathBuf,
    /// `--image-path` (default: ./checkpoint).
    pub image_path: Option<PathBuf>,
    /// `--work-path` (default: the image path).
    pub work_path: Option<PathBuf>,
    /// `--tcp-established`.
    pub tcp_established: bool,
    /// `--ext-unix-sk`.
    pub ext_unix_sk: bool,
    /// `--shell-job`.
    pub shell_job: bool,
    /// `--file-locks`.
    pub file_locks: bool,
    /// `--manage-cgroups-mode soft|full|strict|ignore`.
    pub manage_cgroups_mode: Option<String>,
    /// `--empty-ns NS` (repeatable): namespaces CRIU makes empty instead of
    /// dumping or restoring their properties; CRIU can do it for the
    /// network namespace only.
    pub empty_ns: Vec<String>,
    /// `--auto-dedup`.
    pub auto_dedup: bool,
    /// `--lazy-pages`: memory pages follow on demand (userfaultfd).
    pub lazy_pages: bool,
}

/// checkpoint-only flags.
#[derive(Default)]
pub struct CheckpointOpts {
    /// Shared flags.
    pub criu: CriuOpts,
    /// `--leave-running`.
    pub leave_running: bool,
    /// `--pre-dump`: memory only, the container keeps running.
    pub pre_dump: bool,
    /// `--parent-path`: a previous (pre-)dump, relative to the image path.
    pub parent_path: Option<PathBuf>,
    /// `--status-fd`: with `--lazy-pages`, CRIU writes \0 to it once the
    /// pages can be served (-1: none).
    pub status_fd: i32,
    /// `--page-server ADDRESS:PORT`: send the pages to a CRIU page server.
    pub page_server: Option<String>,
}

/// restore-only flags.
pub struct RestoreOpts {
    /// Shared flags.
    pub criu: CriuOpts,
    /// Bundle of the container to restore.
    pub bundle: PathBuf,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--console-socket` (a container with a terminal cannot be restored yet).
    pub console_socket: Option<PathBuf>,
    /// `--detach`: return once restored; otherwise wait for the restored
    /// init, return its exit status and delete the container (as `run`).
    pub detach: bool,
    /// `--no-subreaper`: do not become the restored tree's subreaper.
    pub no_subreaper: bool,
    /// `--lsm-profile TYPE:NAME` for the restored processes.
    pub lsm_profile: Option<String>,
    /// `--lsm-mount-context` for the restored mounts.
    pub lsm_mount_context: Option<String>,
}

fn dirs(o: &CriuOpts) -> Result<(PathBuf, PathBuf)> {
    let cwd = std::env::current_dir().map_err(|e| Error::os("get current directory", e))?;
    let image = cwd.join(o.image_path.clone().unwrap_or_else(|| PathBuf::from("checkpoint")));
    let work = o.work_path.as_ref().map(|w| cwd.join(w)).unwrap_or_else(|| image.clone());
    for d in [&image, &work] {
        std::fs::create_dir_all(d).map_err(|e| Error::os(format!("create {}", d.display()), e))?;
    }
    Ok((image, work))
}

/// Arguments every CRIU call of ours carries.
fn common_args(o: &CriuOpts, image: &Path, work: &Path, log: &str, rootfs: &Path, spec: &oci_spec::runtime::Spec) -> Vec<String> {
    let mut a: Vec<String> = vec!["-D".into(), image.display().to_string(), "-W".into(), work.display().to_string()];
    a.extend(["-o".into(), log.into(), "-v4".into(), "--root".into(), rootfs.display().to_string()]);
    for (on, flag) in [(o.tcp_established, "--tcp-established"), (o.ext_unix_sk, "--ext-unix-sk"), (o.shell_job, "--shell-job"), (o.file_locks, "--file-locks")]
    {
        if on {
            a.push(flag.into());
        }
    }
    // One argument: CRIU's --manage-cgroups takes its mode only attached
    // (a separate word would be read as a stray operand and refused).
    a.push(match &o.manage_cgroups_mode {
        Some(m) => format!("--manage-cgroups={m}"),
        None => "--manage-cgroups".into(),
    });
    if o.empty_ns.iter().any(|n| n == "network") {
        a.extend(["--empty-ns".into(), "net".into()]);
    }
    for (on, flag) in [(o.auto_dedup, "--auto-dedup"), (o.lazy_pages, "--lazy-pages")] {
        if on {
            a.push(flag.into());
        }
    }
    // Bind mounts come from outside the container: CRIU records them as
    // external and the restore maps them back to their sources.
    for m in spec.mounts().iter().flatten() {
        let opts = m.options().as_deref().unwrap_or(&[]);
        if m.typ().as_deref() == Some("bind") || opts.iter().any(|o| o == "bind" || o == "rbind") {
            let d = m.destination().display().to_string();
            a.extend(["--external".into(), format!("mnt[{d}]:{d}")]);
        }
    }
    a
}

/// The flags CRIU cannot carry out as given, refused before anything is
/// touched, with runc's words where runc has some.
fn check(o: &CriuOpts) -> Result<()> {
    if let Some(m) = o.manage_cgroups_mode.as_deref().filter(|m| !["soft", "full", "strict", "ignore"].contains(m)) {
        return Err(Error::msg(format!("Invalid manage cgroups mode {m:?}: expected soft, full, strict or ignore")).field("--manage-cgroups-mode"));
    }
    const KINDS: &[&str] = &["network", "pid", "mount", "ipc", "uts", "user", "cgroup", "time"];
    for ns in &o.empty_ns {
        if !KINDS.contains(&ns.as_str()) {
            return Err(Error::msg(format!("namespace {ns:?} is not supported")).field("--empty-ns"));
        }
        if ns != "network" {
            return Err(Error::msg(format!("CRIU can leave only the network namespace empty, not {ns:?}")).field("--empty-ns"));
        }
    }
    Ok(())
}

/// `--page-server ADDRESS:PORT` split at the last colon (an IPv6 address
/// has colons of its own, in brackets or not); the port must be a number.
fn page_server(s: &str) -> Result<(&str, &str)> {
    let (addr, port) = s
        .rsplit_once(':')
        .filter(|(a, p)| !a.is_empty() && !p.is_empty())
        .ok_or_else(|| Error::msg(format!("{s:?} is not ADDRESS:PORT")).field("--page-server"))?;
    port.parse::<u16>().map_err(|_| Error::msg(format!("invalid port number {port:?}")).field("--page-server"))?;
    Ok((addr, port))
}

/// Run CRIU; on failure quote the error lines of its log.
fn criu(bin: &Path, args: &[String], work: &Path, log: &str, what: &str) -> Result<()> {
    let out = Command::new(bin).args(args).output().map_err(|e| Error::os(format!("run {} {what} (is criu installed? see --criu)", bin.display()), e))?;
    if out.status.success() {
        return Ok(());
    }
    let text = std::fs::read_to_string(work.join(log)).unwrap_or_default();
    let mut errs: Vec<&str> = text.lines().filter(|l| l.contains("Error")).collect();
    if errs.is_empty() {
        errs = text.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
    }
    let errs: Vec<&str> = errs.into_iter().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect();
    Err(Error::msg(format!(
        "criu {what} failed ({}); log {}:\n{}{}",
        out.status,
        work.join(log).display(),
        String::from_utf8_lossy(&out.stderr),
        errs.join("\n")
    )))
}

/// `berth checkpoint`.
pub fn checkpoint(root: &Root, id: &str, o: CheckpointOpts) -> Result<()> {
    check(&o.criu)?;
    let page_server = o.page_server.as_deref().map(page_server).transpose()?;
    let locked = root.lock(id)?;
    let st = locked.load(id)?;
    match st.status(&locked.dir) {
        Status::Running | Status::Paused => {}
        s => return Err(Error::msg(format!("cannot checkpoint container {id}: it is {}", s.as_str()))),
    }
    let spec = config::load(&st.bundle)?.spec;
    let (image, work) = dirs(&o.criu)?;
    // stdio of the init, for restore to reconnect (CRIU's --inherit-fd keys).
    let fds: Vec<String> =
        (0..3).map(|n| std::fs::read_link(format!("/proc/{}/fd/{n}", st.pid)).map(|p| p.display().to_string()).unwrap_or_default()).collect();
    std::fs::write(image.join("descriptors.json"), serde_json::to_vec(&fds).unwrap_or_default())
        .map_err(|e| Error::os(format!("write {}", image.join("descriptors.json").display()), e))?;
    let mut args = vec![if o.pre_dump { "pre-dump" } else { "dump" }.to_string(), "-t".into(), st.pid.to_string()];
    args.extend(common_args(&o.criu, &image, &work, "dump.log", &st.rootfs, &spec));
    if let Some(freezer) = st.cgroup_paths.iter().find(|p| p.join("freezer.state").exists()) {
        args.extend(["--freeze-cgroup".into(), freezer.display().to_string()]);
    }
    if o.leave_running && !o.pre_dump {
        args.push("--leave-running".into());
    }
    if let Some(p) = &o.parent_path {
        args.extend(["--prev-images-dir".into(), p.display().to_string(), "--track-mem".into()]);
    } else if o.pre_dump {
        args.push("--track-mem".into());
    }
    if let Some((addr, port)) = page_server {
        args.extend(["--page-server".into(), "--address".into(), addr.trim_matches(['[', ']']).into(), "--port".into(), port.into()]);
    }
    if o.criu.lazy_pages && o.status_fd >= 0 {
        // Inherited: Berth opens nothing without close-on-exec, and the
        // caller's descriptor stays open across our exec of CRIU.
        args.extend(["--status-fd".into(), o.status_fd.to_string()]);
    }
    criu(&o.criu.criu, &args, &work, "dump.log", if o.pre_dump { "pre-dump" } else { "dump" }).map_err(|e| e.context(format!("checkpoint {id}")))?;
    if !o.leave_running && !o.pre_dump {
        // The processes are gone into the image: what they held goes too.
        let _ = cgroups::remove(&st.cgroup_paths);
        locked.remove()?;
    }
    Ok(())
}

/// `berth restore`: bring a checkpointed container back under `id`.
pub fn restore(root: &Root, id: &str, o: RestoreOpts) -> Result<i32> {
    state::validate_id(id)?;
    check(&o.criu)?;
    if !o.detach && o.no_subreaper {
        return Err(Error::msg("without --detach Berth waits for the restored init as its subreaper; use --detach with --no-subreaper").field("--no-subreaper"));
    }
    let bundle = config::load(&o.bundle)?;
    if bundle.spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false) {
        return Err(Error::msg("restoring a container with a terminal (process.terminal) is not supported yet").field("--console-socket"));
    }
    let (image, work) = dirs(&o.criu)?;
    let linux = bundle.spec.linux().as_ref();
    let placement = cgroups::resolve(linux.and_then(|l| l.cgroups_path().as_deref()), id)?;
    let locked = root.create_container_dir(id)?;
    let undo = |e: Error| {
        let _ = cgroups::remove(&placement.paths());
        let _ = locked.remove();
        e.context(format!("restore {id}"))
    };
    placement.create().map_err(undo)?;
    let pidfile = work.join("restore.pid");
    let mut args = vec!["restore".to_string(), "--restore-detached".into(), "--pidfile".into(), pidfile.display().to_string()];
    args.extend(common_args(&o.criu, &image, &work, "restore.log", &bundle.rootfs, &bundle.spec));
    // Our stdio replaces the init's old stdio.
    if let Ok(data) = std::fs::read(image.join("descriptors.json")) {
        let fds: Vec<String> = serde_json::from_slice(&data).unwrap_or_default();
        for (n, res) in fds.iter().enumerate().filter(|(_, r)| r.starts_with("pipe:") || r.starts_with("/dev/null")) {
            args.extend(["--inherit-fd".into(), format!("fd[{n}]:{res}")]);
        }
    }
    if let Some(p) = placement.paths().first() {
        if let Ok(rel) = p.strip_prefix(&placement.dirs[0].0.mountpoint) {
            args.extend(["--cgroup-root".into(), format!("/{}", rel.display())]);
        }
    }
    if let Some(p) = &o.lsm_profile {
        args.extend(["--lsm-profile".into(), p.clone()]);
    }
    if let Some(c) = &o.lsm_mount_context {
        args.extend(["--lsm-mount-context".into(), c.clone()]);
    }
    if !o.detach {
        // The restored tree's root is CRIU's child; when CRIU exits it
        // comes to us, so that we can wait for it as `run` does.
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    criu(&o.criu.criu, &args, &work, "restore.log", "restore").map_err(undo)?;
    let pid: i32 = std::fs::read_to_string(&pidfile).ok().and_then(|s| s.trim().parse().ok()).ok_or_else(|| undo(Error::msg("criu restore wrote no pid")))?;
    let (pid_start, _) = state::proc_stat(pid).ok_or_else(|| undo(Error::msg(format!("restored init {pid} is gone"))))?;
    let own_pidns = linux
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| n.iter().any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && n.path().is_none()));
    let st = new_state(id, pid, pid_start, &bundle, placement.paths(), own_pidns);
    locked.save(&st)?;
    if let Some(p) = &o.pid_file {
        write_pid_file(p, pid)?;
    }
    if o.detach {
        return Ok(0);
    }
    let code = super::wait::wait_forwarding(pid, None)?;
    super::ops::delete(root, id, true)?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manage_cgroups_mode_is_one_argument() {
        let spec = oci_spec::runtime::Spec::default();
        let (img, rootfs) = (Path::new("/img"), Path::new("/r"));
        let mut o = CriuOpts { manage_cgroups_mode: Some("full".into()), ..Default::default() };
        let a = common_args(&o, img, img, "dump.log", rootfs, &spec);
        assert!(a.contains(&"--manage-cgroups=full".to_string()), "{a:?}");
        assert!(!a.contains(&"full".to_string()), "no separate mode word: {a:?}");
        o.manage_cgroups_mode = None;
        o.empty_ns = vec!["network".into()];
        o.file_locks = true;
        let a = common_args(&o, img, img, "dump.log", rootfs, &spec);
        assert!(a.contains(&"--manage-cgroups".to_string()) && a.contains(&"--file-locks".to_string()), "{a:?}");
        assert!(a.windows(2).any(|w| w == ["--empty-ns", "net"]), "{a:?}");
    }

    #[test]
    fn refusals_name_the_flag() {
        let bad = |o: CriuOpts| check(&o).unwrap_err().to_string();
        assert!(bad(CriuOpts { manage_cgroups_mode: Some("loose".into()), ..Default::default() }).contains("--manage-cgroups-mode"));
        assert!(bad(CriuOpts { empty_ns: vec!["bogus".into()], ..Default::default() }).contains("not supported"));
        assert!(bad(CriuOpts { empty_ns: vec!["pid".into()], ..Default::default() }).contains("only the network"));
        for m in ["soft", "full", "strict", "ignore"] {
            check(&CriuOpts { manage_cgroups_mode: Some(m.into()), empty_ns: vec!["network".into()], ..Default::default() }).unwrap();
        }
    }

    #[test]
    fn page_server_address_and_port() {
        assert_eq!(page_server("10.0.0.1:27").unwrap(), ("10.0.0.1", "27"));
        assert_eq!(page_server("[::1]:27").unwrap(), ("[::1]", "27"));
        for bad in ["10.0.0.1", ":27", "host:", "host:port", "host:70000"] {
            assert!(page_server(bad).unwrap_err().to_string().contains("--page-server"), "{bad}");
        }
    }
}
