//! The virtual-card routes: the device's (signed, under `/v1/vcard`), the patient app's (played by
//! tests and the demo with the admin token: show a QR, tap "同意"), and the admin's (move the
//! service's clock, grant the assisted-application right).

use crate::{ApiError, Device, SimState, check_admin, json_body};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use homevisit_core::vcard::wire;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

type Json<T> = Result<axum::Json<T>, ApiError>;

/// `POST /patient-app/vcard/qr`: the patient's app shows a new QR.
pub const PATIENT_QR: &str = "/patient-app/vcard/qr";
/// `POST /patient-app/vcard/consent`: the patient taps "同意" (or refuses).
pub const PATIENT_CONSENT: &str = "/patient-app/vcard/consent";
/// `POST /admin/vcard/clock`: moves the virtual-card service's clock.
pub const ADMIN_CLOCK: &str = "/admin/vcard/clock";
/// `POST /admin/vcard/rights`: grants an institution the assisted-application right.
pub const ADMIN_RIGHTS: &str = "/admin/vcard/rights";

/// The patient whose app shows a QR.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QrRequest {
    /// Their national ID.
    pub national_id: String,
}

/// The QR the patient's app shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QrResponse {
    /// QR text.
    pub qr: String,
    /// Expiry (ms since the epoch, the service's clock).
    pub expires_at_ms: i64,
}

/// The patient's answer for the QR they showed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsentRequest {
    /// The QR text.
    pub qr: String,
    /// `true`: "同意".
    pub agree: bool,
}

/// Moves the service's clock.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClockRequest {
    /// Milliseconds forward.
    pub advance_ms: i64,
}

/// The service's clock after the move.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClockResponse {
    /// Now, ms since the epoch.
    pub now_ms: i64,
}

/// Grants the assisted-application right.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RightRequest {
    /// The institution (10 digits).
    pub institution: String,
    /// National IDs of the staff members designated to confirm photo and ID document.
    pub designated_staff: Vec<String>,
}

/// The audit verification code issued to the institution.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RightResponse {
    /// The code.
    pub audit_code: String,
}

fn now(state: &SimState) -> i64 {
    state.vcard.now_ms(state.now_ms())
}

async fn key(State(state): State<Arc<SimState>>) -> axum::Json<wire::KeyResponse> {
    axum::Json(wire::KeyResponse {
        public_key: hex::encode(state.vcard.public_key()),
    })
}

async fn scan(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
    body: Bytes,
) -> Json<wire::ScanResponse> {
    let req: wire::ScanRequest = json_body(&body)?;
    state
        .vcard
        .scan(&device.institution, &req.qr, now(&state))
        .map(axum::Json)
}

async fn consent(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
    body: Bytes,
) -> Json<wire::ConsentResponse> {
    let req: wire::SessionRequest = json_body(&body)?;
    state
        .vcard
        .consent_state(&device.institution, &req.session)
        .map(axum::Json)
}

async fn card(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
    body: Bytes,
) -> Json<wire::CardData> {
    let req: wire::SessionRequest = json_body(&body)?;
    state
        .vcard
        .card(&device.institution, &req.session)
        .map(axum::Json)
}

async fn sequence(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
    body: Bytes,
) -> Json<wire::SequenceResponse> {
    let req: wire::SequenceRequest = json_body(&body)?;
    state
        .vcard
        .sequence(&device.institution, &req, now(&state))
        .map(axum::Json)
}

async fn apply(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
    body: Bytes,
) -> Json<wire::ApplicationResponse> {
    let req: wire::ApplicationRequest = json_body(&body)?;
    state
        .vcard
        .apply(&device.institution, &req, now(&state))
        .map(axum::Json)
}

async fn patient_qr(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Json<QrResponse> {
    check_admin(&state, &headers)?;
    let req: QrRequest = json_body(&body)?;
    let (qr, expires_at_ms) = state.vcard.issue_qr(&req.national_id, now(&state))?;
    Ok(axum::Json(QrResponse { qr, expires_at_ms }))
}

async fn patient_consent(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Json<wire::ConsentResponse> {
    check_admin(&state, &headers)?;
    let req: ConsentRequest = json_body(&body)?;
    state.vcard.answer(&req.qr, req.agree)?;
    Ok(axum::Json(wire::ConsentResponse {
        state: if req.agree { "granted" } else { "refused" }.into(),
    }))
}

async fn admin_clock(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Json<ClockResponse> {
    check_admin(&state, &headers)?;
    let req: ClockRequest = json_body(&body)?;
    state.vcard.advance_clock_ms(req.advance_ms);
    Ok(axum::Json(ClockResponse { now_ms: now(&state) }))
}

async fn admin_rights(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Json<RightResponse> {
    check_admin(&state, &headers)?;
    let req: RightRequest = json_body(&body)?;
    Ok(axum::Json(RightResponse {
        audit_code: state.vcard.grant_right(&req.institution, req.designated_staff),
    }))
}

/// The device routes (merge them under the device-signature layer).
pub fn signed() -> Router<Arc<SimState>> {
    Router::new()
        .route(wire::KEY, get(key))
        .route(wire::SCAN, post(scan))
        .route(wire::CONSENT, post(consent))
        .route(wire::CARD, post(card))
        .route(wire::SEQUENCE, post(sequence))
        .route(wire::APPLICATION, post(apply))
}

/// The patient-app and admin routes (admin token).
pub fn admin() -> Router<Arc<SimState>> {
    Router::new()
        .route(PATIENT_QR, post(patient_qr))
        .route(PATIENT_CONSENT, post(patient_consent))
        .route(ADMIN_CLOCK, post(admin_clock))
        .route(ADMIN_RIGHTS, post(admin_rights))
}
