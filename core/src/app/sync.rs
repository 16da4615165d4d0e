//! The sync service the facade hands out ([`HomeVisit::sync`]): the outbox engine over the app's
//! store, sending through the currently enrolled VPN client, gated by the host's connectivity and
//! timed by the app's clock. It runs as a background loop ([`SyncService::start`]) or one bounded
//! drain at a time for the OS's background schedulers ([`SyncService::drain_once`]), reports
//! progress to subscribers, forwards every job outcome to the app's outbox listeners, and gives
//! the 24-hour deadlines, the rejected records (corrected and re-queued here) and the NHI
//! upload-result table of the last drain.

use super::listener::Listeners;
use super::{AppError, HomeVisit, VisitDetails, input, runtime};
use crate::model::Visit;
use crate::platform::{Clock, Connectivity};
use crate::store::Store;
use crate::sync::visit_day::{UploadResultTable, card_upload_job};
use crate::sync::vpn_target::VpnTarget;
use crate::sync::{
    DeadlineReport, DrainOptions, DrainSummary, ItemResult, JobId, JobState, JobView, Outbox, SyncConfig,
    SyncEngine, SyncEvent, SyncListener, UploadError, UploadItem, UploadTarget,
};
use crate::vpn::VpnClient;
use async_trait::async_trait;
use std::sync::{Arc, Mutex, RwLock};

/// The enrolled VPN client as the facade keeps it (`None` until enrolment), shared with the sync
/// target so a drain always sends through the current enrolment.
pub(crate) type VpnSlot = Arc<RwLock<Option<Arc<VpnClient>>>>;

/// Outbox changes are reported at least every this many job outcomes during a drain.
const FORWARD_EVERY: usize = 50;

/// The app's sync service: one per app, shared behind an `Arc`.
pub struct SyncService {
    engine: Arc<SyncEngine>,
    target: Arc<AppTarget>,
    store: Arc<Store>,
    vpn: VpnSlot,
    clock: Arc<dyn Clock>,
    connectivity: Arc<dyn Connectivity>,
    listeners: Listeners,
    /// Keeps the engine → outbox listeners forwarding alive.
    _forward: crate::sync::Subscription,
    background: Mutex<Option<tokio::task::JoinHandle<()>>>,
    wake: Arc<tokio::sync::Notify>,
    last_table: Mutex<Option<UploadResultTable>>,
    /// Set when a server presented a certificate matching no pin: the background loop stops
    /// draining until the host asks again ([`SyncService::drain_once`], [`SyncService::send_now`])
    /// or the device enrols again.
    pin_mismatch: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for SyncService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncService")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl HomeVisit {
    /// The app's sync service (the same one every call).
    pub fn sync(&self) -> Arc<SyncService> {
        self.sync.clone()
    }
}

impl SyncService {
    /// The service over `store`, sending through whatever client `vpn` holds when a drain runs.
    pub(crate) fn new(
        store: Arc<Store>,
        vpn: VpnSlot,
        clock: Arc<dyn Clock>,
        connectivity: Arc<dyn Connectivity>,
        listeners: Listeners,
        config: SyncConfig,
    ) -> Arc<Self> {
        let target = Arc::new(AppTarget {
            vpn: vpn.clone(),
            current: Mutex::new(None),
            batches: Mutex::new(Vec::new()),
        });
        let engine = Arc::new(SyncEngine::new(
            store.clone(),
            target.clone(),
            clock.clone(),
            connectivity.clone(),
            config,
        ));
        let forward = engine.subscribe(Arc::new(ForwardToOutbox {
            listeners: listeners.clone(),
            store: store.clone(),
            pending: Mutex::new(Vec::new()),
        }));
        Arc::new(Self {
            engine,
            target,
            store,
            vpn,
            clock,
            connectivity,
            listeners,
            _forward: forward,
            background: Mutex::new(None),
            wake: Arc::new(tokio::sync::Notify::new()),
            last_table: Mutex::new(None),
            pin_mismatch: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Starts (or restarts) the background loop: every `poll_ms`, and at once when woken (the host
    /// reports the network back, a correction is queued, [`Self::send_now`]), drains what is ready
    /// while enrolled and online. Runs on the core's own runtime; stops on [`Self::stop`] or when
    /// the app is dropped.
    pub fn start(self: &Arc<Self>, poll_ms: u64) -> Result<(), AppError> {
        let rt = runtime::handle()?;
        let this = Arc::clone(self);
        let poll = std::time::Duration::from_millis(poll_ms.max(1));
        let task = rt.spawn(async move {
            loop {
                if this.is_enrolled()
                    && this.connectivity.is_online()
                    && !this.pin_mismatch.load(std::sync::atomic::Ordering::SeqCst)
                    && this.has_ready_work()
                {
                    let opts = DrainOptions {
                        force: false,
                        time_budget_ms: Some(0),
                    };
                    if let Err(e) = this.drain_inner(opts).await {
                        tracing::info!(target: "homevisit::app", code = e.code(), "background drain stopped");
                    }
                }
                tokio::select! {
                    _ = this.wake.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                }
            }
        });
        if let Some(old) = lock(&self.background).replace(task) {
            old.abort();
        }
        Ok(())
    }

    /// Stops the background loop (a drain in progress is cancelled; its jobs stay queued and are
    /// re-queued by the next drain). Idempotent.
    pub fn stop(&self) {
        if let Some(task) = lock(&self.background).take() {
            task.abort();
        }
    }

    /// Whether the last drain stopped on a certificate matching no pin (the background loop is
    /// paused until a drain is asked for again or the device enrols again).
    pub fn certificate_mismatch(&self) -> bool {
        self.pin_mismatch.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Clears the pause after a certificate mismatch (the device enrolled again).
    pub(crate) fn clear_certificate_mismatch(&self) {
        self.pin_mismatch
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether the background loop runs.
    pub fn is_running(&self) -> bool {
        lock(&self.background).as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Wakes the background loop (no effect when it does not run).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// One drain for the OS's background scheduler (WorkManager, BGTaskScheduler): sends what is
    /// ready, waits for retries due within `time_budget_ms`, and says why it stopped. Not enrolled
    /// → [`AppError::NotEnrolled`] with nothing sent or lost; offline → a summary stopped
    /// `Offline` with nothing sent; a server whose certificate matches neither pin →
    /// [`AppError::CertificateMismatch`] at once, the jobs still queued and the background loop
    /// paused until the next explicit drain. Runs on the core runtime, so any executor may await it.
    pub async fn drain_once(self: &Arc<Self>, time_budget_ms: u64) -> Result<DrainSummary, AppError> {
        let this = Arc::clone(self);
        runtime::run(async move {
            this.drain_inner(DrainOptions {
                force: false,
                time_budget_ms: Some(time_budget_ms),
            })
            .await
        })
        .await
    }

    /// "Send now": every waiting job at once, no retry waits.
    pub async fn send_now(self: &Arc<Self>) -> Result<DrainSummary, AppError> {
        let this = Arc::clone(self);
        runtime::run(async move {
            this.drain_inner(DrainOptions {
                force: true,
                time_budget_ms: Some(0),
            })
            .await
        })
        .await
    }

    /// Subscribes `listener` to the drain's progress events (started, batch sent, job done,
    /// rejected with field and reason, retry, drained) until the subscription is dropped. A
    /// listener that panics is skipped, never fails the drain.
    pub fn subscribe(&self, listener: Arc<dyn SyncListener>) -> crate::sync::Subscription {
        self.engine.subscribe(Arc::new(Guarded(listener)))
    }

    /// Visits at risk of missing their upload deadline, and those that missed it, with the reason
    /// a visit was abnormal: 24 hours, or 1 hour for an emergency visit
    /// (`sync::deadline::upload_deadline_ms`).
    pub fn deadlines(&self) -> Result<DeadlineReport, AppError> {
        let mut report = self.engine.deadlines()?;
        let store = self.store.as_ref();
        report
            .at_risk
            .retain(|e| !super::emergency::is_emergency(store, &e.visit_id));
        report
            .missed
            .retain(|e| !super::emergency::is_emergency(store, &e.visit_id));
        let emergency = super::emergency::emergency_deadline_report(store, self.clock.now_unix_ms())?;
        report.at_risk.extend(emergency.at_risk);
        report.missed.extend(emergency.missed);
        Ok(report)
    }

    /// The records the NHI checker refused, with its reason and the fields at fault.
    pub fn rejected_jobs(&self) -> Result<Vec<JobView>, AppError> {
        Ok(self.engine.rejected()?)
    }

    /// The NHI upload-result table (上傳結果查詢) of the batches of the last drain that sent any.
    pub fn last_upload_result(&self) -> Option<UploadResultTable> {
        lock(&self.last_table).clone()
    }

    /// Corrects the visit of a rejected card upload with `details` (checked as when recording) and
    /// queues the corrected record as a new version under a new idempotency key, retiring the
    /// rejected job, in one transaction. Returns the new job's id; tells the outbox listeners and
    /// wakes the background loop.
    pub fn correct_rejected(&self, job_id: &str, details: VisitDetails) -> Result<JobId, AppError> {
        let job = Outbox::job(self.store.as_ref(), &job_id.to_string()).map_err(|e| {
            tracing::debug!(target: "homevisit::app", error = %e, "correction of an unknown job");
            AppError::NotFound { what: "job".into() }
        })?;
        if !matches!(job.state, JobState::Rejected(_)) {
            return Err(input::invalid("job", "is not rejected"));
        }
        if job.kind != "card_upload" {
            return Err(input::invalid(
                "job",
                "only a card upload is corrected from visit details",
            ));
        }
        let visit_id = job
            .visit_id
            .clone()
            .ok_or_else(|| input::invalid("job", "belongs to no visit"))?;
        let stored = self.store.get_visit(&visit_id)?;
        let mut visit = stored.visit;
        apply_details(&mut visit, details)?;
        let new_job = card_upload_job(&visit, stored.version + 1)?;
        let new_id = self.store.requeue_after_correction(
            &store_job_id(job_id),
            crate::store::Correction {
                visit: Some(visit),
                job: new_job,
            },
        )?;
        let new_id = new_id.to_string();
        tracing::info!(target: "homevisit::app", job = %job_id, new_job = %new_id, "rejected record corrected and re-queued");
        self.listeners
            .notify_changed(self.store.as_ref(), &[job_id.to_string(), new_id.clone()]);
        self.wake();
        Ok(new_id)
    }

    fn is_enrolled(&self) -> bool {
        self.vpn.read().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    fn has_ready_work(&self) -> bool {
        Outbox::ready(self.store.as_ref(), self.clock.now_unix_ms(), 1).is_ok_and(|r| !r.is_empty())
    }

    /// One drain, then the upload result of the batches it sent.
    async fn drain_inner(&self, opts: DrainOptions) -> Result<DrainSummary, AppError> {
        let client = self
            .vpn
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(AppError::NotEnrolled)?;
        let before = self.target.batch_count();
        self.clear_certificate_mismatch();
        let summary = self.engine.drain(opts).await?;
        if summary.stopped == Some(crate::sync::StopReason::CertificateMismatch) {
            self.pin_mismatch.store(true, std::sync::atomic::Ordering::SeqCst);
            return Err(AppError::CertificateMismatch);
        }
        let sent = self.target.batches_since(before);
        if !sent.is_empty() {
            let mut table = UploadResultTable::default();
            for id in &sent {
                match client.query_upload_result(id).await {
                    Ok(r) => table.add(&r),
                    Err(e) => {
                        tracing::info!(target: "homevisit::app", error = %e, "upload result not available yet");
                    }
                }
            }
            *lock(&self.last_table) = Some(table);
        }
        Ok(summary)
    }
}

/// The store's job id of an engine job id (one model: the same id).
fn store_job_id(id: &str) -> crate::sync::JobId {
    id.to_string()
}

/// Applies corrected visit details, checked with the same rules as a new visit.
fn apply_details(visit: &mut Visit, details: VisitDetails) -> Result<(), AppError> {
    let details = details.check()?;
    visit.visit_type = details.visit_type;
    visit.sequence_number = details.sequence_number;
    visit.practitioner_id = details.practitioner_id;
    visit.diagnoses = details.diagnoses;
    visit.note = details.note;
    visit.abnormal_reason = details.abnormal_reason;
    Ok(())
}

/// The engine's target: the VPN client enrolled at the time of the upload, remembering the batch
/// ids the server answered (for the upload-result table).
struct AppTarget {
    vpn: VpnSlot,
    current: Mutex<Option<Arc<VpnTarget>>>,
    batches: Mutex<Vec<String>>,
}

impl AppTarget {
    fn batch_count(&self) -> usize {
        lock(&self.batches).len()
    }

    fn batches_since(&self, n: usize) -> Vec<String> {
        lock(&self.batches)
            .get(n..)
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    }
}

#[async_trait]
impl UploadTarget for AppTarget {
    async fn upload(&self, items: &[UploadItem]) -> Result<Vec<ItemResult>, UploadError> {
        let client = self
            .vpn
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            // Un-enrolled during a drain: nothing is lost, the jobs wait for a retry.
            .ok_or_else(|| UploadError::Network("the device is not enrolled".into()))?;
        let target = {
            let mut current = lock(&self.current);
            match current.as_ref() {
                Some(t) if Arc::ptr_eq(t.client(), &client) => t.clone(),
                _ => {
                    let t = Arc::new(VpnTarget::new(client));
                    *current = Some(t.clone());
                    t
                }
            }
        };
        let result = target.upload(items).await;
        let ids = target.batch_ids();
        let mut batches = lock(&self.batches);
        for id in ids {
            if !batches.contains(&id) {
                batches.push(id);
            }
        }
        result
    }
}

/// Forwards the engine's job outcomes to the app's outbox listeners: exact counts and the jobs
/// that changed, at every batch boundary, every [`FORWARD_EVERY`] outcomes and at the drain's end.
struct ForwardToOutbox {
    listeners: Listeners,
    store: Arc<Store>,
    pending: Mutex<Vec<JobId>>,
}

impl ForwardToOutbox {
    fn flush(&self, always: bool) {
        let changed = std::mem::take(&mut *lock(&self.pending));
        if always || !changed.is_empty() {
            self.listeners.notify_changed(self.store.as_ref(), &changed);
        }
    }
}

impl SyncListener for ForwardToOutbox {
    fn on_event(&self, event: &SyncEvent) {
        match event {
            SyncEvent::JobDone { job_id, .. }
            | SyncEvent::JobRejected { job_id, .. }
            | SyncEvent::JobRetry { job_id, .. } => {
                let full = {
                    let mut p = lock(&self.pending);
                    p.push(job_id.clone());
                    p.len() >= FORWARD_EVERY
                };
                if full {
                    self.flush(false);
                }
            }
            SyncEvent::BatchSent { .. } => self.flush(false),
            SyncEvent::Drained(_) => self.flush(true),
            SyncEvent::Started { .. } => {}
        }
    }
}

/// A host listener that may panic: the panic is logged and the drain goes on.
struct Guarded(Arc<dyn SyncListener>);

impl SyncListener for Guarded {
    fn on_event(&self, event: &SyncEvent) {
        let call = std::panic::AssertUnwindSafe(|| self.0.on_event(event));
        if std::panic::catch_unwind(call).is_err() {
            tracing::warn!(target: "homevisit::app", "a sync listener failed; skipped");
        }
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (single assignments).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
