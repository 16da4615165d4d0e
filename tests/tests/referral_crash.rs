//! A referral opened and sent offline survives a SIGKILL at every point of its way out and is
//! recorded by the platform exactly once when the network returns.
//!
//! The child (`referral_crash_child`) counts its steps — `opened`, `queued`, `marked_sent`,
//! `send`, `ack` — and kills itself with SIGKILL at step N (`REFERRAL_CRASH_AT`), for every N;
//! then it runs again without a fail point and finishes. Crash points by progress, never by time.

use homevisit_core::app::{AppConfig, HomeVisit};
use homevisit_core::platform::{FileKeyStore, SystemClock};
use homevisit_core::referral::{ReferralQuery, SenderState, Side};
use homevisit_core::vpn::BindingQr;
use nhi_vpn_sim::{SimConfig, VpnSim};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::Arc;

/// Every step the child reports, in order.
const STEPS: [&str; 5] = ["opened", "queued", "marked_sent", "send", "ack"];

fn open_app(dir: &std::path::Path, institution: &str) -> HomeVisit {
    HomeVisit::open(
        AppConfig {
            data_dir: dir.to_path_buf(),
            institution_code: institution.into(),
            device_id: "referral-crash-tablet".into(),
        },
        Arc::new(FileKeyStore::new(dir.join("keys"))),
        Arc::new(SystemClock),
    )
    .unwrap()
}

fn child(dir: &std::path::Path, institution: &str, crash_at: Option<usize>) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_referral_crash_child"));
    c.arg(dir)
        .arg(institution)
        .env_remove("REFERRAL_CRASH_AT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(n) = crash_at {
        c.env("REFERRAL_CRASH_AT", n.to_string());
    }
    c.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referral_opened_offline_survives_sigkill_and_is_sent_exactly_once() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    for (i, step) in STEPS.iter().enumerate() {
        let n = i + 1;
        let dir = tempfile::tempdir().unwrap();
        let b = sim.new_binding().unwrap();
        let inst = BindingQr::parse(&b.qr).unwrap().institution_code;
        {
            let app = open_app(dir.path(), &inst);
            assert!(app.enrol(&b.qr, &b.pin, "crash tablet").await.unwrap().enrolled);
        }
        let killed = child(dir.path(), &inst, Some(n));
        let stderr = String::from_utf8_lossy(&killed.stderr);
        assert_eq!(killed.status.signal(), Some(9), "step {n}: {stderr}");
        assert!(stderr.contains(&format!("crash-at {step} {n}")), "{stderr}");
        let finished = child(dir.path(), &inst, None);
        assert!(
            finished.status.success(),
            "step {n}: {}",
            String::from_utf8_lossy(&finished.stderr)
        );
        let app = open_app(dir.path(), &inst);
        let svc = app.referrals();
        let mine = svc.find(Side::Sent, &ReferralQuery::default()).unwrap();
        assert_eq!(mine.len(), 1, "crash at {step}: one referral, never two");
        let r = &mine[0];
        assert_eq!(r.referral.sender_state(), SenderState::Sent, "crash at {step}");
        assert_eq!(
            svc.delivery(&r.id).unwrap().as_deref(),
            Some("done"),
            "crash at {step}"
        );
        let db = sim.state().db();
        assert_eq!(
            nhi_vpn_sim::referral::receipts(&db, &r.referral.number, 1, "submit"),
            1,
            "crash at {step}: recorded exactly once"
        );
        let held = nhi_vpn_sim::referral::load(&db, &r.referral.number)
            .unwrap()
            .unwrap();
        assert_eq!(held.count, 1);
    }
}
