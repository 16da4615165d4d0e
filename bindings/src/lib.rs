//! homevisit-ffi: the thin uniffi layer over `homevisit-core`. Only wrappers live here: every rule,
//! every byte format and every decision is in the core (`homevisit_core::app`).
//!
//! - [`HomeVisitApp`] wraps `app::HomeVisit` (async methods run the core on tokio's blocking pool);
//! - [`HostKeyStore`], [`HostClock`] and [`LogSink`] are implemented by the host (Kotlin/Swift);
//! - [`OutboxListener`] is called back on every outbox change until its subscription is dropped;
//! - [`HomeVisitError`] mirrors `app::AppError` one to one.
//!
//! No `unwrap` here: every failure, including a panic in the core, becomes a `HomeVisitError`.

mod app;
mod ble;
mod cases;
mod claims;
mod corrections;
mod emergency;
mod enrol;
mod error;
mod logs;
mod medicloud;
mod order_sets;
mod pharmacist;
mod platform;
mod prescription;
mod readers;
mod records;
mod referrals;
mod reports;
mod sync;
mod team;
mod virtual_card;
mod visit;

pub use app::{HomeVisitApp, ListenerError, OutboxListener, OutboxSubscription};
pub use ble::{BleCharacteristic, BleError, BleEvents, BleLink, BlePeripheral, BleService, HostBle};
pub use cases::{
    Case, CaseBatchFile, CaseClosingReason, CaseEnrolmentCheck, CaseForm, CaseIntakeOption, CaseKind,
    CaseQuery, CaseQueryRow, CaseSaved, CaseService, CaseState, CaseTube, CaseVerdict,
};
pub use claims::{CareStage, ClaimsExport, ClaimsService, PractitionerClaims, Role};
pub use corrections::{
    CancelReceipt, CorrectionService, DrugOrderEdit, EditPath, EditReceipt, VisitStanding, VisitStatus,
};
pub use emergency::{CardLessService, CardLessState, CardLessVisit, EmergencyMarking};
pub use enrol::EnrolmentStatus;
pub use error::{HomeVisitError, error_code, error_codes};
pub use logs::{install_log_sink, uninstall_log_sink};
pub use medicloud::{MediCloudLab, MediCloudMedication, MediCloudRecord};
pub use order_sets::{OrderSet, OrderSetLine, OrderSetList, OrderSetOrigin, RefusedOrderSet};
pub use pharmacist::{DispenseDetails, DispenseReceipt, Pharmacist, VerifiedQr};
pub use platform::{HostClock, HostKeyStore, KeyStoreError, LogLevel, LogSink};
pub use prescription::{IssuedPrescription, PickUpWindow, RefillOperation, RefillState, RefillStatus};
pub use records::{
    AppConfig, CardInput, JobStatus, OutboxCounts, OutboxJob, OutboxState, VisitDetails, VisitSummary,
};
pub use referrals::{
    CsvEncoding, CsvFile, Referral, ReferralDraft, ReferralKind, ReferralPrefill, ReferralProcessing,
    ReferralQuery, ReferralReceiverState, ReferralRefresh, ReferralReportFilter, ReferralReportRow,
    ReferralSenderState, ReferralService, ReferralSide, ReferralUnit,
};
pub use reports::{
    AbnormalKind, AbnormalReportRow, CapKind, CapWarning, DueCase, FeePeriod, FeePeriodStatus,
    QualityIndicator, VisitCaps,
};
pub use sync::{
    DeadlineEntry, DeadlineReport, DeadlineStatus, DrainStopReason, DrainSummary, InvalidUploadRow,
    RejectedField, RejectedJob, RetryClass, SyncEvent, SyncListener, SyncService, SyncSubscription,
    UploadBatchResult, UploadResultTable,
};
pub use team::{
    CarePlanVersion, FrequencyUnit, PhoneConsultation, TeamCase, TeamMember, TeamMessage, TeamRecordDraft,
    TeamRefresh, TeamRole, TeamService, TeamVisitRecord, VisitFrequency,
};

pub use readers::{
    CardSlot, PairedReader, PairingCode, PractitionerView, ReaderInfo, ReaderModel, ReaderState,
    ReaderStateEvent, ReaderStateListener, ReaderSubscription, Readers,
};
pub use virtual_card::{ConsentState, VirtualCard, VirtualCardScan};
pub use visit::{OrderKind, OrderLine, PatientView, Sex, VisitDraft, VisitSession, VisitType};

uniffi::setup_scaffolding!();
