//! HMIC case applications on the device, through the facade (`HomeVisit::cases()`), against the
//! VPN simulator's case service (the authority, running the same `rules::hmic`): one full case
//! life, an offline draft surviving SIGKILL and syncing once, a rule broken offline (submission on
//! day 31) rejected with field and reason then corrected and re-queued, duplicate enrolment and the
//! same team's read-only case, reopening and the automatic re-lock after 3 days of the service's
//! virtual clock, the batch file (one bad record rejects it; names never repeat), the query and its
//! CSV, and the clear errors of bad input. Crash points are chosen by progress, never by time.

use homevisit_core::app::{AppConfig, AppError, CaseRecord, HomeVisit};
use homevisit_core::hmic::model::{Application, CaseState, ClosingReason, Condition2};
use homevisit_core::hmic::vectors::{self, SAMPLE_ID, SAMPLE_TEAM, TRAIT_26, sample_on};
use homevisit_core::model::care::CareStage;
use homevisit_core::model::roc::RocDate;
use homevisit_core::platform::{FileKeyStore, SystemClock};
use homevisit_core::referral::csv::CsvEncoding;
use homevisit_core::rules::hmic::enrolment::Verdict;
use homevisit_core::sync::JobState;
use homevisit_core::vpn::BindingQr;
use nhi_vpn_sim::hmic as nhi;
use nhi_vpn_sim::{SimConfig, VpnSim};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

const DAY_MS: i64 = 24 * 3600 * 1000;

struct Env {
    sim: VpnSim,
    app: HomeVisit,
    inst: String,
    dir: tempfile::TempDir,
}

fn open(dir: &Path, inst: &str) -> HomeVisit {
    HomeVisit::open(
        AppConfig {
            data_dir: dir.to_path_buf(),
            institution_code: inst.into(),
            device_id: "hmic-crash-phone".into(),
        },
        Arc::new(FileKeyStore::new(dir.join("keys"))),
        Arc::new(SystemClock),
    )
    .unwrap()
}

async fn env() -> Env {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let b = sim.new_binding().unwrap();
    let inst = BindingQr::parse(&b.qr).unwrap().institution_code;
    let app = open(dir.path(), &inst);
    assert!(app.enrol(&b.qr, &b.pin, "hmic tablet").await.unwrap().enrolled);
    Env { sim, app, inst, dir }
}

fn today() -> chrono::NaiveDate {
    RocDate::today(&SystemClock).unwrap().naive()
}

impl Env {
    fn sample(&self) -> Application {
        sample_on("", &self.inst, SAMPLE_TEAM, today())
    }

    fn draft(&self, a: Application) -> CaseRecord {
        self.app.cases().create(a).unwrap().0
    }

    async fn drain(&self) -> (usize, usize) {
        self.app.set_online(true);
        let s = self.app.sync().drain_once(60_000).await.unwrap();
        (s.done, s.rejected)
    }

    fn db(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.sim.state().db()
    }

    fn service_now(&self) -> i64 {
        nhi::service_now(&self.db(), self.sim.state().now_ms()).unwrap()
    }

    fn advance(&self, ms: i64) {
        nhi::advance_clock(&self.db(), self.sim.state().now_ms(), ms).unwrap();
    }

    fn nhi_state(&self, id: &str) -> CaseState {
        let now = self.service_now();
        nhi::load(&self.db(), id, now).unwrap().unwrap().state
    }
}

fn field_of(e: AppError) -> String {
    match e {
        AppError::Validation { field, .. } => field,
        AppError::Rejected { field, .. } => field.unwrap_or_default(),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_full_case_life() {
    let e = env().await;
    let cases = e.app.cases();
    e.app.set_online(false);
    // One month of care: the extension is due today.
    let mut first = e.sample();
    first.care_months = 1;
    let c = e.draft(first);
    assert_eq!(c.application.patient.sex, "M");
    let c = cases.submit(&c.application.id).unwrap();
    assert_eq!(c.application.acceptance_date, Some(today()));
    assert_eq!(e.drain().await, (1, 0));
    assert_eq!(e.nhi_state(&c.application.id), CaseState::Submitted);

    // Extension: copies, clears visit plan and orders; start = previous end + 1.
    let prev_end = c.application.end_date();
    let ext = cases.extend(&c.application.id, None).unwrap();
    assert!(ext.application.orders.is_empty() && ext.application.visit_plan.per_month.is_empty());
    let mut filled = ext.application.clone();
    filled.orders = e.sample().orders;
    let wrong_submit = cases.submit(&ext.application.id).unwrap_err();
    assert_eq!(field_of(wrong_submit), "orders");
    let (ext, _) = cases.correct(&ext.application.id, filled).unwrap();
    let ext = cases.submit(&ext.application.id).unwrap();
    assert_eq!(ext.application.start_date, prev_end.succ_opt().unwrap());
    assert_eq!(e.drain().await, (1, 0));

    // Stage change: start = application date; the previous one is closed.
    let sc = cases.change_stage(&ext.application.id, None).unwrap();
    assert_eq!(sc.application.care_stage, None);
    let mut filled = sc.application.clone();
    filled.care_stage = Some(CareStage::Intensive);
    filled.intake = e.sample().intake;
    filled.orders = e.sample().orders;
    let (sc, _) = cases.correct(&sc.application.id, filled).unwrap();
    let sc = cases.submit(&sc.application.id).unwrap();
    assert_eq!(sc.application.start_date, today());
    assert_eq!(
        cases.get(&ext.application.id).unwrap().application.state,
        CaseState::Closed
    );
    assert_eq!(e.drain().await, (1, 0));
    assert_eq!(e.nhi_state(&ext.application.id), CaseState::Closed);

    // The accepted case is the care team's shared record: one case for the whole chain
    // (enrolment, extension, stage change), its basic data from the latest application.
    e.app.set_online(true);
    e.app.team().refresh().await.unwrap();
    let shared = e.app.team().cases().unwrap();
    assert_eq!(shared.len(), 1, "one shared case for the chain");
    assert_eq!(shared[0].case_id, c.application.id);
    assert_eq!(shared[0].team, sc.application.care_team);
    assert_eq!(shared[0].basics.care_stage, Some(CareStage::Intensive));

    // Close with date and reason.
    let closed = cases
        .close(&sc.application.id, today(), ClosingReason::Improved)
        .unwrap();
    assert_eq!(closed.application.state, CaseState::Closed);
    assert_eq!(e.drain().await, (1, 0));
    assert_eq!(e.nhi_state(&sc.application.id), CaseState::Closed);
    assert_eq!(nhi::receipts(&e.db(), &sc.application.id, 1, "close"), 1);

    // Query + CSV (own team).
    let rows = cases.query(today(), today(), Some(SAMPLE_TEAM)).await.unwrap();
    assert_eq!(rows.len(), 3);
    let csv = cases.export_csv(&rows, CsvEncoding::Utf8Bom);
    let text = String::from_utf8_lossy(&csv.bytes).to_string();
    assert!(text.contains("照護團隊代碼") && text.contains(SAMPLE_TEAM));
    let other = cases
        .query(today(), today(), Some("HM99999999"))
        .await
        .unwrap_err();
    assert!(
        matches!(other, AppError::Rejected { ref code, .. } if code == "not_your_team"),
        "{other:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_draft_survives_sigkill_and_syncs_once() {
    for step in ["created", "queued", "marked_submitted"] {
        let e = env().await;
        let path = e.dir.path().to_path_buf();
        drop(e.app);
        let out = Command::new(env!("CARGO_BIN_EXE_hmic_crash_child"))
            .arg(&path)
            .arg(&e.inst)
            .env("HMIC_CRASH_AT", step)
            .output()
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(9),
            "{step}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let app = open(&path, &e.inst);
        let cases = app.cases();
        let list = cases.list().unwrap();
        assert_eq!(list.len(), 1, "{step}");
        let id = list[0].application.id.clone();
        if list[0].application.state == CaseState::Draft {
            assert_eq!(step, "created");
            cases.submit(&id).unwrap();
        }
        assert_eq!(cases.get(&id).unwrap().application.state, CaseState::Submitted);
        app.set_online(true);
        let s = app.sync().drain_once(60_000).await.unwrap();
        assert_eq!((s.done, s.rejected), (1, 0), "{step}");
        let s = app.sync().drain_once(60_000).await.unwrap();
        assert_eq!(s.done, 0);
        assert_eq!(nhi::receipts(&e.sim.state().db(), &id, 1, "submit"), 1, "{step}");
        assert_eq!(cases.delivery(&id).unwrap().as_deref(), Some("done"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submission_on_day_31_is_rejected_then_corrected_and_requeued() {
    let e = env().await;
    let cases = e.app.cases();
    e.app.set_online(false);
    let day29 = today() - chrono::Days::new(29);
    let a = sample_on("", &e.inst, SAMPLE_TEAM, day29);
    let c = e.draft(a);
    // Day 29 on the device: allowed, queued offline.
    let c = cases.submit(&c.application.id).unwrap();
    // The network returns two days later (the NHI's clock): day 31.
    e.advance(2 * DAY_MS);
    assert_eq!(e.drain().await, (0, 1));
    let rejected = e.app.sync().rejected_jobs().unwrap();
    assert_eq!(rejected.len(), 1);
    let JobState::Rejected(r) = &rejected[0].state else {
        panic!("not rejected")
    };
    assert_eq!(r.fields[0].field, "application_date");
    assert!(r.reason.contains("submission_within_30_days"), "{}", r.reason);
    assert_eq!(
        cases.delivery(&c.application.id).unwrap().as_deref(),
        Some("rejected")
    );
    // Correct the application date (editable) and re-queue.
    let mut fixed = c.application.clone();
    fixed.application_date = today() - chrono::Days::new(25);
    let new_job = cases.correct_rejected(&rejected[0].id, fixed).unwrap();
    assert_ne!(new_job, rejected[0].id);
    assert_eq!(e.drain().await, (1, 0));
    assert_eq!(nhi::receipts(&e.db(), &c.application.id, 2, "submit"), 1);
    assert!(e.app.sync().rejected_jobs().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_duplicate_enrolment_and_same_team_read_only() {
    let e = env().await;
    let cases = e.app.cases();
    let birth = vectors::day(1938, 3, 4);
    let err = cases
        .check_enrolment(nhi::SEEDED_NURSING_ID, birth, SAMPLE_TEAM)
        .await
        .unwrap_err();
    match err {
        AppError::Rejected { code, field, .. } => {
            assert_eq!(
                (code.as_str(), field.as_deref()),
                ("no_duplicate_enrolment", Some("patient.national_id"))
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        cases
            .check_enrolment(nhi::SEEDED_CLOSED_ID, birth, SAMPLE_TEAM)
            .await
            .unwrap()
            .verdict,
        Verdict::Free
    );
    // Another institution of the same team enrols the sample patient.
    let other = sample_on("other-1", "1111111111", SAMPLE_TEAM, today());
    let now = e.service_now();
    nhi::submit(
        &mut e.db(),
        "1111111111",
        &homevisit_core::hmic::wire::SubmitRequest { application: other },
        now,
    )
    .unwrap();
    let check = cases
        .check_enrolment(SAMPLE_ID, vectors::day(1940, 5, 17), SAMPLE_TEAM)
        .await
        .unwrap();
    assert!(matches!(check.verdict, Verdict::SameTeam { .. }));
    let shown = check.case.unwrap();
    assert!(shown.read_only);
    let err = cases
        .close(&shown.application.id, today(), ClosingReason::Death)
        .unwrap_err();
    assert!(
        matches!(err, AppError::WrongState { ref state, .. } if state == "read_only"),
        "{err:?}"
    );
    // The device refuses a new enrolment of the same patient offline too.
    e.app.set_online(false);
    let err = cases.create(e.sample()).unwrap_err();
    assert_eq!(field_of(err), "patient.national_id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopened_modifiable_3_days_then_relocked() {
    let e = env().await;
    let cases = e.app.cases();
    let c = e.draft(e.sample());
    let id = c.application.id.clone();
    cases.submit(&id).unwrap();
    assert_eq!(e.drain().await, (1, 0));
    let mut edit = cases.get(&id).unwrap().application;
    edit.assessment.language = "國語".into();
    assert!(matches!(
        cases.correct(&id, edit.clone()),
        Err(AppError::WrongState { .. })
    ));
    // The regional office reopens it.
    let now = e.service_now();
    nhi::reopen(&e.db(), &id, now).unwrap();
    assert_eq!(cases.refresh().await.unwrap(), 1);
    assert_eq!(cases.state_of(&id).unwrap(), CaseState::Reopened);
    cases.correct(&id, edit.clone()).unwrap();
    assert_eq!(e.drain().await, (1, 0));
    assert_eq!(nhi::receipts(&e.db(), &id, 2, "submit"), 1);
    // Reopened again, but the device's correction reaches the NHI after its 3 days: re-locked.
    let now = e.service_now();
    nhi::reopen(&e.db(), &id, now).unwrap();
    cases.refresh().await.unwrap();
    e.app.set_online(false);
    cases.correct(&id, edit).unwrap();
    e.advance(3 * DAY_MS);
    assert_eq!(e.drain().await, (0, 1));
    let rejected = e.app.sync().rejected_jobs().unwrap();
    assert!(
        rejected[0]
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("wrong_state")
    );
    assert_eq!(e.nhi_state(&id), CaseState::Submitted);
    cases.refresh().await.unwrap();
    assert_eq!(cases.state_of(&id).unwrap(), CaseState::Submitted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_file_with_one_bad_record_is_rejected_whole_and_names_never_repeat() {
    let e = env().await;
    let cases = e.app.cases();
    let good = e.draft(e.sample());
    let (name, _) = cases
        .batch_file(std::slice::from_ref(&good.application.id))
        .unwrap();
    let mut bad = good.application.clone();
    bad.id = "bad-record".into();
    bad.patient.national_id = "D123456782".into();
    bad.intake.condition2.push(Condition2::DiseaseTrait);
    bad.intake.disease_trait = TRAIT_26.into();
    let xml = homevisit_core::hmic::xml::to_xml(&[good.application.clone(), bad]).unwrap();
    let err = cases.upload_batch(&name, &xml).await.unwrap_err();
    match err {
        AppError::Rejected { code, field, .. } => {
            assert_eq!(
                (code.as_str(), field.as_deref()),
                ("text_limit", Some("records.1.intake.disease_trait"))
            )
        }
        other => panic!("{other:?}"),
    }
    let now = e.service_now();
    assert!(nhi::load(&e.db(), &good.application.id, now).unwrap().is_none());
    // The same name again is refused; the next file gets the next serial.
    let (_, good_xml) = cases
        .batch_file(std::slice::from_ref(&good.application.id))
        .unwrap();
    let err = cases.upload_batch(&name, &good_xml).await.unwrap_err();
    assert!(
        matches!(err, AppError::Rejected { ref code, .. } if code == "batch_name_repeated"),
        "{err:?}"
    );
    let (next, xml) = cases
        .batch_file(std::slice::from_ref(&good.application.id))
        .unwrap();
    assert_ne!(next, name);
    assert!(next.starts_with(&format!("HMIC{}", e.inst)) && next.ends_with(".XML"));
    assert_eq!(cases.upload_batch(&next, &xml).await.unwrap().records, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gives_each_its_clear_error() {
    let e = env().await;
    let cases = e.app.cases();
    e.app.set_online(false);
    // An ID with a wrong check digit.
    let err = cases
        .blank("A123456788", vectors::day(1940, 5, 17), SAMPLE_TEAM)
        .unwrap_err();
    assert_eq!(field_of(err), "patient.national_id");
    let blank = cases
        .blank("a123456789", vectors::day(1940, 5, 17), SAMPLE_TEAM)
        .unwrap();
    assert_eq!(
        (blank.patient.sex.as_str(), blank.application_date),
        ("M", today())
    );
    // A 26-character disease trait.
    let mut a = e.sample();
    a.intake.condition2.push(Condition2::DiseaseTrait);
    a.intake.disease_trait = TRAIT_26.into();
    let err = cases.create(a).unwrap_err();
    match err {
        AppError::Validation { field, reason } => {
            assert_eq!(field, "intake.disease_trait");
            assert!(reason.starts_with("text_limit"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // An ICD code with a letter in the wrong place; a dotted lower-case code is normalised.
    let mut a = e.sample();
    a.diagnoses = vec!["1G450".into()];
    assert_eq!(field_of(cases.create(a).unwrap_err()), "diagnoses.0");
    let mut a = e.sample();
    a.diagnoses = vec!["g45.0".into()];
    let c = e.draft(a);
    assert_eq!(c.application.diagnoses, vec!["G450".to_string()]);
    // Nothing was lost: the one good draft is there.
    assert_eq!(cases.list().unwrap().len(), 1);
}
