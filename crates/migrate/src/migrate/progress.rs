//! Progress bars on stderr (only on a terminal, never with `--quiet`) and the one-line
//! summary per collection.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub(super) struct Bar {
    inner: Option<ProgressBar>,
    quiet: bool,
    label: String,
    start: Instant,
}

impl Bar {
    pub(super) fn new(label: String, len: Option<u64>, quiet: bool) -> Bar {
        let bar = if !quiet && std::io::stderr().is_terminal() {
            let b = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{prefix:.bold} [{bar:30}] {human_pos}/{human_len} {per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            b.set_style(style);
            b.set_prefix(label.clone());
            b.enable_steady_tick(Duration::from_millis(200));
            Some(b)
        } else {
            None
        };
        Bar { inner: bar, quiet, label, start: Instant::now() }
    }

    pub(super) fn inc(&self, n: u64) {
        if let Some(b) = &self.inner {
            b.inc(n);
        }
    }

    pub(super) fn clear(&self) {
        if let Some(b) = &self.inner {
            b.finish_and_clear();
        }
    }

    pub(super) fn set_message(&self, m: String) {
        if let Some(b) = &self.inner {
            b.set_message(m);
        }
    }

    /// Ends the bar and prints `<label>: <n> records <what> in <s> s (<rate> records/s)`.
    pub(super) fn done(self, n: u64, what: &str) {
        let secs = self.start.elapsed().as_secs_f64();
        if let Some(b) = &self.inner {
            b.finish_and_clear();
        }
        if !self.quiet {
            let rate = if secs > 0.0 { n as f64 / secs } else { 0.0 };
            eprintln!("{}: {n} records {what} in {secs:.2} s ({rate:.0} records/s)", self.label);
        }
    }
}
