//! Prescriptions: issue (signed with the enrolled device key, registration queued), the issued
//! prescription as an object (its QR and barcode encode the patient's ID: no generated `toString`
//! prints them), the prescriber's chronic-refill operations `C`/`E`.

use crate::app::HomeVisitApp;
use crate::error::HomeVisitError;
pub(crate) use crate::error::guard_async as spawn_guarded;
use homevisit_core::app;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// Runs a synchronous export; a panic in the core becomes `Internal` instead of crossing the FFI.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T, HomeVisitError>) -> Result<T, HomeVisitError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        tracing::error!(target: "homevisit::ffi", "the core panicked");
        Err(HomeVisitError::Internal)
    })
}

/// When one dispense may be collected (both days inclusive, Taiwan dates).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PickUpWindow {
    /// 1 = the first dispense; 2, 3 = refills.
    pub refill: u8,
    /// Start (Taiwan midnight) of the first day, ms since the epoch.
    pub first_day_unix_ms: i64,
    /// Start (Taiwan midnight) of the last day, ms since the epoch.
    pub last_day_unix_ms: i64,
    /// First day, ROC `YYYMMDD`.
    pub first_day_roc: String,
    /// Last day, ROC `YYYMMDD`.
    pub last_day_roc: String,
}

impl From<app::PickUpWindow> for PickUpWindow {
    fn from(w: app::PickUpWindow) -> Self {
        Self {
            refill: w.refill,
            first_day_unix_ms: w.first_day_ms,
            last_day_unix_ms: w.last_day_ms,
            first_day_roc: w.first_day_roc,
            last_day_roc: w.last_day_roc,
        }
    }
}

/// An issued prescription: what the app shows and prints for the family (an object: its QR and
/// barcode encode the patient's ID).
#[derive(uniffi::Object)]
pub struct IssuedPrescription {
    inner: app::IssuedPrescriptionView,
}

#[uniffi::export]
impl IssuedPrescription {
    /// Local id of the visit.
    pub fn visit_id(&self) -> String {
        self.inner.visit_id.clone()
    }
    /// The visit identification code.
    pub fn visit_code(&self) -> String {
        self.inner.visit_code.clone()
    }
    /// The signed QR text (`RX:` + Base45).
    pub fn qr_text(&self) -> String {
        self.inner.qr_text.clone()
    }
    /// The QR as a PNG.
    pub fn qr_png(&self) -> Vec<u8> {
        self.inner.qr_png.clone()
    }
    /// The QR as an SVG document.
    pub fn qr_svg(&self) -> String {
        self.inner.qr_svg.clone()
    }
    /// The semicolon-separated barcode pharmacies read today.
    pub fn pharmacy_barcode(&self) -> String {
        self.inner.pharmacy_barcode.clone()
    }
    /// The one-time code as typed (`K7QD3MXA`).
    pub fn one_time_code(&self) -> String {
        self.inner.one_time_code.clone()
    }
    /// The one-time code as shown (`K7QD-3MXA`).
    pub fn one_time_code_display(&self) -> String {
        self.inner.one_time_code_display.clone()
    }
    /// The abnormal-situation contact.
    pub fn contact(&self) -> String {
        self.inner.contact.clone()
    }
    /// Chronic continuous prescription.
    pub fn chronic(&self) -> bool {
        self.inner.chronic
    }
    /// Dispenses in all.
    pub fn refills(&self) -> u8 {
        self.inner.refills
    }
    /// Taiwan issue date (midnight), ms since the epoch.
    pub fn issued_on_unix_ms(&self) -> i64 {
        self.inner.issued_on_ms
    }
    /// Every dispense's pick-up window.
    pub fn pick_up_windows(&self) -> Vec<PickUpWindow> {
        self.inner
            .pick_up_windows
            .iter()
            .cloned()
            .map(Into::into)
            .collect()
    }
    /// The printout's refill pick-up lines.
    pub fn pick_up_lines(&self) -> Vec<String> {
        self.inner.pick_up_lines.clone()
    }
}

/// The prescriber's operation on a chronic refill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RefillOperation {
    /// `C`: cancel an undispensed refill 2 or 3.
    Cancel,
    /// `E`: undo a `C`.
    UndoCancel,
}

/// The state of one dispense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RefillStatus {
    Open,
    Dispensed,
    Cancelled,
}

/// One dispense of a prescription and its state (no patient data).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RefillState {
    pub refill: u8,
    pub status: RefillStatus,
    /// First pick-up day, ROC `YYYMMDD`.
    pub first_day_roc: String,
    /// Last pick-up day, ROC `YYYMMDD`.
    pub last_day_roc: String,
    /// The pharmacy that dispensed it.
    pub dispensed_by: Option<String>,
    /// When, ms since the epoch.
    pub dispensed_at_unix_ms: Option<i64>,
}

impl From<app::RefillState> for RefillState {
    fn from(r: app::RefillState) -> Self {
        Self {
            refill: r.refill,
            status: match r.status {
                app::RefillStatus::Open => RefillStatus::Open,
                app::RefillStatus::Dispensed => RefillStatus::Dispensed,
                app::RefillStatus::Cancelled => RefillStatus::Cancelled,
            },
            first_day_roc: r.first_day_roc,
            last_day_roc: r.last_day_roc,
            dispensed_by: r.dispensed_by,
            dispensed_at_unix_ms: r.dispensed_at_ms,
        }
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl HomeVisitApp {
    /// Issues the visit's prescription (`chronic_refills` 2–3 for a chronic one), signed with the
    /// enrolled device key; works offline (the registration waits in the outbox). Not enrolled:
    /// `NotEnrolled`; a second issue: `Validation(field = prescription)`. Kotlin: `suspend`.
    pub async fn issue_prescription(
        &self,
        visit_id: String,
        chronic_refills: Option<u8>,
        contact: String,
    ) -> Result<Arc<IssuedPrescription>, HomeVisitError> {
        let inner = self.inner.clone();
        let issued = tokio::task::spawn_blocking(move || {
            inner.issue_prescription(&visit_id, chronic_refills, &contact)
        })
        .await??;
        Ok(Arc::new(IssuedPrescription { inner: issued }))
    }

    /// `C` or `E` on refill 2 or 3 of the visit's prescription, at the pharmacy service (online).
    /// Kotlin: `suspend`.
    pub async fn refill_operation(
        &self,
        visit_id: String,
        refill: u8,
        op: RefillOperation,
    ) -> Result<RefillState, HomeVisitError> {
        let inner = self.inner.clone();
        let op = match op {
            RefillOperation::Cancel => app::RefillOperation::Cancel,
            RefillOperation::UndoCancel => app::RefillOperation::UndoCancel,
        };
        let state = spawn_guarded(async move { inner.refill_operation(&visit_id, refill, op).await }).await?;
        Ok(state.into())
    }
}
