//! Every injected server failure reaches the app as a typed, retryable `VpnError` — never a panic —
//! and uploads retried through faults that strike after the server did the work still store each
//! visit exactly once.

use homevisit_core::model::{CardBasicData, InstitutionCode, NationalId, RocDate, RocDateTime, Sex, Visit};
use homevisit_core::vpn::upload_xml::batch_big5;
use homevisit_core::vpn::{BindingQr, ClientOptions, FailureClass, NetworkKind, VpnClient, VpnError};
use nhi_vpn_sim::{FaultConfig, FaultKind, SimConfig, VpnSim};
use std::time::Duration;

async fn enrolled(sim: &VpnSim, timeout: Duration) -> VpnClient {
    let b = sim.new_binding().unwrap();
    let options = ClientOptions {
        timeout,
        ..ClientOptions::default()
    };
    VpnClient::enrol(&BindingQr::parse(&b.qr).unwrap(), &b.pin, "test device", options)
        .await
        .unwrap()
}

fn visit(i: u32) -> Visit {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let now_ms = i64::try_from(now.as_millis()).unwrap();
    Visit {
        id: format!("v{i}"),
        visit_code: format!("HV00000000{i:010}"),
        patient: CardBasicData {
            card_number: "000012345679".into(),
            name: "林美華".into(),
            national_id: NationalId::parse("B123456780").unwrap(),
            birth_date: RocDate::parse("0400101").unwrap().naive(),
            sex: Sex::Male,
            issue_date: RocDate::parse("1100101").unwrap().naive(),
        },
        institution: InstitutionCode::parse("3501200000").unwrap(),
        practitioner_id: "B223456782".into(),
        visit_type: "AH".into(),
        sequence_number: "F00B".into(),
        visited_at: RocDateTime::from_unix_ms(now_ms - 3_600_000 + i64::from(i) * 1000)
            .unwrap()
            .to_datetime(),
        diagnoses: vec!["J449".into()],
        note: String::new(),
        orders: vec![],
        security_signature: None,
        sam_id: None,
        abnormal_reason: Some("offline".into()),
        card_written: false,
        fee_points: None,
        copayment_points: None,
        context: Default::default(),
    }
}

#[tokio::test]
async fn every_fault_kind_gives_a_typed_retryable_error() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    // Only the hung request may reach the timeout: 5 s is far beyond any answer on loopback, and
    // the hung one never answers within the test.
    let client = enrolled(&sim, Duration::from_secs(5)).await;
    for kind in FaultKind::ALL {
        for seed in [1, 2] {
            // Before and after the handler (the seed decides): the client sees the same kind.
            sim.set_faults(FaultConfig {
                seed,
                hang_ms: 600_000,
                ..FaultConfig::always(kind)
            });
            let e = client.order_sets().await.unwrap_err();
            assert!(e.is_retryable(), "{kind:?}: {e:?}");
            match (kind, &e) {
                (FaultKind::Status500, VpnError::Server { status: 500 }) => {}
                (FaultKind::Status503, VpnError::Server { status: 503 }) => {}
                (
                    FaultKind::Hang,
                    VpnError::Network {
                        kind: NetworkKind::Timeout,
                        ..
                    },
                ) => {}
                (
                    FaultKind::Drop,
                    VpnError::Network {
                        kind: NetworkKind::Dropped,
                        ..
                    },
                ) => {}
                (
                    FaultKind::Truncate | FaultKind::Garbage | FaultKind::WrongContentType,
                    VpnError::BadResponse { .. },
                ) => {}
                other => panic!("unexpected mapping {other:?}"),
            }
            let class = e.class();
            match kind {
                FaultKind::Hang | FaultKind::Drop => assert_eq!(class, FailureClass::Network),
                _ => assert_eq!(class, FailureClass::Server),
            }
        }
    }
    // The same client works again once the faults stop.
    sim.set_faults(FaultConfig::none());
    assert!(!client.order_sets().await.unwrap().is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn clock_skew_is_reported_then_corrected_and_latency_only_slows() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let client = enrolled(&sim, Duration::from_secs(5)).await;
    sim.set_faults(FaultConfig {
        clock_skew_ms: 20 * 60_000,
        latency_ms: 20,
        ..FaultConfig::none()
    });
    let e = client.order_sets().await.unwrap_err();
    match e {
        VpnError::ClockSkew { server_ahead_ms } => {
            assert!((19 * 60_000..21 * 60_000).contains(&server_ahead_ms))
        }
        other => panic!("{other:?}"),
    }
    assert!(e.is_retryable());
    // The client learnt the offset: the retry goes through.
    assert!(!client.order_sets().await.unwrap().is_empty());
    sim.stop().await;
}

#[tokio::test]
async fn a_server_that_is_gone_is_a_network_error() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let client = enrolled(&sim, Duration::from_secs(2)).await;
    sim.stop().await;
    let e = client.order_sets().await.unwrap_err();
    assert!(matches!(e, VpnError::Network { .. }), "{e:?}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn retries_through_faults_store_every_visit_exactly_once() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    // A hang here answers 504 after 2 s (a server failure, retried); no correct answer on loopback
    // reaches the 10 s timeout, so the attempts counted are the injected faults, not machine speed.
    let client = enrolled(&sim, Duration::from_secs(10)).await;
    sim.set_faults(FaultConfig {
        seed: 77,
        failure_rate: 0.5,
        hang_ms: 2_000,
        ..FaultConfig::default()
    });
    let visits: Vec<Visit> = (0..40).map(visit).collect();
    for (n, chunk) in visits.chunks(4).enumerate() {
        let body = batch_big5(chunk).unwrap();
        let key = format!("chunk-{n}");
        let mut attempts = 0;
        let resp = loop {
            attempts += 1;
            assert!(attempts < 60, "chunk {n} never got through");
            match client.upload_batch(&body, &key).await {
                Ok(r) => break r,
                Err(e) => assert!(e.is_retryable(), "{e:?}"),
            }
        };
        assert_eq!(resp.records.len(), chunk.len());
        assert!(resp.records.iter().all(|r| r.status.is_stored()), "{resp:?}");
    }
    // Deterministic for the seed: some chunks needed several attempts.
    assert!(sim.faults_injected() >= 3, "{}", sim.faults_injected());
    sim.set_faults(FaultConfig::none());
    for v in &visits {
        assert_eq!(sim.stored_visit_count(&v.visit_code), 1, "{}", v.visit_code);
    }
    assert_eq!(sim.stored_visit_total(), 40);
    sim.stop().await;
}
