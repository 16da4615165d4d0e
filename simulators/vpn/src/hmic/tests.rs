//! The service runs the same fixed vectors as the device, and its own rules: duplicate
//! enrolment, reopen + re-lock, batch files.

use super::*;
use homevisit_core::hmic::vectors::{self, FIELD_VECTORS, SAMPLE_INSTITUTION, SAMPLE_TEAM, sample};

fn conn() -> Connection {
    Connection::open_in_memory().expect("in-memory SQLite")
}

/// Noon of the vectors' today, Taiwan time.
fn now_ms() -> i64 {
    let t = vectors::today().and_hms_opt(4, 0, 0).expect("a valid time");
    t.and_utc().timestamp_millis()
}

fn submit_app(c: &mut Connection, a: &Application) -> ApiResult<Ack> {
    submit(
        c,
        SAMPLE_INSTITUTION,
        &SubmitRequest {
            application: a.clone(),
        },
        now_ms(),
    )
}

#[test]
fn every_field_vector_is_refused_with_the_same_rule_and_field() {
    for v in FIELD_VECTORS {
        let mut c = conn();
        let mut a = sample("app-1", SAMPLE_INSTITUTION, SAMPLE_TEAM);
        (v.mutate)(&mut a);
        let e = submit_app(&mut c, &a).expect_err(v.rule);
        assert_eq!(
            (e.1.error.as_str(), e.1.field.as_deref()),
            (v.rule, Some(v.field)),
            "{v:?}"
        );
    }
}

#[test]
fn sample_is_accepted_once() {
    let mut c = conn();
    let a = sample("app-1", SAMPLE_INSTITUTION, SAMPLE_TEAM);
    assert_eq!(submit_app(&mut c, &a).unwrap().status, "received");
    assert_eq!(submit_app(&mut c, &a).unwrap().status, "duplicate");
    assert_eq!(receipts(&c, "app-1", 1, "submit"), 1);
}

#[test]
fn submission_within_30_days() {
    let mut c = conn();
    let mut a = sample("app-1", SAMPLE_INSTITUTION, SAMPLE_TEAM);
    a.application_date = vectors::today() - chrono::Days::new(31);
    a.enrolment_date = a.application_date;
    a.start_date = a.application_date;
    if let Some(adl) = a.adl.as_mut() {
        adl.assessed_on = Some(a.application_date);
    }
    let e = submit_app(&mut c, &a).unwrap_err();
    assert_eq!(
        (e.1.error.as_str(), e.1.field.as_deref()),
        ("submission_within_30_days", Some("application_date"))
    );
}

#[test]
fn no_duplicate_enrolment() {
    let mut c = conn();
    let mut a = sample("app-1", SAMPLE_INSTITUTION, SAMPLE_TEAM);
    a.patient.national_id = SEEDED_NURSING_ID.into();
    a.patient.birth_date = Some(vectors::day(1938, 3, 4));
    let e = submit_app(&mut c, &a).unwrap_err();
    assert_eq!(
        (e.1.error.as_str(), e.1.field.as_deref()),
        ("no_duplicate_enrolment", Some("patient.national_id"))
    );
    a.patient.national_id = SEEDED_CLOSED_ID.into();
    a.patient.sex = "F".into();
    assert!(submit_app(&mut c, &a).is_ok());
}

#[test]
fn same_team_read_only() {
    let mut c = conn();
    let a = sample("app-1", "1111111111", SAMPLE_TEAM);
    submit(
        &mut c,
        "1111111111",
        &SubmitRequest {
            application: a.clone(),
        },
        now_ms(),
    )
    .unwrap();
    let req = CheckRequest {
        national_id: vectors::SAMPLE_ID.into(),
        birth_date: vectors::day(1940, 5, 17),
        care_team: SAMPLE_TEAM.into(),
    };
    let r = check(&c, SAMPLE_INSTITUTION, &req, now_ms()).unwrap();
    assert!(matches!(r.verdict, Verdict::SameTeam { .. }));
    assert_eq!(r.application.map(|a| a.id), Some("app-1".into()));
    let b = sample("app-2", SAMPLE_INSTITUTION, SAMPLE_TEAM);
    let e = submit_app(&mut c, &b).unwrap_err();
    assert_eq!(e.1.error, "same_team_read_only");
}

#[test]
fn reopened_modifiable_3_days_then_relocked() {
    let mut c = conn();
    let a = sample("app-1", SAMPLE_INSTITUTION, SAMPLE_TEAM);
    submit_app(&mut c, &a).unwrap();
    let mut v2 = a.clone();
    v2.version = 2;
    v2.assessment.language = "國語".into();
    assert_eq!(submit_app(&mut c, &v2).unwrap_err().1.error, "wrong_state");
    reopen(&c, "app-1", now_ms()).unwrap();
    assert_eq!(submit_app(&mut c, &v2).unwrap().status, "received");
    reopen(&c, "app-1", now_ms()).unwrap();
    let mut v3 = v2.clone();
    v3.version = 3;
    let later = now_ms() + state::REOPEN_MS;
    let e = submit(
        &mut c,
        SAMPLE_INSTITUTION,
        &SubmitRequest { application: v3 },
        later,
    )
    .unwrap_err();
    assert_eq!(e.1.error, "wrong_state");
    assert_eq!(
        load(&c, "app-1", later).unwrap().unwrap().state,
        CaseState::Submitted
    );
}

#[test]
fn stage_change_closes_the_previous_application() {
    let mut c = conn();
    let a = sample("app-1", SAMPLE_INSTITUTION, SAMPLE_TEAM);
    submit_app(&mut c, &a).unwrap();
    let prev = load(&c, "app-1", now_ms()).unwrap().unwrap();
    let mut sc = application_type::derive(
        &prev,
        ApplicationType::StageChange,
        "app-2".into(),
        vectors::today(),
    )
    .unwrap();
    sc.care_stage = Some(homevisit_core::model::care::CareStage::Intensive);
    sc.intake = a.intake.clone();
    sc.orders = a.orders.clone();
    submit_app(&mut c, &sc).unwrap();
    let prev = load(&c, "app-1", now_ms()).unwrap().unwrap();
    assert_eq!(prev.state, CaseState::Closed);
    assert_eq!(prev.closing.map(|c| c.reason), Some(ClosingReason::StageChanged));
}

#[test]
fn batch_file_one_bad_record_rejects_the_whole_file() {
    let mut c = conn();
    let good = sample("app-1", SAMPLE_INSTITUTION, SAMPLE_TEAM);
    let mut bad = sample("app-2", SAMPLE_INSTITUTION, SAMPLE_TEAM);
    bad.patient.national_id = "D123456782".into();
    bad.intake
        .condition2
        .push(homevisit_core::hmic::model::Condition2::DiseaseTrait);
    bad.intake.disease_trait = vectors::TRAIT_26.into();
    let xml = homevisit_core::hmic::xml::to_xml(&[good.clone(), bad]).unwrap();
    let req = BatchRequest {
        file_name: "HMIC350120000011512001.XML".into(),
        xml,
    };
    let e = batch(&mut c, SAMPLE_INSTITUTION, &req, now_ms()).unwrap_err();
    assert_eq!(
        (e.1.error.as_str(), e.1.field.as_deref()),
        ("text_limit", Some("records.1.intake.disease_trait"))
    );
    assert!(load(&c, "app-1", now_ms()).unwrap().is_none());
    // The name is spent.
    let again = BatchRequest {
        file_name: req.file_name.clone(),
        xml: homevisit_core::hmic::xml::to_xml(std::slice::from_ref(&good)).unwrap(),
    };
    assert_eq!(
        batch(&mut c, SAMPLE_INSTITUTION, &again, now_ms())
            .unwrap_err()
            .1
            .error,
        "batch_name_repeated"
    );
    let next = BatchRequest {
        file_name: "HMIC350120000011512002.XML".into(),
        xml: again.xml,
    };
    assert_eq!(
        batch(&mut c, SAMPLE_INSTITUTION, &next, now_ms())
            .unwrap()
            .records,
        1
    );
}

#[test]
fn batch_file_name() {
    let mut c = conn();
    for (name, ok) in vectors::FILE_NAMES {
        let req = BatchRequest {
            file_name: (*name).into(),
            xml: "<HMIC></HMIC>".into(),
        };
        let r = batch(&mut c, "3501200000", &req, now_ms());
        assert_eq!(r.is_ok(), *ok, "{name}");
    }
}

#[test]
fn query_by_date_range_and_own_team_only() {
    let mut c = conn();
    submit_app(&mut c, &sample("app-1", SAMPLE_INSTITUTION, SAMPLE_TEAM)).unwrap();
    let req = QueryRequest {
        from: vectors::today(),
        to: vectors::today(),
        care_team: Some(SAMPLE_TEAM.into()),
    };
    assert_eq!(query(&c, SAMPLE_INSTITUTION, &req, now_ms()).unwrap().len(), 1);
    let other = QueryRequest {
        care_team: Some("HM99999999".into()),
        ..req.clone()
    };
    assert_eq!(
        query(&c, SAMPLE_INSTITUTION, &other, now_ms())
            .unwrap_err()
            .1
            .error,
        "not_your_team"
    );
    let before = QueryRequest {
        from: vectors::day(2020, 1, 1),
        to: vectors::day(2020, 1, 2),
        care_team: None,
    };
    assert!(
        query(&c, SAMPLE_INSTITUTION, &before, now_ms())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn closing_date_and_reason() {
    let mut c = conn();
    submit_app(&mut c, &sample("app-1", SAMPLE_INSTITUTION, SAMPLE_TEAM)).unwrap();
    let req = CloseRequest {
        id: "app-1".into(),
        closing: Closing {
            date: vectors::today(),
            reason: ClosingReason::Improved,
        },
    };
    assert_eq!(
        close(&mut c, SAMPLE_INSTITUTION, &req, now_ms()).unwrap().status,
        "received"
    );
    assert_eq!(
        close(&mut c, SAMPLE_INSTITUTION, &req, now_ms()).unwrap().status,
        "duplicate"
    );
    assert_eq!(
        close(&mut c, "1111111111", &req, now_ms()).unwrap_err().1.error,
        "not_your_application"
    );
}
