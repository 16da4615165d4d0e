//! The card layer over the real reader protocol: paired BLE reader simulator (in memory), secure
//! channel, framing, link model. A full visit transaction with the link dropped at every frame.

mod card_common;

use card_common::*;
use homevisit_core::card::error::{CardError, NhiCode};
use homevisit_core::card::{basic_data, hpc, run_visit};
use homevisit_core::model::{SequenceNumber, VisitType};
use homevisit_core::reader::{
    CardSlot, MemoryPairingStore, MemoryTransport, ReaderClient, ReaderModel, ReaderSession,
};
use nhi_reader_sim::card::{PatientCard, PractitionerCard, demo_patient_card, demo_practitioner};
use nhi_reader_sim::keys::LocalSam;
use nhi_reader_sim::{ReaderConfig, SimReader};
use std::sync::Arc;
use std::time::Duration;

async fn paired_reader() -> (SimReader, ReaderClient) {
    let reader = SimReader::new(ReaderConfig::new(ReaderModel::HvBt200, "0001"));
    let t = MemoryTransport::new();
    t.add(Arc::new(reader.clone()));
    let client = ReaderClient::new(Arc::new(t), Arc::new(MemoryPairingStore::new()), "phone-A");
    let found = client.scan(Duration::from_millis(10)).await.unwrap();
    let pending = client.pair(&found[0]).await.unwrap();
    let code = reader.displayed_code().unwrap();
    assert!(reader.press_button());
    pending.confirm(&code, 0).await.unwrap();
    (reader, client)
}

fn insert_fresh_cards(reader: &SimReader) -> PatientCard {
    let card = demo_patient_card();
    reader.insert(CardSlot::Patient, Box::new(card.clone()));
    reader.insert(
        CardSlot::Practitioner,
        Box::new(PractitionerCard::new(demo_practitioner())),
    );
    card
}

/// Runs the plan, reconnecting after every retryable failure like the app does.
async fn run_reconnecting(
    client: &ReaderClient,
    reader: &SimReader,
    sam: &LocalSam,
    plan: &homevisit_core::card::VisitPlan,
) -> (Result<homevisit_core::card::VisitOutcome, CardError>, u32) {
    let codes = codes();
    let mut failures = 0;
    let mut session: Option<ReaderSession> = None;
    loop {
        if session.is_none() {
            match client.connect(&reader.id()).await {
                Ok(s) => session = Some(s),
                Err(_) if failures < 10 => {
                    failures += 1;
                    continue;
                }
                Err(e) => return (Err(CardError::Reader(e)), failures),
            }
        }
        let Some(s) = session.as_ref() else { continue };
        match run_visit(s, sam, &codes, plan).await {
            Err(e) if e.is_retryable() && failures < 10 => {
                failures += 1;
                session = None;
            }
            other => return (other, failures),
        }
    }
}

#[tokio::test]
async fn operations_over_the_paired_reader() {
    let (reader, client) = paired_reader().await;
    let card = insert_fresh_cards(&reader);
    let session = client.connect(&reader.id()).await.unwrap();
    assert_eq!(basic_data::read(&session).await.unwrap().name, "王小明");
    hpc::open(&session).await.unwrap();
    assert_eq!(
        hpc::verify_pin(&session, "0000").await,
        Err(CardError::WrongPin { remaining: 2 })
    );
    assert_eq!(
        hpc::verify_pin(&session, "0001").await,
        Err(CardError::WrongPin { remaining: 1 })
    );
    assert_eq!(
        hpc::verify_pin(&session, "0002").await,
        Err(CardError::Code(NhiCode::PinLocked))
    );
    let sam = LocalSam::new(SAM_ID);
    let out = run_visit(
        &session,
        &sam,
        &codes(),
        &plan(1, VisitType::WesternOutpatient, "1141123093015"),
    )
    .await
    .unwrap();
    assert!(out.card_written);
    assert_eq!(card.records().len(), 1);

    // Wrong card over the reader: 4033.
    reader.insert(
        CardSlot::Patient,
        Box::new(PractitionerCard::new(demo_practitioner())),
    );
    assert_eq!(
        basic_data::read(&session)
            .await
            .unwrap_err()
            .nhi_code()
            .unwrap()
            .code(),
        4033
    );
    // Card pulled out: 4013 at the next read.
    reader.remove(CardSlot::Patient);
    assert_eq!(
        basic_data::read(&session)
            .await
            .unwrap_err()
            .nhi_code()
            .unwrap()
            .code(),
        4013
    );
}

#[tokio::test]
async fn card_removed_mid_write_over_the_reader() {
    let (reader, client) = paired_reader().await;
    let card = insert_fresh_cards(&reader);
    let sam = LocalSam::new(SAM_ID);
    let p = plan(1, VisitType::WesternOutpatient, "1141123093015");
    let session = client.connect(&reader.id()).await.unwrap();
    // select, basic, challenge, auth, sequence reach the card; the write does not.
    reader.remove_card_after(CardSlot::Patient, 5);
    let err = run_visit(&session, &sam, &codes(), &p).await.unwrap_err();
    assert_eq!(err, CardError::Code(NhiCode::CardRemoved), "{err}");
    assert!(card.records().iter().all(|r| !r.written));
    reader.insert(CardSlot::Patient, Box::new(card.clone()));
    let out = run_visit(&session, &sam, &codes(), &p).await.unwrap();
    assert_eq!(out.sequence, SequenceNumber::Normal(1));
    let recs = card.records();
    assert_eq!(recs.len(), 1);
    assert!(recs[0].written);
    assert_eq!(card.visits_left(), 5);
}

#[tokio::test]
async fn disconnect_at_every_frame_of_a_visit_is_exactly_once() {
    let (reader, client) = paired_reader().await;
    let sam = LocalSam::new(SAM_ID);
    let p = plan(1, VisitType::WesternOutpatient, "1141123093015");

    // Count the frames of one clean transaction (after the secure session is open).
    insert_fresh_cards(&reader);
    let session = client.connect(&reader.id()).await.unwrap();
    let before = reader.stats();
    run_visit(&session, &sam, &codes(), &p).await.unwrap();
    let frames = reader.stats().since(&before).packets();
    drop(session);
    assert!(
        frames >= 14,
        "at least a request and an answer per exchange: {frames}"
    );

    let mut interrupted = 0;
    for n in 1..=frames {
        let card = insert_fresh_cards(&reader);
        let session = client.connect(&reader.id()).await.unwrap();
        reader.disconnect_at_frame(n);
        let first = run_visit(&session, &sam, &codes(), &p).await;
        drop(session);
        let (out, _) = match first {
            Ok(o) => (Ok(o), 0),
            Err(e) => {
                interrupted += 1;
                assert!(e.is_retryable(), "frame {n}: {e}");
                run_reconnecting(&client, &reader, &sam, &p).await
            }
        };
        let out = out.unwrap_or_else(|e| panic!("frame {n}: {e}"));
        assert_eq!(out.sequence, SequenceNumber::Normal(1), "frame {n}");
        let recs = card.records();
        assert_eq!(recs.len(), 1, "frame {n}: exactly one record");
        assert!(recs[0].written && recs[0].prescriptions == 8, "frame {n}");
        assert_eq!(card.visits_left(), 5, "frame {n}: the visit is consumed once");
        assert_eq!(card.last_sequence(), 1, "frame {n}: one sequence number");
    }
    assert_eq!(
        interrupted, frames,
        "every dropped frame interrupted the transaction"
    );
    eprintln!("{frames} frame boundaries checked");
}
