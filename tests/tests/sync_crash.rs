//! Crash consistency: the syncing process (`sync_crash_child`) is killed with SIGKILL at 100 points
//! of its progress during capture and sync and started again each time; at the end nothing is lost
//! or duplicated, neither in the app store nor on the server.
//!
//! Crash points are chosen by **progress, not time**: each run is told the step at which to kill
//! itself (`SYNC_CRASH_AT=N`, N drawn from a seeded generator); the child counts the steps it
//! reaches (capture, commit, claim, send, ack, update) and dies by `SIGKILL` at the N-th. A day of
//! `TOTAL` visits takes at least `MIN_DAY_STEPS` steps (capture and commit per visit; a round of at
//! most eight jobs takes one claim and, per batch of at most four, a send, an ack and an update),
//! and a killed run completes fewer than `MAX_STEP` of them, so all `KILLS` kills land while work
//! remains, however fast or slow the machine is.

mod sync_support;

use homevisit_core::platform::FileKeyStore;
use homevisit_core::store::Store;
use homevisit_core::sync::Jitter;
use nhi_vpn_sim::FaultConfig;
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use sync_support::*;

const TOTAL: u64 = 400;
const KILLS: usize = 100;
/// The largest step a run is killed at (the child syncs after each visit, so steps 1–6 of a run
/// are capture, commit, claim, send, ack, update).
const MAX_STEP: u64 = 10;
/// The fewest steps a whole day can take: 2 per visit, 7 per round of 8 jobs.
const MIN_DAY_STEPS: u64 = 2 * TOTAL + TOTAL * 7 / 8;
/// Every kind of step the child reports.
const STEP_KINDS: [&str; 6] = ["capture", "commit", "claim", "send", "ack", "update"];

const _: () = assert!(
    (KILLS as u64) * (MAX_STEP - 1) < MIN_DAY_STEPS,
    "the kills must land while work remains"
);

fn child(dir: &std::path::Path, enrolment: &std::path::Path, base: i64) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sync_crash_child"));
    c.arg(dir)
        .arg(enrolment)
        .arg(TOTAL.to_string())
        .arg(base.to_string())
        .env_remove("SYNC_CRASH_AT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// (visits captured, jobs done) so far.
fn store_progress(dir: &std::path::Path) -> (u64, u64) {
    let store = Store::open(dir.join("app.db"), &FileKeyStore::new(dir.join("keys"))).unwrap();
    (
        store.count_visits().unwrap(),
        store.outbox_counts().unwrap().done as u64,
    )
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
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for run in 1..=KILLS {
        let at = 1 + ((rng.next_unit() * MAX_STEP as f64) as u64).min(MAX_STEP - 1);
        let out = tokio::task::spawn_blocking({
            let mut c = child(dir.path(), &enrolment, base);
            c.env("SYNC_CRASH_AT", at.to_string());
            move || c.output().unwrap()
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGKILL),
            "run {run} (kill at step {at}) was not killed at its fail point: {} {stderr}",
            out.status
        );
        let kind = stderr
            .lines()
            .find_map(|l| l.strip_prefix("crash-at "))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("run {run}: no crash-at line in {stderr}"));
        *by_kind.entry(kind.to_string()).or_default() += 1;
    }
    for kind in STEP_KINDS {
        assert!(
            by_kind.get(kind).copied().unwrap_or(0) > 0,
            "no kill landed at `{kind}`: {by_kind:?}"
        );
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
    assert_eq!(counts.done as u64, TOTAL, "{counts:?}");
    assert_eq!(counts.remaining(), 0);
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
        "crash test: {KILLS} kills by step {by_kind:?}; before the last run {} visits captured, {} synced",
        mid_day.0, mid_day.1
    );
    sim.stop().await;
}
