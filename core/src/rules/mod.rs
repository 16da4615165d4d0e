//! Pure NHI rules: national IDs, visit identification codes, sequence codes, visit types, ICD-10-CM.

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

pub mod national_id;
