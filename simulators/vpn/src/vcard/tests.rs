//! The virtual-card lifecycle rules on the simulator: one test per rule, the service's clock
//! moved by hand.

use super::*;
use crate::upload::{parse_batch, validate};

const INST: &str = "3501200000";
const OTHER: &str = "3501209999";
/// Demo patient 2 holds a virtual card from the start.
const PATIENT: &str = "B220415378";
const T0: i64 = 1_733_000_000_000;

fn code(e: ApiError) -> String {
    e.1.error
}

fn consented(s: &VcardState) -> (String, String) {
    let (qr, _) = s.issue_qr(PATIENT, T0).unwrap();
    let scan = s.scan(INST, &qr, T0).unwrap();
    s.answer(&qr, true).unwrap();
    (qr, scan.session)
}

fn seq_req(session: &str, txn: &str, at_ms: i64) -> wire::SequenceRequest {
    wire::SequenceRequest {
        session: session.into(),
        txn_id: txn.into(),
        visit_type: "01".into(),
        visit_datetime: RocDateTime::from_unix_ms(at_ms).unwrap().to_roc_string(),
        visit_code: "7K3P9QX2M4T8V6W1R5ZH".into(),
    }
}

#[test]
fn vcard_qr_expires_after_5_minutes() {
    let s = VcardState::new();
    let (qr, expires) = s.issue_qr(PATIENT, T0).unwrap();
    assert_eq!(expires, T0 + 5 * 60 * 1000);
    // The service's clock moves by hand: 5 minutes + 1 s later the QR is refused as expired.
    s.advance_clock_ms(5 * 60 * 1000 + 1000);
    let now = s.now_ms(T0);
    assert_eq!(code(s.scan(INST, &qr, now).unwrap_err()), codes::EXPIRED);
    // One second before its end it was fine.
    let (qr2, _) = s.issue_qr(PATIENT, T0).unwrap();
    s.scan(INST, &qr2, T0 + 5 * 60 * 1000 - 1000).unwrap();
}

#[test]
fn vcard_qr_is_single_use() {
    let s = VcardState::new();
    let (qr, _) = s.issue_qr(PATIENT, T0).unwrap();
    s.scan(INST, &qr, T0).unwrap();
    assert_eq!(code(s.scan(INST, &qr, T0 + 1).unwrap_err()), codes::USED);
    // Another institution cannot use it either.
    assert_eq!(code(s.scan(OTHER, &qr, T0 + 1).unwrap_err()), codes::USED);
}

#[test]
fn vcard_expired_and_used_are_distinct_errors() {
    let s = VcardState::new();
    let (used, _) = s.issue_qr(PATIENT, T0).unwrap();
    s.scan(INST, &used, T0).unwrap();
    let (late, _) = s.issue_qr(PATIENT, T0).unwrap();
    let later = T0 + 5 * 60 * 1000 + 1000;
    let a = code(s.scan(INST, &used, later).unwrap_err());
    let b = code(s.scan(INST, &late, later).unwrap_err());
    assert_eq!((a.as_str(), b.as_str()), (codes::USED, codes::EXPIRED));
}

#[test]
fn vcard_qr_forged_is_refused() {
    let s = VcardState::new();
    // Signed by another key.
    let other = Ed25519KeyPair::from_seed_unchecked(&[9; 32]).unwrap();
    let fake = qr::issue(&other, [1; 16], T0);
    assert_eq!(code(s.scan(INST, &fake, T0).unwrap_err()), codes::FORGED);
    // Genuinely signed shape but never issued (a token the NHI does not know).
    let never = qr::issue(&s.key, [2; 16], T0);
    assert_eq!(code(s.scan(INST, &never, T0).unwrap_err()), codes::FORGED);
    assert_eq!(code(s.scan(INST, "NHIVC1:AAAA", T0).unwrap_err()), codes::FORGED);
}

#[test]
fn vcard_card_data_needs_consent() {
    let s = VcardState::new();
    let (qr, _) = s.issue_qr(PATIENT, T0).unwrap();
    let scan = s.scan(INST, &qr, T0).unwrap();
    assert_eq!(s.consent_state(INST, &scan.session).unwrap().state, "pending");
    assert_eq!(code(s.card(INST, &scan.session).unwrap_err()), codes::NO_CONSENT);
    assert_eq!(
        code(
            s.sequence(INST, &seq_req(&scan.session, &"a".repeat(32), T0), T0)
                .unwrap_err()
        ),
        codes::NO_CONSENT
    );
    s.answer(&qr, true).unwrap();
    assert_eq!(s.consent_state(INST, &scan.session).unwrap().state, "granted");
    assert_eq!(s.card(INST, &scan.session).unwrap().national_id, PATIENT);
    // Only the institution that scanned.
    assert_eq!(
        code(s.card(OTHER, &scan.session).unwrap_err()),
        codes::UNKNOWN_SESSION
    );
    // A refusal is a refusal.
    let (qr, _) = s.issue_qr(PATIENT, T0).unwrap();
    let scan = s.scan(INST, &qr, T0).unwrap();
    s.answer(&qr, false).unwrap();
    assert_eq!(code(s.card(INST, &scan.session).unwrap_err()), codes::REFUSED);
}

#[test]
fn vcard_visit_gets_a_v_sequence_number() {
    let s = VcardState::new();
    let (_, session) = consented(&s);
    let txn = "0".repeat(32);
    let a = s.sequence(INST, &seq_req(&session, &txn, T0), T0).unwrap();
    assert_eq!(a.sequence_number, "V001");
    assert_eq!(a.sam_id, SIGNER_ID);
    assert_eq!(a.signature_hex.len(), 256);
    // A retry gets the same answer; a second visit on the same scan is refused.
    assert_eq!(s.sequence(INST, &seq_req(&session, &txn, T0), T0).unwrap(), a);
    assert_eq!(
        code(
            s.sequence(INST, &seq_req(&session, &"1".repeat(32), T0), T0)
                .unwrap_err()
        ),
        codes::USED
    );
    let (_, session2) = consented(&s);
    let b = s
        .sequence(INST, &seq_req(&session2, &"2".repeat(32), T0), T0)
        .unwrap();
    assert_eq!(b.sequence_number, "V002");
    assert_eq!(v_number(36), Some("V010".into()));
    assert_eq!(v_number(0), None);
}

#[test]
fn vcard_assisted_application_needs_the_right() {
    let s = VcardState::new();
    let staff = "E124562011";
    let mut req = wire::ApplicationRequest {
        card: wire::CardData {
            card_number: "000012345678".into(),
            name: "王小明".into(),
            national_id: "A123456789".into(),
            birth_date: "0290517".into(),
            sex: "M".into(),
            issue_date: "1020108".into(),
        },
        staff_id: staff.into(),
        photo_confirmed: true,
        id_document_confirmed: true,
        audit_code: "VC00000000".into(),
    };
    assert_eq!(code(s.apply(INST, &req, T0).unwrap_err()), codes::NO_RIGHT);
    let audit = s.grant_right(INST, vec![staff.into()]);
    assert_eq!(code(s.apply(INST, &req, T0).unwrap_err()), codes::BAD_AUDIT_CODE);
    req.audit_code = audit.clone();
    // The right is the institution's, not the code's.
    assert_eq!(code(s.apply(OTHER, &req, T0).unwrap_err()), codes::NO_RIGHT);
    req.staff_id = "B220415378".into();
    assert_eq!(code(s.apply(INST, &req, T0).unwrap_err()), codes::NOT_DESIGNATED);
    req.staff_id = staff.into();
    req.photo_confirmed = false;
    assert_eq!(
        s.apply(INST, &req, T0).unwrap_err().1.field.as_deref(),
        Some("photo_confirmed")
    );
    req.photo_confirmed = true;
    assert!(!s.has_card("A123456789"));
    s.apply(INST, &req, T0).unwrap();
    assert!(s.has_card("A123456789"));
    s.issue_qr("A123456789", T0).unwrap();
}

/// A virtual-card record as the device writes it, with `changes` applied to MB1.
fn vcard_record(changes: &[(&str, &str)]) -> crate::upload::Record {
    let at = "1131201093015";
    let sig = signature("000023456781", at, "V001", INST, "7K3P9QX2M4T8V6W1R5ZH");
    let mut fields: Vec<(String, String)> = [
        ("M01", SIGNER_ID),
        ("M02", "000023456781"),
        ("M03", PATIENT),
        ("M04", "0340921"),
        ("M05", INST),
        ("M06", "E124562011"),
        ("M07", "01"),
        ("M11", at),
        ("M12", "1"),
        ("M13", "V001"),
        ("M14", sig.as_str()),
        ("M15", "7K3P9QX2M4T8V6W1R5ZH"),
        ("M35", "I10"),
        ("M44", "1631"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in changes {
        match fields.iter_mut().find(|(f, _)| f == k) {
            Some(f) => f.1 = v.to_string(),
            None => fields.push((k.to_string(), v.to_string())),
        }
    }
    let mb1: String = fields
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("<{k}>{v}</{k}>"))
        .collect();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"Big5\"?><RECS><REC><MSH><H00>1</H00><H01>A</H01></MSH><MB><MB1>{mb1}</MB1></MB></REC></RECS>"
    );
    parse_batch(xml.as_bytes()).unwrap().remove(0)
}

#[test]
fn vcard_upload_carries_what_2_0_requires() {
    let now = T0 + 365 * 86_400_000;
    validate(&vcard_record(&[]), INST, now).unwrap();
    let field = |c: &[(&str, &str)]| validate(&vcard_record(c), INST, now).unwrap_err().field;
    assert_eq!(field(&[("M14", "")]), "M14");
    assert_eq!(field(&[("M01", "")]), "M01");
    assert_eq!(field(&[("M01", "100000000001")]), "M01");
    assert_eq!(field(&[("M12", "2"), ("M49", "1131201080000")]), "M12");
    // A V number the NHI did not sign for this visit.
    assert_eq!(field(&[("M13", "V002")]), "M14");
    // The virtual-card signer signs nothing but V numbers.
    assert_eq!(field(&[("M13", "0001")]), "M01");
}
