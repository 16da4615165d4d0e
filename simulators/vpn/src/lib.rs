//! nhi-vpn-sim: the simulated NHI VPN services the app talks to, over HTTPS with a self-signed
//! certificate generated at start-up (and kept in the data directory when there is one, so that
//! enrolled devices keep their pin across restarts).
//!
//! Start it in process (tests) with [`VpnSim::start`], or as a server with `homevisit-sim vpn serve`.
//!
//! Device routes (`/v1`, every one but enrolment and the public key list signed by the device key,
//! see `homevisit_core::vpn::signing`; fault injection applies to all of them):
//! - `POST /v1/enrol` — device enrolment with the QR-2 token and the PIN;
//! - `POST /v1/upload`, `POST /v1/upload/corrections` — card data upload 2.0 (Big5 XML);
//! - `GET /v1/upload/{batch}` — upload-result query;
//! - `POST /v1/medicloud` — a patient's MediCloud record;
//! - `GET /v1/order-sets` — the institution's order sets;
//! - `POST /v1/sam/card-auth`, `/v1/sam/verify`, `/v1/sam/sign` — the cloud SAM;
//! - `GET /v1/institutions/{code}/keys` — public keys of the institution's devices.
//!
//! Admin routes (`/admin`, header `x-admin-token`): `POST /admin/bindings` (new QR-2 + PIN),
//! `GET|PUT /admin/faults`, `GET /admin/visits[?code=…]`, `GET /admin/records/{code}` (the
//! record stored under a visit code: content, digest, state), `POST /admin/devices/{id}/revoke`
//! (a lost or stolen device; served by the pharmacy routes, which keep the revocation list).
//!
//! Virtual NHI card ([`vcard`]): device routes `/v1/vcard/{key,scan,consent,card,sequence,applications}`;
//! with the admin token `POST /patient-app/vcard/{qr,consent}` (the patient's app) and
//! `POST /admin/vcard/{clock,rights}`.
//!
//! E-referrals (`referral`): `POST /v1/referrals`, `/v1/referrals/reply`, `/v1/referrals/sync`
//! (signed), and the LTC centre's `/admin/referrals…` routes.
//! Care team shared record (`team`): `POST /team/push`, `/team/sync` (signed) and `/admin/team/…`.

pub mod db;
pub mod faults;
pub mod hmic;
pub mod pharmacy;
pub mod referral;
pub mod seeds;
pub mod team;
pub mod tls;
pub mod upload;
pub mod upload_check;
pub mod vcard;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use homevisit_core::card::sam::{SamAuthority, SamError, VisitSignRequest};
use homevisit_core::vpn::binding::BindingQr;
use homevisit_core::vpn::signing;
use homevisit_core::vpn::wire::{self, ErrorBody, routes};
use nhi_reader_sim::keys::LocalSam;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use faults::{FaultConfig, FaultKind};

/// How the simulator starts.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub bind: SocketAddr,
    /// Where the SQLite database lives; `None` keeps it in memory.
    pub data_dir: Option<PathBuf>,
    /// The institution (10 digits).
    pub institution_code: String,
    /// Its name.
    pub institution_name: String,
    /// Its cloud SAM id (12 characters).
    pub sam_id: String,
    /// PIN attempts before a binding token locks.
    pub pin_attempts: u32,
    /// How long a binding QR-2 stays valid.
    pub binding_ttl: Duration,
    /// Fault knobs at start.
    pub faults: FaultConfig,
    /// Admin token; random when `None`.
    pub admin_token: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            institution_code: "3501200000".into(),
            institution_name: "居家醫療示範診所".into(),
            sam_id: "100000000001".into(),
            pin_attempts: 3,
            binding_ttl: Duration::from_secs(24 * 3600),
            faults: FaultConfig::none(),
            admin_token: None,
        }
    }
}

/// A device that passed the signature check.
#[derive(Debug, Clone)]
pub struct Device {
    /// Its id.
    pub id: String,
    /// Its institution.
    pub institution: String,
}

/// The shared state of the running simulator (also what the pharmacy routes use).
pub struct SimState {
    /// The database.
    pub db: Mutex<Connection>,
    /// The start-up configuration.
    pub config: SimConfig,
    /// The fault knobs.
    pub faults: Mutex<faults::Faults>,
    /// Admin token.
    pub admin_token: String,
    /// The cloud SAM of the institution (the simulated NHI key hierarchy).
    pub sam: LocalSam,
    /// The server certificate's SHA-256.
    pub fingerprint: [u8; 32],
    /// The base URL, once listening.
    pub url: Mutex<String>,
    /// The NHI's virtual-card service (QRs, consent, `V` numbers, assisted applications).
    pub vcard: vcard::VcardState,
    /// The pharmacy side, which keeps the revocation list: every device route refuses a revoked
    /// device (set once the pharmacy is open).
    revocations: std::sync::OnceLock<pharmacy::PharmacyState>,
    skew_ms: AtomicI64,
    nonces: Mutex<HashMap<String, i64>>,
}

impl SimState {
    /// The server's clock (real time plus the injected clock skew), Unix ms.
    pub fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() + self.skew_ms.load(Ordering::SeqCst)
    }

    /// The database, locked (a poisoned lock still holds a consistent SQLite connection).
    pub fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the fault knobs.
    pub fn set_faults(&self, config: FaultConfig) {
        self.skew_ms.store(config.clock_skew_ms, Ordering::SeqCst);
        self.faults.lock().unwrap_or_else(|p| p.into_inner()).set(config);
    }
}

/// An error answer: status and [`ErrorBody`].
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub ErrorBody);

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self(
            status,
            ErrorBody {
                error: code.into(),
                message: message.into(),
                remaining: None,
                field: None,
                server_time_ms: None,
            },
        )
    }
    fn internal(e: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(self.1)).into_response()
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        Self::internal(e)
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Largest request body accepted (a batch of about 20,000 visits).
pub const MAX_BODY: usize = 32 << 20;

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks a device request's signature, time and nonce; the pharmacy routes may reuse it.
pub fn verify_device(
    state: &SimState,
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<Device> {
    let unauth = |code: &str, msg: &str| ApiError::new(StatusCode::UNAUTHORIZED, code, msg);
    let (Some(dev), Some(ts), Some(nonce), Some(sig)) = (
        header_str(headers, signing::H_DEVICE),
        header_str(headers, signing::H_TIME),
        header_str(headers, signing::H_NONCE),
        header_str(headers, signing::H_SIGNATURE),
    ) else {
        return Err(unauth(
            "unsigned",
            "the request is not signed by an enrolled device",
        ));
    };
    let ts: i64 = ts.parse().map_err(|_| unauth("bad_signature", "bad timestamp"))?;
    let Some((institution, key)) = db::device(&state.db(), dev)? else {
        return Err(unauth("unknown_device", "this device is not enrolled"));
    };
    if !signing::verify_request(&key, method, path_and_query, dev, ts, nonce, body, sig) {
        return Err(unauth("bad_signature", "the request signature does not verify"));
    }
    if let Some(pharmacy) = state.revocations.get() {
        let revoked = pharmacy.revoked().map_err(ApiError::internal)?;
        if revoked.iter().any(|r| r.device_id == dev) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "revoked",
                "this device was revoked by the institution's administrator",
            ));
        }
    }
    let now = state.now_ms();
    if (ts - now).abs() > signing::MAX_SKEW_MS {
        let mut e = unauth(
            "clock_skew",
            "the device clock differs too much from the server's",
        );
        e.1.server_time_ms = Some(now);
        return Err(e);
    }
    let mut nonces = state.nonces.lock().unwrap_or_else(|p| p.into_inner());
    if nonces.len() > 100_000 {
        nonces.retain(|_, seen| now - *seen <= 2 * signing::MAX_SKEW_MS);
    }
    if nonces.insert(format!("{dev}:{nonce}"), now).is_some() {
        return Err(unauth("replay", "this request was already received"));
    }
    Ok(Device {
        id: dev.to_string(),
        institution,
    })
}

async fn auth_layer(State(state): State<Arc<SimState>>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the body is too large",
        )
        .into_response();
    };
    let pq = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    match verify_device(&state, parts.method.as_str(), &pq, &parts.headers, &bytes) {
        Ok(device) => {
            parts.extensions.insert(device);
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Err(e) => e.into_response(),
    }
}

fn json_body<T: for<'de> Deserialize<'de>>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the JSON body is not valid: {e}"),
        )
    })
}

async fn enrol(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> ApiResult<axum::Json<wire::EnrolResponse>> {
    let req: wire::EnrolRequest = json_body(&body)?;
    let public_key = hex::decode(&req.public_key)
        .ok()
        .filter(|k| k.len() == 32)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "public key must be 32 bytes hex",
            )
        })?;
    let now = state.now_ms();
    let mut conn = state.db();
    let tx = conn.transaction()?;
    let Some(b) = db::binding(&tx, &req.token)? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "token_unknown",
            "unknown binding token",
        ));
    };
    match b.state.as_str() {
        "used" => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "token_used",
                "the binding token was already used",
            ));
        }
        "locked" => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "token_locked",
                "the binding token is locked",
            ));
        }
        _ => {}
    }
    if now >= b.expires_ms {
        return Err(ApiError::new(
            StatusCode::GONE,
            "token_expired",
            "the binding token has expired",
        ));
    }
    let expected = signing::pin_proof(&b.pin, &req.token, &public_key);
    if !nhi_reader_sim::keys::ct_eq(expected.as_bytes(), req.pin_proof.as_bytes()) {
        let left = b.attempts_left.saturating_sub(1);
        let new_state = if left == 0 { "locked" } else { "open" };
        tx.execute(
            "UPDATE bindings SET attempts_left = ?2, state = ?3 WHERE token = ?1",
            params![req.token, left, new_state],
        )?;
        tx.commit()?;
        if left == 0 {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "token_locked",
                "too many wrong PINs: the binding token is locked",
            ));
        }
        let mut e = ApiError::new(StatusCode::FORBIDDEN, "wrong_pin", "wrong PIN verification code");
        e.1.remaining = Some(left);
        return Err(e);
    }
    let proof_msg = signing::enrol_proof_message(&req.token, &public_key, &req.pin_proof);
    if !signing::verify_bytes(&public_key, &proof_msg, &req.key_proof) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_signature",
            "the key proof does not verify",
        ));
    }
    let n: i64 = tx.query_row("SELECT COUNT(*) FROM devices", [], |r| r.get(0))?;
    let device_id = format!("D{:05}", n + 1);
    tx.execute(
        "INSERT INTO devices (id, institution, public_key, name, enrolled_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            device_id,
            b.institution,
            public_key,
            req.device_name.chars().take(64).collect::<String>(),
            now
        ],
    )?;
    tx.execute(
        "UPDATE bindings SET state = 'used' WHERE token = ?1",
        [&req.token],
    )?;
    let sam_id = db::sam_id(&tx, &b.institution)?.unwrap_or_default();
    tx.commit()?;
    Ok(axum::Json(wire::EnrolResponse {
        device_id,
        institution_code: b.institution,
        sam_id,
        backup_cert_sha256: None,
    }))
}

fn xml_upload(
    state: &SimState,
    device: &Device,
    headers: &HeaderMap,
    body: &[u8],
    kind: upload::UploadKind,
) -> ApiResult<Response> {
    let idem = header_str(headers, routes::IDEMPOTENCY)
        .filter(|k| !k.is_empty() && k.len() <= 64)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the idempotency key header is missing",
            )
        })?
        .to_string();
    let records = upload::parse_batch(body)
        .map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, "malformed_batch", m.0))?;
    let now = state.now_ms();
    let response = upload::process(
        &mut state.db(),
        &device.id,
        &device.institution,
        &idem,
        kind,
        &records,
        now,
    )?;
    Ok(([(header::CONTENT_TYPE, "application/json")], response).into_response())
}

async fn upload_normal(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    xml_upload(&state, &device, &headers, &body, upload::UploadKind::Normal)
}

async fn upload_corrections(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    xml_upload(&state, &device, &headers, &body, upload::UploadKind::Correction)
}

async fn upload_result(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
    Path(batch): Path<String>,
) -> ApiResult<axum::Json<wire::UploadResult>> {
    let now = state.now_ms();
    upload::result(&state.db(), &device.institution, &batch, now)?
        .map(axum::Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such batch for this institution",
            )
        })
}

async fn medicloud(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> ApiResult<axum::Json<wire::MediCloudRecord>> {
    let req: wire::MediCloudRequest = json_body(&body)?;
    let id = homevisit_core::model::NationalId::parse(&req.national_id).map_err(|e| {
        let mut err = ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("national ID: {}", e.reason),
        );
        err.1.field = Some("national_id".into());
        err
    })?;
    let today = homevisit_core::model::RocDateTime::from_unix_ms(state.now_ms())
        .map_err(ApiError::internal)?
        .date()
        .naive();
    Ok(axum::Json(seeds::medicloud(id.expose(), today)))
}

async fn order_sets() -> axum::Json<Vec<wire::OrderSet>> {
    axum::Json(seeds::order_sets())
}

async fn institution_keys(
    State(state): State<Arc<SimState>>,
    Path(code): Path<String>,
) -> ApiResult<axum::Json<wire::DeviceKeys>> {
    let conn = state.db();
    let mut stmt = conn.prepare("SELECT id, public_key FROM devices WHERE institution = ?1 ORDER BY id")?;
    let keys = stmt
        .query_map([&code], |r| {
            Ok(wire::DevicePublicKey {
                device_id: r.get(0)?,
                public_key: hex::encode(r.get::<_, Vec<u8>>(1)?),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(axum::Json(wire::DeviceKeys {
        institution_code: code,
        keys,
    }))
}

fn sam_failure(e: SamError) -> ApiError {
    match e {
        SamError::CardNotGenuine => ApiError::new(
            StatusCode::FORBIDDEN,
            "card_not_genuine",
            "the card's proof does not verify",
        ),
        SamError::NotInsured => ApiError::new(
            StatusCode::FORBIDDEN,
            "not_insured",
            "the card holder is not insured",
        ),
        SamError::UnknownSession => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_session",
            "unknown or expired SAM session",
        ),
        SamError::Unreachable(m) | SamError::Rejected(m) => {
            ApiError::new(StatusCode::BAD_REQUEST, "sam_rejected", m)
        }
    }
}

fn hex_n<const N: usize>(text: &str, field: &str) -> ApiResult<[u8; N]> {
    hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            let mut e = ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("{field} must be {N} bytes hex"),
            );
            e.1.field = Some(field.into());
            e
        })
}

async fn sam_card_auth(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> ApiResult<axum::Json<wire::SamCardAuthResponse>> {
    let req: wire::SamCardAuthRequest = json_body(&body)?;
    let challenge = hex_n::<8>(&req.card_challenge, "card_challenge")?;
    let c = state
        .sam
        .begin_card_auth(&req.card_number, challenge)
        .await
        .map_err(sam_failure)?;
    Ok(axum::Json(wire::SamCardAuthResponse {
        session: c.session,
        sam_challenge: hex::encode(c.sam_challenge),
        sam_proof: hex::encode(c.sam_proof),
    }))
}

async fn sam_verify(State(state): State<Arc<SimState>>, body: Bytes) -> ApiResult<axum::Json<wire::Done>> {
    let req: wire::SamVerifyRequest = json_body(&body)?;
    let proof = hex_n::<32>(&req.card_proof, "card_proof")?;
    state
        .sam
        .verify_card(&req.session, proof)
        .await
        .map_err(sam_failure)?;
    Ok(axum::Json(wire::Done { ok: true }))
}

async fn sam_sign(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> ApiResult<axum::Json<wire::SamSignResponse>> {
    let req: wire::SamSignRequest = json_body(&body)?;
    let request = VisitSignRequest {
        session: req.session,
        card_proof: hex_n::<32>(&req.card_proof, "card_proof")?,
        card_number: req.card_number,
        visit_datetime: req.visit_datetime,
        sequence_number: req.sequence_number,
        institution: req.institution,
        visit_code: req.visit_code,
        card_mac: hex_n::<32>(&req.card_mac, "card_mac")?,
    };
    let sig = state.sam.sign_visit(&request).await.map_err(sam_failure)?;
    Ok(axum::Json(wire::SamSignResponse {
        signature_hex: sig.signature_hex,
        sam_id: sig.sam_id,
    }))
}

/// A new binding: the QR-2 payload and the PIN the VPN screen shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Binding {
    /// The QR-2 payload text.
    pub qr: String,
    /// The PIN verification code.
    pub pin: String,
    /// The one-time token (also inside `qr`).
    pub token: String,
    /// Expiry, Unix ms.
    pub expires_at_ms: i64,
}

fn random_digits(n: usize) -> String {
    let bytes: [u8; 16] = nhi_reader_sim::keys::random();
    bytes.iter().take(n).map(|b| char::from(b'0' + b % 10)).collect()
}

fn random_token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let bytes: [u8; 16] = nhi_reader_sim::keys::random();
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[*b as usize % ALPHABET.len()]))
        .collect()
}

impl SimState {
    /// Creates a binding (QR-2 + 6-digit PIN) valid for `ttl`.
    pub fn new_binding(&self, ttl: Duration) -> Result<Binding, String> {
        let token = random_token();
        let pin = random_digits(6);
        let expires_at_ms = self.now_ms() + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        self.db()
            .execute(
                "INSERT INTO bindings (token, institution, pin, expires_ms, attempts_left, state) VALUES (?1, ?2, ?3, ?4, ?5, 'open')",
                params![token, self.config.institution_code, pin, expires_at_ms, self.config.pin_attempts],
            )
            .map_err(|e| e.to_string())?;
        let qr = BindingQr {
            endpoint: self.url.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            institution_code: self.config.institution_code.clone(),
            token: token.clone(),
            cert_sha256: self.fingerprint,
        };
        Ok(Binding {
            qr: qr.to_payload(),
            pin,
            token,
            expires_at_ms,
        })
    }
}

fn check_admin(state: &SimState, headers: &HeaderMap) -> ApiResult<()> {
    match header_str(headers, "x-admin-token") {
        Some(t) if nhi_reader_sim::keys::ct_eq(t.as_bytes(), state.admin_token.as_bytes()) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "admin_only",
            "admin token required",
        )),
    }
}

#[derive(Deserialize)]
struct BindingParams {
    ttl_s: Option<u64>,
}

async fn admin_binding(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(p): Query<BindingParams>,
) -> ApiResult<axum::Json<Binding>> {
    check_admin(&state, &headers)?;
    let ttl = p
        .ttl_s
        .map(Duration::from_secs)
        .unwrap_or(state.config.binding_ttl);
    state.new_binding(ttl).map(axum::Json).map_err(ApiError::internal)
}

async fn admin_get_faults(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
) -> ApiResult<axum::Json<FaultConfig>> {
    check_admin(&state, &headers)?;
    let cfg = state
        .faults
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .config()
        .clone();
    Ok(axum::Json(cfg))
}

async fn admin_put_faults(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<FaultConfig>> {
    check_admin(&state, &headers)?;
    let cfg: FaultConfig = json_body(&body)?;
    if !(0.0..=1.0).contains(&cfg.failure_rate) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "failure_rate must be 0.0-1.0",
        ));
    }
    state.set_faults(cfg.clone());
    Ok(axum::Json(cfg))
}

#[derive(Deserialize)]
struct VisitParams {
    code: Option<String>,
}

/// The admin view of stored visits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VisitCounts {
    /// Visits stored in all.
    pub total: u64,
    /// Per visit identification code (only the asked code, if one was given).
    pub per_code: Vec<(String, u64)>,
}

async fn admin_visits(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(p): Query<VisitParams>,
) -> ApiResult<axum::Json<VisitCounts>> {
    check_admin(&state, &headers)?;
    let conn = state.db();
    let total = db::visit_total(&conn)?;
    let per_code = match p.code {
        Some(code) => {
            let n = db::visit_count(&conn, &code)?;
            vec![(code, n)]
        }
        None => db::visit_counts(&conn)?,
    };
    Ok(axum::Json(VisitCounts { total, per_code }))
}

// --- Corrections (issue 14): the admin view of one stored record. ---

/// `GET /admin/records/{code}`: the content, digest and state stored under a visit code.
async fn admin_record(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> ApiResult<axum::Json<upload::StoredRecord>> {
    check_admin(&state, &headers)?;
    upload::stored_record(&state.db(), &code)?
        .map(axum::Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no record under this code"))
}

/// Every enrolled device's public key, by institution.
pub fn all_device_keys(state: &SimState) -> Vec<wire::DeviceKeys> {
    let conn = state.db();
    let Ok(mut stmt) =
        conn.prepare("SELECT institution, id, public_key FROM devices ORDER BY institution, id")
    else {
        return Vec::new();
    };
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    });
    let mut out: Vec<wire::DeviceKeys> = Vec::new();
    for (inst, id, key) in rows.into_iter().flatten().flatten() {
        let k = wire::DevicePublicKey {
            device_id: id,
            public_key: hex::encode(key),
        };
        match out.last_mut() {
            Some(d) if d.institution_code == inst => d.keys.push(k),
            _ => out.push(wire::DeviceKeys {
                institution_code: inst,
                keys: vec![k],
            }),
        }
    }
    out
}

/// The fault knobs strike the device's prescription registration (`POST
/// /pharmacy/api/prescriptions`, sent by the sync engine) like the other device routes; the
/// pharmacists' routes are never faulted.
async fn device_registration_faults(
    State(state): State<Arc<SimState>>,
    req: Request,
    next: Next,
) -> Response {
    if req.method() == axum::http::Method::POST && req.uri().path() == "/pharmacy/api/prescriptions" {
        faults::layer(State(state), req, next).await
    } else {
        next.run(req).await
    }
}

/// The whole router over `state` (without the pharmacy routes, which [`VpnSim::start`] merges).
pub fn router(state: Arc<SimState>) -> Router {
    let signed = Router::new()
        .route(routes::UPLOAD, post(upload_normal))
        .route(routes::CORRECTIONS, post(upload_corrections))
        .route("/v1/upload/{batch}", get(upload_result))
        .route(routes::MEDICLOUD, post(medicloud))
        .route(routes::ORDER_SETS, get(order_sets))
        .route(routes::SAM_CARD_AUTH, post(sam_card_auth))
        .route(routes::SAM_VERIFY, post(sam_verify))
        .route(routes::SAM_SIGN, post(sam_sign))
        // Virtual NHI card (simulators/vpn/src/vcard/routes.rs).
        .merge(vcard::routes::signed())
        // E-referrals: the platform's device routes and the LTC centre's admin routes.
        .merge(referral::signed_routes())
        // The care team's shared record (simulators/vpn/src/team/): device routes.
        .merge(team::signed_routes())
        // HMIC case applications (simulators/vpn/src/hmic): the NHI's case service.
        .merge(hmic::signed_routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), auth_layer));
    let device = Router::new()
        .route(routes::ENROL, post(enrol))
        .route("/v1/institutions/{code}/keys", get(institution_keys))
        .merge(signed)
        .layer(middleware::from_fn_with_state(state.clone(), faults::layer));
    let admin = Router::new()
        .route("/admin/bindings", post(admin_binding))
        .route("/admin/faults", get(admin_get_faults).put(admin_put_faults))
        .route("/admin/visits", get(admin_visits))
        // Corrections (issue 14): the record stored under a visit code.
        .route("/admin/records/{code}", get(admin_record))
        // Virtual NHI card: the patient app's QR and consent, the service's clock, the right.
        .merge(vcard::routes::admin())
        // E-referrals: the LTC centre's admin routes.
        .merge(referral::admin_routes())
        // The care team's shared record: seed a case and team, change access, post, bind.
        .merge(team::admin_routes())
        // HMIC case applications: the regional office's reopen, the service's clock, enrolments.
        .merge(hmic::admin_routes());
    Router::new()
        .merge(device)
        .merge(admin)
        // Large batches are fine (the sync engine batches many visits per request).
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// The running simulator: its URL, certificate fingerprint, and the admin API in process.
pub struct VpnSim {
    /// Base URL, e.g. `https://127.0.0.1:40123`.
    pub url: String,
    /// The listening address.
    pub addr: SocketAddr,
    /// SHA-256 of the server certificate (what QR-2 pins).
    pub fingerprint: [u8; 32],
    state: Arc<SimState>,
    pharmacy: pharmacy::PharmacyState,
    handle: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for VpnSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VpnSim")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl VpnSim {
    /// Starts the simulator on `config.bind` (in the current tokio runtime).
    pub async fn start(config: SimConfig) -> Result<Self, String> {
        let (identity, path) = match &config.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| format!("data dir: {e}"))?;
                (tls::load_or_generate(dir)?, Some(dir.join("nhi-vpn-sim.sqlite")))
            }
            None => (tls::generate()?, None),
        };
        let conn = db::open(path.as_deref()).map_err(|e| format!("database: {e}"))?;
        db::ensure_institution(
            &conn,
            &config.institution_code,
            &config.institution_name,
            &config.sam_id,
        )
        .map_err(|e| format!("database: {e}"))?;
        let listener =
            std::net::TcpListener::bind(config.bind).map_err(|e| format!("bind {}: {e}", config.bind))?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let url = format!("https://{addr}");
        let admin_token = config.admin_token.clone().unwrap_or_else(random_token);
        let state = Arc::new(SimState {
            db: Mutex::new(conn),
            faults: Mutex::new(faults::Faults::new(config.faults.clone())),
            skew_ms: AtomicI64::new(config.faults.clock_skew_ms),
            sam: LocalSam::new(&config.sam_id),
            config,
            admin_token,
            fingerprint: identity.fingerprint,
            url: Mutex::new(url.clone()),
            nonces: Mutex::new(HashMap::new()),
            vcard: vcard::VcardState::new(),
            revocations: std::sync::OnceLock::new(),
        });
        // The rx engineer's pharmacy routes, with the enrolled devices' keys as signer directory.
        let pharmacy_path = path
            .as_ref()
            .map(|p| p.with_file_name("nhi-vpn-sim-pharmacy.sqlite"));
        let directory_state = state.clone();
        let directory: Arc<dyn pharmacy::SignerDirectory> =
            Arc::new(move || all_device_keys(&directory_state));
        // One administrator token for both (the pharmacy side holds the revocation list).
        let pharmacy = pharmacy::PharmacyState::open_with_admin_token(
            pharmacy_path.as_deref(),
            Arc::new(homevisit_core::platform::SystemClock),
            Some(directory),
            state.admin_token.clone(),
        )?;
        // Set once, right here: the state was made just above and is not shared yet.
        let _ = state.revocations.set(pharmacy.clone());
        let pharmacy_routes = pharmacy::router(pharmacy.clone()).layer(middleware::from_fn_with_state(
            state.clone(),
            device_registration_faults,
        ));
        let app = router(state.clone()).merge(pharmacy_routes);
        let rustls_config = axum_server::tls_rustls::RustlsConfig::from_config(identity.server_config);
        let handle = axum_server::Handle::new();
        let server = axum_server::from_tcp_rustls(listener, rustls_config)
            .map_err(|e| e.to_string())?
            .handle(handle.clone());
        let task = tokio::spawn(async move {
            // The client address: the pharmacy counts wrong codes and passwords per address.
            if let Err(e) = server
                .serve(app.into_make_service_with_connect_info::<SocketAddr>())
                .await
            {
                tracing::error!("nhi-vpn-sim stopped: {e}");
            }
        });
        Ok(Self {
            url,
            addr,
            fingerprint: identity.fingerprint,
            state,
            pharmacy,
            handle,
            task,
        })
    }

    /// The pharmacy routes' state (prescriptions, pharmacies, dispensing).
    pub fn pharmacy(&self) -> &pharmacy::PharmacyState {
        &self.pharmacy
    }

    /// The shared state (database, faults, SAM).
    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    /// The admin token for the `/admin` routes.
    pub fn admin_token(&self) -> &str {
        &self.state.admin_token
    }

    /// A new binding (QR-2 payload + PIN) valid for the configured time.
    pub fn new_binding(&self) -> Result<Binding, String> {
        self.state.new_binding(self.state.config.binding_ttl)
    }

    /// A new binding valid for `ttl` (zero: already expired).
    pub fn new_binding_with_ttl(&self, ttl: Duration) -> Result<Binding, String> {
        self.state.new_binding(ttl)
    }

    /// Sets the fault knobs at run time.
    pub fn set_faults(&self, config: FaultConfig) {
        self.state.set_faults(config);
    }

    /// Faults injected so far.
    pub fn faults_injected(&self) -> u64 {
        self.state
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .injected()
    }

    /// Visits stored under `visit_code` (exactly-once checks: never more than 1).
    pub fn stored_visit_count(&self, visit_code: &str) -> u64 {
        db::visit_count(&self.state.db(), visit_code).unwrap_or(0)
    }

    /// Visits stored in all.
    pub fn stored_visit_total(&self) -> u64 {
        db::visit_total(&self.state.db()).unwrap_or(0)
    }

    /// The stored MB1 fields of a visit (JSON object text), for tests checking a correction.
    pub fn stored_visit_fields(&self, visit_code: &str) -> Option<String> {
        self.state
            .db()
            .query_row(
                "SELECT fields FROM visits WHERE visit_code = ?1",
                [visit_code],
                |r| r.get(0),
            )
            .ok()
    }

    /// The record stored under a visit code (content, digest, state), for tests of corrections.
    pub fn stored_record(&self, visit_code: &str) -> Option<upload::StoredRecord> {
        upload::stored_record(&self.state.db(), visit_code).ok().flatten()
    }

    /// Stops the server (open connections are closed).
    pub async fn stop(self) {
        self.handle.shutdown();
        let _ = self.task.await;
    }
}
