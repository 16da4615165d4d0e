//! What the app hands the facade to record a visit, as plain text fields (from the card reader or
//! a form), and their checks. Parsing lives here so that the bindings stay thin.

use super::AppError;
use crate::model::roc::RocDate;
use crate::model::{CardBasicData, Sex};
use crate::rules::national_id;

/// The patient card's basic data as text, the way the card's 57-byte record carries it.
#[derive(Clone, PartialEq, Eq)]
pub struct CardInput {
    /// Card number, 12 characters.
    pub card_number: String,
    /// Patient's name.
    pub name: String,
    /// National ID or resident certificate number (checked, including its check digit).
    pub national_id: String,
    /// Birth date, ROC `YYYMMDD`.
    pub birth_date: String,
    /// Sex as printed on the card: `M` or `F`.
    pub sex: String,
    /// Card issue date, ROC `YYYMMDD`.
    pub issue_date: String,
}

impl std::fmt::Debug for CardInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardInput(<redacted>)")
    }
}

impl CardInput {
    /// Checks every field and builds the card data; the first bad field is named in the error.
    pub fn parse(&self) -> Result<CardBasicData, AppError> {
        let card_number = self.card_number.trim();
        if card_number.len() != 12 || !card_number.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(invalid("card_number", "must be 12 letters or digits"));
        }
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 20 {
            return Err(invalid("name", "must be 1 to 20 characters"));
        }
        let national_id = national_id::parse(&self.national_id)?;
        let birth_date = roc_date(&self.birth_date, "birth_date")?;
        let sex = match self.sex.trim() {
            "M" | "m" => Sex::Male,
            "F" | "f" => Sex::Female,
            _ => return Err(invalid("sex", "must be M or F")),
        };
        let issue_date = roc_date(&self.issue_date, "issue_date")?;
        if issue_date < birth_date {
            return Err(invalid("issue_date", "is before the birth date"));
        }
        Ok(CardBasicData {
            card_number: card_number.to_string(),
            name: name.to_string(),
            national_id,
            birth_date,
            sex,
            issue_date,
        })
    }
}

/// What the practitioner records about the visit, besides the card data.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct VisitDetails {
    /// National ID of the attending practitioner.
    pub practitioner_id: String,
    /// Visit type (就醫類別, M07), e.g. `01` or `AH`.
    pub visit_type: String,
    /// Visit sequence number (`0001`–`1500`) or an abnormal code such as `F00B`.
    pub sequence_number: String,
    /// ICD-10-CM diagnoses, main first (`G45.0` or `G450`).
    pub diagnoses: Vec<String>,
    /// Free-text clinical note (sealed at rest).
    pub note: String,
    /// Why the visit took an abnormal sequence number, if it did.
    pub abnormal_reason: Option<String>,
}

/// Visit details that passed every check, in the visit's own forms (one home for the checks of a
/// new visit and of a corrected one).
pub(crate) struct CheckedDetails {
    /// M07.
    pub(crate) visit_type: String,
    /// M13.
    pub(crate) sequence_number: String,
    /// The practitioner's national ID.
    pub(crate) practitioner_id: String,
    /// Normalised ICD-10-CM codes, main first.
    pub(crate) diagnoses: Vec<String>,
    /// The clinical note.
    pub(crate) note: String,
    /// Why the visit took an abnormal sequence number.
    pub(crate) abnormal_reason: Option<String>,
}

impl VisitDetails {
    /// Checks every field (visit type, sequence number, practitioner ID, at most
    /// [`super::MAX_DIAGNOSES`] ICD-10-CM diagnoses); the first bad field is named in the error.
    pub(crate) fn check(self) -> Result<CheckedDetails, AppError> {
        use crate::model::{SequenceNumber, VisitType};
        use crate::rules::RuleError;
        let visit_type = VisitType::parse(self.visit_type.trim()).map_err(RuleError::from)?;
        let sequence = SequenceNumber::parse(self.sequence_number.trim()).map_err(RuleError::from)?;
        let practitioner = national_id::parse(&self.practitioner_id)
            .map_err(|_| invalid("practitioner_id", "must be a valid national ID"))?;
        if self.diagnoses.len() > super::MAX_DIAGNOSES {
            return Err(invalid("diagnoses", "at most 6 (M35-M40)"));
        }
        let diagnoses = crate::rules::icd10::parse_all(&self.diagnoses).map_err(RuleError::from)?;
        Ok(CheckedDetails {
            visit_type: visit_type.code().to_string(),
            sequence_number: sequence.code(),
            practitioner_id: practitioner.expose().to_string(),
            diagnoses: diagnoses.into_iter().map(String::from).collect(),
            note: self.note,
            abnormal_reason: self.abnormal_reason,
        })
    }
}

impl std::fmt::Debug for VisitDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VisitDetails")
            .field("visit_type", &self.visit_type)
            .field("sequence_number", &self.sequence_number)
            .finish_non_exhaustive()
    }
}

/// A patient seen without the NHI card (card-less visit): the data typed in from an ID document.
#[derive(Clone, PartialEq, Eq)]
pub struct CardLessPatient {
    /// National ID or resident certificate number (checked, including its check digit).
    pub national_id: String,
    /// Patient's name.
    pub name: String,
    /// Birth date, ROC `YYYMMDD`.
    pub birth_date: String,
}

impl std::fmt::Debug for CardLessPatient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardLessPatient(<redacted>)")
    }
}

impl CardLessPatient {
    /// Checks every field and builds the patient's data as a card would give it: no card number
    /// (empty), sex from the ID's second character, issue date = birth date (no card was issued
    /// that the app knows of). The first bad field is named in the error.
    pub fn parse(&self) -> Result<CardBasicData, AppError> {
        let national_id = national_id::parse(&self.national_id)?;
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 20 {
            return Err(invalid("name", "must be 1 to 20 characters"));
        }
        let birth_date = roc_date(&self.birth_date, "birth_date")?;
        let sex = national_id::sex_of(&national_id);
        Ok(CardBasicData {
            card_number: String::new(),
            name: name.to_string(),
            national_id,
            birth_date,
            sex,
            issue_date: birth_date,
        })
    }
}

fn roc_date(text: &str, field: &'static str) -> Result<chrono::NaiveDate, AppError> {
    RocDate::parse(text.trim())
        .map(RocDate::naive)
        .map_err(|e| invalid(field, &e.kind.to_string()))
}

pub(crate) fn invalid(field: &str, reason: &str) -> AppError {
    AppError::Validation {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn card() -> CardInput {
        CardInput {
            card_number: "000012345678".into(),
            name: "王小明".into(),
            national_id: "A123456789".into(),
            birth_date: "0500101".into(),
            sex: "M".into(),
            issue_date: "1100301".into(),
        }
    }

    #[test]
    fn a_good_card_parses() {
        let c = card().parse().unwrap();
        assert_eq!(c.national_id.expose(), "A123456789");
        assert_eq!(c.birth_date, chrono::NaiveDate::from_ymd_opt(1961, 1, 1).unwrap());
        assert_eq!(c.sex, Sex::Male);
    }

    #[test]
    fn each_bad_field_is_named_without_its_value() {
        type Edit = fn(&mut CardInput);
        let cases: Vec<(Edit, &str)> = vec![
            (|c| c.card_number = "123".into(), "card_number"),
            (|c| c.name = "  ".into(), "name"),
            (|c| c.national_id = "A123456788".into(), "national_id"),
            (|c| c.birth_date = "1130230".into(), "birth_date"),
            (|c| c.sex = "X".into(), "sex"),
            (|c| c.issue_date = "abc".into(), "issue_date"),
            (|c| c.issue_date = "0400101".into(), "issue_date"),
        ];
        for (edit, field) in cases {
            let mut c = card();
            edit(&mut c);
            match c.parse() {
                Err(AppError::Validation { field: f, reason }) => {
                    assert_eq!(f, field);
                    assert!(!reason.contains("A123456788"));
                }
                other => panic!("{field}: expected a validation error, got {other:?}"),
            }
        }
    }

    #[test]
    fn debug_is_redacted() {
        assert!(!format!("{:?}", card()).contains("A123456789"));
    }
}
