//! The syncing process of the crash-consistency test (`tests/tests/sync_crash.rs`): opens the app
//! store, captures the day's visits a few at a time and syncs after each few, then drains until
//! complete. The test kills it with SIGKILL at random points and starts it again; every run picks
//! up where the store says the last one stopped.
//!
//! Usage: `sync_crash_child DATA_DIR ENROLMENT_JSON TOTAL_VISITS BASE_MS`

use homevisit_core::model::InstitutionCode;
use homevisit_core::platform::{FileKeyStore, ManualConnectivity, SystemClock};
use homevisit_core::rules::visit_code::VisitCodeGenerator;
use homevisit_core::store::Store;
use homevisit_core::sync::visit_day::{capture, synthetic_visit};
use homevisit_core::sync::vpn_target::VpnTarget;
use homevisit_core::sync::{Backoff, DrainOptions, SyncConfig, SyncEngine};
use homevisit_core::vpn::{ClientOptions, Enrolment, VpnClient};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Visits captured between two syncs.
const CAPTURE_STEP: u64 = 3;
/// Patients the visits rotate over.
const PATIENTS: u64 = 7;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sync_crash_child: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &[String]) -> Result<(), String> {
    let [dir, enrolment, total, base] = args else {
        return Err("usage: sync_crash_child DATA_DIR ENROLMENT_JSON TOTAL_VISITS BASE_MS".into());
    };
    let dir = PathBuf::from(dir);
    let total: u64 = total.parse().map_err(|_| "TOTAL_VISITS must be a number")?;
    let base: i64 = base.parse().map_err(|_| "BASE_MS must be a number")?;
    let store = Arc::new(
        Store::open(dir.join("app.db"), &FileKeyStore::new(dir.join("keys"))).map_err(|e| e.to_string())?,
    );
    let enrolment: Enrolment = serde_json::from_slice(&std::fs::read(enrolment).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let options = ClientOptions {
        timeout: Duration::from_millis(800),
        connect_timeout: Duration::from_millis(800),
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
        store.clone(),
        Arc::new(VpnTarget::new(client)),
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
            capture(&store, &visit)?;
        }
        engine
            .drain(DrainOptions {
                force: false,
                time_budget_ms: Some(0),
            })
            .await
            .map_err(|e| e.to_string())?;
    }
    let summary = engine
        .drain(DrainOptions {
            force: true,
            time_budget_ms: Some(30_000),
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
