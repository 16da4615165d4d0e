//! Fixed test vectors of the HMIC rules, run by the core's tests and by the VPN simulator's
//! tests, so the device and the authority are held to one table.
//!
//! [`sample`] is a complete, valid new enrolment; each [`FieldVector`] breaks one rule of domain
//! §4 by a mutation and names the rule (its code) and the field the refusal must carry.

use super::model::*;
use crate::model::care::CareStage;
use chrono::NaiveDate;

/// The sample patient's national ID (valid check digit, male).
pub const SAMPLE_ID: &str = "A123456789";
/// The sample institution.
pub const SAMPLE_INSTITUTION: &str = "3501200000";
/// The sample care team.
pub const SAMPLE_TEAM: &str = "HM00000001";

/// A calendar date (vectors only use valid dates).
pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    // Vectors pass literal, valid dates; the fallback is never taken.
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

/// The vectors' "today": 2026-12-01 (ROC 115/12/01).
pub fn today() -> NaiveDate {
    day(2026, 12, 1)
}

/// A complete, valid new enrolment applied for `today()` by `institution` of `team`.
pub fn sample(id: &str, institution: &str, team: &str) -> Application {
    sample_on(id, institution, team, today())
}

/// [`sample`] applied for on `t` (enrolled 3 days before, ADL assessed on `t`).
pub fn sample_on(id: &str, institution: &str, team: &str, t: NaiveDate) -> Application {
    Application {
        id: id.into(),
        version: 1,
        institution: institution.into(),
        care_team: team.into(),
        kind: ApplicationType::New,
        previous_id: None,
        patient: Patient {
            national_id: SAMPLE_ID.into(),
            birth_date: Some(day(1940, 5, 17)),
            name: "陳大明".into(),
            sex: "M".into(),
        },
        enrolment_date: t - chrono::Days::new(3),
        application_date: t,
        acceptance_date: None,
        start_date: t - chrono::Days::new(3),
        care_months: 6,
        care_stage: Some(CareStage::HomeMedical),
        disability: Disability::default(),
        skin: Skin::default(),
        adl: Some(Adl {
            assessed_on: Some(t),
            scores: [5, 5, 0, 5, 0, 5, 0, 5, 5, 5],
        }),
        assessment: Assessment {
            language: "台語".into(),
            muscle_strength: Some(3),
            disease_history: "腦中風".into(),
            ..Assessment::default()
        },
        intake: Intake {
            condition1: true,
            condition2: vec![Condition2::AdlBelow60],
            ..Intake::default()
        },
        hospice: Hospice::default(),
        diagnoses: vec!["I639".into(), "G450".into()],
        orders: Orders {
            ng_tube: Some(TubeOrder {
                every_days: Some(30),
                material: "矽質".into(),
                size_fr: Some(16),
            }),
            ..Orders::default()
        },
        visit_plan: VisitPlan {
            per_month: vec![("doctor".into(), 1), ("nurse".into(), 2)],
        },
        ordering_doctor: "B123456789".into(),
        state: CaseState::Draft,
        reopened_at_ms: None,
        closing: None,
    }
}

/// One rule broken by a mutation of [`sample`].
#[derive(Clone, Copy)]
pub struct FieldVector {
    /// The rule (the refusal's code; also the test name on both sides).
    pub rule: &'static str,
    /// The field the refusal names.
    pub field: &'static str,
    /// Breaks the rule.
    pub mutate: fn(&mut Application),
}

impl std::fmt::Debug for FieldVector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.rule, self.field)
    }
}

/// The 26 Chinese characters of an over-long disease trait.
pub const TRAIT_26: &str = "長期臥床且行動不便外出就醫困難需要家人協助搬運下樓梯";

/// The field vectors: each breaks exactly one rule of domain §4.
pub const FIELD_VECTORS: &[FieldVector] = &[
    FieldVector {
        rule: "national_id_check_digit",
        field: "patient.national_id",
        mutate: |a| a.patient.national_id = "A123456788".into(),
    },
    FieldVector {
        rule: "sex_from_id",
        field: "patient.sex",
        mutate: |a| a.patient.sex = "F".into(),
    },
    FieldVector {
        rule: "birth_date_required",
        field: "patient.birth_date",
        mutate: |a| a.patient.birth_date = None,
    },
    FieldVector {
        rule: "care_team_code_format",
        field: "care_team",
        mutate: |a| a.care_team = "HX00000001".into(),
    },
    FieldVector {
        rule: "application_date_not_in_future",
        field: "application_date",
        mutate: |a| a.application_date = today() + chrono::Days::new(1),
    },
    FieldVector {
        rule: "new_enrolment_within_30_days",
        field: "enrolment_date",
        mutate: |a| {
            a.enrolment_date = today() - chrono::Days::new(31);
            a.start_date = a.enrolment_date;
        },
    },
    FieldVector {
        rule: "text_limit",
        field: "intake.disease_trait",
        mutate: |a| {
            a.intake.condition2.push(Condition2::DiseaseTrait);
            a.intake.disease_trait = TRAIT_26.into();
        },
    },
    FieldVector {
        rule: "text_limit",
        field: "assessment.language",
        mutate: |a| a.assessment.language = "x".repeat(41),
    },
    FieldVector {
        rule: "disability_certificate_details",
        field: "disability.category",
        mutate: |a| a.disability.holds_certificate = true,
    },
    FieldVector {
        rule: "disability_new_system_details",
        field: "disability.new_icd",
        mutate: |a| {
            a.disability = Disability {
                holds_certificate: true,
                category: "肢體障礙".into(),
                grade: "重度".into(),
                system: Some(DisabilitySystem::New),
                new_category: "第七類".into(),
                new_icd: String::new(),
            }
        },
    },
    FieldVector {
        rule: "skin_damage_details",
        field: "skin.damage_types",
        mutate: |a| a.skin.damaged = true,
    },
    FieldVector {
        rule: "adl_required",
        field: "adl",
        mutate: |a| a.adl = None,
    },
    FieldVector {
        rule: "adl_assessment_date_required",
        field: "adl.assessed_on",
        mutate: |a| {
            if let Some(adl) = a.adl.as_mut() {
                adl.assessed_on = None;
            }
        },
    },
    FieldVector {
        rule: "adl_item_score",
        field: "adl.transfer",
        mutate: |a| {
            if let Some(adl) = a.adl.as_mut() {
                adl.scores[1] = 7;
            }
        },
    },
    FieldVector {
        rule: "muscle_strength_integer",
        field: "assessment.muscle_strength",
        mutate: |a| a.assessment.muscle_strength = Some(9),
    },
    FieldVector {
        rule: "intake_conditions_1_and_2_required",
        field: "intake.condition1",
        mutate: |a| a.intake.condition1 = false,
    },
    FieldVector {
        rule: "intake_conditions_1_and_2_required",
        field: "intake.condition2",
        mutate: |a| a.intake.condition2.clear(),
    },
    FieldVector {
        rule: "disease_trait_described",
        field: "intake.disease_trait",
        mutate: |a| a.intake.condition2 = vec![Condition2::DiseaseTrait],
    },
    FieldVector {
        rule: "intake_adl_below_60_or_disease_trait",
        field: "intake.condition2",
        mutate: |a| {
            if let Some(adl) = a.adl.as_mut() {
                adl.scores = [10, 15, 5, 10, 5, 15, 10, 10, 10, 10];
            }
        },
    },
    FieldVector {
        rule: "condition_5_needs_terminal_symptom",
        field: "intake.terminal_symptoms",
        mutate: |a| a.intake.condition5 = true,
    },
    FieldVector {
        rule: "care_stage_required",
        field: "care_stage",
        mutate: |a| a.care_stage = None,
    },
    FieldVector {
        rule: "hospice_needs_pain_ecog_consent",
        field: "hospice.pain_score",
        mutate: |a| a.care_stage = Some(CareStage::Hospice),
    },
    FieldVector {
        rule: "hospice_needs_pain_ecog_consent",
        field: "hospice.consent_signed",
        mutate: |a| {
            a.care_stage = Some(CareStage::Hospice);
            a.hospice.pain_score = Some(4);
            a.hospice.ecog = Some(3);
        },
    },
    FieldVector {
        rule: "diagnosis_required",
        field: "diagnoses",
        mutate: |a| a.diagnoses.clear(),
    },
    FieldVector {
        rule: "diagnosis_stored_upper_case_without_dot",
        field: "diagnoses.1",
        mutate: |a| a.diagnoses[1] = "G45.0".into(),
    },
    FieldVector {
        rule: "diagnosis_icd10_cm",
        field: "diagnoses.0",
        mutate: |a| a.diagnoses[0] = "I6A9".into(),
    },
    FieldVector {
        rule: "tube_order_complete",
        field: "orders.ng_tube.size_fr",
        mutate: |a| {
            if let Some(t) = a.orders.ng_tube.as_mut() {
                t.size_fr = None;
            }
        },
    },
    FieldVector {
        rule: "at_least_one_complete_order",
        field: "orders",
        mutate: |a| a.orders = Orders::default(),
    },
    FieldVector {
        rule: "care_period_at_most_24_months",
        field: "care_months",
        mutate: |a| a.care_months = 25,
    },
];

/// Text-limit vectors: (field limit in Chinese characters, text, accepted).
pub const TEXT_LIMIT_VECTORS: &[(usize, &str, bool)] = &[
    (25, "長期臥床且行動不便外出就醫困難需要家人協助搬運下", true),
    (25, TRAIT_26, false),
    (25, "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij", true),
    (25, "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijk", false),
    (10, "中文abcdefghijklmnop", true),
    (10, "中文abcdefghijklmnopq", false),
];

/// Extension start vectors (seed example): (previous end, application date, start).
pub fn extension_starts() -> [(NaiveDate, NaiveDate, NaiveDate); 2] {
    [
        (day(2015, 10, 31), day(2015, 10, 20), day(2015, 11, 1)),
        (day(2015, 10, 31), day(2015, 11, 3), day(2015, 11, 3)),
    ]
}

/// Batch file names: (name, accepted).
pub const FILE_NAMES: &[(&str, bool)] = &[
    ("HMIC350120000010505001.XML", true),
    ("HMIC350120000010505000.XML", false),
    ("HMIC35012000001050500.XML", false),
    ("HMIC350120000010513001.XML", false),
    ("hmic350120000010505001.xml", false),
];
