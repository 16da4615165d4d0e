//! Claims export benchmark (issue 14): `claims_export_month_ms`, a month of 180 visits × 5 orders
//! (3 practitioners, every 10th visit an emergency) exported through the facade
//! (`HomeVisit::claims().export_month`: store read, per-practitioner CSV in Big5 and upload XML);
//! the median of several runs (the first warms the cache).

use super::{Group, Metric};
use homevisit_core::app::{AppConfig, DATABASE_FILE, HomeVisit};
use homevisit_core::model::{
    CareStage, Dispensing, EmergencyRecord, InstitutionCode, Order, OrderKind, PrescriptionInfo,
    PrescriptionKind, Role, Visit,
};
use homevisit_core::platform::{KeyStore, MemoryKeyStore, SystemClock};
use homevisit_core::referral::csv::CsvEncoding;
use homevisit_core::rules::visit_code::VisitCodeGenerator;
use homevisit_core::store::Store;
use homevisit_core::sync::visit_day::{card_upload_job, synthetic_visit};
use std::sync::Arc;
use std::time::Instant;

/// Visits in the month.
const VISITS: u64 = 180;
/// Orders per visit.
const ORDERS: usize = 5;
/// Timed runs; the median gives the figure.
const RUNS: usize = 7;
/// Target: 100 ms per month.
const TARGET_MS: f64 = 100.0;
/// 2026-11-01 00:00 Taiwan time, Unix ms.
const NOV_2026_MS: i64 = 1_793_462_400_000;

/// The claims group.
pub(super) fn group() -> Group {
    Group {
        metrics: &["claims_export_month_ms"],
        run,
    }
}

fn err(e: impl std::fmt::Display) -> String {
    format!("claims bench: {e}")
}

/// The month's visits: every 4 hours from Nov 1st, doctor / nurse / respiratory therapist in
/// turn, a visit fee and 4 drugs (2 on a released chronic prescription).
fn month_visits() -> Result<Vec<Visit>, String> {
    let codes = VisitCodeGenerator::new(&[5u8; 32], "bench-device").map_err(err)?;
    let institution = InstitutionCode::parse("3501200000").map_err(err)?;
    let roles = [Role::Doctor, Role::Nurse, Role::RespiratoryTherapist];
    (0..VISITS)
        .map(|i| {
            let at = NOV_2026_MS + i as i64 * 4 * 3_600_000;
            let mut v = synthetic_visit(&codes, &institution, i % 60, i, at)?;
            let role = roles[(i % 3) as usize];
            v.context.role = Some(role);
            v.context.care_stage = Some(CareStage::ALL[(i % 3) as usize]);
            let fee = homevisit_core::rules::fees::visit_fee(
                role,
                v.context.care_stage.unwrap_or(CareStage::HomeMedical),
                false,
            )
            .map(|f| f.code.clone())
            .unwrap_or_else(|| "05307C".into());
            let mut orders = vec![Order::treatment(&fee, 1.0)];
            for d in 0..ORDERS - 1 {
                let mut o = Order::treatment(&format!("AC4585{d}100"), 21.0);
                o.kind = OrderKind::Drug;
                o.dose = "1".into();
                o.frequency = "TID".into();
                o.route = "PO".into();
                o.days = 7;
                if d < 2 {
                    o.prescription = Some(PrescriptionInfo {
                        kind: PrescriptionKind::Chronic,
                        dispensing: Dispensing::Released,
                        signature: Some("3F9A01C2".into()),
                        refills: 3,
                        refill_number: 1,
                        original: None,
                    });
                }
                orders.push(o);
            }
            v.orders = orders;
            if i % 10 == 0 {
                v.context.emergency = Some(EmergencyRecord {
                    indications: vec!["fever".into()],
                    arrival_ms: at,
                    end_ms: at + 40 * 60_000,
                    bracket: "night".into(),
                    surcharge_percent: 50,
                    payable: true,
                });
            }
            Ok(v)
        })
        .collect()
}

fn run() -> Result<Vec<Metric>, String> {
    let dir = tempfile::tempdir().map_err(err)?;
    let keys = Arc::new(MemoryKeyStore::with_seed(14));
    {
        let store = Store::open(dir.path().join(DATABASE_FILE), keys.as_ref()).map_err(err)?;
        let batch = month_visits()?
            .into_iter()
            .map(|v| card_upload_job(&v, 1).map(|j| (v, vec![j])).map_err(err))
            .collect::<Result<Vec<_>, _>>()?;
        store.commit_visits(&batch).map_err(err)?;
    }
    let config = AppConfig {
        data_dir: dir.path().to_path_buf(),
        institution_code: "3501200000".into(),
        device_id: "bench-device".into(),
    };
    let app = HomeVisit::open(config, keys as Arc<dyn KeyStore>, Arc::new(SystemClock)).map_err(err)?;
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        let export = app
            .claims()
            .export_month(2026, 11, CsvEncoding::Big5)
            .map_err(err)?;
        runs.push(t.elapsed().as_secs_f64() * 1000.0);
        let visits: u32 = export.practitioners.iter().map(|p| p.visits).sum();
        let rows: u32 = export.practitioners.iter().map(|p| p.rows).sum();
        if visits != VISITS as u32 || rows != (VISITS as usize * ORDERS) as u32 {
            return Err(format!("claims bench: exported {visits} visits, {rows} rows"));
        }
    }
    runs.sort_by(f64::total_cmp);
    Ok(vec![Metric {
        metric: "claims_export_month_ms",
        value: runs[RUNS / 2],
        unit: "ms",
        target: Some(TARGET_MS),
        note: None,
    }])
}
