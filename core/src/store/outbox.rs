//! The outbox: every change that must reach the NHI services, written in the same transaction as
//! the record it carries, and the state machine the sync engine drives.
//!
//! States: `queued` → `sending` → `done` | `waiting_retry` (→ `sending` again once due) |
//! `rejected` (→ `queued` after [`Store::requeue_after_correction`]); `superseded` when an edit of
//! the visit replaced a job that had not started sending. Order: a job is ready only when no
//! earlier job of the same patient is still pending (`queued`, `sending`, `waiting_retry`), and its
//! `depends_on` job (if any) is `done`. A `rejected` job therefore blocks only the jobs that depend
//! on it, and a job blocked by a rejected dependency does not hold back the patient's later jobs.
//! Each transition is one transaction; [`Store::reset_sending_to_queued`] at start-up puts work
//! interrupted by a crash back in the queue (the idempotency key makes a resend safe).

use super::seal::{Place, Sealer};
use super::{Store, StoreError, StoreResult, audit};
use crate::model::Visit;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A job's id (UUIDv7 text). Create it with [`JobId::new`] before enqueueing so that another job in
/// the same commit can depend on it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// A fresh, time-ordered id.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
    /// Wraps an id read back from elsewhere (FFI, logs).
    pub fn from_string(id: impl Into<String>) -> Self {
        Self(id.into())
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobId({})", self.0)
    }
}

/// What a job sends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Card data upload (format 2.0) of a visit; its `done` marks the visit uploaded (24 h rule).
    CardUpload,
    /// Registration of a visit's prescription with the VPN.
    PrescriptionRegistration,
    /// Cancellation of a visit within 24 h (退掛).
    VisitCancel,
    /// Any other kind, by name (lower-case `[a-z0-9_]`).
    Other(String),
}

impl JobKind {
    /// The stored name.
    pub fn as_str(&self) -> &str {
        match self {
            JobKind::CardUpload => "card_upload",
            JobKind::PrescriptionRegistration => "rx_registration",
            JobKind::VisitCancel => "visit_cancel",
            JobKind::Other(name) => name,
        }
    }
    /// Parses a stored name.
    pub fn parse(name: &str) -> Self {
        match name {
            "card_upload" => JobKind::CardUpload,
            "rx_registration" => JobKind::PrescriptionRegistration,
            "visit_cancel" => JobKind::VisitCancel,
            other => JobKind::Other(other.to_string()),
        }
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting to be sent.
    Queued,
    /// Handed to the sync engine; its payload is frozen.
    Sending,
    /// The server confirmed it.
    Done,
    /// The server refused it (reason and field errors stored); needs a correction.
    Rejected,
    /// A transient failure; sent again at `next_attempt_at`.
    WaitingRetry,
    /// Replaced by a later edit of its visit before it was sent; never sent.
    Superseded,
}

impl JobState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Sending => "sending",
            JobState::Done => "done",
            JobState::Rejected => "rejected",
            JobState::WaitingRetry => "waiting_retry",
            JobState::Superseded => "superseded",
        }
    }
    fn parse(s: &str) -> StoreResult<Self> {
        Ok(match s {
            "queued" => JobState::Queued,
            "sending" => JobState::Sending,
            "done" => JobState::Done,
            "rejected" => JobState::Rejected,
            "waiting_retry" => JobState::WaitingRetry,
            "superseded" => JobState::Superseded,
            _ => return Err(StoreError::Sqlite("unknown job state in outbox".into())),
        })
    }
}

/// Which side a failure came from (the sync engine sorts every failure into one of these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobErrorKind {
    /// No route, timeout, dropped connection: retry with backoff.
    Network,
    /// The server failed (5xx, garbage body): retry with backoff.
    Server,
    /// The record itself was refused: park it until corrected.
    Record,
}

impl JobErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            JobErrorKind::Network => "network",
            JobErrorKind::Server => "server",
            JobErrorKind::Record => "record",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "network" => Some(JobErrorKind::Network),
            "server" => Some(JobErrorKind::Server),
            "record" => Some(JobErrorKind::Record),
            _ => None,
        }
    }
}

/// The last failure of a job. The message may quote the server, so it is sealed at rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    /// Which side failed.
    pub kind: JobErrorKind,
    /// What happened.
    pub message: String,
}

/// A server validation error on one field of a record (sealed at rest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field, e.g. `M13`.
    pub field: String,
    /// The server's reason.
    pub reason: String,
}

/// A job to enqueue.
#[derive(Clone)]
pub struct NewJob {
    /// Its id; another job of the same commit may depend on it.
    pub id: JobId,
    /// What it sends.
    pub kind: JobKind,
    /// Unique across the outbox; sent to the server so a retried upload is recorded once.
    pub idempotency_key: String,
    /// A job that must be `done` before this one may be sent.
    pub depends_on: Option<JobId>,
    /// What to send (sealed at rest).
    pub payload: Vec<u8>,
}

impl NewJob {
    /// A job with a fresh id and no dependency.
    pub fn new(kind: JobKind, idempotency_key: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            id: JobId::new(),
            kind,
            idempotency_key: idempotency_key.into(),
            depends_on: None,
            payload: payload.into(),
        }
    }
    /// The same job, sent only after `job` is done.
    pub fn after(mut self, job: &JobId) -> Self {
        self.depends_on = Some(job.clone());
        self
    }
}

impl fmt::Debug for NewJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewJob")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("depends_on", &self.depends_on)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// A job as stored.
#[derive(Clone, PartialEq)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// Global enqueue order.
    pub seq: i64,
    /// What it sends.
    pub kind: JobKind,
    /// Sent to the server so a retry is recorded once.
    pub idempotency_key: String,
    /// The visit it belongs to, if any.
    pub visit_id: Option<String>,
    /// The visit version its payload froze.
    pub visit_version: Option<i64>,
    /// Per-patient ordering key (hex of the keyed hash; not the ID), if the job has a patient.
    pub ordering_key: Option<String>,
    /// A job that must be done first.
    pub depends_on: Option<JobId>,
    /// Current state.
    pub state: JobState,
    /// How many times it was handed out for sending.
    pub attempts: u32,
    /// The last failure (retry or rejection).
    pub last_error: Option<JobError>,
    /// Per-field server errors of a rejection.
    pub field_errors: Vec<FieldError>,
    /// When a waiting job is due again, unix ms.
    pub next_attempt_at_ms: Option<i64>,
    /// Enqueue time, unix ms.
    pub created_at_ms: i64,
    /// Last transition, unix ms.
    pub updated_at_ms: i64,
    /// What to send.
    pub payload: Vec<u8>,
    /// The server's acknowledgement once done.
    pub server_ack: Option<String>,
    /// When the server confirmed it, unix ms.
    pub done_at_ms: Option<i64>,
    /// The visit's identification code (clear; the NHI key), if the job has a visit.
    pub visit_code: Option<String>,
    /// When the visit happened, unix ms (the 24-hour rule runs from here), if the job has a visit.
    pub visited_at_ms: Option<i64>,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("seq", &self.seq)
            .field("kind", &self.kind)
            .field("visit_id", &self.visit_id)
            .field("state", &self.state)
            .field("attempts", &self.attempts)
            .field("last_error_kind", &self.last_error.as_ref().map(|e| e.kind))
            .field("next_attempt_at_ms", &self.next_attempt_at_ms)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// How many jobs are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxCounts {
    /// Waiting to be sent.
    pub queued: u64,
    /// Being sent.
    pub sending: u64,
    /// Confirmed by the server.
    pub done: u64,
    /// Refused, awaiting correction.
    pub rejected: u64,
    /// Waiting for a retry.
    pub waiting_retry: u64,
    /// Replaced by a later edit.
    pub superseded: u64,
}

impl OutboxCounts {
    /// Jobs still to reach the server (queued + sending + waiting for retry).
    pub fn pending(&self) -> u64 {
        self.queued + self.sending + self.waiting_retry
    }
}

/// A correction of a rejected job: the job that replaces it (new id, new idempotency key, new
/// payload) and, if the correction changes the visit, the corrected visit (stored as a new version
/// in the same transaction; it must be the rejected job's visit).
#[derive(Debug, Clone)]
pub struct Correction {
    /// The corrected visit, if the correction changes it.
    pub visit: Option<Visit>,
    /// The job to send instead of the rejected one.
    pub job: NewJob,
}

/// The outcome of sending one job, recorded by [`Store::record_outcomes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server confirmed the job (see [`Store::mark_done`]).
    Done {
        /// The job.
        id: JobId,
        /// The server's acknowledgement.
        server_ack: String,
    },
    /// A transient failure (see [`Store::mark_retry`]).
    Retry {
        /// The job.
        id: JobId,
        /// What failed.
        error: JobError,
        /// When to try again, unix ms.
        next_attempt_at_ms: i64,
    },
    /// The server refused the record (see [`Store::mark_rejected`]).
    Rejected {
        /// The job.
        id: JobId,
        /// The server's reason.
        reason: String,
        /// Per-field errors.
        field_errors: Vec<FieldError>,
    },
}

fn place<'a>(job_id: &'a str, column: &'static str) -> Place<'a> {
    Place {
        table: "outbox",
        row: job_id,
        column,
    }
}

/// Inserts `jobs` inside the caller's transaction.
pub(crate) fn insert_jobs(
    conn: &Connection,
    sealer: &Sealer,
    jobs: &[NewJob],
    visit: Option<(&str, &[u8], i64)>,
    now_ms: i64,
) -> StoreResult<Vec<JobId>> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO outbox (id, kind, idempotency_key, visit_id, patient_key, depends_on, state,
                             attempts, created_at, updated_at, payload, visit_version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', 0, ?7, ?7, ?8, ?9)",
    )?;
    let mut ids = Vec::with_capacity(jobs.len());
    for job in jobs {
        if job.idempotency_key.is_empty() {
            return Err(StoreError::Invalid("a job needs an idempotency key"));
        }
        let sealed = sealer.seal(place(job.id.as_str(), "payload"), &job.payload)?;
        let (visit_id, patient_key, version) = match visit {
            Some((id, key, v)) => (Some(id), Some(key), Some(v)),
            None => (None, None, None),
        };
        stmt.execute(params![
            job.id.as_str(),
            job.kind.as_str(),
            job.idempotency_key,
            visit_id,
            patient_key,
            job.depends_on.as_ref().map(JobId::as_str),
            now_ms,
            sealed,
            version,
        ])
        .map_err(|e| match StoreError::from(e) {
            StoreError::Sqlite(m) if m.contains("FOREIGN KEY") => {
                StoreError::Conflict("depends_on names no job in the outbox".into())
            }
            other => other,
        })?;
        ids.push(job.id.clone());
    }
    Ok(ids)
}

/// Selects a job row with its visit's clear bookkeeping; append `WHERE …` on alias `o`.
const JOB_SELECT: &str = "SELECT o.seq, o.id, o.kind, o.idempotency_key, o.visit_id, o.visit_version, o.patient_key,
     o.depends_on, o.state, o.attempts, o.last_error_kind, o.last_error_message, o.field_errors, o.next_attempt_at,
     o.created_at, o.updated_at, o.payload, o.server_ack, v.visit_code, v.visited_at
     FROM outbox o LEFT JOIN visits v ON v.id = o.visit_id";

/// A job row before its sealed columns are opened.
struct RawJob {
    seq: i64,
    id: String,
    kind: String,
    idempotency_key: String,
    visit_id: Option<String>,
    visit_version: Option<i64>,
    patient_key: Option<Vec<u8>>,
    depends_on: Option<String>,
    state: String,
    attempts: u32,
    last_error_kind: Option<String>,
    last_error_message: Option<Vec<u8>>,
    field_errors: Option<Vec<u8>>,
    next_attempt_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    payload: Vec<u8>,
    server_ack: Option<Vec<u8>>,
    visit_code: Option<String>,
    visited_at: Option<i64>,
}

fn raw_job(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawJob> {
    Ok(RawJob {
        seq: r.get(0)?,
        id: r.get(1)?,
        kind: r.get(2)?,
        idempotency_key: r.get(3)?,
        visit_id: r.get(4)?,
        visit_version: r.get(5)?,
        patient_key: r.get(6)?,
        depends_on: r.get(7)?,
        state: r.get(8)?,
        attempts: r.get(9)?,
        last_error_kind: r.get(10)?,
        last_error_message: r.get(11)?,
        field_errors: r.get(12)?,
        next_attempt_at: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
        payload: r.get(16)?,
        server_ack: r.get(17)?,
        visit_code: r.get(18)?,
        visited_at: r.get(19)?,
    })
}

impl RawJob {
    fn open(self, sealer: &Sealer) -> StoreResult<Job> {
        let id = self.id.as_str();
        let last_error = match (
            self.last_error_kind.as_deref().and_then(JobErrorKind::parse),
            &self.last_error_message,
        ) {
            (Some(kind), Some(sealed)) => Some(JobError {
                kind,
                message: String::from_utf8_lossy(&sealer.open(place(id, "last_error_message"), sealed)?)
                    .into_owned(),
            }),
            _ => None,
        };
        let field_errors = match &self.field_errors {
            Some(sealed) => serde_json::from_slice(&sealer.open(place(id, "field_errors"), sealed)?)?,
            None => Vec::new(),
        };
        let server_ack = match &self.server_ack {
            Some(sealed) => {
                Some(String::from_utf8_lossy(&sealer.open(place(id, "server_ack"), sealed)?).into_owned())
            }
            None => None,
        };
        let payload = sealer.open(place(id, "payload"), &self.payload)?;
        let state = JobState::parse(&self.state)?;
        Ok(Job {
            done_at_ms: (state == JobState::Done).then_some(self.updated_at),
            visit_code: self.visit_code,
            visited_at_ms: self.visited_at,
            seq: self.seq,
            kind: JobKind::parse(&self.kind),
            idempotency_key: self.idempotency_key,
            visit_id: self.visit_id,
            visit_version: self.visit_version,
            ordering_key: self.patient_key.map(hex::encode),
            depends_on: self.depends_on.map(JobId),
            state,
            attempts: self.attempts,
            last_error,
            field_errors,
            next_attempt_at_ms: self.next_attempt_at,
            created_at_ms: self.created_at,
            updated_at_ms: self.updated_at,
            payload,
            server_ack,
            id: JobId(self.id),
        })
    }
}

/// The state of one job inside a transaction, or NotFound.
fn state_of(conn: &Connection, id: &JobId) -> StoreResult<JobState> {
    let s: Option<String> = conn
        .prepare_cached("SELECT state FROM outbox WHERE id = ?1")?
        .query_row([id.as_str()], |r| r.get(0))
        .optional()?;
    JobState::parse(&s.ok_or(StoreError::NotFound { what: "job" })?)
}

fn wrong_state(id: &JobId, found: JobState, wanted: &str) -> StoreError {
    StoreError::Conflict(format!("job {id} is {} (needs {wanted})", found.as_str()))
}

/// Applies one outcome inside the caller's transaction.
fn apply_outcome(conn: &Connection, sealer: &Sealer, outcome: &Outcome, now: i64) -> StoreResult<()> {
    match outcome {
        Outcome::Done { id, server_ack } => {
            match state_of(conn, id)? {
                JobState::Done => return Ok(()),
                JobState::Sending => {}
                other => return Err(wrong_state(id, other, "sending")),
            }
            let ack = sealer.seal(place(id.as_str(), "server_ack"), server_ack.as_bytes())?;
            conn.prepare_cached(
                "UPDATE outbox SET state = 'done', server_ack = ?2, next_attempt_at = NULL, updated_at = ?3
                 WHERE id = ?1",
            )?
            .execute(params![id.as_str(), ack, now])?;
            conn.prepare_cached(
                "UPDATE visits SET uploaded_at = ?2, state = 'uploaded', updated_at = ?2
                 WHERE uploaded_at IS NULL
                   AND id = (SELECT visit_id FROM outbox WHERE id = ?1 AND kind = 'card_upload')",
            )?
            .execute(params![id.as_str(), now])?;
        }
        Outcome::Retry {
            id,
            error,
            next_attempt_at_ms,
        } => {
            let state = state_of(conn, id)?;
            if state != JobState::Sending {
                return Err(wrong_state(id, state, "sending"));
            }
            let msg = sealer.seal(place(id.as_str(), "last_error_message"), error.message.as_bytes())?;
            conn.prepare_cached(
                "UPDATE outbox SET state = 'waiting_retry', last_error_kind = ?2, last_error_message = ?3,
                                   next_attempt_at = ?4, updated_at = ?5 WHERE id = ?1",
            )?
            .execute(params![
                id.as_str(),
                error.kind.as_str(),
                msg,
                next_attempt_at_ms,
                now
            ])?;
        }
        Outcome::Rejected {
            id,
            reason,
            field_errors,
        } => {
            let state = state_of(conn, id)?;
            if state != JobState::Sending {
                return Err(wrong_state(id, state, "sending"));
            }
            let msg = sealer.seal(place(id.as_str(), "last_error_message"), reason.as_bytes())?;
            let fields = sealer.seal(
                place(id.as_str(), "field_errors"),
                &serde_json::to_vec(field_errors)?,
            )?;
            conn.prepare_cached(
                "UPDATE outbox SET state = 'rejected', last_error_kind = 'record', last_error_message = ?2,
                                   field_errors = ?3, next_attempt_at = NULL, updated_at = ?4 WHERE id = ?1",
            )?
            .execute(params![id.as_str(), msg, fields, now])?;
            audit::append(
                conn,
                now,
                "job_rejected",
                id.as_str(),
                &format!("fields={}", field_errors.len()),
            )?;
        }
    }
    Ok(())
}

impl Store {
    /// Enqueues jobs in one transaction. With `visit_id`, they belong to that visit (and its
    /// patient's ordering); without, they are ordered only by `depends_on`.
    pub fn enqueue(&self, visit_id: Option<&str>, jobs: &[NewJob]) -> StoreResult<Vec<JobId>> {
        let now = self.now_ms();
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let visit = match visit_id {
            Some(id) => {
                let (key, version): (Vec<u8>, i64) = tx
                    .prepare_cached("SELECT patient_key, version FROM visits WHERE id = ?1")?
                    .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?
                    .ok_or(StoreError::NotFound { what: "visit" })?;
                Some((id, key, version))
            }
            None => None,
        };
        let ids = insert_jobs(
            &tx,
            self.sealer(),
            jobs,
            visit.as_ref().map(|(id, key, v)| (*id, key.as_slice(), *v)),
            now,
        )?;
        tx.commit()?;
        Ok(ids)
    }

    /// Up to `limit` jobs that may be sent at `now_ms`, oldest first: queued or due for retry,
    /// dependency done, and no earlier pending job of the same patient (see the module docs).
    pub fn ready_jobs(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<Job>> {
        let raws: Vec<RawJob> = {
            let conn = self.lock();
            let sql = format!(
                "{JOB_SELECT}
                 WHERE (o.state = 'queued' OR (o.state = 'waiting_retry' AND o.next_attempt_at <= ?1))
                   AND (o.depends_on IS NULL
                        OR EXISTS (SELECT 1 FROM outbox d WHERE d.id = o.depends_on AND d.state = 'done'))
                   AND (o.patient_key IS NULL OR NOT EXISTS (
                        SELECT 1 FROM outbox p
                        WHERE p.patient_key = o.patient_key
                          AND coalesce(p.order_seq, p.seq) < coalesce(o.order_seq, o.seq)
                          AND p.state IN ('queued', 'sending', 'waiting_retry')
                          AND NOT EXISTS (SELECT 1 FROM outbox pd WHERE pd.id = p.depends_on
                                          AND pd.state IN ('rejected', 'superseded'))))
                 ORDER BY o.seq LIMIT ?2"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![now_ms, limit], raw_job)?;
            rows.collect::<Result<_, _>>()?
        };
        raws.into_iter().map(|r| r.open(self.sealer())).collect()
    }

    /// Hands jobs to the sender: each must be `queued` or `waiting_retry`; all move to `sending`
    /// (attempts + 1) in one transaction, or none does. Their payloads are frozen from now on.
    pub fn mark_sending(&self, ids: &[JobId]) -> StoreResult<()> {
        let now = self.now_ms();
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for id in ids {
            let state = state_of(&tx, id)?;
            if !matches!(state, JobState::Queued | JobState::WaitingRetry) {
                return Err(wrong_state(id, state, "queued or waiting_retry"));
            }
            tx.prepare_cached(
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ?2 WHERE id = ?1",
            )?
            .execute(params![id.as_str(), now])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The server confirmed the job: `sending` → `done`, keeping its acknowledgement (sealed). A
    /// card upload also marks its visit uploaded. Marking a done job done again is a no-op.
    pub fn mark_done(&self, id: &JobId, server_ack: &str) -> StoreResult<()> {
        self.record_outcomes(&[Outcome::Done {
            id: id.clone(),
            server_ack: server_ack.to_string(),
        }])
    }

    /// A transient failure: `sending` → `waiting_retry`, due again at `next_attempt_at_ms`.
    pub fn mark_retry(&self, id: &JobId, error: &JobError, next_attempt_at_ms: i64) -> StoreResult<()> {
        self.record_outcomes(&[Outcome::Retry {
            id: id.clone(),
            error: error.clone(),
            next_attempt_at_ms,
        }])
    }

    /// The server refused the record: `sending` → `rejected`, with its reason and per-field errors
    /// (sealed). It blocks only the jobs that depend on it.
    pub fn mark_rejected(&self, id: &JobId, reason: &str, field_errors: &[FieldError]) -> StoreResult<()> {
        self.record_outcomes(&[Outcome::Rejected {
            id: id.clone(),
            reason: reason.to_string(),
            field_errors: field_errors.to_vec(),
        }])
    }

    /// Records the outcomes of a batch in one transaction: all of them, or (on any error, e.g. a
    /// job not `sending`) none.
    pub fn record_outcomes(&self, outcomes: &[Outcome]) -> StoreResult<()> {
        let now = self.now_ms();
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for outcome in outcomes {
            apply_outcome(&tx, self.sealer(), outcome, now)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Replaces a rejected job by its correction in one transaction: the rejected job is retired
    /// (`superseded`, kept for the record), the corrected visit (if any) is stored as a new version,
    /// and the correction's job is queued for the same visit. Returns the new job's id.
    pub fn requeue_after_correction(&self, rejected: &JobId, correction: Correction) -> StoreResult<JobId> {
        let now = self.now_ms();
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let state = state_of(&tx, rejected)?;
        if state != JobState::Rejected {
            return Err(wrong_state(rejected, state, "rejected"));
        }
        let job_visit: Option<String> = tx
            .prepare_cached("SELECT visit_id FROM outbox WHERE id = ?1")?
            .query_row([rejected.as_str()], |r| r.get(0))?;
        if let Some(visit) = &correction.visit {
            if job_visit.as_deref() != Some(visit.id.as_str()) {
                return Err(StoreError::Invalid(
                    "the corrected visit is not the rejected job's visit",
                ));
            }
            super::visits::rewrite_body(&tx, self.sealer(), visit, None, now)?;
        }
        tx.prepare_cached("UPDATE outbox SET state = 'superseded', updated_at = ?2 WHERE id = ?1")?
            .execute(params![rejected.as_str(), now])?;
        let visit = match &job_visit {
            Some(id) => Some(
                tx.prepare_cached("SELECT patient_key, version FROM visits WHERE id = ?1")?
                    .query_row([id], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))?,
            ),
            None => None,
        };
        let ids = insert_jobs(
            &tx,
            self.sealer(),
            std::slice::from_ref(&correction.job),
            match (&job_visit, &visit) {
                (Some(id), Some((key, v))) => Some((id.as_str(), key.as_slice(), *v)),
                _ => None,
            },
            now,
        )?;
        // The correction takes the rejected job's place in its patient's order (so it does not wait
        // behind later jobs that may depend on it).
        tx.prepare_cached(
            "UPDATE outbox SET order_seq = (SELECT coalesce(order_seq, seq) FROM outbox WHERE id = ?1)
             WHERE id = ?2",
        )?
        .execute(params![rejected.as_str(), correction.job.id.as_str()])?;
        // Jobs that waited for the rejected one now wait for its correction.
        tx.prepare_cached(
            "UPDATE outbox SET depends_on = ?2, updated_at = ?3 WHERE depends_on = ?1 AND state <> 'done'",
        )?
        .execute(params![rejected.as_str(), correction.job.id.as_str(), now])?;
        audit::append(
            &tx,
            now,
            "job_corrected",
            rejected.as_str(),
            correction.job.id.as_str(),
        )?;
        tx.commit()?;
        Ok(ids
            .into_iter()
            .next()
            .unwrap_or_else(|| correction.job.id.clone()))
    }

    /// "Send now": every job waiting for a retry becomes due immediately. Returns how many.
    pub fn retry_all_now(&self) -> StoreResult<usize> {
        let now = self.now_ms();
        let conn = self.lock();
        Ok(conn
            .prepare_cached("UPDATE outbox SET next_attempt_at = ?1 WHERE state = 'waiting_retry' AND next_attempt_at > ?1")?
            .execute([now])?)
    }

    /// At start-up: jobs left `sending` by a crash go back to `queued`. Returns how many.
    pub fn reset_sending_to_queued(&self) -> StoreResult<usize> {
        let now = self.now_ms();
        let conn = self.lock();
        Ok(conn
            .prepare_cached("UPDATE outbox SET state = 'queued', updated_at = ?1 WHERE state = 'sending'")?
            .execute([now])?)
    }

    /// How many jobs are in each state.
    pub fn outbox_counts(&self) -> StoreResult<OutboxCounts> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached("SELECT state, count(*) FROM outbox GROUP BY state")?;
        let mut counts = OutboxCounts::default();
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (state, n) = row?;
            let n = n as u64;
            match JobState::parse(&state)? {
                JobState::Queued => counts.queued = n,
                JobState::Sending => counts.sending = n,
                JobState::Done => counts.done = n,
                JobState::Rejected => counts.rejected = n,
                JobState::WaitingRetry => counts.waiting_retry = n,
                JobState::Superseded => counts.superseded = n,
            }
        }
        Ok(counts)
    }

    /// The earliest time a waiting job is due (for the engine's timer), if any.
    pub fn next_retry_at(&self) -> StoreResult<Option<i64>> {
        let conn = self.lock();
        Ok(conn
            .prepare_cached("SELECT min(next_attempt_at) FROM outbox WHERE state = 'waiting_retry'")?
            .query_row([], |r| r.get(0))?)
    }

    /// One job by id.
    pub fn get_job(&self, id: &JobId) -> StoreResult<Job> {
        let raw = {
            let conn = self.lock();
            conn.prepare_cached(&format!("{JOB_SELECT} WHERE o.id = ?1"))?
                .query_row([id.as_str()], raw_job)
                .optional()?
                .ok_or(StoreError::NotFound { what: "job" })?
        };
        raw.open(self.sealer())
    }

    /// The jobs of a visit, in enqueue order.
    pub fn jobs_for_visit(&self, visit_id: &str) -> StoreResult<Vec<Job>> {
        let raws: Vec<RawJob> = {
            let conn = self.lock();
            let mut stmt = conn.prepare_cached(&format!(
                // Through the patient index (a visit's jobs carry its patient key).
                "{JOB_SELECT} WHERE o.patient_key = (SELECT patient_key FROM visits WHERE id = ?1)
                   AND o.visit_id = ?1 ORDER BY o.seq"
            ))?;
            let rows = stmt.query_map([visit_id], raw_job)?;
            rows.collect::<Result<_, _>>()?
        };
        raws.into_iter().map(|r| r.open(self.sealer())).collect()
    }

    /// Every job not done and not superseded (queued, sending, waiting for retry, rejected), in
    /// enqueue order.
    pub fn unfinished_jobs(&self) -> StoreResult<Vec<Job>> {
        self.select_jobs(&format!(
            "{JOB_SELECT} WHERE o.state IN ('queued', 'sending', 'waiting_retry', 'rejected') ORDER BY o.seq"
        ), [])
    }

    /// Every job, in enqueue order (opens every payload: for reports and tests, not hot paths).
    pub fn all_jobs(&self) -> StoreResult<Vec<Job>> {
        self.select_jobs(&format!("{JOB_SELECT} ORDER BY o.seq"), [])
    }

    fn select_jobs(&self, sql: &str, params: impl rusqlite::Params) -> StoreResult<Vec<Job>> {
        let raws: Vec<RawJob> = {
            let conn = self.lock();
            let mut stmt = conn.prepare_cached(sql)?;
            let rows = stmt.query_map(params, raw_job)?;
            rows.collect::<Result<_, _>>()?
        };
        raws.into_iter().map(|r| r.open(self.sealer())).collect()
    }

    /// Up to `limit` jobs in `state`, oldest first (e.g. the rejected list shown to the user).
    pub fn jobs_in_state(&self, state: JobState, limit: u32) -> StoreResult<Vec<Job>> {
        let raws: Vec<RawJob> = {
            let conn = self.lock();
            let mut stmt = conn.prepare_cached(&format!(
                "{JOB_SELECT} WHERE o.state = ?1 ORDER BY o.seq LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![state.as_str(), limit], raw_job)?;
            rows.collect::<Result<_, _>>()?
        };
        raws.into_iter().map(|r| r.open(self.sealer())).collect()
    }
}
