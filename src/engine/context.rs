//! What every transfer task shares: the client, the session store, the limits and the
//! display board.

use std::sync::{Arc, RwLock};

use super::progress::Board;
use super::retry::Retrier;
use super::scheduler::Scheduler;
use super::session_store::SessionStore;
use super::throttle::Throttle;
use super::tuning::Tuning;
use crate::protocol::OssClient;

pub(crate) struct EngineContext {
    pub client: OssClient,
    pub store: SessionStore,
    /// Recorded in sessions and part of transfer ids.
    pub endpoint_label: String,
    tuning: RwLock<Tuning>,
    pub scheduler: Scheduler,
    pub throttle: Arc<Throttle>,
    retrier: RwLock<Retrier>,
    pub board: Board,
}

impl EngineContext {
    pub fn new(
        client: OssClient,
        store: SessionStore,
        endpoint_label: String,
        tuning: Tuning,
        board: Board,
    ) -> Arc<Self> {
        // Every upload body draws from the shared bucket, chunk by chunk.
        let throttle = Arc::new(Throttle::new(tuning.bandwidth_limit_bytes_per_sec));
        let pacer_throttle = throttle.clone();
        let client = client.with_upload_pacer(Arc::new(move |bytes| {
            let throttle = pacer_throttle.clone();
            Box::pin(async move { throttle.acquire(bytes).await })
        }));
        let offset_client = client.clone();
        let retrier = Retrier::from_os_rng(
            tuning.retry.clone(),
            Arc::new(move |offset| offset_client.set_clock_offset_secs(offset)),
        );
        Arc::new(Self {
            client,
            store,
            endpoint_label,
            scheduler: Scheduler::new(&tuning),
            throttle,
            tuning: RwLock::new(tuning),
            retrier: RwLock::new(retrier),
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

    pub fn retrier(&self) -> Retrier {
        self.retrier
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Applies new tuning: limits and bandwidth at once, part size to new uploads.
    pub fn set_tuning(&self, tuning: Tuning) {
        self.scheduler.apply(&tuning);
        self.throttle.set_rate(tuning.bandwidth_limit_bytes_per_sec);
        {
            let mut retrier = self
                .retrier
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            *retrier = retrier.with_policy(tuning.retry.clone());
        }
        *self
            .tuning
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = tuning;
    }
}
