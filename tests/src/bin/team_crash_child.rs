//! The nurse's process of the team crash test (`tests/tests/team_record.rs`): opens the app
//! (enrolled and refreshed by the test, so the case is cached), and — offline — saves one nurse's
//! visit record with the next visit date proposed from the care plan, unless the device already
//! shows it; then goes online and drains the outbox until nothing is owed. Every run picks up
//! where the store says the last one stopped.
//!
//! **Fail point.** The child counts the steps it reaches: `queued` (the write is in the outbox,
//! the cache not yet written), `cached`, `send` (the request is about to leave) and `ack` (the
//! platform's answer is in, not yet recorded). With `TEAM_CRASH_AT=N` it writes
//! `crash-at <step> <N>` to stderr at the N-th step and kills itself with `SIGKILL`: crash points
//! by progress, never by time.
//!
//! Usage: `team_crash_child DATA_DIR INSTITUTION CASE_ID TAG` (the tag marks this run's record).

use async_trait::async_trait;
use homevisit_core::app::{AppConfig, HomeVisit, RecordInput};
use homevisit_core::model::care::Role;
use homevisit_core::platform::{FileKeyStore, ManualConnectivity, SystemClock};
use homevisit_core::store::Store;
use homevisit_core::sync::vpn_target::VpnTarget;
use homevisit_core::sync::{
    DrainOptions, ItemResult, SyncConfig, SyncEngine, UploadError, UploadItem, UploadTarget,
};
use homevisit_core::vpn::{ClientOptions, VpnClient};
use homevisit_e2e::crash::{self, FailPoint};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// The VPN target with the fail point before a request leaves and after its answer arrives.
struct CountingTarget {
    inner: VpnTarget,
    fp: Arc<FailPoint>,
}

#[async_trait]
impl UploadTarget for CountingTarget {
    async fn upload(&self, items: &[UploadItem]) -> Result<Vec<ItemResult>, UploadError> {
        self.fp.step("send");
        let answer = self.inner.upload(items).await;
        self.fp.step("ack");
        answer
    }
}

fn main() -> ExitCode {
    crash::child_main("team_crash_child", |args| async move { run(&args).await })
}

/// The nurse's record the child writes (the problem text marks it).
pub const PROBLEM: &str = "傷口換藥後滲液減少";

async fn run(args: &[String]) -> Result<(), String> {
    let [dir, institution, case_id, tag] = args else {
        return Err("usage: team_crash_child DATA_DIR INSTITUTION CASE_ID TAG".into());
    };
    let problem = format!("{PROBLEM} #{tag}");
    let fp = Arc::new(FailPoint::from_env("TEAM_CRASH_AT")?);
    let dir = PathBuf::from(dir);
    {
        let app = HomeVisit::open(
            AppConfig {
                data_dir: dir.clone(),
                institution_code: institution.clone(),
                device_id: "team-crash-tablet".into(),
            },
            Arc::new(FileKeyStore::new(dir.join("keys"))),
            Arc::new(SystemClock),
        )
        .map_err(|e| e.to_string())?;
        app.set_online(false);
        let team = app.team();
        let hook_fp = fp.clone();
        team.set_step_hook(Some(Arc::new(move |name: &str| hook_fp.step(name))));
        let file = team.case_file(case_id).map_err(|e| e.to_string())?;
        let mine = file.records.iter().filter(|r| r.problem == problem).count();
        match mine {
            0 => {
                let visit_date = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).ok_or("date")?;
                team.save_record(
                    case_id,
                    RecordInput {
                        id: String::new(),
                        role: Role::Nurse,
                        visit_date,
                        next_visit_date: None,
                        health_status: "生命徵象穩定".into(),
                        problem: problem.clone(),
                        service: "傷口換藥，衛教家屬".into(),
                        visit_code: None,
                    },
                )
                .map_err(|e| e.to_string())?;
            }
            1 => {}
            n => return Err(format!("{n} records of the nurse, expected one")),
        }
    }
    // The network is back: the store's outbox, drained with the kept enrolment.
    let store = Arc::new(
        Store::open(
            dir.join(homevisit_core::app::DATABASE_FILE),
            &FileKeyStore::new(dir.join("keys")),
        )
        .map_err(|e| e.to_string())?,
    );
    let client = VpnClient::load(store.as_ref(), ClientOptions::default())
        .map_err(|e| e.to_string())?
        .ok_or("not enrolled")?;
    let engine = SyncEngine::new(
        store.clone(),
        Arc::new(CountingTarget {
            inner: VpnTarget::new(Arc::new(client)),
            fp,
        }),
        Arc::new(SystemClock),
        ManualConnectivity::new(true),
        SyncConfig::default(),
    );
    engine.start_up().map_err(|e| e.to_string())?;
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
    println!("complete");
    Ok(())
}
