//! Taiwan national ID and resident certificate numbers: format, check digit, sex.

use super::RuleError;
use crate::model::NationalId;

/// Parses and validates a national ID (letter + 9 digits with check digit).
pub fn parse(value: &str) -> Result<NationalId, RuleError> {
    let upper = value.trim().to_ascii_uppercase();
    let b = upper.as_bytes();
    let bad = |reason: &str| RuleError::Invalid {
        field: "national_id",
        reason: reason.to_string(),
    };
    if b.len() != 10 || !b[0].is_ascii_uppercase() || !b[1..].iter().all(u8::is_ascii_digit) {
        return Err(bad("must be one letter and 9 digits"));
    }
    // Letter values A=10 … Z=33 in the official (non-alphabetical) order.
    const LETTERS: &[u8; 26] = b"ABCDEFGHJKLMNPQRSTUVXYWZIO";
    let pos = LETTERS
        .iter()
        .position(|&c| c == b[0])
        .ok_or_else(|| bad("unknown area letter"))?;
    let code = 10 + pos as u32;
    let mut sum = code / 10 + (code % 10) * 9;
    for (i, &d) in b[1..9].iter().enumerate() {
        sum += u32::from(d - b'0') * (8 - i as u32);
    }
    sum += u32::from(b[9] - b'0');
    if sum % 10 != 0 {
        return Err(bad("check digit does not match"));
    }
    Ok(NationalId::from_checked(upper))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_valid_and_invalid() {
        assert!(parse("A123456789").is_ok());
        assert!(parse("a123456789").is_ok());
        assert!(parse("A123456788").is_err());
        assert!(parse("A12345678").is_err());
        assert!(parse("1123456789").is_err());
    }
}
