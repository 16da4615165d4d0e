//! The store's typed error. No message ever holds patient data: SQLite messages name tables and
//! columns, never values, and sealed values are never echoed.

use std::path::PathBuf;

/// Anything that can go wrong in [`crate::store::Store`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed; the message names the statement's table/column, never a value.
    #[error("database error: {0}")]
    Sqlite(String),
    /// The key from the key store does not open this database (the sealed key-check row failed).
    #[error("the key store's key does not open this database")]
    WrongKey,
    /// The database file is corrupt. It was **not deleted**: it (and its `-wal`/`-shm`) was moved
    /// aside to `moved_to`; [`crate::store::recovery`] can read what is left of it.
    #[error("the database file is corrupt; it was moved aside to {}", moved_to.display())]
    Corrupt {
        /// Where the corrupt file now lives.
        moved_to: PathBuf,
    },
    /// The database exists but the key store no longer holds its key `alias` (wiped key store,
    /// restored backup without its keys). Nothing was created and no file was touched: restoring
    /// the key opens the database again.
    #[error("the key store holds no key '{alias}' for the existing database")]
    KeyMissing {
        /// The key store alias that is missing (never key material).
        alias: &'static str,
    },
    /// A sealed value failed authentication although the key is right (tampered or swapped bytes).
    #[error("a sealed value in {what} failed authentication")]
    Tampered {
        /// Which table/column (never the value).
        what: &'static str,
    },
    /// The record asked for does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked up (e.g. "visit", "job").
        what: &'static str,
    },
    /// The change conflicts with the stored state (duplicate id or idempotency key, a job not in
    /// the state the transition needs, a stale version).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller passed something the store cannot accept (e.g. a visit without outbox jobs).
    #[error("invalid input: {0}")]
    Invalid(&'static str),
    /// The database was written by a newer app (schema version above what this build knows).
    #[error("database schema version {found} is newer than this app supports ({supported})")]
    TooNew {
        /// Version found in the file.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },
    /// The host key store failed.
    #[error(transparent)]
    KeyStore(#[from] crate::platform::KeyStoreError),
    /// A stored JSON value could not be (de)serialised; the message holds no data.
    #[error("serialisation failed: {0}")]
    Serde(String),
    /// A file-system operation (moving a corrupt file aside) failed.
    #[error("file-system error: {0}")]
    Io(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match &e {
            rusqlite::Error::SqliteFailure(f, msg)
                if f.code == ErrorCode::ConstraintViolation
                    && matches!(
                        f.extended_code,
                        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    ) =>
            {
                StoreError::Conflict(msg.clone().unwrap_or_else(|| "unique constraint".into()))
            }
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound { what: "row" },
            _ => StoreError::Sqlite(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        // serde_json messages quote at most a type name and a position, never the input.
        StoreError::Serde(format!(
            "{:?} at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    }
}

/// True when SQLite says the file is not a database or is malformed.
pub(crate) fn is_corruption(e: &rusqlite::Error) -> bool {
    use rusqlite::ffi::ErrorCode;
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
}
