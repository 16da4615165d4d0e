//! What a visit session needs from the app beyond recording by hand: the store for the sync engine
//! and the reader pairings, the device's visit-code generator and counter for the card
//! transaction, and committing a visit that the card transaction produced.

use super::{AppError, HomeVisit, VisitSummary};
use crate::model::{NationalId, Visit};
use crate::rules::visit_code::VisitCodeGenerator;
use crate::store::Store;
use std::sync::Arc;

impl HomeVisit {
    // Hidden: the visit session (`visit.rs`) owns this flow now; kept public only while the demo
    // (`simulators/cli/src/demo.rs`) still assembles visits itself. Make it pub(crate) after.
    #[doc(hidden)]
    /// The app's store, shared with the sync engine, the reader pairing store and the VPN client.
    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    // Hidden: the visit session (`visit.rs`) owns this flow now; kept public only while the demo
    // (`simulators/cli/src/demo.rs`) still assembles visits itself. Make it pub(crate) after.
    #[doc(hidden)]
    /// The device's visit identification code generator (the card transaction makes the code).
    pub fn visit_codes(&self) -> &VisitCodeGenerator {
        &self.codes
    }

    // Hidden: the visit session (`visit.rs`) owns this flow now; kept public only while the demo
    // (`simulators/cli/src/demo.rs`) still assembles visits itself. Make it pub(crate) after.
    #[doc(hidden)]
    /// Reserves the next device counter for a visit identification code (durably, before use).
    pub fn reserve_code_counter(&self) -> Result<u64, AppError> {
        let _guard = self.record_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.reserve_counter_locked()
    }

    /// Whether this device already holds a visit of the patient (a later home-care visit is `AH`).
    pub fn has_visited(&self, patient: &NationalId) -> Result<bool, AppError> {
        Ok(!self.store.find_visits_by_national_id(patient)?.is_empty())
    }

    // Hidden: the visit session (`visit.rs`) owns this flow now; kept public only while the demo
    // (`simulators/cli/src/demo.rs`) still assembles visits itself. Make it pub(crate) after.
    #[doc(hidden)]
    /// Commits a visit made by the card transaction together with its `card_upload` outbox job in
    /// one transaction, then tells the listeners.
    pub fn commit_visit(&self, visit: &Visit) -> Result<VisitSummary, AppError> {
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
