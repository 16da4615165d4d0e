//! The administrator's device-binding QR code (QR-2): endpoint, institution, one-time token and the
//! SHA-256 fingerprint of the server certificate the device pins.
//!
//! Text form (our design; the real portal's payload is not public), fields separated by `|`, the URL
//! last because it may hold any character but `|`:
//! `NHIVPN2|<institution 10 digits>|<token>|<fingerprint 64 hex>|<https URL>`.

use super::error::VpnError;

/// Prefix and version of the QR-2 payload.
pub const QR2_PREFIX: &str = "NHIVPN2";

/// A parsed QR-2 payload.
#[derive(Clone, PartialEq, Eq)]
pub struct BindingQr {
    /// Base URL of the VPN services, e.g. `https://127.0.0.1:8443`.
    pub endpoint: String,
    /// The institution the device is bound to.
    pub institution_code: String,
    /// The one-time binding token.
    pub token: String,
    /// SHA-256 of the server certificate (DER), 32 bytes.
    pub cert_sha256: [u8; 32],
}

impl std::fmt::Debug for BindingQr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindingQr")
            .field("endpoint", &self.endpoint)
            .field("institution_code", &self.institution_code)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl BindingQr {
    /// Reads a QR-2 payload; any deviation is an [`VpnError::InvalidQr`] naming what is wrong.
    pub fn parse(text: &str) -> Result<Self, VpnError> {
        let bad = |reason: &str| VpnError::InvalidQr {
            reason: reason.to_string(),
        };
        let mut parts = text.trim().splitn(5, '|');
        if parts.next() != Some(QR2_PREFIX) {
            return Err(bad("not an NHI VPN binding code (QR-2)"));
        }
        let (Some(inst), Some(token), Some(fp), Some(url)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("fields are missing"));
        };
        if inst.len() != 10 || !inst.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("institution code must be 10 digits"));
        }
        if token.is_empty() || token.len() > 64 || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad("token must be 1-64 letters or digits"));
        }
        let fp_bytes = hex::decode(fp).map_err(|_| bad("certificate fingerprint is not hex"))?;
        let cert_sha256: [u8; 32] = fp_bytes
            .try_into()
            .map_err(|_| bad("certificate fingerprint must be 32 bytes"))?;
        // Checked after the trailing slashes go, so `https:///` is no endpoint.
        let endpoint = url.trim_end_matches('/');
        if !endpoint.starts_with("https://")
            || endpoint.len() <= "https://".len()
            || endpoint.contains(char::is_whitespace)
        {
            return Err(bad("endpoint must be an https URL"));
        }
        Ok(Self {
            endpoint: endpoint.to_string(),
            institution_code: inst.to_string(),
            token: token.to_string(),
            cert_sha256,
        })
    }

    /// The payload text to put in the QR code.
    pub fn to_payload(&self) -> String {
        format!(
            "{QR2_PREFIX}|{}|{}|{}|{}",
            self.institution_code,
            self.token,
            hex::encode(self.cert_sha256),
            self.endpoint
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn parses_the_fixed_payload_and_round_trips() {
        let text = format!("NHIVPN2|3501200000|AbC123|{FP}|https://127.0.0.1:8443/");
        let qr = BindingQr::parse(&text).unwrap();
        assert_eq!(qr.endpoint, "https://127.0.0.1:8443");
        assert_eq!(qr.institution_code, "3501200000");
        assert_eq!(qr.token, "AbC123");
        assert_eq!(qr.cert_sha256[1], 0x11);
        assert_eq!(qr.to_payload(), text.trim_end_matches('/'));
        assert!(!format!("{qr:?}").contains("AbC123"));
    }

    #[test]
    fn rejects_every_broken_field() {
        let cases = [
            String::new(),
            "garbage".to_string(),
            format!("NHIVPN1|3501200000|t|{FP}|https://h"),
            format!("NHIVPN2|350120000|t|{FP}|https://h"),
            format!("NHIVPN2|3501200000||{FP}|https://h"),
            format!("NHIVPN2|3501200000|t-t|{FP}|https://h"),
            "NHIVPN2|3501200000|t|zz|https://h".to_string(),
            "NHIVPN2|3501200000|t|0011|https://h".to_string(),
            format!("NHIVPN2|3501200000|t|{FP}|http://h"),
            format!("NHIVPN2|3501200000|t|{FP}"),
        ];
        for c in cases {
            assert!(
                matches!(BindingQr::parse(&c), Err(VpnError::InvalidQr { .. })),
                "{c}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_fails_cleanly(text in ".{0,200}") {
            let _ = BindingQr::parse(&text);
        }

        #[test]
        fn valid_payloads_round_trip(inst in "[0-9]{10}", token in "[A-Za-z0-9]{1,64}", fp: [u8; 32], port in 1u16..) {
            let qr = BindingQr {
                endpoint: format!("https://127.0.0.1:{port}"),
                institution_code: inst,
                token,
                cert_sha256: fp,
            };
            proptest::prop_assert_eq!(BindingQr::parse(&qr.to_payload()).unwrap(), qr);
        }
    }
}
