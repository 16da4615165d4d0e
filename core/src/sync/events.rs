//! Progress events of the sync engine and the listeners that receive them.

use super::job::{FieldError, JobId};
use super::target::FailureClass;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, Weak};

/// What the engine reports while it drains the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncEvent {
    /// A drain started with this many jobs owed to the server.
    Started {
        /// Queued + sending + waiting-for-retry jobs.
        pending: usize,
    },
    /// A batch went to the server.
    BatchSent {
        /// Batch number within the drain (1-based).
        batch: usize,
        /// Jobs in the batch.
        jobs: usize,
    },
    /// The server confirmed a job.
    JobDone {
        /// Job.
        job_id: JobId,
        /// Visit identification code.
        visit_code: String,
    },
    /// The server refused a job's record; the user must correct it.
    JobRejected {
        /// Job.
        job_id: JobId,
        /// Visit identification code.
        visit_code: String,
        /// The server's reason.
        reason: String,
        /// Per-field errors.
        fields: Vec<FieldError>,
    },
    /// A job failed for a network or server reason and waits for a retry.
    JobRetry {
        /// Job.
        job_id: JobId,
        /// Visit identification code.
        visit_code: String,
        /// Failures so far.
        attempt: u32,
        /// When it is tried again (Unix ms).
        next_at_ms: i64,
        /// Network or server.
        class: FailureClass,
        /// Short typed message.
        error: String,
    },
    /// The drain stopped; `complete` only when nothing is owed to the server any more.
    Drained(DrainSummary),
}

/// Counts at the end of a drain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainSummary {
    /// Jobs confirmed during this drain.
    pub done: usize,
    /// Jobs refused during this drain.
    pub rejected: usize,
    /// Retries scheduled during this drain.
    pub retries: usize,
    /// Batches sent during this drain.
    pub batches: usize,
    /// Jobs still owed to the server (queued, sending or waiting for retry) at the end.
    pub remaining: usize,
    /// Jobs parked as rejected in the whole outbox at the end (waiting for the user).
    pub rejected_total: usize,
    /// True only when `remaining` is 0.
    pub complete: bool,
    /// Why the drain stopped early, if it did.
    pub stopped: Option<StopReason>,
}

/// Why a drain ended with work remaining.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    /// The host reports no connectivity.
    Offline,
    /// The drain's time budget ran out while jobs wait for their retry time.
    TimeBudget,
    /// Remaining jobs wait only on rejected jobs they depend on.
    Blocked,
    /// The server's certificate matched no pin: the drain stopped at once, the jobs stay queued.
    CertificateMismatch,
}

/// Receives the engine's events (the app's progress bar, the FFI callback).
pub trait SyncListener: Send + Sync {
    /// One event; must return quickly.
    fn on_event(&self, event: &SyncEvent);
}

impl SyncListener for tokio::sync::mpsc::UnboundedSender<SyncEvent> {
    fn on_event(&self, event: &SyncEvent) {
        // A closed receiver only means nobody watches any more.
        let _ = self.send(event.clone());
    }
}

/// A listener that keeps every event (tests, the demo's summary).
#[derive(Debug, Default)]
pub struct EventLog {
    events: Mutex<Vec<SyncEvent>>,
}

impl EventLog {
    /// An empty log.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    /// The events so far.
    pub fn events(&self) -> Vec<SyncEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

impl SyncListener for EventLog {
    fn on_event(&self, event: &SyncEvent) {
        if let Ok(mut e) = self.events.lock() {
            e.push(event.clone());
        }
    }
}

/// The listeners of one engine; a [`Subscription`] removes its listener when dropped.
#[derive(Default)]
pub(crate) struct Listeners {
    list: Arc<ListenerList>,
    next: std::sync::atomic::AtomicU64,
}

impl Listeners {
    pub(crate) fn add(&self, l: Arc<dyn SyncListener>) -> Subscription {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut v) = self.list.lock() {
            v.push((id, l));
        }
        Subscription {
            id,
            list: Arc::downgrade(&self.list),
        }
    }

    pub(crate) fn emit(&self, e: &SyncEvent) {
        let snapshot: Vec<Arc<dyn SyncListener>> = match self.list.lock() {
            Ok(v) => v.iter().map(|(_, l)| l.clone()).collect(),
            Err(_) => return,
        };
        for l in snapshot {
            l.on_event(e);
        }
    }
}

type ListenerList = Mutex<Vec<(u64, Arc<dyn SyncListener>)>>;

/// Keeps a listener subscribed; dropping it unsubscribes.
pub struct Subscription {
    id: u64,
    list: Weak<ListenerList>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(list) = self.list.upgrade()
            && let Ok(mut v) = list.lock()
        {
            v.retain(|(id, _)| *id != self.id);
        }
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Subscription({})", self.id)
    }
}
