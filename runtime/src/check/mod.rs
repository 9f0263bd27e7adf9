//! `berth check`: what this host offers Berth, one line per item, in the
//! spirit of `lxc-checkconfig` and `docker info` (runc has no counterpart).
//!
//! The work has two halves. [`facts::gather`] reads the host: files under a
//! root directory (`/` on a host; a fake tree of /proc, /sys, /etc and /run
//! in the unit tests) and a [`Probe`] for what is not a file (syscalls, the
//! libseccomp version, `criu --version`). [`judge`] turns those facts into
//! [`Item`]s and is pure. Nothing in either half writes anything; as
//! non-root, what could not be read is reported with status `unknown`.
//!
//! Each item has a status: `ok`, `warn` (partial, or a choice worth a
//! second look), `missing`, or `unknown` (not readable by this caller).
//! Items marked essential are those without which Berth cannot run the
//! containers engines ask for (a cgroup hierarchy, the basic namespaces,
//! seccomp, openat2, the new mount API, pidfds, device rules): the host is
//! ready when none of them is `missing`, and `berth check` exits 0; else 1.
//! A missing optional item (CRIU, SELinux, user namespaces) never fails it.
//!
//! `--format json` prints [`Report::json`]:
//!
//! ```json
//! {
//!   "items": [
//!     {"section": "cgroups", "name": "layout", "status": "ok", "essential": true,
//!      "detail": "hybrid: ...", "meaning": "..."}
//!   ],
//!   "summary": {"ready": true, "ok": 20, "warn": 4, "missing": 3, "unknown": 1,
//!               "blocking": [], "cgroupLayout": "hybrid", "kernel": "6.18.44"}
//! }
//! ```
//!
//! `section` and `name` are stable identifiers (lower case, `-` between
//! words); `status` is one of the four words above; `detail` says what was
//! found and `meaning` what it means for Berth (both free text).
//! `blocking` lists `section/name` of the essential items that are
//! missing; `cgroupLayout` is `v1`, `v2`, `hybrid`, `none`, or null when
//! mountinfo could not be read; `kernel` is the release, or null.

pub mod facts;
mod judge;
mod judge_cgroups;
pub mod probe;
#[cfg(test)]
mod tests;

pub use facts::Facts;
pub use probe::{HostProbe, Probe};

use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;

/// What to check, and where to read it.
#[derive(Clone, Debug)]
pub struct Options {
    /// The directory whose proc/, sys/, etc/ and run/ are read: `/`.
    pub root: PathBuf,
    /// The state root (`--root`), whose file system is reported.
    pub state_root: PathBuf,
    /// The CRIU binary (`--criu`): a name looked up on PATH, or a path.
    pub criu: PathBuf,
    /// Also run `criu check` (CRIU's own kernel tests; it may cache what it
    /// learns in /run/criu.kdat).
    pub criu_check: bool,
    /// PATH, for criu, newuidmap and newgidmap (None: /bin:/usr/bin, as
    /// execvp without PATH).
    pub path_var: Option<String>,
    /// `SUDO_USER`: whose subordinate ids to report besides root's.
    pub sudo_user: Option<String>,
}

impl Options {
    /// The running host, with PATH and SUDO_USER from the environment.
    pub fn host(state_root: PathBuf, criu: PathBuf, criu_check: bool) -> Options {
        Options { root: PathBuf::from("/"), state_root, criu, criu_check, path_var: std::env::var("PATH").ok(), sudo_user: std::env::var("SUDO_USER").ok() }
    }
}

/// How an item stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Present and usable.
    Ok,
    /// Partly there, or worth a second look.
    Warn,
    /// Not there.
    Missing,
    /// Could not be read by this caller.
    Unknown,
}

impl Status {
    /// The word printed for it.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Missing => "missing",
            Status::Unknown => "unknown",
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Item {
    /// The group it belongs to, e.g. "cgroups".
    pub section: &'static str,
    /// Its stable name within the section, e.g. "layout".
    pub name: &'static str,
    /// How it stands.
    pub status: Status,
    /// Whether Berth cannot run ordinary containers while it is missing.
    pub essential: bool,
    /// What was found.
    pub detail: String,
    /// What that means for Berth's features.
    pub meaning: String,
}

impl Item {
    pub(crate) fn new(section: &'static str, name: &'static str, status: Status, detail: impl Into<String>, meaning: impl Into<String>) -> Item {
        Item { section, name, status, essential: false, detail: detail.into(), meaning: meaning.into() }
    }

    /// Mark the item essential.
    pub(crate) fn essential(mut self) -> Item {
        self.essential = true;
        self
    }

    /// Whether it keeps the host from running containers.
    pub fn blocks(&self) -> bool {
        self.essential && self.status == Status::Missing
    }
}

/// The judged report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Every item, grouped by section in report order.
    pub items: Vec<Item>,
    /// "v1", "v2", "hybrid" or "none"; None if mountinfo was unreadable.
    pub cgroup_layout: Option<&'static str>,
    /// The kernel release, if read.
    pub kernel: Option<String>,
}

/// The JSON document, in the order it is printed.
#[derive(Serialize)]
struct Document<'a> {
    items: &'a [Item],
    summary: Summary<'a>,
}

/// The `summary` object.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary<'a> {
    ready: bool,
    ok: usize,
    warn: usize,
    missing: usize,
    unknown: usize,
    blocking: Vec<String>,
    cgroup_layout: Option<&'static str>,
    kernel: Option<&'a str>,
}

/// Gather the facts and judge them.
pub fn run(o: &Options, probe: &dyn Probe) -> Report {
    judge(&facts::gather(o, probe))
}

/// Judge gathered facts: pure, the same facts give the same report.
pub fn judge(f: &Facts) -> Report {
    let mut items = Vec::new();
    judge::host(f, &mut items);
    judge_cgroups::cgroups(f, &mut items);
    judge_cgroups::systemd(f, &mut items);
    judge::namespaces(f, &mut items);
    judge::seccomp(f, &mut items);
    judge::lsm(f, &mut items);
    judge::kernel(f, &mut items);
    judge::checkpoint(f, &mut items);
    judge::engines(f, &mut items);
    Report { items, cgroup_layout: judge_cgroups::layout(f), kernel: f.kernel.found().cloned() }
}

impl Report {
    /// No essential item is missing.
    pub fn ready(&self) -> bool {
        !self.items.iter().any(Item::blocks)
    }

    /// `berth check`'s exit code: 0 when ready, 1 when not.
    pub fn exit_code(&self) -> i32 {
        if self.ready() {
            0
        } else {
            1
        }
    }

    fn count(&self, s: Status) -> usize {
        self.items.iter().filter(|i| i.status == s).count()
    }

    fn blocking(&self) -> Vec<String> {
        self.items.iter().filter(|i| i.blocks()).map(|i| format!("{}/{}", i.section, i.name)).collect()
    }

    fn document(&self) -> Document<'_> {
        Document {
            items: &self.items,
            summary: Summary {
                ready: self.ready(),
                ok: self.count(Status::Ok),
                warn: self.count(Status::Warn),
                missing: self.count(Status::Missing),
                unknown: self.count(Status::Unknown),
                blocking: self.blocking(),
                cgroup_layout: self.cgroup_layout,
                kernel: self.kernel.as_deref(),
            },
        }
    }

    /// The JSON document (shape in the module documentation).
    pub fn json(&self) -> Value {
        serde_json::to_value(self.document()).unwrap_or(Value::Null)
    }

    /// [`Report::json`] as pretty-printed text, fields in the documented
    /// order (a `Value` would sort them).
    pub fn json_text(&self) -> String {
        serde_json::to_string_pretty(&self.document()).unwrap_or_default()
    }

    /// The text report: a heading per section, then one aligned line per
    /// item (name, status, detail) with its meaning on the line below, and
    /// a closing verdict.
    pub fn text(&self) -> String {
        let w = self.items.iter().map(|i| i.name.len()).max().unwrap_or(0);
        let sw = "missing".len();
        let pad = " ".repeat(2 + w + 2 + sw + 2);
        let mut out = String::new();
        let mut section = "";
        for i in &self.items {
            if i.section != section {
                if !section.is_empty() {
                    out.push('\n');
                }
                section = i.section;
                out.push_str(section);
                out.push('\n');
            }
            let status = i.status.word();
            out.push_str(&format!("  {:<w$}  {status:<sw$}  {}\n", i.name, i.detail));
            if !i.meaning.is_empty() {
                let mark = if i.blocks() { "essential: " } else { "" };
                out.push_str(&format!("{pad}{mark}{}\n", i.meaning));
            }
        }
        let tally = format!(
            "{} ok, {} warn, {} missing, {} unknown",
            self.count(Status::Ok),
            self.count(Status::Warn),
            self.count(Status::Missing),
            self.count(Status::Unknown)
        );
        if self.ready() {
            out.push_str(&format!("\nready: this host can run containers with Berth ({tally})\n"));
        } else {
            out.push_str(&format!("\nnot ready: essential items missing: {} ({tally})\n", self.blocking().join(", ")));
        }
        out
    }
}
