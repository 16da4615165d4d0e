//! One test per rule of the shared record, named after it; the fixed vectors run here too.

use super::model::PlanContent;
use super::rules::{Applied, Violation, apply, may_see, sees_message, view_for};
use super::schedule::{FrequencyUnit, VisitFrequency, next_visit_date};
use super::text;
use super::vectors::{self, ENROLLING, NOT_SHARED, SHARED};
use super::wire::TeamWrite;
use crate::model::care::Role;
use chrono::NaiveDate;

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

#[test]
fn next_visit_date_follows_the_care_plan_frequency_vectors() {
    for row in &vectors::NEXT_VISIT {
        let (visit, f, expected) = vectors::next_visit_row(row);
        assert_eq!(next_visit_date(visit, &f).unwrap(), expected, "{row:?}");
    }
}

#[test]
fn next_visit_date_clamps_to_the_month_end() {
    let monthly = VisitFrequency {
        times: 1,
        every: 1,
        unit: FrequencyUnit::Month,
    };
    assert_eq!(next_visit_date(d(2026, 1, 31), &monthly).unwrap(), d(2026, 2, 28));
    assert_eq!(next_visit_date(d(2028, 1, 30), &monthly).unwrap(), d(2028, 2, 29));
    assert_eq!(
        next_visit_date(d(2026, 10, 31), &monthly).unwrap(),
        d(2026, 11, 30)
    );
    assert_eq!(
        next_visit_date(d(2026, 12, 31), &monthly).unwrap(),
        d(2027, 1, 31)
    );
}

#[test]
fn next_visit_date_splits_the_period_for_several_visits() {
    let twice_a_month = VisitFrequency {
        times: 2,
        every: 1,
        unit: FrequencyUnit::Month,
    };
    // February 2026 has 28 days → every 14; March 31 → April 30 is 30 days → every 15.
    assert_eq!(
        next_visit_date(d(2026, 2, 1), &twice_a_month).unwrap(),
        d(2026, 2, 15)
    );
    assert_eq!(
        next_visit_date(d(2026, 3, 31), &twice_a_month).unwrap(),
        d(2026, 4, 15)
    );
}

#[test]
fn visit_frequency_out_of_range_is_refused() {
    let bad = [
        (0, 1, FrequencyUnit::Week, "frequency.times"),
        (32, 1, FrequencyUnit::Month, "frequency.times"),
        (1, 0, FrequencyUnit::Week, "frequency.every"),
        (1, 13, FrequencyUnit::Month, "frequency.every"),
        (3, 2, FrequencyUnit::Day, "frequency.times"),
    ];
    for (times, every, unit, field) in bad {
        let f = VisitFrequency { times, every, unit };
        assert_eq!(
            next_visit_date(d(2026, 1, 1), &f).unwrap_err().field(),
            field,
            "{f:?}"
        );
    }
}

#[test]
fn access_control_rules_vectors() {
    for (name, by, write, expected) in vectors::access_vectors() {
        let mut file = vectors::sample_file();
        let before = file.clone();
        let got = apply(&mut file, &vectors::members(), by, &write);
        match expected {
            None => assert_eq!(got, Ok(Applied::Changed), "{name}"),
            Some((code, field)) => {
                let v = got.expect_err(name);
                assert_eq!((v.code(), v.field()), (code, field), "{name}");
                assert_eq!(file, before, "{name}: a refused write changes nothing");
            }
        }
    }
}

#[test]
fn a_case_is_seen_only_by_its_enrolling_institution_and_its_access_list() {
    let case = vectors::sample_case();
    assert!(may_see(&case, ENROLLING));
    assert!(may_see(&case, SHARED));
    assert!(!may_see(&case, NOT_SHARED));
    let file = vectors::sample_file();
    assert!(view_for(&file, NOT_SHARED).is_none());
    assert!(view_for(&file, SHARED).is_some());
}

#[test]
fn withdrawn_access_hides_the_case() {
    let mut file = vectors::sample_file();
    let write = TeamWrite::Case {
        case_id: vectors::CASE_ID.into(),
        special_notes: String::new(),
        access: Vec::new(),
        rev: 2,
    };
    apply(&mut file, &vectors::members(), ENROLLING, &write).unwrap();
    assert!(view_for(&file, SHARED).is_none());
    let late = TeamWrite::Record(vectors::record("rec-late", SHARED));
    assert_eq!(
        apply(&mut file, &vectors::members(), SHARED, &late),
        Err(Violation::NoAccess)
    );
}

#[test]
fn concurrent_care_plan_versions_are_both_kept() {
    let mut file = vectors::sample_file();
    let a = vectors::plan("plan-a", ENROLLING, 5_000);
    let mut b = vectors::plan("plan-b", SHARED, 5_000);
    b.copied_from = Some("plan-1".into());
    apply(&mut file, &vectors::members(), ENROLLING, &TeamWrite::Plan(a)).unwrap();
    apply(&mut file, &vectors::members(), SHARED, &TeamWrite::Plan(b)).unwrap();
    assert_eq!(file.plans.len(), 3);
    // Same time: the larger id is the newest, on every device alike.
    assert_eq!(file.current_plan().unwrap().id, "plan-b");
}

#[test]
fn a_plan_correction_keeps_the_corrected_content() {
    let mut file = vectors::sample_file();
    let mut p = file.plans[0].clone();
    p.corrections.push(p.content.clone());
    p.content.goals = "改為每週訪視".into();
    p.rev = 2;
    apply(
        &mut file,
        &vectors::members(),
        ENROLLING,
        &TeamWrite::Plan(p.clone()),
    )
    .unwrap();
    assert_eq!(file.plans[0].corrections.len(), 1);
    // A correction that drops the history is refused.
    let mut lossy = p.clone();
    lossy.corrections.clear();
    lossy.rev = 3;
    let v = apply(&mut file, &vectors::members(), ENROLLING, &TeamWrite::Plan(lossy)).unwrap_err();
    assert_eq!(v.field(), "corrections");
}

#[test]
fn a_deleted_plan_stays_in_the_history_and_is_never_the_newest() {
    let mut file = vectors::sample_file();
    file.plans.push(vectors::plan("plan-2", ENROLLING, 2_000));
    let mut p = file.plans[1].clone();
    p.deleted = true;
    p.rev = 2;
    apply(
        &mut file,
        &vectors::members(),
        ENROLLING,
        &TeamWrite::Plan(p.clone()),
    )
    .unwrap();
    assert_eq!(file.plans.len(), 2);
    assert_eq!(file.current_plan().unwrap().id, "plan-1");
    let mut undelete = p;
    undelete.deleted = false;
    undelete.rev = 3;
    let v = apply(
        &mut file,
        &vectors::members(),
        ENROLLING,
        &TeamWrite::Plan(undelete),
    )
    .unwrap_err();
    assert_eq!(v.field(), "deleted");
}

#[test]
fn a_resent_revision_is_a_duplicate() {
    let mut file = vectors::sample_file();
    let r = vectors::record("rec-2", SHARED);
    assert_eq!(
        apply(
            &mut file,
            &vectors::members(),
            SHARED,
            &TeamWrite::Record(r.clone())
        ),
        Ok(Applied::Changed)
    );
    assert_eq!(
        apply(&mut file, &vectors::members(), SHARED, &TeamWrite::Record(r)),
        Ok(Applied::Duplicate)
    );
    assert_eq!(file.records.len(), 2);
}

#[test]
fn visit_records_are_kept_by_the_five_roles_only() {
    let mut file = vectors::sample_file();
    for role in Role::ALL {
        let mut r = vectors::record(&format!("rec-{}", role.as_str()), ENROLLING);
        r.role = role;
        let got = apply(&mut file, &vectors::members(), ENROLLING, &TeamWrite::Record(r));
        let allowed = !matches!(role, Role::TcmDoctor | Role::Pharmacist);
        assert_eq!(got.is_ok(), allowed, "{role:?}");
        if !allowed {
            assert_eq!(got.unwrap_err().field(), "role");
        }
    }
}

#[test]
fn next_visit_date_must_follow_the_visit() {
    let mut r = vectors::record("r", ENROLLING);
    r.next_visit_date = Some(r.visit_date);
    assert_eq!(
        super::rules::check_record(&r).unwrap_err().field(),
        "next_visit_date"
    );
}

#[test]
fn a_visit_record_ties_to_a_visit_identification_code() {
    let mut r = vectors::record("r", ENROLLING);
    r.visit_code = Some("ABCDEFGHJK0123456789".into());
    assert!(super::rules::check_record(&r).is_ok());
    r.visit_code = Some("SHORT".into());
    assert_eq!(super::rules::check_record(&r).unwrap_err().field(), "visit_code");
}

#[test]
fn free_text_limits_count_characters_of_both_widths() {
    let chinese = "護".repeat(text::PROBLEM);
    let ascii = "a".repeat(text::PROBLEM);
    let mut r = vectors::record("r", ENROLLING);
    r.problem = chinese.clone();
    assert!(super::rules::check_record(&r).is_ok());
    r.problem = ascii.clone();
    assert!(super::rules::check_record(&r).is_ok());
    r.problem = format!("{chinese}a");
    assert_eq!(super::rules::check_record(&r).unwrap_err().field(), "problem");
    r.problem = format!("{ascii}護");
    assert_eq!(super::rules::check_record(&r).unwrap_err().field(), "problem");
    assert_eq!(text::length("  家有惡犬 "), 4);
    assert_eq!(
        text::check("special_notes", "a\u{7}", 10, false)
            .unwrap_err()
            .field(),
        "special_notes"
    );
    for (field, limit) in text::LIMITS {
        assert!(limit >= 20, "{field}");
    }
}

#[test]
fn required_texts_are_refused_empty() {
    let mut r = vectors::record("r", ENROLLING);
    r.service = "  ".into();
    assert_eq!(super::rules::check_record(&r).unwrap_err().field(), "service");
    let mut c = vectors::consultation("c", ENROLLING);
    c.question.clear();
    assert_eq!(
        super::rules::check_consultation(&c).unwrap_err().field(),
        "question"
    );
    let mut p = vectors::plan("p", ENROLLING, 1);
    p.content = PlanContent {
        goals: String::new(),
        ..p.content
    };
    assert_eq!(super::rules::check_plan(&p).unwrap_err().field(), "goals");
}

#[test]
fn a_consultation_answer_names_its_responder() {
    let mut c = vectors::consultation("c", ENROLLING);
    c.answer = "先冰敷，持續發燒請就醫".into();
    assert_eq!(
        super::rules::check_consultation(&c).unwrap_err().field(),
        "responder"
    );
    c.responder = "林護理師".into();
    assert!(super::rules::check_consultation(&c).is_ok());
}

#[test]
fn messages_go_to_the_team_or_chosen_institutions() {
    let mut file = vectors::sample_file();
    let mut m = vectors::message("m-2", ENROLLING);
    m.to = vec![SHARED.into()];
    apply(
        &mut file,
        &vectors::members(),
        ENROLLING,
        &TeamWrite::Message(m.clone()),
    )
    .unwrap();
    assert!(sees_message(&m, SHARED));
    assert!(!sees_message(&m, NOT_SHARED));
    let mut bad = vectors::message("m-3", ENROLLING);
    bad.to = vec![NOT_SHARED.into()];
    let v = apply(
        &mut file,
        &vectors::members(),
        ENROLLING,
        &TeamWrite::Message(bad),
    )
    .unwrap_err();
    assert_eq!(v.field(), "to");
}

#[test]
fn a_reply_names_a_message_of_the_case() {
    let mut file = vectors::sample_file();
    let mut reply = vectors::message("m-r", SHARED);
    reply.reply_to = Some("msg-1".into());
    apply(&mut file, &vectors::members(), SHARED, &TeamWrite::Message(reply)).unwrap();
    let mut orphan = vectors::message("m-o", SHARED);
    orphan.reply_to = Some("nope".into());
    let v = apply(
        &mut file,
        &vectors::members(),
        SHARED,
        &TeamWrite::Message(orphan),
    )
    .unwrap_err();
    assert_eq!(v.field(), "reply_to");
}

#[test]
fn patient_data_never_prints_in_debug() {
    let file = vectors::sample_file();
    let dbg = format!("{file:?}");
    for secret in ["A123456789", "王小明", "鼻胃管", "發燒", "聯合訪視", "壓瘡"] {
        assert!(!dbg.contains(secret), "{secret} in {dbg}");
    }
}

#[test]
fn idempotency_keys_name_the_revision() {
    let r = vectors::record("rec-1", ENROLLING);
    assert_eq!(TeamWrite::Record(r).key(), "team:record:rec-1:1");
}
