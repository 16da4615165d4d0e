//! Issue 11, finding 8 (the pin): a server whose certificate matches neither the enrolment's
//! primary nor its backup pin stops the drain with `CertificateMismatch` — no retry loop, the jobs
//! stay queued and the background loop pauses — and the backup pin is accepted like the primary.

use homevisit_core::app::{AppConfig, AppError, CardInput, HomeVisit, VisitDetails};
use homevisit_core::platform::{MemoryKeyStore, SystemClock};
use homevisit_core::sync::{EventLog, StopReason, SyncEvent};
use homevisit_core::vpn::{ClientOptions, VpnClient};
use nhi_vpn_sim::{SimConfig, VpnSim};
use std::path::Path;
use std::sync::Arc;

fn config(dir: &Path) -> AppConfig {
    AppConfig {
        data_dir: dir.to_path_buf(),
        institution_code: "3501200000".into(),
        device_id: "security-pins".into(),
    }
}

fn open(dir: &Path) -> HomeVisit {
    HomeVisit::open(
        config(dir),
        Arc::new(MemoryKeyStore::with_seed(5)),
        Arc::new(SystemClock),
    )
    .unwrap()
}

fn card(n: usize) -> CardInput {
    let ids = ["A123456789", "B123456780", "A223456781"];
    CardInput {
        card_number: format!("{:012}", 12_345_678 + n),
        name: "王小明".into(),
        national_id: ids[n % ids.len()].into(),
        birth_date: "0500101".into(),
        sex: if ids[n % ids.len()].as_bytes()[1] == b'1' {
            "M"
        } else {
            "F"
        }
        .into(),
        issue_date: "1100301".into(),
    }
}

fn details() -> VisitDetails {
    VisitDetails {
        practitioner_id: "B234567894".into(),
        visit_type: "AH".into(),
        sequence_number: "0001".into(),
        diagnoses: vec!["I10".into()],
        note: "stable".into(),
        abnormal_reason: None,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn enrolled(app: &HomeVisit) -> VpnSim {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let b = sim.new_binding().unwrap();
    app.enrol(&b.qr, &b.pin, "pins").await.unwrap();
    sim
}

/// Rewrites the kept enrolment's pins (what a rotated certificate or a forged one looks like from
/// the device's side).
fn set_pins(app: &HomeVisit, primary: [u8; 32], backup: Option<[u8; 32]>) {
    let store = app.store();
    let client = VpnClient::load(store.as_ref(), ClientOptions::default())
        .unwrap()
        .unwrap();
    let mut e = client.enrolment().clone();
    e.cert_sha256 = hex(&primary);
    e.backup_cert_sha256 = backup.map(|b| hex(&b));
    VpnClient::from_enrolment(e, ClientOptions::default())
        .unwrap()
        .save(store.as_ref())
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_matching_neither_pin_stops_the_drain_with_certificate_mismatch_and_keeps_the_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(open(dir.path()));
    let sim = enrolled(&app).await;
    for n in 0..3 {
        app.record_visit_from_input(&card(n), details()).unwrap();
    }
    // An impostor: another server, its own certificate, at the address the device now uses.
    let impostor = VpnSim::start(SimConfig::default()).await.unwrap();
    assert_ne!(impostor.fingerprint, sim.fingerprint);
    app.set_vpn_endpoint(&impostor.url).unwrap();
    let log = EventLog::new();
    let _sub = app.sync().subscribe(log.clone());

    // A generous budget: a drain that retried would spend it and come back `Ok`.
    let err = app.sync().drain_once(60_000).await.unwrap_err();
    assert_eq!(err, AppError::CertificateMismatch);
    assert_eq!(err.code(), "certificate_mismatch");
    let events = log.events();
    let sent = events
        .iter()
        .filter(|e| matches!(e, SyncEvent::BatchSent { .. }))
        .count();
    assert_eq!(sent, 1, "one attempt, no retry loop: {events:?}");
    assert!(
        !events.iter().any(|e| matches!(e, SyncEvent::JobRetry { .. })),
        "a pin mismatch is not retried as a server error: {events:?}"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        SyncEvent::Drained(s) if s.stopped == Some(StopReason::CertificateMismatch) && !s.complete
    )));
    // The jobs stay queued as they were: not waiting for a retry, not sent, no attempt recorded.
    let counts = app.outbox_counts().unwrap();
    assert_eq!(counts.queued, 3, "{counts:?}");
    assert_eq!(counts.waiting_retry, 0, "{counts:?}");
    assert_eq!(impostor.stored_visit_total(), 0);
    assert!(app.sync().certificate_mismatch(), "the background loop is paused");

    // Back at the real server: everything goes, once.
    app.set_vpn_endpoint(&sim.url).unwrap();
    let summary = app.sync().drain_once(60_000).await.unwrap();
    assert!(summary.complete, "{summary:?}");
    assert_eq!(summary.done, 3);
    assert_eq!(sim.stored_visit_total(), 3);
    assert!(!app.sync().certificate_mismatch());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backup_pin_is_accepted_and_neither_pin_matching_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = open(dir.path());
    let sim = enrolled(&app).await;
    app.record_visit_from_input(&card(0), details()).unwrap();
    // Neither pin is the server's certificate: refused, nothing sent.
    set_pins(&app, [7; 32], Some([8; 32]));
    drop(app);
    let app = Arc::new(open(dir.path()));
    assert_eq!(
        app.sync().drain_once(60_000).await.unwrap_err(),
        AppError::CertificateMismatch
    );
    assert_eq!(sim.stored_visit_total(), 0);
    assert_eq!(app.outbox_counts().unwrap().queued, 1);

    // The institution rotated: the primary pin is stale, the server presents the backup.
    set_pins(&app, [7; 32], Some(sim.fingerprint));
    drop(app);
    let app = Arc::new(open(dir.path()));
    let summary = app.sync().drain_once(60_000).await.unwrap();
    assert!(summary.complete, "{summary:?}");
    assert_eq!(sim.stored_visit_total(), 1);

    // The client alone says the same: a stale primary with the right backup connects.
    let store = app.store();
    let client = VpnClient::load(store.as_ref(), ClientOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(
        client.enrolment().backup_cert_sha256.as_deref(),
        Some(hex(&sim.fingerprint).as_str())
    );
}
