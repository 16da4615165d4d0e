//! The engine that drains the outbox: per-patient order, batches, idempotent retries with backoff,
//! per-job outcomes, progress events, "send now" and the background loop.

use super::backoff::{Backoff, Jitter};
use super::deadline::{self, DeadlineReport};
use super::events::{DrainSummary, Listeners, StopReason, Subscription, SyncEvent, SyncListener};
use super::job::{Job, JobId, JobState, JobUpdate, OutboxCounts, Rejection};
use super::outbox::{CorrectedJob, Outbox, OutboxError};
use super::target::{FailureClass, ItemOutcome, ItemResult, UploadError, UploadItem, UploadTarget};
use crate::platform::{Clock, Connectivity, ManualClock};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The sync engine failed in a way the app must see (the outbox could not be read or written).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The outbox (store) failed.
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

/// Tuning of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncConfig {
    /// Jobs per upload request.
    pub batch_size: usize,
    /// Upload requests in flight at once.
    pub max_in_flight: usize,
    /// Retry schedule for network and server failures.
    pub backoff: Backoff,
    /// The upload deadline after a visit (24 h).
    pub deadline_ms: i64,
    /// Visits due within this window are "at risk" (4 h).
    pub at_risk_window_ms: i64,
    /// Seed of the jitter; `None` seeds from the system's randomness.
    pub jitter_seed: Option<u64>,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            batch_size: 50,
            max_in_flight: 2,
            backoff: Backoff::default(),
            deadline_ms: deadline::UPLOAD_DEADLINE_MS,
            at_risk_window_ms: deadline::AT_RISK_WINDOW_MS,
            jitter_seed: None,
        }
    }
}

/// How one drain runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainOptions {
    /// "Send now": jobs waiting for their retry time are sent at once (first round only).
    pub force: bool,
    /// Stop waiting for retries after this long (clock ms); `None` waits until the queue is empty,
    /// offline, or blocked on rejected jobs.
    pub time_budget_ms: Option<u64>,
}

/// Waits between retry rounds: real time in the app, virtual time in tests.
#[async_trait]
pub trait Sleeper: Send + Sync {
    /// Waits `ms` milliseconds of the engine's clock.
    async fn sleep_ms(&self, ms: u64);
}

/// Sleeps on the tokio timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep_ms(&self, ms: u64) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

/// "Sleeps" by moving a [`ManualClock`] forward at once: virtual time for tests and simulations.
#[derive(Debug, Clone)]
pub struct ManualSleeper(pub Arc<ManualClock>);

#[async_trait]
impl Sleeper for ManualSleeper {
    async fn sleep_ms(&self, ms: u64) {
        self.0.advance_ms(i64::try_from(ms).unwrap_or(i64::MAX));
        tokio::task::yield_now().await;
    }
}

/// What the app shows for one job (no payload, so no patient data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobView {
    /// Job id.
    pub id: JobId,
    /// What the job sends.
    pub kind: String,
    /// Local visit id, if the job belongs to a visit.
    pub visit_id: Option<String>,
    /// Visit identification code (empty when unknown).
    pub visit_code: String,
    /// Queued, sending, done, rejected (with reason and fields) or waiting for retry (with time).
    pub state: JobState,
    /// Failures so far.
    pub attempts: u32,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

impl From<&Job> for JobView {
    fn from(j: &Job) -> Self {
        Self {
            id: j.id.clone(),
            kind: j.kind.as_str().to_string(),
            visit_id: j.visit_id.clone(),
            visit_code: j.visit_code.clone(),
            state: j.state.clone(),
            attempts: j.attempts,
            last_error: j.last_error.clone(),
        }
    }
}

/// The offline queue's engine. One per app; drains are serialised.
pub struct SyncEngine {
    outbox: Arc<dyn Outbox>,
    target: Arc<dyn UploadTarget>,
    clock: Arc<dyn Clock>,
    connectivity: Arc<dyn Connectivity>,
    sleeper: Arc<dyn Sleeper>,
    config: SyncConfig,
    listeners: Listeners,
    jitter: Mutex<Jitter>,
    drain_lock: tokio::sync::Mutex<()>,
    wake: tokio::sync::Notify,
    send_now_requested: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for SyncEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEngine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SyncEngine {
    /// An engine over `outbox` sending to `target`; real-time sleeps.
    pub fn new(
        outbox: Arc<dyn Outbox>,
        target: Arc<dyn UploadTarget>,
        clock: Arc<dyn Clock>,
        connectivity: Arc<dyn Connectivity>,
        config: SyncConfig,
    ) -> Self {
        let jitter = config
            .jitter_seed
            .map(Jitter::seeded)
            .unwrap_or_else(Jitter::from_system);
        Self {
            outbox,
            target,
            clock,
            connectivity,
            sleeper: Arc::new(TokioSleeper),
            config,
            listeners: Listeners::default(),
            jitter: Mutex::new(jitter),
            drain_lock: tokio::sync::Mutex::new(()),
            wake: tokio::sync::Notify::new(),
            send_now_requested: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Replaces the sleeper (e.g. [`ManualSleeper`] for virtual time).
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// The engine's configuration.
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// Start-up: jobs left `sending` by a crash are queued again (their idempotency key makes the
    /// resend harmless). Returns how many.
    pub fn start_up(&self) -> Result<usize, SyncError> {
        let n = self.outbox.reset_sending()?;
        if n > 0 {
            tracing::info!(jobs = n, "sync: re-queued jobs left sending by an earlier run");
        }
        Ok(n)
    }

    /// Subscribes a listener to progress events until the returned handle is dropped.
    pub fn subscribe(&self, listener: Arc<dyn SyncListener>) -> Subscription {
        self.listeners.add(listener)
    }

    /// Counts per state.
    pub fn counts(&self) -> Result<OutboxCounts, SyncError> {
        Ok(self.outbox.counts()?)
    }

    /// One job with its state (queued, sending, done, rejected with reason, waiting for retry).
    pub fn job(&self, id: &JobId) -> Result<JobView, SyncError> {
        Ok(JobView::from(&self.outbox.job(id)?))
    }

    /// The rejected jobs with the server's reasons and field errors, for the user to correct.
    pub fn rejected(&self) -> Result<Vec<JobView>, SyncError> {
        Ok(self.outbox.rejected()?.iter().map(JobView::from).collect())
    }

    /// The user corrected a rejected job: the corrected version is queued as a new job under a new
    /// idempotency key (a correction is a new version); returns its id.
    pub fn requeue_corrected(&self, rejected: &JobId, corrected: CorrectedJob) -> Result<JobId, SyncError> {
        let id = self.outbox.requeue_corrected(rejected, corrected)?;
        tracing::info!(job = %rejected, new_job = %id, "sync: corrected job re-queued");
        Ok(id)
    }

    /// Visits at risk of missing the 24-hour upload rule and those that missed it.
    pub fn deadlines(&self) -> Result<DeadlineReport, SyncError> {
        Ok(self.outbox.deadlines(
            self.clock.now_unix_ms(),
            self.config.deadline_ms,
            self.config.at_risk_window_ms,
        )?)
    }

    /// "Send now": drains at once, retry waits skipped for the first round.
    pub async fn send_now(&self) -> Result<DrainSummary, SyncError> {
        self.drain(DrainOptions {
            force: true,
            time_budget_ms: Some(0),
        })
        .await
    }

    /// Asks the background loop ([`SyncEngine::spawn`]) to send now.
    pub fn request_send_now(&self) {
        self.send_now_requested
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Runs in the background: every `poll_ms`, or at once on [`SyncEngine::request_send_now`],
    /// drains the queue while the host reports connectivity. Stops when the handle is dropped.
    pub fn spawn(self: &Arc<Self>, poll_ms: u64) -> BackgroundSync {
        let engine = Arc::clone(self);
        let handle = tokio::spawn(async move {
            loop {
                let force = engine
                    .send_now_requested
                    .swap(false, std::sync::atomic::Ordering::SeqCst);
                // Only when something can go now: jobs parked behind a rejection or waiting for
                // their retry time do not start a drain (and its events) at every poll.
                let now = engine.clock.now_unix_ms();
                let ready = engine
                    .outbox
                    .ready(now, 1)
                    .map(|r| !r.is_empty())
                    .unwrap_or(false);
                if (force || ready) && engine.connectivity.is_online() {
                    let opts = DrainOptions {
                        force,
                        time_budget_ms: Some(0),
                    };
                    if let Err(e) = engine.drain(opts).await {
                        tracing::warn!(error = %e, "sync: background drain failed");
                    }
                }
                tokio::select! {
                    _ = engine.wake.notified() => {}
                    _ = tokio::time::sleep(std::time::Duration::from_millis(poll_ms)) => {}
                }
            }
        });
        BackgroundSync { handle }
    }

    /// Drains the queue: sends every ready job, waits for retries (within the time budget) and
    /// stops when nothing is owed, when offline, or when only jobs blocked by rejected ones remain.
    /// The summary is `complete` only when nothing is owed to the server.
    pub async fn drain(&self, opts: DrainOptions) -> Result<DrainSummary, SyncError> {
        let _serial = self.drain_lock.lock().await;
        // With the drain lock held no job of this engine is in flight, so a `sending` job is left
        // over from a drain that was cancelled (or a crash): queue it again (one engine per store).
        let stale = self.outbox.reset_sending()?;
        if stale > 0 {
            tracing::info!(
                jobs = stale,
                "sync: re-queued jobs left sending by a cancelled drain"
            );
        }
        let started = self.clock.now_unix_ms();
        let pending = self.outbox.counts()?.remaining();
        self.listeners.emit(&SyncEvent::Started { pending });
        let mut sum = DrainSummary::default();
        if opts.force {
            self.outbox.make_all_due(started)?;
        }
        loop {
            if !self.connectivity.is_online() {
                sum.stopped = Some(StopReason::Offline);
                break;
            }
            if self.pass(&mut sum).await? == Pass::CertificateMismatch {
                // Never retried in a loop: the answer came from someone without the pinned key.
                tracing::error!("sync: the server's certificate matches no pin; drain stopped");
                sum.stopped = Some(StopReason::CertificateMismatch);
                break;
            }
            if self.outbox.counts()?.remaining() == 0 {
                break;
            }
            if !self.connectivity.is_online() {
                sum.stopped = Some(StopReason::Offline);
                break;
            }
            let now = self.clock.now_unix_ms();
            let Some(at) = self.outbox.next_retry_after(now)? else {
                // The clock moved on since the pass looked: a retry that fell due meanwhile is
                // ready now, not blocked (on a slow or loaded machine this window is wide).
                if !self.outbox.ready(now, 1)?.is_empty() {
                    continue;
                }
                // Nothing ready and nothing waiting for a time: the rest waits on rejected jobs.
                sum.stopped = Some(StopReason::Blocked);
                break;
            };
            if let Some(budget) = opts.time_budget_ms
                && at.saturating_sub(started) > i64::try_from(budget).unwrap_or(i64::MAX)
            {
                sum.stopped = Some(StopReason::TimeBudget);
                break;
            }
            self.sleeper.sleep_ms(u64::try_from(at - now).unwrap_or(0)).await;
        }
        let c = self.outbox.counts()?;
        sum.remaining = c.remaining();
        sum.rejected_total = c.rejected;
        sum.complete = sum.remaining == 0;
        if sum.complete && sum.stopped != Some(StopReason::CertificateMismatch) {
            sum.stopped = None;
        }
        tracing::info!(
            done = sum.done,
            rejected = sum.rejected,
            retries = sum.retries,
            remaining = sum.remaining,
            "sync: drain ended"
        );
        self.listeners.emit(&SyncEvent::Drained(sum));
        Ok(sum)
    }

    /// Sends everything ready now, round after round (the outbox gives at most one job per
    /// patient per round), until nothing is ready, or until a server presents a certificate that
    /// matches no pin (its jobs go back to the queue untouched and the pass stops at once).
    async fn pass(&self, sum: &mut DrainSummary) -> Result<Pass, SyncError> {
        let per_round = self.config.batch_size.max(1) * self.config.max_in_flight.max(1);
        loop {
            if !self.connectivity.is_online() {
                return Ok(Pass::Done);
            }
            let ready = self.outbox.ready(self.clock.now_unix_ms(), per_round)?;
            if ready.is_empty() {
                return Ok(Pass::Done);
            }
            let ids: Vec<JobId> = ready.iter().map(|j| j.id.clone()).collect();
            self.outbox.mark_sending(&ids)?;
            let mut set = tokio::task::JoinSet::new();
            let batches: Vec<&[Job]> = ready.chunks(self.config.batch_size.max(1)).collect();
            for (n, batch) in batches.iter().enumerate() {
                sum.batches += 1;
                self.listeners.emit(&SyncEvent::BatchSent {
                    batch: sum.batches,
                    jobs: batch.len(),
                });
                let target = Arc::clone(&self.target);
                let items: Vec<UploadItem> = batch.iter().map(item_of).collect();
                set.spawn(async move { (n, target.upload(&items).await) });
            }
            let mut results: Vec<Option<Result<Vec<ItemResult>, UploadError>>> = vec![None; batches.len()];
            while let Some(joined) = set.join_next().await {
                match joined {
                    Ok((n, r)) => results[n] = Some(r),
                    Err(e) => tracing::warn!(error = %e, "sync: upload task failed"),
                }
            }
            let mut mismatch = false;
            for (batch, result) in batches.iter().zip(results) {
                // A task that panicked counts as a server failure: the jobs are retried.
                let result = result.unwrap_or_else(|| Err(UploadError::Server("upload task failed".into())));
                let mut events = Vec::new();
                let updates = self.settle(batch, result, sum, &mut events, &mut mismatch).await;
                self.outbox.record(&updates)?;
                // Events only once the outcome is stored: the app never shows "done" for a job
                // the store could not mark done.
                for e in &events {
                    self.listeners.emit(e);
                }
            }
            if mismatch {
                // Every batch of the round has answered, so the only jobs still `sending` are
                // the ones the impostor was offered: back to the queue as they were.
                self.outbox.reset_sending()?;
                return Ok(Pass::CertificateMismatch);
            }
        }
    }

    /// Turns the server's answer to one batch into job updates (and events). A batch refused as a
    /// whole is split and its jobs sent one by one, so one bad record never holds back the others.
    async fn settle(
        &self,
        batch: &[Job],
        result: Result<Vec<ItemResult>, UploadError>,
        sum: &mut DrainSummary,
        events: &mut Vec<SyncEvent>,
        mismatch: &mut bool,
    ) -> Vec<JobUpdate> {
        let mut updates = Vec::with_capacity(batch.len());
        match result {
            Err(UploadError::CertificateMismatch) => {
                // No update: the jobs stay `sending` until the pass re-queues them, with no retry
                // scheduled and nothing recorded against them.
                *mismatch = true;
            }
            Ok(results) => {
                let mut by_id: HashMap<&str, &ItemOutcome> =
                    results.iter().map(|r| (r.job_id.as_str(), &r.outcome)).collect();
                for job in batch {
                    let u = match by_id.remove(job.id.as_str()) {
                        Some(ItemOutcome::Accepted { ack }) => self.done(job, ack.clone(), sum, events),
                        Some(ItemOutcome::Rejected { reason, fields }) => self.reject(
                            job,
                            Rejection {
                                reason: reason.clone(),
                                fields: fields.clone(),
                            },
                            sum,
                            events,
                        ),
                        Some(ItemOutcome::Retry { reason }) => self.retry(
                            job,
                            FailureClass::Server,
                            format!("server: {reason}"),
                            sum,
                            events,
                        ),
                        None => self.retry(
                            job,
                            FailureClass::Server,
                            "server: no result for the record".into(),
                            sum,
                            events,
                        ),
                    };
                    updates.push(u);
                }
                if !by_id.is_empty() {
                    tracing::warn!(
                        extra = by_id.len(),
                        "sync: server answered for jobs not in the batch"
                    );
                }
            }
            Err(UploadError::BatchRejected(reason)) if batch.len() == 1 => {
                let rejection = Rejection {
                    reason,
                    fields: Vec::new(),
                };
                updates.push(self.reject(&batch[0], rejection, sum, events));
            }
            Err(UploadError::BatchRejected(_)) => {
                // Isolate the bad record: each job alone.
                for job in batch {
                    sum.batches += 1;
                    self.listeners.emit(&SyncEvent::BatchSent {
                        batch: sum.batches,
                        jobs: 1,
                    });
                    if *mismatch {
                        break;
                    }
                    let r = self.target.upload(&[item_of(job)]).await;
                    let single =
                        Box::pin(self.settle(std::slice::from_ref(job), r, sum, events, mismatch)).await;
                    updates.extend(single);
                }
            }
            Err(e) => {
                let class = e.class();
                let msg = e.to_string();
                for job in batch {
                    updates.push(self.retry(job, class, msg.clone(), sum, events));
                }
            }
        }
        updates
    }

    fn done(&self, job: &Job, ack: String, sum: &mut DrainSummary, events: &mut Vec<SyncEvent>) -> JobUpdate {
        sum.done += 1;
        events.push(SyncEvent::JobDone {
            job_id: job.id.clone(),
            visit_code: job.visit_code.clone(),
        });
        JobUpdate::Done {
            id: job.id.clone(),
            at_ms: self.clock.now_unix_ms(),
            ack,
        }
    }

    fn reject(
        &self,
        job: &Job,
        rejection: Rejection,
        sum: &mut DrainSummary,
        events: &mut Vec<SyncEvent>,
    ) -> JobUpdate {
        sum.rejected += 1;
        tracing::info!(job = %job.id, "sync: server rejected a record");
        events.push(SyncEvent::JobRejected {
            job_id: job.id.clone(),
            visit_code: job.visit_code.clone(),
            reason: rejection.reason.clone(),
            fields: rejection.fields.clone(),
        });
        JobUpdate::Rejected {
            id: job.id.clone(),
            rejection,
        }
    }

    fn retry(
        &self,
        job: &Job,
        class: FailureClass,
        error: String,
        sum: &mut DrainSummary,
        events: &mut Vec<SyncEvent>,
    ) -> JobUpdate {
        sum.retries += 1;
        // `job` was read before it was marked sending, which counted this attempt.
        let attempt = job.attempts.saturating_add(1);
        let unit = self.jitter.lock().map(|mut j| j.next_unit()).unwrap_or(0.5);
        // At least 1 ms, so a retried job is never "due now" again within the same pass.
        let delay = self.config.backoff.delay_ms(attempt, unit).max(1);
        let next_at_ms = self
            .clock
            .now_unix_ms()
            .saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
        events.push(SyncEvent::JobRetry {
            job_id: job.id.clone(),
            visit_code: job.visit_code.clone(),
            attempt,
            next_at_ms,
            class,
            error: error.clone(),
        });
        JobUpdate::Retry {
            id: job.id.clone(),
            next_at_ms,
            class,
            error,
        }
    }
}

/// How a pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Nothing is ready any more (or the device went offline).
    Done,
    /// A server presented a certificate matching no pin; the drain must stop.
    CertificateMismatch,
}

/// The background drain loop; dropping it stops the loop.
#[derive(Debug)]
pub struct BackgroundSync {
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for BackgroundSync {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

fn item_of(j: &Job) -> UploadItem {
    UploadItem {
        job_id: j.id.clone(),
        kind: j.kind.as_str().to_string(),
        visit_code: j.visit_code.clone(),
        idempotency_key: j.idempotency_key.clone(),
        payload: j.payload.clone(),
    }
}
