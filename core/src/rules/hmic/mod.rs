//! The HMIC case application rules (domain §4, seed 000 §壹) as pure functions, run by the device
//! (`app::CaseService`) and by the VPN simulator (`nhi-vpn-sim` `hmic`), with the fixed vectors of
//! `crate::hmic::vectors`. Every refusal is a [`Violation`] naming the field and the rule.
//!
//! - [`state`]: the lifecycle (draft → submitted → closed; reopened for 3 days, then re-locked);
//! - [`application_type`]: new / extension / stage-change dates and what each copies or clears;
//! - [`assessment`]: identity, disability, skin, ADL, intake conditions, hospice needs, diagnoses;
//! - [`text_limits`]: the free-text limits in Chinese characters;
//! - [`orders`]: at least one complete order;
//! - [`care_period`]: ≤ 24 months, warn above 12;
//! - [`closing`]: closing date and reason;
//! - [`enrolment`]: the duplicate-enrolment check;
//! - [`batch`]: the batch upload file name.

pub mod application_type;
pub mod assessment;
pub mod batch;
pub mod care_period;
pub mod closing;
pub mod enrolment;
pub mod orders;
pub mod state;
pub mod text_limits;

use crate::hmic::model::Application;
use chrono::NaiveDate;

/// A broken HMIC rule. Messages name the field and the rule, never the value (patient data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// A field breaks a rule.
    #[error("{field}: {reason} ({rule})")]
    Invalid {
        /// The field at fault (dotted path, e.g. `orders.ng_tube.size_fr`).
        field: String,
        /// The rule's stable name (also the name of its test).
        rule: &'static str,
        /// What is wrong, without the value.
        reason: String,
    },
    /// The action is not allowed in the application's state.
    #[error("cannot {action} an application that is {state}")]
    WrongState {
        /// What was tried (`correct`, `delete`, `submit`, `close`, `extend`, `change_stage`).
        action: &'static str,
        /// The state that forbids it.
        state: &'static str,
    },
}

impl Violation {
    /// A field's rule refusal.
    pub fn invalid(field: impl Into<String>, rule: &'static str, reason: impl Into<String>) -> Self {
        Violation::Invalid {
            field: field.into(),
            rule,
            reason: reason.into(),
        }
    }

    /// The stable code: the rule's name, or `wrong_state`.
    pub fn code(&self) -> &'static str {
        match self {
            Violation::Invalid { rule, .. } => rule,
            Violation::WrongState { .. } => "wrong_state",
        }
    }

    /// The field at fault, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Violation::Invalid { field, .. } => Some(field),
            Violation::WrongState { .. } => None,
        }
    }
}

/// A note the user should see but that does not refuse the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The field.
    pub field: &'static str,
    /// The rule's stable name.
    pub rule: &'static str,
}

/// The full validation of one application's content on `today` (Taiwan): every field rule of
/// domain §4 except the lifecycle and submission-date rules (see [`state`]). Returns the warnings.
pub fn validate(app: &Application, today: NaiveDate) -> Result<Vec<Warning>, Violation> {
    assessment::check_identity(app)?;
    application_type::check_dates(app, today)?;
    text_limits::check_all(app)?;
    assessment::check_disability(&app.disability)?;
    assessment::check_skin(&app.skin)?;
    assessment::check_adl(app.adl.as_ref(), today)?;
    assessment::check_muscle_strength(app.assessment.muscle_strength)?;
    assessment::check_intake(&app.intake, app.adl.as_ref())?;
    assessment::check_stage(app.care_stage, &app.hospice)?;
    assessment::check_diagnoses(&app.diagnoses)?;
    orders::check(&app.orders)?;
    let mut warnings = Vec::new();
    warnings.extend(care_period::check(app.care_months)?);
    Ok(warnings)
}
