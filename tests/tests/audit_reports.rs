//! Caps, the 3-month rule, the case-management fee, the abnormal-situation report and the
//! upload-quality indicators through the facade (issue 14 items 6 and 9). Visits are inserted at
//! store level (the `inspect` feature) at virtual times; the app's clock is a `ManualClock`, and
//! upload confirmations are recorded at the time the clock says.

use chrono::{NaiveDate, TimeZone};
use homevisit_core::app::{AppConfig, AppError, HomeVisit, VisitDetails};
use homevisit_core::model::care::Role;
use homevisit_core::model::roc::taiwan_offset;
use homevisit_core::model::{CardBasicData, InstitutionCode, NationalId, Sex, Visit};
use homevisit_core::platform::{ManualClock, MemoryKeyStore};
use homevisit_core::referral::csv::CsvEncoding;
use homevisit_core::report::{AbnormalKind, IndicatorKind};
use homevisit_core::rules::caps::{CapWarning, FeePeriodStatus};
use homevisit_core::sync::visit_day::card_upload_job;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const INSTITUTION: &str = "3501200000";
const DOCTOR: &str = "B234567894";
const OTHER_DOCTOR: &str = "E123456789";
const HOUR: i64 = 3_600_000;

/// Patients (ID, name, sex) from the reader simulator's demo cards.
const PATIENTS: [(&str, &str, Sex); 3] = [
    ("A123456789", "王小明", Sex::Male),
    ("B220415378", "陳美玲", Sex::Female),
    ("F128703126", "林志豪", Sex::Male),
];

struct Fixture {
    _dir: tempfile::TempDir,
    app: Arc<HomeVisit>,
    clock: Arc<ManualClock>,
}

/// Unix ms of a Taiwan local time.
fn tw(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    taiwan_offset()
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .unwrap()
        .timestamp_millis()
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn open(now_ms: i64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(now_ms);
    let app = HomeVisit::open(
        AppConfig {
            data_dir: dir.path().to_path_buf(),
            institution_code: INSTITUTION.into(),
            device_id: "phone-reports".into(),
        },
        Arc::new(MemoryKeyStore::with_seed(14)),
        clock.clone(),
    )
    .unwrap();
    Fixture {
        _dir: dir,
        app: Arc::new(app),
        clock,
    }
}

/// A unique 20-character visit identification code for a test visit.
fn next_code() -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    format!("T{:019}", N.fetch_add(1, Ordering::Relaxed))
}

fn visit(patient: usize, practitioner: &str, at_ms: i64, seq: &str) -> Visit {
    let (id, name, sex) = PATIENTS[patient];
    Visit {
        id: homevisit_core::store::Store::new_id(),
        visit_code: next_code(),
        patient: CardBasicData {
            card_number: "000012345678".into(),
            name: name.into(),
            national_id: NationalId::parse(id).unwrap(),
            birth_date: day(1950, 5, 6),
            sex,
            issue_date: day(2020, 1, 2),
        },
        institution: InstitutionCode::parse(INSTITUTION).unwrap(),
        practitioner_id: practitioner.into(),
        visit_type: "AH".into(),
        sequence_number: seq.into(),
        visited_at: chrono::DateTime::from_timestamp_millis(at_ms)
            .unwrap()
            .with_timezone(&taiwan_offset()),
        diagnoses: vec!["I10".into(), "E119".into()],
        note: String::new(),
        orders: vec![],
        security_signature: None,
        sam_id: None,
        abnormal_reason: None,
        card_written: false,
        fee_points: Some(1553),
        copayment_points: Some(0),
        context: Default::default(),
    }
}

impl Fixture {
    /// Fast inserts: many visits in one transaction, each with its card-upload job.
    fn insert(&self, visits: Vec<Visit>) {
        let batch: Vec<_> = visits
            .into_iter()
            .map(|v| {
                let job = card_upload_job(&v, 1).unwrap();
                (v, vec![job])
            })
            .collect();
        self.app.store().commit_visits(&batch).unwrap();
    }

    /// Commits one visit whose upload carried `uploaded` (defaults to the visit itself) and, when
    /// `confirmed_at_ms` is given, confirms that upload at that virtual time.
    fn insert_uploaded(&self, v: &Visit, uploaded: Option<&Visit>, confirmed_at_ms: Option<i64>) {
        let store = self.app.store();
        let job = card_upload_job(uploaded.unwrap_or(v), 1).unwrap();
        let committed = store.commit_visit(v, &[job]).unwrap();
        if let Some(at) = confirmed_at_ms {
            let now = self.clock_ms();
            self.clock.set_unix_ms(at);
            store.mark_sending(&committed.jobs).unwrap();
            store.mark_done(&committed.jobs[0], "ack").unwrap();
            self.clock.set_unix_ms(now);
        }
    }

    fn clock_ms(&self) -> i64 {
        use homevisit_core::platform::Clock;
        self.clock.now_unix_ms()
    }
}

fn details() -> VisitDetails {
    VisitDetails {
        practitioner_id: DOCTOR.into(),
        visit_type: "AH".into(),
        sequence_number: "0009".into(),
        diagnoses: vec!["I10".into()],
        note: String::new(),
        abnormal_reason: None,
    }
}

fn card(patient: usize) -> CardBasicData {
    visit(patient, DOCTOR, tw(2026, 12, 15, 9, 0), "0001").patient
}

#[test]
fn the_ninth_visit_of_a_day_is_warned_and_never_blocked() {
    let f = open(tw(2026, 12, 15, 18, 0));
    let mut visits: Vec<Visit> = (0..8)
        .map(|i| visit(i % 3, DOCTOR, tw(2026, 12, 15, 9 + i as u32, 0), "0001"))
        .collect();
    // Not today's: yesterday (this month), another doctor, and a cancellation record.
    visits.push(visit(0, DOCTOR, tw(2026, 12, 14, 23, 59), "0001"));
    visits.push(visit(0, OTHER_DOCTOR, tw(2026, 12, 15, 10, 0), "0001"));
    let mut cancel = visit(0, DOCTOR, tw(2026, 12, 15, 17, 0), "0001");
    cancel.visit_type = "ZA".into();
    visits.push(cancel);
    f.insert(visits);

    let caps = f.app.visit_caps(DOCTOR).unwrap();
    assert_eq!((caps.today, caps.this_month), (8, 9));
    assert_eq!(
        caps.warnings,
        vec![CapWarning::Daily {
            visit_number: 9,
            cap: 8
        }]
    );
    // Never blocking: the 9th visit is recorded, and the 10th would be warned in turn.
    let ninth = f.app.record_visit(card(1), details()).unwrap();
    let caps = f.app.visit_caps(DOCTOR).unwrap();
    assert_eq!(caps.today, 9);
    assert_eq!(
        caps.warnings,
        vec![CapWarning::Daily {
            visit_number: 10,
            cap: 8
        }]
    );
    // A visit cancelled within 24 h (the corrections service's ZA/ZB) no longer counts.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(f.app.corrections().cancel_visit(&ninth.id, "cancel-the-ninth"))
        .unwrap();
    assert_eq!(f.app.visit_caps(DOCTOR).unwrap().today, 8);
    // The eighth visit of the other doctor's day is not warned.
    assert!(f.app.visit_caps(OTHER_DOCTOR).unwrap().warnings.is_empty());
}

#[test]
fn the_181st_visit_of_a_taiwan_month_is_warned() {
    let f = open(tw(2026, 12, 31, 20, 0));
    // 179 visits over December 1–30 (6 a day, never 8), one at 00:30 Taiwan time on December 1
    // (still November in UTC), and one at 23:30 on November 30 (last month).
    let mut visits: Vec<Visit> = (0..179)
        .map(|i| {
            visit(
                i % 3,
                DOCTOR,
                tw(2026, 12, 1 + (i / 6) as u32, 9 + (i % 6) as u32, 0),
                "0001",
            )
        })
        .collect();
    visits.push(visit(0, DOCTOR, tw(2026, 12, 1, 0, 30), "0001"));
    visits.push(visit(0, DOCTOR, tw(2026, 11, 30, 23, 30), "0001"));
    f.insert(visits);

    let caps = f.app.visit_caps(DOCTOR).unwrap();
    assert_eq!((caps.this_month, caps.today, caps.monthly_cap), (180, 0, 180));
    assert_eq!(
        caps.warnings,
        vec![CapWarning::Monthly {
            visit_number: 181,
            cap: 180
        }]
    );
}

#[test]
fn a_dedicated_home_care_doctor_is_warned_at_the_241st() {
    let f = open(tw(2026, 12, 31, 20, 0));
    let at = |i: usize| tw(2026, 12, 1 + (i / 8) as u32, 8 + (i % 8) as u32, 0);
    f.insert((0..239).map(|i| visit(i % 3, DOCTOR, at(i), "0001")).collect());
    assert!(!f.app.is_dedicated_home_care(DOCTOR).unwrap());
    assert_eq!(
        f.app.visit_caps(DOCTOR).unwrap().warnings,
        vec![CapWarning::Monthly {
            visit_number: 240,
            cap: 180
        }]
    );
    f.app.set_dedicated_home_care(DOCTOR, true).unwrap();
    let caps = f.app.visit_caps(DOCTOR).unwrap();
    assert_eq!((caps.dedicated_home_care, caps.monthly_cap), (true, 240));
    assert!(caps.warnings.is_empty(), "{:?}", caps.warnings);
    f.insert(vec![visit(0, DOCTOR, at(239), "0001")]);
    assert_eq!(
        f.app.visit_caps(DOCTOR).unwrap().warnings,
        vec![CapWarning::Monthly {
            visit_number: 241,
            cap: 240
        }]
    );
    // The setting is per practitioner and checked.
    assert!(!f.app.is_dedicated_home_care(OTHER_DOCTOR).unwrap());
    assert!(matches!(
        f.app.visit_caps(" "),
        Err(AppError::Validation { field, .. }) if field == "practitioner_id"
    ));
}

#[test]
fn the_attending_doctor_visit_every_3_months_is_listed_when_due_or_overdue() {
    let f = open(tw(2026, 12, 15, 9, 0));
    let mut nurse = visit(1, OTHER_DOCTOR, tw(2026, 12, 1, 10, 0), "0001");
    nurse.context.role = Some(Role::Nurse);
    let mut doctor_a = visit(0, DOCTOR, tw(2026, 9, 18, 10, 0), "0001");
    doctor_a.context.role = Some(Role::Doctor);
    f.insert(vec![
        doctor_a,                                         // due 2026-12-18: in 3 days
        visit(1, DOCTOR, tw(2026, 8, 1, 10, 0), "0001"),  // due 2026-11-01: overdue
        nurse.clone(),                                    // a nurse's visit does not reset it
        visit(2, DOCTOR, tw(2026, 12, 1, 10, 0), "0001"), // due 2027-03-01: not listed
    ]);
    let due = f.app.attending_visits_due(14).unwrap();
    let got: Vec<_> = due
        .iter()
        .map(|d| (d.masked_id.as_str(), d.due, d.days_left, d.overdue))
        .collect();
    assert_eq!(
        got,
        vec![
            ("B22*****78", day(2026, 11, 1), -44, true),
            ("A12*****89", day(2026, 12, 18), 3, false),
        ]
    );
    assert_eq!(due[0].latest_visit_id, nurse.id);
    assert_eq!(due[0].masked_name, "陳○玲");
    assert_eq!(due[0].last_attending_visit, day(2026, 8, 1));
    // Nothing in the list's Debug names the patient.
    let debug = format!("{due:?}");
    assert!(!debug.contains("B220415378") && !debug.contains("陳"), "{debug}");
}

#[test]
fn three_months_without_a_visit_leave_the_case_management_fee_unpaid() {
    let f = open(tw(2026, 12, 15, 9, 0));
    f.insert(vec![
        visit(0, DOCTOR, tw(2026, 6, 10, 10, 0), "0001"),
        visit(0, DOCTOR, tw(2026, 10, 5, 10, 0), "0001"),
        visit(1, DOCTOR, tw(2026, 9, 20, 10, 0), "0001"),
        visit(2, DOCTOR, tw(2026, 11, 20, 10, 0), "0001"),
    ]);
    let periods = f.app.case_fee_periods().unwrap();
    let got: Vec<_> = periods
        .iter()
        .map(|p| (p.masked_id.as_str(), p.from_month, p.months, p.status, p.ongoing))
        .collect();
    assert_eq!(
        got,
        vec![
            // July–September without a visit: not paid.
            ("A12*****89", day(2026, 7, 1), 3, FeePeriodStatus::NotPaid, false),
            // October and November without one: a visit in December still saves the period.
            ("B22*****78", day(2026, 10, 1), 2, FeePeriodStatus::AtRisk, true),
        ]
    );
}

#[test]
fn offline_and_late_visits_are_on_the_abnormal_situation_report() {
    let f = open(tw(2026, 12, 15, 12, 0));
    let mut offline = visit(0, DOCTOR, tw(2026, 12, 14, 9, 0), "F00B");
    offline.abnormal_reason = Some("F00B 網路中斷 <b>".into());
    f.insert_uploaded(&offline, None, Some(tw(2026, 12, 14, 12, 0)));
    let late = visit(1, DOCTOR, tw(2026, 12, 14, 10, 0), "0002");
    f.insert_uploaded(&late, None, Some(tw(2026, 12, 15, 10, 1)));
    let in_time = visit(2, DOCTOR, tw(2026, 12, 14, 11, 0), "0003");
    f.insert_uploaded(&in_time, None, Some(tw(2026, 12, 14, 12, 0)));
    let never = visit(2, DOCTOR, tw(2026, 12, 13, 7, 0), "0004");
    f.insert_uploaded(&never, None, None);

    let rows = f
        .app
        .abnormal_report(day(2026, 12, 14), day(2026, 12, 14))
        .unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| (r.visit_code.as_str(), r.kind, r.sequence_code.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (offline.visit_code.as_str(), AbnormalKind::Offline, "F00B"),
            (late.visit_code.as_str(), AbnormalKind::LateUpload, "0002"),
        ]
    );
    assert_eq!(rows[0].reason, "F00B 網路中斷 <b>");
    assert_eq!(rows[1].due_at_ms, tw(2026, 12, 15, 10, 0));
    assert_eq!(rows[1].uploaded_at_ms, Some(tw(2026, 12, 15, 10, 1)));
    // Two days: the visit never uploaded is late too.
    let rows = f
        .app
        .abnormal_report(day(2026, 12, 13), day(2026, 12, 14))
        .unwrap();
    assert_eq!(rows[0].visit_code, never.visit_code);
    assert_eq!(rows[0].reason, "逾時未上傳");

    let html = f
        .app
        .abnormal_report_html(day(2026, 12, 13), day(2026, 12, 14))
        .unwrap();
    assert!(html.contains("健保IC卡作業異常狀況報備單") && html.contains(&offline.visit_code));
    assert!(html.contains("網路中斷 &lt;b&gt;") && !html.contains("<b>"));
    assert!(html.contains("A12*****89") && html.contains("115/12/14 09:00"));
    for (id, name, _) in PATIENTS {
        assert!(
            !html.contains(id) && !html.contains(name),
            "patient data in the HTML"
        );
    }

    let csv = f
        .app
        .abnormal_report_csv(day(2026, 12, 13), day(2026, 12, 14), CsvEncoding::Big5)
        .unwrap();
    let (text, _, bad) = encoding_rs::BIG5.decode(&csv.bytes);
    assert!(!bad);
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.starts_with("異常起日,就醫日期時間,就醫識別碼,就醫序號"));
    assert!(text.contains("居家輕量藍牙方案離線認證"));
    let utf8 = f
        .app
        .abnormal_report_csv(day(2026, 12, 13), day(2026, 12, 14), CsvEncoding::Utf8Bom)
        .unwrap();
    assert!(utf8.bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
    for (id, name, _) in PATIENTS {
        let t = String::from_utf8_lossy(&utf8.bytes);
        assert!(!t.contains(id) && !t.contains(name), "patient data in the CSV");
    }

    assert!(matches!(
        f.app.abnormal_report(day(2026, 12, 14), day(2026, 12, 13)),
        Err(AppError::Validation { field, .. }) if field == "to"
    ));
    assert!(matches!(
        f.app.abnormal_report(day(2025, 1, 1), day(2026, 12, 31)),
        Err(AppError::Validation { field, .. }) if field == "to"
    ));
}

#[test]
fn upload_quality_indicators_are_measured_against_the_90_percent_line() {
    let f = open(tw(2026, 12, 31, 20, 0));
    for i in 0..10u32 {
        let v = visit(0, DOCTOR, tw(2026, 12, 1 + i, 10, 0), "0001");
        // Two uploads said another main diagnosis than the claim now does.
        let mut uploaded = v.clone();
        if i < 2 {
            uploaded.diagnoses = vec!["E119".into()];
        }
        // The tenth upload was confirmed after 25 hours.
        let after = if i == 9 { 25 * HOUR } else { HOUR };
        let at = v.visited_at.timestamp_millis() + after;
        f.insert_uploaded(&v, Some(&uploaded), Some(at));
    }
    // One visit never uploaded; one in November does not count.
    f.insert_uploaded(&visit(1, DOCTOR, tw(2026, 12, 20, 10, 0), "0001"), None, None);
    f.insert_uploaded(
        &visit(1, DOCTOR, tw(2026, 11, 30, 10, 0), "0001"),
        None,
        Some(tw(2026, 12, 5, 0, 0)),
    );

    let all = f.app.upload_quality(2026, 12).unwrap();
    let got: Vec<_> = all
        .iter()
        .map(|i| (i.kind, i.numerator, i.denominator, i.meets_line))
        .collect();
    assert_eq!(
        got,
        vec![
            (IndicatorKind::UploadedWithin24h, 9, 11, false),
            (IndicatorKind::UploadedOfClaimed, 10, 11, true),
            (IndicatorKind::StaffId, 10, 10, true),
            (IndicatorKind::MainDiagnosis, 8, 10, false),
            (IndicatorKind::Amount, 10, 10, true),
            (IndicatorKind::Copayment, 10, 10, true),
            (IndicatorKind::Orders, 10, 10, true),
        ]
    );
    assert!(matches!(
        f.app.upload_quality(2026, 13),
        Err(AppError::Validation { field, .. }) if field == "month"
    ));
}
