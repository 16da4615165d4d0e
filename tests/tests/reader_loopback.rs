//! The loopback transport against the reader simulator's TCP server (as `homevisit-sim reader
//! serve` runs it), with the card engineer's demo cards in the slots.

mod reader_common;

use homevisit_core::reader::{
    ApduChannel, CardSlot, LoopbackTransport, ReaderClient, ReaderError, ReaderModel,
};
use nhi_reader_sim::card;
use nhi_reader_sim::{ReaderConfig, SimReader};
use reader_common::memory_store;
use std::sync::Arc;
use std::time::Duration;

async fn serve(reader: SimReader) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(nhi_reader_sim::gatt::tcp::serve(listener, reader));
    addr
}

/// SELECT of the NHI applet by AID (domain brief §10).
const SELECT_NHI: [u8; 21] = [
    0x00, 0xA4, 0x04, 0x00, 0x10, 0xD1, 0x58, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x11, 0x00,
];

#[tokio::test]
async fn pair_connect_and_read_the_patient_card_over_loopback_then_survive_a_link_drop() {
    let reader = SimReader::new(ReaderConfig::new(ReaderModel::HvMini, "0009"));
    reader.insert(CardSlot::Patient, Box::new(card::demo_patient_card()));
    let addr = serve(reader.clone()).await;
    let transport = Arc::new(LoopbackTransport::new(addr));
    let client = ReaderClient::new(transport.clone(), memory_store(), "phone-L");

    let found = client.scan(Duration::from_millis(200)).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, "sim-0009");
    assert_eq!(found[0].model, Some(ReaderModel::HvMini));
    assert_eq!(transport.read_display().await.unwrap(), None);
    let pending = client.pair(&found[0]).await.unwrap();
    let shown = transport
        .read_display()
        .await
        .unwrap()
        .expect("the reader shows a code");
    assert_eq!(shown, pending.short_code());
    assert!(
        transport.press_button().await.unwrap(),
        "the button confirms the shown code"
    );
    pending.confirm(&shown, 0).await.unwrap();

    let session = client.connect("sim-0009").await.unwrap();
    assert!(session.card_present(CardSlot::Patient).await.unwrap());
    assert_eq!(
        session.transmit(CardSlot::Patient, &SELECT_NHI).await.unwrap(),
        [0x90, 0x00]
    );
    let basic = session
        .transmit(CardSlot::Patient, &[0x00, 0xCA, 0x11, 0x00, 0x02, 0x00, 0x00])
        .await
        .unwrap();
    assert_eq!(basic.len(), 59);
    assert_eq!(&basic[57..], &[0x90, 0x00]);
    assert_eq!(&basic[..12], b"000012345678");

    // The link drops at the next packet: a clear error, then a new session without pairing.
    reader.disconnect_at_frame(1);
    let err = session
        .transmit(CardSlot::Patient, &[0x00, 0x84, 0x00, 0x00, 0x08])
        .await
        .unwrap_err();
    assert_eq!(err, ReaderError::Disconnected);
    drop(session);
    let session = client.connect("sim-0009").await.unwrap();
    assert_eq!(transport.read_display().await.unwrap(), None, "no new pairing");
    assert_eq!(
        session.transmit(CardSlot::Patient, &SELECT_NHI).await.unwrap(),
        [0x90, 0x00]
    );
}

#[tokio::test]
async fn the_write_with_response_model_works_over_loopback() {
    let reader = SimReader::new(ReaderConfig::new(ReaderModel::HvS3, "0003"));
    reader.insert(CardSlot::Practitioner, Box::new(reader_common::EchoCard::new().0));
    let addr = serve(reader.clone()).await;
    let transport = Arc::new(LoopbackTransport::new(addr));
    let client = ReaderClient::new(transport.clone(), memory_store(), "phone-L");
    let found = client.scan(Duration::from_millis(200)).await.unwrap();
    let pending = client.pair(&found[0]).await.unwrap();
    let code = transport.read_display().await.unwrap().unwrap();
    assert!(transport.press_button().await.unwrap());
    pending.confirm(&code, 0).await.unwrap();
    let session = client.connect(&found[0].id).await.unwrap();
    let apdu = reader_common::long_apdu();
    assert_eq!(
        session.transmit(CardSlot::Practitioner, &apdu).await.unwrap(),
        reader_common::echo_response(&apdu)
    );
    let s = reader.stats();
    assert!(
        s.round_trips >= s.packets_up,
        "every write waited for its response: {s:?}"
    );
}

#[tokio::test]
async fn connecting_to_an_unknown_reader_id_is_a_clear_error() {
    let reader = SimReader::new(ReaderConfig::new(ReaderModel::HvBt200, "0001"));
    let addr = serve(reader).await;
    let err = LoopbackTransport::new(addr);
    let client = ReaderClient::new(Arc::new(err), memory_store(), "phone-L");
    let mut found = client.scan(Duration::from_millis(200)).await.unwrap();
    found[0].id = "sim-9999".into();
    let e = client.pair(&found[0]).await.unwrap_err();
    assert!(
        matches!(&e, ReaderError::Device(m) if m.contains("no reader")),
        "{e}"
    );
}

#[tokio::test]
async fn connect_loopback_pairs_once_and_reconnects_without_the_display() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ReaderConfig::new(ReaderModel::HvBt200, "0005");
    cfg.state_dir = Some(dir.path().to_path_buf());
    let reader = SimReader::new(cfg);
    reader.insert(CardSlot::Patient, Box::new(card::demo_patient_card()));
    let addr = serve(reader.clone()).await;
    let store = memory_store();
    let (_c, session) = nhi_reader_sim::gatt::tcp::connect_loopback(addr, store.clone(), "phone-L")
        .await
        .unwrap();
    assert_eq!(
        session.transmit(CardSlot::Patient, &SELECT_NHI).await.unwrap(),
        [0x90, 0x00]
    );
    drop(session);
    // The reader process restarts (state reloaded from its directory); the phone reconnects.
    let mut cfg = ReaderConfig::new(ReaderModel::HvBt200, "0005");
    cfg.state_dir = Some(dir.path().to_path_buf());
    let restarted = SimReader::new(cfg);
    restarted.insert(CardSlot::Patient, Box::new(card::demo_patient_card()));
    let addr = serve(restarted.clone()).await;
    let (_c, session) = nhi_reader_sim::gatt::tcp::connect_loopback(addr, store, "phone-L")
        .await
        .unwrap();
    assert_eq!(
        session.transmit(CardSlot::Patient, &SELECT_NHI).await.unwrap(),
        [0x90, 0x00]
    );
    assert_eq!(restarted.displayed_code(), None);
}

/// The same GATT-level behaviour from every simulator-backed transport.
async fn transport_conformance(t: &dyn homevisit_core::reader::Transport, id: &str) {
    use homevisit_core::reader::model::{RX_CHAR_UUID, SERVICE_UUID, TX_CHAR_UUID};
    use homevisit_core::reader::transport::{LinkEvent, Uuid, WriteKind};
    let found = t.scan(SERVICE_UUID, Duration::from_millis(100)).await.unwrap();
    assert_eq!(found.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), [id]);
    assert!(
        t.scan(Uuid::from_u128(42), Duration::from_millis(100))
            .await
            .unwrap()
            .is_empty()
    );
    let conn = t.connect(id).await.unwrap();
    assert_eq!(conn.mtu(), 185);
    let services = conn.discover().await.unwrap();
    let svc = services.iter().find(|s| s.uuid == SERVICE_UUID).unwrap();
    let rx = svc
        .characteristics
        .iter()
        .find(|c| c.uuid == RX_CHAR_UUID)
        .unwrap();
    assert!(rx.props.write && rx.props.write_without_response);
    assert!(
        svc.characteristics
            .iter()
            .any(|c| c.uuid == TX_CHAR_UUID && c.props.notify)
    );
    let mut events = conn.subscribe(TX_CHAR_UUID).await.unwrap();
    // A stray continuation fragment: the reader answers with an error frame and drops the link.
    conn.write(RX_CHAR_UUID, &[0x05, 1, 2, 3], WriteKind::WithResponse)
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
    {
        Some(LinkEvent::Notification {
            characteristic,
            value,
        }) => {
            assert_eq!(characteristic, TX_CHAR_UUID);
            assert_eq!(value[0], 0x80, "a whole error frame");
        }
        other => panic!("expected the reader's error frame, got {other:?}"),
    }
    match tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
    {
        Some(LinkEvent::Disconnected { .. }) => {}
        other => panic!("expected a disconnect, got {other:?}"),
    }
    assert!(
        conn.write(RX_CHAR_UUID, &[0x80, 0, 11], WriteKind::WithResponse)
            .await
            .is_err()
    );
    assert!(t.connect("sim-nope").await.is_err());
}

#[tokio::test]
async fn every_transport_behaves_the_same_at_the_gatt_level() {
    let reader = SimReader::new(ReaderConfig::new(ReaderModel::HvBt200, "0100"));
    let memory = homevisit_core::reader::MemoryTransport::new();
    memory.add(Arc::new(reader.clone()));
    transport_conformance(&memory, "sim-0100").await;
    let addr = serve(reader).await;
    transport_conformance(&LoopbackTransport::new(addr), "sim-0100").await;
}
