//! The encrypted SQLite store: migrations, sealing, repositories, the outbox and the audit log.
//!
//! One database file in WAL mode with `synchronous=FULL` (a committed visit survives power loss),
//! foreign keys on and a busy timeout. Patient-identifying fields and clinical text are sealed with
//! AES-256-GCM under keys from the host [`KeyStore`]; patients are looked up by a keyed hash of the
//! national ID, never by the clear ID. Every visit is committed together with its outbox jobs in one
//! transaction ([`Store::commit_visit`]), and every outbox transition is one transaction.
//!
//! **Concurrency.** [`Store`] is `Send + Sync`: one connection behind a mutex serves writes and
//! reads, so calls from several threads are serialised (SQLite has one writer anyway; reads are
//! short, indexed queries). Share it with `Arc<Store>`. A second process opening the same file waits
//! up to the busy timeout for the write lock. A background thread with its own connection
//! checkpoints the WAL when the store has been idle (see `checkpoint.rs`); dropping the store stops it.
//!
//! **What is sealed.** Visits are stored as sealed JSON of the whole [`crate::model::Visit`] (name,
//! national ID, birth date, notes, diagnoses, orders); outbox payloads, error messages, per-field
//! server errors and acknowledgements, and `kv` values are sealed too. In clear: local ids, the
//! visit identification code (the NHI key), times, states, job kinds and the keyed patient hash.
//! Each sealed value's AAD names its table, row (and visit version) and column.
//!
//! **Schema.** Numbered migrations in `migrations/NNNN_*.sql`, applied in one transaction and
//! tracked with `PRAGMA user_version`; a database from a newer app is refused
//! ([`StoreError::TooNew`]). Opening reads the header, the schema and the key-check row only: it
//! never scans a table.
//!
//! **Corrupt file.** [`Store::open`] on a corrupt file never deletes it: the file and its
//! `-wal`/`-shm` are moved aside to `<name>.corrupt-<UTC timestamp>` and open **refuses** with
//! [`StoreError::Corrupt`] naming that path. The app shows this to the user; calling
//! [`Store::open`] again then starts a fresh, empty store at the original path, and
//! [`recovery::read_moved_aside`] lists what can still be read from the moved file (read-only).
//!
//! **Wrong key.** A sealed key-check row is written when the store is created; opening with other
//! keys returns [`StoreError::WrongKey`] instead of ever returning garbage. A store holding data
//! without that row is refused ([`StoreError::Tampered`]), never re-keyed.
//!
//! **Lost key.** Keys are created only for a new database. Opening an existing database (its file
//! or WAL holds bytes) whose key the key store no longer holds gives [`StoreError::KeyMissing`]
//! before SQLite opens the file: nothing is created, no byte of the database or its WAL changes.

pub mod audit;
mod checkpoint;
pub mod error;
pub mod kv;
pub mod migrations;
pub mod outbox;
pub mod recovery;
mod seal;
pub mod visits;

#[cfg(test)]
mod tests;

/// The one outbox model, defined in `crate::sync` and kept here by the store.
pub use crate::sync::deadline::{DeadlineEntry, DeadlineReport, DeadlineStatus, UPLOAD_DEADLINE_MS};
pub use crate::sync::job::{
    FieldError, Job, JobId, JobKind, JobState, JobUpdate, NewJob, OutboxCounts, Rejection, new_job_id,
};
pub use crate::sync::target::FailureClass;
pub use error::StoreError;
pub use migrations::SCHEMA_VERSION;
pub use outbox::Correction;
pub use seal::{INDEX_KEY_ALIAS, SEAL_KEY_ALIAS};
pub use visits::{Committed, StoredVisit, VisitState};

use crate::platform::{Clock, KeyStore, SystemClock};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use seal::{Place, Sealer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Result with [`StoreError`].
pub type StoreResult<T> = Result<T, StoreError>;

/// How long a connection waits for another writer before failing with "database is locked".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The plaintext of the sealed key-check row.
const KEY_CHECK_PLAIN: &[u8] = b"homevisit-store-key-check-v1";

/// The app's encrypted database (see the module docs).
pub struct Store {
    /// Declared before `conn` so it is dropped first: the writer's close then does the last checkpoint.
    checkpointer: Option<checkpoint::Checkpointer>,
    conn: Mutex<Connection>,
    sealer: Sealer,
    clock: Arc<dyn Clock>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating and migrating if needed) the store at `path`, sealing with keys from
    /// `key_store`; stamps records with the system clock.
    pub fn open(path: impl AsRef<Path>, key_store: &dyn KeyStore) -> StoreResult<Store> {
        Self::open_with_clock(path, key_store, Arc::new(SystemClock))
    }

    /// Like [`Store::open`], with the clock that stamps `created_at`/`updated_at`/audit times.
    pub fn open_with_clock(
        path: impl AsRef<Path>,
        key_store: &dyn KeyStore,
        clock: Arc<dyn Clock>,
    ) -> StoreResult<Store> {
        Self::open_at_version(path.as_ref(), key_store, clock, SCHEMA_VERSION)
    }

    /// Opens and migrates up to `target` (tests create older schemas with it).
    pub(crate) fn open_at_version(
        path: &Path,
        key_store: &dyn KeyStore,
        clock: Arc<dyn Clock>,
        target: i64,
    ) -> StoreResult<Store> {
        // Keys are created only for a new database: an existing one whose key is gone gets
        // `KeyMissing` before SQLite opens anything (so not even its WAL is checkpointed).
        let existing = database_exists(path)?;
        let sealer = Sealer::from_key_store(key_store, existing)?;
        // A file that is not SQLite at all is moved aside before SQLite touches it (and its WAL).
        if !has_sqlite_header(path)? {
            return Err(corrupt(path)?);
        }
        let conn = match open_connection(path, target) {
            Ok(conn) => conn,
            Err((conn, OpenFailure::Corrupt)) => {
                // Keep SQLite from checkpointing into (or deleting the WAL of) the broken file
                // when the connection closes; move the files first, close after.
                if let Some(c) = &conn {
                    let _ =
                        c.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true);
                }
                let err = corrupt(path)?;
                drop(conn);
                return Err(err);
            }
            Err((_, OpenFailure::Other(e))) => return Err(e),
        };
        check_or_create_key_rows(&conn, &sealer, clock.now_unix_ms())?;
        let checkpointer = checkpoint::Checkpointer::start(path);
        if checkpointer.is_none() {
            tracing::warn!(target: "store", "no background checkpoints; SQLite checkpoints inline");
        } else {
            conn.pragma_update(None, "wal_autocheckpoint", checkpoint::BURST_PAGES)?;
        }
        Ok(Store {
            checkpointer,
            conn: Mutex::new(conn),
            sealer,
            clock,
            path: path.to_path_buf(),
        })
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> StoreResult<i64> {
        Ok(migrations::current_version(&self.lock())?)
    }

    /// A new local record id (UUIDv7 text, time-ordered).
    pub fn new_id() -> String {
        uuid::Uuid::now_v7().to_string()
    }

    /// Locks the connection. A panic while holding the lock cannot leave a half transaction
    /// behind (rusqlite rolls back a dropped transaction), so a poisoned lock is safe to reuse.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        if let Some(c) = &self.checkpointer {
            c.tick();
        }
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_unix_ms()
    }

    pub(crate) fn sealer(&self) -> &Sealer {
        &self.sealer
    }
}

enum OpenFailure {
    Corrupt,
    Other(StoreError),
}

impl From<rusqlite::Error> for OpenFailure {
    fn from(e: rusqlite::Error) -> Self {
        if error::is_corruption(&e) {
            OpenFailure::Corrupt
        } else {
            OpenFailure::Other(e.into())
        }
    }
}

impl From<StoreError> for OpenFailure {
    fn from(e: StoreError) -> Self {
        OpenFailure::Other(e)
    }
}

/// Opens the file, sets the pragmas and migrates. Reads only the header and the schema. On
/// failure, hands back the connection (if one was opened) so the caller controls its close.
#[allow(clippy::result_large_err)] // called once per open; boxing buys nothing here
fn open_connection(path: &Path, target: i64) -> Result<Connection, (Option<Connection>, OpenFailure)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| (None, OpenFailure::Other(StoreError::Io(e.kind().to_string()))))?;
    }
    let flags =
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| (None, e.into()))?;
    let setup = |conn: &mut Connection| -> Result<(), OpenFailure> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        apply_pragmas(conn)?;
        // Touch the schema: a damaged header or schema page fails here.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))?;
        match migrations::migrate_to(conn, target) {
            Ok(_) => Ok(()),
            Err(StoreError::Sqlite(msg)) if msg.contains("malformed") || msg.contains("not a database") => {
                Err(OpenFailure::Corrupt)
            }
            Err(e) => Err(OpenFailure::Other(e)),
        }
    };
    match setup(&mut conn) {
        Ok(()) => Ok(conn),
        Err(e) => Err((Some(conn), e)),
    }
}

/// True when the database at `path` (or its WAL) already holds bytes: it has keys to keep.
pub(crate) fn database_exists(path: &Path) -> StoreResult<bool> {
    let has_bytes = |p: &Path| match std::fs::metadata(p) {
        Ok(m) => Ok(m.len() > 0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::Io(format!("reading the database file: {}", e.kind()))),
    };
    Ok(has_bytes(path)? || has_bytes(&PathBuf::from(format!("{}-wal", path.display())))?)
}

/// True when `path` is absent, empty (SQLite will create it) or starts with the SQLite header.
fn has_sqlite_header(path: &Path) -> StoreResult<bool> {
    use std::io::Read;
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => {
            return Err(StoreError::Io(format!(
                "reading the database header: {}",
                e.kind()
            )));
        }
    };
    let mut header = Vec::with_capacity(16);
    (&mut file)
        .take(16)
        .read_to_end(&mut header)
        .map_err(|e| StoreError::Io(format!("reading the database header: {}", e.kind())))?;
    Ok(header.is_empty() || header == b"SQLite format 3\0")
}

/// Moves the corrupt file aside and builds the error that says where.
fn corrupt(path: &Path) -> StoreResult<StoreError> {
    let moved_to = move_aside(path)?;
    tracing::error!(target: "store", moved_to = %moved_to.display(), "corrupt database moved aside");
    Ok(StoreError::Corrupt { moved_to })
}

/// WAL, durable commits, foreign keys. Also used by the benchmark's plain-SQLite baseline.
pub fn apply_pragmas(conn: &Connection) -> rusqlite::Result<()> {
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(target: "store", %mode, "WAL not available; using another journal mode");
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
    conn.pragma_update(None, "journal_size_limit", checkpoint::WAL_SIZE_LIMIT)?;
    Ok(())
}

/// Verifies the sealed key-check row (and the index-key check) or writes them on a fresh store.
fn check_or_create_key_rows(conn: &Connection, sealer: &Sealer, now_ms: i64) -> StoreResult<()> {
    let seal_place = Place {
        table: "meta",
        row: "key_check",
        column: "value",
    };
    let index_check = sealer.index_hash("key-check", "homevisit-index-check");
    let stored: Option<Vec<u8>> = conn
        .query_row("SELECT value FROM meta WHERE name = 'key_check'", [], |r| {
            r.get(0)
        })
        .optional()?;
    match stored {
        Some(sealed) => {
            match sealer.open(seal_place, &sealed) {
                Ok(plain) if plain == KEY_CHECK_PLAIN => {}
                _ => return Err(StoreError::WrongKey),
            }
            let stored_index: Option<Vec<u8>> = conn
                .query_row("SELECT value FROM meta WHERE name = 'index_check'", [], |r| {
                    r.get(0)
                })
                .optional()?;
            if stored_index.as_deref() != Some(index_check.as_slice()) {
                return Err(StoreError::WrongKey);
            }
        }
        None => {
            // Only a store that holds nothing yet may get its key-check rows now (a crash between
            // the schema and these rows leaves such a store). A store with data but no key-check
            // row was tampered with: accepting it would accept any key.
            let holds_data: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM visits) OR EXISTS (SELECT 1 FROM outbox)
                     OR EXISTS (SELECT 1 FROM kv) OR EXISTS (SELECT 1 FROM meta)",
                [],
                |r| r.get(0),
            )?;
            if holds_data {
                tracing::error!(target: "store", "the key-check row is missing from a store with data");
                return Err(StoreError::Tampered { what: "meta" });
            }
            let sealed = sealer.seal(seal_place, KEY_CHECK_PLAIN)?;
            conn.execute(
                "INSERT INTO meta (name, value) VALUES ('key_check', ?1), ('index_check', ?2)",
                rusqlite::params![sealed, index_check],
            )?;
            audit::append(conn, now_ms, "store_created", "", "")?;
        }
    }
    Ok(())
}

/// Moves a corrupt database file and its `-wal`/`-shm` aside to a timestamped name; returns the
/// new path of the main file. Never deletes anything.
fn move_aside(path: &Path) -> StoreResult<PathBuf> {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "store.db".into());
    let mut target = path.with_file_name(format!("{file_name}.corrupt-{stamp}"));
    let mut n = 1;
    while target.exists() {
        target = path.with_file_name(format!("{file_name}.corrupt-{stamp}-{n}"));
        n += 1;
    }
    let io = |e: std::io::Error| StoreError::Io(format!("moving the corrupt database aside: {}", e.kind()));
    std::fs::rename(path, &target).map_err(io)?;
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        if side.exists() {
            std::fs::rename(&side, format!("{}{suffix}", target.display())).map_err(io)?;
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        // Make the renames durable; failing to sync a directory is not fatal.
        let _ = d.sync_all();
    }
    Ok(target)
}
