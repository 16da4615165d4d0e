//! Issue 11, finding 3: a crash between the card write and the commit. The visiting process
//! (`visit_crash_child`) finishes an online visit and is killed with SIGKILL at a chosen step of its
//! progress (the app's fail point: `signed`, `card_written`); the card (in the reader simulator,
//! which lives in this process) keeps what it got. After a restart the app reconciles its open
//! intent against the card's read-back when the reader is back: exactly one stored visit, one
//! sequence number on the card, one upload. Crash points are chosen by progress, never by time.

use homevisit_core::app::{AppConfig, HomeVisit, ReaderTransport};
use homevisit_core::platform::{FileKeyStore, SystemClock};
use homevisit_core::reader::{CardSlot, ReaderModel};
use nhi_reader_sim::card::{self, PatientCard};
use nhi_reader_sim::{ReaderConfig, SimReader};
use nhi_vpn_sim::{SimConfig, VpnSim};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

const INSTITUTION: &str = "3501200000";
const PIN: &str = "1234";

fn open(dir: &Path) -> Arc<HomeVisit> {
    Arc::new(
        HomeVisit::open(
            AppConfig {
                data_dir: dir.to_path_buf(),
                institution_code: INSTITUTION.into(),
                device_id: "crash-phone".into(),
            },
            Arc::new(FileKeyStore::new(dir.join("keys"))),
            Arc::new(SystemClock),
        )
        .unwrap(),
    )
}

struct World {
    dir: tempfile::TempDir,
    sim: VpnSim,
    addr: String,
    patient: PatientCard,
}

/// A VPN simulator, a reader simulator served over TCP with the practitioner's and the patient's
/// cards, and an app enrolled and paired with it (then closed).
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let reader = SimReader::new(ReaderConfig::new(ReaderModel::HvBt200, "0031"));
    let patient = card::demo_patient_card();
    reader.insert(
        CardSlot::Practitioner,
        Box::new(card::PractitionerCard::new(card::demo_practitioner())),
    );
    reader.insert(CardSlot::Patient, Box::new(patient.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(nhi_reader_sim::gatt::tcp::serve(listener, reader.clone()));

    let app = open(dir.path());
    let b = sim.new_binding().unwrap();
    app.enrol(&b.qr, &b.pin, "crash phone").await.unwrap();
    app.readers()
        .set_transport(ReaderTransport::Loopback(addr.clone()))
        .await
        .unwrap();
    let found = app.readers().scan(200).await.unwrap();
    let code = app.readers().pair(&found[0].id).await.unwrap();
    assert_eq!(Some(code.code.clone()), reader.displayed_code());
    assert!(reader.press_button(), "the reader's own confirmation");
    app.readers().confirm_pairing(&code.code).await.unwrap();
    app.readers().disconnect().await;
    drop(app);
    World {
        dir,
        sim,
        addr,
        patient,
    }
}

/// Runs the child to `step`, where it must die by SIGKILL.
fn crash_at(w: &World, step: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_visit_crash_child"))
        .arg(w.dir.path())
        .arg(&w.addr)
        .env("VISIT_CRASH_AT", step)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGKILL),
        "the child must die at {step}: {stderr}"
    );
    assert!(stderr.contains(&format!("crash-at {step}")), "{stderr}");
}

/// Restarts the app, brings the reader back and checks the outcome: one stored visit, one
/// sequence number on the card, one upload.
async fn restart_and_check(w: &World, via_begin_visit: bool) {
    let app = open(w.dir.path());
    // The crash left nothing in the store: the visit lives only in the plan and on the card.
    assert!(app.list_visits(10, 0).unwrap().is_empty());
    app.readers()
        .set_transport(ReaderTransport::Loopback(w.addr.clone()))
        .await
        .unwrap();
    app.readers().verify_practitioner_pin(PIN).await.unwrap();

    // The reader is back: reconciliation runs without anyone retrying `finish` — explicitly, or
    // as the next visit begins.
    if via_begin_visit {
        let next = app.begin_visit().await.unwrap();
        assert!(
            next.draft().follow_up,
            "the recovered visit counts as the patient's visit"
        );
    } else {
        let report = app.reconcile_visits().await.unwrap();
        assert_eq!(report.committed, 1, "{report:?}");
        assert_eq!(report.open, 0, "{report:?}");
    }
    let visits = app.list_visits(10, 0).unwrap();
    assert_eq!(visits.len(), 1, "exactly one stored visit");
    assert_eq!(visits[0].sequence_number, "0001");
    let records = w.patient.records();
    assert_eq!(records.len(), 1, "exactly one sequence number on the card");
    assert!(records[0].written);
    assert_eq!(records[0].prescriptions, 1);
    assert_eq!(app.outbox_state().unwrap().counts.queued, 1, "one upload queued");

    // Again (and at the next visit's start): nothing new.
    let again = app.reconcile_visits().await.unwrap();
    assert_eq!((again.committed, again.open), (0, 0));
    let next = app.begin_visit().await.unwrap();
    assert!(
        next.draft().follow_up,
        "the recovered visit counts as the patient's visit"
    );
    drop(next);
    assert_eq!(app.list_visits(10, 0).unwrap().len(), 1);
    assert_eq!(w.patient.records().len(), 1);

    // One upload reaches the NHI.
    let summary = app.sync().drain_once(60_000).await.unwrap();
    assert!(summary.complete, "{summary:?}");
    assert_eq!(w.sim.stored_visit_total(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_right_after_the_card_write_leaves_exactly_one_stored_visit_and_one_sequence_number_after_restart()
 {
    let w = world().await;
    crash_at(&w, "card_written");
    // The card holds the visit, written; the store does not.
    assert_eq!(w.patient.records().len(), 1);
    assert!(w.patient.records()[0].written);
    restart_and_check(&w, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_after_the_signature_before_the_card_write_finishes_with_the_same_sequence_number() {
    let w = world().await;
    crash_at(&w, "signed");
    // The card registered the visit (its number is taken) but holds no diagnoses yet.
    assert_eq!(w.patient.records().len(), 1);
    assert!(!w.patient.records()[0].written);
    restart_and_check(&w, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_before_the_card_is_touched_leaves_the_card_alone_and_the_retry_gives_one_visit() {
    let w = world().await;
    crash_at(&w, "planned");
    assert!(w.patient.records().is_empty(), "the card was not touched");
    let app = open(w.dir.path());
    app.readers()
        .set_transport(ReaderTransport::Loopback(w.addr.clone()))
        .await
        .unwrap();
    app.readers().verify_practitioner_pin(PIN).await.unwrap();
    // Nothing on the card: the intent stays open for the caller, once, and is not read back again.
    let report = app.reconcile_visits().await.unwrap();
    assert_eq!((report.committed, report.open), (0, 1), "{report:?}");
    let again = app.reconcile_visits().await.unwrap();
    assert_eq!((again.committed, again.open), (0, 0), "{again:?}");
    assert!(app.list_visits(10, 0).unwrap().is_empty());
    // The caller retries under the same request id: one visit, one number.
    let v = app.begin_visit().await.unwrap();
    v.add_diagnosis("I10").unwrap();
    let done = v.finish("crash-visit-1").await.unwrap();
    assert_eq!(done.sequence_number, "0001");
    assert_eq!(app.list_visits(10, 0).unwrap().len(), 1);
    assert_eq!(w.patient.records().len(), 1);
    assert_eq!(app.outbox_state().unwrap().counts.queued, 1);
}
