//! The case-drafting process of the HMIC crash test (`tests/tests/hmic_cases.rs`): opens the app
//! in `DATA_DIR` (keys in `DATA_DIR/keys`), offline, creates the sample case application and
//! submits it (queued in the outbox).
//!
//! **Fail point.** The case service tells its hook each step (`created`, `queued`,
//! `marked_submitted`); with `HMIC_CRASH_AT=<step>` the child dies by `SIGKILL` there (reported
//! as `crash-at <step>` on stderr), so the test picks the crash point by progress, never by time.
//!
//! Usage: `hmic_crash_child DATA_DIR INSTITUTION`

use homevisit_core::app::{AppConfig, HomeVisit};
use homevisit_core::hmic::vectors::{SAMPLE_TEAM, sample_on};
use homevisit_core::model::roc::RocDate;
use homevisit_core::platform::{FileKeyStore, SystemClock};
use homevisit_e2e::crash;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    crash::child_main("hmic_crash_child", |args| async move { run(&args) })
}

fn run(args: &[String]) -> Result<(), String> {
    let [dir, institution] = args else {
        return Err("usage: hmic_crash_child DATA_DIR INSTITUTION".into());
    };
    let dir = PathBuf::from(dir);
    let app = HomeVisit::open(
        AppConfig {
            data_dir: dir.clone(),
            institution_code: institution.clone(),
            device_id: "hmic-crash-phone".into(),
        },
        Arc::new(FileKeyStore::new(dir.join("keys"))),
        Arc::new(SystemClock),
    )
    .map_err(|e| e.to_string())?;
    app.set_online(false);
    let kill_at = std::env::var("HMIC_CRASH_AT").ok();
    app.cases().set_step_hook(Some(Arc::new(move |step: &str| {
        if kill_at.as_deref() == Some(step) {
            crash::die_at(step);
        }
    })));
    let today = RocDate::today(&SystemClock).map_err(|e| e.to_string())?.naive();
    let (case, _) = app
        .cases()
        .create(sample_on("", institution, SAMPLE_TEAM, today))
        .map_err(|e| e.to_string())?;
    app.cases()
        .submit(&case.application.id)
        .map_err(|e| e.to_string())?;
    println!("submitted");
    Ok(())
}
