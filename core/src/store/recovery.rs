//! Recovery of a database that [`crate::store::Store::open`] moved aside as corrupt: lists every
//! visit and pending job it can still read and open, and (through the app facade) re-imports them
//! into the fresh store. The moved file is never written: reading works on a scratch copy next to
//! it (with the fixed 16-byte SQLite header restored if that is what broke), deleted afterwards.

use super::seal::{Place, Sealer};
use super::{StoreError, StoreResult};
use crate::platform::KeyStore;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};

/// The fixed first 16 bytes of every SQLite database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// What could be read from a moved-aside database.
#[derive(Debug, Default)]
pub struct RecoveryReport {
    /// Visits whose sealed body opened (their clear visit code and local id are always readable).
    pub visits: Vec<crate::model::Visit>,
    /// The stored version of each visit in `visits`, in the same order (1 unless corrected).
    pub versions: Vec<i64>,
    /// Visit rows that could be read but not opened (tampered or unreadable body).
    pub unreadable_visits: usize,
    /// Outbox jobs that were not done when the file broke: (job id, i.e. its integer key, kind, state).
    pub pending_jobs: Vec<(String, String, String)>,
    /// Local ids of the visits whose card upload was not done (queued, sending, waiting for a retry
    /// or rejected) when the file broke: their upload is owed.
    pub unfinished_uploads: Vec<String>,
    /// The readable key/value entries of the namespaces asked for: (namespace, key, opened value).
    pub kv: Vec<(String, String, Vec<u8>)>,
    /// The first error that stopped reading, if any (the lists above are then partial).
    pub stopped_by: Option<String>,
}

/// Reads what it can from the moved-aside database at `path` (read-only), with the store's keys.
pub fn read_moved_aside(path: &Path, key_store: &dyn KeyStore) -> StoreResult<RecoveryReport> {
    let sealer = Sealer::from_key_store(key_store, true)?;
    read_with(path, &sealer, &[])
}

impl super::Store {
    /// Reads what it can from a database this store's keys sealed and [`super::Store::open`] moved
    /// aside (`path`), including the key/value entries of `kv_namespaces`. The file is not written.
    pub fn read_moved_aside(&self, path: &Path, kv_namespaces: &[&str]) -> StoreResult<RecoveryReport> {
        read_with(path, self.sealer(), kv_namespaces)
    }
}

fn read_with(path: &Path, sealer: &Sealer, kv_namespaces: &[&str]) -> StoreResult<RecoveryReport> {
    let scratch = Scratch::copy_of(path)?;
    let conn = Connection::open_with_flags(
        &scratch.path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut report = RecoveryReport::default();
    let read = |report: &mut RecoveryReport| -> StoreResult<()> {
        read_visits(&conn, sealer, report)?;
        read_jobs(&conn, report)?;
        read_kv(&conn, sealer, kv_namespaces, report)
    };
    if let Err(e) = read(&mut report) {
        report.stopped_by = Some(e.to_string());
    }
    drop(conn);
    Ok(report)
}

/// A scratch copy of a moved-aside database (and its WAL), removed when dropped.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn copy_of(path: &Path) -> StoreResult<Self> {
        let io =
            |e: std::io::Error| StoreError::Io(format!("copying the moved-aside database: {}", e.kind()));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "store.db".into());
        let scratch = Self {
            path: path.with_file_name(format!("{name}.recovering")),
        };
        let mut bytes = std::fs::read(path).map_err(io)?;
        // A broken header magic is the one damage that is certain to repair: it is a constant.
        if bytes.len() >= 100 && bytes[..16] != SQLITE_MAGIC[..] {
            bytes[..16].copy_from_slice(SQLITE_MAGIC);
        }
        std::fs::write(&scratch.path, &bytes).map_err(io)?;
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        if wal.exists() {
            std::fs::copy(&wal, scratch.side("-wal")).map_err(io)?;
        }
        Ok(scratch)
    }

    fn side(&self, suffix: &str) -> PathBuf {
        PathBuf::from(format!("{}{suffix}", self.path.display()))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for p in [self.path.clone(), self.side("-wal"), self.side("-shm")] {
            let _ = std::fs::remove_file(p);
        }
    }
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
                Place {
                    table: "visits",
                    row: &row_id,
                    column: "body",
                },
                &body,
            )
            .and_then(|json| serde_json::from_slice(&json).map_err(StoreError::from));
        match opened {
            Ok(visit) => {
                report.visits.push(visit);
                report.versions.push(version);
            }
            Err(_) => report.unreadable_visits += 1,
        }
    }
    Ok(())
}

fn read_jobs(conn: &Connection, report: &mut RecoveryReport) -> StoreResult<()> {
    let mut stmt = conn.prepare(
        "SELECT CAST(seq AS TEXT), kind, state, visit_id FROM outbox
         WHERE state NOT IN ('done', 'superseded') ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let (kind, visit): (String, Option<String>) = (row.get(1)?, row.get(3)?);
        if kind == "card_upload"
            && let Some(v) = visit
            && !report.unfinished_uploads.contains(&v)
        {
            report.unfinished_uploads.push(v);
        }
        report.pending_jobs.push((row.get(0)?, kind, row.get(2)?));
    }
    Ok(())
}

fn read_kv(
    conn: &Connection,
    sealer: &Sealer,
    namespaces: &[&str],
    report: &mut RecoveryReport,
) -> StoreResult<()> {
    let mut stmt = conn.prepare("SELECT key, value FROM kv WHERE namespace = ?1 ORDER BY key")?;
    for ns in namespaces {
        let mut rows = stmt.query([ns])?;
        while let Some(row) = rows.next()? {
            let key: String = row.get(0)?;
            let sealed: Vec<u8> = row.get(1)?;
            let place_row = format!("{ns}\u{0}{key}");
            let place = Place {
                table: "kv",
                row: &place_row,
                column: "value",
            };
            if let Ok(value) = sealer.open(place, &sealed) {
                report.kv.push((ns.to_string(), key, value));
            }
        }
    }
    Ok(())
}
