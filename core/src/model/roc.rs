//! ROC (Republic of China, 民國) dates and date-times in Taiwan time (UTC+8).
//!
//! The NHI world writes dates as `YYYMMDD` (3-digit zero-padded ROC year = Gregorian year − 1911,
//! e.g. `1130305` = 2024-03-05) and date-times as `YYYMMDDHHMMSS` (13 characters, the card's visit
//! date-time form). Inside the core we hold chrono values; the ROC text is only an edge format.
//!
//! Range: ROC year 1 (1912) to ROC year 999 (2910), the years a 3-digit field can hold. A
//! [`RocDateTime`] is always in Taiwan time and always to the whole second (the ROC form has no
//! fraction; sub-second parts are dropped when converting in).

use crate::platform::Clock;
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Difference between the Gregorian and the ROC year (ROC 1 = 1912).
pub const ROC_YEAR_OFFSET: i32 = 1911;
/// First Gregorian year a ROC date can hold (ROC year 1).
pub const MIN_GREGORIAN_YEAR: i32 = ROC_YEAR_OFFSET + 1;
/// Last Gregorian year a 3-digit ROC year can hold (ROC year 999).
pub const MAX_GREGORIAN_YEAR: i32 = ROC_YEAR_OFFSET + 999;

/// Taiwan's fixed offset from UTC: +08:00 (no daylight saving since 1979).
pub fn taiwan_offset() -> FixedOffset {
    // 8 h is well inside chrono's ±24 h range, so `east_opt` cannot return None.
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// Why a ROC date or date-time was refused. Names the field and the reason, never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {kind}")]
pub struct RocError {
    /// Which field was being read (`roc_date`, `roc_date_time`, or the caller's name via
    /// [`RocError::with_field`]).
    pub field: &'static str,
    /// What is wrong with it.
    pub kind: RocErrorKind,
}

impl RocError {
    fn new(field: &'static str, kind: RocErrorKind) -> Self {
        Self { field, kind }
    }

    /// The same error, reported for another field name (e.g. `birth_date`).
    pub fn with_field(self, field: &'static str) -> Self {
        Self { field, ..self }
    }
}

/// The reasons a ROC date or date-time is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RocErrorKind {
    /// The text does not have the required number of characters.
    #[error("wrong length (expected {expected} digits)")]
    Length {
        /// How many characters the form needs (7 or 13).
        expected: usize,
    },
    /// A character is not an ASCII digit.
    #[error("must contain only digits")]
    NonDigit,
    /// ROC year 0 (before ROC year 1 = 1912) or beyond what three digits hold.
    #[error("year out of range (ROC 001-999, 1912-2910)")]
    Year,
    /// Month not in 01–12.
    #[error("month must be 01-12")]
    Month,
    /// Day does not exist in that month (e.g. 30 February).
    #[error("day does not exist in that month")]
    Day,
    /// Hour not in 00–23.
    #[error("hour must be 00-23")]
    Hour,
    /// Minute not in 00–59.
    #[error("minute must be 00-59")]
    Minute,
    /// Second not in 00–59.
    #[error("second must be 00-59")]
    Second,
    /// A timestamp outside what chrono can represent.
    #[error("timestamp out of range")]
    Timestamp,
}

/// Field name used by [`RocDate`] errors unless the caller renames it.
const DATE_FIELD: &str = "roc_date";
/// Field name used by [`RocDateTime`] errors unless the caller renames it.
const DATE_TIME_FIELD: &str = "roc_date_time";

/// Reads `text` as exactly `len` ASCII digits.
fn digits<'a>(text: &'a str, len: usize, field: &'static str) -> Result<&'a [u8], RocError> {
    let b = text.as_bytes();
    if b.len() != len {
        return Err(RocError::new(field, RocErrorKind::Length { expected: len }));
    }
    if !b.iter().all(u8::is_ascii_digit) {
        return Err(RocError::new(field, RocErrorKind::NonDigit));
    }
    Ok(b)
}

/// The number written by the ASCII digits `b` (all already checked to be digits).
fn number(b: &[u8]) -> u32 {
    b.iter().fold(0, |n, &d| n * 10 + u32::from(d - b'0'))
}

/// Builds the Gregorian date from checked ROC digits `YYYMMDD`.
fn date_from_digits(b: &[u8], field: &'static str) -> Result<NaiveDate, RocError> {
    let roc_year = number(&b[0..3]);
    let month = number(&b[3..5]);
    let day = number(&b[5..7]);
    if roc_year == 0 {
        return Err(RocError::new(field, RocErrorKind::Year));
    }
    if !(1..=12).contains(&month) {
        return Err(RocError::new(field, RocErrorKind::Month));
    }
    // roc_year ≤ 999, so the sum fits easily in i32.
    let year = roc_year as i32 + ROC_YEAR_OFFSET;
    NaiveDate::from_ymd_opt(year, month, day).ok_or(RocError::new(field, RocErrorKind::Day))
}

/// A calendar date that can be written as a ROC `YYYMMDD` (ROC year 1–999).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RocDate(NaiveDate);

impl RocDate {
    /// Parses `YYYMMDD` (7 digits), e.g. `1130305` = 2024-03-05.
    pub fn parse(text: &str) -> Result<Self, RocError> {
        let b = digits(text, 7, DATE_FIELD)?;
        date_from_digits(b, DATE_FIELD).map(Self)
    }

    /// Wraps a Gregorian date; refused when its year is outside ROC 1–999.
    pub fn from_naive(date: NaiveDate) -> Result<Self, RocError> {
        if (MIN_GREGORIAN_YEAR..=MAX_GREGORIAN_YEAR).contains(&date.year()) {
            Ok(Self(date))
        } else {
            Err(RocError::new(DATE_FIELD, RocErrorKind::Year))
        }
    }

    /// Builds a date from ROC year, month and day; refused when it does not exist.
    pub fn from_roc_ymd(roc_year: u32, month: u32, day: u32) -> Result<Self, RocError> {
        if !(1..=999).contains(&roc_year) {
            return Err(RocError::new(DATE_FIELD, RocErrorKind::Year));
        }
        if !(1..=12).contains(&month) {
            return Err(RocError::new(DATE_FIELD, RocErrorKind::Month));
        }
        NaiveDate::from_ymd_opt(roc_year as i32 + ROC_YEAR_OFFSET, month, day)
            .map(Self)
            .ok_or(RocError::new(DATE_FIELD, RocErrorKind::Day))
    }

    /// Today's date in Taiwan according to `clock`.
    pub fn today(clock: &dyn Clock) -> Result<Self, RocError> {
        RocDateTime::now(clock).map(|t| t.date())
    }

    /// The Gregorian date.
    pub fn naive(self) -> NaiveDate {
        self.0
    }

    /// The ROC year (Gregorian year − 1911), 1–999.
    pub fn roc_year(self) -> u32 {
        // The constructor keeps the year in 1912..=2910, so the difference is 1..=999.
        (self.0.year() - ROC_YEAR_OFFSET) as u32
    }

    /// The 7-character ROC form `YYYMMDD`.
    pub fn to_roc_string(self) -> String {
        format!("{:03}{:02}{:02}", self.roc_year(), self.0.month(), self.0.day())
    }

    /// The 5-character ROC year-month `YYYMM` (as in HMIC upload file names).
    pub fn to_roc_year_month(self) -> String {
        format!("{:03}{:02}", self.roc_year(), self.0.month())
    }

    /// The human form `YYY/MM/DD` shown on NHI screens, e.g. `104/10/31`.
    pub fn to_slashed(self) -> String {
        format!("{:03}/{:02}/{:02}", self.roc_year(), self.0.month(), self.0.day())
    }

    /// Midnight at the start of this day, Taiwan time.
    pub fn start_of_day(self) -> RocDateTime {
        RocDateTime::from_taiwan_naive(self.0.and_time(NaiveTime::MIN))
    }

    /// The date `days` later (or earlier when negative); refused when it leaves the ROC range.
    pub fn add_days(self, days: i64) -> Result<Self, RocError> {
        let moved = self
            .0
            .checked_add_signed(
                chrono::Duration::try_days(days).ok_or(RocError::new(DATE_FIELD, RocErrorKind::Year))?,
            )
            .ok_or(RocError::new(DATE_FIELD, RocErrorKind::Year))?;
        Self::from_naive(moved)
    }
}

impl fmt::Display for RocDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_roc_string())
    }
}

impl fmt::Debug for RocDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RocDate({})", self.to_roc_string())
    }
}

impl FromStr for RocDate {
    type Err = RocError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for RocDate {
    type Error = RocError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<RocDate> for String {
    fn from(d: RocDate) -> String {
        d.to_roc_string()
    }
}

impl TryFrom<NaiveDate> for RocDate {
    type Error = RocError;
    fn try_from(value: NaiveDate) -> Result<Self, Self::Error> {
        Self::from_naive(value)
    }
}

impl From<RocDate> for NaiveDate {
    fn from(d: RocDate) -> NaiveDate {
        d.0
    }
}

/// A moment in Taiwan time, to the whole second, writable as ROC `YYYMMDDHHMMSS`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RocDateTime(DateTime<FixedOffset>);

impl RocDateTime {
    /// Parses `YYYMMDDHHMMSS` (13 digits, the card's visit date-time), read as Taiwan time.
    pub fn parse(text: &str) -> Result<Self, RocError> {
        let f = DATE_TIME_FIELD;
        let b = digits(text, 13, f)?;
        let date = date_from_digits(&b[0..7], f)?;
        let (h, m, s) = (number(&b[7..9]), number(&b[9..11]), number(&b[11..13]));
        if h > 23 {
            return Err(RocError::new(f, RocErrorKind::Hour));
        }
        if m > 59 {
            return Err(RocError::new(f, RocErrorKind::Minute));
        }
        if s > 59 {
            return Err(RocError::new(f, RocErrorKind::Second));
        }
        // h, m, s are checked above, so the time exists.
        let time = NaiveTime::from_hms_opt(h, m, s).ok_or(RocError::new(f, RocErrorKind::Second))?;
        Ok(Self::from_taiwan_naive(date.and_time(time)))
    }

    /// Parses the date-time from a ROC date `YYYMMDD` and a time `HHMMSS` given separately.
    pub fn parse_parts(date: &str, time: &str) -> Result<Self, RocError> {
        let mut joined = String::with_capacity(13);
        joined.push_str(date);
        joined.push_str(time);
        if date.len() != 7 || time.len() != 6 {
            return Err(RocError::new(
                DATE_TIME_FIELD,
                RocErrorKind::Length { expected: 13 },
            ));
        }
        Self::parse(&joined)
    }

    /// Taiwan time from a naive local date-time already known to be in range.
    fn from_taiwan_naive(local: NaiveDateTime) -> Self {
        // A fixed offset has exactly one mapping for every local time, so `single` is Some.
        let dt = taiwan_offset()
            .from_local_datetime(&local)
            .single()
            .expect("a fixed offset maps every local time once");
        Self(dt)
    }

    /// Converts any chrono date-time to Taiwan time (dropping sub-seconds); refused outside ROC 1–999.
    pub fn from_datetime<Tz: TimeZone>(dt: &DateTime<Tz>) -> Result<Self, RocError> {
        let tw = dt.with_timezone(&taiwan_offset());
        let tw = tw.with_nanosecond(0).unwrap_or(tw);
        if !(MIN_GREGORIAN_YEAR..=MAX_GREGORIAN_YEAR).contains(&tw.year()) {
            return Err(RocError::new(DATE_TIME_FIELD, RocErrorKind::Year));
        }
        Ok(Self(tw))
    }

    /// Reads a naive date-time as Taiwan local time; refused outside ROC 1–999.
    pub fn from_taiwan_local(local: NaiveDateTime) -> Result<Self, RocError> {
        if !(MIN_GREGORIAN_YEAR..=MAX_GREGORIAN_YEAR).contains(&local.year()) {
            return Err(RocError::new(DATE_TIME_FIELD, RocErrorKind::Year));
        }
        let local = local.with_nanosecond(0).unwrap_or(local);
        Ok(Self::from_taiwan_naive(local))
    }

    /// Taiwan time of a Unix timestamp in milliseconds (as `platform::Clock` gives), floored to the second.
    pub fn from_unix_ms(ms: i64) -> Result<Self, RocError> {
        let utc = DateTime::from_timestamp_millis(ms)
            .ok_or(RocError::new(DATE_TIME_FIELD, RocErrorKind::Timestamp))?;
        Self::from_datetime(&utc)
    }

    /// The current Taiwan time according to `clock`.
    pub fn now(clock: &dyn Clock) -> Result<Self, RocError> {
        Self::from_unix_ms(clock.now_unix_ms())
    }

    /// The moment as a chrono date-time with offset +08:00.
    pub fn to_datetime(self) -> DateTime<FixedOffset> {
        self.0
    }

    /// The Taiwan local date-time without offset.
    pub fn naive_local(self) -> NaiveDateTime {
        self.0.naive_local()
    }

    /// Milliseconds since the Unix epoch (always a whole second).
    pub fn unix_ms(self) -> i64 {
        self.0.timestamp_millis()
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        self.0.timestamp()
    }

    /// The Taiwan calendar date of this moment.
    pub fn date(self) -> RocDate {
        // The year was checked on construction, and the date has the same year.
        RocDate(self.0.date_naive())
    }

    /// The 13-character ROC form `YYYMMDDHHMMSS`.
    pub fn to_roc_string(self) -> String {
        format!(
            "{}{:02}{:02}{:02}",
            self.date().to_roc_string(),
            self.0.hour(),
            self.0.minute(),
            self.0.second()
        )
    }

    /// The 6-character time of day `HHMMSS`.
    pub fn time_string(self) -> String {
        format!("{:02}{:02}{:02}", self.0.hour(), self.0.minute(), self.0.second())
    }
}

impl fmt::Display for RocDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_roc_string())
    }
}

impl fmt::Debug for RocDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RocDateTime({})", self.to_roc_string())
    }
}

impl FromStr for RocDateTime {
    type Err = RocError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for RocDateTime {
    type Error = RocError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<RocDateTime> for String {
    fn from(t: RocDateTime) -> String {
        t.to_roc_string()
    }
}

impl TryFrom<DateTime<FixedOffset>> for RocDateTime {
    type Error = RocError;
    fn try_from(value: DateTime<FixedOffset>) -> Result<Self, Self::Error> {
        Self::from_datetime(&value)
    }
}

impl From<RocDateTime> for DateTime<FixedOffset> {
    fn from(t: RocDateTime) -> DateTime<FixedOffset> {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::ManualClock;
    use proptest::prelude::*;

    #[test]
    fn parses_the_documented_example() {
        let d = RocDate::parse("1130305").unwrap();
        assert_eq!(d.naive(), NaiveDate::from_ymd_opt(2024, 3, 5).unwrap());
        assert_eq!(d.roc_year(), 113);
        assert_eq!(d.to_string(), "1130305");
        assert_eq!(d.to_slashed(), "113/03/05");
        assert_eq!(d.to_roc_year_month(), "11303");
    }

    #[test]
    fn first_and_last_roc_years() {
        assert_eq!(RocDate::parse("0010101").unwrap().naive().year(), 1912);
        assert_eq!(RocDate::parse("9991231").unwrap().naive().year(), 2910);
        assert_eq!(
            RocDate::from_naive(NaiveDate::from_ymd_opt(1911, 12, 31).unwrap())
                .unwrap_err()
                .kind,
            RocErrorKind::Year
        );
        assert_eq!(
            RocDate::from_naive(NaiveDate::from_ymd_opt(2911, 1, 1).unwrap())
                .unwrap_err()
                .kind,
            RocErrorKind::Year
        );
    }

    #[test]
    fn leap_days() {
        assert!(RocDate::parse("1130229").is_ok(), "2024 is a leap year");
        assert_eq!(RocDate::parse("1120229").unwrap_err().kind, RocErrorKind::Day);
        assert!(RocDate::parse("0890229").is_ok(), "2000 is a leap year");
        assert_eq!(
            RocDate::parse("1890229").unwrap_err().kind,
            RocErrorKind::Day,
            "2100 is not"
        );
    }

    #[test]
    fn impossible_dates_are_refused_with_their_reason() {
        let kind = |s: &str| RocDate::parse(s).unwrap_err().kind;
        assert_eq!(kind("1130230"), RocErrorKind::Day);
        assert_eq!(kind("1130431"), RocErrorKind::Day);
        assert_eq!(kind("1130300"), RocErrorKind::Day);
        assert_eq!(kind("1131301"), RocErrorKind::Month);
        assert_eq!(kind("1130001"), RocErrorKind::Month);
        assert_eq!(kind("0000101"), RocErrorKind::Year);
        assert_eq!(kind("113030"), RocErrorKind::Length { expected: 7 });
        assert_eq!(kind("20240305"), RocErrorKind::Length { expected: 7 });
        assert_eq!(kind(""), RocErrorKind::Length { expected: 7 });
        assert_eq!(kind("113-3-5"), RocErrorKind::NonDigit);
        assert_eq!(kind(" 113035"), RocErrorKind::NonDigit);
        assert_eq!(kind("１１３0305"), RocErrorKind::Length { expected: 7 });
    }

    #[test]
    fn errors_name_the_field_but_not_the_value() {
        let e = RocDate::parse("1130230").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("roc_date:"), "{msg}");
        assert!(!msg.contains("1130230"), "{msg}");
        let renamed = e.with_field("birth_date");
        assert!(renamed.to_string().starts_with("birth_date:"));
        let e = RocDateTime::parse("1130305246000").unwrap_err();
        assert_eq!(e.field, "roc_date_time");
        assert!(!e.to_string().contains("1130305246000"));
    }

    #[test]
    fn date_time_round_trip_and_taiwan_offset() {
        let t = RocDateTime::parse("1130305143005").unwrap();
        let dt = t.to_datetime();
        assert_eq!(dt.offset().local_minus_utc(), 8 * 3600);
        assert_eq!(dt.to_rfc3339(), "2024-03-05T14:30:05+08:00");
        assert_eq!(t.to_string(), "1130305143005");
        assert_eq!(t.time_string(), "143005");
        assert_eq!(t.date().to_string(), "1130305");
        assert_eq!(RocDateTime::parse_parts("1130305", "143005").unwrap(), t);
        assert!(RocDateTime::parse_parts("113030", "5143005").is_err());
    }

    #[test]
    fn impossible_times_are_refused() {
        let kind = |s: &str| RocDateTime::parse(s).unwrap_err().kind;
        assert_eq!(kind("1130305240000"), RocErrorKind::Hour);
        assert_eq!(kind("1130305236000"), RocErrorKind::Minute);
        assert_eq!(kind("1130305235960"), RocErrorKind::Second);
        assert_eq!(kind("1130230120000"), RocErrorKind::Day);
        assert_eq!(kind("0000101000000"), RocErrorKind::Year);
        assert_eq!(kind("113030512000"), RocErrorKind::Length { expected: 13 });
        assert_eq!(kind("11303051200000"), RocErrorKind::Length { expected: 13 });
        assert_eq!(kind("11303051200+0"), RocErrorKind::NonDigit);
    }

    #[test]
    fn unix_ms_becomes_taiwan_local_time() {
        // 2024-03-04T16:30:05.999Z is 2024-03-05 00:30:05 in Taiwan: the date flips at UTC 16:00.
        let utc = chrono::Utc.with_ymd_and_hms(2024, 3, 4, 16, 30, 5).unwrap();
        let ms = utc.timestamp_millis() + 999;
        let t = RocDateTime::from_unix_ms(ms).unwrap();
        assert_eq!(t.to_string(), "1130305003005");
        assert_eq!(t.unix_ms(), utc.timestamp_millis(), "floored to the second");
        let clock = ManualClock::new(ms);
        assert_eq!(RocDateTime::now(clock.as_ref()).unwrap(), t);
        assert_eq!(RocDate::today(clock.as_ref()).unwrap().to_string(), "1130305");
        // One second before Taiwan midnight is still the 4th.
        let before = RocDateTime::from_unix_ms(utc.timestamp_millis() - 1_806_000).unwrap();
        assert_eq!(before.to_string(), "1130304235959");
        assert_eq!(RocDateTime::from_unix_ms(0).unwrap().to_string(), "0590101080000");
        assert_eq!(
            RocDateTime::from_unix_ms(i64::MAX).unwrap_err().kind,
            RocErrorKind::Timestamp
        );
        // 1911-12-31T15:59:59Z is 1911-12-31 23:59:59 in Taiwan: before ROC year 1.
        assert_eq!(
            RocDateTime::from_unix_ms(-1_830_412_801_000).unwrap_err().kind,
            RocErrorKind::Year
        );
        assert!(RocDateTime::from_unix_ms(-1_830_412_800_000).is_ok());
    }

    #[test]
    fn other_offsets_are_converted_to_taiwan() {
        let utc = DateTime::parse_from_rfc3339("2024-03-05T23:59:59+00:00").unwrap();
        let t = RocDateTime::try_from(utc).unwrap();
        assert_eq!(t.to_string(), "1130306075959");
        assert_eq!(DateTime::<FixedOffset>::from(t), utc);
    }

    #[test]
    fn serde_uses_the_roc_text() {
        let d = RocDate::parse("1041031").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"1041031\"");
        assert_eq!(serde_json::from_str::<RocDate>("\"1041031\"").unwrap(), d);
        assert!(serde_json::from_str::<RocDate>("\"1040231\"").is_err());
        let t = RocDateTime::parse("1041031080000").unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"1041031080000\"");
        assert_eq!(
            serde_json::from_str::<RocDateTime>("\"1041031080000\"").unwrap(),
            t
        );
    }

    #[test]
    fn add_days_and_start_of_day() {
        let end = RocDate::parse("1041031").unwrap();
        assert_eq!(end.add_days(1).unwrap().to_string(), "1041101");
        assert_eq!(end.start_of_day().to_string(), "1041031000000");
        assert!(RocDate::parse("9991231").unwrap().add_days(1).is_err());
        assert!(end.add_days(i64::MAX).is_err());
    }

    proptest! {
        #[test]
        fn date_parser_never_panics(s in "\\PC{0,16}") {
            let _ = RocDate::parse(&s);
            let _ = RocDateTime::parse(&s);
        }

        #[test]
        fn digit_strings_never_panic(s in "[0-9]{7}", t in "[0-9]{13}") {
            if let Ok(d) = RocDate::parse(&s) {
                prop_assert_eq!(d.to_roc_string(), s);
            }
            if let Ok(d) = RocDateTime::parse(&t) {
                prop_assert_eq!(d.to_roc_string(), t);
            }
        }

        #[test]
        fn valid_dates_round_trip(days in 0i64..(999 * 366)) {
            let start = NaiveDate::from_ymd_opt(1912, 1, 1).unwrap();
            let date = start + chrono::Duration::days(days);
            prop_assume!(date.year() <= MAX_GREGORIAN_YEAR);
            let d = RocDate::from_naive(date).unwrap();
            let text = d.to_roc_string();
            prop_assert_eq!(text.len(), 7);
            prop_assert_eq!(RocDate::parse(&text).unwrap(), d);
        }

        #[test]
        fn valid_date_times_round_trip(secs in -1_830_412_800i64..29_000_000_000i64) {
            // From 1912-01-01 (Taiwan) to about 2888.
            if let Ok(t) = RocDateTime::from_unix_ms(secs * 1000) {
                let text = t.to_roc_string();
                prop_assert_eq!(text.len(), 13);
                let back = RocDateTime::parse(&text).unwrap();
                prop_assert_eq!(back, t);
                prop_assert_eq!(back.unix_seconds(), secs);
            }
        }
    }
}
