//! Local files as upload sources: identity (size, mtime, fingerprint), CRC-64 of a byte
//! range and content type.
//!
//! All functions here block on file I/O; the engine calls them through `spawn_blocking`.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::UNIX_EPOCH;

use bytes::Bytes;

use super::session_store::FileIdentity;
use crate::protocol::crc64::Crc64;

/// Bytes hashed at the start, middle and end of a file for its fingerprint.
const FINGERPRINT_WINDOW: u64 = 64 * 1024;
/// Read buffer for range CRCs.
const READ_BUFFER: usize = 256 * 1024;

/// Size, modification time and content fingerprint of `path`.
pub fn identify(path: &Path) -> io::Result<FileIdentity> {
    identify_and_read(path, 0).map(|(identity, _)| identity)
}

/// As [`identify`], and the whole content when the file is at most `read_up_to` bytes
/// long: a small file is read once, for its fingerprint and for sending.
pub fn identify_and_read(
    path: &Path,
    read_up_to: u64,
) -> io::Result<(FileIdentity, Option<Bytes>)> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let size = meta.len();
    let mtime_unix_nanos = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128);
    let middle = (size / 2).saturating_sub(FINGERPRINT_WINDOW / 2);
    let last = size.saturating_sub(FINGERPRINT_WINDOW);
    let windows = [0, middle, last].map(|start| (start, FINGERPRINT_WINDOW.min(size - start)));
    // The size and the windows hashed as one stream. Folding a window's CRC in with
    // `crc64::combine` instead costs tens of microseconds, far more than hashing the few
    // kilobytes of a small file again.
    let mut fingerprint = Crc64::new();
    fingerprint.update(&size.to_le_bytes());
    let content = if size <= read_up_to {
        let mut content = vec![0u8; size as usize];
        file.read_exact(&mut content)?;
        for (start, len) in windows {
            fingerprint.update(&content[start as usize..(start + len) as usize]);
        }
        Some(Bytes::from(content))
    } else {
        for (start, len) in windows {
            hash_open_range(&mut file, start, len, &mut fingerprint)?;
        }
        None
    };
    let fingerprint = fingerprint.value();
    let identity = FileIdentity {
        size,
        mtime_unix_nanos,
        fingerprint,
    };
    Ok((identity, content))
}

/// CRC-64 of `len` bytes of `path` from `offset`; fails if the file is shorter.
pub fn crc_of_range(path: &Path, offset: u64, len: u64) -> io::Result<u64> {
    let mut file = File::open(path)?;
    let mut hasher = Crc64::new();
    hash_open_range(&mut file, offset, len, &mut hasher)?;
    Ok(hasher.value())
}

/// Feeds `len` bytes of `file` from `offset` to `hasher`.
fn hash_open_range(file: &mut File, offset: u64, len: u64, hasher: &mut Crc64) -> io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buffer = vec![0u8; READ_BUFFER.min(len as usize).max(1)];
    let mut left = len;
    while left > 0 {
        let want = buffer.len().min(left as usize);
        let got = file.read(&mut buffer[..want])?;
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file is shorter than expected",
            ));
        }
        hasher.update(&buffer[..got]);
        left -= got as u64;
    }
    Ok(())
}

/// MIME type guessed from the key's extension, if it has a known one.
pub fn content_type_for(key: &str) -> Option<String> {
    mime_guess::from_path(key)
        .first_raw()
        .map(|mime| mime.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::crc64;
    use std::io::Write;

    /// The fingerprint as sessions have always stored it: each window's CRC folded into
    /// the size's.
    fn folded_fingerprint(data: &[u8]) -> u64 {
        let size = data.len() as u64;
        let middle = (size / 2).saturating_sub(FINGERPRINT_WINDOW / 2);
        let last = size.saturating_sub(FINGERPRINT_WINDOW);
        let mut fingerprint = crc64::checksum(&size.to_le_bytes());
        for start in [0, middle, last] {
            let len = FINGERPRINT_WINDOW.min(size - start);
            let window = &data[start as usize..(start + len) as usize];
            fingerprint = crc64::combine(fingerprint, crc64::checksum(window), len);
        }
        fingerprint
    }

    #[test]
    fn fingerprint_is_the_one_sessions_store() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 1, 1024, 64 * 1024, 100_000, 300_001] {
            let data: Vec<u8> = (0..len as u32).map(|i| (i * 13 % 251) as u8).collect();
            let path = dir.path().join(format!("f{len}"));
            std::fs::write(&path, &data).unwrap();
            let expected = folded_fingerprint(&data);
            assert_eq!(
                identify(&path).unwrap().fingerprint,
                expected,
                "{len} bytes"
            );
            let (identity, content) = identify_and_read(&path, 128 * 1024).unwrap();
            assert_eq!(
                identity,
                identify(&path).unwrap(),
                "{len} bytes, read whole"
            );
            if len <= 128 * 1024 {
                assert_eq!(content.as_deref(), Some(&data[..]), "{len} bytes");
            } else {
                assert!(content.is_none(), "{len} bytes are not held");
            }
        }
    }

    #[test]
    fn identity_changes_with_content_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let a = identify(&path).unwrap();
        assert_eq!(a.size, 300_000);
        assert_eq!(a, identify(&path).unwrap());
        // Same size, one byte changed in the middle window.
        let mut changed = data.clone();
        changed[150_000] ^= 1;
        std::fs::write(&path, &changed).unwrap();
        assert_ne!(a.fingerprint, identify(&path).unwrap().fingerprint);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"x")
            .unwrap();
        assert_eq!(identify(&path).unwrap().size, 300_001);
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(identify(&empty).unwrap().size, 0);
    }

    #[test]
    fn range_crc_matches_slices() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..700_000u32).map(|i| (i * 7 % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        assert_eq!(
            crc_of_range(&path, 100_000, 500_000).unwrap(),
            crc64::checksum(&data[100_000..600_000])
        );
        assert_eq!(crc_of_range(&path, 5, 0).unwrap(), 0);
        assert!(crc_of_range(&path, 600_000, 200_000).is_err());
    }

    #[test]
    fn content_types() {
        assert_eq!(
            content_type_for("a/b.json").as_deref(),
            Some("application/json")
        );
        assert_eq!(content_type_for("noext"), None);
    }
}
