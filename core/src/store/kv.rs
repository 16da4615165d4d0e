//! A sealed key/value table for small secrets and caches: reader pairings, device keys, MediCloud
//! caches. Namespaces and keys are stored in clear (use ids, never patient data); values are sealed
//! and bound to their namespace and key.

use super::seal::Place;
use super::{Store, StoreResult};
use rusqlite::OptionalExtension;

fn row_id(namespace: &str, key: &str) -> String {
    format!("{namespace}\u{0}{key}")
}

impl Store {
    /// Stores (or replaces) `value` under `namespace`/`key`, sealed.
    pub fn kv_put(&self, namespace: &str, key: &str, value: &[u8]) -> StoreResult<()> {
        let row = row_id(namespace, key);
        let sealed = self.sealer().seal(
            Place {
                table: "kv",
                row: &row,
                column: "value",
            },
            value,
        )?;
        let conn = self.lock();
        conn.prepare_cached(
            "INSERT INTO kv (namespace, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )?
        .execute(rusqlite::params![namespace, key, sealed, self.now_ms()])?;
        Ok(())
    }

    /// The value under `namespace`/`key`, opened, or `None`.
    pub fn kv_get(&self, namespace: &str, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let sealed: Option<Vec<u8>> = {
            let conn = self.lock();
            conn.prepare_cached("SELECT value FROM kv WHERE namespace = ?1 AND key = ?2")?
                .query_row([namespace, key], |r| r.get(0))
                .optional()?
        };
        let row = row_id(namespace, key);
        sealed
            .map(|s| {
                self.sealer().open(
                    Place {
                        table: "kv",
                        row: &row,
                        column: "value",
                    },
                    &s,
                )
            })
            .transpose()
    }

    /// The value's last update time (unix ms), e.g. to show a cache's age; `None` if absent.
    pub fn kv_updated_at(&self, namespace: &str, key: &str) -> StoreResult<Option<i64>> {
        let conn = self.lock();
        Ok(conn
            .prepare_cached("SELECT updated_at FROM kv WHERE namespace = ?1 AND key = ?2")?
            .query_row([namespace, key], |r| r.get(0))
            .optional()?)
    }

    /// Removes `namespace`/`key`; returns whether it existed.
    pub fn kv_delete(&self, namespace: &str, key: &str) -> StoreResult<bool> {
        let conn = self.lock();
        let n = conn
            .prepare_cached("DELETE FROM kv WHERE namespace = ?1 AND key = ?2")?
            .execute([namespace, key])?;
        Ok(n > 0)
    }

    /// The keys of `namespace`, sorted.
    pub fn kv_keys(&self, namespace: &str) -> StoreResult<Vec<String>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached("SELECT key FROM kv WHERE namespace = ?1 ORDER BY key")?;
        let keys = stmt.query_map([namespace], |r| r.get(0))?;
        Ok(keys.collect::<Result<_, _>>()?)
    }
}
