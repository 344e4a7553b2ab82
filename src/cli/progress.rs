//! What the user sees while transfers run: indicatif bars (overall + one per active file,
//! with speed and ETA) when stdout is a terminal, plain lines otherwise (logs, pipes,
//! tests).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::units::format_bytes;
use crate::engine::TransferId;

/// How often plain mode prints a summary line while bytes move.
const PLAIN_SUMMARY_INTERVAL: Duration = Duration::from_secs(2);
/// Most per-file bars shown at once; more active files only show in the overall bar.
const MAX_FILE_BARS: usize = 8;

/// Terminal bars or plain lines, chosen once from whether stdout is a terminal.
pub struct ProgressView {
    mode: Mode,
    total_bytes: u64,
    done_bytes: u64,
}

enum Mode {
    Bars {
        multi: MultiProgress,
        overall: ProgressBar,
        files: HashMap<TransferId, ProgressBar>,
    },
    Plain {
        last_summary: Instant,
        started: Instant,
    },
}

impl ProgressView {
    /// `total_bytes` is what is known up front (0 for stdin; it grows as files appear).
    pub fn new(total_bytes: u64) -> Self {
        let mode = if std::io::stdout().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(10));
            let overall = multi.add(ProgressBar::new(total_bytes).with_style(style(
                "{prefix:>8} [{bar:40.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
            )));
            overall.set_prefix("total");
            Mode::Bars {
                multi,
                overall,
                files: HashMap::new(),
            }
        } else {
            Mode::Plain {
                last_summary: Instant::now(),
                started: Instant::now(),
            }
        };
        Self {
            mode,
            total_bytes,
            done_bytes: 0,
        }
    }

    /// Prints a line without tearing the bars.
    pub fn line(&self, text: &str) {
        match &self.mode {
            Mode::Bars { multi, .. } => {
                let _ = multi.println(text);
            }
            Mode::Plain { .. } => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
            }
        }
    }

    /// Raises the expected total (e.g. when a stream turns out longer).
    pub fn set_total_bytes(&mut self, total_bytes: u64) {
        self.total_bytes = total_bytes;
        if let Mode::Bars { overall, .. } = &self.mode {
            overall.set_length(total_bytes);
        }
    }

    /// Updates one file's bar (created on first sight) and the overall position.
    pub fn file_progress(
        &mut self,
        id: &TransferId,
        label: &str,
        size: u64,
        bytes_done: u64,
        bytes_per_sec: f64,
    ) {
        if let Mode::Bars { multi, files, .. } = &mut self.mode {
            if !files.contains_key(id) && files.len() < MAX_FILE_BARS {
                let bar = multi.add(
                    ProgressBar::new(size)
                        .with_style(style("{prefix:>8} [{bar:40}] {bytes}/{total_bytes} {msg}")),
                );
                bar.set_prefix("file");
                files.insert(id.clone(), bar);
            }
            if let Some(bar) = files.get(id) {
                bar.set_length(size);
                bar.set_position(bytes_done.min(size));
                bar.set_message(format!("{}/s {label}", format_bytes(bytes_per_sec as u64)));
            }
        }
    }

    /// Removes a file's bar once it is finished (or paused, failed, skipped).
    pub fn file_finished(&mut self, id: &TransferId) {
        if let Mode::Bars { multi, files, .. } = &mut self.mode
            && let Some(bar) = files.remove(id)
        {
            bar.finish_and_clear();
            multi.remove(&bar);
        }
    }

    /// The bytes done over all files.
    pub fn overall(&mut self, done_bytes: u64) {
        self.done_bytes = done_bytes;
        match &mut self.mode {
            Mode::Bars { overall, .. } => overall.set_position(done_bytes),
            Mode::Plain {
                last_summary,
                started,
            } => {
                if last_summary.elapsed() >= PLAIN_SUMMARY_INTERVAL {
                    *last_summary = Instant::now();
                    let secs = started.elapsed().as_secs_f64().max(0.001);
                    let text = format!(
                        "progress: {} of {} ({}/s)",
                        format_bytes(done_bytes),
                        format_bytes(self.total_bytes),
                        format_bytes((done_bytes as f64 / secs) as u64)
                    );
                    self.line(&text);
                }
            }
        }
    }

    /// Clears the bars before the final summary.
    pub fn finish(&mut self) {
        if let Mode::Bars {
            multi,
            overall,
            files,
        } = &mut self.mode
        {
            for (_, bar) in files.drain() {
                bar.finish_and_clear();
            }
            overall.finish_and_clear();
            let _ = multi.clear();
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}
