//! Record layouts of the card operations (all fixed-width ASCII unless said):
//!
//! - [`SequenceForm`]: the newest control-software get-sequence-number form, 316 B: visit date-time
//!   13 · sequence number 4 · institution code 10 · security signature 256 · SAM id 12 · same-day
//!   flag 1 (`Y`/`N`) · visit identification code 20.
//! - [`CardSequence`]: what the card answers to GET SEQUENCE, 72 B: date-time 13 · sequence 4 ·
//!   same-day 1 · visits left 2 · visit code 20 · card MAC 32 (binary).
//! - [`VisitBody`]: the written part of a visit, 58 B: 6 diagnoses × 7 (ICD-10-CM, no dot) · fee
//!   points 8 · copayment 8.
//! - [`PrescriptionEntry`]: 61 B: date-time 13 · order type 1 · code 12 · site 6 · usage 18 · days
//!   2 · total 7 (`00000.0`) · dispensing flag 2 (`00` self, `01` released to a pharmacy).
//! - [`CardVisitRecord`]: a visit as read back, 110 B: type 2 · newborn 1 · date-time 13 ·
//!   after-check 1 · sequence 4 · institution 10 · visit code 20 · body 58 · status 1 (`A`/`C`).
//! - allergies: 3 × 40 B Big5, NUL-padded.

use super::error::CardError;
use super::fields;
use crate::model::{InstitutionCode, Order, OrderKind, RocDateTime, SequenceNumber, VisitType};
use crate::rules::visit_code::VisitCode;

/// Length of the get-sequence-number form.
pub const SEQUENCE_FORM_LEN: usize = 316;
/// Length of the card's GET SEQUENCE answer.
pub const CARD_SEQUENCE_LEN: usize = 72;
/// Length of a written visit body.
pub const VISIT_BODY_LEN: usize = 58;
/// Length of a prescription entry.
pub const PRESCRIPTION_LEN: usize = 61;
/// Length of a visit record as read back.
pub const VISIT_RECORD_LEN: usize = 110;
/// Length of an allergy entry.
pub const ALLERGY_LEN: usize = 40;
/// Most prescription entries one visit (and the card) holds.
pub const MAX_PRESCRIPTIONS: usize = 60;
/// Most diagnoses on the card per visit.
pub const MAX_DIAGNOSES: usize = 6;

fn visit_code(bytes: &[u8], what: &'static str) -> Result<VisitCode, CardError> {
    let text = fields::ascii(bytes, what)?;
    VisitCode::parse(&text).map_err(|e| CardError::malformed(what, e.to_string()))
}

fn sequence(bytes: &[u8]) -> Result<SequenceNumber, CardError> {
    let text = fields::ascii(bytes, "sequence number")?;
    SequenceNumber::parse(&text).map_err(|e| CardError::malformed("sequence number", e.to_string()))
}

/// The newest get-sequence-number form (316 B).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceForm {
    /// Visit date-time as the card registered it.
    pub visit_datetime: RocDateTime,
    /// Sequence number (normal `0001`–`1500`).
    pub sequence: SequenceNumber,
    /// Institution code.
    pub institution: InstitutionCode,
    /// Security signature, 256 hex characters (M14).
    pub signature_hex: String,
    /// Cloud SAM id (M01), 12.
    pub sam_id: String,
    /// Whether the patient already had a visit the same day.
    pub same_day: bool,
    /// Visit identification code (M15).
    pub visit_code: VisitCode,
}

impl SequenceForm {
    /// The 316-byte form.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CardError> {
        let mut out = Vec::with_capacity(SEQUENCE_FORM_LEN);
        fields::put_roc_datetime(&mut out, self.visit_datetime);
        fields::put_ascii(&mut out, &self.sequence.code(), 4, "sequence number")?;
        fields::put_ascii(&mut out, self.institution.as_str(), 10, "institution")?;
        if self.signature_hex.len() != 256 {
            return Err(CardError::Input("signature: must be 256 hex characters".into()));
        }
        fields::put_ascii(&mut out, &self.signature_hex, 256, "signature")?;
        fields::put_ascii(&mut out, &self.sam_id, 12, "SAM id")?;
        out.push(if self.same_day { b'Y' } else { b'N' });
        fields::put_ascii(&mut out, self.visit_code.as_str(), 20, "visit code")?;
        Ok(out)
    }

    /// Parses the 316-byte form.
    pub fn from_bytes(b: &[u8]) -> Result<Self, CardError> {
        if b.len() != SEQUENCE_FORM_LEN {
            return Err(CardError::malformed(
                "sequence form",
                format!("{} bytes", b.len()),
            ));
        }
        let signature_hex = fields::ascii(&b[27..283], "signature")?;
        if signature_hex.len() != 256 || !signature_hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(CardError::malformed("signature", "not 256 hex characters"));
        }
        Ok(Self {
            visit_datetime: fields::roc_datetime(&b[0..13], "visit date-time")?,
            sequence: sequence(&b[13..17])?,
            institution: InstitutionCode::parse(&fields::ascii(&b[17..27], "institution")?)
                .map_err(|e| CardError::malformed("institution", e.to_string()))?,
            signature_hex,
            sam_id: fields::ascii(&b[283..295], "SAM id")?,
            same_day: match b[295] {
                b'Y' => true,
                b'N' => false,
                _ => return Err(CardError::malformed("same-day flag", "must be Y or N")),
            },
            visit_code: visit_code(&b[296..316], "visit code")?,
        })
    }
}

/// The card's answer to GET SEQUENCE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSequence {
    /// Visit date-time the card registered.
    pub visit_datetime: RocDateTime,
    /// Sequence number.
    pub sequence: SequenceNumber,
    /// Same-day visit.
    pub same_day: bool,
    /// Visits left on the card.
    pub visits_left: u16,
    /// Visit code the card registered.
    pub visit_code: VisitCode,
    /// The card's MAC over the issue (checked by the SAM).
    pub card_mac: [u8; 32],
}

impl CardSequence {
    /// Parses the 72-byte answer.
    pub fn from_bytes(b: &[u8]) -> Result<Self, CardError> {
        if b.len() != CARD_SEQUENCE_LEN {
            return Err(CardError::malformed(
                "sequence answer",
                format!("{} bytes", b.len()),
            ));
        }
        let mut card_mac = [0u8; 32];
        card_mac.copy_from_slice(&b[40..72]);
        Ok(Self {
            visit_datetime: fields::roc_datetime(&b[0..13], "visit date-time")?,
            sequence: sequence(&b[13..17])?,
            same_day: match b[17] {
                b'Y' => true,
                b'N' => false,
                _ => return Err(CardError::malformed("same-day flag", "must be Y or N")),
            },
            visits_left: fields::digits(&b[18..20], "visits left")? as u16,
            visit_code: visit_code(&b[20..40], "visit code")?,
            card_mac,
        })
    }
}

/// The written part of a visit: diagnoses and fees. `Debug` is redacted (clinical data).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct VisitBody {
    /// ICD-10-CM codes, normalised (upper-case, no dot, at most 7), main first; at most 6.
    pub diagnoses: Vec<String>,
    /// Medical fee in points.
    pub fee_points: u32,
    /// Copayment in NT$.
    pub copayment: u32,
}

impl VisitBody {
    /// The 58-byte body.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CardError> {
        if self.diagnoses.len() > MAX_DIAGNOSES {
            return Err(CardError::Input(format!(
                "at most {MAX_DIAGNOSES} diagnoses on the card"
            )));
        }
        let mut out = Vec::with_capacity(VISIT_BODY_LEN);
        for i in 0..MAX_DIAGNOSES {
            let dx = self.diagnoses.get(i).map(String::as_str).unwrap_or("");
            if !dx.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
                return Err(CardError::Input(
                    "diagnosis: normalised ICD-10-CM expected".into(),
                ));
            }
            fields::put_ascii(&mut out, dx, 7, "diagnosis")?;
        }
        fields::put_digits(&mut out, u64::from(self.fee_points), 8, "fee")?;
        fields::put_digits(&mut out, u64::from(self.copayment), 8, "copayment")?;
        Ok(out)
    }

    /// Parses the 58-byte body; an unwritten body (all spaces) gives `None`.
    pub fn from_bytes(b: &[u8]) -> Result<Option<Self>, CardError> {
        if b.len() != VISIT_BODY_LEN {
            return Err(CardError::malformed("visit body", format!("{} bytes", b.len())));
        }
        if b.iter().all(|&c| c == b' ') {
            return Ok(None);
        }
        let diagnoses = b[..42]
            .chunks(7)
            .map(|c| fields::ascii(c, "diagnosis"))
            .filter(|r| r.as_ref().map_or(true, |s| !s.is_empty()))
            .collect::<Result<Vec<_>, _>>()?;
        // The same shape `to_bytes` writes: a diagnosis the card could not have been written with
        // is malformed, not read as if it were one.
        if diagnoses
            .iter()
            .any(|d| !d.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
        {
            return Err(CardError::malformed(
                "diagnosis",
                "not a normalised ICD-10-CM code",
            ));
        }
        Ok(Some(Self {
            diagnoses,
            fee_points: fields::digits(&b[42..50], "fee")? as u32,
            copayment: fields::digits(&b[50..58], "copayment")? as u32,
        }))
    }
}

/// One prescription entry on the card. `Debug` is redacted (clinical data).
#[derive(Clone, PartialEq)]
pub struct PrescriptionEntry {
    /// Date-time of the order (the visit's).
    pub at: RocDateTime,
    /// Order type: `1` drug, `2` treatment (D02).
    pub order_type: char,
    /// NHI code, at most 12.
    pub code: String,
    /// Site / route, at most 6.
    pub site: String,
    /// Usage (frequency), at most 18.
    pub usage: String,
    /// Days supplied, 0–99.
    pub days: u8,
    /// Total quantity (`00000.0` form on the card, 0–99999.9).
    pub total: f64,
    /// Released to a pharmacy (`01`) rather than dispensed by the institution (`00`).
    pub released: bool,
}

impl PrescriptionEntry {
    /// The card entry for one order of a visit at `at`.
    pub fn from_order(order: &Order, at: RocDateTime, released: bool) -> Self {
        Self {
            at,
            order_type: match order.kind {
                OrderKind::Drug => '1',
                OrderKind::Treatment => '2',
            },
            code: order.code.clone(),
            site: order.route.clone(),
            usage: order.frequency.clone(),
            days: order.days.min(99) as u8,
            total: order.total,
            released,
        }
    }

    /// The 61-byte entry.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CardError> {
        let mut out = Vec::with_capacity(PRESCRIPTION_LEN);
        fields::put_roc_datetime(&mut out, self.at);
        if !matches!(self.order_type, '1' | '2' | 'G') {
            return Err(CardError::Input("order type: 1, 2 or G".into()));
        }
        out.push(self.order_type as u8);
        fields::put_ascii(&mut out, &self.code, 12, "order code")?;
        fields::put_ascii(&mut out, &self.site, 6, "site")?;
        fields::put_ascii(&mut out, &self.usage, 18, "usage")?;
        if self.days > 99 {
            return Err(CardError::Input("days: at most 99".into()));
        }
        fields::put_digits(&mut out, u64::from(self.days), 2, "days")?;
        if !(0.0..=99_999.9).contains(&self.total) || !self.total.is_finite() {
            return Err(CardError::Input("total: 0 to 99999.9".into()));
        }
        out.extend_from_slice(format!("{:07.1}", self.total).as_bytes());
        out.extend_from_slice(if self.released { b"01" } else { b"00" });
        Ok(out)
    }

    /// Parses a 61-byte entry.
    pub fn from_bytes(b: &[u8]) -> Result<Self, CardError> {
        if b.len() != PRESCRIPTION_LEN {
            return Err(CardError::malformed("prescription", format!("{} bytes", b.len())));
        }
        // Exactly the `00000.0` form `to_bytes` writes (a `1e3` or `0.05` would not survive it).
        let total_bytes = &b[52..59];
        if !(total_bytes[..5].iter().all(u8::is_ascii_digit)
            && total_bytes[5] == b'.'
            && total_bytes[6].is_ascii_digit())
        {
            return Err(CardError::malformed("total", "not a quantity 00000.0"));
        }
        let total: f64 = fields::ascii(total_bytes, "total")?
            .parse()
            .map_err(|_| CardError::malformed("total", "not a quantity 00000.0"))?;
        Ok(Self {
            at: fields::roc_datetime(&b[0..13], "order date-time")?,
            order_type: match b[13] {
                c @ (b'1' | b'2' | b'G') => c as char,
                _ => return Err(CardError::malformed("order type", "unknown")),
            },
            code: fields::ascii(&b[14..26], "order code")?,
            site: fields::ascii(&b[26..32], "site")?,
            usage: fields::ascii(&b[32..50], "usage")?,
            days: fields::digits(&b[50..52], "days")? as u8,
            total,
            released: match &b[59..61] {
                b"00" => false,
                b"01" => true,
                _ => return Err(CardError::malformed("dispensing flag", "must be 00 or 01")),
            },
        })
    }
}

/// A visit as the card holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct CardVisitRecord {
    /// Visit type.
    pub visit_type: VisitType,
    /// Newborn visit under the parent's card.
    pub newborn: bool,
    /// Visit date-time.
    pub visit_datetime: RocDateTime,
    /// Card replacement (after-check flag `2`).
    pub replacement: bool,
    /// Sequence number.
    pub sequence: SequenceNumber,
    /// Institution.
    pub institution: InstitutionCode,
    /// Visit identification code.
    pub visit_code: VisitCode,
    /// Diagnoses and fees, once written.
    pub body: Option<VisitBody>,
    /// Cancelled within 24 h.
    pub cancelled: bool,
}

impl CardVisitRecord {
    /// Parses a 110-byte record.
    pub fn from_bytes(b: &[u8]) -> Result<Self, CardError> {
        if b.len() != VISIT_RECORD_LEN {
            return Err(CardError::malformed("visit record", format!("{} bytes", b.len())));
        }
        let vt = fields::ascii(&b[0..2], "visit type")?;
        Ok(Self {
            visit_type: VisitType::parse(&vt)
                .map_err(|e| CardError::malformed("visit type", e.to_string()))?,
            newborn: flag(b[2], b'Y', b'N', "newborn flag")?,
            visit_datetime: fields::roc_datetime(&b[3..16], "visit date-time")?,
            replacement: flag(b[16], b'2', b'1', "after-check flag")?,
            sequence: sequence(&b[17..21])?,
            institution: InstitutionCode::parse(&fields::ascii(&b[21..31], "institution")?)
                .map_err(|e| CardError::malformed("institution", e.to_string()))?,
            visit_code: visit_code(&b[31..51], "visit code")?,
            body: VisitBody::from_bytes(&b[51..109])?,
            cancelled: flag(b[109], b'C', b'A', "status")?,
        })
    }
}

impl std::fmt::Debug for VisitBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VisitBody({} diagnoses, <redacted>)", self.diagnoses.len())
    }
}

impl std::fmt::Debug for PrescriptionEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrescriptionEntry(type {}, <redacted>)", self.order_type)
    }
}

fn flag(b: u8, yes: u8, no: u8, what: &'static str) -> Result<bool, CardError> {
    match b {
        x if x == yes => Ok(true),
        x if x == no => Ok(false),
        _ => Err(CardError::malformed(what, "unknown flag")),
    }
}

/// Length of the register-basic buffer.
pub const REGISTER_BASIC_LEN: usize = 78;

/// The control-software register-basic buffer (78 B): basic data 57 · cancelled flag 1 · reserved
/// 2 · identity flag 1 · card expiry 7 · visits left 2 · newborn birth date 7 (`0000000` when none)
/// · twin flag 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterBasic {
    /// The public basic data.
    pub basic: crate::model::CardBasicData,
    /// The card has been cancelled.
    pub cancelled: bool,
    /// Identity flag (special identities), as on the card.
    pub identity_flag: char,
    /// Card expiry date.
    pub expiry: crate::model::RocDate,
    /// Visits left on the card.
    pub visits_left: u16,
    /// Birth date of a newborn visiting under this card, if any.
    pub newborn_birth: Option<crate::model::RocDate>,
    /// Twin flag of the newborn.
    pub twin: bool,
}

impl RegisterBasic {
    /// Parses the 78-byte buffer.
    pub fn from_bytes(b: &[u8]) -> Result<Self, CardError> {
        if b.len() != REGISTER_BASIC_LEN {
            return Err(CardError::malformed(
                "register basic",
                format!("{} bytes", b.len()),
            ));
        }
        let identity = b[60];
        if !identity.is_ascii() || identity < 0x20 {
            return Err(CardError::malformed("identity flag", "not printable"));
        }
        Ok(Self {
            basic: crate::card::basic_data::decode(&b[..57])?,
            cancelled: flag(b[57], b'Y', b'N', "cancelled flag")?,
            identity_flag: identity as char,
            expiry: fields::roc_date(&b[61..68], "card expiry")?,
            visits_left: fields::digits(&b[68..70], "visits left")? as u16,
            newborn_birth: if &b[70..77] == b"0000000" {
                None
            } else {
                Some(fields::roc_date(&b[70..77], "newborn birth date")?)
            },
            twin: flag(b[77], b'Y', b'N', "twin flag")?,
        })
    }
}

/// Parses the allergy entries (3 × 40 B Big5); empty entries are left out.
pub fn allergies_from_bytes(b: &[u8]) -> Result<Vec<String>, CardError> {
    if !b.len().is_multiple_of(ALLERGY_LEN) {
        return Err(CardError::malformed("allergies", format!("{} bytes", b.len())));
    }
    let mut out = Vec::new();
    for chunk in b.chunks(ALLERGY_LEN) {
        let text = fields::big5(chunk, "allergy")?;
        if !text.is_empty() {
            out.push(text);
        }
    }
    Ok(out)
}

/// Splits a concatenation of fixed-size records.
pub fn split<T>(
    b: &[u8],
    len: usize,
    what: &'static str,
    f: impl Fn(&[u8]) -> Result<T, CardError>,
) -> Result<Vec<T>, CardError> {
    if !b.len().is_multiple_of(len) {
        return Err(CardError::malformed(
            what,
            format!("{} bytes is not a whole number of records", b.len()),
        ));
    }
    b.chunks(len).map(f).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> RocDateTime {
        RocDateTime::parse("1141123093015").unwrap()
    }

    #[test]
    fn prescription_entry_fixed_vector() {
        let e = PrescriptionEntry {
            at: at(),
            order_type: '1',
            code: "AC12345100".into(),
            site: "PO".into(),
            usage: "TID".into(),
            days: 7,
            total: 21.0,
            released: true,
        };
        let b = e.to_bytes().unwrap();
        let expected = b"11411230930151AC12345100  PO    TID               0700021.001";
        assert_eq!(b.len(), 61);
        assert_eq!(&b[..], &expected[..]);
        assert_eq!(PrescriptionEntry::from_bytes(&b).unwrap(), e);
        let mut bad = b.clone();
        bad[13] = b'9';
        assert!(matches!(
            PrescriptionEntry::from_bytes(&bad),
            Err(CardError::Malformed {
                what: "order type",
                ..
            })
        ));
        let mut bad = b;
        bad[55] = b'x';
        assert!(PrescriptionEntry::from_bytes(&bad).is_err());
        assert!(
            PrescriptionEntry {
                days: 100,
                ..e.clone()
            }
            .to_bytes()
            .is_err()
        );
        assert!(
            PrescriptionEntry {
                code: "X".repeat(13),
                ..e
            }
            .to_bytes()
            .is_err()
        );
    }

    #[test]
    fn visit_body_fixed_vector() {
        let body = VisitBody {
            diagnoses: vec!["G450".into(), "I10".into()],
            fee_points: 1631,
            copayment: 50,
        };
        let b = body.to_bytes().unwrap();
        let mut expected = b"G450   I10    ".to_vec();
        expected.extend_from_slice(&[b' '; 28]);
        expected.extend_from_slice(b"0000163100000050");
        assert_eq!(b, expected);
        assert_eq!(VisitBody::from_bytes(&b).unwrap(), Some(body));
        assert_eq!(VisitBody::from_bytes(&[b' '; 58]).unwrap(), None);
        assert!(
            VisitBody {
                diagnoses: vec!["g45.0".into()],
                ..Default::default()
            }
            .to_bytes()
            .is_err()
        );
    }

    #[test]
    fn register_basic_fixed_vector() {
        let mut b = b"000023456781".to_vec();
        b.extend_from_slice(&[0xB3, 0xAF, 0xAC, 0xFC, 0xAC, 0xC2]); // 陳美玲 in Big5
        b.extend_from_slice(&[0; 14]);
        b.extend_from_slice(b"B2204153780340921F1050612");
        b.extend_from_slice(b"N   1201231031130301Y");
        let r = RegisterBasic::from_bytes(&b).unwrap();
        assert_eq!(r.basic.name, "陳美玲");
        assert_eq!(r.visits_left, 3);
        assert_eq!(r.expiry.to_roc_string(), "1201231");
        assert_eq!(r.newborn_birth.unwrap().to_roc_string(), "1130301");
        assert!(r.twin && !r.cancelled);
        let mut bad = b.clone();
        bad[57] = b'?';
        assert!(matches!(
            RegisterBasic::from_bytes(&bad),
            Err(CardError::Malformed {
                what: "cancelled flag",
                ..
            })
        ));
        assert!(RegisterBasic::from_bytes(&b[..77]).is_err());
    }

    #[test]
    fn malformed_card_sequence_answers() {
        assert!(CardSequence::from_bytes(&[0; 71]).is_err());
        let mut b = b"1141123093015".to_vec();
        b.extend_from_slice(b"0007N05");
        b.extend_from_slice(b"ABCDEFGHJK123456789X");
        b.extend_from_slice(&[0; 32]);
        // The visit code's check symbol is wrong: a typed error, not a panic.
        assert!(matches!(
            CardSequence::from_bytes(&b),
            Err(CardError::Malformed {
                what: "visit code",
                ..
            })
        ));
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any bytes from a card decode to a value or a typed error, never a panic.
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = SequenceForm::from_bytes(&bytes);
            let _ = CardSequence::from_bytes(&bytes);
            let _ = VisitBody::from_bytes(&bytes);
            let _ = PrescriptionEntry::from_bytes(&bytes);
            let _ = CardVisitRecord::from_bytes(&bytes);
            let _ = allergies_from_bytes(&bytes);
            let _ = crate::card::basic_data::decode(&bytes);
            let _ = crate::card::apdu::Response::parse(&bytes);
            let _ = RegisterBasic::from_bytes(&bytes);
        }

        /// Fixed-size records of the right length but random content never panic either.
        #[test]
        fn right_length_garbage_never_panics(
            seq in proptest::collection::vec(any::<u8>(), CARD_SEQUENCE_LEN),
            rx in proptest::collection::vec(any::<u8>(), PRESCRIPTION_LEN),
            rec in proptest::collection::vec(any::<u8>(), VISIT_RECORD_LEN),
            basic in proptest::collection::vec(any::<u8>(), 57),
        ) {
            let _ = CardSequence::from_bytes(&seq);
            let _ = PrescriptionEntry::from_bytes(&rx);
            let _ = CardVisitRecord::from_bytes(&rec);
            let _ = crate::card::basic_data::decode(&basic);
        }

        /// Every valid prescription entry survives the round trip through its 61 bytes.
        #[test]
        fn prescription_round_trip(
            code in "[A-Z0-9]{1,12}",
            site in "[A-Z]{0,6}",
            usage in "[A-Z0-9]{0,18}",
            days in 0u8..100,
            tenths in 0u32..1_000_000,
            released in any::<bool>(),
            drug in any::<bool>(),
        ) {
            let e = PrescriptionEntry {
                at: RocDateTime::parse("1141123093015").unwrap(),
                order_type: if drug { '1' } else { '2' },
                code, site, usage, days,
                total: f64::from(tenths) / 10.0,
                released,
            };
            let b = e.to_bytes().unwrap();
            prop_assert_eq!(b.len(), PRESCRIPTION_LEN);
            prop_assert_eq!(PrescriptionEntry::from_bytes(&b).unwrap(), e);
        }
    }
}
