//! One error type for the whole runtime.
//!
//! Every error names the step that failed and, where there is one, the config
//! field and the path involved, so that a user reads e.g.
//! `mount proc on /proc (mounts[1]): Operation not permitted`.

use std::fmt;
use std::io;
use std::path::Path;

/// The runtime's error: a step, optional context, and the OS error (if any).
#[derive(Debug)]
pub struct Error {
    /// What Berth was doing, e.g. "mount proc on /proc".
    pub step: String,
    /// The config field involved, e.g. "mounts[1]" or "process.rlimits[0]".
    pub field: Option<String>,
    /// The underlying OS error, if the failure came from a syscall.
    pub os: Option<io::Error>,
    /// What callers may act on; the message is for people only.
    pub kind: Kind,
}

/// The failures a caller handles differently from the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Anything not named below.
    Other,
    /// The container has no state (e.g. `delete --force` treats it as done).
    NotFound,
}

/// Result alias used across the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with no OS cause (bad input, refused state, ...).
    pub fn msg(step: impl Into<String>) -> Self {
        Error { step: step.into(), field: None, os: None, kind: Kind::Other }
    }

    /// An error for a container that has no state.
    pub fn not_found(step: impl Into<String>) -> Self {
        Error { kind: Kind::NotFound, ..Self::msg(step) }
    }

    /// An error caused by an OS error.
    pub fn os(step: impl Into<String>, err: io::Error) -> Self {
        Error { step: step.into(), field: None, os: Some(err), kind: Kind::Other }
    }

    /// An error from `errno` as the last syscall left it.
    pub fn last(step: impl Into<String>) -> Self {
        Self::os(step, io::Error::last_os_error())
    }

    /// An error from a nix errno.
    pub fn errno(step: impl Into<String>, e: nix::errno::Errno) -> Self {
        Self::os(step, io::Error::from_raw_os_error(e as i32))
    }

    /// Attach the config field this error is about.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Prefix the step with more context (e.g. the container id).
    pub fn context(mut self, ctx: impl fmt::Display) -> Self {
        self.step = format!("{ctx}: {}", self.step);
        self
    }

    /// The raw OS errno, if any.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.os.as_ref().and_then(|e| e.raw_os_error())
    }

    /// Whether the container this error is about has no state.
    pub fn is_not_found(&self) -> bool {
        self.kind == Kind::NotFound
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.step)?;
        if let Some(field) = &self.field {
            write!(f, " ({field})")?;
        }
        if let Some(os) = &self.os {
            // io::Error's Display appends " (os error N)"; keep only the text.
            let s = os.to_string();
            let s = s.split(" (os error").next().unwrap_or(&s);
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Helpers to turn `io::Result`/`nix::Result` into our error with a step.
pub trait Context<T> {
    /// Name the step that failed.
    fn step(self, step: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn step(self, step: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::os(step(), e))
    }
}

impl<T> Context<T> for nix::Result<T> {
    fn step(self, step: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::errno(step(), e))
    }
}

/// Format a path for messages.
pub fn p(path: &Path) -> std::borrow::Cow<'_, str> {
    path.to_string_lossy()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_step_field_and_os_error() {
        let e = Error::os("mount proc on /proc", io::Error::from_raw_os_error(libc::EPERM)).field("mounts[1]").context("create web1");
        assert_eq!(e.to_string(), "create web1: mount proc on /proc (mounts[1]): Operation not permitted");
    }

    #[test]
    fn display_without_os_error() {
        assert_eq!(Error::msg("container \"x\" does not exist").to_string(), "container \"x\" does not exist");
    }

    #[test]
    fn not_found_survives_context_and_keeps_the_message() {
        let e = Error::not_found("container \"x\" does not exist").context("delete");
        assert!(e.is_not_found());
        assert_eq!(e.to_string(), "delete: container \"x\" does not exist");
        assert!(!Error::msg("container \"x\" does not exist").is_not_found());
    }
}
