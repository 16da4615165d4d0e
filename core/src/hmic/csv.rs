//! The query's CSV export (Big5 by default, UTF-8 with BOM; the encoder of `referral::csv`).

use super::wire::QueryRow;
use crate::referral::csv::{self as rcsv, CsvEncoding, CsvExport};

/// The header line.
pub const HEADER: &str = "申請序號,收案院所,照護團隊代碼,申請類別,狀態,身分證號,姓名,申請日,受理日,核定起日,核定迄日,照護階段,結案日期,結案原因";

/// The rows as CSV text (CRLF line ends, ROC dates `YYY/MM/DD`).
pub fn to_csv_text(rows: &[QueryRow]) -> String {
    let date = |d: Option<chrono::NaiveDate>| d.map(rcsv::roc_slashed).unwrap_or_default();
    let mut out = String::from(HEADER);
    out.push_str("\r\n");
    for r in rows {
        let cells = [
            r.id.clone(),
            r.institution.clone(),
            r.care_team.clone(),
            r.kind.clone(),
            r.state.clone(),
            r.national_id.clone(),
            r.name.clone(),
            date(Some(r.application_date)),
            date(r.acceptance_date),
            date(Some(r.start_date)),
            date(Some(r.end_date)),
            r.care_stage.clone(),
            date(r.closing_date),
            r.closing_reason.clone(),
        ];
        let line: Vec<String> = cells.iter().map(|c| rcsv::field(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// The rows as a CSV file in `encoding`.
pub fn export(rows: &[QueryRow], encoding: CsvEncoding) -> CsvExport {
    rcsv::encode(&to_csv_text(rows), encoding)
}
