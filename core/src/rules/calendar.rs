//! Taiwan's working-day calendar: weekends, national holidays and make-up working Saturdays
//! (補行上班), shipped as data (`data/tw_holidays.txt`, with its sources) for the years it names.
//! A date in a year the data does not cover is an error ([`CalendarError::YearNotCovered`]), never a
//! guess. Also the card-replacement rule built on it: a patient seen without the NHI card brings it
//! within 10 working days ([`check_replacement`]).
//!
//! Counting: "within `n` working days of a date" means the `n`-th working day after that date (the
//! date itself not counted) is the last one allowed.

use chrono::{Datelike, NaiveDate, Weekday};
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// The shipped calendar data (see its header for sources and assumptions).
const TAIWAN_DATA: &str = include_str!("data/tw_holidays.txt");

/// Working days a patient has to bring the card after a card-less visit (補卡).
pub const REPLACEMENT_WORKING_DAYS: u32 = 10;

/// The calendar could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The date lies in a year the holiday data does not cover.
    #[error("the holiday calendar does not cover {year} (it covers {}–{})", covered.0, covered.1)]
    YearNotCovered {
        /// The year asked about.
        year: i32,
        /// First and last year covered.
        covered: (i32, i32),
    },
    /// The calendar data is malformed (line number, 1-based, and what is wrong).
    #[error("holiday data line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// A working-day calendar over a contiguous range of covered years.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingDays {
    first_year: i32,
    last_year: i32,
    /// Weekdays that are days off (national holidays, 補假, adjusted days off).
    days_off: BTreeSet<NaiveDate>,
    /// Saturdays or Sundays that are working days (補行上班).
    working_weekend_days: BTreeSet<NaiveDate>,
}

impl WorkingDays {
    /// Taiwan's calendar from the shipped data (parsed once).
    pub fn taiwan() -> &'static WorkingDays {
        static CAL: OnceLock<WorkingDays> = OnceLock::new();
        // The shipped file is a constant checked by `shipped_taiwan_data_parses`.
        CAL.get_or_init(|| WorkingDays::parse(TAIWAN_DATA).expect("shipped holiday data parses (tested)"))
    }

    /// Parses calendar data in the `data/tw_holidays.txt` format; the covered years must be contiguous.
    pub fn parse(text: &str) -> Result<WorkingDays, CalendarError> {
        let mut years: Vec<i32> = Vec::new();
        let mut days_off = BTreeSet::new();
        let mut working_weekend_days = BTreeSet::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let bad = |reason| CalendarError::Malformed { line, reason };
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let mut parts = content.split_whitespace();
            let (Some(first), Some(second)) = (parts.next(), parts.next()) else {
                return Err(bad("expected `year YYYY` or `YYYY-MM-DD off|work name`"));
            };
            if first == "year" {
                let year: i32 = second.parse().map_err(|_| bad("year is not a number"))?;
                if let Some(&prev) = years.last()
                    && year != prev + 1
                {
                    return Err(bad("covered years must be contiguous and ascending"));
                }
                years.push(year);
                continue;
            }
            let date = NaiveDate::parse_from_str(first, "%Y-%m-%d").map_err(|_| bad("bad date"))?;
            if years.last() != Some(&date.year()) {
                return Err(bad("date outside the year it is listed under"));
            }
            let weekend = is_weekend(date);
            match second {
                "off" if !weekend => {
                    days_off.insert(date);
                }
                "off" => return Err(bad("a weekend day is listed as a day off")),
                "work" if weekend => {
                    working_weekend_days.insert(date);
                }
                "work" => return Err(bad("a weekday is listed as a working day")),
                _ => return Err(bad("kind must be `off` or `work`")),
            }
        }
        let (Some(&first_year), Some(&last_year)) = (years.first(), years.last()) else {
            return Err(CalendarError::Malformed {
                line: 0,
                reason: "no `year` line: the calendar covers nothing",
            });
        };
        Ok(WorkingDays {
            first_year,
            last_year,
            days_off,
            working_weekend_days,
        })
    }

    /// First and last year covered.
    pub fn covered(&self) -> (i32, i32) {
        (self.first_year, self.last_year)
    }

    fn check_year(&self, date: NaiveDate) -> Result<(), CalendarError> {
        let year = date.year();
        if year < self.first_year || year > self.last_year {
            return Err(CalendarError::YearNotCovered {
                year,
                covered: self.covered(),
            });
        }
        Ok(())
    }

    /// Whether offices work on `date` (not a weekend unless a make-up working day, not a day off).
    pub fn is_working_day(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        self.check_year(date)?;
        Ok(if is_weekend(date) {
            self.working_weekend_days.contains(&date)
        } else {
            !self.days_off.contains(&date)
        })
    }

    /// Whether `date` is a national holiday or a day off in lieu (補假) falling on a weekday.
    /// Weekends are not included (the emergency surcharge counts them by weekday).
    pub fn is_national_holiday(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        self.check_year(date)?;
        Ok(self.days_off.contains(&date))
    }

    /// The `n`-th working day after `date` (`date` itself not counted; `n = 0` gives `date`).
    pub fn add_working_days(&self, date: NaiveDate, n: u32) -> Result<NaiveDate, CalendarError> {
        self.check_year(date)?;
        let mut day = date;
        let mut left = n;
        while left > 0 {
            day = day.succ_opt().ok_or(CalendarError::YearNotCovered {
                year: i32::MAX,
                covered: self.covered(),
            })?;
            if self.is_working_day(day)? {
                left -= 1;
            }
        }
        Ok(day)
    }

    /// Working days after `a` up to and including `b` (0 when `b` is not after `a`).
    pub fn working_days_between(&self, a: NaiveDate, b: NaiveDate) -> Result<u32, CalendarError> {
        self.check_year(a)?;
        self.check_year(b)?;
        let mut count = 0;
        let mut day = a;
        while day < b {
            day = day.succ_opt().unwrap_or(b); // `day < b` so a successor exists.
            if self.is_working_day(day)? {
                count += 1;
            }
        }
        Ok(count)
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Why a card replacement is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplacementError {
    /// The card came after the last allowed working day.
    #[error("card brought on {brought}, after the deadline {deadline} (10 working days)")]
    TooLate {
        /// The last allowed day.
        deadline: NaiveDate,
        /// When the card was brought.
        brought: NaiveDate,
    },
    /// The card was "brought" before the visit it replaces.
    #[error("card brought on {brought}, before the visit on {visit}")]
    BeforeVisit {
        /// The card-less visit's date.
        visit: NaiveDate,
        /// When the card was brought.
        brought: NaiveDate,
    },
    /// The calendar cannot answer for these dates.
    #[error(transparent)]
    Calendar(#[from] CalendarError),
}

/// The last day (Taiwan date) the card may be brought after a card-less visit on `visit_date`.
pub fn replacement_deadline(cal: &WorkingDays, visit_date: NaiveDate) -> Result<NaiveDate, CalendarError> {
    cal.add_working_days(visit_date, REPLACEMENT_WORKING_DAYS)
}

/// Accepts a card brought on `brought_date` for a card-less visit on `visit_date`, or says why not.
pub fn check_replacement(
    cal: &WorkingDays,
    visit_date: NaiveDate,
    brought_date: NaiveDate,
) -> Result<(), ReplacementError> {
    if brought_date < visit_date {
        return Err(ReplacementError::BeforeVisit {
            visit: visit_date,
            brought: brought_date,
        });
    }
    let deadline = replacement_deadline(cal, visit_date)?;
    if brought_date > deadline {
        return Err(ReplacementError::TooLate {
            deadline,
            brought: brought_date,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn tw() -> &'static WorkingDays {
        WorkingDays::taiwan()
    }

    #[test]
    fn shipped_taiwan_data_parses() {
        assert_eq!(WorkingDays::parse(TAIWAN_DATA).unwrap().covered(), (2025, 2026));
    }

    #[test]
    fn weekends_are_not_working_days() {
        assert!(!tw().is_working_day(d(2026, 12, 5)).unwrap()); // Saturday
        assert!(!tw().is_working_day(d(2026, 12, 6)).unwrap()); // Sunday
        assert!(tw().is_working_day(d(2026, 12, 7)).unwrap()); // Monday
    }

    #[test]
    fn national_holidays_are_not_working_days() {
        for day in [
            d(2025, 1, 1),
            d(2025, 10, 10),
            d(2026, 2, 17),
            d(2026, 2, 20),
            d(2026, 12, 25),
        ] {
            assert!(!tw().is_working_day(day).unwrap(), "{day}");
            assert!(tw().is_national_holiday(day).unwrap(), "{day}");
        }
    }

    #[test]
    fn a_make_up_working_saturday_is_a_working_day() {
        assert!(tw().is_working_day(d(2025, 2, 8)).unwrap());
        assert!(!tw().is_national_holiday(d(2025, 2, 8)).unwrap());
    }

    #[test]
    fn a_calendar_that_does_not_cover_the_year_is_an_error() {
        let e = tw().is_working_day(d(2027, 1, 4)).unwrap_err();
        assert_eq!(
            e,
            CalendarError::YearNotCovered {
                year: 2027,
                covered: (2025, 2026)
            }
        );
        assert!(e.to_string().contains("2027"));
        assert!(tw().is_working_day(d(2024, 12, 31)).is_err());
        // Counting across the end of the data is refused too, not guessed.
        assert!(matches!(
            tw().add_working_days(d(2026, 12, 28), 10),
            Err(CalendarError::YearNotCovered { year: 2027, .. })
        ));
        assert!(replacement_deadline(tw(), d(2027, 3, 1)).is_err());
    }

    #[test]
    fn add_working_days_skips_weekends_and_holidays() {
        // Thu 2026-02-12 + 3: Fri 13, (Sat 14 – Sun 22 off), Mon 23, Tue 24.
        assert_eq!(tw().add_working_days(d(2026, 2, 12), 3).unwrap(), d(2026, 2, 24));
        assert_eq!(tw().add_working_days(d(2026, 2, 12), 0).unwrap(), d(2026, 2, 12));
    }

    #[test]
    fn working_days_between_counts_after_the_first_up_to_the_second() {
        assert_eq!(
            tw().working_days_between(d(2026, 2, 12), d(2026, 2, 24)).unwrap(),
            3
        );
        assert_eq!(
            tw().working_days_between(d(2026, 2, 24), d(2026, 2, 12)).unwrap(),
            0
        );
        // Make-up Saturday 2025-02-08 counts.
        assert_eq!(
            tw().working_days_between(d(2025, 2, 7), d(2025, 2, 10)).unwrap(),
            2
        );
    }

    #[test]
    fn replacement_within_10_working_days_is_accepted() {
        // Visit Mon 2026-11-30: 10 working days → Mon 2026-12-14.
        assert_eq!(
            replacement_deadline(tw(), d(2026, 11, 30)).unwrap(),
            d(2026, 12, 14)
        );
        assert_eq!(check_replacement(tw(), d(2026, 11, 30), d(2026, 11, 30)), Ok(()));
        assert_eq!(check_replacement(tw(), d(2026, 11, 30), d(2026, 12, 14)), Ok(()));
    }

    #[test]
    fn replacement_deadline_stretches_over_a_holiday() {
        // Visit Thu 2026-02-12: 13, (14–22 Lunar New Year), 23, 24, 25, 26, (27 補假), Mar 2, 3, 4, 5,
        // 6 → Fri 2026-03-06.
        assert_eq!(replacement_deadline(tw(), d(2026, 2, 12)).unwrap(), d(2026, 3, 6));
    }

    #[test]
    fn replacement_after_10_working_days_is_refused() {
        assert_eq!(
            check_replacement(tw(), d(2026, 11, 30), d(2026, 12, 15)),
            Err(ReplacementError::TooLate {
                deadline: d(2026, 12, 14),
                brought: d(2026, 12, 15)
            })
        );
    }

    #[test]
    fn replacement_before_the_visit_is_refused() {
        assert!(matches!(
            check_replacement(tw(), d(2026, 11, 30), d(2026, 11, 29)),
            Err(ReplacementError::BeforeVisit { .. })
        ));
    }

    #[test]
    fn malformed_calendar_data_is_refused_with_its_line() {
        assert!(matches!(
            WorkingDays::parse("year 2026\n2026-12-05 off Saturday\n"),
            Err(CalendarError::Malformed { line: 2, .. })
        ));
        assert!(matches!(
            WorkingDays::parse("year 2026\n2025-12-25 off x\n"),
            Err(CalendarError::Malformed { line: 2, .. })
        ));
        assert!(matches!(
            WorkingDays::parse("year 2025\nyear 2027\n"),
            Err(CalendarError::Malformed { line: 2, .. })
        ));
        assert!(matches!(
            WorkingDays::parse("# nothing\n"),
            Err(CalendarError::Malformed { .. })
        ));
    }
}
