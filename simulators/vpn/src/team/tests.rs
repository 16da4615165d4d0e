//! The simulator runs the same vectors as the device: each write refused with the same code and
//! field, a refused write changes nothing, a resend is recorded once.

use super::*;
use homevisit_core::team::vectors::{self, ENROLLING, NOT_SHARED, SHARED, TEAM};

fn db() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    schema(&conn).unwrap();
    for m in vectors::members() {
        add_member(&conn, TEAM, &m).unwrap();
    }
    save(&conn, &vectors::sample_file(), 1).unwrap();
    conn
}

#[test]
fn access_control_rules_vectors() {
    for (name, by, write, expected) in vectors::access_vectors() {
        let mut conn = db();
        let before = load(&conn, vectors::CASE_ID).unwrap();
        let got = push(&mut conn, by, &write, 2);
        match expected {
            None => assert_eq!(got.unwrap().status, "received", "{name}"),
            Some((code, field)) => {
                let e = got.expect_err(name);
                assert_eq!(e.0, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
                assert_eq!(
                    (e.1.error.as_str(), e.1.field.as_deref()),
                    (code, Some(field)),
                    "{name}"
                );
                assert_eq!(load(&conn, vectors::CASE_ID).unwrap(), before, "{name}");
            }
        }
    }
}

#[test]
fn special_notes_by_another_institution_are_refused_with_code_and_field() {
    let mut conn = db();
    let w = TeamWrite::Case {
        case_id: vectors::CASE_ID.into(),
        special_notes: "家有惡犬".into(),
        access: vec![SHARED.into()],
        rev: 2,
    };
    let e = push(&mut conn, SHARED, &w, 2).unwrap_err();
    assert_eq!(e.1.error, "not_enrolling_institution");
    assert_eq!(e.1.field.as_deref(), Some("special_notes"));
    assert_eq!(push(&mut conn, ENROLLING, &w, 3).unwrap().status, "received");
}

#[test]
fn concurrent_care_plan_versions_are_both_kept() {
    let mut conn = db();
    push(
        &mut conn,
        ENROLLING,
        &TeamWrite::Plan(vectors::plan("p-a", ENROLLING, 9)),
        2,
    )
    .unwrap();
    push(
        &mut conn,
        SHARED,
        &TeamWrite::Plan(vectors::plan("p-b", SHARED, 9)),
        2,
    )
    .unwrap();
    assert_eq!(load(&conn, vectors::CASE_ID).unwrap().unwrap().plans.len(), 3);
}

#[test]
fn a_resent_write_is_recorded_once() {
    let mut conn = db();
    let w = TeamWrite::Record(vectors::record("rec-2", SHARED));
    assert_eq!(push(&mut conn, SHARED, &w, 2).unwrap().status, "received");
    assert_eq!(push(&mut conn, SHARED, &w, 3).unwrap().status, "duplicate");
    assert_eq!(receipts(&conn, "record", "rec-2", 1), 1);
}

#[test]
fn sync_shows_only_cases_and_messages_the_institution_may_see() {
    let mut conn = db();
    let mut private = vectors::message("m-private", ENROLLING);
    private.to = vec![SHARED.into()];
    push(&mut conn, ENROLLING, &TeamWrite::Message(private), 2).unwrap();
    assert_eq!(sync_for(&conn, SHARED).unwrap().files[0].messages.len(), 2);
    assert!(sync_for(&conn, NOT_SHARED).unwrap().files.is_empty());
    let members = sync_for(&conn, NOT_SHARED).unwrap().members;
    assert_eq!(members.len(), 3);
    let enrolling = members.iter().find(|m| m.institution == ENROLLING).unwrap();
    assert_eq!((enrolling.enrolled_cases, enrolling.shared_cases), (1, 1));
    set_access(&mut conn, vectors::CASE_ID, Vec::new(), 3).unwrap();
    assert!(sync_for(&conn, SHARED).unwrap().files.is_empty());
}

#[test]
fn a_closed_or_unknown_case_takes_no_writes() {
    let mut conn = db();
    close_case(&conn, vectors::CASE_ID).unwrap();
    let e = push(
        &mut conn,
        ENROLLING,
        &TeamWrite::Record(vectors::record("r", ENROLLING)),
        2,
    )
    .unwrap_err();
    assert_eq!(e.1.error, "no_access");
    assert!(sync_for(&conn, ENROLLING).unwrap().files.is_empty());
}

#[test]
fn register_case_keeps_the_shared_record_and_takes_the_latest_basics() {
    let mut conn = db();
    push(
        &mut conn,
        SHARED,
        &TeamWrite::Record(vectors::record("rec-2", SHARED)),
        2,
    )
    .unwrap();
    let mut basics = vectors::sample_case().basics;
    basics.sex = "F".into();
    register_case(&conn, vectors::CASE_ID, TEAM, ENROLLING, &basics, &[], 3).unwrap();
    let f = load(&conn, vectors::CASE_ID).unwrap().unwrap();
    assert_eq!(f.case.basics.sex, "F");
    assert_eq!(f.records.len(), 2);
    assert_eq!(f.case.access, vec![SHARED.to_string()]);
    let e = register_case(&conn, "x", "HX1", ENROLLING, &basics, &[], 3).unwrap_err();
    assert_eq!(e.1.field.as_deref(), Some("care_team_code"));
}
