//! Pure planning: how a file of a given size is cut into parts within the OSS limits.
//!
//! Parts are at least 100 KiB (except the last), at most 5 GiB, at most 10,000 of them,
//! so an object is at most 5 GiB × 10,000 (the "48.8 TB" of the OSS documentation). When
//! the preferred part size would need too many parts it doubles until the file fits (as
//! oss2 and rclone do), and as a last step becomes `ceil(size / 10,000)`.

use std::ops::Range;

use thiserror::Error;

pub use crate::protocol::limits::{MAX_OBJECT_SIZE, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    #[error(
        "the file is {size} bytes; OSS objects can be at most {MAX_OBJECT_SIZE} bytes (10,000 parts of 5 GiB)"
    )]
    TooLarge { size: u64 },
    #[error(
        "a part size of {part_size} bytes is outside what OSS accepts ({MIN_PART_SIZE} to {MAX_PART_SIZE} bytes, or anything up to the whole object when it is one part)"
    )]
    PartSizeOutOfRange { part_size: u64 },
    #[error("{size} bytes in parts of {part_size} bytes would need more than {MAX_PARTS} parts")]
    TooManyParts { size: u64, part_size: u64 },
}

/// How one object is uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartPlan {
    pub size: u64,
    /// One PutObject instead of a multipart upload.
    pub single_put: bool,
    /// Size of every part but the last (equal to `size` for a single put).
    pub part_size: u64,
    /// Number of parts (1 for a single put).
    pub part_count: u32,
}

/// Byte range of part `number` (1-based, as OSS numbers parts) when `size` bytes are cut
/// into parts of `part_size`: the last part stops at the end, parts past it are empty.
/// The one place part numbers become bytes, for the engine and the part map alike.
pub fn part_range(size: u64, part_size: u64, number: u32) -> Range<u64> {
    let start = u64::from(number.saturating_sub(1))
        .saturating_mul(part_size)
        .min(size);
    let end = start.saturating_add(part_size).min(size);
    start..end
}

impl PartPlan {
    /// Byte range of part `number` (1-based).
    pub fn part_range(&self, number: u32) -> Range<u64> {
        part_range(self.size, self.part_size, number)
    }

    pub fn part_len(&self, number: u32) -> u64 {
        let range = self.part_range(number);
        range.end - range.start
    }

    /// A multipart plan with a part size already chosen (e.g. read from a session),
    /// refused unless it keeps to the OSS limits: a part size stored on disk is not
    /// trusted to fit them.
    pub fn with_part_size(size: u64, part_size: u64) -> Result<Self, PlanError> {
        if size > MAX_OBJECT_SIZE {
            return Err(PlanError::TooLarge { size });
        }
        if part_size == 0 || part_size > MAX_PART_SIZE {
            return Err(PlanError::PartSizeOutOfRange { part_size });
        }
        let part_count = u32::try_from(size.div_ceil(part_size).max(1))
            .ok()
            .filter(|&count| count <= MAX_PARTS)
            .ok_or(PlanError::TooManyParts { size, part_size })?;
        // Only the last part may be smaller than the minimum, so a smaller part size is
        // only possible when there is a single part.
        if part_count > 1 && part_size < MIN_PART_SIZE {
            return Err(PlanError::PartSizeOutOfRange { part_size });
        }
        Ok(Self {
            size,
            single_put: false,
            part_size,
            part_count,
        })
    }
}

/// Plans an upload of `size` bytes. Files below `single_put_threshold` (capped at 5 GiB)
/// go as one PutObject; others are cut into parts of about `preferred_part_size`.
pub fn plan(
    size: u64,
    preferred_part_size: u64,
    single_put_threshold: u64,
) -> Result<PartPlan, PlanError> {
    if size > MAX_OBJECT_SIZE {
        return Err(PlanError::TooLarge { size });
    }
    if size == 0 || size < single_put_threshold.min(MAX_PART_SIZE + 1) {
        return Ok(PartPlan {
            size,
            single_put: true,
            part_size: size,
            part_count: 1,
        });
    }
    let mut part_size = preferred_part_size.clamp(MIN_PART_SIZE, MAX_PART_SIZE);
    while size.div_ceil(part_size) > u64::from(MAX_PARTS) && part_size < MAX_PART_SIZE {
        part_size = part_size.saturating_mul(2).min(MAX_PART_SIZE);
    }
    if size.div_ceil(part_size) > u64::from(MAX_PARTS) {
        part_size = size.div_ceil(u64::from(MAX_PARTS));
    }
    PartPlan::with_part_size(size, part_size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_valid(plan: &PartPlan) {
        if plan.single_put {
            assert!(plan.size <= MAX_PART_SIZE);
            assert_eq!(plan.part_count, 1);
            assert_eq!(plan.part_range(1), 0..plan.size);
            return;
        }
        assert!(
            plan.part_count >= 1 && plan.part_count <= MAX_PARTS,
            "{plan:?}"
        );
        assert!(plan.part_size <= MAX_PART_SIZE, "{plan:?}");
        let mut next = 0;
        for n in 1..=plan.part_count {
            let range = plan.part_range(n);
            assert_eq!(range.start, next, "parts are contiguous: {plan:?}");
            assert!(range.end > range.start, "no empty part: {plan:?}");
            let len = range.end - range.start;
            assert!(len <= MAX_PART_SIZE);
            if n < plan.part_count {
                assert!(len >= MIN_PART_SIZE, "part {n} too small: {plan:?}");
            }
            next = range.end;
        }
        assert_eq!(next, plan.size, "parts cover the file: {plan:?}");
    }

    #[test]
    fn edges() {
        let kib = 1024;
        assert!(plan(0, 8 * kib * kib, 0).unwrap().single_put);
        let small = plan(100 * kib - 1, 100 * kib, 100 * kib).unwrap();
        assert!(small.single_put);
        let one = plan(100 * kib, 100 * kib, 100 * kib).unwrap();
        assert_eq!((one.single_put, one.part_count), (false, 1));
        let two = plan(100 * kib + 1, 100 * kib, 0).unwrap();
        assert_eq!(two.part_count, 2);
        assert_eq!(two.part_len(2), 1);
        // A part size below the minimum is raised to it.
        assert_eq!(plan(10 * kib * kib, 1, 0).unwrap().part_size, MIN_PART_SIZE);
        // 1 TiB with 8 MiB parts would need 131,072 parts: grown to 128 MiB.
        let tib = plan(1 << 40, 8 << 20, 0).unwrap();
        assert_eq!(tib.part_size, 128 << 20);
        check_valid(&tib);
        let max = plan(MAX_OBJECT_SIZE, 8 << 20, 0).unwrap();
        assert_eq!((max.part_size, max.part_count), (MAX_PART_SIZE, MAX_PARTS));
        assert_eq!(
            plan(MAX_OBJECT_SIZE + 1, 8 << 20, 0),
            Err(PlanError::TooLarge {
                size: MAX_OBJECT_SIZE + 1
            })
        );
        // A threshold above 5 GiB still sends bigger files as parts.
        assert!(
            !plan(MAX_PART_SIZE + 1, 8 << 20, u64::MAX)
                .unwrap()
                .single_put
        );
    }

    #[test]
    fn stored_part_sizes_outside_the_limits_are_refused() {
        let four_gb = 4_000_000_000;
        assert_eq!(
            PartPlan::with_part_size(four_gb, 1),
            Err(PlanError::TooManyParts {
                size: four_gb,
                part_size: 1
            })
        );
        // A count past u32 is refused, not truncated.
        assert_eq!(
            PartPlan::with_part_size(MAX_OBJECT_SIZE, MIN_PART_SIZE),
            Err(PlanError::TooManyParts {
                size: MAX_OBJECT_SIZE,
                part_size: MIN_PART_SIZE
            })
        );
        assert_eq!(
            PartPlan::with_part_size(10, 0),
            Err(PlanError::PartSizeOutOfRange { part_size: 0 })
        );
        assert_eq!(
            PartPlan::with_part_size(10, MAX_PART_SIZE + 1),
            Err(PlanError::PartSizeOutOfRange {
                part_size: MAX_PART_SIZE + 1
            })
        );
        assert_eq!(
            PartPlan::with_part_size(3 * 1000, 1000),
            Err(PlanError::PartSizeOutOfRange { part_size: 1000 })
        );
        assert_eq!(
            PartPlan::with_part_size(MAX_OBJECT_SIZE + 1, MAX_PART_SIZE),
            Err(PlanError::TooLarge {
                size: MAX_OBJECT_SIZE + 1
            })
        );
        // One small part is fine: the last part has no minimum.
        assert_eq!(
            PartPlan::with_part_size(300, 8 << 20).unwrap().part_count,
            1
        );
        let max = PartPlan::with_part_size(MAX_OBJECT_SIZE, MAX_PART_SIZE).unwrap();
        assert_eq!(max.part_count, MAX_PARTS);
    }

    proptest! {
        #[test]
        fn every_size_gives_a_valid_plan(
            size in 0..=MAX_OBJECT_SIZE,
            preferred in 0u64..=(6 << 30),
            threshold in prop_oneof![Just(0u64), 0u64..=(6 << 30)],
        ) {
            let plan = plan(size, preferred, threshold).unwrap();
            check_valid(&plan);
        }

        #[test]
        fn small_sizes_give_valid_plans(size in 0u64..(50 << 20), preferred in 0u64..(4 << 20)) {
            let plan = plan(size, preferred, 0).unwrap();
            check_valid(&plan);
        }
    }
}
