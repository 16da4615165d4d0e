//! The simulator's SQLite database: institutions, binding tokens, devices, upload batches and
//! their rows, and the stored visits (one row per visit identification code).

use rusqlite::{Connection, OptionalExtension, params};

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS institutions (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, sam_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bindings (
    token TEXT PRIMARY KEY, institution TEXT NOT NULL, pin TEXT NOT NULL,
    expires_ms INTEGER NOT NULL, attempts_left INTEGER NOT NULL, state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY, institution TEXT NOT NULL, public_key BLOB NOT NULL,
    name TEXT NOT NULL, enrolled_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY, device TEXT NOT NULL, idem_key TEXT NOT NULL, kind TEXT NOT NULL,
    received_ms INTEGER NOT NULL, received INTEGER NOT NULL, valid INTEGER NOT NULL,
    invalid INTEGER NOT NULL, response TEXT NOT NULL,
    UNIQUE (device, kind, idem_key)
);
CREATE TABLE IF NOT EXISTS batch_rows (
    batch TEXT NOT NULL, idx INTEGER NOT NULL, visit_code TEXT NOT NULL, field TEXT NOT NULL,
    reason TEXT NOT NULL, PRIMARY KEY (batch, idx)
);
CREATE TABLE IF NOT EXISTS visits (
    dedup_key TEXT PRIMARY KEY, visit_code TEXT NOT NULL, institution TEXT NOT NULL,
    visit_time TEXT NOT NULL, fields TEXT NOT NULL, batch TEXT NOT NULL,
    accepted_ms INTEGER NOT NULL, corrections INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS visits_by_code ON visits (visit_code);
";

/// Opens (creating) the database at `path`, or in memory.
pub fn open(path: Option<&std::path::Path>) -> rusqlite::Result<Connection> {
    let conn = match path {
        Some(p) => Connection::open(p)?,
        None => Connection::open_in_memory()?,
    };
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// A binding token's row.
#[derive(Debug, Clone)]
pub struct BindingRow {
    /// Institution.
    pub institution: String,
    /// The PIN shown on the VPN screen.
    pub pin: String,
    /// Expiry, Unix ms.
    pub expires_ms: i64,
    /// PIN attempts left.
    pub attempts_left: u32,
    /// `open`, `used` or `locked`.
    pub state: String,
}

/// Reads a binding token.
pub fn binding(conn: &Connection, token: &str) -> rusqlite::Result<Option<BindingRow>> {
    conn.query_row(
        "SELECT institution, pin, expires_ms, attempts_left, state FROM bindings WHERE token = ?1",
        [token],
        |r| {
            Ok(BindingRow {
                institution: r.get(0)?,
                pin: r.get(1)?,
                expires_ms: r.get(2)?,
                attempts_left: r.get(3)?,
                state: r.get(4)?,
            })
        },
    )
    .optional()
}

/// A device's institution and public key.
pub fn device(conn: &Connection, id: &str) -> rusqlite::Result<Option<(String, Vec<u8>)>> {
    conn.query_row(
        "SELECT institution, public_key FROM devices WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// The institution's SAM id.
pub fn sam_id(conn: &Connection, institution: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT sam_id FROM institutions WHERE code = ?1",
        [institution],
        |r| r.get(0),
    )
    .optional()
}

/// Number of visits stored under a visit identification code.
pub fn visit_count(conn: &Connection, visit_code: &str) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT COUNT(*) FROM visits WHERE visit_code = ?1",
        [visit_code],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n as u64)
}

/// Number of visits stored in all.
pub fn visit_total(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT COUNT(*) FROM visits", [], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
}

/// Every visit code with its count (codes stored more than once would show > 1).
pub fn visit_counts(conn: &Connection) -> rusqlite::Result<Vec<(String, u64)>> {
    let mut stmt =
        conn.prepare("SELECT visit_code, COUNT(*) FROM visits GROUP BY visit_code ORDER BY visit_code")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
    rows.collect()
}

/// Inserts the institution if missing.
pub fn ensure_institution(conn: &Connection, code: &str, name: &str, sam_id: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO institutions (code, name, sam_id) VALUES (?1, ?2, ?3)",
        params![code, name, sam_id],
    )?;
    Ok(())
}
