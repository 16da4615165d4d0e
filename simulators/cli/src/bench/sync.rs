//! Sync benchmarks: bytes on the wire per synced visit (counted at the client by a counting TCP
//! proxy on loopback, so TLS records, handshakes, HTTP heads and bodies are all in), and the drain
//! of 10,000 queued visits from the app store to the local VPN simulator.

use super::{Group, Metric};
use homevisit_core::card::sam::VisitSignRequest;
use homevisit_core::model::{InstitutionCode, RocDateTime, Visit};
use homevisit_core::platform::{ManualConnectivity, MemoryKeyStore, SystemClock};
use homevisit_core::rules::visit_code::VisitCodeGenerator;
use homevisit_core::store::Store;
use homevisit_core::sync::visit_day::{card_upload_job, synthetic_visit};
use homevisit_core::sync::vpn_target::VpnTarget;
use homevisit_core::sync::{DrainOptions, SyncConfig, SyncEngine};
use homevisit_core::vpn::{BindingQr, ClientOptions, Enrolment, VpnClient};
use nhi_vpn_sim::{SimConfig, VpnSim};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Visits synced for the bytes-per-visit figure.
const BYTES_VISITS: u64 = 1_000;
/// Visits drained for the throughput figure.
const DRAIN_VISITS: u64 = 10_000;
/// Patients the visits rotate over (several visits each, so per-patient order is exercised).
const PATIENTS: u64 = 2_000;
/// The simulator's institution and cloud SAM (its defaults).
const INSTITUTION: &str = "3501200000";
const SAM_ID: &str = "100000000001";

pub(super) fn group() -> Group {
    Group {
        metrics: &[
            "sync_bytes_per_visit",
            "sync_connections",
            "sync_drain_10k_s",
            "sync_visits_per_s",
        ],
        run,
    }
}

/// Bytes through a loopback proxy in each direction, and connections opened.
#[derive(Default)]
struct Counters {
    up: AtomicU64,
    down: AtomicU64,
    connections: AtomicU64,
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: Arc<Counters>,
    up: bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let c = if up { &count.up } else { &count.down };
        c.fetch_add(n as u64, Ordering::Relaxed);
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// A TCP proxy on 127.0.0.1 in front of `target` that counts every byte; returns its address.
async fn counting_proxy(target: SocketAddr, count: Arc<Counters>) -> Result<SocketAddr, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                continue;
            };
            count.connections.fetch_add(1, Ordering::Relaxed);
            let (ir, iw) = inbound.into_split();
            let (or, ow) = outbound.into_split();
            tokio::spawn(pipe(ir, ow, count.clone(), true));
            tokio::spawn(pipe(or, iw, count.clone(), false));
        }
    });
    Ok(addr)
}

fn visits(n: u64, patients: u64) -> Result<Vec<Visit>, String> {
    let codes = VisitCodeGenerator::new(&[3u8; 32], "bench-device").map_err(|e| e.to_string())?;
    let institution = InstitutionCode::parse(INSTITUTION).map_err(|e| e.to_string())?;
    let sam_key = nhi_reader_sim::keys::KeyHierarchy::simulated().sam_key(SAM_ID);
    let now = chrono::Utc::now().timestamp_millis();
    (0..n)
        .map(|i| {
            let mut v = synthetic_visit(
                &codes,
                &institution,
                i % patients,
                i,
                now - 3_600_000 - i as i64 * 1_000,
            )?;
            // A real card visit carries the cloud SAM's security signature (M14, 256 hex) and the
            // SAM id (M01); the simulator checks the signature.
            let request = VisitSignRequest {
                session: String::new(),
                card_proof: [0; 32],
                card_number: v.patient.card_number.clone(),
                visit_datetime: RocDateTime::from_datetime(&v.visited_at)
                    .map_err(|e| e.to_string())?
                    .to_roc_string(),
                sequence_number: v.sequence_number.clone(),
                institution: INSTITUTION.into(),
                visit_code: v.visit_code.clone(),
                card_mac: [0; 32],
            };
            v.security_signature = Some(nhi_reader_sim::keys::visit_signature(&sam_key, &request));
            v.sam_id = Some(SAM_ID.into());
            Ok(v)
        })
        .collect()
}

fn fill_store(store: &Store, visits: &[Visit]) -> Result<(), String> {
    for chunk in visits.chunks(1_000) {
        let batch = chunk
            .iter()
            .map(|v| Ok((v.clone(), vec![card_upload_job(v, 1).map_err(|e| e.to_string())?])))
            .collect::<Result<Vec<_>, String>>()?;
        store.commit_visits(&batch).map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn enrolment(sim: &VpnSim) -> Result<Enrolment, String> {
    let b = sim.new_binding()?;
    let qr = BindingQr::parse(&b.qr).map_err(|e| e.to_string())?;
    let client = VpnClient::enrol(&qr, &b.pin, "bench device", ClientOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    Ok(client.enrolment().clone())
}

/// Drains `visits` from a fresh store through `client`; returns the wall time.
async fn drain(visits: &[Visit], client: Arc<VpnClient>, config: SyncConfig) -> Result<Duration, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = Arc::new(
        Store::open(dir.path().join("app.db"), &MemoryKeyStore::with_seed(1)).map_err(|e| e.to_string())?,
    );
    fill_store(&store, visits)?;
    let engine = SyncEngine::new(
        store.clone(),
        Arc::new(VpnTarget::new(client)),
        Arc::new(SystemClock),
        ManualConnectivity::new(true),
        config,
    );
    let t = Instant::now();
    let summary = engine
        .drain(DrainOptions {
            force: false,
            time_budget_ms: Some(60_000),
        })
        .await
        .map_err(|e| e.to_string())?;
    let elapsed = t.elapsed();
    if !summary.complete || summary.done != visits.len() {
        return Err(format!("sync bench: drain incomplete: {summary:?}"));
    }
    Ok(elapsed)
}

fn run() -> Result<Vec<Metric>, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let sim = VpnSim::start(SimConfig::default()).await?;
        let enrolled = enrolment(&sim).await?;
        let config = SyncConfig {
            batch_size: 100,
            max_in_flight: 2,
            ..SyncConfig::default()
        };

        // Bytes per visit: a client whose endpoint is the counting proxy (same pinned certificate).
        let counters = Arc::new(Counters::default());
        let proxy = counting_proxy(sim.addr, counters.clone()).await?;
        let proxied = Enrolment {
            endpoint: format!("https://{proxy}"),
            ..enrolled.clone()
        };
        let client = Arc::new(
            VpnClient::from_enrolment(proxied, ClientOptions::default()).map_err(|e| e.to_string())?,
        );
        drain(&visits(BYTES_VISITS, BYTES_VISITS / 4)?, client, config).await?;
        let bytes = counters.up.load(Ordering::Relaxed) + counters.down.load(Ordering::Relaxed);
        let bytes_per_visit = bytes as f64 / BYTES_VISITS as f64;
        let connections = counters.connections.load(Ordering::Relaxed);

        // Drain 10,000 visits (a fresh simulator, so nothing is a duplicate).
        sim.stop().await;
        let sim = VpnSim::start(SimConfig::default()).await?;
        let enrolled = enrolment(&sim).await?;
        let client = Arc::new(
            VpnClient::from_enrolment(enrolled, ClientOptions::default()).map_err(|e| e.to_string())?,
        );
        let all = visits(DRAIN_VISITS, PATIENTS)?;
        let elapsed = drain(&all, client, config).await?;
        if sim.stored_visit_total() != DRAIN_VISITS {
            return Err(format!(
                "sync bench: server holds {} visits",
                sim.stored_visit_total()
            ));
        }
        sim.stop().await;
        let secs = elapsed.as_secs_f64();
        Ok(vec![
            Metric {
                metric: "sync_bytes_per_visit",
                value: bytes_per_visit.round(),
                unit: "bytes",
                target: Some(2048.0),
                note: None,
            },
            Metric {
                metric: "sync_connections",
                value: connections as f64,
                unit: "connections",
                target: None,
                note: None,
            },
            Metric {
                metric: "sync_drain_10k_s",
                value: (secs * 1000.0).round() / 1000.0,
                unit: "s",
                target: Some(10.0),
                note: None,
            },
            Metric {
                metric: "sync_visits_per_s",
                value: (DRAIN_VISITS as f64 / secs).round(),
                unit: "visits/s",
                target: None,
                note: None,
            },
        ])
    })
}
