//! What the visit session (`visit.rs`) needs from the app beyond recording by hand: the device's
//! visit-code counter for the card transaction, whether a patient was visited before, and
//! committing a visit that the card transaction produced. None of it is public: a host drives
//! visits through the session. The store itself is reachable only for tests and benchmarks
//! (feature `inspect`).

use super::{AppError, HomeVisit, VisitSummary};
use crate::model::{NationalId, Visit};

/// A fail point: told the name of each step a visit's finish reaches (`planned`, `signed`,
/// `card_written`, `committed`); the crash tests kill the process from it.
pub type FailPoint = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// Where the app keeps its fail point (none outside the crash tests).
pub(crate) type FailPointSlot = std::sync::RwLock<Option<FailPoint>>;

impl HomeVisit {
    /// The app's store, for end-to-end tests and benchmarks that inspect it (feature `inspect`;
    /// never in the mobile library, whose API is the facade's operations).
    #[cfg(any(test, feature = "inspect"))]
    pub fn store(&self) -> std::sync::Arc<crate::store::Store> {
        self.store.clone()
    }

    /// Sets the fail point the crash tests kill the process from (feature `inspect`; never in the
    /// mobile library).
    #[cfg(any(test, feature = "inspect"))]
    pub fn set_fail_point(&self, fail_point: FailPoint) {
        *self.fail_point.write().unwrap_or_else(|p| p.into_inner()) = Some(fail_point);
    }

    /// Tells the fail point, if any, that `step` was reached.
    pub(crate) fn fail_point(&self, step: &str) {
        let f = self.fail_point.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(f) = f {
            f(step);
        }
    }

    /// Reserves the next device counter for a visit identification code (durably, before use).
    pub(crate) fn reserve_code_counter(&self) -> Result<u64, AppError> {
        let _guard = self.record_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.reserve_counter_locked()
    }

    /// Whether this device already holds a visit of the patient (a later home-care visit is `AH`).
    pub(crate) fn has_visited(&self, patient: &NationalId) -> Result<bool, AppError> {
        Ok(!self.store.find_visits_by_national_id(patient)?.is_empty())
    }

    /// Commits a visit made by the card transaction together with its `card_upload` outbox job in
    /// one transaction, then tells the listeners.
    pub(crate) fn commit_visit(&self, visit: &Visit) -> Result<VisitSummary, AppError> {
        if visit.institution != self.institution {
            return Err(super::input::invalid(
                "institution",
                "is not the institution of this app",
            ));
        }
        let job = crate::sync::visit_day::card_upload_job(visit, 1)?;
        self.store.commit_visit(visit, &[job])?;
        tracing::info!(target: "homevisit::app", visit_id = %visit.id, visit_code = %visit.visit_code, "visit committed");
        self.changed();
        Ok(VisitSummary::of(visit))
    }
}
