//! The real Bluetooth LE backend over btleplug (feature `ble`). On a machine without a usable
//! adapter (no BlueZ, no controller) every operation reports [`ReaderError::NoAdapter`].

use super::ReaderError;
use super::transport::{
    CharProps, Connection, DiscoveredReader, GattCharacteristic, GattService, LinkEvent, Transport, WriteKind,
};
use btleplug::api::{
    Central, CentralEvent, CharPropFlags, Manager as _, Peripheral as _, ScanFilter, WriteType,
};
use btleplug::platform::{Adapter, Manager, Peripheral};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

fn device(e: btleplug::Error) -> ReaderError {
    match e {
        btleplug::Error::NotConnected => ReaderError::Disconnected,
        btleplug::Error::TimedOut(_) => ReaderError::Timeout,
        btleplug::Error::NoAdapterAvailable => ReaderError::NoAdapter,
        other => ReaderError::Device(format!("bluetooth: {other}")),
    }
}

/// GATT central over the platform's Bluetooth stack.
#[derive(Default)]
pub struct BtleTransport {
    adapter: tokio::sync::Mutex<Option<Adapter>>,
    seen: Mutex<HashMap<String, Peripheral>>,
}

impl std::fmt::Debug for BtleTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BtleTransport")
    }
}

impl BtleTransport {
    /// A transport that opens the first Bluetooth adapter on first use.
    pub fn new() -> Self {
        Self::default()
    }

    async fn adapter(&self) -> Result<Adapter, ReaderError> {
        let mut guard = self.adapter.lock().await;
        if let Some(a) = guard.as_ref() {
            return Ok(a.clone());
        }
        // No system bus, no BlueZ, or no controller: all mean there is no usable adapter.
        let manager = Manager::new().await.map_err(|e| {
            tracing::info!(target: "homevisit::reader", error = %e, "bluetooth manager unavailable");
            ReaderError::NoAdapter
        })?;
        let adapters = manager.adapters().await.map_err(|e| {
            tracing::info!(target: "homevisit::reader", error = %e, "no bluetooth adapters");
            ReaderError::NoAdapter
        })?;
        let a = adapters.into_iter().next().ok_or(ReaderError::NoAdapter)?;
        *guard = Some(a.clone());
        Ok(a)
    }
}

#[async_trait::async_trait]
impl Transport for BtleTransport {
    async fn scan(&self, service: Uuid, timeout: Duration) -> Result<Vec<DiscoveredReader>, ReaderError> {
        let adapter = self.adapter().await?;
        adapter
            .start_scan(ScanFilter {
                services: vec![service],
            })
            .await
            .map_err(device)?;
        tokio::time::sleep(timeout).await;
        let _ = adapter.stop_scan().await;
        let mut out = Vec::new();
        for p in adapter.peripherals().await.map_err(device)? {
            let Ok(Some(props)) = p.properties().await else {
                continue;
            };
            if !props.services.contains(&service) {
                continue;
            }
            let id = p.id().to_string();
            let name = props.local_name.unwrap_or_default();
            out.push(DiscoveredReader {
                id: id.clone(),
                model: super::ReaderModel::from_advertised_name(&name),
                name,
                rssi: props.rssi.unwrap_or(i16::MIN),
            });
            if let Ok(mut seen) = self.seen.lock() {
                seen.insert(id, p);
            }
        }
        Ok(out)
    }

    async fn connect(&self, id: &str) -> Result<Box<dyn Connection>, ReaderError> {
        let adapter = self.adapter().await?;
        let p = self
            .seen
            .lock()
            .ok()
            .and_then(|s| s.get(id).cloned())
            .ok_or_else(|| ReaderError::Device(format!("reader '{id}' was not found by the last scan")))?;
        p.connect().await.map_err(device)?;
        Ok(Box::new(BtleConnection {
            adapter,
            peripheral: p,
            tasks: Mutex::new(Vec::new()),
        }))
    }
}

struct BtleConnection {
    adapter: Adapter,
    peripheral: Peripheral,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl BtleConnection {
    fn characteristic(&self, uuid: Uuid) -> Result<btleplug::api::Characteristic, ReaderError> {
        self.peripheral
            .characteristics()
            .into_iter()
            .find(|c| c.uuid == uuid)
            .ok_or_else(|| ReaderError::Device(format!("characteristic {uuid} not found")))
    }
}

#[async_trait::async_trait]
impl Connection for BtleConnection {
    fn mtu(&self) -> u16 {
        self.peripheral.mtu()
    }

    async fn discover(&self) -> Result<Vec<GattService>, ReaderError> {
        self.peripheral.discover_services().await.map_err(device)?;
        Ok(self
            .peripheral
            .services()
            .into_iter()
            .map(|s| GattService {
                uuid: s.uuid,
                characteristics: s
                    .characteristics
                    .into_iter()
                    .map(|c| GattCharacteristic {
                        uuid: c.uuid,
                        props: CharProps {
                            write: c.properties.contains(CharPropFlags::WRITE),
                            write_without_response: c
                                .properties
                                .contains(CharPropFlags::WRITE_WITHOUT_RESPONSE),
                            notify: c.properties.contains(CharPropFlags::NOTIFY),
                        },
                    })
                    .collect(),
            })
            .collect())
    }

    async fn write(&self, characteristic: Uuid, value: &[u8], kind: WriteKind) -> Result<(), ReaderError> {
        let c = self.characteristic(characteristic)?;
        let t = match kind {
            WriteKind::WithResponse => WriteType::WithResponse,
            WriteKind::WithoutResponse => WriteType::WithoutResponse,
        };
        self.peripheral.write(&c, value, t).await.map_err(device)
    }

    async fn subscribe(
        &self,
        characteristic: Uuid,
    ) -> Result<mpsc::UnboundedReceiver<LinkEvent>, ReaderError> {
        let c = self.characteristic(characteristic)?;
        self.peripheral.subscribe(&c).await.map_err(device)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut notes = self.peripheral.notifications().await.map_err(device)?;
        let tx_n = tx.clone();
        let notify_task = tokio::spawn(async move {
            while let Some(n) = notes.next().await {
                if tx_n
                    .send(LinkEvent::Notification {
                        characteristic: n.uuid,
                        value: n.value,
                    })
                    .is_err()
                {
                    break;
                }
            }
        });
        let mut central = self.adapter.events().await.map_err(device)?;
        let id = self.peripheral.id();
        let disc_task = tokio::spawn(async move {
            while let Some(ev) = central.next().await {
                if let CentralEvent::DeviceDisconnected(d) = ev
                    && d == id
                {
                    let _ = tx.send(LinkEvent::Disconnected {
                        reason: "the reader went out of range or was switched off".into(),
                    });
                    break;
                }
            }
        });
        if let Ok(mut t) = self.tasks.lock() {
            t.push(notify_task);
            t.push(disc_task);
        }
        Ok(rx)
    }

    async fn disconnect(&self) {
        let _ = self.peripheral.disconnect().await;
        if let Ok(mut t) = self.tasks.lock() {
            for h in t.drain(..) {
                h.abort();
            }
        }
    }
}

impl Drop for BtleConnection {
    fn drop(&mut self) {
        if let Ok(mut t) = self.tasks.lock() {
            for h in t.drain(..) {
                h.abort();
            }
        }
    }
}

/// Shared handle type for the app: one transport per process.
pub type SharedBtleTransport = Arc<BtleTransport>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_an_adapter_scan_and_connect_report_no_adapter() {
        let t = BtleTransport::new();
        let e = t
            .scan(super::super::model::SERVICE_UUID, Duration::from_millis(10))
            .await
            .unwrap_err();
        assert_eq!(e, ReaderError::NoAdapter);
        assert!(matches!(
            t.connect("00:11:22:33:44:55").await,
            Err(ReaderError::NoAdapter)
        ));
    }
}
