//! Commands from a front end to the engine.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use std::io::Read;

use bytes::Bytes;
use tokio::io::AsyncRead;

use super::event::TransferId;
use super::folder_plan::PathFilters;
use super::store::{FileId, FileState, JobId};
use super::tuning::Tuning;

/// What to do with a file whose key already exists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OverwritePolicy {
    /// Send every file (the object is replaced).
    #[default]
    Overwrite,
    /// Skip any file whose key exists.
    SkipExisting,
    /// Skip a file whose object has the same size and is not older than the file (the
    /// object's `x-oss-meta-mtime` when present, else its LastModified); with `checksum`,
    /// same-size files are compared by CRC-64 instead of time.
    SkipUnchanged { checksum: bool },
}

/// Options an Add carries for all the files it names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddOptions {
    pub overwrite: OverwritePolicy,
    /// Which files of an added folder are sent; files named on their own always are.
    pub filters: PathFilters,
    /// An added folder's files go straight under the destination prefix, without the
    /// folder's own name (the CLI's `upload DIR oss://bucket/name`).
    pub contents_only: bool,
    /// Walk into linked folders and send linked files (loops are reported and skipped);
    /// by default links are recorded as skipped.
    pub follow_symlinks: bool,
}

/// Where new transfers go: `oss://bucket/prefix` + the file's name (or relative path), on
/// the target of that label.
///
/// A file `photo.jpg` becomes `prefix + "photo.jpg"`; a folder `trip/` with
/// `trip/day1/a.jpg` becomes `prefix + "trip/day1/a.jpg"` (the folder's own name is kept,
/// separators are always `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The [`super::Target`]'s label.
    pub target: String,
    pub bucket: String,
    /// Empty, or ending in `/` (a folder-like prefix).
    pub prefix: String,
}

impl Destination {
    pub fn new(
        target: impl Into<String>,
        bucket: impl Into<String>,
        prefix: impl Into<String>,
    ) -> Self {
        Self {
            target: target.into(),
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }
}

/// A byte stream of unknown length to upload (stdin, a pipe). Taken once by the engine.
#[derive(Clone)]
pub struct StreamSource {
    reader: Arc<Mutex<Option<Box<dyn AsyncRead + Send + Unpin>>>>,
    /// Shown as the transfer's source (e.g. `-` or `stdin`).
    label: String,
}

impl StreamSource {
    pub fn new(label: impl Into<String>, reader: impl AsyncRead + Send + Unpin + 'static) -> Self {
        Self {
            reader: Arc::new(Mutex::new(Some(Box::new(reader)))),
            label: label.into(),
        }
    }

    /// The process's standard input, read on its own thread in 1 MiB chunks (at most a
    /// few chunks buffered ahead).
    pub fn stdin() -> Self {
        let (chunks_tx, chunks_rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            loop {
                let mut buffer = vec![0u8; 1 << 20];
                let chunk = match stdin.read(&mut buffer) {
                    Ok(0) => return,
                    Ok(n) => {
                        buffer.truncate(n);
                        Ok(Bytes::from(buffer))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let failed = chunk.is_err();
                if chunks_tx.blocking_send(chunk).is_err() || failed {
                    return;
                }
            }
        });
        let stream = futures_util::stream::unfold(chunks_rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        Self::new("stdin", tokio_util::io::StreamReader::new(Box::pin(stream)))
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// Takes the reader out; `None` when it was already taken.
    pub(crate) fn take(&self) -> Option<Box<dyn AsyncRead + Send + Unpin>> {
        self.reader.lock().ok().and_then(|mut slot| slot.take())
    }
}

impl fmt::Debug for StreamSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamSource")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// Commands a front end sends; each is answered by events, never by a blocking reply.
#[derive(Debug, Clone)]
pub enum EngineCommand {
    /// Upload these files and folders to a known target, as one job: walked into the
    /// queue store in batches and sent a few files at a time. The same paths to the same
    /// destination continue the unfinished job, and a file whose upload was paused or cut
    /// off resumes it.
    Add {
        paths: Vec<PathBuf>,
        destination: Destination,
        options: AddOptions,
    },
    /// Upload one file to an exact key: a job of that one file.
    AddFile {
        path: PathBuf,
        target: String,
        bucket: String,
        key: String,
    },
    /// Upload a stream of unknown length in fixed-size parts until EOF. Such a transfer
    /// cannot resume after the engine stops (its snapshot says so).
    AddStream {
        source: StreamSource,
        target: String,
        bucket: String,
        key: String,
    },
    /// Adds a target, or gives a known one a new client (new credentials or network
    /// settings: requests from now on use it, nothing is paused). The sessions and jobs
    /// saved for it are loaded as they are at start.
    SetTarget(super::Target),
    /// Stop in-flight parts promptly; the session is kept. A job's file stays paused, and
    /// its job waits for it, while the job's other files go on.
    Pause(TransferId),
    Resume(TransferId),
    /// Cancel, AbortMultipartUpload on the server, and forget the session.
    Abort(TransferId),
    /// Try a failed transfer again (reconciling with the server first).
    Retry(TransferId),
    /// Start over: abort the old upload id (if any) and upload from scratch, e.g. after
    /// the local file changed or the server forgot the upload.
    /// A job's file not sent yet starts over when its job sends it.
    Restart(TransferId),
    /// Drop a transfer from the list. Done and skipped ones just go; one that still has
    /// an upload on the server (paused, failed) is aborted like [`EngineCommand::Abort`],
    /// so nothing is left behind; one driven by another process is only hidden here; one
    /// the engine has let go already (a job's finished file) is answered by `Removed`.
    Forget(TransferId),
    /// Pause a job: its files in flight stop (keeping their sessions), the rest wait.
    PauseJob(JobId),
    /// Resume a paused job (or one stopped by a store failure).
    ResumeJob(JobId),
    /// Send a job's failed files again (Retry failed), finished job or not; only `file`
    /// when given (Retry on one failed file's row).
    RetryJob {
        job: JobId,
        file: Option<FileId>,
    },
    PauseAll,
    ResumeAll,
    /// New tuning; parallelism and bandwidth apply at once, part size to new uploads.
    SetTuning(Tuning),
    /// Read `limit` history entries (newest first) from position `offset` of those whose
    /// `oss://` URL or local path contains `search` (all when empty); answered by
    /// [`EngineEvent::HistoryPage`](super::EngineEvent::HistoryPage).
    LoadHistory {
        search: String,
        offset: u64,
        limit: u32,
    },
    /// Read up to `limit` of a job's files in the order they were found, after `after`,
    /// only those in `state` when given (a job's failures with their reasons, say);
    /// answered by [`EngineEvent::JobFilesPage`](super::EngineEvent::JobFilesPage).
    LoadJobFiles {
        job: JobId,
        state: Option<FileState>,
        after: Option<FileId>,
        limit: u32,
    },
    /// Forget every history entry; [`EngineEvent::HistoryChanged`](super::EngineEvent::HistoryChanged)
    /// follows.
    ClearHistory,
    /// Pause everything, keep the sessions, and end the engine.
    Shutdown,
}
