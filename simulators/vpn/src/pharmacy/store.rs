//! The pharmacy side's SQLite tables and every state change, each in one transaction:
//! registered prescriptions, their dispenses (one row per refill), pharmacy accounts (PBKDF2
//! password hashes) and sessions (each with its anti-forgery token), published signer keys and
//! the revoked ones, login failures per account and address, failed one-time-code attempts per
//! account and per address, the nonces of `C`/`E` requests, and the audit log of dispenses,
//! restores and `C`/`E`.

use chrono::NaiveDate;
use homevisit_core::rx::barcode::roc_date;
use homevisit_core::rx::orderset::RxLine;
use homevisit_core::rx::payload::SignedPayload;
use homevisit_core::rx::pharmacy::PharmacyError;
use homevisit_core::rx::pharmacy::wire::{Details, Receipt, RefillView, RevokedKey};
use homevisit_core::rx::refill::{self, RefillError, RefillOp, RefillStatus};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS rx_signers (
    institution TEXT NOT NULL, device_id TEXT NOT NULL, public_key BLOB NOT NULL,
    PRIMARY KEY (institution, device_id)
);
CREATE TABLE IF NOT EXISTS rx_pharmacies (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, salt BLOB NOT NULL, pw_hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS rx_login_lock (
    code TEXT NOT NULL, source TEXT NOT NULL, failures INTEGER NOT NULL, locked_until_ms INTEGER NOT NULL,
    PRIMARY KEY (code, source)
);
CREATE TABLE IF NOT EXISTS rx_revoked (
    institution TEXT NOT NULL, device_id TEXT NOT NULL, public_key BLOB NOT NULL, revoked_ms INTEGER NOT NULL,
    PRIMARY KEY (institution, device_id)
);
CREATE TABLE IF NOT EXISTS rx_code_failures (
    scope TEXT NOT NULL, who TEXT NOT NULL, window_start_ms INTEGER NOT NULL, failures INTEGER NOT NULL,
    PRIMARY KEY (scope, who)
);
CREATE TABLE IF NOT EXISTS rx_op_nonces (
    nonce TEXT PRIMARY KEY, seen_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rx_sessions (
    token TEXT PRIMARY KEY, pharmacy TEXT NOT NULL, created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rx_prescriptions (
    visit_code TEXT PRIMARY KEY, institution TEXT NOT NULL, qr TEXT NOT NULL,
    otc TEXT NOT NULL UNIQUE, otc_used INTEGER NOT NULL DEFAULT 0, contact TEXT NOT NULL,
    patient_name TEXT NOT NULL, birth_date TEXT NOT NULL, patient_id TEXT NOT NULL,
    issued_on TEXT NOT NULL, chronic INTEGER NOT NULL, refills INTEGER NOT NULL,
    lines TEXT NOT NULL, registered_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rx_refills (
    visit_code TEXT NOT NULL, refill INTEGER NOT NULL, from_day TEXT NOT NULL, to_day TEXT NOT NULL,
    status TEXT NOT NULL, dispensed_by TEXT, dispensed_at TEXT, receipt_no TEXT, via TEXT,
    PRIMARY KEY (visit_code, refill)
);
CREATE TABLE IF NOT EXISTS rx_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, visit_code TEXT NOT NULL, refill INTEGER NOT NULL, detail TEXT NOT NULL
);
";

/// Opens (creating) the tables on `conn`; a file made by an older simulator gets the new columns.
pub fn init(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(SCHEMA)?;
    add_column(conn, "rx_pharmacies", "kdf_iter INTEGER NOT NULL DEFAULT 0")?;
    add_column(conn, "rx_sessions", "csrf TEXT NOT NULL DEFAULT ''")?;
    Ok(())
}

fn add_column(conn: &Connection, table: &str, def: &str) -> rusqlite::Result<()> {
    let name = def.split_whitespace().next().unwrap_or_default();
    let has: bool = conn
        .prepare(&format!(
            "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
        ))?
        .exists([name])?;
    if !has {
        conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {def}"))?;
    }
    Ok(())
}

pub(crate) fn server_err(e: impl std::fmt::Display) -> PharmacyError {
    PharmacyError::Server(e.to_string())
}

/// `n` random bytes as hex (session tokens, salts).
pub fn random_hex(n: usize) -> String {
    use ring::rand::SecureRandom;
    let mut b = vec![0u8; n];
    // The system RNG only fails when the OS has no entropy source at all; a zero token would then
    // still be unique per row only by luck, so fall back to time-derived bytes.
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        b = uuid::Uuid::now_v7()
            .as_bytes()
            .iter()
            .cycle()
            .take(n)
            .copied()
            .collect();
    }
    hex::encode(b)
}

/// PBKDF2-HMAC-SHA256 rounds for a pharmacy password (OWASP's floor for this PRF is 600,000;
/// the simulator keeps tests quick, and the count is stored per row so it can be raised).
pub const PBKDF2_ITERATIONS: u32 = 100_000;

/// The PBKDF2-HMAC-SHA256 hash of `password` under `salt` with `iterations` rounds (32 bytes);
/// `iterations` 0 is a row of an older simulator (one SHA-256 of salt ‖ password), rehashed with
/// PBKDF2 at its next good login.
pub fn pw_hash(salt: &[u8], password: &str, iterations: u32) -> Vec<u8> {
    if iterations == 0 {
        return ring::digest::digest(&ring::digest::SHA256, &[salt, password.as_bytes()].concat())
            .as_ref()
            .to_vec();
    }
    let mut out = [0u8; 32];
    let rounds = std::num::NonZeroU32::new(iterations).unwrap_or(std::num::NonZeroU32::MIN);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt,
        password.as_bytes(),
        &mut out,
    );
    out.to_vec()
}

/// Adds (or replaces) a pharmacy account.
pub fn add_pharmacy(conn: &Connection, code: &str, name: &str, password: &str) -> rusqlite::Result<()> {
    let salt = random_hex(16).into_bytes();
    conn.execute(
        "INSERT OR REPLACE INTO rx_pharmacies (code, name, salt, pw_hash, kdf_iter) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![code, name, salt, pw_hash(&salt, password, PBKDF2_ITERATIONS), PBKDF2_ITERATIONS],
    )?;
    Ok(())
}

/// Wrong passwords in a row, from one address, before that address is locked out of the account.
pub const MAX_LOGIN_FAILURES: i64 = 5;
/// How long an address stays locked out of an account.
pub const LOCKOUT_MS: i64 = 15 * 60 * 1000;

/// Checks a password sent from `source` (the client's address) and opens a session; returns its
/// token. After [`MAX_LOGIN_FAILURES`] wrong passwords in a row from one address that address is
/// locked out of the account for [`LOCKOUT_MS`] (even with the right password); other addresses —
/// the pharmacy's own counter — are not: a stranger cannot lock a pharmacy out.
pub fn login(
    conn: &Connection,
    code: &str,
    password: &str,
    source: &str,
    now_ms: i64,
) -> Result<String, PharmacyError> {
    let locked_until: i64 = conn
        .query_row(
            "SELECT locked_until_ms FROM rx_login_lock WHERE code = ?1 AND source = ?2",
            [code, source],
            |r| r.get(0),
        )
        .optional()
        .map_err(server_err)?
        .unwrap_or(0);
    if now_ms < locked_until {
        return Err(PharmacyError::Throttled {
            retry_after_s: u64::try_from((locked_until - now_ms + 999) / 1000).unwrap_or(1),
        });
    }
    let row: Option<(Vec<u8>, Vec<u8>, u32)> = conn
        .query_row(
            "SELECT salt, pw_hash, kdf_iter FROM rx_pharmacies WHERE code = ?1",
            [code],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(server_err)?;
    let ok = match &row {
        Some((salt, hash, iter)) => nhi_reader_sim::keys::ct_eq(hash, &pw_hash(salt, password, *iter)),
        // Unknown account: the same work, so timing does not tell which accounts exist.
        None => {
            let _ = pw_hash(b"no such account", password, PBKDF2_ITERATIONS);
            false
        }
    };
    if !ok {
        conn.execute(
            "INSERT INTO rx_login_lock (code, source, failures, locked_until_ms) VALUES (?1, ?2, 1, 0)
             ON CONFLICT (code, source) DO UPDATE SET
                 locked_until_ms = CASE WHEN failures + 1 >= ?3 THEN ?4 ELSE 0 END,
                 failures = CASE WHEN failures + 1 >= ?3 THEN 0 ELSE failures + 1 END",
            params![code, source, MAX_LOGIN_FAILURES, now_ms + LOCKOUT_MS],
        )
        .map_err(server_err)?;
        return Err(PharmacyError::Unauthorized);
    }
    conn.execute(
        "DELETE FROM rx_login_lock WHERE code = ?1 AND source = ?2",
        [code, source],
    )
    .map_err(server_err)?;
    if let Some((salt, _, iter)) = row
        && iter < PBKDF2_ITERATIONS
    {
        conn.execute(
            "UPDATE rx_pharmacies SET pw_hash = ?1, kdf_iter = ?2 WHERE code = ?3",
            params![
                pw_hash(&salt, password, PBKDF2_ITERATIONS),
                PBKDF2_ITERATIONS,
                code
            ],
        )
        .map_err(server_err)?;
    }
    let token = random_hex(24);
    conn.execute(
        "INSERT INTO rx_sessions (token, pharmacy, created_ms, csrf) VALUES (?1, ?2, ?3, ?4)",
        params![token, code, now_ms, random_hex(16)],
    )
    .map_err(server_err)?;
    Ok(token)
}

/// How long a pharmacy session lasts (a working day).
pub const SESSION_TTL_MS: i64 = 12 * 3600 * 1000;

/// The pharmacy of a live session token, and the session's anti-forgery token (every form of the
/// pharmacy page carries it; a post without it is refused).
pub fn session(conn: &Connection, token: &str, now_ms: i64) -> Result<(String, String), PharmacyError> {
    conn.query_row(
        "SELECT pharmacy, csrf FROM rx_sessions WHERE token = ?1 AND created_ms > ?2",
        params![token, now_ms - SESSION_TTL_MS],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(server_err)?
    .ok_or(PharmacyError::Unauthorized)
}

/// One-time codes that name no prescription, per account and per address, within
/// [`CODE_WINDOW_MS`] before lookups by code are refused for the rest of the window.
pub const MAX_CODE_FAILURES: i64 = 10;
/// The window of [`MAX_CODE_FAILURES`].
pub const CODE_WINDOW_MS: i64 = 15 * 60 * 1000;

/// Refused with [`PharmacyError::Throttled`] when the account or the address used up its wrong
/// one-time codes in the current window.
pub fn check_code_throttle(
    conn: &Connection,
    account: &str,
    source: &str,
    now_ms: i64,
) -> Result<(), PharmacyError> {
    for (scope, who) in [("account", account), ("source", source)] {
        let row: Option<(i64, i64)> = conn
            .query_row(
                "SELECT window_start_ms, failures FROM rx_code_failures WHERE scope = ?1 AND who = ?2",
                [scope, who],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(server_err)?;
        if let Some((start, failures)) = row
            && now_ms < start + CODE_WINDOW_MS
            && failures >= MAX_CODE_FAILURES
        {
            return Err(PharmacyError::Throttled {
                retry_after_s: u64::try_from((start + CODE_WINDOW_MS - now_ms + 999) / 1000).unwrap_or(1),
            });
        }
    }
    Ok(())
}

/// Counts one wrong one-time code against the account and the address.
pub fn record_code_failure(
    conn: &Connection,
    account: &str,
    source: &str,
    now_ms: i64,
) -> Result<(), PharmacyError> {
    for (scope, who) in [("account", account), ("source", source)] {
        conn.execute(
            "INSERT INTO rx_code_failures (scope, who, window_start_ms, failures) VALUES (?1, ?2, ?3, 1)
             ON CONFLICT (scope, who) DO UPDATE SET
                 failures = CASE WHEN ?3 >= window_start_ms + ?4 THEN 1 ELSE failures + 1 END,
                 window_start_ms = CASE WHEN ?3 >= window_start_ms + ?4 THEN ?3 ELSE window_start_ms END",
            params![scope, who, now_ms, CODE_WINDOW_MS],
        )
        .map_err(server_err)?;
    }
    Ok(())
}

/// Records a revoked device key (idempotent: the first revocation time is kept).
pub fn revoke(
    conn: &Connection,
    institution: &str,
    device_id: &str,
    public_key: &[u8],
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO rx_revoked (institution, device_id, public_key, revoked_ms) VALUES (?1, ?2, ?3, ?4)",
        params![institution, device_id, public_key, now_ms],
    )
    .map(|_| ())
}

/// Every revoked key, as the trust list names it.
pub fn revoked(conn: &Connection) -> rusqlite::Result<Vec<RevokedKey>> {
    let mut st =
        conn.prepare("SELECT institution, device_id, public_key, revoked_ms FROM rx_revoked ORDER BY 1, 2")?;
    st.query_map([], |r| {
        Ok(RevokedKey {
            institution_code: r.get(0)?,
            device_id: r.get(1)?,
            public_key: hex::encode(r.get::<_, Vec<u8>>(2)?),
            revoked_at_ms: r.get(3)?,
        })
    })?
    .collect()
}

/// Records the nonce of a signed `C`/`E` request; a nonce seen before is [`PharmacyError::Replayed`].
/// Nonces older than twice the allowed clock difference are forgotten (their requests are
/// refused by their time anyway).
pub fn use_op_nonce(
    conn: &Connection,
    nonce: &str,
    now_ms: i64,
    max_skew_ms: i64,
) -> Result<(), PharmacyError> {
    conn.execute(
        "DELETE FROM rx_op_nonces WHERE seen_ms < ?1",
        [now_ms - 2 * max_skew_ms],
    )
    .map_err(server_err)?;
    let n = conn
        .execute(
            "INSERT OR IGNORE INTO rx_op_nonces (nonce, seen_ms) VALUES (?1, ?2)",
            params![nonce, now_ms],
        )
        .map_err(server_err)?;
    if n == 0 {
        return Err(PharmacyError::Replayed);
    }
    Ok(())
}

/// Ends a session.
pub fn logout(conn: &Connection, token: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM rx_sessions WHERE token = ?1", [token])
        .map(|_| ())
}

/// Publishes a device key for an institution.
pub fn add_signer(
    conn: &Connection,
    institution: &str,
    device_id: &str,
    public_key: &[u8],
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO rx_signers (institution, device_id, public_key) VALUES (?1, ?2, ?3)",
        params![institution, device_id, public_key],
    )
    .map(|_| ())
}

/// Every published key: `(institution, device id, public key)`.
pub fn signers(conn: &Connection) -> rusqlite::Result<Vec<(String, String, Vec<u8>)>> {
    let mut st = conn.prepare("SELECT institution, device_id, public_key FROM rx_signers ORDER BY 1, 2")?;
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect()
}

/// What a registration carries beyond the signed QR.
pub struct NewPrescription<'a> {
    /// The verified QR payload.
    pub payload: &'a SignedPayload,
    /// The QR text.
    pub qr: &'a str,
    /// Normalised one-time code.
    pub otc: &'a str,
    /// Abnormal-situation contact.
    pub contact: &'a str,
    /// Patient name.
    pub patient_name: &'a str,
    /// ROC birth date.
    pub birth_date: &'a str,
}

/// Registers a prescription and its dispenses; idempotent for the same QR.
pub fn register(conn: &mut Connection, n: &NewPrescription<'_>, now_ms: i64) -> Result<(), PharmacyError> {
    let p = &n.payload.prescription;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(server_err)?;
    let existing: Option<String> = tx
        .query_row(
            "SELECT qr FROM rx_prescriptions WHERE visit_code = ?1",
            [&p.visit_code],
            |r| r.get(0),
        )
        .optional()
        .map_err(server_err)?;
    if let Some(qr) = existing {
        return if qr == n.qr {
            Ok(())
        } else {
            Err(PharmacyError::Refused(
                "another prescription is registered for this visit".into(),
            ))
        };
    }
    let lines = serde_json::to_string(&p.lines).map_err(server_err)?;
    let inserted = tx.execute(
        "INSERT INTO rx_prescriptions (visit_code, institution, qr, otc, contact, patient_name, birth_date,
             patient_id, issued_on, chronic, refills, lines, registered_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            p.visit_code,
            p.institution.as_str(),
            n.qr,
            n.otc,
            n.contact,
            n.patient_name,
            n.birth_date,
            p.patient_id.expose(),
            p.issued_on.to_string(),
            p.chronic,
            p.refills,
            lines,
            now_ms
        ],
    );
    match inserted {
        Ok(_) => {}
        Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::ConstraintViolation => {
            return Err(PharmacyError::Refused(
                "one-time code already in use: issue a new one".into(),
            ));
        }
        Err(e) => return Err(server_err(e)),
    }
    for w in p.refill_windows() {
        tx.execute(
            "INSERT INTO rx_refills (visit_code, refill, from_day, to_day, status) VALUES (?1, ?2, ?3, ?4, 'open')",
            params![p.visit_code, w.refill, w.from.to_string(), w.to.to_string()],
        )
        .map_err(server_err)?;
    }
    tx.commit().map_err(server_err)
}

/// Which prescription the pharmacist presented.
pub enum Key<'a> {
    /// By visit code (from a verified QR).
    VisitCode(&'a str),
    /// By one-time code (normalised).
    Code(&'a str),
}

struct Row {
    visit_code: String,
    otc_used: bool,
}

fn find(conn: &Connection, key: &Key<'_>) -> Result<Row, PharmacyError> {
    let (sql, arg, missing) = match key {
        Key::VisitCode(v) => (
            "SELECT visit_code, otc_used FROM rx_prescriptions WHERE visit_code = ?1",
            *v,
            PharmacyError::NotRegistered,
        ),
        Key::Code(c) => (
            "SELECT visit_code, otc_used FROM rx_prescriptions WHERE otc = ?1",
            *c,
            PharmacyError::UnknownCode,
        ),
    };
    conn.query_row(sql, [arg], |r| {
        Ok(Row {
            visit_code: r.get(0)?,
            otc_used: r.get(1)?,
        })
    })
    .optional()
    .map_err(server_err)?
    .ok_or(missing)
}

fn day(s: &str) -> Result<NaiveDate, PharmacyError> {
    s.parse().map_err(server_err)
}

fn refills(
    conn: &Connection,
    visit_code: &str,
) -> Result<Vec<(RefillView, NaiveDate, NaiveDate)>, PharmacyError> {
    let mut st = conn
        .prepare(
            "SELECT refill, from_day, to_day, status, dispensed_by, dispensed_at FROM rx_refills
             WHERE visit_code = ?1 ORDER BY refill",
        )
        .map_err(server_err)?;
    let rows = st
        .query_map([visit_code], |r| {
            Ok((
                r.get::<_, u8>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })
        .map_err(server_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(server_err)?;
    rows.into_iter()
        .map(|(refill, from, to, status, by, at)| {
            let (f, t) = (day(&from)?, day(&to)?);
            Ok((
                RefillView {
                    refill,
                    from: roc_date(f),
                    to: roc_date(t),
                    status,
                    dispensed_by: by,
                    dispensed_at: at,
                },
                f,
                t,
            ))
        })
        .collect()
}

/// Which dispense is due on `today`, or why none is.
fn due(views: &[(RefillView, NaiveDate, NaiveDate)], today: NaiveDate) -> Result<u8, PharmacyError> {
    let dispensed = |v: &RefillView| PharmacyError::AlreadyDispensed {
        by: v.dispensed_by.clone().unwrap_or_default(),
        at: v.dispensed_at.clone().unwrap_or_default(),
    };
    if let Some((v, _, _)) = views
        .iter()
        .find(|(v, f, t)| *f <= today && today <= *t && v.status == "open")
    {
        return Ok(v.refill);
    }
    if let Some((v, _, _)) = views.iter().rev().find(|(_, f, t)| *f <= today && today <= *t) {
        return Err(if v.status == "cancelled" {
            PharmacyError::Cancelled
        } else {
            dispensed(v)
        });
    }
    if let Some((_, f, _)) = views.iter().find(|(_, f, _)| today < *f) {
        return Err(PharmacyError::NotYetDue { from: roc_date(*f) });
    }
    match views.last() {
        Some((v, _, t)) if v.status == "dispensed" => {
            let _ = t;
            Err(dispensed(v))
        }
        Some((_, _, t)) => Err(PharmacyError::Expired {
            valid_until: roc_date(*t),
        }),
        None => Err(PharmacyError::NotRegistered),
    }
}

fn mask(id: &str) -> String {
    if id.len() == 10 && id.is_ascii() {
        format!("{}****{}", &id[..3], &id[7..])
    } else {
        "**********".into()
    }
}

fn used_code_error(conn: &Connection, visit_code: &str) -> PharmacyError {
    conn.query_row(
        "SELECT dispensed_by, dispensed_at FROM rx_refills WHERE visit_code = ?1 AND via = 'code'
         ORDER BY refill DESC LIMIT 1",
        [visit_code],
        |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<String>>(1)?)),
    )
    .optional()
    .ok()
    .flatten()
    .map_or(PharmacyError::UnknownCode, |(by, at)| {
        PharmacyError::AlreadyDispensed {
            by: by.unwrap_or_default(),
            at: at.unwrap_or_default(),
        }
    })
}

/// The details a pharmacist sees.
pub fn details(conn: &Connection, key: &Key<'_>, today: NaiveDate) -> Result<Details, PharmacyError> {
    let row = find(conn, key)?;
    if matches!(key, Key::Code(_)) && row.otc_used {
        return Err(used_code_error(conn, &row.visit_code));
    }
    #[allow(clippy::type_complexity)]
    let (institution, name, pid, issued, chronic, lines, contact): (
        String,
        String,
        String,
        String,
        bool,
        String,
        String,
    ) = conn
        .query_row(
            "SELECT institution, patient_name, patient_id, issued_on, chronic, lines, contact
             FROM rx_prescriptions WHERE visit_code = ?1",
            [&row.visit_code],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .map_err(server_err)?;
    let views = refills(conn, &row.visit_code)?;
    let due_refill = due(&views, today);
    // A one-time code shows nothing of a prescription with nothing to dispense today (spent,
    // cancelled, expired, not yet due): only why.
    if matches!(key, Key::Code(_))
        && let Err(e) = due_refill
    {
        return Err(e);
    }
    let lines: Vec<RxLine> = serde_json::from_str(&lines).map_err(server_err)?;
    Ok(Details {
        visit_code: row.visit_code,
        institution,
        patient_name: name,
        patient_id_masked: mask(&pid),
        issued_on: roc_date(day(&issued)?),
        chronic,
        lines,
        contact,
        due_refill: due_refill.ok(),
        refills: views.into_iter().map(|(v, _, _)| v).collect(),
    })
}

/// Dispenses the due refill: one transaction, and a conditional update so that of any number of
/// concurrent attempts exactly one succeeds.
pub fn dispense(
    conn: &mut Connection,
    key: &Key<'_>,
    pharmacy: &str,
    today: NaiveDate,
    now_text: &str,
    now_ms: i64,
) -> Result<Receipt, PharmacyError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(server_err)?;
    let row = find(&tx, key)?;
    if matches!(key, Key::Code(_)) && row.otc_used {
        return Err(used_code_error(&tx, &row.visit_code));
    }
    let views = refills(&tx, &row.visit_code)?;
    let refill = due(&views, today)?;
    let receipt_no = format!("R{}", uuid::Uuid::now_v7().simple());
    let via = if matches!(key, Key::Code(_)) { "code" } else { "qr" };
    let changed = tx
        .execute(
            "UPDATE rx_refills SET status = 'dispensed', dispensed_by = ?1, dispensed_at = ?2,
                 receipt_no = ?3, via = ?4
             WHERE visit_code = ?5 AND refill = ?6 AND status = 'open'",
            params![pharmacy, now_text, receipt_no, via, row.visit_code, refill],
        )
        .map_err(server_err)?;
    if changed != 1 {
        // Cannot happen under the immediate transaction, but the condition is the guarantee.
        let views = refills(&tx, &row.visit_code)?;
        return Err(due(&views, today)
            .err()
            .unwrap_or(PharmacyError::Server("lost a race".into())));
    }
    if via == "code" {
        tx.execute(
            "UPDATE rx_prescriptions SET otc_used = 1 WHERE visit_code = ?1 AND otc_used = 0",
            [&row.visit_code],
        )
        .map_err(server_err)?;
    }
    audit(
        &tx,
        now_ms,
        pharmacy,
        "dispense",
        &row.visit_code,
        refill,
        &receipt_no,
    )?;
    tx.commit().map_err(server_err)?;
    Ok(Receipt {
        receipt_no,
        visit_code: row.visit_code,
        refill,
        pharmacy: pharmacy.to_string(),
        dispensed_at: now_text.to_string(),
    })
}

fn audit(
    conn: &Connection,
    now_ms: i64,
    actor: &str,
    action: &str,
    visit_code: &str,
    refill: u8,
    detail: &str,
) -> Result<(), PharmacyError> {
    conn.execute(
        "INSERT INTO rx_audit (at_ms, actor, action, visit_code, refill, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![now_ms, actor, action, visit_code, refill, detail],
    )
    .map(|_| ())
    .map_err(server_err)
}

/// Restores one dispense may have in all (a dispense–restore loop would hand out the medicine
/// again and again).
pub const MAX_RESTORES: i64 = 1;

/// Abnormal-case restore (異常處理 恢復): the pharmacy that dispensed a refill turns it back to
/// undispensed, with a reason; audited; at most [`MAX_RESTORES`] times per dispense.
pub fn restore(
    conn: &mut Connection,
    visit_code: &str,
    refill: u8,
    pharmacy: &str,
    reason: &str,
    now_ms: i64,
) -> Result<(), PharmacyError> {
    if reason.trim().is_empty() {
        return Err(PharmacyError::Refused("a restore needs a reason".into()));
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(server_err)?;
    let via: Option<Option<String>> = tx
        .query_row(
            "SELECT via FROM rx_refills WHERE visit_code = ?1 AND refill = ?2 AND status = 'dispensed'
             AND dispensed_by = ?3",
            params![visit_code, refill, pharmacy],
            |r| r.get(0),
        )
        .optional()
        .map_err(server_err)?;
    let Some(via) = via else {
        return Err(PharmacyError::Refused(
            "only a refill this pharmacy dispensed can be restored".into(),
        ));
    };
    let restores: i64 = tx
        .query_row(
            "SELECT COUNT(*) FROM rx_audit WHERE visit_code = ?1 AND refill = ?2 AND action = 'restore'",
            params![visit_code, refill],
            |r| r.get(0),
        )
        .map_err(server_err)?;
    if restores >= MAX_RESTORES {
        return Err(PharmacyError::RestoreLimit);
    }
    tx.execute(
        "UPDATE rx_refills SET status = 'open', dispensed_by = NULL, dispensed_at = NULL, receipt_no = NULL, via = NULL
         WHERE visit_code = ?1 AND refill = ?2 AND status = 'dispensed'",
        params![visit_code, refill],
    )
    .map_err(server_err)?;
    if via.as_deref() == Some("code") {
        tx.execute(
            "UPDATE rx_prescriptions SET otc_used = 0 WHERE visit_code = ?1",
            [visit_code],
        )
        .map_err(server_err)?;
    }
    audit(
        &tx,
        now_ms,
        pharmacy,
        "restore",
        visit_code,
        refill,
        reason.trim(),
    )?;
    tx.commit().map_err(server_err)
}

/// Operation `C`/`E` by the prescribing institution (its signature checked by the caller).
pub fn refill_op(
    conn: &mut Connection,
    visit_code: &str,
    refill_no: u8,
    op: RefillOp,
    institution: &str,
    now_ms: i64,
) -> Result<RefillView, PharmacyError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(server_err)?;
    let (prescriber, total): (String, u8) = tx
        .query_row(
            "SELECT institution, refills FROM rx_prescriptions WHERE visit_code = ?1",
            [visit_code],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(server_err)?
        .ok_or(PharmacyError::NotRegistered)?;
    let views = refills(&tx, visit_code)?;
    let current = views
        .iter()
        .find(|(v, _, _)| v.refill == refill_no)
        .map(|(v, _, _)| match v.status.as_str() {
            "dispensed" => RefillStatus::Dispensed {
                by: v.dispensed_by.clone().unwrap_or_default(),
                at: v.dispensed_at.clone().unwrap_or_default(),
            },
            "cancelled" => RefillStatus::Cancelled,
            _ => RefillStatus::Open,
        })
        .unwrap_or(RefillStatus::Open);
    let next =
        refill::apply_op(&current, refill_no, total, op, institution, &prescriber).map_err(|e| match e {
            RefillError::AlreadyDispensed { by, at } => PharmacyError::AlreadyDispensed { by, at },
            other => PharmacyError::Refused(other.to_string()),
        })?;
    let (from, to) = match (&current, &next) {
        (RefillStatus::Open, RefillStatus::Cancelled) => ("open", "cancelled"),
        _ => ("cancelled", "open"),
    };
    let changed = tx
        .execute(
            "UPDATE rx_refills SET status = ?1 WHERE visit_code = ?2 AND refill = ?3 AND status = ?4",
            params![to, visit_code, refill_no, from],
        )
        .map_err(server_err)?;
    if changed != 1 {
        return Err(PharmacyError::Server("refill changed underneath".into()));
    }
    audit(
        &tx,
        now_ms,
        institution,
        &op.letter().to_string(),
        visit_code,
        refill_no,
        "",
    )?;
    let view = refills(&tx, visit_code)?
        .into_iter()
        .find(|(v, _, _)| v.refill == refill_no)
        .map(|(v, _, _)| v)
        .ok_or_else(|| server_err("refill vanished"))?;
    tx.commit().map_err(server_err)?;
    Ok(view)
}

/// The audit log of a prescription: `(actor, action, refill, detail)`, oldest first.
pub fn audit_log(conn: &Connection, visit_code: &str) -> rusqlite::Result<Vec<(String, String, u8, String)>> {
    let mut st =
        conn.prepare("SELECT actor, action, refill, detail FROM rx_audit WHERE visit_code = ?1 ORDER BY id")?;
    st.query_map([visit_code], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Finding 5 (issue 11): a stolen pharmacy table does not give the passwords away at the
    /// speed of one SHA-256 per guess: PBKDF2-HMAC-SHA256 with its round count kept per row; an
    /// older row (one SHA-256) still logs in and is rehashed at once.
    #[test]
    fn finding5_pharmacy_passwords_are_hashed_with_pbkdf2_not_one_sha256() {
        let conn = Connection::open_in_memory().unwrap();
        init(&conn).unwrap();
        add_pharmacy(&conn, "5901010099", "x", "correct horse").unwrap();
        let row = |conn: &Connection| -> (Vec<u8>, Vec<u8>, u32) {
            conn.query_row(
                "SELECT salt, pw_hash, kdf_iter FROM rx_pharmacies WHERE code = '5901010099'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
        };
        let (salt, hash, iter) = row(&conn);
        assert!(iter >= 100_000, "{iter} rounds");
        let one_sha = ring::digest::digest(
            &ring::digest::SHA256,
            &[salt.as_slice(), b"correct horse"].concat(),
        );
        assert_ne!(hash.as_slice(), one_sha.as_ref());
        let mut expect = [0u8; 32];
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            std::num::NonZeroU32::new(iter).unwrap(),
            &salt,
            b"correct horse",
            &mut expect,
        );
        assert_eq!(hash, expect);
        // A row of an older simulator: verified once with its SHA-256, then rehashed.
        conn.execute(
            "UPDATE rx_pharmacies SET pw_hash = ?1, kdf_iter = 0 WHERE code = '5901010099'",
            [one_sha.as_ref()],
        )
        .unwrap();
        login(&conn, "5901010099", "correct horse", "test", 0).unwrap();
        assert_eq!(row(&conn).2, PBKDF2_ITERATIONS);
        assert_eq!(row(&conn).1, expect.to_vec());
    }
}
