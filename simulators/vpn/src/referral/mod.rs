//! The simulated e-referral platform (電子轉介平台) and, behind the admin routes, the LTC centre
//! that receives and answers referrals (`homevisit_core::referral::vectors::SIM_LTC_CENTRE`).
//! Every decision is a call into `homevisit_core::referral::rules`, the functions the device runs,
//! so the two sides enforce one set of rules; the fixed vectors run against this module too.
//!
//! Device routes (signed): `POST /v1/referrals` (a sent round), `POST /v1/referrals/reply` (the
//! device as receiver answers), `POST /v1/referrals/sync` (the institution's referrals, both sides).
//! Admin routes (the LTC centre; header `x-admin-token`): `GET /admin/referrals` (no patient data),
//! `POST /admin/referrals/{number}/process` `{status, explanation}`,
//! `POST /admin/referrals/{number}/reply`, `POST /admin/referrals/ltc-open` `{receiving_code}`
//! (the LTC centre opens and sends a type `02` to an institution).

#[cfg(test)]
mod tests;

use crate::{ApiError, ApiResult, Device, SimState, check_admin, json_body};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use homevisit_core::model::roc::RocDateTime;
use homevisit_core::referral::model::{ProcessingStatus, Referral, ReferralType, UnitKind};
use homevisit_core::referral::rules::{self, Accepted, Violation};
use homevisit_core::referral::vectors::{SIM_LTC_CENTRE, sample_form};
use homevisit_core::referral::wire::{self, ReplyRequest, Submission, SubmissionAck, SyncResponse};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS referrals (
    number TEXT PRIMARY KEY, sender TEXT NOT NULL, receiver TEXT NOT NULL, body TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS referral_receipts (
    number TEXT NOT NULL, count INTEGER NOT NULL, kind TEXT NOT NULL, received_ms INTEGER NOT NULL,
    PRIMARY KEY (number, count, kind)
);";

/// The platform's refusal of a broken rule: 422 with the rule's code and field.
pub fn refusal(v: Violation) -> ApiError {
    let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, v.code(), v.to_string());
    e.1.field = v.field().map(str::to_string);
    e
}

fn today(now_ms: i64) -> ApiResult<chrono::NaiveDate> {
    RocDateTime::from_unix_ms(now_ms)
        .map(|t| t.date().naive())
        .map_err(|_| ApiError::internal("the server clock is outside the ROC calendar"))
}

fn schema(conn: &Connection) -> ApiResult<()> {
    conn.execute_batch(SCHEMA)?;
    Ok(())
}

/// The platform's copy of a referral.
pub fn load(conn: &Connection, number: &str) -> ApiResult<Option<Referral>> {
    schema(conn)?;
    let body: Option<String> = conn
        .query_row("SELECT body FROM referrals WHERE number = ?1", [number], |r| {
            r.get(0)
        })
        .optional()?;
    body.map(|b| serde_json::from_str(&b).map_err(ApiError::internal))
        .transpose()
}

fn save(conn: &Connection, r: &Referral, now_ms: i64) -> ApiResult<()> {
    let body = serde_json::to_string(r).map_err(ApiError::internal)?;
    conn.execute(
        "INSERT INTO referrals (number, sender, receiver, body, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (number) DO UPDATE SET receiver = excluded.receiver, body = excluded.body,
                                            updated_ms = excluded.updated_ms",
        params![r.number, r.sender_code, r.form.receiving_unit.code, body, now_ms],
    )?;
    Ok(())
}

fn all(conn: &Connection) -> ApiResult<Vec<Referral>> {
    schema(conn)?;
    let mut stmt = conn.prepare("SELECT body FROM referrals ORDER BY number")?;
    let bodies: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    bodies
        .iter()
        .map(|b| serde_json::from_str(b).map_err(ApiError::internal))
        .collect()
}

/// How many times the platform recorded round `count` of `number` (`kind` `submit` or `reply`):
/// exactly-once checks (never more than 1).
pub fn receipts(conn: &Connection, number: &str, count: u32, kind: &str) -> u64 {
    let _ = schema(conn);
    conn.query_row(
        "SELECT count(*) FROM referral_receipts WHERE number = ?1 AND count = ?2 AND kind = ?3",
        params![number, count, kind],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n.max(0) as u64)
    .unwrap_or(0)
}

fn receipt(conn: &Connection, number: &str, count: u32, kind: &str, now_ms: i64) -> ApiResult<()> {
    conn.execute(
        "INSERT INTO referral_receipts (number, count, kind, received_ms) VALUES (?1, ?2, ?3, ?4)",
        params![number, count, kind, now_ms],
    )?;
    Ok(())
}

/// A sent round from an institution's device (`unit` is what the sender is).
pub fn submit(
    conn: &mut Connection,
    sender_code: &str,
    unit: UnitKind,
    sub: &Submission,
    now_ms: i64,
) -> ApiResult<SubmissionAck> {
    schema(conn)?;
    let incoming = &sub.referral;
    if incoming.sender_code != sender_code {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_your_referral",
            "the referral names another sender than the signing institution",
        ));
    }
    let tx = conn.transaction()?;
    let existing = load(&tx, &incoming.number)?;
    let status = match rules::accept_submission(existing.as_ref(), incoming, unit, now_ms, today(now_ms)?)
        .map_err(refusal)?
    {
        Accepted::New(r) | Accepted::ReReferral(r) => {
            save(&tx, &r, now_ms)?;
            receipt(&tx, &r.number, r.count, "submit", now_ms)?;
            "received"
        }
        Accepted::Duplicate => "duplicate",
    };
    tx.commit()?;
    Ok(SubmissionAck {
        number: incoming.number.clone(),
        count: incoming.count,
        status: status.into(),
    })
}

/// A receiver's reply (the receiving unit `receiver_code` answers round `req.count`).
pub fn answer(
    conn: &mut Connection,
    receiver_code: &str,
    req: &ReplyRequest,
    now_ms: i64,
) -> ApiResult<SubmissionAck> {
    schema(conn)?;
    let tx = conn.transaction()?;
    let Some(mut r) = load(&tx, &req.number)? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such referral",
        ));
    };
    if r.form.receiving_unit.code != receiver_code {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_your_referral",
            "only the receiving unit answers a referral",
        ));
    }
    let fresh =
        rules::accept_reply(&mut r, req.count, req.status, &req.explanation, now_ms).map_err(refusal)?;
    if fresh {
        save(&tx, &r, now_ms)?;
        receipt(&tx, &r.number, r.count, "reply", now_ms)?;
    }
    tx.commit()?;
    Ok(SubmissionAck {
        number: r.number,
        count: r.count,
        status: if fresh { "received" } else { "duplicate" }.into(),
    })
}

/// The institution's referrals: what it sent, and the sent rounds addressed to it.
pub fn sync_for(conn: &Connection, institution: &str) -> ApiResult<SyncResponse> {
    let mut out = SyncResponse::default();
    for r in all(conn)? {
        if r.sender_code == institution {
            out.sent.push(r);
        } else if r.form.receiving_unit.code == institution && r.sent_at_ms.is_some() {
            out.received.push(r);
        }
    }
    Ok(out)
}

/// The LTC centre enters (or corrects) its processing of referral `number`.
pub fn ltc_process(
    conn: &Connection,
    number: &str,
    status: ProcessingStatus,
    explanation: &str,
    now_ms: i64,
) -> ApiResult<Referral> {
    let Some(mut r) = load(conn, number)? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such referral",
        ));
    };
    if r.kind.receiver_kind() != UnitKind::LtcCentre {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_your_referral",
            "this referral goes to an institution, not to the LTC centre",
        ));
    }
    rules::process(&mut r, status, explanation, now_ms).map_err(refusal)?;
    save(conn, &r, now_ms)?;
    Ok(r)
}

/// The LTC centre sends its processing back.
pub fn ltc_reply(conn: &Connection, number: &str, now_ms: i64) -> ApiResult<Referral> {
    let Some(mut r) = load(conn, number)? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such referral",
        ));
    };
    if r.kind.receiver_kind() != UnitKind::LtcCentre {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_your_referral",
            "this referral goes to an institution, not to the LTC centre",
        ));
    }
    rules::reply(&mut r, now_ms).map_err(refusal)?;
    save(conn, &r, now_ms)?;
    receipt(conn, &r.number, r.count, "reply", now_ms)?;
    Ok(r)
}

/// The LTC centre opens a type `02` referral of the test patient to `receiving_code` and sends it.
pub fn ltc_open(conn: &mut Connection, receiving_code: &str, now_ms: i64) -> ApiResult<Referral> {
    schema(conn)?;
    let day = today(now_ms)?;
    let serial: u32 = conn.query_row(
        "SELECT count(*) + 1 FROM referrals WHERE sender = ?1",
        [SIM_LTC_CENTRE],
        |r| r.get(0),
    )?;
    let number = rules::referral_number(SIM_LTC_CENTRE, day, "SIM0", serial).map_err(refusal)?;
    let mut form = sample_form(SIM_LTC_CENTRE, receiving_code);
    form.referring_unit.name = "臺北市長期照顧管理中心".into();
    form.receiving_unit.name = "居家醫療示範診所".into();
    form.purpose = "需居家醫療服務".into();
    let mut r = rules::open(
        UnitKind::LtcCentre,
        SIM_LTC_CENTRE,
        ReferralType::LtcCentreToHomeCare,
        number,
        form,
        now_ms,
        day,
    )
    .map_err(refusal)?;
    rules::send(&mut r, now_ms).map_err(refusal)?;
    submit(
        conn,
        SIM_LTC_CENTRE,
        UnitKind::LtcCentre,
        &Submission { referral: r.clone() },
        now_ms,
    )?;
    Ok(r)
}

/// A referral as the admin routes list it (no patient data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminReferral {
    /// 轉介單號.
    pub number: String,
    /// 轉介次數.
    pub count: u32,
    /// Type code.
    pub kind: String,
    /// Sender code.
    pub sender: String,
    /// Receiving unit code.
    pub receiver: String,
    /// Sender state name.
    pub sender_state: String,
    /// Receiver state name (empty before sending).
    pub receiver_state: String,
    /// Processing status code, when entered.
    pub status: Option<String>,
    /// Earlier rounds.
    pub rounds: usize,
}

impl AdminReferral {
    /// The listing of `r`.
    pub fn of(r: &Referral) -> Self {
        Self {
            number: r.number.clone(),
            count: r.count,
            kind: r.kind.code().into(),
            sender: r.sender_code.clone(),
            receiver: r.form.receiving_unit.code.clone(),
            sender_state: r.sender_state().name().into(),
            receiver_state: r.receiver_state().map(|s| s.name()).unwrap_or("").into(),
            status: r.processing.as_ref().map(|p| p.status.code().into()),
            rounds: r.rounds.len(),
        }
    }
}

async fn device_submit(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
    body: Bytes,
) -> ApiResult<axum::Json<SubmissionAck>> {
    let sub: Submission = json_body(&body)?;
    let now = state.now_ms();
    submit(
        &mut state.db(),
        &device.institution,
        UnitKind::Institution,
        &sub,
        now,
    )
    .map(axum::Json)
}

async fn device_reply(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
    body: Bytes,
) -> ApiResult<axum::Json<SubmissionAck>> {
    let req: ReplyRequest = json_body(&body)?;
    let now = state.now_ms();
    answer(&mut state.db(), &device.institution, &req, now).map(axum::Json)
}

async fn device_sync(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
) -> ApiResult<axum::Json<SyncResponse>> {
    sync_for(&state.db(), &device.institution).map(axum::Json)
}

async fn admin_list(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<Vec<AdminReferral>>> {
    check_admin(&state, &headers)?;
    Ok(axum::Json(
        all(&state.db())?.iter().map(AdminReferral::of).collect(),
    ))
}

#[derive(Deserialize)]
struct ProcessBody {
    status: String,
    explanation: String,
}

async fn admin_process(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(number): Path<String>,
    body: Bytes,
) -> ApiResult<axum::Json<AdminReferral>> {
    check_admin(&state, &headers)?;
    let b: ProcessBody = json_body(&body)?;
    let status = ProcessingStatus::from_code(&b.status).ok_or_else(|| {
        refusal(Violation::Invalid {
            field: "status",
            reason: "must be 01 to 04".into(),
        })
    })?;
    let now = state.now_ms();
    ltc_process(&state.db(), &number, status, &b.explanation, now).map(|r| axum::Json(AdminReferral::of(&r)))
}

async fn admin_reply(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(number): Path<String>,
) -> ApiResult<axum::Json<AdminReferral>> {
    check_admin(&state, &headers)?;
    let now = state.now_ms();
    ltc_reply(&state.db(), &number, now).map(|r| axum::Json(AdminReferral::of(&r)))
}

#[derive(Deserialize)]
struct OpenBody {
    receiving_code: String,
}

async fn admin_ltc_open(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<AdminReferral>> {
    check_admin(&state, &headers)?;
    let b: OpenBody = json_body(&body)?;
    let now = state.now_ms();
    ltc_open(&mut state.db(), b.receiving_code.trim(), now).map(|r| axum::Json(AdminReferral::of(&r)))
}

/// The signed device routes (merged before the signature layer).
pub fn signed_routes() -> Router<Arc<SimState>> {
    Router::new()
        .route(wire::SUBMIT, post(device_submit))
        .route(wire::REPLY, post(device_reply))
        .route(wire::SYNC, post(device_sync))
}

/// The LTC centre's admin routes.
pub fn admin_routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/admin/referrals", get(admin_list))
        .route("/admin/referrals/ltc-open", post(admin_ltc_open))
        .route("/admin/referrals/{number}/process", post(admin_process))
        .route("/admin/referrals/{number}/reply", post(admin_reply))
}
