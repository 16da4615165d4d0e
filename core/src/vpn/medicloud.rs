//! The MediCloud cache: a patient's medications and labs fetched when online, kept sealed, and
//! readable offline with their age (MediCloud itself lags 24–48 h; the cache adds its own age).
//!
//! Entries are keyed by an HMAC of the national ID (the key comes from the host key store), so
//! no clear ID appears even in the store's clear key column.

use super::client::VpnClient;
use super::error::VpnError;
use super::secrets::SecretStore;
use super::wire::MediCloudRecord;
use crate::model::NationalId;
use crate::platform::{Clock, KeyStore};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Key-store alias of the key that hashes national IDs into cache keys.
pub const CACHE_KEY_ALIAS: &str = "vpn-medicloud-index";

/// A cached MediCloud record with when it was fetched.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedMediCloud {
    /// The record as the server gave it.
    pub record: MediCloudRecord,
    /// When it was fetched, Unix ms (device clock).
    pub fetched_at_ms: i64,
}

impl std::fmt::Debug for CachedMediCloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CachedMediCloud({:?}, fetched_at_ms {})",
            self.record, self.fetched_at_ms
        )
    }
}

/// What the app shows: the record, its age, and whether it came from the server just now.
#[derive(Debug, Clone, PartialEq)]
pub struct MediCloudView {
    /// The record.
    pub record: MediCloudRecord,
    /// How old the copy is, in ms (0 when just fetched).
    pub age_ms: i64,
    /// True when read from the cache because the server could not be reached.
    pub offline: bool,
}

impl MediCloudView {
    /// The age for people, e.g. `just now`, `5 min`, `3 h`, `2 d`.
    pub fn age_text(&self) -> String {
        let min = self.age_ms.max(0) / 60_000;
        match min {
            0 => "just now".to_string(),
            m if m < 60 => format!("{m} min"),
            m if m < 48 * 60 => format!("{} h", m / 60),
            m => format!("{} d", m / (24 * 60)),
        }
    }

    /// A medication's days left now, counting the cache's age (never below 0).
    pub fn remaining_days_now(&self, index: usize) -> Option<u32> {
        let m = self.record.medications.get(index)?;
        let aged_days = u32::try_from(self.age_ms.max(0) / 86_400_000).unwrap_or(u32::MAX);
        Some(m.remaining_days.saturating_sub(aged_days))
    }
}

/// The cache itself.
pub struct MediCloudCache {
    store: Arc<dyn SecretStore>,
    clock: Arc<dyn Clock>,
    index_key: ring::hmac::Key,
}

impl MediCloudCache {
    /// A cache over `store`, with cache keys derived from a key of `key_store`.
    pub fn new(
        store: Arc<dyn SecretStore>,
        key_store: &dyn KeyStore,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, VpnError> {
        let key = key_store
            .get_or_create_key(CACHE_KEY_ALIAS)
            .map_err(|e| VpnError::Storage {
                reason: e.to_string(),
            })?;
        Ok(Self {
            store,
            clock,
            index_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        })
    }

    fn cache_key(&self, id: &NationalId) -> String {
        let tag = ring::hmac::sign(&self.index_key, id.expose().as_bytes());
        format!("medicloud.{}", hex::encode(&tag.as_ref()[..16]))
    }

    /// Stores a freshly fetched record.
    pub fn put(&self, id: &NationalId, record: &MediCloudRecord) -> Result<(), VpnError> {
        let entry = CachedMediCloud {
            record: record.clone(),
            fetched_at_ms: self.clock.now_unix_ms(),
        };
        let bytes = serde_json::to_vec(&entry).map_err(|e| VpnError::Storage {
            reason: e.to_string(),
        })?;
        self.store.put(&self.cache_key(id), &bytes)
    }

    /// The cached record with its age, or `None` if this patient was never fetched.
    pub fn get(&self, id: &NationalId) -> Result<Option<MediCloudView>, VpnError> {
        let Some(bytes) = self.store.get(&self.cache_key(id))? else {
            return Ok(None);
        };
        let entry: CachedMediCloud = serde_json::from_slice(&bytes).map_err(|_| VpnError::Storage {
            reason: "the MediCloud cache entry is damaged".into(),
        })?;
        Ok(Some(MediCloudView {
            record: entry.record,
            age_ms: self.clock.now_unix_ms() - entry.fetched_at_ms,
            offline: true,
        }))
    }

    /// Fetches from the server and caches; when the server cannot be reached (a retryable
    /// failure), falls back to the cached copy marked `offline`. Without a cached copy the
    /// server's error is returned.
    pub async fn fetch(&self, client: &VpnClient, id: &NationalId) -> Result<MediCloudView, VpnError> {
        match client.medicloud(id).await {
            Ok(record) => {
                self.put(id, &record)?;
                Ok(MediCloudView {
                    record,
                    age_ms: 0,
                    offline: false,
                })
            }
            Err(e) if e.is_retryable() => match self.get(id)? {
                Some(view) => Ok(view),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::{ManualClock, MemoryKeyStore};
    use crate::vpn::secrets::MemorySecretStore;
    use crate::vpn::wire::Medication;

    fn record() -> MediCloudRecord {
        MediCloudRecord {
            as_of: "2024-03-05".into(),
            medications: vec![Medication {
                drug_code: "AC45856100".into(),
                name: "Amlodipine 5 mg".into(),
                institution: "3501200000".into(),
                dispensed_on: "2024-02-20".into(),
                days: 28,
                remaining_days: 13,
            }],
            labs: vec![],
        }
    }

    #[test]
    fn cached_record_is_sealed_keyed_and_aged() {
        let store = Arc::new(MemorySecretStore::default());
        let clock = ManualClock::new(1_700_000_000_000);
        let cache = MediCloudCache::new(store.clone(), &MemoryKeyStore::with_seed(3), clock.clone()).unwrap();
        let id = NationalId::parse("A123456789").unwrap();
        assert!(cache.get(&id).unwrap().is_none());
        cache.put(&id, &record()).unwrap();
        clock.advance_ms(3 * 86_400_000 + 5);
        let view = cache.get(&id).unwrap().unwrap();
        assert_eq!(view.record, record());
        assert!(view.offline);
        assert_eq!(view.age_text(), "3 d");
        assert_eq!(view.remaining_days_now(0), Some(10));
        // The cache key does not hold the ID.
        let keys = store.keys();
        assert_eq!(keys.len(), 1);
        assert!(!keys[0].contains("A123456789"));
        let other = NationalId::parse("B123456780").unwrap();
        assert!(cache.get(&other).unwrap().is_none());
    }

    #[test]
    fn damaged_entry_is_a_storage_error() {
        let store = Arc::new(MemorySecretStore::default());
        let clock = ManualClock::new(0);
        let cache = MediCloudCache::new(store.clone(), &MemoryKeyStore::with_seed(3), clock).unwrap();
        let id = NationalId::parse("A123456789").unwrap();
        store.put(&cache.cache_key(&id), b"{not json").unwrap();
        assert!(matches!(cache.get(&id), Err(VpnError::Storage { .. })));
    }
}
