//! Emergency home visits (緊急訪視, HMIC plan, seed 001 "緊急訪視加成"): the 8 indications, the
//! surcharge by time of arrival, one payable emergency per doctor per patient per day, and the
//! `ECE` claim mark. The 1-hour upload deadline lives beside the 24-hour one in
//! [`crate::sync::deadline::EMERGENCY_UPLOAD_DEADLINE_MS`].
//!
//! # The surcharge
//! Counted from arrival at the patient's home, in Taiwan time (UTC+8), to the minute (the claim's
//! order start/end are recorded to the minute; seconds are dropped): night 17:00–22:00 +50%, late
//! night 22:00–08:00 +70%, weekend (Saturday 00:00 to Sunday 24:00) and national holidays (whole
//! day) +40%; night on a holiday +50%, late night on a holiday +70%. The arrival's bracket applies;
//! if the visit runs **more than 30 minutes** into a different, higher bracket, that bracket applies
//! ("若離開時跨不同加成區間逾30分鐘，則以較高加成區間計算"). A Saturday counts as weekend even when it
//! is a make-up working day (the plan defines the weekend by weekday); a 補假 day counts as a
//! national holiday (assumption, see `data/tw_holidays.txt`).

use super::calendar::{CalendarError, WorkingDays};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Weekday};
use std::collections::HashMap;

/// The claim mark of an emergency visit.
pub const EMERGENCY_MARK: &str = "ECE";
/// Minutes a visit must run into a higher bracket for that bracket to apply (strictly more than).
pub const HIGHER_BRACKET_AFTER_MINUTES: i64 = 30;
/// Longest visit the surcharge accepts (a longer one is bad input).
pub const MAX_VISIT_MINUTES: i64 = 24 * 60;
/// Taiwan's offset from UTC, in seconds.
const TAIWAN_OFFSET_S: i64 = 8 * 3600;

/// The 8 indications for an emergency visit (8大適應症). The sources give their names only, no claim
/// codes: [`Indication::code`] is this app's own stable code. All but an urgent tube problem under a
/// standing order need a doctor's assessment first, recorded in the visit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Indication {
    /// 生命徵象不穩定 — unstable vital signs.
    UnstableVitalSigns,
    /// 呼吸喘急持續未改善 — dyspnoea that persists.
    PersistentDyspnoea,
    /// 譫妄或意識狀態不穩定 — delirium or unstable consciousness.
    DeliriumOrUnstableConsciousness,
    /// 急性疼痛發作 — acute pain.
    AcutePain,
    /// 發燒或突發性體溫不穩定 — fever or sudden unstable temperature.
    FeverOrUnstableTemperature,
    /// 急性腹瀉 — acute diarrhoea.
    AcuteDiarrhoea,
    /// 須立即處理之管路問題 — a tube problem that needs immediate care.
    UrgentTubeProblem,
    /// 其他經醫師評估有立即前往需要者 — other, judged urgent by a doctor.
    OtherDoctorJudged,
}

impl Indication {
    /// All 8, in the plan's order.
    pub const ALL: [Indication; 8] = [
        Indication::UnstableVitalSigns,
        Indication::PersistentDyspnoea,
        Indication::DeliriumOrUnstableConsciousness,
        Indication::AcutePain,
        Indication::FeverOrUnstableTemperature,
        Indication::AcuteDiarrhoea,
        Indication::UrgentTubeProblem,
        Indication::OtherDoctorJudged,
    ];

    /// This app's stable code for the indication.
    pub fn code(self) -> &'static str {
        match self {
            Indication::UnstableVitalSigns => "unstable_vital_signs",
            Indication::PersistentDyspnoea => "persistent_dyspnoea",
            Indication::DeliriumOrUnstableConsciousness => "delirium",
            Indication::AcutePain => "acute_pain",
            Indication::FeverOrUnstableTemperature => "fever",
            Indication::AcuteDiarrhoea => "acute_diarrhoea",
            Indication::UrgentTubeProblem => "urgent_tube_problem",
            Indication::OtherDoctorJudged => "other_doctor_judged",
        }
    }

    /// The indication with this code, or [`EmergencyError::UnknownIndication`].
    pub fn from_code(code: &str) -> Result<Indication, EmergencyError> {
        Indication::ALL
            .into_iter()
            .find(|i| i.code() == code)
            .ok_or(EmergencyError::UnknownIndication)
    }
}

/// Why an emergency visit or its surcharge is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmergencyError {
    /// An emergency visit needs at least one of the 8 indications.
    #[error("an emergency visit needs at least one of the 8 indications")]
    NoIndication,
    /// The code names none of the 8 indications.
    #[error("unknown emergency indication code")]
    UnknownIndication,
    /// The visit ends before it starts.
    #[error("the visit ends before the arrival")]
    EndBeforeArrival,
    /// The visit lasts longer than [`MAX_VISIT_MINUTES`].
    #[error("the visit lasts longer than 24 hours")]
    VisitTooLong,
    /// A time is outside the representable range.
    #[error("time out of range")]
    TimeOutOfRange,
    /// The holiday calendar cannot answer for the visit's dates.
    #[error(transparent)]
    Calendar(#[from] CalendarError),
}

/// Accepts a visit's indications: at least one is needed.
pub fn check_indications(indications: &[Indication]) -> Result<(), EmergencyError> {
    if indications.is_empty() {
        return Err(EmergencyError::NoIndication);
    }
    Ok(())
}

/// A surcharge bracket, from the time of day and the kind of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bracket {
    /// Weekday daytime 08:00–17:00: no surcharge.
    None,
    /// Weekday 17:00–22:00: +50%.
    Night,
    /// Weekday 22:00–08:00: +70%.
    LateNight,
    /// Weekend or national holiday daytime: +40%.
    Holiday,
    /// Night on a weekend or holiday: +50%.
    NightHoliday,
    /// Late night on a weekend or holiday: +70%.
    LateNightHoliday,
}

impl Bracket {
    /// The surcharge in percent.
    pub fn percent(self) -> u32 {
        match self {
            Bracket::None => 0,
            Bracket::Holiday => 40,
            Bracket::Night | Bracket::NightHoliday => 50,
            Bracket::LateNight | Bracket::LateNightHoliday => 70,
        }
    }

    /// Order of "higher": by percent, a holiday bracket above the weekday one of the same percent.
    pub fn rank(self) -> u8 {
        match self {
            Bracket::None => 0,
            Bracket::Holiday => 1,
            Bracket::Night => 2,
            Bracket::NightHoliday => 3,
            Bracket::LateNight => 4,
            Bracket::LateNightHoliday => 5,
        }
    }
}

/// The surcharge decision for one emergency visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Surcharge {
    /// The bracket that applies.
    pub bracket: Bracket,
    /// Its percentage (the claim's 支付成數 is 100 + this).
    pub percent: u32,
    /// The bracket at arrival.
    pub arrival_bracket: Bracket,
}

/// Taiwan local time (UTC+8) of a Unix time in milliseconds.
pub fn taiwan_time(unix_ms: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_millis(unix_ms.checked_add(TAIWAN_OFFSET_S * 1000)?).map(|t| t.naive_utc())
}

/// Whether `date` is a surcharge holiday: Saturday, Sunday or a national holiday.
fn is_surcharge_holiday(date: NaiveDate, cal: &WorkingDays) -> Result<bool, CalendarError> {
    Ok(matches!(date.weekday(), Weekday::Sat | Weekday::Sun) || cal.is_national_holiday(date)?)
}

/// The bracket at a Taiwan local time.
pub fn bracket_at(t: NaiveDateTime, cal: &WorkingDays) -> Result<Bracket, CalendarError> {
    let holiday = is_surcharge_holiday(t.date(), cal)?;
    let h = t.hour();
    Ok(match (h, holiday) {
        (8..=16, false) => Bracket::None,
        (8..=16, true) => Bracket::Holiday,
        (17..=21, false) => Bracket::Night,
        (17..=21, true) => Bracket::NightHoliday,
        (_, false) => Bracket::LateNight,
        (_, true) => Bracket::LateNightHoliday,
    })
}

/// The next bracket boundary strictly after `t` (08:00, 17:00, 22:00 or midnight).
fn next_boundary(t: NaiveDateTime) -> NaiveDateTime {
    let day = t.date();
    let at = |h: u32| day.and_time(NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN));
    for h in [8, 17, 22] {
        if at(h) > t {
            return at(h);
        }
    }
    day.and_time(NaiveTime::MIN) + Duration::days(1)
}

fn truncate_to_minute(t: NaiveDateTime) -> NaiveDateTime {
    t.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(t)
}

/// The surcharge of an emergency visit from arrival to departure (Unix ms), in Taiwan time.
pub fn surcharge(arrival_ms: i64, end_ms: i64, cal: &WorkingDays) -> Result<Surcharge, EmergencyError> {
    let start = truncate_to_minute(taiwan_time(arrival_ms).ok_or(EmergencyError::TimeOutOfRange)?);
    let end = truncate_to_minute(taiwan_time(end_ms).ok_or(EmergencyError::TimeOutOfRange)?);
    if end < start {
        return Err(EmergencyError::EndBeforeArrival);
    }
    if (end - start).num_minutes() > MAX_VISIT_MINUTES {
        return Err(EmergencyError::VisitTooLong);
    }
    let arrival_bracket = bracket_at(start, cal)?;
    let mut best = arrival_bracket;
    // Walk the runs of equal bracket after the arrival's; a run counts when the visit spends more
    // than 30 minutes in it.
    let mut current = arrival_bracket;
    let mut run_start = start;
    let mut t = next_boundary(start);
    while t <= end {
        let b = bracket_at(t, cal)?;
        if b != current {
            current = b;
            run_start = t;
        }
        let next = next_boundary(t);
        let in_run = (next.min(end) - run_start).num_minutes();
        if current != arrival_bracket && current.rank() > best.rank() && in_run > HIGHER_BRACKET_AFTER_MINUTES
        {
            best = current;
        }
        t = next;
    }
    Ok(Surcharge {
        bracket: best,
        percent: best.percent(),
        arrival_bracket,
    })
}

/// One emergency visit, for the one-per-doctor-per-patient-per-day rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyVisit {
    /// The doctor (or other practitioner) who visited.
    pub practitioner_id: String,
    /// An opaque key of the patient (never shown).
    pub patient_key: String,
    /// Arrival (Unix ms).
    pub arrival_ms: i64,
}

/// For each visit (same order), whether it is payable: per practitioner, patient and Taiwan date
/// only the earliest arrival is (同一醫師對同一病人之緊急訪視，每日以一人次為限，超過不予支付).
pub fn payable_emergencies(visits: &[EmergencyVisit]) -> Result<Vec<bool>, EmergencyError> {
    let mut first: HashMap<(&str, &str, NaiveDate), usize> = HashMap::new();
    for (i, v) in visits.iter().enumerate() {
        let day = taiwan_time(v.arrival_ms)
            .ok_or(EmergencyError::TimeOutOfRange)?
            .date();
        let key = (v.practitioner_id.as_str(), v.patient_key.as_str(), day);
        first
            .entry(key)
            .and_modify(|j| {
                if v.arrival_ms < visits[*j].arrival_ms {
                    *j = i;
                }
            })
            .or_insert(i);
    }
    let mut payable = vec![false; visits.len()];
    for i in first.into_values() {
        payable[i] = true;
    }
    Ok(payable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Unix ms of a Taiwan local time.
    fn tw(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        let local = NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap();
        local.and_utc().timestamp_millis() - TAIWAN_OFFSET_S * 1000
    }

    fn cal() -> &'static WorkingDays {
        WorkingDays::taiwan()
    }

    fn pct(a: i64, b: i64) -> u32 {
        surcharge(a, b, cal()).unwrap().percent
    }

    // 2026-12-01 is a Tuesday; 2026-12-05 a Saturday, 2026-12-06 a Sunday.

    #[test]
    fn weekday_daytime_has_no_surcharge() {
        assert_eq!(pct(tw(2026, 12, 1, 10, 0), tw(2026, 12, 1, 11, 0)), 0);
    }

    #[test]
    fn night_bracket_starts_at_17_00() {
        assert_eq!(pct(tw(2026, 12, 1, 16, 59), tw(2026, 12, 1, 17, 20)), 0);
        let s = surcharge(tw(2026, 12, 1, 17, 0), tw(2026, 12, 1, 17, 20), cal()).unwrap();
        assert_eq!((s.bracket, s.percent), (Bracket::Night, 50));
    }

    #[test]
    fn late_night_bracket_runs_from_22_00_to_08_00() {
        assert_eq!(pct(tw(2026, 12, 1, 22, 0), tw(2026, 12, 1, 22, 10)), 70);
        assert_eq!(pct(tw(2026, 12, 2, 7, 59), tw(2026, 12, 2, 8, 20)), 70);
        assert_eq!(pct(tw(2026, 12, 2, 8, 0), tw(2026, 12, 2, 8, 20)), 0);
    }

    #[test]
    fn sixteen_fifty_to_seventeen_ten_has_no_surcharge() {
        let s = surcharge(tw(2026, 12, 1, 16, 50), tw(2026, 12, 1, 17, 10), cal()).unwrap();
        assert_eq!((s.bracket, s.percent), (Bracket::None, 0));
    }

    #[test]
    fn thirty_minutes_into_a_higher_bracket_is_not_enough() {
        assert_eq!(pct(tw(2026, 12, 1, 16, 30), tw(2026, 12, 1, 17, 30)), 0);
        assert_eq!(pct(tw(2026, 12, 1, 21, 0), tw(2026, 12, 1, 22, 30)), 50);
    }

    #[test]
    fn thirty_one_minutes_into_a_higher_bracket_applies_it() {
        assert_eq!(pct(tw(2026, 12, 1, 16, 30), tw(2026, 12, 1, 17, 31)), 50);
    }

    #[test]
    fn thirty_one_minutes_into_late_night_is_plus_70() {
        let s = surcharge(tw(2026, 12, 1, 21, 30), tw(2026, 12, 1, 22, 31), cal()).unwrap();
        assert_eq!(
            (s.arrival_bracket, s.bracket, s.percent),
            (Bracket::Night, Bracket::LateNight, 70)
        );
    }

    #[test]
    fn seconds_do_not_count_toward_the_30_minutes() {
        // 22:30:59 is 22:30 to the minute: exactly 30 minutes, not more.
        let end = tw(2026, 12, 1, 22, 30) + 59_000;
        assert_eq!(pct(tw(2026, 12, 1, 21, 30), end), 50);
    }

    #[test]
    fn a_lower_bracket_after_arrival_does_not_lower_the_surcharge() {
        // Arrive 07:30 (late night), leave 09:30 (daytime): +70%.
        assert_eq!(pct(tw(2026, 12, 2, 7, 30), tw(2026, 12, 2, 9, 30)), 70);
    }

    #[test]
    fn sunday_is_plus_40() {
        let s = surcharge(tw(2026, 12, 6, 10, 0), tw(2026, 12, 6, 11, 0), cal()).unwrap();
        assert_eq!((s.bracket, s.percent), (Bracket::Holiday, 40));
    }

    #[test]
    fn saturday_from_midnight_is_a_holiday() {
        assert_eq!(
            bracket_at(taiwan_time(tw(2026, 12, 5, 0, 0)).unwrap(), cal()).unwrap(),
            Bracket::LateNightHoliday
        );
        assert_eq!(pct(tw(2026, 12, 5, 9, 0), tw(2026, 12, 5, 9, 30)), 40);
    }

    #[test]
    fn a_make_up_working_saturday_is_still_a_weekend_for_the_surcharge() {
        assert_eq!(pct(tw(2025, 2, 8, 10, 0), tw(2025, 2, 8, 10, 30)), 40);
    }

    #[test]
    fn a_national_holiday_is_plus_40() {
        // Fri 2026-12-25 (行憲紀念日).
        assert_eq!(pct(tw(2026, 12, 25, 10, 0), tw(2026, 12, 25, 11, 0)), 40);
    }

    #[test]
    fn night_on_a_holiday_is_plus_50() {
        let s = surcharge(tw(2026, 12, 6, 18, 0), tw(2026, 12, 6, 19, 0), cal()).unwrap();
        assert_eq!((s.bracket, s.percent), (Bracket::NightHoliday, 50));
    }

    #[test]
    fn late_night_on_a_holiday_is_plus_70() {
        let s = surcharge(tw(2026, 12, 6, 23, 0), tw(2026, 12, 6, 23, 30), cal()).unwrap();
        assert_eq!((s.bracket, s.percent), (Bracket::LateNightHoliday, 70));
    }

    #[test]
    fn running_into_a_holiday_night_from_a_holiday_day_is_plus_50() {
        assert_eq!(pct(tw(2026, 12, 6, 16, 0), tw(2026, 12, 6, 17, 40)), 50);
    }

    #[test]
    fn a_visit_ending_before_arrival_is_refused() {
        assert_eq!(
            surcharge(tw(2026, 12, 1, 10, 0), tw(2026, 12, 1, 9, 0), cal()),
            Err(EmergencyError::EndBeforeArrival)
        );
    }

    #[test]
    fn a_visit_longer_than_a_day_is_refused() {
        assert_eq!(
            surcharge(tw(2026, 12, 1, 10, 0), tw(2026, 12, 2, 10, 1), cal()),
            Err(EmergencyError::VisitTooLong)
        );
    }

    #[test]
    fn a_surcharge_in_a_year_the_calendar_does_not_cover_is_an_error() {
        assert!(matches!(
            surcharge(tw(2027, 1, 4, 10, 0), tw(2027, 1, 4, 11, 0), cal()),
            Err(EmergencyError::Calendar(CalendarError::YearNotCovered {
                year: 2027,
                ..
            }))
        ));
        // Running over New Year's Eve into an uncovered year is refused too.
        assert!(surcharge(tw(2026, 12, 31, 23, 0), tw(2027, 1, 1, 0, 40), cal()).is_err());
    }

    #[test]
    fn emergency_without_an_indication_is_refused() {
        assert_eq!(check_indications(&[]), Err(EmergencyError::NoIndication));
        assert_eq!(check_indications(&[Indication::AcutePain]), Ok(()));
    }

    #[test]
    fn there_are_8_indications_with_distinct_codes() {
        let mut codes: Vec<_> = Indication::ALL.iter().map(|i| i.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), 8);
        for i in Indication::ALL {
            assert_eq!(Indication::from_code(i.code()), Ok(i));
        }
        assert_eq!(
            Indication::from_code("cough"),
            Err(EmergencyError::UnknownIndication)
        );
    }

    fn visit(doc: &str, patient: &str, ms: i64) -> EmergencyVisit {
        EmergencyVisit {
            practitioner_id: doc.into(),
            patient_key: patient.into(),
            arrival_ms: ms,
        }
    }

    #[test]
    fn second_emergency_of_a_doctor_for_a_patient_on_one_day_is_not_payable() {
        let visits = [
            visit("D1", "P1", tw(2026, 12, 1, 20, 0)),
            visit("D1", "P1", tw(2026, 12, 1, 9, 0)), // earlier: this one is paid
            visit("D2", "P1", tw(2026, 12, 1, 21, 0)), // another doctor
            visit("D1", "P2", tw(2026, 12, 1, 22, 0)), // another patient
            visit("D1", "P1", tw(2026, 12, 2, 0, 30)), // next Taiwan day
        ];
        assert_eq!(
            payable_emergencies(&visits).unwrap(),
            vec![false, true, true, true, true]
        );
    }

    #[test]
    fn the_day_of_the_one_per_day_rule_is_the_taiwan_date() {
        // 23:30 and 00:30 Taiwan time: the same UTC date (15:30 and 16:30 UTC), different Taiwan days.
        let visits = [
            visit("D1", "P1", tw(2026, 12, 1, 23, 30)),
            visit("D1", "P1", tw(2026, 12, 2, 0, 30)),
        ];
        assert_eq!(payable_emergencies(&visits).unwrap(), vec![true, true]);
    }

    proptest! {
        #[test]
        fn bracket_never_decreases_when_the_visit_runs_longer(
            start_min in 0i64..(365 * 24 * 60),
            len in 0i64..(20 * 60),
            extra in 1i64..(4 * 60),
        ) {
            let start = tw(2026, 1, 1, 0, 0) + start_min * 60_000;
            let short = surcharge(start, start + len * 60_000, cal());
            let long = surcharge(start, start + (len + extra) * 60_000, cal());
            if let (Ok(s), Ok(l)) = (short, long) {
                prop_assert!(l.bracket.rank() >= s.bracket.rank(), "{s:?} then {l:?}");
                prop_assert!(l.percent >= s.percent);
            }
        }
    }
}
