//! Stored reader pairings: the long-term key of each paired reader, kept sealed by the store.

use super::ReaderError;
use super::model::ReaderModel;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A reader the phone has paired with.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PairingRecord {
    /// The reader's transport id.
    pub reader_id: String,
    /// Its advertised name.
    pub name: String,
    /// The id the reader gave for itself while pairing (bound into every session's proof).
    pub device_id: String,
    /// Its model.
    pub model: ReaderModel,
    /// The long-term key agreed at pairing.
    pub long_term_key: [u8; 32],
    /// When it was paired (Unix ms, UTC).
    pub paired_at_unix_ms: i64,
}

impl std::fmt::Debug for PairingRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairingRecord")
            .field("reader_id", &self.reader_id)
            .field("name", &self.name)
            .field("device_id", &self.device_id)
            .field("model", &self.model)
            .field("long_term_key", &"<redacted>")
            .field("paired_at_unix_ms", &self.paired_at_unix_ms)
            .finish()
    }
}

impl PairingRecord {
    /// Serialises the record for a sealed key/value store.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain fields to JSON cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
    /// Parses a record written by [`PairingRecord::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<Self, ReaderError> {
        serde_json::from_slice(b)
            .map_err(|e| ReaderError::Device(format!("stored pairing is unreadable: {e}")))
    }
}

/// Where the phone keeps its pairings. Implementations seal the records at rest.
pub trait PairingStore: Send + Sync {
    /// The pairing with `reader_id`, if any.
    fn load(&self, reader_id: &str) -> Result<Option<PairingRecord>, ReaderError>;
    /// Stores (or replaces) a pairing.
    fn save(&self, record: &PairingRecord) -> Result<(), ReaderError>;
    /// Forgets a pairing; forgetting an unknown reader is not an error.
    fn remove(&self, reader_id: &str) -> Result<(), ReaderError>;
    /// Every stored pairing.
    fn list(&self) -> Result<Vec<PairingRecord>, ReaderError>;
}

/// Pairings in memory (tests, the demo).
#[derive(Debug, Default)]
pub struct MemoryPairingStore {
    records: Mutex<BTreeMap<String, PairingRecord>>,
}

impl MemoryPairingStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn poisoned() -> ReaderError {
    ReaderError::Device("pairing store lock poisoned".into())
}

impl PairingStore for MemoryPairingStore {
    fn load(&self, reader_id: &str) -> Result<Option<PairingRecord>, ReaderError> {
        Ok(self
            .records
            .lock()
            .map_err(|_| poisoned())?
            .get(reader_id)
            .cloned())
    }
    fn save(&self, record: &PairingRecord) -> Result<(), ReaderError> {
        self.records
            .lock()
            .map_err(|_| poisoned())?
            .insert(record.reader_id.clone(), record.clone());
        Ok(())
    }
    fn remove(&self, reader_id: &str) -> Result<(), ReaderError> {
        self.records.lock().map_err(|_| poisoned())?.remove(reader_id);
        Ok(())
    }
    fn list(&self) -> Result<Vec<PairingRecord>, ReaderError> {
        Ok(self
            .records
            .lock()
            .map_err(|_| poisoned())?
            .values()
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_debug_hides_the_key() {
        let r = PairingRecord {
            reader_id: "r1".into(),
            name: "HV-BT200 0001".into(),
            device_id: "HVBT200-SN0001".into(),
            model: ReaderModel::HvBt200,
            long_term_key: [0xAB; 32],
            paired_at_unix_ms: 1,
        };
        assert_eq!(PairingRecord::from_bytes(&r.to_bytes()).unwrap(), r);
        assert!(!format!("{r:?}").to_lowercase().contains("abab"));
        assert!(!format!("{r:?}").contains("171"));
        assert!(PairingRecord::from_bytes(b"{garbage").is_err());
        let s = MemoryPairingStore::new();
        s.save(&r).unwrap();
        assert_eq!(s.load("r1").unwrap(), Some(r.clone()));
        assert_eq!(s.list().unwrap().len(), 1);
        s.remove("r1").unwrap();
        assert_eq!(s.load("r1").unwrap(), None);
    }
}
