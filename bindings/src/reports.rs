//! Caps before the visit, the 3-month rule, the case-management fee periods, the abnormal-situation
//! report and the upload-quality indicators (issue 14 items 6 and 9): thin wrappers over
//! `homevisit_core::app::HomeVisit`'s `visit_caps`, `attending_visits_due`, `case_fee_periods`,
//! `abnormal_report*` and `upload_quality`. Dates are ROC `YYYMMDD` (months `YYYMM`). Lists carry
//! masked patient fields only; a report row (it holds the recorded reason) is an object.

use crate::app::HomeVisitApp;
use crate::error::{HomeVisitError, guard};
use crate::referrals::{CsvEncoding, CsvFile};
use homevisit_core::app::{self as core_app, AppError};
use homevisit_core::model::roc::RocDate;
use homevisit_core::report::{self as rep, AbnormalRow};
use homevisit_core::rules::caps as core_caps;
use std::sync::Arc;

/// Which cap a warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CapKind {
    /// 8 visits a day.
    Daily,
    /// 180 (240) visits a month.
    Monthly,
}

/// A cap the next visit would exceed: shown, never blocking.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CapWarning {
    pub kind: CapKind,
    /// Which visit of the day / month it would be.
    pub visit_number: u32,
    pub cap: u32,
}

/// A practitioner's visits today and this month (Taiwan time) and the warnings for the next one.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VisitCaps {
    pub practitioner_id: String,
    pub dedicated_home_care: bool,
    pub today: u32,
    pub this_month: u32,
    pub daily_cap: u32,
    pub monthly_cap: u32,
    pub warnings: Vec<CapWarning>,
}

/// A case whose attending-doctor visit is coming due or overdue (patient masked).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DueCase {
    pub latest_visit_id: String,
    pub masked_name: String,
    pub masked_id: String,
    /// ROC `YYYMMDD`.
    pub last_attending_visit: String,
    /// ROC `YYYMMDD`: the last day it is due by.
    pub due: String,
    /// Negative when overdue.
    pub days_left: i64,
    pub overdue: bool,
}

/// Where a period without visits stands for the case management fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FeePeriodStatus {
    /// 3 whole months without a visit: not paid.
    NotPaid,
    /// A visit before this month ends still saves it.
    AtRisk,
}

/// A case-management-fee period that is not paid or at risk (patient masked).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FeePeriod {
    pub latest_visit_id: String,
    pub masked_name: String,
    pub masked_id: String,
    /// ROC `YYYMM`.
    pub from_month: String,
    /// ROC `YYYMM`.
    pub to_month: String,
    pub months: u32,
    pub status: FeePeriodStatus,
    pub ongoing: bool,
}

/// Why a visit is on the abnormal-situation report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AbnormalKind {
    Offline,
    LateUpload,
    OfflineAndLate,
}

/// One row of the abnormal-situation report (an object: its reason is recorded text).
#[derive(uniffi::Object)]
pub struct AbnormalReportRow {
    row: AbnormalRow,
}

#[uniffi::export]
impl AbnormalReportRow {
    pub fn visit_id(&self) -> String {
        self.row.visit_id.clone()
    }
    pub fn visit_code(&self) -> String {
        self.row.visit_code.clone()
    }
    pub fn kind(&self) -> AbnormalKind {
        match self.row.kind {
            rep::AbnormalKind::Offline => AbnormalKind::Offline,
            rep::AbnormalKind::LateUpload => AbnormalKind::LateUpload,
            rep::AbnormalKind::OfflineAndLate => AbnormalKind::OfflineAndLate,
        }
    }
    pub fn sequence_code(&self) -> String {
        self.row.sequence_code.clone()
    }
    /// What the abnormal code means (Chinese), empty for a normal number.
    pub fn sequence_meaning(&self) -> String {
        self.row.sequence_meaning.clone()
    }
    pub fn reason(&self) -> String {
        self.row.reason.clone()
    }
    pub fn practitioner_id(&self) -> String {
        self.row.practitioner_id.clone()
    }
    pub fn national_id_masked(&self) -> String {
        self.row.patient_id_masked.clone()
    }
    pub fn visited_at_ms(&self) -> i64 {
        self.row.visited_at_ms
    }
    pub fn due_at_ms(&self) -> i64 {
        self.row.due_at_ms
    }
    pub fn uploaded_at_ms(&self) -> Option<i64> {
        self.row.uploaded_at_ms
    }
}

/// One upload-quality indicator of seed 004.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct QualityIndicator {
    /// Stable name: `uploaded_within_24h`, `uploaded_of_claimed`, `staff_id`, `main_diagnosis`,
    /// `amount`, `copayment`, `orders`.
    pub kind: String,
    /// The seed's Chinese name.
    pub label: String,
    pub numerator: u32,
    pub denominator: u32,
    /// `None` with nothing to count.
    pub percent: Option<f64>,
    /// The line (90).
    pub line_percent: u32,
    pub meets_line: bool,
}

fn roc_day(d: Result<RocDate, impl std::fmt::Debug>) -> String {
    d.map(|d| d.to_roc_string()).unwrap_or_default()
}

fn roc_month(d: Result<RocDate, impl std::fmt::Debug>) -> String {
    d.map(|d| d.to_roc_year_month()).unwrap_or_default()
}

/// A required ROC `YYYMMDD` date (the core's parser and error).
fn date(field: &'static str, text: &str) -> Result<RocDate, AppError> {
    core_app::referral_date(field, Some(text))?
        .and_then(|d| RocDate::from_naive(d).ok())
        .ok_or(AppError::Validation {
            field: field.into(),
            reason: "must be a ROC date YYYMMDD".into(),
        })
}

#[uniffi::export]
impl HomeVisitApp {
    /// Before a visit: the practitioner's counts and the cap warnings (never blocking).
    pub fn visit_caps(&self, practitioner_id: String) -> Result<VisitCaps, HomeVisitError> {
        guard(|| {
            let c = self.inner.visit_caps(&practitioner_id)?;
            Ok(VisitCaps {
                practitioner_id: c.practitioner_id,
                dedicated_home_care: c.dedicated_home_care,
                today: c.today,
                this_month: c.this_month,
                daily_cap: c.daily_cap,
                monthly_cap: c.monthly_cap,
                warnings: c
                    .warnings
                    .into_iter()
                    .map(|w| match w {
                        core_caps::CapWarning::Daily { visit_number, cap } => CapWarning {
                            kind: CapKind::Daily,
                            visit_number,
                            cap,
                        },
                        core_caps::CapWarning::Monthly { visit_number, cap } => CapWarning {
                            kind: CapKind::Monthly,
                            visit_number,
                            cap,
                        },
                    })
                    .collect(),
            })
        })
    }

    /// Marks a practitioner as a dedicated home-care doctor (240 a month) or not.
    pub fn set_dedicated_home_care(
        &self,
        practitioner_id: String,
        dedicated: bool,
    ) -> Result<(), HomeVisitError> {
        guard(|| self.inner.set_dedicated_home_care(&practitioner_id, dedicated))
    }

    /// Whether the practitioner is a dedicated home-care doctor.
    pub fn is_dedicated_home_care(&self, practitioner_id: String) -> Result<bool, HomeVisitError> {
        guard(|| self.inner.is_dedicated_home_care(&practitioner_id))
    }

    /// The cases whose attending-doctor visit (every 3 months) is due within `within_days` or overdue.
    pub fn attending_visits_due(&self, within_days: u32) -> Result<Vec<DueCase>, HomeVisitError> {
        guard(|| {
            Ok(self
                .inner
                .attending_visits_due(within_days)?
                .into_iter()
                .map(|d| DueCase {
                    latest_visit_id: d.latest_visit_id,
                    masked_name: d.masked_name,
                    masked_id: d.masked_id,
                    last_attending_visit: roc_day(RocDate::from_naive(d.last_attending_visit)),
                    due: roc_day(RocDate::from_naive(d.due)),
                    days_left: d.days_left,
                    overdue: d.overdue,
                })
                .collect())
        })
    }

    /// The case-management-fee periods that would not be paid, and those still at risk.
    pub fn case_fee_periods(&self) -> Result<Vec<FeePeriod>, HomeVisitError> {
        guard(|| {
            Ok(self
                .inner
                .case_fee_periods()?
                .into_iter()
                .map(|p| FeePeriod {
                    latest_visit_id: p.latest_visit_id,
                    masked_name: p.masked_name,
                    masked_id: p.masked_id,
                    from_month: roc_month(RocDate::from_naive(p.from_month)),
                    to_month: roc_month(RocDate::from_naive(p.to_month)),
                    months: p.months,
                    status: match p.status {
                        core_caps::FeePeriodStatus::NotPaid => FeePeriodStatus::NotPaid,
                        core_caps::FeePeriodStatus::AtRisk => FeePeriodStatus::AtRisk,
                    },
                    ongoing: p.ongoing,
                })
                .collect())
        })
    }

    /// The abnormal-situation report's rows for ROC days `from..=to`.
    pub fn abnormal_report(
        &self,
        from: String,
        to: String,
    ) -> Result<Vec<Arc<AbnormalReportRow>>, HomeVisitError> {
        guard(|| {
            let rows = self
                .inner
                .abnormal_report(date("from", &from)?.naive(), date("to", &to)?.naive())?;
            Ok(rows
                .into_iter()
                .map(|row| Arc::new(AbnormalReportRow { row }))
                .collect())
        })
    }

    /// The abnormal-situation report as one printable HTML page.
    pub fn abnormal_report_html(&self, from: String, to: String) -> Result<String, HomeVisitError> {
        guard(|| {
            self.inner
                .abnormal_report_html(date("from", &from)?.naive(), date("to", &to)?.naive())
        })
    }

    /// The abnormal-situation report as CSV (Big5 or UTF-8 with a BOM).
    pub fn abnormal_report_csv(
        &self,
        from: String,
        to: String,
        encoding: CsvEncoding,
    ) -> Result<CsvFile, HomeVisitError> {
        guard(|| {
            let out = self.inner.abnormal_report_csv(
                date("from", &from)?.naive(),
                date("to", &to)?.naive(),
                encoding.into(),
            )?;
            Ok(CsvFile {
                bytes: out.bytes,
                encoding,
                lossy_rows: out.lossy_rows,
            })
        })
    }

    /// The upload-quality indicators of seed 004 for a month (Gregorian year, month 1–12).
    pub fn upload_quality(&self, year: i32, month: u32) -> Result<Vec<QualityIndicator>, HomeVisitError> {
        guard(|| {
            Ok(self
                .inner
                .upload_quality(year, month)?
                .into_iter()
                .map(|i| QualityIndicator {
                    kind: i.kind.as_str().into(),
                    label: i.kind.label_zh().into(),
                    numerator: i.numerator,
                    denominator: i.denominator,
                    percent: i.percent,
                    line_percent: rep::QUALITY_LINE_PERCENT,
                    meets_line: i.meets_line,
                })
                .collect())
        })
    }
}
