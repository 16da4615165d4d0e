//! Taiwan national ID and resident certificate numbers: which form a number is, sex, issuing area.
//!
//! The format and check digit are the invariant of [`NationalId`] (in `model::ids`); this module
//! holds the rules around it.

use super::RuleError;
use crate::model::{NationalId, Sex};

/// Parses and validates a national ID or resident certificate number (shape and check digit).
pub fn parse(value: &str) -> Result<NationalId, RuleError> {
    Ok(NationalId::parse(value)?)
}

/// The form of an identity number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdForm {
    /// National ID of a citizen (國民身分證): letter + `1`/`2` + 8 digits.
    Citizen,
    /// Resident certificate, old form (舊式居留證): letter + `A`–`D` + 8 digits.
    ResidentOld,
    /// Resident certificate, 2021 form (新式統一證號): letter + `8`/`9` + 8 digits.
    ResidentNew,
}

/// Which form a validated number has.
pub fn form_of(id: &NationalId) -> IdForm {
    match id.expose().as_bytes()[1] {
        b'1' | b'2' => IdForm::Citizen,
        b'8' | b'9' => IdForm::ResidentNew,
        // `NationalId::parse` only lets 1, 2, 8, 9 and A–D through.
        _ => IdForm::ResidentOld,
    }
}

/// Sex encoded in the number: `1`/`8` and old-form `A`/`C` male; `2`/`9` and `B`/`D` female.
pub fn sex_of(id: &NationalId) -> Sex {
    match id.expose().as_bytes()[1] {
        b'1' | b'8' | b'A' | b'C' => Sex::Male,
        // `NationalId::parse` only lets 2, 9, B, D through besides the male markers.
        _ => Sex::Female,
    }
}

/// True when the number belongs to a foreign or stateless resident (either resident form).
pub fn is_resident_certificate(id: &NationalId) -> bool {
    form_of(id) != IdForm::Citizen
}

/// The place of first registration encoded by the first letter (Chinese name).
pub fn area_of(id: &NationalId) -> &'static str {
    match id.expose().as_bytes()[0] {
        b'A' => "臺北市",
        b'B' => "臺中市",
        b'C' => "基隆市",
        b'D' => "臺南市",
        b'E' => "高雄市",
        b'F' => "新北市",
        b'G' => "宜蘭縣",
        b'H' => "桃園市",
        b'I' => "嘉義市",
        b'J' => "新竹縣",
        b'K' => "苗栗縣",
        b'L' => "臺中縣",
        b'M' => "南投縣",
        b'N' => "彰化縣",
        b'O' => "新竹市",
        b'P' => "雲林縣",
        b'Q' => "嘉義縣",
        b'R' => "臺南縣",
        b'S' => "高雄縣",
        b'T' => "屏東縣",
        b'U' => "花蓮縣",
        b'V' => "臺東縣",
        b'W' => "金門縣",
        b'X' => "澎湖縣",
        b'Y' => "陽明山管理局",
        _ => "連江縣",
    }
}

/// Checks that the sex printed on the card agrees with the sex encoded in the number.
pub fn check_sex(id: &NationalId, card_sex: Sex) -> Result<(), RuleError> {
    if sex_of(id) == card_sex {
        Ok(())
    } else {
        Err(RuleError::Invalid {
            field: "sex",
            reason: "does not match the sex encoded in the national ID".to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(s: &str) -> NationalId {
        parse(s).unwrap()
    }

    #[test]
    fn known_valid_and_invalid() {
        assert!(parse("A123456789").is_ok());
        assert!(parse("a123456789").is_ok());
        assert!(parse("A123456788").is_err());
        assert!(parse("A12345678").is_err());
        assert!(parse("1123456789").is_err());
        let e = parse("A123456788").unwrap_err();
        assert_eq!(
            e,
            RuleError::Invalid {
                field: "national_id",
                reason: "check digit does not match".into()
            }
        );
    }

    #[test]
    fn forms_and_sex() {
        assert_eq!(form_of(&id("A123456789")), IdForm::Citizen);
        assert_eq!(sex_of(&id("A123456789")), Sex::Male);
        assert_eq!(sex_of(&id("B234567894")), Sex::Female);
        assert_eq!(form_of(&id("AC01234567")), IdForm::ResidentOld);
        assert_eq!(sex_of(&id("AC01234567")), Sex::Male);
        assert_eq!(form_of(&id("A800000014")), IdForm::ResidentNew);
        assert_eq!(sex_of(&id("A800000014")), Sex::Male);
        assert_eq!(sex_of(&id("A900000016")), Sex::Female);
        assert!(is_resident_certificate(&id("A900000016")));
        assert!(!is_resident_certificate(&id("A123456789")));
        assert_eq!(area_of(&id("A123456789")), "臺北市");
        assert_eq!(area_of(&id("F131104093")), "新北市");
    }

    #[test]
    fn card_sex_must_agree() {
        assert!(check_sex(&id("A123456789"), Sex::Male).is_ok());
        let e = check_sex(&id("A123456789"), Sex::Female).unwrap_err();
        assert!(!e.to_string().contains("A123456789"));
    }

    proptest! {
        #[test]
        fn rules_never_panic_on_any_valid_id(area in "[A-Z]", second in "[1289A-D]", body in "[0-9]{7}") {
            for c in 0..10 {
                if let Ok(n) = parse(&format!("{area}{second}{body}{c}")) {
                    let sex = sex_of(&n);
                    let male = matches!(second.as_str(), "1" | "8" | "A" | "C");
                    prop_assert_eq!(sex == Sex::Male, male);
                    let _ = area_of(&n);
                    prop_assert_eq!(is_resident_certificate(&n), second != "1" && second != "2");
                }
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,14}") {
            let _ = parse(&s);
        }
    }
}
