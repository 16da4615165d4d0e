//! Services the host platform provides to the core (Android Keystore, iOS Keychain, the clock,
//! connectivity, the log sink). The shells implement these traits; the desktop command and the tests
//! use the implementations here.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// Length in bytes of every key the [`KeyStore`] hands out (AES-256 / HMAC-SHA256 keys).
pub const KEY_LEN: usize = 32;

/// Why the host key store could not give a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyStoreError {
    /// The key store is locked (e.g. the device has not been unlocked since boot).
    #[error("the key store is locked")]
    Locked,
    /// The key store failed; the message never holds key material.
    #[error("the key store failed: {0}")]
    Failed(String),
}

/// Gives the core its secret keys. The host keeps them in hardware-backed storage where it can
/// (Android Keystore, iOS Keychain); the core never writes a key to disk itself.
pub trait KeyStore: Send + Sync {
    /// Returns the 32-byte key named `alias`, creating and persisting it on first use.
    fn get_or_create_key(&self, alias: &str) -> Result<[u8; KEY_LEN], KeyStoreError>;
    /// Returns the key named `alias` if the store holds it, never creating one (an existing
    /// database's key must not be silently replaced by a new one).
    fn get_key(&self, alias: &str) -> Result<Option<[u8; KEY_LEN]>, KeyStoreError>;
}

/// Wall-clock time for every rule; the core converts to Taiwan time (UTC+8) itself.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch, UTC.
    fn now_unix_ms(&self) -> i64;
}

/// Whether the phone can reach the NHI VPN now, as the host sees it.
pub trait Connectivity: Send + Sync {
    /// True when the VPN is believed reachable.
    fn is_online(&self) -> bool;
}

/// Severity of a log line forwarded to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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

/// Receives the core's log lines (already redacted of patient data); Logcat / os_log in the shells.
pub trait LogSink: Send + Sync {
    /// Writes one log line.
    fn log(&self, level: LogLevel, target: &str, message: &str);
}

/// The real clock of the machine.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock that only moves when told to: for tests and virtual-time simulations.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    /// A clock standing at `now_unix_ms`.
    pub fn new(now_unix_ms: i64) -> Arc<Self> {
        Arc::new(Self {
            now_ms: AtomicI64::new(now_unix_ms),
        })
    }
    /// Moves the clock forward (or back, with a negative value) by `ms`.
    pub fn advance_ms(&self, ms: i64) {
        self.now_ms.fetch_add(ms, Ordering::SeqCst);
    }
    /// Sets the clock to `now_unix_ms`.
    pub fn set_unix_ms(&self, now_unix_ms: i64) {
        self.now_ms.store(now_unix_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// Connectivity switched by hand: the desktop command and the tests flip it.
#[derive(Debug)]
pub struct ManualConnectivity {
    online: AtomicBool,
}

impl ManualConnectivity {
    /// Starts online or offline.
    pub fn new(online: bool) -> Arc<Self> {
        Arc::new(Self {
            online: AtomicBool::new(online),
        })
    }
    /// Switches the network on or off.
    pub fn set_online(&self, online: bool) {
        self.online.store(online, Ordering::SeqCst);
    }
}

impl Connectivity for ManualConnectivity {
    fn is_online(&self) -> bool {
        self.online.load(Ordering::SeqCst)
    }
}

/// A key store backed by one file per key in a directory, readable only by the owner: the desktop
/// command's stand-in for a hardware key store. Not for phones.
#[derive(Debug, Clone)]
pub struct FileKeyStore {
    dir: PathBuf,
}

impl FileKeyStore {
    /// Keys live in `dir` (created on first use).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path_for(&self, alias: &str) -> Result<PathBuf, KeyStoreError> {
        if alias.is_empty()
            || !alias
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(KeyStoreError::Failed("key alias must be [A-Za-z0-9_-]+".into()));
        }
        Ok(self.dir.join(format!("{alias}.key")))
    }
}

impl KeyStore for FileKeyStore {
    fn get_or_create_key(&self, alias: &str) -> Result<[u8; KEY_LEN], KeyStoreError> {
        use ring::rand::SecureRandom;
        let path = self.path_for(alias)?;
        match std::fs::read(&path) {
            Ok(bytes) => bytes
                .as_slice()
                .try_into()
                .map_err(|_| KeyStoreError::Failed(format!("key file for '{alias}' is not {KEY_LEN} bytes"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; KEY_LEN];
                ring::rand::SystemRandom::new()
                    .fill(&mut key)
                    .map_err(|_| KeyStoreError::Failed("no system randomness".into()))?;
                std::fs::create_dir_all(&self.dir).map_err(|e| KeyStoreError::Failed(e.to_string()))?;
                write_private(&path, &key).map_err(|e| KeyStoreError::Failed(e.to_string()))?;
                Ok(key)
            }
            Err(e) => Err(KeyStoreError::Failed(e.to_string())),
        }
    }

    fn get_key(&self, alias: &str) -> Result<Option<[u8; KEY_LEN]>, KeyStoreError> {
        let path = self.path_for(alias)?;
        match std::fs::read(&path) {
            Ok(bytes) => {
                bytes.as_slice().try_into().map(Some).map_err(|_| {
                    KeyStoreError::Failed(format!("key file for '{alias}' is not {KEY_LEN} bytes"))
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(KeyStoreError::Failed(e.to_string())),
        }
    }
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// A key store holding its keys in memory, derived from a seed so tests are repeatable.
#[derive(Debug, Default)]
pub struct MemoryKeyStore {
    seed: u8,
    keys: std::sync::Mutex<std::collections::HashMap<String, [u8; KEY_LEN]>>,
    /// Aliases [`MemoryKeyStore::remove`] made the store forget (a later create derives a new key).
    removed: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl MemoryKeyStore {
    /// A key store whose keys are derived from `seed` and the alias.
    pub fn with_seed(seed: u8) -> Self {
        Self {
            seed,
            keys: Default::default(),
            removed: Default::default(),
        }
    }

    /// Forgets the key `alias`, as a wiped key store would: [`KeyStore::get_key`] then finds
    /// nothing, and a later create derives another key than the lost one.
    pub fn remove(&self, alias: &str) {
        if let Ok(mut k) = self.keys.lock() {
            k.remove(alias);
        }
        if let Ok(mut r) = self.removed.lock() {
            r.insert(alias.to_string());
        }
    }

    fn is_removed(&self, alias: &str) -> bool {
        self.removed.lock().map(|r| r.contains(alias)).unwrap_or(false)
    }
}

impl KeyStore for MemoryKeyStore {
    fn get_or_create_key(&self, alias: &str) -> Result<[u8; KEY_LEN], KeyStoreError> {
        let mut keys = self
            .keys
            .lock()
            .map_err(|_| KeyStoreError::Failed("key store poisoned".into()))?;
        // A key created after `remove` is a new key, not the lost one.
        let seed = if self.is_removed(alias) {
            !self.seed
        } else {
            self.seed
        };
        let key = keys.entry(alias.to_string()).or_insert_with(|| {
            let d = ring::digest::digest(&ring::digest::SHA256, &[&[seed][..], alias.as_bytes()].concat());
            let mut k = [0u8; KEY_LEN];
            k.copy_from_slice(d.as_ref());
            k
        });
        Ok(*key)
    }

    /// Every key derivable from the seed counts as held, except the removed ones not created again.
    fn get_key(&self, alias: &str) -> Result<Option<[u8; KEY_LEN]>, KeyStoreError> {
        let held = self
            .keys
            .lock()
            .map_err(|_| KeyStoreError::Failed("key store poisoned".into()))?
            .contains_key(alias);
        if self.is_removed(alias) && !held {
            return Ok(None);
        }
        self.get_or_create_key(alias).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_key_store_persists_and_rejects_bad_alias() {
        let dir = tempfile::tempdir().unwrap();
        let ks = FileKeyStore::new(dir.path().join("keys"));
        let a = ks.get_or_create_key("store").unwrap();
        let b = FileKeyStore::new(dir.path().join("keys"))
            .get_or_create_key("store")
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(a, ks.get_or_create_key("other").unwrap());
        assert!(matches!(
            ks.get_or_create_key("../x"),
            Err(KeyStoreError::Failed(_))
        ));
        std::fs::write(dir.path().join("keys/short.key"), b"abc").unwrap();
        assert!(matches!(
            ks.get_or_create_key("short"),
            Err(KeyStoreError::Failed(_))
        ));
    }

    #[test]
    fn memory_key_store_is_repeatable_per_seed() {
        let a = MemoryKeyStore::with_seed(1).get_or_create_key("k").unwrap();
        assert_eq!(a, MemoryKeyStore::with_seed(1).get_or_create_key("k").unwrap());
        assert_ne!(a, MemoryKeyStore::with_seed(2).get_or_create_key("k").unwrap());
    }
}
