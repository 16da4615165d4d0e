//! The referral rules against the fixed vectors, the number, the queries and the CSV export.

use super::csv::{self, CsvEncoding, ReportRow};
use super::model::*;
use super::query::{ReferralQuery, ReportFilter, Side};
use super::rules::{self, Violation};
use super::vectors::{self, LIFECYCLE, OPEN_PERMISSIONS, SIM_LTC_CENTRE, SIM_LTC_CENTRE_2, Step};
use chrono::NaiveDate;

const INST: &str = "3501200000";
const NOW: i64 = 1_764_547_200_000; // 2025-12-01 08:00 Taiwan

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 12, 1).unwrap()
}

fn opened() -> Referral {
    let number = rules::referral_number(INST, today(), "K3ZQ", 1).unwrap();
    rules::open(
        UnitKind::Institution,
        INST,
        ReferralType::HomeCareToLtc,
        number,
        vectors::sample_form(INST, SIM_LTC_CENTRE),
        NOW,
        today(),
    )
    .unwrap()
}

/// Applies one vector step to the pure rules (a failing step must leave the referral unchanged).
fn apply(r: &mut Option<Referral>, step: Step, t: i64) -> Result<(), Violation> {
    let Some(cur) = r.as_mut() else {
        return Err(Violation::WrongState {
            action: rules::Action::Correct,
            state: "deleted",
        });
    };
    let before = cur.clone();
    let out = match step {
        Step::Correct => {
            let mut f = cur.form.clone();
            f.purpose = "更正後的轉介目的".into();
            rules::correct(cur, f, today())
        }
        Step::Delete => rules::may_delete(cur).map(|()| {
            *r = None;
        }),
        Step::Send => rules::send(cur, t),
        Step::Process(s) => rules::process(cur, s, "已評估", t),
        Step::Reply => rules::reply(cur, t),
        Step::ReRefer => {
            let mut u = cur.form.receiving_unit.clone();
            u.code = SIM_LTC_CENTRE_2.into();
            rules::re_refer(cur, u)
        }
    };
    if out.is_err() {
        assert_eq!(r.as_ref(), Some(&before), "a refused step changed the referral");
    }
    out
}

#[test]
fn lifecycle_vectors_hold_on_the_device_rules() {
    for v in LIFECYCLE {
        let mut r = Some(opened());
        for (i, (step, expect)) in v.steps.iter().enumerate() {
            let got = apply(&mut r, *step, NOW + i as i64).err().map(|e| e.code());
            assert_eq!(got, *expect, "vector {} step {i} {step:?}", v.name);
        }
        if let Some(r) = r {
            assert_eq!(r.count, v.final_count, "vector {}", v.name);
        }
    }
}

#[test]
fn institution_opens_01_03_04_and_ltc_centre_opens_02() {
    for (unit, kind, allowed) in OPEN_PERMISSIONS {
        assert_eq!(rules::may_open(unit, kind).is_ok(), allowed, "{unit:?} {kind:?}");
    }
    // The manual's "01、02、04" sentence is not followed: 02 belongs to the LTC centre.
    assert_eq!(
        rules::may_open(UnitKind::Institution, ReferralType::LtcCentreToHomeCare),
        Err(Violation::TypeNotAllowed {
            kind: ReferralType::LtcCentreToHomeCare,
            unit: UnitKind::Institution
        })
    );
}

#[test]
fn opening_makes_the_referral_number() {
    let n = rules::referral_number(INST, today(), &rules::device_tag("dev-1"), 7).unwrap();
    assert_eq!(n.len(), 24);
    assert!(n.starts_with("35012000001141201"), "{n}");
    assert!(n.ends_with("007"));
    assert_ne!(rules::device_tag("dev-1"), rules::device_tag("dev-2"));
    assert!(rules::referral_number(INST, today(), "K3ZQ", 1000).is_err());
    let r = opened();
    assert_eq!(
        (r.count, r.sender_state(), r.receiver_state()),
        (1, SenderState::OpenedUnsent, None)
    );
}

#[test]
fn the_six_parts_are_checked_and_name_the_field() {
    let base = vectors::sample_form(INST, SIM_LTC_CENTRE);
    type Spoil = Box<dyn Fn(&mut ReferralForm)>;
    let cases: Vec<(&str, Spoil)> = vec![
        (
            "referring_unit",
            Box::new(|f| f.referring_unit.code = "12".into()),
        ),
        (
            "patient.national_id",
            Box::new(|f| f.patient.national_id = "A123456788".into()),
        ),
        ("patient.name", Box::new(|f| f.patient.name = String::new())),
        (
            "patient.birth_date",
            Box::new(|f| f.patient.birth_date = NaiveDate::from_ymd_opt(2030, 1, 1)),
        ),
        ("patient.sex", Box::new(|f| f.patient.sex = "F".into())),
        (
            "assessment.adl_score",
            Box::new(|f| f.assessment.adl_score = Some(101)),
        ),
        (
            "assessment.diagnoses",
            Box::new(|f| f.assessment.diagnoses = vec!["12".into()]),
        ),
        ("purpose", Box::new(|f| f.purpose = "  ".into())),
        (
            "receiving_unit",
            Box::new(|f| f.receiving_unit.code = INST.into()),
        ),
        ("summary", Box::new(|f| f.summary = Summary("字".repeat(501)))),
    ];
    for (field, spoil) in cases {
        let mut f = base.clone();
        spoil(&mut f);
        let e = rules::check_form(ReferralType::HomeCareToLtc, &f, today()).unwrap_err();
        assert_eq!(e.field(), Some(field), "{e}");
        assert!(
            !e.to_string().contains("陳大明") && !e.to_string().contains("A123"),
            "{e}"
        );
    }
    rules::check_form(ReferralType::HomeCareToLtc, &base, today()).unwrap();
}

#[test]
fn the_platform_accepts_a_round_once_and_a_re_referral_only_after_04() {
    let mut r = opened();
    rules::send(&mut r, NOW).unwrap();
    let accepted = rules::accept_submission(None, &r, UnitKind::Institution, NOW, today()).unwrap();
    let rules::Accepted::New(mut held) = accepted else {
        panic!()
    };
    assert_eq!(
        rules::accept_submission(Some(&held), &r, UnitKind::Institution, NOW, today()),
        Ok(rules::Accepted::Duplicate)
    );
    // Count 2 before a 04 reply: refused.
    let mut second = r.clone();
    second.count = 2;
    assert_eq!(
        rules::accept_submission(Some(&held), &second, UnitKind::Institution, NOW, today())
            .unwrap_err()
            .code(),
        "wrong_state"
    );
    // Count 3 never follows 1.
    let mut third = r.clone();
    third.count = 3;
    assert_eq!(
        rules::accept_submission(Some(&held), &third, UnitKind::Institution, NOW, today()).unwrap_err(),
        Violation::CountMismatch { expected: 2, got: 3 }
    );
    assert_eq!(
        rules::accept_reply(
            &mut held,
            1,
            ProcessingStatus::ArrangeReReferral,
            "請轉他中心",
            NOW
        ),
        Ok(true)
    );
    assert_eq!(
        rules::accept_reply(
            &mut held,
            1,
            ProcessingStatus::ArrangeReReferral,
            "請轉他中心",
            NOW
        ),
        Ok(false),
        "the same reply resent is a duplicate"
    );
    assert!(rules::accept_reply(&mut held, 1, ProcessingStatus::Accepted, "x", NOW).is_err());
    // The sender learns the reply and re-refers.
    r.processing = held.processing.clone();
    let mut u = r.form.receiving_unit.clone();
    u.code = SIM_LTC_CENTRE_2.into();
    rules::re_refer(&mut r, u).unwrap();
    rules::send(&mut r, NOW + 1).unwrap();
    let rules::Accepted::ReReferral(held2) =
        rules::accept_submission(Some(&held), &r, UnitKind::Institution, NOW + 1, today()).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (held2.number.as_str(), held2.count, held2.rounds.len()),
        (r.number.as_str(), 2, 1)
    );
    // An LTC centre may not submit an institution's type.
    assert_eq!(
        rules::accept_submission(None, &opened(), UnitKind::LtcCentre, NOW, today())
            .unwrap_err()
            .code(),
        "type_not_allowed"
    );
}

#[test]
fn sender_and_receiver_states_follow_the_round() {
    let mut r = opened();
    assert_eq!(
        (r.sender_state(), r.receiver_state()),
        (SenderState::OpenedUnsent, None)
    );
    rules::send(&mut r, NOW).unwrap();
    assert_eq!(
        (r.sender_state(), r.receiver_state()),
        (SenderState::Sent, Some(ReceiverState::Unprocessed))
    );
    rules::process(&mut r, ProcessingStatus::Accepted, "收案", NOW).unwrap();
    assert_eq!(
        (r.sender_state(), r.receiver_state()),
        (SenderState::Sent, Some(ReceiverState::ProcessedNotReplied)),
        "the sender does not see an unsent processing"
    );
    assert!(r.reply().is_none());
    rules::reply(&mut r, NOW).unwrap();
    assert_eq!(
        (r.sender_state(), r.receiver_state()),
        (SenderState::Replied, Some(ReceiverState::Replied))
    );
}

#[test]
fn queries_and_report_filters() {
    let mut a = opened();
    let mut b = opened();
    b.number = rules::referral_number(INST, today(), "K3ZQ", 2).unwrap();
    b.form.patient.national_id = "B223456782".into();
    b.opened_at_ms = NOW + 86_400_000 * 3;
    rules::send(&mut a, NOW).unwrap();
    let by_id = ReferralQuery {
        national_id: Some("a123456789".into()),
        ..Default::default()
    };
    assert!(by_id.matches(&a) && !by_id.matches(&b));
    let by_number = ReferralQuery {
        number: Some(b.number.clone()),
        ..Default::default()
    };
    assert!(by_number.matches(&b) && !by_number.matches(&a));
    let range = ReferralQuery {
        opened_from: NaiveDate::from_ymd_opt(2025, 12, 2),
        opened_to: NaiveDate::from_ymd_opt(2025, 12, 4),
        ..Default::default()
    };
    assert!(range.matches(&b) && !range.matches(&a));
    let sent = ReferralQuery {
        sender_state: Some(SenderState::Sent),
        ..Default::default()
    };
    assert!(sent.matches(&a) && !sent.matches(&b));
    let unprocessed = ReferralQuery {
        receiver_state: Some(ReceiverState::Unprocessed),
        ..Default::default()
    };
    assert!(unprocessed.matches(&a) && !unprocessed.matches(&b));
    assert!(!format!("{by_id:?}").contains("a123"));
    let f = ReportFilter {
        kind: Some(ReferralType::HomeCareToLtc),
        side: Some(Side::Sent),
        from: NaiveDate::from_ymd_opt(2025, 12, 1),
        to: NaiveDate::from_ymd_opt(2025, 12, 1),
        sender_state: Some(SenderState::Sent),
        receiver_state: Some(ReceiverState::Unprocessed),
    };
    assert!(f.matches(&a, Side::Sent));
    assert!(!f.matches(&a, Side::Received));
    assert!(!f.matches(&b, Side::Sent));
    let other_kind = ReportFilter {
        kind: Some(ReferralType::InstitutionToLtc),
        ..Default::default()
    };
    assert!(!other_kind.matches(&a, Side::Sent));
}

fn row_with_name(name: &str) -> ReportRow {
    let mut r = opened();
    r.form.patient.name = name.into();
    ReportRow::of(&r, Side::Sent)
}

#[test]
fn csv_big5_round_trips_through_encoding_rs() {
    let rows = [row_with_name("陳大明"), row_with_name("林美華")];
    let out = csv::export(&rows, CsvEncoding::default());
    assert_eq!(out.encoding, CsvEncoding::Big5, "Big5 is the default");
    assert!(out.lossy_rows.is_empty());
    let (text, had_errors) = encoding_rs::BIG5.decode_without_bom_handling(&out.bytes);
    assert!(!had_errors);
    assert_eq!(text, csv::to_csv_text(&rows));
    assert!(text.starts_with("轉介單號,轉介次數,轉介類別"));
    assert!(text.contains("陳大明") && text.contains("01 居家醫療轉介長照服務"));
    assert_eq!(text.lines().count(), 3);
}

#[test]
fn csv_big5_replaces_a_character_outside_big5_and_names_the_row() {
    // 堃 (U+5803) and 喆 (U+5586) are common in names and outside Big5 (CP950).
    assert!(csv::big5_char('堃').is_none() && csv::big5_char('喆').is_none());
    assert!(csv::big5_char('陳').is_some());
    let rows = [
        row_with_name("陳大明"),
        row_with_name("王堃"),
        row_with_name("李喆"),
    ];
    let out = csv::export(&rows, CsvEncoding::Big5);
    assert_eq!(out.lossy_rows, vec![2, 3]);
    let (text, had_errors) = encoding_rs::BIG5.decode_without_bom_handling(&out.bytes);
    assert!(!had_errors, "the file stays valid Big5");
    assert!(text.contains("王？") && text.contains("李？"));
    assert!(!text.contains("&#"), "no HTML character references");
    // Every line still has 16 fields.
    for line in text.lines() {
        assert_eq!(line.split(',').count(), 16, "{line}");
    }
    // UTF-8 with BOM keeps them.
    let utf8 = csv::export(&rows, CsvEncoding::Utf8Bom);
    assert_eq!(&utf8.bytes[..3], &csv::BOM);
    let (text, _, had_errors) = encoding_rs::UTF_8.decode(&utf8.bytes);
    assert!(!had_errors && text.contains("王堃") && !text.starts_with('\u{feff}'));
    assert!(utf8.lossy_rows.is_empty());
}

#[test]
fn csv_fields_are_quoted_and_formulas_neutralised() {
    assert_eq!(csv::field("a,b"), "\"a,b\"");
    assert_eq!(csv::field("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(csv::field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
    assert_eq!(csv::field("+886"), "'+886");
    assert_eq!(csv::field("line\nbreak"), "\"line\nbreak\"");
    let mut r = opened();
    r.form.patient.name = "王堃".into();
    rules::send(&mut r, NOW).unwrap();
    rules::process(&mut r, ProcessingStatus::Accepted, "第一行\n第二行,有逗號", NOW).unwrap();
    rules::reply(&mut r, NOW).unwrap();
    let out = csv::export(&[ReportRow::of(&r, Side::Sent)], CsvEncoding::Big5);
    assert_eq!(
        out.lossy_rows,
        vec![1],
        "a line break inside a quoted field is not a new row"
    );
}

#[test]
fn debug_never_prints_patient_data() {
    let r = opened();
    let d = format!("{r:?} {:?}", ReportRow::of(&r, Side::Sent));
    for secret in ["陳大明", "A123456789", "中風", "臺北市中正區"] {
        assert!(!d.contains(secret), "{secret} in {d}");
    }
}

/// Issue 11 (a rogue endpoint): a certificate matching neither pin stops the drain for a referral
/// round as for every other job — never retried silently as a server error — and a refusal of
/// the round parks it with its field.
#[test]
fn a_certificate_mismatch_stops_the_drain_and_a_refusal_parks_the_round() {
    use crate::sync::target::{ItemOutcome, UploadError, UploadItem};
    use crate::vpn::VpnError;
    let item = UploadItem {
        job_id: "1".into(),
        kind: "referral_submit".into(),
        visit_code: String::new(),
        idempotency_key: "referral:n:1".into(),
        payload: Vec::new(),
    };
    assert!(matches!(
        super::outbox::result_of(&item, Err(VpnError::CertificateMismatch)),
        Err(UploadError::CertificateMismatch)
    ));
    let refused = VpnError::Rejected {
        code: "wrong_state".into(),
        reason: "already sent".into(),
        field: Some("status".into()),
    };
    match super::outbox::result_of(&item, Err(refused)) {
        Ok(ItemOutcome::Rejected { fields, reason }) => {
            assert_eq!(fields[0].field, "status");
            assert!(reason.contains("wrong_state"), "{reason}");
        }
        other => panic!("a refusal parks the round, got {other:?}"),
    }
}
