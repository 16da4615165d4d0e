//! The pharmacy services of the VPN simulator: the published device keys, prescription
//! registration, the pharmacist's JSON API (lookup, dispense, abnormal-case restore), the
//! prescriber's `C`/`E` on chronic refills, and the server-rendered pharmacy web page.
//!
//! `router(state)` is merged into the simulator's axum router; [`serve`] runs it alone over HTTPS
//! (self-signed certificate) for tests, the browser test and the benchmark.

pub mod demo;
mod html;
pub mod store;

use axum::Router;
use axum::extract::{Form, Json, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use homevisit_core::model::roc::RocDateTime;
use homevisit_core::platform::{Clock, SystemClock};
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

    /// Every published key, by institution.
    pub fn published_keys(&self) -> Result<Vec<DeviceKeys>, PharmacyError> {
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
        Ok(KeySet::from_published(&self.published_keys()?))
    }

    /// Registers a prescription a device issued; the QR must verify under its institution's keys.
    pub fn register(&self, r: &wire::Registration) -> Result<String, PharmacyError> {
        let decoded = payload::decode(&r.qr).map_err(|_| PharmacyError::Malformed("QR".into()))?;
        // Registration may come days later (offline visits): check genuineness as of the issue day.
        let keys = self.published_keys()?;
        let p = verify_offline(
            &r.qr,
            &KeySet::from_published(&keys),
            decoded.prescription.issued_on,
        )?;
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

    /// The details of a presented prescription.
    pub fn lookup(&self, p: &Presented) -> Result<wire::Details, PharmacyError> {
        let (k, by_code) = self.resolve(p)?;
        let key = if by_code {
            store::Key::Code(&k)
        } else {
            store::Key::VisitCode(&k)
        };
        let (_, today, _) = self.now();
        store::details(&*self.db()?, &key, today)
    }

    /// Dispenses for `pharmacy`.
    pub fn dispense(&self, p: &Presented, pharmacy: &str) -> Result<wire::Receipt, PharmacyError> {
        let (k, by_code) = self.resolve(p)?;
        let key = if by_code {
            store::Key::Code(&k)
        } else {
            store::Key::VisitCode(&k)
        };
        let (ms, today, text) = self.now();
        store::dispense(&mut *self.db()?, &key, pharmacy, today, &text, ms)
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
        let msg = wire::refill_op_message(&r.op, &r.visit_code, r.refill, &r.institution);
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
        store::refill_op(&mut *self.db()?, &r.visit_code, r.refill, op, &r.institution, ms)
    }

    fn session(&self, headers: &HeaderMap) -> Result<String, PharmacyError> {
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

fn status_of(e: &PharmacyError) -> StatusCode {
    match e {
        PharmacyError::Unauthorized => StatusCode::UNAUTHORIZED,
        PharmacyError::UnknownCode | PharmacyError::NotRegistered => StatusCode::NOT_FOUND,
        PharmacyError::AlreadyDispensed { .. }
        | PharmacyError::NotYetDue { .. }
        | PharmacyError::Cancelled => StatusCode::CONFLICT,
        PharmacyError::Expired { .. } => StatusCode::GONE,
        PharmacyError::UnknownInstitution(_) | PharmacyError::UnknownSigner(_) => StatusCode::FORBIDDEN,
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
    let ok = headers
        .get("x-admin-token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| nhi_reader_sim::keys::ct_eq(t.as_bytes(), s.admin_token().as_bytes()));
    if !ok {
        return Err(PharmacyError::Unauthorized.into());
    }
    let key = hex::decode(&b.public_key).map_err(|_| PharmacyError::Malformed("public key hex".into()))?;
    s.register_signer(&b.institution, &b.device_id, &key)
        .map_err(PharmacyError::Server)?;
    Ok(Json(serde_json::json!({"ok": true})))
}

async fn api_login(State(s): State<PharmacyState>, Json(b): Json<wire::Login>) -> ApiResult<wire::Session> {
    let (ms, _, _) = s.now();
    let token = store::login(&*s.db()?, &b.pharmacy, &b.password, ms)?;
    Ok(Json(wire::Session { token }))
}

async fn api_register(
    State(s): State<PharmacyState>,
    Json(b): Json<wire::Registration>,
) -> ApiResult<serde_json::Value> {
    let visit_code = s.register(&b)?;
    Ok(Json(serde_json::json!({ "visit_code": visit_code })))
}

async fn api_lookup(
    State(s): State<PharmacyState>,
    headers: HeaderMap,
    Json(b): Json<Presented>,
) -> ApiResult<wire::Details> {
    s.session(&headers)?;
    Ok(Json(s.lookup(&b)?))
}

async fn api_dispense(
    State(s): State<PharmacyState>,
    headers: HeaderMap,
    Json(b): Json<Presented>,
) -> ApiResult<wire::Receipt> {
    let pharmacy = s.session(&headers)?;
    Ok(Json(s.dispense(&b, &pharmacy)?))
}

async fn api_restore(
    State(s): State<PharmacyState>,
    headers: HeaderMap,
    Json(b): Json<wire::Restore>,
) -> ApiResult<serde_json::Value> {
    let pharmacy = s.session(&headers)?;
    s.restore(&b, &pharmacy)?;
    Ok(Json(serde_json::json!({"ok": true})))
}

async fn api_refill_op(
    State(s): State<PharmacyState>,
    Json(b): Json<wire::RefillOpRequest>,
) -> ApiResult<wire::RefillView> {
    Ok(Json(s.refill_op(&b)?))
}

fn html_fail(e: &PharmacyError) -> Response {
    if matches!(e, PharmacyError::Unauthorized) {
        return (
            StatusCode::UNAUTHORIZED,
            Html(html::login(Some("請先登入 Please log in"))),
        )
            .into_response();
    }
    (status_of(e), Html(html::refused(e))).into_response()
}

async fn page_home(State(s): State<PharmacyState>, headers: HeaderMap) -> Response {
    match s.session(&headers) {
        Ok(p) => Html(html::search(&p)).into_response(),
        Err(_) => Html(html::login(None)).into_response(),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    pharmacy: String,
    password: String,
}

async fn page_login(State(s): State<PharmacyState>, Form(f): Form<LoginForm>) -> Response {
    let (ms, _, _) = s.now();
    let token = s
        .db()
        .and_then(|db| store::login(&db, f.pharmacy.trim(), &f.password, ms));
    match token {
        Ok(t) => (
            [(
                header::SET_COOKIE,
                format!("rx_session={t}; Path=/pharmacy; HttpOnly; Secure; SameSite=Strict"),
            )],
            Redirect::to("/pharmacy"),
        )
            .into_response(),
        Err(PharmacyError::Refused(m)) => (
            StatusCode::FORBIDDEN,
            Html(html::login(Some(&format!("帳號已鎖定 Locked: {m}")))),
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

async fn page_logout(State(s): State<PharmacyState>, headers: HeaderMap) -> Response {
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

async fn page_find(State(s): State<PharmacyState>, headers: HeaderMap, Form(f): Form<QueryForm>) -> Response {
    if let Err(e) = s.session(&headers) {
        return html_fail(&e);
    }
    match s.lookup(&presented(&f.query)) {
        Ok(d) => Html(html::details(&d, f.query.trim())).into_response(),
        Err(e) => html_fail(&e),
    }
}

async fn page_dispense(
    State(s): State<PharmacyState>,
    headers: HeaderMap,
    Form(f): Form<QueryForm>,
) -> Response {
    let pharmacy = match s.session(&headers) {
        Ok(p) => p,
        Err(e) => return html_fail(&e),
    };
    match s.dispense(&presented(&f.query), &pharmacy) {
        Ok(r) => Html(html::dispensed(&r)).into_response(),
        Err(e) => html_fail(&e),
    }
}

async fn page_print(
    State(s): State<PharmacyState>,
    headers: HeaderMap,
    Path((visit_code, refill)): Path<(String, u8)>,
) -> Response {
    if let Err(e) = s.session(&headers) {
        return html_fail(&e);
    }
    let (_, today, _) = s.now();
    let d = s
        .db()
        .and_then(|db| store::details(&db, &store::Key::VisitCode(&visit_code), today));
    match d {
        Ok(d) => Html(html::print(&d, refill)).into_response(),
        Err(e) => html_fail(&e),
    }
}

#[derive(Deserialize)]
struct RestoreForm {
    visit_code: String,
    refill: u8,
    reason: String,
}

async fn page_restore(
    State(s): State<PharmacyState>,
    headers: HeaderMap,
    Form(f): Form<RestoreForm>,
) -> Response {
    let pharmacy = match s.session(&headers) {
        Ok(p) => p,
        Err(e) => return html_fail(&e),
    };
    let r = wire::Restore {
        visit_code: f.visit_code,
        refill: f.refill,
        reason: f.reason,
    };
    match s.restore(&r, &pharmacy) {
        Ok(()) => Html(html::restored(&r.visit_code, r.refill)).into_response(),
        Err(e) => html_fail(&e),
    }
}

/// The pharmacy routes: `/pharmacy` (web page) and `/pharmacy/api/*` (JSON).
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
        .route("/pharmacy/api/signers", post(api_add_signer))
        .route("/pharmacy/api/login", post(api_login))
        .route("/pharmacy/api/prescriptions", post(api_register))
        .route("/pharmacy/api/lookup", post(api_lookup))
        .route("/pharmacy/api/dispense", post(api_dispense))
        .route("/pharmacy/api/restore", post(api_restore))
        .route("/pharmacy/api/refill-op", post(api_refill_op))
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
        if let Err(e) = server.serve(app.into_make_service()).await {
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
