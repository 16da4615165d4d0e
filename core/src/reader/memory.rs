//! The in-memory transport: a peripheral living in the same process (the reader simulator's GATT
//! server side) is connected to directly, with no radio and no sockets. For tests and the demo.

use super::ReaderError;
use super::transport::{Connection, DiscoveredReader, GattService, LinkEvent, Transport, WriteKind};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

/// The peripheral side, implemented by the reader simulator.
pub trait MemoryPeripheral: Send + Sync {
    /// What the peripheral advertises.
    fn advertisement(&self) -> DiscoveredReader;
    /// Service UUIDs it advertises.
    fn advertised_services(&self) -> Vec<Uuid>;
    /// Accepts a connection; notifications and the disconnect event go to `events`.
    fn open(&self, events: mpsc::UnboundedSender<LinkEvent>) -> Result<Box<dyn PeripheralLink>, ReaderError>;
}

/// One accepted connection, peripheral side.
pub trait PeripheralLink: Send {
    /// The negotiated ATT MTU.
    fn mtu(&self) -> u16;
    /// The GATT database.
    fn services(&self) -> Vec<GattService>;
    /// A write from the central; the peripheral may notify (on the `events` channel) before returning.
    fn write(&mut self, characteristic: Uuid, value: &[u8], kind: WriteKind) -> Result<(), ReaderError>;
    /// The central closed the connection.
    fn close(&mut self);
}

/// A transport over in-process peripherals.
#[derive(Clone, Default)]
pub struct MemoryTransport {
    peripherals: Arc<Mutex<Vec<Arc<dyn MemoryPeripheral>>>>,
}

impl std::fmt::Debug for MemoryTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryTransport")
    }
}

impl MemoryTransport {
    /// A transport with no peripheral in range.
    pub fn new() -> Self {
        Self::default()
    }

    /// Brings a peripheral into range.
    pub fn add(&self, p: Arc<dyn MemoryPeripheral>) {
        if let Ok(mut v) = self.peripherals.lock() {
            v.push(p);
        }
    }

    fn all(&self) -> Vec<Arc<dyn MemoryPeripheral>> {
        self.peripherals.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl Transport for MemoryTransport {
    async fn scan(&self, service: Uuid, _timeout: Duration) -> Result<Vec<DiscoveredReader>, ReaderError> {
        Ok(self
            .all()
            .into_iter()
            .filter(|p| p.advertised_services().contains(&service))
            .map(|p| p.advertisement())
            .collect())
    }

    async fn connect(&self, id: &str) -> Result<Box<dyn Connection>, ReaderError> {
        let p = self
            .all()
            .into_iter()
            .find(|p| p.advertisement().id == id)
            .ok_or_else(|| ReaderError::Device(format!("reader '{id}' is not in range")))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let link = p.open(tx)?;
        Ok(Box::new(MemoryConnection {
            mtu: link.mtu(),
            link: Mutex::new(Some(link)),
            events: super::transport::EventSlot::new(rx),
        }))
    }
}

struct MemoryConnection {
    mtu: u16,
    link: Mutex<Option<Box<dyn PeripheralLink>>>,
    events: super::transport::EventSlot,
}

impl MemoryConnection {
    fn with_link<T>(
        &self,
        f: impl FnOnce(&mut Box<dyn PeripheralLink>) -> Result<T, ReaderError>,
    ) -> Result<T, ReaderError> {
        let mut guard = self.link.lock().map_err(|_| ReaderError::Disconnected)?;
        match guard.as_mut() {
            Some(l) => f(l),
            None => Err(ReaderError::Disconnected),
        }
    }
}

#[async_trait::async_trait]
impl Connection for MemoryConnection {
    fn mtu(&self) -> u16 {
        self.mtu
    }

    async fn discover(&self) -> Result<Vec<GattService>, ReaderError> {
        self.with_link(|l| Ok(l.services()))
    }

    async fn write(&self, characteristic: Uuid, value: &[u8], kind: WriteKind) -> Result<(), ReaderError> {
        self.with_link(|l| l.write(characteristic, value, kind))
    }

    async fn subscribe(
        &self,
        _characteristic: Uuid,
    ) -> Result<mpsc::UnboundedReceiver<LinkEvent>, ReaderError> {
        self.events.take()
    }

    async fn disconnect(&self) {
        if let Ok(mut g) = self.link.lock()
            && let Some(mut l) = g.take()
        {
            l.close();
        }
    }
}

impl Drop for MemoryConnection {
    fn drop(&mut self) {
        if let Ok(mut g) = self.link.lock()
            && let Some(mut l) = g.take()
        {
            l.close();
        }
    }
}
