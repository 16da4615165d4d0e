//! Visits: committed with their outbox jobs in one transaction, stored as sealed JSON of
//! [`Visit`], found by id, by time (newest first) or by the keyed hash of the national ID, and
//! tracked against the 24-hour upload rule.

use super::outbox::insert_jobs;
use super::seal::{Place, Sealer};
use super::{Store, StoreError, StoreResult, audit};
use crate::model::{NationalId, Visit};
use crate::sync::deadline::upload_deadline_ms;
use crate::sync::job::{JobId, NewJob};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// Domain of the keyed hash of national IDs.
const NATIONAL_ID_DOMAIN: &str = "national_id";

/// Whether the visit's card upload was confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitState {
    /// Not yet confirmed by the NHI.
    Pending,
    /// The card upload job is done.
    Uploaded,
}

impl VisitState {
    fn parse(s: &str) -> Self {
        if s == "uploaded" {
            VisitState::Uploaded
        } else {
            VisitState::Pending
        }
    }
}

/// A visit as stored, with its bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVisit {
    /// The visit (opened from its sealed body).
    pub visit: Visit,
    /// Starts at 1; each edit adds one.
    pub version: i64,
    /// Upload state.
    pub state: VisitState,
    /// visited_at + 24 h, unix ms.
    pub upload_due_at_ms: i64,
    /// When the card upload was confirmed, unix ms.
    pub uploaded_at_ms: Option<i64>,
    /// First commit, unix ms.
    pub created_at_ms: i64,
    /// Last change, unix ms.
    pub updated_at_ms: i64,
}

/// What a commit wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The visit's id.
    pub visit_id: String,
    /// Its version after the commit.
    pub version: i64,
    /// The jobs enqueued with it.
    pub jobs: Vec<JobId>,
}

fn body_place(id: &str, version: i64) -> (String, &'static str) {
    (format!("{id}#v{version}"), "body")
}

pub(crate) fn seal_body(sealer: &Sealer, visit: &Visit, version: i64) -> StoreResult<Vec<u8>> {
    let json = serde_json::to_vec(visit)?;
    let (row, column) = body_place(&visit.id, version);
    sealer.seal(
        Place {
            table: "visits",
            row: &row,
            column,
        },
        &json,
    )
}

fn open_body(sealer: &Sealer, id: &str, version: i64, sealed: &[u8]) -> StoreResult<Visit> {
    let (row, column) = body_place(id, version);
    let json = sealer.open(
        Place {
            table: "visits",
            row: &row,
            column,
        },
        sealed,
    )?;
    let visit: Visit = serde_json::from_slice(&json)?;
    if visit.id != id {
        return Err(StoreError::Tampered { what: "visits" });
    }
    Ok(visit)
}

fn check_visit(visit: &Visit) -> StoreResult<()> {
    if visit.id.is_empty() {
        return Err(StoreError::Invalid("a visit needs an id"));
    }
    if visit.visit_code.is_empty() {
        return Err(StoreError::Invalid("a visit needs a visit identification code"));
    }
    Ok(())
}

/// Inserts a new visit and its jobs inside the caller's transaction.
fn insert_visit(
    conn: &Connection,
    sealer: &Sealer,
    visit: &Visit,
    jobs: &[NewJob],
    now: i64,
) -> StoreResult<Committed> {
    check_visit(visit)?;
    if jobs.is_empty() {
        return Err(StoreError::Invalid(
            "a visit is never stored without its outbox jobs",
        ));
    }
    let patient_key = sealer.index_hash(NATIONAL_ID_DOMAIN, visit.patient.national_id.expose());
    let visited_at = visit.visited_at.timestamp_millis();
    let body = seal_body(sealer, visit, 1)?;
    conn.prepare_cached(
        "INSERT INTO visits (id, visit_code, patient_key, visited_at, upload_due_at, state, version, body,
                             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 1, ?6, ?7, ?7)",
    )?
    .execute(params![
        visit.id,
        visit.visit_code,
        patient_key,
        visited_at,
        visited_at + upload_deadline_ms(visit.context.emergency.is_some()),
        body,
        now
    ])
    .map_err(|e| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict("a visit with this id already exists".into()),
        other => other,
    })?;
    let ids = insert_jobs(conn, sealer, jobs, Some((&visit.id, &patient_key, 1)), now)?;
    Ok(Committed {
        visit_id: visit.id.clone(),
        version: 1,
        jobs: ids,
    })
}

/// Replaces a stored visit's body with `visit` as a new version inside the caller's transaction;
/// with `expected_version`, refuses a stale edit. Returns the new version.
pub(crate) fn rewrite_body(
    conn: &Connection,
    sealer: &Sealer,
    visit: &Visit,
    expected_version: Option<i64>,
    now: i64,
) -> StoreResult<i64> {
    check_visit(visit)?;
    let (current, old_key): (i64, Vec<u8>) = conn
        .prepare_cached("SELECT version, patient_key FROM visits WHERE id = ?1")?
        .query_row([&visit.id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or(StoreError::NotFound { what: "visit" })?;
    if let Some(expected) = expected_version
        && expected != current
    {
        return Err(StoreError::Conflict(format!(
            "visit {} is at version {current}, not {expected}",
            visit.id
        )));
    }
    let version = current + 1;
    let patient_key = sealer.index_hash(NATIONAL_ID_DOMAIN, visit.patient.national_id.expose());
    let visited_at = visit.visited_at.timestamp_millis();
    let body = seal_body(sealer, visit, version)?;
    conn.prepare_cached(
        "UPDATE visits SET visit_code = ?2, patient_key = ?3, visited_at = ?4, upload_due_at = ?5, version = ?6,
                           body = ?7, updated_at = ?8
         WHERE id = ?1",
    )?
    .execute(params![
        visit.id,
        visit.visit_code,
        patient_key,
        visited_at,
        visited_at + upload_deadline_ms(visit.context.emergency.is_some()),
        version,
        body,
        now
    ])?;
    if old_key != patient_key {
        // The edit corrected the patient: the visit's jobs follow it into the new patient's order.
        conn.prepare_cached("UPDATE outbox SET patient_key = ?1 WHERE patient_key = ?2 AND visit_id = ?3")?
            .execute(params![patient_key, old_key, visit.id])?;
    }
    Ok(version)
}

const VISIT_COLUMNS: &str = "id, version, state, upload_due_at, uploaded_at, created_at, updated_at, body";

struct RawVisit {
    id: String,
    version: i64,
    state: String,
    upload_due_at: i64,
    uploaded_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    body: Vec<u8>,
}

fn raw_visit(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawVisit> {
    Ok(RawVisit {
        id: r.get(0)?,
        version: r.get(1)?,
        state: r.get(2)?,
        upload_due_at: r.get(3)?,
        uploaded_at: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
        body: r.get(7)?,
    })
}

impl RawVisit {
    fn open(self, sealer: &Sealer) -> StoreResult<StoredVisit> {
        Ok(StoredVisit {
            visit: open_body(sealer, &self.id, self.version, &self.body)?,
            version: self.version,
            state: VisitState::parse(&self.state),
            upload_due_at_ms: self.upload_due_at,
            uploaded_at_ms: self.uploaded_at,
            created_at_ms: self.created_at,
            updated_at_ms: self.updated_at,
        })
    }
}

impl Store {
    /// Commits a new visit together with its outbox jobs (at least one) in one durable
    /// transaction: both are stored, or neither.
    pub fn commit_visit(&self, visit: &Visit, jobs: &[NewJob]) -> StoreResult<Committed> {
        let now = self.now_ms();
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let committed = insert_visit(&tx, self.sealer(), visit, jobs, now)?;
        tx.commit()?;
        Ok(committed)
    }

    /// Commits many new visits with their jobs in one transaction (imports, bulk loads): all or
    /// none. Returns how many visits were written.
    pub fn commit_visits(&self, batch: &[(Visit, Vec<NewJob>)]) -> StoreResult<usize> {
        let now = self.now_ms();
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for (visit, jobs) in batch {
            insert_visit(&tx, self.sealer(), visit, jobs, now)?;
        }
        tx.commit()?;
        Ok(batch.len())
    }

    /// Imports a visit recovered from a moved-aside database (see [`super::recovery`]) with the
    /// jobs still owed for it, in one transaction. Idempotent by visit code: a visit whose code (or
    /// id) the store already holds is skipped (`false`). Without jobs the visit is imported as
    /// uploaded (its upload was done before the file broke).
    pub fn import_recovered_visit(&self, visit: &Visit, jobs: &[NewJob]) -> StoreResult<bool> {
        let now = self.now_ms();
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let known: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM visits WHERE visit_code = ?1 OR id = ?2)",
            params![visit.visit_code, visit.id],
            |r| r.get(0),
        )?;
        if known {
            return Ok(false);
        }
        if jobs.is_empty() {
            check_visit(visit)?;
            let patient_key = self
                .sealer()
                .index_hash(NATIONAL_ID_DOMAIN, visit.patient.national_id.expose());
            let visited_at = visit.visited_at.timestamp_millis();
            let body = seal_body(self.sealer(), visit, 1)?;
            tx.prepare_cached(
                "INSERT INTO visits (id, visit_code, patient_key, visited_at, upload_due_at, state, version,
                                     body, created_at, updated_at, uploaded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'uploaded', 1, ?6, ?7, ?7, ?7)",
            )?
            .execute(params![
                visit.id,
                visit.visit_code,
                patient_key,
                visited_at,
                visited_at + upload_deadline_ms(visit.context.emergency.is_some()),
                body,
                now
            ])?;
        } else {
            insert_visit(&tx, self.sealer(), visit, jobs, now)?;
        }
        audit::append(&tx, now, "visit_recovered", &visit.id, "")?;
        tx.commit()?;
        Ok(true)
    }

    /// Stores an edit of a visit as a new version (refused if the stored version is not
    /// `expected_version`) with the jobs that send it, in one transaction. Jobs of the visit that
    /// have not started sending (`queued`, `waiting_retry`) or were rejected are superseded; a job
    /// already `sending` keeps its frozen payload and the new jobs go after it.
    pub fn update_visit(
        &self,
        visit: &Visit,
        expected_version: i64,
        jobs: &[NewJob],
    ) -> StoreResult<Committed> {
        if jobs.is_empty() {
            return Err(StoreError::Invalid(
                "an edit of a visit needs the outbox jobs that send it",
            ));
        }
        let now = self.now_ms();
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let version = rewrite_body(&tx, self.sealer(), visit, Some(expected_version), now)?;
        let superseded = tx
            .prepare_cached(
                "UPDATE outbox SET state = 'superseded', updated_at = ?2
                 WHERE patient_key = (SELECT patient_key FROM visits WHERE id = ?1)
                   AND visit_id = ?1 AND state IN ('queued', 'waiting_retry', 'rejected')",
            )?
            .execute(params![visit.id, now])?;
        let patient_key: Vec<u8> = tx
            .prepare_cached("SELECT patient_key FROM visits WHERE id = ?1")?
            .query_row([&visit.id], |r| r.get(0))?;
        let ids = insert_jobs(
            &tx,
            self.sealer(),
            jobs,
            Some((&visit.id, &patient_key, version)),
            now,
        )?;
        audit::append(
            &tx,
            now,
            "visit_updated",
            &visit.id,
            &format!("version={version} superseded={superseded}"),
        )?;
        tx.commit()?;
        Ok(Committed {
            visit_id: visit.id.clone(),
            version,
            jobs: ids,
        })
    }

    /// One visit by local id.
    pub fn get_visit(&self, id: &str) -> StoreResult<StoredVisit> {
        let raw = {
            let conn = self.lock();
            conn.prepare_cached(&format!("SELECT {VISIT_COLUMNS} FROM visits WHERE id = ?1"))?
                .query_row([id], raw_visit)
                .optional()?
                .ok_or(StoreError::NotFound { what: "visit" })?
        };
        raw.open(self.sealer())
    }

    /// Visits newest first (by visit time), `limit` from `offset`.
    pub fn list_visits(&self, limit: u32, offset: u32) -> StoreResult<Vec<StoredVisit>> {
        let raws: Vec<RawVisit> = {
            let conn = self.lock();
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {VISIT_COLUMNS} FROM visits ORDER BY visited_at DESC, id DESC LIMIT ?1 OFFSET ?2"
            ))?;
            let rows = stmt.query_map([limit, offset], raw_visit)?;
            rows.collect::<Result<_, _>>()?
        };
        raws.into_iter().map(|r| r.open(self.sealer())).collect()
    }

    /// How many visits the store holds.
    pub fn count_visits(&self) -> StoreResult<u64> {
        let conn = self.lock();
        let n: i64 = conn.query_row("SELECT count(*) FROM visits", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// The visits of one patient, newest first, found by the keyed hash of the national ID (the
    /// clear ID is never stored). The lookup is audited.
    pub fn find_visits_by_national_id(&self, national_id: &NationalId) -> StoreResult<Vec<StoredVisit>> {
        let key = self.sealer().index_hash(NATIONAL_ID_DOMAIN, national_id.expose());
        let raws: Vec<RawVisit> = {
            let conn = self.lock();
            // Found through the outbox's per-patient index: every visit has a job carrying its
            // current patient key (migration 0003 dropped the visits' own patient index).
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {VISIT_COLUMNS} FROM (SELECT DISTINCT visit_id FROM outbox WHERE patient_key = ?1) j
                 CROSS JOIN visits v ON v.id = j.visit_id
                 WHERE v.patient_key = ?1 ORDER BY v.visited_at DESC, v.id DESC"
            ))?;
            let rows = stmt.query_map([key], raw_visit)?;
            let raws: Vec<RawVisit> = rows.collect::<Result<_, _>>()?;
            audit::append(
                &conn,
                self.now_ms(),
                "patient_lookup",
                "",
                &format!("results={}", raws.len()),
            )?;
            raws
        };
        raws.into_iter().map(|r| r.open(self.sealer())).collect()
    }
}
