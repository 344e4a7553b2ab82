//! The parts an upload has finished, collected in one place and checked before Complete.
//!
//! Parts finish in any order (and a resumed file starts with some already done). OSS
//! builds the object from exactly the list Complete sends, so that list is checked here
//! first: every number from 1 to the expected count, each once, in order. A gap or a
//! duplicate would otherwise become an object with missing or repeated bytes.

use thiserror::Error;

use super::session_store::CompletedPart;
use crate::protocol::crc64;
use crate::protocol::xml::CompletePart;

/// Why the finished parts cannot be completed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PartsError {
    #[error("part {number} is missing")]
    Missing { number: u32 },
    #[error("part {number} was finished twice")]
    Duplicate { number: u32 },
    #[error("part {number} is beyond the {count} parts of the upload")]
    Beyond { number: u32, count: u32 },
}

/// Finished parts, in the order they finished.
#[derive(Debug, Clone, Default)]
pub struct CompletedParts {
    parts: Vec<CompletedPart>,
}

impl CompletedParts {
    /// Starts from parts already finished (a resumed upload's reconciled parts).
    pub fn from_finished(parts: Vec<CompletedPart>) -> Self {
        Self { parts }
    }

    pub fn push(&mut self, part: CompletedPart) {
        self.parts.push(part);
    }

    /// Sorts the parts and checks that they are exactly parts 1 to `expected_count`.
    pub fn into_ready(mut self, expected_count: u32) -> Result<ReadyParts, PartsError> {
        self.parts.sort_by_key(|p| p.number);
        let mut wanted = 1u32;
        for part in &self.parts {
            if part.number > expected_count {
                return Err(PartsError::Beyond {
                    number: part.number,
                    count: expected_count,
                });
            }
            if part.number < wanted {
                return Err(PartsError::Duplicate {
                    number: part.number,
                });
            }
            if part.number > wanted {
                return Err(PartsError::Missing { number: wanted });
            }
            wanted += 1;
        }
        if wanted <= expected_count {
            return Err(PartsError::Missing { number: wanted });
        }
        Ok(ReadyParts { parts: self.parts })
    }
}

/// Parts 1 to n, each once, ready for Complete.
#[derive(Debug, Clone)]
pub struct ReadyParts {
    parts: Vec<CompletedPart>,
}

impl ReadyParts {
    /// The list CompleteMultipartUpload sends.
    pub fn to_complete_list(&self) -> Vec<CompletePart> {
        self.parts
            .iter()
            .map(|p| CompletePart {
                part_number: p.number,
                etag: p.etag.clone(),
            })
            .collect()
    }

    /// CRC-64 of the whole object, combined from the parts' CRCs.
    pub fn crc64(&self) -> u64 {
        crc64::combine_parts(self.parts.iter().map(|p| (p.crc64, p.size)))
    }

    /// Bytes of the whole object.
    pub fn size(&self) -> u64 {
        self.parts.iter().map(|p| p.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(number: u32, data: &[u8]) -> CompletedPart {
        CompletedPart {
            number,
            size: data.len() as u64,
            etag: format!("\"{number}\""),
            crc64: crc64::checksum(data),
        }
    }

    fn collect(numbers: &[u32]) -> CompletedParts {
        let mut parts = CompletedParts::default();
        for &n in numbers {
            parts.push(part(n, b"x"));
        }
        parts
    }

    #[test]
    fn parts_finished_out_of_order_complete_in_order() {
        let mut parts = CompletedParts::from_finished(vec![part(2, b"world")]);
        parts.push(part(3, b"!"));
        parts.push(part(1, b"hello "));
        let ready = parts.into_ready(3).unwrap();
        let numbers: Vec<u32> = ready
            .to_complete_list()
            .iter()
            .map(|p| p.part_number)
            .collect();
        assert_eq!(numbers, vec![1, 2, 3]);
        assert_eq!(ready.crc64(), crc64::checksum(b"hello world!"));
        assert_eq!(ready.size(), 12);
    }

    #[test]
    fn gaps_duplicates_and_extra_parts_are_refused() {
        assert_eq!(
            collect(&[1, 3]).into_ready(3).unwrap_err(),
            PartsError::Missing { number: 2 }
        );
        assert_eq!(
            collect(&[1, 2]).into_ready(3).unwrap_err(),
            PartsError::Missing { number: 3 }
        );
        assert_eq!(
            collect(&[]).into_ready(1).unwrap_err(),
            PartsError::Missing { number: 1 }
        );
        assert_eq!(
            collect(&[2, 1, 2]).into_ready(2).unwrap_err(),
            PartsError::Duplicate { number: 2 }
        );
        assert_eq!(
            collect(&[1, 2, 3]).into_ready(2).unwrap_err(),
            PartsError::Beyond {
                number: 3,
                count: 2
            }
        );
        assert!(collect(&[1, 2]).into_ready(2).is_ok());
    }
}
