//! BLE from the host: the shell implements `HostBle` with its own Bluetooth stack (Android
//! `BluetoothGatt`, iOS `CoreBluetooth`) and pushes what the radio reports into `BleEvents`.
//! Wrappers over `homevisit_core::reader::host`; the core parses the UUIDs and runs the protocol.

use homevisit_core::reader::host as core_ble;
use std::sync::Arc;

/// Why a host Bluetooth call failed (Kotlin: `BleException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum BleError {
    /// Bluetooth is off, missing or not permitted.
    #[error("no usable Bluetooth adapter")]
    NoAdapter,
    /// The peripheral is not connected (or dropped during the call).
    #[error("the peripheral is not connected")]
    Disconnected,
    /// The stack did not complete the call in time.
    #[error("the Bluetooth call timed out")]
    Timeout,
    /// Anything else the stack reported (GATT status codes and the like; no patient data).
    #[error("bluetooth: {reason}")]
    Failed { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for BleError {
    /// The host's implementation threw something undeclared.
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Failed { reason: e.reason }
    }
}

impl From<BleError> for core_ble::HostBleError {
    fn from(e: BleError) -> Self {
        match e {
            BleError::NoAdapter => Self::NoAdapter,
            BleError::Disconnected => Self::Disconnected,
            BleError::Timeout => Self::Timeout,
            BleError::Failed { reason } => Self::Failed { reason },
        }
    }
}

/// A peripheral the host's scan found.
#[derive(Debug, Clone, uniffi::Record)]
pub struct BlePeripheral {
    /// The host's id of the peripheral (Android: MAC address; iOS: peripheral UUID).
    pub id: String,
    /// Advertised local name.
    pub name: String,
    /// Signal strength, dBm.
    pub rssi: i16,
}

/// A characteristic of a discovered service.
#[derive(Debug, Clone, uniffi::Record)]
pub struct BleCharacteristic {
    /// Characteristic UUID as text.
    pub uuid: String,
    /// Write with response allowed.
    pub write: bool,
    /// Write without response allowed.
    pub write_without_response: bool,
    /// Notifications allowed.
    pub notify: bool,
}

/// A discovered GATT service.
#[derive(Debug, Clone, uniffi::Record)]
pub struct BleService {
    /// Service UUID as text.
    pub uuid: String,
    /// Its characteristics.
    pub characteristics: Vec<BleCharacteristic>,
}

/// A connection as the host reports it: negotiated MTU and discovered services.
#[derive(Debug, Clone, uniffi::Record)]
pub struct BleLink {
    /// Negotiated ATT MTU.
    pub mtu: u16,
    /// Services and characteristics.
    pub services: Vec<BleService>,
}

/// The host's Bluetooth LE central. Every method blocks until the stack answered; the core calls
/// them off its async executor, never on the caller's UI thread.
#[uniffi::export(with_foreign)]
pub trait HostBle: Send + Sync {
    /// Scans for `timeout_ms` for peripherals advertising `service_uuid`.
    fn scan(&self, service_uuid: String, timeout_ms: u32) -> Result<Vec<BlePeripheral>, BleError>;
    /// Connects, negotiates the MTU and discovers services; until `disconnect`, pushes that
    /// connection's notifications and its loss into `events`.
    fn connect(&self, peripheral_id: String, events: Arc<BleEvents>) -> Result<BleLink, BleError>;
    /// Enables notifications on a characteristic (and writes its CCCD).
    fn enable_notifications(
        &self,
        peripheral_id: String,
        characteristic_uuid: String,
    ) -> Result<(), BleError>;
    /// Writes a value, with response (acknowledged) or without.
    fn write(
        &self,
        peripheral_id: String,
        characteristic_uuid: String,
        value: Vec<u8>,
        with_response: bool,
    ) -> Result<(), BleError>;
    /// Closes the connection (idempotent); no event follows.
    fn disconnect(&self, peripheral_id: String);
}

/// What the host calls when the radio reports something for one connection (any thread).
#[derive(uniffi::Object)]
pub struct BleEvents {
    inner: Arc<core_ble::BleEvents>,
}

#[uniffi::export]
impl BleEvents {
    /// A notification arrived (`onCharacteristicChanged`, `didUpdateValueFor`).
    pub fn on_notification(&self, characteristic_uuid: String, value: Vec<u8>) {
        let inner = self.inner.clone();
        let call = std::panic::AssertUnwindSafe(move || inner.on_notification(&characteristic_uuid, value));
        if std::panic::catch_unwind(call).is_err() {
            tracing::error!(target: "homevisit::ffi", "panic while taking a BLE notification");
        }
    }

    /// The link dropped (`onConnectionStateChange` → disconnected, `didDisconnectPeripheral`).
    pub fn on_disconnected(&self, reason: String) {
        let inner = self.inner.clone();
        let call = std::panic::AssertUnwindSafe(move || inner.on_disconnected(&reason));
        if std::panic::catch_unwind(call).is_err() {
            tracing::error!(target: "homevisit::ffi", "panic while taking a BLE disconnect");
        }
    }
}

/// Adapts the host's stack to the core's trait.
pub(crate) struct HostBleAdapter(pub(crate) Arc<dyn HostBle>);

impl core_ble::HostBle for HostBleAdapter {
    fn scan(
        &self,
        service_uuid: String,
        timeout_ms: u32,
    ) -> Result<Vec<core_ble::BlePeripheral>, core_ble::HostBleError> {
        Ok(self
            .0
            .scan(service_uuid, timeout_ms)?
            .into_iter()
            .map(|p| core_ble::BlePeripheral {
                id: p.id,
                name: p.name,
                rssi: p.rssi,
            })
            .collect())
    }

    fn connect(
        &self,
        peripheral_id: String,
        events: Arc<core_ble::BleEvents>,
    ) -> Result<core_ble::BleLink, core_ble::HostBleError> {
        let link = self
            .0
            .connect(peripheral_id, Arc::new(BleEvents { inner: events }))?;
        Ok(core_ble::BleLink {
            mtu: link.mtu,
            services: link
                .services
                .into_iter()
                .map(|s| core_ble::BleService {
                    uuid: s.uuid,
                    characteristics: s
                        .characteristics
                        .into_iter()
                        .map(|c| core_ble::BleCharacteristic {
                            uuid: c.uuid,
                            write: c.write,
                            write_without_response: c.write_without_response,
                            notify: c.notify,
                        })
                        .collect(),
                })
                .collect(),
        })
    }

    fn enable_notifications(
        &self,
        peripheral_id: String,
        characteristic_uuid: String,
    ) -> Result<(), core_ble::HostBleError> {
        Ok(self.0.enable_notifications(peripheral_id, characteristic_uuid)?)
    }

    fn write(
        &self,
        peripheral_id: String,
        characteristic_uuid: String,
        value: Vec<u8>,
        with_response: bool,
    ) -> Result<(), core_ble::HostBleError> {
        Ok(self
            .0
            .write(peripheral_id, characteristic_uuid, value, with_response)?)
    }

    fn disconnect(&self, peripheral_id: String) {
        self.0.disconnect(peripheral_id);
    }
}
