//! Shared pieces of the reader end-to-end tests.
#![allow(dead_code)]

use homevisit_core::reader::{
    CardSlot, MemoryPairingStore, MemoryTransport, PairingStore, ReaderClient, ReaderModel,
};
use nhi_reader_sim::card::{CardKind, SimCard};
use nhi_reader_sim::{ReaderConfig, SimReader};
use std::sync::Arc;

/// A trivial card: answers any APDU with the command reversed and 90 00; counts commands.
pub struct EchoCard {
    pub commands: Arc<std::sync::atomic::AtomicU64>,
}

impl EchoCard {
    pub fn new() -> (Self, Arc<std::sync::atomic::AtomicU64>) {
        let c = Arc::new(std::sync::atomic::AtomicU64::new(0));
        (Self { commands: c.clone() }, c)
    }
}

impl SimCard for EchoCard {
    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.commands.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut r: Vec<u8> = apdu.iter().rev().copied().collect();
        r.extend_from_slice(&[0x90, 0x00]);
        r
    }
    fn kind(&self) -> CardKind {
        CardKind::Other
    }
}

pub fn echo_response(apdu: &[u8]) -> Vec<u8> {
    let mut r: Vec<u8> = apdu.iter().rev().copied().collect();
    r.extend_from_slice(&[0x90, 0x00]);
    r
}

pub fn reader(model: ReaderModel) -> SimReader {
    let r = SimReader::new(ReaderConfig::new(model, "0001"));
    r.insert(CardSlot::Patient, Box::new(EchoCard::new().0));
    r
}

pub fn client_for(reader: &SimReader, store: Arc<dyn PairingStore>, phone_id: &str) -> ReaderClient {
    let t = MemoryTransport::new();
    t.add(Arc::new(reader.clone()));
    ReaderClient::new(Arc::new(t), store, phone_id)
}

pub fn memory_store() -> Arc<dyn PairingStore> {
    Arc::new(MemoryPairingStore::new())
}

/// A 300-byte extended-length style APDU that needs several fragments on every model.
pub fn long_apdu() -> Vec<u8> {
    let mut a = vec![0x00, 0xD6, 0x00, 0x00, 0x00, 0x01, 0x2C];
    a.extend((0..300).map(|i| i as u8));
    a
}
