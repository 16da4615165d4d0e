//! Issue 11, finding 6: a lost store key is never silently re-created. Opening an existing
//! database whose seal key the key store lost gives `AppError::KeyMissing` with the database and
//! its WAL byte-identical (no key created, SQLite never opened); a store holding data without its
//! key-check row is refused instead of accepting any key.

use homevisit_core::app::{AppConfig, AppError, CardInput, DATABASE_FILE, HomeVisit, VisitDetails};
use homevisit_core::platform::{FileKeyStore, KeyStore, MemoryKeyStore, SystemClock};
use homevisit_core::store::{INDEX_KEY_ALIAS, SEAL_KEY_ALIAS};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn config(dir: &Path) -> AppConfig {
    AppConfig {
        data_dir: dir.to_path_buf(),
        institution_code: "3501200000".into(),
        device_id: "security-keys".into(),
    }
}

fn card() -> CardInput {
    CardInput {
        card_number: "000012345678".into(),
        name: "王小明".into(),
        national_id: "A123456789".into(),
        birth_date: "0500101".into(),
        sex: "M".into(),
        issue_date: "1100301".into(),
    }
}

fn details() -> VisitDetails {
    VisitDetails {
        practitioner_id: "B234567894".into(),
        visit_type: "AH".into(),
        sequence_number: "0001".into(),
        diagnoses: vec!["I10".into()],
        note: "stable".into(),
        abnormal_reason: None,
    }
}

fn wal(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}-wal", db.display()))
}

/// Leaves committed frames in the WAL, as a process killed before its checkpoint does.
fn leave_frames_in_the_wal(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .unwrap();
    conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    conn.execute(
        "INSERT INTO audit (at, action, subject) VALUES (1, 'test_frame', '')",
        [],
    )
    .unwrap();
    drop(conn);
    assert!(
        std::fs::metadata(wal(db)).unwrap().len() > 0,
        "the WAL holds frames"
    );
}

#[test]
fn deleting_only_the_seal_key_leaves_the_database_and_wal_byte_identical_and_gives_key_missing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys_dir = dir.path().join("keys");
    let keys: Arc<dyn KeyStore> = Arc::new(FileKeyStore::new(&keys_dir));
    let app = HomeVisit::open(config(&data), keys.clone(), Arc::new(SystemClock)).unwrap();
    app.record_visit_from_input(&card(), details()).unwrap();
    drop(app);
    let db = data.join(DATABASE_FILE);
    leave_frames_in_the_wal(&db);
    let before = (std::fs::read(&db).unwrap(), std::fs::read(wal(&db)).unwrap());

    std::fs::remove_file(keys_dir.join(format!("{SEAL_KEY_ALIAS}.key"))).unwrap();
    let err = HomeVisit::open(config(&data), keys.clone(), Arc::new(SystemClock)).unwrap_err();
    assert_eq!(
        err,
        AppError::KeyMissing {
            alias: SEAL_KEY_ALIAS.into()
        }
    );
    assert_eq!(err.code(), "key_missing");
    assert!(AppError::CODES.contains(&"key_missing"));
    // No key was made in its place, and not one byte of the database or its WAL changed.
    assert!(!keys_dir.join(format!("{SEAL_KEY_ALIAS}.key")).exists());
    assert_eq!(std::fs::read(&db).unwrap(), before.0, "database changed");
    assert_eq!(std::fs::read(wal(&db)).unwrap(), before.1, "WAL changed");
    // Asking again changes nothing either; the index key alone missing is the same error.
    assert!(matches!(
        HomeVisit::open(config(&data), keys, Arc::new(SystemClock)),
        Err(AppError::KeyMissing { .. })
    ));
    let memory = MemoryKeyStore::with_seed(1);
    let other = dir.path().join("other");
    drop(
        HomeVisit::open(
            config(&other),
            Arc::new(MemoryKeyStore::with_seed(1)),
            Arc::new(SystemClock),
        )
        .unwrap(),
    );
    memory.remove(INDEX_KEY_ALIAS);
    assert_eq!(
        HomeVisit::open(config(&other), Arc::new(memory), Arc::new(SystemClock)).unwrap_err(),
        AppError::KeyMissing {
            alias: INDEX_KEY_ALIAS.into()
        }
    );
}

#[test]
fn the_restored_key_opens_the_untouched_database_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys_dir = dir.path().join("keys");
    let keys: Arc<dyn KeyStore> = Arc::new(FileKeyStore::new(&keys_dir));
    let app = HomeVisit::open(config(&data), keys.clone(), Arc::new(SystemClock)).unwrap();
    let visit = app.record_visit_from_input(&card(), details()).unwrap();
    drop(app);
    let key_file = keys_dir.join(format!("{SEAL_KEY_ALIAS}.key"));
    let saved = std::fs::read(&key_file).unwrap();
    std::fs::remove_file(&key_file).unwrap();
    assert!(HomeVisit::open(config(&data), keys.clone(), Arc::new(SystemClock)).is_err());
    std::fs::write(&key_file, saved).unwrap();
    let app = HomeVisit::open(config(&data), keys, Arc::new(SystemClock)).unwrap();
    assert_eq!(app.list_visits(10, 0).unwrap()[0].id, visit.id);
}

#[test]
fn a_missing_key_check_row_no_longer_accepts_any_key() {
    let dir = tempfile::tempdir().unwrap();
    let app = HomeVisit::open(
        config(dir.path()),
        Arc::new(MemoryKeyStore::with_seed(1)),
        Arc::new(SystemClock),
    )
    .unwrap();
    app.record_visit_from_input(&card(), details()).unwrap();
    drop(app);
    let db = dir.path().join(DATABASE_FILE);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("DELETE FROM meta", []).unwrap();
    drop(conn);
    // Another key store's keys (all present, all different) must not be taken for the store's.
    let err = HomeVisit::open(
        config(dir.path()),
        Arc::new(MemoryKeyStore::with_seed(2)),
        Arc::new(SystemClock),
    )
    .unwrap_err();
    assert!(
        matches!(err, AppError::Corrupt { .. } | AppError::WrongKey),
        "{err:?}"
    );
    // Nor the right ones: the store is refused, not re-keyed (the rows stay missing).
    assert!(
        HomeVisit::open(
            config(dir.path()),
            Arc::new(MemoryKeyStore::with_seed(1)),
            Arc::new(SystemClock)
        )
        .is_err()
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM meta", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0, "no key-check row was written for a foreign key");
}
