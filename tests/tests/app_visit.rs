//! The visit day through the facade: readers (pair + confirm, a wrong code refused, reconnect
//! without pairing, the reader-state stream), the practitioner PIN (wrong PIN with the tries left,
//! a locked card), and the visit session (online through the VPN simulator's cloud SAM with the
//! card written, offline with F00B, a retried finish giving one visit, a card pulled mid-visit and
//! a reader answering garbage committing nothing). Readers are `nhi_reader_sim` readers over the
//! in-memory transport.

use homevisit_core::app::{
    AppConfig, AppError, HomeVisit, ReaderState, ReaderStateEvent, ReaderStateListener, ReaderTransport,
};
use homevisit_core::model::VisitType;
use homevisit_core::platform::{MemoryKeyStore, SystemClock};
use homevisit_core::reader::ReaderModel;
use homevisit_core::reader::{CardSlot, MemoryTransport};
use homevisit_core::vpn::BindingQr;
use nhi_reader_sim::card::{self, PatientCard};
use nhi_reader_sim::gatt::Tamper;
use nhi_reader_sim::{ReaderConfig, SimReader};
use nhi_vpn_sim::{FaultConfig, FaultKind, SimConfig, VpnSim};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const INSTITUTION: &str = "3501200000";
const PIN: &str = "1234";
/// Only against hangs: no test waits on it to make progress.
const HANG: Duration = Duration::from_secs(20);

struct Day {
    _dir: tempfile::TempDir,
    app: Arc<HomeVisit>,
    reader: SimReader,
    patient: PatientCard,
}

async fn day() -> Day {
    let dir = tempfile::tempdir().unwrap();
    let app = HomeVisit::open(
        AppConfig {
            data_dir: dir.path().to_path_buf(),
            institution_code: INSTITUTION.into(),
            device_id: "phone-1".into(),
        },
        Arc::new(MemoryKeyStore::with_seed(4)),
        Arc::new(SystemClock),
    )
    .unwrap();
    let reader = SimReader::new(ReaderConfig::new(ReaderModel::HvBt200, "0001"));
    let patient = card::demo_patient_card();
    reader.insert(
        CardSlot::Practitioner,
        Box::new(card::PractitionerCard::new(card::demo_practitioner())),
    );
    reader.insert(CardSlot::Patient, Box::new(patient.clone()));
    let transport = MemoryTransport::new();
    transport.add(Arc::new(reader.clone()));
    app.readers()
        .set_transport(ReaderTransport::Custom(Arc::new(transport)))
        .await
        .unwrap();
    Day {
        _dir: dir,
        app: Arc::new(app),
        reader,
        patient,
    }
}

/// Pairs the day's reader, confirming the code its display shows.
async fn pair(d: &Day) {
    let found = d.app.readers().scan(100).await.unwrap();
    let code = d.app.readers().pair(&found[0].id).await.unwrap();
    assert_eq!(Some(code.code.clone()), d.reader.displayed_code());
    assert!(d.reader.press_button(), "the reader's own confirmation");
    d.app.readers().confirm_pairing(&code.code).await.unwrap();
}

struct Events(mpsc::UnboundedSender<ReaderStateEvent>);

impl ReaderStateListener for Events {
    fn on_reader_state(&self, event: &ReaderStateEvent) {
        let _ = self.0.send(event.clone());
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<ReaderStateEvent>) -> ReaderState {
    tokio::time::timeout(HANG, rx.recv())
        .await
        .unwrap()
        .unwrap()
        .state
}

#[tokio::test]
async fn pair_confirm_reconnect_and_the_state_stream() {
    let d = day().await;
    let readers = d.app.readers();
    assert_eq!(
        readers.connect(None).await.unwrap_err(),
        AppError::ReaderNotPaired
    );
    let found = readers.scan(100).await.unwrap();
    assert_eq!(found.len(), 1);
    assert!(!found[0].paired);
    assert_eq!(found[0].model, Some(ReaderModel::HvBt200));

    let (tx, mut rx) = mpsc::unbounded_channel();
    let sub = readers.subscribe(Arc::new(Events(tx)));
    pair(&d).await;
    assert!(d.reader.is_paired_with("phone-1"));
    assert_eq!(readers.paired_readers().unwrap().len(), 1);
    assert!(readers.scan(100).await.unwrap()[0].paired);

    readers.connect(None).await.unwrap();
    assert_eq!(next(&mut rx).await, ReaderState::Connecting);
    assert_eq!(next(&mut rx).await, ReaderState::Ready);
    let pulled = d.reader.remove(CardSlot::Patient).unwrap();
    assert_eq!(next(&mut rx).await, ReaderState::CardRemoved(CardSlot::Patient));
    d.reader.insert(CardSlot::Patient, pulled);
    assert_eq!(next(&mut rx).await, ReaderState::CardInserted(CardSlot::Patient));

    // Out of range: the stream says so; the next operation reconnects without pairing.
    d.reader.drop_link("out of range");
    assert_eq!(next(&mut rx).await, ReaderState::Disconnected);
    readers.verify_practitioner_pin(PIN).await.unwrap();
    assert_eq!(next(&mut rx).await, ReaderState::Connecting);
    assert_eq!(next(&mut rx).await, ReaderState::Ready);
    assert!(readers.is_connected().await);

    // Closed subscription: nothing more arrives.
    sub.cancel();
    readers.disconnect().await;
    assert!(rx.try_recv().is_err());

    readers.forget(&found[0].id).await.unwrap();
    assert!(readers.paired_readers().unwrap().is_empty());
    assert_eq!(
        readers.connect(None).await.unwrap_err(),
        AppError::ReaderNotPaired
    );
}

#[tokio::test]
async fn a_wrong_pairing_code_is_refused_and_nothing_is_kept() {
    let d = day().await;
    let readers = d.app.readers();
    let found = readers.scan(100).await.unwrap();
    let code = readers.pair(&found[0].id).await.unwrap();
    let wrong = if code.code == "000000" { "111111" } else { "000000" };
    let e = readers.confirm_pairing(wrong).await.unwrap_err();
    assert!(
        matches!(&e, AppError::Validation { field, .. } if field == "pairing_code"),
        "{e:?}"
    );
    assert!(readers.paired_readers().unwrap().is_empty());
    assert!(!d.reader.is_paired_with("phone-1"));
    assert_eq!(
        readers.connect(None).await.unwrap_err(),
        AppError::ReaderNotPaired
    );
    // Cancel is clean too, and a fresh pairing then works.
    readers.pair(&found[0].id).await.unwrap();
    readers.cancel_pairing().await;
    assert!(readers.confirm_pairing("123456").await.is_err());
    pair(&d).await;
    readers.connect(None).await.unwrap();
}

#[tokio::test]
async fn wrong_pin_reports_the_tries_left_then_the_card_locks() {
    let d = day().await;
    pair(&d).await;
    let readers = d.app.readers();
    assert_eq!(
        readers.verify_practitioner_pin("0000").await.unwrap_err(),
        AppError::WrongPin { remaining: 2 }
    );
    assert_eq!(
        readers.verify_practitioner_pin("0000").await.unwrap_err(),
        AppError::WrongPin { remaining: 1 }
    );
    assert_eq!(
        readers.verify_practitioner_pin("0000").await.unwrap_err(),
        AppError::CardLocked
    );
    assert_eq!(
        readers.verify_practitioner_pin(PIN).await.unwrap_err(),
        AppError::CardLocked
    );
    assert!(matches!(
        readers.verify_practitioner_pin("12a4").await,
        Err(AppError::Validation { .. })
    ));
    // No verified practitioner: no visit.
    assert!(
        matches!(d.app.begin_visit().await, Err(AppError::Validation { field, .. }) if field == "practitioner")
    );
}

async fn enrolled(d: &Day) -> VpnSim {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let b = sim.new_binding().unwrap();
    assert_eq!(BindingQr::parse(&b.qr).unwrap().institution_code, INSTITUTION);
    d.app.enrol(&b.qr, &b.pin, "tablet").await.unwrap();
    sim
}

#[tokio::test]
async fn online_visit_writes_the_card_and_a_retried_finish_gives_the_same_visit() {
    let d = day().await;
    let _sim = enrolled(&d).await;
    pair(&d).await;
    d.app.readers().verify_practitioner_pin(PIN).await.unwrap();

    let v = d.app.begin_visit().await.unwrap();
    let patient = v.patient();
    assert!(patient.national_id_masked.contains('*'));
    assert!(format!("{patient:?}").contains('*'));
    let draft = v.draft();
    assert!(!draft.follow_up);
    assert_eq!(draft.visit_type, VisitType::WesternOutpatient);
    assert!(matches!(
        v.add_diagnosis("X99.999"),
        Err(AppError::Validation { .. })
    ));
    assert_eq!(v.add_diagnosis("I10").unwrap(), "I10");
    assert_eq!(v.add_diagnosis("e11.9").unwrap(), "E119");
    v.add_drug_order("AC45856100", "1", "TID", "PO", 7).unwrap();
    assert!(v.add_drug_order("AC45856100", "x", "TID", "PO", 7).is_err());
    v.set_note("stable").unwrap();
    v.set_fees(1631, 0).unwrap();

    let first = v.finish("req-1").await.unwrap();
    assert_eq!(first.sequence_number, "0001");
    assert_eq!(first.visit_type, "01");
    let records = d.patient.records();
    assert_eq!(records.len(), 1);
    assert!(records[0].written);
    assert_eq!(records[0].prescriptions, 1);

    // The same request again (the UI retried after a timeout): the same visit, nothing new.
    let again = v.finish("req-1").await.unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(again.visit_code, first.visit_code);
    assert_eq!(d.app.list_visits(10, 0).unwrap().len(), 1);
    assert_eq!(d.patient.records().len(), 1);
    assert_eq!(d.app.outbox_state().unwrap().counts.queued, 1);

    // The next visit of the same patient is a later home-care visit.
    let v2 = d.app.begin_visit().await.unwrap();
    assert!(v2.draft().follow_up);
    assert_eq!(v2.draft().visit_type, VisitType::HomeCareFollowUp);
    assert!(
        matches!(v2.finish("req-2").await, Err(AppError::Validation { field, .. }) if field == "diagnoses")
    );
    v2.add_diagnosis("I10").unwrap();
    let second = v2.finish("req-2").await.unwrap();
    assert_eq!(second.visit_type, "AH");
    assert_ne!(second.id, first.id);
    assert_eq!(d.app.list_visits(10, 0).unwrap().len(), 2);
}

#[tokio::test]
async fn offline_visit_takes_f00b_and_leaves_the_card_alone() {
    let d = day().await;
    let sim = enrolled(&d).await;
    pair(&d).await;
    d.app.readers().verify_practitioner_pin(PIN).await.unwrap();

    d.app.set_online(false);
    let v = d.app.begin_visit().await.unwrap();
    v.add_diagnosis("J449").unwrap();
    let s = v.finish("off-1").await.unwrap();
    assert_eq!(s.sequence_number, "F00B");
    assert!(d.patient.records().is_empty());

    // Online but the VPN is down: the SAM is unreachable, the same abnormal path.
    d.app.set_online(true);
    sim.set_faults(FaultConfig::always(FaultKind::Status503));
    let v = d.app.begin_visit().await.unwrap();
    v.add_diagnosis("J449").unwrap();
    let s = v.finish("off-2").await.unwrap();
    assert_eq!(s.sequence_number, "F00B");
    assert!(d.patient.records().is_empty());
    assert_eq!(d.app.list_visits(10, 0).unwrap().len(), 2);
}

#[tokio::test]
async fn a_card_pulled_mid_visit_commits_nothing_and_the_retry_gives_one_visit() {
    let d = day().await;
    let _sim = enrolled(&d).await;
    pair(&d).await;
    d.app.readers().verify_practitioner_pin(PIN).await.unwrap();
    let v = d.app.begin_visit().await.unwrap();
    v.add_diagnosis("I10").unwrap();

    // Pulled after the sequence number was issued (a few APDUs into the transaction).
    d.reader.remove_card_after(CardSlot::Patient, 6);
    assert_eq!(v.finish("pull-1").await.unwrap_err(), AppError::ReaderUnavailable);
    assert!(d.app.list_visits(10, 0).unwrap().is_empty());
    assert_eq!(d.app.outbox_state().unwrap().counts.queued, 0);

    // Put back: the same request runs the same plan, so the card gives the same number.
    d.reader.insert(CardSlot::Patient, Box::new(d.patient.clone()));
    let s = v.finish("pull-1").await.unwrap();
    assert_eq!(s.sequence_number, "0001");
    assert_eq!(d.app.list_visits(10, 0).unwrap().len(), 1);
    assert_eq!(d.patient.records().len(), 1);

    // A reader answering a forged frame: a typed reader error, nothing committed; the session
    // reconnects on the retry.
    let v = d.app.begin_visit().await.unwrap();
    v.add_diagnosis("I10").unwrap();
    d.reader.tamper_next(Tamper::Forge);
    assert!(matches!(
        v.finish("forged-1").await,
        Err(AppError::Reader { .. } | AppError::ReaderUnavailable)
    ));
    assert_eq!(d.app.list_visits(10, 0).unwrap().len(), 1);
    d.app.readers().verify_practitioner_pin(PIN).await.unwrap();
    let s = v.finish("forged-1").await.unwrap();
    assert_eq!(s.visit_type, "AH");
    assert_eq!(d.app.list_visits(10, 0).unwrap().len(), 2);
}
