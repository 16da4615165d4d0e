//! The visit frequency of a care plan and the next visit date it proposes (seed 000 §肆 (六) 4
//! (2): "登打完訪視日期時，系統會依照照護計畫之訪視頻率，預設帶入下次訪視日期").
//!
//! A frequency is `times` visits every `every` days / weeks / months (每 2 週 1 次, 每月 2 次).
//! The proposal, decided here and shared by both sides:
//! - one visit per period: the visit date plus the period; months are calendar months with the
//!   day clamped to the month's end (01-31 + 1 month → 02-28, or 02-29 in a leap year);
//! - several visits per period: the period's length in days (months: the calendar days from the
//!   visit date to the same day `every` months later) divided by `times`, rounded down, at least
//!   one day.

use super::rules::Violation;
use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// The unit of a visit frequency's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrequencyUnit {
    /// Days.
    Day,
    /// Weeks.
    Week,
    /// Calendar months.
    Month,
}

impl FrequencyUnit {
    /// The stable name (`day`, `week`, `month`).
    pub fn as_str(self) -> &'static str {
        match self {
            FrequencyUnit::Day => "day",
            FrequencyUnit::Week => "week",
            FrequencyUnit::Month => "month",
        }
    }

    /// Parses a stable name.
    pub fn parse(name: &str) -> Option<Self> {
        [FrequencyUnit::Day, FrequencyUnit::Week, FrequencyUnit::Month]
            .into_iter()
            .find(|u| u.as_str() == name)
    }

    /// The longest period accepted in this unit (one year).
    pub fn max_every(self) -> u16 {
        match self {
            FrequencyUnit::Day => 365,
            FrequencyUnit::Week => 52,
            FrequencyUnit::Month => 12,
        }
    }
}

/// `times` visits every `every` `unit`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VisitFrequency {
    /// Visits per period (1–31).
    pub times: u8,
    /// The period's length in `unit`s (1 up to a year).
    pub every: u16,
    /// The period's unit.
    pub unit: FrequencyUnit,
}

impl VisitFrequency {
    /// Checks the ranges (field `frequency`).
    pub fn check(&self) -> Result<(), Violation> {
        if !(1..=self.unit.max_every()).contains(&self.every) {
            return Err(Violation::invalid(
                "frequency.every",
                "the period must be 1 up to one year",
            ));
        }
        if !(1..=31).contains(&self.times) {
            return Err(Violation::invalid("frequency.times", "must be 1 to 31 visits"));
        }
        if self.unit == FrequencyUnit::Day && u16::from(self.times) > self.every {
            return Err(Violation::invalid("frequency.times", "at most one visit per day"));
        }
        Ok(())
    }
}

fn period_end(from: NaiveDate, f: &VisitFrequency) -> Option<NaiveDate> {
    match f.unit {
        FrequencyUnit::Day => from.checked_add_days(chrono::Days::new(u64::from(f.every))),
        FrequencyUnit::Week => from.checked_add_days(chrono::Days::new(7 * u64::from(f.every))),
        // chrono clamps the day to the month's end.
        FrequencyUnit::Month => from.checked_add_months(Months::new(u32::from(f.every))),
    }
}

/// The next visit date proposed after a visit on `visit_date` under `frequency` (see the module
/// docs for the rule).
pub fn next_visit_date(visit_date: NaiveDate, frequency: &VisitFrequency) -> Result<NaiveDate, Violation> {
    frequency.check()?;
    let end = period_end(visit_date, frequency)
        .ok_or_else(|| Violation::invalid("visit_date", "outside the calendar"))?;
    if frequency.times == 1 {
        return Ok(end);
    }
    let days = (end - visit_date).num_days() / i64::from(frequency.times);
    visit_date
        .checked_add_days(chrono::Days::new(days.max(1) as u64))
        .ok_or_else(|| Violation::invalid("visit_date", "outside the calendar"))
}
