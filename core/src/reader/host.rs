//! BLE from the host: the shell's own Bluetooth stack (Android `BluetoothGatt`, iOS
//! `CoreBluetooth`) behind a small callback interface, adapted to [`Transport`] so the core's reader
//! protocol (pairing, secure session, APDUs) runs over it unchanged.
//!
//! The host implements [`HostBle`] with blocking calls (the core runs them on tokio's blocking
//! pool, never on its async workers). What the radio reports on its own (notifications, a dropped
//! link) the host pushes into the [`BleEvents`] object the core handed it for that connection.
//! UUIDs cross as text (`6e485601-…`); the core parses and checks them.

use super::ReaderError;
use super::transport::{
    CharProps, Connection, DiscoveredReader, EventSlot, GattCharacteristic, GattService, LinkEvent,
    Transport, WriteKind,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Why a host BLE call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostBleError {
    /// Bluetooth is off, missing or not permitted.
    #[error("no usable Bluetooth adapter")]
    NoAdapter,
    /// The link is down (or dropped during the call).
    #[error("the peripheral is not connected")]
    Disconnected,
    /// The stack did not complete the call in time.
    #[error("the Bluetooth call timed out")]
    Timeout,
    /// Anything else the stack reported (no patient data: GATT status codes and the like).
    #[error("bluetooth: {reason}")]
    Failed {
        /// What the stack said.
        reason: String,
    },
}

impl From<HostBleError> for ReaderError {
    fn from(e: HostBleError) -> Self {
        match e {
            HostBleError::NoAdapter => ReaderError::NoAdapter,
            HostBleError::Disconnected => ReaderError::Disconnected,
            HostBleError::Timeout => ReaderError::Timeout,
            HostBleError::Failed { reason } => ReaderError::Device(format!("bluetooth: {reason}")),
        }
    }
}

/// A peripheral the host's scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlePeripheral {
    /// The host's id of the peripheral (Android: the MAC address; iOS: the peripheral UUID).
    pub id: String,
    /// Advertised local name.
    pub name: String,
    /// Signal strength, dBm.
    pub rssi: i16,
}

/// A characteristic of a discovered service, as the host's GATT database reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BleCharacteristic {
    /// Characteristic UUID (text).
    pub uuid: String,
    /// Write with response allowed.
    pub write: bool,
    /// Write without response allowed.
    pub write_without_response: bool,
    /// Notifications allowed.
    pub notify: bool,
}

/// A discovered GATT service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BleService {
    /// Service UUID (text).
    pub uuid: String,
    /// Its characteristics.
    pub characteristics: Vec<BleCharacteristic>,
}

/// What the host reports once connected: the negotiated MTU and the discovered services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BleLink {
    /// Negotiated ATT MTU (`onMtuChanged` / `maximumWriteValueLength + 3`).
    pub mtu: u16,
    /// Services and characteristics (`onServicesDiscovered`).
    pub services: Vec<BleService>,
}

/// The host's Bluetooth LE central. Every call blocks until the stack answered (the core calls it
/// off its async executor). The host keeps one connection per peripheral id.
pub trait HostBle: Send + Sync {
    /// Scans for `timeout_ms` for peripherals advertising `service_uuid`.
    fn scan(&self, service_uuid: String, timeout_ms: u32) -> Result<Vec<BlePeripheral>, HostBleError>;
    /// Connects to `peripheral_id`, negotiates the MTU and discovers services. Until `disconnect`,
    /// the host pushes that connection's notifications and its loss into `events`.
    fn connect(&self, peripheral_id: String, events: Arc<BleEvents>) -> Result<BleLink, HostBleError>;
    /// Enables notifications on `characteristic_uuid` (and writes its CCCD).
    fn enable_notifications(
        &self,
        peripheral_id: String,
        characteristic_uuid: String,
    ) -> Result<(), HostBleError>;
    /// Writes `value` to `characteristic_uuid`, with response (acknowledged) or without.
    fn write(
        &self,
        peripheral_id: String,
        characteristic_uuid: String,
        value: Vec<u8>,
        with_response: bool,
    ) -> Result<(), HostBleError>;
    /// Closes the connection (idempotent); no event follows.
    fn disconnect(&self, peripheral_id: String);
}

/// What the host calls when the radio reports something for one connection. After
/// [`BleEvents::on_disconnected`] (or the core's own disconnect) further calls are ignored.
#[derive(Debug)]
pub struct BleEvents {
    tx: mpsc::UnboundedSender<LinkEvent>,
    closed: AtomicBool,
}

impl BleEvents {
    fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<LinkEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Arc::new(Self {
                tx,
                closed: AtomicBool::new(false),
            }),
            rx,
        )
    }

    /// A notification arrived on `characteristic_uuid`. A UUID that does not parse is dropped.
    pub fn on_notification(&self, characteristic_uuid: &str, value: Vec<u8>) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        match Uuid::parse_str(characteristic_uuid.trim()) {
            Ok(characteristic) => {
                let _ = self.tx.send(LinkEvent::Notification {
                    characteristic,
                    value,
                });
            }
            Err(_) => {
                tracing::warn!(target: "homevisit::reader", "host BLE notification with a malformed UUID dropped")
            }
        }
    }

    /// The link dropped (`onConnectionStateChange` → disconnected, `didDisconnectPeripheral`).
    pub fn on_disconnected(&self, reason: &str) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let _ = self.tx.send(LinkEvent::Disconnected {
            reason: reason.chars().take(200).collect(),
        });
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

/// A [`Transport`] over the host's Bluetooth stack.
#[derive(Clone)]
pub struct HostBleTransport {
    host: Arc<dyn HostBle>,
}

impl std::fmt::Debug for HostBleTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostBleTransport")
    }
}

impl HostBleTransport {
    /// A transport over `host`.
    pub fn new(host: Arc<dyn HostBle>) -> Self {
        Self { host }
    }
}

/// Runs a blocking host call on tokio's blocking pool; a host call that panicked is a device error.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, HostBleError> + Send + 'static,
) -> Result<T, ReaderError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ReaderError::from),
        Err(_) => Err(ReaderError::Device("the host Bluetooth call failed".into())),
    }
}

fn parse_uuid(text: &str, what: &str) -> Result<Uuid, ReaderError> {
    Uuid::parse_str(text.trim())
        .map_err(|_| ReaderError::Device(format!("the host gave a malformed {what} UUID")))
}

fn services_of(link: &BleLink) -> Result<Vec<GattService>, ReaderError> {
    link.services
        .iter()
        .map(|s| {
            Ok(GattService {
                uuid: parse_uuid(&s.uuid, "service")?,
                characteristics: s
                    .characteristics
                    .iter()
                    .map(|c| {
                        Ok(GattCharacteristic {
                            uuid: parse_uuid(&c.uuid, "characteristic")?,
                            props: CharProps {
                                write: c.write,
                                write_without_response: c.write_without_response,
                                notify: c.notify,
                            },
                        })
                    })
                    .collect::<Result<_, ReaderError>>()?,
            })
        })
        .collect()
}

#[async_trait::async_trait]
impl Transport for HostBleTransport {
    async fn scan(&self, service: Uuid, timeout: Duration) -> Result<Vec<DiscoveredReader>, ReaderError> {
        let host = self.host.clone();
        let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let found = blocking(move || host.scan(service.to_string(), ms)).await?;
        Ok(found
            .into_iter()
            .map(|p| DiscoveredReader {
                model: super::ReaderModel::from_advertised_name(&p.name),
                id: p.id,
                name: p.name,
                rssi: p.rssi,
            })
            .collect())
    }

    async fn connect(&self, id: &str) -> Result<Box<dyn Connection>, ReaderError> {
        let (events, rx) = BleEvents::new();
        let host = self.host.clone();
        let peripheral = id.to_string();
        let ev = events.clone();
        let link = blocking(move || host.connect(peripheral, ev)).await?;
        let services = match services_of(&link) {
            Ok(s) => s,
            Err(e) => {
                events.close();
                self.host.disconnect(id.to_string());
                return Err(e);
            }
        };
        Ok(Box::new(HostConnection {
            host: self.host.clone(),
            id: id.to_string(),
            mtu: link.mtu.max(super::model::MIN_MTU),
            services,
            events,
            slot: EventSlot::new(rx),
            open: AtomicBool::new(true),
        }))
    }
}

struct HostConnection {
    host: Arc<dyn HostBle>,
    id: String,
    mtu: u16,
    services: Vec<GattService>,
    events: Arc<BleEvents>,
    slot: EventSlot,
    open: AtomicBool,
}

impl HostConnection {
    fn close(&self) -> bool {
        self.events.close();
        self.open.swap(false, Ordering::AcqRel)
    }
}

#[async_trait::async_trait]
impl Connection for HostConnection {
    fn mtu(&self) -> u16 {
        self.mtu
    }

    async fn discover(&self) -> Result<Vec<GattService>, ReaderError> {
        Ok(self.services.clone())
    }

    async fn write(&self, characteristic: Uuid, value: &[u8], kind: WriteKind) -> Result<(), ReaderError> {
        if !self.open.load(Ordering::Acquire) {
            return Err(ReaderError::Disconnected);
        }
        let host = self.host.clone();
        let (id, value) = (self.id.clone(), value.to_vec());
        let with_response = kind == WriteKind::WithResponse;
        blocking(move || host.write(id, characteristic.to_string(), value, with_response)).await
    }

    async fn subscribe(
        &self,
        characteristic: Uuid,
    ) -> Result<mpsc::UnboundedReceiver<LinkEvent>, ReaderError> {
        let rx = self.slot.take()?;
        let host = self.host.clone();
        let id = self.id.clone();
        blocking(move || host.enable_notifications(id, characteristic.to_string())).await?;
        Ok(rx)
    }

    async fn disconnect(&self) {
        if self.close() {
            let host = self.host.clone();
            let id = self.id.clone();
            let _ = tokio::task::spawn_blocking(move || host.disconnect(id)).await;
        }
    }
}

impl Drop for HostConnection {
    fn drop(&mut self) {
        if self.close() {
            // Dropped without a disconnect (a failed setup, a session dropped): still close the
            // host's link. A blocking call from a drop is acceptable: `disconnect` only asks the
            // stack to close.
            self.host.disconnect(self.id.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A host stack that records calls and answers from a script.
    #[derive(Default)]
    struct FakeHost {
        calls: Mutex<Vec<String>>,
        events: Mutex<Option<Arc<BleEvents>>>,
    }

    impl HostBle for FakeHost {
        fn scan(&self, service: String, _timeout_ms: u32) -> Result<Vec<BlePeripheral>, HostBleError> {
            self.calls.lock().unwrap().push(format!("scan {service}"));
            Ok(vec![BlePeripheral {
                id: "AA:BB".into(),
                name: "HV-Mini 7".into(),
                rssi: -40,
            }])
        }
        fn connect(&self, id: String, events: Arc<BleEvents>) -> Result<BleLink, HostBleError> {
            self.calls.lock().unwrap().push(format!("connect {id}"));
            *self.events.lock().unwrap() = Some(events);
            if id == "bad" {
                return Ok(BleLink {
                    mtu: 23,
                    services: vec![BleService {
                        uuid: "not-a-uuid".into(),
                        characteristics: vec![],
                    }],
                });
            }
            Ok(BleLink {
                mtu: 5,
                services: vec![BleService {
                    uuid: super::super::model::SERVICE_UUID.to_string(),
                    characteristics: vec![],
                }],
            })
        }
        fn enable_notifications(&self, id: String, c: String) -> Result<(), HostBleError> {
            self.calls.lock().unwrap().push(format!("notify {id} {c}"));
            Ok(())
        }
        fn write(&self, id: String, c: String, v: Vec<u8>, with: bool) -> Result<(), HostBleError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("write {id} {c} {v:?} {with}"));
            if v.is_empty() {
                return Err(HostBleError::Disconnected);
            }
            Ok(())
        }
        fn disconnect(&self, id: String) {
            self.calls.lock().unwrap().push(format!("disconnect {id}"));
        }
    }

    #[tokio::test]
    async fn host_calls_and_events_map_onto_the_transport() {
        let host = Arc::new(FakeHost::default());
        let t = HostBleTransport::new(host.clone());
        let found = t
            .scan(super::super::model::SERVICE_UUID, Duration::from_millis(3))
            .await
            .unwrap();
        assert_eq!(found[0].model, Some(super::super::ReaderModel::HvMini));
        let conn = t.connect("AA:BB").await.unwrap();
        assert_eq!(conn.mtu(), 23, "an MTU below the BLE minimum is raised to it");
        assert_eq!(
            conn.discover().await.unwrap()[0].uuid,
            super::super::model::SERVICE_UUID
        );
        let tx = super::super::model::TX_CHAR_UUID;
        let mut rx = conn.subscribe(tx).await.unwrap();
        assert!(
            conn.subscribe(tx).await.is_err(),
            "one event stream per connection"
        );
        conn.write(tx, &[1, 2], WriteKind::WithResponse).await.unwrap();
        assert_eq!(
            conn.write(tx, &[], WriteKind::WithoutResponse).await,
            Err(ReaderError::Disconnected)
        );
        let events = host.events.lock().unwrap().clone().unwrap();
        events.on_notification(&tx.to_string().to_uppercase(), vec![9]);
        events.on_notification("garbage", vec![8]);
        events.on_disconnected("out of range");
        events.on_notification(&tx.to_string(), vec![7]);
        assert_eq!(
            rx.recv().await,
            Some(LinkEvent::Notification {
                characteristic: tx,
                value: vec![9]
            })
        );
        assert!(matches!(rx.recv().await, Some(LinkEvent::Disconnected { .. })));
        conn.disconnect().await;
        conn.disconnect().await;
        drop(conn);
        let calls = host.calls.lock().unwrap().clone();
        assert_eq!(
            calls.iter().filter(|c| c.starts_with("disconnect")).count(),
            1,
            "{calls:?}"
        );
        assert!(calls.iter().any(|c| c.ends_with("[1, 2] true")));
    }

    #[tokio::test]
    async fn a_malformed_gatt_database_is_refused_and_the_link_closed() {
        let host = Arc::new(FakeHost::default());
        let t = HostBleTransport::new(host.clone());
        assert!(matches!(t.connect("bad").await, Err(ReaderError::Device(_))));
        assert!(host.calls.lock().unwrap().contains(&"disconnect bad".to_string()));
    }
}
