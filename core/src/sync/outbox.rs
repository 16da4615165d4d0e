//! What the sync engine needs from the outbox, as a trait: the store implements it (see
//! `store_outbox`); an in-memory version serves the unit tests and the simulations.

use super::deadline::{self, DeadlineReport};
use super::job::{Job, JobId, JobState, JobUpdate, JobVisit, NewJob, OutboxCounts, Rejection};
use std::collections::HashMap;
use std::sync::Mutex;

/// The outbox failed (storage error); the message holds no patient data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outbox: {0}")]
pub struct OutboxError(pub String);

/// A corrected version of a rejected job.
#[derive(Clone, PartialEq, Eq)]
pub struct CorrectedJob {
    /// The corrected, frozen body.
    pub payload: Vec<u8>,
    /// The new version's idempotency key (a correction is a new version: never the old key).
    pub idempotency_key: String,
    /// The corrected visit identification code, if it changed.
    pub visit_code: Option<String>,
}

impl std::fmt::Debug for CorrectedJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorrectedJob")
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// The outbox as the engine drives it. Every method is one transaction.
///
/// Order rule (the store's and the in-memory outbox's): a job is ready when it is queued or due
/// for retry, its `depends_on` job is done, and no earlier job of the same patient is still owed
/// (queued, sending, waiting for retry) — except an earlier job that itself waits for its
/// dependency. So a rejected job blocks only the jobs that depend on it, and a dependant queued
/// before the corrected version of its dependency does not deadlock with it.
pub trait Outbox: Send + Sync {
    /// Start-up: every `sending` job (the app died mid-upload) becomes `queued` again; returns how
    /// many. The idempotency key makes the resend harmless.
    fn reset_sending(&self) -> Result<usize, OutboxError>;
    /// Up to `limit` ready jobs at `now_ms`, oldest first (at most one per patient).
    fn ready(&self, now_ms: i64, limit: usize) -> Result<Vec<Job>, OutboxError>;
    /// The earliest retry time later than `now_ms` among waiting jobs.
    fn next_retry_after(&self, now_ms: i64) -> Result<Option<i64>, OutboxError>;
    /// "Send now": every waiting job becomes due at `now_ms`; returns how many.
    fn make_all_due(&self, now_ms: i64) -> Result<usize, OutboxError>;
    /// Marks the jobs `sending` (attempts + 1; their payload is frozen from now on).
    fn mark_sending(&self, ids: &[JobId]) -> Result<(), OutboxError>;
    /// Records the outcome of a batch.
    fn record(&self, updates: &[JobUpdate]) -> Result<(), OutboxError>;
    /// Counts per state.
    fn counts(&self) -> Result<OutboxCounts, OutboxError>;
    /// One job by id.
    fn job(&self, id: &JobId) -> Result<Job, OutboxError>;
    /// The rejected jobs, oldest first, with the server's reasons.
    fn rejected(&self) -> Result<Vec<Job>, OutboxError>;
    /// The user corrected a rejected job: the rejected job is retired (superseded) and the
    /// corrected version is queued as a new job (new idempotency key) for the same visit; jobs
    /// that waited for the rejected one now wait for the new one. Returns the new job's id.
    fn requeue_corrected(&self, id: &JobId, corrected: CorrectedJob) -> Result<JobId, OutboxError>;
    /// Visits at risk of missing the upload deadline and those that missed it.
    fn deadlines(&self, now_ms: i64, deadline_ms: i64, window_ms: i64)
    -> Result<DeadlineReport, OutboxError>;
}

/// An outbox held in memory: for tests, benchmarks and simulations.
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    jobs: Vec<Job>,
    next_seq: i64,
}

impl MemoryOutbox {
    /// An empty outbox.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, MemoryInner>, OutboxError> {
        self.inner
            .lock()
            .map_err(|_| OutboxError("memory outbox poisoned".into()))
    }

    /// Queues a job of `visit` (if it has one) at `now_ms`; returns its id.
    pub fn enqueue(&self, visit: Option<&JobVisit>, job: NewJob, now_ms: i64) -> Result<JobId, OutboxError> {
        let mut g = self.lock()?;
        g.next_seq += 1;
        let id = format!("job-{}", g.next_seq);
        let seq = g.next_seq;
        g.jobs.push(Job {
            id: id.clone(),
            kind: job.kind,
            ordering_key: visit.map(|v| v.ordering_key.clone()),
            visit_id: visit.map(|v| v.visit_id.clone()),
            visit_version: None,
            visit_code: visit.map(|v| v.visit_code.clone()).unwrap_or_default(),
            depends_on: job.depends_on,
            idempotency_key: job.idempotency_key,
            payload: job.payload,
            state: JobState::Queued,
            attempts: 0,
            seq,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
            done_at_ms: None,
            server_ack: None,
            last_error: None,
            last_error_class: None,
            visited_at_ms: visit.map(|v| v.visited_at_ms),
            abnormal_reason: visit.and_then(|v| v.abnormal_reason.clone()),
        });
        Ok(id)
    }

    /// Every job, in enqueue order.
    pub fn all(&self) -> Result<Vec<Job>, OutboxError> {
        Ok(self.lock()?.jobs.clone())
    }
}

/// The order rule over jobs in enqueue order (see [`Outbox`]): indices of ready jobs.
pub fn ready_indices(jobs: &[Job], now_ms: i64, limit: usize) -> Vec<usize> {
    let state: HashMap<&str, &JobState> = jobs.iter().map(|j| (j.id.as_str(), &j.state)).collect();
    let dep_state = |j: &Job| j.depends_on.as_deref().and_then(|d| state.get(d).copied());
    let dep_ok = |j: &Job| j.depends_on.is_none() || matches!(dep_state(j), Some(JobState::Done) | None);
    let mut owed_patients: std::collections::HashSet<&str> = Default::default();
    let mut ready = Vec::new();
    for (i, j) in jobs.iter().enumerate() {
        if ready.len() >= limit {
            break;
        }
        if !j.state.is_pending() {
            continue;
        }
        let earlier_owed = j
            .ordering_key
            .as_deref()
            .is_some_and(|k| owed_patients.contains(k));
        // A job still waiting for its dependency does not hold back its patient's other jobs.
        if dep_ok(j)
            && let Some(k) = j.ordering_key.as_deref()
        {
            owed_patients.insert(k);
        }
        let due = match j.state {
            JobState::Queued => true,
            JobState::WaitingRetry { next_at_ms } => next_at_ms <= now_ms,
            _ => false,
        };
        if due && dep_ok(j) && !earlier_owed {
            ready.push(i);
        }
    }
    ready
}

impl Outbox for MemoryOutbox {
    fn reset_sending(&self) -> Result<usize, OutboxError> {
        let mut g = self.lock()?;
        let mut n = 0;
        for j in g.jobs.iter_mut().filter(|j| j.state == JobState::Sending) {
            j.state = JobState::Queued;
            n += 1;
        }
        Ok(n)
    }

    fn ready(&self, now_ms: i64, limit: usize) -> Result<Vec<Job>, OutboxError> {
        let g = self.lock()?;
        Ok(ready_indices(&g.jobs, now_ms, limit)
            .into_iter()
            .map(|i| g.jobs[i].clone())
            .collect())
    }

    fn next_retry_after(&self, now_ms: i64) -> Result<Option<i64>, OutboxError> {
        Ok(self
            .lock()?
            .jobs
            .iter()
            .filter_map(|j| match j.state {
                JobState::WaitingRetry { next_at_ms } if next_at_ms > now_ms => Some(next_at_ms),
                _ => None,
            })
            .min())
    }

    fn make_all_due(&self, now_ms: i64) -> Result<usize, OutboxError> {
        let mut g = self.lock()?;
        let mut n = 0;
        for j in g.jobs.iter_mut() {
            if let JobState::WaitingRetry { next_at_ms } = &mut j.state
                && *next_at_ms > now_ms
            {
                *next_at_ms = now_ms;
                n += 1;
            }
        }
        Ok(n)
    }

    fn mark_sending(&self, ids: &[JobId]) -> Result<(), OutboxError> {
        let mut g = self.lock()?;
        for id in ids {
            let j = g
                .jobs
                .iter_mut()
                .find(|j| &j.id == id)
                .ok_or_else(|| OutboxError(format!("no job {id}")))?;
            if !matches!(j.state, JobState::Queued | JobState::WaitingRetry { .. }) {
                return Err(OutboxError(format!(
                    "job {id} is {} (needs queued)",
                    j.state.name()
                )));
            }
            j.state = JobState::Sending;
            j.attempts += 1;
        }
        Ok(())
    }

    fn record(&self, updates: &[JobUpdate]) -> Result<(), OutboxError> {
        let mut g = self.lock()?;
        for u in updates {
            let j = g
                .jobs
                .iter_mut()
                .find(|j| &j.id == u.id())
                .ok_or_else(|| OutboxError(format!("no job {}", u.id())))?;
            if j.state == JobState::Done {
                continue;
            }
            if j.state != JobState::Sending {
                return Err(OutboxError(format!(
                    "job {} is {} (needs sending)",
                    j.id,
                    j.state.name()
                )));
            }
            apply_update(j, u);
        }
        Ok(())
    }

    fn counts(&self) -> Result<OutboxCounts, OutboxError> {
        let g = self.lock()?;
        let mut c = OutboxCounts::default();
        for j in &g.jobs {
            c.add(j.state.name(), 1);
        }
        Ok(c)
    }

    fn job(&self, id: &JobId) -> Result<Job, OutboxError> {
        self.lock()?
            .jobs
            .iter()
            .find(|j| &j.id == id)
            .cloned()
            .ok_or_else(|| OutboxError(format!("no job {id}")))
    }

    fn rejected(&self) -> Result<Vec<Job>, OutboxError> {
        Ok(self
            .lock()?
            .jobs
            .iter()
            .filter(|j| matches!(j.state, JobState::Rejected(_)))
            .cloned()
            .collect())
    }

    fn requeue_corrected(&self, id: &JobId, corrected: CorrectedJob) -> Result<JobId, OutboxError> {
        let old = {
            let mut g = self.lock()?;
            let j = g
                .jobs
                .iter_mut()
                .find(|j| &j.id == id && matches!(j.state, JobState::Rejected(_)))
                .ok_or_else(|| OutboxError(format!("job {id} is not rejected")))?;
            j.state = JobState::Superseded;
            j.clone()
        };
        let visit = old.visit_id.clone().map(|visit_id| JobVisit {
            visit_id,
            ordering_key: old.ordering_key.clone().unwrap_or_default(),
            visit_code: corrected.visit_code.clone().unwrap_or(old.visit_code.clone()),
            visited_at_ms: old.visited_at_ms.unwrap_or(old.created_at_ms),
            abnormal_reason: old.abnormal_reason.clone(),
        });
        let mut job = NewJob::new(old.kind, corrected.idempotency_key, corrected.payload);
        job.depends_on = old.depends_on;
        let new_id = self.enqueue(visit.as_ref(), job, old.created_at_ms)?;
        let mut g = self.lock()?;
        for j in g.jobs.iter_mut() {
            if j.depends_on.as_ref() == Some(id) && j.state != JobState::Done {
                j.depends_on = Some(new_id.clone());
            }
        }
        Ok(new_id)
    }

    fn deadlines(
        &self,
        now_ms: i64,
        deadline_ms: i64,
        window_ms: i64,
    ) -> Result<DeadlineReport, OutboxError> {
        Ok(deadline::report(
            &self.lock()?.jobs,
            now_ms,
            deadline_ms,
            window_ms,
        ))
    }
}

/// Applies one update to a job (shared by in-memory outboxes and the engine's working copy).
pub fn apply_update(j: &mut Job, u: &JobUpdate) {
    match u {
        JobUpdate::Done { at_ms, ack, .. } => {
            j.state = JobState::Done;
            j.done_at_ms = Some(*at_ms);
            j.updated_at_ms = *at_ms;
            j.server_ack = Some(ack.clone());
            j.last_error = None;
            j.last_error_class = None;
        }
        JobUpdate::Retry {
            next_at_ms,
            error,
            class,
            ..
        } => {
            j.state = JobState::WaitingRetry {
                next_at_ms: *next_at_ms,
            };
            j.last_error = Some(error.clone());
            j.last_error_class = Some(*class);
        }
        JobUpdate::Rejected { rejection, .. } => {
            j.last_error = Some(rejection.reason.clone());
            j.last_error_class = Some(super::target::FailureClass::Record);
            j.state = JobState::Rejected(Rejection::clone(rejection));
        }
    }
}
