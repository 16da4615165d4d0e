//! The abnormal-situation report (健保IC卡作業異常狀況報備單, seed 004): made automatically for
//! every visit that ran offline (an announced abnormal sequence number in M13, domain §3/§10) or
//! missed its upload deadline (24 h; 1 h for an emergency visit), with the reason, the sequence
//! code and the times (visit, upload due, uploaded).
//!
//! **Patient data, per field.** The form is filed with the NHI's regional office to excuse late
//! uploads; the NHI finds each visit by its visit identification code (which it decodes to person,
//! place and time), so the report carries that code and the patient's national ID **masked**
//! (`A12*****89`, enough for staff to tell rows apart) and never the name. The reason is the app's
//! coded text. Nothing here is logged.
//!
//! The "異常起日" column (the day the failure began) is the visit's Taiwan date: seed 004 asks that
//! a failure affecting the previous day's uploads be noted there, which a row per visit does.

use crate::model::roc::{RocDate, RocDateTime};
use crate::model::{SequenceNumber, VisitType};
use crate::referral::csv::{CsvEncoding, CsvExport, encode, field};
use crate::sync::deadline::{EMERGENCY_UPLOAD_DEADLINE_MS, UPLOAD_DEADLINE_MS};

/// A visit as the report reads it (the facade fills it from the store).
#[derive(Clone, PartialEq, Eq)]
pub struct AbnormalVisit {
    /// Local visit id.
    pub visit_id: String,
    /// Visit identification code (M15).
    pub visit_code: String,
    /// Visit type (M07).
    pub visit_type: String,
    /// Sequence number (M13) as recorded.
    pub sequence_number: String,
    /// Why the visit took an abnormal sequence number, as recorded.
    pub abnormal_reason: Option<String>,
    /// The practitioner's ID (staff, not patient data).
    pub practitioner_id: String,
    /// The patient's national ID, already masked.
    pub patient_id_masked: String,
    /// When the visit happened (Unix ms).
    pub visited_at_ms: i64,
    /// An emergency visit (1-hour deadline).
    pub emergency: bool,
    /// When its card upload was confirmed (Unix ms).
    pub uploaded_at_ms: Option<i64>,
}

impl std::fmt::Debug for AbnormalVisit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AbnormalVisit")
            .field("visit_id", &self.visit_id)
            .field("sequence_number", &self.sequence_number)
            .finish_non_exhaustive()
    }
}

/// Why a visit is on the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbnormalKind {
    /// It ran offline: an abnormal sequence number.
    Offline,
    /// It missed its upload deadline.
    LateUpload,
    /// Both.
    OfflineAndLate,
}

impl AbnormalKind {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AbnormalKind::Offline => "offline",
            AbnormalKind::LateUpload => "late_upload",
            AbnormalKind::OfflineAndLate => "offline_and_late",
        }
    }

    /// The form's wording.
    pub fn label_zh(self) -> &'static str {
        match self {
            AbnormalKind::Offline => "異常就醫序號",
            AbnormalKind::LateUpload => "逾時上傳",
            AbnormalKind::OfflineAndLate => "異常就醫序號、逾時上傳",
        }
    }
}

/// One row of the report.
#[derive(Clone, PartialEq, Eq)]
pub struct AbnormalRow {
    /// Local visit id (not printed; for the app to open the visit).
    pub visit_id: String,
    /// Visit identification code.
    pub visit_code: String,
    /// Why it is on the report.
    pub kind: AbnormalKind,
    /// The sequence number (the abnormal code when offline).
    pub sequence_code: String,
    /// What the abnormal code means (Chinese), empty for a normal number.
    pub sequence_meaning: String,
    /// The reason: the recorded one, else the code's meaning, else the lateness.
    pub reason: String,
    /// The practitioner's ID.
    pub practitioner_id: String,
    /// The patient's national ID, masked.
    pub patient_id_masked: String,
    /// When the visit happened (Unix ms).
    pub visited_at_ms: i64,
    /// When its upload was due (Unix ms).
    pub due_at_ms: i64,
    /// When its upload was confirmed (Unix ms), if it was.
    pub uploaded_at_ms: Option<i64>,
}

impl std::fmt::Debug for AbnormalRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AbnormalRow")
            .field("visit_id", &self.visit_id)
            .field("kind", &self.kind)
            .field("sequence_code", &self.sequence_code)
            .finish_non_exhaustive()
    }
}

/// The upload deadline of a visit (Unix ms).
pub fn due_at_ms(visited_at_ms: i64, emergency: bool) -> i64 {
    let deadline = if emergency {
        EMERGENCY_UPLOAD_DEADLINE_MS
    } else {
        UPLOAD_DEADLINE_MS
    };
    visited_at_ms.saturating_add(deadline)
}

/// Whether a visit missed its deadline at `now_ms`: confirmed after it, or still not confirmed past it.
pub fn missed_deadline(due_at_ms: i64, uploaded_at_ms: Option<i64>, now_ms: i64) -> bool {
    match uploaded_at_ms {
        Some(at) => at > due_at_ms,
        None => now_ms > due_at_ms,
    }
}

/// The visit's row, when it ran offline or missed its deadline at `now_ms`; a cancellation
/// (`ZA`/`ZB`) is never reported.
pub fn row_of(v: &AbnormalVisit, now_ms: i64) -> Option<AbnormalRow> {
    if VisitType::parse(&v.visit_type).is_ok_and(|t| t.is_cancellation()) {
        return None;
    }
    let abnormal = SequenceNumber::parse(&v.sequence_number)
        .ok()
        .and_then(|s| s.abnormal());
    let due = due_at_ms(v.visited_at_ms, v.emergency);
    let late = missed_deadline(due, v.uploaded_at_ms, now_ms);
    let kind = match (abnormal.is_some(), late) {
        (true, true) => AbnormalKind::OfflineAndLate,
        (true, false) => AbnormalKind::Offline,
        (false, true) => AbnormalKind::LateUpload,
        (false, false) => return None,
    };
    let sequence_meaning = abnormal.map(|a| a.meaning().zh.to_string()).unwrap_or_default();
    let reason = match (&v.abnormal_reason, abnormal) {
        (Some(r), _) if !r.trim().is_empty() => r.trim().to_string(),
        (_, Some(a)) => a.meaning().zh.to_string(),
        _ if v.uploaded_at_ms.is_some() => "逾時上傳".to_string(),
        _ => "逾時未上傳".to_string(),
    };
    Some(AbnormalRow {
        visit_id: v.visit_id.clone(),
        visit_code: v.visit_code.clone(),
        kind,
        sequence_code: v.sequence_number.clone(),
        sequence_meaning,
        reason,
        practitioner_id: v.practitioner_id.clone(),
        patient_id_masked: v.patient_id_masked.clone(),
        visited_at_ms: v.visited_at_ms,
        due_at_ms: due,
        uploaded_at_ms: v.uploaded_at_ms,
    })
}

/// The rows of the visits that belong on the report at `now_ms`, oldest visit first.
pub fn rows(visits: &[AbnormalVisit], now_ms: i64) -> Vec<AbnormalRow> {
    let mut rows: Vec<AbnormalRow> = visits.iter().filter_map(|v| row_of(v, now_ms)).collect();
    rows.sort_by(|a, b| (a.visited_at_ms, &a.visit_id).cmp(&(b.visited_at_ms, &b.visit_id)));
    rows
}

/// A time as the form prints it: ROC `YYY/MM/DD HH:MM` (Taiwan time); empty for none.
pub fn roc_time(ms: Option<i64>) -> String {
    let Some(t) = ms.and_then(|ms| RocDateTime::from_unix_ms(ms).ok()) else {
        return String::new();
    };
    let s = t.time_string();
    format!("{} {}:{}", t.date().to_slashed(), &s[0..2], &s[2..4])
}

/// The visit's Taiwan date as the form prints it: ROC `YYY/MM/DD`.
pub fn roc_day(ms: i64) -> String {
    RocDateTime::from_unix_ms(ms)
        .map(|t| t.date().to_slashed())
        .unwrap_or_default()
}

/// The CSV header (the form's columns).
pub const HEADER: [&str; 11] = [
    "異常起日",
    "就醫日期時間",
    "就醫識別碼",
    "就醫序號",
    "序號說明",
    "報備類別",
    "異常原因",
    "醫事人員ID",
    "身分證號(遮罩)",
    "應上傳時間",
    "實際上傳時間",
];

impl AbnormalRow {
    /// The row's printed fields, in [`HEADER`] order.
    pub fn fields(&self) -> [String; 11] {
        [
            roc_day(self.visited_at_ms),
            roc_time(Some(self.visited_at_ms)),
            self.visit_code.clone(),
            self.sequence_code.clone(),
            self.sequence_meaning.clone(),
            self.kind.label_zh().to_string(),
            self.reason.clone(),
            self.practitioner_id.clone(),
            self.patient_id_masked.clone(),
            roc_time(Some(self.due_at_ms)),
            roc_time(self.uploaded_at_ms),
        ]
    }
}

/// The report as CSV text (header + rows, CRLF line ends, fields neutralised and quoted as the
/// referral export does).
pub fn to_csv_text(rows: &[AbnormalRow]) -> String {
    let mut out = String::new();
    let mut line = |fields: &mut dyn Iterator<Item = String>| {
        let joined: Vec<String> = fields.map(|f| field(&f)).collect();
        out.push_str(&joined.join(","));
        out.push_str("\r\n");
    };
    line(&mut HEADER.iter().map(|h| h.to_string()));
    for r in rows {
        line(&mut r.fields().into_iter());
    }
    out
}

/// The report as a CSV file (Big5 by default, or UTF-8 with a BOM).
pub fn export_csv(rows: &[AbnormalRow], encoding: CsvEncoding) -> CsvExport {
    encode(&to_csv_text(rows), encoding)
}

/// Today's ROC date of a Unix time, for report titles.
pub fn roc_date_of(ms: i64) -> Option<RocDate> {
    RocDateTime::from_unix_ms(ms).ok().map(|t| t.date())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    /// 2026-12-01 10:00 Taiwan time.
    const T0: i64 = 1_796_090_400_000;

    fn visit(seq: &str, uploaded_after_h: Option<i64>) -> AbnormalVisit {
        AbnormalVisit {
            visit_id: "v1".into(),
            visit_code: "0123456789ABCDEFGHJK".into(),
            visit_type: "01".into(),
            sequence_number: seq.into(),
            abnormal_reason: None,
            practitioner_id: "E123456789".into(),
            patient_id_masked: "A12*****89".into(),
            visited_at_ms: T0,
            emergency: false,
            uploaded_at_ms: uploaded_after_h.map(|h| T0 + h * HOUR),
        }
    }

    #[test]
    fn a_visit_with_an_abnormal_sequence_number_is_reported_as_offline() {
        let row = row_of(&visit("F00B", Some(2)), T0 + 3 * HOUR).unwrap();
        assert_eq!(row.kind, AbnormalKind::Offline);
        assert_eq!(row.sequence_code, "F00B");
        assert_eq!(row.reason, "居家輕量藍牙方案離線認證");
        assert_eq!(row.due_at_ms, T0 + 24 * HOUR);
    }

    #[test]
    fn a_normal_visit_uploaded_in_time_is_not_reported() {
        assert_eq!(row_of(&visit("0001", Some(24)), T0 + 48 * HOUR), None);
        assert_eq!(row_of(&visit("V0A1", None), T0 + HOUR), None);
    }

    #[test]
    fn a_visit_that_missed_its_24_hour_deadline_is_reported_late() {
        let row = row_of(&visit("0001", Some(25)), T0 + 48 * HOUR).unwrap();
        assert_eq!(
            (row.kind, row.reason.as_str()),
            (AbnormalKind::LateUpload, "逾時上傳")
        );
        // Not uploaded at all: late from the millisecond after its due time.
        assert_eq!(row_of(&visit("0001", None), T0 + 24 * HOUR), None);
        let row = row_of(&visit("0001", None), T0 + 24 * HOUR + 1).unwrap();
        assert_eq!(row.reason, "逾時未上傳");
        assert_eq!(
            row_of(&visit("A021", None), T0 + 30 * HOUR).unwrap().kind,
            AbnormalKind::OfflineAndLate
        );
    }

    #[test]
    fn an_emergency_visit_is_late_after_one_hour() {
        let mut v = visit("0001", Some(2));
        v.emergency = true;
        assert_eq!(row_of(&v, T0 + 3 * HOUR).unwrap().due_at_ms, T0 + HOUR);
    }

    #[test]
    fn a_cancellation_is_never_reported() {
        let mut v = visit("F00B", None);
        v.visit_type = "ZA".into();
        assert_eq!(row_of(&v, T0 + 48 * HOUR), None);
    }

    #[test]
    fn the_recorded_reason_wins_and_csv_neutralises_formulas() {
        let mut v = visit("A021", Some(1));
        v.abnormal_reason = Some("=HYPERLINK(\"x\")".into());
        let rows = rows(&[v], T0 + 2 * HOUR);
        let text = to_csv_text(&rows);
        assert!(text.starts_with("異常起日,"));
        assert!(text.contains("\"'=HYPERLINK(\"\"x\"\")\""), "{text}");
        assert!(text.contains("115/12/01 10:00"));
        let big5 = export_csv(&rows, CsvEncoding::Big5);
        assert!(big5.lossy_rows.is_empty());
        assert!(
            export_csv(&rows, CsvEncoding::Utf8Bom)
                .bytes
                .starts_with(&crate::referral::csv::BOM)
        );
    }
}
