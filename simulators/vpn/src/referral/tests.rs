//! The platform side of the referral rules: the fixed vectors and each lifecycle rule, run
//! against the simulator's own functions (the same `rules` the device runs).

use super::*;
use homevisit_core::referral::model::Referral;
use homevisit_core::referral::vectors::{LIFECYCLE, OPEN_PERMISSIONS, SIM_LTC_CENTRE_2, Step};

const INST: &str = "3501200000";
const NOW: i64 = 1_764_547_200_000;

fn conn() -> Connection {
    Connection::open_in_memory().unwrap()
}

fn day() -> chrono::NaiveDate {
    today(NOW).unwrap()
}

fn opened(kind: ReferralType, sender: &str, unit: UnitKind, receiver: &str) -> Referral {
    let number = rules::referral_number(sender, day(), "TEST", 1).unwrap();
    rules::open(
        unit,
        sender,
        kind,
        number,
        sample_form(sender, receiver),
        NOW,
        day(),
    )
    .unwrap()
}

fn code(e: &ApiError) -> &str {
    &e.1.error
}

/// The sender's local copy follows the rules (as the device does); platform steps go through the
/// simulator's functions. Returns the step's refusal code.
fn step(c: &mut Connection, local: &mut Option<Referral>, s: Step, t: i64) -> Option<String> {
    let Some(r) = local.as_mut() else {
        return Some("deleted".into());
    };
    let platform_before = load(c, &r.number).unwrap();
    let out: Result<(), String> = match s {
        Step::Correct => {
            let mut f = r.form.clone();
            f.purpose = "更正後的轉介目的".into();
            let res = rules::correct(r, f, day()).map_err(|e| e.code().to_string());
            if res.is_err() && r.sent_at_ms.is_some() {
                // A device that sends a changed copy of a sent round changes nothing here.
                let mut changed = r.clone();
                changed.form.purpose = "更正後的轉介目的".into();
                let ack = submit(
                    c,
                    INST,
                    UnitKind::Institution,
                    &Submission { referral: changed },
                    t,
                )
                .unwrap();
                assert_eq!(ack.status, "duplicate");
                assert_eq!(load(c, &r.number).unwrap(), platform_before);
            }
            res
        }
        Step::Delete => rules::may_delete(r)
            .map(|()| *local = None)
            .map_err(|e| e.code().into()),
        Step::Send => match rules::send(r, t) {
            Ok(()) => submit(
                c,
                INST,
                UnitKind::Institution,
                &Submission { referral: r.clone() },
                t,
            )
            .map(|_| ())
            .map_err(|e| code(&e).to_string()),
            Err(e) => Err(e.code().into()),
        },
        // The platform holds no unsent round: the receiver's action on one is `not_found` there,
        // the platform's form of the device's `wrong_state`.
        Step::Process(st) => ltc_process(c, &r.number, st, "已評估", t)
            .map(|_| ())
            .map_err(|e| unsent_is_wrong_state(code(&e), platform_before.is_none())),
        Step::Reply => ltc_reply(c, &r.number, t)
            .map(|held| {
                // The sender learns the reply (as the device's refresh does).
                r.processing = held.processing;
            })
            .map_err(|e| unsent_is_wrong_state(code(&e), platform_before.is_none())),
        Step::ReRefer => {
            let mut u = r.form.receiving_unit.clone();
            u.code = SIM_LTC_CENTRE_2.into();
            rules::re_refer(r, u).map_err(|e| e.code().into())
        }
    };
    if out.is_err()
        && let Some(r) = local.as_ref()
    {
        assert_eq!(
            load(c, &r.number).unwrap(),
            platform_before,
            "a refused step changed the platform"
        );
    }
    out.err()
}

fn unsent_is_wrong_state(code: &str, unsent: bool) -> String {
    if unsent && code == "not_found" {
        "wrong_state".into()
    } else {
        code.into()
    }
}

/// Runs the vector named `name` on the platform.
fn run_named(name: &str) {
    let v = LIFECYCLE
        .iter()
        .find(|v| v.name == name)
        .expect("a vector of that name");
    run_vector(v);
}

fn run_vector(v: &homevisit_core::referral::vectors::LifecycleVector) {
    {
        let mut c = conn();
        let mut local = Some(opened(
            ReferralType::HomeCareToLtc,
            INST,
            UnitKind::Institution,
            SIM_LTC_CENTRE,
        ));
        for (i, (s, expect)) in v.steps.iter().enumerate() {
            let got = step(&mut c, &mut local, *s, NOW + i as i64);
            assert_eq!(got.as_deref(), *expect, "vector {} step {i} {s:?}", v.name);
        }
        if let Some(r) = &local
            && r.sent_at_ms.is_some()
        {
            assert_eq!(
                load(&c, &r.number).unwrap().unwrap().count,
                v.final_count,
                "{}",
                v.name
            );
        }
    }
}

#[test]
fn institution_opens_01_03_04_and_ltc_centre_opens_02() {
    for (unit, kind, allowed) in OPEN_PERMISSIONS {
        let mut c = conn();
        let (sender, receiver) = match unit {
            UnitKind::Institution => (INST, SIM_LTC_CENTRE),
            UnitKind::LtcCentre => (SIM_LTC_CENTRE, INST),
        };
        // Built without the opening check, as a hostile client would.
        let mut r = opened(
            ReferralType::InstitutionToLtc,
            INST,
            UnitKind::Institution,
            SIM_LTC_CENTRE,
        );
        r.kind = kind;
        r.sender_code = sender.into();
        r.form.referring_unit.code = sender.into();
        r.form.receiving_unit.code = receiver.into();
        r.sent_at_ms = Some(NOW);
        let got = submit(&mut c, sender, unit, &Submission { referral: r }, NOW);
        match (allowed, got) {
            (true, Ok(ack)) => assert_eq!(ack.status, "received"),
            (false, Err(e)) => {
                assert_eq!(code(&e), "type_not_allowed", "{unit:?} {kind:?}");
                assert_eq!(e.1.field.as_deref(), Some("kind"));
            }
            (a, g) => panic!("{unit:?} {kind:?}: allowed {a}, got {g:?}"),
        }
    }
}

#[test]
fn sent_exactly_once() {
    run_named("sent_exactly_once");
    let mut c = conn();
    let mut r = opened(
        ReferralType::HomeCareToLtc,
        INST,
        UnitKind::Institution,
        SIM_LTC_CENTRE,
    );
    rules::send(&mut r, NOW).unwrap();
    let sub = Submission { referral: r.clone() };
    assert_eq!(
        submit(&mut c, INST, UnitKind::Institution, &sub, NOW)
            .unwrap()
            .status,
        "received"
    );
    assert_eq!(
        submit(&mut c, INST, UnitKind::Institution, &sub, NOW + 5)
            .unwrap()
            .status,
        "duplicate"
    );
    assert_eq!(receipts(&c, &r.number, 1, "submit"), 1);
}

#[test]
fn status_04_re_referral_keeps_number_and_counts_up() {
    run_named("status_04_re_referral_keeps_number_and_counts_up");
    let mut c = conn();
    let mut r = opened(
        ReferralType::HomeCareToLtc,
        INST,
        UnitKind::Institution,
        SIM_LTC_CENTRE,
    );
    rules::send(&mut r, NOW).unwrap();
    submit(
        &mut c,
        INST,
        UnitKind::Institution,
        &Submission { referral: r.clone() },
        NOW,
    )
    .unwrap();
    // Count 2 before any 04 reply: refused.
    let mut early = r.clone();
    early.count = 2;
    let e = submit(
        &mut c,
        INST,
        UnitKind::Institution,
        &Submission { referral: early },
        NOW,
    )
    .unwrap_err();
    assert_eq!(code(&e), "wrong_state");
    ltc_process(
        &c,
        &r.number,
        ProcessingStatus::ArrangeReReferral,
        "請轉他中心",
        NOW,
    )
    .unwrap();
    ltc_reply(&c, &r.number, NOW).unwrap();
    let mut skip = r.clone();
    skip.count = 3;
    let e = submit(
        &mut c,
        INST,
        UnitKind::Institution,
        &Submission { referral: skip },
        NOW,
    )
    .unwrap_err();
    assert_eq!(code(&e), "count_mismatch");
    r.processing = load(&c, &r.number).unwrap().unwrap().processing;
    let mut u = r.form.receiving_unit.clone();
    u.code = SIM_LTC_CENTRE_2.into();
    rules::re_refer(&mut r, u).unwrap();
    rules::send(&mut r, NOW + 1).unwrap();
    submit(
        &mut c,
        INST,
        UnitKind::Institution,
        &Submission { referral: r.clone() },
        NOW + 1,
    )
    .unwrap();
    let held = load(&c, &r.number).unwrap().unwrap();
    assert_eq!(
        (
            held.count,
            held.rounds.len(),
            held.form.receiving_unit.code.as_str()
        ),
        (2, 1, SIM_LTC_CENTRE_2)
    );
    assert_eq!(AdminReferral::of(&held).receiver_state, "unprocessed");
}

#[test]
fn only_the_receiver_answers_and_the_device_answers_a_02() {
    let mut c = conn();
    let r = ltc_open(&mut c, INST, NOW).unwrap();
    assert_eq!(r.kind, ReferralType::LtcCentreToHomeCare);
    let sync = sync_for(&c, INST).unwrap();
    assert_eq!((sync.sent.len(), sync.received.len()), (0, 1));
    // The LTC centre cannot answer its own referral to an institution.
    assert_eq!(
        code(&ltc_process(&c, &r.number, ProcessingStatus::Accepted, "x", NOW).unwrap_err()),
        "not_your_referral"
    );
    let req = ReplyRequest {
        number: r.number.clone(),
        count: 1,
        status: ProcessingStatus::Accepted,
        explanation: "已收案，下週訪視".into(),
    };
    let e = answer(&mut c, "9999999999", &req, NOW).unwrap_err();
    assert_eq!(code(&e), "not_your_referral");
    assert_eq!(answer(&mut c, INST, &req, NOW).unwrap().status, "received");
    assert_eq!(answer(&mut c, INST, &req, NOW).unwrap().status, "duplicate");
    let mut changed = req.clone();
    changed.status = ProcessingStatus::Declined;
    assert_eq!(
        code(&answer(&mut c, INST, &changed, NOW).unwrap_err()),
        "wrong_state"
    );
    assert_eq!(receipts(&c, &r.number, 1, "reply"), 1);
}

#[test]
fn a_sender_cannot_submit_for_another_institution() {
    let mut c = conn();
    let mut r = opened(
        ReferralType::HomeCareToLtc,
        INST,
        UnitKind::Institution,
        SIM_LTC_CENTRE,
    );
    rules::send(&mut r, NOW).unwrap();
    let e = submit(
        &mut c,
        "1111111111",
        UnitKind::Institution,
        &Submission { referral: r },
        NOW,
    )
    .unwrap_err();
    assert_eq!(code(&e), "not_your_referral");
}
