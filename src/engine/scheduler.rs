//! Who may run: transfer slots (the rest wait in FIFO order), a global cap on parts in
//! flight, and a per-transfer cap. Permits are owned, so they move into the spawned part
//! tasks and are released when those end, however they end. Limits can change at run time.

use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::tuning::Tuning;

/// A semaphore whose number of permits can be changed while permits are out.
#[derive(Debug)]
pub struct ResizableSemaphore {
    semaphore: Arc<Semaphore>,
    limit: Mutex<usize>,
}

impl ResizableSemaphore {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            semaphore: Arc::new(Semaphore::new(limit)),
            limit: Mutex::new(limit),
        })
    }

    pub fn limit(&self) -> usize {
        *self.lock_limit()
    }

    /// Waits for a permit (FIFO).
    pub async fn acquire(&self) -> OwnedSemaphorePermit {
        match self.semaphore.clone().acquire_owned().await {
            Ok(permit) => permit,
            // The semaphore is never closed while `self` lives.
            Err(_) => unreachable!("the semaphore is never closed"),
        }
    }

    /// Changes the number of permits. Shrinking takes effect as permits come back:
    /// the surplus is absorbed by a background task, so nobody in flight is interrupted.
    pub fn resize(&self, new_limit: usize) {
        let mut limit = self.lock_limit();
        let old = *limit;
        *limit = new_limit;
        drop(limit);
        if new_limit > old {
            self.semaphore.add_permits(new_limit - old);
        } else if new_limit < old {
            let surplus = (old - new_limit) as u32;
            let semaphore = self.semaphore.clone();
            tokio::spawn(async move {
                if let Ok(permits) = semaphore.acquire_many_owned(surplus).await {
                    permits.forget();
                }
            });
        }
    }

    fn lock_limit(&self) -> std::sync::MutexGuard<'_, usize> {
        self.limit
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The engine's limits on concurrency.
#[derive(Debug)]
pub struct Scheduler {
    transfer_slots: Arc<ResizableSemaphore>,
    small_file_slots: Arc<ResizableSemaphore>,
    parts_total: Arc<ResizableSemaphore>,
    per_transfer_limit: Mutex<usize>,
    /// The per-transfer semaphores of running transfers, resized with the tuning.
    per_transfer: Mutex<Vec<Weak<ResizableSemaphore>>>,
}

impl Scheduler {
    pub fn new(tuning: &Tuning) -> Self {
        Self {
            transfer_slots: ResizableSemaphore::new(tuning.max_concurrent_transfers),
            small_file_slots: ResizableSemaphore::new(tuning.max_concurrent_small_files),
            parts_total: ResizableSemaphore::new(tuning.parallel_parts_total),
            per_transfer_limit: Mutex::new(tuning.parallel_parts_per_transfer),
            per_transfer: Mutex::new(Vec::new()),
        }
    }

    /// Waits for a transfer slot; hold it while the transfer runs.
    pub async fn transfer_slot(&self) -> OwnedSemaphorePermit {
        self.transfer_slots.acquire().await
    }

    /// Waits for a transfer slot unless `cancel` fires first (then there is none).
    pub async fn transfer_slot_unless(
        &self,
        cancel: &CancellationToken,
    ) -> Option<OwnedSemaphorePermit> {
        tokio::select! {
            biased;
            () = cancel.cancelled() => None,
            slot = self.transfer_slot() => Some(slot),
        }
    }

    /// Waits for a small-file slot and one request permit of the global cap, unless
    /// `cancel` fires first. A small file is one PutObject, so it holds both while it
    /// runs.
    pub async fn small_file_slot_unless(&self, cancel: &CancellationToken) -> Option<Slot> {
        tokio::select! {
            biased;
            () = cancel.cancelled() => None,
            slot = async {
                let slot = self.small_file_slots.acquire().await;
                let request = self.parts_total.acquire().await;
                Slot { _slot: slot, _request: Some(request) }
            } => Some(slot),
        }
    }

    /// A new per-transfer cap for one run of a transfer.
    pub fn transfer_parts(&self) -> TransferParts {
        let limit = *self
            .per_transfer_limit
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let own = ResizableSemaphore::new(limit);
        let mut list = self
            .per_transfer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        list.retain(|weak| weak.strong_count() > 0);
        list.push(Arc::downgrade(&own));
        TransferParts {
            own,
            total: self.parts_total.clone(),
        }
    }

    pub fn apply(&self, tuning: &Tuning) {
        self.transfer_slots.resize(tuning.max_concurrent_transfers);
        self.small_file_slots
            .resize(tuning.max_concurrent_small_files);
        self.parts_total.resize(tuning.parallel_parts_total);
        *self
            .per_transfer_limit
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = tuning.parallel_parts_per_transfer;
        let list = self
            .per_transfer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for own in list.iter().filter_map(Weak::upgrade) {
            own.resize(tuning.parallel_parts_per_transfer);
        }
    }
}

/// The right to run: a transfer slot, or a small-file slot with its request permit.
#[derive(Debug)]
pub struct Slot {
    _slot: OwnedSemaphorePermit,
    _request: Option<OwnedSemaphorePermit>,
}

impl From<OwnedSemaphorePermit> for Slot {
    fn from(slot: OwnedSemaphorePermit) -> Self {
        Self {
            _slot: slot,
            _request: None,
        }
    }
}

/// Part permits of one running transfer.
#[derive(Debug)]
pub struct TransferParts {
    own: Arc<ResizableSemaphore>,
    total: Arc<ResizableSemaphore>,
}

/// Both permits a part needs; dropped when the part ends.
#[derive(Debug)]
pub struct PartPermit {
    _own: OwnedSemaphorePermit,
    _total: OwnedSemaphorePermit,
}

impl TransferParts {
    /// Waits for this transfer's own permit first, then a global one, so a transfer at
    /// its own cap never holds global permits others could use.
    pub async fn acquire(&self) -> PartPermit {
        let own = self.own.acquire().await;
        let total = self.total.acquire().await;
        PartPermit {
            _own: own,
            _total: total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn tuning(per: usize, total: usize) -> Tuning {
        Tuning {
            parallel_parts_per_transfer: per,
            parallel_parts_total: total,
            max_concurrent_transfers: 1,
            ..Tuning::default()
        }
    }

    async fn can_acquire(parts: &TransferParts) -> Option<PartPermit> {
        tokio::time::timeout(Duration::from_millis(50), parts.acquire())
            .await
            .ok()
    }

    #[tokio::test]
    async fn per_transfer_and_global_caps_hold() {
        let scheduler = Scheduler::new(&tuning(2, 3));
        let a = scheduler.transfer_parts();
        let b = scheduler.transfer_parts();
        let a1 = can_acquire(&a).await.unwrap();
        let _a2 = can_acquire(&a).await.unwrap();
        assert!(can_acquire(&a).await.is_none(), "per-transfer cap of 2");
        let _b1 = can_acquire(&b).await.unwrap();
        assert!(can_acquire(&b).await.is_none(), "global cap of 3");
        drop(a1);
        assert!(
            can_acquire(&b).await.is_some(),
            "a released permit is reused"
        );
    }

    #[tokio::test]
    async fn limits_change_at_run_time() {
        let scheduler = Scheduler::new(&tuning(1, 8));
        let a = scheduler.transfer_parts();
        let first = can_acquire(&a).await.unwrap();
        assert!(can_acquire(&a).await.is_none());
        scheduler.apply(&tuning(2, 8));
        let second = can_acquire(&a).await.unwrap();
        scheduler.apply(&tuning(1, 8));
        drop(first);
        drop(second);
        // Back to one: after the surplus is absorbed only one permit is available.
        tokio::task::yield_now().await;
        let _one = can_acquire(&a).await.unwrap();
        assert!(can_acquire(&a).await.is_none());
    }

    #[tokio::test]
    async fn transfer_slots_queue() {
        let scheduler = Scheduler::new(&tuning(1, 1));
        let slot = scheduler.transfer_slot().await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), scheduler.transfer_slot());
        assert!(waiting.await.is_err());
        drop(slot);
        let next = tokio::time::timeout(Duration::from_millis(50), scheduler.transfer_slot());
        assert!(next.await.is_ok());
    }
}
