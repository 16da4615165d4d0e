//! The prescription of a visit: its drug lines, tied to the visit identification code, with the
//! chronic continuous prescription flag and refill count.

use super::RxError;
use super::orderset::{LineError, RxLine};
use super::refill::{self, RefillWindow};
use crate::model::{InstitutionCode, NationalId, Visit};
use chrono::{FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The 34 characters of a visit identification code (`0-9A-Z` without `I` and `O`).
pub const VISIT_CODE_ALPHABET: &[u8; 34] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// Most lines one prescription may hold (the card keeps up to 60 prescription entries).
pub const MAX_LINES: usize = 60;
/// Most dispenses of a chronic continuous prescription (the first and refills 2 and 3).
pub const MAX_REFILLS: u8 = 3;

/// Whether `code` is 20 characters of the visit-code alphabet (the shape, not the check character,
/// which only the rules layer can check).
pub fn is_visit_code_shape(code: &str) -> bool {
    code.len() == 20 && code.bytes().all(|b| VISIT_CODE_ALPHABET.contains(&b))
}

/// A prescription written at a visit.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prescription {
    /// The visit identification code (就醫識別碼) of the visit: the key the pharmacy dispenses by.
    pub visit_code: String,
    /// The prescribing institution.
    pub institution: InstitutionCode,
    /// The patient.
    pub patient_id: NationalId,
    /// The prescriber: national ID of the practitioner whose card PIN was verified when it was
    /// issued (signed into the QR, so the prescription names who is accountable for it).
    pub prescriber_id: NationalId,
    /// Taiwan date of the visit.
    pub issued_on: NaiveDate,
    /// Drug lines.
    pub lines: Vec<RxLine>,
    /// Chronic continuous prescription (慢性病連續處方箋).
    pub chronic: bool,
    /// How many times it may be dispensed in all: 1, or 2–3 for a chronic prescription.
    pub refills: u8,
}

impl fmt::Debug for Prescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prescription")
            .field("visit_code", &self.visit_code)
            .field("institution", &self.institution)
            .field("patient_id", &self.patient_id)
            .field("prescriber_id", &self.prescriber_id)
            .field("issued_on", &self.issued_on)
            .field("lines", &self.lines.len())
            .field("chronic", &self.chronic)
            .field("refills", &self.refills)
            .finish()
    }
}

/// Taiwan's offset, UTC+8.
pub fn taiwan() -> FixedOffset {
    crate::model::roc::taiwan_offset()
}

impl Prescription {
    /// The prescription of `visit`: its drug orders, chronic with `refills` dispenses when
    /// `chronic_refills` is given, prescribed by the visit's practitioner. Every line is
    /// validated, and the chronic rules are checked.
    pub fn from_visit(visit: &Visit, chronic_refills: Option<u8>) -> Result<Self, RxError> {
        Self::from_visit_by(visit, chronic_refills, &visit.practitioner_id)
    }

    /// As [`Self::from_visit`], prescribed by `prescriber` (a practitioner's national ID).
    pub fn from_visit_by(
        visit: &Visit,
        chronic_refills: Option<u8>,
        prescriber: &str,
    ) -> Result<Self, RxError> {
        let prescriber_id = crate::rules::national_id::parse(prescriber).map_err(|_| RxError::Invalid {
            field: "prescriber",
            reason: "must be the practitioner's national ID".into(),
        })?;
        let lines: Vec<RxLine> = visit.orders.iter().filter_map(RxLine::from_order).collect();
        let p = Self {
            visit_code: visit.visit_code.clone(),
            institution: visit.institution.clone(),
            patient_id: visit.patient.national_id.clone(),
            prescriber_id,
            issued_on: visit.visited_at.with_timezone(&taiwan()).date_naive(),
            lines,
            chronic: chronic_refills.is_some(),
            refills: chronic_refills.unwrap_or(1),
        };
        p.validate()?;
        Ok(p)
    }

    /// Checks the visit code, every line and the chronic rules.
    pub fn validate(&self) -> Result<(), RxError> {
        if !is_visit_code_shape(&self.visit_code) {
            return Err(RxError::Invalid {
                field: "visit_code",
                reason: "must be 20 characters of 0-9A-Z without I and O".into(),
            });
        }
        if self.lines.is_empty() || self.lines.len() > MAX_LINES {
            return Err(RxError::Invalid {
                field: "lines",
                reason: format!("a prescription holds 1 to {MAX_LINES} drug lines"),
            });
        }
        for (i, l) in self.lines.iter().enumerate() {
            l.validate(i + 1).map_err(RxError::Line)?;
        }
        if !self.chronic {
            if self.refills != 1 {
                return Err(RxError::Invalid {
                    field: "refills",
                    reason: "only a chronic continuous prescription has refills".into(),
                });
            }
            return Ok(());
        }
        if !(2..=MAX_REFILLS).contains(&self.refills) {
            return Err(RxError::Invalid {
                field: "refills",
                reason: "a chronic continuous prescription is dispensed 2 or 3 times".into(),
            });
        }
        let days = self.lines[0].days;
        for (i, l) in self.lines.iter().enumerate() {
            if l.days != days {
                return Err(RxError::Line(LineError {
                    line: i + 1,
                    field: "days",
                    reason: "every line of a chronic prescription has the same days".into(),
                }));
            }
        }
        if days < 10 {
            return Err(RxError::Line(LineError {
                line: 1,
                field: "days",
                reason: "a chronic prescription supplies at least 10 days per dispense".into(),
            }));
        }
        if u32::from(days) * u32::from(self.refills) > u32::from(super::orderset::MAX_CHRONIC_TOTAL_DAYS) {
            return Err(RxError::Line(LineError {
                line: 1,
                field: "days",
                reason: "a chronic prescription supplies at most 90 days in all".into(),
            }));
        }
        Ok(())
    }

    /// Days of one supply (the longest line).
    pub fn supply_days(&self) -> u16 {
        self.lines.iter().map(|l| l.days).max().unwrap_or(0)
    }

    /// The pick-up window of each dispense (one for an ordinary prescription).
    pub fn refill_windows(&self) -> Vec<RefillWindow> {
        refill::refill_windows(self.issued_on, self.supply_days(), self.refills)
    }

    /// The last Taiwan date on which any dispense of this prescription may happen.
    pub fn valid_until(&self) -> NaiveDate {
        self.refill_windows()
            .last()
            .map(|w| w.to)
            .unwrap_or(self.issued_on)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{CardBasicData, Sex};
    use crate::rx::orderset::OrderSet;
    use chrono::TimeZone;

    pub(crate) fn visit() -> Visit {
        Visit {
            id: "0190a000-0000-7000-8000-000000000000".into(),
            visit_code: "3K7Q2M9X4T8W1Z5R6N0B".into(),
            patient: CardBasicData {
                card_number: "000012345678".into(),
                name: "王小明".into(),
                national_id: crate::rules::national_id::parse("A123456789").unwrap(),
                birth_date: NaiveDate::from_ymd_opt(1950, 5, 6).unwrap(),
                sex: Sex::Male,
                issue_date: NaiveDate::from_ymd_opt(2020, 1, 2).unwrap(),
            },
            institution: InstitutionCode::parse("3501200000").unwrap(),
            practitioner_id: "B234567894".into(),
            visit_type: "AH".into(),
            sequence_number: "0007".into(),
            // 2024-03-01 23:30 in Taiwan is still 2024-03-01 there (15:30 UTC).
            visited_at: taiwan().with_ymd_and_hms(2024, 3, 1, 23, 30, 0).unwrap(),
            diagnoses: vec!["I10".into(), "E119".into()],
            note: String::new(),
            orders: vec![],
            security_signature: None,
            sam_id: None,
            abnormal_reason: None,
            card_written: false,
            fee_points: None,
            copayment_points: None,
            context: Default::default(),
        }
    }

    pub(crate) fn htn_set() -> OrderSet {
        OrderSet {
            id: "HTN28".into(),
            name: "高血壓 28 天".into(),
            lines: vec![
                RxLine::new("A012345100", 100, "QD", "PO", 28),
                RxLine::new("AC45791100", 50, "BID", "PO", 28),
            ],
        }
    }

    #[test]
    fn order_set_applied_and_edited_becomes_the_prescription() {
        let mut v = visit();
        htn_set().apply_to(&mut v).unwrap();
        assert_eq!(v.orders.len(), 2);
        let lines = crate::rx::orderset::visit_lines(&v);
        let edited = lines[1].1.clone().with_days(14);
        crate::rx::orderset::edit_visit_line(&mut v, lines[1].0, &edited).unwrap();
        let mut bad = edited.clone();
        bad.route = "??".into();
        assert!(crate::rx::orderset::edit_visit_line(&mut v, 1, &bad).is_err());
        assert!(crate::rx::orderset::edit_visit_line(&mut v, 9, &edited).is_err());
        let p = Prescription::from_visit(&v, None).unwrap();
        assert_eq!(p.visit_code, v.visit_code);
        assert_eq!(p.issued_on, NaiveDate::from_ymd_opt(2024, 3, 1).unwrap());
        assert_eq!(p.lines[1].days, 14);
        assert_eq!(p.lines[1].total_deci, 140);
        assert_eq!(p.valid_until(), NaiveDate::from_ymd_opt(2024, 3, 3).unwrap());
        assert!(!format!("{p:?}").contains("A123456789"));
    }

    #[test]
    fn chronic_rules() {
        let mut v = visit();
        htn_set().apply_to(&mut v).unwrap();
        let p = Prescription::from_visit(&v, Some(3)).unwrap();
        assert!(p.chronic);
        let w = p.refill_windows();
        assert_eq!(w[1].from, NaiveDate::from_ymd_opt(2024, 3, 19).unwrap());
        assert_eq!(p.valid_until(), NaiveDate::from_ymd_opt(2024, 4, 25).unwrap());
        assert!(matches!(
            Prescription::from_visit(&v, Some(4)),
            Err(RxError::Invalid { field: "refills", .. })
        ));
        assert!(matches!(
            Prescription::from_visit(&v, Some(1)),
            Err(RxError::Invalid { field: "refills", .. })
        ));
        // 4 × 28 > 90 is refused at 3 × 31.
        let mut long = visit();
        OrderSet {
            id: "x".into(),
            name: "x".into(),
            lines: vec![RxLine::new("A012345100", 100, "QD", "PO", 31)],
        }
        .apply_to(&mut long)
        .unwrap();
        assert!(
            matches!(Prescription::from_visit(&long, Some(3)), Err(RxError::Line(e)) if e.field == "days")
        );
        assert!(Prescription::from_visit(&long, Some(2)).is_ok());
        // Mixed days are refused for chronic, fine otherwise.
        let lines = crate::rx::orderset::visit_lines(&v);
        crate::rx::orderset::edit_visit_line(&mut v, lines[1].0, &lines[1].1.clone().with_days(14)).unwrap();
        assert!(Prescription::from_visit(&v, None).is_ok());
        assert!(matches!(Prescription::from_visit(&v, Some(2)), Err(RxError::Line(e)) if e.field == "days"));
    }

    #[test]
    fn empty_or_badly_coded_visits_are_refused() {
        let v = visit();
        assert!(matches!(
            Prescription::from_visit(&v, None),
            Err(RxError::Invalid { field: "lines", .. })
        ));
        let mut miss = visit();
        htn_set().apply_to(&mut miss).unwrap();
        miss.visit_code = "MISS0000000000000000".into();
        assert!(matches!(
            Prescription::from_visit(&miss, None),
            Err(RxError::Invalid {
                field: "visit_code",
                ..
            })
        ));
    }
}
