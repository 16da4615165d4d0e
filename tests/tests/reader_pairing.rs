//! Pairing with a short code, reconnection without re-pairing, refusals.

mod reader_common;

use homevisit_core::platform::MemoryKeyStore;
use homevisit_core::reader::{ApduChannel, CardSlot, ReaderError, ReaderModel, StorePairingStore};
use homevisit_core::store::Store;
use nhi_reader_sim::{ReaderConfig, SimReader};
use reader_common::*;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn pair_with_the_displayed_code_then_reconnect_without_pairing_again() {
    let reader = reader(ReaderModel::HvBt200);
    let store = memory_store();
    let client = client_for(&reader, store.clone(), "phone-A");

    let found = client.scan(Duration::from_millis(100)).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].model, Some(ReaderModel::HvBt200));
    assert_eq!(found[0].name, "HV-BT200 0001");

    let pending = client.pair(&found[0]).await.unwrap();
    let shown = reader
        .displayed_code()
        .expect("reader shows a code while pairing");
    assert_eq!(pending.short_code(), shown, "both screens show the same code");
    assert_eq!(shown.len(), 6);
    assert!(reader.press_button(), "the user confirms on the reader too");
    let record = pending.confirm(&shown, 1_700_000_000_000).await.unwrap();
    assert_eq!(record.model, ReaderModel::HvBt200);
    assert!(reader.is_paired_with("phone-A"));
    assert!(client.is_paired(&reader.id()).unwrap());
    assert_eq!(reader.displayed_code(), None);

    let session = client.connect(&reader.id()).await.unwrap();
    assert!(session.card_present(CardSlot::Patient).await.unwrap());
    assert!(!session.card_present(CardSlot::Practitioner).await.unwrap());
    let apdu = [0x00, 0x84, 0x00, 0x00, 0x08];
    assert_eq!(
        session.transmit(CardSlot::Patient, &apdu).await.unwrap(),
        echo_response(&apdu)
    );
    drop(session);

    // A later connection, even from a fresh client over the same store, needs no pairing.
    let client2 = client_for(&reader, store, "phone-A");
    let session = client2.connect(&reader.id()).await.unwrap();
    assert_eq!(reader.displayed_code(), None, "no pairing was started");
    assert_eq!(
        session.transmit(CardSlot::Patient, &apdu).await.unwrap(),
        echo_response(&apdu)
    );
}

#[tokio::test]
async fn a_wrong_short_code_is_refused_and_nothing_is_stored() {
    let reader = reader(ReaderModel::HvBt200);
    let store = memory_store();
    let client = client_for(&reader, store.clone(), "phone-A");
    let found = client.scan(Duration::from_millis(10)).await.unwrap();
    let pending = client.pair(&found[0]).await.unwrap();
    let shown = reader.displayed_code().unwrap();
    let wrong = format!("{:06}", (shown.parse::<u32>().unwrap() + 1) % 1_000_000);
    let err = pending.confirm(&wrong, 0).await.unwrap_err();
    assert!(
        matches!(&err, ReaderError::NotPaired(m) if m.contains("short code")),
        "{err}"
    );
    assert!(!client.is_paired(&reader.id()).unwrap());
    assert!(!reader.is_paired_with("phone-A"));
    assert_eq!(reader.displayed_code(), None, "the reader left pairing mode");
    let err = client.connect(&reader.id()).await.unwrap_err();
    assert!(matches!(err, ReaderError::NotPaired(_)), "{err}");

    // Pairing again with the right code still works.
    let pending = client.pair(&found[0]).await.unwrap();
    let shown = reader.displayed_code().unwrap();
    assert!(reader.press_button());
    pending.confirm(&shown, 0).await.unwrap();
    client.connect(&reader.id()).await.unwrap();
}

#[tokio::test]
async fn a_reader_that_forgot_the_phone_refuses_the_session() {
    let reader = reader(ReaderModel::HvBt200);
    let store = memory_store();
    let (_client, session) = nhi_reader_sim::gatt::connect_in_process(&reader, store.clone(), "phone-A")
        .await
        .unwrap();
    drop(session);
    reader.unpair("phone-A");
    let client = client_for(&reader, store, "phone-A");
    let err = client.connect(&reader.id()).await.unwrap_err();
    assert!(
        matches!(&err, ReaderError::NotPaired(m) if m.contains("not paired")),
        "{err}"
    );
}

#[tokio::test]
async fn a_reader_with_another_key_cannot_impersonate_the_paired_one() {
    // The phone paired with reader A; a different reader B advertises under the same id (same
    // serial) and knows the phone id, but not the key.
    let a = reader(ReaderModel::HvBt200);
    let store = memory_store();
    nhi_reader_sim::gatt::connect_in_process(&a, store.clone(), "phone-A")
        .await
        .unwrap();
    let b = reader(ReaderModel::HvBt200);
    let other_store = memory_store();
    nhi_reader_sim::gatt::connect_in_process(&b, other_store, "phone-A")
        .await
        .unwrap();
    let client = client_for(&b, store, "phone-A");
    let err = client.connect(&b.id()).await.unwrap_err();
    assert!(
        matches!(&err, ReaderError::NotPaired(m) if m.contains("prove")),
        "{err}"
    );
}

#[tokio::test]
async fn unsupported_models_are_not_paired() {
    let reader = reader(ReaderModel::HvBt200);
    let client = client_for(&reader, memory_store(), "phone-A");
    let mut found = client.scan(Duration::from_millis(10)).await.unwrap();
    found[0].name = "Generic Reader 9".into();
    found[0].model = None;
    let err = client.pair(&found[0]).await.unwrap_err();
    assert!(
        matches!(&err, ReaderError::Device(m) if m.contains("not supported")),
        "{err}"
    );
    assert_eq!(reader.displayed_code(), None);
}

#[tokio::test]
async fn pairings_survive_a_restart_of_both_the_app_and_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let ks = MemoryKeyStore::with_seed(9);
    let cfg = || {
        let mut c = ReaderConfig::new(ReaderModel::HvMini, "0042");
        c.state_dir = Some(dir.path().join("reader"));
        c
    };
    {
        let store = Arc::new(StorePairingStore::new(Arc::new(
            Store::open(dir.path().join("app.db"), &ks).unwrap(),
        )));
        let reader = SimReader::new(cfg());
        nhi_reader_sim::gatt::connect_in_process(&reader, store, "phone-A")
            .await
            .unwrap();
    }
    // Both sides restart: new store handle, new reader process state loaded from its directory.
    let store = Arc::new(StorePairingStore::new(Arc::new(
        Store::open(dir.path().join("app.db"), &ks).unwrap(),
    )));
    let reader = SimReader::new(cfg());
    reader.insert(CardSlot::Practitioner, Box::new(EchoCard::new().0));
    assert!(reader.is_paired_with("phone-A"));
    let client = client_for(&reader, store, "phone-A");
    let session = client.connect(&reader.id()).await.unwrap();
    assert_eq!(reader.displayed_code(), None);
    let apdu = [0x00, 0xA4, 0x04, 0x00];
    assert_eq!(
        session.transmit(CardSlot::Practitioner, &apdu).await.unwrap(),
        echo_response(&apdu)
    );
}
