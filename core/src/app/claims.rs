//! The monthly claims export at the institution (issue 14 item 8), handed out by
//! [`HomeVisit::claims`]: a month's stored visits with their orders, per practitioner, as CSV
//! (Big5 by default, UTF-8 with a BOM on request) and as the 2.0 upload XML; emergency visits
//! marked `ECE`. The rules are in `crate::claims`; this file only reads the store.

use super::{AppError, HomeVisit};
use crate::claims::{self, ClaimsError, MonthlyClaims};
use crate::model::Visit;
use crate::referral::csv::{CsvEncoding, CsvExport};
use crate::store::Store;
use chrono::Datelike;
use std::sync::Arc;

/// Visits read from the store per page while looking for a month.
const PAGE: u32 = 500;

/// The claims export (Kotlin: `app.claims()`).
pub struct ClaimsService {
    store: Arc<Store>,
}

impl std::fmt::Debug for ClaimsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimsService").finish_non_exhaustive()
    }
}

/// One practitioner's claim files for a month.
#[derive(Clone, PartialEq, Eq)]
pub struct PractitionerClaimFiles {
    /// The practitioner's national ID.
    pub practitioner_id: String,
    /// Visits in the month.
    pub visits: u32,
    /// Of which emergency visits (`ECE`).
    pub emergencies: u32,
    /// CSV rows (one per order).
    pub rows: u32,
    /// The CSV file.
    pub csv: CsvExport,
    /// The 2.0 upload XML of the practitioner's visits (Big5).
    pub xml: Vec<u8>,
}

impl std::fmt::Debug for PractitionerClaimFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PractitionerClaimFiles")
            .field("visits", &self.visits)
            .field("emergencies", &self.emergencies)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

/// A month's claims export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsExport {
    /// Gregorian year.
    pub year: i32,
    /// Month 1–12.
    pub month: u32,
    /// Every practitioner's rows in one CSV.
    pub csv: CsvExport,
    /// Per practitioner (by ID).
    pub practitioners: Vec<PractitionerClaimFiles>,
}

/// The public error of a claims failure.
pub(crate) fn claims_error(e: ClaimsError) -> AppError {
    match e {
        ClaimsError::Month(reason) => super::input::invalid("month", reason),
        ClaimsError::Record { reason, .. } => {
            let (field, why) = reason.split_once(": ").unwrap_or(("record", reason.as_str()));
            AppError::Validation {
                field: field.to_string(),
                reason: why.to_string(),
            }
        }
    }
}

/// The export of a computed month in `encoding`.
pub fn export_of(m: &MonthlyClaims, encoding: CsvEncoding) -> ClaimsExport {
    ClaimsExport {
        year: m.year,
        month: m.month,
        csv: m.csv_all(encoding),
        practitioners: m
            .practitioners
            .iter()
            .map(|p| PractitionerClaimFiles {
                practitioner_id: p.practitioner_id.clone(),
                visits: p.visits,
                emergencies: p.emergencies,
                rows: p.rows,
                csv: p.csv(encoding),
                xml: p.xml.clone(),
            })
            .collect(),
    }
}

impl HomeVisit {
    /// The claims export.
    pub fn claims(&self) -> ClaimsService {
        ClaimsService {
            store: self.store.clone(),
        }
    }
}

impl ClaimsService {
    /// The stored visits of `year`-`month` (Taiwan time).
    fn visits_of(&self, year: i32, month: u32) -> Result<Vec<Visit>, AppError> {
        let mut out = Vec::new();
        let mut offset = 0u32;
        loop {
            let page = self.store.list_visits(PAGE, offset)?;
            let n = u32::try_from(page.len()).unwrap_or(u32::MAX);
            let mut older = false;
            for s in page {
                let v = s.visit;
                if claims::in_month(&v, year, month) {
                    out.push(v);
                } else {
                    let t = v.visited_at.with_timezone(&crate::model::taiwan_offset());
                    if (t.year(), t.month()) < (year, month) {
                        older = true;
                    }
                }
            }
            // Newest first: once a page reaches visits before the month, the rest are older.
            if older || n < PAGE {
                return Ok(out);
            }
            offset = offset.saturating_add(n);
        }
    }

    /// The claims of `year`-`month`: per practitioner CSV (`encoding`) and upload XML, plus every
    /// practitioner's rows in one CSV. A month without visits gives an empty list. A visit the
    /// 2.0 writer refuses is a `Validation` naming the field.
    pub fn export_month(
        &self,
        year: i32,
        month: u32,
        encoding: CsvEncoding,
    ) -> Result<ClaimsExport, AppError> {
        let visits = self.visits_of(year, month)?;
        let m = claims::month(&visits, year, month).map_err(claims_error)?;
        tracing::info!(target: "homevisit::app", year, month, practitioners = m.practitioners.len(), "claims exported");
        Ok(export_of(&m, encoding))
    }
}
