//! Card data upload 2.0 through the pinned client: per-record answers, invalid rows with field and
//! reason in the upload-result query, a malformed batch rejected whole, idempotent re-upload, and
//! corrections by visit identification code.

use homevisit_core::card::sam::VisitSignRequest;
use homevisit_core::model::{
    CardBasicData, InstitutionCode, NationalId, Order, RocDate, RocDateTime, Sex, Visit,
};
use homevisit_core::vpn::upload_xml::{batch_big5, record_big5, wrap_batch};
use homevisit_core::vpn::wire::RecordStatus;
use homevisit_core::vpn::{BindingQr, ClientOptions, VpnClient, VpnError};
use nhi_reader_sim::keys::{KeyHierarchy, visit_signature};
use nhi_vpn_sim::{SimConfig, VpnSim};
use std::time::Duration;

async fn enrolled(sim: &VpnSim) -> VpnClient {
    let b = sim.new_binding().unwrap();
    let options = ClientOptions {
        timeout: Duration::from_secs(5),
        ..ClientOptions::default()
    };
    VpnClient::enrol(&BindingQr::parse(&b.qr).unwrap(), &b.pin, "test device", options)
        .await
        .unwrap()
}

/// What the cloud SAM signs for `v` (as the card layer gets it at the visit).
fn sign(mut v: Visit) -> Visit {
    let request = VisitSignRequest {
        session: String::new(),
        card_proof: [0; 32],
        card_number: v.patient.card_number.clone(),
        visit_datetime: RocDateTime::from_datetime(&v.visited_at).unwrap().to_roc_string(),
        sequence_number: v.sequence_number.clone(),
        institution: v.institution.as_str().to_string(),
        visit_code: v.visit_code.clone(),
        card_mac: [0; 32],
    };
    let key = KeyHierarchy::simulated().sam_key("100000000001");
    v.security_signature = Some(visit_signature(&key, &request));
    v
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

fn visit(i: u32) -> Visit {
    Visit {
        id: format!("visit-{i}"),
        visit_code: format!("7K3P9QX2M4{i:010}"),
        patient: CardBasicData {
            card_number: "000012345678".into(),
            name: "王大明".into(),
            national_id: NationalId::parse("A123456789").unwrap(),
            birth_date: RocDate::parse("0371102").unwrap().naive(),
            sex: Sex::Male,
            issue_date: RocDate::parse("1080501").unwrap().naive(),
        },
        institution: InstitutionCode::parse("3501200000").unwrap(),
        practitioner_id: "B223456782".into(),
        visit_type: "01".into(),
        sequence_number: format!("{:04}", 1 + i % 1500),
        // Yesterday (the checker refuses future visits and late corrections), one minute apart.
        visited_at: RocDateTime::from_unix_ms(now_ms() - 86_400_000 + 60_000 * i64::from(i))
            .unwrap()
            .to_datetime(),
        diagnoses: vec!["I10".into()],
        note: "clinical note".into(),
        orders: vec![Order::treatment("05307C", 1.0)],
        security_signature: None,
        sam_id: Some("100000000001".into()),
        abnormal_reason: None,
        card_written: true,
        fee_points: Some(1631),
        copayment_points: Some(0),
        context: Default::default(),
    }
}

#[tokio::test]
async fn accepted_once_and_a_retry_never_records_twice() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let client = enrolled(&sim).await;
    let visits: Vec<Visit> = (0..3).map(|i| sign(visit(i))).collect();
    let body = batch_big5(&visits).unwrap();
    let first = client.upload_batch(&body, "batch-1").await.unwrap();
    assert_eq!(first.records.len(), 3);
    assert!(first.records.iter().all(|r| r.status == RecordStatus::Accepted));
    for v in &visits {
        assert_eq!(sim.stored_visit_count(&v.visit_code), 1);
    }
    // The same batch again (a retry after a lost answer): the first answer, nothing new stored.
    let replay = client.upload_batch(&body, "batch-1").await.unwrap();
    assert_eq!(replay, first);
    // The same visits under a new key (the app re-batched them): duplicates, still stored once.
    let again = client.upload_batch(&body, "batch-2").await.unwrap();
    assert!(again.records.iter().all(|r| r.status == RecordStatus::Duplicate));
    assert!(again.records.iter().all(|r| r.status.is_stored()));
    assert_eq!(sim.stored_visit_total(), 3);
    for v in &visits {
        assert_eq!(sim.stored_visit_count(&v.visit_code), 1);
    }
    // Bytes per visit stay small even for a 3-visit batch with full signatures.
    let stats = client.wire_stats();
    assert!(stats.requests >= 3);
    sim.stop().await;
}

#[tokio::test]
async fn an_invalid_record_is_rejected_alone_and_listed_in_the_result_query() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let client = enrolled(&sim).await;
    let mut bad = visit(11);
    bad.fee_points = None; // counted visit type 01 without M44
    // A signed visit whose sequence number was changed after signing.
    let mut tampered = sign(visit(13));
    tampered.sequence_number = "0999".into();
    let records = vec![
        record_big5(&visit(10)).unwrap(),
        record_big5(&bad).unwrap(),
        record_big5(&visit(12)).unwrap(),
        record_big5(&tampered).unwrap(),
    ];
    let resp = client
        .upload_batch(&wrap_batch(&records), "mixed-1")
        .await
        .unwrap();
    let statuses: Vec<RecordStatus> = resp.records.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [
            RecordStatus::Accepted,
            RecordStatus::Rejected,
            RecordStatus::Accepted,
            RecordStatus::Rejected,
        ]
    );
    assert_eq!(resp.records[3].field.as_deref(), Some("M14"));
    assert_eq!(resp.records[1].field.as_deref(), Some("M44"));
    assert!(resp.records[1].reason.as_deref().unwrap().contains("fee"));
    assert_eq!(sim.stored_visit_count(&bad.visit_code), 0);

    let result = client.query_upload_result(&resp.batch_id).await.unwrap();
    assert_eq!((result.received, result.valid, result.invalid), (4, 2, 2));
    assert_eq!(result.invalid_rows.len(), 2);
    assert_eq!(result.invalid_rows[1].field, "M14");
    assert_eq!(result.invalid_rows[0].index, 1);
    assert_eq!(result.invalid_rows[0].visit_code, bad.visit_code);
    assert_eq!(result.invalid_rows[0].field, "M44");

    // Corrected by the user and re-queued: accepted now, the others untouched.
    bad.fee_points = Some(1631);
    let fixed = client
        .upload_batch(&batch_big5(&[bad.clone()]).unwrap(), "mixed-2")
        .await
        .unwrap();
    assert_eq!(fixed.records[0].status, RecordStatus::Accepted);
    assert_eq!(sim.stored_visit_total(), 3);

    let e = client.query_upload_result("Bnosuchbatch").await.unwrap_err();
    assert!(matches!(e, VpnError::Rejected { ref code, .. } if code == "not_found"));
    sim.stop().await;
}

#[tokio::test]
async fn a_malformed_batch_is_rejected_whole() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let client = enrolled(&sim).await;
    let good = record_big5(&visit(1)).unwrap();
    let mut broken = wrap_batch(&[good.clone(), good.clone()]);
    // Cut the second record's closing tags: the document is not well-formed.
    broken.truncate(broken.len() - 20);
    let cases: Vec<Vec<u8>> = vec![
        broken,
        b"not xml at all".to_vec(),
        wrap_batch::<Vec<u8>>(&[]),
        [
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><RECS>".as_slice(),
            &good,
            b"</RECS>",
        ]
        .concat(),
        wrap_batch(&[[good.as_slice(), b"<X/>"].concat()]),
        wrap_batch(&[b"<REC><MSH><H00>1</H00><H01>A</H01></MSH></REC>".to_vec()]),
    ];
    for (i, body) in cases.iter().enumerate() {
        let e = client.upload_batch(body, &format!("bad-{i}")).await.unwrap_err();
        match &e {
            VpnError::Rejected { code, .. } => assert_eq!(code, "malformed_batch", "case {i}"),
            other => panic!("case {i}: {other:?}"),
        }
        assert!(!e.is_retryable());
    }
    assert_eq!(
        sim.stored_visit_total(),
        0,
        "nothing of a malformed batch is stored"
    );
    sim.stop().await;
}

#[tokio::test]
async fn corrections_replace_by_visit_identification_code() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let client = enrolled(&sim).await;
    let v = visit(5);
    client
        .upload_batch(&batch_big5(std::slice::from_ref(&v)).unwrap(), "orig")
        .await
        .unwrap();
    let mut corrected = v.clone();
    corrected.diagnoses = vec!["G450".into()];
    // A correction carries its record state (A01 = 3/4, `rules::correction`).
    let as_fix = |v: &homevisit_core::model::Visit| {
        homevisit_core::vpn::upload_xml::wrap_batch(&[homevisit_core::vpn::upload_xml::as_correction(
            &homevisit_core::vpn::upload_xml::record_big5(v).unwrap(),
            false,
        )
        .unwrap()])
    };
    let resp = client
        .upload_corrections(&as_fix(&corrected), "fix-1")
        .await
        .unwrap();
    assert_eq!(resp.records[0].status, RecordStatus::Corrected);
    assert_eq!(sim.stored_visit_count(&v.visit_code), 1);
    assert!(sim.stored_visit_fields(&v.visit_code).unwrap().contains("G450"));
    // A correction of a visit the server never stored is refused for that record.
    let resp = client
        .upload_corrections(&as_fix(&visit(6)), "fix-2")
        .await
        .unwrap();
    assert_eq!(resp.records[0].status, RecordStatus::Rejected);
    assert_eq!(resp.records[0].field.as_deref(), Some("M15"));
    assert!(matches!(
        client.upload_batch(b"x", "").await,
        Err(VpnError::InvalidRequest { .. })
    ));
    sim.stop().await;
}
