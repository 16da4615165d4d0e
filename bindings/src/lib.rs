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
mod ble;
mod error;
mod platform;
mod readers;
mod records;
mod visit;

pub use app::{HomeVisitApp, ListenerError, OutboxListener, OutboxSubscription};
pub use ble::{BleCharacteristic, BleError, BleEvents, BleLink, BlePeripheral, BleService, HostBle};
pub use error::HomeVisitError;
pub use platform::{Clock, KeyStore, KeyStoreError};
pub use records::{
    AppConfig, CardInput, JobStatus, OutboxCounts, OutboxJob, OutboxState, VisitDetails, VisitSummary,
};

pub use readers::{
    CardSlot, PairedReader, PairingCode, PractitionerView, ReaderInfo, ReaderModel, ReaderState,
    ReaderStateEvent, ReaderStateListener, ReaderSubscription, Readers,
};
pub use visit::{OrderKind, OrderLine, PatientView, Sex, VisitDraft, VisitSession, VisitType};

uniffi::setup_scaffolding!();
