//! The assessment rules (seed 000 §壹 三 (一)–(五), (十一)–(十九)): identity (ID check digit,
//! sex from the ID, care team code), disability certificate details, skin damage details, ADL
//! (Barthel) items and assessment date with total and dependency computed, muscle strength,
//! intake conditions, hospice needs, and ICD-10-CM diagnoses stored upper case without the dot.

use super::Violation;
use crate::hmic::model::{
    ADL_ITEMS, Adl, Application, Condition2, Dependency, Disability, DisabilitySystem, Hospice, Intake, Skin,
};
use crate::model::care::{CareStage, CareTeamCode};
use chrono::NaiveDate;

/// Checks the patient identity, the sex filled from the ID, the institution and the care team.
pub fn check_identity(app: &Application) -> Result<(), Violation> {
    let id = crate::rules::national_id::parse(&app.patient.national_id).map_err(|_| {
        Violation::invalid(
            "patient.national_id",
            "national_id_check_digit",
            "must be a national ID with a valid check digit",
        )
    })?;
    if app.patient.birth_date.is_none() {
        return Err(Violation::invalid(
            "patient.birth_date",
            "birth_date_required",
            "the birth date is required",
        ));
    }
    if app.patient.sex != sex_from_id(&id) {
        return Err(Violation::invalid(
            "patient.sex",
            "sex_from_id",
            "the sex is the one the national ID gives",
        ));
    }
    if app.institution.len() != 10 || !app.institution.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Violation::invalid(
            "institution",
            "institution_code_format",
            "must be 10 digits",
        ));
    }
    CareTeamCode::parse(&app.care_team).map_err(|_| {
        Violation::invalid(
            "care_team",
            "care_team_code_format",
            "must be HM followed by 8 digits",
        )
    })?;
    Ok(())
}

/// `M` or `F` from a valid national ID.
pub fn sex_from_id(id: &crate::model::NationalId) -> String {
    crate::rules::national_id::sex_of(id).card_letter().to_string()
}

/// A certificate makes category, grade and the old/new system required; the new system also
/// its category and ICD code.
pub fn check_disability(d: &Disability) -> Result<(), Violation> {
    if !d.holds_certificate {
        return Ok(());
    }
    const RULE: &str = "disability_certificate_details";
    if d.category.trim().is_empty() {
        return Err(Violation::invalid(
            "disability.category",
            RULE,
            "required with a certificate",
        ));
    }
    if d.grade.trim().is_empty() {
        return Err(Violation::invalid(
            "disability.grade",
            RULE,
            "required with a certificate",
        ));
    }
    match d.system {
        None => Err(Violation::invalid(
            "disability.system",
            RULE,
            "required with a certificate",
        )),
        Some(DisabilitySystem::Old) => Ok(()),
        Some(DisabilitySystem::New) => {
            const NEW: &str = "disability_new_system_details";
            if d.new_category.trim().is_empty() {
                return Err(Violation::invalid(
                    "disability.new_category",
                    NEW,
                    "required for the new system",
                ));
            }
            if d.new_icd.trim().is_empty() {
                return Err(Violation::invalid(
                    "disability.new_icd",
                    NEW,
                    "required for the new system",
                ));
            }
            check_icd("disability.new_icd", &d.new_icd)
        }
    }
}

/// Skin "damaged" makes its detail fields required (damage types, site, size).
pub fn check_skin(s: &Skin) -> Result<(), Violation> {
    if !s.damaged {
        return Ok(());
    }
    const RULE: &str = "skin_damage_details";
    if s.damage_types.is_empty() {
        return Err(Violation::invalid(
            "skin.damage_types",
            RULE,
            "at least one damage type",
        ));
    }
    if s.site.trim().is_empty() {
        return Err(Violation::invalid(
            "skin.site",
            RULE,
            "required when the skin is damaged",
        ));
    }
    if s.size_cm2.is_none() {
        return Err(Violation::invalid(
            "skin.size_cm2",
            RULE,
            "required when the skin is damaged",
        ));
    }
    Ok(())
}

/// The Barthel total.
pub fn adl_total(adl: &Adl) -> u32 {
    adl.scores.iter().map(|&s| u32::from(s)).sum()
}

/// The dependency level of a Barthel total.
pub fn dependency(total: u32) -> Dependency {
    match total {
        0..=20 => Dependency::Total,
        21..=60 => Dependency::Severe,
        61..=90 => Dependency::Moderate,
        91..=99 => Dependency::Mild,
        _ => Dependency::Independent,
    }
}

/// ADL is required, with its assessment date (since 2017, not after today) and each item's score
/// one the Barthel index allows.
pub fn check_adl(adl: Option<&Adl>, today: NaiveDate) -> Result<(), Violation> {
    let Some(adl) = adl else {
        return Err(Violation::invalid(
            "adl",
            "adl_required",
            "the ADL assessment is required",
        ));
    };
    match adl.assessed_on {
        None => {
            return Err(Violation::invalid(
                "adl.assessed_on",
                "adl_assessment_date_required",
                "the ADL assessment date is required",
            ));
        }
        Some(d) if d > today => {
            return Err(Violation::invalid(
                "adl.assessed_on",
                "adl_assessment_date_required",
                "the ADL assessment date is after today",
            ));
        }
        Some(_) => {}
    }
    for ((name, allowed), score) in ADL_ITEMS.iter().zip(adl.scores) {
        if !allowed.contains(&score) {
            return Err(Violation::invalid(
                format!("adl.{name}"),
                "adl_item_score",
                "not a score this Barthel item allows",
            ));
        }
    }
    Ok(())
}

/// Muscle strength is an integer 0–5.
pub fn check_muscle_strength(value: Option<i64>) -> Result<(), Violation> {
    match value {
        Some(v) if !(0..=5).contains(&v) => Err(Violation::invalid(
            "assessment.muscle_strength",
            "muscle_strength_integer",
            "must be an integer from 0 to 5",
        )),
        _ => Ok(()),
    }
}

/// Parses a muscle strength as typed (an integer, or empty).
pub fn parse_muscle_strength(text: &str) -> Result<Option<i64>, Violation> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let v = t.parse::<i64>().map_err(|_| {
        Violation::invalid(
            "assessment.muscle_strength",
            "muscle_strength_integer",
            "must be an integer from 0 to 5",
        )
    })?;
    check_muscle_strength(Some(v))?;
    Ok(Some(v))
}

/// Intake conditions 1 and 2 are required; intake needs ADL < 60 or a described disease trait;
/// condition 5 needs at least one terminal symptom.
pub fn check_intake(i: &Intake, adl: Option<&Adl>) -> Result<(), Violation> {
    if !i.condition1 {
        return Err(Violation::invalid(
            "intake.condition1",
            "intake_conditions_1_and_2_required",
            "intake condition 1 is required",
        ));
    }
    if i.condition2.is_empty() {
        return Err(Violation::invalid(
            "intake.condition2",
            "intake_conditions_1_and_2_required",
            "intake condition 2 is required",
        ));
    }
    let trait_ticked = i.condition2.contains(&Condition2::DiseaseTrait);
    if trait_ticked && i.disease_trait.trim().is_empty() {
        return Err(Violation::invalid(
            "intake.disease_trait",
            "disease_trait_described",
            "a disease trait needs its description",
        ));
    }
    let adl_below_60 = adl.is_some_and(|a| adl_total(a) < 60);
    let adl_ticked = i.condition2.contains(&Condition2::AdlBelow60);
    if adl_ticked && !adl_below_60 {
        return Err(Violation::invalid(
            "intake.condition2",
            "intake_adl_below_60_or_disease_trait",
            "the ADL total is not below 60",
        ));
    }
    if !(trait_ticked || (adl_ticked && adl_below_60)) {
        return Err(Violation::invalid(
            "intake.condition2",
            "intake_adl_below_60_or_disease_trait",
            "intake needs ADL below 60 or a disease trait that makes going out hard",
        ));
    }
    if i.condition5 && i.terminal_symptoms.iter().all(|s| s.trim().is_empty()) {
        return Err(Violation::invalid(
            "intake.terminal_symptoms",
            "condition_5_needs_terminal_symptom",
            "condition 5 needs at least one terminal symptom",
        ));
    }
    Ok(())
}

/// The care stage is required; hospice (A5) needs the pain assessment, ECOG and signed consent.
pub fn check_stage(stage: Option<CareStage>, h: &Hospice) -> Result<(), Violation> {
    let Some(stage) = stage else {
        return Err(Violation::invalid(
            "care_stage",
            "care_stage_required",
            "the care stage is required",
        ));
    };
    if stage != CareStage::Hospice {
        return Ok(());
    }
    const RULE: &str = "hospice_needs_pain_ecog_consent";
    if h.pain_score.is_none_or(|p| p > 10) {
        return Err(Violation::invalid(
            "hospice.pain_score",
            RULE,
            "hospice needs a pain score 0 to 10",
        ));
    }
    if h.ecog.is_none_or(|e| e > 4) {
        return Err(Violation::invalid(
            "hospice.ecog",
            RULE,
            "hospice needs an ECOG 0 to 4",
        ));
    }
    if !h.consent_signed {
        return Err(Violation::invalid(
            "hospice.consent_signed",
            RULE,
            "hospice needs the signed hospice / DNR consent",
        ));
    }
    Ok(())
}

/// A diagnosis as typed → upper case without the dot (`g45.0` → `G450`), shape checked.
pub fn normalise_diagnosis(field: &str, text: &str) -> Result<String, Violation> {
    crate::rules::icd10::normalise(text)
        .map_err(|e| Violation::invalid(field, "diagnosis_icd10_cm", icd_reason(e)))
}

fn icd_reason(e: crate::rules::icd10::Icd10Error) -> String {
    let text = e.to_string();
    text.split_once(": ").map_or(text.clone(), |(_, r)| r.to_string())
}

fn check_icd(field: &str, code: &str) -> Result<(), Violation> {
    let n = normalise_diagnosis(field, code)?;
    if n != code {
        return Err(Violation::invalid(
            field,
            "diagnosis_stored_upper_case_without_dot",
            "stored upper case without the dot",
        ));
    }
    match crate::rules::icd10::is_listed(&n) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Violation::invalid(
            field,
            "diagnosis_icd10_cm",
            "not in the ICD-10-CM code list",
        )),
        Err(e) => Err(Violation::invalid(field, "diagnosis_icd10_cm", icd_reason(e))),
    }
}

/// At least one diagnosis, each a listed ICD-10-CM code stored upper case without the dot.
pub fn check_diagnoses(codes: &[String]) -> Result<(), Violation> {
    if codes.is_empty() {
        return Err(Violation::invalid(
            "diagnoses",
            "diagnosis_required",
            "at least one diagnosis",
        ));
    }
    for (i, c) in codes.iter().enumerate() {
        check_icd(&format!("diagnoses.{i}"), c)?;
    }
    Ok(())
}
