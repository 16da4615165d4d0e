//! Order sets downloaded after enrolment from the VPN simulator, cached sealed in the store,
//! applied to a visit; the prescription is signed with the enrolled device key, and a pharmacist
//! verifies it offline against the keys the VPN publishes for the institution, then dispenses it
//! on the same simulator (its pharmacy routes are merged into the VPN router).

use homevisit_core::platform::{Clock, MemoryKeyStore, SystemClock};
use homevisit_core::rx::orderset::{cached_order_sets, refresh_order_sets};
use homevisit_core::rx::pharmacy::{
    HttpPharmacy, KeySet, Pharmacist, PharmacyError, taiwan_date, verify_offline,
};
use homevisit_core::rx::sheet;
use homevisit_core::store::Store;
use homevisit_core::vpn::{BindingQr, ClientOptions, VpnClient};
use nhi_vpn_sim::pharmacy::DEMO_PHARMACY;
use nhi_vpn_sim::pharmacy::demo::{home_care_extras, sample_visit};
use nhi_vpn_sim::{SimConfig, VpnSim};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloaded_order_set_becomes_a_prescription_verifiable_with_published_keys() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let binding = sim.new_binding().unwrap();
    let client = VpnClient::enrol(
        &BindingQr::parse(&binding.qr).unwrap(),
        &binding.pin,
        "tablet",
        ClientOptions::default(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("app.db"), &MemoryKeyStore::with_seed(4)).unwrap();
    assert!(cached_order_sets(&store).unwrap().is_empty());
    let (sets, refused) = refresh_order_sets(&client, &store).await.unwrap();
    assert!(!sets.is_empty());
    assert!(
        refused.is_empty(),
        "the simulator's order sets are valid: {refused:?}"
    );
    assert_eq!(cached_order_sets(&store).unwrap(), sets, "cached for offline use");

    let now = SystemClock.now_unix_ms();
    let inst = client.enrolment().institution_code.clone();
    let mut visit = sample_visit("3K7Q2M9X4T8W1Z5R6N0B", &inst, now).unwrap();
    sets[0].apply_to(&mut visit).unwrap();
    let issued = sheet::issue(
        &visit,
        None,
        client.device_key(),
        "02-2345-6789",
        &home_care_extras(),
    )
    .unwrap();

    let published = client.institution_keys(&inst).await.unwrap();
    let keys = KeySet::from_published(&[published]);
    let today = taiwan_date(now);
    let ok = verify_offline(&issued.qr_text, &keys, today).unwrap();
    assert_eq!(ok.prescription.lines, sets[0].lines);
    // Without the published keys the institution is unknown.
    assert_eq!(
        verify_offline(&issued.qr_text, &KeySet::default(), today).unwrap_err(),
        PharmacyError::UnknownInstitution(inst.clone())
    );

    // The same simulator serves the pharmacies: register, dispense once, refuse the second.
    let device = HttpPharmacy::new(&sim.url, sim.fingerprint).unwrap();
    // As the sync engine sends it: the outbox job's frozen payload (twice: idempotent).
    let payload = issued.registration_payload(&visit, client.device_key()).unwrap();
    device.register_payload(&payload).await.unwrap();
    device.register_payload(&payload).await.unwrap();
    assert!(matches!(
        device.register_payload(b"{}").await.unwrap_err(),
        PharmacyError::Malformed(_)
    ));
    let mut api = HttpPharmacy::new(&sim.url, sim.fingerprint).unwrap();
    api.login(DEMO_PHARMACY.0, DEMO_PHARMACY.1).await.unwrap();
    let pharmacist = Pharmacist::new(Arc::new(api), Arc::new(SystemClock));
    assert!(pharmacist.refresh_keys().await.unwrap() >= 1);
    pharmacist.scan(&issued.qr_text).await.unwrap();
    let receipt = pharmacist.dispense_qr(&issued.qr_text).await.unwrap();
    assert_eq!(
        pharmacist.dispense_code(&issued.one_time_code).await.unwrap_err(),
        PharmacyError::AlreadyDispensed {
            by: DEMO_PHARMACY.0.into(),
            at: receipt.dispensed_at
        }
    );

    // The demo's pharmacist half runs against the same simulator.
    let mut second = sample_visit("4K7Q2M9X4T8W1Z5R6N0B", &inst, now).unwrap();
    sets[0].apply_to(&mut second).unwrap();
    let issued2 = sheet::issue(&second, None, client.device_key(), "x", &home_care_extras()).unwrap();
    let mut out = Vec::new();
    nhi_vpn_sim::pharmacy::demo::pharmacist_part(
        &sim.url,
        sim.fingerprint,
        &second,
        client.device_key(),
        &issued2,
        &mut out,
    )
    .await
    .unwrap();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("Second attempt (QR) refused")
    );
    sim.stop().await;
}
