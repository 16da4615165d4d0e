//! Pairing cryptography and the secure session channel.
//!
//! Pairing (numeric comparison with a commitment, as in Bluetooth LE Secure Connections):
//!
//! 1. phone → reader `PairRequest`: its id, an ephemeral X25519 public key and a *commitment*
//!    `C = HMAC-SHA256(Np, label ‖ id ‖ public key)` to a fresh 16-byte nonce `Np` it keeps secret;
//! 2. reader → phone `PairResponse`: its id, ephemeral public key and fresh nonce `Nr`;
//! 3. phone → reader `PairReveal`: `Np`; the reader checks it opens `C` and only then shows the
//!    code (`PairShown`);
//! 4. HKDF-SHA256 over the X25519 secret (info binds both ids, keys and nonces) gives the 32-byte
//!    long-term key, a confirmation key and the 6-digit code both screens show.
//!
//! Whoever sits in the middle must fix its nonce towards the reader (by the commitment) before it
//! sees `Nr`, and its nonce towards the phone before it sees `Np`: each code it makes the two
//! devices show is a fresh uniform draw, so one attempt succeeds with probability 10⁻⁶, however
//! much it computes. The phone sends its confirmation MAC only after the user confirmed the code;
//! the reader stores nothing until its own button was pressed (see the simulator).
//!
//! Session: each connection runs a fresh ephemeral X25519 exchange, authenticated by a MAC under
//! the long-term key over both ids, nonces and ephemeral keys; the ChaCha20-Poly1305 keys (one per
//! direction) come from HKDF over the long-term key *and* the ephemeral secret, so a recorded
//! session stays sealed even to someone who later learns the long-term key (forward secrecy).
//! Every frame is sealed with the frame header as associated data and the per-direction sequence
//! number as nonce, so a replayed, reordered, truncated or forged frame fails.

use super::ReaderError;
use super::frame::{Frame, FrameKind};
use super::message::{BodyReader, put_bytes};
use ring::{aead, agreement, hkdf, hmac, rand};

/// Length of the commitment the phone sends before revealing its nonce.
pub const COMMITMENT_LEN: usize = 32;

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
    /// Serialises the offer (body of PairResponse).
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

fn commitment_of(device_id: &str, public_key: &[u8; PUBLIC_KEY_LEN], nonce: &[u8; NONCE_LEN]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, nonce);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(b"homevisit pairing commitment v2");
    let mut id = Vec::new();
    put_bytes(&mut id, device_id.as_bytes());
    ctx.update(&id);
    ctx.update(public_key);
    ctx.sign()
}

impl PairingOffer {
    /// The commitment to this offer's nonce that the phone sends before revealing it.
    pub fn commit(&self) -> PairingCommit {
        let mut commitment = [0u8; COMMITMENT_LEN];
        commitment.copy_from_slice(commitment_of(&self.device_id, &self.public_key, &self.nonce).as_ref());
        PairingCommit {
            device_id: self.device_id.clone(),
            public_key: self.public_key,
            commitment,
        }
    }
}

/// The phone's opening move (body of PairRequest): its id, ephemeral public key and a commitment
/// to the nonce it reveals only after the reader has sent its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingCommit {
    /// Stable id of the phone installation.
    pub device_id: String,
    /// Ephemeral X25519 public key.
    pub public_key: [u8; PUBLIC_KEY_LEN],
    /// HMAC-SHA256 keyed by the nonce over a label, the id and the public key.
    pub commitment: [u8; COMMITMENT_LEN],
}

impl PairingCommit {
    /// Serialises the commitment (body of PairRequest).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_bytes(&mut out, self.device_id.as_bytes());
        out.extend_from_slice(&self.public_key);
        out.extend_from_slice(&self.commitment);
        out
    }
    /// Parses a commitment.
    pub fn decode(body: &[u8]) -> Result<Self, ReaderError> {
        let mut r = BodyReader::new(body);
        let device_id = r.string()?;
        let public_key = r.array()?;
        let commitment = r.array()?;
        r.finish()?;
        Ok(Self {
            device_id,
            public_key,
            commitment,
        })
    }
    /// The phone's offer, if `nonce` (body of PairReveal) opens the commitment; any other nonce
    /// is refused (constant-time check).
    pub fn open(&self, nonce: &[u8]) -> Result<PairingOffer, ReaderError> {
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| bad("pairing reveal is not a nonce"))?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, &nonce);
        let mut msg = b"homevisit pairing commitment v2".to_vec();
        put_bytes(&mut msg, self.device_id.as_bytes());
        msg.extend_from_slice(&self.public_key);
        hmac::verify(&key, &msg, &self.commitment)
            .map_err(|_| ReaderError::NotPaired("the revealed nonce does not open the commitment".into()))?;
        Ok(PairingOffer {
            device_id: self.device_id.clone(),
            public_key: self.public_key,
            nonce,
        })
    }
}

/// An ephemeral X25519 key pair used for one pairing attempt or one session.
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
        info.extend_from_slice(b"homevisit reader pairing v2");
        for o in [phone, reader] {
            put_bytes(&mut info, o.device_id.as_bytes());
            info.extend_from_slice(&o.public_key);
            info.extend_from_slice(&o.nonce);
        }
        let okm = agreement::agree_ephemeral(self.private, &peer, |shared| {
            hkdf_expand::<72>(b"homevisit-pairing-salt", shared, &info)
        })
        .map_err(|_| bad("invalid X25519 public key from peer"))??;
        let mut long_term_key = [0u8; KEY_LEN];
        long_term_key.copy_from_slice(&okm[..32]);
        let mut confirm_key = [0u8; KEY_LEN];
        confirm_key.copy_from_slice(&okm[32..64]);
        // 64 bits reduced mod 10⁶: every code is equally likely to within 10⁻¹³.
        let mut wide = [0u8; 8];
        wide.copy_from_slice(&okm[64..72]);
        let code = u64::from_be_bytes(wide) % 1_000_000;
        Ok(PairingSecrets {
            long_term_key,
            confirm_key,
            short_code: format!("{code:06}"),
        })
    }
}

impl EphemeralKey {
    /// Agrees with the peer's session key and derives this connection's channel from the
    /// long-term key, both nonces and the ephemeral secret (which is never stored).
    pub fn session_channel(
        self,
        role: Role,
        ltk: &[u8; KEY_LEN],
        peer_public: &[u8; PUBLIC_KEY_LEN],
        phone_nonce: &[u8; NONCE_LEN],
        reader_nonce: &[u8; NONCE_LEN],
    ) -> Result<SecureChannel, ReaderError> {
        let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, peer_public);
        agreement::agree_ephemeral(self.private, &peer, |shared| {
            SecureChannel::derive(role, ltk, phone_nonce, reader_nonce, shared)
        })
        .map_err(|_| bad("invalid X25519 session key from peer"))?
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
    /// The phone's ephemeral X25519 public key for this session.
    pub ephemeral: [u8; PUBLIC_KEY_LEN],
}

impl SessionHello {
    /// Serialises the hello.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_bytes(&mut out, self.phone_id.as_bytes());
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ephemeral);
        out
    }
    /// Parses a hello.
    pub fn decode(body: &[u8]) -> Result<Self, ReaderError> {
        let mut r = BodyReader::new(body);
        let phone_id = r.string()?;
        let nonce = r.array()?;
        let ephemeral = r.array()?;
        r.finish()?;
        Ok(Self {
            phone_id,
            nonce,
            ephemeral,
        })
    }
}

/// Body of a SessionAccept frame: the reader's nonce, its ephemeral key and its proof of the
/// long-term key over both sides' contributions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAccept {
    /// The reader's fresh nonce.
    pub nonce: [u8; NONCE_LEN],
    /// The reader's ephemeral X25519 public key for this session.
    pub ephemeral: [u8; PUBLIC_KEY_LEN],
    /// HMAC-SHA256 under the long-term key over both ids, nonces and ephemeral keys.
    pub mac: [u8; 32],
}

impl SessionAccept {
    /// Serialises the accept.
    pub fn encode(&self) -> Vec<u8> {
        [&self.nonce[..], &self.ephemeral[..], &self.mac[..]].concat()
    }
    /// Parses an accept.
    pub fn decode(body: &[u8]) -> Result<Self, ReaderError> {
        let mut r = BodyReader::new(body);
        let nonce = r.array()?;
        let ephemeral = r.array()?;
        let mac = r.array()?;
        r.finish()?;
        Ok(Self {
            nonce,
            ephemeral,
            mac,
        })
    }
    /// The MAC a reader holding `ltk` computes for `hello` and its own nonce and ephemeral key.
    pub fn compute_mac(
        ltk: &[u8; KEY_LEN],
        reader_id: &str,
        hello: &SessionHello,
        reader_nonce: &[u8; NONCE_LEN],
        reader_ephemeral: &[u8; PUBLIC_KEY_LEN],
    ) -> [u8; 32] {
        let key = hmac::Key::new(hmac::HMAC_SHA256, ltk);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(b"homevisit session accept v2");
        let mut ids = Vec::new();
        put_bytes(&mut ids, hello.phone_id.as_bytes());
        put_bytes(&mut ids, reader_id.as_bytes());
        ctx.update(&ids);
        ctx.update(&hello.nonce);
        ctx.update(&hello.ephemeral);
        ctx.update(reader_nonce);
        ctx.update(reader_ephemeral);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }
    /// Checks the MAC in constant time.
    pub fn verify_mac(&self, ltk: &[u8; KEY_LEN], reader_id: &str, hello: &SessionHello) -> bool {
        let want = Self::compute_mac(ltk, reader_id, hello, &self.nonce, &self.ephemeral);
        want.iter().zip(&self.mac).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
    /// Derives this connection's keys from the long-term key, both fresh nonces and the
    /// connection's ephemeral X25519 secret (see [`EphemeralKey::session_channel`]).
    pub fn derive(
        role: Role,
        ltk: &[u8; KEY_LEN],
        phone_nonce: &[u8; NONCE_LEN],
        reader_nonce: &[u8; NONCE_LEN],
        ephemeral_secret: &[u8],
    ) -> Result<Self, ReaderError> {
        let salt = [&phone_nonce[..], &reader_nonce[..]].concat();
        let ikm = [&ltk[..], ephemeral_secret].concat();
        let okm = hkdf_expand::<64>(&salt, &ikm, b"homevisit session keys v2")?;
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
        let phone = SecureChannel::derive(Role::Phone, &ltk, &np, &nr, &[9; 32]).unwrap();
        let reader = SecureChannel::derive(Role::Reader, &ltk, &np, &nr, &[9; 32]).unwrap();
        let body = phone.seal(3, b"00A40400").unwrap();
        assert_eq!(reader.open(3, &body).unwrap(), b"00A40400");
        // Wrong seq (replay under another number), tampering, truncation, wrong direction: all fail.
        assert!(reader.open(4, &body).is_err());
        let mut t = body.clone();
        t[0] ^= 1;
        assert!(reader.open(3, &t).is_err());
        assert!(reader.open(3, &body[..body.len() - 1]).is_err());
        assert!(phone.open(3, &body).is_err());
        // Another ephemeral secret (same long-term key and nonces) does not open it.
        let other = SecureChannel::derive(Role::Reader, &ltk, &np, &nr, &[8u8; 32]).unwrap();
        assert!(other.open(3, &body).is_err());
        // Another connection's keys (other nonces) do not open it.
        let other = SecureChannel::derive(Role::Reader, &ltk, &np, &[3u8; 16], &[9; 32]).unwrap();
        assert!(other.open(3, &body).is_err());
    }

    #[test]
    fn the_commitment_opens_only_with_its_nonce() {
        let offer = PairingOffer {
            device_id: "phone-1".into(),
            public_key: [4; 32],
            nonce: [5; 16],
        };
        let c = offer.commit();
        assert_eq!(PairingCommit::decode(&c.encode()).unwrap(), c);
        assert_eq!(c.open(&offer.nonce).unwrap(), offer);
        assert!(c.open(&[6; 16]).is_err());
        assert!(c.open(&[5; 15]).is_err());
        // Bound to the id and the key too.
        let mut other = c.clone();
        other.device_id = "phone-2".into();
        assert!(other.open(&offer.nonce).is_err());
        let mut other = c;
        other.public_key[0] ^= 1;
        assert!(other.open(&offer.nonce).is_err());
    }

    #[test]
    fn both_ends_of_a_session_agree_and_the_accept_mac_binds_the_ephemeral_keys() {
        let ltk = [7u8; 32];
        let pk = EphemeralKey::generate().unwrap();
        let rk = EphemeralKey::generate().unwrap();
        let hello = SessionHello {
            phone_id: "phone-1".into(),
            nonce: [1; 16],
            ephemeral: pk.public(),
        };
        assert_eq!(SessionHello::decode(&hello.encode()).unwrap(), hello);
        let nr = [2u8; 16];
        let accept = SessionAccept {
            nonce: nr,
            ephemeral: rk.public(),
            mac: SessionAccept::compute_mac(&ltk, "R", &hello, &nr, &rk.public()),
        };
        assert_eq!(SessionAccept::decode(&accept.encode()).unwrap(), accept);
        assert!(accept.verify_mac(&ltk, "R", &hello));
        let mut swapped = accept.clone();
        swapped.ephemeral = [3; 32];
        assert!(!swapped.verify_mac(&ltk, "R", &hello));
        let phone = pk
            .session_channel(Role::Phone, &ltk, &accept.ephemeral, &hello.nonce, &nr)
            .unwrap();
        let reader = rk
            .session_channel(Role::Reader, &ltk, &hello.ephemeral, &hello.nonce, &nr)
            .unwrap();
        assert_eq!(reader.open(0, &phone.seal(0, b"hi").unwrap()).unwrap(), b"hi");
        assert_eq!(phone.open(0, &reader.seal(0, b"ho").unwrap()).unwrap(), b"ho");
    }
}
