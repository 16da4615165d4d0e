//! Care-team shared record benchmark: `team_sync_bytes_per_record` — JSON body bytes on the wire
//! per synced visit record (issue 12, target ≤ 1 KB): a nurse's device writes 200 visit records
//! offline, drains them (one signed `POST /team/push` each, with its acknowledgement) and pulls
//! the case once (`POST /team/sync`, its share per record counted too). Counted at the simulator
//! (`nhi_vpn_sim::team::wire_bytes`): request and response bodies; TLS records and HTTP heads are
//! not in this figure (the signed request's headers add about 300 bytes per request).

use super::{Group, Metric};
use homevisit_core::app::{AppConfig, HomeVisit, RecordInput};
use homevisit_core::model::care::Role;
use homevisit_core::platform::{MemoryKeyStore, SystemClock};
use homevisit_core::team::{FrequencyUnit, PlanContent, VisitFrequency};
use homevisit_core::vpn::BindingQr;
use nhi_vpn_sim::team::{self as platform, SeedCase};
use nhi_vpn_sim::{SimConfig, VpnSim};
use std::sync::Arc;

/// Visit records synced for the figure.
const RECORDS: u32 = 200;

pub(super) fn group() -> Group {
    Group {
        metrics: &["team_sync_bytes_per_record"],
        run,
    }
}

fn run() -> Result<Vec<Metric>, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let sim = VpnSim::start(SimConfig::default()).await?;
        let b = sim.new_binding()?;
        let inst = BindingQr::parse(&b.qr)
            .map_err(|e| e.to_string())?
            .institution_code;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let app = HomeVisit::open(
            AppConfig {
                data_dir: dir.path().to_path_buf(),
                institution_code: inst.clone(),
                device_id: "team-bench".into(),
            },
            Arc::new(MemoryKeyStore::with_seed(12)),
            Arc::new(SystemClock),
        )
        .map_err(|e| e.to_string())?;
        app.enrol(&b.qr, &b.pin, "team bench")
            .await
            .map_err(|e| e.to_string())?;
        let case_id = platform::seed_case(
            &sim.state().db(),
            &SeedCase {
                team: "HM00000012".into(),
                enrolling: inst.clone(),
                members: vec![inst.clone()],
                national_id: "A123456789".into(),
                name: "王小明".into(),
                birth_date: "0290501".into(),
                sex: "M".into(),
                ..Default::default()
            },
            sim.state().now_ms(),
        )
        .map_err(|e| format!("{:?}", e.1))?;
        let team = app.team();
        team.refresh().await.map_err(|e| e.to_string())?;
        app.set_online(false);
        team.add_plan(
            &case_id,
            PlanContent {
                goals: "維持管路通暢，預防壓瘡".into(),
                frequency: VisitFrequency {
                    times: 1,
                    every: 2,
                    unit: FrequencyUnit::Week,
                },
            },
            None,
        )
        .map_err(|e| e.to_string())?;
        app.set_online(true);
        app.sync().drain_once(60_000).await.map_err(|e| e.to_string())?;
        app.set_online(false);
        let start = platform::wire_bytes();
        let day0 = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).ok_or("date")?;
        for i in 0..RECORDS {
            team.save_record(
                &case_id,
                RecordInput {
                    id: String::new(),
                    role: Role::Nurse,
                    visit_date: day0 + chrono::Days::new(u64::from(i)),
                    next_visit_date: None,
                    health_status: "意識清楚，生命徵象穩定".into(),
                    problem: "鼻胃管需更換，家屬灌食技巧待加強".into(),
                    service: "更換鼻胃管 16Fr，衛教家屬灌食與口腔清潔".into(),
                    visit_code: None,
                },
            )
            .map_err(|e| e.to_string())?;
        }
        app.set_online(true);
        loop {
            let s = app.sync().drain_once(60_000).await.map_err(|e| e.to_string())?;
            if s.remaining == 0 {
                break;
            }
        }
        team.refresh().await.map_err(|e| e.to_string())?;
        let bytes = platform::wire_bytes().saturating_sub(start);
        drop(app);
        sim.stop().await;
        Ok(vec![Metric {
            metric: "team_sync_bytes_per_record",
            value: bytes as f64 / f64::from(RECORDS),
            unit: "bytes",
            target: Some(1024.0),
            note: None,
        }])
    })
}
