//! Device enrolment against the VPN simulator: QR-2 + PIN, wrong PIN with remaining tries then
//! locked, expired and reused tokens, and a server with another certificate.

use homevisit_core::platform::MemoryKeyStore;
use homevisit_core::store::Store;
use homevisit_core::vpn::{
    BindingQr, ClientOptions, EnrolmentError, MemorySecretStore, SecretStore, VpnClient, VpnError,
};
use nhi_vpn_sim::{SimConfig, VpnSim};
use std::time::Duration;

fn options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn enrols_with_qr2_and_pin_and_the_saved_enrolment_works_later() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let binding = sim.new_binding().unwrap();
    let qr = BindingQr::parse(&binding.qr).unwrap();
    assert_eq!(qr.cert_sha256, sim.fingerprint);
    let client = VpnClient::enrol(&qr, &binding.pin, "tablet 1", options())
        .await
        .unwrap();
    assert_eq!(client.enrolment().institution_code, "3501200000");
    assert_eq!(client.enrolment().sam_id, "100000000001");
    let sets = client.order_sets().await.unwrap();
    assert!(sets.len() >= 3);

    // Kept sealed in the app's store, and usable after a "restart".
    let dir = tempfile::tempdir().unwrap();
    let keys = MemoryKeyStore::with_seed(9);
    {
        let store = Store::open(dir.path().join("app.db"), &keys).unwrap();
        client.save(&store).unwrap();
    }
    let store = Store::open(dir.path().join("app.db"), &keys).unwrap();
    let again = VpnClient::load(&store, options()).unwrap().expect("enrolled");
    assert_eq!(again.enrolment().device_id, client.enrolment().device_id);
    assert_eq!(again.order_sets().await.unwrap(), sets);
    // The private key is not in the database file in clear.
    drop(store);
    let pkcs8 = client.device_key().pkcs8().to_vec();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(pkcs8.len()).any(|w| w == pkcs8.as_slice()));
    }

    // A second device of the same institution with its own binding.
    let b2 = sim.new_binding().unwrap();
    let second = VpnClient::enrol(&BindingQr::parse(&b2.qr).unwrap(), &b2.pin, "phone 2", options())
        .await
        .unwrap();
    assert_ne!(second.enrolment().device_id, client.enrolment().device_id);
    let keys = second.institution_keys("3501200000").await.unwrap();
    assert_eq!(keys.keys.len(), 2);
    sim.stop().await;
}

#[tokio::test]
async fn wrong_pin_counts_down_then_locks_the_token() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let binding = sim.new_binding().unwrap();
    let qr = BindingQr::parse(&binding.qr).unwrap();
    let wrong = if binding.pin == "000000" {
        "111111"
    } else {
        "000000"
    };
    let e = VpnClient::enrol(&qr, wrong, "t", options()).await.unwrap_err();
    assert_eq!(e, VpnError::Enrolment(EnrolmentError::WrongPin { remaining: 2 }));
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("2 attempt(s) left"));
    let e = VpnClient::enrol(&qr, wrong, "t", options()).await.unwrap_err();
    assert_eq!(e, VpnError::Enrolment(EnrolmentError::WrongPin { remaining: 1 }));
    let e = VpnClient::enrol(&qr, wrong, "t", options()).await.unwrap_err();
    assert_eq!(e, VpnError::Enrolment(EnrolmentError::TokenLocked));
    // Locked: even the right PIN is refused now.
    let e = VpnClient::enrol(&qr, &binding.pin, "t", options())
        .await
        .unwrap_err();
    assert_eq!(e, VpnError::Enrolment(EnrolmentError::TokenLocked));
    sim.stop().await;
}

#[tokio::test]
async fn expired_used_and_unknown_tokens_are_refused_clearly() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let expired = sim.new_binding_with_ttl(Duration::ZERO).unwrap();
    let e = VpnClient::enrol(
        &BindingQr::parse(&expired.qr).unwrap(),
        &expired.pin,
        "t",
        options(),
    )
    .await
    .unwrap_err();
    assert_eq!(e, VpnError::Enrolment(EnrolmentError::TokenExpired));
    assert!(e.to_string().contains("expired"));

    let b = sim.new_binding().unwrap();
    let qr = BindingQr::parse(&b.qr).unwrap();
    VpnClient::enrol(&qr, &b.pin, "t", options()).await.unwrap();
    let e = VpnClient::enrol(&qr, &b.pin, "t", options()).await.unwrap_err();
    assert_eq!(e, VpnError::Enrolment(EnrolmentError::TokenUsed));

    let mut unknown = qr.clone();
    unknown.token = "NoSuchToken1".into();
    let e = VpnClient::enrol(&unknown, &b.pin, "t", options())
        .await
        .unwrap_err();
    assert_eq!(e, VpnError::Enrolment(EnrolmentError::TokenUnknown));

    assert!(matches!(
        BindingQr::parse("https://example.org"),
        Err(VpnError::InvalidQr { .. })
    ));
    sim.stop().await;
}

#[tokio::test]
async fn a_server_with_another_certificate_is_refused() {
    let genuine = VpnSim::start(SimConfig::default()).await.unwrap();
    let impostor = VpnSim::start(SimConfig::default()).await.unwrap();
    assert_ne!(genuine.fingerprint, impostor.fingerprint);
    // The QR-2 pins the genuine server, but the network leads to the impostor.
    let b = impostor.new_binding().unwrap();
    let mut qr = BindingQr::parse(&b.qr).unwrap();
    qr.cert_sha256 = genuine.fingerprint;
    let e = VpnClient::enrol(&qr, &b.pin, "t", options()).await.unwrap_err();
    assert_eq!(e, VpnError::CertificateMismatch);
    assert!(!e.is_retryable());

    // An enrolled client whose server is swapped for another one fails the same way.
    let good = genuine.new_binding().unwrap();
    let client = VpnClient::enrol(&BindingQr::parse(&good.qr).unwrap(), &good.pin, "t", options())
        .await
        .unwrap();
    let mut moved = client.enrolment().clone();
    moved.endpoint = impostor.url.clone();
    let store = MemorySecretStore::default();
    store
        .put("enrolment", &serde_json::to_vec(&moved).unwrap())
        .unwrap();
    let redirected = VpnClient::load(&store, options()).unwrap().unwrap();
    assert_eq!(
        redirected.order_sets().await.unwrap_err(),
        VpnError::CertificateMismatch
    );
    genuine.stop().await;
    impostor.stop().await;
}

#[tokio::test]
async fn a_restarted_server_keeps_its_certificate_devices_and_visits() {
    let dir = tempfile::tempdir().unwrap();
    let config = SimConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..SimConfig::default()
    };
    let first = VpnSim::start(config.clone()).await.unwrap();
    let b = first.new_binding().unwrap();
    let client = VpnClient::enrol(&BindingQr::parse(&b.qr).unwrap(), &b.pin, "t", options())
        .await
        .unwrap();
    let (addr, fingerprint) = (first.addr, first.fingerprint);
    first.stop().await;
    let second = VpnSim::start(SimConfig { bind: addr, ..config }).await.unwrap();
    assert_eq!(second.fingerprint, fingerprint);
    assert!(!client.order_sets().await.unwrap().is_empty());
    second.stop().await;
}
