//! The simulated care-team information-sharing platform (居家醫療整合照護資訊共享平台, seed 000
//! §肆–§伍): the authority on the shared record. Every write is a call into
//! `homevisit_core::team::rules::apply` (the function the device runs before it queues the write),
//! so both sides enforce one set of rules; the fixed vectors run against this module too.
//!
//! Device routes (signed): `POST /team/push` (one write; refused with the rule's code and field,
//! 422), `POST /team/sync` (every case the institution may see, with only the messages it sees,
//! and its teams' members). Access control is checked on every read and write.
//!
//! Admin routes (header `x-admin-token`): `POST /admin/team/cases` (seed a case and its team),
//! `POST /admin/team/cases/{id}/access` (change access as the enrolling institution does),
//! `POST /admin/team/cases/{id}/messages` (another institution posts a message),
//! `POST /admin/team/bindings` (a QR-2 + PIN for another institution of the team), and
//! `GET /admin/team/demo?institution=…` (idempotent fixture for the Kotlin test, whose admin
//! helper only GETs: the demo patient's case enrolled by `institution` in team [`DEMO_TEAM`],
//! shared with [`DEMO_PARTNER`], with one message of the partner's to the team).
//!
//! The HMIC submission handler registers an accepted case with [`register_case`].

#[cfg(test)]
mod tests;

use crate::{ApiError, ApiResult, Binding, Device, SimState, check_admin, json_body};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use homevisit_core::model::roc::RocDate;
use homevisit_core::team::model::{CaseBasics, CaseFile, Message, SharedCase, TeamMember};
use homevisit_core::team::rules::{self, Applied, Violation};
use homevisit_core::team::wire::{self, SyncResponse, TeamWrite, WriteAck};
use homevisit_core::vpn::binding::BindingQr;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS team_members (
    team TEXT NOT NULL, institution TEXT NOT NULL, PRIMARY KEY (team, institution)
);
CREATE TABLE IF NOT EXISTS team_cases (
    case_id TEXT PRIMARY KEY, team TEXT NOT NULL, enrolling TEXT NOT NULL, closed INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL, updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS team_receipts (
    op TEXT NOT NULL, item TEXT NOT NULL, rev INTEGER NOT NULL, received_ms INTEGER NOT NULL,
    PRIMARY KEY (op, item, rev)
);";

/// Bytes of request and response bodies the device routes carried (the bench's measure).
static WIRE_BYTES: AtomicU64 = AtomicU64::new(0);

/// Bytes of JSON bodies `/team/push` and `/team/sync` received and answered so far (process-wide).
pub fn wire_bytes() -> u64 {
    WIRE_BYTES.load(Ordering::Relaxed)
}

/// The refusal of a broken rule: 422 with the rule's code and field.
pub fn refusal(v: Violation) -> ApiError {
    let mut e = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, v.code(), v.to_string());
    e.1.field = Some(v.field().to_string());
    e
}

fn schema(conn: &Connection) -> ApiResult<()> {
    conn.execute_batch(SCHEMA)?;
    Ok(())
}

/// Adds `institution` to care team `team` (idempotent).
pub fn add_member(conn: &Connection, team: &str, institution: &str) -> ApiResult<()> {
    schema(conn)?;
    conn.execute(
        "INSERT OR IGNORE INTO team_members (team, institution) VALUES (?1, ?2)",
        params![team, institution],
    )?;
    Ok(())
}

/// The institutions of care team `team`.
pub fn members_of(conn: &Connection, team: &str) -> ApiResult<Vec<String>> {
    schema(conn)?;
    let mut stmt =
        conn.prepare("SELECT institution FROM team_members WHERE team = ?1 ORDER BY institution")?;
    let rows = stmt.query_map([team], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The platform's copy of a case.
pub fn load(conn: &Connection, case_id: &str) -> ApiResult<Option<CaseFile>> {
    schema(conn)?;
    let body: Option<String> = conn
        .query_row("SELECT body FROM team_cases WHERE case_id = ?1", [case_id], |r| {
            r.get(0)
        })
        .optional()?;
    body.map(|b| serde_json::from_str(&b).map_err(ApiError::internal))
        .transpose()
}

fn save(conn: &Connection, file: &CaseFile, now_ms: i64) -> ApiResult<()> {
    let body = serde_json::to_string(file).map_err(ApiError::internal)?;
    conn.execute(
        "INSERT INTO team_cases (case_id, team, enrolling, body, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (case_id) DO UPDATE SET body = excluded.body, updated_ms = excluded.updated_ms",
        params![
            file.case.case_id,
            file.case.team,
            file.case.enrolling,
            body,
            now_ms
        ],
    )?;
    Ok(())
}

fn all(conn: &Connection) -> ApiResult<Vec<CaseFile>> {
    schema(conn)?;
    let mut stmt = conn.prepare("SELECT body FROM team_cases WHERE closed = 0 ORDER BY case_id")?;
    let bodies: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    bodies
        .iter()
        .map(|b| serde_json::from_str(b).map_err(ApiError::internal))
        .collect()
}

/// Registers a case accepted for care team `team`, enrolled by `enrolling`, shared with
/// `access` (team institutions): the one call the HMIC submission handler makes. Returns the
/// case id; a case already registered under `case_id` keeps its notes, access and records and
/// takes the new basic data (the latest application).
pub fn register_case(
    conn: &Connection,
    case_id: &str,
    team: &str,
    enrolling: &str,
    basics: &CaseBasics,
    access: &[String],
    now_ms: i64,
) -> ApiResult<String> {
    schema(conn)?;
    homevisit_core::model::care::CareTeamCode::parse(team)
        .map_err(|e| refusal(Violation::invalid(e.field, e.reason)))?;
    add_member(conn, team, enrolling)?;
    for a in access {
        add_member(conn, team, a)?;
    }
    let file = match load(conn, case_id)? {
        Some(mut f) => {
            f.case.basics = basics.clone();
            f
        }
        None => CaseFile::new(SharedCase {
            case_id: case_id.to_string(),
            team: team.to_string(),
            enrolling: enrolling.to_string(),
            basics: basics.clone(),
            special_notes: String::new(),
            access: access.iter().filter(|a| *a != enrolling).cloned().collect(),
            rev: 1,
        }),
    };
    save(conn, &file, now_ms)?;
    Ok(case_id.to_string())
}

/// Closes a case: it leaves every device at its next sync.
pub fn close_case(conn: &Connection, case_id: &str) -> ApiResult<()> {
    schema(conn)?;
    conn.execute("UPDATE team_cases SET closed = 1 WHERE case_id = ?1", [case_id])?;
    Ok(())
}

/// How many times the platform recorded revision `rev` of item `item` (`op` as the write's):
/// exactly-once checks (never more than 1).
pub fn receipts(conn: &Connection, op: &str, item: &str, rev: u32) -> u64 {
    let _ = schema(conn);
    conn.query_row(
        "SELECT count(*) FROM team_receipts WHERE op = ?1 AND item = ?2 AND rev = ?3",
        params![op, item, rev],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n.max(0) as u64)
    .unwrap_or(0)
}

/// One write by `institution`: access and every rule checked (`rules::apply`), recorded once.
pub fn push(conn: &mut Connection, institution: &str, write: &TeamWrite, now_ms: i64) -> ApiResult<WriteAck> {
    schema(conn)?;
    let tx = conn.transaction()?;
    let (id, rev) = write.item();
    let ack = |status: &str| WriteAck {
        id: id.to_string(),
        rev,
        status: status.into(),
    };
    // An unknown or closed case is refused like a case the institution may not see.
    let closed: bool = tx
        .query_row(
            "SELECT closed FROM team_cases WHERE case_id = ?1",
            [write.case_id()],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .is_none_or(|c| c != 0);
    let Some(mut file) = load(&tx, write.case_id())?.filter(|_| !closed) else {
        return Err(refusal(Violation::NoAccess));
    };
    let members = members_of(&tx, &file.case.team)?;
    let status = match rules::apply(&mut file, &members, institution, write).map_err(refusal)? {
        Applied::Duplicate => "duplicate",
        Applied::Changed => {
            save(&tx, &file, now_ms)?;
            tx.execute(
                "INSERT OR IGNORE INTO team_receipts (op, item, rev, received_ms) VALUES (?1, ?2, ?3, ?4)",
                params![write.op(), id, rev, now_ms],
            )?;
            "received"
        }
    };
    tx.commit()?;
    Ok(ack(status))
}

/// What `institution` may see: its cases (only the messages it sees) and its teams' members
/// with their current cases.
pub fn sync_for(conn: &Connection, institution: &str) -> ApiResult<SyncResponse> {
    let files = all(conn)?;
    let mut out = SyncResponse::default();
    let mut teams: Vec<String> = Vec::new();
    {
        let mut stmt = conn.prepare("SELECT team FROM team_members WHERE institution = ?1 ORDER BY team")?;
        for t in stmt.query_map([institution], |r| r.get::<_, String>(0))? {
            teams.push(t?);
        }
    }
    for f in &files {
        if let Some(v) = rules::view_for(f, institution) {
            out.files.push(v);
        }
    }
    for team in &teams {
        for member in members_of(conn, team)? {
            let in_team = files.iter().filter(|f| &f.case.team == team);
            out.members.push(TeamMember {
                team: team.clone(),
                institution: member.clone(),
                enrolled_cases: in_team.clone().filter(|f| f.case.enrolling == member).count() as u32,
                shared_cases: in_team.filter(|f| rules::may_see(&f.case, &member)).count() as u32,
            });
        }
    }
    Ok(out)
}

/// The enrolling institution changes the case's access control (the admin route's action).
pub fn set_access(
    conn: &mut Connection,
    case_id: &str,
    access: Vec<String>,
    now_ms: i64,
) -> ApiResult<SharedCase> {
    let Some(file) = load(conn, case_id)? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such case"));
    };
    let write = TeamWrite::Case {
        case_id: case_id.to_string(),
        special_notes: file.case.special_notes.clone(),
        access,
        rev: file.case.rev + 1,
    };
    push(conn, &file.case.enrolling, &write, now_ms)?;
    load(conn, case_id)?
        .map(|f| f.case)
        .ok_or_else(|| ApiError::internal("the case vanished"))
}

/// A binding (QR-2 + PIN) that enrols a device for `institution` (another team institution).
pub fn binding_for(state: &SimState, institution: &str) -> Result<Binding, String> {
    homevisit_core::model::InstitutionCode::parse(institution).map_err(|e| e.reason.to_string())?;
    let mut b = state.new_binding(state.config.binding_ttl)?;
    {
        let conn = state.db();
        crate::db::ensure_institution(&conn, institution, "照護團隊成員院所", "")
            .map_err(|e| e.to_string())?;
        conn.execute(
            "UPDATE bindings SET institution = ?1 WHERE token = ?2",
            params![institution, b.token],
        )
        .map_err(|e| e.to_string())?;
    }
    let mut qr = BindingQr::parse(&b.qr).map_err(|e| e.to_string())?;
    qr.institution_code = institution.to_string();
    b.qr = qr.to_payload();
    Ok(b)
}

async fn device_push(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
    body: Bytes,
) -> ApiResult<axum::Json<WriteAck>> {
    let write: TeamWrite = json_body(&body)?;
    let now = state.now_ms();
    let ack = push(&mut state.db(), &device.institution, &write, now)?;
    let answer = serde_json::to_vec(&ack).map(|b| b.len()).unwrap_or(0);
    WIRE_BYTES.fetch_add((body.len() + answer) as u64, Ordering::Relaxed);
    Ok(axum::Json(ack))
}

async fn device_sync(
    State(state): State<Arc<SimState>>,
    axum::Extension(device): axum::Extension<Device>,
    body: Bytes,
) -> ApiResult<axum::Json<SyncResponse>> {
    let resp = sync_for(&state.db(), &device.institution)?;
    let answer = serde_json::to_vec(&resp).map(|b| b.len()).unwrap_or(0);
    WIRE_BYTES.fetch_add((body.len() + answer) as u64, Ordering::Relaxed);
    Ok(axum::Json(resp))
}

/// The demo fixture's care team.
pub const DEMO_TEAM: &str = "HM00000001";
/// The demo fixture's partner institution.
pub const DEMO_PARTNER: &str = "3501200011";

/// The demo fixture (see the module docs): the case id; the same case and message when called again.
pub fn demo_case(conn: &mut Connection, institution: &str, now_ms: i64) -> ApiResult<String> {
    homevisit_core::model::InstitutionCode::parse(institution)
        .map_err(|e| refusal(Violation::invalid(e.field, e.reason)))?;
    let case_id = seed_case(
        conn,
        &SeedCase {
            case_id: format!("{DEMO_TEAM}-{institution}-demo"),
            team: DEMO_TEAM.into(),
            enrolling: institution.into(),
            members: vec![institution.into(), DEMO_PARTNER.into()],
            access: vec![DEMO_PARTNER.into()],
            national_id: "A123456789".into(),
            name: "王小明".into(),
            birth_date: "0290501".into(),
            sex: "M".into(),
        },
        now_ms,
    )?;
    let m = Message {
        id: format!("{case_id}-partner-hello"),
        case_id: case_id.clone(),
        author: DEMO_PARTNER.into(),
        to: Vec::new(),
        reply_to: None,
        text: "下週三可聯合訪視".into(),
        created_ms: now_ms,
        rev: 1,
    };
    push(conn, DEMO_PARTNER, &TeamWrite::Message(m), now_ms)?;
    Ok(case_id)
}

#[derive(Deserialize)]
struct DemoQuery {
    institution: String,
}

async fn admin_demo(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<DemoQuery>,
) -> ApiResult<axum::Json<CaseCreated>> {
    check_admin(&state, &headers)?;
    let now = state.now_ms();
    let case_id = demo_case(&mut state.db(), q.institution.trim(), now)?;
    Ok(axum::Json(CaseCreated { case_id }))
}

/// The admin route's case seed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SeedCase {
    /// The case id (empty: made from the team and a serial).
    #[serde(default)]
    pub case_id: String,
    /// The care team code.
    pub team: String,
    /// The enrolling institution.
    pub enrolling: String,
    /// Other team institutions (all members of the team).
    #[serde(default)]
    pub members: Vec<String>,
    /// Institutions the case is shared with.
    #[serde(default)]
    pub access: Vec<String>,
    /// National ID.
    #[serde(default)]
    pub national_id: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Birth date, ROC `YYYMMDD`.
    #[serde(default)]
    pub birth_date: String,
    /// `M` / `F`.
    #[serde(default)]
    pub sex: String,
}

/// Seeds a case and its team (the admin route's action).
pub fn seed_case(conn: &Connection, seed: &SeedCase, now_ms: i64) -> ApiResult<String> {
    schema(conn)?;
    for m in &seed.members {
        add_member(conn, &seed.team, m)?;
    }
    let case_id = if seed.case_id.trim().is_empty() {
        let n: i64 = conn.query_row("SELECT count(*) + 1 FROM team_cases", [], |r| r.get(0))?;
        format!("{}-{n:04}", seed.team)
    } else {
        seed.case_id.trim().to_string()
    };
    let basics = CaseBasics {
        national_id: seed.national_id.clone(),
        name: seed.name.clone(),
        birth_date: RocDate::parse(&seed.birth_date).ok().map(|d| d.naive()),
        sex: seed.sex.clone(),
        care_stage: Some(homevisit_core::model::care::CareStage::HomeMedical),
        period_start: None,
        period_end: None,
    };
    register_case(
        conn,
        &case_id,
        &seed.team,
        &seed.enrolling,
        &basics,
        &seed.access,
        now_ms,
    )
}

#[derive(Serialize)]
struct CaseCreated {
    case_id: String,
}

async fn admin_seed(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<CaseCreated>> {
    check_admin(&state, &headers)?;
    let seed: SeedCase = json_body(&body)?;
    let now = state.now_ms();
    let case_id = seed_case(&state.db(), &seed, now)?;
    Ok(axum::Json(CaseCreated { case_id }))
}

#[derive(Deserialize)]
struct AccessBody {
    access: Vec<String>,
}

#[derive(Serialize)]
struct AccessView {
    case_id: String,
    access: Vec<String>,
    rev: u32,
}

async fn admin_access(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(case_id): Path<String>,
    body: Bytes,
) -> ApiResult<axum::Json<AccessView>> {
    check_admin(&state, &headers)?;
    let b: AccessBody = json_body(&body)?;
    let now = state.now_ms();
    let c = set_access(&mut state.db(), &case_id, b.access, now)?;
    Ok(axum::Json(AccessView {
        case_id: c.case_id,
        access: c.access,
        rev: c.rev,
    }))
}

#[derive(Deserialize)]
struct MessageBody {
    from: String,
    text: String,
    #[serde(default)]
    to: Vec<String>,
}

async fn admin_message(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(case_id): Path<String>,
    body: Bytes,
) -> ApiResult<axum::Json<WriteAck>> {
    check_admin(&state, &headers)?;
    let b: MessageBody = json_body(&body)?;
    let now = state.now_ms();
    let m = Message {
        id: uuid::Uuid::now_v7().to_string(),
        case_id,
        author: b.from.clone(),
        to: b.to,
        reply_to: None,
        text: b.text,
        created_ms: now,
        rev: 1,
    };
    push(&mut state.db(), &b.from, &TeamWrite::Message(m), now).map(axum::Json)
}

#[derive(Deserialize)]
struct BindingBody {
    institution: String,
}

#[derive(Serialize)]
struct BindingView {
    qr: String,
    pin: String,
}

async fn admin_binding(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<BindingView>> {
    check_admin(&state, &headers)?;
    let b: BindingBody = json_body(&body)?;
    let binding = binding_for(&state, b.institution.trim())
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e))?;
    Ok(axum::Json(BindingView {
        qr: binding.qr,
        pin: binding.pin,
    }))
}

/// The signed device routes (merged before the signature layer).
pub fn signed_routes() -> Router<Arc<SimState>> {
    Router::new()
        .route(wire::PUSH, post(device_push))
        .route(wire::SYNC, post(device_sync))
}

/// The admin routes.
pub fn admin_routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/admin/team/cases", post(admin_seed))
        .route("/admin/team/cases/{case_id}/access", post(admin_access))
        .route("/admin/team/cases/{case_id}/messages", post(admin_message))
        .route("/admin/team/bindings", post(admin_binding))
        .route("/admin/team/demo", axum::routing::get(admin_demo))
}
