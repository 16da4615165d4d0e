//! homevisit-ffi: the thin uniffi layer over `homevisit-core`. Only wrappers live here: every rule,
//! every byte format and every decision is in the core (`homevisit_core::app`).
//!
//! - [`HomeVisitApp`] wraps `app::HomeVisit` (async methods run the core on tokio's blocking pool);
//! - [`KeyStore`] and [`Clock`] are implemented by the host (Kotlin/Swift) and handed to the core;
//! - [`OutboxListener`] is called back on every outbox change until its subscription is dropped;
//! - [`HomeVisitError`] mirrors `app::AppError` one to one.
//!
//! No `unwrap` here: every failure, including a panic in the core, becomes a `HomeVisitError`.

mod app;
mod error;
mod order_sets;
mod pharmacist;
mod platform;
mod prescription;
mod records;

pub use app::{HomeVisitApp, ListenerError, OutboxListener, OutboxSubscription};
pub use error::HomeVisitError;
pub use order_sets::{OrderLine, OrderSet, OrderSetList, OrderSetOrigin, RefusedOrderSet};
pub use pharmacist::{DispenseDetails, DispenseReceipt, Pharmacist, VerifiedQr};
pub use platform::{Clock, KeyStore, KeyStoreError};
pub use prescription::{IssuedPrescription, PickUpWindow, RefillOperation, RefillState, RefillStatus};
pub use records::{
    AppConfig, CardInput, JobStatus, OutboxCounts, OutboxJob, OutboxState, VisitDetails, VisitSummary,
};

uniffi::setup_scaffolding!();
