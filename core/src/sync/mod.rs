//! The outbox engine: per-patient ordering, batching, idempotency, backoff, job states, deadlines.
//!
//! The engine ([`SyncEngine`]) talks to the outbox through the [`Outbox`] trait (implemented by
//! `store::Store`, see [`store_outbox`], and by [`MemoryOutbox`]) and to the server through the
//! [`UploadTarget`] trait (implemented over the VPN client by [`vpn_target::VpnTarget`], and by
//! [`fake::FakeTarget`] for tests), so it is tested without a database or a network.
//!
//! Rules (each one a lesson from a sync engine that got it wrong):
//! - **Per-job acknowledgement.** A job leaves the queue only when the server answered for *that
//!   record*; a batch answered in part records the part (the rest is retried). A lost answer is a
//!   retry, and the idempotency key (per job version; the batch key is derived from the job keys;
//!   the server also stores each visit identification code once) makes the resend harmless.
//! - **Frozen once sending.** The payload sent is the job's frozen record; an edit of the visit is
//!   a new version with a new job (the store supersedes jobs not yet sending).
//! - **Failures sorted.** Network (connect, timeout, dropped) and server (5xx, garbage, half a
//!   body, wrong content type, a per-record "try later") → `waiting_retry` with exponential
//!   backoff, jitter and a cap. Record (the checker refused it) → `rejected` with the server's
//!   reason and field errors, shown to the user, corrected and re-queued as a new version. A batch
//!   refused whole as malformed is split so the bad record is found alone.
//! - **Nothing blocks the rest.** At most one job per patient per round, in capture order; a
//!   rejected job blocks only the jobs that depend on it.
//! - **Honest counts.** A drain is `complete` only when nothing is owed to the server (queued,
//!   sending or waiting for retry); otherwise it says why it stopped (offline, time budget,
//!   blocked behind rejections). Progress events ([`SyncEvent`]) go to listeners.
//! - **Restart.** [`SyncEngine::start_up`] re-queues jobs a crash left `sending`.
//! - **24-hour rule.** [`SyncEngine::deadlines`] lists visits at risk and those that missed it,
//!   with the reason the visit was abnormal (for the abnormal-situation report).

pub mod backoff;
pub mod deadline;
pub mod engine;
pub mod events;
pub mod fake;
pub mod job;
pub mod outbox;
pub mod store_outbox;
pub mod target;
pub mod visit_day;
pub mod vpn_target;

#[cfg(test)]
mod tests;

pub use backoff::{Backoff, Jitter};
pub use deadline::{AT_RISK_WINDOW_MS, DeadlineEntry, DeadlineReport, DeadlineStatus, UPLOAD_DEADLINE_MS};
pub use engine::{
    BackgroundSync, DrainOptions, JobView, ManualSleeper, Sleeper, SyncConfig, SyncEngine, SyncError,
    TokioSleeper,
};
pub use events::{DrainSummary, EventLog, StopReason, Subscription, SyncEvent, SyncListener};
pub use job::{
    FieldError, Job, JobId, JobKind, JobState, JobUpdate, JobVisit, NewJob, OutboxCounts, Rejection,
    new_job_id,
};
pub use outbox::{CorrectedJob, MemoryOutbox, Outbox, OutboxError};
pub use target::{FailureClass, ItemOutcome, ItemResult, UploadError, UploadItem, UploadTarget};
