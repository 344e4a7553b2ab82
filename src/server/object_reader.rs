//! Reading an object's bytes (or a range of them) across the blobs that hold it, as a
//! stream, so GET of a multipart object never needs the parts joined on disk.

use std::collections::VecDeque;
use std::io::SeekFrom;
use std::path::PathBuf;

use axum::body::Bytes;
use futures_util::Stream;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Bytes read from disk per stream item.
const READ_CHUNK: usize = 256 * 1024;

/// A run of bytes inside one blob file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
}

/// The slices of `segments` (`(blob path, blob size)` in order) that cover bytes
/// `start..start + len` of the object.
pub fn slices(segments: &[(PathBuf, u64)], start: u64, len: u64) -> Vec<Slice> {
    let end = start.saturating_add(len);
    let mut slices = Vec::new();
    let mut segment_start = 0u64;
    for (path, size) in segments {
        let segment_end = segment_start + size;
        if segment_end > start && segment_start < end && start < end {
            let from = start.max(segment_start);
            let to = end.min(segment_end);
            slices.push(Slice {
                path: path.clone(),
                offset: from - segment_start,
                len: to - from,
            });
        }
        segment_start = segment_end;
        if segment_start >= end {
            break;
        }
    }
    slices
}

struct ReadState {
    pending: VecDeque<Slice>,
    current: Option<(tokio::fs::File, u64)>,
}

/// Streams the bytes of `slices` in order. A blob that vanished or shrank (the object
/// was replaced meanwhile) ends the stream with an error, which breaks the transfer.
pub fn stream_slices(slices: Vec<Slice>) -> impl Stream<Item = std::io::Result<Bytes>> + Send {
    let state = ReadState {
        pending: slices.into(),
        current: None,
    };
    futures_util::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        match next_chunk(&mut state).await {
            Ok(Some(bytes)) => Some((Ok(bytes), Some(state))),
            Ok(None) => None,
            Err(error) => Some((Err(error), None)),
        }
    })
}

async fn next_chunk(state: &mut ReadState) -> std::io::Result<Option<Bytes>> {
    loop {
        if let Some((file, remaining)) = &mut state.current {
            if *remaining == 0 {
                state.current = None;
                continue;
            }
            let want = (*remaining).min(READ_CHUNK as u64) as usize;
            let mut buffer = vec![0u8; want];
            file.read_exact(&mut buffer).await?;
            *remaining -= want as u64;
            return Ok(Some(Bytes::from(buffer)));
        }
        let Some(slice) = state.pending.pop_front() else {
            return Ok(None);
        };
        let mut file = tokio::fs::File::open(&slice.path).await?;
        if slice.offset > 0 {
            file.seek(SeekFrom::Start(slice.offset)).await?;
        }
        state.current = Some((file, slice.len));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_ranges_across_segments() {
        let segments = vec![
            (PathBuf::from("a"), 10),
            (PathBuf::from("b"), 5),
            (PathBuf::from("c"), 10),
        ];
        let covered = |start, len| {
            slices(&segments, start, len)
                .into_iter()
                .map(|s| (s.path.to_string_lossy().into_owned(), s.offset, s.len))
                .collect::<Vec<_>>()
        };
        assert_eq!(covered(0, 25).len(), 3);
        assert_eq!(
            covered(8, 10),
            [("a".into(), 8, 2), ("b".into(), 0, 5), ("c".into(), 0, 3)]
        );
        assert_eq!(covered(10, 5), [("b".into(), 0, 5)]);
        assert_eq!(covered(24, 1), [("c".into(), 9, 1)]);
        assert!(covered(3, 0).is_empty());
    }
}
