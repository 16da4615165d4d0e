//! The app facade: one [`HomeVisit`] per app. It opens the sealed store under the host's key store,
//! records visits (card data + details → visit identification code → one transaction with the
//! visit's `card_upload` outbox job), lists them, reports the outbox state and tells listeners
//! when the outbox changes. Every error leaving it is an [`AppError`].

mod cancel;
mod caps;
mod card_less;
mod cases;
mod claims;
mod corrections;
mod emergency;
mod enrol;
mod error;
mod input;
mod listener;
mod lock;
mod logs;
mod medicloud;
mod order_sets;
mod pharmacist;
mod prescription;
mod readers;
mod record_service;
mod recovery;
mod referrals;
mod reports;
mod runtime;
mod session;
mod sync;
mod team;
mod view;
mod virtual_card;
mod visit;

pub use cancel::CancelReceipt;
pub use caps::{CASE_HISTORY_MONTHS, CapStatus, DueCaseView, FeePeriodView};
pub use card_less::{CardLessService, CardLessState, CardLessView, MISSING_VISIT_CODE, replacement_of};
pub use cases::{
    CaseRecord, CaseService, EnrolmentCheck, adl_input, case_date, case_violation, muscle_strength_input,
};
pub use claims::{ClaimsExport, ClaimsService, PractitionerClaimFiles};
pub use corrections::{
    CorrectionService, DrugOrderEdit, EditPath, EditReceipt, VisitEdit, VisitStanding, VisitStatus,
};
pub use emergency::{bracket_name, claim_mark, emergency_indications};
pub use enrol::EnrolmentStatus;
pub use error::{AppError, catch_panic};
pub use input::{CardInput, CardLessPatient, VisitDetails};
pub use listener::{OutboxListener, Subscription};
pub use lock::LOCK_FILE;
pub use logs::{LogForwarder, install_log_sink, uninstall_log_sink};
pub use order_sets::{OrderLineView, OrderSetList, OrderSetOrigin, OrderSetView, RefusedOrderSet};
pub use pharmacist::{DispenseDetails, DispenseReceipt, Pharmacist, VerifiedQr, pharmacy_error};
pub use prescription::{
    IssuedPrescriptionView, PickUpWindow, QR_PNG_SCALE, RefillOperation, RefillState, RefillStatus,
};
pub use readers::{
    PairedReader, PairingCode, PractitionerView, ReaderInfo, ReaderState, ReaderStateEvent,
    ReaderStateListener, ReaderSubscription, ReaderTransport, Readers,
};
#[cfg(feature = "inspect")]
pub use record_service::StepHook;
pub use recovery::RecoveryOutcome;
pub use referrals::{ReferralInput, ReferralRecord, ReferralService, RefreshSummary, referral_date};
pub use reports::MAX_REPORT_DAYS;
pub use session::FailPoint;
pub use sync::SyncService;
pub use team::{RecordInput, TeamRefresh, TeamService, team_date, team_date_text};
pub use view::{JobStatus, OutboxCounts, OutboxJobView, OutboxState, VisitSummary};
pub use virtual_card::{AssistedApplication, ConsentState, VirtualCardScan, VirtualCardService};
pub use visit::{PatientView, ReconcileReport, VisitDraft, VisitSession};

use crate::model::{CardBasicData, InstitutionCode, RocDateTime, Visit};
use crate::platform::{Clock, Connectivity, KeyStore, ManualConnectivity};
use crate::rules::RuleError;
use crate::rules::visit_code::{VisitCodeGenerator, VisitCodeInput, VisitCodeStoreError};
use crate::store::Store;
use listener::Listeners;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

/// File name of the app's database inside the data directory.
pub const DATABASE_FILE: &str = "homevisit.db";

/// Key/value namespace and key of the device's visit counter (input of every visit code).
const COUNTER_NAMESPACE: &str = "app";
const COUNTER_KEY: &str = "visit_counter";

/// Most diagnoses a visit carries (upload fields M35–M40).
pub const MAX_DIAGNOSES: usize = 6;

/// Most jobs per state that [`HomeVisit::outbox_state`] lists (the counts are always exact).
pub const OUTBOX_LIST_LIMIT: u32 = 1000;

/// Where the app keeps its data and who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    /// Directory of the app's database (created if missing).
    pub data_dir: PathBuf,
    /// The 10-digit NHI code of the institution the device is bound to.
    pub institution_code: String,
    /// A stable identifier of this device (part of what makes visit codes unique across devices).
    pub device_id: String,
}

/// The app: one per process, shared by every screen (share it behind an `Arc`).
pub struct HomeVisit {
    store: Arc<Store>,
    institution: InstitutionCode,
    codes: VisitCodeGenerator,
    clock: Arc<dyn Clock>,
    /// Serialises visit recording so the device counter behind visit codes never repeats.
    record_lock: Mutex<()>,
    listeners: Listeners,
    /// Connectivity as the host pushes it ([`HomeVisit::set_online`]).
    connectivity: Arc<ManualConnectivity>,
    /// The enrolled VPN client (`None` until enrolment); see `enrol.rs`.
    vpn: sync::VpnSlot,
    /// The outbox engine and its background loop; see `sync.rs`.
    sync: Arc<SyncService>,
    /// The readers service (transport, pairing, session, practitioner PIN); see `readers.rs`.
    readers: Readers,
    /// MediCloud records kept sealed for offline reading; see `medicloud.rs`.
    medicloud: crate::vpn::MediCloudCache,
    /// The crash tests' fail point, told each step of a visit's finish; see `session.rs`.
    fail_point: session::FailPointSlot,
    /// E-referrals; see `referrals.rs`.
    referrals: Arc<ReferralService>,
    /// The care team's shared record; see `team.rs`.
    team: Arc<TeamService>,
    /// HMIC case applications; see `cases.rs`.
    cases: Arc<cases::CaseService>,
    /// This process's lock on the data directory; declared last so it is released last.
    _dir_lock: lock::DirLock,
}

impl Drop for HomeVisit {
    /// Stops the background sync loop with the app.
    fn drop(&mut self) {
        self.sync.stop();
    }
}

impl std::fmt::Debug for HomeVisit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HomeVisit")
            .field("store", &self.store)
            .field("institution", &self.institution)
            .finish_non_exhaustive()
    }
}

impl HomeVisit {
    /// Opens (or creates and migrates) the app's store in `config.data_dir`, sealed under the key
    /// store's keys. A wrong key gives [`AppError::WrongKey`]; an existing database whose key the
    /// key store lost gives [`AppError::KeyMissing`] with its files untouched; a corrupt file is moved aside (never
    /// deleted) and gives [`AppError::Corrupt`]. A data directory already open in this process
    /// gives [`AppError::AlreadyOpen`].
    pub fn open(config: AppConfig, keys: Arc<dyn KeyStore>, clock: Arc<dyn Clock>) -> Result<Self, AppError> {
        let institution = InstitutionCode::parse(config.institution_code.trim())
            .map_err(|e| input::invalid(e.field, e.reason))?;
        let device_id = config.device_id.trim().to_string();
        if device_id.is_empty() || device_id.len() > 64 {
            return Err(input::invalid("device_id", "must be 1 to 64 characters"));
        }
        let dir_lock = lock::DirLock::acquire(&config.data_dir)?;
        // The store first: for an existing database with a lost key it refuses before any key
        // (its own or the visit codes') is created.
        let store = Arc::new(Store::open_with_clock(
            config.data_dir.join(DATABASE_FILE),
            keys.as_ref(),
            clock.clone(),
        )?);
        let codes = VisitCodeGenerator::from_key_store(keys.as_ref(), &device_id).map_err(|e| match e {
            VisitCodeStoreError::KeyStore(k) => AppError::from(k),
            VisitCodeStoreError::Code(c) => AppError::from(RuleError::from(c)),
        })?;
        let listeners = Listeners::default();
        let connectivity = ManualConnectivity::new(true);
        let vpn: sync::VpnSlot = Arc::new(RwLock::new(None));
        let sync = SyncService::new(
            store.clone(),
            vpn.clone(),
            clock.clone(),
            connectivity.clone(),
            listeners.clone(),
            crate::sync::SyncConfig::default(),
        );
        let medicloud = crate::vpn::MediCloudCache::new(store.clone(), keys.as_ref(), clock.clone())?;
        // The record services: each its own lock and step hook over the same parts of the app.
        let parts = || {
            record_service::ServiceParts::new(
                store.clone(),
                institution.clone(),
                clock.clone(),
                vpn.clone(),
                connectivity.clone(),
                listeners.clone(),
                sync.clone(),
            )
        };
        let referrals = Arc::new(ReferralService::new(parts(), &device_id));
        let team = Arc::new(TeamService::new(parts()));
        let cases = Arc::new(cases::CaseService::new(parts()));
        let readers = Readers::new(store.clone(), clock.clone(), device_id);
        let app = Self {
            store,
            institution,
            codes,
            clock,
            record_lock: Mutex::new(()),
            listeners,
            connectivity,
            vpn,
            sync,
            medicloud,
            readers,
            fail_point: Default::default(),
            referrals,
            team,
            cases,
            _dir_lock: dir_lock,
        };
        app.load_enrolment()?;
        Ok(app)
    }

    /// The host tells the core whether the network is usable (Android `ConnectivityManager`, iOS
    /// `NWPathMonitor`); nothing is sent while offline and visits take the abnormal path.
    pub fn set_online(&self, online: bool) {
        self.connectivity.set_online(online);
        if online {
            self.sync.wake();
        }
    }

    /// Whether the host last said the network is usable.
    pub fn is_online(&self) -> bool {
        self.connectivity.is_online()
    }

    /// The institution this app records visits for.
    pub fn institution(&self) -> &InstitutionCode {
        &self.institution
    }

    /// Records a visit from the card's text fields: checks them, then as [`Self::record_visit`].
    pub fn record_visit_from_input(
        &self,
        card: &CardInput,
        details: VisitDetails,
    ) -> Result<VisitSummary, AppError> {
        let card = card.parse()?;
        self.record_visit(card, details)
    }

    /// Records a visit now: checks the details, takes the visit identification code and commits
    /// the visit with its `card_upload` outbox job in one transaction, then tells the listeners.
    pub fn record_visit(&self, card: CardBasicData, details: VisitDetails) -> Result<VisitSummary, AppError> {
        crate::rules::national_id::check_sex(&card.national_id, card.sex)?;
        let details = details.check()?;
        let visited_at = RocDateTime::now(self.clock.as_ref()).map_err(RuleError::from)?;

        let visit = {
            // Held across code generation and commit: one visit at a time per device.
            let _guard = self.record_lock.lock().unwrap_or_else(|p| p.into_inner());
            let visit_code = self.next_visit_code(&card, visited_at)?;
            let visit = Visit {
                id: Store::new_id(),
                visit_code,
                patient: card,
                institution: self.institution.clone(),
                practitioner_id: details.practitioner_id,
                visit_type: details.visit_type,
                sequence_number: details.sequence_number,
                visited_at: visited_at.to_datetime(),
                diagnoses: details.diagnoses,
                note: details.note,
                orders: Vec::new(),
                security_signature: None,
                sam_id: None,
                abnormal_reason: details.abnormal_reason,
                card_written: false,
                fee_points: None,
                copayment_points: None,
                context: Default::default(),
            };
            // The frozen body of the upload: the visit's 2.0 record (Big5), sealed at rest by
            // the store and sent as is by the sync engine.
            let job = crate::sync::visit_day::card_upload_job(&visit, 1)?;
            let committed = self.store.commit_visit(&visit, &[job])?;
            (visit, committed.jobs)
        };
        let (visit, jobs) = visit;
        tracing::info!(target: "homevisit::app", visit_id = %visit.id, visit_code = %visit.visit_code, "visit recorded");
        let changed: Vec<crate::sync::JobId> = jobs.iter().map(|j| j.to_string()).collect();
        self.listeners.notify_changed(self.store.as_ref(), &changed);
        Ok(VisitSummary::of(&visit))
    }

    /// Stored visits, newest first (at most `limit`, from `offset`).
    pub fn list_visits(&self, limit: u32, offset: u32) -> Result<Vec<VisitSummary>, AppError> {
        let visits = self.store.list_visits(limit, offset)?;
        Ok(visits.iter().map(|v| VisitSummary::of(&v.visit)).collect())
    }

    /// The outbox's exact counts by state, without listing jobs (a badge, the first screen).
    pub fn outbox_counts(&self) -> Result<OutboxCounts, AppError> {
        Ok(self.store.outbox_counts()?)
    }

    /// The outbox: exact counts by state, and up to [`OUTBOX_LIST_LIMIT`] jobs of each state,
    /// oldest first.
    pub fn outbox_state(&self) -> Result<OutboxState, AppError> {
        Ok(OutboxState::read(&self.store, OUTBOX_LIST_LIMIT)?)
    }

    /// Registers `listener` for outbox changes until the returned subscription is dropped.
    pub fn subscribe_outbox(&self, listener: Arc<dyn OutboxListener>) -> Subscription {
        self.listeners.subscribe(listener)
    }

    /// Tells the outbox listeners that the outbox changed outside [`Self::record_visit`] (the sync
    /// engine's outcomes: sent, done, rejected, waiting for retry).
    pub fn notify_outbox_changed(&self) {
        self.changed();
    }

    /// Tells the listeners the outbox changed, with its counts (reads them only when someone
    /// listens); callers that know the changed jobs use `listeners.notify_changed` with their ids.
    fn changed(&self) {
        self.listeners.notify_changed(self.store.as_ref(), &[]);
    }

    /// The next visit identification code of this device. Called with `record_lock` held.
    fn next_visit_code(&self, card: &CardBasicData, at: RocDateTime) -> Result<String, AppError> {
        let counter = self.reserve_counter_locked()?;
        let input = VisitCodeInput {
            person: &card.national_id,
            at,
            institution: &self.institution,
        };
        let code = self.codes.generate(counter, &input).map_err(RuleError::from)?;
        Ok(code.as_str().to_string())
    }

    /// Reserves the next device counter behind visit codes. It is committed before any code is
    /// made from it, so no counter, and no code, is ever issued twice even if the visit's own
    /// commit then fails. Called with `record_lock` held.
    fn reserve_counter_locked(&self) -> Result<u64, AppError> {
        let counter = match self.store.kv_get(COUNTER_NAMESPACE, COUNTER_KEY)? {
            None => 1,
            Some(bytes) => {
                let last: [u8; 8] = bytes.as_slice().try_into().map_err(|_| AppError::Corrupt {
                    moved_to: String::new(),
                })?;
                u64::from_be_bytes(last)
                    .checked_add(1)
                    .ok_or(AppError::Internal)?
            }
        };
        self.store
            .kv_put(COUNTER_NAMESPACE, COUNTER_KEY, &counter.to_be_bytes())?;
        Ok(counter)
    }
}

#[cfg(test)]
mod tests;
