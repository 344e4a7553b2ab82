//! Fault injection: failed answers, cut connections and slow answers, on demand.
//!
//! Everything is off by default. A [`FaultHandle`] changes the settings while the server
//! runs; decisions come from a seeded RNG, so a test that sets a seed sees the same
//! sequence of faults every time.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Which requests faults apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FaultScope {
    /// Every request.
    #[default]
    All,
    /// Only UploadPart.
    UploadPart,
    /// Only PutObject.
    PutObject,
    /// UploadPart and PutObject: the requests that carry data.
    Uploads,
    /// Only InitiateMultipartUpload.
    Initiate,
}

/// The status a failed request answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FailStatus {
    /// 500 InternalError.
    #[default]
    InternalError,
    /// 503 ServiceUnavailable.
    ServiceUnavailable,
    /// Either of the two, chosen by the RNG.
    Mixed,
}

/// Fault settings. Rates are probabilities in `0.0..=1.0`, drawn per request.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// Chance that a request fails with `fail_status` instead of being served.
    pub fail_rate: f64,
    pub fail_status: FailStatus,
    /// Chance that a request with a body has its connection dropped after
    /// `cut_after_bytes` bytes of that body.
    pub cut_rate: f64,
    pub cut_after_bytes: u64,
    /// Added before every answer in scope.
    pub delay: Duration,
    pub scope: FaultScope,
    pub seed: u64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            fail_rate: 0.0,
            fail_status: FailStatus::InternalError,
            cut_rate: 0.0,
            cut_after_bytes: 0,
            delay: Duration::ZERO,
            scope: FaultScope::All,
            seed: 0,
        }
    }
}

/// The operations fault scopes distinguish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultTarget {
    UploadPart,
    PutObject,
    InitiateMultipartUpload,
    Other,
}

/// What to do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultPlan {
    /// Answer with this error instead of serving the request.
    pub fail: Option<InjectedFailure>,
    /// Drop the connection once this many request-body bytes have arrived.
    pub cut_after_bytes: Option<u64>,
    pub delay: Duration,
    /// Serve the request, then cut the connection instead of answering: the operation
    /// took effect but the client never learns its result.
    pub lose_answer: bool,
    /// Flip a byte of the request body as it arrives, as damage in transit would: the
    /// server stores, and reports the CRC-64 of, bytes the client did not send.
    pub damage_body: bool,
}

/// A failure answer chosen by the fault injector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedFailure {
    InternalError,
    ServiceUnavailable,
}

#[derive(Debug)]
struct FaultState {
    config: FaultConfig,
    rng: StdRng,
    /// Requests in scope still to fail regardless of the rate.
    forced_failures: u32,
    /// Requests in scope still to cut regardless of the rate: `(count, after_bytes)`.
    forced_cuts: Option<(u32, u64)>,
    /// Requests in scope still to be served without an answer.
    forced_lost_answers: u32,
    /// Requests in scope whose body is still to be damaged on arrival.
    forced_damage: u32,
}

/// Shared, cloneable control over the server's fault injection.
#[derive(Debug, Clone)]
pub struct FaultHandle {
    state: Arc<Mutex<FaultState>>,
}

impl FaultHandle {
    pub fn new(config: FaultConfig) -> Self {
        let rng = StdRng::seed_from_u64(config.seed);
        Self {
            state: Arc::new(Mutex::new(FaultState {
                config,
                rng,
                forced_failures: 0,
                forced_cuts: None,
                forced_lost_answers: 0,
                forced_damage: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        // A panic elsewhere cannot leave these plain values half-updated.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces the settings and reseeds the RNG from `config.seed`.
    pub fn set(&self, config: FaultConfig) {
        let mut state = self.lock();
        state.rng = StdRng::seed_from_u64(config.seed);
        state.config = config;
    }

    pub fn config(&self) -> FaultConfig {
        self.lock().config.clone()
    }

    /// Turns every fault off, including pending forced ones.
    pub fn clear(&self) {
        let mut state = self.lock();
        state.config = FaultConfig {
            seed: state.config.seed,
            ..FaultConfig::default()
        };
        state.forced_failures = 0;
        state.forced_cuts = None;
        state.forced_lost_answers = 0;
        state.forced_damage = 0;
    }

    /// Fails the next `count` requests in scope with the configured status.
    pub fn fail_next(&self, count: u32) {
        self.lock().forced_failures = count;
    }

    /// Cuts the connection of the next `count` requests in scope after `after_bytes`
    /// bytes of their body.
    pub fn cut_next(&self, count: u32, after_bytes: u64) {
        self.lock().forced_cuts = Some((count, after_bytes));
    }

    /// Serves the next `count` requests in scope but cuts the connection instead of
    /// answering them, as a server that dies right after doing the work would.
    pub fn lose_next_answers(&self, count: u32) {
        self.lock().forced_lost_answers = count;
    }

    /// Damages one byte of the body of the next `count` requests in scope as it arrives.
    pub fn damage_next(&self, count: u32) {
        self.lock().forced_damage = count;
    }

    /// Decides the fate of one request.
    pub fn plan(&self, target: FaultTarget) -> FaultPlan {
        let mut guard = self.lock();
        let state = &mut *guard;
        let in_scope = match state.config.scope {
            FaultScope::All => true,
            FaultScope::UploadPart => target == FaultTarget::UploadPart,
            FaultScope::PutObject => target == FaultTarget::PutObject,
            FaultScope::Uploads => {
                matches!(target, FaultTarget::UploadPart | FaultTarget::PutObject)
            }
            FaultScope::Initiate => target == FaultTarget::InitiateMultipartUpload,
        };
        if !in_scope {
            return FaultPlan::default();
        }
        let mut plan = FaultPlan {
            delay: state.config.delay,
            ..FaultPlan::default()
        };

        let forced_fail = state.forced_failures > 0;
        if forced_fail {
            state.forced_failures -= 1;
        }
        let fail_rate = state.config.fail_rate;
        if forced_fail || draw(&mut state.rng, fail_rate) {
            let failure = match state.config.fail_status {
                FailStatus::InternalError => InjectedFailure::InternalError,
                FailStatus::ServiceUnavailable => InjectedFailure::ServiceUnavailable,
                FailStatus::Mixed if state.rng.random_bool(0.5) => InjectedFailure::InternalError,
                FailStatus::Mixed => InjectedFailure::ServiceUnavailable,
            };
            plan.fail = Some(failure);
            return plan;
        }

        if state.forced_damage > 0 {
            state.forced_damage -= 1;
            plan.damage_body = true;
        }
        if state.forced_lost_answers > 0 {
            state.forced_lost_answers -= 1;
            plan.lose_answer = true;
            return plan;
        }
        if let Some((count, after_bytes)) = state.forced_cuts {
            state.forced_cuts = (count > 1).then(|| (count - 1, after_bytes));
            plan.cut_after_bytes = Some(after_bytes);
            return plan;
        }
        let cut_rate = state.config.cut_rate;
        if draw(&mut state.rng, cut_rate) {
            plan.cut_after_bytes = Some(state.config.cut_after_bytes);
        }
        plan
    }
}

/// True with probability `rate`; never consumes randomness when the rate is zero, so
/// turning one kind of fault on does not shift the sequence of another.
fn draw(rng: &mut StdRng, rate: f64) -> bool {
    if rate <= 0.0 || rate.is_nan() {
        return false;
    }
    rng.random_bool(rate.min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default() {
        let faults = FaultHandle::new(FaultConfig::default());
        for _ in 0..100 {
            assert_eq!(faults.plan(FaultTarget::UploadPart), FaultPlan::default());
        }
    }

    #[test]
    fn same_seed_same_sequence() {
        let config = FaultConfig {
            fail_rate: 0.3,
            seed: 42,
            ..FaultConfig::default()
        };
        let sequence = |handle: &FaultHandle| {
            (0..200)
                .map(|_| handle.plan(FaultTarget::Other).fail.is_some())
                .collect::<Vec<_>>()
        };
        let first = sequence(&FaultHandle::new(config.clone()));
        let second = sequence(&FaultHandle::new(config));
        assert_eq!(first, second);
        let failures = first.iter().filter(|f| **f).count();
        assert!((20..=100).contains(&failures), "{failures} of 200");
    }

    #[test]
    fn scope_limits_faults() {
        let faults = FaultHandle::new(FaultConfig {
            fail_rate: 1.0,
            scope: FaultScope::UploadPart,
            ..FaultConfig::default()
        });
        assert_eq!(faults.plan(FaultTarget::PutObject).fail, None);
        assert_eq!(faults.plan(FaultTarget::Other).fail, None);
        assert_eq!(
            faults.plan(FaultTarget::UploadPart).fail,
            Some(InjectedFailure::InternalError)
        );
    }

    #[test]
    fn forced_faults_count_down() {
        let faults = FaultHandle::new(FaultConfig::default());
        faults.fail_next(2);
        faults.cut_next(1, 10);
        assert!(faults.plan(FaultTarget::Other).fail.is_some());
        assert!(faults.plan(FaultTarget::Other).fail.is_some());
        assert_eq!(faults.plan(FaultTarget::Other).cut_after_bytes, Some(10));
        assert_eq!(faults.plan(FaultTarget::Other), FaultPlan::default());
        faults.lose_next_answers(1);
        assert!(faults.plan(FaultTarget::Other).lose_answer);
        assert_eq!(faults.plan(FaultTarget::Other), FaultPlan::default());
        faults.damage_next(1);
        assert!(faults.plan(FaultTarget::Other).damage_body);
        assert_eq!(faults.plan(FaultTarget::Other), FaultPlan::default());
    }
}
