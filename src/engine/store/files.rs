//! The files of a job: added by the walker in batches, claimed by the scheduler as slots
//! free, and finished in batches, so neither side ever holds the whole queue and a small
//! file costs no commit of its own.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rusqlite::{OptionalExtension, Row, params};

use super::history::{NewHistory, insert_history};
use super::{
    FileId, JobId, QueueStore, StoreError, blob_to_path, classify, page_limit, path_to_blob,
    to_db_int,
};

/// Where one file is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileState {
    /// Waiting for a transfer slot.
    Pending,
    /// Claimed by the process that holds the job's lease.
    InFlight,
    /// Uploaded (and verified where the server gives a CRC-64).
    Done,
    /// Not sent on purpose (a symlink, an unchanged object); the reason says why.
    Skipped,
    /// Could not be sent; the reason says why.
    Failed,
}

impl FileState {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InFlight => "in_flight",
            Self::Done => "done",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }

    pub(super) fn parse(text: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::InFlight,
            Self::Done,
            Self::Skipped,
            Self::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A file the walker found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    /// Path under the root it was found in; unique within the job, so a second walk
    /// only adds what is new.
    pub relative_path: PathBuf,
    /// Where to read it from.
    pub absolute_path: PathBuf,
    /// The object key it goes to (prefix included).
    pub key: String,
    /// Size when walked.
    pub size: u64,
    /// Modification time when walked, nanoseconds since the Unix epoch (0 if unknown);
    /// kept within i64, which reaches the year 2262.
    pub mtime_unix_nanos: i128,
    /// `Pending`, or `Skipped`/`Failed` when the walk already knows (a symlink, a name
    /// that cannot be a key).
    pub state: FileState,
    /// Why, for a file that starts skipped or failed.
    pub reason: Option<String>,
}

impl NewFile {
    /// A file to be sent.
    pub fn pending(
        relative_path: PathBuf,
        absolute_path: PathBuf,
        key: String,
        size: u64,
        mtime_unix_nanos: i128,
    ) -> Self {
        Self {
            relative_path,
            absolute_path,
            key,
            size,
            mtime_unix_nanos,
            state: FileState::Pending,
            reason: None,
        }
    }

    /// The same file recorded as not to be sent, with the sentence that says why.
    pub fn not_sent(mut self, state: FileState, reason: impl Into<String>) -> Self {
        self.state = state;
        self.reason = Some(reason.into());
        self
    }
}

/// A stored file: what the walk recorded, as it stands now, with the row's bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    /// Its row id; pages are ordered by it.
    pub id: FileId,
    /// The job it belongs to.
    pub job: JobId,
    /// Path, key, size and modification time as walked; state and reason as they are now
    /// (why it was skipped or failed, or what the last retry met).
    pub file: NewFile,
    /// How many times it was claimed.
    pub attempts: u32,
    /// When its row last changed, seconds since the Unix epoch.
    pub updated_unix_secs: u64,
}

const FILE_COLUMNS: &str = "id, job_id, relative_path, absolute_path, key, size, \
    mtime_unix_nanos, state, reason, attempts, updated_unix_secs";

/// Reads a file row, checking what the table's constraints should already guarantee.
fn file_row(row: &Row<'_>) -> rusqlite::Result<Result<FileRow, String>> {
    let id = FileId(row.get(0)?);
    let size: i64 = row.get(5)?;
    let state: String = row.get(7)?;
    let attempts: i64 = row.get(9)?;
    let updated: i64 = row.get(10)?;
    let checked = (|| {
        Ok(FileRow {
            id,
            job: JobId(row.get(1).map_err(|e| e.to_string())?),
            file: NewFile {
                relative_path: blob_to_path(row.get(2).map_err(|e| e.to_string())?),
                absolute_path: blob_to_path(row.get(3).map_err(|e| e.to_string())?),
                key: row.get(4).map_err(|e| e.to_string())?,
                size: super::from_db_int(size, "its size")?,
                mtime_unix_nanos: i128::from(row.get::<_, i64>(6).map_err(|e| e.to_string())?),
                state: FileState::parse(&state).ok_or(format!("unknown state {state:?}"))?,
                reason: row.get(8).map_err(|e| e.to_string())?,
            },
            attempts: u32::try_from(attempts).map_err(|_| format!("attempts {attempts}"))?,
            updated_unix_secs: super::from_db_int(updated, "its update time")?,
        })
    })();
    Ok(checked.map_err(|reason: String| format!("file {} cannot be read: {reason}", id.0)))
}

/// How one claimed file ended (or that it goes back to wait).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutcome {
    /// The file.
    pub file: FileId,
    /// `Done`, `Skipped`, `Failed`, or `Pending` to try again later.
    pub state: FileState,
    /// The sentence for skipped, failed or retried files.
    pub reason: Option<String>,
    /// The history entry of a finished file, written in the same transaction.
    pub history: Option<NewHistory>,
}

impl FileOutcome {
    pub fn done(file: FileId, history: NewHistory) -> Self {
        Self {
            file,
            state: FileState::Done,
            reason: None,
            history: Some(history),
        }
    }

    /// Skipped, failed, or back to pending, with why.
    pub fn not_done(file: FileId, state: FileState, reason: impl Into<String>) -> Self {
        Self {
            file,
            state,
            reason: Some(reason.into()),
            history: None,
        }
    }
}

/// Outcomes collected between commits. The engine pushes each finished file and writes
/// the batch with [`QueueStore::record_outcomes`] when it is due: full, or its oldest
/// outcome has waited `max_age` (the engine also checks on a ~200 ms tick).
pub type OutcomeBatch = WriteBatch<FileOutcome>;

/// Rows collected between commits, so many small writes share one transaction: due when
/// full or when its oldest row has waited `max_age`.
#[derive(Debug)]
pub struct WriteBatch<T> {
    /// Waiting to be written, in the order they happened.
    rows: Vec<T>,
    /// A batch this long is written at once.
    max_len: usize,
    /// The longest a row waits for its commit.
    max_age: Duration,
    /// When the oldest waiting row was pushed.
    oldest: Option<Instant>,
}

impl<T> Default for WriteBatch<T> {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_LEN, Self::DEFAULT_MAX_AGE)
    }
}

impl<T> WriteBatch<T> {
    /// Enough that thousands of small files a second cost a few commits a second.
    pub const DEFAULT_MAX_LEN: usize = 512;
    /// Short enough that progress in the store (and in another process's view) lags
    /// little, long enough to gather a batch.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_millis(200);

    pub fn new(max_len: usize, max_age: Duration) -> Self {
        Self {
            rows: Vec::new(),
            max_len: max_len.max(1),
            max_age,
            oldest: None,
        }
    }

    /// Adds a row; true when the batch is now due.
    pub fn push(&mut self, row: T, now: Instant) -> bool {
        self.oldest.get_or_insert(now);
        self.rows.push(row);
        self.is_due(now)
    }

    /// Whether the batch should be written now.
    pub fn is_due(&self, now: Instant) -> bool {
        self.rows.len() >= self.max_len
            || self
                .oldest
                .is_some_and(|oldest| now.saturating_duration_since(oldest) >= self.max_age)
    }

    /// Empties the batch, for writing.
    pub fn take(&mut self) -> Vec<T> {
        self.oldest = None;
        std::mem::take(&mut self.rows)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl QueueStore {
    /// Adds files to a job in one transaction; files whose relative path the job already
    /// has are left as they are. Returns how many were new.
    pub fn insert_files(
        &mut self,
        job: JobId,
        files: &[NewFile],
        now_unix_secs: u64,
    ) -> Result<usize, StoreError> {
        let now = to_db_int(now_unix_secs, "time")?;
        let sizes = files
            .iter()
            .map(|f| to_db_int(f.size, "file size"))
            .collect::<Result<Vec<_>, _>>()?;
        let (tx, path) = self.begin_write("add files")?;
        let error = |e| classify(path, "add files", e);
        let mut inserted = 0;
        {
            let mut statement = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO files (job_id, relative_path, absolute_path, key,
                         size, mtime_unix_nanos, state, reason, attempts, updated_unix_secs)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9)",
                )
                .map_err(error)?;
            for (file, size) in files.iter().zip(sizes) {
                let mtime = file
                    .mtime_unix_nanos
                    .clamp(i128::from(i64::MIN), i128::from(i64::MAX))
                    as i64;
                inserted += statement
                    .execute(params![
                        job.0,
                        path_to_blob(&file.relative_path),
                        path_to_blob(&file.absolute_path),
                        file.key,
                        size,
                        mtime,
                        file.state.as_str(),
                        file.reason,
                        now
                    ])
                    .map_err(error)?;
            }
        }
        tx.commit().map_err(error)?;
        Ok(inserted)
    }

    /// Marks up to `limit` pending files of a job in flight (oldest first) and returns
    /// them. Only the lease holder claims, so two processes never send the same file.
    ///
    /// The rows are read first, then marked with one range update inside the same write
    /// transaction: the pending rows of the job between the first and last id read are
    /// exactly the ones read.
    pub fn claim_pending(
        &mut self,
        job: JobId,
        limit: usize,
        now_unix_secs: u64,
    ) -> Result<Vec<FileRow>, StoreError> {
        let now = to_db_int(now_unix_secs, "time")?;
        let (tx, path) = self.begin_write("claim files")?;
        let error = |e| classify(path, "claim files", e);
        let mut claimed = Vec::new();
        {
            // The rows come in id order from the `(job_id, state)` index, so stopping
            // after `limit` reads no more than that.
            let mut select = tx
                .prepare_cached(&format!(
                    "SELECT {FILE_COLUMNS} FROM files WHERE job_id = ?1 AND state = 'pending'
                     ORDER BY id"
                ))
                .map_err(error)?;
            let mut rows = select.query(params![job.0]).map_err(error)?;
            let most = usize::try_from(page_limit(limit)).unwrap_or(0);
            while claimed.len() < most
                && let Some(row) = rows.next().map_err(error)?
            {
                claimed.push(file_row(row).map_err(error)?.map_err(StoreError::Invalid)?);
            }
        }
        if let (Some(first), Some(last)) = (claimed.first(), claimed.last()) {
            let marked = tx
                .prepare_cached(
                    "UPDATE files SET state = 'in_flight', attempts = attempts + 1,
                         updated_unix_secs = ?4
                     WHERE job_id = ?1 AND state = 'pending' AND id BETWEEN ?2 AND ?3",
                )
                .and_then(|mut update| update.execute(params![job.0, first.id.0, last.id.0, now]))
                .map_err(error)?;
            if marked != claimed.len() {
                return Err(StoreError::Invalid(format!(
                    "claiming {} files of job {} marked {marked} rows",
                    claimed.len(),
                    job.0
                )));
            }
        }
        tx.commit().map_err(error)?;
        for row in &mut claimed {
            row.file.state = FileState::InFlight;
            row.attempts = row.attempts.saturating_add(1);
            row.updated_unix_secs = now_unix_secs;
        }
        Ok(claimed)
    }

    /// Writes a batch of outcomes, and the history of the finished ones, in one
    /// transaction. Returns how many files changed (unknown ids are ignored).
    pub fn record_outcomes(
        &mut self,
        outcomes: &[FileOutcome],
        now_unix_secs: u64,
    ) -> Result<usize, StoreError> {
        if outcomes.iter().any(|o| o.state == FileState::InFlight) {
            return Err(StoreError::Invalid(
                "an outcome cannot put a file in flight; claim it instead".into(),
            ));
        }
        let now = to_db_int(now_unix_secs, "time")?;
        let (tx, path) = self.begin_write("record finished files")?;
        let error = |e| classify(path, "record finished files", e);
        let mut changed = 0;
        {
            let mut statement = tx
                .prepare_cached(
                    "UPDATE files SET state = ?2, reason = ?3, updated_unix_secs = ?4
                     WHERE id = ?1",
                )
                .map_err(error)?;
            for outcome in outcomes {
                changed += statement
                    .execute(params![
                        outcome.file.0,
                        outcome.state.as_str(),
                        outcome.reason,
                        now
                    ])
                    .map_err(error)?;
                if let Some(history) = &outcome.history {
                    insert_history(&tx, history).map_err(error)?;
                }
            }
        }
        tx.commit().map_err(error)?;
        Ok(changed)
    }

    /// A page of a job's files in id order, after `after` (exclusive), optionally only
    /// those in `state`; at most `limit` (capped at [`super::MAX_PAGE_ROWS`]).
    pub fn files_page(
        &self,
        job: JobId,
        state: Option<FileState>,
        after: Option<FileId>,
        limit: usize,
    ) -> Result<Vec<FileRow>, StoreError> {
        let after = after.map_or(0, |id| id.0);
        let sql = match state {
            Some(_) => format!(
                "SELECT {FILE_COLUMNS} FROM files WHERE job_id = ?1 AND id > ?2 AND state = ?4
                 ORDER BY id LIMIT ?3"
            ),
            None => format!(
                "SELECT {FILE_COLUMNS} FROM files WHERE job_id = ?1 AND id > ?2
                 ORDER BY id LIMIT ?3"
            ),
        };
        let error = self.sql_error("read a page of files");
        let mut statement = match self.conn.prepare_cached(&sql) {
            Ok(statement) => statement,
            Err(e) => return Err(error(e)),
        };
        let query = match state {
            Some(state) => {
                statement.query(params![job.0, after, page_limit(limit), state.as_str()])
            }
            None => statement.query(params![job.0, after, page_limit(limit)]),
        };
        let mut page = Vec::new();
        let collected = (|| {
            let mut rows = query?;
            while let Some(row) = rows.next()? {
                page.push(file_row(row)?);
            }
            Ok(())
        })();
        collected.map_err(error)?;
        page.into_iter()
            .collect::<Result<_, _>>()
            .map_err(StoreError::Invalid)
    }

    /// One file, or `None` when there is no such id.
    pub fn file(&self, id: FileId) -> Result<Option<FileRow>, StoreError> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ?1"),
                [id.0],
                file_row,
            )
            .optional()
            .map_err(self.sql_error("read a file"))?;
        row.transpose().map_err(StoreError::Invalid)
    }

    /// Puts a job's failed files back to pending, to be sent again (Retry failed); the
    /// reasons go with them; only the file `only` when given (a Retry on one row). A file
    /// the walk could not give a key (a name that is not UTF-8 or cannot be a key) keeps
    /// its failure and reason: sending it again would fail the same way, with a worse
    /// sentence. Returns how many.
    pub fn reset_failed(
        &mut self,
        job: JobId,
        only: Option<FileId>,
        now_unix_secs: u64,
    ) -> Result<usize, StoreError> {
        let now = to_db_int(now_unix_secs, "time")?;
        self.conn
            .execute(
                "UPDATE files SET state = 'pending', reason = NULL, updated_unix_secs = ?2
                 WHERE job_id = ?1 AND state = 'failed' AND key <> ''
                   AND (?3 IS NULL OR id = ?3)",
                params![job.0, now, only.map(|file| file.0)],
            )
            .map_err(self.sql_error("put failed files back in the queue"))
    }

    /// Records a job's file `key` that is not sent yet (pending, or in flight when its
    /// driver stopped) as failed with `reason`: its upload was aborted before the job got
    /// to it again. Returns how many rows.
    pub fn fail_unsent(
        &mut self,
        job: JobId,
        key: &str,
        reason: &str,
        now_unix_secs: u64,
    ) -> Result<usize, StoreError> {
        let now = to_db_int(now_unix_secs, "time")?;
        self.conn
            .execute(
                "UPDATE files SET state = 'failed', reason = ?3, updated_unix_secs = ?4
                 WHERE job_id = ?1 AND key = ?2 AND state IN ('pending', 'in_flight')",
                params![job.0, key, reason, now],
            )
            .map_err(self.sql_error("record an aborted file"))
    }

    /// Puts a job's in-flight files back to pending: after a crash, or when its lease was
    /// taken over from a dead process. Returns how many.
    pub fn reset_in_flight(&mut self, job: JobId, now_unix_secs: u64) -> Result<usize, StoreError> {
        let now = to_db_int(now_unix_secs, "time")?;
        self.conn
            .execute(
                "UPDATE files SET state = 'pending', updated_unix_secs = ?2
                 WHERE job_id = ?1 AND state = 'in_flight'",
                params![job.0, now],
            )
            .map_err(self.sql_error("put in-flight files back in the queue"))
    }
}
