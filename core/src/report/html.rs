//! Printable HTML of the abnormal-situation report: one self-contained page (inline style, no
//! script, no external resource, a content-security policy that forbids both), every text escaped.

use super::abnormal::{AbnormalRow, HEADER};

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:16px}h1{font-size:20px}\
table{border-collapse:collapse;width:100%;font-size:12px}th,td{border:1px solid #333;padding:4px;\
vertical-align:top}th{background:#eee}@media print{body{margin:0}}";

/// The page: title with institution and period, the rows as a table, and the count.
pub fn abnormal_report(institution: &str, period: &str, generated: &str, rows: &[AbnormalRow]) -> String {
    let mut s = String::with_capacity(2048 + rows.len() * 400);
    s.push_str("<!DOCTYPE html>\n<html lang=\"zh-Hant\"><head><meta charset=\"utf-8\">");
    s.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
    );
    s.push_str("<title>健保IC卡作業異常狀況報備單</title><style>");
    s.push_str(STYLE);
    s.push_str("</style></head><body>\n<h1>健保IC卡作業異常狀況報備單</h1>\n<p>醫事機構代號：");
    s.push_str(&escape(institution));
    s.push_str("　報備期間：");
    s.push_str(&escape(period));
    s.push_str("　製表時間：");
    s.push_str(&escape(generated));
    s.push_str("</p>\n<table><thead><tr>");
    for h in HEADER {
        s.push_str("<th>");
        s.push_str(&escape(h));
        s.push_str("</th>");
    }
    s.push_str("</tr></thead><tbody>\n");
    for r in rows {
        s.push_str("<tr>");
        for f in r.fields() {
            s.push_str("<td>");
            s.push_str(&escape(&f));
            s.push_str("</td>");
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table>\n<p>共 ");
    s.push_str(&rows.len().to_string());
    s.push_str(" 筆</p>\n</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::abnormal::AbnormalKind;

    #[test]
    fn the_html_report_escapes_every_field_and_runs_no_script() {
        let row = AbnormalRow {
            visit_id: "v".into(),
            visit_code: "0123456789ABCDEFGHJK".into(),
            kind: AbnormalKind::Offline,
            sequence_code: "A021".into(),
            sequence_meaning: String::new(),
            reason: "<script>alert(1)</script>\" onload=\"x".into(),
            practitioner_id: "E123456789".into(),
            patient_id_masked: "A12*****89".into(),
            visited_at_ms: 1_796_090_400_000,
            due_at_ms: 1_796_176_800_000,
            uploaded_at_ms: None,
        };
        let html = abnormal_report("3501200000", "115/12/01–115/12/01", "115/12/02 09:00", &[row]);
        assert!(!html.to_lowercase().contains("<script"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot; onload=&quot;x"));
        assert!(html.contains("default-src 'none'"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(html.contains("共 1 筆"));
    }
}
