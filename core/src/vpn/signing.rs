//! The device key (Ed25519, created with `ring` at enrolment) and the request signature every call
//! to the VPN services carries, checked by the server (the simulator reuses [`verify_request`]).
//!
//! Headers: `x-hv-dev` (device id), `x-hv-ts` (Unix ms), `x-hv-nonce` (16 hex), `x-hv-sig`
//! (base64url, no padding, of the Ed25519 signature over [`canonical_request`]).

use super::error::VpnError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

/// Header: the enrolled device's id.
pub const H_DEVICE: &str = "x-hv-dev";
/// Header: the request time, Unix milliseconds.
pub const H_TIME: &str = "x-hv-ts";
/// Header: a one-time random value (replay protection).
pub const H_NONCE: &str = "x-hv-nonce";
/// Header: the signature.
pub const H_SIGNATURE: &str = "x-hv-sig";
/// How far a request's time may be from the server's clock, in ms.
pub const MAX_SKEW_MS: i64 = 300_000;

/// The bytes a request signature covers:
/// `HV1\n<METHOD>\n<path and query>\n<device>\n<ts>\n<nonce>\n<hex sha256 of body>`.
pub fn canonical_request(
    method: &str,
    path: &str,
    device: &str,
    ts_ms: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    let body_hash = hex::encode(ring::digest::digest(&ring::digest::SHA256, body));
    format!("HV1\n{method}\n{path}\n{device}\n{ts_ms}\n{nonce}\n{body_hash}")
}

/// Checks `signature` (base64url) over a request with the device's 32-byte Ed25519 public key.
#[allow(clippy::too_many_arguments)] // mirrors the signed fields one to one
pub fn verify_request(
    public_key: &[u8],
    method: &str,
    path: &str,
    device: &str,
    ts_ms: i64,
    nonce: &str,
    body: &[u8],
    signature_b64: &str,
) -> bool {
    let Ok(sig) = URL_SAFE_NO_PAD.decode(signature_b64) else {
        return false;
    };
    let msg = canonical_request(method, path, device, ts_ms, nonce, body);
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(msg.as_bytes(), &sig)
        .is_ok()
}

/// Checks a base64url Ed25519 signature over arbitrary bytes (enrolment proof, prescription QR).
pub fn verify_bytes(public_key: &[u8], message: &[u8], signature_b64: &str) -> bool {
    URL_SAFE_NO_PAD.decode(signature_b64).is_ok_and(|sig| {
        UnparsedPublicKey::new(&ED25519, public_key)
            .verify(message, &sig)
            .is_ok()
    })
}

/// The device's private signing key. Its PKCS#8 form is kept sealed on the device; `Debug` hides it.
pub struct DeviceKey {
    pair: Ed25519KeyPair,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceKey(public {})", hex::encode(self.public_key()))
    }
}

impl DeviceKey {
    /// Creates a new random key pair.
    pub fn generate() -> Result<Self, VpnError> {
        let rng = ring::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| VpnError::Storage {
            reason: "could not create the device key".into(),
        })?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// Loads a key from its PKCS#8 bytes.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, VpnError> {
        // Accepts PKCS#8 v2 (what `generate` makes) and v1 (seed only, `from_seed_for_tests`).
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(|_| VpnError::Storage {
            reason: "the stored device key is damaged".into(),
        })?;
        Ok(Self {
            pair,
            pkcs8: pkcs8.to_vec(),
        })
    }

    /// A key from a fixed 32-byte seed: for test vectors and simulations only.
    pub fn from_seed_for_tests(seed: &[u8; 32]) -> Self {
        // A 32-byte seed always makes a valid Ed25519 key, and the PKCS#8 v1 prefix is fixed.
        let pair = Ed25519KeyPair::from_seed_unchecked(seed).expect("a 32-byte seed is always valid");
        let mut pkcs8 = hex::decode("302e020100300506032b657004220420").expect("constant hex");
        pkcs8.extend_from_slice(seed);
        Self { pair, pkcs8 }
    }

    /// The PKCS#8 document, to seal at rest.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The 32-byte public key, registered with the server at enrolment.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// Signs `message`; the result is base64url without padding.
    pub fn sign_b64(&self, message: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.pair.sign(message).as_ref())
    }

    /// Signs `message`; the raw 64-byte signature.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }

    /// The signature headers for one request, in [`H_DEVICE`], [`H_TIME`], [`H_NONCE`],
    /// [`H_SIGNATURE`] order.
    pub fn sign_request(
        &self,
        method: &str,
        path: &str,
        device: &str,
        ts_ms: i64,
        nonce: &str,
        body: &[u8],
    ) -> [(&'static str, String); 4] {
        let sig = self.sign_b64(canonical_request(method, path, device, ts_ms, nonce, body).as_bytes());
        [
            (H_DEVICE, device.to_string()),
            (H_TIME, ts_ms.to_string()),
            (H_NONCE, nonce.to_string()),
            (H_SIGNATURE, sig),
        ]
    }
}

/// The message a device signs at enrolment to prove it holds the key it registers.
pub fn enrol_proof_message(token: &str, public_key: &[u8], pin_proof: &str) -> Vec<u8> {
    format!("HV1-ENROL\n{token}\n{}\n{pin_proof}", hex::encode(public_key)).into_bytes()
}

/// Proof of the PIN without sending it: hex HMAC-SHA256 keyed by the PIN over token and public key.
pub fn pin_proof(pin: &str, token: &str, public_key: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, pin.as_bytes());
    let mut msg = token.as_bytes().to_vec();
    msg.extend_from_slice(public_key);
    hex::encode(ring::hmac::sign(&key, &msg).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_request_fixed_vector() {
        // Written by hand from the format above; SHA-256 of "abc" is the FIPS 180-2 vector.
        assert_eq!(
            canonical_request("POST", "/v1/upload", "d1", 1_700_000_000_000, "00ff", b"abc"),
            "HV1\nPOST\n/v1/upload\nd1\n1700000000000\n00ff\n\
             ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn signature_verifies_and_any_change_fails() {
        let key = DeviceKey::from_seed_for_tests(&[7; 32]);
        let again = DeviceKey::from_pkcs8(key.pkcs8()).unwrap();
        assert_eq!(key.public_key(), again.public_key());
        let h = key.sign_request("POST", "/v1/upload", "d1", 5, "aa", b"body");
        let sig = &h[3].1;
        assert!(verify_request(
            key.public_key(),
            "POST",
            "/v1/upload",
            "d1",
            5,
            "aa",
            b"body",
            sig
        ));
        assert!(!verify_request(
            key.public_key(),
            "POST",
            "/v1/upload",
            "d1",
            5,
            "aa",
            b"bodY",
            sig
        ));
        assert!(!verify_request(
            key.public_key(),
            "POST",
            "/v1/upload",
            "d1",
            6,
            "aa",
            b"body",
            sig
        ));
        assert!(!verify_request(
            key.public_key(),
            "GET",
            "/v1/upload",
            "d1",
            5,
            "aa",
            b"body",
            sig
        ));
        assert!(!verify_request(
            key.public_key(),
            "POST",
            "/v1/upload",
            "d2",
            5,
            "aa",
            b"body",
            sig
        ));
        assert!(!verify_request(
            key.public_key(),
            "POST",
            "/v1/upload",
            "d1",
            5,
            "aa",
            b"body",
            "!!"
        ));
        let other = DeviceKey::generate().unwrap();
        assert!(!verify_request(
            other.public_key(),
            "POST",
            "/v1/upload",
            "d1",
            5,
            "aa",
            b"body",
            sig
        ));
        assert!(DeviceKey::from_pkcs8(b"junk").is_err());
    }

    #[test]
    fn pin_proof_depends_on_pin_token_and_key() {
        let a = pin_proof("123456", "tok", &[1; 32]);
        assert_eq!(a.len(), 64);
        assert_ne!(a, pin_proof("123457", "tok", &[1; 32]));
        assert_ne!(a, pin_proof("123456", "tok2", &[1; 32]));
        assert_ne!(a, pin_proof("123456", "tok", &[2; 32]));
    }
}
