//! Corrections and cancellations: `HomeVisitApp.corrections()` → [`CorrectionService`]. Thin
//! wrappers over `homevisit_core::app::CorrectionService`; every rule (3-month and 24-hour windows,
//! correction vs replacement, exactly-once cancel) is the core's. The edit's free text is passed as
//! arguments, never held in a record; receipts and statuses carry ids and codes only.

use crate::app::HomeVisitApp;
use crate::error::{HomeVisitError, guard, guard_async};
use homevisit_core::app as core_app;
use std::sync::Arc;

/// One drug line of an edit (checked like `VisitSession.addDrugOrder`).
#[derive(Debug, Clone, uniffi::Record)]
pub struct DrugOrderEdit {
    pub drug_code: String,
    pub dose: String,
    pub frequency: String,
    pub route: String,
    pub days: u16,
}

/// How an edit went out: `Replaced` (pending upload replaced), `Correction` (A01 = 3/4 by visit
/// code), `Deletion` (A02 = 1 through the corrections route).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum EditPath {
    Replaced,
    Correction,
    Deletion,
}

/// Where a visit stands with the NHI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum VisitStanding {
    Pending,
    Uploaded,
    CorrectionPending,
    Corrected,
    /// The NHI holds other content under the visit code (`duplicate_conflict`): edit to correct.
    Conflict,
    Cancelled,
    Deleted,
}

/// What an edit or deletion stored.
#[derive(Debug, Clone, uniffi::Record)]
pub struct EditReceipt {
    pub visit_id: String,
    pub version: i64,
    pub job_id: String,
    pub path: EditPath,
}

/// A visit's standing (ids and codes only).
#[derive(Debug, Clone, uniffi::Record)]
pub struct VisitStatus {
    pub visit_id: String,
    pub visit_code: String,
    pub standing: VisitStanding,
    pub version: i64,
    /// Every owed job of the visit is acknowledged by the NHI.
    pub all_acknowledged: bool,
    /// Last moment to correct it (Unix ms).
    pub correction_deadline_unix_ms: i64,
}

/// What a cancellation did.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CancelReceipt {
    pub visit_id: String,
    pub visit_code: String,
    /// `ZA` or `ZB`.
    pub cancel_type: String,
    pub job_id: String,
    /// False when the card was absent (the cancellation is still stored and uploaded).
    pub card_cancelled: bool,
    pub cancelled_at_unix_ms: i64,
}

impl From<core_app::EditPath> for EditPath {
    fn from(p: core_app::EditPath) -> Self {
        match p {
            core_app::EditPath::Replaced => Self::Replaced,
            core_app::EditPath::Correction => Self::Correction,
            core_app::EditPath::Deletion => Self::Deletion,
        }
    }
}

impl From<core_app::VisitStanding> for VisitStanding {
    fn from(s: core_app::VisitStanding) -> Self {
        use core_app::VisitStanding as S;
        match s {
            S::Pending => Self::Pending,
            S::Uploaded => Self::Uploaded,
            S::CorrectionPending => Self::CorrectionPending,
            S::Corrected => Self::Corrected,
            S::Conflict => Self::Conflict,
            S::Cancelled => Self::Cancelled,
            S::Deleted => Self::Deleted,
        }
    }
}

impl From<VisitStanding> for core_app::VisitStanding {
    fn from(s: VisitStanding) -> Self {
        use core_app::VisitStanding as S;
        match s {
            VisitStanding::Pending => S::Pending,
            VisitStanding::Uploaded => S::Uploaded,
            VisitStanding::CorrectionPending => S::CorrectionPending,
            VisitStanding::Corrected => S::Corrected,
            VisitStanding::Conflict => S::Conflict,
            VisitStanding::Cancelled => S::Cancelled,
            VisitStanding::Deleted => S::Deleted,
        }
    }
}

impl From<core_app::EditReceipt> for EditReceipt {
    fn from(r: core_app::EditReceipt) -> Self {
        Self {
            visit_id: r.visit_id,
            version: r.version,
            job_id: r.job_id,
            path: r.path.into(),
        }
    }
}

impl From<core_app::VisitStatus> for VisitStatus {
    fn from(s: core_app::VisitStatus) -> Self {
        Self {
            visit_id: s.visit_id,
            visit_code: s.visit_code,
            standing: s.standing.into(),
            version: s.version,
            all_acknowledged: s.all_acknowledged,
            correction_deadline_unix_ms: s.correction_deadline_ms,
        }
    }
}

impl From<core_app::CancelReceipt> for CancelReceipt {
    fn from(r: core_app::CancelReceipt) -> Self {
        Self {
            visit_id: r.visit_id,
            visit_code: r.visit_code,
            cancel_type: r.cancel_type,
            job_id: r.job_id,
            card_cancelled: r.card_cancelled,
            cancelled_at_unix_ms: r.cancelled_at_ms,
        }
    }
}

/// Corrections, deletions and cancellations of stored visits.
#[derive(uniffi::Object)]
pub struct CorrectionService {
    inner: core_app::CorrectionService,
}

#[uniffi::export]
impl HomeVisitApp {
    /// The corrections service.
    pub fn corrections(&self) -> Arc<CorrectionService> {
        Arc::new(CorrectionService {
            inner: self.inner.corrections(),
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl CorrectionService {
    /// Edits a stored visit: replaces its pending upload, or (the NHI holds it) queues a
    /// correction keyed by its visit code within 3 months (`CorrectionWindowClosed` after).
    /// `drug_orders` null keeps the drug lines; null fees keep the fees.
    pub fn edit_visit(
        &self,
        visit_id: String,
        diagnoses: Vec<String>,
        drug_orders: Option<Vec<DrugOrderEdit>>,
        note: String,
        fee_points: Option<u32>,
        copayment_points: Option<u32>,
    ) -> Result<EditReceipt, HomeVisitError> {
        guard(|| {
            let edit = core_app::VisitEdit {
                diagnoses,
                drug_orders: drug_orders.map(|lines| {
                    lines
                        .into_iter()
                        .map(|l| core_app::DrugOrderEdit {
                            drug_code: l.drug_code,
                            dose: l.dose,
                            frequency: l.frequency,
                            route: l.route,
                            days: l.days,
                        })
                        .collect()
                }),
                note,
                fee_points,
                copayment_points,
            };
            Ok(self.inner.edit_visit(&visit_id, edit)?.into())
        })
    }

    /// Deletes a stored visit through the corrections route (kept, listed as deleted).
    pub fn delete_visit(&self, visit_id: String) -> Result<EditReceipt, HomeVisitError> {
        guard(|| Ok(self.inner.delete_visit(&visit_id)?.into()))
    }

    /// Cancels a visit (`ZA`/`ZB`) within 24 h under `request_id`: card (when present), store,
    /// upload, exactly once (`CancelWindowClosed` after 24 h).
    pub async fn cancel_visit(
        &self,
        visit_id: String,
        request_id: String,
    ) -> Result<CancelReceipt, HomeVisitError> {
        let inner = self.inner.clone();
        guard_async(async move { Ok(inner.cancel_visit(&visit_id, &request_id).await?.into()) }).await
    }

    /// Where one visit stands with the NHI.
    pub fn visit_status(&self, visit_id: String) -> Result<VisitStatus, HomeVisitError> {
        guard(|| Ok(self.inner.visit_status(&visit_id)?.into()))
    }

    /// The visits standing as `standing` (e.g. `Cancelled`, `Conflict`), newest first.
    pub fn visits_standing(
        &self,
        standing: VisitStanding,
        limit: u32,
    ) -> Result<Vec<VisitStatus>, HomeVisitError> {
        guard(|| {
            Ok(self
                .inner
                .visits_standing(standing.into(), limit)?
                .into_iter()
                .map(Into::into)
                .collect())
        })
    }
}
