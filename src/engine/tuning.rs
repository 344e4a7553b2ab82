//! Knobs of the engine: part size, parallelism, bandwidth, overwrite policy, retries.

use std::time::Duration;

/// 1 MiB.
const MIB: u64 = 1024 * 1024;

/// How the engine uploads. `Default` gives sensible desktop values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuning {
    /// Preferred part size; grown when a file would need more than 10,000 parts.
    pub part_size: u64,
    /// Parts of one transfer in flight at once.
    pub parallel_parts_per_transfer: usize,
    /// Parts in flight across all transfers.
    pub parallel_parts_total: usize,
    /// Transfers running at once; the rest wait as Queued.
    pub max_concurrent_transfers: usize,
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
    fn default() -> Self {
        Self {
            part_size: 8 * MIB,
            parallel_parts_per_transfer: 4,
            parallel_parts_total: 8,
            max_concurrent_transfers: 3,
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
    /// Checks the values; the message names the first bad one. Nothing is clamped.
    pub fn validate(&self) -> Result<(), String> {
        if self.parallel_parts_per_transfer == 0 {
            return Err("parallel parts per transfer must be at least 1".into());
        }
        if self.parallel_parts_total == 0 {
            return Err("parallel parts in total must be at least 1".into());
        }
        if self.max_concurrent_transfers == 0 {
            return Err("concurrent transfers must be at least 1".into());
        }
        if self.part_size < super::plan::MIN_PART_SIZE
            || self.part_size > super::plan::MAX_PART_SIZE
        {
            return Err(format!(
                "part size must be between {} and {} bytes, not {}",
                super::plan::MIN_PART_SIZE,
                super::plan::MAX_PART_SIZE,
                self.part_size
            ));
        }
        if self.bandwidth_limit_bytes_per_sec == Some(0) {
            return Err("a bandwidth limit of 0 would never send anything".into());
        }
        if self.retry.max_attempts == 0 {
            return Err("retry attempts must be at least 1".into());
        }
        Ok(())
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
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            network_probe_interval: Duration::from_secs(5),
        }
    }
}
