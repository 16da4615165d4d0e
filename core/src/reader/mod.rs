//! BLE card readers: the transport trait and its backends, frame codec, secure channel, pairing.
//! The card layer (`crate::card`) talks to a reader only through [`ApduChannel`].

mod apdu;
#[cfg(any(feature = "ble", target_os = "android", target_os = "ios"))]
pub mod btle;
pub mod frame;
pub mod host;
pub mod loopback;
pub mod memory;
pub mod message;
pub mod model;
pub mod pairing;
pub mod secure;
pub mod session;
pub mod store_pairing;
pub mod transport;

pub use apdu::{ApduChannel, CardSlot, ReaderError};
pub use host::{BleEvents, HostBle, HostBleError, HostBleTransport};
pub use loopback::LoopbackTransport;
pub use memory::{MemoryPeripheral, MemoryTransport, PeripheralLink};
pub use model::{ModelProfile, ReaderModel};
pub use pairing::{MemoryPairingStore, PairingRecord, PairingStore};
pub use session::{PendingPairing, ReaderClient, ReaderEvent, ReaderSession};
pub use store_pairing::StorePairingStore;
pub use transport::{Connection, DiscoveredReader, GattService, LinkEvent, Transport, WriteKind};
