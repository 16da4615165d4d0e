//! Read-only recovery of a database that [`crate::store::Store::open`] moved aside as corrupt:
//! opens it read-only and lists every visit and pending job it can still read and open. Nothing is
//! written to the file.

use super::seal::Sealer;
use super::{StoreError, StoreResult};
use crate::platform::KeyStore;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// What could be read from a moved-aside database.
#[derive(Debug, Default)]
pub struct RecoveryReport {
    /// Visits whose sealed body opened (their clear visit code and local id are always readable).
    pub visits: Vec<crate::model::Visit>,
    /// Visit rows that could be read but not opened (tampered or unreadable body).
    pub unreadable_visits: usize,
    /// Outbox jobs that were not done when the file broke: (job id, i.e. its integer key, kind, state).
    pub pending_jobs: Vec<(String, String, String)>,
    /// The first error that stopped reading, if any (the list above is then partial).
    pub stopped_by: Option<String>,
}

/// Reads what it can from the moved-aside database at `path` (read-only), with the store's keys.
pub fn read_moved_aside(path: &Path, key_store: &dyn KeyStore) -> StoreResult<RecoveryReport> {
    let sealer = Sealer::from_key_store(key_store, true)?;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut report = RecoveryReport::default();
    if let Err(e) = read_visits(&conn, &sealer, &mut report) {
        report.stopped_by = Some(e.to_string());
        return Ok(report);
    }
    if let Err(e) = read_jobs(&conn, &mut report) {
        report.stopped_by = Some(e.to_string());
    }
    Ok(report)
}

fn read_visits(conn: &Connection, sealer: &Sealer, report: &mut RecoveryReport) -> StoreResult<()> {
    let mut stmt = conn.prepare("SELECT id, version, body FROM visits ORDER BY rowid")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let version: i64 = row.get(1)?;
        let body: Vec<u8> = row.get(2)?;
        let row_id = format!("{id}#v{version}");
        let opened = sealer
            .open(
                super::seal::Place {
                    table: "visits",
                    row: &row_id,
                    column: "body",
                },
                &body,
            )
            .and_then(|json| serde_json::from_slice(&json).map_err(StoreError::from));
        match opened {
            Ok(visit) => report.visits.push(visit),
            Err(_) => report.unreadable_visits += 1,
        }
    }
    Ok(())
}

fn read_jobs(conn: &Connection, report: &mut RecoveryReport) -> StoreResult<()> {
    let mut stmt =
        conn.prepare("SELECT CAST(seq AS TEXT), kind, state FROM outbox WHERE state <> 'done' ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        report.pending_jobs.push((row.get(0)?, row.get(1)?, row.get(2)?));
    }
    Ok(())
}
