//! Which process drives a job. The window and the CLI share the store and see each
//! other's jobs; a lease makes sure only one of them sends a job's files. The holder
//! renews it (a heartbeat); another process takes it over when the heartbeat is older
//! than the time to live or the holder's process is gone.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

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

/// A lease row as stored.
struct HeldLease {
    pid: i64,
    token: i64,
    heartbeat_unix_secs: i64,
}

impl HeldLease {
    fn is(&self, owner: LeaseOwner) -> bool {
        self.pid == i64::from(owner.pid) && self.token == owner.token
    }

    /// The holder's pid when it is another owner, alive, and renewed within `ttl`: a
    /// lease that may not be taken over.
    fn live_holder_other_than(&self, owner: LeaseOwner, now: i64, ttl: Duration) -> Option<u32> {
        if self.is(owner) {
            return None;
        }
        let holder = u32::try_from(self.pid).ok()?;
        let age_secs = now.saturating_sub(self.heartbeat_unix_secs).max(0) as u64;
        let silent = age_secs >= ttl.as_secs();
        (!silent && process_is_alive(holder)).then_some(holder)
    }
}

fn held_lease(conn: &Connection, job: JobId) -> rusqlite::Result<Option<HeldLease>> {
    conn.query_row(
        "SELECT owner_pid, owner_token, heartbeat_unix_secs FROM leases WHERE job_id = ?1",
        [job.0],
        |row| {
            Ok(HeldLease {
                pid: row.get(0)?,
                token: row.get(1)?,
                heartbeat_unix_secs: row.get(2)?,
            })
        },
    )
    .optional()
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
        let held = held_lease(&tx, job).map_err(error)?;
        let mut took_over_from = None;
        if let Some(held) = held {
            if let Some(pid) = held.live_holder_other_than(owner, now, ttl) {
                return Err(StoreError::LeaseHeld { job, pid });
            }
            if !held.is(owner) {
                // A pid that cannot be one was not written by a live process.
                took_over_from = Some(u32::try_from(held.pid).unwrap_or_default());
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

    /// The pid of another live process driving `job` (its heartbeat younger than `ttl`),
    /// read without taking anything: whom a job only shown here waits for.
    pub fn live_lease_holder(
        &self,
        job: JobId,
        owner: LeaseOwner,
        now_unix_secs: u64,
        ttl: Duration,
    ) -> Result<Option<u32>, StoreError> {
        let now = to_db_int(now_unix_secs, "time")?;
        let held = held_lease(&self.conn, job).map_err(self.sql_error("read a job's lease"))?;
        Ok(held.and_then(|held| held.live_holder_other_than(owner, now, ttl)))
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
