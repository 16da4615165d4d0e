//! The NHI's HMIC case service (居家醫療照護整合計畫): the authority over case applications. Every
//! decision is a call into `homevisit_core::rules::hmic`, the functions the device runs, and the
//! refusals carry the same rule codes and field names; the fixed vectors run against this module.
//!
//! Device routes (signed): `POST /hmic/applications` (submit a version), `/hmic/applications/close`,
//! `/hmic/applications/sync` (the institution's applications), `/hmic/enrolment` (the
//! duplicate-enrolment check), `/hmic/query` (by application date range, own team only),
//! `/hmic/batch` (the batch XML file: name never repeated, one bad record rejects the file).
//! Admin routes (header `x-admin-token`): `GET /admin/hmic/applications` (no patient data),
//! `POST /admin/hmic/applications/{id}/reopen` (modifiable for 3 days by the service's clock),
//! `POST /admin/hmic/clock` `{advance_ms}` (moves the service's clock), `POST /admin/hmic/enrolments`
//! (registers another service's enrolment). The registry is seeded with [`SEEDED_NURSING_ID`]
//! (general home nursing, open) and [`SEEDED_CLOSED_ID`] (respiratory home care, closed).

#[cfg(test)]
mod tests;

use crate::{ApiError, ApiResult, Device, SimState, check_admin, json_body};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use homevisit_core::hmic::model::{Application, ApplicationType, CaseState, Closing, ClosingReason};
use homevisit_core::hmic::wire::{
    self, Ack, BatchAck, BatchRequest, CheckRequest, CheckResponse, CloseRequest, QueryRequest, QueryRow,
    SubmitRequest,
};
use homevisit_core::model::roc::RocDateTime;
use homevisit_core::rules::hmic::enrolment::{self, Enrolment, Service, Verdict};
use homevisit_core::rules::hmic::{self as rules, Violation, application_type, closing, state};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A patient enrolled by general home nursing, not closed (seeded).
pub const SEEDED_NURSING_ID: &str = "B123456780";
/// A patient whose respiratory home care is closed (seeded; free to enrol).
pub const SEEDED_CLOSED_ID: &str = "C223456783";
/// The seeded patients' birth date.
pub const SEEDED_BIRTH: (i32, u32, u32) = (1938, 3, 4);

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS hmic_applications (
    id TEXT PRIMARY KEY, institution TEXT NOT NULL, care_team TEXT NOT NULL, version INTEGER NOT NULL,
    application_date TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS hmic_enrolments (
    national_id TEXT NOT NULL, birth_date TEXT NOT NULL, service TEXT NOT NULL, institution TEXT NOT NULL,
    closed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS hmic_batches (file_name TEXT PRIMARY KEY, institution TEXT NOT NULL, records INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hmic_receipts (id TEXT NOT NULL, version INTEGER NOT NULL, kind TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hmic_clock (id INTEGER PRIMARY KEY CHECK (id = 1), offset_ms INTEGER NOT NULL);";

/// The service's refusal of a broken rule: 422 with the rule's code and field.
pub fn refusal(v: Violation) -> ApiError {
    let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, v.code(), v.to_string());
    e.1.field = v.field().map(str::to_string);
    e
}

fn schema(conn: &Connection) -> ApiResult<()> {
    conn.execute_batch(SCHEMA)?;
    let seeded: i64 = conn.query_row("SELECT count(*) FROM hmic_enrolments", [], |r| r.get(0))?;
    if seeded == 0 {
        let birth = birth_text();
        conn.execute(
            "INSERT INTO hmic_enrolments VALUES (?1, ?2, 'general_home_nursing', '1101010011', 0),
                                                (?3, ?2, 'respiratory_home_care', '1101010011', 1)",
            params![SEEDED_NURSING_ID, birth, SEEDED_CLOSED_ID],
        )?;
    }
    Ok(())
}

fn birth_text() -> String {
    let (y, m, d) = SEEDED_BIRTH;
    format!("{y:04}-{m:02}-{d:02}")
}

/// The service's clock: the simulator's plus the offset moved by `POST /admin/hmic/clock`.
pub fn service_now(conn: &Connection, sim_now_ms: i64) -> ApiResult<i64> {
    schema(conn)?;
    let off: Option<i64> = conn
        .query_row("SELECT offset_ms FROM hmic_clock WHERE id = 1", [], |r| r.get(0))
        .optional()?;
    Ok(sim_now_ms + off.unwrap_or(0))
}

/// Moves the service's clock by `advance_ms`; returns the new time.
pub fn advance_clock(conn: &Connection, sim_now_ms: i64, advance_ms: i64) -> ApiResult<i64> {
    schema(conn)?;
    conn.execute(
        "INSERT INTO hmic_clock (id, offset_ms) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET offset_ms = offset_ms + excluded.offset_ms",
        [advance_ms],
    )?;
    service_now(conn, sim_now_ms)
}

fn today(now_ms: i64) -> ApiResult<chrono::NaiveDate> {
    RocDateTime::from_unix_ms(now_ms)
        .map(|t| t.date().naive())
        .map_err(|_| ApiError::internal("the server clock is outside the ROC calendar"))
}

/// The service's copy of an application, with the automatic re-lock applied at `now_ms`.
pub fn load(conn: &Connection, id: &str, now_ms: i64) -> ApiResult<Option<Application>> {
    schema(conn)?;
    let body: Option<String> = conn
        .query_row("SELECT body FROM hmic_applications WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    body.map(|b| {
        serde_json::from_str::<Application>(&b)
            .map(|mut a| {
                a.state = state::effective(&a, now_ms);
                a
            })
            .map_err(ApiError::internal)
    })
    .transpose()
}

fn save(conn: &Connection, a: &Application) -> ApiResult<()> {
    let body = serde_json::to_string(a).map_err(ApiError::internal)?;
    conn.execute(
        "INSERT INTO hmic_applications (id, institution, care_team, version, application_date, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version, care_team = excluded.care_team,
            application_date = excluded.application_date, body = excluded.body",
        params![
            a.id,
            a.institution,
            a.care_team,
            a.version,
            a.application_date.to_string(),
            body
        ],
    )?;
    Ok(())
}

/// Every application, re-lock applied.
pub fn all(conn: &Connection, now_ms: i64) -> ApiResult<Vec<Application>> {
    schema(conn)?;
    let mut stmt = conn.prepare("SELECT body FROM hmic_applications ORDER BY id")?;
    let bodies: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    bodies
        .iter()
        .map(|b| {
            serde_json::from_str::<Application>(b)
                .map(|mut a| {
                    a.state = state::effective(&a, now_ms);
                    a
                })
                .map_err(ApiError::internal)
        })
        .collect()
}

/// How many times version `version` of `id` was recorded (`kind` `submit` or `close`).
pub fn receipts(conn: &Connection, id: &str, version: u32, kind: &str) -> u64 {
    let _ = schema(conn);
    conn.query_row(
        "SELECT count(*) FROM hmic_receipts WHERE id = ?1 AND version = ?2 AND kind = ?3",
        params![id, version, kind],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n.max(0) as u64)
    .unwrap_or(0)
}

/// Every enrolment the NHI knows: other services' registry and the HMIC applications.
pub fn enrolments(conn: &Connection, now_ms: i64) -> ApiResult<Vec<Enrolment>> {
    schema(conn)?;
    let mut out = Vec::new();
    let mut stmt =
        conn.prepare("SELECT national_id, birth_date, service, institution, closed FROM hmic_enrolments")?;
    let rows: Vec<(String, String, String, String, bool)> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    for (id, birth, service, institution, closed) in rows {
        let service = match service.as_str() {
            "general_home_nursing" => Service::GeneralHomeNursing,
            "respiratory_home_care" => Service::RespiratoryHomeCare,
            "hospice_home_care" => Service::HospiceHomeCare,
            _ => Service::Hmic,
        };
        let Ok(birth_date) = birth.parse() else { continue };
        out.push(Enrolment {
            national_id: id,
            birth_date,
            service,
            institution,
            care_team: None,
            application_id: None,
            closed,
        });
    }
    for a in all(conn, now_ms)? {
        let Some(birth_date) = a.patient.birth_date else {
            continue;
        };
        out.push(Enrolment {
            national_id: a.patient.national_id.clone(),
            birth_date,
            service: Service::Hmic,
            institution: a.institution.clone(),
            care_team: Some(a.care_team.clone()),
            application_id: Some(a.id.clone()),
            closed: a.state == CaseState::Closed,
        });
    }
    Ok(out)
}

/// Registers another service's enrolment (admin).
pub fn register_enrolment(
    conn: &Connection,
    national_id: &str,
    birth_date: chrono::NaiveDate,
    service: &str,
    institution: &str,
    closed: bool,
) -> ApiResult<()> {
    schema(conn)?;
    conn.execute(
        "INSERT INTO hmic_enrolments VALUES (?1, ?2, ?3, ?4, ?5)",
        params![national_id, birth_date.to_string(), service, institution, closed],
    )?;
    Ok(())
}

fn forbidden(code: &str, msg: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, code, msg)
}

/// Every check of one incoming version (shared by the submission route and the batch file):
/// the rules, the submission window (not for a reopened correction), the previous application
/// for an extension / stage change, and no duplicate enrolment for a new one.
pub fn check_incoming(
    conn: &Connection,
    institution: &str,
    app: &Application,
    existing: Option<&Application>,
    now_ms: i64,
) -> Result<(), ApiError> {
    let day = today(now_ms)?;
    if app.institution != institution {
        return Err(forbidden(
            "not_your_application",
            "the application names another institution",
        ));
    }
    if let Some(e) = existing {
        if e.institution != institution {
            return Err(forbidden(
                "not_your_application",
                "the application is another institution's",
            ));
        }
        state::may(state::Action::Correct, e, now_ms, day).map_err(refusal)?;
    }
    rules::validate(app, day).map_err(refusal)?;
    if existing.is_none() {
        state::check_submission_date(app, day).map_err(refusal)?;
    }
    match (app.kind, &app.previous_id) {
        (ApplicationType::New, _) => {
            if existing.is_none() {
                let birth = app.patient.birth_date.unwrap_or_default();
                let v = enrolment::check(
                    &enrolments(conn, now_ms)?,
                    &app.patient.national_id,
                    birth,
                    institution,
                    &app.care_team,
                )
                .map_err(refusal)?;
                enrolment::may_enrol_new(&v).map_err(refusal)?;
            }
        }
        (_, None) => {
            return Err(refusal(Violation::invalid(
                "previous_id",
                "continues_a_submitted_application",
                "an extension or stage change names the application it continues",
            )));
        }
        (_, Some(prev_id)) => {
            let Some(prev) = load(conn, prev_id, now_ms)? else {
                return Err(refusal(Violation::invalid(
                    "previous_id",
                    "continues_a_submitted_application",
                    "no such application",
                )));
            };
            let mut as_was = prev;
            if existing.is_some()
                && as_was
                    .closing
                    .is_some_and(|c| c.reason == ClosingReason::StageChanged)
            {
                as_was.state = CaseState::Submitted;
            }
            application_type::check_against_previous(app, &as_was).map_err(refusal)?;
        }
    }
    Ok(())
}

/// Records an accepted version: locked (acceptance date = the service's today), a stage change
/// closes its previous application.
fn record(conn: &Connection, mut app: Application, existing: bool, now_ms: i64) -> ApiResult<Application> {
    let day = today(now_ms)?;
    app.state = CaseState::Submitted;
    app.reopened_at_ms = None;
    if !existing {
        app.acceptance_date = Some(day);
    }
    save(conn, &app)?;
    if app.kind == ApplicationType::StageChange
        && let Some(prev_id) = &app.previous_id
        && let Some(mut prev) = load(conn, prev_id, now_ms)?
        && prev.state != CaseState::Closed
    {
        prev.state = CaseState::Closed;
        prev.closing = Some(Closing {
            date: app.application_date,
            reason: ClosingReason::StageChanged,
        });
        save(conn, &prev)?;
    }
    // The case's shared record (simulators/vpn/src/team): one case per chain of applications
    // (new enrolment, its extensions and stage changes), basic data from this latest version.
    let basics = homevisit_core::team::CaseBasics {
        national_id: app.patient.national_id.clone(),
        name: app.patient.name.clone(),
        birth_date: app.patient.birth_date,
        sex: app.patient.sex.clone(),
        care_stage: app.care_stage,
        period_start: Some(app.start_date),
        period_end: Some(app.end_date()),
    };
    let case_id = first_of_chain(conn, &app, now_ms)?;
    crate::team::register_case(
        conn,
        &case_id,
        &app.care_team,
        &app.institution,
        &basics,
        &[],
        now_ms,
    )?;
    conn.execute(
        "INSERT INTO hmic_receipts (id, version, kind) VALUES (?1, ?2, 'submit')",
        params![app.id, app.version],
    )?;
    Ok(app)
}

/// The id of the first application of `app`'s chain (its new enrolment): the shared record's case id.
fn first_of_chain(conn: &Connection, app: &Application, now_ms: i64) -> ApiResult<String> {
    let mut id = app.id.clone();
    let mut previous = app.previous_id.clone();
    // A chain is at most one application per extension or stage change; the bound only guards a
    // corrupt cycle.
    for _ in 0..1000 {
        let Some(prev) = previous
            .and_then(|p| load(conn, &p, now_ms).transpose())
            .transpose()?
        else {
            return Ok(id);
        };
        id = prev.id.clone();
        previous = prev.previous_id.clone();
    }
    Ok(id)
}

/// A submitted version from an institution's device.
pub fn submit(conn: &mut Connection, institution: &str, req: &SubmitRequest, now_ms: i64) -> ApiResult<Ack> {
    schema(conn)?;
    let app = &req.application;
    let tx = conn.transaction()?;
    let existing = load(&tx, &app.id, now_ms)?;
    if let Some(e) = &existing
        && e.version >= app.version
    {
        if e.institution != institution {
            return Err(forbidden(
                "not_your_application",
                "the application is another institution's",
            ));
        }
        return Ok(Ack {
            id: e.id.clone(),
            version: e.version,
            status: "duplicate".into(),
            acceptance_date: e.acceptance_date,
        });
    }
    check_incoming(&tx, institution, app, existing.as_ref(), now_ms)?;
    let mut incoming = app.clone();
    if let Some(e) = &existing {
        incoming.acceptance_date = e.acceptance_date;
    }
    let saved = record(&tx, incoming, existing.is_some(), now_ms)?;
    tx.commit()?;
    Ok(Ack {
        id: saved.id,
        version: saved.version,
        status: "received".into(),
        acceptance_date: saved.acceptance_date,
    })
}

/// A closing from the enrolling institution's device.
pub fn close(conn: &mut Connection, institution: &str, req: &CloseRequest, now_ms: i64) -> ApiResult<Ack> {
    schema(conn)?;
    let tx = conn.transaction()?;
    let Some(mut app) = load(&tx, &req.id, now_ms)? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such application",
        ));
    };
    if app.institution != institution {
        return Err(forbidden(
            "not_your_application",
            "only the enrolling institution closes a case",
        ));
    }
    if app.state == CaseState::Closed && app.closing == Some(req.closing) {
        return Ok(Ack {
            id: app.id,
            version: app.version,
            status: "duplicate".into(),
            acceptance_date: app.acceptance_date,
        });
    }
    closing::close(&mut app, req.closing, today(now_ms)?).map_err(refusal)?;
    save(&tx, &app)?;
    tx.execute(
        "INSERT INTO hmic_receipts (id, version, kind) VALUES (?1, ?2, 'close')",
        params![app.id, app.version],
    )?;
    tx.commit()?;
    Ok(Ack {
        id: app.id,
        version: app.version,
        status: "received".into(),
        acceptance_date: app.acceptance_date,
    })
}

/// The duplicate-enrolment check for `institution`.
pub fn check(
    conn: &Connection,
    institution: &str,
    req: &CheckRequest,
    now_ms: i64,
) -> ApiResult<CheckResponse> {
    let verdict = enrolment::check(
        &enrolments(conn, now_ms)?,
        &req.national_id,
        req.birth_date,
        institution,
        &req.care_team,
    )
    .map_err(refusal)?;
    let application = match &verdict {
        Verdict::Free => None,
        Verdict::Own { application_id } | Verdict::SameTeam { application_id, .. } => {
            load(conn, application_id, now_ms)?
        }
    };
    Ok(CheckResponse { verdict, application })
}

/// The institution's applications.
pub fn sync_for(conn: &Connection, institution: &str, now_ms: i64) -> ApiResult<Vec<Application>> {
    Ok(all(conn, now_ms)?
        .into_iter()
        .filter(|a| a.institution == institution)
        .collect())
}

/// The query: applications dated in the range, the institution's own, or (with a care team of
/// its own) the team's.
pub fn query(
    conn: &Connection,
    institution: &str,
    req: &QueryRequest,
    now_ms: i64,
) -> ApiResult<Vec<QueryRow>> {
    let apps = all(conn, now_ms)?;
    if let Some(team) = &req.care_team
        && !apps
            .iter()
            .any(|a| a.institution == institution && &a.care_team == team)
    {
        return Err(forbidden(
            "not_your_team",
            "the query names a care team the institution is not in",
        ));
    }
    Ok(apps
        .iter()
        .filter(|a| (req.from..=req.to).contains(&a.application_date))
        .filter(|a| match &req.care_team {
            Some(team) => &a.care_team == team,
            None => a.institution == institution,
        })
        .map(QueryRow::of)
        .collect())
}

/// A batch file: the name (shape, institution, never used before), then every record checked;
/// one bad record rejects the whole file (`field` = `records.<n>.<field>`).
pub fn batch(
    conn: &mut Connection,
    institution: &str,
    req: &BatchRequest,
    now_ms: i64,
) -> ApiResult<BatchAck> {
    schema(conn)?;
    let (inst, _, _) = rules::batch::parse(&req.file_name).map_err(refusal)?;
    if inst != institution {
        return Err(refusal(Violation::invalid(
            "file_name",
            "batch_file_name",
            "the file name names another institution",
        )));
    }
    let used: bool = conn.query_row(
        "SELECT count(*) > 0 FROM hmic_batches WHERE file_name = ?1",
        [&req.file_name],
        |r| r.get(0),
    )?;
    if used {
        return Err(refusal(Violation::invalid(
            "file_name",
            "batch_name_repeated",
            "a batch file name is never used twice",
        )));
    }
    // The name is spent even if the file is rejected (a corrected file gets the next serial).
    conn.execute(
        "INSERT INTO hmic_batches (file_name, institution, records) VALUES (?1, ?2, 0)",
        params![req.file_name, institution],
    )?;
    let apps = homevisit_core::hmic::xml::parse(&req.xml).map_err(refusal)?;
    let tx = conn.transaction()?;
    for (n, app) in apps.iter().enumerate() {
        let existing = load(&tx, &app.id, now_ms)?;
        check_incoming(&tx, institution, app, existing.as_ref(), now_ms).map_err(|mut e| {
            e.1.field = Some(match e.1.field.take() {
                Some(f) => format!("records.{n}.{f}"),
                None => format!("records.{n}"),
            });
            e
        })?;
        record(&tx, app.clone(), existing.is_some(), now_ms)?;
    }
    tx.execute(
        "UPDATE hmic_batches SET records = ?2 WHERE file_name = ?1",
        params![req.file_name, apps.len() as i64],
    )?;
    tx.commit()?;
    Ok(BatchAck {
        file_name: req.file_name.clone(),
        records: apps.len() as u32,
    })
}

/// The office reopens a submitted application (modifiable for 3 days by the service's clock).
pub fn reopen(conn: &Connection, id: &str, now_ms: i64) -> ApiResult<Application> {
    let Some(mut app) = load(conn, id, now_ms)? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such application",
        ));
    };
    state::reopen(&mut app, now_ms).map_err(refusal)?;
    save(conn, &app)?;
    Ok(app)
}

/// An application as the admin routes list it (no patient data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminCase {
    /// Id.
    pub id: String,
    /// Version.
    pub version: u32,
    /// Institution.
    pub institution: String,
    /// Care team.
    pub care_team: String,
    /// Type name.
    pub kind: String,
    /// State name (re-lock applied).
    pub state: String,
    /// Closing reason name, once closed.
    pub closing_reason: Option<String>,
}

impl AdminCase {
    /// The listing of `a`.
    pub fn of(a: &Application) -> Self {
        Self {
            id: a.id.clone(),
            version: a.version,
            institution: a.institution.clone(),
            care_team: a.care_team.clone(),
            kind: a.kind.as_str().into(),
            state: a.state.as_str().into(),
            closing_reason: a.closing.map(|c| c.reason.as_str().into()),
        }
    }
}

fn now(state: &SimState, conn: &Connection) -> ApiResult<i64> {
    service_now(conn, state.now_ms())
}

async fn device_submit(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
    body: Bytes,
) -> ApiResult<axum::Json<Ack>> {
    let req: SubmitRequest = json_body(&body)?;
    let mut db = state.db();
    let now = now(&state, &db)?;
    submit(&mut db, &device.institution, &req, now).map(axum::Json)
}

async fn device_close(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
    body: Bytes,
) -> ApiResult<axum::Json<Ack>> {
    let req: CloseRequest = json_body(&body)?;
    let mut db = state.db();
    let now = now(&state, &db)?;
    close(&mut db, &device.institution, &req, now).map(axum::Json)
}

async fn device_sync(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
) -> ApiResult<axum::Json<Vec<Application>>> {
    let db = state.db();
    let now = now(&state, &db)?;
    sync_for(&db, &device.institution, now).map(axum::Json)
}

async fn device_check(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
    body: Bytes,
) -> ApiResult<axum::Json<CheckResponse>> {
    let req: CheckRequest = json_body(&body)?;
    let db = state.db();
    let now = now(&state, &db)?;
    check(&db, &device.institution, &req, now).map(axum::Json)
}

async fn device_query(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
    body: Bytes,
) -> ApiResult<axum::Json<Vec<QueryRow>>> {
    let req: QueryRequest = json_body(&body)?;
    let db = state.db();
    let now = now(&state, &db)?;
    query(&db, &device.institution, &req, now).map(axum::Json)
}

async fn device_batch(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
    body: Bytes,
) -> ApiResult<axum::Json<BatchAck>> {
    let req: BatchRequest = json_body(&body)?;
    let mut db = state.db();
    let now = now(&state, &db)?;
    batch(&mut db, &device.institution, &req, now).map(axum::Json)
}

async fn admin_list(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Vec<AdminCase>>> {
    check_admin(&state, &headers)?;
    let db = state.db();
    let now = now(&state, &db)?;
    Ok(axum::Json(all(&db, now)?.iter().map(AdminCase::of).collect()))
}

async fn admin_reopen(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<AdminCase>> {
    check_admin(&state, &headers)?;
    let db = state.db();
    let now = now(&state, &db)?;
    reopen(&db, &id, now).map(|a| axum::Json(AdminCase::of(&a)))
}

#[derive(Deserialize)]
struct ClockBody {
    advance_ms: i64,
}

#[derive(Serialize)]
struct ClockAnswer {
    now_ms: i64,
}

async fn admin_clock(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<ClockAnswer>> {
    check_admin(&state, &headers)?;
    let b: ClockBody = json_body(&body)?;
    let db = state.db();
    advance_clock(&db, state.now_ms(), b.advance_ms).map(|now_ms| axum::Json(ClockAnswer { now_ms }))
}

#[derive(Deserialize)]
struct EnrolmentBody {
    national_id: String,
    birth_date: chrono::NaiveDate,
    service: String,
    institution: String,
    closed: bool,
}

async fn admin_enrolment(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    check_admin(&state, &headers)?;
    let b: EnrolmentBody = json_body(&body)?;
    register_enrolment(
        &state.db(),
        &b.national_id,
        b.birth_date,
        &b.service,
        &b.institution,
        b.closed,
    )?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed device routes (merged before the signature layer).
pub fn signed_routes() -> Router<Arc<SimState>> {
    Router::new()
        .route(wire::SUBMIT, post(device_submit))
        .route(wire::CLOSE, post(device_close))
        .route(wire::SYNC, post(device_sync))
        .route(wire::CHECK, post(device_check))
        .route(wire::QUERY, post(device_query))
        .route(wire::BATCH, post(device_batch))
}

/// The regional office's admin routes.
pub fn admin_routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/admin/hmic/applications", get(admin_list))
        .route("/admin/hmic/applications/{id}/reopen", post(admin_reopen))
        .route("/admin/hmic/clock", post(admin_clock))
        .route("/admin/hmic/enrolments", post(admin_enrolment))
}
