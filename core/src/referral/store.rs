//! The device's referrals at rest: each one sealed as JSON in the store's `kv` table (namespace
//! [`NAMESPACE`], key = a local UUIDv7; patient data never in clear), and the per-day serials
//! behind referral numbers. No table of its own (so no migration): a device holds at most a few
//! hundred referrals, which the queries filter after opening.
//!
//! **Sending is the outbox job.** A round counts as sent exactly when its `referral_submit` job
//! (idempotency key `referral:<number>:<count>`) is in the outbox: the enqueue is one transaction,
//! and the outbox's unique key makes a second enqueue of the same round impossible. The sealed
//! copy is updated after the enqueue; if the process dies between the two, [`reconcile`] finds the
//! job at the next read and marks the round sent (never queues it twice). Same for replies.

use super::model::Referral;
use super::query::Side;
use crate::store::{JobId, NewJob, Store, StoreError};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

/// The kv namespace of referrals.
pub const NAMESPACE: &str = "referral";
/// The kv namespace of the per-day serials (key: ROC date).
pub const SERIAL_NAMESPACE: &str = "referral_serial";

/// A referral as the device keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReferral {
    /// Local id (UUIDv7).
    pub id: String,
    /// Whether this institution opened it or received it.
    pub side: Side,
    /// The referral.
    pub referral: Referral,
}

/// Reads one referral.
pub fn get(store: &Store, id: &str) -> Result<Option<StoredReferral>, StoreError> {
    match store.kv_get(NAMESPACE, id)? {
        None => Ok(None),
        Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
    }
}

/// Writes (or replaces) one referral.
pub fn put(store: &Store, r: &StoredReferral) -> Result<(), StoreError> {
    store.kv_put(NAMESPACE, &r.id, &serde_json::to_vec(r)?)
}

/// Removes one referral.
pub fn delete(store: &Store, id: &str) -> Result<bool, StoreError> {
    store.kv_delete(NAMESPACE, id)
}

/// Every referral, oldest first (ids are UUIDv7).
pub fn all(store: &Store) -> Result<Vec<StoredReferral>, StoreError> {
    let mut out = Vec::new();
    for key in store.kv_keys(NAMESPACE)? {
        if let Some(r) = get(store, &key)? {
            out.push(r);
        }
    }
    Ok(out)
}

/// The outbox job queued under `key`: its id, creation time (Unix ms) and state name, if any.
pub fn queued_job(store: &Store, key: &str) -> Result<Option<(JobId, i64, String)>, StoreError> {
    let conn = store.lock();
    Ok(conn
        .prepare_cached("SELECT seq, created_at, state FROM outbox WHERE idempotency_key = ?1")?
        .query_row([key], |r| {
            Ok((
                r.get::<_, i64>(0)?.to_string(),
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .optional()?)
}

/// Enqueues `job` unless a job with its key is queued already; the queued job's id either way.
pub fn enqueue_once(store: &Store, job: NewJob) -> Result<JobId, StoreError> {
    if let Some((id, _, _)) = queued_job(store, &job.idempotency_key)? {
        return Ok(id);
    }
    let ids = store.enqueue(None, std::slice::from_ref(&job))?;
    ids.into_iter()
        .next()
        .ok_or(StoreError::Invalid("the outbox gave no id for the queued job"))
}

/// Brings the sealed copy in line with the outbox after a crash between enqueue and update: a
/// round whose job is queued is sent (at the job's time), a reply whose job is queued is replied.
/// Returns whether `r` changed (and was written back).
pub fn reconcile(store: &Store, r: &mut StoredReferral) -> Result<bool, StoreError> {
    let mut changed = false;
    if r.side == Side::Sent
        && r.referral.sent_at_ms.is_none()
        && let Some((_, at, _)) = queued_job(store, &r.referral.submission_key())?
    {
        r.referral.sent_at_ms = Some(at);
        changed = true;
    }
    let reply_key = r.referral.reply_key();
    if r.side == Side::Received
        && let Some(p) = r.referral.processing.as_mut()
        && p.replied_at_ms.is_none()
        && let Some((_, at, _)) = queued_job(store, &reply_key)?
    {
        p.replied_at_ms = Some(at);
        changed = true;
    }
    if changed {
        put(store, r)?;
    }
    Ok(changed)
}

/// Reserves the next serial of `roc_date` on this device (committed before any number is made
/// from it, so no number is made twice).
pub fn next_serial(store: &Store, roc_date: &str) -> Result<u32, StoreError> {
    let last = match store.kv_get(SERIAL_NAMESPACE, roc_date)? {
        None => 0,
        Some(b) => u32::from_be_bytes(
            b.as_slice()
                .try_into()
                .map_err(|_| StoreError::Invalid("a referral serial is not 4 bytes"))?,
        ),
    };
    let next = last + 1;
    store.kv_put(SERIAL_NAMESPACE, roc_date, &next.to_be_bytes())?;
    Ok(next)
}
