//! The pharmacy services of the VPN simulator: the published device keys and the revocation list
//! (the trust list pharmacies keep for at most [`TRUST_MAX_AGE_MS`]), the administrator's
//! revocation of a device, prescription registration, the pharmacist's JSON API (lookup,
//! dispense, abnormal-case restore), the prescriber's `C`/`E` on chronic refills (signed, with time
//! and nonce), and the server-rendered pharmacy web page (no-store, CSP, no framing, an
//! anti-forgery token in every form). Wrong one-time codes are throttled per account and per
//! address; wrong passwords lock an account only for the address they came from.
//!
//! `router(state)` is merged into the simulator's axum router; [`serve`] runs it alone over HTTPS
//! (self-signed certificate) for tests, the browser test and the benchmark.

pub mod demo;
mod html;
pub mod store;

use axum::Router;
use axum::extract::{ConnectInfo, Extension, Form, Json, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use homevisit_core::model::roc::RocDateTime;
use homevisit_core::platform::{Clock, SystemClock};
pub use homevisit_core::rx::pharmacy::TRUST_MAX_AGE_MS;
use homevisit_core::rx::pharmacy::wire::{self, Presented};
use homevisit_core::rx::pharmacy::{KeySet, PharmacyError, taiwan_date, verify_offline};
use homevisit_core::rx::refill::RefillOp;
use homevisit_core::rx::{otc, payload};
use homevisit_core::vpn::wire::{DeviceKeys, DevicePublicKey};
use rusqlite::Connection;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// Other sources of published device keys (the simulator's enrolled devices), beside the keys
/// registered here with [`PharmacyState::register_signer`].
pub trait SignerDirectory: Send + Sync {
    /// Every institution's device keys.
    fn published(&self) -> Vec<DeviceKeys>;
}

impl<F: Fn() -> Vec<DeviceKeys> + Send + Sync> SignerDirectory for F {
    fn published(&self) -> Vec<DeviceKeys> {
        self()
    }
}

struct Inner {
    db: Mutex<Connection>,
    clock: Arc<dyn Clock>,
    directory: Option<Arc<dyn SignerDirectory>>,
    admin_token: String,
}

/// Shared state of the pharmacy routes.
#[derive(Clone)]
pub struct PharmacyState(Arc<Inner>);

/// The demo pharmacy account every new state has (code, password).
pub const DEMO_PHARMACY: (&str, &str) = ("5901010010", "pharmacy");

impl PharmacyState {
    /// Opens the pharmacy tables in the SQLite file at `path` (or in memory), with the demo
    /// pharmacy account.
    pub fn open(
        path: Option<&std::path::Path>,
        clock: Arc<dyn Clock>,
        directory: Option<Arc<dyn SignerDirectory>>,
    ) -> Result<Self, String> {
        let conn = match path {
            Some(p) => Connection::open(p),
            None => Connection::open_in_memory(),
        }
        .map_err(|e| format!("pharmacy db: {e}"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        store::init(&conn).map_err(|e| format!("pharmacy db: {e}"))?;
        store::add_pharmacy(&conn, DEMO_PHARMACY.0, "示範藥局 Demo pharmacy", DEMO_PHARMACY.1)
            .map_err(|e| e.to_string())?;
        Ok(Self(Arc::new(Inner {
            db: Mutex::new(conn),
            clock,
            directory,
            admin_token: store::random_hex(16),
        })))
    }

    /// As [`Self::open`], with `admin_token` as the token of the admin routes (the VPN
    /// simulator shares its own, so one administrator token revokes devices everywhere).
    pub fn open_with_admin_token(
        path: Option<&std::path::Path>,
        clock: Arc<dyn Clock>,
        directory: Option<Arc<dyn SignerDirectory>>,
        admin_token: String,
    ) -> Result<Self, String> {
        let s = Self::open(path, clock, directory)?;
        let inner = Arc::try_unwrap(s.0).map_err(|_| "pharmacy state shared too early".to_string())?;
        Ok(Self(Arc::new(Inner { admin_token, ..inner })))
    }

    /// An in-memory state on the system clock (tests and the demo).
    pub fn in_memory() -> Result<Self, String> {
        Self::open(None, Arc::new(SystemClock), None)
    }

    fn db(&self) -> Result<std::sync::MutexGuard<'_, Connection>, PharmacyError> {
        self.0
            .db
            .lock()
            .map_err(|_| PharmacyError::Server("database lock poisoned".into()))
    }

    /// Adds a pharmacy account.
    pub fn add_pharmacy(&self, code: &str, name: &str, password: &str) -> Result<(), String> {
        let db = self.db().map_err(|e| e.to_string())?;
        store::add_pharmacy(&db, code, name, password).map_err(|e| e.to_string())
    }

    /// Publishes a device's public key for an institution (done at enrolment).
    pub fn register_signer(
        &self,
        institution: &str,
        device_id: &str,
        public_key: &[u8],
    ) -> Result<(), String> {
        let db = self.db().map_err(|e| e.to_string())?;
        store::add_signer(&db, institution, device_id, public_key).map_err(|e| e.to_string())
    }

    /// The token `POST /pharmacy/api/signers` requires in `x-admin-token`.
    pub fn admin_token(&self) -> &str {
        &self.0.admin_token
    }

    /// Every published key, by institution, revoked ones included (see [`Self::published_keys`]).
    fn all_keys(&self) -> Result<Vec<DeviceKeys>, PharmacyError> {
        let rows = store::signers(&*self.db()?).map_err(store::server_err)?;
        let mut out: Vec<DeviceKeys> = self
            .0
            .directory
            .as_ref()
            .map(|d| d.published())
            .unwrap_or_default();
        for (inst, device, key) in rows {
            let k = DevicePublicKey {
                device_id: device,
                public_key: hex::encode(key),
            };
            match out.iter_mut().find(|d| d.institution_code == inst) {
                Some(d) => d.keys.push(k),
                None => out.push(DeviceKeys {
                    institution_code: inst,
                    keys: vec![k],
                }),
            }
        }
        Ok(out)
    }

    /// Every live published key, by institution (revoked devices left out).
    pub fn published_keys(&self) -> Result<Vec<DeviceKeys>, PharmacyError> {
        let revoked = self.revoked()?;
        let mut out = self.all_keys()?;
        for d in &mut out {
            d.keys.retain(|k| {
                !revoked
                    .iter()
                    .any(|r| r.institution_code == d.institution_code && r.public_key == k.public_key)
            });
        }
        out.retain(|d| !d.keys.is_empty());
        Ok(out)
    }

    /// Every revoked device key.
    pub fn revoked(&self) -> Result<Vec<wire::RevokedKey>, PharmacyError> {
        store::revoked(&*self.db()?).map_err(store::server_err)
    }

    /// What pharmacies trust: the live keys and the revocation list, to be kept for at most
    /// [`TRUST_MAX_AGE_MS`].
    pub fn trust_list(&self) -> Result<wire::TrustList, PharmacyError> {
        Ok(wire::TrustList {
            keys: self.published_keys()?,
            revoked: self.revoked()?,
            issued_at_ms: self.0.clock.now_unix_ms(),
            max_age_ms: TRUST_MAX_AGE_MS,
        })
    }

    /// The institution administrator revokes device `device_id` (a lost or stolen phone): its key
    /// leaves the published keys and joins the revocation list; every QR, registration and
    /// `C`/`E` it signed is refused from then on. Unknown device: `None`.
    pub fn revoke_device(&self, device_id: &str) -> Result<Option<wire::RevokedKey>, PharmacyError> {
        let found = self.all_keys()?.into_iter().find_map(|d| {
            d.keys
                .into_iter()
                .find(|k| k.device_id == device_id)
                .map(|k| (d.institution_code, k.public_key))
        });
        let Some((institution, key_hex)) = found else {
            return Ok(None);
        };
        let key = hex::decode(&key_hex).map_err(store::server_err)?;
        let (ms, _, _) = self.now();
        store::revoke(&*self.db()?, &institution, device_id, &key, ms).map_err(store::server_err)?;
        tracing::info!(device_id, institution = %institution, "device revoked");
        Ok(self.revoked()?.into_iter().find(|r| r.device_id == device_id))
    }

    /// The audit log of a prescription: `(actor, action, refill, detail)`.
    pub fn audit_log(&self, visit_code: &str) -> Result<Vec<(String, String, u8, String)>, String> {
        store::audit_log(&*self.db().map_err(|e| e.to_string())?, visit_code).map_err(|e| e.to_string())
    }

    fn now(&self) -> (i64, chrono::NaiveDate, String) {
        let ms = self.0.clock.now_unix_ms();
        let text = RocDateTime::from_unix_ms(ms)
            .map(|t| t.to_roc_string())
            .unwrap_or_default();
        (ms, taiwan_date(ms), text)
    }

    fn keyset(&self) -> Result<KeySet, PharmacyError> {
        Ok(KeySet::from_trust(&self.trust_list()?))
    }

    /// Registers a prescription a device issued; the QR must verify under its institution's keys.
    pub fn register(&self, r: &wire::Registration) -> Result<String, PharmacyError> {
        let decoded = payload::decode(&r.qr).map_err(|_| PharmacyError::Malformed("QR".into()))?;
        // Registration may come days later (offline visits): check genuineness as of the issue day.
        // A revoked device's QR is refused whatever day it claims.
        let keys = self.published_keys()?;
        let p = verify_offline(&r.qr, &self.keyset()?, decoded.prescription.issued_on)?;
        // The registration itself must come from the device that signed the QR.
        let sig = hex::decode(&r.signature)
            .map_err(|_| PharmacyError::Malformed("registration signature".into()))?;
        let msg = r.message();
        let signed_by_same_device = keys
            .iter()
            .filter(|d| d.institution_code == p.prescription.institution.as_str())
            .flat_map(|d| d.keys.iter())
            .filter_map(|k| hex::decode(&k.public_key).ok())
            .filter(|k| homevisit_core::rx::sign::key_id(k) == p.key_id && p.verify(k))
            .any(|k| homevisit_core::rx::sign::verify(&k, &msg, &sig));
        if !signed_by_same_device {
            return Err(PharmacyError::Tampered);
        }
        let code = otc::normalize(&r.one_time_code).ok_or(PharmacyError::UnknownCode)?;
        let (ms, _, _) = self.now();
        let mut db = self.db()?;
        store::register(
            &mut db,
            &store::NewPrescription {
                payload: &p,
                qr: &r.qr,
                otc: &code,
                contact: &r.contact,
                patient_name: &r.patient_name,
                birth_date: &r.birth_date,
            },
            ms,
        )?;
        Ok(p.prescription.visit_code)
    }

    /// Resolves what the pharmacist presented to a lookup key (verifying a QR first).
    fn resolve(&self, p: &Presented) -> Result<(String, bool), PharmacyError> {
        if let Some(qr) = p.qr.as_deref().filter(|q| !q.trim().is_empty()) {
            let (_, today, _) = self.now();
            let v = verify_offline(qr.trim(), &self.keyset()?, today)?;
            return Ok((v.prescription.visit_code, false));
        }
        if let Some(code) = p.code.as_deref() {
            return Ok((otc::normalize(code).ok_or(PharmacyError::UnknownCode)?, true));
        }
        Err(PharmacyError::Malformed(
            "neither a QR nor a one-time code was presented".into(),
        ))
    }

    /// Runs `f` for a one-time code presented by `caller`: refused while the account or the
    /// address is throttled; a code that names no prescription (what a guess gets) counts as a
    /// wrong code. A known code with nothing due answers only why, never the patient.
    fn by_code<T>(
        &self,
        caller: &Caller,
        f: impl FnOnce(&mut Connection) -> Result<T, PharmacyError>,
    ) -> Result<T, PharmacyError> {
        let (ms, _, _) = self.now();
        let mut db = self.db()?;
        store::check_code_throttle(&db, &caller.pharmacy, &caller.source, ms)?;
        let r = f(&mut db);
        if let Err(PharmacyError::UnknownCode | PharmacyError::Malformed(_)) = &r {
            store::record_code_failure(&db, &caller.pharmacy, &caller.source, ms)?;
        }
        r
    }

    /// The details of a presented prescription, for `caller`.
    pub fn lookup(&self, p: &Presented, caller: &Caller) -> Result<wire::Details, PharmacyError> {
        let (_, today, _) = self.now();
        if p.qr.as_deref().is_some_and(|q| !q.trim().is_empty()) {
            let (k, _) = self.resolve(p)?;
            return store::details(&*self.db()?, &store::Key::VisitCode(&k), today);
        }
        self.by_code(caller, |db| {
            let (k, _) = self.resolve(p)?;
            store::details(db, &store::Key::Code(&k), today)
        })
    }

    /// Dispenses for `caller`'s pharmacy.
    pub fn dispense(&self, p: &Presented, caller: &Caller) -> Result<wire::Receipt, PharmacyError> {
        let (ms, today, text) = self.now();
        if p.qr.as_deref().is_some_and(|q| !q.trim().is_empty()) {
            let (k, _) = self.resolve(p)?;
            return store::dispense(
                &mut *self.db()?,
                &store::Key::VisitCode(&k),
                &caller.pharmacy,
                today,
                &text,
                ms,
            );
        }
        self.by_code(caller, |db| {
            let (k, _) = self.resolve(p)?;
            store::dispense(db, &store::Key::Code(&k), &caller.pharmacy, today, &text, ms)
        })
    }

    /// Abnormal-case restore by the dispensing pharmacy.
    pub fn restore(&self, r: &wire::Restore, pharmacy: &str) -> Result<(), PharmacyError> {
        let (ms, _, _) = self.now();
        store::restore(&mut *self.db()?, &r.visit_code, r.refill, pharmacy, &r.reason, ms)
    }

    /// `C`/`E` on a chronic refill, signed by one of the institution's devices.
    pub fn refill_op(&self, r: &wire::RefillOpRequest) -> Result<wire::RefillView, PharmacyError> {
        let op = match r.op.as_str() {
            "C" => RefillOp::Cancel,
            "E" => RefillOp::UndoCancel,
            _ => return Err(PharmacyError::Malformed("op must be C or E".into())),
        };
        let sig = hex::decode(&r.signature).map_err(|_| PharmacyError::Malformed("signature".into()))?;
        let msg = r.message();
        let keys = self.published_keys()?;
        let signed = keys
            .iter()
            .filter(|d| d.institution_code == r.institution)
            .flat_map(|d| d.keys.iter())
            .filter_map(|k| hex::decode(&k.public_key).ok())
            .any(|k| homevisit_core::rx::sign::verify(&k, &msg, &sig));
        if !signed {
            return Err(PharmacyError::UnknownSigner(r.institution.clone()));
        }
        let (ms, _, _) = self.now();
        // Signed time and nonce: a captured request cannot be sent again.
        if (r.issued_ms - ms).abs() > wire::REFILL_OP_MAX_SKEW_MS {
            return Err(PharmacyError::Replayed);
        }
        store::use_op_nonce(&*self.db()?, &r.nonce, ms, wire::REFILL_OP_MAX_SKEW_MS)?;
        store::refill_op(&mut *self.db()?, &r.visit_code, r.refill, op, &r.institution, ms)
    }

    /// The pharmacy of the request's session and the session's anti-forgery token.
    fn session(&self, headers: &HeaderMap) -> Result<(String, String), PharmacyError> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix("rx_session="));
        let token = bearer.or(cookie).ok_or(PharmacyError::Unauthorized)?;
        let (ms, _, _) = self.now();
        store::session(&*self.db()?, token, ms)
    }
}

/// Who is asking: the logged-in pharmacy and the address the request came from (what wrong
/// one-time codes are counted against).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The pharmacy account of the session.
    pub pharmacy: String,
    /// The client's IP address (`unknown` when the server does not know it).
    pub source: String,
}

/// The client address of a request (`unknown` when the server runs without connect info).
type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

fn source_of(peer: &Peer) -> String {
    peer.as_ref().map_or_else(
        || "unknown".to_string(),
        |Extension(ConnectInfo(a))| a.ip().to_string(),
    )
}

fn status_of(e: &PharmacyError) -> StatusCode {
    match e {
        PharmacyError::Unauthorized => StatusCode::UNAUTHORIZED,
        PharmacyError::UnknownCode | PharmacyError::NotRegistered => StatusCode::NOT_FOUND,
        PharmacyError::AlreadyDispensed { .. }
        | PharmacyError::NotYetDue { .. }
        | PharmacyError::Cancelled
        | PharmacyError::Replayed
        | PharmacyError::RestoreLimit => StatusCode::CONFLICT,
        PharmacyError::Expired { .. } => StatusCode::GONE,
        PharmacyError::UnknownInstitution(_)
        | PharmacyError::UnknownSigner(_)
        | PharmacyError::Revoked(_)
        | PharmacyError::Csrf => StatusCode::FORBIDDEN,
        PharmacyError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
        PharmacyError::Server(_) | PharmacyError::Network(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

struct ApiFail(PharmacyError);

impl IntoResponse for ApiFail {
    fn into_response(self) -> Response {
        (status_of(&self.0), Json(self.0.to_api())).into_response()
    }
}

impl From<PharmacyError> for ApiFail {
    fn from(e: PharmacyError) -> Self {
        Self(e)
    }
}

type ApiResult<T> = Result<Json<T>, ApiFail>;

async fn api_keys(State(s): State<PharmacyState>) -> ApiResult<Vec<DeviceKeys>> {
    Ok(Json(s.published_keys()?))
}

async fn api_trust(State(s): State<PharmacyState>) -> ApiResult<wire::TrustList> {
    Ok(Json(s.trust_list()?))
}

fn is_admin(s: &PharmacyState, headers: &HeaderMap) -> bool {
    headers
        .get("x-admin-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| nhi_reader_sim::keys::ct_eq(t.as_bytes(), s.admin_token().as_bytes()))
}

#[derive(Deserialize)]
struct NewSigner {
    institution: String,
    device_id: String,
    public_key: String,
}

async fn api_add_signer(
    State(s): State<PharmacyState>,
    headers: HeaderMap,
    Json(b): Json<NewSigner>,
) -> ApiResult<serde_json::Value> {
    if !is_admin(&s, &headers) {
        return Err(PharmacyError::Unauthorized.into());
    }
    let key = hex::decode(&b.public_key).map_err(|_| PharmacyError::Malformed("public key hex".into()))?;
    s.register_signer(&b.institution, &b.device_id, &key)
        .map_err(PharmacyError::Server)?;
    Ok(Json(serde_json::json!({"ok": true})))
}

/// `POST /admin/devices/{device_id}/revoke` (header `x-admin-token`): the institution
/// administrator revokes a lost or stolen device; answers the revocation list entry.
async fn admin_revoke(
    State(s): State<PharmacyState>,
    headers: HeaderMap,
    Path(device_id): Path<String>,
) -> ApiResult<wire::RevokedKey> {
    if !is_admin(&s, &headers) {
        return Err(PharmacyError::Unauthorized.into());
    }
    match s.revoke_device(&device_id)? {
        Some(r) => Ok(Json(r)),
        None => Err(PharmacyError::Refused("no such device".into()).into()),
    }
}

async fn api_login(
    State(s): State<PharmacyState>,
    peer: Peer,
    Json(b): Json<wire::Login>,
) -> ApiResult<wire::Session> {
    let (ms, _, _) = s.now();
    let token = store::login(&*s.db()?, &b.pharmacy, &b.password, &source_of(&peer), ms)?;
    Ok(Json(wire::Session { token }))
}

async fn api_register(
    State(s): State<PharmacyState>,
    Json(b): Json<wire::Registration>,
) -> ApiResult<serde_json::Value> {
    let visit_code = s.register(&b)?;
    Ok(Json(serde_json::json!({ "visit_code": visit_code })))
}

impl PharmacyState {
    fn caller(&self, headers: &HeaderMap, peer: &Peer) -> Result<(Caller, String), PharmacyError> {
        let (pharmacy, csrf) = self.session(headers)?;
        Ok((
            Caller {
                pharmacy,
                source: source_of(peer),
            },
            csrf,
        ))
    }
}

async fn api_lookup(
    State(s): State<PharmacyState>,
    headers: HeaderMap,
    peer: Peer,
    Json(b): Json<Presented>,
) -> ApiResult<wire::Details> {
    let (caller, _) = s.caller(&headers, &peer)?;
    Ok(Json(s.lookup(&b, &caller)?))
}

async fn api_dispense(
    State(s): State<PharmacyState>,
    headers: HeaderMap,
    peer: Peer,
    Json(b): Json<Presented>,
) -> ApiResult<wire::Receipt> {
    let (caller, _) = s.caller(&headers, &peer)?;
    Ok(Json(s.dispense(&b, &caller)?))
}

async fn api_restore(
    State(s): State<PharmacyState>,
    headers: HeaderMap,
    Json(b): Json<wire::Restore>,
) -> ApiResult<serde_json::Value> {
    let (pharmacy, _) = s.session(&headers)?;
    s.restore(&b, &pharmacy)?;
    Ok(Json(serde_json::json!({"ok": true})))
}

async fn api_refill_op(
    State(s): State<PharmacyState>,
    Json(b): Json<wire::RefillOpRequest>,
) -> ApiResult<wire::RefillView> {
    Ok(Json(s.refill_op(&b)?))
}

fn html_fail(e: &PharmacyError, csrf: &str) -> Response {
    if matches!(e, PharmacyError::Unauthorized) {
        return (
            StatusCode::UNAUTHORIZED,
            Html(html::login(Some("請先登入 Please log in"))),
        )
            .into_response();
    }
    (status_of(e), Html(html::refused(e, csrf))).into_response()
}

/// The page's session, and the form's anti-forgery token checked against it (constant time).
fn form_session(
    s: &PharmacyState,
    headers: &HeaderMap,
    form_csrf: &str,
) -> Result<(String, String), Box<Response>> {
    let (pharmacy, csrf) = s.session(headers).map_err(|e| Box::new(html_fail(&e, "")))?;
    if csrf.is_empty() || !nhi_reader_sim::keys::ct_eq(csrf.as_bytes(), form_csrf.as_bytes()) {
        tracing::warn!("pharmacy form posted without its anti-forgery token");
        return Err(Box::new(html_fail(&PharmacyError::Csrf, &csrf)));
    }
    Ok((pharmacy, csrf))
}

/// A form posted from another site (its `Origin` names another host) is refused before anything
/// else, the login form included.
fn same_origin(headers: &HeaderMap, uri: &axum::http::Uri) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    // HTTP/1.1 names the host in `Host`, HTTP/2 in the request's authority.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, h)| !host.is_empty() && h.trim_end_matches('/') == host)
}

async fn page_home(State(s): State<PharmacyState>, headers: HeaderMap) -> Response {
    match s.session(&headers) {
        Ok((p, csrf)) => Html(html::search(&p, &csrf)).into_response(),
        Err(_) => Html(html::login(None)).into_response(),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    pharmacy: String,
    password: String,
}

async fn page_login(
    State(s): State<PharmacyState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    peer: Peer,
    Form(f): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers, &uri) {
        return html_fail(&PharmacyError::Csrf, "");
    }
    let (ms, _, _) = s.now();
    let token = s
        .db()
        .and_then(|db| store::login(&db, f.pharmacy.trim(), &f.password, &source_of(&peer), ms));
    match token {
        Ok(t) => (
            [(
                header::SET_COOKIE,
                format!("rx_session={t}; Path=/pharmacy; HttpOnly; Secure; SameSite=Strict"),
            )],
            Redirect::to("/pharmacy"),
        )
            .into_response(),
        Err(e @ PharmacyError::Throttled { .. }) => (
            StatusCode::TOO_MANY_REQUESTS,
            Html(html::login(Some(&format!("帳號已鎖定 Locked: {e}")))),
        )
            .into_response(),
        Err(_) => (
            StatusCode::UNAUTHORIZED,
            Html(html::login(Some(
                "藥局代碼或密碼錯誤 Wrong pharmacy code or password",
            ))),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn page_logout(
    State(s): State<PharmacyState>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = form_session(&s, &headers, &f.csrf) {
        return *r;
    }
    if let Some(t) = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').find_map(|c| c.trim().strip_prefix("rx_session=")))
        && let Ok(db) = s.db()
    {
        let _ = store::logout(&db, t);
    }
    (
        [(
            header::SET_COOKIE,
            "rx_session=; Path=/pharmacy; Max-Age=0".to_string(),
        )],
        Redirect::to("/pharmacy"),
    )
        .into_response()
}

#[derive(Deserialize)]
struct QueryForm {
    query: String,
    #[serde(default)]
    csrf: String,
}

fn presented(query: &str) -> Presented {
    let q = query.trim();
    if q.starts_with(payload::QR_PREFIX) || q.len() > 20 {
        Presented {
            qr: Some(q.to_string()),
            code: None,
        }
    } else {
        Presented {
            qr: None,
            code: Some(q.to_string()),
        }
    }
}

/// A query form of the pharmacist's page (find, dispense): the session and its CSRF token, then
/// `act` as this pharmacy from this address, rendered with the session's token.
fn query_form(
    s: &PharmacyState,
    headers: &HeaderMap,
    peer: &Peer,
    f: &QueryForm,
    act: impl FnOnce(&Presented, &Caller, &str) -> Result<String, PharmacyError>,
) -> Response {
    let (pharmacy, csrf) = match form_session(s, headers, &f.csrf) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let caller = Caller {
        pharmacy,
        source: source_of(peer),
    };
    match act(&presented(&f.query), &caller, &csrf) {
        Ok(page) => Html(page).into_response(),
        Err(e) => html_fail(&e, &csrf),
    }
}

async fn page_find(
    State(s): State<PharmacyState>,
    headers: HeaderMap,
    peer: Peer,
    Form(f): Form<QueryForm>,
) -> Response {
    query_form(&s, &headers, &peer, &f, |presented, caller, csrf| {
        s.lookup(presented, caller)
            .map(|d| html::details(&d, f.query.trim(), csrf))
    })
}

async fn page_dispense(
    State(s): State<PharmacyState>,
    headers: HeaderMap,
    peer: Peer,
    Form(f): Form<QueryForm>,
) -> Response {
    query_form(&s, &headers, &peer, &f, |presented, caller, csrf| {
        s.dispense(presented, caller).map(|r| html::dispensed(&r, csrf))
    })
}

async fn page_print(
    State(s): State<PharmacyState>,
    headers: HeaderMap,
    Path((visit_code, refill)): Path<(String, u8)>,
) -> Response {
    let csrf = match s.session(&headers) {
        Ok((_, csrf)) => csrf,
        Err(e) => return html_fail(&e, ""),
    };
    let (_, today, _) = s.now();
    let d = s
        .db()
        .and_then(|db| store::details(&db, &store::Key::VisitCode(&visit_code), today));
    match d {
        Ok(d) => Html(html::print(&d, refill, &csrf)).into_response(),
        Err(e) => html_fail(&e, &csrf),
    }
}

#[derive(Deserialize)]
struct RestoreForm {
    visit_code: String,
    refill: u8,
    reason: String,
    #[serde(default)]
    csrf: String,
}

async fn page_restore(
    State(s): State<PharmacyState>,
    headers: HeaderMap,
    Form(f): Form<RestoreForm>,
) -> Response {
    let (pharmacy, csrf) = match form_session(&s, &headers, &f.csrf) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let r = wire::Restore {
        visit_code: f.visit_code,
        refill: f.refill,
        reason: f.reason,
    };
    match s.restore(&r, &pharmacy) {
        Ok(()) => Html(html::restored(&r.visit_code, r.refill)).into_response(),
        Err(e) => html_fail(&e, &csrf),
    }
}

/// The Content-Security-Policy of the pharmacy page: nothing but its own forms and its one inline
/// style block (by hash); no scripts, no framing, no plug-ins, no base rewriting.
pub fn content_security_policy() -> String {
    use base64::Engine;
    let digest = ring::digest::digest(&ring::digest::SHA256, html::STYLE.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// Every pharmacy answer (page and API): never cached (patient data), never framed, a strict
/// CSP, no MIME sniffing, no referrer to other sites.
async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &str| {
        if let Ok(v) = header::HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    set(h, header::CACHE_CONTROL, "no-store");
    set(h, header::PRAGMA, "no-cache");
    set(h, header::CONTENT_SECURITY_POLICY, &content_security_policy());
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // `same-origin`: our own form posts carry our Origin (with `no-referrer` they say `null`).
    set(h, header::REFERRER_POLICY, "same-origin");
    resp
}

/// The pharmacy routes: `/pharmacy` (web page), `/pharmacy/api/*` (JSON) and the administrator's
/// `POST /admin/devices/{device_id}/revoke`.
pub fn router(state: PharmacyState) -> Router {
    Router::new()
        .route("/pharmacy", get(page_home))
        .route("/pharmacy/login", post(page_login))
        .route("/pharmacy/logout", post(page_logout))
        .route("/pharmacy/find", post(page_find))
        .route("/pharmacy/dispense", post(page_dispense))
        .route("/pharmacy/restore", post(page_restore))
        .route("/pharmacy/print/{visit_code}/{refill}", get(page_print))
        .route("/pharmacy/api/keys", get(api_keys))
        .route("/pharmacy/api/trust", get(api_trust))
        .route("/pharmacy/api/signers", post(api_add_signer))
        .route("/pharmacy/api/login", post(api_login))
        .route("/pharmacy/api/prescriptions", post(api_register))
        .route("/pharmacy/api/lookup", post(api_lookup))
        .route("/pharmacy/api/dispense", post(api_dispense))
        .route("/pharmacy/api/restore", post(api_restore))
        .route("/pharmacy/api/refill-op", post(api_refill_op))
        .route("/admin/devices/{device_id}/revoke", post(admin_revoke))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// A pharmacy server running on its own (tests, the browser test, the benchmark, the demo).
pub struct RunningPharmacy {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `https://127.0.0.1:PORT`.
    pub base_url: String,
    /// SHA-256 of its certificate (the pin clients use).
    pub fingerprint: [u8; 32],
    handle: axum_server::Handle<SocketAddr>,
}

impl RunningPharmacy {
    /// Stops the server.
    pub fn shutdown(&self) {
        self.handle.shutdown();
    }
}

/// Serves [`router`] over HTTPS with a fresh self-signed certificate on `addr` (port 0 picks one).
pub async fn serve(state: PharmacyState, addr: SocketAddr) -> Result<RunningPharmacy, String> {
    let tls = crate::tls::generate()?;
    let listener = std::net::TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let handle = axum_server::Handle::new();
    let server = axum_server::from_tcp_rustls(
        listener,
        axum_server::tls_rustls::RustlsConfig::from_config(tls.server_config),
    )
    .map_err(|e| e.to_string())?
    .handle(handle.clone());
    let app = router(state);
    tokio::spawn(async move {
        if let Err(e) = server
            .serve(app.into_make_service_with_connect_info::<SocketAddr>())
            .await
        {
            tracing::error!("pharmacy server stopped: {e}");
        }
    });
    Ok(RunningPharmacy {
        addr,
        base_url: format!("https://{addr}"),
        fingerprint: tls.fingerprint,
        handle,
    })
}
