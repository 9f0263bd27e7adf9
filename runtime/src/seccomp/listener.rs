//! Handing the notify listener to the seccomp agent at `listenerPath`
//! (config-linux.md "The Container Process State").

use std::io::{IoSlice, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
use serde_json::{json, Value};

use crate::error::{p, Context, Error, Result};
use crate::state::OCI_VERSION;

/// The container process state: `fds` names the one fd sent, `pid` is the
/// container process as the runtime sees it (taken from `state.pid`).
fn process_state(state: &Value, metadata: &str) -> Result<Vec<u8>> {
    let pid = state.get("pid").and_then(Value::as_i64).ok_or_else(|| Error::msg("the container state sent to the seccomp agent has no pid"))?;
    let mut msg = json!({
        "ociVersion": OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "state": state,
    });
    if !metadata.is_empty() {
        msg["metadata"] = Value::from(metadata);
    }
    serde_json::to_vec(&msg).map_err(|e| Error::msg(format!("encode the container process state: {e}")))
}

/// Connect to the agent's unix socket at `path`, send `fd` with SCM_RIGHTS
/// together with the container process state (JSON), and close the
/// connection: one state per connection, as the spec requires.
/// `metadata` is `listenerMetadata` (empty: the field is left out).
pub fn send_listener(path: &Path, fd: BorrowedFd, state: &Value, metadata: &str) -> Result<()> {
    let body = process_state(state, metadata)?;
    let field = "linux.seccomp.listenerPath";
    let mut sock = UnixStream::connect(path).step(|| format!("connect to the seccomp agent at {}", p(path))).map_err(|e| e.field(field))?;
    let fds = [fd.as_raw_fd()];
    let sent = loop {
        // The fd travels with the first bytes; anything left is plain data.
        match sendmsg::<UnixAddr>(sock.as_raw_fd(), &[IoSlice::new(&body)], &[ControlMessage::ScmRights(&fds)], MsgFlags::MSG_NOSIGNAL, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => break r,
        }
    }
    .step(|| format!("send the seccomp fd to the agent at {}", p(path)))
    .map_err(|e| e.field(field))?;
    sock.write_all(&body[sent..]).step(|| format!("send the container state to the agent at {}", p(path))).map_err(|e| e.field(field))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_has_spec_fields_and_omits_empty_metadata() {
        let state = json!({"ociVersion": "1.3.0", "id": "c1", "status": "creating", "pid": 42, "bundle": "/b"});
        let v: Value = serde_json::from_slice(&process_state(&state, "").unwrap()).unwrap();
        assert_eq!(v["fds"], json!(["seccompFd"]));
        assert_eq!(v["pid"], 42);
        assert_eq!(v["state"]["id"], "c1");
        assert!(v.get("metadata").is_none());
        let v: Value = serde_json::from_slice(&process_state(&state, "MKNOD=/dev/null").unwrap()).unwrap();
        assert_eq!(v["metadata"], "MKNOD=/dev/null");
        assert!(process_state(&json!({"id": "c1"}), "").is_err());
    }
}
