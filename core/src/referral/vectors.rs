//! Fixed test vectors of the referral rules, run by the device's tests (`core`, `tests/`) and by
//! the platform simulator's tests (`nhi-vpn-sim`), so both sides are held to the same table.
//!
//! Each lifecycle vector is a named walk: steps in order, each with the expected outcome (`Ok`, or
//! the [`super::rules::Violation::code`] it must fail with). Sender steps: `Open`, `Correct`,
//! `Delete`, `Send`, `ReRefer`; receiver steps: `Process`, `Reply`. A failing step changes nothing.

use super::model::{ProcessingStatus, ReferralType, UnitKind};

/// Who may open which type (the seed decision: institution 01/03/04, LTC centre 02).
pub const OPEN_PERMISSIONS: [(UnitKind, ReferralType, bool); 8] = [
    (UnitKind::Institution, ReferralType::HomeCareToLtc, true),
    (UnitKind::Institution, ReferralType::LtcCentreToHomeCare, false),
    (UnitKind::Institution, ReferralType::InstitutionToLtc, true),
    (UnitKind::Institution, ReferralType::InstitutionToHomeCare, true),
    (UnitKind::LtcCentre, ReferralType::HomeCareToLtc, false),
    (UnitKind::LtcCentre, ReferralType::LtcCentreToHomeCare, true),
    (UnitKind::LtcCentre, ReferralType::InstitutionToLtc, false),
    (UnitKind::LtcCentre, ReferralType::InstitutionToHomeCare, false),
];

/// One step of a lifecycle vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The sender corrects the form (the purpose changes).
    Correct,
    /// The sender deletes the referral.
    Delete,
    /// The sender sends the current round.
    Send,
    /// The receiver enters (or corrects) its processing.
    Process(ProcessingStatus),
    /// The receiver sends its processing back.
    Reply,
    /// The sender re-refers to another unit.
    ReRefer,
}

/// The expected outcome of a step: `None` = allowed, `Some(code)` = refused with that code.
pub type Expect = Option<&'static str>;

/// A named walk of the lifecycle, starting from a freshly opened type `01` referral.
#[derive(Debug, Clone, Copy)]
pub struct LifecycleVector {
    /// The rule it checks (also the test name on both sides).
    pub name: &'static str,
    /// Steps and their expected outcomes.
    pub steps: &'static [(Step, Expect)],
    /// The referral count at the end.
    pub final_count: u32,
}

const WRONG: Expect = Some("wrong_state");

/// The lifecycle vectors.
pub const LIFECYCLE: &[LifecycleVector] = &[
    LifecycleVector {
        name: "correct_and_delete_until_sent",
        steps: &[
            (Step::Correct, None),
            (Step::Send, None),
            (Step::Correct, WRONG),
            (Step::Delete, WRONG),
        ],
        final_count: 1,
    },
    LifecycleVector {
        name: "delete_before_sending",
        steps: &[(Step::Delete, None)],
        final_count: 1,
    },
    LifecycleVector {
        name: "sent_exactly_once",
        steps: &[(Step::Send, None), (Step::Send, WRONG)],
        final_count: 1,
    },
    LifecycleVector {
        name: "after_sending_only_the_receiver_acts",
        steps: &[
            (Step::Process(ProcessingStatus::Accepted), WRONG),
            (Step::Reply, WRONG),
            (Step::Send, None),
            (Step::Process(ProcessingStatus::Accepted), None),
        ],
        final_count: 1,
    },
    LifecycleVector {
        name: "processing_correctable_until_replied",
        steps: &[
            (Step::Send, None),
            (Step::Reply, WRONG),
            (Step::Process(ProcessingStatus::NotEligible), None),
            (Step::Process(ProcessingStatus::Accepted), None),
            (Step::Reply, None),
            (Step::Process(ProcessingStatus::Declined), WRONG),
            (Step::Reply, WRONG),
        ],
        final_count: 1,
    },
    LifecycleVector {
        name: "re_referral_only_after_status_04",
        steps: &[
            (Step::ReRefer, WRONG),
            (Step::Send, None),
            (Step::ReRefer, WRONG),
            (Step::Process(ProcessingStatus::Accepted), None),
            (Step::Reply, None),
            (Step::ReRefer, WRONG),
        ],
        final_count: 1,
    },
    LifecycleVector {
        name: "status_04_re_referral_keeps_number_and_counts_up",
        steps: &[
            (Step::Send, None),
            (Step::Process(ProcessingStatus::ArrangeReReferral), None),
            (Step::ReRefer, WRONG),
            (Step::Reply, None),
            (Step::ReRefer, None),
            (Step::ReRefer, WRONG),
            (Step::Correct, None),
            (Step::Delete, WRONG),
            (Step::Process(ProcessingStatus::Accepted), WRONG),
            (Step::Send, None),
            (Step::Process(ProcessingStatus::Accepted), None),
            (Step::Reply, None),
        ],
        final_count: 2,
    },
];

/// The simulated LTC centre's code (the platform simulator answers as this unit).
pub const SIM_LTC_CENTRE: &str = "LTC6300001";
/// A second LTC centre, the target of re-referrals in the vectors.
pub const SIM_LTC_CENTRE_2: &str = "LTC6300002";

/// A valid test national ID (male).
pub const SAMPLE_ID: &str = "A123456789";

/// A complete form from `sender` to `receiver` for the test patient (a made-up person).
pub fn sample_form(sender: &str, receiver: &str) -> super::model::ReferralForm {
    use super::model::{Assessment, PatientBasic, ReferralForm, Summary, Unit};
    ReferralForm {
        referring_unit: Unit {
            code: sender.into(),
            name: "居家醫療示範診所".into(),
            contact: "林護理師".into(),
            phone: "02-2345-6789".into(),
        },
        patient: PatientBasic {
            national_id: SAMPLE_ID.into(),
            name: "陳大明".into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(1940, 5, 17),
            sex: "M".into(),
            phone: "0912-345-678".into(),
            address: "臺北市中正區".into(),
        },
        assessment: Assessment {
            adl_score: Some(40),
            care_stage: "E1".into(),
            diagnoses: vec!["I639".into()],
            last_visit_ms: None,
            visits: 0,
            note: String::new(),
        },
        purpose: "需長期照顧服務".into(),
        receiving_unit: Unit {
            code: receiver.into(),
            name: "臺北市長期照顧管理中心".into(),
            contact: String::new(),
            phone: String::new(),
        },
        summary: Summary("中風後右側無力，臥床，需協助翻身與進食。".into()),
    }
}
