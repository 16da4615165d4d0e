//! Listeners for outbox changes: the app registers one and gets a [`Subscription`] that cancels when
//! dropped. Every change is reported, sync outcomes included (the sync service forwards the engine's
//! job events here), and each report is small: the exact counts and only the jobs that changed,
//! never the whole outbox (which may hold thousands of jobs).

use super::{OutboxJobView, OutboxState};
use crate::sync::{JobId, Outbox, OutboxError};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// Told about every change of the outbox (a visit queued, a job sent, done or rejected).
pub trait OutboxListener: Send + Sync {
    /// The outbox changed: `change.counts` are the exact counts right after the change and
    /// `change.jobs` holds only the jobs the change touched (empty when unknown), oldest first.
    fn on_outbox_changed(&self, change: &OutboxState);
}

type Registry = Mutex<BTreeMap<u64, Arc<dyn OutboxListener>>>;

#[derive(Default)]
struct Inner {
    next_id: AtomicU64,
    registry: Arc<Registry>,
}

/// The set of registered listeners, shared by the facade, its sync service and the subscriptions.
#[derive(Default, Clone)]
pub(crate) struct Listeners {
    inner: Arc<Inner>,
}

impl Listeners {
    /// Registers `listener` until the returned subscription is dropped or cancelled.
    pub(crate) fn subscribe(&self, listener: Arc<dyn OutboxListener>) -> Subscription {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.registry).insert(id, listener);
        Subscription {
            id,
            registry: Arc::downgrade(&self.inner.registry),
        }
    }

    /// Whether anyone listens (saves reading the outbox when nobody does).
    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.inner.registry).is_empty()
    }

    /// Reads the counts and the `changed` jobs from `outbox` and tells every listener (nothing is
    /// read when nobody listens). A failed read is logged: the change itself is committed.
    pub(crate) fn notify_changed(&self, outbox: &dyn Outbox, changed: &[JobId]) {
        if self.is_empty() {
            return;
        }
        match change_of(outbox, changed) {
            Ok(change) => self.notify(&change),
            Err(e) => {
                tracing::warn!(target: "homevisit::app", error = %e, "outbox unreadable after a change")
            }
        }
    }

    /// Tells every listener. The registry lock is not held during the calls, so a listener may
    /// subscribe or cancel from inside its callback. A listener that panics (a host callback that
    /// threw) is logged and skipped: the change it hears about is already committed, so its
    /// failure must not turn into an error of the operation that made the change.
    pub(crate) fn notify(&self, change: &OutboxState) {
        let listeners: Vec<_> = lock(&self.inner.registry).values().cloned().collect();
        for listener in listeners {
            let call = std::panic::AssertUnwindSafe(|| listener.on_outbox_changed(change));
            if std::panic::catch_unwind(call).is_err() {
                tracing::warn!(target: "homevisit::app", "an outbox listener failed; skipped");
            }
        }
    }
}

/// The report of one change: exact counts, and the views of the `changed` jobs (oldest first;
/// a job that cannot be read any more is left out).
pub(crate) fn change_of(outbox: &dyn Outbox, changed: &[JobId]) -> Result<OutboxState, OutboxError> {
    let c = outbox.counts()?;
    let mut jobs = Vec::with_capacity(changed.len());
    let mut seen = std::collections::HashSet::new();
    for id in changed {
        if seen.insert(id) {
            match outbox.job(id) {
                Ok(job) => jobs.push(OutboxJobView::of(&job)),
                Err(e) => tracing::debug!(target: "homevisit::app", error = %e, "changed job unreadable"),
            }
        }
    }
    jobs.sort_by_key(|j| j.seq);
    Ok(OutboxState { counts: c, jobs })
}

/// Keeps a listener registered; dropping it (or calling [`Subscription::cancel`]) unregisters it.
pub struct Subscription {
    id: u64,
    registry: Weak<Registry>,
}

impl Subscription {
    /// Unregisters the listener now; later changes are not reported. Idempotent.
    pub fn cancel(&self) {
        if let Some(registry) = self.registry.upgrade() {
            lock(&registry).remove(&self.id);
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("id", &self.id).finish()
    }
}

/// Locks the registry; a listener that panicked while the lock was held cannot leave the map
/// half-updated (inserts and removes are single operations), so a poisoned lock is still usable.
fn lock(registry: &Registry) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<dyn OutboxListener>>> {
    registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
