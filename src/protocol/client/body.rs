//! Request bodies on their way out: a stream of small chunks read from memory or from a
//! file range, hashed with CRC-64 as they pass, with a progress callback per chunk and a
//! note of the last moment the network accepted data (for the idle timeout).
//!
//! Memory stays at one chunk per request in flight, whatever the part size.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::time::Instant;

use super::super::crc64::Crc64;
use super::{Body, ProgressFn, UploadPacer};

/// Bytes read from the file and handed to the HTTP stack at a time.
pub const CHUNK_BYTES: usize = 128 * 1024;

/// How often a body waiting on its pacer marks itself as alive.
const PACER_TOUCH_INTERVAL: Duration = Duration::from_secs(1);

/// When data last moved on a request, so a stalled transfer can be told from a slow one.
#[derive(Debug)]
pub struct Activity {
    started: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            last_ms: AtomicU64::new(0),
        })
    }

    pub fn touch(&self) {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.fetch_max(elapsed, Ordering::Relaxed);
    }

    /// Resolves once nothing has moved for `idle`.
    pub async fn idle_for(&self, idle: Duration) {
        loop {
            let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let deadline = self.started + last + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// What the body stream saw, read back after the request finished.
#[derive(Debug, Default)]
pub struct SentState {
    pub crc: Crc64,
    pub bytes: u64,
    /// Why the local file could not be read, if it could not.
    pub local_error: Option<io::Error>,
}

/// Shared between the body stream (inside the HTTP stack) and the caller.
#[derive(Debug, Clone, Default)]
pub struct SentTracker(Arc<Mutex<SentState>>);

impl SentTracker {
    pub fn lock(&self) -> MutexGuard<'_, SentState> {
        // A poisoned lock only means a panic elsewhere; the counters are still usable.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the local read error, if the body failed because of the file.
    pub fn take_local_error(&self) -> Option<io::Error> {
        self.lock().local_error.take()
    }
}

impl Body {
    /// Number of bytes this body sends.
    pub fn len(&self) -> u64 {
        match self {
            Body::Bytes(bytes) => bytes.len() as u64,
            Body::FileRange { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The file behind the body, for error messages.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Body::Bytes(_) => None,
            Body::FileRange { path, .. } => Some(path),
        }
    }
}

/// Where the bytes come from while streaming.
enum Source {
    Memory(Bytes),
    File(tokio::fs::File),
}

struct StreamState {
    source: Source,
    remaining: u64,
    tracker: SentTracker,
    progress: Option<ProgressFn>,
    activity: Arc<Activity>,
    pacer: Option<UploadPacer>,
}

/// Opens the body's file (checking it holds the whole range) before anything is sent.
async fn open_range(path: &PathBuf, offset: u64, len: u64) -> io::Result<tokio::fs::File> {
    let mut file = tokio::fs::File::open(path).await?;
    let size = file.metadata().await?.len();
    let end = offset
        .checked_add(len)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "byte range overflows u64"))?;
    if size < end {
        return Err(short_file(end, size));
    }
    file.seek(io::SeekFrom::Start(offset)).await?;
    Ok(file)
}

fn short_file(expected_end: u64, size: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!(
            "the file is {size} bytes long but the upload needs bytes up to {expected_end}; it was changed or truncated"
        ),
    )
}

/// Builds the chunk stream for `body`, awaiting `pacer` (when there is one) before reading
/// each chunk. Fails only if the file cannot be opened or is shorter than the range;
/// later read failures end the stream with an error and are recorded in the tracker.
pub async fn chunk_stream_paced(
    body: Body,
    tracker: SentTracker,
    progress: Option<ProgressFn>,
    activity: Arc<Activity>,
    pacer: Option<UploadPacer>,
) -> io::Result<impl Stream<Item = io::Result<Bytes>> + Send + 'static> {
    let remaining = body.len();
    let source = match body {
        Body::Bytes(bytes) => Source::Memory(bytes),
        Body::FileRange { path, offset, len } => {
            Source::File(open_range(&path, offset, len).await?)
        }
    };
    let state = StreamState {
        source,
        remaining,
        tracker,
        progress,
        activity,
        pacer,
    };
    Ok(futures_util::stream::try_unfold(state, next_chunk))
}

async fn next_chunk(mut state: StreamState) -> io::Result<Option<(Bytes, StreamState)>> {
    if state.remaining == 0 {
        return Ok(None);
    }
    let want = usize::try_from(state.remaining)
        .unwrap_or(usize::MAX)
        .min(CHUNK_BYTES);
    if let Some(pacer) = &state.pacer {
        // Waiting for the pacer is deliberate, not a stall: keep the idle timer quiet.
        let mut paced = pacer(want as u64);
        loop {
            tokio::select! {
                () = &mut paced => break,
                () = tokio::time::sleep(PACER_TOUCH_INTERVAL) => state.activity.touch(),
            }
        }
        state.activity.touch();
    }
    let chunk = match &mut state.source {
        Source::Memory(bytes) => bytes.split_to(want.min(bytes.len())),
        Source::File(file) => {
            let mut buffer = BytesMut::with_capacity(want);
            let read = loop {
                match file.read_buf(&mut buffer).await {
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            match read {
                Ok(_) => buffer.freeze(),
                Err(error) => return Err(record_error(&state.tracker, error)),
            }
        }
    };
    if chunk.is_empty() {
        let sent = state.tracker.lock().bytes;
        let error = short_file(sent + state.remaining, sent);
        return Err(record_error(&state.tracker, error));
    }
    state.remaining -= chunk.len() as u64;
    {
        let mut sent = state.tracker.lock();
        sent.crc.update(&chunk);
        sent.bytes += chunk.len() as u64;
    }
    state.activity.touch();
    if let Some(progress) = &state.progress {
        progress(chunk.len() as u64);
    }
    Ok(Some((chunk, state)))
}

/// Keeps the error for the caller (the HTTP stack only passes on its text) and returns a
/// copy to end the stream with.
fn record_error(tracker: &SentTracker, error: io::Error) -> io::Error {
    let copy = io::Error::new(error.kind(), error.to_string());
    tracker.lock().local_error = Some(error);
    copy
}

/// Base64 MD5 of the body for `Content-MD5`. Reads a file range once more, in chunks.
pub async fn content_md5(body: &Body) -> io::Result<String> {
    let mut hasher = Md5::new();
    match body {
        Body::Bytes(bytes) => hasher.update(bytes),
        Body::FileRange { path, offset, len } => {
            let mut file = open_range(path, *offset, *len).await?;
            let mut remaining = *len;
            let mut buffer = vec![0u8; CHUNK_BYTES];
            while remaining > 0 {
                let want = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(buffer.len());
                let read = file.read(&mut buffer[..want]).await?;
                if read == 0 {
                    return Err(short_file(*offset + *len, *offset + *len - remaining));
                }
                hasher.update(&buffer[..read]);
                remaining -= read as u64;
            }
        }
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;
    use std::io::Write;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    #[tokio::test]
    async fn file_range_streams_in_chunks_with_crc_and_progress() {
        let data = pattern(3 * CHUNK_BYTES + 17);
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&data).unwrap();
        let (offset, len) = (5u64, (2 * CHUNK_BYTES + 9) as u64);
        let body = Body::FileRange {
            path: file.path().to_owned(),
            offset,
            len,
        };
        let tracker = SentTracker::default();
        let reported = Arc::new(AtomicU64::new(0));
        let counter = reported.clone();
        let progress: ProgressFn = Arc::new(move |n| {
            assert!(n as usize <= CHUNK_BYTES);
            counter.fetch_add(n, Ordering::Relaxed);
        });
        let stream =
            chunk_stream_paced(body, tracker.clone(), Some(progress), Activity::new(), None)
                .await
                .unwrap();
        let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
        let sent: Vec<u8> = chunks.concat();
        let expected = &data[offset as usize..(offset + len) as usize];
        assert_eq!(sent, expected);
        assert_eq!(reported.load(Ordering::Relaxed), len);
        let state = tracker.lock();
        assert_eq!(state.bytes, len);
        assert_eq!(
            state.crc.value(),
            crate::protocol::crc64::checksum(expected)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        #[test]
        fn any_range_streams_exactly_its_bytes(offset in 0usize..300_000, len in 0usize..400_000) {
            let data = pattern(700_000);
            let mut file = tempfile::NamedTempFile::new().unwrap();
            file.write_all(&data).unwrap();
            let body = Body::FileRange { path: file.path().to_owned(), offset: offset as u64, len: len as u64 };
            let tracker = SentTracker::default();
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let sent: Vec<u8> = runtime.block_on(async {
                let stream = chunk_stream_paced(body, tracker.clone(), None, Activity::new(), None).await.unwrap();
                let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
                chunks.concat()
            });
            let expected = &data[offset..offset + len];
            proptest::prop_assert_eq!(&sent[..], expected);
            proptest::prop_assert_eq!(tracker.lock().crc.value(), crate::protocol::crc64::checksum(expected));
        }
    }

    #[tokio::test]
    async fn the_pacer_is_asked_before_every_chunk() {
        let data = pattern(2 * CHUNK_BYTES + 100);
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        let pacer: UploadPacer = Arc::new(move |n| {
            log.lock().unwrap().push(n);
            Box::pin(async {})
        });
        let body = Body::Bytes(Bytes::from(data.clone()));
        let stream = chunk_stream_paced(
            body,
            SentTracker::default(),
            None,
            Activity::new(),
            Some(pacer),
        )
        .await
        .unwrap();
        let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
        assert_eq!(chunks.concat(), data);
        assert_eq!(
            *asked.lock().unwrap(),
            vec![CHUNK_BYTES as u64, CHUNK_BYTES as u64, 100]
        );
    }

    #[tokio::test]
    async fn short_file_is_refused_before_sending() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&pattern(100)).unwrap();
        let body = Body::FileRange {
            path: file.path().to_owned(),
            offset: 50,
            len: 51,
        };
        let result =
            chunk_stream_paced(body, SentTracker::default(), None, Activity::new(), None).await;
        let error = result.err().expect("a short file must be refused");
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn file_truncated_while_streaming_ends_with_an_error() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&pattern(4 * CHUNK_BYTES)).unwrap();
        let body = Body::FileRange {
            path: file.path().to_owned(),
            offset: 0,
            len: (4 * CHUNK_BYTES) as u64,
        };
        let tracker = SentTracker::default();
        let mut stream = Box::pin(
            chunk_stream_paced(body, tracker.clone(), None, Activity::new(), None)
                .await
                .unwrap(),
        );
        let first = stream.try_next().await.unwrap().unwrap();
        assert_eq!(first.len(), CHUNK_BYTES);
        file.as_file().set_len(CHUNK_BYTES as u64 + 10).unwrap();
        let mut failure = None;
        while let Some(item) = futures_util::StreamExt::next(&mut stream).await {
            if let Err(error) = item {
                failure = Some(error);
                break;
            }
        }
        assert!(failure.is_some(), "the stream must fail, not end quietly");
        let local = tracker.take_local_error().expect("the cause is kept");
        assert_eq!(local.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn md5_of_bytes_and_file_range_agree() {
        let data = pattern(300_000);
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(&data).unwrap();
        let from_file = content_md5(&Body::FileRange {
            path: file.path().to_owned(),
            offset: 1000,
            len: 200_000,
        })
        .await
        .unwrap();
        let from_bytes = content_md5(&Body::Bytes(Bytes::copy_from_slice(&data[1000..201_000])))
            .await
            .unwrap();
        assert_eq!(from_file, from_bytes);
        assert_eq!(
            content_md5(&Body::Bytes(Bytes::new())).await.unwrap(),
            "1B2M2Y8AsgTpgAmY7PhCfg=="
        );
    }

    #[tokio::test]
    async fn idle_deadline_counts_from_the_last_activity() {
        let activity = Activity::new();
        tokio::time::sleep(Duration::from_millis(30)).await;
        activity.touch();
        let touched = Instant::now();
        activity.idle_for(Duration::from_millis(40)).await;
        assert!(touched.elapsed() >= Duration::from_millis(35));
    }
}
