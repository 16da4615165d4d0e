//! The simulated NHI key hierarchy and an in-process cloud SAM.
//!
//! One master secret (held by the NHI; here a fixed simulation constant or a chosen secret) derives
//! every per-card key with HKDF-SHA256 (`ring`), salted by purpose and keyed by the card number. The
//! simulated patient cards hold their own card key; the cloud SAM (in process here as [`LocalSam`],
//! over HTTPS in `nhi-vpn-sim`) holds the master secret and derives the card key when a card
//! authenticates. A card made under another master secret (a fake card) cannot answer the SAM's
//! challenge, and a SAM under another master (a fake SAM) cannot answer the card's.
//!
//! All proofs are HMAC-SHA256 over fixed, labelled layouts documented at each function, so the
//! VPN simulator can reuse this module and stay byte-for-byte compatible.

use async_trait::async_trait;
use homevisit_core::card::sam::{SamAuthority, SamChallenge, SamError, VisitSignRequest, VisitSignature};
use ring::{hkdf, hmac, rand::SecureRandom};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The master secret of the simulation (never a real key).
pub const SIMULATED_MASTER: &[u8] = b"nhi-reader-sim master secret v1 - simulation only";

/// Derives keys from a master secret.
#[derive(Clone)]
pub struct KeyHierarchy {
    prk: hkdf::Prk,
}

impl std::fmt::Debug for KeyHierarchy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHierarchy(<secret>)")
    }
}

struct Len32;
impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl KeyHierarchy {
    /// The simulation's hierarchy (what every simulated genuine card and SAM share).
    pub fn simulated() -> Self {
        Self::from_master(SIMULATED_MASTER)
    }

    /// A hierarchy under another master secret (e.g. a forger's).
    pub fn from_master(secret: &[u8]) -> Self {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"NHI-SIM key hierarchy v1");
        Self {
            prk: salt.extract(secret),
        }
    }

    fn derive(&self, purpose: &str, id: &str) -> [u8; 32] {
        let info = [purpose.as_bytes(), b"|", id.as_bytes()];
        let mut out = [0u8; 32];
        // HKDF-SHA256 can expand up to 255 × 32 bytes; 32 is always within bounds.
        self.prk
            .expand(&info, Len32)
            .and_then(|okm| okm.fill(&mut out))
            .expect("HKDF expand of 32 bytes cannot fail");
        out
    }

    /// The key a patient card with `card_number` holds.
    pub fn card_key(&self, card_number: &str) -> CardKey {
        CardKey(self.derive("patient-card", card_number))
    }

    /// The signing key of the cloud SAM `sam_id`.
    pub fn sam_key(&self, sam_id: &str) -> [u8; 32] {
        self.derive("cloud-sam", sam_id)
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&k);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// A patient card's key.
#[derive(Clone, PartialEq, Eq)]
pub struct CardKey([u8; 32]);

impl std::fmt::Debug for CardKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardKey(<secret>)")
    }
}

impl CardKey {
    /// The SAM's proof: HMAC(K, "SAM" ‖ card challenge ‖ SAM challenge).
    pub fn sam_proof(&self, card_challenge: &[u8; 8], sam_challenge: &[u8; 8]) -> [u8; 32] {
        mac(&self.0, &[b"SAM", card_challenge, sam_challenge])
    }

    /// The card's proof: HMAC(K, "CARD" ‖ SAM challenge ‖ card challenge).
    pub fn card_proof(&self, card_challenge: &[u8; 8], sam_challenge: &[u8; 8]) -> [u8; 32] {
        mac(&self.0, &[b"CARD", sam_challenge, card_challenge])
    }

    /// The session key of one authentication: HMAC(K, "SESSION" ‖ card challenge ‖ SAM challenge).
    pub fn session_key(&self, card_challenge: &[u8; 8], sam_challenge: &[u8; 8]) -> [u8; 32] {
        mac(&self.0, &[b"SESSION", card_challenge, sam_challenge])
    }

    /// The 40-hex-character signature of one prescription entry (D11):
    /// first 20 bytes of HMAC(K, "RX" ‖ visit code ‖ entry).
    pub fn prescription_signature(&self, visit_code: &[u8], entry: &[u8]) -> String {
        hex::encode_upper(&mac(&self.0, &[b"RX", visit_code, entry])[..20])
    }
}

/// The card's MAC over a sequence-number issue: HMAC(session key, "SEQ" ‖ card no ‖ date-time ‖
/// sequence ‖ institution ‖ visit code).
pub fn visit_mac(
    session_key: &[u8; 32],
    card_number: &str,
    datetime: &str,
    sequence: &str,
    institution: &str,
    visit_code: &str,
) -> [u8; 32] {
    mac(
        session_key,
        &[
            b"SEQ",
            card_number.as_bytes(),
            datetime.as_bytes(),
            sequence.as_bytes(),
            institution.as_bytes(),
            visit_code.as_bytes(),
        ],
    )
}

/// The SAM's 128-byte security signature (M14) as 256 upper-case hex characters: four HMAC blocks
/// HMAC(SAM key, i ‖ card no ‖ date-time ‖ sequence ‖ institution ‖ visit code), i = 0..4.
pub fn visit_signature(sam_key: &[u8; 32], req: &VisitSignRequest) -> String {
    let mut out = String::with_capacity(256);
    for i in 0u8..4 {
        let block = mac(
            sam_key,
            &[
                &[i],
                req.card_number.as_bytes(),
                req.visit_datetime.as_bytes(),
                req.sequence_number.as_bytes(),
                req.institution.as_bytes(),
                req.visit_code.as_bytes(),
            ],
        );
        out.push_str(&hex::encode_upper(block));
    }
    out
}

/// Compares two byte strings in time independent of where they differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Random bytes from the system generator.
pub fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // The system RNG only fails when the OS has no entropy source, which no supported OS lacks.
    ring::rand::SystemRandom::new()
        .fill(&mut out)
        .expect("system random generator");
    out
}

struct Session {
    card_number: String,
    card_challenge: [u8; 8],
    sam_challenge: [u8; 8],
}

/// An in-process cloud SAM over a [`KeyHierarchy`], for tests, the demo and the benchmarks.
pub struct LocalSam {
    keys: KeyHierarchy,
    sam_id: String,
    sessions: Mutex<HashMap<String, Session>>,
    next: AtomicU64,
    calls: AtomicU64,
}

impl std::fmt::Debug for LocalSam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSam")
            .field("sam_id", &self.sam_id)
            .finish_non_exhaustive()
    }
}

impl LocalSam {
    /// A genuine SAM of the simulation with id `sam_id` (12 characters).
    pub fn new(sam_id: &str) -> Self {
        Self::with_keys(KeyHierarchy::simulated(), sam_id)
    }

    /// A SAM over any key hierarchy (a forged one for tests).
    pub fn with_keys(keys: KeyHierarchy, sam_id: &str) -> Self {
        Self {
            keys,
            sam_id: sam_id.to_string(),
            sessions: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            calls: AtomicU64::new(0),
        }
    }

    /// How many round trips (calls) this SAM has served.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Checks a security signature this SAM (or any SAM of the same hierarchy with `sam_id`) made.
    pub fn check_signature(
        keys: &KeyHierarchy,
        sam_id: &str,
        req: &VisitSignRequest,
        signature_hex: &str,
    ) -> bool {
        visit_signature(&keys.sam_key(sam_id), req) == signature_hex
    }

    fn session_check(&self, session: &str, card_proof: [u8; 32]) -> Result<(CardKey, [u8; 32]), SamError> {
        let sessions = self
            .sessions
            .lock()
            .map_err(|_| SamError::Rejected("SAM state poisoned".into()))?;
        let s = sessions.get(session).ok_or(SamError::UnknownSession)?;
        let key = self.keys.card_key(&s.card_number);
        let expected = key.card_proof(&s.card_challenge, &s.sam_challenge);
        if !ct_eq(&expected, &card_proof) {
            return Err(SamError::CardNotGenuine);
        }
        let session_key = key.session_key(&s.card_challenge, &s.sam_challenge);
        Ok((key, session_key))
    }
}

#[async_trait]
impl SamAuthority for LocalSam {
    fn sam_id(&self) -> String {
        self.sam_id.clone()
    }

    async fn begin_card_auth(
        &self,
        card_number: &str,
        card_challenge: [u8; 8],
    ) -> Result<SamChallenge, SamError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let sam_challenge: [u8; 8] = random();
        let key = self.keys.card_key(card_number);
        let proof = key.sam_proof(&card_challenge, &sam_challenge);
        let id = format!("S{}", self.next.fetch_add(1, Ordering::Relaxed));
        let mut sessions = self
            .sessions
            .lock()
            .map_err(|_| SamError::Rejected("SAM state poisoned".into()))?;
        // Keep the table small: a session is only needed for the seconds of one visit.
        if sessions.len() > 1024 {
            sessions.clear();
        }
        sessions.insert(
            id.clone(),
            Session {
                card_number: card_number.to_string(),
                card_challenge,
                sam_challenge,
            },
        );
        Ok(SamChallenge {
            session: id,
            sam_challenge,
            sam_proof: proof,
        })
    }

    async fn verify_card(&self, session: &str, card_proof: [u8; 32]) -> Result<(), SamError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.session_check(session, card_proof).map(|_| ())
    }

    async fn sign_visit(&self, request: &VisitSignRequest) -> Result<VisitSignature, SamError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let (_, session_key) = self.session_check(&request.session, request.card_proof)?;
        let expected = visit_mac(
            &session_key,
            &request.card_number,
            &request.visit_datetime,
            &request.sequence_number,
            &request.institution,
            &request.visit_code,
        );
        if !ct_eq(&expected, &request.card_mac) {
            return Err(SamError::CardNotGenuine);
        }
        Ok(VisitSignature {
            signature_hex: visit_signature(&self.keys.sam_key(&self.sam_id), request),
            sam_id: self.sam_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_vectors_of_the_hierarchy() {
        // Pinned so that the VPN simulator (and any rewrite) stays compatible.
        let k = KeyHierarchy::simulated().card_key("000012345678");
        let proof = k.card_proof(&[1; 8], &[2; 8]);
        assert_eq!(proof.len(), 32);
        assert_ne!(k, KeyHierarchy::from_master(b"forged").card_key("000012345678"));
        assert_ne!(k, KeyHierarchy::simulated().card_key("000012345679"));
        assert_eq!(
            hex::encode(mac(
                b"key",
                &[b"The quick brown fox ", b"jumps over the lazy dog"]
            )),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[tokio::test]
    async fn genuine_card_passes_fake_card_fails() {
        let sam = LocalSam::new("SAM000000001");
        let card = KeyHierarchy::simulated().card_key("000012345678");
        let fake = KeyHierarchy::from_master(b"forged").card_key("000012345678");
        let cc = [7u8; 8];
        let ch = sam.begin_card_auth("000012345678", cc).await.unwrap();
        assert_eq!(ch.sam_proof, card.sam_proof(&cc, &ch.sam_challenge));
        assert_ne!(ch.sam_proof, fake.sam_proof(&cc, &ch.sam_challenge));
        assert_eq!(
            sam.verify_card(&ch.session, fake.card_proof(&cc, &ch.sam_challenge))
                .await,
            Err(SamError::CardNotGenuine)
        );
        sam.verify_card(&ch.session, card.card_proof(&cc, &ch.sam_challenge))
            .await
            .unwrap();
        assert_eq!(
            sam.verify_card("nope", [0; 32]).await,
            Err(SamError::UnknownSession)
        );
    }
}
