//! Deterministic test data, so a failure reproduces, and the one way tests write files.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Deterministic pseudo-random bytes (xorshift64): different seeds give different bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Writes `bytes` to `name` (which may hold folders) under `dir` and returns its path.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("the file's folder");
    }
    std::fs::write(&path, bytes).expect("the file is written");
    path
}

/// Sets the modification time of the file at `path`.
pub fn set_mtime(path: &Path, when: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open")
        .set_modified(when)
        .expect("set mtime");
}

/// Replaces the file's bytes and puts its modification time back, so only a checksum
/// can tell it changed.
pub fn rewrite_keeping_mtime(path: &Path, bytes: &[u8]) {
    let stamp = std::fs::metadata(path).unwrap().modified().unwrap();
    std::fs::write(path, bytes).unwrap();
    set_mtime(path, stamp);
}
