//! Which process drives a job. The window and the CLI share the store and see each
//! other's jobs; a lease makes sure only one of them sends a job's files. The holder
//! renews it (a heartbeat); another process takes it over when the heartbeat is older
//! than the time to live or the holder's process is gone.

use std::path::Path;
use std::time::Duration;

use rusqlite::{OptionalExtension, params};

use super::{JobId, QueueStore, StoreError, classify, to_db_int};

/// Who holds a lease: a process, and a random token so two handles in one process (or a
/// reused pid) are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseOwner {
    /// The holder's process id, checked for liveness by whoever wants the lease.
    pub pid: u32,
    /// Random per owner; a lease is only renewed or released by the same token.
    pub token: i64,
}

impl LeaseOwner {
    /// A new owner for this process.
    pub fn this_process() -> Self {
        Self {
            pid: std::process::id(),
            token: rand::random(),
        }
    }
}

/// A held lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The job it is for.
    pub job: JobId,
    /// Who holds it.
    pub owner: LeaseOwner,
    /// The last heartbeat written, seconds since the Unix epoch.
    pub heartbeat_unix_secs: u64,
    /// The pid of a dead or silent holder this lease replaced: its in-flight files must
    /// go back to pending ([`QueueStore::reset_in_flight`]).
    pub took_over_from: Option<u32>,
}

/// Whether `pid` names a running process. Where `/proc` exists (Linux) an absent
/// `/proc/<pid>` means it is gone; elsewhere the heartbeat's age alone decides.
fn process_is_alive(pid: u32) -> bool {
    let proc_root = Path::new("/proc");
    if !proc_root.join("self").exists() {
        return true;
    }
    proc_root.join(pid.to_string()).exists()
}

impl QueueStore {
    /// Takes the job's lease for `owner`, unless another live owner renewed it within
    /// `ttl`: then [`StoreError::LeaseHeld`]. Taking it again as the same owner renews it.
    pub fn acquire_lease(
        &mut self,
        job: JobId,
        owner: LeaseOwner,
        now_unix_secs: u64,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        let now = to_db_int(now_unix_secs, "time")?;
        let (tx, path) = self.begin_write("take a job's lease")?;
        let error = |e| classify(path, "take a job's lease", e);
        let held: Option<(i64, i64, i64)> = tx
            .query_row(
                "SELECT owner_pid, owner_token, heartbeat_unix_secs FROM leases WHERE job_id = ?1",
                [job.0],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()
            .map_err(error)?;
        let mut took_over_from = None;
        if let Some((pid, token, heartbeat)) = held {
            let same_owner = pid == i64::from(owner.pid) && token == owner.token;
            if !same_owner {
                // A pid that cannot be one was not written by a live process.
                let holder = u32::try_from(pid).ok();
                let age_secs = now.saturating_sub(heartbeat).max(0) as u64;
                let silent = age_secs >= ttl.as_secs();
                let gone = holder.is_none_or(|pid| !process_is_alive(pid));
                if !(silent || gone) {
                    return Err(StoreError::LeaseHeld {
                        job,
                        pid: holder.unwrap_or_default(),
                    });
                }
                took_over_from = Some(holder.unwrap_or_default());
            }
        }
        tx.execute(
            "INSERT INTO leases (job_id, owner_pid, owner_token, heartbeat_unix_secs)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (job_id) DO UPDATE SET owner_pid = excluded.owner_pid,
                 owner_token = excluded.owner_token,
                 heartbeat_unix_secs = excluded.heartbeat_unix_secs",
            params![job.0, owner.pid, owner.token, now],
        )
        .map_err(error)?;
        tx.commit().map_err(error)?;
        Ok(Lease {
            job,
            owner,
            heartbeat_unix_secs: now_unix_secs,
            took_over_from,
        })
    }

    /// Writes a heartbeat; [`StoreError::LeaseLost`] when another process took the lease
    /// meanwhile (the engine must then stop sending the job's files).
    pub fn renew_lease(&mut self, lease: &mut Lease, now_unix_secs: u64) -> Result<(), StoreError> {
        let now = to_db_int(now_unix_secs, "time")?;
        let changed = self
            .conn
            .execute(
                "UPDATE leases SET heartbeat_unix_secs = ?4
                 WHERE job_id = ?1 AND owner_pid = ?2 AND owner_token = ?3",
                params![lease.job.0, lease.owner.pid, lease.owner.token, now],
            )
            .map_err(self.sql_error("renew a job's lease"))?;
        if changed == 0 {
            return Err(StoreError::LeaseLost {
                job: lease.job,
                pid: self.lease_holder(lease.job)?,
            });
        }
        lease.heartbeat_unix_secs = now_unix_secs;
        Ok(())
    }

    /// Gives the lease up; a lease already taken over by someone else is left to them.
    pub fn release_lease(&mut self, lease: Lease) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM leases WHERE job_id = ?1 AND owner_pid = ?2 AND owner_token = ?3",
                params![lease.job.0, lease.owner.pid, lease.owner.token],
            )
            .map_err(self.sql_error("release a job's lease"))?;
        Ok(())
    }

    /// The pid holding a job's lease, if any, however old its heartbeat.
    pub fn lease_holder(&self, job: JobId) -> Result<Option<u32>, StoreError> {
        let pid: Option<i64> = self
            .conn
            .query_row(
                "SELECT owner_pid FROM leases WHERE job_id = ?1",
                [job.0],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.sql_error("read a job's lease"))?;
        Ok(pid.and_then(|pid| u32::try_from(pid).ok()))
    }
}
