//! MediCloud through the VPN and its cache readable offline with its age; the cloud SAM over
//! HTTPS (the client's `SamAuthority`) against the simulated NHI key hierarchy.

use homevisit_core::card::sam::{SamAuthority, SamError, VisitSignRequest};
use homevisit_core::model::NationalId;
use homevisit_core::platform::{Clock, ManualClock, MemoryKeyStore};
use homevisit_core::store::Store;
use homevisit_core::vpn::{BindingQr, ClientOptions, MediCloudCache, SecretStore, VpnClient, VpnError};
use nhi_reader_sim::keys::{KeyHierarchy, LocalSam, visit_mac};
use nhi_vpn_sim::{FaultConfig, FaultKind, SimConfig, VpnSim};
use std::sync::Arc;
use std::time::Duration;

async fn enrolled(sim: &VpnSim, clock: Arc<dyn Clock>) -> VpnClient {
    let b = sim.new_binding().unwrap();
    let options = ClientOptions {
        timeout: Duration::from_secs(5),
        clock,
        ..ClientOptions::default()
    };
    VpnClient::enrol(&BindingQr::parse(&b.qr).unwrap(), &b.pin, "test device", options)
        .await
        .unwrap()
}

fn real_now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

#[tokio::test]
async fn medicloud_is_cached_sealed_and_readable_offline_with_its_age() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    // The device clock moves by hand; the server checks signatures against real time, so the
    // requests are made while the manual clock still equals real time.
    let clock = ManualClock::new(real_now_ms());
    let client = enrolled(&sim, clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = MemoryKeyStore::with_seed(4);
    let store: Arc<dyn SecretStore> = Arc::new(Store::open(dir.path().join("app.db"), &keys).unwrap());
    let cache = MediCloudCache::new(store, &keys, clock.clone()).unwrap();
    let id = NationalId::parse("A123456789").unwrap();

    let online = cache.fetch(&client, &id).await.unwrap();
    assert!(!online.offline);
    assert_eq!(online.age_ms, 0);
    assert!(!online.record.medications.is_empty());
    assert!(
        online
            .record
            .medications
            .iter()
            .all(|m| m.remaining_days <= m.days)
    );
    assert_eq!(online.record.labs.len(), 5);

    // The VPN goes away; 5 hours later the doctor still sees the record, marked with its age.
    sim.set_faults(FaultConfig::always(FaultKind::Status503));
    clock.advance_ms(5 * 3_600_000);
    let offline = cache.fetch(&client, &id).await.unwrap();
    assert!(offline.offline);
    assert_eq!(offline.age_ms, 5 * 3_600_000);
    assert_eq!(offline.age_text(), "5 h");
    assert_eq!(offline.record, online.record);

    // A patient never fetched has nothing to show offline: the network error comes through.
    let other = NationalId::parse("B123456780").unwrap();
    let e = cache.fetch(&client, &other).await.unwrap_err();
    assert_eq!(e, VpnError::Server { status: 503 });

    // Nothing of the patient is in the database files in clear.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for needle in [
            b"A123456789".as_slice(),
            online.record.medications[0].name.as_bytes(),
        ] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        }
    }
    sim.stop().await;
}

#[tokio::test]
async fn cloud_sam_over_https_authenticates_genuine_cards_and_signs_visits() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let client = enrolled(&sim, Arc::new(homevisit_core::platform::SystemClock)).await;
    assert_eq!(client.sam_id(), "100000000001");
    let card_no = "000012345678";
    let card = KeyHierarchy::simulated().card_key(card_no);
    let fake = KeyHierarchy::from_master(b"forger").card_key(card_no);
    let cc = [9u8; 8];

    let ch = client.begin_card_auth(card_no, cc).await.unwrap();
    // Mutual: the SAM proved it holds the hierarchy, the card proves it too.
    assert_eq!(ch.sam_proof, card.sam_proof(&cc, &ch.sam_challenge));
    assert_ne!(ch.sam_proof, fake.sam_proof(&cc, &ch.sam_challenge));
    let e = client
        .verify_card(&ch.session, fake.card_proof(&cc, &ch.sam_challenge))
        .await
        .unwrap_err();
    assert_eq!(e, SamError::CardNotGenuine);
    client
        .verify_card(&ch.session, card.card_proof(&cc, &ch.sam_challenge))
        .await
        .unwrap();

    let session_key = card.session_key(&cc, &ch.sam_challenge);
    let mut req = VisitSignRequest {
        session: ch.session.clone(),
        card_proof: card.card_proof(&cc, &ch.sam_challenge),
        card_number: card_no.into(),
        visit_datetime: "1151123093000".into(),
        sequence_number: "0007".into(),
        institution: "3501200000".into(),
        visit_code: "7K3P9QX2M4T8V6W1R5ZH".into(),
        card_mac: [0; 32],
    };
    req.card_mac = visit_mac(
        &session_key,
        card_no,
        &req.visit_datetime,
        &req.sequence_number,
        &req.institution,
        &req.visit_code,
    );
    let sig = client.sign_visit(&req).await.unwrap();
    assert_eq!(sig.signature_hex.len(), 256);
    assert_eq!(sig.sam_id, "100000000001");
    assert!(LocalSam::check_signature(
        &KeyHierarchy::simulated(),
        "100000000001",
        &req,
        &sig.signature_hex
    ));

    let mut forged = req.clone();
    forged.sequence_number = "0008".into();
    assert_eq!(
        client.sign_visit(&forged).await.unwrap_err(),
        SamError::CardNotGenuine
    );
    assert_eq!(
        client.verify_card("S999999", [0; 32]).await.unwrap_err(),
        SamError::UnknownSession
    );
    // Without the VPN the card layer learns the SAM is unreachable (and goes offline: F00B).
    sim.set_faults(FaultConfig::always(FaultKind::Drop));
    assert!(matches!(
        client.begin_card_auth(card_no, cc).await.unwrap_err(),
        SamError::Unreachable(_)
    ));
    sim.stop().await;
}
