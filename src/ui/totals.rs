//! What all running uploads add up to (bytes done of bytes total, speed, time left), for
//! the status bar and the window title, and the recent speeds the throughput graph draws.
//! Computed from the view models only: no I/O, no clock of its own.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::engine::JobSnapshot;
use crate::engine::event::TransferState;
use crate::engine::store::{JobId, JobState};

use super::format::{bytes_label, eta_label, rate_label};
use super::state::{TransferRow, TransfersModel};

/// The window's name, alone when nothing runs.
pub const APP_TITLE: &str = "ossup";

/// The sum over the transfers and folder jobs that are running (queued, sending or
/// verifying; paused, failed and finished ones are left out).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub bytes_per_sec: f64,
    /// Transfers and jobs counted: none means idle.
    pub running: usize,
}

impl Totals {
    /// A job counts with its own byte counts, whose total includes its files in flight
    /// and whose done bytes count only finished files; those files' rows add the bytes
    /// they have sent so far, never their size again.
    pub fn of(model: &TransfersModel) -> Self {
        Self::over(model, None)
    }

    /// The same sum for one folder job: its counts and its files in flight (nothing when
    /// it does not run here).
    pub fn of_job(model: &TransfersModel, job: JobId) -> Self {
        Self::over(model, Some(job))
    }

    /// Every running transfer and job, or with `only` that job and its files.
    fn over(model: &TransfersModel, only: Option<JobId>) -> Self {
        let mut totals = Self::default();
        let running_jobs: Vec<&JobSnapshot> = model
            .jobs
            .values()
            .filter(|job| job_is_running(job) && only.is_none_or(|id| id == job.id))
            .collect();
        for job in &running_jobs {
            totals.running += 1;
            totals.bytes_total += job.counts.bytes_total;
            totals.bytes_done += job.counts.bytes_done;
        }
        let job_runs = |id: JobId| running_jobs.iter().any(|job| job.id == id);
        for row in model.active_rows().filter(|row| row_is_running(row)) {
            let snapshot = &row.snapshot;
            if only.is_some() && snapshot.job != only {
                continue;
            }
            totals.bytes_per_sec += snapshot.bytes_per_sec.max(0.0);
            match snapshot.job {
                Some(job) if job_runs(job) => totals.bytes_done += snapshot.bytes_done,
                // A paused job's files do not move the totals.
                Some(_) => {}
                None => {
                    totals.running += 1;
                    totals.bytes_total += snapshot.size;
                    totals.bytes_done += snapshot.bytes_done.min(snapshot.size);
                }
            }
        }
        // A job of small files moves by files that end before their own speed is known:
        // its finished bytes' rate counts where it is higher than its files' speeds.
        let now = Instant::now();
        for job in &running_jobs {
            let files: f64 = model
                .active_rows()
                .filter(|row| row.snapshot.job == Some(job.id) && row_is_running(row))
                .map(|row| row.snapshot.bytes_per_sec.max(0.0))
                .sum();
            totals.bytes_per_sec += (model.job_rate(job.id, now) - files).max(0.0);
        }
        // A file's row and its job's counts are updated by separate events: never more
        // than the whole.
        totals.bytes_done = totals.bytes_done.min(totals.bytes_total);
        totals
    }

    pub fn is_idle(&self) -> bool {
        self.running == 0
    }

    /// Whole percent done, rounded down so 100% means everything is sent.
    pub fn percent_done(&self) -> u64 {
        if self.bytes_total == 0 {
            return 0;
        }
        (u128::from(self.bytes_done) * 100 / u128::from(self.bytes_total)) as u64
    }

    /// Seconds until the remaining bytes are sent at the current speed.
    pub fn eta_secs(&self) -> Option<f64> {
        if self.bytes_per_sec < 1.0 {
            return None;
        }
        Some((self.bytes_total - self.bytes_done) as f64 / self.bytes_per_sec)
    }

    /// "1.5MiB of 4MiB · 512KiB/s · 5s left" for the status bar; nothing when idle.
    pub fn status_label(&self) -> Option<String> {
        if self.is_idle() {
            return None;
        }
        let mut label = format!(
            "{} of {}",
            bytes_label(self.bytes_done),
            bytes_label(self.bytes_total)
        );
        for part in self.speed_and_eta() {
            label.push_str(" · ");
            label.push_str(&part);
        }
        Some(label)
    }

    /// "ossup — 42% · 12.3MiB/s · 3m 5s left"; plain "ossup" when idle.
    pub fn window_title(&self) -> String {
        if self.is_idle() {
            return APP_TITLE.to_owned();
        }
        let mut title = format!("{APP_TITLE} — {}%", self.percent_done());
        for part in self.speed_and_eta() {
            title.push_str(" · ");
            title.push_str(&part);
        }
        title
    }

    /// "512KiB/s · 5s left", or what of it is known; nothing when idle or still.
    pub fn pace_label(&self) -> Option<String> {
        let parts = self.speed_and_eta();
        (!self.is_idle() && !parts.is_empty()).then(|| parts.join(" · "))
    }

    /// The speed and the time left, each only when known.
    fn speed_and_eta(&self) -> Vec<String> {
        let mut parts = Vec::new();
        if self.bytes_per_sec >= 1.0 {
            parts.push(rate_label(self.bytes_per_sec));
        }
        if let Some(eta) = self.eta_secs() {
            parts.push(format!("{} left", eta_label(Some(eta))));
        }
        parts
    }
}

/// Queued, sending or verifying: bytes it has still to send count as work ahead.
fn row_is_running(row: &TransferRow) -> bool {
    row.can_pause() || row.snapshot.state == TransferState::Verifying
}

/// Active and driven by this process (a job another process drives is only shown).
fn job_is_running(job: &JobSnapshot) -> bool {
    job.state == JobState::Active && job.locked_by.is_none()
}

/// Samples the graph keeps: five minutes at one a second.
pub const THROUGHPUT_SAMPLES: usize = 300;

/// The total speed about once a second over the last few minutes, oldest first, in a
/// buffer of fixed size.
#[derive(Debug, Clone, Default)]
pub struct ThroughputHistory {
    bytes_per_sec: VecDeque<f64>,
    /// When the newest sample's second began; samples stay one second apart.
    last_sample: Option<Instant>,
}

impl ThroughputHistory {
    /// Takes a sample of `totals` if a second has passed since the last one. Seconds in
    /// which no frame was drawn had nothing moving (a moving upload keeps waking the
    /// window), so they are recorded as zero.
    pub fn record(&mut self, now: Instant, totals: &Totals) {
        let speed = totals.bytes_per_sec;
        let Some(last) = self.last_sample else {
            self.push(speed);
            self.last_sample = Some(now);
            return;
        };
        let elapsed_secs = now.saturating_duration_since(last).as_secs();
        if elapsed_secs == 0 {
            return;
        }
        let silent = (elapsed_secs - 1).min(THROUGHPUT_SAMPLES as u64);
        for _ in 0..silent {
            self.push(0.0);
        }
        self.push(speed);
        self.last_sample = Some(last + Duration::from_secs(elapsed_secs));
    }

    fn push(&mut self, bytes_per_sec: f64) {
        if self.bytes_per_sec.len() == THROUGHPUT_SAMPLES {
            self.bytes_per_sec.pop_front();
        }
        self.bytes_per_sec.push_back(bytes_per_sec);
    }

    /// Oldest first.
    pub fn samples(&self) -> impl ExactSizeIterator<Item = f64> + '_ {
        self.bytes_per_sec.iter().copied()
    }

    /// The highest speed kept; zero when nothing moved in the whole span.
    pub fn peak_bytes_per_sec(&self) -> f64 {
        self.samples().fold(0.0, f64::max)
    }

    /// When the window should wake for the next sample: only while bytes are moving, so
    /// an idle window is never woken by the graph.
    pub fn next_sample_in(&self, now: Instant, totals: &Totals) -> Option<Duration> {
        if totals.bytes_per_sec < 1.0 {
            return None;
        }
        let since = self
            .last_sample
            .map_or(Duration::ZERO, |last| now.saturating_duration_since(last));
        Some(Duration::from_secs(1).saturating_sub(since))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::engine::event::{EngineEvent, SourceKind, TransferId, TransferSnapshot};
    use crate::engine::store::JobCounts;

    use super::*;

    fn file(id: &str, size: u64, done: u64, state: TransferState, job: Option<i64>) -> EngineEvent {
        EngineEvent::Snapshot(TransferSnapshot {
            state,
            bytes_done: done,
            bytes_per_sec: 100.0,
            job: job.map(JobId),
            ..TransferSnapshot::queued(
                TransferId(id.into()),
                PathBuf::from(format!("/data/{id}")),
                SourceKind::File,
                "demo".into(),
                id.into(),
                size,
            )
        })
    }

    fn job(id: i64, state: JobState, bytes_done: u64, bytes_total: u64) -> EngineEvent {
        EngineEvent::Job(JobSnapshot {
            id: JobId(id),
            target: String::from("local"),
            roots: vec![PathBuf::from("/photos")],
            bucket: "demo".into(),
            prefix: "photos/".into(),
            state,
            walking: false,
            counts: JobCounts {
                done: 1,
                in_flight: 1,
                bytes_done,
                bytes_total,
                ..Default::default()
            },
            excluded: 0,
            locked_by: None,
            problem: None,
        })
    }

    fn model(events: Vec<EngineEvent>) -> TransfersModel {
        let mut model = TransfersModel::default();
        for event in events {
            model.apply(event);
        }
        model
    }

    #[test]
    fn running_files_and_jobs_add_up_without_counting_a_jobs_files_twice() {
        let totals = Totals::of(&model(vec![
            file("a", 1_000, 250, TransferState::Uploading, None),
            file("b", 3_000, 0, TransferState::Queued, None),
            job(7, JobState::Active, 400, 10_000),
            // In flight in job 7: its 6,000 bytes are in the job's total already.
            file("c", 6_000, 600, TransferState::Uploading, Some(7)),
        ]));
        assert_eq!(totals.bytes_total, 1_000 + 3_000 + 10_000);
        assert_eq!(totals.bytes_done, 250 + 400 + 600);
        assert_eq!(totals.running, 3);
        assert_eq!(totals.bytes_per_sec, 300.0);
        assert_eq!(totals.percent_done(), 8);
        assert_eq!(totals.eta_secs(), Some(12_750.0 / 300.0));
    }

    #[test]
    fn one_job_sums_its_own_counts_and_files_only() {
        let model = model(vec![
            file("a", 1_000, 250, TransferState::Uploading, None),
            job(7, JobState::Active, 400, 10_000),
            file("c", 6_000, 600, TransferState::Uploading, Some(7)),
            file("d", 2_000, 100, TransferState::Uploading, Some(7)),
            job(8, JobState::Active, 0, 5_000),
            file("e", 5_000, 50, TransferState::Uploading, Some(8)),
        ]);
        let seven = Totals::of_job(&model, JobId(7));
        assert_eq!(
            (seven.bytes_done, seven.bytes_total),
            (400 + 600 + 100, 10_000)
        );
        assert_eq!(seven.bytes_per_sec, 200.0);
        assert_eq!(seven.pace_label().as_deref(), Some("200B/s · 45s left"));
        assert_eq!(Totals::of_job(&model, JobId(8)).bytes_per_sec, 100.0);
        assert_eq!(Totals::of_job(&model, JobId(9)).pace_label(), None);
    }

    #[test]
    fn a_job_of_small_files_moves_at_the_rate_its_finished_bytes_grow() {
        let start = Instant::now() - Duration::from_secs(2);
        let mut model = TransfersModel::default();
        model.apply_at(job(7, JobState::Active, 0, 100_000), start);
        model.apply_at(
            job(7, JobState::Active, 4_000, 100_000),
            start + Duration::from_secs(2),
        );
        // Its file in flight has no speed of its own yet.
        let mut in_flight = file("small", 1_000, 0, TransferState::Uploading, Some(7));
        if let EngineEvent::Snapshot(snapshot) = &mut in_flight {
            snapshot.bytes_per_sec = 0.0;
        }
        model.apply(in_flight);
        assert_eq!(Totals::of(&model).bytes_per_sec, 2_000.0);
        assert_eq!(Totals::of_job(&model, JobId(7)).bytes_per_sec, 2_000.0);

        // Files with speeds of their own above the finished rate are not counted twice.
        model.apply(file("big", 90_000, 10, TransferState::Uploading, Some(7)));
        let mut fast = file("big", 90_000, 10, TransferState::Uploading, Some(7));
        if let EngineEvent::Snapshot(snapshot) = &mut fast {
            snapshot.bytes_per_sec = 5_000.0;
        }
        model.apply(fast);
        assert_eq!(Totals::of(&model).bytes_per_sec, 5_000.0);

        // A paused job moves at no speed.
        model.apply(job(7, JobState::Paused, 4_000, 100_000));
        assert_eq!(model.job_rate(JobId(7), Instant::now()), 0.0);
    }

    #[test]
    fn paused_failed_finished_and_elsewhere_driven_work_is_left_out() {
        let mut events = vec![
            file("paused", 1_000, 10, TransferState::Paused, None),
            file("failed", 1_000, 10, TransferState::Failed, None),
            file("done", 1_000, 1_000, TransferState::Done, None),
            job(1, JobState::Paused, 5, 100),
            file("of-paused-job", 50, 5, TransferState::Paused, Some(1)),
            job(2, JobState::Finished, 100, 100),
        ];
        let mut elsewhere = job(3, JobState::Active, 1, 10);
        if let EngineEvent::Job(job) = &mut elsewhere {
            job.locked_by = Some(4242);
        }
        events.push(elsewhere);
        let totals = Totals::of(&model(events));
        assert!(totals.is_idle(), "{totals:?}");
        assert_eq!((totals.bytes_done, totals.bytes_total), (0, 0));
        assert_eq!(totals.status_label(), None);
        assert_eq!(totals.window_title(), "ossup");
    }

    #[test]
    fn labels_say_what_is_known() {
        let moving = Totals {
            bytes_done: 3 << 20,
            bytes_total: 8 << 20,
            bytes_per_sec: f64::from(1 << 20),
            running: 2,
        };
        assert_eq!(
            moving.status_label().as_deref(),
            Some("3MiB of 8MiB · 1MiB/s · 5s left")
        );
        assert_eq!(moving.window_title(), "ossup — 37% · 1MiB/s · 5s left");
        let waiting = Totals {
            bytes_per_sec: 0.0,
            ..moving
        };
        assert_eq!(waiting.status_label().as_deref(), Some("3MiB of 8MiB"));
        assert_eq!(waiting.window_title(), "ossup — 37%");
        let nothing_to_send = Totals {
            running: 1,
            ..Totals::default()
        };
        assert_eq!(nothing_to_send.window_title(), "ossup — 0%");
    }

    #[test]
    fn a_files_bytes_beyond_its_jobs_total_are_not_counted() {
        // The job's counts lag behind a file that has just finished.
        let totals = Totals::of(&model(vec![
            job(7, JobState::Active, 900, 1_000),
            file("c", 500, 500, TransferState::Verifying, Some(7)),
        ]));
        assert_eq!((totals.bytes_done, totals.bytes_total), (1_000, 1_000));
        assert_eq!(totals.percent_done(), 100);
    }

    fn moving(bytes_per_sec: f64) -> Totals {
        Totals {
            bytes_per_sec,
            running: 1,
            ..Totals::default()
        }
    }

    #[test]
    fn history_samples_once_a_second_and_fills_silent_seconds_with_zero() {
        let start = Instant::now();
        let mut history = ThroughputHistory::default();
        history.record(start, &moving(10.0));
        history.record(start + Duration::from_millis(400), &moving(99.0));
        history.record(start + Duration::from_millis(1_100), &moving(20.0));
        history.record(start + Duration::from_millis(4_500), &moving(30.0));
        let samples: Vec<f64> = history.samples().collect();
        assert_eq!(samples, [10.0, 20.0, 0.0, 0.0, 30.0]);
        assert_eq!(history.peak_bytes_per_sec(), 30.0);
    }

    #[test]
    fn history_keeps_a_fixed_number_of_samples() {
        let start = Instant::now();
        let mut history = ThroughputHistory::default();
        for second in 0..(THROUGHPUT_SAMPLES as u64 + 50) {
            history.record(start + Duration::from_secs(second), &moving(second as f64));
        }
        assert_eq!(history.samples().len(), THROUGHPUT_SAMPLES);
        assert_eq!(history.samples().next(), Some(50.0));
        // An hour without frames: the buffer is all zeros, not an hour of them.
        history.record(start + Duration::from_secs(4_000), &moving(0.0));
        assert_eq!(history.samples().len(), THROUGHPUT_SAMPLES);
        assert_eq!(history.peak_bytes_per_sec(), 0.0);
    }

    #[test]
    fn only_moving_bytes_wake_the_window_for_the_next_sample() {
        let start = Instant::now();
        let mut history = ThroughputHistory::default();
        history.record(start, &moving(10.0));
        let later = start + Duration::from_millis(300);
        assert_eq!(
            history.next_sample_in(later, &moving(10.0)),
            Some(Duration::from_millis(700))
        );
        assert_eq!(history.next_sample_in(later, &moving(0.0)), None);
        assert_eq!(history.next_sample_in(later, &Totals::default()), None);
    }
}
