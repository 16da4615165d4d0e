//! The syncing process of the crash-consistency test (`tests/tests/sync_crash.rs`): opens the app
//! store, captures the day's visits a few at a time and syncs after each few, then drains until
//! complete. Every run picks up where the store says the last one stopped.
//!
//! **Fail point.** The child counts the steps of its work as it reaches them — `capture` (a visit
//! built, not yet stored), `commit` (the visit and its job committed), `claim` (jobs marked
//! sending), `send` (a batch about to leave), `ack` (the server's answer received, not yet
//! recorded) and `update` (the answer recorded in the store). With `SYNC_CRASH_AT=N` it writes
//! `crash-at <step> <N>` to stderr when it reaches the N-th step and kills itself with `SIGKILL`,
//! so the test chooses its crash points by progress, never by time.
//!
//! Usage: `sync_crash_child DATA_DIR ENROLMENT_JSON TOTAL_VISITS BASE_MS`

use homevisit_core::model::InstitutionCode;
use homevisit_core::platform::{FileKeyStore, ManualConnectivity, SystemClock};
use homevisit_core::rules::visit_code::VisitCodeGenerator;
use homevisit_core::store::Store;
use homevisit_core::sync::visit_day::{capture, synthetic_visit};
use homevisit_core::sync::vpn_target::VpnTarget;
use homevisit_core::sync::{
    Backoff, CorrectedJob, DeadlineReport, DrainOptions, Job, JobId, JobUpdate, Outbox, OutboxCounts,
    OutboxError, SyncConfig, SyncEngine,
};
use homevisit_core::vpn::{ClientOptions, Enrolment, VpnClient};
use homevisit_e2e::crash::{self, CountingTarget, FailPoint};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Visits captured between two syncs (one: every run soon reaches each kind of step).
const CAPTURE_STEP: u64 = 1;
/// Patients the visits rotate over.
const PATIENTS: u64 = 7;

/// The store's outbox with the fail point around the steps the engine takes on it.
struct CountingOutbox {
    inner: Arc<Store>,
    fp: Arc<FailPoint>,
}

impl Outbox for CountingOutbox {
    fn reset_sending(&self) -> Result<usize, OutboxError> {
        Outbox::reset_sending(self.inner.as_ref())
    }
    fn ready(&self, now_ms: i64, limit: usize) -> Result<Vec<Job>, OutboxError> {
        Outbox::ready(self.inner.as_ref(), now_ms, limit)
    }
    fn next_retry_after(&self, now_ms: i64) -> Result<Option<i64>, OutboxError> {
        Outbox::next_retry_after(self.inner.as_ref(), now_ms)
    }
    fn make_all_due(&self, now_ms: i64) -> Result<usize, OutboxError> {
        Outbox::make_all_due(self.inner.as_ref(), now_ms)
    }
    fn mark_sending(&self, ids: &[JobId]) -> Result<(), OutboxError> {
        Outbox::mark_sending(self.inner.as_ref(), ids)?;
        self.fp.step("claim");
        Ok(())
    }
    fn record(&self, updates: &[JobUpdate]) -> Result<(), OutboxError> {
        Outbox::record(self.inner.as_ref(), updates)?;
        self.fp.step("update");
        Ok(())
    }
    fn counts(&self) -> Result<OutboxCounts, OutboxError> {
        Outbox::counts(self.inner.as_ref())
    }
    fn job(&self, id: &JobId) -> Result<Job, OutboxError> {
        Outbox::job(self.inner.as_ref(), id)
    }
    fn rejected(&self) -> Result<Vec<Job>, OutboxError> {
        Outbox::rejected(self.inner.as_ref())
    }
    fn requeue_corrected(&self, id: &JobId, corrected: CorrectedJob) -> Result<JobId, OutboxError> {
        Outbox::requeue_corrected(self.inner.as_ref(), id, corrected)
    }
    fn deadlines(
        &self,
        now_ms: i64,
        deadline_ms: i64,
        window_ms: i64,
    ) -> Result<DeadlineReport, OutboxError> {
        Outbox::deadlines(self.inner.as_ref(), now_ms, deadline_ms, window_ms)
    }
}

fn main() -> ExitCode {
    crash::child_main("sync_crash_child", |args| async move { run(&args).await })
}

async fn run(args: &[String]) -> Result<(), String> {
    let [dir, enrolment, total, base] = args else {
        return Err("usage: sync_crash_child DATA_DIR ENROLMENT_JSON TOTAL_VISITS BASE_MS".into());
    };
    let fp = Arc::new(FailPoint::from_env("SYNC_CRASH_AT")?);
    let dir = PathBuf::from(dir);
    let total: u64 = total.parse().map_err(|_| "TOTAL_VISITS must be a number")?;
    let base: i64 = base.parse().map_err(|_| "BASE_MS must be a number")?;
    let store = Arc::new(
        Store::open(dir.join("app.db"), &FileKeyStore::new(dir.join("keys"))).map_err(|e| e.to_string())?,
    );
    let enrolment: Enrolment = serde_json::from_slice(&std::fs::read(enrolment).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    // Generous timeouts: a slow or loaded machine must not turn every request into a retry.
    let options = ClientOptions {
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    };
    let client = Arc::new(VpnClient::from_enrolment(enrolment, options).map_err(|e| e.to_string())?);
    let config = SyncConfig {
        batch_size: 4,
        max_in_flight: 2,
        backoff: Backoff {
            base_ms: 10,
            cap_ms: 100,
        },
        ..SyncConfig::default()
    };
    let engine = SyncEngine::new(
        Arc::new(CountingOutbox {
            inner: store.clone(),
            fp: fp.clone(),
        }),
        Arc::new(CountingTarget::new(VpnTarget::new(client), fp.clone())),
        Arc::new(SystemClock),
        ManualConnectivity::new(true),
        config,
    );
    // Work a crash left `sending` goes back to the queue; its idempotency key makes the resend safe.
    engine.start_up().map_err(|e| e.to_string())?;
    let codes = VisitCodeGenerator::new(&[9u8; 32], "crash-test-device").map_err(|e| e.to_string())?;
    let institution = InstitutionCode::parse("3501200000").map_err(|e| e.to_string())?;
    loop {
        // The store is the only memory: the next visit number is the number of visits stored.
        let have = store.count_visits().map_err(|e| e.to_string())?;
        if have >= total {
            break;
        }
        for n in have..(have + CAPTURE_STEP).min(total) {
            let visit = synthetic_visit(&codes, &institution, n % PATIENTS, n, base + n as i64 * 1_000)?;
            fp.step("capture");
            capture(&store, &visit)?;
            fp.step("commit");
        }
        engine
            .drain(DrainOptions {
                force: false,
                time_budget_ms: Some(0),
            })
            .await
            .map_err(|e| e.to_string())?;
    }
    // Drain until nothing is owed: no time budget, so a slow machine only takes longer.
    let summary = engine
        .drain(DrainOptions {
            force: true,
            time_budget_ms: None,
        })
        .await
        .map_err(|e| e.to_string())?;
    if !summary.complete {
        return Err(format!("queue not drained: {summary:?}"));
    }
    println!(
        "complete: {} visits",
        store.count_visits().map_err(|e| e.to_string())?
    );
    Ok(())
}
