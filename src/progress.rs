//! Progress of a long command (`users import`/`export`, `db copy`,
//! `db backup`) on a terminal: count, rate and, when the total is known,
//! time left (`indicatif`, on stderr). Nothing when stderr is not a
//! terminal: the command prints one summary line at the end instead.

use std::time::Duration;

/// A handle to the bar; clones advance the same one.
#[derive(Clone)]
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    /// A counter of `unit` (`users`, `rows`, `pages`) while `verb`.
    pub fn start(verb: &str, unit: &str) -> Self {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(spinner_style(verb, unit));
        bar.enable_steady_tick(Duration::from_millis(200));
        Self(Some(bar))
    }

    /// Starts counting again towards `total`, now known, as `verb`: a bar
    /// with the time left.
    pub fn phase(&self, verb: &str, unit: &str, total: u64) {
        if let Some(bar) = &self.0 {
            bar.reset();
            bar.set_length(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
                "{verb} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit}  {{per_sec}}  \
                 {{elapsed}} elapsed, {{eta}} left"
            )) {
                bar.set_style(style.progress_chars("=> "));
            }
        }
    }

    /// `done` of `total` while `verb`; the first call turns the counter
    /// into a bar with the time left.
    pub fn at(&self, verb: &str, unit: &str, done: u64, total: u64) {
        if let Some(bar) = &self.0 {
            if bar.length() != Some(total) {
                self.phase(verb, unit, total);
            }
            bar.set_position(done);
        }
    }

    pub fn advance(&self, n: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(n);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

fn spinner_style(verb: &str, unit: &str) -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(&format!(
        "{{spinner}} {verb} {{human_pos}} {unit}  {{per_sec}}  {{elapsed}}"
    ))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
}
