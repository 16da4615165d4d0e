//! A prescription issued in a home without signal: the visit and its drug orders are captured
//! offline, the prescription (QR + one-time code) is issued offline and its registration waits in
//! the outbox; when the signal returns the sync engine sends the card upload and the registration
//! to the VPN simulator, exactly once, and a pharmacist can then find it by its one-time code and
//! dispense it once — also when the network and the server fail along the way.

use homevisit_core::app::{AppConfig, CardInput, HomeVisit, VisitDetails};
use homevisit_core::platform::{ManualConnectivity, MemoryKeyStore, SystemClock};
use homevisit_core::rx::pharmacy::{HttpPharmacy, Pharmacist, PharmacyError};
use homevisit_core::rx::sheet::IssuedPrescription;
use homevisit_core::store::{JobKind, JobState};
use homevisit_core::sync::vpn_target::VpnTarget;
use homevisit_core::sync::{Backoff, DrainOptions, EventLog, SyncConfig, SyncEngine, SyncEvent};
use homevisit_core::vpn::{BindingQr, ClientOptions, VpnClient};
use nhi_vpn_sim::faults::FaultKind;
use nhi_vpn_sim::pharmacy::DEMO_PHARMACY;
use nhi_vpn_sim::pharmacy::demo::sample_order_set;
use nhi_vpn_sim::{FaultConfig, SimConfig, VpnSim};
use std::sync::Arc;
use std::time::Duration;

mod rx_common;

const CONTACT: &str = "居家醫療示範診所 02-2345-6789";

async fn enrol(sim: &VpnSim) -> Arc<VpnClient> {
    let b = sim.new_binding().unwrap();
    Arc::new(
        VpnClient::enrol(
            &BindingQr::parse(&b.qr).unwrap(),
            &b.pin,
            "rx outbox tablet",
            ClientOptions {
                timeout: Duration::from_millis(800),
                connect_timeout: Duration::from_millis(800),
                ..ClientOptions::default()
            },
        )
        .await
        .unwrap(),
    )
}

fn open_app(dir: &std::path::Path, client: &VpnClient) -> HomeVisit {
    HomeVisit::open(
        AppConfig {
            data_dir: dir.to_path_buf(),
            institution_code: client.enrolment().institution_code.clone(),
            device_id: "rx-outbox-tablet".into(),
        },
        Arc::new(MemoryKeyStore::with_seed(11)),
        Arc::new(SystemClock),
    )
    .unwrap()
}

/// A visit recorded offline (abnormal sequence number), with the home-care order set applied.
fn offline_visit_with_orders(app: &HomeVisit) -> String {
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
        diagnoses: vec!["I10".into(), "E11.9".into()],
        note: String::new(),
        abnormal_reason: Some("A020 no signal in the patient's home".into()),
    };
    let id = app.record_visit_from_input(&card, details).unwrap().id;
    app.apply_order_set_lines(&id, &sample_order_set(false, 28))
        .unwrap();
    id
}

fn engine(app: &HomeVisit, client: Arc<VpnClient>, net: Arc<ManualConnectivity>) -> SyncEngine {
    SyncEngine::new(
        app.store(),
        Arc::new(VpnTarget::new(client)),
        Arc::new(SystemClock),
        net,
        SyncConfig {
            batch_size: 4,
            max_in_flight: 1,
            backoff: Backoff {
                base_ms: 20,
                cap_ms: 200,
            },
            jitter_seed: Some(5),
            ..SyncConfig::default()
        },
    )
}

async fn pharmacist(sim: &VpnSim) -> Pharmacist {
    let mut api = HttpPharmacy::new(&sim.url, sim.fingerprint).unwrap();
    api.login(DEMO_PHARMACY.0, DEMO_PHARMACY.1).await.unwrap();
    let p = Pharmacist::new(Arc::new(api), Arc::new(SystemClock));
    assert!(p.refresh_keys().await.unwrap() >= 1);
    p
}

/// The pharmacist finds the prescription by its one-time code and dispenses it exactly once.
async fn dispense_once(p: &Pharmacist, issued: &IssuedPrescription) {
    let details = p.lookup_code(&issued.one_time_code).await.unwrap();
    assert_eq!(details.visit_code, issued.prescription.visit_code);
    assert_eq!(details.lines, issued.prescription.lines);
    assert_eq!(details.contact, CONTACT);
    let receipt = p.dispense_code(&issued.one_time_code).await.unwrap();
    assert_eq!(
        p.dispense_code(&issued.one_time_code).await.unwrap_err(),
        PharmacyError::AlreadyDispensed {
            by: DEMO_PHARMACY.0.into(),
            at: receipt.dispensed_at
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prescription_issued_offline_is_registered_when_the_signal_returns() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let client = enrol(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let app = open_app(dir.path(), &client);
    let _reader = rx_common::verified_practitioner(&app).await;
    let net = ManualConnectivity::new(false);
    let engine = engine(&app, client.clone(), net.clone());

    // In the home, no signal: the visit, its orders and its prescription are all made offline.
    let visit_id = offline_visit_with_orders(&app);
    let issued = app
        .issue_prescription_signed_by(&visit_id, None, client.device_key(), CONTACT)
        .unwrap();
    let code = issued.prescription.visit_code.clone();
    let sum = engine.drain(DrainOptions::default()).await.unwrap();
    assert_eq!(sum.done, 0, "nothing leaves the tablet offline: {sum:?}");
    assert_eq!(engine.counts().unwrap().queued, 2, "card upload + registration");

    // Before the sync the pharmacy cannot know the code: the family would have to call.
    let p = pharmacist(&sim).await;
    assert_eq!(
        p.lookup_code(&issued.one_time_code).await.unwrap_err(),
        PharmacyError::UnknownCode
    );
    assert_eq!(sim.stored_visit_count(&code), 0);

    // The signal returns: the queue drains, the card upload and the registration each once.
    net.set_online(true);
    let log = EventLog::new();
    let _sub = engine.subscribe(log.clone());
    let sum = engine.drain(DrainOptions::default()).await.unwrap();
    assert!(sum.complete, "{sum:?}");
    assert_eq!((sum.done, sum.rejected), (2, 0));
    assert_eq!(sim.stored_visit_count(&code), 1);
    let jobs = app.store().jobs_for_visit(&visit_id).unwrap();
    let reg: Vec<_> = jobs
        .iter()
        .filter(|j| j.kind == JobKind::PrescriptionRegistration)
        .collect();
    assert_eq!(reg.len(), 1);
    assert_eq!(reg[0].state, JobState::Done);
    assert_eq!(reg[0].server_ack.as_deref(), Some(format!("rx:{code}").as_str()));
    let done_events = log
        .events()
        .iter()
        .filter(|e| matches!(e, SyncEvent::JobDone { .. }))
        .count();
    assert_eq!(done_events, 2);

    // A second drain sends nothing again; the pharmacist dispenses it exactly once.
    let again = engine
        .drain(DrainOptions {
            force: true,
            time_budget_ms: None,
        })
        .await
        .unwrap();
    assert_eq!((again.done, again.batches), (0, 0), "{again:?}");
    dispense_once(&p, &issued).await;
    // A registration resent after the dispense (a lost answer) changes nothing for the pharmacy.
    let resent = homevisit_core::rx::outbox::parse_payload(&reg[0].payload).unwrap();
    let device = HttpPharmacy::new(&sim.url, sim.fingerprint).unwrap();
    device.register(&resent).await.unwrap();
    assert!(matches!(
        p.dispense_code(&issued.one_time_code).await.unwrap_err(),
        PharmacyError::AlreadyDispensed { .. }
    ));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_land_exactly_once_through_injected_faults() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let client = enrol(&sim).await;
    let dir = tempfile::tempdir().unwrap();
    let app = open_app(dir.path(), &client);
    let _reader = rx_common::verified_practitioner(&app).await;
    let net = ManualConnectivity::new(false);
    let engine = engine(&app, client.clone(), net.clone());

    let mut issued = Vec::new();
    for _ in 0..8 {
        let id = offline_visit_with_orders(&app);
        let p = app
            .issue_prescription_signed_by(&id, Some(3), client.device_key(), CONTACT)
            .unwrap();
        issued.push((id, p));
    }
    // Half the device requests fail, before or after the server did the work (lost answers,
    // 5xx, half bodies, garbage, HTML), registrations included.
    sim.set_faults(FaultConfig {
        seed: 606,
        failure_rate: 0.5,
        kinds: vec![
            FaultKind::Status500,
            FaultKind::Status503,
            FaultKind::Drop,
            FaultKind::Truncate,
            FaultKind::Garbage,
            FaultKind::WrongContentType,
        ],
        ..FaultConfig::default()
    });
    net.set_online(true);
    engine.start_up().unwrap();
    let sum = engine
        .drain(DrainOptions {
            force: false,
            time_budget_ms: None,
        })
        .await
        .unwrap();
    assert!(sum.complete, "{sum:?}");
    assert_eq!(sum.rejected_total, 0, "no fault parks a registration as refused");
    assert!(sum.retries > 0 && sim.faults_injected() > 0);
    let store = app.store();
    let registrations: Vec<_> = store
        .all_jobs()
        .unwrap()
        .into_iter()
        .filter(|j| j.kind == JobKind::PrescriptionRegistration)
        .collect();
    assert_eq!(registrations.len(), 8);
    assert!(registrations.iter().all(|j| j.state == JobState::Done));
    assert!(
        registrations.iter().any(|j| j.attempts > 1),
        "the faults struck registrations too"
    );

    sim.set_faults(FaultConfig::none());
    let p = pharmacist(&sim).await;
    for (_, rx) in &issued {
        assert_eq!(sim.stored_visit_count(&rx.prescription.visit_code), 1);
        let details = sim
            .pharmacy()
            .lookup(
                &homevisit_core::rx::pharmacy::wire::Presented {
                    qr: None,
                    code: Some(rx.one_time_code.clone()),
                },
                &nhi_vpn_sim::pharmacy::Caller {
                    pharmacy: DEMO_PHARMACY.0.into(),
                    source: "test".into(),
                },
            )
            .unwrap();
        assert_eq!(
            details.refills.len(),
            3,
            "chronic: three dispenses registered once"
        );
        dispense_once(&p, rx).await;
    }
    sim.stop().await;
}
