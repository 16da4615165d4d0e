//! Host services: the key store, the clock and the log sink, implemented in Kotlin/Swift and
//! adapted to the core's `platform` traits. Named `Host…` so they clash with neither
//! `java.security.KeyStore` nor Swift's `Clock`.

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
pub trait HostKeyStore: Send + Sync {
    /// Returns the 32-byte key named `alias`, creating and persisting it on first use.
    fn get_or_create_key(&self, alias: String) -> Result<Vec<u8>, KeyStoreError>;
    /// Returns the key named `alias` if the key store holds it, `null`/`nil` if not; never creates
    /// one (the core asks this for an existing database, whose lost key must not be replaced).
    fn get_key(&self, alias: String) -> Result<Option<Vec<u8>>, KeyStoreError>;
}

/// The host's wall clock.
#[uniffi::export(with_foreign)]
pub trait HostClock: Send + Sync {
    /// Milliseconds since the Unix epoch, UTC.
    fn now_unix_ms(&self) -> i64;
}

/// Adapts the host's key store to the core's trait.
pub(crate) struct KeyStoreAdapter(pub(crate) Arc<dyn HostKeyStore>);

fn host_key(key: Vec<u8>) -> Result<[u8; KEY_LEN], core_platform::KeyStoreError> {
    key.as_slice().try_into().map_err(|_| {
        core_platform::KeyStoreError::Failed(format!(
            "the host key store gave a key that is not {KEY_LEN} bytes"
        ))
    })
}

fn host_error(e: KeyStoreError) -> core_platform::KeyStoreError {
    match e {
        KeyStoreError::Locked => core_platform::KeyStoreError::Locked,
        KeyStoreError::Failed { reason } => core_platform::KeyStoreError::Failed(reason),
    }
}

impl core_platform::KeyStore for KeyStoreAdapter {
    fn get_or_create_key(&self, alias: &str) -> Result<[u8; KEY_LEN], core_platform::KeyStoreError> {
        host_key(self.0.get_or_create_key(alias.to_string()).map_err(host_error)?)
    }

    fn get_key(&self, alias: &str) -> Result<Option<[u8; KEY_LEN]>, core_platform::KeyStoreError> {
        self.0
            .get_key(alias.to_string())
            .map_err(host_error)?
            .map(host_key)
            .transpose()
    }
}

/// Adapts the host's clock to the core's trait.
pub(crate) struct ClockAdapter(pub(crate) Arc<dyn HostClock>);

impl core_platform::Clock for ClockAdapter {
    fn now_unix_ms(&self) -> i64 {
        self.0.now_unix_ms()
    }
}

/// Severity of a forwarded log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// Fine detail for developers.
    Debug,
    /// Normal operation.
    Info,
    /// Something the user may notice.
    Warn,
    /// A failure.
    Error,
}

impl From<LogLevel> for core_platform::LogLevel {
    fn from(l: LogLevel) -> Self {
        match l {
            LogLevel::Debug => Self::Debug,
            LogLevel::Info => Self::Info,
            LogLevel::Warn => Self::Warn,
            LogLevel::Error => Self::Error,
        }
    }
}

impl From<core_platform::LogLevel> for LogLevel {
    fn from(l: core_platform::LogLevel) -> Self {
        match l {
            core_platform::LogLevel::Debug => Self::Debug,
            core_platform::LogLevel::Info => Self::Info,
            core_platform::LogLevel::Warn => Self::Warn,
            core_platform::LogLevel::Error => Self::Error,
        }
    }
}

/// The host's log (Logcat, os_log): receives the core's lines, already filtered by level and
/// free of patient data. Must return quickly; what it throws loses only that line.
#[uniffi::export(with_foreign)]
pub trait LogSink: Send + Sync {
    /// One log line: its level, its source (`homevisit::app`, …) and its text.
    fn log(&self, level: LogLevel, target: String, message: String);
}

/// Adapts the host's log sink to the core's trait.
pub(crate) struct LogSinkAdapter(pub(crate) Arc<dyn LogSink>);

impl core_platform::LogSink for LogSinkAdapter {
    fn log(&self, level: core_platform::LogLevel, target: &str, message: &str) {
        self.0.log(level.into(), target.to_string(), message.to_string());
    }
}
