//! Pairing cryptography and the secure session channel.
//!
//! Pairing: both sides send an ephemeral X25519 public key and a nonce; HKDF-SHA256 over the shared
//! secret (info binds both ids, keys and nonces) gives the 32-byte long-term reader key, a
//! confirmation key and the 6-digit short code that both screens show. The phone sends its
//! confirmation MAC only after the user confirmed the code; the reader answers with its own.
//!
//! Session: each connection derives fresh ChaCha20-Poly1305 keys, one per direction, from the
//! long-term key and both sides' fresh nonces; every frame is sealed with the frame header as
//! associated data and the per-direction sequence number as nonce, so a replayed, reordered,
//! truncated or forged frame fails.

use super::ReaderError;
use super::frame::{Frame, FrameKind};
use super::message::{BodyReader, put_bytes};
use ring::{aead, agreement, hkdf, hmac, rand};

/// Length of the long-term key and of the session keys.
pub const KEY_LEN: usize = 32;
/// Length of the nonces both sides contribute.
pub const NONCE_LEN: usize = 16;
/// Length of an X25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;

fn bad(msg: impl Into<String>) -> ReaderError {
    ReaderError::BadFrame(msg.into())
}

fn crypto(what: &str) -> ReaderError {
    ReaderError::Device(format!("cryptography failed: {what}"))
}

/// Which end of the link a party is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The app (GATT central).
    Phone,
    /// The card reader (GATT peripheral).
    Reader,
}

/// Fresh random bytes from the system generator.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], ReaderError> {
    use rand::SecureRandom;
    let mut b = [0u8; N];
    rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| crypto("no system randomness"))?;
    Ok(b)
}

/// One side's pairing contribution: its id, ephemeral X25519 public key and nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingOffer {
    /// Stable id of the sender (phone installation id or reader id).
    pub device_id: String,
    /// Ephemeral X25519 public key.
    pub public_key: [u8; PUBLIC_KEY_LEN],
    /// Fresh nonce.
    pub nonce: [u8; NONCE_LEN],
}

impl PairingOffer {
    /// Serialises the offer (body of PairRequest / PairResponse).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_bytes(&mut out, self.device_id.as_bytes());
        out.extend_from_slice(&self.public_key);
        out.extend_from_slice(&self.nonce);
        out
    }
    /// Parses an offer.
    pub fn decode(body: &[u8]) -> Result<Self, ReaderError> {
        let mut r = BodyReader::new(body);
        let device_id = r.string()?;
        let public_key = r.array()?;
        let nonce = r.array()?;
        r.finish()?;
        Ok(Self {
            device_id,
            public_key,
            nonce,
        })
    }
}

/// An ephemeral X25519 key pair used for one pairing attempt.
pub struct EphemeralKey {
    private: agreement::EphemeralPrivateKey,
    public: [u8; PUBLIC_KEY_LEN],
}

impl std::fmt::Debug for EphemeralKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EphemeralKey(..)")
    }
}

impl EphemeralKey {
    /// Generates a fresh key pair.
    pub fn generate() -> Result<Self, ReaderError> {
        let rng = rand::SystemRandom::new();
        let private = agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng)
            .map_err(|_| crypto("X25519 key generation"))?;
        let pk = private
            .compute_public_key()
            .map_err(|_| crypto("X25519 public key"))?;
        let public = pk
            .as_ref()
            .try_into()
            .map_err(|_| crypto("X25519 public key length"))?;
        Ok(Self { private, public })
    }

    /// The public half.
    pub fn public(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.public
    }

    /// Agrees with the peer and derives the pairing secrets. `phone` and `reader` are the two
    /// offers (one of them is ours); the peer's public key is taken from the other one.
    pub fn agree(
        self,
        role: Role,
        phone: &PairingOffer,
        reader: &PairingOffer,
    ) -> Result<PairingSecrets, ReaderError> {
        let peer = match role {
            Role::Phone => reader.public_key,
            Role::Reader => phone.public_key,
        };
        let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, peer);
        let mut info = Vec::new();
        info.extend_from_slice(b"homevisit reader pairing v1");
        for o in [phone, reader] {
            put_bytes(&mut info, o.device_id.as_bytes());
            info.extend_from_slice(&o.public_key);
            info.extend_from_slice(&o.nonce);
        }
        let okm = agreement::agree_ephemeral(self.private, &peer, |shared| {
            hkdf_expand::<68>(b"homevisit-pairing-salt", shared, &info)
        })
        .map_err(|_| bad("invalid X25519 public key from peer"))??;
        let mut long_term_key = [0u8; KEY_LEN];
        long_term_key.copy_from_slice(&okm[..32]);
        let mut confirm_key = [0u8; KEY_LEN];
        confirm_key.copy_from_slice(&okm[32..64]);
        let code = u32::from_be_bytes([okm[64], okm[65], okm[66], okm[67]]) % 1_000_000;
        Ok(PairingSecrets {
            long_term_key,
            confirm_key,
            short_code: format!("{code:06}"),
        })
    }
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf_expand<const N: usize>(salt: &[u8], ikm: &[u8], info: &[u8]) -> Result<[u8; N], ReaderError> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let info = [info];
    let okm = prk.expand(&info, Len(N)).map_err(|_| crypto("HKDF expand"))?;
    let mut out = [0u8; N];
    okm.fill(&mut out).map_err(|_| crypto("HKDF fill"))?;
    Ok(out)
}

/// What a completed key agreement yields.
pub struct PairingSecrets {
    /// The long-term reader key (stored sealed once the code is confirmed).
    pub long_term_key: [u8; KEY_LEN],
    confirm_key: [u8; KEY_LEN],
    /// The 6-digit code both sides show.
    pub short_code: String,
}

impl std::fmt::Debug for PairingSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairingSecrets")
            .field("short_code", &self.short_code)
            .finish_non_exhaustive()
    }
}

impl PairingSecrets {
    /// The confirmation MAC a side sends to prove it derived the same keys.
    pub fn confirm_mac(&self, role: Role) -> Vec<u8> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.confirm_key);
        let label: &[u8] = match role {
            Role::Phone => b"phone confirms",
            Role::Reader => b"reader confirms",
        };
        hmac::sign(&key, label).as_ref().to_vec()
    }

    /// Checks the peer's confirmation MAC (`role` is the peer's role).
    pub fn verify_confirm(&self, role: Role, mac: &[u8]) -> Result<(), ReaderError> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.confirm_key);
        let label: &[u8] = match role {
            Role::Phone => b"phone confirms",
            Role::Reader => b"reader confirms",
        };
        hmac::verify(&key, label, mac)
            .map_err(|_| ReaderError::NotPaired("pairing confirmation did not verify".into()))
    }
}

/// Body of a SessionHello frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionHello {
    /// The phone's id (selects the pairing on the reader).
    pub phone_id: String,
    /// The phone's fresh nonce.
    pub nonce: [u8; NONCE_LEN],
}

impl SessionHello {
    /// Serialises the hello.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_bytes(&mut out, self.phone_id.as_bytes());
        out.extend_from_slice(&self.nonce);
        out
    }
    /// Parses a hello.
    pub fn decode(body: &[u8]) -> Result<Self, ReaderError> {
        let mut r = BodyReader::new(body);
        let phone_id = r.string()?;
        let nonce = r.array()?;
        r.finish()?;
        Ok(Self { phone_id, nonce })
    }
}

/// Body of a SessionAccept frame: the reader's nonce and its proof of the long-term key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAccept {
    /// The reader's fresh nonce.
    pub nonce: [u8; NONCE_LEN],
    /// HMAC-SHA256 under the long-term key over both ids and nonces.
    pub mac: [u8; 32],
}

impl SessionAccept {
    /// Serialises the accept.
    pub fn encode(&self) -> Vec<u8> {
        [&self.nonce[..], &self.mac[..]].concat()
    }
    /// Parses an accept.
    pub fn decode(body: &[u8]) -> Result<Self, ReaderError> {
        let mut r = BodyReader::new(body);
        let nonce = r.array()?;
        let mac = r.array()?;
        r.finish()?;
        Ok(Self { nonce, mac })
    }
    /// The MAC a reader holding `ltk` computes.
    pub fn compute_mac(
        ltk: &[u8; KEY_LEN],
        phone_id: &str,
        reader_id: &str,
        phone_nonce: &[u8; NONCE_LEN],
        reader_nonce: &[u8; NONCE_LEN],
    ) -> [u8; 32] {
        let key = hmac::Key::new(hmac::HMAC_SHA256, ltk);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(b"homevisit session accept v1");
        let mut ids = Vec::new();
        put_bytes(&mut ids, phone_id.as_bytes());
        put_bytes(&mut ids, reader_id.as_bytes());
        ctx.update(&ids);
        ctx.update(phone_nonce);
        ctx.update(reader_nonce);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }
}

/// The AEAD state of one side of one connection.
pub struct SecureChannel {
    role: Role,
    send: aead::LessSafeKey,
    recv: aead::LessSafeKey,
}

impl std::fmt::Debug for SecureChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureChannel")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

fn direction_nonce(from: Role, seq: u32) -> aead::Nonce {
    let mut n = [0u8; aead::NONCE_LEN];
    n[..4].copy_from_slice(match from {
        Role::Phone => b"P2R\0",
        Role::Reader => b"R2P\0",
    });
    n[8..].copy_from_slice(&seq.to_be_bytes());
    aead::Nonce::assume_unique_for_key(n)
}

impl SecureChannel {
    /// Derives this connection's keys from the long-term key and both fresh nonces.
    pub fn new(
        role: Role,
        ltk: &[u8; KEY_LEN],
        phone_nonce: &[u8; NONCE_LEN],
        reader_nonce: &[u8; NONCE_LEN],
    ) -> Result<Self, ReaderError> {
        let salt = [&phone_nonce[..], &reader_nonce[..]].concat();
        let okm = hkdf_expand::<64>(&salt, ltk, b"homevisit session keys v1")?;
        let key = |b: &[u8]| -> Result<aead::LessSafeKey, ReaderError> {
            Ok(aead::LessSafeKey::new(
                aead::UnboundKey::new(&aead::CHACHA20_POLY1305, b).map_err(|_| crypto("AEAD key"))?,
            ))
        };
        let p2r = key(&okm[..32])?;
        let r2p = key(&okm[32..])?;
        let (send, recv) = match role {
            Role::Phone => (p2r, r2p),
            Role::Reader => (r2p, p2r),
        };
        Ok(Self { role, send, recv })
    }

    /// Seals `plaintext` as the body of the sealed frame numbered `seq`.
    pub fn seal(&self, seq: u32, plaintext: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let mut buf = plaintext.to_vec();
        let body_len = buf.len() + aead::CHACHA20_POLY1305.tag_len();
        let aad = Frame::header(FrameKind::Sealed, seq, body_len);
        self.send
            .seal_in_place_append_tag(direction_nonce(self.role, seq), aead::Aad::from(aad), &mut buf)
            .map_err(|_| crypto("AEAD seal"))?;
        Ok(buf)
    }

    /// Opens the body of a received sealed frame numbered `seq`.
    pub fn open(&self, seq: u32, body: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let from = match self.role {
            Role::Phone => Role::Reader,
            Role::Reader => Role::Phone,
        };
        let aad = Frame::header(FrameKind::Sealed, seq, body.len());
        let mut buf = body.to_vec();
        let plain = self
            .recv
            .open_in_place(direction_nonce(from, seq), aead::Aad::from(aad), &mut buf)
            .map_err(|_| bad("frame failed authentication (forged or corrupted)"))?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (PairingSecrets, PairingSecrets) {
        let pk = EphemeralKey::generate().unwrap();
        let rk = EphemeralKey::generate().unwrap();
        let phone = PairingOffer {
            device_id: "phone-1".into(),
            public_key: pk.public(),
            nonce: random_bytes().unwrap(),
        };
        let reader = PairingOffer {
            device_id: "HV-BT200 0001".into(),
            public_key: rk.public(),
            nonce: random_bytes().unwrap(),
        };
        assert_eq!(PairingOffer::decode(&phone.encode()).unwrap(), phone);
        (
            pk.agree(Role::Phone, &phone, &reader).unwrap(),
            rk.agree(Role::Reader, &phone, &reader).unwrap(),
        )
    }

    #[test]
    fn both_sides_derive_the_same_key_and_code() {
        let (p, r) = pair();
        assert_eq!(p.long_term_key, r.long_term_key);
        assert_eq!(p.short_code, r.short_code);
        assert_eq!(p.short_code.len(), 6);
        assert!(p.short_code.bytes().all(|b| b.is_ascii_digit()));
        r.verify_confirm(Role::Phone, &p.confirm_mac(Role::Phone))
            .unwrap();
        p.verify_confirm(Role::Reader, &r.confirm_mac(Role::Reader))
            .unwrap();
        // A MAC for the other role does not pass (no reflection).
        assert!(
            p.verify_confirm(Role::Reader, &p.confirm_mac(Role::Phone))
                .is_err()
        );
        assert!(!format!("{p:?}").contains(&hex::encode(p.long_term_key)));
    }

    #[test]
    fn a_different_agreement_gives_a_different_key() {
        let (a, _) = pair();
        let (b, _) = pair();
        assert_ne!(a.long_term_key, b.long_term_key);
    }

    #[test]
    fn sealed_frames_open_only_once_in_place_and_untouched() {
        let ltk = [7u8; 32];
        let (np, nr) = ([1u8; 16], [2u8; 16]);
        let phone = SecureChannel::new(Role::Phone, &ltk, &np, &nr).unwrap();
        let reader = SecureChannel::new(Role::Reader, &ltk, &np, &nr).unwrap();
        let body = phone.seal(3, b"00A40400").unwrap();
        assert_eq!(reader.open(3, &body).unwrap(), b"00A40400");
        // Wrong seq (replay under another number), tampering, truncation, wrong direction: all fail.
        assert!(reader.open(4, &body).is_err());
        let mut t = body.clone();
        t[0] ^= 1;
        assert!(reader.open(3, &t).is_err());
        assert!(reader.open(3, &body[..body.len() - 1]).is_err());
        assert!(phone.open(3, &body).is_err());
        // Another connection's keys (other nonces) do not open it.
        let other = SecureChannel::new(Role::Reader, &ltk, &np, &[3u8; 16]).unwrap();
        assert!(other.open(3, &body).is_err());
    }
}
