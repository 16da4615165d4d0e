//! What the NHI audits about card-less and emergency visits (issue 14 items 4 and 5), through the
//! facade: a card-less visit out of pocket with its code taken offline and kept pending its card;
//! no chronic prescription on it; its card replacement within 10 working days (committed once,
//! with its upload) and a replacement too late or in a year the calendar does not cover refused
//! with nothing lost; emergency visits with their surcharge brackets at the edges, the 2nd of a
//! doctor for a patient on one day not payable, no indication refused, and the 1-hour upload
//! deadline. The app's clock is a `ManualClock`; the simulator's is real time, never earlier.

use homevisit_core::app::{
    AppConfig, AppError, CardLessPatient, CardLessState, HomeVisit, ReaderTransport, VisitSession,
};
use homevisit_core::platform::{Clock, ManualClock, MemoryKeyStore, SystemClock};
use homevisit_core::reader::{CardSlot, MemoryTransport, ReaderModel};
use homevisit_core::sync::deadline::EMERGENCY_UPLOAD_DEADLINE_MS;
use nhi_reader_sim::card::{self, PatientCard};
use nhi_reader_sim::{ReaderConfig, SimReader};
use nhi_vpn_sim::{SimConfig, VpnSim};
use std::sync::Arc;

const INSTITUTION: &str = "3501200000";
const DAY_MS: i64 = 86_400_000;
const MIN_MS: i64 = 60_000;

struct Day {
    _dir: tempfile::TempDir,
    app: Arc<HomeVisit>,
    clock: Arc<ManualClock>,
    patient: PatientCard,
    reader: SimReader,
    sim: Option<VpnSim>,
}

/// Unix ms of a Taiwan local time.
fn tw(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    chrono::NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_opt(h, mi, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis()
        - 8 * 3_600_000
}

/// A day with a paired reader (the demo patient's card in it), the practitioner's PIN verified;
/// enrolled with the VPN simulator when `online`.
async fn day(online: bool) -> Day {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(SystemClock.now_unix_ms());
    let app = Arc::new(
        HomeVisit::open(
            AppConfig {
                data_dir: dir.path().to_path_buf(),
                institution_code: INSTITUTION.into(),
                device_id: "phone-a".into(),
            },
            Arc::new(MemoryKeyStore::with_seed(14)),
            clock.clone(),
        )
        .unwrap(),
    );
    let sim = if online {
        let sim = VpnSim::start(SimConfig::default()).await.unwrap();
        let b = sim.new_binding().unwrap();
        app.enrol(&b.qr, &b.pin, "tablet").await.unwrap();
        Some(sim)
    } else {
        app.set_online(false);
        None
    };
    let reader = SimReader::new(ReaderConfig::new(ReaderModel::HvBt200, "0001"));
    let patient = card::demo_patient_card();
    reader.insert(
        CardSlot::Practitioner,
        Box::new(card::PractitionerCard::new(card::demo_practitioner())),
    );
    reader.insert(CardSlot::Patient, Box::new(patient.clone()));
    let transport = MemoryTransport::new();
    transport.add(Arc::new(reader.clone()));
    let readers = app.readers();
    readers
        .set_transport(ReaderTransport::Custom(Arc::new(transport)))
        .await
        .unwrap();
    let found = readers.scan(100).await.unwrap();
    let code = readers.pair(&found[0].id).await.unwrap();
    assert!(reader.press_button());
    readers.confirm_pairing(&code.code).await.unwrap();
    readers.verify_practitioner_pin("1234").await.unwrap();
    Day {
        _dir: dir,
        app,
        clock,
        patient,
        reader,
        sim,
    }
}

/// The demo patient (the card in the reader), typed in from an ID document.
fn typed(national_id: &str) -> CardLessPatient {
    CardLessPatient {
        national_id: national_id.into(),
        name: "王小明".into(),
        birth_date: "0290517".into(),
    }
}

/// A card-less visit of the demo patient at `at_ms`, paid 1631 NT$ out of pocket, fee 1631, copay 50.
async fn card_less_visit(d: &Day, at_ms: i64, request: &str) -> String {
    d.clock.set_unix_ms(at_ms);
    let v = d.app.begin_card_less_visit(&typed("A123456789")).unwrap();
    v.add_diagnosis("I10").unwrap();
    v.add_drug_order("AC45856100", "1", "TID", "PO", 7).unwrap();
    v.set_fees(1631, 50).unwrap();
    v.set_out_of_pocket(1631).unwrap();
    v.finish(request).await.unwrap().id
}

#[tokio::test]
async fn card_less_visit_is_out_of_pocket_with_its_code_offline_and_kept_pending_its_card() {
    let d = day(false).await;
    let bad = d.app.begin_card_less_visit(&typed("A123456788")).unwrap_err();
    assert!(
        matches!(&bad, AppError::Validation { field, .. } if field == "national_id"),
        "{bad:?}"
    );
    let v = d.app.begin_card_less_visit(&typed("A123456789")).unwrap();
    assert!(v.patient().national_id_masked.contains('*'));
    v.add_diagnosis("I10").unwrap();
    // What the patient paid must be recorded; nothing is kept before.
    let e = v.finish("cl-1").await.unwrap_err();
    assert!(
        matches!(&e, AppError::Validation { field, .. } if field == "out_of_pocket"),
        "{e:?}"
    );
    v.set_out_of_pocket(1200).unwrap();
    let s = v.finish("cl-1").await.unwrap();
    assert_eq!(s.visit_code.len(), 20, "visit identification code taken offline");
    assert!(!s.card_written);
    assert_eq!(s.sequence_number, "");
    // Retried: the same visit.
    assert_eq!(v.finish("cl-1").await.unwrap().id, s.id);
    // Nothing written to the card, nothing in the visits, nothing uploaded while it waits.
    assert!(d.patient.records().is_empty());
    assert!(d.app.list_visits(10, 0).unwrap().is_empty());
    assert_eq!(d.app.outbox_state().unwrap().counts.queued, 0);
    let listed = d.app.card_less().list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, CardLessState::Pending);
    assert_eq!(listed[0].paid, 1200);
    assert!(listed[0].deadline.is_some());
    // Out of pocket only on a card-less visit.
    let card_visit = d.app.begin_visit().await.unwrap();
    assert!(card_visit.set_out_of_pocket(1).is_err());
}

#[tokio::test]
async fn chronic_prescription_on_a_card_less_visit_is_refused_with_its_own_error() {
    let d = day(true).await;
    let id = card_less_visit(&d, SystemClock.now_unix_ms(), "cl-rx").await;
    let e = d.app.issue_prescription(&id, Some(2), "0912345678").unwrap_err();
    assert_eq!(e, AppError::ChronicRxCardLess);
    assert_eq!(e.code(), "chronic_rx_card_less");
    // Nothing issued, nothing queued, the visit still pending.
    assert_eq!(d.app.outbox_state().unwrap().counts.queued, 0);
    assert_eq!(d.app.card_less().get(&id).unwrap().state, CardLessState::Pending);
}

#[tokio::test]
async fn card_replacement_within_10_working_days_commits_once_with_m12_m49_and_the_refund() {
    let d = day(true).await;
    let now = SystemClock.now_unix_ms();
    let id = card_less_visit(&d, now - 3 * DAY_MS, "cl-r").await;
    let code = d.app.card_less().get(&id).unwrap().visit_code;
    d.clock.set_unix_ms(now);
    // The card pulled mid-transaction: nothing committed, the visit still pending.
    d.reader.remove_card_after(CardSlot::Patient, 6);
    assert_eq!(
        d.app.card_less().replace(&id, "rpl-0").await.unwrap_err(),
        AppError::ReaderUnavailable
    );
    assert!(d.app.list_visits(10, 0).unwrap().is_empty());
    assert_eq!(d.app.card_less().get(&id).unwrap().state, CardLessState::Pending);
    d.reader.insert(CardSlot::Patient, Box::new(d.patient.clone()));
    // Retried under another request id: the first one's plan runs (same sequence number).
    let s = d.app.card_less().replace(&id, "rpl-1").await.unwrap();
    assert_eq!(s.sequence_number, "0001", "the card's sequence number");
    assert_eq!(d.patient.records().len(), 1, "written to the card");
    // Exactly once: the same request, or another one, gives the same visit.
    assert_eq!(d.app.card_less().replace(&id, "rpl-1").await.unwrap().id, s.id);
    assert_eq!(
        d.app.card_less().replace(&id, "rpl-other").await.unwrap().id,
        s.id
    );
    assert_eq!(d.app.list_visits(10, 0).unwrap().len(), 1);
    let stored = d.app.store().get_visit(&s.id).unwrap().visit;
    let r = stored.context.card_replacement.clone().unwrap();
    assert_eq!(r.flag, 2);
    assert_eq!(r.actual_visit_code.as_deref(), Some(code.as_str()));
    assert_eq!(
        r.actual_visited_at.timestamp_millis() / 1000,
        (now - 3 * DAY_MS) / 1000
    );
    assert!(r.actual_visited_at < stored.visited_at, "M49 earlier than M11");
    assert_eq!(r.refund_points, 1631 - 50);
    assert!(stored.context.card_less);
    let view = d.app.card_less().get(&id).unwrap();
    assert_eq!(view.state, CardLessState::Replaced);
    assert_eq!(view.refund_points, Some(1581));
    // The outbox carries the one upload; the simulator stores it once.
    assert_eq!(d.app.outbox_state().unwrap().counts.queued, 1);
    let summary = d.app.sync().drain_once(10_000).await.unwrap();
    assert_eq!(summary.done, 1, "{summary:?}");
    assert_eq!(d.sim.as_ref().unwrap().stored_visit_count(&s.visit_code), 1);
}

#[tokio::test]
async fn card_replacement_after_10_working_days_is_refused_and_nothing_is_lost() {
    let d = day(false).await;
    // Tue 2026-11-10; 10 working days later is Tue 2026-11-24.
    let id = card_less_visit(&d, tw(2026, 11, 10, 10, 0), "cl-late").await;
    d.clock.set_unix_ms(tw(2026, 11, 25, 9, 0));
    let e = d.app.card_less().replace(&id, "rpl-late").await.unwrap_err();
    assert_eq!(
        e,
        AppError::ReplacementTooLate {
            deadline: "2026-11-24".into(),
            brought: "2026-11-25".into()
        }
    );
    assert_eq!(e.code(), "replacement_too_late");
    let view = d.app.card_less().get(&id).unwrap();
    assert_eq!(view.state, CardLessState::Expired);
    assert_eq!(view.paid, 1631);
    assert!(d.patient.records().is_empty());
    assert!(d.app.list_visits(10, 0).unwrap().is_empty());
    // The last allowed day itself is accepted as far as the calendar goes (offline: the card
    // transaction takes the abnormal path).
    d.clock.set_unix_ms(tw(2026, 11, 24, 9, 0));
    let s = d.app.card_less().replace(&id, "rpl-late").await.unwrap();
    assert_eq!(s.sequence_number, "F00B");
}

#[tokio::test]
async fn a_holiday_calendar_that_does_not_cover_the_year_is_a_clear_error() {
    let d = day(false).await;
    let id = card_less_visit(&d, tw(2026, 12, 30, 10, 0), "cl-2027").await;
    assert_eq!(d.app.card_less().get(&id).unwrap().deadline, None);
    d.clock.set_unix_ms(tw(2027, 1, 5, 10, 0));
    let e = d.app.card_less().replace(&id, "rpl-2027").await.unwrap_err();
    assert_eq!(
        e,
        AppError::CalendarNotCovered {
            year: 2027,
            first_year: 2025,
            last_year: 2026
        }
    );
    assert_eq!(d.app.card_less().get(&id).unwrap().state, CardLessState::Pending);
    let v = d.app.begin_visit().await.unwrap();
    let e = v
        .set_emergency(
            &["acute_pain".into()],
            tw(2027, 1, 4, 10, 0),
            tw(2027, 1, 4, 11, 0),
        )
        .unwrap_err();
    assert_eq!(e.code(), "calendar_not_covered");
    assert!(v.draft().emergency.is_none());
}

fn pct(v: &VisitSession, a: i64, b: i64) -> (String, u32) {
    let r = v.set_emergency(&["fever".into()], a, b).unwrap();
    (r.bracket, r.surcharge_percent)
}

#[tokio::test]
async fn emergency_surcharge_brackets_at_their_edges() {
    let d = day(false).await;
    let v = d.app.begin_visit().await.unwrap();
    // Tue 2026-12-01: 16:50–17:10 stays without surcharge.
    assert_eq!(
        pct(&v, tw(2026, 12, 1, 16, 50), tw(2026, 12, 1, 17, 10)),
        ("none".into(), 0)
    );
    // 31 minutes into late night: +70%.
    assert_eq!(
        pct(&v, tw(2026, 12, 1, 21, 30), tw(2026, 12, 1, 22, 31)),
        ("late_night".into(), 70)
    );
    // Exactly 30 minutes is not more than 30: the night's +50%.
    assert_eq!(
        pct(&v, tw(2026, 12, 1, 21, 30), tw(2026, 12, 1, 22, 30)),
        ("night".into(), 50)
    );
    // Sunday 2026-12-06 daytime: +40%.
    assert_eq!(
        pct(&v, tw(2026, 12, 6, 10, 0), tw(2026, 12, 6, 11, 0)),
        ("holiday".into(), 40)
    );
}

#[tokio::test]
async fn emergency_without_an_indication_is_refused_and_the_draft_is_kept() {
    let d = day(false).await;
    let v = d.app.begin_visit().await.unwrap();
    v.set_emergency(
        &["delirium".into()],
        tw(2026, 12, 1, 20, 0),
        tw(2026, 12, 1, 20, 30),
    )
    .unwrap();
    let e = v
        .set_emergency(&[], tw(2026, 12, 1, 20, 0), tw(2026, 12, 1, 20, 30))
        .unwrap_err();
    assert_eq!(e, AppError::EmergencyNoIndication);
    assert_eq!(e.code(), "emergency_no_indication");
    let e = v
        .set_emergency(&["cough".into()], tw(2026, 12, 1, 20, 0), tw(2026, 12, 1, 20, 30))
        .unwrap_err();
    assert!(matches!(&e, AppError::Validation { field, .. } if field == "indications"));
    // The earlier marking is still there.
    assert_eq!(
        v.draft().emergency.unwrap().indications,
        vec!["delirium".to_string()]
    );
}

#[tokio::test]
async fn second_emergency_of_a_doctor_for_a_patient_on_one_day_is_not_payable() {
    let d = day(false).await;
    let first = d.app.begin_visit().await.unwrap();
    first.add_diagnosis("R509").unwrap();
    first
        .set_emergency(&["fever".into()], tw(2026, 12, 1, 20, 0), tw(2026, 12, 1, 20, 40))
        .unwrap();
    let a = first.finish("em-1").await.unwrap();
    let second = d.app.begin_visit().await.unwrap();
    second.add_diagnosis("R509").unwrap();
    second
        .set_emergency(&["fever".into()], tw(2026, 12, 1, 23, 0), tw(2026, 12, 1, 23, 40))
        .unwrap();
    let b = second.finish("em-2").await.unwrap();
    // The next Taiwan day is payable again.
    let third = d.app.begin_visit().await.unwrap();
    third.add_diagnosis("R509").unwrap();
    third
        .set_emergency(&["fever".into()], tw(2026, 12, 2, 0, 30), tw(2026, 12, 2, 1, 0))
        .unwrap();
    let c = third.finish("em-3").await.unwrap();
    let em = |id: &str| {
        d.app
            .store()
            .get_visit(id)
            .unwrap()
            .visit
            .context
            .emergency
            .unwrap()
    };
    assert!(em(&a.id).payable);
    assert_eq!(em(&a.id).surcharge_percent, 50);
    assert!(!em(&b.id).payable);
    assert_eq!(em(&b.id).surcharge_percent, 70);
    assert!(em(&c.id).payable);
    assert_eq!(homevisit_core::app::claim_mark(Some(&em(&a.id))), Some("ECE"));
}

#[tokio::test]
async fn emergency_visit_upload_is_due_within_one_hour() {
    let d = day(false).await;
    let t0 = tw(2026, 12, 1, 21, 0);
    d.clock.set_unix_ms(t0);
    let v = d.app.begin_visit().await.unwrap();
    v.add_diagnosis("R509").unwrap();
    v.set_emergency(&["fever".into()], t0, t0 + 40 * MIN_MS).unwrap();
    let em = v.finish("em-dl").await.unwrap();
    let plain = d.app.begin_visit().await.unwrap();
    plain.add_diagnosis("I10").unwrap();
    plain.finish("plain-dl").await.unwrap();

    d.clock.set_unix_ms(t0 + 30 * MIN_MS);
    let r = d.app.emergency_deadlines().unwrap();
    assert_eq!(r.at_risk.len(), 1);
    assert_eq!(r.at_risk[0].visit_id, em.id);
    assert_eq!(r.at_risk[0].due_at_ms, t0 + EMERGENCY_UPLOAD_DEADLINE_MS);
    assert!(r.missed.is_empty());

    d.clock.set_unix_ms(t0 + EMERGENCY_UPLOAD_DEADLINE_MS + MIN_MS);
    let r = d.app.emergency_deadlines().unwrap();
    assert!(r.at_risk.is_empty());
    assert_eq!(
        r.missed.len(),
        1,
        "only the emergency visit: the plain one has 24 h"
    );
    assert_eq!(r.missed[0].visit_id, em.id);
    // The app's one deadline report holds each visit against its own deadline: the emergency
    // visit missed its hour, the plain one is not at risk of its 24 hours yet.
    let all = d.app.sync().deadlines().unwrap();
    let missed: Vec<_> = all.missed.iter().map(|e| e.visit_id.as_str()).collect();
    assert_eq!(missed, vec![em.id.as_str()]);
    assert_eq!(all.missed[0].due_at_ms, t0 + EMERGENCY_UPLOAD_DEADLINE_MS);
    assert!(all.at_risk.iter().all(|e| e.visit_id != em.id));
}

#[tokio::test]
async fn replacement_of_an_unrecorded_visit_uploads_m12_4_without_an_actual_code() {
    let d = day(false).await;
    d.clock.set_unix_ms(tw(2026, 11, 20, 10, 0));
    // Seen on paper on Mon 2026-11-09: 10 working days end Mon 2026-11-23.
    let v = d
        .app
        .begin_replacement_visit(tw(2026, 11, 9, 15, 0))
        .await
        .unwrap();
    v.add_diagnosis("I10").unwrap();
    v.set_fees(1631, 50).unwrap();
    v.set_out_of_pocket(1631).unwrap();
    let s = v.finish("rpl-paper").await.unwrap();
    let r = d
        .app
        .store()
        .get_visit(&s.id)
        .unwrap()
        .visit
        .context
        .card_replacement
        .unwrap();
    assert_eq!(r.flag, 4);
    assert_eq!(r.actual_visit_code, None);
    assert_eq!(r.refund_points, 1581);
    assert_eq!(r.actual_visited_at.timestamp_millis(), tw(2026, 11, 9, 15, 0));
    // Too late, or in the future: refused before the card is read.
    let e = d
        .app
        .begin_replacement_visit(tw(2026, 11, 2, 15, 0))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "replacement_too_late");
    let e = d
        .app
        .begin_replacement_visit(tw(2026, 11, 21, 15, 0))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, AppError::Validation { field, .. } if field == "brought"),
        "{e:?}"
    );
}

#[tokio::test]
async fn replacement_with_another_patients_card_is_refused_and_the_visit_stays_pending() {
    let d = day(false).await;
    d.clock.set_unix_ms(tw(2026, 11, 20, 10, 0));
    // Typed in as another (valid) ID than the card in the reader.
    let v = d.app.begin_card_less_visit(&typed("B220415378")).unwrap();
    v.add_diagnosis("I10").unwrap();
    v.set_out_of_pocket(500).unwrap();
    let id = v.finish("cl-other").await.unwrap().id;
    let e = d.app.card_less().replace(&id, "rpl-other").await.unwrap_err();
    assert!(
        matches!(&e, AppError::Validation { field, .. } if field == "patient_card"),
        "{e:?}"
    );
    assert_eq!(d.app.card_less().get(&id).unwrap().state, CardLessState::Pending);
    assert!(d.app.list_visits(10, 0).unwrap().is_empty());
    assert!(d.patient.records().is_empty());
    // Unknown visit id.
    assert!(matches!(
        d.app.card_less().replace("nope", "rpl-x").await,
        Err(AppError::NotFound { .. })
    ));
}
