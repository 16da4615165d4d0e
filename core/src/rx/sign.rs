//! Signing prescription QR codes with the device key (Ed25519, 64-byte signatures, `ring`) — the
//! same key the device enrolled with the VPN, whose public half the VPN publishes per institution —
//! and the offline check a pharmacist runs against the published public keys.

use super::RxError;
use ring::signature::{ED25519, UnparsedPublicKey};

/// Domain separation: the device key also signs requests and enrolment.
pub const SIGNING_CONTEXT: &[u8] = b"homevisit-rx-qr-v1\0";

/// Signs prescription payloads with the device key.
pub trait RxSigner: Send + Sync {
    /// The 32-byte Ed25519 public key.
    fn public_key(&self) -> Vec<u8>;
    /// The 64-byte Ed25519 signature of `message`.
    fn sign(&self, message: &[u8]) -> Result<[u8; 64], RxError>;
}

impl RxSigner for crate::vpn::DeviceKey {
    fn public_key(&self) -> Vec<u8> {
        crate::vpn::DeviceKey::public_key(self).to_vec()
    }
    fn sign(&self, message: &[u8]) -> Result<[u8; 64], RxError> {
        crate::vpn::DeviceKey::sign(self, message)
            .as_slice()
            .try_into()
            .map_err(|_| RxError::Key("signature is not 64 bytes".into()))
    }
}

/// The short key id carried in the QR: the first two bytes of SHA-256 of the public key.
pub fn key_id(public_key: &[u8]) -> u16 {
    let d = ring::digest::digest(&ring::digest::SHA256, public_key);
    u16::from_be_bytes([d.as_ref()[0], d.as_ref()[1]])
}

/// Whether `sig` is a valid signature of `message` by `public_key`.
pub fn verify(public_key: &[u8], message: &[u8], sig: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(message, sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vpn::DeviceKey;

    #[test]
    fn signs_and_verifies_and_rejects_other_keys() {
        let a = DeviceKey::from_seed_for_tests(&[1; 32]);
        let b = DeviceKey::from_seed_for_tests(&[2; 32]);
        let s = RxSigner::sign(&a, b"msg").unwrap();
        let pa = RxSigner::public_key(&a);
        assert!(verify(&pa, b"msg", &s));
        assert!(!verify(&pa, b"msh", &s));
        assert!(!verify(&RxSigner::public_key(&b), b"msg", &s));
        assert!(!verify(b"short", b"msg", &s));
        assert_ne!(key_id(&pa), key_id(&RxSigner::public_key(&b)));
    }
}
