//! The readers service: transport choice, scan, pairing, connection, the reader-state stream and
//! the practitioner PIN. Wrappers over `homevisit_core::app::Readers`.

use crate::app::{HomeVisitApp, ListenerError};
use crate::ble::{HostBle, HostBleAdapter};
use crate::error::HomeVisitError;
pub(crate) use crate::error::{guard, guard_async as task};
use homevisit_core::app::{self, HomeVisit};
use homevisit_core::reader;
use std::sync::{Arc, Mutex};

/// A supported reader model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ReaderModel {
    /// HV-BT200.
    HvBt200,
    /// HV-Mini.
    HvMini,
    /// HV-S3 Secure.
    HvS3,
}

impl From<reader::ReaderModel> for ReaderModel {
    fn from(m: reader::ReaderModel) -> Self {
        match m {
            reader::ReaderModel::HvBt200 => Self::HvBt200,
            reader::ReaderModel::HvMini => Self::HvMini,
            reader::ReaderModel::HvS3 => Self::HvS3,
        }
    }
}

/// A card slot of the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CardSlot {
    /// The practitioner's card (HPC).
    Practitioner,
    /// The patient's NHI card.
    Patient,
}

impl From<reader::CardSlot> for CardSlot {
    fn from(s: reader::CardSlot) -> Self {
        match s {
            reader::CardSlot::Practitioner => Self::Practitioner,
            reader::CardSlot::Patient => Self::Patient,
        }
    }
}

/// Where the reader link stands.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ReaderState {
    /// No session with a reader.
    Disconnected,
    /// Opening a secure session.
    Connecting,
    /// A secure session is open.
    Ready,
    /// A card was put into `slot`.
    CardInserted { slot: CardSlot },
    /// A card was taken out of `slot`.
    CardRemoved { slot: CardSlot },
}

/// One event of the reader-state stream.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ReaderStateEvent {
    /// The reader it concerns.
    pub reader_id: String,
    /// What happened.
    pub state: ReaderState,
}

impl From<&app::ReaderStateEvent> for ReaderStateEvent {
    fn from(e: &app::ReaderStateEvent) -> Self {
        Self {
            reader_id: e.reader_id.clone(),
            state: match e.state {
                app::ReaderState::Disconnected => ReaderState::Disconnected,
                app::ReaderState::Connecting => ReaderState::Connecting,
                app::ReaderState::Ready => ReaderState::Ready,
                app::ReaderState::CardInserted(s) => ReaderState::CardInserted { slot: s.into() },
                app::ReaderState::CardRemoved(s) => ReaderState::CardRemoved { slot: s.into() },
            },
        }
    }
}

/// A reader found by a scan.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ReaderInfo {
    pub id: String,
    pub name: String,
    /// `null` when the model is not supported (it cannot be paired).
    pub model: Option<ReaderModel>,
    pub rssi: i16,
    pub paired: bool,
}

/// A paired reader.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PairedReader {
    pub id: String,
    pub name: String,
    pub model: ReaderModel,
    pub paired_at_ms: i64,
}

impl From<app::PairedReader> for PairedReader {
    fn from(r: app::PairedReader) -> Self {
        Self {
            id: r.id,
            name: r.name,
            model: r.model.into(),
            paired_at_ms: r.paired_at_ms,
        }
    }
}

/// A pairing in progress: the code to show next to the reader's.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PairingCode {
    pub reader_id: String,
    pub code: String,
}

/// The verified practitioner (masked).
#[derive(Debug, Clone, uniffi::Record)]
pub struct PractitionerView {
    pub national_id_masked: String,
    pub name_masked: String,
}

/// Called on every reader-state change.
#[uniffi::export(with_foreign)]
pub trait ReaderStateListener: Send + Sync {
    /// The reader link changed. What it throws is logged and ignored.
    fn on_reader_state(&self, event: ReaderStateEvent) -> Result<(), ListenerError>;
}

struct HostReaderListener(Arc<dyn ReaderStateListener>);

impl app::ReaderStateListener for HostReaderListener {
    fn on_reader_state(&self, event: &app::ReaderStateEvent) {
        if self.0.on_reader_state(event.into()).is_err() {
            tracing::warn!(target: "homevisit::ffi", "the host's reader-state listener threw; ignored");
        }
    }
}

/// Keeps a reader-state listener registered; `cancel()` (or close/drop) unregisters it.
#[derive(uniffi::Object)]
pub struct ReaderSubscription {
    inner: Mutex<Option<app::ReaderSubscription>>,
}

#[uniffi::export]
impl ReaderSubscription {
    /// Stops the listener now. Idempotent.
    pub fn cancel(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// The readers service (Kotlin: `app.readers()`).
#[derive(uniffi::Object)]
pub struct Readers {
    app: Arc<HomeVisit>,
}

#[uniffi::export(async_runtime = "tokio")]
impl Readers {
    /// Carries the reader protocol over the host's Bluetooth stack.
    pub async fn use_host_ble(&self, host: Arc<dyn HostBle>) -> Result<(), HomeVisitError> {
        let app = self.app.clone();
        let t = app::ReaderTransport::HostBle(Arc::new(HostBleAdapter(host)));
        task(async move { app.readers().set_transport(t).await }).await
    }

    /// Carries it over the built-in btleplug backend (in builds with it).
    pub async fn use_builtin_ble(&self) -> Result<(), HomeVisitError> {
        let app = self.app.clone();
        task(async move { app.readers().set_transport(app::ReaderTransport::BuiltIn).await }).await
    }

    /// Carries it over TCP to `homevisit-sim reader serve` at `host:port` (desktop simulator).
    pub async fn use_loopback(&self, address: String) -> Result<(), HomeVisitError> {
        let app = self.app.clone();
        task(async move {
            app.readers()
                .set_transport(app::ReaderTransport::Loopback(address))
                .await
        })
        .await
    }

    /// Scans for supported readers for `timeout_ms`; strongest first.
    pub async fn scan(&self, timeout_ms: u32) -> Result<Vec<ReaderInfo>, HomeVisitError> {
        let app = self.app.clone();
        let found = task(async move { app.readers().scan(timeout_ms).await }).await?;
        Ok(found
            .into_iter()
            .map(|r| ReaderInfo {
                id: r.id,
                name: r.name,
                model: r.model.map(Into::into),
                rssi: r.rssi,
                paired: r.paired,
            })
            .collect())
    }

    /// Starts pairing with a scanned reader: the code to show.
    pub async fn pair(&self, reader_id: String) -> Result<PairingCode, HomeVisitError> {
        let app = self.app.clone();
        let c = task(async move { app.readers().pair(&reader_id).await }).await?;
        Ok(PairingCode {
            reader_id: c.reader_id,
            code: c.code,
        })
    }

    /// Confirms the code the reader shows; a mismatch refuses the pairing (`Validation` on
    /// `pairing_code`), and so does a pairing not also confirmed on the reader's button
    /// (`Validation` on `reader_confirmation`).
    pub async fn confirm_pairing(&self, code: String) -> Result<PairedReader, HomeVisitError> {
        let app = self.app.clone();
        Ok(task(async move { app.readers().confirm_pairing(&code).await })
            .await?
            .into())
    }

    /// Abandons a pairing in progress.
    pub async fn cancel_pairing(&self) -> Result<(), HomeVisitError> {
        let app = self.app.clone();
        task(async move {
            app.readers().cancel_pairing().await;
            Ok(())
        })
        .await
    }

    /// The paired readers.
    pub fn paired_readers(&self) -> Result<Vec<PairedReader>, HomeVisitError> {
        let list = guard(|| self.app.readers().paired_readers())?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// Forgets a reader (its pairing and any session with it).
    pub async fn forget(&self, reader_id: String) -> Result<(), HomeVisitError> {
        let app = self.app.clone();
        task(async move { app.readers().forget(&reader_id).await }).await
    }

    /// Opens a secure session with a paired reader (`null`: the last used, else the first
    /// paired); later operations reconnect on their own.
    pub async fn connect(&self, reader_id: Option<String>) -> Result<PairedReader, HomeVisitError> {
        let app = self.app.clone();
        Ok(
            task(async move { app.readers().connect(reader_id.as_deref()).await })
                .await?
                .into(),
        )
    }

    /// Closes the session; the pairing stays.
    pub async fn disconnect(&self) -> Result<(), HomeVisitError> {
        let app = self.app.clone();
        task(async move {
            app.readers().disconnect().await;
            Ok(())
        })
        .await
    }

    /// Opens the practitioner card and verifies its PIN (`WrongPin{remaining}`, `CardLocked`).
    pub async fn verify_practitioner_pin(&self, pin: String) -> Result<PractitionerView, HomeVisitError> {
        let app = self.app.clone();
        let v = task(async move { app.readers().verify_practitioner_pin(&pin).await }).await?;
        Ok(PractitionerView {
            national_id_masked: v.national_id_masked,
            name_masked: v.name_masked,
        })
    }

    /// Calls `listener` on every reader-state change until the subscription is cancelled/closed.
    pub fn subscribe(&self, listener: Arc<dyn ReaderStateListener>) -> Arc<ReaderSubscription> {
        let sub = self
            .app
            .readers()
            .subscribe(Arc::new(HostReaderListener(listener)));
        Arc::new(ReaderSubscription {
            inner: Mutex::new(Some(sub)),
        })
    }
}

#[uniffi::export]
impl HomeVisitApp {
    /// The readers service.
    pub fn readers(&self) -> Arc<Readers> {
        Arc::new(Readers {
            app: self.inner.clone(),
        })
    }
}
