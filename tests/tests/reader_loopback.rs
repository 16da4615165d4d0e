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
