//! What the app's record services share — e-referrals (`referrals.rs`), HMIC case applications
//! (`cases.rs`) and the care team's shared record (`team.rs`): the parts of the app they work with,
//! their one-change-at-a-time lock, and the crash tests' progress hook.

use super::listener::Listeners;
use super::sync::{SyncService, VpnSlot};
use crate::model::InstitutionCode;
use crate::platform::{Clock, ManualConnectivity};
use crate::store::Store;
use std::sync::{Arc, Mutex, MutexGuard};

/// A progress hook for crash tests: called with the name of each step a record service reaches
/// (e.g. `queued`, `cached`), so a test can kill the process at a chosen step.
pub type StepHook = Arc<dyn Fn(&str) + Send + Sync>;

/// The app's parts a record service works with, its lock and its step hook.
pub(crate) struct ServiceParts {
    pub(crate) store: Arc<Store>,
    pub(crate) institution: InstitutionCode,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) vpn: VpnSlot,
    pub(crate) connectivity: Arc<ManualConnectivity>,
    pub(crate) listeners: Listeners,
    pub(crate) sync: Arc<SyncService>,
    /// One change at a time: load → rule → store → queue is not interleaved with another.
    lock: Mutex<()>,
    #[cfg(feature = "inspect")]
    hook: Mutex<Option<StepHook>>,
}

impl ServiceParts {
    pub(crate) fn new(
        store: Arc<Store>,
        institution: InstitutionCode,
        clock: Arc<dyn Clock>,
        vpn: VpnSlot,
        connectivity: Arc<ManualConnectivity>,
        listeners: Listeners,
        sync: Arc<SyncService>,
    ) -> Self {
        Self {
            store,
            institution,
            clock,
            vpn,
            connectivity,
            listeners,
            sync,
            lock: Mutex::new(()),
            #[cfg(feature = "inspect")]
            hook: Mutex::new(None),
        }
    }

    /// The service's one-change-at-a-time lock (a poisoned lock is taken over: the data it guards
    /// is in the store, not in memory).
    pub(crate) fn guard(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the crash tests' progress hook.
    #[cfg(feature = "inspect")]
    pub(crate) fn set_step_hook(&self, hook: Option<StepHook>) {
        *self.hook.lock().unwrap_or_else(|p| p.into_inner()) = hook;
    }

    /// Marks a step reached (calls the hook, when one is set).
    pub(crate) fn step(&self, _name: &str) {
        #[cfg(feature = "inspect")]
        if let Some(h) = self.hook.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            h(_name);
        }
    }
}
