//! The task service containerd talks to: `containerd.task.v2.Task`
//! (containerd 1.6/1.7) and `containerd.task.v3.Task` (2.x), which carry the
//! same messages, served by one implementation.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::SystemTime;

use containerd_shim_protos::api::{self, Status};
use containerd_shim_protos::events::task::{
    TaskCheckpointed, TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskOOM, TaskPaused, TaskResumed, TaskStart,
};
use containerd_shim_protos::protobuf::well_known_types::empty::Empty;
use containerd_shim_protos::protobuf::{Message, MessageField};
use containerd_shim_protos::shim::oci::CheckpointOptions;
use containerd_shim_protos::Task;
use ttrpc::{Code, TtrpcContext};

use crate::events::{timestamp, Event, Publisher};
use crate::mount::{self, MountSpec};
use crate::reaper::Reaper;
use crate::runtime::Runtime;
use crate::{pty, state, stdio};

type TtResult<T> = ttrpc::Result<T>;

fn err(code: Code, msg: impl Into<String>) -> ttrpc::Error {
    let msg = msg.into();
    crate::slog!("error {code:?}: {msg}");
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, msg))
}

fn unimplemented<T>(what: &str) -> TtResult<T> {
    Err(err(Code::UNIMPLEMENTED, format!("berth shim: {what} is not implemented yet")))
}

/// Answers one pending Wait with the exit code and time.
type Waiter = Box<dyn FnOnce(u32, SystemTime) + Send>;

/// The mutable state of one process (a container's init or an exec).
#[derive(Default)]
struct ProcState {
    /// Waits to answer when the process exits (see [`WaitHandler`]).
    waiters: Vec<Waiter>,
    pid: u32,
    status: Status,
    /// Exit code and time, once the process has exited.
    exit: Option<(u32, SystemTime)>,
    /// `Start` is between running the runtime and announcing the start.
    starting: bool,
    /// The process exited during `starting`: TaskExit is owed after the start event.
    exit_owed: bool,
}

/// A process of a container: its init (empty `exec_id`) or an exec.
struct Process {
    exec_id: String,
    stdin: String,
    stdout: String,
    stderr: String,
    terminal: bool,
    /// The exec's OCI process (JSON, as containerd sends it); empty for the init.
    spec: Vec<u8>,
    io: Mutex<stdio::IoCtl>,
    st: Mutex<ProcState>,
    exited: Condvar,
}

impl Process {
    fn new(exec_id: &str, stdin: &str, stdout: &str, stderr: &str, terminal: bool, spec: Vec<u8>) -> Process {
        Process {
            exec_id: exec_id.to_string(),
            stdin: stdin.to_string(),
            stdout: stdout.to_string(),
            stderr: stderr.to_string(),
            terminal,
            spec,
            io: Mutex::new(stdio::IoCtl::default()),
            st: Mutex::new(ProcState { status: Status::CREATED, ..Default::default() }),
            exited: Condvar::new(),
        }
    }
}

/// One container held by this shim.
struct Container {
    id: String,
    bundle: PathBuf,
    runtime: Runtime,
    rootfs_mounted: bool,
    init: Arc<Process>,
    execs: Mutex<HashMap<String, Arc<Process>>>,
}

impl Container {
    fn log_path(&self) -> PathBuf {
        self.bundle.join("log.json")
    }

    fn process(&self, exec_id: &str) -> TtResult<Arc<Process>> {
        if exec_id.is_empty() {
            return Ok(self.init.clone());
        }
        self.execs.lock().unwrap().get(exec_id).cloned().ok_or_else(|| err(Code::NOT_FOUND, format!("process {exec_id} of {} not found", self.id)))
    }
}

/// The task service.
pub struct Service {
    namespace: String,
    reaper: Arc<Reaper>,
    events: Arc<Publisher>,
    containers: Mutex<HashMap<String, Arc<Container>>>,
    /// Our listening socket's path, unlinked at Shutdown.
    socket: Option<PathBuf>,
}

/// Numbers exec process files so concurrent execs never share one.
static EXEC_SEQ: AtomicUsize = AtomicUsize::new(0);

impl Service {
    /// Creates the service; Shutdown (with no container left) finishes
    /// `events`, whose [`Publisher::run`] then returns in `main`.
    pub fn new(namespace: &str, reaper: Arc<Reaper>, events: Arc<Publisher>, socket: Option<PathBuf>) -> Service {
        Service { namespace: namespace.to_string(), reaper, events, containers: Mutex::new(HashMap::new()), socket }
    }

    fn get(&self, id: &str) -> TtResult<Arc<Container>> {
        self.containers.lock().unwrap().get(id).cloned().ok_or_else(|| err(Code::NOT_FOUND, format!("container {id} not found")))
    }

    /// Called on the reaper thread when a process exits.
    fn on_exit(events: &Publisher, c: &Container, p: &Process, code: u32) {
        let now = SystemTime::now();
        if p.exec_id.is_empty() {
            state::write_exit(&c.bundle, code, now);
        }
        stdio::release_input(&p.stdin);
        let mut s = p.st.lock().unwrap();
        let waiters = set_exit(&mut s, code, now);
        if s.starting {
            s.exit_owed = true;
        } else {
            events.publish(Event::Exit(exit_event(c, p, &s)));
        }
        p.exited.notify_all();
        drop(s);
        for w in waiters {
            w(code, now);
        }
    }

    /// Watches `pid` as process `p` of `c`.
    fn watch(&self, c: &Arc<Container>, p: &Arc<Process>, pid: u32) {
        let (events, c, p) = (self.events.clone(), c.clone(), p.clone());
        self.reaper.watch(pid as i32, move |code| Service::on_exit(&events, &c, &p, code));
    }

    /// Publishes TaskOOM for container `id` whenever its memory cgroup (that
    /// of its init, `pid`) OOM-kills. Best effort: a container without a
    /// memory cgroup we can see simply gets no OOM events.
    fn watch_oom(&self, id: &str, pid: u32) {
        let Some(cg) = crate::oom::memory_cgroup_of(pid) else {
            crate::slog!("oom: no memory cgroup found for {id} (pid {pid})");
            return;
        };
        let (events, cid) = (self.events.clone(), id.to_string());
        let on_oom = move || {
            let mut ev = TaskOOM::new();
            ev.container_id = cid.clone();
            events.publish(Event::Oom(ev));
        };
        if let Err(e) = self.reaper.watch_oom(id, cg, on_oom) {
            crate::slog!("oom: {id}: {e}");
        }
    }

    /// Runs `exec --detach` for `p` and returns its pid (watched already).
    fn start_exec(&self, c: &Arc<Container>, p: &Arc<Process>) -> Result<u32, String> {
        let mut prep = stdio::prepare(&self.namespace, &c.id, &p.stdin, &p.stdout, &p.stderr, p.terminal)?;
        let n = EXEC_SEQ.fetch_add(1, Ordering::Relaxed);
        let spec = c.bundle.join(format!("exec-{n}.json"));
        let pid_file = c.bundle.join(format!("exec-{n}.pid"));
        std::fs::write(&spec, &p.spec).map_err(|e| format!("write {}: {e}", spec.display()))?;
        let (sp, pf) = (spec.display().to_string(), pid_file.display().to_string());
        let console = prep.console.as_ref().map(|cs| cs.path().display().to_string());
        let mut args = vec!["exec", "--process", &sp, "--detach", "--pid-file", &pf];
        if let Some(cs) = &console {
            args.extend(["--console-socket", cs.as_str()]);
        }
        args.push(&c.id);
        let res = c.runtime.call(&self.reaper, Some(&c.log_path()), &args, Some(prep.stdio_take()));
        let _ = std::fs::remove_file(&spec);
        let pid = res.and_then(|_| state::read_pid(&pid_file));
        let _ = std::fs::remove_file(&pid_file);
        let pid = match pid {
            Ok(pid) => pid,
            Err(e) => {
                stdio::release_input(&p.stdin);
                return Err(e);
            }
        };
        p.st.lock().unwrap().pid = pid;
        self.watch(c, p, pid);
        *p.io.lock().unwrap() = prep.finish(&p.stdin, &p.stdout)?;
        Ok(pid)
    }
}

/// Records an exit; returns the Waits to answer.
fn set_exit(s: &mut ProcState, code: u32, at: SystemTime) -> Vec<Waiter> {
    s.exit = Some((code, at));
    s.status = Status::STOPPED;
    std::mem::take(&mut s.waiters)
}

fn wait_response(code: u32, at: SystemTime) -> api::WaitResponse {
    let mut r = api::WaitResponse::new();
    r.exit_status = code;
    r.exited_at = MessageField::some(timestamp(at));
    r
}

/// Serves Wait without holding a ttrpc worker thread until the process
/// exits: the request is parked on the process and answered from the reaper
/// thread through the connection's response channel. (The generated handler
/// would block one worker per outstanding Wait: one thread per container
/// and exec, for their whole lifetime.)
pub struct WaitHandler(pub Arc<Service>);

impl ttrpc::MethodHandler for WaitHandler {
    fn handler(&self, ctx: TtrpcContext, req: ttrpc::Request) -> ttrpc::Result<()> {
        use ttrpc::proto::ResponseInit;
        let wr = api::WaitRequest::parse_from_bytes(&req.payload).map_err(|e| ttrpc::Error::Others(format!("decode WaitRequest: {e}")))?;
        crate::slog!("rpc wait {:?}", wr);
        let stream = ctx.mh.stream_id;
        let reply = move |r: TtResult<api::WaitResponse>| {
            let res = match r.and_then(|w| w.write_to_bytes().map_err(|e| err(Code::INTERNAL, format!("encode WaitResponse: {e}")))) {
                Ok(payload) => {
                    let mut res = ttrpc::Response::init_status(ttrpc::get_status(Code::OK, ""));
                    res.set_payload(payload);
                    res
                }
                Err(ttrpc::Error::RpcStatus(st)) => ttrpc::Response::init_status(st),
                Err(e) => ttrpc::Response::init_status(ttrpc::get_status(Code::UNKNOWN, format!("{e:?}"))),
            };
            // The connection may be gone (containerd restarted): nothing to do then.
            let _ = ctx.respond(stream, res);
        };
        let p = match self.0.get(&wr.id).and_then(|c| c.process(&wr.exec_id)) {
            Ok(p) => p,
            Err(e) => {
                reply(Err(e));
                return Ok(());
            }
        };
        let mut s = p.st.lock().unwrap();
        match s.exit {
            Some((code, at)) => {
                drop(s);
                reply(Ok(wait_response(code, at)));
            }
            None => s.waiters.push(Box::new(move |code, at| reply(Ok(wait_response(code, at))))),
        }
        Ok(())
    }
}

fn exit_event(c: &Container, p: &Process, s: &ProcState) -> TaskExit {
    let (code, at) = s.exit.unwrap_or((0, SystemTime::now()));
    let mut e = TaskExit::new();
    e.container_id = c.id.clone();
    e.id = if p.exec_id.is_empty() { c.id.clone() } else { p.exec_id.clone() };
    e.pid = s.pid;
    e.exit_status = code;
    e.exited_at = MessageField::some(timestamp(at));
    e
}

/// Parses the pids out of `ps --format json` output (a JSON array of numbers).
fn parse_pids(out: &str) -> Option<Vec<u32>> {
    let inner = out.trim().strip_prefix('[')?.strip_suffix(']')?;
    inner.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.parse().ok()).collect()
}

impl Task for Service {
    fn state(&self, _: &TtrpcContext, req: api::StateRequest) -> TtResult<api::StateResponse> {
        crate::slog!("rpc state {:?}", req);
        let c = self.get(&req.id)?;
        let p = c.process(&req.exec_id)?;
        let s = p.st.lock().unwrap();
        let mut r = api::StateResponse::new();
        r.id = if p.exec_id.is_empty() { c.id.clone() } else { p.exec_id.clone() };
        r.exec_id = p.exec_id.clone();
        r.bundle = c.bundle.display().to_string();
        r.pid = s.pid;
        r.status = s.status.into();
        r.stdin = p.stdin.clone();
        r.stdout = p.stdout.clone();
        r.stderr = p.stderr.clone();
        r.terminal = p.terminal;
        if let Some((code, at)) = s.exit {
            r.exit_status = code;
            r.exited_at = MessageField::some(timestamp(at));
        }
        Ok(r)
    }

    fn create(&self, _: &TtrpcContext, req: api::CreateTaskRequest) -> TtResult<api::CreateTaskResponse> {
        crate::slog!("rpc create {:?}", req);
        if !req.checkpoint.is_empty() {
            return unimplemented("restore from checkpoint");
        }
        if self.containers.lock().unwrap().contains_key(&req.id) {
            return Err(err(Code::ALREADY_EXISTS, format!("container {} already exists", req.id)));
        }
        let opts = crate::options::decode(req.options.as_ref()).map_err(|e| err(Code::INVALID_ARGUMENT, e))?;
        let runtime = Runtime::resolve(&self.namespace, &opts.binary_name, &opts.root).with_systemd_cgroup(opts.systemd_cgroup);
        let bundle = PathBuf::from(&req.bundle);
        state::write_runtime(&bundle, &runtime);
        let rootfs = bundle.join("rootfs");
        let mounts: Vec<MountSpec> =
            req.rootfs.iter().map(|m| MountSpec { fstype: m.type_.clone(), source: m.source.clone(), options: m.options.clone() }).collect();
        if !mounts.is_empty() {
            let _ = std::fs::create_dir_all(&rootfs);
            mount::mount_all(&mounts, &rootfs).map_err(|e| err(Code::INTERNAL, e))?;
        }
        let fail = |msg: String| {
            stdio::release_input(&req.stdin);
            if !mounts.is_empty() {
                let _ = mount::unmount_all(&rootfs);
            }
            err(Code::INTERNAL, msg)
        };
        let mut prep = stdio::prepare(&self.namespace, &req.id, &req.stdin, &req.stdout, &req.stderr, req.terminal).map_err(fail)?;
        let log = bundle.join("log.json");
        let pid_file = bundle.join("init.pid");
        let (b, p) = (bundle.display().to_string(), pid_file.display().to_string());
        let console = prep.console.as_ref().map(|cs| cs.path().display().to_string());
        let mut args = vec!["create", "--bundle", &b, "--pid-file", &p];
        if let Some(cs) = &console {
            args.extend(["--console-socket", cs.as_str()]);
        }
        args.push(&req.id);
        runtime.call(&self.reaper, Some(&log), &args, Some(prep.stdio_take())).map_err(fail)?;
        let pid = state::read_pid(&pid_file).map_err(fail)?;
        let ctl = match prep.finish(&req.stdin, &req.stdout) {
            Ok(ctl) => ctl,
            Err(e) => {
                let _ = runtime.call(&self.reaper, Some(&log), &["delete", "--force", &req.id], None);
                return Err(fail(e));
            }
        };
        let init = Arc::new(Process::new("", &req.stdin, &req.stdout, &req.stderr, req.terminal, Vec::new()));
        *init.io.lock().unwrap() = ctl;
        init.st.lock().unwrap().pid = pid;
        let c = Arc::new(Container {
            id: req.id.clone(),
            bundle: bundle.clone(),
            runtime,
            rootfs_mounted: !mounts.is_empty(),
            init: init.clone(),
            execs: Mutex::new(HashMap::new()),
        });
        self.containers.lock().unwrap().insert(req.id.clone(), c.clone());

        let mut ev = TaskCreate::new();
        ev.container_id = req.id.clone();
        ev.bundle = req.bundle.clone();
        ev.rootfs = req.rootfs.clone();
        let mut tio = TaskIO::new();
        tio.stdin = req.stdin.clone();
        tio.stdout = req.stdout.clone();
        tio.stderr = req.stderr.clone();
        tio.terminal = req.terminal;
        ev.io = MessageField::some(tio);
        ev.pid = pid;
        self.events.publish(Event::Create(ev));

        // Watch only after TaskCreate is queued so TaskExit cannot precede it.
        self.watch(&c, &init, pid);
        self.watch_oom(&c.id, pid);

        let mut r = api::CreateTaskResponse::new();
        r.pid = pid;
        Ok(r)
    }

    fn start(&self, _: &TtrpcContext, req: api::StartRequest) -> TtResult<api::StartResponse> {
        crate::slog!("rpc start {:?}", req);
        let c = self.get(&req.id)?;
        let p = c.process(&req.exec_id)?;
        {
            let mut s = p.st.lock().unwrap();
            if s.status != Status::CREATED {
                return Err(err(Code::FAILED_PRECONDITION, format!("process {} of {} is not created", req.exec_id, c.id)));
            }
            s.starting = true;
        }
        let res = if p.exec_id.is_empty() {
            c.runtime.call(&self.reaper, Some(&c.log_path()), &["start", &c.id], None).map(drop)
        } else {
            self.start_exec(&c, &p).map(drop)
        };
        let mut s = p.st.lock().unwrap();
        s.starting = false;
        if let Err(e) = res {
            if s.exit_owed {
                s.exit_owed = false;
                self.events.publish(Event::Exit(exit_event(&c, &p, &s)));
            } else if !p.exec_id.is_empty() {
                // The exec never ran: it can only be deleted now.
                let now = SystemTime::now();
                for w in set_exit(&mut s, 255, now) {
                    w(255, now);
                }
                p.exited.notify_all();
            }
            return Err(err(Code::INTERNAL, e));
        }
        if s.status == Status::CREATED {
            s.status = Status::RUNNING;
        }
        if p.exec_id.is_empty() {
            let mut ev = TaskStart::new();
            ev.container_id = c.id.clone();
            ev.pid = s.pid;
            self.events.publish(Event::Start(ev));
        } else {
            let mut ev = TaskExecStarted::new();
            ev.container_id = c.id.clone();
            ev.exec_id = p.exec_id.clone();
            ev.pid = s.pid;
            self.events.publish(Event::ExecStarted(ev));
        }
        if s.exit_owed {
            s.exit_owed = false;
            self.events.publish(Event::Exit(exit_event(&c, &p, &s)));
        }
        let mut r = api::StartResponse::new();
        r.pid = s.pid;
        Ok(r)
    }

    fn delete(&self, _: &TtrpcContext, req: api::DeleteRequest) -> TtResult<api::DeleteResponse> {
        crate::slog!("rpc delete {:?}", req);
        let c = self.get(&req.id)?;
        let p = c.process(&req.exec_id)?;
        {
            let s = p.st.lock().unwrap();
            if s.exit.is_none() && s.status != Status::CREATED {
                return Err(err(Code::FAILED_PRECONDITION, format!("process {} of {} is running", req.exec_id, c.id)));
            }
        }
        if p.exec_id.is_empty() {
            c.runtime.call(&self.reaper, Some(&c.log_path()), &["delete", "--force", &c.id], None).map_err(|e| err(Code::INTERNAL, e))?;
            if c.rootfs_mounted {
                mount::unmount_all(&c.bundle.join("rootfs")).map_err(|e| err(Code::INTERNAL, e))?;
            }
            self.reaper.unwatch_oom(&c.id);
            self.containers.lock().unwrap().remove(&c.id);
            c.execs.lock().unwrap().clear();
        } else {
            stdio::release_input(&p.stdin);
            c.execs.lock().unwrap().remove(&p.exec_id);
        }
        let s = p.st.lock().unwrap();
        let (code, at) = s.exit.unwrap_or((128 + libc::SIGKILL as u32, SystemTime::now()));
        if p.exec_id.is_empty() {
            let mut ev = TaskDelete::new();
            ev.container_id = c.id.clone();
            ev.id = c.id.clone();
            ev.pid = s.pid;
            ev.exit_status = code;
            ev.exited_at = MessageField::some(timestamp(at));
            self.events.publish(Event::Delete(ev));
        }
        let mut r = api::DeleteResponse::new();
        r.pid = s.pid;
        r.exit_status = code;
        r.exited_at = MessageField::some(timestamp(at));
        Ok(r)
    }

    fn pids(&self, _: &TtrpcContext, req: api::PidsRequest) -> TtResult<api::PidsResponse> {
        crate::slog!("rpc pids {:?}", req);
        let c = self.get(&req.id)?;
        let mut r = api::PidsResponse::new();
        let listed = c.runtime.call(&self.reaper, None, &["ps", "--format", "json", &c.id], None).ok().and_then(|out| parse_pids(&out));
        let pids = match listed {
            Some(pids) => pids,
            // A runtime without `ps`: what we know ourselves.
            None => {
                let mut v = Vec::new();
                for p in std::iter::once(c.init.clone()).chain(c.execs.lock().unwrap().values().cloned()) {
                    let s = p.st.lock().unwrap();
                    if s.exit.is_none() && s.pid != 0 {
                        v.push(s.pid);
                    }
                }
                v
            }
        };
        for pid in pids {
            let mut info = api::ProcessInfo::new();
            info.pid = pid;
            r.processes.push(info);
        }
        Ok(r)
    }

    fn kill(&self, _: &TtrpcContext, req: api::KillRequest) -> TtResult<Empty> {
        crate::slog!("rpc kill {:?}", req);
        let c = self.get(&req.id)?;
        let p = c.process(&req.exec_id)?;
        let gone = || err(Code::NOT_FOUND, format!("process {} of {} already finished", req.exec_id, c.id));
        if !p.exec_id.is_empty() {
            // Held while signalling: the reaper marks the exit under this
            // lock, so a pid seen alive here is not yet reused.
            let s = p.st.lock().unwrap();
            if s.exit.is_some() || s.pid == 0 {
                return Err(gone());
            }
            // SAFETY: kill(2) on the pid of an exec we started and have not reaped.
            if unsafe { libc::kill(s.pid as i32, req.signal as i32) } != 0 {
                return Err(err(Code::INTERNAL, format!("kill exec {}: {}", p.exec_id, std::io::Error::last_os_error())));
            }
            return Ok(Empty::new());
        }
        if p.st.lock().unwrap().exit.is_some() {
            return Err(gone());
        }
        let sig = req.signal.to_string();
        let mut args = vec!["kill"];
        if req.all {
            args.push("--all");
        }
        args.extend([c.id.as_str(), sig.as_str()]);
        match c.runtime.call(&self.reaper, Some(&c.log_path()), &args, None) {
            Ok(_) => Ok(Empty::new()),
            Err(_) if p.st.lock().unwrap().exit.is_some() => Err(gone()),
            Err(e) => Err(err(Code::INTERNAL, e)),
        }
    }

    fn wait(&self, _: &TtrpcContext, req: api::WaitRequest) -> TtResult<api::WaitResponse> {
        crate::slog!("rpc wait {:?}", req);
        let c = self.get(&req.id)?;
        let p = c.process(&req.exec_id)?;
        let mut s = p.st.lock().unwrap();
        while s.exit.is_none() {
            s = p.exited.wait(s).unwrap();
        }
        let (code, at) = s.exit.unwrap();
        Ok(wait_response(code, at))
    }

    fn connect(&self, _: &TtrpcContext, req: api::ConnectRequest) -> TtResult<api::ConnectResponse> {
        crate::slog!("rpc connect {:?}", req);
        let mut r = api::ConnectResponse::new();
        r.shim_pid = std::process::id();
        if let Ok(c) = self.get(&req.id) {
            r.task_pid = c.init.st.lock().unwrap().pid;
        }
        r.version = env!("CARGO_PKG_VERSION").to_string();
        Ok(r)
    }

    fn shutdown(&self, _: &TtrpcContext, _: api::ShutdownRequest) -> TtResult<Empty> {
        crate::log("rpc shutdown");
        if self.containers.lock().unwrap().is_empty() {
            // Unlink first: a `start` for this group from now on binds a
            // fresh shim instead of handing out one that is leaving.
            if let Some(sock) = &self.socket {
                let _ = std::fs::remove_file(sock);
            }
            self.events.finish();
        }
        Ok(Empty::new())
    }

    fn pause(&self, _: &TtrpcContext, req: api::PauseRequest) -> TtResult<Empty> {
        crate::slog!("rpc pause {:?}", req);
        let c = self.get(&req.id)?;
        c.runtime.call(&self.reaper, Some(&c.log_path()), &["pause", &c.id], None).map_err(|e| err(Code::INTERNAL, e))?;
        let mut s = c.init.st.lock().unwrap();
        if s.status == Status::RUNNING {
            s.status = Status::PAUSED;
        }
        let mut ev = TaskPaused::new();
        ev.container_id = c.id.clone();
        self.events.publish(Event::Paused(ev));
        Ok(Empty::new())
    }

    fn resume(&self, _: &TtrpcContext, req: api::ResumeRequest) -> TtResult<Empty> {
        crate::slog!("rpc resume {:?}", req);
        let c = self.get(&req.id)?;
        c.runtime.call(&self.reaper, Some(&c.log_path()), &["resume", &c.id], None).map_err(|e| err(Code::INTERNAL, e))?;
        let mut s = c.init.st.lock().unwrap();
        if s.status == Status::PAUSED {
            s.status = Status::RUNNING;
        }
        let mut ev = TaskResumed::new();
        ev.container_id = c.id.clone();
        self.events.publish(Event::Resumed(ev));
        Ok(Empty::new())
    }

    fn checkpoint(&self, _: &TtrpcContext, req: api::CheckpointTaskRequest) -> TtResult<Empty> {
        crate::slog!("rpc checkpoint {:?}", req);
        let c = self.get(&req.id)?;
        let o = req
            .options
            .as_ref()
            .filter(|a| a.type_url.ends_with("containerd.runc.v1.CheckpointOptions"))
            .and_then(|a| CheckpointOptions::parse_from_bytes(&a.value).ok())
            .unwrap_or_default();
        if !o.empty_namespaces.is_empty() {
            return Err(err(Code::INVALID_ARGUMENT, format!("checkpoint {}: empty namespaces ({:?}) are not supported", c.id, o.empty_namespaces)));
        }
        let image = if o.image_path.is_empty() { req.path.clone() } else { o.image_path.clone() };
        if image.is_empty() {
            return Err(err(Code::INVALID_ARGUMENT, format!("checkpoint {}: no image path", c.id)));
        }
        let work = if o.work_path.is_empty() { c.bundle.join("criu-work").display().to_string() } else { o.work_path.clone() };
        let mut args = vec!["checkpoint", "--image-path", &image, "--work-path", &work];
        if !o.exit {
            args.push("--leave-running");
        }
        for (on, flag) in
            [(o.open_tcp, "--tcp-established"), (o.external_unix_sockets, "--ext-unix-sk"), (o.terminal, "--shell-job"), (o.file_locks, "--file-locks")]
        {
            if on {
                args.push(flag);
            }
        }
        if !o.cgroups_mode.is_empty() {
            args.extend(["--manage-cgroups-mode", &o.cgroups_mode]);
        }
        args.push(&c.id);
        // The runtime's message (e.g. CRIU's own failure) reaches the client.
        c.runtime.call(&self.reaper, Some(&c.log_path()), &args, None).map_err(|e| err(Code::INTERNAL, e))?;
        let mut ev = TaskCheckpointed::new();
        ev.container_id = c.id.clone();
        self.events.publish(Event::Checkpointed(ev));
        Ok(Empty::new())
    }

    fn exec(&self, _: &TtrpcContext, req: api::ExecProcessRequest) -> TtResult<Empty> {
        crate::slog!("rpc exec {:?}", req);
        let c = self.get(&req.id)?;
        if req.exec_id.is_empty() {
            return Err(err(Code::INVALID_ARGUMENT, "exec needs an exec id"));
        }
        if c.init.st.lock().unwrap().exit.is_some() {
            return Err(err(Code::FAILED_PRECONDITION, format!("container {} is not running", c.id)));
        }
        let spec = req.spec.as_ref().map(|a| a.value.clone()).unwrap_or_default();
        {
            let mut execs = c.execs.lock().unwrap();
            if execs.contains_key(&req.exec_id) {
                return Err(err(Code::ALREADY_EXISTS, format!("exec {} already exists", req.exec_id)));
            }
            let p = Process::new(&req.exec_id, &req.stdin, &req.stdout, &req.stderr, req.terminal, spec);
            execs.insert(req.exec_id.clone(), Arc::new(p));
        }
        let mut ev = TaskExecAdded::new();
        ev.container_id = c.id.clone();
        ev.exec_id = req.exec_id.clone();
        self.events.publish(Event::ExecAdded(ev));
        Ok(Empty::new())
    }

    fn resize_pty(&self, _: &TtrpcContext, req: api::ResizePtyRequest) -> TtResult<Empty> {
        crate::slog!("rpc resize_pty {:?}", req);
        let c = self.get(&req.id)?;
        let p = c.process(&req.exec_id)?;
        let io = p.io.lock().unwrap();
        let Some(m) = &io.master else {
            return Err(err(Code::FAILED_PRECONDITION, "the process has no terminal"));
        };
        pty::resize(m.as_fd(), req.width, req.height).map_err(|e| err(Code::INTERNAL, e))?;
        Ok(Empty::new())
    }

    fn close_io(&self, _: &TtrpcContext, req: api::CloseIORequest) -> TtResult<Empty> {
        crate::slog!("rpc close_io {:?}", req);
        let c = self.get(&req.id)?;
        let p = c.process(&req.exec_id)?;
        if req.stdin {
            p.io.lock().unwrap().close_stdin();
        }
        Ok(Empty::new())
    }

    fn update(&self, _: &TtrpcContext, req: api::UpdateTaskRequest) -> TtResult<Empty> {
        crate::slog!("rpc update {:?}", req);
        let c = self.get(&req.id)?;
        // containerd sends the LinuxResources as JSON inside the Any.
        let data = req.resources.as_ref().map(|a| a.value.clone()).unwrap_or_default();
        c.runtime
            .call_input(&self.reaper, Some(&c.log_path()), &["update", "--resources", "-", &c.id], None, Some(&data))
            .map_err(|e| err(Code::INTERNAL, e))?;
        Ok(Empty::new())
    }

    fn stats(&self, _: &TtrpcContext, req: api::StatsRequest) -> TtResult<api::StatsResponse> {
        crate::slog!("rpc stats {:?}", req);
        let c = self.get(&req.id)?;
        // The runtime reads the cgroups its state names (a systemd scope or a
        // cgroupfs path alike). A runtime without `events` (crun 1.8): on a
        // unified hierarchy, the init's own cgroup, as the kernel names it.
        let metrics = match c.runtime.call(&self.reaper, Some(&c.log_path()), &["events", "--stats", &c.id], None) {
            Ok(out) => crate::stats::to_metrics(&out),
            Err(e) => {
                let pid = c.init.st.lock().unwrap().pid;
                crate::stats::from_cgroup(pid).map_err(|e2| format!("{e}; reading the init's cgroup instead: {e2}"))
            }
        };
        let mut r = api::StatsResponse::new();
        r.stats = MessageField::some(metrics.map_err(|e| err(Code::INTERNAL, e))?);
        Ok(r)
    }
}

/// Path of the bundle's rootfs mount point.
pub fn rootfs_of(bundle: &Path) -> PathBuf {
    bundle.join("rootfs")
}
