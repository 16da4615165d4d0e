//! Crash consistency: the syncing process (`sync_crash_child`) is killed with SIGKILL at 100 random
//! points during capture and sync and started again each time; at the end nothing is lost or
//! duplicated, neither in the app store nor on the server.

mod sync_support;

use homevisit_core::platform::FileKeyStore;
use homevisit_core::store::Store;
use homevisit_core::sync::Jitter;
use nhi_vpn_sim::FaultConfig;
use std::process::{Command, Stdio};
use std::time::Duration;
use sync_support::*;

const TOTAL: u64 = 400;
const KILLS: usize = 100;

fn child(dir: &std::path::Path, enrolment: &std::path::Path, base: i64) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sync_crash_child"));
    c.arg(dir)
        .arg(enrolment)
        .arg(TOTAL.to_string())
        .arg(base.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// (visits captured, jobs done) so far.
fn store_progress(dir: &std::path::Path) -> (u64, u64) {
    let store = Store::open(dir.join("app.db"), &FileKeyStore::new(dir.join("keys"))).unwrap();
    (store.count_visits().unwrap(), store.outbox_counts().unwrap().done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_100_random_points_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(FaultConfig::none()).await;
    let client = enrol(&sim).await;
    let enrolment = dir.path().join("enrolment.json");
    std::fs::write(&enrolment, serde_json::to_vec(client.enrolment()).unwrap()).unwrap();
    // Create the keys and the schema once, so a kill cannot land in key creation.
    drop(
        Store::open(
            dir.path().join("app.db"),
            &FileKeyStore::new(dir.path().join("keys")),
        )
        .unwrap(),
    );
    // Some requests fail too, so kills also land in retries.
    sim.set_faults(FaultConfig {
        seed: 77,
        failure_rate: 0.1,
        hang_ms: 300,
        ..FaultConfig::default()
    });
    let base = now_ms() - 2 * 3_600_000;
    let mut rng = Jitter::seeded(0x5eed);
    let mut killed = 0;
    let mut finished_early = 0;
    let mut runs = 0;
    while killed < KILLS {
        runs += 1;
        assert!(
            runs <= 3 * KILLS,
            "the day finished before {KILLS} kills ({killed} so far)"
        );
        let mut c = child(dir.path(), &enrolment, base).spawn().unwrap();
        let delay = 3 + (rng.next_unit() * 60.0) as u64;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        match c.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success(), "the child failed on its own: {status}");
                finished_early += 1;
            }
            None => {
                c.kill().unwrap(); // SIGKILL
                c.wait().unwrap();
                killed += 1;
            }
        }
    }
    let mid_day = store_progress(dir.path());
    assert!(
        mid_day.0 < TOTAL || mid_day.1 < TOTAL,
        "the kills landed while work remained"
    );
    // A last run without a kill completes the day.
    let out = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        let enrolment = enrolment.clone();
        move || child(&dir, &enrolment, base).output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "final run: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let store = Store::open(
        dir.path().join("app.db"),
        &FileKeyStore::new(dir.path().join("keys")),
    )
    .unwrap();
    assert_eq!(
        store.count_visits().unwrap(),
        TOTAL,
        "no visit lost or captured twice"
    );
    let counts = store.outbox_counts().unwrap();
    assert_eq!(counts.done, TOTAL, "{counts:?}");
    assert_eq!(counts.pending(), 0);
    let visits = store.list_visits(TOTAL as u32 + 10, 0).unwrap();
    let mut codes: Vec<&str> = visits.iter().map(|v| v.visit.visit_code.as_str()).collect();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), TOTAL as usize, "every visit has its own code");
    for code in &codes {
        assert_eq!(
            sim.stored_visit_count(code),
            1,
            "stored exactly once on the server"
        );
    }
    assert_eq!(sim.stored_visit_total(), TOTAL);
    eprintln!(
        "crash test: {killed} kills, {finished_early} runs finished before their kill; \
         before the last run {} visits captured, {} synced",
        mid_day.0, mid_day.1
    );
    sim.stop().await;
}
