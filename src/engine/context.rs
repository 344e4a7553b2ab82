//! What transfer tasks share. [`Shared`] is one per engine: the session store, the limits
//! (one scheduler and one bandwidth bucket across all targets), the tuning and the display
//! board. [`EngineContext`] is one per target: its client, its label and its retrier
//! (a clock offset learned from one endpoint says nothing of another), over the shared
//! part, so a task holds exactly the target it uploads to.

use std::ops::Deref;
use std::sync::{Arc, RwLock};

use super::progress::Board;
use super::retry::Retrier;
use super::scheduler::Scheduler;
use super::session_store::SessionStore;
use super::throttle::Throttle;
use super::tuning::Tuning;
use crate::protocol::OssClient;

pub(crate) struct Shared {
    pub store: SessionStore,
    tuning: RwLock<Tuning>,
    pub scheduler: Scheduler,
    pub throttle: Arc<Throttle>,
    pub board: Board,
}

impl Shared {
    pub fn new(store: SessionStore, tuning: Tuning, board: Board) -> Arc<Self> {
        Arc::new(Self {
            store,
            scheduler: Scheduler::new(&tuning),
            throttle: Arc::new(Throttle::new(tuning.bandwidth_limit_bytes_per_sec)),
            tuning: RwLock::new(tuning),
            board,
        })
    }

    /// The tuning as of now.
    pub fn tuning(&self) -> Tuning {
        self.tuning
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Applies new limits and bandwidth at once, part size to new uploads; each target's
    /// retry policy is changed by [`EngineContext::set_retry_policy`].
    pub fn set_tuning(&self, tuning: Tuning) {
        self.scheduler.apply(&tuning);
        self.throttle.set_rate(tuning.bandwidth_limit_bytes_per_sec);
        *self
            .tuning
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = tuning;
    }
}

/// One target as its transfer tasks see it.
pub(crate) struct EngineContext {
    pub client: OssClient,
    /// Recorded in sessions and jobs, and part of transfer ids.
    pub endpoint_label: String,
    retrier: RwLock<Retrier>,
    shared: Arc<Shared>,
}

impl Deref for EngineContext {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.shared
    }
}

impl EngineContext {
    pub fn new(client: OssClient, endpoint_label: String, shared: Arc<Shared>) -> Arc<Self> {
        // Every upload body draws from the shared bucket, chunk by chunk.
        let pacer_throttle = shared.throttle.clone();
        let client = client.with_upload_pacer(Arc::new(move |bytes| {
            let throttle = pacer_throttle.clone();
            Box::pin(async move { throttle.acquire(bytes).await })
        }));
        let offset_client = client.clone();
        let retrier = Retrier::from_os_rng(
            shared.tuning().retry,
            Arc::new(move |offset| offset_client.set_clock_offset_secs(offset)),
        );
        Arc::new(Self {
            client,
            endpoint_label,
            retrier: RwLock::new(retrier),
            shared,
        })
    }

    pub fn retrier(&self) -> Retrier {
        self.retrier
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn set_retry_policy(&self, policy: super::tuning::RetryPolicy) {
        let mut retrier = self
            .retrier
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *retrier = retrier.with_policy(policy);
    }
}
