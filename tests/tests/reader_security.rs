//! Forged, replayed, reordered and truncated frames are rejected in both directions.

mod reader_common;

use homevisit_core::reader::frame::{Frame, FrameKind, fragment};
use homevisit_core::reader::transport::{
    Connection, DiscoveredReader, GattService, LinkEvent, Transport, Uuid, WriteKind,
};
use homevisit_core::reader::{ApduChannel, CardSlot, ReaderClient, ReaderError, ReaderEvent, ReaderModel};
use nhi_reader_sim::Tamper;
use reader_common::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

const APDU: [u8; 5] = [0x00, 0x84, 0x00, 0x00, 0x08];

async fn tampered_reply_is_rejected(t: Tamper, expect: &str) {
    let reader = reader(ReaderModel::HvBt200);
    let store = memory_store();
    let (client, session) = nhi_reader_sim::gatt::connect_in_process(&reader, store, "phone-A")
        .await
        .unwrap();
    let mut events = session.events();
    assert_eq!(
        session.transmit(CardSlot::Patient, &APDU).await.unwrap(),
        echo_response(&APDU)
    );

    reader.tamper_next(t);
    let err = session.transmit(CardSlot::Patient, &APDU).await.unwrap_err();
    assert!(
        matches!(&err, ReaderError::BadFrame(m) if m.contains(expect)),
        "{t:?}: {err}"
    );
    assert!(!session.is_open());
    let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(ev, ReaderEvent::SessionEnded(ReaderError::BadFrame(_))),
        "{ev:?}"
    );
    // The session stays closed; nothing more is accepted on it.
    assert!(session.transmit(CardSlot::Patient, &APDU).await.is_err());
    assert!(session.card_present(CardSlot::Patient).await.is_err());
    drop(session);

    // A fresh session works.
    let session = client.connect(&reader.id()).await.unwrap();
    assert_eq!(
        session.transmit(CardSlot::Patient, &APDU).await.unwrap(),
        echo_response(&APDU)
    );
}

#[tokio::test]
async fn a_forged_frame_from_the_reader_is_rejected() {
    tampered_reply_is_rejected(Tamper::Forge, "authentication").await;
}

#[tokio::test]
async fn a_replayed_frame_from_the_reader_is_rejected() {
    tampered_reply_is_rejected(Tamper::Replay, "replayed").await;
}

#[tokio::test]
async fn a_reordered_frame_from_the_reader_is_rejected() {
    tampered_reply_is_rejected(Tamper::Reorder, "out of order").await;
}

#[tokio::test]
async fn a_truncated_frame_from_the_reader_is_rejected() {
    tampered_reply_is_rejected(Tamper::Truncate, "authentication").await;
}

/// What a man in the middle does to the phone's next sealed frame.
#[derive(Debug, Clone, Copy)]
enum Mitm {
    Forge,
    Replay,
    Truncate,
}

/// A transport wrapper that tampers with the phone's writes.
struct MitmTransport {
    inner: Arc<dyn Transport>,
    mode: Arc<Mutex<Option<Mitm>>>,
}

struct MitmConnection {
    inner: Box<dyn Connection>,
    mode: Arc<Mutex<Option<Mitm>>>,
    last_sealed: Mutex<Option<Vec<u8>>>,
}

#[async_trait::async_trait]
impl Transport for MitmTransport {
    async fn scan(&self, service: Uuid, timeout: Duration) -> Result<Vec<DiscoveredReader>, ReaderError> {
        self.inner.scan(service, timeout).await
    }
    async fn connect(&self, id: &str) -> Result<Box<dyn Connection>, ReaderError> {
        Ok(Box::new(MitmConnection {
            inner: self.inner.connect(id).await?,
            mode: self.mode.clone(),
            last_sealed: Mutex::new(None),
        }))
    }
}

#[async_trait::async_trait]
impl Connection for MitmConnection {
    fn mtu(&self) -> u16 {
        self.inner.mtu()
    }
    async fn discover(&self) -> Result<Vec<GattService>, ReaderError> {
        self.inner.discover().await
    }
    async fn write(&self, c: Uuid, value: &[u8], kind: WriteKind) -> Result<(), ReaderError> {
        // Only whole single-fragment sealed frames are touched (short APDUs on HV-BT200).
        let single_sealed = value.len() > 3 && value[0] == 0x80 && value[3] == FrameKind::Sealed as u8;
        let mode = if single_sealed {
            self.mode.lock().unwrap().take()
        } else {
            None
        };
        let out = match mode {
            None => {
                if single_sealed {
                    *self.last_sealed.lock().unwrap() = Some(value.to_vec());
                }
                value.to_vec()
            }
            Some(Mitm::Replay) => self.last_sealed.lock().unwrap().clone().unwrap(),
            Some(m) => {
                let mut f = Frame::decode(&value[3..]).unwrap();
                match m {
                    Mitm::Forge => f.body[2] ^= 0x40,
                    _ => f.body.truncate(f.body.len() - 4),
                }
                fragment(&f.encode().unwrap(), 182).remove(0)
            }
        };
        self.inner.write(c, &out, kind).await
    }
    async fn subscribe(&self, c: Uuid) -> Result<mpsc::UnboundedReceiver<LinkEvent>, ReaderError> {
        self.inner.subscribe(c).await
    }
    async fn disconnect(&self) {
        self.inner.disconnect().await
    }
}

async fn tampered_request_is_rejected_by_the_reader(m: Mitm) {
    let reader = reader(ReaderModel::HvBt200);
    let store = memory_store();
    // Pair honestly first.
    nhi_reader_sim::gatt::connect_in_process(&reader, store.clone(), "phone-A")
        .await
        .unwrap();
    let t = homevisit_core::reader::MemoryTransport::new();
    t.add(Arc::new(reader.clone()));
    let mode = Arc::new(Mutex::new(None));
    let client = ReaderClient::new(
        Arc::new(MitmTransport {
            inner: Arc::new(t),
            mode: mode.clone(),
        }),
        store,
        "phone-A",
    );
    let session = client.connect(&reader.id()).await.unwrap();
    assert_eq!(
        session.transmit(CardSlot::Patient, &APDU).await.unwrap(),
        echo_response(&APDU)
    );
    let before = reader.apdus();
    *mode.lock().unwrap() = Some(m);
    let err = session.transmit(CardSlot::Patient, &APDU).await.unwrap_err();
    assert!(
        matches!(&err, ReaderError::BadFrame(msg) if msg.contains("reader rejected")),
        "{m:?}: {err}"
    );
    assert_eq!(
        reader.apdus(),
        before,
        "{m:?}: the tampered APDU never reached the card"
    );
    assert!(!reader.is_connected(), "the reader dropped the tampered link");
    let session = client.connect(&reader.id()).await.unwrap();
    assert_eq!(
        session.transmit(CardSlot::Patient, &APDU).await.unwrap(),
        echo_response(&APDU)
    );
}

#[tokio::test]
async fn the_reader_rejects_a_forged_request() {
    tampered_request_is_rejected_by_the_reader(Mitm::Forge).await;
}

#[tokio::test]
async fn the_reader_rejects_a_replayed_request() {
    tampered_request_is_rejected_by_the_reader(Mitm::Replay).await;
}

#[tokio::test]
async fn the_reader_rejects_a_truncated_request() {
    tampered_request_is_rejected_by_the_reader(Mitm::Truncate).await;
}
