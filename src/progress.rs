//! How long work says how far it has got, without the library knowing how that is shown: the
//! command line draws progress bars (it implements [`Progress`]), tests and library callers that
//! want nothing shown pass [`silent`].

use std::sync::Arc;

/// Where long work reports. One `Progress` may run many tasks at once (trainings on several
/// threads, each with its own task).
pub trait Progress: Send + Sync {
    /// A task of `total` units (`unit` names them for people: `steps`, `trainings`, `rows`),
    /// `done` of which are already behind it (a resumed run).
    fn start(&self, name: &str, unit: &str, total: u64, done: u64) -> Box<dyn Task>;
}

/// One task's progress.
pub trait Task: Send + Sync {
    fn set_position(&self, done: u64);
    fn advance(&self, by: u64);
    /// A short status line beside the task (latest figures, say).
    fn set_message(&self, message: String);
    /// The task is done: it may disappear.
    fn finish(&self);
    /// The task stopped before its end (an error): what it showed stays visible.
    fn abandon(&self);
}

/// Shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: &str, _: &str, _: u64, _: u64) -> Box<dyn Task> {
        Box::new(Silent)
    }
}

impl Task for Silent {
    fn set_position(&self, _: u64) {}
    fn advance(&self, _: u64) {}
    fn set_message(&self, _: String) {}
    fn finish(&self) {}
    fn abandon(&self) {}
}

/// A shared [`Silent`], for requests that show no progress.
pub fn silent() -> Arc<dyn Progress> {
    Arc::new(Silent)
}

/// `inner`, with every task's name led by `prefix`: which market of a panel, or which point of a
/// search, a training belongs to, where several run one after another into the same log.
pub fn prefixed(inner: Arc<dyn Progress>, prefix: impl Into<String>) -> Arc<dyn Progress> {
    Arc::new(Prefixed { inner, prefix: prefix.into() })
}

struct Prefixed {
    inner: Arc<dyn Progress>,
    prefix: String,
}

impl Progress for Prefixed {
    fn start(&self, name: &str, unit: &str, total: u64, done: u64) -> Box<dyn Task> {
        let name = if name.is_empty() { self.prefix.clone() } else { format!("{} {name}", self.prefix) };
        self.inner.start(&name, unit, total, done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Remembers the names of the tasks started on it.
    #[derive(Default)]
    struct Names(Mutex<Vec<String>>);

    impl Progress for Names {
        fn start(&self, name: &str, _: &str, _: u64, _: u64) -> Box<dyn Task> {
            self.0.lock().unwrap().push(name.to_string());
            Box::new(Silent)
        }
    }

    #[test]
    fn a_prefixed_progress_names_its_tasks_after_the_prefix() {
        let names = Arc::new(Names::default());
        let panel = prefixed(prefixed(names.clone(), "us_stocks"), "point-2");
        panel.start("fold-0/seed-1", "steps", 10, 0).finish();
        panel.start("", "steps", 10, 0).finish();
        assert_eq!(*names.0.lock().unwrap(), ["us_stocks point-2 fold-0/seed-1", "us_stocks point-2"]);
    }
}
