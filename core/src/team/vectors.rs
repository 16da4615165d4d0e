//! Fixed test vectors of the shared record's rules, run by the device's tests (`core`) and by
//! the simulator's tests (`nhi-vpn-sim`), so both sides are held to the same table.

use super::model::{
    CarePlan, CaseBasics, CaseFile, Consultation, Message, PlanContent, SharedCase, VisitRecord,
};
use super::schedule::{FrequencyUnit, VisitFrequency};
use super::wire::TeamWrite;
use crate::model::care::{CareStage, Role};
use chrono::NaiveDate;

/// The enrolling institution of the sample case.
pub const ENROLLING: &str = "3501200000";
/// A team institution the sample case is shared with.
pub const SHARED: &str = "3501200011";
/// A team institution the sample case is not shared with.
pub const NOT_SHARED: &str = "3501200022";
/// The sample care team.
pub const TEAM: &str = "HM00000001";
/// The sample case id.
pub const CASE_ID: &str = "case-sample-1";

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    // The vectors' dates are literal calendar dates.
    NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default()
}

/// A calendar date as `(year, month, day)`.
pub type Ymd = (i32, u32, u32);
/// `(visit date, times, every, unit, proposed next visit date)`.
pub type NextVisitRow = (Ymd, u8, u16, FrequencyUnit, Ymd);
/// A refusal as `(code, field)`; `None` = the write is applied.
pub type Expected = Option<(&'static str, &'static str)>;
/// `(name, institution, write, expected)`.
pub type AccessVector = (&'static str, &'static str, TeamWrite, Expected);

/// The next-visit table.
pub const NEXT_VISIT: [NextVisitRow; 10] = [
    ((2026, 1, 31), 1, 1, FrequencyUnit::Month, (2026, 2, 28)),
    ((2028, 1, 31), 1, 1, FrequencyUnit::Month, (2028, 2, 29)),
    ((2026, 3, 31), 1, 1, FrequencyUnit::Month, (2026, 4, 30)),
    ((2026, 8, 31), 1, 6, FrequencyUnit::Month, (2027, 2, 28)),
    ((2026, 12, 15), 1, 2, FrequencyUnit::Week, (2026, 12, 29)),
    ((2026, 12, 28), 1, 1, FrequencyUnit::Week, (2027, 1, 4)),
    ((2026, 2, 1), 2, 1, FrequencyUnit::Month, (2026, 2, 15)),
    ((2026, 1, 1), 2, 1, FrequencyUnit::Month, (2026, 1, 16)),
    ((2026, 5, 4), 3, 1, FrequencyUnit::Week, (2026, 5, 6)),
    ((2026, 5, 4), 1, 10, FrequencyUnit::Day, (2026, 5, 14)),
];

/// The dates of a [`NEXT_VISIT`] row.
pub fn next_visit_row(row: &NextVisitRow) -> (NaiveDate, VisitFrequency, NaiveDate) {
    let ((y, m, dd), times, every, unit, (ny, nm, nd)) = *row;
    (d(y, m, dd), VisitFrequency { times, every, unit }, d(ny, nm, nd))
}

/// The sample case's team members.
pub fn members() -> Vec<String> {
    vec![ENROLLING.into(), SHARED.into(), NOT_SHARED.into()]
}

/// The sample case (shared with [`SHARED`] only).
pub fn sample_case() -> SharedCase {
    SharedCase {
        case_id: CASE_ID.into(),
        team: TEAM.into(),
        enrolling: ENROLLING.into(),
        basics: CaseBasics {
            national_id: "A123456789".into(),
            name: "王小明".into(),
            birth_date: Some(d(1940, 5, 1)),
            sex: "M".into(),
            care_stage: Some(CareStage::HomeMedical),
            period_start: Some(d(2026, 11, 1)),
            period_end: Some(d(2027, 4, 30)),
        },
        special_notes: String::new(),
        access: vec![SHARED.into()],
        rev: 1,
    }
}

/// A care plan version by `author`.
pub fn plan(id: &str, author: &str, created_ms: i64) -> CarePlan {
    CarePlan {
        id: id.into(),
        case_id: CASE_ID.into(),
        author: author.into(),
        copied_from: None,
        content: PlanContent {
            goals: "維持管路通暢，預防壓瘡".into(),
            frequency: VisitFrequency {
                times: 1,
                every: 2,
                unit: FrequencyUnit::Week,
            },
        },
        corrections: Vec::new(),
        deleted: false,
        created_ms,
        rev: 1,
    }
}

/// A nurse's visit record by `author`.
pub fn record(id: &str, author: &str) -> VisitRecord {
    VisitRecord {
        id: id.into(),
        case_id: CASE_ID.into(),
        author: author.into(),
        role: Role::Nurse,
        visit_date: d(2026, 12, 1),
        next_visit_date: Some(d(2026, 12, 15)),
        health_status: "意識清楚，生命徵象穩定".into(),
        problem: "鼻胃管需更換".into(),
        service: "更換鼻胃管 16Fr，衛教家屬灌食".into(),
        visit_code: None,
        rev: 1,
    }
}

/// A message to the whole team by `author`.
pub fn message(id: &str, author: &str) -> Message {
    Message {
        id: id.into(),
        case_id: CASE_ID.into(),
        author: author.into(),
        to: Vec::new(),
        reply_to: None,
        text: "下週三聯合訪視？".into(),
        created_ms: 1_764_547_200_000,
        rev: 1,
    }
}

/// A phone consultation logged by `author`.
pub fn consultation(id: &str, author: &str) -> Consultation {
    Consultation {
        id: id.into(),
        case_id: CASE_ID.into(),
        author: author.into(),
        called_ms: 1_764_547_200_000,
        question: "夜間發燒 38.5 度怎麼辦".into(),
        responder: String::new(),
        answer: String::new(),
        rev: 1,
    }
}

/// The sample case's file with one plan by the enrolling institution.
pub fn sample_file() -> CaseFile {
    let mut f = CaseFile::new(sample_case());
    f.plans.push(plan("plan-1", ENROLLING, 1_000));
    f.records.push(record("rec-1", ENROLLING));
    f.messages.push(message("msg-1", ENROLLING));
    f.consultations.push(consultation("call-1", ENROLLING));
    f
}

/// `(name, institution, write, expected: None = applied, Some(code, field))` over
/// [`sample_file`].
pub fn access_vectors() -> Vec<AccessVector> {
    let case = |notes: &str, access: Vec<String>| TeamWrite::Case {
        case_id: CASE_ID.into(),
        special_notes: notes.into(),
        access,
        rev: 2,
    };
    let mut plan_by_shared = plan("plan-1", SHARED, 1_000);
    plan_by_shared.rev = 2;
    let mut record_edit = record("rec-1", SHARED);
    record_edit.rev = 2;
    let mut call_reply = consultation("call-1", SHARED);
    call_reply.rev = 2;
    vec![
        (
            "enrolling_edits_special_notes",
            ENROLLING,
            case("家有惡犬", vec![SHARED.into()]),
            None,
        ),
        (
            "special_notes_by_another_institution_refused",
            SHARED,
            case("家有惡犬", vec![SHARED.into()]),
            Some(("not_enrolling_institution", "special_notes")),
        ),
        (
            "access_by_another_institution_refused",
            SHARED,
            case("", vec![SHARED.into(), NOT_SHARED.into()]),
            Some(("not_enrolling_institution", "access")),
        ),
        (
            "access_outside_the_team_refused",
            ENROLLING,
            case("", vec!["3501209999".into()]),
            Some(("invalid", "access")),
        ),
        (
            "unshared_institution_writes_nothing",
            NOT_SHARED,
            TeamWrite::Record(record("rec-9", NOT_SHARED)),
            Some(("no_access", "case_id")),
        ),
        (
            "shared_institution_adds_a_record",
            SHARED,
            TeamWrite::Record(record("rec-2", SHARED)),
            None,
        ),
        (
            "only_the_author_edits_a_record",
            SHARED,
            TeamWrite::Record(record_edit),
            Some(("not_author", "author")),
        ),
        (
            "only_the_author_corrects_a_plan",
            SHARED,
            TeamWrite::Plan(plan_by_shared),
            Some(("not_author", "author")),
        ),
        (
            "shared_institution_adds_a_plan_version",
            SHARED,
            TeamWrite::Plan(plan("plan-2", SHARED, 2_000)),
            None,
        ),
        (
            "only_the_author_answers_a_consultation",
            SHARED,
            TeamWrite::Consultation(call_reply),
            Some(("not_author", "author")),
        ),
        (
            "shared_institution_posts_a_message",
            SHARED,
            TeamWrite::Message(message("msg-2", SHARED)),
            None,
        ),
    ]
}
