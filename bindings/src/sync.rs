//! The sync service export: background loop, bounded drains for the OS schedulers, progress
//! events, the 24-hour deadlines, rejected records and their correction, the upload-result table.

use crate::app::{HomeVisitApp, ListenerError};
use crate::error::{HomeVisitError, guard, guard_async};
use crate::records::VisitDetails;
use homevisit_core::{app, sync};
use std::sync::{Arc, Mutex};

/// Why a drain ended with work remaining.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DrainStopReason {
    /// The host reports no connectivity.
    Offline,
    /// The time budget ran out while jobs wait for their retry time.
    TimeBudget,
    /// The remaining jobs wait on rejected ones.
    Blocked,
    /// The server's certificate matched no pin: stopped at once, the jobs stay queued.
    CertificateMismatch,
}

/// What one drain did; `complete` only when nothing is owed to the NHI.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DrainSummary {
    pub done: u32,
    pub rejected: u32,
    pub retries: u32,
    pub batches: u32,
    /// Jobs still owed (queued, sending, waiting for retry).
    pub remaining: u32,
    /// Jobs parked as rejected in the whole outbox.
    pub rejected_total: u32,
    pub complete: bool,
    pub stopped: Option<DrainStopReason>,
}

fn n(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl From<sync::DrainSummary> for DrainSummary {
    fn from(s: sync::DrainSummary) -> Self {
        Self {
            done: n(s.done),
            rejected: n(s.rejected),
            retries: n(s.retries),
            batches: n(s.batches),
            remaining: n(s.remaining),
            rejected_total: n(s.rejected_total),
            complete: s.complete,
            stopped: s.stopped.map(|r| match r {
                sync::StopReason::Offline => DrainStopReason::Offline,
                sync::StopReason::TimeBudget => DrainStopReason::TimeBudget,
                sync::StopReason::Blocked => DrainStopReason::Blocked,
                sync::StopReason::CertificateMismatch => DrainStopReason::CertificateMismatch,
            }),
        }
    }
}

/// A field the NHI checker found wrong (e.g. `M13`) and why (never the value).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RejectedField {
    pub field: String,
    pub message: String,
}

fn fields(f: &[sync::FieldError]) -> Vec<RejectedField> {
    f.iter()
        .map(|f| RejectedField {
            field: f.field.clone(),
            message: f.message.clone(),
        })
        .collect()
}

/// Why a job waits for a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RetryClass {
    Network,
    Server,
    Record,
}

/// A progress event of a drain: counts and the job that changed, never the whole outbox.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SyncEvent {
    /// A drain started with `pending` jobs owed.
    Started { pending: u32 },
    /// Batch number `batch` of `jobs` jobs went to the server.
    BatchSent { batch: u32, jobs: u32 },
    /// The server confirmed a job.
    JobDone { job_id: String, visit_code: String },
    /// The checker refused a job's record; the user corrects it.
    JobRejected {
        job_id: String,
        visit_code: String,
        reason: String,
        fields: Vec<RejectedField>,
    },
    /// A network or server failure; the job is sent again at `next_at_unix_ms`.
    JobRetry {
        job_id: String,
        visit_code: String,
        attempt: u32,
        next_at_unix_ms: i64,
        class: RetryClass,
        error: String,
    },
    /// The drain ended.
    Drained { summary: DrainSummary },
}

impl From<&sync::SyncEvent> for SyncEvent {
    fn from(e: &sync::SyncEvent) -> Self {
        match e {
            sync::SyncEvent::Started { pending } => Self::Started { pending: n(*pending) },
            sync::SyncEvent::BatchSent { batch, jobs } => Self::BatchSent {
                batch: n(*batch),
                jobs: n(*jobs),
            },
            sync::SyncEvent::JobDone { job_id, visit_code } => Self::JobDone {
                job_id: job_id.clone(),
                visit_code: visit_code.clone(),
            },
            sync::SyncEvent::JobRejected {
                job_id,
                visit_code,
                reason,
                fields: f,
            } => Self::JobRejected {
                job_id: job_id.clone(),
                visit_code: visit_code.clone(),
                reason: reason.clone(),
                fields: fields(f),
            },
            sync::SyncEvent::JobRetry {
                job_id,
                visit_code,
                attempt,
                next_at_ms,
                class,
                error,
            } => Self::JobRetry {
                job_id: job_id.clone(),
                visit_code: visit_code.clone(),
                attempt: *attempt,
                next_at_unix_ms: *next_at_ms,
                class: match class {
                    sync::FailureClass::Network => RetryClass::Network,
                    sync::FailureClass::Server => RetryClass::Server,
                    sync::FailureClass::Record => RetryClass::Record,
                },
                error: error.clone(),
            },
            sync::SyncEvent::Drained(s) => Self::Drained { summary: (*s).into() },
        }
    }
}

/// Hears a drain's progress (a progress bar, a notification).
#[uniffi::export(with_foreign)]
pub trait SyncListener: Send + Sync {
    /// One event; must return quickly. What it throws is logged and ignored.
    fn on_sync_event(&self, event: SyncEvent) -> Result<(), ListenerError>;
}

struct HostSyncListener(Arc<dyn SyncListener>);

impl sync::SyncListener for HostSyncListener {
    fn on_event(&self, event: &sync::SyncEvent) {
        if self.0.on_sync_event(event.into()).is_err() {
            tracing::warn!(target: "homevisit::ffi", "the host's sync listener threw; ignored");
        }
    }
}

/// Keeps a sync listener registered; `close()` (or dropping it) unregisters it.
#[derive(uniffi::Object)]
pub struct SyncSubscription {
    inner: Mutex<Option<sync::Subscription>>,
}

#[uniffi::export]
impl SyncSubscription {
    /// Stops the listener now. Idempotent.
    pub fn cancel(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// Where a visit stands against the 24-hour upload rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DeadlineStatus {
    AtRisk,
    Missed,
}

/// One visit at risk of missing, or past, the 24-hour upload rule.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeadlineEntry {
    pub visit_id: String,
    pub visit_code: String,
    pub visited_at_unix_ms: i64,
    pub due_at_unix_ms: i64,
    pub uploaded_at_unix_ms: Option<i64>,
    pub status: DeadlineStatus,
    /// The least advanced job state of the visit (`queued`, `rejected`, …).
    pub state: String,
    /// Why the visit was abnormal, for the abnormal-situation report.
    pub abnormal_reason: Option<String>,
    pub last_error: Option<String>,
}

/// The 24-hour rule report.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeadlineReport {
    pub at_risk: Vec<DeadlineEntry>,
    pub missed: Vec<DeadlineEntry>,
}

impl From<sync::DeadlineReport> for DeadlineReport {
    fn from(r: sync::DeadlineReport) -> Self {
        let entry = |e: sync::DeadlineEntry| DeadlineEntry {
            visit_id: e.visit_id,
            visit_code: e.visit_code,
            visited_at_unix_ms: e.visited_at_ms,
            due_at_unix_ms: e.due_at_ms,
            uploaded_at_unix_ms: e.uploaded_at_ms,
            status: match e.status {
                sync::DeadlineStatus::AtRisk => DeadlineStatus::AtRisk,
                sync::DeadlineStatus::Missed => DeadlineStatus::Missed,
            },
            state: e.state,
            abnormal_reason: e.abnormal_reason,
            last_error: e.last_error,
        };
        Self {
            at_risk: r.at_risk.into_iter().map(entry).collect(),
            missed: r.missed.into_iter().map(entry).collect(),
        }
    }
}

/// A record the NHI checker refused, waiting for the user's correction.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RejectedJob {
    pub job_id: String,
    pub kind: String,
    pub visit_id: String,
    pub visit_code: String,
    pub reason: String,
    pub fields: Vec<RejectedField>,
}

impl From<sync::JobView> for RejectedJob {
    fn from(j: sync::JobView) -> Self {
        let (reason, f) = match &j.state {
            sync::JobState::Rejected(r) => (r.reason.clone(), fields(&r.fields)),
            _ => (String::new(), Vec::new()),
        };
        Self {
            job_id: j.id,
            kind: j.kind,
            visit_id: j.visit_id.unwrap_or_default(),
            visit_code: j.visit_code,
            reason,
            fields: f,
        }
    }
}

/// One batch of the upload-result table.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UploadBatchResult {
    pub batch_id: String,
    pub received: u32,
    pub valid: u32,
    pub invalid: u32,
}

/// One invalid row of the upload-result table.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct InvalidUploadRow {
    pub batch_id: String,
    pub visit_code: String,
    pub field: String,
    pub reason: String,
}

/// The NHI upload-result table (上傳結果查詢) of a drain's batches.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UploadResultTable {
    pub batches: Vec<UploadBatchResult>,
    pub received: u32,
    pub valid: u32,
    pub invalid: u32,
    pub invalid_rows: Vec<InvalidUploadRow>,
}

impl From<sync::visit_day::UploadResultTable> for UploadResultTable {
    fn from(t: sync::visit_day::UploadResultTable) -> Self {
        Self {
            batches: t
                .batches
                .into_iter()
                .map(|(batch_id, received, valid, invalid)| UploadBatchResult {
                    batch_id,
                    received,
                    valid,
                    invalid,
                })
                .collect(),
            received: t.received,
            valid: t.valid,
            invalid: t.invalid,
            invalid_rows: t
                .invalid_rows
                .into_iter()
                .map(|r| InvalidUploadRow {
                    batch_id: r.batch_id,
                    visit_code: r.visit_code,
                    field: r.field,
                    reason: r.reason,
                })
                .collect(),
        }
    }
}

/// The app's sync service (Kotlin/Swift: `SyncService`).
#[derive(uniffi::Object)]
pub struct SyncService {
    inner: Arc<app::SyncService>,
}

#[uniffi::export(async_runtime = "tokio")]
impl SyncService {
    /// Starts (or restarts) the background loop: every `poll_ms`, and at once when the network
    /// comes back or a correction is queued. Runs on the core's own runtime.
    pub fn start(&self, poll_ms: u64) -> Result<(), HomeVisitError> {
        guard(|| self.inner.start(poll_ms))
    }

    /// Stops the background loop. Idempotent.
    pub fn stop(&self) {
        self.inner.stop();
    }

    /// Whether the background loop runs.
    pub fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    /// Whether the last drain stopped on a server certificate matching no pin (the background
    /// loop is paused until a drain is asked for again or the device enrols again).
    pub fn certificate_mismatch(&self) -> bool {
        self.inner.certificate_mismatch()
    }

    /// One bounded drain for WorkManager / BGTaskScheduler. Kotlin: `suspend`.
    pub async fn drain_once(&self, time_budget_ms: u64) -> Result<DrainSummary, HomeVisitError> {
        let inner = self.inner.clone();
        Ok(guard_async(async move { inner.drain_once(time_budget_ms).await })
            .await?
            .into())
    }

    /// "Send now": every waiting job at once. Kotlin: `suspend`.
    pub async fn send_now(&self) -> Result<DrainSummary, HomeVisitError> {
        let inner = self.inner.clone();
        Ok(guard_async(async move { inner.send_now().await }).await?.into())
    }

    /// Calls `listener` with each progress event until the subscription is cancelled or closed.
    pub fn subscribe(&self, listener: Arc<dyn SyncListener>) -> Arc<SyncSubscription> {
        let sub = self.inner.subscribe(Arc::new(HostSyncListener(listener)));
        Arc::new(SyncSubscription {
            inner: Mutex::new(Some(sub)),
        })
    }

    /// Visits at risk of missing the 24-hour upload rule, and those that missed it.
    pub fn deadlines(&self) -> Result<DeadlineReport, HomeVisitError> {
        Ok(guard(|| self.inner.deadlines())?.into())
    }

    /// The records the checker refused, with its reason and the fields at fault.
    pub fn rejected_jobs(&self) -> Result<Vec<RejectedJob>, HomeVisitError> {
        Ok(guard(|| self.inner.rejected_jobs())?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Corrects the visit of a rejected card upload and re-queues it; returns the new job's id.
    pub fn correct_rejected(&self, job_id: String, details: VisitDetails) -> Result<String, HomeVisitError> {
        guard(|| self.inner.correct_rejected(&job_id, details.into()))
    }

    /// The upload-result table of the last drain that sent batches, if any.
    pub fn last_upload_result(&self) -> Option<UploadResultTable> {
        self.inner.last_upload_result().map(Into::into)
    }
}

#[uniffi::export]
impl HomeVisitApp {
    /// The app's sync service (the same one every call).
    pub fn sync_service(&self) -> Arc<SyncService> {
        Arc::new(SyncService {
            inner: self.inner.sync(),
        })
    }
}
