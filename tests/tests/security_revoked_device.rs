//! Issue 11, finding 4 (a stolen phone): once the institution's administrator revokes a device,
//! every VPN device route refuses it — not only the pharmacy's — with its own code, and a device
//! that was not revoked goes on working.

use homevisit_core::app::{AppConfig, AppError, HomeVisit};
use homevisit_core::platform::{MemoryKeyStore, SystemClock};
use nhi_vpn_sim::{SimConfig, VpnSim};
use std::sync::Arc;

fn open(dir: &std::path::Path, device: &str, seed: u8) -> HomeVisit {
    HomeVisit::open(
        AppConfig {
            data_dir: dir.to_path_buf(),
            institution_code: "3501200000".into(),
            device_id: device.into(),
        },
        Arc::new(MemoryKeyStore::with_seed(seed)),
        Arc::new(SystemClock),
    )
    .unwrap()
}

#[tokio::test]
async fn finding4_a_revoked_device_is_refused_by_every_vpn_device_route() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let (stolen_dir, kept_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let stolen = open(stolen_dir.path(), "stolen", 21);
    let kept = open(kept_dir.path(), "kept", 22);
    for (app, name) in [(&stolen, "stolen phone"), (&kept, "kept phone")] {
        let b = sim.new_binding().unwrap();
        app.enrol(&b.qr, &b.pin, name).await.unwrap();
    }
    // Before: both phones read MediCloud (a signed device route of the VPN, not the pharmacy's).
    stolen.medicloud("A123456789").await.unwrap();
    kept.medicloud("A123456789").await.unwrap();

    let device = stolen.enrolment_status().device_id;
    assert!(
        sim.pharmacy().revoke_device(&device).unwrap().is_some(),
        "the administrator revokes the stolen phone"
    );

    let refused = stolen.medicloud("A123456789").await;
    assert!(
        matches!(&refused, Err(AppError::Rejected { code, .. }) if code == "revoked"),
        "a revoked device gets its own refusal, got {refused:?}"
    );
    kept.medicloud("A123456789").await.unwrap();
}
