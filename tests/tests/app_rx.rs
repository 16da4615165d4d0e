//! Order sets, prescriptions and the pharmacist through the facade, against the VPN simulator: the
//! device enrolled through `HomeVisit::enrol`, order sets downloaded then served from the sealed
//! cache offline, a prescription issued offline (signed with the enrolled device key, its
//! registration queued), sent by the sync engine, and a pharmacist who dispenses it once — every
//! refusal a typed error with its stable code.

use homevisit_core::app::{
    AppConfig, AppError, CardInput, HomeVisit, OrderSetOrigin, Pharmacist, ReaderState, ReaderStateEvent,
    ReaderStateListener, RefillOperation, RefillStatus, VisitDetails,
};
use homevisit_core::platform::{Clock, ManualClock, ManualConnectivity, MemoryKeyStore, SystemClock};
use homevisit_core::store::{JobKind, JobState};
use homevisit_core::sync::vpn_target::VpnTarget;
use homevisit_core::sync::{DrainOptions, SyncConfig, SyncEngine};
use homevisit_core::vpn::{BindingQr, ClientOptions, DeviceKey, VpnClient};
use nhi_vpn_sim::pharmacy::DEMO_PHARMACY;
use nhi_vpn_sim::{SimConfig, VpnSim};
use std::sync::Arc;

mod rx_common;

const CONTACT: &str = "居家醫療示範診所 02-2345-6789";

fn open_app(dir: &std::path::Path, institution: &str) -> HomeVisit {
    HomeVisit::open(
        AppConfig {
            data_dir: dir.to_path_buf(),
            institution_code: institution.into(),
            device_id: "app-rx-tablet".into(),
        },
        Arc::new(MemoryKeyStore::with_seed(21)),
        Arc::new(SystemClock),
    )
    .unwrap()
}

/// An app enrolled with `sim` through the facade.
async fn enrolled_app(sim: &VpnSim, dir: &std::path::Path) -> HomeVisit {
    let b = sim.new_binding().unwrap();
    let institution = BindingQr::parse(&b.qr).unwrap().institution_code;
    let app = open_app(dir, &institution);
    assert!(app.enrol(&b.qr, &b.pin, "app rx tablet").await.unwrap().enrolled);
    app
}

fn record(app: &HomeVisit) -> String {
    let card = CardInput {
        card_number: "000012345678".into(),
        name: "王小明".into(),
        national_id: "A123456789".into(),
        birth_date: "0390506".into(),
        sex: "M".into(),
        issue_date: "1090102".into(),
    };
    let details = VisitDetails {
        practitioner_id: "B234567894".into(),
        visit_type: "AH".into(),
        sequence_number: "F00B".into(),
        diagnoses: vec!["I10".into()],
        note: String::new(),
        abnormal_reason: Some("A020 no signal in the patient's home".into()),
    };
    app.record_visit_from_input(&card, details).unwrap().id
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sends the outbox (card uploads, registrations) to the simulator with the kept enrolment;
/// returns how many jobs the simulator refused.
async fn sync(app: &HomeVisit) -> usize {
    let client = VpnClient::load(app.store().as_ref(), ClientOptions::default())
        .unwrap()
        .unwrap();
    let engine = SyncEngine::new(
        app.store(),
        Arc::new(VpnTarget::new(Arc::new(client))),
        Arc::new(SystemClock),
        ManualConnectivity::new(true),
        SyncConfig::default(),
    );
    let sum = engine
        .drain(DrainOptions {
            force: true,
            ..DrainOptions::default()
        })
        .await
        .unwrap();
    assert_eq!(sum.remaining, 0, "{sum:?}");
    sum.rejected
}

fn code_of(e: &AppError) -> &str {
    match e {
        AppError::Rejected { code, .. } => code,
        _ => "",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_sets_download_then_the_cache_serves_and_a_prescription_is_issued_offline_once() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = enrolled_app(&sim, dir.path()).await;
    let _reader = rx_common::verified_practitioner(&app).await;

    assert!(
        app.order_sets().unwrap().sets.is_empty(),
        "nothing cached before the first download"
    );
    let fresh = app.refresh_order_sets().await.unwrap();
    assert_eq!(fresh.origin, OrderSetOrigin::Downloaded);
    assert!(fresh.refused.is_empty(), "{:?}", fresh.refused);
    let ht = fresh
        .sets
        .iter()
        .find(|s| s.id == "HT28")
        .expect("the simulator's HT28 set");
    assert_eq!(ht.lines[0].frequency, "QD");
    assert_eq!(ht.lines[0].days, 28);

    // Offline as the host says: the cache serves, with its age.
    app.set_online(false);
    let cached = app.refresh_order_sets().await.unwrap();
    assert_eq!(cached.origin, OrderSetOrigin::Cache);
    assert_eq!(cached.sets, fresh.sets);
    assert_eq!(cached.downloaded_at_ms, fresh.downloaded_at_ms);
    assert!(cached.age_ms.unwrap() >= 0);
    // Online but the VPN unreachable: the cache serves too.
    app.set_online(true);
    let url = sim.url.clone();
    app.set_vpn_endpoint("https://127.0.0.1:9").unwrap();
    assert_eq!(
        app.refresh_order_sets().await.unwrap().origin,
        OrderSetOrigin::Cache
    );
    app.set_vpn_endpoint(&url).unwrap();

    // In the home without signal: orders from the cached set, the prescription issued offline.
    app.set_online(false);
    let id = record(&app);
    assert!(matches!(
        app.apply_order_set(&id, "NO-SUCH-SET"),
        Err(AppError::Validation { field, .. }) if field == "set_id"
    ));
    app.apply_order_set(&id, "HT28").unwrap();
    let issued = app.issue_prescription(&id, Some(3), CONTACT).unwrap();
    assert!(issued.qr_text.starts_with("RX:"));
    assert!(issued.qr_png.starts_with(&[0x89, 0x50, 0x4E, 0x47]));
    assert!(issued.qr_svg.contains("<svg"));
    assert_eq!(issued.one_time_code_display.len(), 9);
    assert_eq!(issued.pick_up_windows.len(), 3);
    assert!(issued.pick_up_windows[1].first_day_ms > issued.issued_on_ms);
    assert_eq!(issued.contact, CONTACT);
    assert!(issued.pharmacy_barcode.contains(';'));

    let jobs = app.store().jobs_for_visit(&id).unwrap();
    let reg: Vec<_> = jobs
        .iter()
        .filter(|j| j.kind == JobKind::PrescriptionRegistration)
        .collect();
    assert_eq!(reg.len(), 1);
    assert_eq!(reg[0].state, JobState::Queued);

    // Issued once: a second issue is refused and queues nothing.
    assert!(matches!(
        app.issue_prescription(&id, Some(3), CONTACT),
        Err(AppError::Validation { field, .. }) if field == "prescription"
    ));
    assert_eq!(app.store().jobs_for_visit(&id).unwrap().len(), jobs.len());

    // The prescriber's `C` needs the network; online, after the sync, it cancels refill 3.
    assert_eq!(
        app.refill_operation(&id, 3, RefillOperation::Cancel)
            .await
            .unwrap_err(),
        AppError::Network
    );
    app.set_online(true);
    assert_eq!(sync(&app).await, 0);
    let c = app
        .refill_operation(&id, 3, RefillOperation::Cancel)
        .await
        .unwrap();
    assert_eq!((c.refill, c.status), (3, RefillStatus::Cancelled));
    let again = app
        .refill_operation(&id, 3, RefillOperation::Cancel)
        .await
        .unwrap_err();
    assert!(matches!(again, AppError::Rejected { .. }), "{again:?}");
    let e = app
        .refill_operation(&id, 3, RefillOperation::UndoCancel)
        .await
        .unwrap();
    assert_eq!(e.status, RefillStatus::Open);
    assert!(matches!(
        app.refill_operation(&id, 1, RefillOperation::Cancel).await,
        Err(AppError::Validation { field, .. }) if field == "refill"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_enrolled_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let app = open_app(dir.path(), "3501200000");
    assert_eq!(app.refresh_order_sets().await.unwrap_err(), AppError::NotEnrolled);
    let id = record(&app);
    assert_eq!(
        app.issue_prescription(&id, None, CONTACT).unwrap_err(),
        AppError::NotEnrolled
    );
    assert!(
        app.store()
            .jobs_for_visit(&id)
            .unwrap()
            .iter()
            .all(|j| j.kind == JobKind::CardUpload),
        "nothing queued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pharmacist_dispenses_once_and_every_bad_qr_has_its_code() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = enrolled_app(&sim, dir.path()).await;
    let _reader = rx_common::verified_practitioner(&app).await;
    app.refresh_order_sets().await.unwrap();
    let first = record(&app);
    app.apply_order_set(&first, "HT28").unwrap();
    let a = app.issue_prescription(&first, None, CONTACT).unwrap();
    let second = record(&app);
    app.apply_order_set(&second, "DM28").unwrap();
    let b = app.issue_prescription(&second, None, CONTACT).unwrap();
    // A QR of the same institution signed by a device the VPN never published.
    let third = record(&app);
    app.apply_order_set(&third, "PAIN7").unwrap();
    let stranger = DeviceKey::from_seed_for_tests(&[42; 32]);
    let forged = app
        .issue_prescription_signed_by(&third, None, &stranger, CONTACT)
        .unwrap();
    // The stranger's registration is refused by the VPN (its signature is no published key's).
    assert_eq!(sync(&app).await, 1);

    let pin = hex(&sim.fingerprint);
    let wrong = Pharmacist::login(&sim.url, &pin, DEMO_PHARMACY.0, "wrong", Arc::new(SystemClock))
        .await
        .unwrap_err();
    assert_eq!(code_of(&wrong), "unauthorized", "{wrong:?}");
    assert!(matches!(
        Pharmacist::login(&sim.url, "nothex", DEMO_PHARMACY.0, DEMO_PHARMACY.1, Arc::new(SystemClock)).await,
        Err(AppError::Validation { field, .. }) if field == "cert_sha256"
    ));
    let ph = Pharmacist::login(
        &sim.url,
        &pin,
        DEMO_PHARMACY.0,
        DEMO_PHARMACY.1,
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    assert!(ph.refresh_keys().await.unwrap() >= 1);

    // Offline checks, each failure its own code.
    let ok = ph.verify_offline(&a.qr_text).unwrap();
    assert_eq!(ok.visit_code, a.visit_code);
    assert_eq!(
        ok.prescriber_id_masked, "E12*****11",
        "the verified practitioner, signed"
    );
    assert_eq!(ok.lines.len(), 2);
    for (qr, code) in [
        ("WIFI:S:cafe;T:WPA;P:1234;;", "not_ours"),
        ("RX:ZZZ", "malformed"),
        (forged.qr_text.as_str(), "unknown_signer"),
    ] {
        let e = ph.verify_offline(qr).unwrap_err();
        assert_eq!(code_of(&e), code, "{e:?}");
    }
    let tampered = tamper(&a.qr_text);
    let e = ph.verify_offline(&tampered).unwrap_err();
    assert_eq!(code_of(&e), "tampered", "{e:?}");
    assert_eq!(
        code_of(&ph.dispense_qr(&tampered).await.unwrap_err()),
        code_of(&e),
        "a tampered QR never reaches the service"
    );
    // A pharmacist whose clock is a year ahead: expired.
    let later: Arc<dyn Clock> = ManualClock::new(SystemClock.now_unix_ms() + 400 * 86_400_000);
    let ph_later = Pharmacist::login(&sim.url, &pin, DEMO_PHARMACY.0, DEMO_PHARMACY.1, later)
        .await
        .unwrap();
    assert_eq!(
        code_of(&ph_later.verify_offline(&a.qr_text).unwrap_err()),
        "expired"
    );

    // Scan, dispense once by QR; the second attempt says who and when.
    let details = ph.scan(&a.qr_text).await.unwrap();
    assert_eq!(details.patient_id_masked.len(), 10);
    assert!(!details.patient_id_masked.contains("456"));
    assert_eq!(details.due_refill, Some(1));
    assert!(!format!("{details:?}").contains("王"), "Debug hides the name");
    let receipt = ph.dispense_qr(&a.qr_text).await.unwrap();
    assert_eq!((receipt.refill, receipt.pharmacy.as_str()), (1, DEMO_PHARMACY.0));
    assert!(receipt.dispensed_at_ms > 0);
    let again = ph.dispense_qr(&a.qr_text).await.unwrap_err();
    assert_eq!(
        again,
        AppError::AlreadyDispensed {
            by: DEMO_PHARMACY.0.into(),
            at_ms: receipt.dispensed_at_ms
        }
    );
    assert!(matches!(
        ph.dispense_code(&a.one_time_code).await,
        Err(AppError::AlreadyDispensed { .. })
    ));

    // By one-time code (display form, lower case): once.
    let d = ph
        .lookup_code(&b.one_time_code_display.to_lowercase())
        .await
        .unwrap();
    assert_eq!(d.visit_code, b.visit_code);
    assert_eq!(d.contact, CONTACT);
    let r = ph.dispense_code(&b.one_time_code_display).await.unwrap();
    assert_eq!(r.visit_code, b.visit_code);
    assert!(matches!(
        ph.dispense_code(&b.one_time_code).await,
        Err(AppError::AlreadyDispensed { .. })
    ));
    assert_eq!(
        code_of(&ph.lookup_code("22222222").await.unwrap_err()),
        "unknown_code"
    );
    assert_eq!(
        code_of(&ph.dispense_code("not a code").await.unwrap_err()),
        "unknown_code"
    );

    // Abnormal case: restored (reason required), then dispensable again.
    assert!(matches!(
        ph.restore(&b.visit_code, 1, " ").await,
        Err(AppError::Validation { field, .. }) if field == "reason"
    ));
    ph.restore(&b.visit_code, 1, "medicine not handed over")
        .await
        .unwrap();
    assert_eq!(ph.dispense_code(&b.one_time_code).await.unwrap().refill, 1);
}

/// Finding 4 (issue 11): a stolen, unlocked, enrolled phone issues nothing without the
/// practitioner's card and PIN: never verified, or the card pulled after the PIN — refused with
/// its own error, nothing signed or queued. With the card and PIN the prescriber is signed in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding4_a_prescription_without_a_verified_practitioner_card_is_refused() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = enrolled_app(&sim, dir.path()).await;
    app.refresh_order_sets().await.unwrap();
    let id = record(&app);
    app.apply_order_set(&id, "HT28").unwrap();
    let queued = app.store().jobs_for_visit(&id).unwrap().len();
    let e = app.issue_prescription(&id, None, CONTACT).unwrap_err();
    assert_eq!(e, AppError::PractitionerNotVerified);
    assert!(AppError::CODES.contains(&e.code()));
    let reader = rx_common::verified_practitioner(&app).await;
    // The card pulled after its PIN was verified: the verification ends with it (waited for by
    // the reader's state event, not by time).
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _sub = app.readers().subscribe(Arc::new(Events(tx)));
    reader
        .remove(homevisit_core::reader::CardSlot::Practitioner)
        .unwrap();
    loop {
        let ev = tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
            .await
            .expect("no hang")
            .expect("events");
        if ev.state == ReaderState::CardRemoved(homevisit_core::reader::CardSlot::Practitioner) {
            break;
        }
    }
    assert_eq!(
        app.issue_prescription(&id, None, CONTACT).unwrap_err(),
        AppError::PractitionerNotVerified
    );
    assert_eq!(
        app.store().jobs_for_visit(&id).unwrap().len(),
        queued,
        "nothing queued"
    );
}

struct Events(tokio::sync::mpsc::UnboundedSender<ReaderStateEvent>);

impl ReaderStateListener for Events {
    fn on_reader_state(&self, event: &ReaderStateEvent) {
        let _ = self.0.send(event.clone());
    }
}

/// The QR with one byte of its signed body changed.
fn tamper(qr: &str) -> String {
    use homevisit_core::rx::base45;
    let mut bytes = base45::decode(&qr[3..]).unwrap();
    bytes[30] ^= 0x04;
    format!("RX:{}", base45::encode(&bytes))
}
