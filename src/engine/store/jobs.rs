//! Targets and jobs. A job is what a person asked for in one action: these paths, to this
//! bucket and prefix on this target, with these options; it keeps its target for life.

use std::collections::HashMap;
use std::path::PathBuf;

use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::files::FileState;
use super::{JobId, QueueStore, StoreError, TargetId, blob_to_path, path_to_blob, to_db_int};
use crate::engine::folder_plan::FilterRule;
use crate::engine::plan::{MAX_PART_SIZE, MIN_PART_SIZE};

/// Version of the options JSON stored with each job; another version is not read.
const OPTIONS_VERSION: u32 = 1;

/// The most parts in flight one job may ask for; more is a typo, not a wish.
pub const MAX_PARALLELISM: u32 = 1024;

/// Where uploads go: an endpoint and how to find its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTarget {
    /// What the user calls it (a profile name, or the endpoint when there is none).
    pub label: String,
    /// The endpoint URL requests are sent to.
    pub endpoint: String,
    /// The region, when V4 signing is used.
    pub region: Option<String>,
    /// The configuration profile the target came from, if any.
    pub profile: Option<String>,
    /// Where the secret is found (e.g. `profile:work`, `env`); never the secret itself.
    pub credentials_ref: Option<String>,
}

impl NewTarget {
    /// The fields in the order the target statements bind them (`?1` to `?5`).
    fn columns(&self) -> [&dyn rusqlite::ToSql; 5] {
        [
            &self.label,
            &self.endpoint,
            &self.region,
            &self.profile,
            &self.credentials_ref,
        ]
    }
}

/// A stored target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its row id, which jobs refer to.
    pub id: TargetId,
    /// What was stored.
    pub target: NewTarget,
}

/// What to do when the destination key already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverwritePolicy {
    /// Replace it.
    #[default]
    Overwrite,
    /// Ask the server to refuse (`x-oss-forbid-overwrite`).
    Forbid,
    /// Skip any key that exists.
    SkipExisting,
    /// Skip when the object has the same size and is not older; with `checksum`, also
    /// compare CRC-64s.
    SkipUnchanged { checksum: bool },
}

/// How a job's files are uploaded; stored as versioned JSON.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JobOptions {
    /// Preferred part size in bytes; `None` uses the tuning's.
    pub part_size: Option<u64>,
    /// Parts in flight per file; `None` uses the tuning's.
    pub parallelism: Option<u32>,
    /// What happens to keys that exist.
    pub overwrite: OverwritePolicy,
    /// Include and exclude globs on the relative path, in the order given (the last
    /// match wins).
    pub filters: Vec<FilterRule>,
    /// Walk into symlinked folders and upload symlinked files.
    pub follow_symlinks: bool,
    /// A folder's files go straight under the prefix, without the folder's own name.
    #[serde(default)]
    pub contents_only: bool,
}

/// The JSON column: the options with their format version beside them.
#[derive(Serialize, Deserialize)]
struct StoredOptions {
    version: u32,
    #[serde(flatten)]
    options: JobOptions,
}

impl JobOptions {
    /// Checks the numbers, both before writing and after reading back.
    fn validate(&self) -> Result<(), String> {
        if let Some(part_size) = self.part_size
            && !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part_size)
        {
            return Err(format!(
                "part size {part_size} is outside {MIN_PART_SIZE}..={MAX_PART_SIZE} bytes"
            ));
        }
        if let Some(parallelism) = self.parallelism
            && !(1..=MAX_PARALLELISM).contains(&parallelism)
        {
            return Err(format!(
                "parallelism {parallelism} is outside 1..={MAX_PARALLELISM}"
            ));
        }
        Ok(())
    }

    fn to_json(&self) -> Result<String, StoreError> {
        self.validate().map_err(StoreError::Invalid)?;
        serde_json::to_string(&StoredOptions {
            version: OPTIONS_VERSION,
            options: self.clone(),
        })
        .map_err(|e| StoreError::Invalid(format!("job options cannot be written: {e}")))
    }

    fn from_json(json: &str) -> Result<Self, String> {
        let stored: StoredOptions =
            serde_json::from_str(json).map_err(|e| format!("its options are unreadable: {e}"))?;
        if stored.version != OPTIONS_VERSION {
            return Err(format!(
                "its options have format version {}, not {OPTIONS_VERSION}",
                stored.version
            ));
        }
        stored.options.validate()?;
        Ok(stored.options)
    }
}

/// Whether the job's folders are still being walked into the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkState {
    /// More files may still be added; totals grow.
    Walking,
    /// Every root has been walked; a re-walk only adds what is new.
    Walked,
}

/// Whether the engine should work on the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Its files are sent as slots free.
    Active,
    /// Kept, not sent until resumed.
    Paused,
    /// Every file is done, skipped or failed.
    Finished,
}

impl WalkState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Walking => "walking",
            Self::Walked => "walked",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Walking, Self::Walked]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

impl JobState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Finished => "finished",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::Active, Self::Paused, Self::Finished]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// What a new job is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Where its files go; fixed for the job's life.
    pub target: TargetId,
    /// The paths the user asked for, in the order given.
    pub roots: Vec<PathBuf>,
    /// Destination bucket.
    pub bucket: String,
    /// Destination key prefix (may be empty); relative paths are appended to it.
    pub prefix: String,
    /// How its files are uploaded.
    pub options: JobOptions,
    /// When it was asked for, seconds since the Unix epoch.
    pub created_unix_secs: u64,
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Its row id.
    pub id: JobId,
    /// What it was created with.
    pub spec: NewJob,
    /// Whether its walk has finished.
    pub walk: WalkState,
    /// Whether the engine works on it.
    pub state: JobState,
}

/// How many files of a job are where, and how many bytes. Skipped files count in
/// `skipped` only; `bytes_total` is the bytes of every file that is to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JobCounts {
    /// Files waiting for a slot.
    pub pending: u64,
    /// Files claimed by the lease holder and being sent.
    pub in_flight: u64,
    /// Files uploaded.
    pub done: u64,
    /// Files left out on purpose, each with its reason.
    pub skipped: u64,
    /// Files that could not be sent, each with its reason.
    pub failed: u64,
    /// Bytes of every file not skipped: the whole the progress bar measures against.
    pub bytes_total: u64,
    /// Bytes of the done files.
    pub bytes_done: u64,
}

impl JobCounts {
    /// Counts `count` more files of `state` holding `bytes`.
    pub fn add(&mut self, state: FileState, count: u64, bytes: u64) {
        match state {
            FileState::Pending => self.pending += count,
            FileState::InFlight => self.in_flight += count,
            FileState::Done => {
                self.done += count;
                self.bytes_done += bytes;
            }
            FileState::Skipped => self.skipped += count,
            FileState::Failed => self.failed += count,
        }
        if state != FileState::Skipped {
            self.bytes_total += bytes;
        }
    }

    /// Every file has reached an end: done, skipped or failed.
    pub fn all_settled(&self) -> bool {
        self.pending == 0 && self.in_flight == 0
    }
}

/// A job and its counts, as a job list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSummary {
    /// The job as stored.
    pub job: Job,
    /// Where its files are, counted when listed.
    pub counts: JobCounts,
}

/// A job row that could not be read; it is left in place, untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableJob {
    /// Which job.
    pub id: JobId,
    /// Why, in a sentence the user can read.
    pub reason: String,
}

/// Every job, with the ones that could not be read named apart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobListing {
    /// Oldest first.
    pub jobs: Vec<JobSummary>,
    /// Rows that failed validation.
    pub unreadable: Vec<UnreadableJob>,
}

/// A job row as read, before its words and JSON are checked.
struct RawJob {
    id: JobId,
    target: TargetId,
    created_unix_secs: i64,
    bucket: String,
    prefix: String,
    options_json: String,
    walk_state: String,
    state: String,
}

const TARGET_COLUMNS: &str = "id, label, endpoint, region, profile, credentials_ref";

impl Target {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: TargetId(row.get(0)?),
            target: NewTarget {
                label: row.get(1)?,
                endpoint: row.get(2)?,
                region: row.get(3)?,
                profile: row.get(4)?,
                credentials_ref: row.get(5)?,
            },
        })
    }
}

const JOB_COLUMNS: &str =
    "id, target_id, created_unix_secs, bucket, prefix, options_json, walk_state, state";

impl RawJob {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: JobId(row.get(0)?),
            target: TargetId(row.get(1)?),
            created_unix_secs: row.get(2)?,
            bucket: row.get(3)?,
            prefix: row.get(4)?,
            options_json: row.get(5)?,
            walk_state: row.get(6)?,
            state: row.get(7)?,
        })
    }

    fn into_job(self, roots: Vec<PathBuf>) -> Result<Job, UnreadableJob> {
        let unreadable = |reason: String| UnreadableJob {
            id: self.id,
            reason: format!("job {} cannot be read: {reason}", self.id.0),
        };
        let options = JobOptions::from_json(&self.options_json).map_err(unreadable)?;
        let created_unix_secs = u64::try_from(self.created_unix_secs).map_err(|_| {
            unreadable(format!(
                "its creation time {} is negative",
                self.created_unix_secs
            ))
        })?;
        let walk = WalkState::parse(&self.walk_state)
            .ok_or_else(|| unreadable(format!("unknown walk state {:?}", self.walk_state)))?;
        let state = JobState::parse(&self.state)
            .ok_or_else(|| unreadable(format!("unknown state {:?}", self.state)))?;
        Ok(Job {
            id: self.id,
            spec: NewJob {
                target: self.target,
                roots,
                bucket: self.bucket,
                prefix: self.prefix,
                options,
                created_unix_secs,
            },
            walk,
            state,
        })
    }
}

/// The counts of the unfinished jobs' files, by job and state.
pub(super) const UNFINISHED_COUNTS: &str =
    "SELECT state, COUNT(*), COALESCE(SUM(size), 0), job_id FROM files
     WHERE job_id IN (SELECT id FROM jobs WHERE state != 'finished')
     GROUP BY job_id, state";

impl QueueStore {
    /// Stores a target and returns its id.
    pub fn create_target(&mut self, target: &NewTarget) -> Result<TargetId, StoreError> {
        self.conn
            .execute(
                "INSERT INTO targets (label, endpoint, region, profile, credentials_ref)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                &target.columns()[..],
            )
            .map_err(self.sql_error("store a target"))?;
        Ok(TargetId(self.conn.last_insert_rowid()))
    }

    /// The id of a target stored with exactly these fields, storing it when there is none.
    pub fn find_or_create_target(&mut self, target: &NewTarget) -> Result<TargetId, StoreError> {
        let found = self
            .conn
            .query_row(
                "SELECT id FROM targets WHERE label = ?1 AND endpoint = ?2
                   AND region IS ?3 AND profile IS ?4 AND credentials_ref IS ?5
                 ORDER BY id LIMIT 1",
                &target.columns()[..],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.sql_error("look up a target"))?;
        match found {
            Some(id) => Ok(TargetId(id)),
            None => self.create_target(target),
        }
    }

    /// Every stored target, oldest first.
    pub fn targets(&self) -> Result<Vec<Target>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(&format!("SELECT {TARGET_COLUMNS} FROM targets ORDER BY id"))
            .map_err(self.sql_error("list targets"))?;
        let rows = statement
            .query_map([], Target::from_row)
            .map_err(self.sql_error("list targets"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.sql_error("list targets"))
    }

    /// One target, or `None` when there is no such id.
    pub fn target(&self, id: TargetId) -> Result<Option<Target>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {TARGET_COLUMNS} FROM targets WHERE id = ?1"),
                [id.0],
                Target::from_row,
            )
            .optional()
            .map_err(self.sql_error("read a target"))
    }

    /// Stores a job (active, walking) with its roots in one transaction.
    pub fn create_job(&mut self, job: &NewJob) -> Result<JobId, StoreError> {
        let options_json = job.options.to_json()?;
        let created = to_db_int(job.created_unix_secs, "creation time")?;
        let (tx, path) = self.begin_write("store a job")?;
        let error = |e| super::classify(path, "store a job", e);
        tx.execute(
            "INSERT INTO jobs (target_id, created_unix_secs, bucket, prefix, options_json,
                               walk_state, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                job.target.0,
                created,
                job.bucket,
                job.prefix,
                options_json,
                WalkState::Walking.as_str(),
                JobState::Active.as_str()
            ],
        )
        .map_err(error)?;
        let id = tx.last_insert_rowid();
        for (position, root) in job.roots.iter().enumerate() {
            tx.execute(
                "INSERT INTO job_roots (job_id, position, path) VALUES (?1, ?2, ?3)",
                params![id, position as i64, path_to_blob(root)],
            )
            .map_err(error)?;
        }
        tx.commit().map_err(error)?;
        Ok(JobId(id))
    }

    fn job_roots(&self, job: JobId) -> Result<Vec<PathBuf>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT path FROM job_roots WHERE job_id = ?1 ORDER BY position")
            .map_err(self.sql_error("read a job's paths"))?;
        let rows = statement
            .query_map([job.0], |row| row.get::<_, Vec<u8>>(0).map(blob_to_path))
            .map_err(self.sql_error("read a job's paths"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.sql_error("read a job's paths"))
    }

    /// One job; `None` when there is no such id, an error when its row is unreadable.
    pub fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let raw = self
            .conn
            .query_row(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
                [id.0],
                RawJob::from_row,
            )
            .optional()
            .map_err(self.sql_error("read a job"))?;
        let Some(raw) = raw else { return Ok(None) };
        let roots = self.job_roots(id)?;
        raw.into_job(roots)
            .map(Some)
            .map_err(|unreadable| StoreError::Invalid(unreadable.reason))
    }

    /// Every job with its counts, oldest first; unreadable rows are named, not dropped.
    /// Counting reads every file row of the store; [`QueueStore::list_unfinished_jobs`]
    /// reads only those of the jobs not finished.
    pub fn list_jobs(&self) -> Result<JobListing, StoreError> {
        self.listing(false)
    }

    /// The jobs not finished, as [`QueueStore::list_jobs`] lists them: what resuming and
    /// loading a target look for. Its cost follows the unfinished files, not the store.
    pub fn list_unfinished_jobs(&self) -> Result<JobListing, StoreError> {
        self.listing(true)
    }

    fn listing(&self, unfinished_only: bool) -> Result<JobListing, StoreError> {
        let raws: Vec<RawJob> = {
            let mut statement = self
                .conn
                .prepare_cached(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE ?1 = 0 OR state != 'finished'
                     ORDER BY id"
                ))
                .map_err(self.sql_error("list jobs"))?;
            let rows = statement
                .query_map([unfinished_only], RawJob::from_row)
                .map_err(self.sql_error("list jobs"))?;
            rows.collect::<Result<_, _>>()
                .map_err(self.sql_error("list jobs"))?
        };
        let mut counts = self.counts_by_job(unfinished_only)?;
        let mut listing = JobListing::default();
        for raw in raws {
            let id = raw.id;
            let roots = self.job_roots(id)?;
            match raw.into_job(roots) {
                Ok(job) => listing.jobs.push(JobSummary {
                    job,
                    counts: counts.remove(&id).unwrap_or_default(),
                }),
                Err(unreadable) => listing.unreadable.push(unreadable),
            }
        }
        Ok(listing)
    }

    /// The counts of one job (all zero for a job with no files).
    pub fn job_counts(&self, job: JobId) -> Result<JobCounts, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT state, COUNT(*), COALESCE(SUM(size), 0) FROM files
                 WHERE job_id = ?1 GROUP BY state",
            )
            .map_err(self.sql_error("count a job's files"))?;
        let mut rows = statement
            .query([job.0])
            .map_err(self.sql_error("count a job's files"))?;
        let mut counts = JobCounts::default();
        while let Some(row) = rows.next().map_err(self.sql_error("count a job's files"))? {
            let (state, count, bytes) =
                count_row(row).map_err(self.sql_error("count a job's files"))?;
            if let Some(state) = state {
                counts.add(state, count, bytes);
            }
        }
        Ok(counts)
    }

    /// The counts of every job, or of the unfinished ones only. The two are separate
    /// statements: the second searches `files_by_job_state` for each unfinished job, where
    /// one statement with an `OR` would scan the whole table for both.
    fn counts_by_job(
        &self,
        unfinished_only: bool,
    ) -> Result<HashMap<JobId, JobCounts>, StoreError> {
        let sql = if unfinished_only {
            UNFINISHED_COUNTS
        } else {
            "SELECT state, COUNT(*), COALESCE(SUM(size), 0), job_id FROM files
             GROUP BY job_id, state"
        };
        let mut statement = self
            .conn
            .prepare_cached(sql)
            .map_err(self.sql_error("count files"))?;
        let mut rows = statement.query([]).map_err(self.sql_error("count files"))?;
        let mut by_job: HashMap<JobId, JobCounts> = HashMap::new();
        while let Some(row) = rows.next().map_err(self.sql_error("count files"))? {
            let (state, count, bytes) = count_row(row).map_err(self.sql_error("count files"))?;
            let job = JobId(row.get(3).map_err(self.sql_error("count files"))?);
            if let Some(state) = state {
                by_job.entry(job).or_default().add(state, count, bytes);
            }
        }
        Ok(by_job)
    }

    /// Pauses, resumes or finishes a job.
    pub fn set_job_state(&mut self, job: JobId, state: JobState) -> Result<(), StoreError> {
        self.update_job(
            job,
            "UPDATE jobs SET state = ?2 WHERE id = ?1",
            state.as_str(),
            "change a job's state",
        )
    }

    /// Marks a job's walk as running again (a re-walk) or finished.
    pub fn set_walk_state(&mut self, job: JobId, walk: WalkState) -> Result<(), StoreError> {
        self.update_job(
            job,
            "UPDATE jobs SET walk_state = ?2 WHERE id = ?1",
            walk.as_str(),
            "change a job's walk state",
        )
    }

    /// Gives a job continued by a re-run the options it was run with this time. The files
    /// still to decide (pending, or skipped by the old policy or filters) are dropped and
    /// the walk runs again, so the new filters and overwrite policy decide them; files
    /// done or failed keep their rows. Called with the job's lease held and its files in
    /// flight put back in the queue. One transaction: a crash leaves either the old
    /// options and rows or the new ones.
    pub fn change_job_options(
        &mut self,
        job: JobId,
        options: &JobOptions,
    ) -> Result<(), StoreError> {
        let options_json = options.to_json()?;
        let (tx, path) = self.begin_write("change a job's options")?;
        let error = |e| super::classify(path, "change a job's options", e);
        let changed = tx
            .execute(
                "UPDATE jobs SET options_json = ?2, walk_state = ?3 WHERE id = ?1",
                params![job.0, options_json, WalkState::Walking.as_str()],
            )
            .map_err(error)?;
        found(changed, job)?;
        tx.execute(
            "DELETE FROM files WHERE job_id = ?1 AND state IN ('pending', 'skipped')",
            params![job.0],
        )
        .map_err(error)?;
        tx.commit().map_err(error)
    }

    /// Runs one `UPDATE jobs … WHERE id = ?1` with `value` as `?2`; the job must exist.
    fn update_job(
        &mut self,
        job: JobId,
        sql: &str,
        value: &str,
        action: &'static str,
    ) -> Result<(), StoreError> {
        let changed = self
            .conn
            .execute(sql, params![job.0, value])
            .map_err(self.sql_error(action))?;
        found(changed, job)
    }

    /// The newest unfinished job with these roots (in any order) to this destination on
    /// this target, so running the same upload again continues it.
    pub fn find_unfinished_job(
        &self,
        target: TargetId,
        roots: &[PathBuf],
        bucket: &str,
        prefix: &str,
    ) -> Result<Option<JobId>, StoreError> {
        let candidates: Vec<i64> = {
            let mut statement = self
                .conn
                .prepare_cached(
                    "SELECT id FROM jobs WHERE target_id = ?1 AND bucket = ?2 AND prefix = ?3
                       AND state != 'finished' ORDER BY id DESC",
                )
                .map_err(self.sql_error("look for an unfinished job"))?;
            let rows = statement
                .query_map(params![target.0, bucket, prefix], |row| row.get(0))
                .map_err(self.sql_error("look for an unfinished job"))?;
            rows.collect::<Result<_, _>>()
                .map_err(self.sql_error("look for an unfinished job"))?
        };
        let mut wanted = roots.to_vec();
        wanted.sort();
        for id in candidates {
            let mut stored = self.job_roots(JobId(id))?;
            stored.sort();
            if stored == wanted {
                return Ok(Some(JobId(id)));
            }
        }
        Ok(None)
    }
}

/// One `state, COUNT(*), SUM(size)` row; an unknown state word is left out of the counts.
fn count_row(row: &Row<'_>) -> rusqlite::Result<(Option<FileState>, u64, u64)> {
    let state: String = row.get(0)?;
    let count: i64 = row.get(1)?;
    let bytes: i64 = row.get(2)?;
    Ok((
        FileState::parse(&state),
        count.max(0) as u64,
        bytes.max(0) as u64,
    ))
}

fn found(changed: usize, job: JobId) -> Result<(), StoreError> {
    if changed == 0 {
        Err(StoreError::NotFound {
            what: format!("job {}", job.0),
        })
    } else {
        Ok(())
    }
}
