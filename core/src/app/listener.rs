//! Listeners for outbox changes: the app registers one and gets a [`Subscription`] that cancels when
//! dropped.

use super::OutboxState;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// Told about every change of the outbox (a visit queued, a job sent, done or rejected).
pub trait OutboxListener: Send + Sync {
    /// The outbox changed; `state` is its state right after the change.
    fn on_outbox_changed(&self, state: &OutboxState);
}

type Registry = Mutex<BTreeMap<u64, Arc<dyn OutboxListener>>>;

/// The set of registered listeners, shared by the facade and its subscriptions.
#[derive(Default)]
pub(crate) struct Listeners {
    next_id: AtomicU64,
    registry: Arc<Registry>,
}

impl Listeners {
    /// Registers `listener` until the returned subscription is dropped or cancelled.
    pub(crate) fn subscribe(&self, listener: Arc<dyn OutboxListener>) -> Subscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.registry).insert(id, listener);
        Subscription {
            id,
            registry: Arc::downgrade(&self.registry),
        }
    }

    /// Whether anyone listens (saves reading the outbox state when nobody does).
    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.registry).is_empty()
    }

    /// Tells every listener. The registry lock is not held during the calls, so a listener may
    /// subscribe or cancel from inside its callback. A listener that panics (a host callback that
    /// threw) is logged and skipped: the change it hears about is already committed, so its
    /// failure must not turn into an error of the operation that made the change.
    pub(crate) fn notify(&self, state: &OutboxState) {
        let listeners: Vec<_> = lock(&self.registry).values().cloned().collect();
        for listener in listeners {
            let call = std::panic::AssertUnwindSafe(|| listener.on_outbox_changed(state));
            if std::panic::catch_unwind(call).is_err() {
                tracing::warn!(target: "homevisit::app", "an outbox listener failed; skipped");
            }
        }
    }
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
