//! Runs a group of scenarios on one engine: each scenario is a closure that
//! asserts; a failing one is recorded (its panic message), the engine is
//! reset, and the next one runs. [`Group::finish`] shuts the engine down,
//! checks that nothing is left, and fails the test if any scenario failed,
//! naming each with its first lines.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use crate::engine::Engine;

/// A group of scenarios sharing one engine.
pub struct Group {
    engine: Option<Engine>,
    failures: Vec<String>,
    started: Instant,
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else {
        "panic".into()
    }
}

/// The first `lines` lines of `s`, each cut at 300 characters.
fn head(s: &str, lines: usize) -> String {
    s.lines().take(lines).map(|l| l.chars().take(300).collect::<String>()).collect::<Vec<_>>().join("\n      ")
}

impl Group {
    /// A group on `engine` (`None`: the engine is missing; every scenario
    /// is skipped, loudly, by the caller's constructor).
    pub fn new(engine: Option<Engine>) -> Group {
        Group { engine, failures: Vec::new(), started: Instant::now() }
    }

    /// The engine, if there is one.
    pub fn engine(&self) -> Option<&Engine> {
        self.engine.as_ref()
    }

    /// Runs scenario `name`: `f`, then checks that the runtime under test
    /// created containers meanwhile (its wrapper's log) and that none of the
    /// engine's containers, runtime state, cgroups, mounts or network
    /// namespaces is left.
    pub fn scenario(&mut self, name: &str, f: impl FnOnce(&Engine)) {
        let Some(e) = self.engine.as_ref() else { return };
        let t = Instant::now();
        let mark = e.calls_mark();
        let r = catch_unwind(AssertUnwindSafe(|| {
            f(e);
            // Every scenario runs containers: the runtime under test made
            // them (BuildKit's `run` included), not another one.
            let calls = e.calls_since(mark);
            assert!(
                calls.lines().any(|l| l.contains(" create ") || l.starts_with("create ") || l.contains(" run ")),
                "the runtime under test was not called; calls:\n{calls}"
            );
            e.assert_clean();
        }));
        let kind = e.kind_name();
        match r {
            Ok(()) => eprintln!("[{kind}] scenario {name}: ok ({:.1}s)", t.elapsed().as_secs_f64()),
            Err(p) => {
                let msg = panic_text(&*p);
                eprintln!("[{kind}] scenario {name}: FAILED ({:.1}s)", t.elapsed().as_secs_f64());
                self.failures.push(format!("{name}: {}", head(&msg, 6)));
                e.reset();
            }
        }
    }

    /// Shuts the engine down (checking nothing of it is left) and panics if
    /// a scenario failed.
    pub fn finish(mut self) {
        let Some(mut e) = self.engine.take() else { return };
        let kind = e.kind_name();
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| e.shutdown())) {
            self.failures.push(format!("shutdown: {}", head(&panic_text(&*p), 6)));
        }
        drop(e);
        eprintln!("[{kind}] group done in {:.1}s", self.started.elapsed().as_secs_f64());
        if !self.failures.is_empty() {
            panic!("{} scenario(s) failed:\n  - {}", self.failures.len(), self.failures.join("\n  - "));
        }
    }
}
