//! CRC-64 as OSS computes it for `x-oss-hash-crc64ecma`.
//!
//! OSS calls it "ECMA"; in catalogue terms it is CRC-64/XZ (reflected polynomial
//! 0xC96C5795D7870F42, all-ones init and xorout). The plain "CRC-64/ECMA-182" variant is a
//! different checksum and never matches OSS. The work is done by `crc-fast`, which uses
//! carry-less multiplication and runs at memory bandwidth.

use crc_fast::CrcAlgorithm::Crc64Xz;

/// CRC-64 of `data` in one call.
pub fn checksum(data: &[u8]) -> u64 {
    crc_fast::checksum(Crc64Xz, data)
}

/// CRC of `a ‖ b` from `crc(a)`, `crc(b)` and the length of `b` alone.
///
/// Used to fold part CRCs into the whole-object CRC that Complete and HeadObject report.
pub fn combine(crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    if len_b == 0 {
        return crc_a;
    }
    crc_fast::checksum_combine(Crc64Xz, crc_a, crc_b, len_b)
}

/// Whole-object CRC from `(part_crc, part_len)` pairs in part-number order.
pub fn combine_parts(parts: impl IntoIterator<Item = (u64, u64)>) -> u64 {
    parts
        .into_iter()
        .fold(0, |acc, (crc, len)| combine(acc, crc, len))
}

/// Streaming CRC-64, for bodies that are hashed while they are sent or received.
#[derive(Clone)]
pub struct Crc64 {
    digest: crc_fast::Digest,
}

impl Crc64 {
    pub fn new() -> Self {
        Self {
            digest: crc_fast::Digest::new(Crc64Xz),
        }
    }

    /// Continues a CRC whose public value over earlier bytes is `crc`
    /// (the register holds the complement of a finished CRC-64/XZ value).
    pub fn resume_from(crc: u64) -> Self {
        Self {
            digest: crc_fast::Digest::new_with_init_state(Crc64Xz, !crc),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.digest.update(data);
    }

    /// The CRC of everything fed so far; the hasher can keep going afterwards.
    pub fn value(&self) -> u64 {
        self.digest.finalize()
    }
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Crc64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crc64({:#018x})", self.value())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_matches_crc64_xz() {
        assert_eq!(checksum(b"123456789"), 0x995D_C9BB_DF19_39FA);
        assert_eq!(checksum(b""), 0);
    }

    #[test]
    fn streaming_and_resume_agree_with_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut hasher = Crc64::new();
        hasher.update(&data[..3333]);
        let head = hasher.value();
        hasher.update(&data[3333..]);
        assert_eq!(hasher.value(), checksum(&data));

        let mut resumed = Crc64::resume_from(head);
        resumed.update(&data[3333..]);
        assert_eq!(resumed.value(), checksum(&data));
    }

    #[test]
    fn combine_matches_concatenation() {
        let a = b"hello, ";
        let b = b"object storage";
        let joined = [&a[..], &b[..]].concat();
        assert_eq!(
            combine(checksum(a), checksum(b), b.len() as u64),
            checksum(&joined)
        );
        assert_eq!(combine(checksum(a), 0, 0), checksum(a));
        assert_eq!(combine(0, checksum(b), b.len() as u64), checksum(b));
    }
}
