//! Prescription benchmarks (issue 6): the QR version of a 10-line prescription at error-correction
//! level M, the time to generate (pack, sign, Base45, QR) and render it to PNG, and the
//! pharmacist's dispense latency on loopback (offline signature check + HTTPS round trip +
//! SQLite transaction) over 1,000 dispenses.

use super::{Group, Metric};
use homevisit_core::platform::{Clock, SystemClock};
use homevisit_core::rx::pharmacy::{HttpPharmacy, Pharmacist};
use homevisit_core::rx::prescription::VISIT_CODE_ALPHABET;
use homevisit_core::rx::{payload, render, sheet};
use homevisit_core::vpn::DeviceKey;
use nhi_vpn_sim::pharmacy::demo::{home_care_extras, sample_order_set, sample_visit};
use nhi_vpn_sim::pharmacy::{DEMO_PHARMACY, PharmacyState, serve};
use std::sync::Arc;
use std::time::Instant;

const RENDERS: usize = 300;
const DISPENSES: usize = 1_000;
const INST: &str = "3501200000";

/// The rx group.
pub(super) fn group() -> Group {
    Group {
        metrics: &[
            "qr_version_10_lines",
            "qr_payload_chars_10_lines",
            "qr_render_ms",
            "dispense_p50_ms",
            "dispense_p99_ms",
        ],
        run,
    }
}

fn err(e: impl std::fmt::Display) -> String {
    format!("rx bench: {e}")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A distinct visit identification code for bench prescription `n`.
fn visit_code(n: usize) -> String {
    let mut s = String::from("3K7Q2M9X4T8W1Z");
    let mut v = n;
    for _ in 0..6 {
        s.push(char::from(VISIT_CODE_ALPHABET[v % 34]));
        v /= 34;
    }
    s
}

fn run() -> Result<Vec<Metric>, String> {
    let key = DeviceKey::from_seed_for_tests(&[42; 32]);
    let now = SystemClock.now_unix_ms();
    let mut visit = sample_visit(&visit_code(0), INST, now)?;
    sample_order_set(true, 28).apply_to(&mut visit).map_err(err)?;
    let p = homevisit_core::rx::Prescription::from_visit(&visit, Some(3)).map_err(err)?;
    let text = payload::encode(&p, &key).map_err(err)?;
    let version = render::version_number(&render::qr_code(text.as_bytes()).map_err(err)?);

    let mut times = Vec::with_capacity(RENDERS);
    for _ in 0..RENDERS {
        let t = Instant::now();
        let text = payload::encode(&p, &key).map_err(err)?;
        let png = render::to_png(&render::qr_code(text.as_bytes()).map_err(err)?, 4).map_err(err)?;
        std::hint::black_box(png);
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let render_ms = percentile(&times, 0.5);
    let (p50, p99) = dispense_latency(&key, now)?;
    Ok(vec![
        Metric {
            metric: "qr_version_10_lines",
            value: f64::from(version),
            unit: "version",
            target: Some(10.0),
            note: None,
        },
        Metric {
            metric: "qr_payload_chars_10_lines",
            value: text.len() as f64,
            unit: "chars",
            target: None,
            note: None,
        },
        Metric {
            metric: "qr_render_ms",
            value: render_ms,
            unit: "ms",
            target: Some(2.0),
            note: None,
        },
        Metric {
            metric: "dispense_p50_ms",
            value: p50,
            unit: "ms",
            target: None,
            note: None,
        },
        Metric {
            metric: "dispense_p99_ms",
            value: p99,
            unit: "ms",
            target: Some(50.0),
            note: None,
        },
    ])
}

fn dispense_latency(key: &DeviceKey, now: i64) -> Result<(f64, f64), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(err)?;
    let dir = tempfile::tempdir().map_err(err)?;
    rt.block_on(async {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let state = PharmacyState::open(Some(&dir.path().join("pharmacy.sqlite")), clock.clone(), None)?;
        state.register_signer(INST, "D00001", key.public_key())?;
        let mut qrs = Vec::with_capacity(DISPENSES);
        for n in 1..=DISPENSES + 1 {
            let mut v = sample_visit(&visit_code(n), INST, now)?;
            sample_order_set(false, 28).apply_to(&mut v).map_err(err)?;
            let issued = sheet::issue(&v, None, key, "02-2345-6789", &home_care_extras()).map_err(err)?;
            state
                .register(&issued.registration(&v, key).map_err(err)?)
                .map_err(err)?;
            qrs.push(issued.qr_text);
        }
        let server = serve(state, "127.0.0.1:0".parse().map_err(err)?).await?;
        let mut api = HttpPharmacy::new(&server.base_url, server.fingerprint).map_err(err)?;
        api.login(DEMO_PHARMACY.0, DEMO_PHARMACY.1).await.map_err(err)?;
        let pharmacist = Pharmacist::new(Arc::new(api), clock);
        pharmacist.refresh_keys().await.map_err(err)?;
        // One warm-up (TLS handshake) outside the measurement.
        pharmacist.dispense_qr(&qrs[0]).await.map_err(err)?;
        let mut times = Vec::with_capacity(DISPENSES);
        for qr in &qrs[1..] {
            let t = Instant::now();
            pharmacist.dispense_qr(qr).await.map_err(err)?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        server.shutdown();
        times.sort_by(f64::total_cmp);
        Ok((percentile(&times, 0.5), percentile(&times, 0.99)))
    })
}
