//! The app object and the outbox listener.

use crate::error::HomeVisitError;
use crate::platform::{ClockAdapter, HostClock, HostKeyStore, KeyStoreAdapter};
use crate::records::{AppConfig, CardInput, OutboxCounts, OutboxState, VisitDetails, VisitSummary};
use homevisit_core::app;
use homevisit_core::platform::SystemClock;
use std::sync::{Arc, Mutex};

/// A host listener failed (whatever it threw arrives here instead of unwinding into Rust).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum ListenerError {
    /// The listener threw.
    #[error("the listener failed: {reason}")]
    Failed { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for ListenerError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Failed { reason: e.reason }
    }
}

/// Called on every outbox change (a visit queued, a job sent, done or rejected).
#[uniffi::export(with_foreign)]
pub trait OutboxListener: Send + Sync {
    /// The outbox changed; `state` is its state right after the change. What it throws is
    /// logged and ignored: the change is already committed.
    fn on_outbox_changed(&self, state: OutboxState) -> Result<(), ListenerError>;
}

/// Adapts the host's listener to the core's.
struct HostListener(Arc<dyn OutboxListener>);

impl app::OutboxListener for HostListener {
    fn on_outbox_changed(&self, state: &app::OutboxState) {
        if self.0.on_outbox_changed(state.clone().into()).is_err() {
            // The reason may quote the host's exception text; it is not logged.
            tracing::warn!(target: "homevisit::ffi", "the host's outbox listener threw; ignored");
        }
    }
}

/// Keeps an outbox listener registered; `cancel()` (or dropping/closing it) unregisters it.
#[derive(uniffi::Object)]
pub struct OutboxSubscription {
    inner: Mutex<Option<app::Subscription>>,
}

#[uniffi::export]
impl OutboxSubscription {
    /// Stops the listener now. Idempotent.
    pub fn cancel(&self) {
        // A poisoned lock only means a previous cancel panicked midway; taking the value is still right.
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.take();
    }
}

/// What `recoverMovedAside` brought back (counts only: no patient data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct RecoveryOutcome {
    pub visits_found: u32,
    pub visits_imported: u32,
    pub uploads_queued: u32,
    pub unreadable_visits: u32,
    pub jobs_not_recovered: u32,
    pub complete: bool,
}

impl From<app::RecoveryOutcome> for RecoveryOutcome {
    fn from(o: app::RecoveryOutcome) -> Self {
        Self {
            visits_found: o.visits_found,
            visits_imported: o.visits_imported,
            uploads_queued: o.uploads_queued,
            unreadable_visits: o.unreadable_visits,
            jobs_not_recovered: o.jobs_not_recovered,
            complete: o.complete,
        }
    }
}

/// The app: one per process (Kotlin/Swift: `HomeVisitApp`).
#[derive(uniffi::Object)]
pub struct HomeVisitApp {
    /// The core facade (other binding modules add their exports over it).
    pub(crate) inner: Arc<app::HomeVisit>,
}

#[uniffi::export(async_runtime = "tokio")]
impl HomeVisitApp {
    /// Opens (or creates) the app's store, sealed under the host key store, on the system clock.
    #[uniffi::constructor]
    pub fn open(config: AppConfig, key_store: Arc<dyn HostKeyStore>) -> Result<Arc<Self>, HomeVisitError> {
        Self::open_with_clock(config, key_store, None)
    }

    /// As `open`, with the host's clock (tests pin the time with it).
    #[uniffi::constructor]
    pub fn open_with_clock(
        config: AppConfig,
        key_store: Arc<dyn HostKeyStore>,
        clock: Option<Arc<dyn HostClock>>,
    ) -> Result<Arc<Self>, HomeVisitError> {
        let clock: Arc<dyn homevisit_core::platform::Clock> = match clock {
            Some(c) => Arc::new(ClockAdapter(c)),
            None => Arc::new(SystemClock),
        };
        let inner = app::HomeVisit::open(config.into(), Arc::new(KeyStoreAdapter(key_store)), clock)?;
        Ok(Arc::new(Self {
            inner: Arc::new(inner),
        }))
    }

    /// As `open_with_clock`, off the caller's thread (opening migrates the database, which must
    /// not block a UI thread). Kotlin: `suspend`.
    #[uniffi::constructor]
    pub async fn open_async(
        config: AppConfig,
        key_store: Arc<dyn HostKeyStore>,
        clock: Option<Arc<dyn HostClock>>,
    ) -> Result<Arc<Self>, HomeVisitError> {
        tokio::task::spawn_blocking(move || Self::open_with_clock(config, key_store, clock)).await?
    }

    /// Records a visit (checks the card data, takes the visit identification code, stores the
    /// visit with its card-upload job in one transaction). Kotlin: `suspend`.
    pub async fn record_visit(
        &self,
        card: CardInput,
        details: VisitDetails,
    ) -> Result<VisitSummary, HomeVisitError> {
        let inner = self.inner.clone();
        let card: app::CardInput = card.into();
        let summary =
            tokio::task::spawn_blocking(move || inner.record_visit_from_input(&card, details.into()))
                .await??;
        Ok(summary.into())
    }

    /// The databases moved aside as corrupt in the data directory (full paths, oldest first).
    pub fn moved_aside_databases(&self) -> Result<Vec<String>, HomeVisitError> {
        crate::error::guard(|| self.inner.moved_aside_databases())
    }

    /// Re-imports what the database moved aside to `moved_to` (as `Corrupt` named it) still
    /// holds: readable visits and their owed uploads, once (by visit code); the visit-code counter
    /// stays above the moved file's. The moved file is never written. Kotlin: `suspend`.
    pub async fn recover_moved_aside(&self, moved_to: String) -> Result<RecoveryOutcome, HomeVisitError> {
        let inner = self.inner.clone();
        let out = tokio::task::spawn_blocking(move || inner.recover_moved_aside(&moved_to)).await??;
        Ok(out.into())
    }

    /// Stored visits, newest first: at most `limit`, from `offset`. Kotlin: `suspend`.
    pub async fn list_visits(&self, limit: u32, offset: u32) -> Result<Vec<VisitSummary>, HomeVisitError> {
        let inner = self.inner.clone();
        let visits = tokio::task::spawn_blocking(move || inner.list_visits(limit, offset)).await??;
        Ok(visits.into_iter().map(Into::into).collect())
    }

    /// The outbox's counts by state, without listing jobs (a badge, the first screen).
    pub fn outbox_counts(&self) -> Result<OutboxCounts, HomeVisitError> {
        crate::error::guard(|| self.inner.outbox_counts()).map(Into::into)
    }

    /// The outbox: counts by state and each job's state. Kotlin: `suspend`.
    pub async fn outbox_state(&self) -> Result<OutboxState, HomeVisitError> {
        let inner = self.inner.clone();
        let state = tokio::task::spawn_blocking(move || inner.outbox_state()).await??;
        Ok(state.into())
    }

    /// As `list_visits`, blocking the calling thread (for callers without coroutines).
    pub fn list_visits_blocking(&self, limit: u32, offset: u32) -> Result<Vec<VisitSummary>, HomeVisitError> {
        Ok(self
            .inner
            .list_visits(limit, offset)?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Calls `listener` on every outbox change until the subscription is cancelled or dropped.
    pub fn subscribe_outbox(&self, listener: Arc<dyn OutboxListener>) -> Arc<OutboxSubscription> {
        let subscription = self.inner.subscribe_outbox(Arc::new(HostListener(listener)));
        Arc::new(OutboxSubscription {
            inner: Mutex::new(Some(subscription)),
        })
    }
}
