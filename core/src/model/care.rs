//! Who cares for a home-care case and how: the care-team roles, the HMIC care stages and the care
//! team code. One home for these concepts: case applications (issue 12), the team's shared record,
//! fee codes and claims (issue 14) all use these types.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::ids::IdError;

/// A member's profession in a home medical care team (domain §1, §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Physician (western medicine).
    Doctor,
    /// Physician of traditional Chinese medicine.
    TcmDoctor,
    /// Nurse.
    Nurse,
    /// Respiratory therapist.
    RespiratoryTherapist,
    /// Clinical psychologist.
    ClinicalPsychologist,
    /// Social worker.
    SocialWorker,
    /// Pharmacist.
    Pharmacist,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 7] = [
        Role::Doctor,
        Role::TcmDoctor,
        Role::Nurse,
        Role::RespiratoryTherapist,
        Role::ClinicalPsychologist,
        Role::SocialWorker,
        Role::Pharmacist,
    ];

    /// The stable name (stored, sent to the VPN and used over the FFI).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Doctor => "doctor",
            Role::TcmDoctor => "tcm_doctor",
            Role::Nurse => "nurse",
            Role::RespiratoryTherapist => "respiratory_therapist",
            Role::ClinicalPsychologist => "clinical_psychologist",
            Role::SocialWorker => "social_worker",
            Role::Pharmacist => "pharmacist",
        }
    }

    /// Parses a stable name.
    pub fn parse(name: &str) -> Result<Role, IdError> {
        Role::ALL.into_iter().find(|r| r.as_str() == name).ok_or(IdError {
            field: "role",
            reason: "not a care-team role",
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The HMIC care stage of a case, which is also its claim case type (domain §4, §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CareStage {
    /// Home medical care (居家醫療), case type `E1`.
    HomeMedical,
    /// Intensive home medical care (重度居家醫療), case type `A1`.
    Intensive,
    /// Hospice home care (安寧療護), case type `A5`, specific treatment code `EC`.
    Hospice,
}

impl CareStage {
    /// Every stage, in a stable order.
    pub const ALL: [CareStage; 3] = [CareStage::HomeMedical, CareStage::Intensive, CareStage::Hospice];

    /// The claim case type code: `E1`, `A1` or `A5`.
    pub fn code(self) -> &'static str {
        match self {
            CareStage::HomeMedical => "E1",
            CareStage::Intensive => "A1",
            CareStage::Hospice => "A5",
        }
    }

    /// Parses a case type code (`E1`, `A1`, `A5`).
    pub fn parse(code: &str) -> Result<CareStage, IdError> {
        CareStage::ALL
            .into_iter()
            .find(|s| s.code() == code)
            .ok_or(IdError {
                field: "care_stage",
                reason: "not a care stage (E1, A1, A5)",
            })
    }
}

impl fmt::Display for CareStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A care team code: `HM` + 8 digits (domain §4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CareTeamCode(String);

impl CareTeamCode {
    /// Checks the shape `HM` + 8 digits.
    pub fn parse(code: &str) -> Result<CareTeamCode, IdError> {
        let b = code.as_bytes();
        if b.len() == 10 && b.starts_with(b"HM") && b[2..].iter().all(u8::is_ascii_digit) {
            Ok(CareTeamCode(code.to_string()))
        } else {
            Err(IdError {
                field: "care_team_code",
                reason: "must be HM followed by 8 digits",
            })
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CareTeamCode {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        CareTeamCode::parse(&s)
    }
}

impl From<CareTeamCode> for String {
    fn from(c: CareTeamCode) -> String {
        c.0
    }
}

impl fmt::Display for CareTeamCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_stages_round_trip_their_codes() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Ok(r));
        }
        for s in CareStage::ALL {
            assert_eq!(CareStage::parse(s.code()), Ok(s));
        }
        assert!(Role::parse("surgeon").is_err());
        assert_eq!(CareStage::parse("31").unwrap_err().field, "care_stage");
    }

    #[test]
    fn care_team_code_is_hm_and_eight_digits() {
        assert!(CareTeamCode::parse("HM12345678").is_ok());
        for bad in [
            "HM1234567",
            "HM123456789",
            "hm12345678",
            "HX12345678",
            "HM1234567A",
            "",
        ] {
            assert_eq!(
                CareTeamCode::parse(bad).unwrap_err().field,
                "care_team_code",
                "{bad}"
            );
        }
    }
}
