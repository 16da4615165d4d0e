//! The outbox engine: per-patient ordering, batching, idempotency, backoff, job states, deadlines.
//!
//! The engine ([`SyncEngine`]) talks to the outbox through the [`Outbox`] trait and to the server
//! through the [`UploadTarget`] trait, so it is tested without a database or a network
//! ([`MemoryOutbox`], [`fake::FakeTarget`]).

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
pub use deadline::{DeadlineEntry, DeadlineReport, DeadlineStatus};
pub use engine::{
    BackgroundSync, DrainOptions, JobView, ManualSleeper, Sleeper, SyncConfig, SyncEngine, SyncError,
    TokioSleeper,
};
pub use events::{DrainSummary, EventLog, StopReason, Subscription, SyncEvent, SyncListener};
pub use job::{FieldError, Job, JobId, JobState, JobUpdate, NewJob, OutboxCounts, Rejection};
pub use outbox::{CorrectedJob, MemoryOutbox, Outbox, OutboxError};
pub use target::{FailureClass, ItemOutcome, ItemResult, UploadError, UploadItem, UploadTarget};
