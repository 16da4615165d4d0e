//! The device's applications at rest: each sealed as JSON in the store's kv (namespace
//! [`NAMESPACE`], key = the application id, a UUIDv7), plus the batch file serials per ROC month.
//! No table (no migration): a device holds a few hundred applications at most.
//!
//! **Submitting is the outbox job**, as for referrals: a version counts as submitted exactly when
//! its `hmic_submit` job is in the outbox; [`reconcile`] repairs a crash between the enqueue and
//! the sealed copy's update (never queues twice).

use super::model::{Application, CaseState};
use crate::store::{JobId, NewJob, Store, StoreError};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

/// The kv namespace of applications.
pub const NAMESPACE: &str = "hmic";
/// The kv namespace of batch serials (key: ROC `YYYMM`).
pub const SERIAL_NAMESPACE: &str = "hmic_batch_serial";

/// An application as the device keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCase {
    /// The application.
    pub application: Application,
    /// Another institution's case of the same team: shown, never changed.
    pub read_only: bool,
    /// The outbox job of its current submission, if queued.
    pub job_id: Option<String>,
}

/// Reads one application.
pub fn get(store: &Store, id: &str) -> Result<Option<StoredCase>, StoreError> {
    match store.kv_get(NAMESPACE, id)? {
        None => Ok(None),
        Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
    }
}

/// Writes (or replaces) one application.
pub fn put(store: &Store, c: &StoredCase) -> Result<(), StoreError> {
    store.kv_put(NAMESPACE, &c.application.id, &serde_json::to_vec(c)?)
}

/// Removes one application.
pub fn delete(store: &Store, id: &str) -> Result<bool, StoreError> {
    store.kv_delete(NAMESPACE, id)
}

/// Every application, oldest first.
pub fn all(store: &Store) -> Result<Vec<StoredCase>, StoreError> {
    let mut out = Vec::new();
    for key in store.kv_keys(NAMESPACE)? {
        if let Some(c) = get(store, &key)? {
            out.push(c);
        }
    }
    Ok(out)
}

/// The outbox job queued under `key`: (id, state name).
pub fn queued_job(store: &Store, key: &str) -> Result<Option<(JobId, String)>, StoreError> {
    let conn = store.lock();
    Ok(conn
        .prepare_cached("SELECT seq, state FROM outbox WHERE idempotency_key = ?1")?
        .query_row([key], |r| {
            Ok((r.get::<_, i64>(0)?.to_string(), r.get::<_, String>(1)?))
        })
        .optional()?)
}

/// Enqueues `job` unless its key is queued already; the queued job's id either way.
pub fn enqueue_once(store: &Store, job: NewJob) -> Result<JobId, StoreError> {
    if let Some((id, _)) = queued_job(store, &job.idempotency_key)? {
        return Ok(id);
    }
    let ids = store.enqueue(None, std::slice::from_ref(&job))?;
    ids.into_iter()
        .next()
        .ok_or(StoreError::Invalid("the outbox gave no id for the queued job"))
}

/// Brings the sealed copy in line with the outbox after a crash between enqueue and update: a
/// draft whose submission job is queued is submitted. Returns whether it changed.
pub fn reconcile(store: &Store, c: &mut StoredCase, today: chrono::NaiveDate) -> Result<bool, StoreError> {
    if c.application.state != CaseState::Draft {
        return Ok(false);
    }
    let Some((id, _)) = queued_job(store, &c.application.submission_key())? else {
        return Ok(false);
    };
    c.application.state = CaseState::Submitted;
    c.application.acceptance_date.get_or_insert(today);
    c.job_id = Some(id);
    put(store, c)?;
    Ok(true)
}

/// Reserves the next batch serial of ROC month `roc_year_month` on this device.
pub fn next_serial(store: &Store, roc_year_month: &str) -> Result<u32, StoreError> {
    let last = match store.kv_get(SERIAL_NAMESPACE, roc_year_month)? {
        None => 0,
        Some(b) => u32::from_be_bytes(
            b.as_slice()
                .try_into()
                .map_err(|_| StoreError::Invalid("a batch serial is not 4 bytes"))?,
        ),
    };
    let next = last + 1;
    store.kv_put(SERIAL_NAMESPACE, roc_year_month, &next.to_be_bytes())?;
    Ok(next)
}
