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

/// A Taiwan national ID or resident certificate number, validated including its check digit
/// (see `rules::national_id`). Stored upper-case.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NationalId(String);

impl NationalId {
    /// The clear value: handle with care (seal it at rest, never log it).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Wraps a value already checked by `rules::national_id::parse`.
    pub(crate) fn from_checked(value: String) -> Self {
        Self(value)
    }
}

impl TryFrom<String> for NationalId {
    type Error = crate::rules::RuleError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        crate::rules::national_id::parse(&value)
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
