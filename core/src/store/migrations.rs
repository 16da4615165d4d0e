//! Numbered SQL migrations (`migrations/NNNN_*.sql`), tracked with `PRAGMA user_version` and
//! applied in one transaction: a store is at version N exactly when migrations 1..=N ran.

use super::error::StoreError;
use rusqlite::Connection;

/// The migrations, in order; migration `i` (0-based) brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_upload_tracking.sql"),
    include_str!("migrations/0003_cheaper_commit.sql"),
    include_str!("migrations/0004_integer_job_keys.sql"),
];

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Reads `PRAGMA user_version` (a header read: no table is scanned).
pub(crate) fn current_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// Brings the schema from its current version to `target` in one transaction.
pub(crate) fn migrate_to(conn: &mut Connection, target: i64) -> Result<i64, StoreError> {
    let found = current_version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found >= target {
        return Ok(found);
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Re-read inside the write lock: another connection may have migrated meanwhile.
    let found = current_version(&tx)?;
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(found.max(0) as usize)
    {
        tx.execute_batch(sql)?;
        tracing::info!(target: "store", version = i + 1, "applied migration");
    }
    tx.pragma_update(None, "user_version", target)?;
    tx.commit()?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(conn: &Connection) -> Vec<(String, String, String)> {
        let mut stmt = conn
            .prepare("SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn step_by_step_upgrade_equals_fresh_schema() {
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate_to(&mut fresh, SCHEMA_VERSION).unwrap();
        let mut stepped = Connection::open_in_memory().unwrap();
        for v in 1..=SCHEMA_VERSION {
            migrate_to(&mut stepped, v).unwrap();
            assert_eq!(current_version(&stepped).unwrap(), v);
        }
        assert_eq!(schema(&stepped), schema(&fresh));
        assert!(MIGRATIONS.len() >= 2);
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(matches!(
            migrate_to(&mut conn, SCHEMA_VERSION),
            Err(StoreError::TooNew { .. })
        ));
    }

    #[test]
    fn a_failing_migration_leaves_the_old_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 1).unwrap();
        // Make migration 2 fail half-way: its ALTER on audit collides with an existing column.
        conn.execute_batch("ALTER TABLE audit ADD COLUMN detail TEXT")
            .unwrap();
        assert!(migrate_to(&mut conn, 2).is_err());
        assert_eq!(current_version(&conn).unwrap(), 1);
        // Nothing of migration 2 stayed behind.
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'visits_pending_due'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0);
    }
}
