//! Fee and claim data per care-team role and care stage (issue 14 item 7): the home-care visit fee
//! codes shipped as data (`data/fee_codes.txt`, points only where the sources give them), the claim
//! case type, the specific treatment code `EC`, the department an order is claimed under and the
//! copayment code. Pure functions, shared by the prescription flow and the claims export.
//!
//! Case type (domain §10): the care stage's code `E1` / `A1` / `A5`, except a TCM doctor's claim
//! (`31`) and a pharmacist's (`E`). Department (domain §6): a doctor's specialty (`01` family
//! medicine unless told), TCM `60`, nurse `EA`, respiratory therapist `AC`, others blank.
//! Copayment code (our choice, the sources are silent): `K00` for home medical care and intensive
//! home medical care, `009` (exempt) for hospice.

use super::RuleError;
use crate::model::{CareStage, Role};
use std::sync::OnceLock;

const DATA: &str = include_str!("data/fee_codes.txt");

/// The specific treatment code (特定治療項目代號) of every HMIC claim.
pub const TREATMENT_CODE: &str = "EC";

/// A doctor's department when the specialty is not told: family medicine.
pub const DEFAULT_DOCTOR_DEPARTMENT: &str = "01";

/// What a fee is counted per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeeUnit {
    /// Per visit.
    Visit,
    /// Per day of use (ventilator days count from first use).
    Day,
}

/// One fee code of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeCode {
    /// The NHI code, e.g. `05307C`.
    pub code: String,
    /// The role that claims it.
    pub role: Role,
    /// The care stages it is claimed under.
    pub stages: Vec<CareStage>,
    /// Per visit or per day.
    pub unit: FeeUnit,
    /// Points, `None` when this project does not know them (never guessed).
    pub points: Option<u32>,
    /// Whether it is the visit fee proposed for its role and stages.
    pub default: bool,
    /// Whether it is the remote-area alternative of the default.
    pub remote: bool,
    /// A short English label.
    pub label: String,
}

fn bad(reason: String) -> RuleError {
    RuleError::Invalid {
        field: "fee_codes",
        reason,
    }
}

/// Parses a fee table in the `data/fee_codes.txt` format.
pub fn parse_table(text: &str) -> Result<Vec<FeeCode>, RuleError> {
    let mut out: Vec<FeeCode> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = |what: &str| bad(format!("line {}: {what}", n + 1));
        let f: Vec<&str> = line.split('|').map(str::trim).collect();
        let [code, role, stages, unit, points, default, label] = f.as_slice() else {
            return Err(at("expected 7 fields"));
        };
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(at("a fee code is 6 letters or digits"));
        }
        if out.iter().any(|c| c.code == *code) {
            return Err(at("code listed twice"));
        }
        let role = Role::parse(role).map_err(|_| at("unknown role"))?;
        let stages = stages
            .split(',')
            .map(|s| CareStage::parse(s.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| at("unknown care stage"))?;
        let unit = match *unit {
            "visit" => FeeUnit::Visit,
            "day" => FeeUnit::Day,
            _ => return Err(at("unit is visit or day")),
        };
        let points = match *points {
            "?" => None,
            p => Some(p.parse::<u32>().map_err(|_| at("points are digits or ?"))?),
        };
        let (default, remote) = match *default {
            "default" => (true, false),
            "remote" => (false, true),
            "-" => (false, false),
            _ => return Err(at("default column is default, remote or -")),
        };
        out.push(FeeCode {
            code: code.to_string(),
            role,
            stages,
            unit,
            points,
            default,
            remote,
            label: label.to_string(),
        });
    }
    for role in Role::ALL {
        for stage in CareStage::ALL {
            let n = out
                .iter()
                .filter(|c| c.default && c.role == role && c.stages.contains(&stage))
                .count();
            if n > 1 {
                return Err(bad(format!("two default visit fees for {role} in {stage}")));
            }
        }
    }
    Ok(out)
}

/// The shipped fee table.
pub fn table() -> &'static [FeeCode] {
    static TABLE: OnceLock<Vec<FeeCode>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // The shipped file is checked by `the_shipped_fee_table_parses`; an unreadable table
        // would mean no fee codes rather than a panic.
        parse_table(DATA).unwrap_or_default()
    })
}

/// The table row of `code`, if it is a home-care fee code.
pub fn lookup(code: &str) -> Option<&'static FeeCode> {
    table().iter().find(|c| c.code == code)
}

/// The fee codes `role` may claim in `stage`, in table order.
pub fn codes_for(role: Role, stage: CareStage) -> Vec<&'static FeeCode> {
    table()
        .iter()
        .filter(|c| c.role == role && c.stages.contains(&stage))
        .collect()
}

/// The visit fee proposed for `role` in `stage` (the remote-area code when `remote` and there is
/// one); `None` for a role without a home-visit fee code (clinical psychologist, social worker).
pub fn visit_fee(role: Role, stage: CareStage, remote: bool) -> Option<&'static FeeCode> {
    let codes = codes_for(role, stage);
    if remote && let Some(r) = codes.iter().find(|c| c.remote) {
        return Some(r);
    }
    codes.into_iter().find(|c| c.default)
}

/// Checks that `code` is a fee `role` may claim in `stage`; other order codes (drugs, procedures
/// not in the table) pass.
pub fn check_fee_for(code: &str, role: Role, stage: CareStage) -> Result<(), RuleError> {
    match lookup(code) {
        Some(c) if c.role != role => Err(RuleError::Invalid {
            field: "fee_code",
            reason: format!("{code} is claimed by a {}, not a {role}", c.role),
        }),
        Some(c) if !c.stages.contains(&stage) => Err(RuleError::Invalid {
            field: "fee_code",
            reason: format!("{code} is not claimed under case type {stage}"),
        }),
        _ => Ok(()),
    }
}

/// The claim case type (案件分類) of a visit by `role` in `stage`.
pub fn case_type(role: Role, stage: CareStage) -> &'static str {
    match role {
        Role::TcmDoctor => "31",
        Role::Pharmacist => "E",
        _ => stage.code(),
    }
}

/// The department (科別) an order by `role` is claimed under; `specialty` is a doctor's actual
/// specialty code (blank → family medicine `01`).
pub fn department(role: Role, specialty: &str) -> String {
    match role {
        Role::Doctor if specialty.trim().is_empty() => DEFAULT_DOCTOR_DEPARTMENT.to_string(),
        Role::Doctor => specialty.trim().to_string(),
        Role::TcmDoctor => "60".to_string(),
        Role::Nurse => "EA".to_string(),
        Role::RespiratoryTherapist => "AC".to_string(),
        Role::ClinicalPsychologist | Role::SocialWorker | Role::Pharmacist => String::new(),
    }
}

/// The copayment code (部分負擔代碼) of a visit in `stage`.
pub fn copayment_code(stage: CareStage) -> &'static str {
    match stage {
        CareStage::HomeMedical | CareStage::Intensive => "K00",
        CareStage::Hospice => "009",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_fee_table_parses() {
        let t = parse_table(DATA).unwrap();
        assert_eq!(t.len(), table().len());
        assert_eq!(t.len(), 24);
    }

    #[test]
    fn points_are_known_only_where_the_sources_give_them() {
        assert_eq!(lookup("05307C").unwrap().points, Some(1631));
        assert_eq!(lookup("05308C").unwrap().points, Some(2154));
        let known: Vec<_> = table()
            .iter()
            .filter(|c| c.points.is_some())
            .map(|c| &c.code)
            .collect();
        assert_eq!(known, ["05307C", "05308C"]);
        assert_eq!(lookup("05312C").unwrap().points, None);
    }

    #[test]
    fn visit_fee_by_role_and_stage() {
        use CareStage::*;
        let code = |r, s, remote| visit_fee(r, s, remote).map(|c| c.code.as_str());
        assert_eq!(code(Role::Doctor, HomeMedical, false), Some("05307C"));
        assert_eq!(code(Role::Doctor, Intensive, true), Some("05308C"));
        assert_eq!(code(Role::Doctor, Hospice, false), Some("05312C"));
        assert_eq!(code(Role::Doctor, Hospice, true), Some("05312C"));
        assert_eq!(code(Role::Nurse, HomeMedical, false), Some("05301C"));
        assert_eq!(code(Role::Nurse, Hospice, false), Some("05321C"));
        assert_eq!(code(Role::Pharmacist, Intensive, false), Some("P5411C"));
        assert_eq!(code(Role::RespiratoryTherapist, Intensive, false), Some("P5401C"));
        assert_eq!(code(Role::TcmDoctor, HomeMedical, false), Some("P5408C"));
        assert_eq!(code(Role::SocialWorker, Hospice, false), None);
        assert_eq!(lookup("P5406C").unwrap().unit, FeeUnit::Day);
    }

    #[test]
    fn fee_code_must_fit_role_and_stage() {
        assert!(check_fee_for("05307C", Role::Doctor, CareStage::HomeMedical).is_ok());
        assert!(check_fee_for("05307C", Role::Nurse, CareStage::HomeMedical).is_err());
        assert!(check_fee_for("05307C", Role::Doctor, CareStage::Hospice).is_err());
        assert!(check_fee_for("AC45856100", Role::Nurse, CareStage::Hospice).is_ok());
    }

    #[test]
    fn case_type_by_stage_with_tcm_31_and_pharmacy_e() {
        assert_eq!(case_type(Role::Doctor, CareStage::HomeMedical), "E1");
        assert_eq!(case_type(Role::Nurse, CareStage::Intensive), "A1");
        assert_eq!(case_type(Role::Doctor, CareStage::Hospice), "A5");
        assert_eq!(case_type(Role::TcmDoctor, CareStage::Hospice), "31");
        assert_eq!(case_type(Role::Pharmacist, CareStage::HomeMedical), "E");
        assert_eq!(TREATMENT_CODE, "EC");
    }

    #[test]
    fn department_doctor_specialty_nurse_ea_respiratory_ac_others_blank() {
        assert_eq!(department(Role::Doctor, ""), "01");
        assert_eq!(department(Role::Doctor, "02"), "02");
        assert_eq!(department(Role::Nurse, "02"), "EA");
        assert_eq!(department(Role::RespiratoryTherapist, ""), "AC");
        assert_eq!(department(Role::SocialWorker, ""), "");
        assert_eq!(department(Role::Pharmacist, ""), "");
        assert_eq!(copayment_code(CareStage::Hospice), "009");
        assert_eq!(copayment_code(CareStage::Intensive), "K00");
    }

    #[test]
    fn a_bad_fee_table_is_refused() {
        assert!(parse_table("05307C|doctor|E1|visit|1631|default").is_err());
        assert!(parse_table("05307C|surgeon|E1|visit|1631|default|x").is_err());
        assert!(parse_table("05307C|doctor|E1|visit|lots|default|x").is_err());
        assert!(parse_table("05307C|doctor|E1|visit|1|default|x\n05307C|doctor|A1|visit|1|-|x").is_err());
        assert!(
            parse_table("05307C|doctor|E1|visit|1|default|x\n05308C|doctor|E1|visit|1|default|x").is_err()
        );
    }
}
