//! Exactly-once under faults: 200 visits captured offline, synced through the VPN simulator with
//! 30% of requests failing in every way it knows (5xx, hangs past the timeout, dropped
//! connections, half bodies, garbage, wrong content type — before or after the server did the
//! work); the server holds each visit exactly once and the app shows every job done.

mod sync_support;

use homevisit_core::sync::{DrainOptions, EventLog, StopReason, SyncConfig, SyncEvent};
use nhi_vpn_sim::FaultConfig;
use sync_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_visits_reach_the_server_exactly_once_through_30_percent_faults() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(FaultConfig::none()).await;
    let client = enrol(&sim).await;
    let store = open_store(dir.path());
    let visits = capture_visits(&store, 200, 40);
    sim.set_faults(FaultConfig {
        seed: 2026,
        failure_rate: 0.3,
        hang_ms: 2_000,
        ..FaultConfig::default()
    });
    // Small batches: many requests, so the 30% failure rate strikes often.
    let (engine, _target) = engine_with(
        store.clone(),
        client,
        SyncConfig {
            batch_size: 4,
            ..test_config()
        },
    );
    let log = EventLog::new();
    let _sub = engine.subscribe(log.clone());
    engine.start_up().unwrap();
    let summary = engine
        .drain(DrainOptions {
            force: false,
            // No time budget: a slow machine takes longer, never fails.
            time_budget_ms: None,
        })
        .await
        .unwrap();
    assert!(summary.complete, "queue drained: {summary:?}");
    assert_eq!(summary.rejected_total, 0);
    assert!(summary.retries > 0, "faults were injected and retried");
    assert!(
        sim.faults_injected() >= 10,
        "30% of requests failed: {}",
        sim.faults_injected()
    );

    // The server holds each visit exactly once.
    for v in &visits {
        assert_eq!(
            sim.stored_visit_count(&v.visit_code),
            1,
            "visit stored exactly once"
        );
    }
    assert_eq!(sim.stored_visit_total(), 200);
    // The app shows all done.
    let counts = engine.counts().unwrap();
    assert_eq!(counts.done, 200, "{counts:?}");
    assert_eq!(counts.remaining(), 0);
    let done_events = log
        .events()
        .iter()
        .filter(|e| matches!(e, SyncEvent::JobDone { .. }))
        .count();
    assert_eq!(done_events, 200);
    // The store marked every visit uploaded within the deadline.
    let deadlines = engine.deadlines().unwrap();
    assert!(deadlines.missed.is_empty() && deadlines.at_risk.is_empty());
    sim.stop().await;
}

/// A visit day: visits captured with no network; the background loop sends nothing while offline
/// and drains the whole queue once connectivity returns, reporting progress; the drain reports
/// complete only at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_drains_when_connectivity_returns() {
    use homevisit_core::platform::{ManualConnectivity, SystemClock};
    use homevisit_core::sync::SyncEngine;
    use homevisit_core::sync::vpn_target::VpnTarget;
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(FaultConfig::none()).await;
    let client = enrol(&sim).await;
    let store = open_store(dir.path());
    let visits = capture_visits(&store, 30, 6);
    let net = ManualConnectivity::new(false);
    let engine = Arc::new(SyncEngine::new(
        store.clone(),
        Arc::new(VpnTarget::new(client)),
        Arc::new(SystemClock),
        net.clone(),
        SyncConfig {
            batch_size: 5,
            ..test_config()
        },
    ));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _sub = engine.subscribe(Arc::new(tx));
    let _bg = engine.spawn(10);
    // A drain while offline stops at once and sends nothing (no sleep: the engine says why).
    let offline = engine.drain(DrainOptions::default()).await.unwrap();
    assert!(!offline.complete);
    assert_eq!(offline.stopped, Some(StopReason::Offline));
    assert_eq!(
        sim.stored_visit_total(),
        0,
        "nothing leaves the phone while offline"
    );
    assert_eq!(engine.counts().unwrap().queued, 30);

    net.set_online(true);
    let mut done = 0;
    let mut drains = Vec::new();
    let wait = async {
        while let Some(e) = rx.recv().await {
            match e {
                SyncEvent::JobDone { .. } => done += 1,
                SyncEvent::Drained(s) => {
                    drains.push(s);
                    if s.complete {
                        break;
                    }
                }
                _ => {}
            }
        }
    };
    // A bound only against a hang: a correct engine drains 30 visits in well under a second.
    tokio::time::timeout(std::time::Duration::from_secs(300), wait)
        .await
        .expect("drained once online");
    assert_eq!(done, 30);
    assert!(
        drains.iter().all(|s| s.complete == (s.remaining == 0)),
        "never complete while work remains"
    );
    for v in &visits {
        assert_eq!(sim.stored_visit_count(&v.visit_code), 1);
    }
    sim.stop().await;
}
