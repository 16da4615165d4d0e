//! The visiting process of the visit crash test (`tests/tests/visit_crash.rs`): opens the app in
//! `DATA_DIR` (keys in `DATA_DIR/keys`, so they outlive the process), connects to the paired reader
//! simulator at `READER_ADDR` over the loopback transport, verifies the practitioner PIN and
//! finishes one online visit under the request id `crash-visit-1`.
//!
//! **Fail point.** The app tells its fail point each step a visit's finish reaches (`planned`,
//! `signed`, `card_written`, `committed`). With `VISIT_CRASH_AT=<step>` the child writes
//! `crash-at <step>` to stderr when it reaches that step and kills itself with `SIGKILL`, so the
//! test picks the crash point by progress, never by time.
//!
//! Usage: `visit_crash_child DATA_DIR READER_ADDR`

use homevisit_core::app::{AppConfig, HomeVisit, ReaderTransport};
use homevisit_core::platform::{FileKeyStore, SystemClock};
use homevisit_e2e::crash;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// The institution of the test's VPN simulator.
pub const INSTITUTION: &str = "3501200000";

fn main() -> ExitCode {
    crash::child_main("visit_crash_child", |args| async move { run(&args).await })
}

/// Dies by `SIGKILL` at `step` when it is the chosen one.
fn fail_point(kill_at: Option<String>) -> Arc<dyn Fn(&str) + Send + Sync> {
    Arc::new(move |step: &str| {
        if kill_at.as_deref() == Some(step) {
            crash::die_at(step);
        }
    })
}

async fn run(args: &[String]) -> Result<(), String> {
    let [dir, reader_addr] = args else {
        return Err("usage: visit_crash_child DATA_DIR READER_ADDR".into());
    };
    let dir = PathBuf::from(dir);
    let app = Arc::new(
        HomeVisit::open(
            AppConfig {
                data_dir: dir.clone(),
                institution_code: INSTITUTION.into(),
                device_id: "crash-phone".into(),
            },
            Arc::new(FileKeyStore::new(dir.join("keys"))),
            Arc::new(SystemClock),
        )
        .map_err(|e| e.to_string())?,
    );
    app.set_fail_point(fail_point(std::env::var("VISIT_CRASH_AT").ok()));
    app.readers()
        .set_transport(ReaderTransport::Loopback(reader_addr.clone()))
        .await
        .map_err(|e| e.to_string())?;
    app.readers()
        .verify_practitioner_pin("1234")
        .await
        .map_err(|e| e.to_string())?;
    let visit = app.begin_visit().await.map_err(|e| e.to_string())?;
    visit.add_diagnosis("I10").map_err(|e| e.to_string())?;
    visit
        .add_drug_order("AC45856100", "1", "TID", "PO", 7)
        .map_err(|e| e.to_string())?;
    visit.set_fees(1631, 0).map_err(|e| e.to_string())?;
    let done = visit.finish("crash-visit-1").await.map_err(|e| e.to_string())?;
    println!("finished {}", done.sequence_number);
    Ok(())
}
