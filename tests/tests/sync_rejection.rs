//! Server rejection path: a visit with an invalid field is rejected by the simulator's checker,
//! shown with the reason and the field, corrected by the user, re-queued and accepted; the other
//! visits were not held back. The NHI upload-result table lists the invalid row.

mod sync_support;

use homevisit_core::model::InstitutionCode;
use homevisit_core::platform::{ManualConnectivity, SystemClock};
use homevisit_core::store;
use homevisit_core::sync::visit_day::{capture, correct_visit, drain_visit_day, synthetic_visit};
use homevisit_core::sync::{DrainOptions, EventLog, JobState, SyncEvent};
use nhi_vpn_sim::FaultConfig;
use std::sync::Arc;
use sync_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_visit_is_rejected_shown_corrected_and_accepted_without_holding_back_others() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(FaultConfig::none()).await;
    let client = enrol(&sim).await;
    let store = open_store(dir.path());
    let institution = InstitutionCode::parse(INSTITUTION).unwrap();
    let now = now_ms();
    // Visit 0 of patient 0 has a practitioner ID with a wrong check digit (M06); the same
    // patient's next visit and 8 visits of other patients are fine.
    let mut bad = synthetic_visit(&codes(), &institution, 0, 0, now - 7_200_000).unwrap();
    bad.practitioner_id = "A123456780".into();
    let bad_job = capture(&store, &bad).unwrap();
    let mut good = Vec::new();
    for i in 1..10u64 {
        let v = synthetic_visit(
            &codes(),
            &institution,
            i % 5,
            i,
            now - 7_200_000 + i as i64 * 1_000,
        )
        .unwrap();
        capture(&store, &v).unwrap();
        good.push(v);
    }

    let log = EventLog::new();
    let report = drain_visit_day(
        store.clone(),
        client.clone(),
        Arc::new(SystemClock),
        ManualConnectivity::new(true),
        log.clone(),
        test_config(),
        DrainOptions::default(),
    )
    .await
    .unwrap();
    // The rest went through; the drain says the queue holds no more work but one rejection.
    assert_eq!(report.summary.done, 9);
    assert_eq!(report.summary.rejected, 1);
    assert_eq!(report.summary.rejected_total, 1);
    assert!(
        report.summary.complete,
        "nothing else is owed: {:?}",
        report.summary
    );
    for v in &good {
        assert_eq!(sim.stored_visit_count(&v.visit_code), 1);
    }
    assert_eq!(sim.stored_visit_count(&bad.visit_code), 0);
    // The upload-result table has the invalid row with its field and reason.
    assert_eq!(report.table.received, 10);
    assert_eq!(report.table.valid, 9);
    assert_eq!(report.table.invalid, 1);
    let row = &report.table.invalid_rows[0];
    assert_eq!(row.visit_code, bad.visit_code);
    assert_eq!(row.field, "M06");
    assert!(!row.reason.is_empty());

    // The app shows the rejection with the server's reason and per-field error.
    let (engine, _target) = engine(store.clone(), client.clone());
    let rejected = engine.rejected().unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].id, bad_job.as_str());
    assert_eq!(rejected[0].visit_code, bad.visit_code);
    match &rejected[0].state {
        JobState::Rejected(r) => {
            assert!(!r.reason.is_empty());
            assert_eq!(r.fields[0].field, "M06");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert!(log.events().iter().any(
        |e| matches!(e, SyncEvent::JobRejected { visit_code, fields, .. } if *visit_code == bad.visit_code && fields[0].field == "M06")
    ));
    let stored = store.get_job(&bad_job).unwrap();
    assert_eq!(stored.rejection().expect("rejected").fields[0].field, "M06");

    // The user corrects the practitioner ID; the corrected version is re-queued and accepted.
    let mut fixed = bad.clone();
    fixed.practitioner_id = good[0].practitioner_id.clone();
    let new_job = correct_visit(&store, &bad_job, &fixed).unwrap();
    assert_ne!(new_job, bad_job);
    assert_eq!(engine.counts().unwrap().queued, 1);
    let summary = engine.send_now().await.unwrap();
    assert!(summary.complete && summary.done == 1, "{summary:?}");
    assert_eq!(sim.stored_visit_count(&bad.visit_code), 1);
    let fields = sim.stored_visit_fields(&bad.visit_code).unwrap();
    assert!(
        fields.contains(&fixed.practitioner_id),
        "the server holds the corrected record"
    );
    assert_eq!(store.get_job(&new_job).unwrap().state, store::JobState::Done);
    assert_eq!(
        store.get_job(&bad_job).unwrap().state,
        store::JobState::Superseded
    );
    assert_eq!(sim.stored_visit_total(), 10);
    assert!(engine.rejected().unwrap().is_empty());
    assert_eq!(
        store.get_visit(&bad.id).unwrap().visit.practitioner_id,
        fixed.practitioner_id
    );
    sim.stop().await;
}

/// One record the server cannot even parse makes it refuse the whole batch (format 2.0 rule); the
/// engine isolates it, parks it with the server's reason, and the rest of the batch goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_record_refusing_its_batch_is_isolated_and_never_blocks_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(FaultConfig::none()).await;
    let client = enrol(&sim).await;
    let store = open_store(dir.path());
    let institution = InstitutionCode::parse(INSTITUTION).unwrap();
    let visits = capture_visits(&store, 8, 8);
    let broken_visit = synthetic_visit(&codes(), &institution, 99, 99, now_ms() - 3_600_000).unwrap();
    let committed = store
        .commit_visit(
            &broken_visit,
            &[store::NewJob::new(
                store::JobKind::CardUpload,
                "cu-broken-v1",
                b"<REC><MSH><H00>1</H00><BOGUS>x</BOGUS></MSH></REC>".to_vec(),
            )],
        )
        .unwrap();
    let (engine, _target) = engine(store.clone(), client);
    let summary = engine.drain(DrainOptions::default()).await.unwrap();
    assert_eq!(summary.done, 8, "{summary:?}");
    assert_eq!(summary.rejected, 1);
    assert!(summary.complete);
    for v in &visits {
        assert_eq!(sim.stored_visit_count(&v.visit_code), 1);
    }
    let job = store.get_job(&committed.jobs[0]).unwrap();
    assert!(job.rejection().is_some(), "{job:?}");
    assert!(
        job.last_error.unwrap().contains("BOGUS"),
        "the server's reason is kept"
    );
    sim.stop().await;
}
