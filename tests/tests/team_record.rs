//! The care team's shared record on two devices of two institutions of one team, against the
//! simulator (the authority): the enrolling institution's special note wins and the other gets
//! `Rejected{code, field}`; care plans never lose a version; a withdrawn access removes the case
//! from the other device at its next sync, cache included; a nurse's visit record created offline
//! survives a SIGKILL at every step and is recorded once; bad input gives each its clear error and
//! loses nothing; discussion, unread notifications, the phone log and the team member query.

use chrono::NaiveDate;
use homevisit_core::app::{AppConfig, AppError, HomeVisit, RecordInput};
use homevisit_core::model::care::Role;
use homevisit_core::platform::{FileKeyStore, SystemClock};
use homevisit_core::team::{FrequencyUnit, PlanContent, TeamWrite, VisitFrequency};
use homevisit_core::vpn::BindingQr;
use nhi_vpn_sim::team::{self as platform, SeedCase};
use nhi_vpn_sim::{SimConfig, VpnSim};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::Arc;

const TEAM: &str = "HM00001234";
const OTHER: &str = "3501200011";

struct Device {
    app: HomeVisit,
    inst: String,
    dir: tempfile::TempDir,
}

fn open_app(dir: &std::path::Path, inst: &str, device: &str) -> HomeVisit {
    HomeVisit::open(
        AppConfig {
            data_dir: dir.to_path_buf(),
            institution_code: inst.into(),
            device_id: device.into(),
        },
        Arc::new(FileKeyStore::new(dir.join("keys"))),
        Arc::new(SystemClock),
    )
    .unwrap()
}

async fn device(sim: &VpnSim, institution: Option<&str>, name: &str) -> Device {
    let b = match institution {
        None => sim.new_binding().unwrap(),
        Some(i) => platform::binding_for(sim.state(), i).unwrap(),
    };
    let inst = BindingQr::parse(&b.qr).unwrap().institution_code;
    let dir = tempfile::tempdir().unwrap();
    let app = open_app(dir.path(), &inst, name);
    assert!(app.enrol(&b.qr, &b.pin, name).await.unwrap().enrolled);
    Device { app, inst, dir }
}

impl Device {
    async fn sync(&self) {
        self.app.set_online(true);
        self.app.sync().drain_once(60_000).await.unwrap();
        self.app.team().refresh().await.unwrap();
    }
}

struct Env {
    sim: VpnSim,
    a: Device,
    b: Device,
    case_id: String,
}

/// A case enrolled by A's institution, shared with B's, both devices synced.
async fn env() -> Env {
    let sim = VpnSim::start(SimConfig::default()).await.unwrap();
    let a = device(&sim, None, "enrolling-tablet").await;
    let b = device(&sim, Some(OTHER), "partner-tablet").await;
    let case_id = platform::seed_case(
        &sim.state().db(),
        &SeedCase {
            team: TEAM.into(),
            enrolling: a.inst.clone(),
            members: vec![a.inst.clone(), OTHER.into()],
            access: vec![OTHER.into()],
            national_id: "A123456789".into(),
            name: "王小明".into(),
            birth_date: "0290501".into(),
            sex: "M".into(),
            ..Default::default()
        },
        sim.state().now_ms(),
    )
    .unwrap();
    a.sync().await;
    b.sync().await;
    Env { sim, a, b, case_id }
}

fn plan(goals: &str, times: u8, every: u16, unit: FrequencyUnit) -> PlanContent {
    PlanContent {
        goals: goals.into(),
        frequency: VisitFrequency { times, every, unit },
    }
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

fn nurse(problem: &str) -> RecordInput {
    RecordInput {
        id: String::new(),
        role: Role::Nurse,
        visit_date: d(2026, 1, 31),
        next_visit_date: None,
        health_status: "意識清楚".into(),
        problem: problem.into(),
        service: "更換鼻胃管".into(),
        visit_code: None,
    }
}

fn rejected(e: &AppError) -> (String, Option<String>) {
    match e {
        AppError::Rejected { code, field, .. } => (code.clone(), field.clone()),
        other => panic!("expected rejected, got {other:?}"),
    }
}

fn validation_field(e: AppError) -> String {
    match e {
        AppError::Validation { field, .. } => field,
        other => panic!("expected validation, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_enrolling_institutions_special_note_wins_and_the_other_gets_rejected() {
    let e = env().await;
    // Both devices offline, both try at once.
    e.a.app.set_online(false);
    e.b.app.set_online(false);
    e.a.app
        .team()
        .set_special_notes(&e.case_id, "家有惡犬，請先電話聯絡")
        .unwrap();
    let err =
        e.b.app
            .team()
            .set_special_notes(&e.case_id, "不可告知病人罹癌")
            .unwrap_err();
    assert_eq!(
        rejected(&err),
        ("not_enrolling_institution".into(), Some("special_notes".into()))
    );
    assert_eq!(err.code(), "rejected");
    let err = e.b.app.team().set_access(&e.case_id, vec![]).unwrap_err();
    assert_eq!(
        rejected(&err),
        ("not_enrolling_institution".into(), Some("access".into()))
    );
    // The simulator refuses the same write from B even if a device sent it (hostile: no device check).
    let forged = TeamWrite::Case {
        case_id: e.case_id.clone(),
        special_notes: "不可告知病人罹癌".into(),
        access: vec![OTHER.into()],
        rev: 9,
    };
    let refused =
        platform::push(&mut e.sim.state().db(), OTHER, &forged, e.sim.state().now_ms()).unwrap_err();
    assert_eq!(
        (refused.1.error.as_str(), refused.1.field.as_deref()),
        ("not_enrolling_institution", Some("special_notes"))
    );
    e.a.sync().await;
    e.b.sync().await;
    let seen = e.b.app.team().case_file(&e.case_id).unwrap().case;
    assert_eq!(seen.special_notes, "家有惡犬，請先電話聯絡");
    assert_eq!(seen.masked_name(), "王○明");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn care_plans_never_lose_a_version() {
    let e = env().await;
    let first =
        e.a.app
            .team()
            .add_plan(&e.case_id, plan("維持管路通暢", 1, 2, FrequencyUnit::Week), None)
            .unwrap();
    e.a.sync().await;
    e.b.sync().await;
    // Both copy the newest and add a version at once, offline.
    e.a.app.set_online(false);
    e.b.app.set_online(false);
    let copy_a = e.a.app.team().current_plan(&e.case_id).unwrap().unwrap();
    let copy_b = e.b.app.team().current_plan(&e.case_id).unwrap().unwrap();
    assert_eq!(copy_a.id, first.id);
    let mut content = copy_a.content.clone();
    content.frequency.every = 1;
    let va =
        e.a.app
            .team()
            .add_plan(&e.case_id, content, Some(copy_a.id.clone()))
            .unwrap();
    let mut content = copy_b.content.clone();
    content.goals = "加強家屬照顧技巧".into();
    let vb =
        e.b.app
            .team()
            .add_plan(&e.case_id, content, Some(copy_b.id.clone()))
            .unwrap();
    e.a.sync().await;
    e.b.sync().await;
    e.a.sync().await;
    for dev in [&e.a, &e.b] {
        let plans = dev.app.team().plans(&e.case_id).unwrap();
        let ids: Vec<&str> = plans.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(plans.len(), 3, "{}", dev.inst);
        assert!(
            ids.contains(&first.id.as_str())
                && ids.contains(&va.id.as_str())
                && ids.contains(&vb.id.as_str())
        );
    }
    // The newest version's author corrects it, then deletes it; nothing is lost.
    let newest = e.b.app.team().current_plan(&e.case_id).unwrap().unwrap();
    let (author, other, other_version) = if newest.id == vb.id {
        (&e.b, &e.a, &va)
    } else {
        (&e.a, &e.b, &vb)
    };
    assert_eq!(newest.author, author.inst);
    let corrected = author
        .app
        .team()
        .correct_plan(
            &e.case_id,
            &newest.id,
            plan("加強家屬照顧技巧與翻身", 1, 1, FrequencyUnit::Week),
        )
        .unwrap();
    assert_eq!(corrected.corrections.len(), 1);
    // The other institution may not correct it (only its author): the rule's code and field.
    let err = other
        .app
        .team()
        .correct_plan(&e.case_id, &newest.id, plan("x", 1, 1, FrequencyUnit::Week))
        .unwrap_err();
    assert_eq!(rejected(&err), ("not_author".into(), Some("author".into())));
    // An older version is history: not corrected from the screen.
    let err =
        e.a.app
            .team()
            .correct_plan(&e.case_id, &first.id, plan("x", 1, 1, FrequencyUnit::Week))
            .unwrap_err();
    assert!(matches!(err, AppError::WrongState { .. }), "{err:?}");
    author.app.team().delete_plan(&e.case_id, &newest.id).unwrap();
    author.sync().await;
    other.sync().await;
    let plans = other.app.team().plans(&e.case_id).unwrap();
    assert_eq!(plans.len(), 3);
    let deleted = plans.iter().find(|p| p.id == newest.id).unwrap();
    assert!(deleted.deleted);
    assert_eq!(deleted.corrections.len(), 1);
    assert_eq!(
        other.app.team().current_plan(&e.case_id).unwrap().unwrap().id,
        other_version.id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawn_access_removes_the_case_from_the_other_device_at_its_next_sync() {
    let e = env().await;
    e.a.app
        .team()
        .post_message(&e.case_id, "請協助評估呼吸狀況", vec![], None)
        .unwrap();
    e.a.sync().await;
    e.b.sync().await;
    assert_eq!(e.b.app.team().cases().unwrap().len(), 1);
    assert_eq!(e.b.app.team().unread_count().unwrap(), 1);
    // B writes a record offline, from its cache; meanwhile A's institution withdraws access.
    e.b.app.set_online(false);
    e.b.app.team().save_record(&e.case_id, nurse("痰多")).unwrap();
    platform::set_access(
        &mut e.sim.state().db(),
        &e.case_id,
        vec![],
        e.sim.state().now_ms(),
    )
    .unwrap();
    e.b.sync().await;
    // The write is refused by the authority: a rejected job with the rule's code and field.
    let parked = e.b.app.sync().rejected_jobs().unwrap();
    assert_eq!(parked.len(), 1);
    match &parked[0].state {
        homevisit_core::sync::JobState::Rejected(r) => {
            assert!(r.reason.contains("no_access"), "{}", r.reason);
            assert_eq!(r.fields[0].field, "case_id");
        }
        other => panic!("{other:?}"),
    }
    // The case is gone from the device, cache included: no list, no file, no notification.
    assert!(e.b.app.team().cases().unwrap().is_empty());
    assert!(matches!(
        e.b.app.team().case_file(&e.case_id),
        Err(AppError::NotFound { .. })
    ));
    assert_eq!(e.b.app.team().unread_count().unwrap(), 0);
    drop(e.b.app);
    let reopened = open_app(e.b.dir.path(), &e.b.inst, "partner-tablet");
    assert!(
        reopened.team().cases().unwrap().is_empty(),
        "the purge is durable"
    );
    // The enrolling institution still has it.
    assert_eq!(e.a.app.team().cases().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nurses_record_created_offline_survives_sigkill_and_syncs_exactly_once() {
    const STEPS: [&str; 4] = ["queued", "cached", "send", "ack"];
    let e = env().await;
    e.b.app
        .team()
        .add_plan(&e.case_id, plan("傷口照護", 1, 1, FrequencyUnit::Month), None)
        .unwrap();
    e.b.sync().await;
    for (i, step) in STEPS.iter().enumerate() {
        let n = i + 1;
        let dir = tempfile::tempdir().unwrap();
        let b = platform::binding_for(e.sim.state(), OTHER).unwrap();
        {
            let app = open_app(dir.path(), OTHER, "team-crash-tablet");
            assert!(app.enrol(&b.qr, &b.pin, "crash tablet").await.unwrap().enrolled);
            app.team().refresh().await.unwrap();
        }
        let run = |crash_at: Option<usize>| {
            let mut c = Command::new(env!("CARGO_BIN_EXE_team_crash_child"));
            c.arg(dir.path())
                .arg(OTHER)
                .arg(&e.case_id)
                .arg(n.to_string())
                .env_remove("TEAM_CRASH_AT")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            if let Some(n) = crash_at {
                c.env("TEAM_CRASH_AT", n.to_string());
            }
            c.output().unwrap()
        };
        let killed = run(Some(n));
        let stderr = String::from_utf8_lossy(&killed.stderr);
        assert_eq!(killed.status.signal(), Some(9), "step {n}: {stderr}");
        assert!(stderr.contains(&format!("crash-at {step} {n}")), "{stderr}");
        let finished = run(None);
        assert!(
            finished.status.success(),
            "step {n}: {}",
            String::from_utf8_lossy(&finished.stderr)
        );
        let app = open_app(dir.path(), OTHER, "team-crash-tablet");
        app.team().refresh().await.unwrap();
        let file = app.team().case_file(&e.case_id).unwrap();
        let problem = format!("傷口換藥後滲液減少 #{n}");
        let mine: Vec<_> = file.records.iter().filter(|r| r.problem == problem).collect();
        assert_eq!(mine.len(), 1, "crash at {step}: one record, never two");
        // Monthly plan, visit on 2026-12-01 → next visit 2027-01-01.
        assert_eq!(mine[0].next_visit_date, Some(d(2027, 1, 1)));
        let db = e.sim.state().db();
        for r in &mine {
            assert_eq!(
                platform::receipts(&db, "record", &r.id, 1),
                1,
                "crash at {step}: once"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gives_each_its_clear_error_and_nothing_is_lost() {
    let e = env().await;
    let team = e.b.app.team();
    e.b.app.set_online(false);
    team.add_plan(&e.case_id, plan("預防跌倒", 1, 1, FrequencyUnit::Month), None)
        .unwrap();
    let good = team.save_record(&e.case_id, nurse("鼻胃管滑脫")).unwrap();
    // Monthly plan, visit on 01-31 → proposed 02-28 (month end).
    assert_eq!(good.next_visit_date, Some(d(2026, 2, 28)));
    assert_eq!(
        team.propose_next_visit(&e.case_id, d(2028, 1, 31)).unwrap(),
        Some(d(2028, 2, 29))
    );
    let cases: Vec<(RecordInput, &str)> = vec![
        (nurse("  "), "problem"),
        (
            RecordInput {
                service: "護".repeat(501),
                ..nurse("x")
            },
            "service",
        ),
        (
            RecordInput {
                next_visit_date: Some(d(2026, 1, 30)),
                ..nurse("x")
            },
            "next_visit_date",
        ),
        (
            RecordInput {
                role: Role::Pharmacist,
                ..nurse("x")
            },
            "role",
        ),
        (
            RecordInput {
                visit_code: Some("12345".into()),
                ..nurse("x")
            },
            "visit_code",
        ),
    ];
    for (input, field) in cases {
        assert_eq!(
            validation_field(team.save_record(&e.case_id, input).unwrap_err()),
            field
        );
    }
    assert_eq!(
        validation_field(
            team.add_plan(&e.case_id, plan("x", 1, 13, FrequencyUnit::Month), None)
                .unwrap_err()
        ),
        "frequency.every"
    );
    assert_eq!(
        validation_field(
            team.post_message(&e.case_id, "hi", vec!["3501209999".into()], None)
                .unwrap_err()
        ),
        "to"
    );
    assert_eq!(
        validation_field(
            team.post_message(&e.case_id, "回覆", vec![], Some("no-such".into()))
                .unwrap_err()
        ),
        "reply_to"
    );
    assert!(matches!(
        team.case_file("no-such-case"),
        Err(AppError::NotFound { .. })
    ));
    // Nothing lost: the plan and the good record are there, and sync exactly those two writes.
    let sum = {
        e.b.app.set_online(true);
        e.b.app.sync().drain_once(60_000).await.unwrap()
    };
    assert_eq!((sum.rejected, sum.remaining), (0, 0), "{sum:?}");
    e.a.sync().await;
    let file = e.a.app.team().case_file(&e.case_id).unwrap();
    assert_eq!(file.records.len(), 1);
    assert_eq!(file.records[0].id, good.id);
    assert_eq!(file.plans.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discussion_unread_notifications_phone_log_and_team_members() {
    let e = env().await;
    let (ta, tb) = (e.a.app.team(), e.b.app.team());
    let question = ta
        .post_message(&e.case_id, "下週三聯合訪視？", vec![OTHER.into()], None)
        .unwrap();
    e.a.sync().await;
    e.b.sync().await;
    assert_eq!(tb.unread_count().unwrap(), 1);
    assert_eq!(
        ta.unread_count().unwrap(),
        0,
        "one's own messages are never unread"
    );
    tb.post_message(
        &e.case_id,
        "可以，下午兩點",
        vec![e.a.inst.clone()],
        Some(question.id.clone()),
    )
    .unwrap();
    tb.mark_read(&e.case_id).unwrap();
    assert_eq!(tb.unread_count().unwrap(), 0);
    e.b.sync().await;
    e.a.sync().await;
    assert_eq!(ta.unread_count().unwrap(), 1);
    assert_eq!(ta.replies(&e.case_id, &question.id).unwrap().len(), 1);
    assert_eq!(ta.my_messages().unwrap().len(), 1);
    assert_eq!(tb.my_messages().unwrap().len(), 1);
    // The 24-hour phone log: logged, then answered by reply; only its author edits it.
    let call = ta
        .log_call(&e.case_id, e.sim.state().now_ms(), "夜間發燒 38.5 度")
        .unwrap();
    let answered = ta
        .answer_call(&e.case_id, &call.id, "林護理師", "先冰敷，持續發燒請就醫")
        .unwrap();
    assert_eq!(answered.rev, 2);
    e.a.sync().await;
    e.b.sync().await;
    let calls = tb.calls(&e.case_id).unwrap();
    assert_eq!(calls[0].answer, "先冰敷，持續發燒請就醫");
    let err = tb
        .answer_call(&e.case_id, &call.id, "王醫師", "改口服退燒藥")
        .unwrap_err();
    assert_eq!(rejected(&err), ("not_author".into(), Some("author".into())));
    // The team member query.
    let members = tb.members().unwrap();
    assert_eq!(members.len(), 2);
    let enrolling = members.iter().find(|m| m.institution == e.a.inst).unwrap();
    assert_eq!((enrolling.team.as_str(), enrolling.enrolled_cases), (TEAM, 1));
}
