//! Visit caps and the 3-month rule (HMIC plan, seed 001 "服務人次上限", domain §6, §10).
//!
//! A doctor sees about 8 patients a day and 180 a month (240 for a dedicated home-care doctor,
//! 居家醫療專任醫師). The caps are a claims matter: the app **warns before the visit and never
//! blocks care** — [`cap_warnings`] returns warnings, never an error. The attending doctor visits each
//! case at least once every 3 months (a case with no visit for 3 consecutive months is not paid for
//! that period): [`attending_visits_due`] lists the cases coming due and those overdue.
//!
//! The case management fee (個案管理費, 600 points/person/year) is not paid for a period of 3
//! consecutive calendar months without a visit (seed 001 "連續3個月未訪視不支付該區間費用"):
//! [`unpaid_fee_periods`] lists those periods, and the one that a visit this month would still save.
//!
//! Assumption: "every 3 months" is 3 calendar months from the last attending-doctor visit (same day
//! of the month, or the month's last day when it has fewer days).

use chrono::{Datelike, Months, NaiveDate};

/// Doctor visits a day before the app warns (8人次/日為原則).
pub const DAILY_CAP: u32 = 8;
/// Doctor visits a month before the app warns (180人次/月).
pub const MONTHLY_CAP: u32 = 180;
/// Monthly cap of a dedicated home-care doctor.
pub const DEDICATED_MONTHLY_CAP: u32 = 240;
/// Months between attending-doctor visits at most.
pub const ATTENDING_VISIT_MONTHS: u32 = 3;

/// A cap the planned visit would exceed: shown to the doctor, never a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapWarning {
    /// The planned visit is beyond the daily cap.
    Daily {
        /// Which visit of the day it would be (1-based).
        visit_number: u32,
        /// The cap.
        cap: u32,
    },
    /// The planned visit is beyond the monthly cap.
    Monthly {
        /// Which visit of the month it would be (1-based).
        visit_number: u32,
        /// The cap that applies to this doctor.
        cap: u32,
    },
}

/// The doctor's monthly cap.
pub fn monthly_cap(dedicated_home_care: bool) -> u32 {
    if dedicated_home_care {
        DEDICATED_MONTHLY_CAP
    } else {
        MONTHLY_CAP
    }
}

/// Warnings for a planned visit, given the doctor's visits already made today and this month.
pub fn cap_warnings(done_today: u32, done_this_month: u32, dedicated_home_care: bool) -> Vec<CapWarning> {
    let mut warnings = Vec::new();
    let day_number = done_today.saturating_add(1);
    if day_number > DAILY_CAP {
        warnings.push(CapWarning::Daily {
            visit_number: day_number,
            cap: DAILY_CAP,
        });
    }
    let month_number = done_this_month.saturating_add(1);
    let cap = monthly_cap(dedicated_home_care);
    if month_number > cap {
        warnings.push(CapWarning::Monthly {
            visit_number: month_number,
            cap,
        });
    }
    warnings
}

/// A case and its last attending-doctor visit (Taiwan date).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseLastVisit {
    /// The case (no patient data).
    pub case_id: String,
    /// The last attending-doctor visit; for a case never visited, its acceptance date.
    pub last_attending_visit: NaiveDate,
}

/// A case whose attending-doctor visit is coming due or overdue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCase {
    /// The case.
    pub case_id: String,
    /// The last day the visit is due by.
    pub due: NaiveDate,
    /// Days from `today` to `due` (negative when overdue).
    pub days_left: i64,
    /// Past its due day.
    pub overdue: bool,
}

/// The last day an attending-doctor visit is due after one on `last`.
pub fn attending_visit_due(last: NaiveDate) -> NaiveDate {
    // Adding 3 months overflows only at chrono's maximum date; stay on that date then.
    last.checked_add_months(Months::new(ATTENDING_VISIT_MONTHS))
        .unwrap_or(NaiveDate::MAX)
}

/// The cases due within `within_days` of `today` or overdue, most urgent first.
pub fn attending_visits_due(cases: &[CaseLastVisit], today: NaiveDate, within_days: u32) -> Vec<DueCase> {
    let mut due: Vec<DueCase> = cases
        .iter()
        .filter_map(|c| {
            let due = attending_visit_due(c.last_attending_visit);
            let days_left = (due - today).num_days();
            (days_left <= i64::from(within_days)).then(|| DueCase {
                case_id: c.case_id.clone(),
                due,
                days_left,
                overdue: days_left < 0,
            })
        })
        .collect();
    due.sort_by(|a, b| a.due.cmp(&b.due).then_with(|| a.case_id.cmp(&b.case_id)));
    due
}

/// Consecutive calendar months without a visit after which the case management fee is not paid.
pub const UNPAID_FEE_MONTHS: u32 = 3;

/// A case's visits by calendar month (Taiwan time), from the month it was taken on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseVisitMonths {
    /// The case (no patient data).
    pub case_id: String,
    /// The first month of the case (any day of it).
    pub first_month: NaiveDate,
    /// The months with at least one visit (any day of each).
    pub visited_months: Vec<NaiveDate>,
}

/// Where a period without visits stands for the case management fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeePeriodStatus {
    /// 3 or more whole months without a visit: the fee of this period is not paid.
    NotPaid,
    /// The 2 months before this one had no visit and this month has none yet: a visit before
    /// the month ends saves the period.
    AtRisk,
}

/// A period of consecutive months without a visit that costs (or may cost) the case management fee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeePeriod {
    /// The case.
    pub case_id: String,
    /// First day of the first month without a visit.
    pub from_month: NaiveDate,
    /// First day of the last month without a visit (the current month when `ongoing`).
    pub to_month: NaiveDate,
    /// Whole months without a visit (the current month not counted: it is not over).
    pub months: u32,
    /// Not paid, or at risk.
    pub status: FeePeriodStatus,
    /// The period runs into the current month.
    pub ongoing: bool,
}

/// The first day of `d`'s month.
pub fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// The periods without a visit of each case from its first month to `current` (a day of the
/// current month): runs of at least [`UNPAID_FEE_MONTHS`] whole months are [`FeePeriodStatus::NotPaid`];
/// a run reaching the current month with one month short is [`FeePeriodStatus::AtRisk`]. Ordered by
/// case, then month.
pub fn unpaid_fee_periods(cases: &[CaseVisitMonths], current: NaiveDate) -> Vec<FeePeriod> {
    let current = month_start(current);
    let mut out = Vec::new();
    for case in cases {
        let visited: std::collections::BTreeSet<NaiveDate> =
            case.visited_months.iter().map(|d| month_start(*d)).collect();
        let mut month = month_start(case.first_month);
        let mut run_start: Option<NaiveDate> = None;
        let mut run_len: u32 = 0;
        let close = |start: NaiveDate, last: NaiveDate, len: u32, ongoing: bool, out: &mut Vec<FeePeriod>| {
            // The current month is not over: it does not count as a whole month yet.
            let whole = if ongoing { len - 1 } else { len };
            let status = if whole >= UNPAID_FEE_MONTHS {
                FeePeriodStatus::NotPaid
            } else if ongoing && whole + 1 == UNPAID_FEE_MONTHS {
                FeePeriodStatus::AtRisk
            } else {
                return;
            };
            out.push(FeePeriod {
                case_id: case.case_id.clone(),
                from_month: start,
                to_month: last,
                months: whole,
                status,
                ongoing,
            });
        };
        while month <= current {
            let previous = month;
            if visited.contains(&month) {
                if let Some(start) = run_start.take() {
                    let last = month.checked_sub_months(Months::new(1)).unwrap_or(month);
                    close(start, last, run_len, false, &mut out);
                }
                run_len = 0;
            } else {
                run_start.get_or_insert(month);
                run_len += 1;
            }
            // Past chrono's last month there is nothing left to walk.
            match month.checked_add_months(Months::new(1)) {
                Some(next) => month = next,
                None => break,
            }
            if month <= previous {
                break;
            }
        }
        if let Some(start) = run_start {
            close(start, current, run_len, true, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn eighth_visit_of_a_day_is_not_warned() {
        assert_eq!(cap_warnings(7, 7, false), vec![]);
    }

    #[test]
    fn ninth_visit_of_a_day_is_warned() {
        assert_eq!(
            cap_warnings(8, 8, false),
            vec![CapWarning::Daily {
                visit_number: 9,
                cap: 8
            }]
        );
    }

    #[test]
    fn the_180th_visit_of_a_month_is_not_warned() {
        assert_eq!(cap_warnings(0, 179, false), vec![]);
    }

    #[test]
    fn the_181st_visit_of_a_month_is_warned() {
        assert_eq!(
            cap_warnings(0, 180, false),
            vec![CapWarning::Monthly {
                visit_number: 181,
                cap: 180
            }]
        );
    }

    #[test]
    fn a_dedicated_home_care_doctor_is_warned_at_the_241st() {
        assert_eq!(cap_warnings(0, 180, true), vec![]);
        assert_eq!(cap_warnings(0, 239, true), vec![]);
        assert_eq!(
            cap_warnings(0, 240, true),
            vec![CapWarning::Monthly {
                visit_number: 241,
                cap: 240
            }]
        );
    }

    #[test]
    fn both_caps_can_warn_at_once_and_counts_never_overflow() {
        assert_eq!(cap_warnings(u32::MAX, u32::MAX, false).len(), 2);
    }

    #[test]
    fn attending_visit_is_due_3_months_after_the_last() {
        assert_eq!(attending_visit_due(d(2026, 9, 15)), d(2026, 12, 15));
        // A month-end visit: the shorter month's last day.
        assert_eq!(attending_visit_due(d(2026, 11, 30)), d(2027, 2, 28));
    }

    #[test]
    fn cases_coming_due_and_overdue_are_listed_most_urgent_first() {
        let case = |id: &str, last| CaseLastVisit {
            case_id: id.into(),
            last_attending_visit: last,
        };
        let today = d(2026, 12, 1);
        let cases = [
            case("far", d(2026, 11, 1)),     // due 2027-02-01
            case("soon", d(2026, 9, 10)),    // due 2026-12-10: in 9 days
            case("today", d(2026, 9, 1)),    // due today: not overdue yet
            case("overdue", d(2026, 8, 20)), // due 2026-11-20
        ];
        let due = attending_visits_due(&cases, today, 14);
        let ids: Vec<_> = due
            .iter()
            .map(|c| (c.case_id.as_str(), c.days_left, c.overdue))
            .collect();
        assert_eq!(
            ids,
            vec![("overdue", -11, true), ("today", 0, false), ("soon", 9, false)]
        );
        // With a window of 0 days only today's and the overdue case remain.
        assert_eq!(attending_visits_due(&cases, today, 0).len(), 2);
    }

    fn month_case(id: &str, first: NaiveDate, visited: &[NaiveDate]) -> CaseVisitMonths {
        CaseVisitMonths {
            case_id: id.into(),
            first_month: first,
            visited_months: visited.to_vec(),
        }
    }

    #[test]
    fn three_consecutive_months_without_a_visit_are_not_paid() {
        // Visits in January and May: February–April (3 whole months) without one.
        let case = month_case("c", d(2026, 1, 10), &[d(2026, 1, 10), d(2026, 5, 3)]);
        let periods = unpaid_fee_periods(&[case], d(2026, 6, 15));
        assert_eq!(
            periods,
            vec![FeePeriod {
                case_id: "c".into(),
                from_month: d(2026, 2, 1),
                to_month: d(2026, 4, 1),
                months: 3,
                status: FeePeriodStatus::NotPaid,
                ongoing: false,
            }]
        );
    }

    #[test]
    fn two_months_without_a_visit_are_still_paid() {
        let case = month_case("c", d(2026, 1, 10), &[d(2026, 1, 10), d(2026, 4, 3)]);
        assert_eq!(unpaid_fee_periods(&[case], d(2026, 4, 15)), vec![]);
    }

    #[test]
    fn the_third_month_without_a_visit_is_at_risk_until_it_ends() {
        // Last visit in September; October and November without: December is the third month.
        let case = month_case("c", d(2026, 9, 1), &[d(2026, 9, 20)]);
        let periods = unpaid_fee_periods(std::slice::from_ref(&case), d(2026, 12, 1));
        assert_eq!(periods.len(), 1);
        assert_eq!(periods[0].status, FeePeriodStatus::AtRisk);
        assert_eq!((periods[0].months, periods[0].ongoing), (2, true));
        // In January the December run is whole: not paid, and still running.
        let periods = unpaid_fee_periods(&[case], d(2027, 1, 5));
        assert_eq!(periods[0].status, FeePeriodStatus::NotPaid);
        assert_eq!((periods[0].from_month, periods[0].months), (d(2026, 10, 1), 3));
    }

    #[test]
    fn a_case_visited_every_month_has_no_fee_period() {
        let months: Vec<_> = (1..=12).map(|m| d(2026, m, 28)).collect();
        let case = month_case("c", d(2026, 1, 1), &months);
        assert_eq!(unpaid_fee_periods(&[case], d(2026, 12, 31)), vec![]);
    }
}
