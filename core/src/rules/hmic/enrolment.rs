//! The duplicate-enrolment check (seed 000 §壹 三 (一)–(三)): a patient (national ID + birth date)
//! enrolled by general home nursing, respiratory home care, hospice home care or another HMIC team
//! and not closed cannot be enrolled again; a case of another institution of the **same care
//! team** is shown read-only.

use super::Violation;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The home-care services that enrol patients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Service {
    /// 一般居家護理.
    GeneralHomeNursing,
    /// 呼吸居家照護.
    RespiratoryHomeCare,
    /// 安寧居家療護.
    HospiceHomeCare,
    /// 居家醫療照護整合計畫 (a care team).
    Hmic,
}

impl Service {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::GeneralHomeNursing => "general_home_nursing",
            Service::RespiratoryHomeCare => "respiratory_home_care",
            Service::HospiceHomeCare => "hospice_home_care",
            Service::Hmic => "hmic",
        }
    }
}

/// One enrolment known to the NHI (or to the device).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    /// Patient national ID.
    pub national_id: String,
    /// Patient birth date.
    pub birth_date: NaiveDate,
    /// The service.
    pub service: Service,
    /// The enrolling institution.
    pub institution: String,
    /// The care team (HMIC only).
    pub care_team: Option<String>,
    /// The application id (HMIC only).
    pub application_id: Option<String>,
    /// Closed.
    pub closed: bool,
}

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Not enrolled anywhere (or only closed cases): a new enrolment may start.
    Free,
    /// This institution's own open case (extend, change stage or close it).
    Own {
        /// Its application id.
        application_id: String,
    },
    /// Another institution of the same care team has the case: read-only.
    SameTeam {
        /// Its application id.
        application_id: String,
        /// The enrolling institution.
        institution: String,
    },
}

/// Checks the open enrolments of the patient (`national_id` + `birth_date`) for `institution`
/// of `care_team`. Another service's or team's open case → refused (`duplicate_enrolment`).
pub fn check(
    existing: &[Enrolment],
    national_id: &str,
    birth_date: NaiveDate,
    institution: &str,
    care_team: &str,
) -> Result<Verdict, Violation> {
    let mut verdict = Verdict::Free;
    for e in existing
        .iter()
        .filter(|e| !e.closed && e.national_id == national_id && e.birth_date == birth_date)
    {
        match (e.service, &e.application_id) {
            (Service::Hmic, Some(app)) if e.institution == institution => {
                verdict = Verdict::Own {
                    application_id: app.clone(),
                };
            }
            (Service::Hmic, Some(app)) if e.care_team.as_deref() == Some(care_team) => {
                if verdict == Verdict::Free {
                    verdict = Verdict::SameTeam {
                        application_id: app.clone(),
                        institution: e.institution.clone(),
                    };
                }
            }
            (service, _) => {
                return Err(Violation::invalid(
                    "patient.national_id",
                    "no_duplicate_enrolment",
                    format!("already enrolled by {} and not closed", service.as_str()),
                ));
            }
        }
    }
    Ok(verdict)
}

/// A new enrolment is allowed only when the check found nothing open.
pub fn may_enrol_new(verdict: &Verdict) -> Result<(), Violation> {
    match verdict {
        Verdict::Free => Ok(()),
        Verdict::Own { .. } => Err(Violation::invalid(
            "patient.national_id",
            "no_duplicate_enrolment",
            "this institution's case is open: extend it, change its stage or close it",
        )),
        Verdict::SameTeam { .. } => Err(Violation::invalid(
            "patient.national_id",
            "same_team_read_only",
            "another institution of the same care team has the case: read-only",
        )),
    }
}
