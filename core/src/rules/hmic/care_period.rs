//! The care period (照護期間): at most 24 months; above 12 the user is warned.

use super::{Violation, Warning};

/// Longest care period in months.
pub const MAX_MONTHS: u32 = 24;
/// Above this many months the user is warned.
pub const WARN_MONTHS: u32 = 12;

/// Checks the care period; a warning above 12 months.
pub fn check(months: u32) -> Result<Option<Warning>, Violation> {
    if months == 0 || months > MAX_MONTHS {
        return Err(Violation::invalid(
            "care_months",
            "care_period_at_most_24_months",
            "must be 1 to 24 months",
        ));
    }
    Ok((months > WARN_MONTHS).then_some(Warning {
        field: "care_months",
        rule: "care_period_warn_above_12_months",
    }))
}
