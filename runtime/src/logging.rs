//! The `--log` / `--log-format` logger.
//!
//! Engines read the log file to show a runtime's errors: containerd and
//! conmon pass `--log-format json` and expect one JSON object per line with
//! `level`, `msg` and `time`, the shape runc writes.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Output format of log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `time="..." level=error msg="..."`
    Text,
    /// `{"level":"error","msg":"...","time":"..."}`
    Json,
}

/// In a container's init (or an exec'd child) before exec: the sync socket
/// to the runtime parent, which logs the records; -1 elsewhere.
static FORWARD: AtomicI32 = AtomicI32::new(-1);

/// From now on send log records over `fd` (the child's end of the sync
/// socket) to the parent, which writes them to the runtime's log. Without
/// this, a child's warning would land on its stderr, which is the
/// container's (`docker logs`). When the parent is gone (after Ready) the
/// records go to `--log` if it was given, else nowhere.
pub fn forward_to(fd: std::os::fd::RawFd) {
    FORWARD.store(fd, Ordering::Relaxed);
}

struct Logger {
    out: Mutex<Option<File>>,
    format: Format,
    level: log::LevelFilter,
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= self.level
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let msg = record.args().to_string();
        let forward = FORWARD.load(Ordering::Relaxed);
        if forward >= 0 && crate::sync::Channel::send_log(forward, record.level(), &msg) {
            return;
        }
        let line = format_line(self.format, record.level(), &msg, &rfc3339(SystemTime::now()));
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // A log write that fails has nowhere better to go; ignore it.
        let _ = match out.as_mut() {
            Some(f) => f.write_all(line.as_bytes()),
            None if forward >= 0 => Ok(()),
            None => std::io::stderr().write_all(line.as_bytes()),
        };
    }

    fn flush(&self) {}
}

/// One log line, newline-terminated.
pub fn format_line(format: Format, level: log::Level, msg: &str, time: &str) -> String {
    let level = level.as_str().to_ascii_lowercase();
    let level = if level == "warn" { "warning".to_string() } else { level };
    match format {
        Format::Json => {
            let v = serde_json::json!({ "level": level, "msg": msg, "time": time });
            format!("{v}\n")
        }
        Format::Text => format!("time=\"{time}\" level={level} msg={}\n", serde_json::Value::from(msg)),
    }
}

/// Install the global logger. `path` None logs to stderr.
pub fn init(path: Option<&Path>, format: Format, debug: bool) -> std::io::Result<()> {
    let out = match path {
        Some(p) => Some(OpenOptions::new().create(true).append(true).open(p)?),
        None => None,
    };
    let level = if debug { log::LevelFilter::Debug } else { log::LevelFilter::Warn };
    let logger = Box::new(Logger { out: Mutex::new(out), format, level });
    log::set_max_level(level);
    // Only fails if a logger is already set, which would be a bug of ours.
    let _ = log::set_boxed_logger(logger);
    Ok(())
}

/// Format a time as RFC 3339 in UTC with nanoseconds, e.g. `2026-11-25T12:00:00.123456789Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, dd) = civil_from_days(days);
    format!("{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{:09}Z", rem / 3600, (rem % 3600) / 60, rem % 60, d.subsec_nanos())
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a year.
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(951_825_600, 5); // leap day 2000
        assert_eq!(rfc3339(t), "2000-02-29T12:00:00.000000005Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_608_000);
        assert_eq!(rfc3339(t), "2026-11-25T12:00:00.000000000Z");
    }

    #[test]
    fn json_line_shape() {
        let l = format_line(Format::Json, log::Level::Error, "bad \"x\"", "T");
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "bad \"x\"");
        assert_eq!(v["time"], "T");
        assert!(l.ends_with('\n'));
    }

    #[test]
    fn text_line_shape() {
        let l = format_line(Format::Text, log::Level::Warn, "hi", "T");
        assert_eq!(l, "time=\"T\" level=warning msg=\"hi\"\n");
    }
}
