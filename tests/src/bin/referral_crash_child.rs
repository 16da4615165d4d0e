//! The referral process of the crash test (`tests/tests/referral_crash.rs`): opens the app (already
//! enrolled by the test), and — offline — opens one type `01` referral and sends it (the send is
//! queued), unless the store says that was done; then goes online and drains the outbox until
//! nothing is owed. Every run picks up where the store says the last one stopped.
//!
//! **Fail point.** The child counts the steps it reaches: `opened` (the referral is stored),
//! `queued` (its send job is in the outbox, the sealed copy not yet marked sent), `marked_sent`,
//! `send` (the request is about to leave) and `ack` (the platform's answer is in, not yet recorded).
//! With `REFERRAL_CRASH_AT=N` it writes `crash-at <step> <N>` to stderr at the N-th step and kills
//! itself with `SIGKILL`: crash points by progress, never by time.
//!
//! Usage: `referral_crash_child DATA_DIR INSTITUTION`

use homevisit_core::app::{AppConfig, HomeVisit};
use homevisit_core::platform::{FileKeyStore, ManualConnectivity, SystemClock};
use homevisit_core::referral::vectors::{SIM_LTC_CENTRE, sample_form};
use homevisit_core::referral::{ReferralQuery, ReferralType, SenderState, Side};
use homevisit_core::store::Store;
use homevisit_core::sync::vpn_target::VpnTarget;
use homevisit_core::sync::{DrainOptions, SyncConfig, SyncEngine};
use homevisit_core::vpn::{ClientOptions, VpnClient};
use homevisit_e2e::crash::{self, CountingTarget, FailPoint};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    crash::child_main("referral_crash_child", |args| async move { run(&args).await })
}

/// The app over the test's data directory and file key store.
pub fn open_app(dir: &std::path::Path, institution: &str) -> Result<HomeVisit, String> {
    HomeVisit::open(
        AppConfig {
            data_dir: dir.to_path_buf(),
            institution_code: institution.into(),
            device_id: "referral-crash-tablet".into(),
        },
        Arc::new(FileKeyStore::new(dir.join("keys"))),
        Arc::new(SystemClock),
    )
    .map_err(|e| e.to_string())
}

async fn run(args: &[String]) -> Result<(), String> {
    let [dir, institution] = args else {
        return Err("usage: referral_crash_child DATA_DIR INSTITUTION".into());
    };
    let fp = Arc::new(FailPoint::from_env("REFERRAL_CRASH_AT")?);
    let dir = PathBuf::from(dir);
    {
        let app = open_app(&dir, institution)?;
        app.set_online(false);
        let svc = app.referrals();
        let hook_fp = fp.clone();
        svc.set_step_hook(Some(Arc::new(move |name: &str| hook_fp.step(name))));
        let mine = svc
            .find(Side::Sent, &ReferralQuery::default())
            .map_err(|e| e.to_string())?;
        let id = match mine.as_slice() {
            [] => {
                svc.open(
                    ReferralType::HomeCareToLtc,
                    sample_form(institution, SIM_LTC_CENTRE),
                )
                .map_err(|e| e.to_string())?
                .id
            }
            [one] => one.id.clone(),
            more => return Err(format!("{} referrals stored, expected one", more.len())),
        };
        if svc.get(&id).map_err(|e| e.to_string())?.referral.sender_state() == SenderState::OpenedUnsent {
            svc.send(&id).map_err(|e| e.to_string())?;
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
        Arc::new(CountingTarget::new(VpnTarget::new(Arc::new(client)), fp)),
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
