//! The reports people look at (issue 14 item 9), through the facade. The rules are
//! `crate::report`; this file reads the store and maps.
//!
//! - [`HomeVisit::abnormal_report`] (rows), [`HomeVisit::abnormal_report_html`] (printable page) and
//!   [`HomeVisit::abnormal_report_csv`] (Big5 / UTF-8 BOM): the abnormal-situation report
//!   (異常狀況報備單) for the visits of a date range (Taiwan days) that ran offline or missed their
//!   upload deadline, as of now by the app's clock.
//! - [`HomeVisit::upload_quality`]: the seven upload-quality indicators of seed 004 for a month,
//!   each against its 90% line: the uploaded side from the outbox (the confirmed card-upload
//!   record), the claim side from `claims::claim_record` (what the claims export claims).

use super::caps::{counts_as_visit, taiwan_date, taiwan_midnight_ms, visits_since};
use super::view::mask_id;
use super::{AppError, HomeVisit, input};
use crate::model::roc::RocDate;
use crate::referral::csv::{CsvEncoding, CsvExport};
use crate::report::abnormal::{self, AbnormalRow, AbnormalVisit};
use crate::report::html;
use crate::report::quality::{self, Indicator, QualityVisit};
use crate::store::StoredVisit;
use crate::sync::{JobKind, JobState};
use chrono::{Months, NaiveDate};

/// The longest range one report covers, in days.
pub const MAX_REPORT_DAYS: i64 = 366;

fn check_range(from: NaiveDate, to: NaiveDate) -> Result<(), AppError> {
    if to < from {
        return Err(input::invalid("to", "must not be before from"));
    }
    if (to - from).num_days() >= MAX_REPORT_DAYS {
        return Err(input::invalid("to", "a report covers at most 366 days"));
    }
    RocDate::from_naive(from).map_err(|_| input::invalid("from", "outside the ROC calendar"))?;
    RocDate::from_naive(to).map_err(|_| input::invalid("to", "outside the ROC calendar"))?;
    Ok(())
}

fn abnormal_visit(v: &StoredVisit) -> AbnormalVisit {
    AbnormalVisit {
        visit_id: v.visit.id.clone(),
        visit_code: v.visit.visit_code.clone(),
        visit_type: v.visit.visit_type.clone(),
        sequence_number: v.visit.sequence_number.clone(),
        abnormal_reason: v.visit.abnormal_reason.clone(),
        practitioner_id: v.visit.practitioner_id.clone(),
        patient_id_masked: mask_id(v.visit.patient.national_id.expose()),
        visited_at_ms: v.visit.visited_at.timestamp_millis(),
        emergency: v.visit.context.emergency.is_some(),
        uploaded_at_ms: v.uploaded_at_ms,
    }
}

impl HomeVisit {
    /// The stored visits of Taiwan days `from..=to` (cancellations excluded), oldest first.
    fn visits_between(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<StoredVisit>, AppError> {
        let mut visits: Vec<StoredVisit> = visits_since(&self.store, taiwan_midnight_ms(from))?
            .into_iter()
            .filter(|v| taiwan_date(&v.visit) <= to && counts_as_visit(&self.store, v))
            .collect();
        visits.reverse();
        Ok(visits)
    }

    /// The abnormal-situation report's rows for the visits of Taiwan days `from..=to` that ran
    /// offline (abnormal sequence number) or missed their upload deadline as of now, oldest first.
    pub fn abnormal_report(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<AbnormalRow>, AppError> {
        check_range(from, to)?;
        let now = self.clock.now_unix_ms();
        let visits: Vec<AbnormalVisit> = self
            .visits_between(from, to)?
            .iter()
            .map(abnormal_visit)
            .collect();
        Ok(abnormal::rows(&visits, now))
    }

    /// The abnormal-situation report as one printable, self-contained HTML page (escaped, no
    /// script). Patient IDs appear masked, names never.
    pub fn abnormal_report_html(&self, from: NaiveDate, to: NaiveDate) -> Result<String, AppError> {
        let rows = self.abnormal_report(from, to)?;
        let roc = |d: NaiveDate| RocDate::from_naive(d).map(|d| d.to_slashed()).unwrap_or_default();
        let period = format!("{}–{}", roc(from), roc(to));
        let generated = abnormal::roc_time(Some(self.clock.now_unix_ms()));
        Ok(html::abnormal_report(
            self.institution.as_str(),
            &period,
            &generated,
            &rows,
        ))
    }

    /// The abnormal-situation report as a CSV file (Big5 by default, or UTF-8 with a BOM).
    pub fn abnormal_report_csv(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        encoding: CsvEncoding,
    ) -> Result<CsvExport, AppError> {
        Ok(abnormal::export_csv(&self.abnormal_report(from, to)?, encoding))
    }

    /// The upload-quality indicators of seed 004 over the visits of a Taiwan month, in
    /// `report::quality::IndicatorKind::ALL` order, each with its value and its 90% line.
    pub fn upload_quality(&self, year: i32, month: u32) -> Result<Vec<Indicator>, AppError> {
        let from = NaiveDate::from_ymd_opt(year, month, 1)
            .ok_or_else(|| input::invalid("month", "not a calendar month"))?;
        let to = from
            .checked_add_months(Months::new(1))
            .and_then(|d| d.pred_opt())
            .ok_or_else(|| input::invalid("month", "not a calendar month"))?;
        check_range(from, to)?;
        let mut visits = Vec::new();
        for v in self.visits_between(from, to)? {
            visits.push(QualityVisit {
                visited_at_ms: v.visit.visited_at.timestamp_millis(),
                uploaded: self.uploaded_record(&v.visit.id)?,
                claim: Some(crate::claims::claim_record(&v.visit)),
            });
        }
        Ok(quality::indicators(&visits))
    }

    /// What the NHI holds for a visit: the content of its latest confirmed card upload, confirmed
    /// (for the 24-hour share) when its first card upload was.
    fn uploaded_record(&self, visit_id: &str) -> Result<Option<quality::UploadedRecord>, AppError> {
        let jobs = self.store.jobs_for_visit(visit_id)?;
        let done: Vec<_> = jobs
            .iter()
            .filter(|j| j.kind == JobKind::CardUpload && j.state == JobState::Done)
            .collect();
        let Some(first_at) = done.iter().filter_map(|j| j.done_at_ms).min() else {
            return Ok(None);
        };
        let Some(latest) = done.iter().max_by_key(|j| j.seq) else {
            return Ok(None);
        };
        Ok(Some(quality::uploaded_record(&latest.payload, first_at)))
    }
}
