//! A visit signed by the cloud SAM over HTTPS during the card transaction is uploaded in format 2.0
//! and accepted with its security signature (M14) checked; a record changed after signing is not.

use homevisit_core::card::{VisitBody, VisitPlan, run_visit};
use homevisit_core::model::{InstitutionCode, RocDateTime, SequenceNumber, VisitType};
use homevisit_core::rules::visit_code::VisitCodeGenerator;
use homevisit_core::vpn::upload_xml::batch_big5;
use homevisit_core::vpn::wire::RecordStatus;
use homevisit_core::vpn::{BindingQr, ClientOptions, VpnClient};
use nhi_reader_sim::card::DirectReader;
use nhi_vpn_sim::{SimConfig, VpnSim};
use std::time::Duration;

#[tokio::test]
async fn a_card_visit_signed_over_https_uploads_with_a_verified_signature() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let b = sim.new_binding().unwrap();
    let options = ClientOptions {
        timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    };
    let vpn = VpnClient::enrol(&BindingQr::parse(&b.qr).unwrap(), &b.pin, "tablet", options)
        .await
        .unwrap();
    let (reader, _card, _hpc) = DirectReader::with_demo_cards();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let at = RocDateTime::from_unix_ms(i64::try_from(now.as_millis()).unwrap() - 3_600_000).unwrap();
    let body = VisitBody {
        diagnoses: vec!["I10".into()],
        fee_points: 1631,
        copayment: 0,
    };
    let plan = VisitPlan {
        txn_id: [5; 16],
        visit_type: VisitType::WesternOutpatient,
        newborn: false,
        replacement: false,
        institution: InstitutionCode::parse("3501200000").unwrap(),
        at,
        code_counter: 1,
        body: body.clone(),
        prescriptions: vec![],
        online: true,
    };
    let codes = VisitCodeGenerator::new(&[3u8; 32], "vpn-test-device").unwrap();
    let out = run_visit(&reader, &vpn, &codes, &plan).await.unwrap();
    assert!(matches!(out.sequence, SequenceNumber::Normal(_)));
    let visit = out.to_visit(&plan.institution, "B223456782", &body, String::new(), vec![]);
    assert!(visit.security_signature.is_some());

    let mut tampered = visit.clone();
    tampered.visit_code = "7K3P9QX2M4T8V6W1R5ZH".into();
    let resp = vpn
        .upload_batch(&batch_big5(&[visit.clone(), tampered]).unwrap(), "card-visits-1")
        .await
        .unwrap();
    assert_eq!(resp.records[0].status, RecordStatus::Accepted, "{resp:?}");
    assert_eq!(resp.records[1].status, RecordStatus::Rejected);
    assert_eq!(resp.records[1].field.as_deref(), Some("M14"));
    assert_eq!(sim.stored_visit_count(&visit.visit_code), 1);
    sim.stop().await;
}
