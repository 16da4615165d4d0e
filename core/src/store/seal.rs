//! Sealing at rest: AES-256-GCM with a random 96-bit nonce per value and an AAD that binds each
//! ciphertext to its table, row and column (a sealed value moved to another row or column fails to
//! open), plus the keyed hash (HMAC-SHA256) used to look patients up without storing their ID.

use super::error::StoreError;
use crate::platform::KeyStore;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// Key-store alias of the AES-256-GCM sealing key.
pub const SEAL_KEY_ALIAS: &str = "store-seal-v1";
/// Key-store alias of the HMAC-SHA256 key for patient lookups.
pub const INDEX_KEY_ALIAS: &str = "store-index-v1";

/// First byte of every sealed value: the format (AES-256-GCM, nonce ‖ ciphertext ‖ tag).
const FORMAT_V1: u8 = 1;

/// Where a sealed value lives; becomes the AAD, so a value only opens in its own place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place<'a> {
    /// Table name.
    pub table: &'static str,
    /// Row identity (primary key, and version where rows are re-sealed).
    pub row: &'a str,
    /// Column name.
    pub column: &'static str,
}

impl Place<'_> {
    fn aad(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(16 + self.table.len() + self.row.len() + self.column.len());
        aad.extend_from_slice(b"homevisit-store/1\0");
        aad.extend_from_slice(self.table.as_bytes());
        aad.push(0);
        aad.extend_from_slice(self.row.as_bytes());
        aad.push(0);
        aad.extend_from_slice(self.column.as_bytes());
        aad
    }
}

/// The sealing and hashing keys of one store.
pub(crate) struct Sealer {
    aead: LessSafeKey,
    index: hmac::Key,
    rng: SystemRandom,
}

impl Sealer {
    /// Fetches both keys from the host key store. Only for a new database (`existing == false`)
    /// are missing keys created; for an existing one a missing key is [`StoreError::KeyMissing`],
    /// because a new key could never open what the lost one sealed.
    pub fn from_key_store(key_store: &dyn KeyStore, existing: bool) -> Result<Self, StoreError> {
        let key = |alias: &'static str| -> Result<[u8; 32], StoreError> {
            if existing {
                key_store.get_key(alias)?.ok_or(StoreError::KeyMissing { alias })
            } else {
                Ok(key_store.get_or_create_key(alias)?)
            }
        };
        let seal = key(SEAL_KEY_ALIAS)?;
        let index = key(INDEX_KEY_ALIAS)?;
        Ok(Self::from_keys(&seal, &index))
    }

    /// Builds a sealer from raw 32-byte keys.
    pub fn from_keys(seal: &[u8; 32], index: &[u8; 32]) -> Self {
        // A 32-byte key is always a valid AES-256 key: `new` only fails on a wrong length.
        let unbound = UnboundKey::new(&AES_256_GCM, seal).expect("32-byte AES-256 key");
        Self {
            aead: LessSafeKey::new(unbound),
            index: hmac::Key::new(hmac::HMAC_SHA256, index),
            rng: SystemRandom::new(),
        }
    }

    /// Seals `plain` for `place`: `1 ‖ nonce(12) ‖ ciphertext ‖ tag(16)`.
    pub fn seal(&self, place: Place<'_>, plain: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| StoreError::Io("no system randomness".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plain.len() + AES_256_GCM.tag_len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let mut body = out.split_off(1 + NONCE_LEN);
        self.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(place.aad()),
                &mut body,
            )
            .map_err(|_| StoreError::Io("sealing failed".into()))?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens a value sealed for `place`; any mismatch (wrong key, wrong place, changed byte) fails.
    pub fn open(&self, place: Place<'_>, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        let tampered = StoreError::Tampered { what: place.table };
        if sealed.len() < 1 + NONCE_LEN + AES_256_GCM.tag_len() || sealed[0] != FORMAT_V1 {
            return Err(tampered);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[1..1 + NONCE_LEN]);
        let mut body = sealed[1 + NONCE_LEN..].to_vec();
        let plain_len = self
            .aead
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(place.aad()),
                &mut body,
            )
            .map_err(|_| tampered)?
            .len();
        body.truncate(plain_len);
        Ok(body)
    }

    /// Keyed hash of a lookup value (e.g. a national ID) under the index key, domain-separated.
    pub fn index_hash(&self, domain: &str, value: &str) -> Vec<u8> {
        let mut ctx = hmac::Context::with_key(&self.index);
        ctx.update(domain.as_bytes());
        ctx.update(&[0]);
        ctx.update(value.as_bytes());
        ctx.sign().as_ref().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(row: &str) -> Place<'_> {
        Place {
            table: "visits",
            row,
            column: "body",
        }
    }

    #[test]
    fn seal_round_trips_and_uses_fresh_nonces() {
        let s = Sealer::from_keys(&[1; 32], &[2; 32]);
        let a = s.seal(place("r1"), b"secret").unwrap();
        let b = s.seal(place("r1"), b"secret").unwrap();
        assert_ne!(a, b, "two seals of the same value must differ (random nonce)");
        assert_eq!(s.open(place("r1"), &a).unwrap(), b"secret");
        assert!(!a.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn sealed_value_does_not_open_in_another_row_column_or_under_another_key() {
        let s = Sealer::from_keys(&[1; 32], &[2; 32]);
        let a = s.seal(place("r1"), b"secret").unwrap();
        assert!(matches!(
            s.open(place("r2"), &a),
            Err(StoreError::Tampered { .. })
        ));
        let other_col = Place {
            column: "payload",
            ..place("r1")
        };
        assert!(s.open(other_col, &a).is_err());
        let other = Sealer::from_keys(&[9; 32], &[2; 32]);
        assert!(other.open(place("r1"), &a).is_err());
        let mut flipped = a.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(s.open(place("r1"), &flipped).is_err());
        assert!(s.open(place("r1"), &a[..10]).is_err());
    }

    #[test]
    fn index_hash_is_keyed_and_domain_separated() {
        let s = Sealer::from_keys(&[1; 32], &[2; 32]);
        let t = Sealer::from_keys(&[1; 32], &[3; 32]);
        assert_eq!(
            s.index_hash("nid", "A123456789"),
            s.index_hash("nid", "A123456789")
        );
        assert_ne!(
            s.index_hash("nid", "A123456789"),
            t.index_hash("nid", "A123456789")
        );
        assert_ne!(
            s.index_hash("nid", "A123456789"),
            s.index_hash("other", "A123456789")
        );
    }
}
