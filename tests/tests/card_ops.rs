//! Every NHI card operation end to end through the simulated cards (reader without a link).

mod card_common;

use card_common::*;
use homevisit_core::card::error::{CardError, NhiCode};
use homevisit_core::card::records::SequenceForm;
use homevisit_core::card::sam::VisitSignRequest;
use homevisit_core::card::{PatientCard as CorePatientCard, PinState, basic_data, hpc, run_visit};
use homevisit_core::model::{SequenceNumber, Sex, VisitType};
use homevisit_core::reader::{ApduChannel, CardSlot};
use nhi_reader_sim::card::{
    DirectReader, Fault, PatientCard, PractitionerCard, demo_patient_card_in, demo_patients,
    demo_practitioner,
};
use nhi_reader_sim::keys::{KeyHierarchy, LocalSam};
use std::sync::atomic::Ordering;

fn code_of(e: Result<impl std::fmt::Debug, CardError>) -> u16 {
    e.unwrap_err().nhi_code().expect("an NHI code").code()
}

#[tokio::test]
async fn reads_the_public_basic_data() {
    let (reader, _, _) = reader_with_demo_cards();
    let d = basic_data::read(&reader).await.unwrap();
    assert_eq!(d.card_number, "000012345678");
    assert_eq!(d.name, "王小明");
    assert_eq!(d.national_id.expose(), "A123456789");
    assert_eq!(d.sex, Sex::Male);
    assert_eq!(d.birth_date.to_string(), "1940-05-17");
    assert_eq!(d.issue_date.to_string(), "2013-01-08");
    // Every demo patient decodes (valid IDs, Big5 names).
    for p in demo_patients() {
        let r = DirectReader::new();
        let name = p.name.clone();
        r.insert(CardSlot::Patient, Box::new(PatientCard::new(p)));
        assert_eq!(basic_data::read(&r).await.unwrap().name, name);
    }
}

#[tokio::test]
async fn wrong_card_and_no_card() {
    let reader = DirectReader::new();
    assert_eq!(code_of(basic_data::read(&reader).await), 4013);
    assert_eq!(code_of(hpc::open(&reader).await), 4014);
    // A practitioner card where the patient card is expected: 4033.
    reader.insert(
        CardSlot::Patient,
        Box::new(PractitionerCard::new(demo_practitioner())),
    );
    assert_eq!(code_of(basic_data::read(&reader).await), 4033);
    reader.insert(
        CardSlot::Practitioner,
        Box::new(nhi_reader_sim::card::demo_patient_card()),
    );
    assert_eq!(code_of(hpc::open(&reader).await), 4034);
}

#[tokio::test]
async fn wrong_pin_three_times_locks_the_practitioner_card() {
    let (reader, _, hpc_card) = reader_with_demo_cards();
    let who = hpc::open(&reader).await.unwrap();
    assert_eq!(who.national_id, "E124562011");
    assert_eq!(hpc::pin_state(&reader).await.unwrap(), PinState::TriesLeft(3));
    assert_eq!(
        hpc::verify_pin(&reader, "0000").await,
        Err(CardError::WrongPin { remaining: 2 })
    );
    assert_eq!(
        hpc::verify_pin(&reader, "1111").await,
        Err(CardError::WrongPin { remaining: 1 })
    );
    let third = hpc::verify_pin(&reader, "2222").await.unwrap_err();
    assert_eq!(third, CardError::Code(NhiCode::PinLocked));
    assert!(third.to_string().contains("locked"));
    // Locked: even the right PIN is refused.
    assert_eq!(
        hpc::verify_pin(&reader, "1234").await,
        Err(CardError::Code(NhiCode::PinLocked))
    );
    assert_eq!(hpc::pin_state(&reader).await.unwrap(), PinState::Locked);
    assert_eq!(hpc_card.tries_left(), 0);
    // A malformed PIN never reaches the card.
    assert!(matches!(
        hpc::verify_pin(&reader, "12x4").await,
        Err(CardError::Input(_))
    ));
}

#[tokio::test]
async fn right_pin_resets_the_count() {
    let (reader, _, hpc_card) = reader_with_demo_cards();
    hpc::open(&reader).await.unwrap();
    assert!(hpc::verify_pin(&reader, "9999").await.is_err());
    hpc::verify_pin(&reader, "1234").await.unwrap();
    assert_eq!(hpc::pin_state(&reader).await.unwrap(), PinState::Verified);
    assert_eq!(hpc_card.tries_left(), 3);
}

#[tokio::test]
async fn standard_visit_transaction_writes_and_reads_back() {
    let (reader, card, _) = reader_with_demo_cards();
    let sam = LocalSam::new(SAM_ID);
    let p = plan(1, VisitType::WesternOutpatient, "1141123093015");
    let out = run_visit(&reader, &sam, &codes(), &p).await.unwrap();
    assert!(out.card_written && out.abnormal.is_none());
    assert_eq!(out.sequence, SequenceNumber::Normal(1));
    assert_eq!(out.prescription_signatures.len(), 8);
    assert_eq!(
        reader.exchanges(),
        7,
        "select, basic, challenge, auth, sequence, write, read back"
    );
    assert_eq!(sam.calls(), 2, "two cloud-SAM round trips");
    let form = out.form.clone().unwrap();
    let bytes = form.to_bytes().unwrap();
    assert_eq!(bytes.len(), 316);
    assert_eq!(SequenceForm::from_bytes(&bytes).unwrap(), form);
    assert_eq!(&bytes[13..17], b"0001");
    assert_eq!(&bytes[17..27], INSTITUTION.as_bytes());
    assert_eq!(&bytes[283..295], SAM_ID.as_bytes());
    assert_eq!(&bytes[296..316], out.visit_code.as_str().as_bytes());
    // The signature is the genuine SAM's over this visit.
    let req = VisitSignRequest {
        session: String::new(),
        card_proof: [0; 32],
        card_number: "000012345678".into(),
        visit_datetime: "1141123093015".into(),
        sequence_number: "0001".into(),
        institution: INSTITUTION.into(),
        visit_code: out.visit_code.as_str().into(),
        card_mac: [0; 32],
    };
    assert!(LocalSam::check_signature(
        &KeyHierarchy::simulated(),
        SAM_ID,
        &req,
        &form.signature_hex
    ));
    assert_eq!(card.visits_left(), 5);

    // Reads: recent visits, prescriptions, allergies.
    let mut session = CorePatientCard::open(&reader).await.unwrap();
    assert_eq!(
        session.read_visits().await,
        Err(CardError::Code(NhiCode::NotAuthenticated)),
        "reads need the SAM"
    );
    session.authenticate(&sam, true).await.unwrap();
    let visits = session.read_visits().await.unwrap();
    assert_eq!(visits.len(), 1);
    assert_eq!(visits[0].visit_code, out.visit_code);
    assert_eq!(visits[0].body.as_ref().unwrap().diagnoses, vec!["I10", "E119"]);
    let rx = session.read_prescriptions().await.unwrap();
    assert_eq!(rx, p.prescriptions);
    assert_eq!(
        session.read_allergies().await.unwrap(),
        vec!["Penicillin 盤尼西林"]
    );

    // The visit becomes a model::Visit ready for the store.
    let v = out.to_visit(&p.institution, "E124562011", &p.body, "stable".into(), vec![]);
    assert_eq!(v.sequence_number, "0001");
    assert_eq!(v.visit_type, "01");
    assert!(v.card_written && v.abnormal_reason.is_none());
    assert_eq!(v.security_signature.as_deref().map(str::len), Some(256));
    assert_eq!(v.sam_id.as_deref(), Some(SAM_ID));
}

#[tokio::test]
async fn home_care_follow_up_does_not_consume_a_visit() {
    let (reader, card, _) = reader_with_demo_cards();
    let sam = LocalSam::new(SAM_ID);
    run_visit(
        &reader,
        &sam,
        &codes(),
        &plan(1, VisitType::WesternOutpatient, "1141101093015"),
    )
    .await
    .unwrap();
    assert_eq!(card.visits_left(), 5);
    let ah = run_visit(
        &reader,
        &sam,
        &codes(),
        &plan(2, VisitType::HomeCareFollowUp, "1141115100000"),
    )
    .await
    .unwrap();
    assert_eq!(card.visits_left(), 5, "AH is not counted");
    assert_eq!(card.last_sequence(), 1, "AH takes no new sequence number");
    assert_eq!(ah.visit_type.code(), "AH");
    let second = run_visit(
        &reader,
        &sam,
        &codes(),
        &plan(3, VisitType::WesternOutpatient, "1141120100000"),
    )
    .await
    .unwrap();
    assert_eq!(second.sequence, SequenceNumber::Normal(2));
    assert_eq!(card.visits_left(), 4);
}

#[tokio::test]
async fn refusals_carry_their_nhi_codes() {
    let sam = LocalSam::new(SAM_ID);
    let mut exhausted = demo_patients().remove(1);
    exhausted.visits_left = 0;
    let mut uninsured = demo_patients().remove(2);
    uninsured.insured = false;
    let mut cancelled = demo_patients().remove(3);
    cancelled.cancelled = true;
    let mut expired = demo_patients().remove(0);
    expired.expiry_date = "1131231".into();
    for (profile, code) in [
        (exhausted, 5001),
        (uninsured, 9083),
        (cancelled, 5002),
        (expired, 5003),
    ] {
        let reader = DirectReader::new();
        let card = PatientCard::new(profile);
        reader.insert(CardSlot::Patient, Box::new(card.clone()));
        let err = run_visit(
            &reader,
            &sam,
            &codes(),
            &plan(1, VisitType::WesternOutpatient, "1141123093015"),
        )
        .await;
        assert_eq!(code_of(err), code);
        assert!(card.records().is_empty(), "nothing registered on a refused card");
    }
}

#[tokio::test]
async fn a_fake_card_is_refused_and_a_fake_sam_is_refused_by_the_card() {
    let sam = LocalSam::new(SAM_ID);
    let reader = DirectReader::new();
    let fake = PatientCard::with_keys(demo_patients().remove(0), &KeyHierarchy::from_master(b"forger"));
    reader.insert(CardSlot::Patient, Box::new(fake.clone()));
    let p = plan(1, VisitType::WesternOutpatient, "1141123093015");
    let err = run_visit(&reader, &sam, &codes(), &p).await;
    assert_eq!(code_of(err), 4071);
    assert!(
        fake.records().iter().all(|r| !r.written),
        "nothing written to a fake card"
    );
    let mut session = CorePatientCard::open(&reader).await.unwrap();
    assert_eq!(
        session.authenticate(&sam, true).await,
        Err(CardError::Code(NhiCode::CardNotGenuine))
    );

    let (reader, card, _) = reader_with_demo_cards();
    let fake_sam = LocalSam::with_keys(KeyHierarchy::from_master(b"forger"), SAM_ID);
    let err = run_visit(&reader, &fake_sam, &codes(), &p).await;
    assert_eq!(
        code_of(err),
        4071,
        "the genuine card refuses the fake SAM's proof"
    );
    assert!(card.records().is_empty());
    assert_eq!(card.visits_left(), 6);
}

#[tokio::test]
async fn offline_visit_takes_f00b_and_leaves_the_card_alone() {
    let (reader, card, _) = reader_with_demo_cards();
    let sam = FlakySam::new();
    // The host knows it is offline: no SAM call at all.
    let mut p = plan(1, VisitType::HomeCareFollowUp, "1141123093015");
    p.online = false;
    let out = run_visit(&reader, &sam, &codes(), &p).await.unwrap();
    assert_eq!(out.sequence.code(), "F00B");
    assert!(!out.card_written && out.form.is_none());
    assert_eq!(out.visit_code.as_str().len(), 20);
    assert_eq!(out.basic.name, "王小明");
    let v = out.to_visit(&p.institution, "E124562011", &p.body, String::new(), vec![]);
    assert!(v.abnormal_reason.as_deref().unwrap().starts_with("F00B"));
    assert!(!v.card_written && v.security_signature.is_none());
    assert_eq!(sam.inner.calls(), 0);
    // The network is down although the host thought it was up.
    sam.down.store(true, Ordering::SeqCst);
    p.online = true;
    let out = run_visit(&reader, &sam, &codes(), &p).await.unwrap();
    assert_eq!(out.sequence.code(), "F00B");
    assert!(card.records().is_empty() && card.visits_left() == 6);
}

#[tokio::test]
async fn network_lost_after_the_number_gives_a021() {
    let (reader, card, _) = reader_with_demo_cards();
    let sam = FlakySam::new();
    sam.down_at_sign.store(true, Ordering::SeqCst);
    let p = plan(1, VisitType::WesternOutpatient, "1141123093015");
    let out = run_visit(&reader, &sam, &codes(), &p).await.unwrap();
    assert_eq!(out.sequence.code(), "A021");
    assert!(!out.card_written);
    assert!(out.abnormal.unwrap().reason.contains("after"));
    assert!(card.records().iter().all(|r| !r.written), "card not written");
}

#[tokio::test]
async fn cancel_within_24_hours() {
    let (reader, card, _) = reader_with_demo_cards();
    let sam = LocalSam::new(SAM_ID);
    let out = run_visit(
        &reader,
        &sam,
        &codes(),
        &plan(1, VisitType::WesternOutpatient, "1141123093015"),
    )
    .await
    .unwrap();
    assert_eq!(card.visits_left(), 5);
    let mut s = CorePatientCard::open(&reader).await.unwrap();
    s.authenticate(&sam, true).await.unwrap();
    // 25 hours later: too late.
    let late = s
        .cancel_visit(&out.visit_code, VisitType::WesternOutpatient, at("1141124103015"))
        .await;
    assert_eq!(code_of(late), 5032);
    let left = s
        .cancel_visit(&out.visit_code, VisitType::WesternOutpatient, at("1141123180000"))
        .await
        .unwrap();
    assert_eq!(left, 6, "ZA gives the visit back");
    let again = s
        .cancel_visit(&out.visit_code, VisitType::WesternOutpatient, at("1141123180500"))
        .await
        .unwrap();
    assert_eq!(again, 6, "cancelling twice restores only once");
    let recs = s.read_visits().await.unwrap();
    assert!(recs[0].cancelled);
    assert!(s.read_prescriptions().await.unwrap().is_empty());
    let other = codes()
        .generate(
            99,
            &homevisit_core::rules::visit_code::VisitCodeInput {
                person: &out.basic.national_id,
                at: out.visited_at,
                institution: &plan(1, VisitType::WesternOutpatient, "1141123093015").institution,
            },
        )
        .unwrap();
    assert_eq!(
        code_of(
            s.cancel_visit(&other, VisitType::WesternOutpatient, at("1141123180000"))
                .await
        ),
        5022
    );
    assert!(matches!(
        s.cancel_visit(&other, VisitType::CancelZa, at("1141123180000"))
            .await,
        Err(CardError::Input(_))
    ));
}

#[tokio::test]
async fn up_to_sixty_prescriptions() {
    let (reader, _, _) = reader_with_demo_cards();
    let sam = LocalSam::new(SAM_ID);
    let mut p = plan(1, VisitType::WesternOutpatient, "1141123093015");
    let one = p.prescriptions[0].clone();
    p.prescriptions = vec![one.clone(); 60];
    let out = run_visit(&reader, &sam, &codes(), &p).await.unwrap();
    assert_eq!(out.prescription_signatures.len(), 60);
    p.prescriptions = vec![one; 61];
    p.txn_id = [2; 16];
    assert!(matches!(
        run_visit(&reader, &sam, &codes(), &p).await,
        Err(CardError::Input(_))
    ));
}

#[tokio::test]
async fn card_removed_mid_write_leaves_exactly_one_record() {
    for fault in [
        Fault::RemovedBeforeCommit,
        Fault::RemovedAfterCommit,
        Fault::MemoryFailure,
    ] {
        let (reader, card, _) = reader_with_demo_cards();
        let sam = LocalSam::new(SAM_ID);
        let p = plan(1, VisitType::WesternOutpatient, "1141123093015");
        // Take the sequence number, then pull the card during the write.
        let mut s = CorePatientCard::open(&reader).await.unwrap();
        s.authenticate(&sam, false).await.unwrap();
        let code = codes()
            .generate(
                1,
                &homevisit_core::rules::visit_code::VisitCodeInput {
                    person: &s.basic().national_id,
                    at: p.at,
                    institution: &p.institution,
                },
            )
            .unwrap();
        let req = homevisit_core::card::SequenceRequest {
            txn_id: p.txn_id,
            visit_type: p.visit_type,
            newborn: false,
            replacement: false,
            institution: p.institution.clone(),
            at: p.at,
            visit_code: code.clone(),
        };
        s.get_sequence_number(&sam, &req).await.unwrap();
        card.inject(fault);
        let err = s.write_visit(&code, &p.body, &p.prescriptions).await.unwrap_err();
        match fault {
            Fault::MemoryFailure => assert_eq!(err, CardError::Code(NhiCode::WriteFailed)),
            _ => {
                assert_eq!(err, CardError::Code(NhiCode::CardRemoved));
                assert_eq!(err.nhi_code().unwrap().code(), 4081);
                assert!(err.is_retryable());
                // Still out: no card.
                assert_eq!(code_of(basic_data::read(&reader).await), 4013);
            }
        }
        // Put it back and run the same plan again.
        card.reinsert();
        let (out, _) = run_with_retries(&reader, &card, &sam, &p).await;
        let out = out.unwrap();
        assert_eq!(out.sequence, SequenceNumber::Normal(1));
        let recs = card.records();
        assert_eq!(recs.len(), 1, "{fault:?}");
        assert!(recs[0].written);
        assert_eq!(recs[0].prescriptions, 8);
        assert_eq!(card.visits_left(), 5, "one visit consumed, not two");
    }
}

#[tokio::test]
async fn disconnect_at_every_exchange_of_a_visit_is_exactly_once() {
    use nhi_reader_sim::card::LinkFault;
    let exchanges = 7;
    for n in 0..exchanges {
        for fault in [LinkFault::DropRequest(n), LinkFault::DropResponse(n)] {
            let (reader, card, _) = reader_with_demo_cards();
            let sam = LocalSam::new(SAM_ID);
            let p = plan(1, VisitType::WesternOutpatient, "1141123093015");
            reader.arm(fault);
            let (out, failures) = run_with_retries(&reader, &card, &sam, &p).await;
            let out = out.unwrap_or_else(|e| panic!("{fault:?}: {e}"));
            assert_eq!(failures, 1, "{fault:?}");
            assert_eq!(out.sequence, SequenceNumber::Normal(1), "{fault:?}");
            let recs = card.records();
            assert_eq!(recs.len(), 1, "{fault:?}: exactly one record");
            assert!(recs[0].written && recs[0].prescriptions == 8, "{fault:?}");
            assert_eq!(card.visits_left(), 5, "{fault:?}: the number is consumed once");
            assert_eq!(card.last_sequence(), 1, "{fault:?}");
        }
    }
}

#[tokio::test]
async fn what_is_written_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sam = LocalSam::new(SAM_ID);
    let p = plan(1, VisitType::WesternOutpatient, "1141123093015");
    let code = {
        let reader = DirectReader::new();
        let card = demo_patient_card_in(dir.path(), 0).unwrap();
        reader.insert(CardSlot::Patient, Box::new(card));
        run_visit(&reader, &sam, &codes(), &p).await.unwrap().visit_code
    };
    // A later run: a fresh simulator over the same state directory.
    let reader = DirectReader::new();
    let card = demo_patient_card_in(dir.path(), 0).unwrap();
    reader.insert(CardSlot::Patient, Box::new(card.clone()));
    let mut s = CorePatientCard::open(&reader).await.unwrap();
    s.authenticate(&sam, true).await.unwrap();
    let (record, entries) = s.read_visit(&code).await.unwrap();
    assert_eq!(record.sequence, SequenceNumber::Normal(1));
    assert_eq!(entries, p.prescriptions);
    assert_eq!(card.visits_left(), 5);
    // The retry of the same transaction in the later run still consumes nothing.
    let again = run_visit(&reader, &sam, &codes(), &p).await.unwrap();
    assert_eq!(again.visit_code, code);
    assert_eq!(card.records().len(), 1);
    assert_eq!(card.visits_left(), 5);
    let _ = reader.card_present(CardSlot::Patient).await.unwrap();
}
