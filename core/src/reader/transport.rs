//! The transport: one async trait shaped like a GATT central (scan with a service filter, connect,
//! discover, write with or without response, notifications, MTU, disconnect events). Backends:
//! btleplug (feature `ble`), in-memory ([`super::memory`]) and loopback TCP ([`super::loopback`]).

use super::ReaderError;
use super::model::ReaderModel;
use std::time::Duration;
use tokio::sync::mpsc;
pub use uuid::Uuid;

/// A peripheral seen while scanning.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DiscoveredReader {
    /// Transport-specific id to connect with (BLE address / platform id).
    pub id: String,
    /// Advertised local name.
    pub name: String,
    /// The model, when the name is on the allow-list.
    pub model: Option<ReaderModel>,
    /// Signal strength in dBm.
    pub rssi: i16,
}

/// How a characteristic may be used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CharProps {
    /// Write with response allowed.
    pub write: bool,
    /// Write without response allowed.
    pub write_without_response: bool,
    /// Notifications allowed.
    pub notify: bool,
}

/// A characteristic of a discovered service.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GattCharacteristic {
    /// Characteristic UUID.
    pub uuid: Uuid,
    /// Its properties.
    pub props: CharProps,
}

/// A discovered GATT service.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GattService {
    /// Service UUID.
    pub uuid: Uuid,
    /// Its characteristics.
    pub characteristics: Vec<GattCharacteristic>,
}

/// ATT write type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WriteKind {
    /// Write request, acknowledged by the peripheral.
    WithResponse,
    /// Write command, unacknowledged.
    WithoutResponse,
}

/// What a connection reports asynchronously.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// A notification on a subscribed characteristic.
    Notification {
        /// The characteristic that notified.
        characteristic: Uuid,
        /// The value.
        value: Vec<u8>,
    },
    /// The link dropped; no more events follow.
    Disconnected {
        /// Why, as far as the transport knows.
        reason: String,
    },
}

/// A GATT central: finds and connects peripherals.
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Scans for `timeout` and returns peripherals that advertise `service`.
    async fn scan(&self, service: Uuid, timeout: Duration) -> Result<Vec<DiscoveredReader>, ReaderError>;
    /// Connects to the peripheral with `id` (as found by [`Transport::scan`]).
    async fn connect(&self, id: &str) -> Result<Box<dyn Connection>, ReaderError>;
}

/// One connection to a peripheral.
#[async_trait::async_trait]
pub trait Connection: Send + Sync {
    /// The negotiated ATT MTU.
    fn mtu(&self) -> u16;
    /// Discovers services and characteristics.
    async fn discover(&self) -> Result<Vec<GattService>, ReaderError>;
    /// Writes a value to a characteristic.
    async fn write(&self, characteristic: Uuid, value: &[u8], kind: WriteKind) -> Result<(), ReaderError>;
    /// Enables notifications on `characteristic`; notifications and the disconnect event arrive on
    /// the returned channel. Call once per connection.
    async fn subscribe(
        &self,
        characteristic: Uuid,
    ) -> Result<mpsc::UnboundedReceiver<LinkEvent>, ReaderError>;
    /// Closes the connection.
    async fn disconnect(&self);
}

/// The event receiver of one connection, handed out once to the first `subscribe` (a central has
/// one notification stream per connection); shared by the in-process backends.
#[derive(Debug)]
pub(crate) struct EventSlot(std::sync::Mutex<Option<mpsc::UnboundedReceiver<LinkEvent>>>);

impl EventSlot {
    /// A slot holding `rx`.
    pub(crate) fn new(rx: mpsc::UnboundedReceiver<LinkEvent>) -> Self {
        Self(std::sync::Mutex::new(Some(rx)))
    }

    /// Takes the receiver; a second subscription on the same connection is an error.
    pub(crate) fn take(&self) -> Result<mpsc::UnboundedReceiver<LinkEvent>, ReaderError> {
        self.0
            .lock()
            .ok()
            .and_then(|mut e| e.take())
            .ok_or_else(|| ReaderError::Device("already subscribed on this connection".into()))
    }
}
