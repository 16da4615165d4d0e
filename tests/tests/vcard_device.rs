//! The virtual NHI card through the facade, against the VPN simulator's virtual-card service: one
//! test per lifecycle rule on the device (the app's clock is a `ManualClock`; the simulator's
//! virtual-card clock is moved by hand, never waited on).

use homevisit_core::app::{
    AppConfig, AppError, AssistedApplication, CardInput, ConsentState, HomeVisit, VisitDetails,
};
use homevisit_core::platform::{ManualClock, MemoryKeyStore};
use homevisit_core::reader::CardSlot;
use nhi_reader_sim::SimReader;
use nhi_reader_sim::card;
use nhi_vpn_sim::{FaultConfig, FaultKind, SimConfig, VpnSim};
use std::sync::Arc;

mod rx_common;

const INSTITUTION: &str = "3501200000";
/// Demo patient 2: holds a virtual card in the simulator (and no physical card here).
const PATIENT: &str = "B220415378";
const FIVE_MIN: i64 = 5 * 60 * 1000;

struct Day {
    _dir: tempfile::TempDir,
    app: Arc<HomeVisit>,
    clock: Arc<ManualClock>,
    sim: VpnSim,
    reader: SimReader,
}

async fn day() -> Day {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(homevisit_core::platform::Clock::now_unix_ms(
        &homevisit_core::platform::SystemClock,
    ));
    let app = Arc::new(
        HomeVisit::open(
            AppConfig {
                data_dir: dir.path().to_path_buf(),
                institution_code: INSTITUTION.into(),
                device_id: "phone-v".into(),
            },
            Arc::new(MemoryKeyStore::with_seed(7)),
            clock.clone(),
        )
        .unwrap(),
    );
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let b = sim.new_binding().unwrap();
    app.enrol(&b.qr, &b.pin, "tablet").await.unwrap();
    // The practitioner's card identifies who sees the patient (M06).
    let reader = rx_common::verified_practitioner(&app).await;
    Day {
        _dir: dir,
        app,
        clock,
        sim,
        reader,
    }
}

/// The patient's app shows a QR (the simulator's "patient app").
/// The patient's app shows a QR issued at the device's (virtual) now: the device's expiry checks are
/// then exact to the millisecond whatever the machine's speed, and the NHI's clock (real time, never
/// earlier than the device's start) can only be later.
fn patient_qr(d: &Day) -> String {
    use homevisit_core::platform::Clock;
    d.sim
        .state()
        .vcard
        .issue_qr(PATIENT, d.clock.now_unix_ms())
        .unwrap()
        .0
}

/// The patient taps "同意".
fn patient_agrees(d: &Day, qr: &str) {
    d.sim.state().vcard.answer(qr, true).unwrap();
}

#[tokio::test]
async fn vcard_visit_gets_a_v_sequence_number_and_its_upload_is_accepted() {
    let d = day().await;
    let vc = d.app.virtual_card();
    let qr = patient_qr(&d);
    let scan = vc.scan(&qr).await.unwrap();
    assert_eq!(
        vc.consent_state(&scan.session).await.unwrap(),
        ConsentState::Pending
    );
    patient_agrees(&d, &qr);
    assert_eq!(
        vc.consent_state(&scan.session).await.unwrap(),
        ConsentState::Granted
    );
    let v = vc.begin_visit(&scan.session).await.unwrap();
    assert_eq!(v.patient().national_id_masked, "B22*****78");
    v.add_diagnosis("I10").unwrap();
    v.add_drug_order("AC45856100", "1", "TID", "PO", 7).unwrap();
    v.set_fees(1631, 0).unwrap();
    let s = v.finish("vc-1").await.unwrap();
    assert!(s.sequence_number.starts_with('V'), "{}", s.sequence_number);
    assert_eq!(s.sequence_number, "V001");
    assert!(!s.card_written);
    assert_eq!(s.abnormal_reason, None);
    // A retry is the same visit (same V number, one visit).
    assert_eq!(v.finish("vc-1").await.unwrap().id, s.id);
    assert_eq!(d.app.list_visits(10, 0).unwrap().len(), 1);

    let sync = d.app.sync();
    let drained = sync.drain_once(0).await.unwrap();
    assert_eq!((drained.done, drained.rejected), (1, 0), "{drained:?}");
    let fields = d.sim.stored_visit_fields(&s.visit_code).unwrap();
    let fields: serde_json::Value = serde_json::from_str(&fields).unwrap();
    assert_eq!(fields["M13"], "V001");
    assert_eq!(fields["M01"], nhi_vpn_sim::vcard::SIGNER_ID);
    assert_eq!(fields["M12"], "1");
    assert_eq!(fields["M03"], PATIENT);
    assert_eq!(fields["M14"].as_str().unwrap().len(), 256);
}

#[tokio::test]
async fn vcard_visit_writes_no_card() {
    let d = day().await;
    // A physical card sits in the patient slot: the virtual-card visit must not touch it.
    let physical = card::demo_patient_card();
    d.reader.insert(CardSlot::Patient, Box::new(physical.clone()));
    let vc = d.app.virtual_card();
    let qr = patient_qr(&d);
    let scan = vc.scan(&qr).await.unwrap();
    patient_agrees(&d, &qr);
    let v = vc.begin_visit(&scan.session).await.unwrap();
    v.add_diagnosis("I10").unwrap();
    let s = v.finish("vc-nw").await.unwrap();
    assert!(!s.card_written);
    assert!(physical.records().is_empty());
}

#[tokio::test]
async fn vcard_qr_expires_after_5_minutes() {
    let d = day().await;
    let vc = d.app.virtual_card();
    // A first scan teaches the device the NHI's key (so it can judge QRs itself).
    let first = patient_qr(&d);
    vc.scan(&first).await.unwrap();

    // On the device: the app's clock passes 5 min + 1 s; refused before asking the NHI.
    let qr = patient_qr(&d);
    d.clock.advance_ms(FIVE_MIN + 1000);
    assert!(matches!(
        vc.scan(&qr).await,
        Err(AppError::VcardExpired { expired_at_ms }) if expired_at_ms > 0
    ));
    d.clock.advance_ms(-(FIVE_MIN + 1000));

    // On the NHI: its clock passes 5 min + 1 s while the device's did not.
    let qr = patient_qr(&d);
    d.sim.state().vcard.advance_clock_ms(FIVE_MIN + 1000);
    assert!(matches!(vc.scan(&qr).await, Err(AppError::VcardExpired { .. })));
}

#[tokio::test]
async fn vcard_qr_is_single_use() {
    let d = day().await;
    let vc = d.app.virtual_card();
    let qr = patient_qr(&d);
    vc.scan(&qr).await.unwrap();
    // The device remembers it: refused even with no network (not "needs network").
    assert_eq!(vc.scan(&qr).await.unwrap_err(), AppError::VcardUsed);
    d.app.set_online(false);
    assert_eq!(vc.scan(&qr).await.unwrap_err(), AppError::VcardUsed);
    d.app.set_online(true);
    // Another device (no memory of it) is refused by the NHI with the same code.
    let other_dir = tempfile::tempdir().unwrap();
    let other = Arc::new(
        HomeVisit::open(
            AppConfig {
                data_dir: other_dir.path().to_path_buf(),
                institution_code: INSTITUTION.into(),
                device_id: "phone-w".into(),
            },
            Arc::new(MemoryKeyStore::with_seed(8)),
            d.clock.clone(),
        )
        .unwrap(),
    );
    let b = d.sim.new_binding().unwrap();
    other.enrol(&b.qr, &b.pin, "tablet-2").await.unwrap();
    assert_eq!(
        other.virtual_card().scan(&qr).await.unwrap_err(),
        AppError::VcardUsed
    );
    // Expired and reused are told apart.
    let late = patient_qr(&d);
    d.clock.advance_ms(FIVE_MIN + 1000);
    let expired = vc.scan(&late).await.unwrap_err();
    let reused = vc.scan(&qr).await.unwrap_err();
    assert_ne!(expired.code(), reused.code());
    assert_eq!((expired.code(), reused.code()), ("vcard_expired", "vcard_used"));
}

#[tokio::test]
async fn vcard_qr_forged_is_refused() {
    let d = day().await;
    let vc = d.app.virtual_card();
    let genuine = patient_qr(&d);
    // One character changed: the NHI's signature no longer holds.
    let mut forged: Vec<char> = genuine.chars().collect();
    let i = 12;
    forged[i] = if forged[i] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    assert_eq!(vc.scan(&forged).await.unwrap_err(), AppError::VcardForged);
    assert_eq!(vc.scan("not a qr").await.unwrap_err(), AppError::VcardForged);
    // The genuine one still works (the forgery did not burn it).
    vc.scan(&genuine).await.unwrap();
    // With the NHI's key kept, the device tells a forgery even with no network.
    let other = patient_qr(&d);
    let mut bytes: Vec<char> = other.chars().collect();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == 'A' { 'B' } else { 'A' };
    let forged: String = bytes.into_iter().collect();
    d.app.set_online(false);
    assert_eq!(vc.scan(&forged).await.unwrap_err(), AppError::VcardForged);
    // …and an expired one by its own clock.
    d.clock.advance_ms(FIVE_MIN + 1000);
    assert!(matches!(
        vc.scan(&other).await,
        Err(AppError::VcardExpired { .. })
    ));
    // A genuine, fresh QR offline: the device says it cannot verify it without the NHI.
    d.clock.advance_ms(-(FIVE_MIN + 1000));
    assert!(matches!(
        vc.scan(&other).await,
        Err(AppError::VcardNeedsNetwork { .. })
    ));
}

#[tokio::test]
async fn vcard_card_data_needs_consent() {
    let d = day().await;
    let vc = d.app.virtual_card();
    let qr = patient_qr(&d);
    let scan = vc.scan(&qr).await.unwrap();
    assert_eq!(
        vc.begin_visit(&scan.session).await.unwrap_err(),
        AppError::VcardNoConsent
    );
    // Refused in the patient's app: still no reading.
    d.sim.state().vcard.answer(&qr, false).unwrap();
    assert_eq!(
        vc.consent_state(&scan.session).await.unwrap(),
        ConsentState::Refused
    );
    assert_eq!(
        vc.begin_visit(&scan.session).await.unwrap_err(),
        AppError::VcardNoConsent
    );
    assert!(d.app.list_visits(10, 0).unwrap().is_empty());
}

#[tokio::test]
async fn vcard_offline_says_so_and_falls_back_to_a020() {
    let d = day().await;
    let vc = d.app.virtual_card();
    let qr = patient_qr(&d);
    d.app.set_online(false);
    let e = vc.scan(&qr).await.unwrap_err();
    assert_eq!(
        e,
        AppError::VcardNeedsNetwork {
            fallback_sequence: "A020".into()
        }
    );
    // The fallback the rules allow: the abnormal path, the patient typed from an ID document.
    let s = vc
        .record_offline_fallback(
            &CardInput {
                card_number: "000023456781".into(),
                name: "陳美玲".into(),
                national_id: PATIENT.into(),
                birth_date: "0340921".into(),
                sex: "F".into(),
                issue_date: "1050612".into(),
            },
            VisitDetails {
                practitioner_id: "E124562011".into(),
                visit_type: "01".into(),
                sequence_number: "0001".into(),
                diagnoses: vec!["I10".into()],
                note: String::new(),
                abnormal_reason: None,
            },
        )
        .unwrap();
    assert_eq!(s.sequence_number, "A020");
    assert!(
        s.abnormal_reason
            .unwrap()
            .contains("virtual NHI card could not be verified")
    );
    assert!(!s.card_written);

    // The NHI down while "online" is the same: say so, never pretend.
    d.app.set_online(true);
    d.sim.set_faults(FaultConfig::always(FaultKind::Status503));
    assert!(matches!(
        vc.scan(&qr).await,
        Err(AppError::VcardNeedsNetwork { .. })
    ));
    d.sim.set_faults(FaultConfig::none());

    // The network drops between consent and finish: A020 with the reason, no V number.
    let qr = patient_qr(&d);
    let scan = vc.scan(&qr).await.unwrap();
    patient_agrees(&d, &qr);
    let v = vc.begin_visit(&scan.session).await.unwrap();
    v.add_diagnosis("I10").unwrap();
    d.app.set_online(false);
    let s = v.finish("vc-off").await.unwrap();
    assert_eq!(s.sequence_number, "A020");
    assert!(s.abnormal_reason.unwrap().contains("V sequence number"));
}

#[tokio::test]
async fn vcard_assisted_application_needs_the_right() {
    let d = day().await;
    let vc = d.app.virtual_card();
    let staff = "E124562011";
    let mut application = AssistedApplication {
        card: CardInput {
            card_number: "000012345678".into(),
            name: "王小明".into(),
            national_id: "A123456789".into(),
            birth_date: "0290517".into(),
            sex: "M".into(),
            issue_date: "1020108".into(),
        },
        staff_id: staff.into(),
        photo_confirmed: true,
        id_document_confirmed: true,
        audit_code: "VC12345678".into(),
    };
    assert!(!format!("{application:?}").contains("A123456789"));
    assert_eq!(
        vc.assist_application(&application).await.unwrap_err(),
        AppError::VcardNoRight
    );
    let audit = d.sim.state().vcard.grant_right(INSTITUTION, vec![staff.into()]);
    assert!(matches!(
        vc.assist_application(&application).await,
        Err(AppError::Rejected { code, field: Some(f), .. }) if code == "vcard_bad_audit_code" && f == "audit_code"
    ));
    application.audit_code = audit;
    application.photo_confirmed = false;
    assert!(matches!(
        vc.assist_application(&application).await,
        Err(AppError::Validation { field, .. }) if field == "photo_confirmed"
    ));
    application.photo_confirmed = true;
    application.staff_id = "B220415378".into();
    assert!(matches!(
        vc.assist_application(&application).await,
        Err(AppError::Rejected { code, .. }) if code == "vcard_not_designated"
    ));
    application.staff_id = staff.into();
    assert!(!d.sim.state().vcard.has_card("A123456789"));
    vc.assist_application(&application).await.unwrap();
    assert!(d.sim.state().vcard.has_card("A123456789"));
}
