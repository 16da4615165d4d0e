//! Pairings kept in the app's encrypted store (`core::store::Store`'s sealed key/value table).

use super::ReaderError;
use super::pairing::{PairingRecord, PairingStore};
use crate::store::Store;
use std::sync::Arc;

/// Namespace of the pairing rows in the store's key/value table.
pub const PAIRING_NAMESPACE: &str = "reader-pairing";

/// A [`PairingStore`] over the sealed key/value table: the long-term keys are sealed at rest.
#[derive(Debug, Clone)]
pub struct StorePairingStore {
    store: Arc<Store>,
}

impl StorePairingStore {
    /// Pairings in `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }
}

fn err(e: impl std::fmt::Display) -> ReaderError {
    ReaderError::Device(format!("pairing store: {e}"))
}

impl PairingStore for StorePairingStore {
    fn load(&self, reader_id: &str) -> Result<Option<PairingRecord>, ReaderError> {
        match self.store.kv_get(PAIRING_NAMESPACE, reader_id).map_err(err)? {
            Some(b) => Ok(Some(PairingRecord::from_bytes(&b)?)),
            None => Ok(None),
        }
    }
    fn save(&self, record: &PairingRecord) -> Result<(), ReaderError> {
        self.store
            .kv_put(PAIRING_NAMESPACE, &record.reader_id, &record.to_bytes())
            .map_err(err)
    }
    fn remove(&self, reader_id: &str) -> Result<(), ReaderError> {
        self.store
            .kv_delete(PAIRING_NAMESPACE, reader_id)
            .map_err(err)
            .map(|_| ())
    }
    fn list(&self) -> Result<Vec<PairingRecord>, ReaderError> {
        let mut out = Vec::new();
        for k in self.store.kv_keys(PAIRING_NAMESPACE).map_err(err)? {
            if let Some(r) = self.load(&k)? {
                out.push(r);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::MemoryKeyStore;
    use crate::reader::ReaderModel;

    #[test]
    fn pairings_survive_reopening_and_the_key_is_not_in_clear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let ks = MemoryKeyStore::with_seed(3);
        let record = PairingRecord {
            reader_id: "sim:HV-BT200-0001".into(),
            name: "HV-BT200 0001".into(),
            device_id: "HVBT200-SN0001".into(),
            model: ReaderModel::HvBt200,
            long_term_key: *b"LTK-marker-LTK-marker-LTK-marker",
            paired_at_unix_ms: 5,
        };
        {
            let s = StorePairingStore::new(Arc::new(Store::open(&path, &ks).unwrap()));
            s.save(&record).unwrap();
        }
        let s = StorePairingStore::new(Arc::new(Store::open(&path, &ks).unwrap()));
        assert_eq!(s.load(&record.reader_id).unwrap(), Some(record.clone()));
        assert_eq!(s.list().unwrap(), vec![record.clone()]);
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(
                !bytes.windows(10).any(|w| w == b"LTK-marker"),
                "long-term key found in clear"
            );
        }
        s.remove(&record.reader_id).unwrap();
        assert_eq!(s.load(&record.reader_id).unwrap(), None);
    }
}
