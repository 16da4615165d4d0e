//! Issue 14 items 2, 7 and 8 through the facade: the visit's role and care stage set on the visit
//! session (fee code proposed from the shipped table, a fee of another role refused), the monthly
//! claims export (per practitioner, CSV Big5 / UTF-8 BOM with case type, `EC`, fee code, department,
//! performer and execution times; the upload XML with site and usage in their fields) and the
//! simulator's checker accepting the exported records. Readers are `nhi_reader_sim` readers over
//! the in-memory transport; the visits are taken offline (no VPN needed).

use homevisit_core::app::{AppConfig, AppError, HomeVisit, ReaderTransport, VisitSession};
use homevisit_core::model::{CareStage, Role};
use homevisit_core::platform::{ManualClock, MemoryKeyStore};
use homevisit_core::reader::{CardSlot, MemoryTransport, ReaderModel};
use homevisit_core::referral::csv::CsvEncoding;
use nhi_reader_sim::card;
use nhi_reader_sim::{ReaderConfig, SimReader};
use std::sync::Arc;

const INSTITUTION: &str = "3501200000";
const PIN: &str = "1234";
/// The virtual now: 2026-11-20 10:00 Taiwan time.
const NOW_MS: i64 = 1_795_140_000_000;

struct Day {
    _dir: tempfile::TempDir,
    app: Arc<HomeVisit>,
}

async fn day() -> Day {
    let dir = tempfile::tempdir().unwrap();
    let app = HomeVisit::open(
        AppConfig {
            data_dir: dir.path().to_path_buf(),
            institution_code: INSTITUTION.into(),
            device_id: "phone-records".into(),
        },
        Arc::new(MemoryKeyStore::with_seed(14)),
        ManualClock::new(NOW_MS),
    )
    .unwrap();
    let reader = SimReader::new(ReaderConfig::new(ReaderModel::HvBt200, "0001"));
    reader.insert(
        CardSlot::Practitioner,
        Box::new(card::PractitionerCard::new(card::demo_practitioner())),
    );
    reader.insert(CardSlot::Patient, Box::new(card::demo_patient_card()));
    let transport = MemoryTransport::new();
    transport.add(Arc::new(reader.clone()));
    app.readers()
        .set_transport(ReaderTransport::Custom(Arc::new(transport)))
        .await
        .unwrap();
    let found = app.readers().scan(100).await.unwrap();
    let code = app.readers().pair(&found[0].id).await.unwrap();
    assert!(reader.press_button());
    app.readers().confirm_pairing(&code.code).await.unwrap();
    app.readers().verify_practitioner_pin(PIN).await.unwrap();
    app.set_online(false);
    Day {
        _dir: dir,
        app: Arc::new(app),
    }
}

async fn visit(d: &Day) -> VisitSession {
    let v = d.app.begin_visit().await.unwrap();
    v.add_diagnosis("I10").unwrap();
    v.add_drug_order("AC45856100", "1", "TID", "PO", 7).unwrap();
    v.set_fees(1631, 0).unwrap();
    v
}

/// The month of the virtual now, Taiwan time.
fn this_month() -> (i32, u32) {
    (2026, 11)
}

fn column(csv: &str, name: &str) -> Vec<String> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header.iter().position(|h| *h == name).unwrap();
    lines
        .map(|l| l.split(',').nth(i).unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn role_and_stage_give_the_fee_code_case_type_and_department_in_the_claims_export() {
    let d = day().await;
    let v = visit(&d).await;
    v.set_care(Role::Nurse, CareStage::Hospice).unwrap();
    assert_eq!(v.add_visit_fee(false).unwrap(), "05321C");
    assert_eq!(v.draft().context.role, Some(Role::Nurse));
    v.finish("care-1").await.unwrap();

    let (year, month) = this_month();
    let export = d
        .app
        .claims()
        .export_month(year, month, CsvEncoding::Utf8Bom)
        .unwrap();
    assert_eq!(export.practitioners.len(), 1);
    let p = &export.practitioners[0];
    assert_eq!((p.visits, p.rows, p.emergencies), (1, 2, 0));
    assert!(p.csv.bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
    let csv = String::from_utf8(p.csv.bytes[3..].to_vec()).unwrap();
    assert_eq!(column(&csv, "案件分類"), ["A5", "A5"]);
    assert_eq!(column(&csv, "特定治療項目代號"), ["EC", "EC"]);
    assert_eq!(column(&csv, "訪視費代碼"), ["05321C", "05321C"]);
    assert_eq!(
        column(&csv, "訪視費點數"),
        ["", ""],
        "points the sources do not give stay blank"
    );
    assert_eq!(column(&csv, "科別"), ["EA", "EA"]);
    assert_eq!(
        column(&csv, "執行人員ID"),
        [p.practitioner_id.clone(), p.practitioner_id.clone()]
    );
    assert_eq!(column(&csv, "急診註記"), ["", ""]);
    assert!(column(&csv, "執行時間起").iter().all(|t| t.len() == 13));

    // The XML: the usage (frequency + route) in D08, the site field D07 left empty.
    let xml = String::from_utf8(p.xml.clone()).unwrap();
    assert!(xml.contains("<D06>AC45856100</D06><D08>TID PO</D08>"), "{xml}");
    assert!(!xml.contains("<D07>"));
    // … and the simulator's checker (upload.rs + upload_check.rs) accepts every record.
    for rec in nhi_vpn_sim::upload::parse_batch(&p.xml).unwrap() {
        nhi_vpn_sim::upload::validate(&rec, INSTITUTION, NOW_MS).unwrap();
    }

    // Big5 by default: the header decodes.
    let big5 = d
        .app
        .claims()
        .export_month(year, month, CsvEncoding::Big5)
        .unwrap();
    let (text, _, bad) = encoding_rs::BIG5.decode(&big5.csv.bytes);
    assert!(!bad && text.starts_with("醫事人員ID,"));
}

#[tokio::test]
async fn a_fee_code_of_another_role_or_stage_is_refused_and_the_draft_kept() {
    let d = day().await;
    let v = visit(&d).await;
    assert!(matches!(
        v.add_visit_fee(false),
        Err(AppError::Validation { field, .. }) if field == "care"
    ));
    v.set_care(Role::Doctor, CareStage::HomeMedical).unwrap();
    assert_eq!(v.add_visit_fee(true).unwrap(), "05308C");
    assert!(matches!(
        v.set_care(Role::Nurse, CareStage::HomeMedical),
        Err(AppError::Validation { field, .. }) if field == "fee_code"
    ));
    assert!(matches!(
        v.set_care(Role::Doctor, CareStage::Hospice),
        Err(AppError::Validation { field, .. }) if field == "fee_code"
    ));
    // Nothing lost: the role and orders stay as they were.
    let draft = v.draft();
    assert_eq!(draft.context.role, Some(Role::Doctor));
    assert_eq!(draft.orders.len(), 2);
    v.set_care(Role::SocialWorker, CareStage::HomeMedical)
        .unwrap_err();
    v.remove_order("05308C");
    v.set_care(Role::SocialWorker, CareStage::Hospice).unwrap();
    assert!(matches!(
        v.add_visit_fee(false),
        Err(AppError::Validation { field, .. }) if field == "fee_code"
    ));
}

#[tokio::test]
async fn claims_export_is_per_practitioner_month_and_refuses_a_bad_month() {
    let d = day().await;
    let v = visit(&d).await;
    v.set_care(Role::Doctor, CareStage::HomeMedical).unwrap();
    v.add_visit_fee(false).unwrap();
    v.finish("month-1").await.unwrap();
    let (year, month) = this_month();
    let export = d
        .app
        .claims()
        .export_month(year, month, CsvEncoding::Big5)
        .unwrap();
    let (text, _, _) = encoding_rs::BIG5.decode(&export.csv.bytes);
    assert_eq!(column(&text, "訪視費點數"), ["1631", "1631"]);
    assert_eq!(column(&text, "科別"), ["01", "01"]);
    // Another month holds nothing; month 13 is a validation error naming the month.
    let (py, pm) = if month == 1 {
        (year - 1, 12)
    } else {
        (year, month - 1)
    };
    assert!(
        d.app
            .claims()
            .export_month(py, pm, CsvEncoding::Big5)
            .unwrap()
            .practitioners
            .is_empty()
    );
    assert!(matches!(
        d.app.claims().export_month(year, 13, CsvEncoding::Big5),
        Err(AppError::Validation { field, .. }) if field == "month"
    ));
}
