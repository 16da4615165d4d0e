//! The outbox as the store keeps it: every change that must reach the NHI services, written in the
//! same transaction as the record it carries, and the transitions the sync engine drives. The job
//! model (ids, kinds, states, counts, outcomes) is `crate::sync`'s, one for the store and the engine.
//!
//! A job's id is its integer key (`seq`, the row id, as text): no second index to keep per job.
//! Order: a job is ready only when no earlier job of the same patient is still pending (`queued`,
//! `sending`, `waiting_retry`), and its `depends_on` job (if any) is `done`. A `rejected` job
//! therefore blocks only the jobs that depend on it, and a job blocked by a rejected dependency does
//! not hold back the patient's later jobs. Each transition is one transaction;
//! [`Store::reset_sending_to_queued`] at start-up puts work interrupted by a crash back in the queue
//! (the idempotency key makes a resend safe).

use super::seal::{Place, Sealer};
use super::{Store, StoreError, StoreResult, audit};
use crate::model::Visit;
use crate::sync::deadline::{self, DeadlineEntry, DeadlineReport, DeadlineStatus};
use crate::sync::job::{
    FieldError, Job, JobId, JobKind, JobState, JobUpdate, NewJob, OutboxCounts, Rejection,
};
use crate::sync::target::FailureClass;
use rusqlite::{Connection, OptionalExtension, params};

/// A correction of a rejected job: the job that replaces it (new idempotency key, new payload) and,
/// if the correction changes the visit, the corrected visit (stored as a new version in the same
/// transaction; it must be the rejected job's visit).
#[derive(Debug, Clone)]
pub struct Correction {
    /// The corrected visit, if the correction changes it.
    pub visit: Option<Visit>,
    /// The job to send instead of the rejected one.
    pub job: NewJob,
}

/// The visit identification code (M15) inside a frozen 2.0 record, if there is one. Big5 never
/// uses `<` as a trail byte, so the ASCII search cannot match inside a Chinese character.
pub fn visit_code_of_record(record: &[u8]) -> Option<String> {
    let open = b"<M15>";
    let start = record.windows(open.len()).position(|w| w == open)? + open.len();
    let len = record[start..].iter().position(|&b| b == b'<')?;
    let code = &record[start..start + len];
    (code.len() == 20 && code.iter().all(u8::is_ascii_alphanumeric))
        .then(|| String::from_utf8_lossy(code).into_owned())
}

/// The integer key behind a job id; an id that is not one names no job.
fn key_of(id: &str) -> StoreResult<i64> {
    id.parse::<i64>()
        .map_err(|_| StoreError::NotFound { what: "job" })
}

fn place<'a>(row: &'a str, column: &'static str) -> Place<'a> {
    Place {
        table: "outbox",
        row,
        column,
    }
}

fn class_name(c: FailureClass) -> &'static str {
    match c {
        FailureClass::Network => "network",
        FailureClass::Server => "server",
        FailureClass::Record => "record",
    }
}

fn parse_class(s: &str) -> Option<FailureClass> {
    match s {
        "network" => Some(FailureClass::Network),
        "server" => Some(FailureClass::Server),
        "record" => Some(FailureClass::Record),
        _ => None,
    }
}

/// Inserts `jobs` inside the caller's transaction. A job's `depends_on` names a stored job or an
/// earlier job of `jobs` (by its placeholder id). Returns the stored ids, in order.
pub(crate) fn insert_jobs(
    conn: &Connection,
    sealer: &Sealer,
    jobs: &[NewJob],
    visit: Option<(&str, &[u8], i64)>,
    now_ms: i64,
) -> StoreResult<Vec<JobId>> {
    // No row is ever deleted, so max + 1 is the next row id; the payload is sealed under it.
    let first: i64 = conn
        .prepare_cached("SELECT coalesce(max(seq), 0) + 1 FROM outbox")?
        .query_row([], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO outbox (seq, kind, idempotency_key, visit_id, patient_key, depends_on, state,
                             attempts, created_at, updated_at, payload, visit_version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', 0, ?7, ?7, ?8, ?9)",
    )?;
    let mut assigned: Vec<(&str, i64)> = Vec::with_capacity(jobs.len());
    let mut ids = Vec::with_capacity(jobs.len());
    for (seq, job) in (first..).zip(jobs) {
        if job.idempotency_key.is_empty() {
            return Err(StoreError::Invalid("a job needs an idempotency key"));
        }
        let row = seq.to_string();
        let depends_on = match job.depends_on.as_deref() {
            None => None,
            Some(dep) => Some(match assigned.iter().find(|(p, _)| *p == dep) {
                Some((_, s)) => *s,
                None => dep
                    .parse::<i64>()
                    .map_err(|_| StoreError::Conflict("depends_on names no job in the outbox".into()))?,
            }),
        };
        let sealed = sealer.seal(place(&row, "payload"), &job.payload)?;
        let (visit_id, patient_key, version) = match visit {
            Some((id, key, v)) => (Some(id), Some(key), Some(v)),
            None => (None, None, None),
        };
        stmt.execute(params![
            seq,
            job.kind.as_str(),
            job.idempotency_key,
            visit_id,
            patient_key,
            depends_on,
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
        assigned.push((job.id.as_str(), seq));
        ids.push(row);
    }
    Ok(ids)
}

/// Selects a job row with its visit's clear bookkeeping; append `WHERE …` on alias `o`.
const JOB_SELECT: &str = "SELECT o.seq, o.seal_id, o.kind, o.idempotency_key, o.visit_id, o.visit_version,
     o.patient_key, o.depends_on, o.state, o.attempts, o.last_error_kind, o.last_error_message, o.field_errors,
     o.next_attempt_at, o.created_at, o.updated_at, o.payload, o.server_ack, v.visit_code, v.visited_at
     FROM outbox o LEFT JOIN visits v ON v.id = o.visit_id";

/// A job row before its sealed columns are opened.
struct RawJob {
    seq: i64,
    seal_id: Option<String>,
    kind: String,
    idempotency_key: String,
    visit_id: Option<String>,
    visit_version: Option<i64>,
    patient_key: Option<Vec<u8>>,
    depends_on: Option<i64>,
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
        seal_id: r.get(1)?,
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
        let id = self.seq.to_string();
        // A job of a store from before integer job keys stays sealed under its old UUID.
        let row = self.seal_id.as_deref().unwrap_or(&id);
        let open_text = |column: &'static str, sealed: &Option<Vec<u8>>| -> StoreResult<Option<String>> {
            match sealed {
                Some(s) => Ok(Some(
                    String::from_utf8_lossy(&sealer.open(place(row, column), s)?).into_owned(),
                )),
                None => Ok(None),
            }
        };
        let last_error = open_text("last_error_message", &self.last_error_message)?;
        let server_ack = open_text("server_ack", &self.server_ack)?;
        let payload = sealer.open(place(row, "payload"), &self.payload)?;
        let state = match self.state.as_str() {
            "queued" => JobState::Queued,
            "sending" => JobState::Sending,
            "done" => JobState::Done,
            "rejected" => JobState::Rejected(Rejection {
                reason: last_error.clone().unwrap_or_default(),
                fields: match &self.field_errors {
                    Some(sealed) => {
                        serde_json::from_slice(&sealer.open(place(row, "field_errors"), sealed)?)?
                    }
                    None => Vec::new(),
                },
            }),
            "waiting_retry" => JobState::WaitingRetry {
                next_at_ms: self.next_attempt_at.unwrap_or(self.updated_at),
            },
            "superseded" => JobState::Superseded,
            _ => return Err(StoreError::Sqlite("unknown job state in outbox".into())),
        };
        let kind = JobKind::parse(&self.kind);
        // A card upload carries its code in the frozen record (M15); any other job of a visit takes
        // the visit's code.
        let stored_code = self.visit_code.unwrap_or_default();
        let visit_code = if kind == JobKind::CardUpload {
            visit_code_of_record(&payload).unwrap_or(stored_code)
        } else {
            stored_code
        };
        Ok(Job {
            done_at_ms: (state == JobState::Done).then_some(self.updated_at),
            visit_code,
            visited_at_ms: self.visited_at,
            seq: self.seq,
            kind,
            idempotency_key: self.idempotency_key,
            visit_id: self.visit_id,
            visit_version: self.visit_version,
            ordering_key: self.patient_key.map(hex::encode),
            depends_on: self.depends_on.map(|d| d.to_string()),
            state,
            attempts: self.attempts,
            last_error,
            last_error_class: self.last_error_kind.as_deref().and_then(parse_class),
            created_at_ms: self.created_at,
            updated_at_ms: self.updated_at,
            payload,
            server_ack,
            abnormal_reason: None,
            id,
        })
    }
}

/// The state name and sealing row of one job inside a transaction, or NotFound.
fn state_of(conn: &Connection, id: &str) -> StoreResult<(String, String)> {
    let key = key_of(id)?;
    let (state, seal_id): (String, Option<String>) = conn
        .prepare_cached("SELECT state, seal_id FROM outbox WHERE seq = ?1")?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or(StoreError::NotFound { what: "job" })?;
    Ok((state, seal_id.unwrap_or_else(|| key.to_string())))
}

fn wrong_state(id: &str, found: &str, wanted: &str) -> StoreError {
    StoreError::Conflict(format!("job {id} is {found} (needs {wanted})"))
}

/// Applies one outcome inside the caller's transaction (the store's clock stamps it).
fn apply_update(conn: &Connection, sealer: &Sealer, update: &JobUpdate, now: i64) -> StoreResult<()> {
    let id = update.id().as_str();
    let (state, row) = state_of(conn, id)?;
    let key = key_of(id)?;
    match update {
        JobUpdate::Done { ack, .. } => {
            match state.as_str() {
                "done" => return Ok(()),
                "sending" => {}
                other => return Err(wrong_state(id, other, "sending")),
            }
            let ack = sealer.seal(place(&row, "server_ack"), ack.as_bytes())?;
            conn.prepare_cached(
                "UPDATE outbox SET state = 'done', server_ack = ?2, next_attempt_at = NULL, updated_at = ?3
                 WHERE seq = ?1",
            )?
            .execute(params![key, ack, now])?;
            conn.prepare_cached(
                "UPDATE visits SET uploaded_at = ?2, state = 'uploaded', updated_at = ?2
                 WHERE uploaded_at IS NULL
                   AND id = (SELECT visit_id FROM outbox WHERE seq = ?1 AND kind = 'card_upload')",
            )?
            .execute(params![key, now])?;
        }
        JobUpdate::Retry {
            next_at_ms,
            class,
            error,
            ..
        } => {
            if state != "sending" {
                return Err(wrong_state(id, &state, "sending"));
            }
            let msg = sealer.seal(place(&row, "last_error_message"), error.as_bytes())?;
            conn.prepare_cached(
                "UPDATE outbox SET state = 'waiting_retry', last_error_kind = ?2, last_error_message = ?3,
                                   next_attempt_at = ?4, updated_at = ?5 WHERE seq = ?1",
            )?
            .execute(params![key, class_name(*class), msg, next_at_ms, now])?;
        }
        JobUpdate::Rejected { rejection, .. } => {
            if state != "sending" {
                return Err(wrong_state(id, &state, "sending"));
            }
            let msg = sealer.seal(place(&row, "last_error_message"), rejection.reason.as_bytes())?;
            let fields = sealer.seal(
                place(&row, "field_errors"),
                &serde_json::to_vec(&rejection.fields)?,
            )?;
            conn.prepare_cached(
                "UPDATE outbox SET state = 'rejected', last_error_kind = 'record', last_error_message = ?2,
                                   field_errors = ?3, next_attempt_at = NULL, updated_at = ?4 WHERE seq = ?1",
            )?
            .execute(params![key, msg, fields, now])?;
            audit::append(
                conn,
                now,
                "job_rejected",
                id,
                &format!("fields={}", rejection.fields.len()),
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
        self.select_jobs(
            &format!(
                "{JOB_SELECT}
                 WHERE (o.state = 'queued' OR (o.state = 'waiting_retry' AND o.next_attempt_at <= ?1))
                   AND (o.depends_on IS NULL
                        OR EXISTS (SELECT 1 FROM outbox d WHERE d.seq = o.depends_on AND d.state = 'done'))
                   AND (o.patient_key IS NULL OR NOT EXISTS (
                        SELECT 1 FROM outbox p
                        WHERE p.patient_key = o.patient_key
                          AND coalesce(p.order_seq, p.seq) < coalesce(o.order_seq, o.seq)
                          AND p.state IN ('queued', 'sending', 'waiting_retry')
                          AND NOT EXISTS (SELECT 1 FROM outbox pd WHERE pd.seq = p.depends_on
                                          AND pd.state IN ('rejected', 'superseded'))))
                 ORDER BY o.seq LIMIT ?2"
            ),
            params![now_ms, limit],
        )
    }

    /// Hands jobs to the sender: each must be `queued` or `waiting_retry`; all move to `sending`
    /// (attempts + 1) in one transaction, or none does. Their payloads are frozen from now on.
    pub fn mark_sending(&self, ids: &[JobId]) -> StoreResult<()> {
        let now = self.now_ms();
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for id in ids {
            let (state, _) = state_of(&tx, id)?;
            if !matches!(state.as_str(), "queued" | "waiting_retry") {
                return Err(wrong_state(id, &state, "queued or waiting_retry"));
            }
            tx.prepare_cached(
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1, updated_at = ?2 WHERE seq = ?1",
            )?
            .execute(params![key_of(id)?, now])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The server confirmed the job: `sending` → `done`, keeping its acknowledgement (sealed). A
    /// card upload also marks its visit uploaded. Marking a done job done again is a no-op.
    pub fn mark_done(&self, id: &JobId, server_ack: &str) -> StoreResult<()> {
        self.record_outcomes(&[JobUpdate::Done {
            id: id.clone(),
            at_ms: self.now_ms(),
            ack: server_ack.to_string(),
        }])
    }

    /// A transient failure: `sending` → `waiting_retry`, due again at `next_attempt_at_ms`.
    pub fn mark_retry(
        &self,
        id: &JobId,
        class: FailureClass,
        error: &str,
        next_attempt_at_ms: i64,
    ) -> StoreResult<()> {
        self.record_outcomes(&[JobUpdate::Retry {
            id: id.clone(),
            next_at_ms: next_attempt_at_ms,
            class,
            error: error.to_string(),
        }])
    }

    /// The server refused the record: `sending` → `rejected`, with its reason and per-field errors
    /// (sealed). It blocks only the jobs that depend on it.
    pub fn mark_rejected(&self, id: &JobId, reason: &str, field_errors: &[FieldError]) -> StoreResult<()> {
        self.record_outcomes(&[JobUpdate::Rejected {
            id: id.clone(),
            rejection: Rejection {
                reason: reason.to_string(),
                fields: field_errors.to_vec(),
            },
        }])
    }

    /// Records the outcomes of a batch in one transaction: all of them, or (on any error, e.g. a
    /// job not `sending`) none. Times are the store clock's.
    pub fn record_outcomes(&self, updates: &[JobUpdate]) -> StoreResult<()> {
        let now = self.now_ms();
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for update in updates {
            apply_update(&tx, self.sealer(), update, now)?;
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
        let (state, _) = state_of(&tx, rejected)?;
        if state != "rejected" {
            return Err(wrong_state(rejected, &state, "rejected"));
        }
        let key = key_of(rejected)?;
        let job_visit: Option<String> = tx
            .prepare_cached("SELECT visit_id FROM outbox WHERE seq = ?1")?
            .query_row([key], |r| r.get(0))?;
        if let Some(visit) = &correction.visit {
            if job_visit.as_deref() != Some(visit.id.as_str()) {
                return Err(StoreError::Invalid(
                    "the corrected visit is not the rejected job's visit",
                ));
            }
            super::visits::rewrite_body(&tx, self.sealer(), visit, None, now)?;
        }
        tx.prepare_cached("UPDATE outbox SET state = 'superseded', updated_at = ?2 WHERE seq = ?1")?
            .execute(params![key, now])?;
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
                (Some(id), Some((k, v))) => Some((id.as_str(), k.as_slice(), *v)),
                _ => None,
            },
            now,
        )?;
        let new_id = ids
            .into_iter()
            .next()
            .ok_or(StoreError::Invalid("a correction needs its job"))?;
        let new_key = key_of(&new_id)?;
        // The correction takes the rejected job's place in its patient's order (so it does not wait
        // behind later jobs that may depend on it).
        tx.prepare_cached(
            "UPDATE outbox SET order_seq = (SELECT coalesce(order_seq, seq) FROM outbox WHERE seq = ?1)
             WHERE seq = ?2",
        )?
        .execute(params![key, new_key])?;
        // Jobs that waited for the rejected one now wait for its correction.
        tx.prepare_cached(
            "UPDATE outbox SET depends_on = ?2, updated_at = ?3 WHERE depends_on = ?1 AND state <> 'done'",
        )?
        .execute(params![key, new_key, now])?;
        audit::append(&tx, now, "job_corrected", rejected, &new_id)?;
        tx.commit()?;
        Ok(new_id)
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
            counts.add(&state, usize::try_from(n).unwrap_or(0));
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

    /// The earliest retry time later than `now_ms` among waiting jobs.
    pub fn next_retry_after(&self, now_ms: i64) -> StoreResult<Option<i64>> {
        let conn = self.lock();
        Ok(conn
            .prepare_cached(
                "SELECT min(next_attempt_at) FROM outbox WHERE state = 'waiting_retry' AND next_attempt_at > ?1",
            )?
            .query_row([now_ms], |r| r.get(0))?)
    }

    /// One job by id.
    pub fn get_job(&self, id: &JobId) -> StoreResult<Job> {
        let key = key_of(id)?;
        let raw = {
            let conn = self.lock();
            conn.prepare_cached(&format!("{JOB_SELECT} WHERE o.seq = ?1"))?
                .query_row([key], raw_job)
                .optional()?
                .ok_or(StoreError::NotFound { what: "job" })?
        };
        raw.open(self.sealer())
    }

    /// The jobs of a visit, in enqueue order.
    pub fn jobs_for_visit(&self, visit_id: &str) -> StoreResult<Vec<Job>> {
        // Through the patient index (a visit's jobs carry its patient key).
        self.select_jobs(
            &format!(
                "{JOB_SELECT} WHERE o.patient_key = (SELECT patient_key FROM visits WHERE id = ?1)
                   AND o.visit_id = ?1 ORDER BY o.seq"
            ),
            [visit_id],
        )
    }

    /// Every job not done and not superseded (queued, sending, waiting for retry, rejected), in
    /// enqueue order.
    pub fn unfinished_jobs(&self) -> StoreResult<Vec<Job>> {
        self.select_jobs(
            &format!(
                "{JOB_SELECT} WHERE o.state IN ('queued', 'sending', 'waiting_retry', 'rejected') ORDER BY o.seq"
            ),
            [],
        )
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

    /// Up to `limit` jobs in the state `state` (whatever data it carries: `JobState::Queued`,
    /// `JobState::Rejected(Default::default())`, …), oldest first.
    pub fn jobs_in_state(&self, state: JobState, limit: u32) -> StoreResult<Vec<Job>> {
        self.select_jobs(
            &format!("{JOB_SELECT} WHERE o.state = ?1 ORDER BY o.seq LIMIT ?2"),
            params![state.name(), limit],
        )
    }

    /// Up to `limit` rejected jobs, oldest first, with the server's reasons (the list shown to the
    /// user).
    pub fn rejected_jobs(&self, limit: u32) -> StoreResult<Vec<Job>> {
        self.jobs_in_state(JobState::Rejected(Rejection::default()), limit)
    }

    /// Visits not uploaded and due within `window_ms` of `now_ms`, and visits that missed the
    /// upload deadline (`deadline_ms` after the visit: past due and not uploaded, or uploaded late),
    /// each with its least advanced job, its last failure and why it was abnormal. Candidates come
    /// from the visits' time index; [`deadline::status`] decides.
    pub fn upload_deadlines(
        &self,
        now_ms: i64,
        deadline_ms: i64,
        window_ms: i64,
    ) -> StoreResult<DeadlineReport> {
        struct Candidate {
            visit_id: String,
            visit_code: String,
            visited_at_ms: i64,
            uploaded_at_ms: Option<i64>,
        }
        let candidates: Vec<Candidate> = {
            let conn = self.lock();
            let read = |r: &rusqlite::Row<'_>| {
                Ok(Candidate {
                    visit_id: r.get(0)?,
                    visit_code: r.get(1)?,
                    visited_at_ms: r.get(2)?,
                    uploaded_at_ms: r.get(3)?,
                })
            };
            // Not uploaded and visited before now - deadline + window (at risk or missed), or
            // uploaded after its deadline; both from visits_by_time (visited_at, id, uploaded_at).
            let horizon = now_ms.saturating_sub(deadline_ms).saturating_add(window_ms);
            conn.prepare_cached(
                "SELECT id, visit_code, visited_at, uploaded_at FROM visits INDEXED BY visits_by_time
                 WHERE (uploaded_at IS NULL AND visited_at <= ?1) OR uploaded_at > visited_at + ?2
                 ORDER BY visited_at, id",
            )?
            .query_map([horizon, deadline_ms], read)?
            .collect::<Result<_, _>>()?
        };
        let mut report = DeadlineReport::default();
        for c in candidates {
            let due_at_ms = c.visited_at_ms.saturating_add(deadline_ms);
            let Some(status) = deadline::status(due_at_ms, c.uploaded_at_ms, now_ms, window_ms) else {
                continue;
            };
            let jobs = self.jobs_for_visit(&c.visit_id)?;
            let worst = jobs
                .iter()
                .filter(|j| j.state != JobState::Superseded)
                .min_by_key(|j| j.state.rank());
            let abnormal_reason = self.get_visit(&c.visit_id)?.visit.abnormal_reason;
            let entry = DeadlineEntry {
                visit_id: c.visit_id,
                visit_code: c.visit_code,
                visited_at_ms: c.visited_at_ms,
                due_at_ms,
                uploaded_at_ms: c.uploaded_at_ms,
                status,
                state: worst.map(|j| j.state.name()).unwrap_or("done").to_string(),
                abnormal_reason,
                last_error: jobs.iter().rev().find_map(|j| j.last_error.clone()),
            };
            match status {
                DeadlineStatus::AtRisk => report.at_risk.push(entry),
                DeadlineStatus::Missed => report.missed.push(entry),
            }
        }
        Ok(report)
    }
}
