//! E-referrals on the device, through the facade (`HomeVisit::referrals()`), against the platform
//! simulator: one test per lifecycle rule (the simulator's own tests carry the same names), the
//! fixed vectors run through the service, the queries, the detail report and its CSV export.
//! The LTC centre's side is the simulator's (`nhi_vpn_sim::referral`), as its admin routes do it.

use homevisit_core::app::{AppConfig, AppError, CardInput, HomeVisit, ReferralRecord, VisitDetails};
use homevisit_core::platform::{MemoryKeyStore, SystemClock};
use homevisit_core::referral::csv::CsvEncoding;
use homevisit_core::referral::vectors::{
    LIFECYCLE, LifecycleVector, SAMPLE_ID, SIM_LTC_CENTRE, SIM_LTC_CENTRE_2, Step, sample_form,
};
use homevisit_core::referral::{
    ProcessingStatus, ReceiverState, ReferralQuery, ReferralType, ReportFilter, SenderState, Side, Unit,
};
use homevisit_core::vpn::BindingQr;
use nhi_vpn_sim::referral as platform;
use nhi_vpn_sim::{SimConfig, VpnSim};
use std::sync::Arc;

struct Env {
    sim: VpnSim,
    app: HomeVisit,
    inst: String,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let b = sim.new_binding().unwrap();
    let inst = BindingQr::parse(&b.qr).unwrap().institution_code;
    let app = HomeVisit::open(
        AppConfig {
            data_dir: dir.path().to_path_buf(),
            institution_code: inst.clone(),
            device_id: "referral-tablet".into(),
        },
        Arc::new(MemoryKeyStore::with_seed(31)),
        Arc::new(SystemClock),
    )
    .unwrap();
    assert!(
        app.enrol(&b.qr, &b.pin, "referral tablet")
            .await
            .unwrap()
            .enrolled
    );
    Env {
        sim,
        app,
        inst,
        _dir: dir,
    }
}

impl Env {
    fn open_01(&self) -> ReferralRecord {
        self.app
            .referrals()
            .open(
                ReferralType::HomeCareToLtc,
                sample_form(&self.inst, SIM_LTC_CENTRE),
            )
            .unwrap()
    }

    async fn drain(&self) {
        self.app.set_online(true);
        let sum = self.app.sync().drain_once(60_000).await.unwrap();
        assert_eq!((sum.remaining, sum.rejected), (0, 0), "{sum:?}");
    }

    fn ltc(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.sim.state().db()
    }

    fn now(&self) -> i64 {
        self.sim.state().now_ms()
    }

    fn ltc_answers(&self, number: &str, status: ProcessingStatus) {
        platform::ltc_process(&self.ltc(), number, status, "已評估個案", self.now()).unwrap();
        platform::ltc_reply(&self.ltc(), number, self.now()).unwrap();
    }
}

fn wrong_state(e: AppError, action: &str) {
    match e {
        AppError::WrongState { action: a, .. } => assert_eq!(a, action),
        other => panic!("expected wrong_state for {action}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn institution_opens_01_03_04_and_ltc_centre_opens_02() {
    let e = env().await;
    let svc = e.app.referrals();
    assert_eq!(
        svc.types_to_open(),
        vec![
            ReferralType::HomeCareToLtc,
            ReferralType::InstitutionToLtc,
            ReferralType::InstitutionToHomeCare
        ]
    );
    for kind in [
        ReferralType::InstitutionToLtc,
        ReferralType::InstitutionToHomeCare,
    ] {
        assert_eq!(
            svc.open(kind, sample_form(&e.inst, SIM_LTC_CENTRE))
                .unwrap()
                .referral
                .kind,
            kind
        );
    }
    let err = svc
        .open(
            ReferralType::LtcCentreToHomeCare,
            sample_form(&e.inst, SIM_LTC_CENTRE),
        )
        .unwrap_err();
    assert!(
        matches!(&err, AppError::Validation { field, .. } if field == "kind"),
        "{err:?}"
    );
    assert_eq!(err.code(), "validation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_makes_the_referral_number_offline() {
    let e = env().await;
    e.app.set_online(false);
    let a = e.open_01();
    let b = e.open_01();
    assert_eq!(a.referral.number.len(), 24);
    assert!(a.referral.number.starts_with(&e.inst));
    assert_ne!(a.referral.number, b.referral.number);
    assert!(a.referral.number.ends_with("001") && b.referral.number.ends_with("002"));
    assert_eq!(
        (a.referral.count, a.referral.sender_state()),
        (1, SenderState::OpenedUnsent)
    );
    // Bad input: a typed error naming the field, nothing stored.
    let mut bad = sample_form(&e.inst, SIM_LTC_CENTRE);
    bad.patient.national_id = "A123456788".into();
    let err = e
        .app
        .referrals()
        .open(ReferralType::HomeCareToLtc, bad)
        .unwrap_err();
    assert!(matches!(&err, AppError::Validation { field, .. } if field == "patient.national_id"));
    assert!(!err.to_string().contains("A123456788"));
    assert_eq!(
        e.app
            .referrals()
            .find(Side::Sent, &ReferralQuery::default())
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_01_prefills_birth_date_and_case_data_from_the_visit_store() {
    let e = env().await;
    let svc = e.app.referrals();
    // Not a case of this institution yet: nothing but the ID and the referring unit.
    let (form, is_case) = svc.prefill(ReferralType::HomeCareToLtc, SAMPLE_ID).unwrap();
    assert!(!is_case && form.patient.birth_date.is_none());
    assert_eq!(form.referring_unit.code, e.inst);
    let card = CardInput {
        card_number: "000012345678".into(),
        name: "陳大明".into(),
        national_id: SAMPLE_ID.into(),
        birth_date: "0290517".into(),
        sex: "M".into(),
        issue_date: "1090102".into(),
    };
    let details = VisitDetails {
        practitioner_id: "B234567894".into(),
        visit_type: "AH".into(),
        sequence_number: "F00B".into(),
        diagnoses: vec!["I639".into()],
        note: String::new(),
        abnormal_reason: Some("A020 no signal".into()),
    };
    e.app.record_visit_from_input(&card, details).unwrap();
    let (form, is_case) = svc.prefill(ReferralType::HomeCareToLtc, SAMPLE_ID).unwrap();
    assert!(is_case);
    assert_eq!(
        form.patient.birth_date,
        chrono::NaiveDate::from_ymd_opt(1940, 5, 17)
    );
    assert_eq!(
        (form.patient.name.as_str(), form.patient.sex.as_str()),
        ("陳大明", "M")
    );
    assert_eq!(
        (form.assessment.visits, form.assessment.care_stage.as_str()),
        (1, "E1")
    );
    assert_eq!(form.assessment.diagnoses, vec!["I639".to_string()]);
    assert!(form.assessment.last_visit_ms.is_some());
    // Types 03 and 04 are ordinary cases: no prefill.
    let (form, is_case) = svc.prefill(ReferralType::InstitutionToLtc, SAMPLE_ID).unwrap();
    assert!(!is_case && form.patient.birth_date.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correct_and_delete_until_sent() {
    let e = env().await;
    e.app.set_online(false);
    let svc = e.app.referrals();
    let a = e.open_01();
    let mut f = a.referral.form.clone();
    f.purpose = "更正後的轉介目的".into();
    assert_eq!(
        svc.correct(&a.id, f.clone()).unwrap().referral.form.purpose,
        "更正後的轉介目的"
    );
    let b = e.open_01();
    svc.delete(&b.id).unwrap();
    assert!(matches!(svc.get(&b.id), Err(AppError::NotFound { .. })));
    svc.send(&a.id).unwrap();
    wrong_state(svc.correct(&a.id, f).unwrap_err(), "correct");
    wrong_state(svc.delete(&a.id).unwrap_err(), "delete");
    assert_eq!(svc.get(&a.id).unwrap().referral.form.purpose, "更正後的轉介目的");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_exactly_once() {
    let e = env().await;
    e.app.set_online(false);
    let svc = e.app.referrals();
    let a = e.open_01();
    svc.send(&a.id).unwrap();
    wrong_state(svc.send(&a.id).unwrap_err(), "send");
    assert_eq!(svc.delivery(&a.id).unwrap().as_deref(), Some("queued"));
    assert_eq!(
        platform::load(&e.ltc(), &a.referral.number).unwrap(),
        None,
        "nothing leaves offline"
    );
    e.drain().await;
    assert_eq!(svc.delivery(&a.id).unwrap().as_deref(), Some("done"));
    assert_eq!(platform::receipts(&e.ltc(), &a.referral.number, 1, "submit"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sending_only_the_receiver_acts() {
    let e = env().await;
    let svc = e.app.referrals();
    let a = e.open_01();
    svc.send(&a.id).unwrap();
    e.drain().await;
    // The sender cannot process its own referral; the receiver can.
    wrong_state(
        svc.process(&a.id, ProcessingStatus::Accepted, "x").unwrap_err(),
        "process",
    );
    wrong_state(svc.send_reply(&a.id).unwrap_err(), "reply");
    platform::ltc_process(
        &e.ltc(),
        &a.referral.number,
        ProcessingStatus::Accepted,
        "收案",
        e.now(),
    )
    .unwrap();
    // Not replied yet: the sender sees nothing.
    svc.refresh().await.unwrap();
    assert_eq!(svc.get(&a.id).unwrap().referral.sender_state(), SenderState::Sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processing_correctable_until_replied() {
    let e = env().await;
    let svc = e.app.referrals();
    let sent = platform::ltc_open(&mut e.ltc(), &e.inst, e.now()).unwrap();
    let s = svc.refresh().await.unwrap();
    assert_eq!(s.received, 1);
    let got = svc
        .find(
            Side::Received,
            &ReferralQuery {
                number: Some(sent.number.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    let r = &got[0];
    assert_eq!(r.referral.receiver_state(), Some(ReceiverState::Unprocessed));
    // The receiver may not touch the sender's form.
    wrong_state(
        svc.correct(&r.id, r.referral.form.clone()).unwrap_err(),
        "correct",
    );
    wrong_state(svc.send_reply(&r.id).unwrap_err(), "reply");
    svc.process(&r.id, ProcessingStatus::NotEligible, "初判").unwrap();
    let p = svc
        .process(&r.id, ProcessingStatus::Accepted, "已收案，下週訪視")
        .unwrap();
    assert_eq!(
        p.referral.receiver_state(),
        Some(ReceiverState::ProcessedNotReplied)
    );
    svc.send_reply(&r.id).unwrap();
    wrong_state(
        svc.process(&r.id, ProcessingStatus::Declined, "改").unwrap_err(),
        "process",
    );
    wrong_state(svc.send_reply(&r.id).unwrap_err(), "reply");
    e.drain().await;
    let held = platform::load(&e.ltc(), &sent.number).unwrap().unwrap();
    assert_eq!(held.reply().unwrap().status, ProcessingStatus::Accepted);
    assert_eq!(platform::receipts(&e.ltc(), &sent.number, 1, "reply"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_04_re_referral_keeps_number_and_counts_up() {
    let e = env().await;
    let svc = e.app.referrals();
    e.app.set_online(false);
    let a = e.open_01();
    svc.send(&a.id).unwrap();
    wrong_state(svc.re_refer(&a.id, Unit::default()).unwrap_err(), "re_refer");
    e.drain().await;
    e.ltc_answers(&a.referral.number, ProcessingStatus::ArrangeReReferral);
    assert_eq!(svc.refresh().await.unwrap().replies, 1);
    let replied = svc.get(&a.id).unwrap();
    assert_eq!(replied.referral.sender_state(), SenderState::Replied);
    let mut to = replied.referral.form.receiving_unit.clone();
    let same = svc.re_refer(&a.id, to.clone()).unwrap_err();
    assert!(matches!(&same, AppError::Validation { field, .. } if field == "receiving_unit"));
    to.code = SIM_LTC_CENTRE_2.into();
    let again = svc.re_refer(&a.id, to).unwrap();
    assert_eq!(
        (
            again.referral.number.as_str(),
            again.referral.count,
            again.referral.sender_state()
        ),
        (a.referral.number.as_str(), 2, SenderState::OpenedUnsent)
    );
    wrong_state(svc.delete(&a.id).unwrap_err(), "delete");
    svc.send(&a.id).unwrap();
    e.drain().await;
    assert_eq!(platform::receipts(&e.ltc(), &a.referral.number, 2, "submit"), 1);
    e.ltc_answers(&a.referral.number, ProcessingStatus::Accepted);
    svc.refresh().await.unwrap();
    let done = svc.get(&a.id).unwrap();
    assert_eq!(
        (done.referral.count, done.referral.sender_state()),
        (2, SenderState::Replied)
    );
    assert_eq!(done.referral.rounds.len(), 1);
    assert_eq!(
        done.referral.rounds[0].processing.as_ref().unwrap().status,
        ProcessingStatus::ArrangeReReferral
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_states_opened_unsent_sent_replied_and_receiver_states_follow() {
    let e = env().await;
    let svc = e.app.referrals();
    let a = e.open_01();
    let state = |id: &str| {
        let r = svc.get(id).unwrap().referral;
        (r.sender_state(), r.receiver_state())
    };
    assert_eq!(state(&a.id), (SenderState::OpenedUnsent, None));
    svc.send(&a.id).unwrap();
    assert_eq!(
        state(&a.id),
        (SenderState::Sent, Some(ReceiverState::Unprocessed))
    );
    e.drain().await;
    platform::ltc_process(
        &e.ltc(),
        &a.referral.number,
        ProcessingStatus::Accepted,
        "收案",
        e.now(),
    )
    .unwrap();
    let held = platform::load(&e.ltc(), &a.referral.number).unwrap().unwrap();
    assert_eq!(held.receiver_state(), Some(ReceiverState::ProcessedNotReplied));
    svc.refresh().await.unwrap();
    assert_eq!(state(&a.id).0, SenderState::Sent);
    platform::ltc_reply(&e.ltc(), &a.referral.number, e.now()).unwrap();
    svc.refresh().await.unwrap();
    assert_eq!(state(&a.id), (SenderState::Replied, Some(ReceiverState::Replied)));
}

/// Runs one fixed vector through the service (the receiver is the simulated LTC centre).
async fn run_vector(e: &Env, v: &LifecycleVector) {
    let svc = e.app.referrals();
    {
        let mut id = Some(e.open_01().id);
        for (i, (step, expect)) in v.steps.iter().enumerate() {
            let Some(cur) = id.clone() else {
                panic!("{}: step after delete", v.name)
            };
            let r = svc.get(&cur).unwrap().referral;
            let got: Option<String> = match step {
                Step::Correct => {
                    let mut f = r.form.clone();
                    f.purpose = format!("更正 {i}");
                    svc.correct(&cur, f).err().map(|e| e.code().into())
                }
                Step::Delete => match svc.delete(&cur) {
                    Ok(()) => {
                        id = None;
                        None
                    }
                    Err(e) => Some(e.code().into()),
                },
                Step::Send => {
                    let out = svc.send(&cur).err().map(|e| e.code().to_string());
                    if out.is_none() {
                        e.drain().await;
                    }
                    out
                }
                // The receiver is the simulated LTC centre; an unsent round is unknown there.
                Step::Process(s) => platform::ltc_process(&e.ltc(), &r.number, *s, "已評估", e.now())
                    .err()
                    .map(|x| {
                        if x.1.error == "not_found" {
                            "wrong_state".into()
                        } else {
                            x.1.error
                        }
                    }),
                Step::Reply => {
                    let out = platform::ltc_reply(&e.ltc(), &r.number, e.now()).err().map(|x| {
                        if x.1.error == "not_found" {
                            "wrong_state".into()
                        } else {
                            x.1.error
                        }
                    });
                    svc.refresh().await.unwrap();
                    out
                }
                Step::ReRefer => {
                    let mut u = r.form.receiving_unit.clone();
                    u.code = SIM_LTC_CENTRE_2.into();
                    svc.re_refer(&cur, u).err().map(|e| e.code().into())
                }
            };
            assert_eq!(got.as_deref(), *expect, "vector {} step {i} {step:?}", v.name);
        }
        if let Some(id) = id {
            assert_eq!(svc.get(&id).unwrap().referral.count, v.final_count, "{}", v.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_vectors_hold_on_the_device_service() {
    let e = env().await;
    for v in LIFECYCLE {
        run_vector(&e, v).await;
    }
}

async fn run_named(name: &str) {
    let e = env().await;
    run_vector(&e, LIFECYCLE.iter().find(|v| v.name == name).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_before_sending() {
    run_named("delete_before_sending").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_referral_only_after_status_04() {
    run_named("re_referral_only_after_status_04").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_by_id_number_date_range_and_state() {
    let e = env().await;
    let svc = e.app.referrals();
    let a = e.open_01();
    let mut other = sample_form(&e.inst, SIM_LTC_CENTRE);
    other.patient.national_id = "B223456782".into();
    other.patient.sex = "F".into();
    let b = svc.open(ReferralType::InstitutionToLtc, other).unwrap();
    svc.send(&b.id).unwrap();
    let ids = |q: ReferralQuery| -> Vec<String> {
        svc.find(Side::Sent, &q)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(
        ids(ReferralQuery {
            national_id: Some(SAMPLE_ID.to_lowercase()),
            ..Default::default()
        }),
        vec![a.id.clone()]
    );
    assert_eq!(
        ids(ReferralQuery {
            number: Some(b.referral.number.clone()),
            ..Default::default()
        }),
        vec![b.id.clone()]
    );
    let today = homevisit_core::referral::rules::opened_on(&a.referral).unwrap();
    assert_eq!(
        ids(ReferralQuery {
            opened_from: Some(today),
            opened_to: Some(today),
            ..Default::default()
        })
        .len(),
        2
    );
    assert!(
        ids(ReferralQuery {
            opened_from: today.succ_opt(),
            ..Default::default()
        })
        .is_empty()
    );
    assert_eq!(
        ids(ReferralQuery {
            sender_state: Some(SenderState::OpenedUnsent),
            ..Default::default()
        }),
        vec![a.id.clone()]
    );
    assert_eq!(
        ids(ReferralQuery {
            receiver_state: Some(ReceiverState::Unprocessed),
            ..Default::default()
        }),
        vec![b.id.clone()]
    );
    assert!(
        svc.find(Side::Received, &ReferralQuery::default())
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detail_report_filters_and_csv_export() {
    let e = env().await;
    let svc = e.app.referrals();
    let a = e.open_01();
    let mut f = sample_form(&e.inst, SIM_LTC_CENTRE);
    f.patient.name = "王堃".into();
    let b = svc.open(ReferralType::InstitutionToLtc, f).unwrap();
    svc.send(&b.id).unwrap();
    e.drain().await;
    platform::ltc_open(&mut e.ltc(), &e.inst, e.now()).unwrap();
    svc.refresh().await.unwrap();
    let all = svc.report(&ReportFilter::default()).unwrap();
    assert_eq!(all.len(), 3);
    let count = |f: ReportFilter| svc.report(&f).unwrap().len();
    assert_eq!(
        count(ReportFilter {
            kind: Some(ReferralType::HomeCareToLtc),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        count(ReportFilter {
            side: Some(Side::Received),
            ..Default::default()
        }),
        1
    );
    let today = homevisit_core::referral::rules::opened_on(&a.referral).unwrap();
    assert_eq!(
        count(ReportFilter {
            from: Some(today),
            to: Some(today),
            ..Default::default()
        }),
        3
    );
    assert_eq!(
        count(ReportFilter {
            sender_state: Some(SenderState::OpenedUnsent),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        count(ReportFilter {
            receiver_state: Some(ReceiverState::Unprocessed),
            ..Default::default()
        }),
        2
    );
    let big5 = svc
        .export_csv(&ReportFilter::default(), CsvEncoding::default())
        .unwrap();
    assert_eq!(big5.encoding, CsvEncoding::Big5);
    assert_eq!(big5.lossy_rows, vec![2], "王堃's row lost 堃");
    let (text, had_errors) = encoding_rs::BIG5.decode_without_bom_handling(&big5.bytes);
    assert!(!had_errors);
    assert!(text.contains("王？") && text.contains("陳大明") && text.contains(&a.referral.number));
    let utf8 = svc
        .export_csv(&ReportFilter::default(), CsvEncoding::Utf8Bom)
        .unwrap();
    assert!(
        String::from_utf8(utf8.bytes[3..].to_vec())
            .unwrap()
            .contains("王堃")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_queueing_and_marking_sent_is_reconciled() {
    let e = env().await;
    e.app.set_online(false);
    let svc = e.app.referrals();
    let a = e.open_01();
    // What a crash right after the enqueue leaves: the job queued, the sealed copy unsent.
    let mut sent = a.referral.clone();
    sent.sent_at_ms = Some(e.now());
    let job = homevisit_core::referral::outbox::submit_job(&sent).unwrap();
    e.app.store().enqueue(None, &[job]).unwrap();
    let r = svc.get(&a.id).unwrap();
    assert_eq!(
        r.referral.sender_state(),
        SenderState::Sent,
        "the queued job is the truth"
    );
    wrong_state(svc.send(&a.id).unwrap_err(), "send");
    wrong_state(
        svc.correct(&a.id, a.referral.form.clone()).unwrap_err(),
        "correct",
    );
    assert_eq!(e.app.outbox_counts().unwrap().queued, 1, "queued once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_refusal_parks_the_send_with_its_reason() {
    let e = env().await;
    let svc = e.app.referrals();
    let a = e.open_01();
    // Another unit already holds this number on the platform.
    let mut squatter = a.referral.clone();
    squatter.sender_code = "9999999999".into();
    squatter.form.referring_unit.code = "9999999999".into();
    squatter.sent_at_ms = Some(e.now());
    platform::submit(
        &mut e.ltc(),
        "9999999999",
        homevisit_core::referral::UnitKind::Institution,
        &homevisit_core::referral::wire::Submission { referral: squatter },
        e.now(),
    )
    .unwrap();
    svc.send(&a.id).unwrap();
    e.app.set_online(true);
    let sum = e.app.sync().drain_once(60_000).await.unwrap();
    assert_eq!(sum.rejected, 1, "{sum:?}");
    assert_eq!(svc.delivery(&a.id).unwrap().as_deref(), Some("rejected"));
    let rejected = e.app.sync().rejected_jobs().unwrap();
    assert!(
        rejected.iter().any(
            |j| matches!(&j.state, homevisit_core::store::JobState::Rejected(r)
            if r.reason.contains("belongs to another referral"))
        ),
        "{rejected:?}"
    );
}
