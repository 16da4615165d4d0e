//! Corrections and cancellations of visits (shared/domain.md §3, §10), as pure rules used by the
//! device and the VPN simulator alike:
//!
//! - **Record state** (A01 for public HIS parsers): normal `1`, abnormal `2`, corrected-normal `3`,
//!   corrected-abnormal `4`. A correction is its own record state keyed by the visit
//!   identification code, never a second new visit.
//! - **Correction window**: a correction is accepted within 3 calendar months of the visit (Taiwan
//!   time; the end of a shorter month clamps, 30 November → 28/29 February).
//! - **Cancel window**: `ZA`/`ZB` cancel a visit within 24 hours of it.
//! - **Content digest**: what both sides compute over a record's `MB1`/`MB2` fields, so the device
//!   can tell that the server acknowledged *that content* (and a `Duplicate` of other content is a
//!   conflict). A deletion has its own digest over the visit code.

use crate::model::taiwan_offset;
use chrono::{Months, TimeZone};
use std::collections::BTreeMap;

/// Months after the visit within which the NHI accepts a correction.
pub const CORRECTION_WINDOW_MONTHS: u32 = 3;

/// How long after the visit it may be cancelled (`ZA`/`ZB`), in ms.
pub const CANCEL_WINDOW_MS: i64 = 24 * 3_600_000;

/// The 2.0 `MSH` field carrying the record state (our placement; domain §10 names it A01).
pub const RECORD_STATE_FIELD: &str = "A01";

/// The 2.0 `MSH` field marking a correction as a deletion (`1`); our choice, domain §10 is silent.
pub const DELETION_FIELD: &str = "A02";

/// A record's state in the daily upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordState {
    /// A normal record (A01 = 1).
    Normal,
    /// An abnormal record (A01 = 2).
    Abnormal,
    /// A correction of a normal record (A01 = 3).
    CorrectedNormal,
    /// A correction of an abnormal record (A01 = 4).
    CorrectedAbnormal,
}

impl RecordState {
    /// The state of a new record, or of a correction, of a normal or abnormal visit.
    pub fn of(abnormal: bool, correction: bool) -> Self {
        match (abnormal, correction) {
            (false, false) => RecordState::Normal,
            (true, false) => RecordState::Abnormal,
            (false, true) => RecordState::CorrectedNormal,
            (true, true) => RecordState::CorrectedAbnormal,
        }
    }
    /// The A01 value (`1`–`4`).
    pub fn code(self) -> &'static str {
        match self {
            RecordState::Normal => "1",
            RecordState::Abnormal => "2",
            RecordState::CorrectedNormal => "3",
            RecordState::CorrectedAbnormal => "4",
        }
    }
    /// Parses an A01 value.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "1" => Some(RecordState::Normal),
            "2" => Some(RecordState::Abnormal),
            "3" => Some(RecordState::CorrectedNormal),
            "4" => Some(RecordState::CorrectedAbnormal),
            _ => None,
        }
    }
    /// True for the two corrected states.
    pub fn is_correction(self) -> bool {
        matches!(
            self,
            RecordState::CorrectedNormal | RecordState::CorrectedAbnormal
        )
    }
    /// True for the two abnormal states.
    pub fn is_abnormal(self) -> bool {
        matches!(self, RecordState::Abnormal | RecordState::CorrectedAbnormal)
    }
}

/// A window (correction or cancel) has closed: `deadline_ms` was its last moment (Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowClosed {
    /// The last moment the action was allowed (Unix ms).
    pub deadline_ms: i64,
}

/// The last moment (Unix ms) a visit made at `visited_ms` may be corrected: 3 calendar months
/// later, Taiwan time (a day missing in the target month clamps to its last day).
pub fn correction_deadline_ms(visited_ms: i64) -> i64 {
    let visited = match taiwan_offset().timestamp_millis_opt(visited_ms).single() {
        Some(t) => t,
        None => return visited_ms,
    };
    visited
        .checked_add_months(Months::new(CORRECTION_WINDOW_MONTHS))
        .map(|t| t.timestamp_millis())
        .unwrap_or(i64::MAX)
}

/// Whether a visit made at `visited_ms` may still be corrected (or deleted) at `now_ms`.
pub fn check_correction_window(visited_ms: i64, now_ms: i64) -> Result<(), WindowClosed> {
    let deadline_ms = correction_deadline_ms(visited_ms);
    if now_ms > deadline_ms {
        return Err(WindowClosed { deadline_ms });
    }
    Ok(())
}

/// Whether a visit made at `visited_ms` may still be cancelled (`ZA`/`ZB`) at `now_ms`: within 24
/// hours of it (a device clock behind the visit time counts as within).
pub fn check_cancel_window(visited_ms: i64, now_ms: i64) -> Result<(), WindowClosed> {
    let deadline_ms = visited_ms.saturating_add(CANCEL_WINDOW_MS);
    if now_ms > deadline_ms {
        return Err(WindowClosed { deadline_ms });
    }
    Ok(())
}

/// A record's content: its `MB1` fields and one map per `MB2`, empty values left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordContent {
    /// `MB1` fields by name.
    pub mb1: BTreeMap<String, String>,
    /// One map of `D..` fields per order.
    pub mb2: Vec<BTreeMap<String, String>>,
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// The digest of a record's content (`MB1` and `MB2` fields; the header, record state and
/// deletion mark are not content): SHA-256 hex over `MB1.<name>=<value>\n` lines in field order,
/// then `MB2.<n>.<name>=<value>\n` per order; empty values are absent.
pub fn content_digest(mb1: &BTreeMap<String, String>, mb2: &[BTreeMap<String, String>]) -> String {
    let mut text = String::with_capacity(512);
    for (k, v) in mb1.iter().filter(|(_, v)| !v.is_empty()) {
        text.push_str("MB1.");
        text.push_str(k);
        text.push('=');
        text.push_str(v);
        text.push('\n');
    }
    for (i, order) in mb2.iter().enumerate() {
        for (k, v) in order.iter().filter(|(_, v)| !v.is_empty()) {
            text.push_str(&format!("MB2.{}.{k}={v}\n", i + 1));
        }
    }
    hex_sha256(text.as_bytes())
}

/// The digest the server holds for a visit it deleted (a deletion has no content).
pub fn deletion_digest(visit_code: &str) -> String {
    hex_sha256(format!("DELETED\n{visit_code}\n").as_bytes())
}

fn unescape(v: &str) -> String {
    v.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Leaf fields `<NAME>value</NAME>` inside `body`, in order (the writer's flat shape).
fn leaves(body: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after.find('>')?;
        let name = &after[..close];
        let value_and_more = &after[close + 1..];
        let end_tag = format!("</{name}>");
        let end = value_and_more.find(&end_tag)?;
        out.push((name.to_string(), unescape(&value_and_more[..end])));
        rest = &value_and_more[end + end_tag.len()..];
    }
    Some(out)
}

fn section<'a>(text: &'a str, tag: &str, from: usize) -> Option<(usize, &'a str)> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = text[from..].find(&open)? + from + open.len();
    let end = text[start..].find(&close)? + start;
    Some((end + close.len(), &text[start..end]))
}

/// Reads one frozen Big5 `REC` (as the device's writer makes it: flat fields, no attributes)
/// back into its content, its record state and whether it is a deletion. `None` if the bytes are
/// not such a record.
pub fn read_record(rec_big5: &[u8]) -> Option<(RecordContent, Option<RecordState>, bool)> {
    let text = encoding_rs::BIG5.decode_without_bom_handling_and_without_replacement(rec_big5)?;
    let (_, msh) = section(&text, "MSH", 0)?;
    let header: BTreeMap<String, String> = leaves(msh)?.into_iter().collect();
    let (mut at, mb1) = section(&text, "MB1", 0)?;
    let mut content = RecordContent {
        mb1: leaves(mb1)?.into_iter().collect(),
        mb2: Vec::new(),
    };
    while let Some((next, mb2)) = section(&text, "MB2", at) {
        content.mb2.push(leaves(mb2)?.into_iter().collect());
        at = next;
    }
    let state = header.get(RECORD_STATE_FIELD).and_then(|s| RecordState::parse(s));
    let deletion = header.get(DELETION_FIELD).map(String::as_str) == Some("1");
    Some((content, state, deletion))
}

/// The digest the server must acknowledge for a frozen record: its content digest, or the
/// deletion digest of its visit code for a deletion. `None` if the bytes are not a record.
pub fn expected_digest(rec_big5: &[u8]) -> Option<String> {
    let (content, _, deletion) = read_record(rec_big5)?;
    if deletion {
        let code = content.mb1.get("M15").cloned().unwrap_or_default();
        return Some(deletion_digest(&code));
    }
    Some(content_digest(&content.mb1, &content.mb2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn tw(y: i32, m: u32, d: u32, h: u32, mi: u32) -> i64 {
        taiwan_offset()
            .with_ymd_and_hms(y, m, d, h, mi, 0)
            .unwrap()
            .timestamp_millis()
    }

    /// Fixed test vectors of the 3-month window (the simulator's tests use the same function).
    #[test]
    fn corrections_are_accepted_within_three_calendar_months() {
        let visit = tw(2024, 3, 5, 9, 30);
        assert_eq!(correction_deadline_ms(visit), tw(2024, 6, 5, 9, 30));
        assert_eq!(check_correction_window(visit, tw(2024, 6, 5, 9, 30)), Ok(()));
        assert_eq!(
            check_correction_window(visit, tw(2024, 6, 5, 9, 31)),
            Err(WindowClosed {
                deadline_ms: tw(2024, 6, 5, 9, 30)
            })
        );
        // The end of a shorter month clamps.
        assert_eq!(
            correction_deadline_ms(tw(2023, 11, 30, 8, 0)),
            tw(2024, 2, 29, 8, 0)
        );
        assert_eq!(
            correction_deadline_ms(tw(2024, 11, 30, 8, 0)),
            tw(2025, 2, 28, 8, 0)
        );
    }

    #[test]
    fn a_visit_is_cancelled_within_24_hours() {
        let visit = tw(2024, 3, 5, 9, 30);
        assert_eq!(check_cancel_window(visit, visit), Ok(()));
        assert_eq!(check_cancel_window(visit, tw(2024, 3, 6, 9, 30)), Ok(()));
        assert_eq!(
            check_cancel_window(visit, tw(2024, 3, 6, 9, 31)),
            Err(WindowClosed {
                deadline_ms: tw(2024, 3, 6, 9, 30)
            })
        );
        assert_eq!(check_cancel_window(visit, visit - 60_000), Ok(()));
    }

    #[test]
    fn record_states_are_a01_one_to_four() {
        let all = [
            RecordState::of(false, false),
            RecordState::of(true, false),
            RecordState::of(false, true),
            RecordState::of(true, true),
        ];
        let codes: Vec<_> = all.iter().map(|s| s.code()).collect();
        assert_eq!(codes, ["1", "2", "3", "4"]);
        for s in all {
            assert_eq!(RecordState::parse(s.code()), Some(s));
        }
        assert!(
            RecordState::CorrectedAbnormal.is_correction() && RecordState::CorrectedAbnormal.is_abnormal()
        );
        assert_eq!(RecordState::parse("5"), None);
    }

    /// The fixed record of the simulator's parser test; its digest is pinned on both sides.
    pub(crate) const SAMPLE_REC: &str = concat!(
        "<REC><MSH><H00>1</H00><H01>A</H01></MSH><MB><MB1>",
        "<M01>100000000001</M01><M02>000012345678</M02><M03>A123456789</M03><M04>0390305</M04>",
        "<M05>3501200000</M05><M06>B223456782</M06><M07>01</M07><M11>1130305093015</M11>",
        "<M12>1</M12><M13>0007</M13><M15>7K3P9QX2M4T8V6W1R5ZH</M15><M35>I10</M35><M36>E119</M36>",
        "<M44>1631</M44><M45>0</M45></MB1>",
        "<MB2><D01>1130305093015</D01><D02>2</D02><D03>001</D03><D06>05307C</D06><D10>0001.0</D10></MB2>",
        "<MB2><D01>1130305093015</D01><D02>1</D02><D03>002</D03><D06>AC45856100</D06><D07>PO</D07>",
        "<D08>TID</D08><D09>7</D09><D10>0021.0</D10></MB2>",
        "</MB></REC>"
    );

    /// The pinned digest of [`SAMPLE_REC`] (computed independently; the simulator's test pins it too).
    pub(crate) const SAMPLE_DIGEST: &str = "b2a78195a46a9e002e203d78bf50b49519395727ba0427a8352c9ffbae2ecb0b";

    #[test]
    fn the_content_digest_is_pinned_and_ignores_the_record_state() {
        let digest = expected_digest(SAMPLE_REC.as_bytes()).unwrap();
        assert_eq!(digest.len(), 64);
        assert_eq!(digest, SAMPLE_DIGEST);
        let corrected = SAMPLE_REC.replace("<H01>A</H01>", "<H01>A</H01><A01>3</A01>");
        let (_, state, deletion) = read_record(corrected.as_bytes()).unwrap();
        assert_eq!(state, Some(RecordState::CorrectedNormal));
        assert!(!deletion);
        assert_eq!(expected_digest(corrected.as_bytes()).unwrap(), digest);
        // Another content, another digest.
        let edited = SAMPLE_REC.replace("<M36>E119</M36>", "<M36>E118</M36>");
        assert_ne!(expected_digest(edited.as_bytes()).unwrap(), digest);
        // A deletion acknowledges the visit code only.
        let deleted = SAMPLE_REC.replace("<H01>A</H01>", "<H01>A</H01><A01>3</A01><A02>1</A02>");
        assert_eq!(
            expected_digest(deleted.as_bytes()).unwrap(),
            deletion_digest("7K3P9QX2M4T8V6W1R5ZH")
        );
        assert_eq!(expected_digest(b"not a record"), None);
    }

    #[test]
    fn escaped_text_is_read_back() {
        let rec = SAMPLE_REC.replace("<M45>0</M45>", "<M10>a&amp;b&lt;</M10><M45>0</M45>");
        let (content, _, _) = read_record(rec.as_bytes()).unwrap();
        assert_eq!(content.mb1.get("M10").map(String::as_str), Some("a&b<"));
        assert_eq!(content.mb2.len(), 2);
    }
}
