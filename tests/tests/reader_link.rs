//! The link model: chosen disconnects, packet loss, model quirks, card events, reader errors, and
//! the virtual-time counters the card benchmark reads.

mod reader_common;

use homevisit_core::reader::model::{RX_CHAR_UUID, TX_CHAR_UUID};
use homevisit_core::reader::{
    ApduChannel, CardSlot, MemoryTransport, ReaderError, ReaderEvent, ReaderModel, Transport, WriteKind,
};
use nhi_reader_sim::LinkConfig;
use nhi_reader_sim::gatt::connect_in_process;
use reader_common::*;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

const APDU: [u8; 5] = [0x00, 0x84, 0x00, 0x00, 0x08];

#[tokio::test]
async fn a_disconnect_at_every_frame_of_an_exchange_is_a_clear_error_and_the_session_reconnects() {
    let reader = nhi_reader_sim::SimReader::new(nhi_reader_sim::ReaderConfig::new(ReaderModel::HvMini, "7"));
    let (card, commands) = EchoCard::new();
    reader.insert(CardSlot::Patient, Box::new(card));
    let store = memory_store();
    let (client, session) = connect_in_process(&reader, store, "phone-A").await.unwrap();

    // How many packets one long exchange takes on this model (MTU 23).
    let before = reader.stats();
    session.transmit(CardSlot::Patient, &long_apdu()).await.unwrap();
    let frames = reader.stats().since(&before).packets();
    assert!(
        frames > 30,
        "a 307-byte APDU and its echo need many 20-byte packets, got {frames}"
    );
    drop(session);

    for n in 1..=frames {
        let session = client.connect(&reader.id()).await.unwrap();
        let sent_before = commands.load(Ordering::SeqCst);
        reader.disconnect_at_frame(n);
        let err = session
            .transmit(CardSlot::Patient, &long_apdu())
            .await
            .unwrap_err();
        assert_eq!(err, ReaderError::Disconnected, "frame {n}");
        let reached = commands.load(Ordering::SeqCst) - sent_before;
        // Up to the last request packet the card never saw the command; after it, it did (once).
        assert!(
            reached <= 1,
            "frame {n}: the card saw the command {reached} times"
        );
        assert!(!session.is_open());
        drop(session);
        let session = client.connect(&reader.id()).await.unwrap();
        assert_eq!(
            session.transmit(CardSlot::Patient, &APDU).await.unwrap(),
            echo_response(&APDU),
            "frame {n}"
        );
    }
    assert_eq!(reader.stats().disconnects, frames);
}

#[tokio::test]
async fn link_layer_loss_costs_time_but_every_exchange_completes() {
    let run = |loss: f64| async move {
        let reader = reader(ReaderModel::HvBt200);
        reader.set_link_config(LinkConfig {
            loss_rate: loss,
            seed: 7,
            ..reader.link_config()
        });
        let (_c, session) = connect_in_process(&reader, memory_store(), "phone-A")
            .await
            .unwrap();
        reader.reset_stats();
        for _ in 0..20 {
            let r = session.transmit(CardSlot::Patient, &long_apdu()).await.unwrap();
            assert_eq!(r, echo_response(&long_apdu()));
        }
        reader.stats()
    };
    let clean = run(0.0).await;
    let lossy = run(0.25).await;
    assert_eq!(clean.retransmissions, 0);
    assert!(lossy.retransmissions > 5, "{lossy:?}");
    assert!(lossy.elapsed_us > clean.elapsed_us);
    assert_eq!(lossy.packets(), clean.packets());
}

// A lost packet is noticed by the response timeout. The frames here travel in process, so one
// second is far beyond any correct round trip, even on a loaded machine; a lost packet costs it.
#[tokio::test]
async fn packets_lost_for_good_are_reported_not_hung_on() {
    let reader = reader(ReaderModel::HvBt200);
    let store = memory_store();
    let t = MemoryTransport::new();
    t.add(Arc::new(reader.clone()));
    let client = homevisit_core::reader::ReaderClient::new(Arc::new(t), store.clone(), "phone-A")
        .with_response_timeout(Duration::from_secs(1));
    connect_in_process(&reader, store, "phone-A").await.unwrap();
    let session = client.connect(&reader.id()).await.unwrap();
    reader.set_link_config(LinkConfig {
        drop_rate: 1.0,
        ..reader.link_config()
    });
    let err = session.transmit(CardSlot::Patient, &APDU).await.unwrap_err();
    assert_eq!(err, ReaderError::Timeout);
    assert!(!session.is_open());
    // Some loss: every failure is a clear error, and the link recovers when it clears.
    reader.set_link_config(LinkConfig {
        drop_rate: 0.2,
        seed: 3,
        ..reader.link_config()
    });
    let mut failures = 0;
    for _ in 0..10 {
        let s = match client.connect(&reader.id()).await {
            Ok(s) => s,
            Err(e) => {
                assert!(
                    matches!(e, ReaderError::Timeout | ReaderError::BadFrame(_)),
                    "{e}"
                );
                failures += 1;
                continue;
            }
        };
        if let Err(e) = s.transmit(CardSlot::Patient, &long_apdu()).await {
            assert!(
                matches!(e, ReaderError::Timeout | ReaderError::BadFrame(_)),
                "{e}"
            );
            failures += 1;
        }
    }
    assert!(failures > 0);
    assert!(reader.stats().dropped > 0);
    reader.set_link_config(LinkConfig {
        drop_rate: 0.0,
        ..reader.link_config()
    });
    let s = client.connect(&reader.id()).await.unwrap();
    assert_eq!(
        s.transmit(CardSlot::Patient, &APDU).await.unwrap(),
        echo_response(&APDU)
    );
}

#[tokio::test]
async fn the_write_with_response_only_model_is_honoured() {
    let s3 = reader(ReaderModel::HvS3);
    let bt = reader(ReaderModel::HvBt200);
    let mut cost = Vec::new();
    for r in [&s3, &bt] {
        let (_c, session) = connect_in_process(r, memory_store(), "phone-A").await.unwrap();
        let before = r.stats();
        assert_eq!(
            session.transmit(CardSlot::Patient, &long_apdu()).await.unwrap(),
            echo_response(&long_apdu())
        );
        cost.push(r.stats().since(&before));
    }
    let (s3c, btc) = (cost[0], cost[1]);
    // HV-S3: every write waits for its ATT response (a round trip each; the answer rides in the
    // event of the last response).
    assert_eq!(s3c.round_trips, s3c.packets_up, "{s3c:?}");
    assert!(s3c.packets_up > 1 && s3c.round_trips > btc.round_trips);
    // HV-BT200: writes without response, one round trip for the whole exchange.
    assert_eq!(btc.round_trips, 1, "{btc:?}");

    // A raw write without response is refused by the HV-S3 firmware.
    let t = MemoryTransport::new();
    t.add(Arc::new(s3.clone()));
    let conn = t.connect(&s3.id()).await.unwrap();
    let _events = conn.subscribe(TX_CHAR_UUID).await.unwrap();
    let err = conn
        .write(RX_CHAR_UUID, &[0x80, 0, 11], WriteKind::WithoutResponse)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ReaderError::Device(m) if m.contains("only write with response")),
        "{err}"
    );
}

#[tokio::test]
async fn the_small_mtu_model_gets_small_packets() {
    let mini = reader(ReaderModel::HvMini);
    let t = MemoryTransport::new();
    t.add(Arc::new(mini.clone()));
    let conn = t.connect(&mini.id()).await.unwrap();
    assert_eq!(conn.mtu(), 23);
    let err = conn
        .write(RX_CHAR_UUID, &[0u8; 21], WriteKind::WithoutResponse)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ReaderError::Device(m) if m.contains("exceeds")),
        "{err}"
    );
    drop(conn);

    let (_c, session) = connect_in_process(&mini, memory_store(), "phone-A")
        .await
        .unwrap();
    let before = mini.stats();
    assert_eq!(
        session.transmit(CardSlot::Patient, &long_apdu()).await.unwrap(),
        echo_response(&long_apdu())
    );
    let s = mini.stats().since(&before);
    assert!(
        s.bytes_up <= s.packets_up * 20 && s.bytes_down <= s.packets_down * 20,
        "{s:?}"
    );
    assert!(s.packets_up >= (long_apdu().len() as u64).div_ceil(19), "{s:?}");
}

#[tokio::test]
async fn card_events_presence_and_reader_errors_reach_the_phone() {
    let reader = reader(ReaderModel::HvBt200);
    let (_c, session) = connect_in_process(&reader, memory_store(), "phone-A")
        .await
        .unwrap();
    let mut events = session.events();
    let next = |ev: &mut tokio::sync::broadcast::Receiver<ReaderEvent>| {
        let mut ev = ev.resubscribe();
        async move {
            tokio::time::timeout(Duration::from_secs(5), ev.recv())
                .await
                .unwrap()
                .unwrap()
        }
    };

    // Empty practitioner slot.
    assert_eq!(
        session.transmit(CardSlot::Practitioner, &APDU).await.unwrap_err(),
        ReaderError::NoCard(CardSlot::Practitioner)
    );
    let wait = next(&mut events);
    reader.insert(CardSlot::Practitioner, Box::new(EchoCard::new().0));
    assert_eq!(wait.await, ReaderEvent::CardInserted(CardSlot::Practitioner));
    assert!(session.card_present(CardSlot::Practitioner).await.unwrap());
    assert_eq!(
        session.transmit(CardSlot::Practitioner, &APDU).await.unwrap(),
        echo_response(&APDU)
    );

    let wait = next(&mut events);
    assert!(reader.remove(CardSlot::Practitioner).is_some());
    assert_eq!(wait.await, ReaderEvent::CardRemoved(CardSlot::Practitioner));
    assert!(!session.card_present(CardSlot::Practitioner).await.unwrap());

    // The patient card is pulled out during the second command.
    reader.remove_card_after(CardSlot::Patient, 1);
    session.transmit(CardSlot::Patient, &APDU).await.unwrap();
    let wait = next(&mut events);
    assert_eq!(
        session.transmit(CardSlot::Patient, &APDU).await.unwrap_err(),
        ReaderError::CardRemoved
    );
    assert_eq!(wait.await, ReaderEvent::CardRemoved(CardSlot::Patient));
    assert!(!session.card_present(CardSlot::Patient).await.unwrap());

    // A reader fault is reported and the session carries on.
    reader.insert(CardSlot::Patient, Box::new(EchoCard::new().0));
    reader.fail_next_apdu("battery low");
    let err = session.transmit(CardSlot::Patient, &APDU).await.unwrap_err();
    assert!(
        matches!(&err, ReaderError::Device(m) if m.contains("battery low")),
        "{err}"
    );
    assert_eq!(
        session.transmit(CardSlot::Patient, &APDU).await.unwrap(),
        echo_response(&APDU)
    );
    drop(events);
}

#[tokio::test]
async fn the_link_counts_virtual_time_round_trips_and_bytes() {
    let reader = reader(ReaderModel::HvBt200);
    let (_c, session) = connect_in_process(&reader, memory_store(), "phone-A")
        .await
        .unwrap();
    let cfg = reader.link_config();
    assert_eq!((cfg.connection_interval_us, cfg.mtu), (30_000, 185));
    reader.reset_stats();
    for _ in 0..10 {
        session.transmit(CardSlot::Patient, &APDU).await.unwrap();
    }
    let s = reader.stats();
    // Ten short exchanges: one packet each way, one round trip (one interval) each, plus the bytes.
    assert_eq!((s.round_trips, s.packets_up, s.packets_down), (10, 10, 10));
    // Each packet: fragment header 3 + frame header 7 + CRC 4 + AEAD tag 16 + message.
    assert_eq!(s.bytes_up, 10 * (3 + 7 + 4 + 16 + 2 + 5));
    assert_eq!(s.bytes_down, 10 * (3 + 7 + 4 + 16 + 2 + 7));
    let bound = cfg.lower_bound_ms(s.round_trips, s.bytes());
    assert!(
        (s.elapsed_ms() - bound).abs() < 0.001,
        "{} vs {bound}",
        s.elapsed_ms()
    );
    assert!(
        s.elapsed_ms() > 300.0 && s.elapsed_ms() < 335.0,
        "{}",
        s.elapsed_ms()
    );
}
