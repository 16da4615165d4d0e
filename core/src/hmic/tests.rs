//! One test per rule of domain §4, named after the rule, and the fixed vectors.

use super::model::*;
use super::vectors::{self, FIELD_VECTORS, SAMPLE_INSTITUTION, SAMPLE_TEAM, sample, today};
use crate::model::care::CareStage;
use crate::rules::hmic::enrolment::{self, Enrolment, Service, Verdict};
use crate::rules::hmic::{self as rules, Violation, application_type, assessment, batch, state, text_limits};

fn ok_sample() -> Application {
    sample("app-1", SAMPLE_INSTITUTION, SAMPLE_TEAM)
}

fn refused(a: &Application) -> Violation {
    match rules::validate(a, today()) {
        Ok(_) => panic!("expected a refusal"),
        Err(v) => v,
    }
}

fn expect(rule: &str, field: &str) {
    let v = FIELD_VECTORS
        .iter()
        .find(|v| v.rule == rule && v.field == field)
        .unwrap_or_else(|| panic!("no vector {rule} {field}"));
    let mut a = ok_sample();
    (v.mutate)(&mut a);
    let e = refused(&a);
    assert_eq!((e.code(), e.field()), (rule, Some(field)), "{e}");
}

#[test]
fn sample_is_valid() {
    assert_eq!(rules::validate(&ok_sample(), today()), Ok(vec![]));
}

#[test]
fn every_field_vector_is_refused_with_its_rule_and_field() {
    for v in FIELD_VECTORS {
        let mut a = ok_sample();
        (v.mutate)(&mut a);
        let e = refused(&a);
        assert_eq!((e.code(), e.field()), (v.rule, Some(v.field)), "{v:?}: {e}");
    }
}

#[test]
fn national_id_check_digit() {
    expect("national_id_check_digit", "patient.national_id");
}

#[test]
fn sex_from_id() {
    expect("sex_from_id", "patient.sex");
    let id = crate::rules::national_id::parse("A223456781").expect("a valid female ID");
    assert_eq!(assessment::sex_from_id(&id), "F");
}

#[test]
fn care_team_code_format() {
    expect("care_team_code_format", "care_team");
}

#[test]
fn application_date_not_in_future() {
    expect("application_date_not_in_future", "application_date");
}

#[test]
fn new_enrolment_within_30_days() {
    expect("new_enrolment_within_30_days", "enrolment_date");
    let mut a = ok_sample();
    a.enrolment_date = today() - chrono::Days::new(30);
    a.start_date = a.enrolment_date;
    assert!(rules::validate(&a, today()).is_ok());
}

#[test]
fn extension_start() {
    for (end, applied, start) in vectors::extension_starts() {
        assert_eq!(application_type::extension_start(end, applied), start);
    }
}

#[test]
fn extension_within_30_days_of_end() {
    let end = vectors::day(2015, 10, 31);
    assert!(application_type::check_extension_window(end, vectors::day(2015, 10, 1)).is_ok());
    assert!(application_type::check_extension_window(end, vectors::day(2015, 11, 30)).is_ok());
    let e = application_type::check_extension_window(end, vectors::day(2015, 12, 1)).unwrap_err();
    assert_eq!(e.code(), "extension_within_30_days_of_end");
    let e = application_type::check_extension_window(end, vectors::day(2015, 9, 30)).unwrap_err();
    assert_eq!(e.field(), Some("application_date"));
}

fn submitted() -> Application {
    let mut a = ok_sample();
    state::submit(&mut a, 0, today()).expect("a fresh draft submits");
    a
}

#[test]
fn extension_copies_and_clears_visit_plan_and_orders() {
    let prev = submitted();
    let applied = prev.end_date() - chrono::Days::new(10);
    let ext = application_type::derive(&prev, ApplicationType::Extension, "app-2".into(), applied).unwrap();
    assert_eq!(ext.start_date, prev.end_date().succ_opt().unwrap());
    assert_eq!(ext.orders, Orders::default());
    assert_eq!(ext.visit_plan, VisitPlan::default());
    assert_eq!(ext.intake, prev.intake);
    assert_eq!(ext.diagnoses, prev.diagnoses);
    assert_eq!(ext.state, CaseState::Draft);
    assert_eq!(ext.enrolment_date, prev.enrolment_date);
    assert!(application_type::check_against_previous(&ext, &prev).is_ok());
}

#[test]
fn stage_change_starts_at_application_and_clears() {
    let prev = submitted();
    let applied = today();
    let mut sc =
        application_type::derive(&prev, ApplicationType::StageChange, "app-3".into(), applied).unwrap();
    assert_eq!(sc.start_date, applied);
    assert_eq!(sc.intake, Intake::default());
    assert_eq!(sc.care_stage, None);
    assert!(sc.orders.is_empty() && sc.visit_plan.per_month.is_empty() && sc.ordering_doctor.is_empty());
    sc.care_stage = Some(CareStage::Intensive);
    assert!(application_type::check_against_previous(&sc, &prev).is_ok());
    sc.care_stage = prev.care_stage;
    let e = application_type::check_against_previous(&sc, &prev).unwrap_err();
    assert_eq!(e.code(), "stage_change_changes_stage");
}

#[test]
fn enrolment_date_editable_only_for_new() {
    let prev = submitted();
    let mut ext =
        application_type::derive(&prev, ApplicationType::Extension, "app-2".into(), prev.end_date()).unwrap();
    ext.enrolment_date = ext.enrolment_date - chrono::Days::new(1);
    let e = application_type::check_against_previous(&ext, &prev).unwrap_err();
    assert_eq!(
        (e.code(), e.field()),
        ("enrolment_date_editable_only_for_new", Some("enrolment_date"))
    );
}

#[test]
fn submission_within_30_days() {
    let a = ok_sample();
    let day30 = today() + chrono::Days::new(30);
    let day31 = today() + chrono::Days::new(31);
    assert!(state::may(state::Action::Submit, &a, 0, day30).is_ok());
    let e = state::may(state::Action::Submit, &a, 0, day31).unwrap_err();
    assert_eq!(
        (e.code(), e.field()),
        ("submission_within_30_days", Some("application_date"))
    );
    // After day 30 only deletion is left.
    assert!(state::may(state::Action::Correct, &a, 0, day31).is_err());
    assert!(state::may(state::Action::Delete, &a, 0, day31).is_ok());
}

#[test]
fn acceptance_date_is_submission_date() {
    let mut a = ok_sample();
    let day = today() + chrono::Days::new(2);
    state::submit(&mut a, 0, day).unwrap();
    assert_eq!(a.acceptance_date, Some(day));
    assert_eq!(a.state, CaseState::Submitted);
}

#[test]
fn submitted_is_locked_only_closing() {
    let a = submitted();
    for act in [
        state::Action::Correct,
        state::Action::Delete,
        state::Action::Submit,
    ] {
        assert_eq!(state::may(act, &a, 0, today()).unwrap_err().code(), "wrong_state");
    }
    assert!(state::may(state::Action::Close, &a, 0, today()).is_ok());
}

#[test]
fn reopened_modifiable_3_days_then_relocked() {
    let mut a = submitted();
    let t0 = 1_000_000;
    state::reopen(&mut a, t0).unwrap();
    assert!(state::may(state::Action::Correct, &a, t0 + state::REOPEN_MS - 1, today()).is_ok());
    assert_eq!(state::effective(&a, t0 + state::REOPEN_MS), CaseState::Submitted);
    assert!(state::may(state::Action::Correct, &a, t0 + state::REOPEN_MS, today()).is_err());
}

#[test]
fn draft_cannot_be_reopened_or_closed() {
    let mut a = ok_sample();
    assert!(state::reopen(&mut a, 0).is_err());
    assert!(state::may(state::Action::Close, &a, 0, today()).is_err());
}

#[test]
fn text_limit() {
    for (limit, text, ok) in vectors::TEXT_LIMIT_VECTORS {
        assert_eq!(
            text_limits::check("f", text, *limit).is_ok(),
            *ok,
            "{limit} {text}"
        );
    }
    expect("text_limit", "intake.disease_trait");
    expect("text_limit", "assessment.language");
}

#[test]
fn text_limit_counts_half_width_as_half() {
    assert_eq!(text_limits::units("中文"), 4);
    assert_eq!(text_limits::units("ab"), 2);
    assert_eq!(text_limits::units("ｱｲ"), 2);
    assert_eq!(text_limits::limit_of("assessment.disease_history"), Some(500));
}

#[test]
fn disability_certificate_details() {
    expect("disability_certificate_details", "disability.category");
}

#[test]
fn disability_new_system_details() {
    expect("disability_new_system_details", "disability.new_icd");
}

#[test]
fn skin_damage_details() {
    expect("skin_damage_details", "skin.damage_types");
    let mut a = ok_sample();
    a.skin = Skin {
        damaged: true,
        damage_types: vec![SkinDamage::PressureInjury],
        site: "薦骨".into(),
        size_cm2: Some(4),
        other: String::new(),
    };
    assert!(rules::validate(&a, today()).is_ok());
}

#[test]
fn adl_required() {
    expect("adl_required", "adl");
}

#[test]
fn adl_assessment_date_required() {
    expect("adl_assessment_date_required", "adl.assessed_on");
}

#[test]
fn adl_item_score() {
    expect("adl_item_score", "adl.transfer");
}

#[test]
fn adl_total_and_dependency_computed() {
    let a = ok_sample();
    let adl = a.adl.as_ref().unwrap();
    assert_eq!(assessment::adl_total(adl), 35);
    assert_eq!(assessment::dependency(35), Dependency::Severe);
    assert_eq!(assessment::dependency(20), Dependency::Total);
    assert_eq!(assessment::dependency(61), Dependency::Moderate);
    assert_eq!(assessment::dependency(95), Dependency::Mild);
    assert_eq!(assessment::dependency(100), Dependency::Independent);
}

#[test]
fn muscle_strength_integer() {
    expect("muscle_strength_integer", "assessment.muscle_strength");
    assert_eq!(assessment::parse_muscle_strength("3"), Ok(Some(3)));
    assert_eq!(assessment::parse_muscle_strength(""), Ok(None));
    assert_eq!(
        assessment::parse_muscle_strength("3.5").unwrap_err().code(),
        "muscle_strength_integer"
    );
}

#[test]
fn intake_conditions_1_and_2_required() {
    expect("intake_conditions_1_and_2_required", "intake.condition1");
    expect("intake_conditions_1_and_2_required", "intake.condition2");
}

#[test]
fn disease_trait_described() {
    expect("disease_trait_described", "intake.disease_trait");
}

#[test]
fn intake_adl_below_60_or_disease_trait() {
    expect("intake_adl_below_60_or_disease_trait", "intake.condition2");
    let mut a = ok_sample();
    a.adl.as_mut().unwrap().scores = [10, 15, 5, 10, 5, 15, 10, 10, 10, 10];
    a.intake.condition2 = vec![Condition2::DiseaseTrait];
    a.intake.disease_trait = "長期臥床".into();
    assert!(rules::validate(&a, today()).is_ok());
}

#[test]
fn condition_5_needs_terminal_symptom() {
    expect("condition_5_needs_terminal_symptom", "intake.terminal_symptoms");
}

#[test]
fn care_stage_required() {
    expect("care_stage_required", "care_stage");
}

#[test]
fn hospice_needs_pain_ecog_consent() {
    expect("hospice_needs_pain_ecog_consent", "hospice.pain_score");
    expect("hospice_needs_pain_ecog_consent", "hospice.consent_signed");
    let mut a = ok_sample();
    a.care_stage = Some(CareStage::Hospice);
    a.hospice = Hospice {
        pain_score: Some(4),
        ecog: Some(3),
        consent_signed: true,
    };
    assert!(rules::validate(&a, today()).is_ok());
}

#[test]
fn diagnosis_required() {
    expect("diagnosis_required", "diagnoses");
}

#[test]
fn diagnosis_stored_upper_case_without_dot() {
    expect("diagnosis_stored_upper_case_without_dot", "diagnoses.1");
    assert_eq!(assessment::normalise_diagnosis("d", "g45.0"), Ok("G450".into()));
}

#[test]
fn diagnosis_icd10_cm() {
    expect("diagnosis_icd10_cm", "diagnoses.0");
    let e = assessment::normalise_diagnosis("d", "1G450").unwrap_err();
    assert_eq!(e.code(), "diagnosis_icd10_cm");
}

#[test]
fn tube_order_complete() {
    expect("tube_order_complete", "orders.ng_tube.size_fr");
}

#[test]
fn at_least_one_complete_order() {
    expect("at_least_one_complete_order", "orders");
}

#[test]
fn care_period_at_most_24_months() {
    expect("care_period_at_most_24_months", "care_months");
    let mut a = ok_sample();
    a.care_months = 24;
    assert!(rules::validate(&a, today()).is_ok());
}

#[test]
fn care_period_warn_above_12_months() {
    let mut a = ok_sample();
    a.care_months = 13;
    let w = rules::validate(&a, today()).unwrap();
    assert_eq!(w[0].rule, "care_period_warn_above_12_months");
    a.care_months = 12;
    assert!(rules::validate(&a, today()).unwrap().is_empty());
}

#[test]
fn closing_date_and_reason() {
    let mut a = submitted();
    let bad = Closing {
        date: today() + chrono::Days::new(1),
        reason: ClosingReason::Death,
    };
    assert_eq!(
        rules::closing::close(&mut a, bad, today()).unwrap_err().code(),
        "closing_date_and_reason"
    );
    let good = Closing {
        date: today(),
        reason: ClosingReason::Death,
    };
    rules::closing::close(&mut a, good, today()).unwrap();
    assert_eq!(a.state, CaseState::Closed);
    assert!(state::may(state::Action::Close, &a, 0, today()).is_err());
}

#[test]
fn closing_reasons_full_list() {
    assert_eq!(ClosingReason::ALL.len(), 10);
    for r in ClosingReason::ALL {
        assert_eq!(ClosingReason::parse(r.as_str()), Some(r));
    }
}

fn enrolment(service: Service, institution: &str, team: Option<&str>, closed: bool) -> Enrolment {
    Enrolment {
        national_id: vectors::SAMPLE_ID.into(),
        birth_date: vectors::day(1940, 5, 17),
        service,
        institution: institution.into(),
        care_team: team.map(Into::into),
        application_id: Some("other".into()),
        closed,
    }
}

#[test]
fn no_duplicate_enrolment() {
    let birth = vectors::day(1940, 5, 17);
    for s in [
        Service::GeneralHomeNursing,
        Service::RespiratoryHomeCare,
        Service::HospiceHomeCare,
    ] {
        let e = enrolment::check(
            &[enrolment(s, "1111111111", None, false)],
            vectors::SAMPLE_ID,
            birth,
            SAMPLE_INSTITUTION,
            SAMPLE_TEAM,
        )
        .unwrap_err();
        assert_eq!(
            (e.code(), e.field()),
            ("no_duplicate_enrolment", Some("patient.national_id"))
        );
    }
    let other_team = enrolment(Service::Hmic, "1111111111", Some("HM00000002"), false);
    assert!(
        enrolment::check(
            &[other_team],
            vectors::SAMPLE_ID,
            birth,
            SAMPLE_INSTITUTION,
            SAMPLE_TEAM
        )
        .is_err()
    );
    let closed = enrolment(Service::GeneralHomeNursing, "1111111111", None, true);
    assert_eq!(
        enrolment::check(
            &[closed],
            vectors::SAMPLE_ID,
            birth,
            SAMPLE_INSTITUTION,
            SAMPLE_TEAM
        ),
        Ok(Verdict::Free)
    );
    let other_birth = enrolment::check(
        &[enrolment(Service::GeneralHomeNursing, "1111111111", None, false)],
        vectors::SAMPLE_ID,
        vectors::day(1941, 1, 1),
        SAMPLE_INSTITUTION,
        SAMPLE_TEAM,
    );
    assert_eq!(other_birth, Ok(Verdict::Free));
}

#[test]
fn same_team_read_only() {
    let birth = vectors::day(1940, 5, 17);
    let same = enrolment(Service::Hmic, "1111111111", Some(SAMPLE_TEAM), false);
    let v = enrolment::check(
        &[same],
        vectors::SAMPLE_ID,
        birth,
        SAMPLE_INSTITUTION,
        SAMPLE_TEAM,
    )
    .unwrap();
    assert!(matches!(v, Verdict::SameTeam { .. }));
    assert_eq!(
        enrolment::may_enrol_new(&v).unwrap_err().code(),
        "same_team_read_only"
    );
}

#[test]
fn batch_file_name() {
    for (name, ok) in vectors::FILE_NAMES {
        assert_eq!(batch::parse(name).is_ok(), *ok, "{name}");
    }
    assert_eq!(
        batch::file_name("3501200000", "10505", 1).unwrap(),
        "HMIC350120000010505001.XML"
    );
}

#[test]
fn batch_file_round_trips() {
    let a = ok_sample();
    let mut b = sample("app-2", SAMPLE_INSTITUTION, SAMPLE_TEAM);
    b.intake.disease_trait = "<&\"'>".into();
    let xml = super::xml::to_xml(&[a.clone(), b.clone()]).unwrap();
    assert_eq!(super::xml::parse(&xml).unwrap(), vec![a, b]);
    assert_eq!(
        super::xml::parse("<HMIC><Case><f k=\"id\" t=\"s\">x</f></Case></HMIC>")
            .unwrap_err()
            .code(),
        "batch_file_format"
    );
}

#[test]
fn debug_prints_no_patient_data() {
    let a = ok_sample();
    let text = format!("{a:?} {:?}", a.patient);
    assert!(!text.contains(vectors::SAMPLE_ID) && !text.contains("陳大明"));
}
