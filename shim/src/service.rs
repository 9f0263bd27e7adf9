//! The task service containerd talks to: `containerd.task.v2.Task`
//! (containerd 1.6/1.7) and `containerd.task.v3.Task` (2.x), which carry the
//! same messages, served by one implementation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex};
use std::time::SystemTime;

use containerd_shim_protos::api::{self, Status};
use containerd_shim_protos::events::task::{TaskCreate, TaskDelete, TaskExit, TaskIO, TaskStart};
use containerd_shim_protos::protobuf::well_known_types::empty::Empty;
use containerd_shim_protos::protobuf::{Message, MessageField};
use containerd_shim_protos::shim::oci::Options;
use containerd_shim_protos::Task;
use ttrpc::{Code, TtrpcContext};

use crate::events::{timestamp, Event, Publisher};
use crate::mount::{self, MountSpec};
use crate::reaper::Reaper;
use crate::runtime::Runtime;
use crate::{state, stdio};

type TtResult<T> = ttrpc::Result<T>;

fn err(code: Code, msg: impl Into<String>) -> ttrpc::Error {
    let msg = msg.into();
    crate::slog!("error {code:?}: {msg}");
    ttrpc::Error::RpcStatus(ttrpc::get_status(code, msg))
}

fn unimplemented<T>(what: &str) -> TtResult<T> {
    Err(err(Code::UNIMPLEMENTED, format!("berth shim: {what} is not implemented yet")))
}

/// What the shim knows about a container's init process.
#[derive(Default)]
struct Proc {
    pid: u32,
    status: Status,
    /// Exit code and time, once the init has exited.
    exit: Option<(u32, SystemTime)>,
    /// `Start` is between running the runtime and announcing TaskStart.
    starting: bool,
    /// The init exited during `starting`: TaskExit is owed after TaskStart.
    exit_owed: bool,
}

/// One container held by this shim.
struct Container {
    id: String,
    bundle: PathBuf,
    runtime: Runtime,
    rootfs_mounted: bool,
    stdin: String,
    stdout: String,
    stderr: String,
    terminal: bool,
    proc: Mutex<Proc>,
    exited: Condvar,
}

impl Container {
    fn log_path(&self) -> PathBuf {
        self.bundle.join("log.json")
    }
}

/// The task service.
pub struct Service {
    namespace: String,
    reaper: Arc<Reaper>,
    events: Arc<Publisher>,
    containers: Mutex<HashMap<String, Arc<Container>>>,
    shutdown: Mutex<Sender<()>>,
}

fn runc_options(req: &api::CreateTaskRequest) -> Options {
    req.options
        .as_ref()
        .filter(|a| a.type_url.ends_with("containerd.runc.v1.Options"))
        .and_then(|a| Options::parse_from_bytes(&a.value).ok())
        .unwrap_or_default()
}

impl Service {
    /// Creates the service; a message on `shutdown` asks `main` to exit.
    pub fn new(
        namespace: &str,
        reaper: Arc<Reaper>,
        events: Arc<Publisher>,
        shutdown: Sender<()>,
    ) -> Service {
        Service {
            namespace: namespace.to_string(),
            reaper,
            events,
            containers: Mutex::new(HashMap::new()),
            shutdown: Mutex::new(shutdown),
        }
    }

    fn get(&self, id: &str) -> TtResult<Arc<Container>> {
        self.containers
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| err(Code::NOT_FOUND, format!("container {id} not found")))
    }

    fn init_only(exec_id: &str) -> TtResult<()> {
        if exec_id.is_empty() {
            Ok(())
        } else {
            unimplemented("exec processes")
        }
    }

    /// Called on the reaper thread when a container's init exits.
    fn on_init_exit(events: &Publisher, c: &Container, code: u32) {
        let now = SystemTime::now();
        state::write_exit(&c.bundle, code, now);
        stdio::release_input(&c.stdin);
        let mut p = c.proc.lock().unwrap();
        p.exit = Some((code, now));
        p.status = Status::STOPPED;
        if p.starting {
            p.exit_owed = true;
        } else {
            events.publish(Event::Exit(exit_event(c, &p)));
        }
        c.exited.notify_all();
    }
}

fn exit_event(c: &Container, p: &Proc) -> TaskExit {
    let (code, at) = p.exit.unwrap_or((0, SystemTime::now()));
    let mut e = TaskExit::new();
    e.container_id = c.id.clone();
    e.id = c.id.clone();
    e.pid = p.pid;
    e.exit_status = code;
    e.exited_at = MessageField::some(timestamp(at));
    e
}

impl Task for Service {
    fn state(&self, _: &TtrpcContext, req: api::StateRequest) -> TtResult<api::StateResponse> {
        crate::slog!("rpc state {:?}", req);
        Self::init_only(&req.exec_id)?;
        let c = self.get(&req.id)?;
        let p = c.proc.lock().unwrap();
        let mut r = api::StateResponse::new();
        r.id = c.id.clone();
        r.bundle = c.bundle.display().to_string();
        r.pid = p.pid;
        r.status = p.status.into();
        r.stdin = c.stdin.clone();
        r.stdout = c.stdout.clone();
        r.stderr = c.stderr.clone();
        r.terminal = c.terminal;
        if let Some((code, at)) = p.exit {
            r.exit_status = code;
            r.exited_at = MessageField::some(timestamp(at));
        }
        Ok(r)
    }

    fn create(
        &self,
        _: &TtrpcContext,
        req: api::CreateTaskRequest,
    ) -> TtResult<api::CreateTaskResponse> {
        crate::slog!("rpc create {:?}", req);
        if req.terminal {
            return unimplemented("terminal (tty) containers");
        }
        if !req.checkpoint.is_empty() {
            return unimplemented("restore from checkpoint");
        }
        if self.containers.lock().unwrap().contains_key(&req.id) {
            return Err(err(Code::ALREADY_EXISTS, format!("container {} already exists", req.id)));
        }
        let opts = runc_options(&req);
        let runtime = Runtime::resolve(&self.namespace, &opts.binary_name, &opts.root);
        let bundle = PathBuf::from(&req.bundle);
        state::write_runtime(&bundle, &runtime);
        let rootfs = bundle.join("rootfs");
        let mounts: Vec<MountSpec> = req
            .rootfs
            .iter()
            .map(|m| MountSpec {
                fstype: m.type_.clone(),
                source: m.source.clone(),
                options: m.options.clone(),
            })
            .collect();
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
        let io = stdio::open(&req.stdin, &req.stdout, &req.stderr).map_err(fail)?;
        let log = bundle.join("log.json");
        let pid_file = bundle.join("init.pid");
        let (b, p) = (bundle.display().to_string(), pid_file.display().to_string());
        runtime
            .call(&self.reaper, Some(&log), &["create", "--bundle", &b, "--pid-file", &p, &req.id], Some(io))
            .map_err(fail)?;
        let pid = state::read_pid(&pid_file).map_err(fail)?;
        let c = Arc::new(Container {
            id: req.id.clone(),
            bundle: bundle.clone(),
            runtime,
            rootfs_mounted: !mounts.is_empty(),
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
            proc: Mutex::new(Proc { pid, status: Status::CREATED, ..Default::default() }),
            exited: Condvar::new(),
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
        let (events, watched) = (self.events.clone(), c.clone());
        self.reaper.watch(pid as i32, move |code| Service::on_init_exit(&events, &watched, code));

        let mut r = api::CreateTaskResponse::new();
        r.pid = pid;
        Ok(r)
    }

    fn start(&self, _: &TtrpcContext, req: api::StartRequest) -> TtResult<api::StartResponse> {
        crate::slog!("rpc start {:?}", req);
        Self::init_only(&req.exec_id)?;
        let c = self.get(&req.id)?;
        {
            let mut p = c.proc.lock().unwrap();
            if p.status != Status::CREATED {
                return Err(err(Code::FAILED_PRECONDITION, format!("container {} is not created", c.id)));
            }
            p.starting = true;
        }
        let res = c.runtime.call(&self.reaper, Some(&c.log_path()), &["start", &c.id], None);
        let mut p = c.proc.lock().unwrap();
        p.starting = false;
        if let Err(e) = res {
            if p.exit_owed {
                p.exit_owed = false;
                self.events.publish(Event::Exit(exit_event(&c, &p)));
            }
            return Err(err(Code::INTERNAL, e));
        }
        if p.status == Status::CREATED {
            p.status = Status::RUNNING;
        }
        let mut ev = TaskStart::new();
        ev.container_id = c.id.clone();
        ev.pid = p.pid;
        self.events.publish(Event::Start(ev));
        if p.exit_owed {
            p.exit_owed = false;
            self.events.publish(Event::Exit(exit_event(&c, &p)));
        }
        let mut r = api::StartResponse::new();
        r.pid = p.pid;
        Ok(r)
    }

    fn delete(&self, _: &TtrpcContext, req: api::DeleteRequest) -> TtResult<api::DeleteResponse> {
        crate::slog!("rpc delete {:?}", req);
        Self::init_only(&req.exec_id)?;
        let c = self.get(&req.id)?;
        {
            let p = c.proc.lock().unwrap();
            if p.status == Status::RUNNING && p.exit.is_none() {
                return Err(err(Code::FAILED_PRECONDITION, format!("container {} is running", c.id)));
            }
        }
        c.runtime
            .call(&self.reaper, Some(&c.log_path()), &["delete", "--force", &c.id], None)
            .map_err(|e| err(Code::INTERNAL, e))?;
        if c.rootfs_mounted {
            mount::unmount_all(&c.bundle.join("rootfs")).map_err(|e| err(Code::INTERNAL, e))?;
        }
        self.containers.lock().unwrap().remove(&c.id);
        let p = c.proc.lock().unwrap();
        let (code, at) = p.exit.unwrap_or((128 + libc::SIGKILL as u32, SystemTime::now()));
        let mut ev = TaskDelete::new();
        ev.container_id = c.id.clone();
        ev.id = c.id.clone();
        ev.pid = p.pid;
        ev.exit_status = code;
        ev.exited_at = MessageField::some(timestamp(at));
        self.events.publish(Event::Delete(ev));
        let mut r = api::DeleteResponse::new();
        r.pid = p.pid;
        r.exit_status = code;
        r.exited_at = MessageField::some(timestamp(at));
        Ok(r)
    }

    fn pids(&self, _: &TtrpcContext, req: api::PidsRequest) -> TtResult<api::PidsResponse> {
        crate::slog!("rpc pids {:?}", req);
        let c = self.get(&req.id)?;
        let p = c.proc.lock().unwrap();
        let mut r = api::PidsResponse::new();
        if p.exit.is_none() {
            let mut info = api::ProcessInfo::new();
            info.pid = p.pid;
            r.processes.push(info);
        }
        Ok(r)
    }

    fn kill(&self, _: &TtrpcContext, req: api::KillRequest) -> TtResult<Empty> {
        crate::slog!("rpc kill {:?}", req);
        Self::init_only(&req.exec_id)?;
        let c = self.get(&req.id)?;
        if c.proc.lock().unwrap().exit.is_some() {
            return Err(err(Code::NOT_FOUND, format!("process {} already finished", c.id)));
        }
        let sig = req.signal.to_string();
        let mut args = vec!["kill"];
        if req.all {
            args.push("--all");
        }
        args.extend([c.id.as_str(), sig.as_str()]);
        match c.runtime.call(&self.reaper, Some(&c.log_path()), &args, None) {
            Ok(_) => Ok(Empty::new()),
            Err(_) if c.proc.lock().unwrap().exit.is_some() => {
                Err(err(Code::NOT_FOUND, format!("process {} already finished", c.id)))
            }
            Err(e) => Err(err(Code::INTERNAL, e)),
        }
    }

    fn wait(&self, _: &TtrpcContext, req: api::WaitRequest) -> TtResult<api::WaitResponse> {
        crate::slog!("rpc wait {:?}", req);
        Self::init_only(&req.exec_id)?;
        let c = self.get(&req.id)?;
        let mut p = c.proc.lock().unwrap();
        while p.exit.is_none() {
            p = c.exited.wait(p).unwrap();
        }
        let (code, at) = p.exit.unwrap();
        let mut r = api::WaitResponse::new();
        r.exit_status = code;
        r.exited_at = MessageField::some(timestamp(at));
        Ok(r)
    }

    fn connect(&self, _: &TtrpcContext, req: api::ConnectRequest) -> TtResult<api::ConnectResponse> {
        crate::slog!("rpc connect {:?}", req);
        let mut r = api::ConnectResponse::new();
        r.shim_pid = std::process::id();
        if let Ok(c) = self.get(&req.id) {
            r.task_pid = c.proc.lock().unwrap().pid;
        }
        r.version = env!("CARGO_PKG_VERSION").to_string();
        Ok(r)
    }

    fn shutdown(&self, _: &TtrpcContext, _: api::ShutdownRequest) -> TtResult<Empty> {
        crate::log("rpc shutdown");
        if self.containers.lock().unwrap().is_empty() {
            let _ = self.shutdown.lock().unwrap().send(());
        }
        Ok(Empty::new())
    }

    fn pause(&self, _: &TtrpcContext, _: api::PauseRequest) -> TtResult<Empty> {
        crate::log("rpc pause");
        unimplemented("pause")
    }
    fn resume(&self, _: &TtrpcContext, _: api::ResumeRequest) -> TtResult<Empty> {
        crate::log("rpc resume");
        unimplemented("resume")
    }
    fn checkpoint(&self, _: &TtrpcContext, _: api::CheckpointTaskRequest) -> TtResult<Empty> {
        crate::log("rpc checkpoint");
        unimplemented("checkpoint")
    }
    fn exec(&self, _: &TtrpcContext, _: api::ExecProcessRequest) -> TtResult<Empty> {
        crate::log("rpc exec");
        unimplemented("exec")
    }
    fn resize_pty(&self, _: &TtrpcContext, _: api::ResizePtyRequest) -> TtResult<Empty> {
        crate::log("rpc resize_pty");
        unimplemented("resize_pty")
    }
    fn close_io(&self, _: &TtrpcContext, _: api::CloseIORequest) -> TtResult<Empty> {
        crate::log("rpc close_io");
        // Stdin goes straight to the container from the client's FIFO, so the
        // client closing its end already delivers EOF.
        Ok(Empty::new())
    }
    fn update(&self, _: &TtrpcContext, _: api::UpdateTaskRequest) -> TtResult<Empty> {
        crate::log("rpc update");
        unimplemented("update")
    }
    fn stats(&self, _: &TtrpcContext, _: api::StatsRequest) -> TtResult<api::StatsResponse> {
        crate::log("rpc stats");
        unimplemented("stats")
    }
}

/// Path of the bundle's rootfs mount point.
pub fn rootfs_of(bundle: &Path) -> PathBuf {
    bundle.join("rootfs")
}
