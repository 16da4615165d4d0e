//! The claims export rules, each named after its rule.

use super::*;
use crate::model::{EmergencyRecord, OrderExecution};
use crate::vpn::upload_xml::tests::sample_visit;
use chrono::TimeZone;

fn nurse_visit() -> Visit {
    let mut v = sample_visit();
    v.id = "0190f5a0-0000-7000-8000-000000000002".into();
    v.practitioner_id = "A223456781".into();
    v.visit_type = "AH".into();
    v.visited_at = crate::model::taiwan_offset()
        .with_ymd_and_hms(2024, 3, 20, 14, 0, 0)
        .unwrap();
    v.context.role = Some(Role::Nurse);
    v.context.care_stage = Some(CareStage::Hospice);
    v.orders = vec![crate::model::Order::treatment("05321C", 1.0)];
    v
}

fn rows(p: &PractitionerClaims) -> Vec<Vec<String>> {
    p.csv_text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn col(name: &str) -> usize {
    HEADER.iter().position(|h| *h == name).unwrap()
}

#[test]
fn claims_are_per_practitioner_and_month() {
    let mut april = sample_visit();
    april.visited_at = crate::model::taiwan_offset()
        .with_ymd_and_hms(2024, 4, 1, 0, 0, 0)
        .unwrap();
    let m = month(&[nurse_visit(), sample_visit(), april], 2024, 3).unwrap();
    let ids: Vec<_> = m
        .practitioners
        .iter()
        .map(|p| p.practitioner_id.as_str())
        .collect();
    assert_eq!(ids, ["A223456781", "B223456782"]);
    assert_eq!(m.practitioners[1].visits, 1);
    assert_eq!(m.practitioners[1].rows, 2);
    assert!(month(&[sample_visit()], 2024, 13).is_err());
}

#[test]
fn each_order_row_has_execution_performer_and_department_by_role() {
    let m = month(&[sample_visit(), nurse_visit()], 2024, 3).unwrap();
    let nurse = rows(&m.practitioners[0]);
    assert_eq!(nurse[0][col("科別")], "EA");
    assert_eq!(nurse[0][col("執行人員ID")], "A223456781");
    assert_eq!(nurse[0][col("執行時間起")], "1130320140000");
    let doctor = rows(&m.practitioners[1]);
    assert_eq!(doctor[0][col("科別")], "01");
    assert_eq!(doctor[1][col("用法")], "TID PO");
    // An order that says who did it and when wins.
    let mut v = sample_visit();
    v.orders[0].execution = Some(OrderExecution {
        start_ms: v.visited_at.timestamp_millis(),
        end_ms: v.visited_at.timestamp_millis() + 1_800_000,
        performer_id: "C123456780".into(),
        department: "AC".into(),
    });
    let r = rows(&month(&[v], 2024, 3).unwrap().practitioners[0]);
    assert_eq!(r[0][col("執行時間迄")], "1130305100015");
    assert_eq!(
        (r[0][col("執行人員ID")].as_str(), r[0][col("科別")].as_str()),
        ("C123456780", "AC")
    );
}

#[test]
fn case_type_fee_code_and_known_points_by_role_and_stage() {
    let m = month(&[sample_visit(), nurse_visit()], 2024, 3).unwrap();
    let nurse = rows(&m.practitioners[0]);
    assert_eq!(nurse[0][col("案件分類")], "A5");
    assert_eq!(nurse[0][col("特定治療項目代號")], "EC");
    assert_eq!(nurse[0][col("訪視費代碼")], "05321C");
    assert_eq!(nurse[0][col("訪視費點數")], "", "unknown points stay blank");
    let doctor = rows(&m.practitioners[1]);
    assert_eq!(doctor[0][col("案件分類")], "E1");
    assert_eq!(doctor[0][col("訪視費代碼")], "05307C");
    assert_eq!(doctor[0][col("訪視費點數")], "1631");
    // No fee order: the table's proposal for the role and stage.
    let mut tcm = nurse_visit();
    tcm.context.role = Some(Role::TcmDoctor);
    tcm.orders.clear();
    let r = rows(&month(&[tcm], 2024, 3).unwrap().practitioners[0]);
    assert_eq!(
        (r[0][col("案件分類")].as_str(), r[0][col("訪視費代碼")].as_str()),
        ("31", "P5408C")
    );
}

#[test]
fn emergency_visits_are_marked_ece_with_their_surcharge() {
    let mut v = sample_visit();
    let arrival = v.visited_at.timestamp_millis();
    v.context.emergency = Some(EmergencyRecord {
        indications: vec!["dyspnoea".into()],
        arrival_ms: arrival,
        end_ms: arrival + 45 * 60_000,
        bracket: "night".into(),
        surcharge_percent: 50,
        payable: true,
    });
    let m = month(&[v, nurse_visit()], 2024, 3).unwrap();
    let doctor = &m.practitioners[1];
    assert_eq!(doctor.emergencies, 1);
    let r = rows(doctor);
    assert!(
        r.iter()
            .all(|row| row[col("急診註記")] == "ECE" && row[col("加成百分比")] == "50")
    );
    assert_eq!(r[0][col("執行時間迄")], "1130305101515");
    assert!(
        rows(&m.practitioners[0])
            .iter()
            .all(|row| row[col("急診註記")].is_empty())
    );
}

#[test]
fn claims_xml_is_the_upload_records_of_the_practitioner() {
    let m = month(&[sample_visit(), nurse_visit()], 2024, 3).unwrap();
    let doctor = &m.practitioners[1];
    assert_eq!(
        doctor.xml,
        crate::vpn::upload_xml::batch_big5(&[sample_visit()]).unwrap()
    );
    let text = String::from_utf8(doctor.xml.clone()).unwrap();
    assert!(text.contains("<D08>TID PO</D08>") && !text.contains("<D07>PO</D07>"));
}

#[test]
fn claims_csv_is_big5_by_default_or_utf8_with_bom() {
    let m = month(&[sample_visit()], 2024, 3).unwrap();
    let big5 = m.practitioners[0].csv(CsvEncoding::Big5);
    let (decoded, _, bad) = encoding_rs::BIG5.decode(&big5.bytes);
    assert!(!bad && decoded.starts_with("醫事人員ID,"));
    let utf8 = m.csv_all(CsvEncoding::Utf8Bom);
    assert!(utf8.bytes.starts_with(&crate::referral::csv::BOM));
    assert_eq!(String::from_utf8_lossy(&utf8.bytes[3..]).lines().count(), 3);
}

#[test]
fn a_visit_the_writer_refuses_names_the_visit_not_the_patient() {
    let mut v = sample_visit();
    v.sequence_number = "12".into();
    match month(&[v], 2024, 3) {
        Err(ClaimsError::Record { visit_id, reason }) => {
            assert_eq!(visit_id, "0190f5a0-0000-7000-8000-000000000001");
            assert!(reason.contains("M13") && !reason.contains("A123456789"));
        }
        other => panic!("{other:?}"),
    }
}
