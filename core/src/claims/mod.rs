//! The monthly claims export at the institution (issue 14 item 8): a month's visits with their
//! orders, per practitioner, as CSV (Big5 by default, or UTF-8 with a BOM; the referral CSV
//! helpers) and as the card-upload XML (the 2.0 records, `vpn::upload_xml`). Pure: the facade
//! (`app/claims.rs`) reads the store and calls [`month`].
//!
//! One CSV row per order (a visit without orders gets one row without order fields). Each row
//! carries the claim's case type and the specific treatment code `EC` (`rules::fees`, from the
//! visit's role and care stage — a doctor in home medical care when not recorded), the visit fee
//! code (the first order that is a fee code of the table, else the one the table proposes) with
//! its points when the table knows them (blank = unknown, never guessed), the emergency mark `ECE`
//! with its surcharge, and for each order its execution start/end, performer and department
//! (from the order, or the visit's time, practitioner and the role's department: a doctor's
//! specialty `01` unless told, nurse `EA`, respiratory therapist `AC`, others blank). The execution
//! end of an emergency visit is its recorded end; otherwise the visit time when the order does not
//! say.

use crate::model::{CareStage, OrderKind, RocDateTime, Role, Visit};
use crate::referral::csv::{CsvEncoding, CsvExport, encode, field};
use crate::rules::emergency::EMERGENCY_MARK;
use crate::rules::fees;
use crate::vpn::upload_xml;
use chrono::Datelike;
use std::collections::BTreeMap;

/// The CSV header, in column order.
pub const HEADER: [&str; 27] = [
    "醫事人員ID",
    "就醫日期時間",
    "就醫識別碼",
    "就醫序號",
    "就醫類別",
    "身分證號",
    "案件分類",
    "特定治療項目代號",
    "角色",
    "照護階段",
    "訪視費代碼",
    "訪視費點數",
    "急診註記",
    "加成百分比",
    "醫令序號",
    "醫令類別",
    "醫令代碼",
    "部位",
    "用法",
    "天數",
    "總量",
    "執行時間起",
    "執行時間迄",
    "執行人員ID",
    "科別",
    "醫療費用點數",
    "部分負擔點數",
];

/// Why a month could not be exported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    /// The year or month is not a claim month.
    #[error("month: {0}")]
    Month(&'static str),
    /// A visit could not be written as a 2.0 record (names the field, never the value).
    #[error("visit {visit_id}: {reason}")]
    Record {
        /// The local visit id.
        visit_id: String,
        /// The writer's reason (starts with the field).
        reason: String,
    },
}

/// One practitioner's part of a month.
#[derive(Clone, PartialEq)]
pub struct PractitionerClaims {
    /// The practitioner's national ID.
    pub practitioner_id: String,
    /// Visits in the month.
    pub visits: u32,
    /// Of which emergency visits (marked `ECE`).
    pub emergencies: u32,
    /// Order rows.
    pub rows: u32,
    /// The CSV text (header + rows, CRLF), before encoding.
    pub csv_text: String,
    /// The month's visits of this practitioner as the 2.0 upload XML (Big5).
    pub xml: Vec<u8>,
}

impl std::fmt::Debug for PractitionerClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PractitionerClaims")
            .field("visits", &self.visits)
            .field("emergencies", &self.emergencies)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl PractitionerClaims {
    /// The CSV file in `encoding`.
    pub fn csv(&self, encoding: CsvEncoding) -> CsvExport {
        encode(&self.csv_text, encoding)
    }
}

/// A month's claims, per practitioner (by practitioner ID).
#[derive(Debug, Clone, PartialEq)]
pub struct MonthlyClaims {
    /// Gregorian year.
    pub year: i32,
    /// Month 1–12.
    pub month: u32,
    /// One part per practitioner who had visits in the month.
    pub practitioners: Vec<PractitionerClaims>,
}

impl MonthlyClaims {
    /// Every practitioner's rows in one CSV (one header) in `encoding`.
    pub fn csv_all(&self, encoding: CsvEncoding) -> CsvExport {
        let mut text = header_line();
        for p in &self.practitioners {
            text.push_str(p.csv_text.split_once("\r\n").map(|(_, rows)| rows).unwrap_or(""));
        }
        encode(&text, encoding)
    }
}

fn header_line() -> String {
    let mut s = HEADER.join(",");
    s.push_str("\r\n");
    s
}

fn roc(ms: i64) -> String {
    RocDateTime::from_unix_ms(ms)
        .map(|t| t.to_roc_string())
        .unwrap_or_default()
}

/// What the claims export claims for `visit`, as the upload-quality indicators compare it with
/// the card upload (`report::quality`): practitioner (醫事人員ID), main diagnosis, amount (M44 /
/// 醫療費用點數), copayment and order codes — the same fields [`month`] writes in its rows.
pub fn claim_record(visit: &Visit) -> crate::report::quality::ClaimRecord {
    crate::report::quality::ClaimRecord {
        practitioner_id: visit.practitioner_id.clone(),
        main_diagnosis: visit.diagnoses.first().cloned(),
        amount: visit.fee_points,
        copayment: visit.copayment_points,
        orders: visit.orders.iter().map(|o| o.code.clone()).collect(),
    }
}

/// Whether `visit` happened in `year`-`month`, Taiwan time (visit times are kept in Taiwan time).
pub fn in_month(visit: &Visit, year: i32, month: u32) -> bool {
    let t = visit.visited_at.with_timezone(&crate::model::taiwan_offset());
    t.year() == year && t.month() == month
}

/// The claim rows of one visit, appended to `out`; returns how many.
fn visit_rows(v: &Visit, out: &mut String) -> Result<u32, ClaimsError> {
    let role = v.context.role.unwrap_or(Role::Doctor);
    let stage = v.context.care_stage.unwrap_or(CareStage::HomeMedical);
    let visited_ms = v.visited_at.timestamp_millis();
    let visited = RocDateTime::from_datetime(&v.visited_at)
        .map_err(|_| ClaimsError::Record {
            visit_id: v.id.clone(),
            reason: "M11: visit date-time out of the ROC range".into(),
        })?
        .to_roc_string();
    let fee = v
        .orders
        .iter()
        .find_map(|o| fees::lookup(&o.code))
        .or_else(|| fees::visit_fee(role, stage, false));
    let (mark, surcharge, end_ms) = match &v.context.emergency {
        Some(e) => (EMERGENCY_MARK, e.surcharge_percent.to_string(), e.end_ms),
        None => ("", String::new(), visited_ms),
    };
    let start_ms = v
        .context
        .emergency
        .as_ref()
        .map(|e| e.arrival_ms)
        .unwrap_or(visited_ms);
    let department = fees::department(role, "");
    let visit_fields: [String; 14] = [
        v.practitioner_id.clone(),
        visited,
        v.visit_code.clone(),
        v.sequence_number.clone(),
        v.visit_type.clone(),
        v.patient.national_id.expose().to_string(),
        fees::case_type(role, stage).to_string(),
        fees::TREATMENT_CODE.to_string(),
        role.as_str().to_string(),
        stage.code().to_string(),
        fee.map(|f| f.code.clone()).unwrap_or_default(),
        fee.and_then(|f| f.points)
            .map(|p| p.to_string())
            .unwrap_or_default(),
        mark.to_string(),
        surcharge,
    ];
    let money = [
        v.fee_points.map(|p| p.to_string()).unwrap_or_default(),
        v.copayment_points.map(|p| p.to_string()).unwrap_or_default(),
    ];
    let mut push_row = |order_fields: [String; 11]| {
        let all = visit_fields.iter().chain(order_fields.iter()).chain(money.iter());
        let mut first = true;
        for f in all {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(&field(f));
        }
        out.push_str("\r\n");
    };
    if v.orders.is_empty() {
        push_row(Default::default());
        return Ok(1);
    }
    for (i, o) in v.orders.iter().enumerate() {
        let (s, e, performer, dept) = match &o.execution {
            Some(x) => (x.start_ms, x.end_ms, x.performer_id.clone(), x.department.clone()),
            None => (start_ms, end_ms, v.practitioner_id.clone(), department.clone()),
        };
        push_row([
            format!("{:03}", i + 1),
            match o.kind {
                OrderKind::Drug => "1",
                OrderKind::Treatment => "2",
            }
            .to_string(),
            o.code.clone(),
            o.site.clone(),
            o.usage(),
            if o.days > 0 {
                o.days.to_string()
            } else {
                String::new()
            },
            format!("{:06.1}", o.total),
            roc(s),
            roc(e),
            performer,
            dept,
        ]);
    }
    Ok(u32::try_from(v.orders.len()).unwrap_or(u32::MAX))
}

/// The claims of `year`-`month` from `visits` (any order; visits of other months are skipped):
/// per practitioner (by ID), each practitioner's visits by time.
pub fn month(visits: &[Visit], year: i32, month: u32) -> Result<MonthlyClaims, ClaimsError> {
    if !(1..=12).contains(&month) {
        return Err(ClaimsError::Month("must be 1 to 12"));
    }
    if !(1912..=2910).contains(&year) {
        return Err(ClaimsError::Month("year outside the ROC calendar"));
    }
    let mut by: BTreeMap<&str, Vec<&Visit>> = BTreeMap::new();
    for v in visits.iter().filter(|v| in_month(v, year, month)) {
        by.entry(v.practitioner_id.as_str()).or_default().push(v);
    }
    let mut practitioners = Vec::with_capacity(by.len());
    for (id, mut vs) in by {
        vs.sort_by(|a, b| a.visited_at.cmp(&b.visited_at).then_with(|| a.id.cmp(&b.id)));
        let mut text = header_line();
        let mut rows = 0u32;
        let mut records = Vec::with_capacity(vs.len());
        for v in &vs {
            rows += visit_rows(v, &mut text)?;
            records.push(upload_xml::record_big5(v).map_err(|e| ClaimsError::Record {
                visit_id: v.id.clone(),
                reason: e.to_string(),
            })?);
        }
        practitioners.push(PractitionerClaims {
            practitioner_id: id.to_string(),
            visits: u32::try_from(vs.len()).unwrap_or(u32::MAX),
            emergencies: u32::try_from(vs.iter().filter(|v| v.context.emergency.is_some()).count())
                .unwrap_or(u32::MAX),
            rows,
            csv_text: text,
            xml: upload_xml::wrap_batch(&records),
        });
    }
    Ok(MonthlyClaims {
        year,
        month,
        practitioners,
    })
}

#[cfg(test)]
mod tests;
