//! The signed prescription QR payload: a tightly packed binary record, signed with the device key,
//! guarded by a CRC, written as Base45 after the prefix `RX:` so the QR uses alphanumeric mode.
//!
//! Layout (bits, most significant first), version 2:
//! `version 8 · chronic 1 · refills 2 · institution 34 · visit code 102 (base 34) · issue date 16
//! (days since ROC 1-01-01 = 1912-01-01) · patient ID 37 · prescriber ID 37 · key id 16 · line
//! count 6`, then per line
//! `drug code 37 · dose 16 (hundredths) · frequency 6 · route 4 · days 7 · total 17 (tenths)`,
//! zero-padded to a byte; then the 64-byte Ed25519 signature of
//! [`sign::SIGNING_CONTEXT`] ‖ those bytes; then CRC-16/CCITT of everything before it.
//! The CRC tells a changed byte (tampering, or a bad scan) apart from a genuine QR whose key we do
//! not know; the signature stops anyone who recomputes the CRC. Version 1 (no prescriber) is
//! refused: every prescription names the practitioner whose card PIN was verified.

use super::RxError;
use super::base45;
use super::bits::{BitReader, BitWriter};
use super::codes;
use super::orderset::RxLine;
use super::prescription::{MAX_REFILLS, Prescription, VISIT_CODE_ALPHABET};
use super::sign::{self, RxSigner};
use crate::model::{InstitutionCode, NationalId};
use chrono::NaiveDate;

/// Every QR text of ours starts with this.
pub const QR_PREFIX: &str = "RX:";
/// The payload version this code writes.
pub const VERSION: u8 = 2;
/// Length of the signature.
pub const SIG_LEN: usize = 64;

const ROC_EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1912, 1, 1) {
    Some(d) => d,
    None => panic!("1912-01-01 is a date"),
};

/// Why a QR text could not be read as one of ours (before any signature check).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    /// Not a prescription QR of this system (another QR from the street).
    #[error("not a homevisit prescription QR")]
    NotOurs,
    /// Ours by its prefix, but unreadable.
    #[error("malformed prescription QR: {0}")]
    Malformed(String),
    /// Readable, but a byte was changed after signing (the check does not match).
    #[error("prescription QR was altered (check mismatch)")]
    Altered,
}

/// A decoded QR payload, not yet verified.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedPayload {
    /// The prescription it carries.
    pub prescription: Prescription,
    /// Id of the key that signed it (see [`sign::key_id`]).
    pub key_id: u16,
    /// The signed bytes (context not included).
    pub body: Vec<u8>,
    /// The signature.
    pub signature: [u8; SIG_LEN],
}

impl std::fmt::Debug for SignedPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedPayload")
            .field("prescription", &self.prescription)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl SignedPayload {
    /// Whether the signature verifies under `public_key`.
    pub fn verify(&self, public_key: &[u8]) -> bool {
        let msg = [sign::SIGNING_CONTEXT, &self.body].concat();
        sign::verify(public_key, &msg, &self.signature)
    }
}

/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF).
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn pack_visit_code(code: &str) -> Option<u128> {
    code.bytes().rev().try_fold(0u128, |acc, c| {
        let d = VISIT_CODE_ALPHABET.iter().position(|&a| a == c)?;
        Some(acc * 34 + d as u128)
    })
}

fn unpack_visit_code(mut v: u128) -> Option<String> {
    let mut s = String::with_capacity(20);
    for _ in 0..20 {
        s.push(char::from(VISIT_CODE_ALPHABET[(v % 34) as usize]));
        v /= 34;
    }
    (v == 0).then_some(s)
}

/// Packs `[A-Z][A-Z0-9][0-9]{8}` (NHI drug codes; also the national-ID shape) into 37 bits.
fn pack_lnd8(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 10 || !b[0].is_ascii_uppercase() || !b[2..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let second = match b[1] {
        c @ b'0'..=b'9' => u64::from(c - b'0'),
        c @ b'A'..=b'Z' => u64::from(c - b'A') + 10,
        _ => return None,
    };
    let digits: u64 = s[2..].parse().ok()?;
    Some((u64::from(b[0] - b'A') * 36 + second) * 100_000_000 + digits)
}

fn unpack_lnd8(v: u64) -> Option<String> {
    let digits = v % 100_000_000;
    let head = v / 100_000_000;
    let (first, second) = (head / 36, head % 36);
    if first >= 26 {
        return None;
    }
    let second = if second < 10 {
        char::from(b'0' + second as u8)
    } else {
        char::from(b'A' + (second - 10) as u8)
    };
    Some(format!("{}{second}{digits:08}", char::from(b'A' + first as u8)))
}

fn bad(reason: &str) -> RxError {
    RxError::Invalid {
        field: "qr",
        reason: reason.to_string(),
    }
}

/// Packs the prescription into the body that gets signed.
pub fn encode_body(p: &Prescription, key_id: u16) -> Result<Vec<u8>, RxError> {
    p.validate()?;
    let mut w = BitWriter::default();
    w.put(u64::from(VERSION), 8);
    w.put(u64::from(p.chronic), 1);
    w.put(u64::from(p.refills), 2);
    let inst: u64 = p.institution.as_str().parse().map_err(|_| bad("institution"))?;
    w.put(inst, 34);
    w.put_u128(
        pack_visit_code(&p.visit_code).ok_or_else(|| bad("visit code"))?,
        102,
    );
    let days = (p.issued_on - ROC_EPOCH).num_days();
    let days = u16::try_from(days).map_err(|_| bad("issue date outside 1912–2091"))?;
    w.put(u64::from(days), 16);
    w.put(
        pack_lnd8(p.patient_id.expose()).ok_or_else(|| bad("patient ID"))?,
        37,
    );
    w.put(
        pack_lnd8(p.prescriber_id.expose()).ok_or_else(|| bad("prescriber ID"))?,
        37,
    );
    w.put(u64::from(key_id), 16);
    if p.lines.len() > 63 {
        return Err(bad("at most 63 lines fit a QR"));
    }
    w.put(p.lines.len() as u64, 6);
    for l in &p.lines {
        w.put(pack_lnd8(&l.drug_code).ok_or_else(|| bad("drug code"))?, 37);
        w.put(u64::from(l.dose_centi), 16);
        let (f, _) = codes::frequency(&l.frequency).ok_or_else(|| bad("frequency"))?;
        w.put(f as u64, 6);
        w.put(codes::route(&l.route).ok_or_else(|| bad("route"))? as u64, 4);
        w.put(u64::from(l.days), 7);
        w.put(u64::from(l.total_deci), 17);
    }
    Ok(w.finish())
}

/// The QR text of a prescription, signed by `signer`.
pub fn encode(p: &Prescription, signer: &dyn RxSigner) -> Result<String, RxError> {
    let body = encode_body(p, sign::key_id(&signer.public_key()))?;
    let sig = signer.sign(&[sign::SIGNING_CONTEXT, &body].concat())?;
    let mut bytes = body;
    bytes.extend_from_slice(&sig);
    let crc = crc16(&bytes);
    bytes.extend_from_slice(&crc.to_be_bytes());
    Ok(format!("{QR_PREFIX}{}", base45::encode(&bytes)))
}

/// Reads a scanned QR text: prefix, Base45, CRC and structure. The signature is not checked here.
pub fn decode(text: &str) -> Result<SignedPayload, QrError> {
    let text = text.trim_end_matches(['\r', '\n']);
    let Some(rest) = text.strip_prefix(QR_PREFIX) else {
        return Err(QrError::NotOurs);
    };
    let bytes = base45::decode(rest).map_err(|e| QrError::Malformed(e.to_string()))?;
    if bytes.len() < 2 + SIG_LEN + 1 {
        return Err(QrError::Malformed("too short".into()));
    }
    let (data, crc) = bytes.split_at(bytes.len() - 2);
    if crc16(data) != u16::from_be_bytes([crc[0], crc[1]]) {
        return Err(QrError::Altered);
    }
    let (body, sig) = data.split_at(data.len() - SIG_LEN);
    let m = |r: &str| QrError::Malformed(r.to_string());
    let mut r = BitReader::new(body);
    let version = r.get(8).ok_or_else(|| m("truncated"))?;
    if version != u64::from(VERSION) {
        return Err(m("unsupported payload version"));
    }
    let chronic = r.get(1).ok_or_else(|| m("truncated"))? == 1;
    let refills = r.get(2).ok_or_else(|| m("truncated"))? as u8;
    let inst = r.get(34).ok_or_else(|| m("truncated"))?;
    let institution =
        InstitutionCode::parse(&format!("{inst:010}")).map_err(|_| m("institution code out of range"))?;
    let visit_code = r
        .get_u128(102)
        .and_then(unpack_visit_code)
        .ok_or_else(|| m("visit code out of range"))?;
    let days = r.get(16).ok_or_else(|| m("truncated"))?;
    let issued_on = ROC_EPOCH
        .checked_add_days(chrono::Days::new(days))
        .ok_or_else(|| m("issue date out of range"))?;
    let patient = r
        .get(37)
        .and_then(unpack_lnd8)
        .ok_or_else(|| m("patient ID out of range"))?;
    let patient_id = NationalId::try_from(patient).map_err(|_| m("patient ID check digit"))?;
    let prescriber = r
        .get(37)
        .and_then(unpack_lnd8)
        .ok_or_else(|| m("prescriber ID out of range"))?;
    let prescriber_id = NationalId::try_from(prescriber).map_err(|_| m("prescriber ID check digit"))?;
    let key_id = r.get(16).ok_or_else(|| m("truncated"))? as u16;
    let n = r.get(6).ok_or_else(|| m("truncated"))? as usize;
    let mut lines = Vec::with_capacity(n);
    for _ in 0..n {
        let drug_code = r
            .get(37)
            .and_then(unpack_lnd8)
            .ok_or_else(|| m("drug code out of range"))?;
        let dose_centi = r.get(16).ok_or_else(|| m("truncated"))? as u32;
        let f = r.get(6).ok_or_else(|| m("truncated"))? as usize;
        let route = r.get(4).ok_or_else(|| m("truncated"))? as usize;
        let days = r.get(7).ok_or_else(|| m("truncated"))? as u16;
        let total_deci = r.get(17).ok_or_else(|| m("truncated"))? as u32;
        lines.push(RxLine {
            drug_code,
            dose_centi,
            frequency: codes::FREQUENCIES
                .get(f)
                .ok_or_else(|| m("unknown frequency"))?
                .code
                .to_string(),
            route: codes::ROUTES
                .get(route)
                .ok_or_else(|| m("unknown route"))?
                .to_string(),
            days,
            total_deci,
        });
    }
    if r.bytes_used() != body.len() || !r.padding_is_zero() {
        return Err(m("trailing bytes"));
    }
    if refills == 0 || refills > MAX_REFILLS {
        return Err(m("refill count"));
    }
    let prescription = Prescription {
        visit_code,
        institution,
        patient_id,
        prescriber_id,
        issued_on,
        lines,
        chronic,
        refills,
    };
    prescription
        .validate()
        .map_err(|e| QrError::Malformed(e.to_string()))?;
    Ok(SignedPayload {
        prescription,
        key_id,
        body: body.to_vec(),
        // split_at(len - SIG_LEN) leaves exactly SIG_LEN bytes.
        signature: sig.try_into().map_err(|_| m("signature length"))?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rx::orderset::OrderSet;
    use crate::rx::prescription::tests::{htn_set, visit};
    use crate::vpn::DeviceKey;
    use proptest::prelude::*;

    pub(crate) fn ten_line_prescription() -> Prescription {
        let mut v = visit();
        let lines = (0..10)
            .map(|i| {
                RxLine::new(
                    &format!("A0{i}2345100"),
                    100 + 50 * (i % 3),
                    ["QD", "BID", "TID"][i as usize % 3],
                    "PO",
                    28,
                )
            })
            .collect();
        OrderSet {
            id: "ten".into(),
            name: "ten".into(),
            lines,
        }
        .apply_to(&mut v)
        .unwrap();
        Prescription::from_visit(&v, Some(3)).unwrap()
    }

    #[test]
    fn round_trip_and_verify() {
        let signer = DeviceKey::from_seed_for_tests(&[7; 32]);
        let mut v = visit();
        htn_set().apply_to(&mut v).unwrap();
        let p = Prescription::from_visit(&v, Some(2)).unwrap();
        let text = encode(&p, &signer).unwrap();
        assert!(text.starts_with("RX:"));
        assert!(text.bytes().all(|b| base45::ALPHABET.contains(&b)));
        let d = decode(&text).unwrap();
        assert_eq!(d.prescription, p);
        assert_eq!(d.key_id, sign::key_id(signer.public_key()));
        assert!(d.verify(signer.public_key()));
        let other = DeviceKey::from_seed_for_tests(&[8; 32]);
        assert!(!d.verify(other.public_key()));
    }

    #[test]
    fn ten_lines_fit_version_11_alphanumeric() {
        let signer = DeviceKey::from_seed_for_tests(&[7; 32]);
        let text = encode(&ten_line_prescription(), &signer).unwrap();
        // Version 11 at level M holds 362 alphanumeric characters (version 10: 311; the signed
        // prescriber ID, 37 bits, took the 10-line QR just past it).
        assert!(text.len() <= 362, "{} chars", text.len());
    }

    /// Finding 4 (issue 11): the prescriber is in the signed bytes — changing it (and recomputing
    /// the CRC, as a forger would) breaks the signature.
    #[test]
    fn finding4_the_prescriber_id_is_signed_and_tampering_fails_the_signature() {
        let signer = DeviceKey::from_seed_for_tests(&[7; 32]);
        let mut v = visit();
        htn_set().apply_to(&mut v).unwrap();
        let p = Prescription::from_visit_by(&v, None, "B234567894").unwrap();
        let text = encode(&p, &signer).unwrap();
        let d = decode(&text).unwrap();
        assert_eq!(d.prescription.prescriber_id.expose(), "B234567894");
        assert!(d.verify(signer.public_key()));
        // Put another valid practitioner ID in the prescriber field, recompute the CRC.
        let mut other = p.clone();
        other.prescriber_id = crate::rules::national_id::parse("A123456789").unwrap();
        let forged_body = encode_body(&other, d.key_id).unwrap();
        assert_ne!(forged_body, d.body, "the prescriber is part of the signed body");
        let mut bytes = forged_body;
        bytes.extend_from_slice(&d.signature);
        let crc = crc16(&bytes);
        bytes.extend_from_slice(&crc.to_be_bytes());
        let forged = decode(&format!("RX:{}", base45::encode(&bytes))).unwrap();
        assert_eq!(forged.prescription.prescriber_id.expose(), "A123456789");
        assert!(
            !forged.verify(signer.public_key()),
            "the signature covers the prescriber"
        );
        // A version-1 QR (no prescriber) is refused.
        let mut b = base45::decode(&text[3..]).unwrap();
        b[0] = 1;
        let n = b.len() - 2;
        let crc = crc16(&b[..n]);
        b[n..].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            decode(&format!("RX:{}", base45::encode(&b))),
            Err(QrError::Malformed(_))
        ));
    }

    #[test]
    fn every_single_byte_change_is_detected() {
        let signer = DeviceKey::from_seed_for_tests(&[7; 32]);
        let text = encode(&ten_line_prescription(), &signer).unwrap();
        let bytes = base45::decode(&text[3..]).unwrap();
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 0x10;
            let changed = format!("RX:{}", base45::encode(&t));
            assert_eq!(decode(&changed).unwrap_err(), QrError::Altered, "byte {i}");
        }
        // A forger who recomputes the CRC still fails the signature.
        let mut t = bytes[..bytes.len() - 2].to_vec();
        t[40] ^= 1;
        let crc = crc16(&t);
        t.extend_from_slice(&crc.to_be_bytes());
        match decode(&format!("RX:{}", base45::encode(&t))) {
            Ok(d) => assert!(!d.verify(signer.public_key())),
            Err(e) => assert!(matches!(e, QrError::Malformed(_))),
        }
    }

    #[test]
    fn foreign_and_broken_texts() {
        assert_eq!(decode("https://example.com/").unwrap_err(), QrError::NotOurs);
        assert_eq!(decode("").unwrap_err(), QrError::NotOurs);
        assert!(matches!(decode("RX:").unwrap_err(), QrError::Malformed(_)));
        assert!(matches!(decode("RX:abc").unwrap_err(), QrError::Malformed(_)));
        // Right CRC, nonsense body.
        let mut junk = vec![9u8; 80];
        let crc = crc16(&junk);
        junk.extend_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            decode(&format!("RX:{}", base45::encode(&junk))).unwrap_err(),
            QrError::Malformed(_)
        ));
    }

    /// The bit layout checked against an independent packer (a few lines of Python written from
    /// the layout in the module doc), so a codec bug cannot hide by agreeing with itself.
    #[test]
    fn body_matches_the_fixed_vector() {
        let mut v = visit();
        htn_set().apply_to(&mut v).unwrap();
        let p = Prescription::from_visit(&v, Some(3)).unwrap();
        let body = encode_body(&p, 0xBEEF).unwrap();
        assert_eq!(
            hex::encode(&body),
            "02e6858094022dda704eec1cde0076083decb40100075bcd15072476e6b5f7784000bc5f0c0064000e004600948286f80064081c008c00"
        );
    }

    #[test]
    fn packers_round_trip() {
        for s in ["A012345100", "AC45791100", "Z999999999", "A000000000"] {
            assert_eq!(unpack_lnd8(pack_lnd8(s).unwrap()).as_deref(), Some(s));
        }
        assert!(pack_lnd8("a012345100").is_none());
        assert!(pack_lnd8("A0123451000").is_none());
        let c = "3K7Q2M9X4T8W1Z5R6N0B";
        assert_eq!(unpack_visit_code(pack_visit_code(c).unwrap()).as_deref(), Some(c));
        assert!(pack_visit_code("MISS0000000000000000").is_none());
        assert!(unpack_visit_code(u128::MAX).is_none());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode(&format!("RX:{}", base45::encode(&bytes)));
            let mut b = bytes.clone();
            let crc = crc16(&b);
            b.extend_from_slice(&crc.to_be_bytes());
            let _ = decode(&format!("RX:{}", base45::encode(&b)));
        }
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
            let _ = decode(&text);
            let _ = decode(&format!("RX:{text}"));
        }
    }
}
