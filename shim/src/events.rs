//! Publishing task events to containerd.
//!
//! containerd 1.6 and later take shim events over ttrpc on the address in
//! `$TTRPC_ADDRESS` (`containerd.services.events.ttrpc.v1.Events/Forward`),
//! each an `Envelope` holding the event as a protobuf `Any` whose type URL is
//! the bare message name (`containerd.events.TaskExit`). One thread sends
//! them in the order they were queued and retries the head of the queue
//! while containerd is away (restarting), so no event overtakes another.
//!
//! The sender is the shim's main thread, and it speaks ttrpc itself (one
//! request at a time on a blocking socket): the `ttrpc` crate's client would
//! add a reader and a writer thread for what is a strictly sequential call.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use containerd_shim_protos::events::task::{
    TaskCheckpointed, TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskOOM, TaskPaused, TaskResumed, TaskStart,
};
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim_protos::protobuf::{Message, MessageField};
use containerd_shim_protos::shim::event::Envelope;
use containerd_shim_protos::shim::events::ForwardRequest;
use ttrpc::proto::{Codec, RequestInit, ResponseInit};

/// Give up on one event after this long of failed attempts.
const GIVE_UP: Duration = Duration::from_secs(300);

/// One queued event.
struct Item {
    topic: &'static str,
    any: Any,
    at: SystemTime,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    busy: bool,
    /// Set by [`Publisher::finish`]: when, so that retries end 5 s later.
    finishing: Option<Instant>,
}

/// Ordered, retrying event sender.
pub struct Publisher {
    namespace: String,
    address: String,
    queue: Mutex<Queue>,
    cond: Condvar,
}

/// How long events may still be retried once the shim is shutting down.
const DRAIN: Duration = Duration::from_secs(5);

/// A ttrpc connection used for one request at a time on the calling thread.
struct Conn {
    sock: UnixStream,
    next_stream: u32,
}

const EVENTS_SERVICE: &str = "containerd.services.events.ttrpc.v1.Events";
const TTRPC_REQUEST: u8 = 1;
const TTRPC_RESPONSE: u8 = 2;
/// containerd refuses larger messages; so do we.
const TTRPC_MAX: usize = 4 << 20;

impl Conn {
    fn connect(address: &str) -> Result<Conn, String> {
        let path = address.strip_prefix("unix://").unwrap_or(address);
        let sock = UnixStream::connect(path).map_err(|e| format!("connect {path}: {e}"))?;
        let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = sock.set_write_timeout(Some(Duration::from_secs(5)));
        // Client streams are odd-numbered.
        Ok(Conn { sock, next_stream: 1 })
    }

    /// Sends `Events/Forward` and waits for its response.
    fn forward(&mut self, req: &ForwardRequest) -> Result<(), String> {
        let timeout = Duration::from_secs(5).as_nanos() as i64;
        let mut r = ttrpc::Request::init_request(EVENTS_SERVICE.into(), "Forward".into(), timeout, Vec::new());
        r.set_payload(req.write_to_bytes().map_err(|e| format!("encode: {e}"))?);
        let body = Codec::encode(&r).map_err(|e| format!("encode: {e:?}"))?;
        let stream = self.next_stream;
        self.next_stream = self.next_stream.wrapping_add(2);
        let mut frame = Vec::with_capacity(10 + body.len());
        frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
        frame.extend_from_slice(&stream.to_be_bytes());
        frame.extend_from_slice(&[TTRPC_REQUEST, 0]);
        frame.extend_from_slice(&body);
        self.sock.write_all(&frame).map_err(|e| format!("send: {e}"))?;
        loop {
            let mut h = [0u8; 10];
            self.sock.read_exact(&mut h).map_err(|e| format!("receive: {e}"))?;
            let len = u32::from_be_bytes(h[..4].try_into().unwrap()) as usize;
            let id = u32::from_be_bytes(h[4..8].try_into().unwrap());
            if len > TTRPC_MAX {
                return Err(format!("response of {len} bytes"));
            }
            let mut buf = vec![0u8; len];
            self.sock.read_exact(&mut buf).map_err(|e| format!("receive: {e}"))?;
            if id != stream || h[8] != TTRPC_RESPONSE {
                continue; // a stale answer to a request that timed out
            }
            let res = <ttrpc::Response as Codec>::decode(&buf).map_err(|e| format!("decode: {e:?}"))?;
            return match res.non_ok() {
                Some(st) => Err(format!("{:?}: {}", st.code, st.message)),
                None => Ok(()),
            };
        }
    }
}

/// Converts a system time to a protobuf timestamp.
pub fn timestamp(t: SystemTime) -> Timestamp {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let mut ts = Timestamp::new();
    ts.seconds = d.as_secs() as i64;
    ts.nanos = d.subsec_nanos() as i32;
    ts
}

/// Events the shim sends, each with its containerd topic.
pub enum Event {
    /// `/tasks/create`
    Create(TaskCreate),
    /// `/tasks/start`
    Start(TaskStart),
    /// `/tasks/exit`
    Exit(TaskExit),
    /// `/tasks/delete`
    Delete(TaskDelete),
    /// `/tasks/exec-added`
    ExecAdded(TaskExecAdded),
    /// `/tasks/exec-started`
    ExecStarted(TaskExecStarted),
    /// `/tasks/paused`
    Paused(TaskPaused),
    /// `/tasks/resumed`
    Resumed(TaskResumed),
    /// `/tasks/oom`
    Oom(TaskOOM),
    /// `/tasks/checkpointed`
    Checkpointed(TaskCheckpointed),
}

impl Event {
    fn encode(&self) -> (&'static str, &'static str, Vec<u8>) {
        let r = match self {
            Event::Create(e) => ("/tasks/create", "containerd.events.TaskCreate", e.write_to_bytes()),
            Event::Start(e) => ("/tasks/start", "containerd.events.TaskStart", e.write_to_bytes()),
            Event::Exit(e) => ("/tasks/exit", "containerd.events.TaskExit", e.write_to_bytes()),
            Event::Delete(e) => ("/tasks/delete", "containerd.events.TaskDelete", e.write_to_bytes()),
            Event::ExecAdded(e) => ("/tasks/exec-added", "containerd.events.TaskExecAdded", e.write_to_bytes()),
            Event::ExecStarted(e) => ("/tasks/exec-started", "containerd.events.TaskExecStarted", e.write_to_bytes()),
            Event::Paused(e) => ("/tasks/paused", "containerd.events.TaskPaused", e.write_to_bytes()),
            Event::Resumed(e) => ("/tasks/resumed", "containerd.events.TaskResumed", e.write_to_bytes()),
            Event::Oom(e) => ("/tasks/oom", "containerd.events.TaskOOM", e.write_to_bytes()),
            Event::Checkpointed(e) => ("/tasks/checkpointed", "containerd.events.TaskCheckpointed", e.write_to_bytes()),
        };
        (r.0, r.1, r.2.unwrap_or_default())
    }
}

impl Publisher {
    /// A publisher for containerd at `ttrpc_address` (a path or `unix://`
    /// URI). Events are sent by whoever calls [`Publisher::run`].
    pub fn new(namespace: &str, ttrpc_address: &str) -> Arc<Publisher> {
        Arc::new(Publisher { namespace: namespace.to_string(), address: ttrpc_address.to_string(), queue: Mutex::new(Queue::default()), cond: Condvar::new() })
    }

    /// Asks [`Publisher::run`] to return once everything queued is sent (or,
    /// with containerd away, after at most 5 s of retries).
    pub fn finish(&self) {
        let mut q = self.queue.lock().unwrap();
        q.finishing.get_or_insert_with(Instant::now);
        self.cond.notify_all();
    }

    /// Queues an event; it is sent after every event queued before it.
    pub fn publish(&self, ev: Event) {
        let (topic, type_url, value) = ev.encode();
        let mut any = Any::new();
        any.type_url = type_url.to_string();
        any.value = value;
        let mut q = self.queue.lock().unwrap();
        q.items.push_back(Item { topic, any, at: SystemTime::now() });
        self.cond.notify_all();
    }

    /// Sends queued events in order until [`Publisher::finish`] was called
    /// and the queue is empty (or the drain time is up).
    pub fn run(&self) {
        let mut client: Option<Conn> = None;
        let mut backoff = Duration::from_millis(50);
        loop {
            let (item, finishing) = {
                let mut q = self.queue.lock().unwrap();
                q.busy = false;
                while q.items.is_empty() {
                    if q.finishing.is_some() {
                        return;
                    }
                    q = self.cond.wait(q).unwrap();
                }
                q.busy = true;
                (q.items.pop_front().unwrap(), q.finishing)
            };
            if finishing.is_some_and(|t| t.elapsed() > DRAIN) {
                crate::log(&format!("shutting down: dropping event {}", item.topic));
                continue;
            }
            let first_try = Instant::now();
            loop {
                if client.is_none() {
                    client = Conn::connect(&self.address).ok();
                }
                if let Some(c) = &mut client {
                    let mut env = Envelope::new();
                    env.timestamp = MessageField::some(timestamp(item.at));
                    env.namespace = self.namespace.clone();
                    env.topic = item.topic.to_string();
                    env.event = MessageField::some(item.any.clone());
                    let mut req = ForwardRequest::new();
                    req.envelope = MessageField::some(env);
                    match c.forward(&req) {
                        Ok(_) => {
                            backoff = Duration::from_millis(50);
                            break;
                        }
                        Err(e) => {
                            crate::log(&format!("publish {}: {e}", item.topic));
                            client = None;
                        }
                    }
                }
                let finishing = self.queue.lock().unwrap().finishing;
                if first_try.elapsed() > GIVE_UP || finishing.is_some_and(|t| t.elapsed() > DRAIN) {
                    crate::log(&format!("dropping event {} after {GIVE_UP:?}", item.topic));
                    break;
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}
