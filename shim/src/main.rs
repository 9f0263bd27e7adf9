//! `containerd-shim-berth-v2`: a containerd runtime v2 shim that drives a
//! runc-compatible runtime binary (berth by default) through its CLI.
//!
//! containerd runs the binary three ways, always with the bundle as the
//! working directory:
//! - `... -id ID start`: start the long-lived server (or find one already
//!   serving), write `address` in the bundle, print the address, exit;
//! - `... -id ID -bundle B delete`: clean up after a shim that is gone and
//!   print a protobuf `DeleteResponse`;
//! - `serve` is our own: the long-lived server that `start` launches.

mod args;
mod events;
mod mount;
mod oom;
mod options;
mod pty;
mod reaper;
mod runtime;
mod service;
mod sha256;
mod state;
mod stats;
mod stdio;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::SystemTime;

use args::{Action, Args};
use containerd_shim_protos::protobuf::{Message, MessageField};

/// Where containerd's shims put their sockets.
const SOCKET_DIR: &str = "/run/containerd/s";
/// The listening socket's fd in the `serve` process.
const LISTEN_FD: RawFd = 3;
/// The readiness pipe's fd in the `serve` process.
const READY_FD: RawFd = 4;
/// Environment variable naming a file the shim appends diagnostics to.
const ENV_LOG: &str = "BERTH_SHIM_LOG";

/// Logs a formatted line through [`log`], formatting only when logging is on.
#[macro_export]
macro_rules! slog {
    ($($t:tt)*) => {
        if $crate::log_enabled() {
            $crate::log(&format!($($t)*));
        }
    };
}

/// Whether `$BERTH_SHIM_LOG` is set (checked once).
pub fn log_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os(ENV_LOG).is_some())
}

/// Appends a diagnostic line to `$BERTH_SHIM_LOG`, if set. Never writes to
/// stdout or stderr: containerd reads `start`'s combined output as the address.
pub fn log(msg: &str) {
    if let Some(path) = std::env::var_os(ENV_LOG) {
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).create(true).open(path) {
            let _ = writeln!(f, "[{}] {msg}", std::process::id());
        }
    }
}

/// The socket containerd's shims would use for this container: a hash of
/// containerd's address, the namespace and the id, under /run/containerd/s.
fn socket_path(a: &Args) -> PathBuf {
    let joined = format!("{}/{}/{}", a.address, a.namespace, a.id);
    let mut clean = String::new();
    for part in joined.split('/').filter(|p| !p.is_empty() && *p != ".") {
        clean.push('/');
        clean.push_str(part);
    }
    if !joined.starts_with('/') {
        clean.remove(0);
    }
    Path::new(SOCKET_DIR).join(sha256::hex_digest(clean.as_bytes()))
}

/// Annotations that put containers in one shim: CRI's sandbox id (every
/// container of a pod carries it, the sandbox itself too), then our own.
const GROUP_ANNOTATIONS: &[&str] = &["io.kubernetes.cri.sandbox-id", "io.containerd.berth.v2.group"];

/// The string value of `"key": "..."` anywhere in a JSON text (enough for
/// an annotation in config.json; no serde in the shim). Keys are unique
/// within the annotations object, and these names are used nowhere else.
fn json_value_of(text: &str, key: &str) -> Option<String> {
    let quoted = format!("\"{key}\"");
    let rest = text[text.find(&quoted)? + quoted.len()..].trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let line = format!("{{\"v\":{rest}");
    runtime::json_string_field(&line, "v")
}

/// The group a bundle's container belongs to, from its config.json
/// annotations (`None`: a shim of its own).
fn group_of(config: &str) -> Option<String> {
    GROUP_ANNOTATIONS.iter().find_map(|k| json_value_of(config, k)).filter(|g| !g.is_empty())
}

fn fail(msg: String) -> ! {
    log(&msg);
    // Not eprintln!: it panics when stderr is a closed pipe.
    let _ = writeln!(std::io::stderr(), "containerd-shim-berth-v2: {msg}");
    std::process::exit(1)
}

fn main() {
    let a = args::parse(std::env::args().skip(1)).unwrap_or_else(|e| fail(e));
    match a.action {
        // A closed stdout must not panic the shim (print! would): ignore it.
        Some(Action::Version) => {
            let _ = std::io::stdout().write_all(version_text().as_bytes());
        }
        Some(Action::Start) => start(&a),
        Some(Action::Delete) => delete(&a),
        Some(Action::Serve) => serve(&a),
        None => fail("no subcommand (want start or delete)".into()),
    }
}

/// What `-v` prints, in the layout of containerd's own shims
/// (`containerd-shim-runc-v2 -v`): the name it was called by, then
/// `Version:`, `Revision:` (the git commit, build.rs) and the compiler's
/// version where theirs print Go's, and an empty line.
fn version_text() -> String {
    let arg0 = std::env::args_os().next().map(PathBuf::from);
    let name = arg0.as_deref().and_then(Path::file_name).map_or_else(|| "containerd-shim-berth-v2".into(), |n| n.to_string_lossy());
    format!("{name}:\n  Version:  {}\n  Revision: {}\n  Rust version: {}\n\n", env!("CARGO_PKG_VERSION"), env!("BERTH_COMMIT"), env!("BERTH_RUSTC_VERSION"))
}

/// `start`: bind the socket, launch the server with it, wait until it
/// serves, write `address`, print the address.
fn start(a: &Args) {
    if a.id.is_empty() || a.namespace.is_empty() || a.address.is_empty() {
        fail("start needs -namespace, -address and -id".into());
    }
    // Containers of one group share one shim: its socket is named after the
    // group instead of the container, and the server is told that name.
    let config = std::fs::read_to_string("config.json").unwrap_or_default();
    let a = &match group_of(&config) {
        Some(g) => Args { id: g, ..a.clone() },
        None => a.clone(),
    };
    let sock = socket_path(a);
    let address = format!("unix://{}", sock.display());
    let _ = std::fs::create_dir_all(SOCKET_DIR);
    let listener = match UnixListener::bind(&sock) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            if UnixStream::connect(&sock).is_ok() {
                // A live shim already serves this address (a shared group).
                write_address_and_print(&address);
                return;
            }
            let _ = std::fs::remove_file(&sock);
            UnixListener::bind(&sock).unwrap_or_else(|e| fail(format!("bind {}: {e}", sock.display())))
        }
        Err(e) => fail(format!("bind {}: {e}", sock.display())),
    };
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        fail(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2 just returned these two fds; nothing else owns them.
    let (ready_r, ready_w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(format!("current_exe: {e}")));
    let mut cmd = Command::new(exe);
    cmd.args(["-namespace", &a.namespace, "-address", &a.address]).args(["-publish-binary", &a.publish_binary, "-id", &a.id]);
    if a.debug {
        cmd.arg("-debug");
    }
    cmd.arg("serve").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let (lfd, wfd) = (listener.as_raw_fd(), ready_w.as_raw_fd());
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (setsid, dup2, fcntl).
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            // Move the fds to 3 and 4 without clobbering one with the other.
            let (l, w) = (libc::fcntl(lfd, libc::F_DUPFD_CLOEXEC, 10), libc::fcntl(wfd, libc::F_DUPFD_CLOEXEC, 10));
            if l < 0 || w < 0 || libc::dup2(l, LISTEN_FD) < 0 || libc::dup2(w, READY_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // Never waited for: the server outlives us and is re-parented when we exit.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().unwrap_or_else(|e| fail(format!("spawn server: {e}")));
    drop(ready_w);
    drop(listener);
    let mut buf = [0u8; 1];
    let mut r = std::fs::File::from(ready_r);
    if r.read(&mut buf).unwrap_or(0) != 1 {
        let _ = std::fs::remove_file(&sock);
        fail(format!("server (pid {}) exited before serving", child.id()));
    }
    write_address_and_print(&address);
}

fn write_address_and_print(address: &str) {
    // containerd reads this file to reconnect after it restarts.
    if let Err(e) = std::fs::write("address", address) {
        fail(format!("write address file: {e}"));
    }
    // containerd may have given up and closed the pipe: not worth a panic.
    let mut out = std::io::stdout();
    let _ = out.write_all(address.as_bytes()).and_then(|()| out.flush());
}

/// `serve`: the long-lived shim server.
fn serve(a: &Args) {
    // The listening socket and the readiness pipe came from `start` without
    // close-on-exec (they had to survive our exec): no runtime call may
    // inherit them.
    for fd in [LISTEN_FD, READY_FD] {
        // SAFETY: fcntl(F_SETFD) on a descriptor number changes only its flags.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer argument.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        fail(format!("set child subreaper: {}", std::io::Error::last_os_error()));
    }
    reaper::block_sigchld().unwrap_or_else(|e| fail(format!("block SIGCHLD: {e}")));
    let reaper = reaper::Reaper::start().unwrap_or_else(|e| fail(format!("start reaper: {e}")));
    let ttrpc_addr = std::env::var("TTRPC_ADDRESS").unwrap_or_else(|_| format!("{}.ttrpc", a.address));
    let publisher = events::Publisher::new(&a.namespace, &ttrpc_addr);
    let svc = Arc::new(service::Service::new(&a.namespace, reaper, publisher.clone(), Some(socket_path(a))));

    let mut methods = containerd_shim_protos::create_task(svc.clone());
    let v2: Vec<_> = containerd_shim_protos::create_task(svc.clone())
        .into_iter()
        .map(|(k, v)| (k.replace("/containerd.task.v3.Task/", "/containerd.task.v2.Task/"), v))
        .collect();
    methods.extend(v2);
    for v in ["v2", "v3"] {
        methods.insert(format!("/containerd.task.{v}.Task/Wait"), Box::new(service::WaitHandler(svc.clone())));
    }
    // One idle worker per connection; the crate adds one while a call runs
    // (so a slow runtime call does not stall the others) and lets it go
    // after. Wait holds no worker (service::WaitHandler). start_listen:
    // `start` insists on default < max, which would keep a second idle one.
    let mut server = ttrpc::Server::new()
        .add_listener(LISTEN_FD)
        .unwrap_or_else(|e| fail(format!("listen: {e:?}")))
        .set_thread_count_min(1)
        .set_thread_count_default(1)
        .set_thread_count_max(1)
        .register_service(methods);
    server.start_listen().unwrap_or_else(|e| fail(format!("start ttrpc server: {e:?}")));
    // SAFETY: fd 4 is the readiness pipe `start` gave us and only we use it.
    let mut ready = unsafe { std::fs::File::from_raw_fd(READY_FD) };
    let _ = ready.write_all(b"R");
    drop(ready);
    log(&format!("serving {} for {}/{}", socket_path(a).display(), a.namespace, a.id));

    // The main thread sends events until Shutdown, then what is still queued.
    publisher.run();
    let _ = std::fs::remove_file(socket_path(a));
    log("shutdown");
    std::process::exit(0);
}

/// `delete`: the server is gone; remove the container, unmount its rootfs,
/// and report the exit status the server recorded (137 if it never did).
fn delete(a: &Args) {
    let bundle = if a.bundle.is_empty() { std::env::current_dir().unwrap_or_else(|e| fail(format!("cwd: {e}"))) } else { PathBuf::from(&a.bundle) };
    let rt = state::read_runtime(&bundle).unwrap_or_else(|| runtime::Runtime::resolve(&a.namespace, "", ""));
    // containerd runs `delete` after every shim disconnects, also when the
    // shim deleted the container itself before exiting: then the runtime
    // holds no state for the id and there is nothing to force.
    let plain = !a.id.is_empty() && !a.id.contains('/') && a.id != "." && a.id != "..";
    let known = !plain || std::fs::symlink_metadata(rt.root.join(&a.id)).is_ok();
    if known {
        reaper::block_sigchld().unwrap_or_else(|e| fail(format!("block SIGCHLD: {e}")));
        let reaper = reaper::Reaper::start().unwrap_or_else(|e| fail(format!("start reaper: {e}")));
        let log_path = bundle.join("log.json");
        if let Err(e) = rt.call(&reaper, Some(&log_path), &["delete", "--force", &a.id], None) {
            log(&format!("delete: {e}"));
        }
    }
    if let Err(e) = mount::unmount_all(&service::rootfs_of(&bundle)) {
        log(&format!("delete: {e}"));
    }
    let _ = std::fs::remove_file(socket_path(a));
    let (code, at) = state::read_exit(&bundle).unwrap_or((128 + libc::SIGKILL as u32, SystemTime::now()));
    let mut r = containerd_shim_protos::api::DeleteResponse::new();
    r.pid = state::read_pid(&bundle.join("init.pid")).unwrap_or(0);
    r.exit_status = code;
    r.exited_at = MessageField::some(events::timestamp(at));
    let bytes = r.write_to_bytes().unwrap_or_else(|e| fail(format!("encode: {e}")));
    let mut out = std::io::stdout();
    let _ = out.write_all(&bytes);
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_from_annotations() {
        let cfg = r#"{"ociVersion":"1.0.2","annotations":{"io.containerd.berth.v2.group":"g1","x":"y"}}"#;
        assert_eq!(group_of(cfg).as_deref(), Some("g1"));
        let cri = "{\n  \"annotations\": {\n    \"io.kubernetes.cri.sandbox-id\" : \"abc\",\n    \"io.containerd.berth.v2.group\": \"g\"\n  }\n}";
        assert_eq!(group_of(cri).as_deref(), Some("abc"));
        assert_eq!(group_of(r#"{"annotations":{"io.containerd.berth.v2.group":""}}"#), None);
        assert_eq!(group_of("{}"), None);
    }

    #[test]
    fn socket_path_matches_go_join() {
        let a = Args { address: "/run/containerd/containerd.sock".into(), namespace: "default".into(), id: "web".into(), ..Default::default() };
        let want = sha256::hex_digest(b"/run/containerd/containerd.sock/default/web");
        assert_eq!(socket_path(&a), Path::new(SOCKET_DIR).join(want));
        let b = Args { address: "/run//c.sock/".into(), ..a.clone() };
        let want = sha256::hex_digest(b"/run/c.sock/default/web");
        assert_eq!(socket_path(&b), Path::new(SOCKET_DIR).join(want));
    }
}
