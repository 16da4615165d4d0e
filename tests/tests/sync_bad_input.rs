//! Bad input from the server (garbage, half a body, wrong content type): the client returns a
//! typed error, the engine sorts it as a server failure and keeps every job for a retry (nothing
//! parked as rejected, nothing lost); once the server behaves, each visit is stored exactly once —
//! also when the server had stored the batch before its answer went bad.

mod sync_support;

use homevisit_core::sync::{DrainOptions, EventLog, FailureClass, JobState, StopReason, SyncEvent};
use homevisit_core::vpn::VpnError;
use homevisit_core::vpn::upload_xml::{record_big5, wrap_batch};
use nhi_vpn_sim::{FaultConfig, FaultKind};
use sync_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_half_bodies_and_wrong_content_types_are_retried_and_nothing_is_lost() {
    for (n, kind) in [
        FaultKind::Garbage,
        FaultKind::Truncate,
        FaultKind::WrongContentType,
    ]
    .into_iter()
    .enumerate()
    {
        let dir = tempfile::tempdir().unwrap();
        let sim = start_sim(FaultConfig::none()).await;
        let client = enrol(&sim).await;
        let store = open_store(dir.path());
        let visits = capture_visits(&store, 12, 4);
        sim.set_faults(FaultConfig {
            seed: 40 + n as u64,
            ..FaultConfig::always(kind)
        });

        // The client's own error is typed.
        let probe = wrap_batch(&[record_big5(&visits[0]).unwrap()]);
        let err = client.upload_batch(&probe, "probe-1").await.unwrap_err();
        assert!(matches!(err, VpnError::BadResponse { .. }), "{kind:?}: {err:?}");

        let (engine, _target) = engine(store.clone(), client.clone());
        let log = EventLog::new();
        let _sub = engine.subscribe(log.clone());
        let summary = engine
            .drain(DrainOptions {
                force: false,
                time_budget_ms: Some(300),
            })
            .await
            .unwrap();
        assert!(
            !summary.complete,
            "{kind:?}: never complete while the server answers garbage"
        );
        assert_eq!(summary.stopped, Some(StopReason::TimeBudget));
        assert_eq!(summary.done, 0);
        assert_eq!(
            summary.rejected_total, 0,
            "{kind:?}: bad answers never park a visit as rejected"
        );
        let counts = engine.counts().unwrap();
        assert_eq!(
            counts.remaining(),
            12,
            "{kind:?}: every job still owed: {counts:?}"
        );
        for e in log.events() {
            if let SyncEvent::JobRetry { class, error, .. } = e {
                assert_eq!(class, FailureClass::Server, "{kind:?}: {error}");
                assert!(error.contains("could not be read"), "{kind:?}: {error}");
            }
        }
        // The patients' first visits wait for a retry with the typed error; their later visits
        // stay queued behind them (order per patient).
        let mut waiting = 0;
        for v in &visits {
            let jobs = store.jobs_for_visit(&v.id).unwrap();
            let job = engine.job(&jobs[0].id.as_str().to_string()).unwrap();
            match job.state {
                JobState::WaitingRetry { .. } => {
                    waiting += 1;
                    assert!(job.last_error.unwrap().contains("could not be read"));
                }
                JobState::Queued => {}
                other => panic!("{kind:?}: {other:?}"),
            }
        }
        assert_eq!(waiting, 4, "{kind:?}: one head job per patient was tried");

        // The server recovers: "send now" drains everything, each visit stored exactly once.
        sim.set_faults(FaultConfig::none());
        let summary = engine.send_now().await.unwrap();
        assert!(summary.complete, "{kind:?}: {summary:?}");
        assert_eq!(engine.counts().unwrap().done, 12);
        for v in &visits {
            assert_eq!(sim.stored_visit_count(&v.visit_code), 1, "{kind:?}");
        }
        sim.stop().await;
    }
}
