//! Opening the container's standard streams from what containerd passes in
//! `CreateTaskRequest`: FIFO paths made by the client (ctr, CRI), `file://`
//! URIs, or nothing.
//!
//! Output FIFOs are handed straight to the container (no copy threads): they
//! are opened read-write, so the container's own descriptor keeps a
//! reader on the pipe and a departed client never SIGPIPEs it, and the shim
//! keeps no writer, so the client sees EOF when the container's last writer
//! closes.

use std::fs::{File, OpenOptions};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::runtime::CallStdio;

fn null(write: bool) -> std::io::Result<OwnedFd> {
    Ok(OpenOptions::new().read(!write).write(write).open("/dev/null")?.into())
}

/// Opens an output stream (stdout or stderr).
pub fn open_output(uri: &str) -> Result<OwnedFd, String> {
    if uri.is_empty() {
        return null(true).map_err(|e| format!("open /dev/null: {e}"));
    }
    if uri.starts_with("binary://") {
        return Err(format!("{uri}: binary:// loggers are not supported yet"));
    }
    let path = uri.strip_prefix("file://").unwrap_or(uri);
    let is_fifo = std::fs::metadata(path).map(|m| m.file_type().is_fifo()).unwrap_or(false);
    let f = if is_fifo {
        // O_RDWR on a FIFO never blocks and keeps a reader alive.
        OpenOptions::new().read(true).write(true).open(path)
    } else {
        if let Some(dir) = Path::new(path).parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        OpenOptions::new().append(true).create(true).open(path)
    };
    f.map(OwnedFd::from).map_err(|e| format!("open {path}: {e}"))
}

/// Opens the input stream.
///
/// A client FIFO cannot be handed to the container directly: opening it for
/// reading blocks until the client opens its writing end, and a client whose
/// own stdin is already at EOF (ctr with /dev/null) may never do so. So a
/// small thread opens the FIFO and copies it into a pipe whose reading end
/// the container gets; the container sees EOF when the client closes its end.
/// [`release_input`] unblocks that thread if the client never shows up.
pub fn open_input(uri: &str) -> Result<OwnedFd, String> {
    if uri.is_empty() {
        return null(false).map_err(|e| format!("open /dev/null: {e}"));
    }
    let path = uri.strip_prefix("file://").unwrap_or(uri).to_string();
    let is_fifo = std::fs::metadata(&path).map(|m| m.file_type().is_fifo()).unwrap_or(false);
    if !is_fifo {
        return File::open(&path).map(OwnedFd::from).map_err(|e| format!("open stdin {path}: {e}"));
    }
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("stdin pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2 just returned these fds and nothing else owns them.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    std::thread::Builder::new()
        .name("stdin".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut w = File::from(w);
            if let Ok(mut fifo) = File::open(&path) {
                let _ = std::io::copy(&mut fifo, &mut w);
            }
        })
        .map_err(|e| format!("stdin copy thread: {e}"))?;
    Ok(r)
}

/// Unblocks a stdin copy thread still waiting for the client to open the
/// FIFO `uri` (a writer that opens and closes at once gives it EOF). Harmless
/// when the client is connected: its own writer keeps the stream open.
pub fn release_input(uri: &str) {
    let path = uri.strip_prefix("file://").unwrap_or(uri);
    if !path.is_empty() {
        let _ = OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(path);
    }
}

/// Opens all three streams of a process.
pub fn open(stdin: &str, stdout: &str, stderr: &str) -> Result<CallStdio, String> {
    let out = open_output(stdout)?;
    let err = if stderr == stdout && !stderr.is_empty() {
        out.try_clone().map_err(|e| format!("dup stdout: {e}"))?
    } else {
        open_output(stderr)?
    };
    let inp = open_input(stdin)?;
    Ok(CallStdio { stdin: Some(inp), stdout: Some(out), stderr: Some(err) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn empty_means_dev_null_and_files_append() {
        let dir = std::env::temp_dir().join(format!("berth-shim-stdio-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = dir.join("out.log");
        let uri = format!("file://{}", out.display());
        let s = open("", &uri, &uri).unwrap();
        File::from(s.stdout.unwrap()).write_all(b"a").unwrap();
        File::from(s.stderr.unwrap()).write_all(b"b").unwrap();
        let mut got = String::new();
        File::open(&out).unwrap().read_to_string(&mut got).unwrap();
        assert_eq!(got, "ab");
        assert!(open_output("binary:///bin/logger").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
