//! Host services: the key store and the clock, implemented in Kotlin/Swift and adapted to the
//! core's `platform` traits.

use homevisit_core::platform::{self as core_platform, KEY_LEN};
use std::sync::Arc;

/// Why the host key store could not give a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum KeyStoreError {
    /// Locked (e.g. not unlocked since boot).
    #[error("the key store is locked")]
    Locked,
    /// Failed; `reason` never holds key material.
    #[error("the key store failed: {reason}")]
    Failed { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for KeyStoreError {
    /// The host's implementation threw something undeclared.
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Failed { reason: e.reason }
    }
}

/// The host's key store (Android Keystore, iOS Keychain): gives the core its 32-byte keys.
#[uniffi::export(with_foreign)]
pub trait KeyStore: Send + Sync {
    /// Returns the 32-byte key named `alias`, creating and persisting it on first use.
    fn get_or_create_key(&self, alias: String) -> Result<Vec<u8>, KeyStoreError>;
}

/// The host's wall clock.
#[uniffi::export(with_foreign)]
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch, UTC.
    fn now_unix_ms(&self) -> i64;
}

/// Adapts the host's key store to the core's trait.
pub(crate) struct HostKeyStore(pub(crate) Arc<dyn KeyStore>);

impl core_platform::KeyStore for HostKeyStore {
    fn get_or_create_key(&self, alias: &str) -> Result<[u8; KEY_LEN], core_platform::KeyStoreError> {
        match self.0.get_or_create_key(alias.to_string()) {
            Ok(key) => key.as_slice().try_into().map_err(|_| {
                core_platform::KeyStoreError::Failed(format!(
                    "the host key store gave a key that is not {KEY_LEN} bytes"
                ))
            }),
            Err(KeyStoreError::Locked) => Err(core_platform::KeyStoreError::Locked),
            Err(KeyStoreError::Failed { reason }) => Err(core_platform::KeyStoreError::Failed(reason)),
        }
    }
}

/// Adapts the host's clock to the core's trait.
pub(crate) struct HostClock(pub(crate) Arc<dyn Clock>);

impl core_platform::Clock for HostClock {
    fn now_unix_ms(&self) -> i64 {
        self.0.now_unix_ms()
    }
}
