//! How the command line shows long work: bars on a terminal, lines of text in a log.
//!
//! indicatif draws nothing when stderr is not a terminal, so a walk-forward run under a scheduler
//! (Slurm, `nohup`, CI) would leave its log empty for hours. There, each task writes a line at
//! most every `FOLIO_PROGRESS_SECONDS` (30 by default) while it runs, and one when it ends.

use indicatif::{FormattedDuration, MultiProgress, ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use folio::progress::{Progress, Task};

/// Seconds between a task's lines in a log, when it is not the default.
const EVERY_VARIABLE: &str = "FOLIO_PROGRESS_SECONDS";
const DEFAULT_EVERY: Duration = Duration::from_secs(30);

/// Where a command shows its progress: bars on a terminal, lines in a log, and nothing at all
/// for `--json` output (scripts read stdout; progress would only be noise in their logs).
pub fn shown(json: bool) -> Arc<dyn Progress> {
    if json {
        folio::progress::silent()
    } else if std::io::stderr().is_terminal() {
        Arc::new(Bars { bars: MultiProgress::new() })
    } else {
        Arc::new(Lines { every: every_from_environment(), since: Instant::now() })
    }
}

/// `FOLIO_PROGRESS_SECONDS` when it is a number of seconds (0: a line at every update), else
/// the default; a malformed value is not worth stopping hours of work for.
fn every_from_environment() -> Duration {
    std::env::var(EVERY_VARIABLE)
        .ok()
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
        .map_or(DEFAULT_EVERY, Duration::from_secs_f64)
}

/// Progress bars on the terminal, one per task, stacked.
struct Bars {
    bars: MultiProgress,
}

impl Progress for Bars {
    fn start(&self, name: &str, unit: &str, total: u64, done: u64) -> Box<dyn Task> {
        let bar = self.bars.add(ProgressBar::new(total));
        let name = if name.is_empty() { String::new() } else { format!("{name} ") };
        let template = format!("{{elapsed_precise}} {name}[{{bar:30}}] {{pos}}/{{len}} {unit}  {{msg}}");
        bar.set_style(ProgressStyle::with_template(&template).expect("valid template").progress_chars("=> "));
        bar.set_position(done);
        Box::new(Bar(bar))
    }
}

struct Bar(ProgressBar);

impl Task for Bar {
    fn set_position(&self, done: u64) {
        self.0.set_position(done);
    }

    fn advance(&self, by: u64) {
        self.0.inc(by);
    }

    fn set_message(&self, message: String) {
        self.0.set_message(message);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }

    fn abandon(&self) {
        self.0.abandon();
    }
}

/// Progress as lines on stderr, each led by the time since the command started.
struct Lines {
    every: Duration,
    since: Instant,
}

impl Progress for Lines {
    fn start(&self, name: &str, unit: &str, total: u64, done: u64) -> Box<dyn Task> {
        let now = Instant::now();
        Box::new(Line {
            name: if name.is_empty() { String::new() } else { format!("{name}: ") },
            unit: unit.to_string(),
            total,
            every: self.every,
            since: self.since,
            started: now,
            state: Mutex::new(LineState { done, message: String::new(), last_line: now }),
        })
    }
}

struct Line {
    name: String,
    unit: String,
    total: u64,
    every: Duration,
    since: Instant,
    started: Instant,
    state: Mutex<LineState>,
}

struct LineState {
    done: u64,
    message: String,
    last_line: Instant,
}

impl Line {
    /// Change the state, then write a line if the last one is `every` old.
    fn update(&self, change: impl FnOnce(&mut LineState)) {
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        change(&mut state);
        if state.last_line.elapsed() >= self.every {
            state.last_line = Instant::now();
            self.write(&state, "");
        }
    }

    fn end(&self, how: &str) {
        let state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.write(&state, &format!("{how} after {}, ", FormattedDuration(self.started.elapsed())));
    }

    fn write(&self, state: &LineState, ending: &str) {
        let message = if state.message.is_empty() { String::new() } else { format!("  {}", state.message) };
        let line = format!(
            "[{}] {}{ending}{}/{} {}{message}\n",
            FormattedDuration(self.since.elapsed()),
            self.name,
            state.done,
            self.total,
            self.unit
        );
        // One write per line, so that lines of tasks on other threads do not interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

impl Task for Line {
    fn set_position(&self, done: u64) {
        self.update(|state| state.done = done);
    }

    fn advance(&self, by: u64) {
        self.update(|state| state.done += by);
    }

    fn set_message(&self, message: String) {
        self.update(|state| state.message = message);
    }

    fn finish(&self) {
        self.end("finished");
    }

    fn abandon(&self) {
        self.end("stopped");
    }
}
