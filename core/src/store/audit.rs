//! The append-only audit log of sensitive actions (triggers refuse UPDATE and DELETE). Entries hold
//! local ids and action names only, never patient data.

use super::{Store, StoreResult};
use rusqlite::Connection;

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Order of the entry in the log.
    pub seq: i64,
    /// When, unix ms.
    pub at_ms: i64,
    /// What happened, e.g. `visit_committed`.
    pub action: String,
    /// The local id concerned (visit or job UUID), or empty.
    pub subject: String,
    /// Extra non-patient detail (counts, states), or empty.
    pub detail: String,
}

/// Appends one entry inside the caller's transaction.
pub(crate) fn append(
    conn: &Connection,
    at_ms: i64,
    action: &str,
    subject: &str,
    detail: &str,
) -> StoreResult<()> {
    if detail.is_empty() {
        // Works on every schema version (the detail column came with migration 0002).
        conn.prepare_cached("INSERT INTO audit (at, action, subject) VALUES (?1, ?2, ?3)")?
            .execute(rusqlite::params![at_ms, action, subject])?;
    } else {
        conn.prepare_cached("INSERT INTO audit (at, action, subject, detail) VALUES (?1, ?2, ?3, ?4)")?
            .execute(rusqlite::params![at_ms, action, subject, detail])?;
    }
    Ok(())
}

impl Store {
    /// Records a sensitive action. `subject` and `detail` must not hold patient data (use local ids).
    pub fn audit(&self, action: &str, subject: &str, detail: &str) -> StoreResult<()> {
        let conn = self.lock();
        append(&conn, self.now_ms(), action, subject, detail)
    }

    /// The newest `limit` audit entries, newest first.
    pub fn audit_log(&self, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, at, action, subject, detail FROM audit ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(AuditEntry {
                seq: r.get(0)?,
                at_ms: r.get(1)?,
                action: r.get(2)?,
                subject: r.get(3)?,
                detail: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
