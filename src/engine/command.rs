//! Commands from a front end to the engine.

use std::path::PathBuf;

use super::event::TransferId;

/// Where new transfers go: `oss://bucket/prefix` + the file's name (or relative path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub bucket: String,
    /// Empty, or ending in `/` (a folder-like prefix).
    pub prefix: String,
}

/// Commands a front end sends; each is answered by events, never by a blocking reply.
#[derive(Debug, Clone)]
pub enum EngineCommand {
    /// Upload these files; folders expand into one transfer per file.
    Add {
        paths: Vec<PathBuf>,
        destination: Destination,
    },
    Pause(TransferId),
    Resume(TransferId),
    /// Cancel, AbortMultipartUpload on the server, and forget the session.
    Abort(TransferId),
    /// Try a failed transfer again.
    Retry(TransferId),
    PauseAll,
    ResumeAll,
    /// Stop everything, keep the sessions, and end the engine.
    Shutdown,
}
