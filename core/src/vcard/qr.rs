//! The virtual-card QR: `NHIVC1:` + base64url(payload ‖ Ed25519 signature). The payload holds no
//! patient data — a version byte, a random 16-byte token, the issue time and the expiry (ms since
//! the epoch, big-endian) — so a photographed QR tells nothing about the patient; the NHI keeps the
//! token → card link. The device checks what it can before asking the NHI: the shape and signature
//! ([`VcardQr::verify`], forged), and the 5-minute expiry by its own clock ([`VcardQr::check_fresh`]);
//! single use is checked by the NHI and by the device's own list of scanned tokens.

use super::VcardError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// What every virtual-card QR starts with.
pub const QR_PREFIX: &str = "NHIVC1:";
/// A QR is valid for 5 minutes after issue.
pub const QR_LIFETIME_MS: i64 = 5 * 60 * 1000;
/// Domain separation of the signature.
const SIGNING_CONTEXT: &[u8] = b"NHI virtual card QR v1";
const VERSION: u8 = 1;
const PAYLOAD_LEN: usize = 1 + 16 + 8 + 8;
const SIGNATURE_LEN: usize = 64;

/// A parsed (not yet verified) virtual-card QR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VcardQr {
    /// The single-use token.
    pub token: [u8; 16],
    /// When the NHI issued it (ms since the epoch).
    pub issued_ms: i64,
    /// When it expires (ms since the epoch).
    pub expires_ms: i64,
    payload: [u8; PAYLOAD_LEN],
    signature: [u8; SIGNATURE_LEN],
}

fn forged(reason: &str) -> VcardError {
    VcardError::Forged {
        reason: reason.to_string(),
    }
}

fn payload(token: &[u8; 16], issued_ms: i64, expires_ms: i64) -> [u8; PAYLOAD_LEN] {
    let mut p = [0u8; PAYLOAD_LEN];
    p[0] = VERSION;
    p[1..17].copy_from_slice(token);
    p[17..25].copy_from_slice(&issued_ms.to_be_bytes());
    p[25..33].copy_from_slice(&expires_ms.to_be_bytes());
    p
}

/// The bytes the NHI signs for a payload.
fn signed_message(payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNING_CONTEXT.len() + payload.len());
    m.extend_from_slice(SIGNING_CONTEXT);
    m.extend_from_slice(payload);
    m
}

/// Makes the QR text of a token issued at `issued_ms` (valid [`QR_LIFETIME_MS`]), signed with the
/// NHI's Ed25519 key (the simulator's side of the codec).
pub fn issue(key: &ring::signature::Ed25519KeyPair, token: [u8; 16], issued_ms: i64) -> String {
    let p = payload(&token, issued_ms, issued_ms + QR_LIFETIME_MS);
    let sig = key.sign(&signed_message(&p));
    let mut bytes = Vec::with_capacity(PAYLOAD_LEN + SIGNATURE_LEN);
    bytes.extend_from_slice(&p);
    bytes.extend_from_slice(sig.as_ref());
    format!("{QR_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

impl VcardQr {
    /// Reads the QR text; anything not shaped like an NHI virtual-card QR is [`VcardError::Forged`].
    pub fn parse(text: &str) -> Result<Self, VcardError> {
        let body = text
            .trim()
            .strip_prefix(QR_PREFIX)
            .ok_or_else(|| forged("not a virtual NHI card QR"))?;
        if body.len() > 200 {
            return Err(forged("too long"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| forged("not base64url"))?;
        if bytes.len() != PAYLOAD_LEN + SIGNATURE_LEN {
            return Err(forged("wrong length"));
        }
        let mut payload = [0u8; PAYLOAD_LEN];
        payload.copy_from_slice(&bytes[..PAYLOAD_LEN]);
        let mut signature = [0u8; SIGNATURE_LEN];
        signature.copy_from_slice(&bytes[PAYLOAD_LEN..]);
        if payload[0] != VERSION {
            return Err(forged("unknown version"));
        }
        let mut token = [0u8; 16];
        token.copy_from_slice(&payload[1..17]);
        let ms = |r: std::ops::Range<usize>| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&payload[r]);
            i64::from_be_bytes(b)
        };
        let issued_ms = ms(17..25);
        let expires_ms = ms(25..33);
        if expires_ms.checked_sub(issued_ms) != Some(QR_LIFETIME_MS) {
            return Err(forged("the NHI issues QRs valid for exactly 5 minutes"));
        }
        Ok(Self {
            token,
            issued_ms,
            expires_ms,
            payload,
            signature,
        })
    }

    /// Checks the NHI's signature with its public key (32 bytes).
    pub fn verify(&self, nhi_public_key: &[u8]) -> Result<(), VcardError> {
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, nhi_public_key)
            .verify(&signed_message(&self.payload), &self.signature)
            .map_err(|_| forged("the signature is not the NHI's"))
    }

    /// Refuses the QR from its expiry on (`now_ms >= expires_ms`): valid for 5 minutes, no more.
    pub fn check_fresh(&self, now_ms: i64) -> Result<(), VcardError> {
        if now_ms >= self.expires_ms {
            return Err(VcardError::Expired {
                expired_at_ms: self.expires_ms,
            });
        }
        Ok(())
    }

    /// The token as lower-case hex (the NHI's and the device's key for single use).
    pub fn token_hex(&self) -> String {
        hex::encode(self.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    fn key(seed: u8) -> Ed25519KeyPair {
        Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap()
    }

    const T0: i64 = 1_733_000_000_000;

    #[test]
    fn a_genuine_qr_parses_and_verifies() {
        let k = key(1);
        let text = issue(&k, [7; 16], T0);
        assert!(text.starts_with(QR_PREFIX));
        let qr = VcardQr::parse(&text).unwrap();
        assert_eq!(qr.token, [7; 16]);
        assert_eq!(qr.expires_ms, T0 + QR_LIFETIME_MS);
        qr.verify(k.public_key().as_ref()).unwrap();
        qr.check_fresh(T0).unwrap();
    }

    #[test]
    fn vcard_qr_expires_after_5_minutes() {
        let qr = VcardQr::parse(&issue(&key(1), [7; 16], T0)).unwrap();
        qr.check_fresh(T0 + QR_LIFETIME_MS - 1).unwrap();
        assert_eq!(
            qr.check_fresh(T0 + QR_LIFETIME_MS + 1000),
            Err(VcardError::Expired {
                expired_at_ms: T0 + QR_LIFETIME_MS
            })
        );
    }

    #[test]
    fn vcard_qr_forged_is_refused() {
        let nhi = key(1);
        // Signed by someone else.
        let other = VcardQr::parse(&issue(&key(2), [7; 16], T0)).unwrap();
        assert!(matches!(
            other.verify(nhi.public_key().as_ref()),
            Err(VcardError::Forged { .. })
        ));
        // One byte of the payload changed (a longer validity), signature kept.
        let text = issue(&nhi, [7; 16], T0);
        let mut bytes = URL_SAFE_NO_PAD.decode(&text[QR_PREFIX.len()..]).unwrap();
        bytes[1] ^= 1;
        let changed = format!("{QR_PREFIX}{}", URL_SAFE_NO_PAD.encode(&bytes));
        let qr = VcardQr::parse(&changed).unwrap();
        assert!(matches!(
            qr.verify(nhi.public_key().as_ref()),
            Err(VcardError::Forged { .. })
        ));
        for junk in [
            "",
            "hello",
            "NHIVC1:",
            "NHIVC1:@@@",
            "RX:ABC",
            &text[..text.len() - 4],
        ] {
            assert!(
                matches!(VcardQr::parse(junk), Err(VcardError::Forged { .. })),
                "{junk}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics(s in "\\PC{0,200}") {
            let _ = VcardQr::parse(&s);
            let _ = VcardQr::parse(&format!("{QR_PREFIX}{s}"));
        }
    }
}
