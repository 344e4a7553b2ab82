//! The size limits OSS puts on parts and objects. The client's planner and settings
//! checks and `ossup serve`'s refusals must agree on them, so they are written once, here.

/// Smallest part OSS accepts, the last part of an upload excepted (100 KiB).
pub const MIN_PART_SIZE: u64 = 100 * 1024;
/// Largest part OSS accepts (5 GiB).
pub const MAX_PART_SIZE: u64 = 5 << 30;
/// Most parts in one multipart upload; also the highest part number.
pub const MAX_PARTS: u32 = 10_000;
/// Largest object a multipart upload can build: 10,000 parts of 5 GiB (the "48.8 TB" of
/// the OSS documentation).
pub const MAX_OBJECT_SIZE: u64 = MAX_PART_SIZE * MAX_PARTS as u64;
/// Largest body of a single PutObject (5 GiB).
pub const MAX_PUT_OBJECT_SIZE: u64 = 5 << 30;
