//! Publishing task events to containerd.
//!
//! containerd 1.6 and later take shim events over ttrpc on the address in
//! `$TTRPC_ADDRESS` (`containerd.services.events.ttrpc.v1.Events/Forward`),
//! each an `Envelope` holding the event as a protobuf `Any` whose type URL is
//! the bare message name (`containerd.events.TaskExit`). One thread sends
//! them in the order they were queued and retries the head of the queue
//! while containerd is away (restarting), so no event overtakes another.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use containerd_shim_protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskOOM, TaskPaused, TaskResumed, TaskStart,
};
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim_protos::protobuf::{Message, MessageField};
use containerd_shim_protos::shim::event::Envelope;
use containerd_shim_protos::shim::events::ForwardRequest;
use containerd_shim_protos::EventsClient;

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
}

/// Ordered, retrying event sender.
pub struct Publisher {
    namespace: String,
    queue: Mutex<Queue>,
    cond: Condvar,
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
        };
        (r.0, r.1, r.2.unwrap_or_default())
    }
}

impl Publisher {
    /// Starts the sender thread for containerd at `ttrpc_address` (a path or
    /// `unix://` URI).
    pub fn start(namespace: &str, ttrpc_address: &str) -> Arc<Publisher> {
        let p = Arc::new(Publisher {
            namespace: namespace.to_string(),
            queue: Mutex::new(Queue::default()),
            cond: Condvar::new(),
        });
        let addr = if ttrpc_address.contains("://") {
            ttrpc_address.to_string()
        } else {
            format!("unix://{ttrpc_address}")
        };
        let q = p.clone();
        std::thread::Builder::new()
            .name("events".into())
            .stack_size(256 * 1024)
            .spawn(move || q.run(&addr))
            .expect("spawn events thread");
        p
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

    /// Waits until every queued event is sent (or dropped), at most `timeout`.
    pub fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut q = self.queue.lock().unwrap();
        while !q.items.is_empty() || q.busy {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            q = self.cond.wait_timeout(q, deadline - now).unwrap().0;
        }
        true
    }

    fn run(&self, addr: &str) {
        let mut client: Option<EventsClient> = None;
        let mut backoff = Duration::from_millis(50);
        loop {
            let item = {
                let mut q = self.queue.lock().unwrap();
                q.busy = false;
                self.cond.notify_all();
                while q.items.is_empty() {
                    q = self.cond.wait(q).unwrap();
                }
                q.busy = true;
                q.items.pop_front().unwrap()
            };
            let first_try = Instant::now();
            loop {
                if client.is_none() {
                    client = ttrpc::Client::connect(addr).ok().map(EventsClient::new);
                }
                if let Some(c) = &client {
                    let mut env = Envelope::new();
                    env.timestamp = MessageField::some(timestamp(item.at));
                    env.namespace = self.namespace.clone();
                    env.topic = item.topic.to_string();
                    env.event = MessageField::some(item.any.clone());
                    let mut req = ForwardRequest::new();
                    req.envelope = MessageField::some(env);
                    let ctx = ttrpc::context::with_timeout(Duration::from_secs(5).as_nanos() as i64);
                    match c.forward(ctx, &req) {
                        Ok(_) => {
                            backoff = Duration::from_millis(50);
                            break;
                        }
                        Err(e) => {
                            crate::log(&format!("publish {}: {e:?}", item.topic));
                            client = None;
                        }
                    }
                }
                if first_try.elapsed() > GIVE_UP {
                    crate::log(&format!("dropping event {} after {GIVE_UP:?}", item.topic));
                    break;
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}
