//! The readers service the facade hands out ([`HomeVisit::readers`]): which transport carries the
//! reader protocol (the host's BLE stack, the built-in btleplug backend, the loopback TCP link to
//! the desktop simulator, or an in-process transport in tests), scanning, pairing with a short code
//! the user compares, connecting (and reconnecting on demand) to the paired reader, forgetting it,
//! the reader-state stream, and the practitioner card's PIN. Pairings are kept sealed in the store.

use super::{AppError, HomeVisit};
use crate::card::{CardError, NhiCode, hpc};
use crate::platform::Clock;
use crate::reader::{
    CardSlot, DiscoveredReader, HostBle, HostBleTransport, LoopbackTransport, PairingRecord, PendingPairing,
    ReaderClient, ReaderError, ReaderEvent, ReaderModel, ReaderSession, StorePairingStore, Transport,
};
use crate::store::Store;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

/// Longest scan the app may ask for.
pub const MAX_SCAN_MS: u32 = 30_000;

/// Where the reader link stands, as the reader-state stream reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderState {
    /// No session with a reader.
    Disconnected,
    /// Opening a secure session with the paired reader.
    Connecting,
    /// A secure session is open; cards can be read.
    Ready,
    /// A card was put into a slot.
    CardInserted(CardSlot),
    /// A card was taken out of a slot.
    CardRemoved(CardSlot),
}

/// One event of the reader-state stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderStateEvent {
    /// The reader it concerns (transport id).
    pub reader_id: String,
    /// What happened.
    pub state: ReaderState,
}

/// Told about every change of the reader link and its card slots.
pub trait ReaderStateListener: Send + Sync {
    /// The reader link changed.
    fn on_reader_state(&self, event: &ReaderStateEvent);
}

/// A reader found by a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderInfo {
    /// Transport id to pair or connect with.
    pub id: String,
    /// Advertised name.
    pub name: String,
    /// The model, `None` when it is not on the allow-list (such a reader cannot be paired).
    pub model: Option<ReaderModel>,
    /// Signal strength, dBm.
    pub rssi: i16,
    /// Whether this phone holds a pairing with it.
    pub paired: bool,
}

/// A reader this phone is paired with (no key material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairedReader {
    /// Transport id.
    pub id: String,
    /// Advertised name.
    pub name: String,
    /// Model.
    pub model: ReaderModel,
    /// When it was paired, Unix ms.
    pub paired_at_ms: i64,
}

impl PairedReader {
    fn of(r: &PairingRecord) -> Self {
        Self {
            id: r.reader_id.clone(),
            name: r.name.clone(),
            model: r.model,
            paired_at_ms: r.paired_at_unix_ms,
        }
    }
}

/// A pairing in progress: the code to show; the user compares it with the reader's display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingCode {
    /// The reader being paired.
    pub reader_id: String,
    /// The 6-digit code.
    pub code: String,
}

/// The practitioner whose PIN was verified (masked display fields only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PractitionerView {
    /// National ID with its middle masked.
    pub national_id_masked: String,
    /// Name with its middle masked (`王○明`).
    pub name_masked: String,
}

/// Which transport carries the reader protocol.
pub enum ReaderTransport {
    /// The host's Bluetooth stack through the callback interface.
    HostBle(Arc<dyn HostBle>),
    /// The built-in btleplug backend (feature `ble`, always on phones).
    BuiltIn,
    /// TCP to `homevisit-sim reader serve` at `host:port` (desktop simulator).
    Loopback(String),
    /// Any other transport (the in-memory one in tests).
    Custom(Arc<dyn Transport>),
}

impl std::fmt::Debug for ReaderTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::HostBle(_) => f.write_str("HostBle"),
            Self::BuiltIn => f.write_str("BuiltIn"),
            Self::Loopback(a) => write!(f, "Loopback({a})"),
            Self::Custom(_) => f.write_str("Custom"),
        }
    }
}

type Registry = Mutex<BTreeMap<u64, Arc<dyn ReaderStateListener>>>;

/// Keeps a reader-state listener registered; dropping it (or [`ReaderSubscription::cancel`])
/// unregisters it.
pub struct ReaderSubscription {
    id: u64,
    registry: Weak<Registry>,
}

impl ReaderSubscription {
    /// Unregisters the listener now. Idempotent.
    pub fn cancel(&self) {
        if let Some(r) = self.registry.upgrade() {
            r.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
        }
    }
}

impl Drop for ReaderSubscription {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl std::fmt::Debug for ReaderSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderSubscription")
            .field("id", &self.id)
            .finish()
    }
}

/// The open session and the task forwarding its events.
struct Active {
    session: Arc<ReaderSession>,
    watcher: tokio::task::JoinHandle<()>,
}

impl Drop for Active {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// The readers service: one per app, shared by every screen.
pub struct Readers {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    phone_id: String,
    client: RwLock<Option<Arc<ReaderClient>>>,
    seen: Mutex<HashMap<String, DiscoveredReader>>,
    pending: tokio::sync::Mutex<Option<PendingPairing>>,
    active: tokio::sync::Mutex<Option<Active>>,
    /// The reader to (re)connect to: the last one connected, else the first paired.
    target: Mutex<Option<String>>,
    practitioner: Arc<Mutex<Option<crate::card::Practitioner>>>,
    next_id: AtomicU64,
    registry: Arc<Registry>,
    /// Serialises visit transactions (one card transaction at a time per phone).
    pub(crate) visit_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers").finish_non_exhaustive()
    }
}

impl Readers {
    /// The service over `store`'s pairings; `phone_id` identifies this installation to readers.
    pub(crate) fn new(store: Arc<Store>, clock: Arc<dyn Clock>, phone_id: String) -> Self {
        let readers = Self {
            store,
            clock,
            phone_id,
            client: RwLock::new(None),
            seen: Mutex::new(HashMap::new()),
            pending: tokio::sync::Mutex::new(None),
            active: tokio::sync::Mutex::new(None),
            target: Mutex::new(None),
            practitioner: Arc::new(Mutex::new(None)),
            next_id: AtomicU64::new(0),
            registry: Arc::new(Mutex::new(BTreeMap::new())),
            visit_lock: tokio::sync::Mutex::new(()),
        };
        #[cfg(any(feature = "ble", target_os = "android", target_os = "ios"))]
        readers.install(Arc::new(crate::reader::btle::BtleTransport::new()));
        readers
    }

    fn install(&self, transport: Arc<dyn Transport>) {
        let pairings = Arc::new(StorePairingStore::new(self.store.clone()));
        let client = ReaderClient::new(transport, pairings, self.phone_id.clone());
        *self.client.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(client));
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Chooses the transport; an open session and a pending pairing are closed first.
    pub async fn set_transport(&self, transport: ReaderTransport) -> Result<(), AppError> {
        let transport: Arc<dyn Transport> = match transport {
            ReaderTransport::HostBle(host) => Arc::new(HostBleTransport::new(host)),
            ReaderTransport::Custom(t) => t,
            ReaderTransport::Loopback(addr) => {
                let addr: std::net::SocketAddr = addr
                    .trim()
                    .parse()
                    .map_err(|_| super::input::invalid("reader_address", "must be host:port"))?;
                Arc::new(LoopbackTransport::new(addr))
            }
            ReaderTransport::BuiltIn => builtin()?,
        };
        self.disconnect().await;
        if let Some(p) = self.pending.lock().await.take() {
            p.cancel().await;
        }
        self.install(transport);
        Ok(())
    }

    fn client(&self) -> Result<Arc<ReaderClient>, AppError> {
        self.client
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                tracing::info!(target: "homevisit::app", "no reader transport chosen");
                AppError::ReaderUnavailable
            })
    }

    /// Scans for `timeout_ms` (at most [`MAX_SCAN_MS`]); strongest signal first.
    pub async fn scan(&self, timeout_ms: u32) -> Result<Vec<ReaderInfo>, AppError> {
        let client = self.client()?;
        let found = client
            .scan(Duration::from_millis(u64::from(timeout_ms.min(MAX_SCAN_MS))))
            .await
            .map_err(reader_error)?;
        let mut out = Vec::with_capacity(found.len());
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            for r in found {
                out.push(ReaderInfo {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    model: r.model,
                    rssi: r.rssi,
                    paired: client.is_paired(&r.id).map_err(reader_error)?,
                });
                seen.insert(r.id.clone(), r);
            }
        }
        Ok(out)
    }

    /// Starts pairing with a reader found by the last scan: returns the code to show. The user
    /// confirms it with [`Readers::confirm_pairing`] or cancels with [`Readers::cancel_pairing`].
    pub async fn pair(&self, reader_id: &str) -> Result<PairingCode, AppError> {
        let client = self.client()?;
        let reader = self
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(reader_id)
            .cloned()
            .ok_or_else(|| super::input::invalid("reader_id", "not found by the last scan"))?;
        if reader.model.is_none() {
            return Err(super::input::invalid(
                "reader_id",
                "this reader model is not supported",
            ));
        }
        let mut pending = self.pending.lock().await;
        if let Some(old) = pending.take() {
            old.cancel().await;
        }
        // The reader accepts one central: a session with it (or another reader) ends first.
        self.disconnect().await;
        let p = client.pair(&reader).await.map_err(reader_error)?;
        let code = PairingCode {
            reader_id: reader.id.clone(),
            code: p.short_code().to_string(),
        };
        *pending = Some(p);
        Ok(code)
    }

    /// The user confirmed `code` as the reader shows it. A code that does not match refuses the
    /// pairing on both sides, stores nothing, and gives a validation error on `pairing_code`
    /// (pair again). The reader keeps the pairing only if it was confirmed on the reader itself
    /// too (its button, pressed when its code matches) — else a validation error on
    /// `reader_confirmation` and nothing is stored on either side.
    pub async fn confirm_pairing(&self, code: &str) -> Result<PairedReader, AppError> {
        let p = self
            .pending
            .lock()
            .await
            .take()
            .ok_or_else(|| super::input::invalid("pairing", "no pairing in progress"))?;
        let matches = code.trim() == p.short_code();
        match p.confirm(code, self.clock.now_unix_ms()).await {
            Ok(record) => {
                *self.target.lock().unwrap_or_else(|p| p.into_inner()) = Some(record.reader_id.clone());
                tracing::info!(target: "homevisit::app", reader = %record.reader_id, "reader paired");
                Ok(PairedReader::of(&record))
            }
            Err(_) if !matches => Err(super::input::invalid(
                "pairing_code",
                "does not match the reader's code; pairing refused",
            )),
            Err(e) => Err(reader_error(e)),
        }
    }

    /// Abandons a pairing in progress (idempotent).
    pub async fn cancel_pairing(&self) {
        if let Some(p) = self.pending.lock().await.take() {
            p.cancel().await;
        }
    }

    /// The paired readers.
    pub fn paired_readers(&self) -> Result<Vec<PairedReader>, AppError> {
        let pairings = StorePairingStore::new(self.store.clone());
        use crate::reader::PairingStore;
        Ok(pairings
            .list()
            .map_err(reader_error)?
            .iter()
            .map(PairedReader::of)
            .collect())
    }

    /// Forgets a reader: its pairing is deleted and a session with it is closed.
    pub async fn forget(&self, reader_id: &str) -> Result<(), AppError> {
        let is_target = self.target.lock().unwrap_or_else(|p| p.into_inner()).as_deref() == Some(reader_id);
        if is_target {
            self.disconnect().await;
            *self.target.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        use crate::reader::PairingStore;
        StorePairingStore::new(self.store.clone())
            .remove(reader_id)
            .map_err(reader_error)
    }

    /// Opens a secure session with a paired reader (`None`: the last one used, else the first
    /// paired). Later operations reconnect to it on their own when the link dropped.
    pub async fn connect(&self, reader_id: Option<&str>) -> Result<PairedReader, AppError> {
        if let Some(id) = reader_id {
            let changed = self.target.lock().unwrap_or_else(|p| p.into_inner()).as_deref() != Some(id);
            if changed {
                self.disconnect().await;
                *self.target.lock().unwrap_or_else(|p| p.into_inner()) = Some(id.to_string());
            }
        }
        let session = self.session().await?;
        Ok(PairedReader::of(session.reader()))
    }

    /// Closes the session (idempotent); the pairing stays.
    pub async fn disconnect(&self) {
        let active = self.active.lock().await.take();
        if let Some(a) = active {
            a.watcher.abort();
            a.session.disconnect().await;
            self.clear_practitioner();
            self.emit(&a.session.reader().reader_id, ReaderState::Disconnected);
        }
    }

    /// Whether a secure session is open now.
    pub async fn is_connected(&self) -> bool {
        self.active
            .lock()
            .await
            .as_ref()
            .is_some_and(|a| a.session.is_open())
    }

    /// Calls `listener` on every reader-state change until the subscription is cancelled or
    /// dropped.
    pub fn subscribe(&self, listener: Arc<dyn ReaderStateListener>) -> ReaderSubscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, listener);
        ReaderSubscription {
            id,
            registry: Arc::downgrade(&self.registry),
        }
    }

    fn emit(&self, reader_id: &str, state: ReaderState) {
        emit(&self.registry, reader_id, state);
    }

    fn clear_practitioner(&self) {
        *self.practitioner.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The open session, reconnecting to the paired reader when there is none or it ended.
    pub(crate) async fn session(&self) -> Result<Arc<ReaderSession>, AppError> {
        let mut active = self.active.lock().await;
        if let Some(a) = active.as_ref()
            && a.session.is_open()
        {
            return Ok(a.session.clone());
        }
        *active = None;
        self.clear_practitioner();
        let client = self.client()?;
        let reader_id = self.target_reader(&client)?;
        self.emit(&reader_id, ReaderState::Connecting);
        let session = match client.connect(&reader_id).await {
            Ok(s) => Arc::new(s),
            Err(e) => {
                self.emit(&reader_id, ReaderState::Disconnected);
                return Err(reader_error(e));
            }
        };
        *self.target.lock().unwrap_or_else(|p| p.into_inner()) = Some(reader_id.clone());
        let watcher = tokio::spawn(watch(
            session.events(),
            Arc::downgrade(&self.registry),
            Arc::downgrade(&self.practitioner),
            reader_id.clone(),
        ));
        self.emit(&reader_id, ReaderState::Ready);
        *active = Some(Active {
            session: session.clone(),
            watcher,
        });
        Ok(session)
    }

    fn target_reader(&self, client: &ReaderClient) -> Result<String, AppError> {
        if let Some(id) = self.target.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(id);
        }
        let mut paired = client.pairings().map_err(reader_error)?;
        paired.sort_by_key(|r| r.paired_at_unix_ms);
        paired
            .first()
            .map(|r| r.reader_id.clone())
            .ok_or(AppError::ReaderNotPaired)
    }

    /// Opens the practitioner card (HPC) and verifies its PIN. A wrong PIN gives
    /// [`AppError::WrongPin`] with the tries left; a locked card [`AppError::CardLocked`].
    pub async fn verify_practitioner_pin(&self, pin: &str) -> Result<PractitionerView, AppError> {
        let pin = pin.trim();
        if pin.is_empty() || pin.len() > 12 || !pin.chars().all(|c| c.is_ascii_digit()) {
            return Err(super::input::invalid("pin", "must be 1 to 12 digits"));
        }
        let session = self.session().await?;
        let practitioner = hpc::open(session.as_ref()).await.map_err(card_error)?;
        hpc::verify_pin(session.as_ref(), pin).await.map_err(card_error)?;
        let view = PractitionerView {
            national_id_masked: super::view::mask_id(&practitioner.national_id),
            name_masked: mask_name(&practitioner.name),
        };
        *self.practitioner.lock().unwrap_or_else(|p| p.into_inner()) = Some(practitioner);
        tracing::info!(target: "homevisit::app", "practitioner PIN verified");
        Ok(view)
    }

    /// The practitioner verified in the current session, if any.
    pub(crate) fn practitioner(&self) -> Option<crate::card::Practitioner> {
        self.practitioner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn emit(registry: &Registry, reader_id: &str, state: ReaderState) {
    let event = ReaderStateEvent {
        reader_id: reader_id.to_string(),
        state,
    };
    let listeners: Vec<_> = registry
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    for l in listeners {
        let call = std::panic::AssertUnwindSafe(|| l.on_reader_state(&event));
        if std::panic::catch_unwind(call).is_err() {
            tracing::warn!(target: "homevisit::app", "a reader-state listener failed; skipped");
        }
    }
}

/// Forwards one session's events to the listeners until it ends.
async fn watch(
    mut events: tokio::sync::broadcast::Receiver<ReaderEvent>,
    registry: Weak<Registry>,
    practitioner: Weak<Mutex<Option<crate::card::Practitioner>>>,
    reader_id: String,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let (state, end) = match events.recv().await {
            Ok(ReaderEvent::CardInserted(s)) => (ReaderState::CardInserted(s), false),
            Ok(ReaderEvent::CardRemoved(s)) => {
                if s == CardSlot::Practitioner
                    && let Some(p) = practitioner.upgrade()
                {
                    *p.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
                (ReaderState::CardRemoved(s), false)
            }
            Ok(ReaderEvent::SessionEnded(_)) | Err(RecvError::Closed) => {
                if let Some(p) = practitioner.upgrade() {
                    *p.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
                (ReaderState::Disconnected, true)
            }
            Err(RecvError::Lagged(_)) => continue,
        };
        match registry.upgrade() {
            Some(r) => emit(&r, &reader_id, state),
            None => return,
        }
        if end {
            return;
        }
    }
}

#[cfg(any(feature = "ble", target_os = "android", target_os = "ios"))]
fn builtin() -> Result<Arc<dyn Transport>, AppError> {
    Ok(Arc::new(crate::reader::btle::BtleTransport::new()))
}

#[cfg(not(any(feature = "ble", target_os = "android", target_os = "ios")))]
fn builtin() -> Result<Arc<dyn Transport>, AppError> {
    Err(super::input::invalid(
        "reader_transport",
        "the built-in Bluetooth backend is not in this build (feature `ble`)",
    ))
}

/// `王小明` → `王○明`.
pub(crate) fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 | 1 => name.to_string(),
        2 => format!("{}○", chars[0]),
        n => format!("{}{}{}", chars[0], "○".repeat(n - 2), chars[n - 1]),
    }
}

/// Maps a reader failure to what the app can act on (reader errors never carry patient data).
pub(crate) fn reader_error(e: ReaderError) -> AppError {
    let public = match &e {
        ReaderError::NotPaired(_) => AppError::ReaderNotPaired,
        // The reader's own confirmation (its button) is missing: the user can act on it.
        ReaderError::NotConfirmed(_) => super::input::invalid(
            "reader_confirmation",
            "confirm on the reader too (press its button when it shows the same code), then pair again",
        ),
        ReaderError::NoAdapter
        | ReaderError::Disconnected
        | ReaderError::Timeout
        | ReaderError::Device(_)
        | ReaderError::CardRemoved => AppError::ReaderUnavailable,
        ReaderError::NoCard(CardSlot::Patient) => AppError::Card {
            code: NhiCode::NoPatientCard.code().to_string(),
        },
        ReaderError::NoCard(CardSlot::Practitioner) => AppError::Card {
            code: NhiCode::NoPractitionerCard.code().to_string(),
        },
        ReaderError::BadFrame(_) => AppError::Reader {
            reason: "the reader sent a frame that failed authentication".into(),
        },
    };
    tracing::warn!(target: "homevisit::app", error = %e, kind = ?public, "reader operation failed");
    public
}

/// Maps a card failure to what the app can act on (card errors never carry patient data).
pub(crate) fn card_error(e: CardError) -> AppError {
    let public = match &e {
        CardError::Reader(r) => return reader_error(r.clone()),
        CardError::WrongPin { remaining } => AppError::WrongPin {
            remaining: u32::from(*remaining),
        },
        CardError::Code(NhiCode::PinLocked) => AppError::CardLocked,
        CardError::Code(NhiCode::CardRemoved | NhiCode::ReaderTimeout) => AppError::ReaderUnavailable,
        CardError::Code(NhiCode::SamUnreachable) => AppError::Network,
        CardError::Code(c) => AppError::Card {
            code: c.code().to_string(),
        },
        CardError::Malformed { what, .. } => AppError::Reader {
            reason: format!("the card answered garbage ({what})"),
        },
        CardError::Status { what, sw } => AppError::Reader {
            reason: format!("the card answered an unknown status {sw:04X} ({what})"),
        },
        // The SAM's own failures (an expired session, a bad answer): retrying starts afresh.
        CardError::Sam(_) => AppError::Network,
        CardError::Input(reason) => AppError::Validation {
            field: "visit".into(),
            reason: reason.clone(),
        },
    };
    tracing::warn!(target: "homevisit::app", error = %e, kind = ?public, "card operation failed");
    public
}

impl HomeVisit {
    /// The readers service: transport, scan, pairing, connection, state stream, practitioner PIN.
    pub fn readers(&self) -> &Readers {
        &self.readers
    }
}
