//! Knobs of the engine: part size, parallelism, bandwidth, overwrite policy, retries.
//!
//! This is the one tuning type: the config file's `[tuning]` table, the window's settings
//! form and the CLI's flags all land here, and [`Tuning::validate`] is the one check of it.

use std::time::Duration;

use crate::protocol::limits::{MAX_PART_SIZE, MIN_PART_SIZE};

/// 1 MiB.
const MIB: u64 = 1024 * 1024;
/// Upper bound for both per-transfer parallel parts and concurrent transfers: beyond
/// this, more connections only add memory and server load.
pub const MAX_PARALLELISM: usize = 64;
/// Upper bound for small files in flight at once.
pub const MAX_SMALL_FILES: usize = 256;
/// Smallest bandwidth limit; a lower one would make transfers look hung.
pub const MIN_BANDWIDTH_LIMIT: u64 = 1024;
/// Storage classes OSS knows.
pub const STORAGE_CLASSES: [&str; 5] = [
    "Standard",
    "IA",
    "Archive",
    "ColdArchive",
    "DeepColdArchive",
];

/// How the engine uploads. `Default` gives sensible desktop values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// Preferred part size; grown when a file would need more than 10,000 parts.
    pub part_size: u64,
    /// Parts of one transfer in flight at once.
    pub parallel_parts_per_transfer: usize,
    /// Requests carrying data in flight across everything: the parts of all transfers
    /// and the small files.
    pub parallel_parts_total: usize,
    /// Multipart transfers running at once; the rest wait as Queued.
    pub max_concurrent_transfers: usize,
    /// Files that fit in one PutObject sent at once, apart from the multipart transfers:
    /// a folder of small files is bound by round trips, not bandwidth.
    pub max_concurrent_small_files: usize,
    /// Shared cap on upload bandwidth; `None` = unlimited.
    pub bandwidth_limit_bytes_per_sec: Option<u64>,
    /// Files smaller than this go up as one PutObject.
    pub single_put_threshold: u64,
    /// Refuse to replace an existing object (`x-oss-forbid-overwrite`); such transfers end
    /// Skipped.
    pub forbid_overwrite: bool,
    /// `x-oss-storage-class` for new objects (`Standard`, `IA`, `Archive`, …).
    pub storage_class: Option<String>,
    /// Sessions found at start resume by themselves instead of loading Paused.
    pub resume_on_start: bool,
    pub retry: RetryPolicy,
}

impl Default for Tuning {
    /// Two transfers of four parts each: eight requests in flight saturate a typical
    /// uplink without making one slow file hold up the queue. Small files go sixteen at
    /// a time beside them, within one cap of 24 requests (their sum).
    fn default() -> Self {
        Self {
            part_size: 8 * MIB,
            parallel_parts_per_transfer: 4,
            parallel_parts_total: 24,
            max_concurrent_transfers: 2,
            max_concurrent_small_files: 16,
            bandwidth_limit_bytes_per_sec: None,
            single_put_threshold: 8 * MIB,
            forbid_overwrite: false,
            storage_class: None,
            resume_on_start: false,
            retry: RetryPolicy::default(),
        }
    }
}

impl Tuning {
    /// Sets the part size a person chose. A file that fits in one part goes up as one
    /// PutObject, so the single-put threshold follows it.
    pub fn set_part_size(&mut self, part_size: u64) {
        self.part_size = part_size;
        self.single_put_threshold = part_size;
    }

    /// Sets the parallelism a person chose; the cap on requests in flight follows as
    /// the parts of all transfers plus the small files.
    pub fn set_parallelism(&mut self, parts_per_transfer: usize, concurrent_transfers: usize) {
        self.parallel_parts_per_transfer = parts_per_transfer;
        self.max_concurrent_transfers = concurrent_transfers;
        self.update_total();
    }

    /// Sets how many small files go at once; the cap on requests follows.
    pub fn set_small_files(&mut self, small_files: usize) {
        self.max_concurrent_small_files = small_files;
        self.update_total();
    }

    fn update_total(&mut self) {
        self.parallel_parts_total = self
            .parallel_parts_per_transfer
            .saturating_mul(self.max_concurrent_transfers)
            .saturating_add(self.max_concurrent_small_files);
    }

    /// Checks the values; the message names the first bad one and says what is allowed.
    /// Nothing is clamped.
    pub fn validate(&self) -> Result<(), String> {
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size) {
            return Err(format!(
                "part size: {} bytes is out of range; OSS accepts parts from 100KiB to 5GiB",
                self.part_size
            ));
        }
        for (field, value, most) in [
            (
                "parallel parts",
                self.parallel_parts_per_transfer,
                MAX_PARALLELISM,
            ),
            (
                "concurrent transfers",
                self.max_concurrent_transfers,
                MAX_PARALLELISM,
            ),
            (
                "small files at once",
                self.max_concurrent_small_files,
                MAX_SMALL_FILES,
            ),
        ] {
            if !(1..=most).contains(&value) {
                return Err(format!("{field}: {value} is out of range; use 1 to {most}"));
            }
        }
        if self.parallel_parts_total == 0 {
            return Err("parallel parts in total must be at least 1".into());
        }
        if let Some(limit) = self.bandwidth_limit_bytes_per_sec
            && limit < MIN_BANDWIDTH_LIMIT
        {
            return Err(format!(
                "bandwidth limit: {limit} bytes per second is too low; use at least 1KiB, or no limit at all"
            ));
        }
        if let Some(class) = &self.storage_class {
            validate_storage_class(class).map_err(|m| format!("storage class: {m}"))?;
        }
        if self.retry.max_attempts == 0 {
            return Err("retry attempts must be at least 1".into());
        }
        Ok(())
    }
}

/// Checks a storage class name against those OSS knows (exact spelling).
pub fn validate_storage_class(class: &str) -> Result<(), String> {
    if STORAGE_CLASSES.contains(&class) {
        Ok(())
    } else {
        Err(format!(
            "{class:?} is not a storage class; use one of {}",
            STORAGE_CLASSES.join(", ")
        ))
    }
}

/// How failed requests are retried: exponential backoff with full jitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// Upper bound of the first backoff; doubles per attempt.
    pub base_delay: Duration,
    /// Longest backoff.
    pub max_delay: Duration,
    /// How often to probe while the network is down.
    pub network_probe_interval: Duration,
    /// Give up on a request once the network has been down this long; `None` waits as
    /// long as it takes (the window: a person is there to pause). A script needs an end.
    pub give_up_after_outage: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            network_probe_interval: Duration::from_secs(5),
            give_up_after_outage: None,
        }
    }
}
