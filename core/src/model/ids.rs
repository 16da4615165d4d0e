//! Identifiers of people and places: national ID / resident certificate numbers, institution codes,
//! card numbers. Each type holds a value that passed its format check; none prints its value in
//! `Debug` (patient data must not reach logs or panic messages).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A shape check failed; names the field, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct IdError {
    /// Which identifier.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Sex as recorded on the NHI card and derivable from the national ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sex {
    /// `M` on the card; ID second digit 1 (or 8 on the new resident certificate).
    Male,
    /// `F` on the card; ID second digit 2 (or 9 on the new resident certificate).
    Female,
}

impl Sex {
    /// The card's one-letter form.
    pub fn card_letter(self) -> char {
        match self {
            Sex::Male => 'M',
            Sex::Female => 'F',
        }
    }
}

/// Letter values of the first (area) letter: `A`=10 … `Z`=33 in the official, non-alphabetical
/// order (`I`, `O`, `W`, `Z` come late because they were added later).
const AREA_LETTERS: &[u8; 26] = b"ABCDEFGHJKLMNPQRSTUVXYWZIO";

/// The numeric value (10–35) of an ID letter, or `None` for a byte that is not an upper-case letter.
pub fn id_letter_value(letter: u8) -> Option<u32> {
    AREA_LETTERS
        .iter()
        .position(|&c| c == letter)
        .map(|p| 10 + p as u32)
}

/// A Taiwan national ID or resident certificate number, validated including its check digit.
/// Stored upper-case. Three forms are accepted:
/// - national ID: area letter + `1`/`2` (sex) + 8 digits (the last is the check digit);
/// - resident certificate, old form: area letter + `A`–`D` + 8 digits;
/// - resident certificate, 2021 form: area letter + `8`/`9` (sex) + 8 digits.
///
/// `rules::national_id` tells the forms apart and derives sex from them.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NationalId(String);

impl NationalId {
    /// Checks shape and check digit of a typed or read value (trimmed, upper-cased first).
    pub fn parse(value: &str) -> Result<Self, IdError> {
        let bad = |reason: &'static str| IdError {
            field: "national_id",
            reason,
        };
        let upper = value.trim().to_ascii_uppercase();
        let b = upper.as_bytes();
        if b.len() != 10 {
            return Err(bad("must be 10 characters"));
        }
        let area = id_letter_value(b[0]).ok_or_else(|| bad("must start with a letter A-Z"))?;
        if !b[2..].iter().all(u8::is_ascii_digit) {
            return Err(bad("characters 3-10 must be digits"));
        }
        // The second character counts with its units digit: a digit as itself, an old-form
        // resident letter A–D by the units digit of its letter value (A=10 → 0 … D=13 → 3).
        let second = match b[1] {
            b'1' | b'2' | b'8' | b'9' => u32::from(b[1] - b'0'),
            b'A'..=b'D' => id_letter_value(b[1]).map_or(0, |v| v % 10),
            _ => return Err(bad("second character must be 1, 2, 8, 9 or A-D")),
        };
        // Weights: area tens 1, area units 9, then 8, 7, …, 1 for characters 2–9, check digit 1.
        let mut sum = area / 10 + (area % 10) * 9 + second * 8;
        for (i, &d) in b[2..9].iter().enumerate() {
            sum += u32::from(d - b'0') * (7 - i as u32);
        }
        sum += u32::from(b[9] - b'0');
        if sum % 10 != 0 {
            return Err(bad("check digit does not match"));
        }
        Ok(Self(upper))
    }

    /// The clear value: handle with care (seal it at rest, never log it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NationalId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl std::str::FromStr for NationalId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<NationalId> for String {
    fn from(id: NationalId) -> String {
        id.0
    }
}

impl fmt::Debug for NationalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NationalId(<redacted>)")
    }
}

/// A 10-digit NHI medical institution code (醫事機構代碼).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstitutionCode(String);

impl InstitutionCode {
    /// Checks the shape: exactly 10 ASCII digits.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        if value.len() == 10 && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(value.to_string()))
        } else {
            Err(IdError {
                field: "institution_code",
                reason: "must be 10 digits",
            })
        }
    }
    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for InstitutionCode {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<InstitutionCode> for String {
    fn from(code: InstitutionCode) -> String {
        code.0
    }
}

impl fmt::Display for InstitutionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn national_ids_with_valid_check_digits() {
        assert_eq!(NationalId::parse("A123456789").unwrap().expose(), "A123456789");
        assert_eq!(NationalId::parse(" a123456789 ").unwrap().expose(), "A123456789");
        assert!(NationalId::parse("F131104093").is_ok());
        assert!(NationalId::parse("B234567891").is_err(), "check digit mismatch");
    }

    #[test]
    fn resident_certificates_both_forms() {
        // Old form (letter + A-D + 8 digits) and the 2021 form (letter + 8/9 + 8 digits).
        assert!(NationalId::parse("AC01234567").is_ok());
        assert!(NationalId::parse("AC01234568").is_err());
        assert!(NationalId::parse("A800000014").is_ok());
        assert!(NationalId::parse("A900000016").is_ok());
        assert!(NationalId::parse("AE01234567").is_err(), "second letter beyond D");
    }

    #[test]
    fn wrong_shapes_name_the_reason_not_the_value() {
        let reason = |s: &str| NationalId::parse(s).unwrap_err().reason;
        assert_eq!(reason("A123456788"), "check digit does not match");
        assert_eq!(reason("A12345678"), "must be 10 characters");
        assert_eq!(reason("1123456789"), "must start with a letter A-Z");
        assert_eq!(reason("A323456789"), "second character must be 1, 2, 8, 9 or A-D");
        assert_eq!(reason("A12345678X"), "characters 3-10 must be digits");
        assert_eq!(reason("Ａ12345678"), "must be 10 characters");
        let msg = NationalId::parse("A123456788").unwrap_err().to_string();
        assert!(!msg.contains("A123456788"), "{msg}");
    }

    #[test]
    fn digit_changes_at_weights_coprime_to_ten_are_caught() {
        // The official check digit is a weighted sum mod 10: a change is caught whenever the weight
        // of its position is coprime to 10 (weights 7, 3, 1 at characters 3, 7, 9 and the check
        // digit). Changes at even weights or weight 5 can slip through; that is the NHI's design.
        let good = "A123456789";
        for pos in [2usize, 6, 8, 9] {
            for d in b'0'..=b'9' {
                let mut b = good.as_bytes().to_vec();
                if b[pos] == d {
                    continue;
                }
                b[pos] = d;
                let s = String::from_utf8(b).unwrap();
                assert!(NationalId::parse(&s).is_err(), "{s} must fail");
            }
        }
    }

    #[test]
    fn debug_is_redacted_and_serde_validates() {
        let id = NationalId::parse("A123456789").unwrap();
        assert_eq!(format!("{id:?}"), "NationalId(<redacted>)");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"A123456789\"");
        assert_eq!(serde_json::from_str::<NationalId>("\"A123456789\"").unwrap(), id);
        assert!(serde_json::from_str::<NationalId>("\"A123456788\"").is_err());
    }

    #[test]
    fn institution_code_is_ten_digits() {
        assert!(InstitutionCode::parse("3501200000").is_ok());
        assert!(InstitutionCode::parse("350120000").is_err());
        assert!(InstitutionCode::parse("350120000A").is_err());
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC{0,14}") {
            let _ = NationalId::parse(&s);
            let _ = InstitutionCode::parse(&s);
        }

        #[test]
        fn exactly_one_check_digit_fits(area in "[A-Z]", second in "[1289A-D]", body in "[0-9]{7}") {
            let valid: Vec<String> = (0..10)
                .map(|c| format!("{area}{second}{body}{c}"))
                .filter(|s| NationalId::parse(s).is_ok())
                .collect();
            prop_assert_eq!(valid.len(), 1);
            let id = NationalId::parse(&valid[0]).unwrap();
            prop_assert_eq!(NationalId::parse(id.expose()).unwrap(), id);
        }
    }
}
