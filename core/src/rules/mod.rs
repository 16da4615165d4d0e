//! Pure NHI rules: national IDs, visit identification codes, sequence codes, visit types, ICD-10-CM,
//! and the audit rules (issue 14): the working-day calendar and card replacement, emergency visits
//! and their surcharge, visit caps and the 3-month attending-doctor rule.
//! Rules stand on `model` (which owns the value types and their invariants), never the reverse.

pub mod calendar;
pub mod caps;
pub mod correction;
pub mod emergency;
pub mod fees;
pub mod hmic;
pub mod icd10;
pub mod national_id;
pub mod visit_code;

pub use icd10::{Icd10Code, Icd10Error};
pub use visit_code::{VisitCode, VisitCodeError, VisitCodeGenerator, VisitCodeInput};

/// A value broke an NHI format rule. Messages name the field and the rule, never the value itself
/// (it may be patient data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The value does not have the shape the field needs.
    #[error("{field}: {reason}")]
    Invalid {
        /// Which field (e.g. "national_id", "roc_date").
        field: &'static str,
        /// What is wrong, without the value.
        reason: String,
    },
}

impl From<crate::model::IdError> for RuleError {
    fn from(e: crate::model::IdError) -> Self {
        RuleError::Invalid {
            field: e.field,
            reason: e.reason.to_string(),
        }
    }
}

impl From<crate::model::RocError> for RuleError {
    fn from(e: crate::model::RocError) -> Self {
        RuleError::Invalid {
            field: e.field,
            reason: e.kind.to_string(),
        }
    }
}

impl From<crate::model::CodeError> for RuleError {
    fn from(e: crate::model::CodeError) -> Self {
        RuleError::Invalid {
            field: e.field,
            reason: e.reason.to_string(),
        }
    }
}
