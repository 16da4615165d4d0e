//! The detail report (轉介單明細表) as rows, and its CSV export for Taiwan office software.
//!
//! **Encodings.** Big5 is the default: it is what the NHI platform's own exports use and what
//! spreadsheet software on a Traditional-Chinese Windows opens on a double click without asking.
//! UTF-8 with a byte-order mark is the other choice (Excel reads the BOM as "UTF-8"; LibreOffice
//! and Numbers too) and holds every character.
//!
//! **Characters outside Big5.** Names often hold characters that Big5 (the CP950 set Taiwan office
//! software reads: lead bytes `A1`–`F9`) lacks, e.g. 堃 or 喆. In a Big5 export each such
//! character becomes the full-width question mark `？` (`A1 48`): the row stays readable and
//! aligned, the file stays valid Big5 for every reader, and [`CsvExport::lossy_rows`] names the
//! rows that lost a character so the app can say "export as UTF-8 to keep these names". We do not
//! write HTML character references (encoding_rs's default): a spreadsheet would show `&#22531;`
//! as text. Codes that encoding_rs maps into the HKSCS rows (`FA`–`FE`) count as outside Big5 too:
//! CP950 software would show them as user-defined characters.
//!
//! **Safety.** Fields are quoted per RFC 4180 when needed; a field that a spreadsheet would run as
//! a formula (`=`, `+`, `-`, `@`, tab, CR first) is prefixed with `'`. Lines end with CRLF.

use super::model::{Referral, SenderState};
use super::query::Side;
use crate::model::roc::{RocDate, RocDateTime};

/// Which bytes a CSV export is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvEncoding {
    /// Big5 (CP950), the default.
    #[default]
    Big5,
    /// UTF-8 with a byte-order mark.
    Utf8Bom,
}

/// One row of the detail report. Holds patient data: `Debug` prints only the number and count.
#[derive(Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// 轉介單號.
    pub number: String,
    /// 轉介次數.
    pub count: u32,
    /// 轉介類別 code.
    pub kind_code: &'static str,
    /// 轉介類別 label.
    pub kind_label: &'static str,
    /// 轉介種類 (sent / received by this unit).
    pub side: Side,
    /// 開立日期, ROC `YYY/MM/DD`.
    pub opened_on: String,
    /// 主動轉介單位 code.
    pub sender_code: String,
    /// 主動轉介單位 name.
    pub sender_name: String,
    /// 接受轉介單位 code.
    pub receiver_code: String,
    /// 接受轉介單位 name.
    pub receiver_name: String,
    /// 個案身分證號.
    pub national_id: String,
    /// 個案姓名.
    pub patient_name: String,
    /// 主動轉介處理情形.
    pub sender_state: SenderState,
    /// 接受轉介處理情形 label (empty before sending).
    pub receiver_state_label: &'static str,
    /// 處理情形 (`04 安排再轉他院/長照單位`), when replied.
    pub processing: String,
    /// 處理情形說明, when replied.
    pub explanation: String,
    /// 回覆日期, ROC `YYY/MM/DD`, when replied.
    pub replied_on: String,
}

impl std::fmt::Debug for ReportRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportRow")
            .field("number", &self.number)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

fn roc_day(ms: i64) -> String {
    RocDateTime::from_unix_ms(ms)
        .map(|t| t.date().to_slashed())
        .unwrap_or_default()
}

impl ReportRow {
    /// The row of `r` as seen from `side`.
    pub fn of(r: &Referral, side: Side) -> Self {
        let reply = r.reply();
        Self {
            number: r.number.clone(),
            count: r.count,
            kind_code: r.kind.code(),
            kind_label: r.kind.label(),
            side,
            opened_on: roc_day(r.opened_at_ms),
            sender_code: r.form.referring_unit.code.clone(),
            sender_name: r.form.referring_unit.name.clone(),
            receiver_code: r.form.receiving_unit.code.clone(),
            receiver_name: r.form.receiving_unit.name.clone(),
            national_id: r.form.patient.national_id.clone(),
            patient_name: r.form.patient.name.clone(),
            sender_state: r.sender_state(),
            receiver_state_label: r.receiver_state().map(|s| s.label()).unwrap_or(""),
            processing: reply
                .map(|p| format!("{} {}", p.status.code(), p.status.label()))
                .unwrap_or_default(),
            explanation: reply.map(|p| p.explanation.clone()).unwrap_or_default(),
            replied_on: reply
                .and_then(|p| p.replied_at_ms)
                .map(roc_day)
                .unwrap_or_default(),
        }
    }

    fn fields(&self) -> [String; 16] {
        [
            self.number.clone(),
            self.count.to_string(),
            format!("{} {}", self.kind_code, self.kind_label),
            self.side.label().to_string(),
            self.opened_on.clone(),
            self.sender_code.clone(),
            self.sender_name.clone(),
            self.receiver_code.clone(),
            self.receiver_name.clone(),
            self.national_id.clone(),
            self.patient_name.clone(),
            self.sender_state.label().to_string(),
            self.receiver_state_label.to_string(),
            self.processing.clone(),
            self.explanation.clone(),
            self.replied_on.clone(),
        ]
    }
}

/// The header line's columns.
pub const HEADER: [&str; 16] = [
    "轉介單號",
    "轉介次數",
    "轉介類別",
    "轉介種類",
    "開立日期",
    "主動轉介單位代號",
    "主動轉介單位名稱",
    "接受轉介單位代號",
    "接受轉介單位名稱",
    "個案身分證號",
    "個案姓名",
    "主動轉介處理情形",
    "接受轉介處理情形",
    "處理情形",
    "處理情形說明",
    "回覆日期",
];

/// One CSV field: neutralised when a spreadsheet would run it, quoted when it must be.
pub fn field(text: &str) -> String {
    let mut t = String::with_capacity(text.len() + 2);
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        t.push('\'');
    }
    t.push_str(text);
    if t.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", t.replace('"', "\"\""))
    } else {
        t
    }
}

/// The report as CSV text (header + rows, CRLF line ends).
pub fn to_csv_text(rows: &[ReportRow]) -> String {
    let mut out = String::new();
    let line = |fields: &[String], out: &mut String| {
        let joined: Vec<String> = fields.iter().map(|f| field(f)).collect();
        out.push_str(&joined.join(","));
        out.push_str("\r\n");
    };
    let header: Vec<String> = HEADER.iter().map(|h| h.to_string()).collect();
    line(&header, &mut out);
    for r in rows {
        line(&r.fields(), &mut out);
    }
    out
}

/// A CSV export: its bytes, the encoding, and the rows (1-based, header excluded) in which a
/// character outside Big5 was replaced by `？`.
#[derive(Clone, PartialEq, Eq)]
pub struct CsvExport {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Their encoding.
    pub encoding: CsvEncoding,
    /// Rows that lost a character (Big5 only; always empty for UTF-8).
    pub lossy_rows: Vec<u32>,
}

impl std::fmt::Debug for CsvExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvExport")
            .field("len", &self.bytes.len())
            .field("encoding", &self.encoding)
            .field("lossy_rows", &self.lossy_rows)
            .finish()
    }
}

/// The UTF-8 byte-order mark.
pub const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// The Big5 bytes of the full-width question mark `？` (the replacement).
pub const BIG5_REPLACEMENT: [u8; 2] = [0xA1, 0x48];

/// Encodes one character in Big5 as CP950 software reads it, or `None` when it has no code there.
pub fn big5_char(c: char) -> Option<Vec<u8>> {
    if c.is_ascii() {
        return Some(vec![c as u8]);
    }
    let mut buf = [0u8; 4];
    let s = c.encode_utf8(&mut buf);
    let mut encoder = encoding_rs::BIG5.new_encoder();
    let mut out = [0u8; 8];
    let (result, _, written) = encoder.encode_from_utf8_without_replacement(s, &mut out, true);
    match result {
        encoding_rs::EncoderResult::InputEmpty if written == 2 && (0xA1..=0xF9).contains(&out[0]) => {
            Some(out[..2].to_vec())
        }
        _ => None,
    }
}

/// Encodes CSV text: Big5 (replacing each character outside it by `？`, counting rows) or UTF-8
/// with a BOM.
pub fn encode(text: &str, encoding: CsvEncoding) -> CsvExport {
    match encoding {
        CsvEncoding::Utf8Bom => {
            let mut bytes = BOM.to_vec();
            bytes.extend_from_slice(text.as_bytes());
            CsvExport {
                bytes,
                encoding,
                lossy_rows: Vec::new(),
            }
        }
        CsvEncoding::Big5 => {
            let mut bytes = Vec::with_capacity(text.len());
            let mut lossy_rows = Vec::new();
            // Line 0 is the header; a quoted field never holds a bare line end we count wrongly
            // because line ends inside fields are counted too: rows are counted by CRLF records.
            let mut row: u32 = 0;
            let mut in_quotes = false;
            let mut prev = '\0';
            for c in text.chars() {
                if c == '"' {
                    in_quotes = !in_quotes;
                }
                if c == '\n' && prev == '\r' && !in_quotes {
                    row += 1;
                }
                prev = c;
                match big5_char(c) {
                    Some(b) => bytes.extend_from_slice(&b),
                    None => {
                        bytes.extend_from_slice(&BIG5_REPLACEMENT);
                        if lossy_rows.last() != Some(&row) {
                            lossy_rows.push(row);
                        }
                    }
                }
            }
            CsvExport {
                bytes,
                encoding,
                lossy_rows,
            }
        }
    }
}

/// The report rows as a CSV file in `encoding`.
pub fn export(rows: &[ReportRow], encoding: CsvEncoding) -> CsvExport {
    encode(&to_csv_text(rows), encoding)
}

/// A ROC `YYY/MM/DD` of a date (for callers printing filters).
pub fn roc_slashed(d: chrono::NaiveDate) -> String {
    RocDate::from_naive(d).map(|d| d.to_slashed()).unwrap_or_default()
}
