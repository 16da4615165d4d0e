//! The visit transaction with the cloud SAM reached over HTTPS (the VPN client as the card layer's
//! `SamAuthority`) against the VPN simulator: a normal visit, then the VPN down → F00B offline.

mod card_common;

use card_common::*;
use homevisit_core::card::run_visit;
use homevisit_core::model::{SequenceNumber, VisitType};
use homevisit_core::platform::ManualClock;
use homevisit_core::vpn::{BindingQr, ClientOptions, VpnClient};
use nhi_vpn_sim::{FaultConfig, FaultKind, SimConfig, VpnSim};
use std::time::Duration;

fn real_now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

#[tokio::test]
async fn visit_through_the_cloud_sam_over_https_then_offline() {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let b = sim.new_binding().unwrap();
    let options = ClientOptions {
        timeout: Duration::from_secs(5),
        clock: ManualClock::new(real_now_ms()),
        ..ClientOptions::default()
    };
    let vpn = VpnClient::enrol(&BindingQr::parse(&b.qr).unwrap(), &b.pin, "tablet", options)
        .await
        .unwrap();
    let (reader, card, _) = reader_with_demo_cards();

    let p = plan(1, VisitType::WesternOutpatient, "1141123093015");
    let out = run_visit(&reader, &vpn, &codes(), &p).await.unwrap();
    assert!(out.card_written);
    assert_eq!(out.sequence, SequenceNumber::Normal(1));
    let form = out.form.unwrap();
    assert_eq!(form.sam_id, vpn.enrolment().sam_id);
    assert_eq!(form.signature_hex.len(), 256);
    assert_eq!(card.records().len(), 1);

    // The VPN goes down: the next visit is captured offline with F00B and not written.
    sim.set_faults(FaultConfig::always(FaultKind::Status503));
    let p2 = plan(2, VisitType::HomeCareFollowUp, "1141123103000");
    let out = run_visit(&reader, &vpn, &codes(), &p2).await.unwrap();
    assert_eq!(out.sequence.code(), "F00B");
    assert!(!out.card_written);
    assert!(out.abnormal.unwrap().report);
    assert_eq!(card.records().len(), 1, "the offline visit left the card alone");
}
