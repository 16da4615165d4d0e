//! Shared set-up of the sync acceptance tests: a simulator on loopback, an enrolled client, an app
//! store with captured visits, and an engine over both.
#![allow(dead_code)]

use homevisit_core::model::{InstitutionCode, Visit};
use homevisit_core::platform::{ManualConnectivity, MemoryKeyStore, SystemClock};
use homevisit_core::rules::visit_code::VisitCodeGenerator;
use homevisit_core::store::Store;
use homevisit_core::sync::visit_day::{capture, synthetic_visit};
use homevisit_core::sync::vpn_target::VpnTarget;
use homevisit_core::sync::{Backoff, SyncConfig, SyncEngine};
use homevisit_core::vpn::{BindingQr, ClientOptions, VpnClient};
use nhi_vpn_sim::{FaultConfig, SimConfig, VpnSim};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The simulator's institution.
pub const INSTITUTION: &str = "3501200000";

/// A simulator on 127.0.0.1 with `faults`.
pub async fn start_sim(faults: FaultConfig) -> VpnSim {
    VpnSim::start(SimConfig {
        faults,
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// Client options for tests: short timeouts so hung requests fail fast.
pub fn client_options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_millis(800),
        connect_timeout: Duration::from_millis(800),
        ..ClientOptions::default()
    }
}

/// A client enrolled with `sim` (enrolment runs with the faults off).
pub async fn enrol(sim: &VpnSim) -> Arc<VpnClient> {
    let b = sim.new_binding().expect("binding");
    let qr = BindingQr::parse(&b.qr).expect("QR-2");
    Arc::new(
        VpnClient::enrol(&qr, &b.pin, "sync test device", client_options())
            .await
            .expect("enrolment"),
    )
}

/// The app store in `dir`.
pub fn open_store(dir: &Path) -> Arc<Store> {
    Arc::new(Store::open(dir.join("app.db"), &MemoryKeyStore::with_seed(5)).expect("store opens"))
}

/// The visit-code generator of the test device.
pub fn codes() -> VisitCodeGenerator {
    VisitCodeGenerator::new(&[7u8; 32], "sync-test-device").expect("generator")
}

/// Captures `n` visits of `patients` patients (in turn), visited in the last hours; returns them.
pub fn capture_visits(store: &Store, n: u64, patients: u64) -> Vec<Visit> {
    let codes = codes();
    let institution = InstitutionCode::parse(INSTITUTION).unwrap();
    let now = now_ms();
    (0..n)
        .map(|i| {
            let v = synthetic_visit(
                &codes,
                &institution,
                i % patients,
                i,
                now - 3 * 3_600_000 + (i as i64) * 1_000,
            )
            .expect("visit");
            capture(store, &v).expect("capture");
            v
        })
        .collect()
}

/// Fast retry settings for tests (real time, short waits).
pub fn test_config() -> SyncConfig {
    SyncConfig {
        batch_size: 20,
        max_in_flight: 2,
        backoff: Backoff {
            base_ms: 20,
            cap_ms: 200,
        },
        jitter_seed: Some(3),
        ..SyncConfig::default()
    }
}

/// An engine over `store` and `client`, online, with [`test_config`].
pub fn engine(store: Arc<Store>, client: Arc<VpnClient>) -> (SyncEngine, Arc<VpnTarget>) {
    engine_with(store, client, test_config())
}

/// An engine over `store` and `client`, online.
pub fn engine_with(
    store: Arc<Store>,
    client: Arc<VpnClient>,
    config: SyncConfig,
) -> (SyncEngine, Arc<VpnTarget>) {
    let target = Arc::new(VpnTarget::new(client));
    let engine = SyncEngine::new(
        store,
        target.clone(),
        Arc::new(SystemClock),
        ManualConnectivity::new(true),
        config,
    );
    (engine, target)
}

/// Wall-clock now, Unix ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
