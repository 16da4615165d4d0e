//! Where the VPN layer keeps its small secrets (the device key and enrolment, MediCloud caches):
//! a sealed key/value store. The app uses the store's sealed `kv` table; tests use memory.

use super::error::VpnError;
use std::collections::HashMap;
use std::sync::Mutex;

/// Namespace of the VPN layer's values in the store's `kv` table.
pub const KV_NAMESPACE: &str = "vpn";

/// A sealed key/value store (values are encrypted at rest by the implementation).
pub trait SecretStore: Send + Sync {
    /// The value under `key`, or `None`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, VpnError>;
    /// Stores `value` under `key`, replacing what was there.
    fn put(&self, key: &str, value: &[u8]) -> Result<(), VpnError>;
}

fn storage(e: impl std::fmt::Display) -> VpnError {
    VpnError::Storage {
        reason: e.to_string(),
    }
}

impl SecretStore for crate::store::Store {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, VpnError> {
        self.kv_get(KV_NAMESPACE, key).map_err(storage)
    }
    fn put(&self, key: &str, value: &[u8]) -> Result<(), VpnError> {
        self.kv_put(KV_NAMESPACE, key, value).map_err(storage)
    }
}

/// An in-memory [`SecretStore`] for tests and throw-away sessions.
#[derive(Debug, Default)]
pub struct MemorySecretStore(Mutex<HashMap<String, Vec<u8>>>);

impl MemorySecretStore {
    /// The keys held, sorted (tests check no patient data is used as a key).
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .0
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }
}

impl SecretStore for MemorySecretStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, VpnError> {
        Ok(self
            .0
            .lock()
            .map_err(|_| storage("memory store poisoned"))?
            .get(key)
            .cloned())
    }
    fn put(&self, key: &str, value: &[u8]) -> Result<(), VpnError> {
        self.0
            .lock()
            .map_err(|_| storage("memory store poisoned"))?
            .insert(key.to_string(), value.to_vec());
        Ok(())
    }
}
