//! Application types (seed 000 §壹 三 (七)–(十)): new enrolment within 30 days of the enrolment
//! date; extension from 30 days before to 30 days after the approved end (start = the day after
//! the previous end while still valid, else the application date; copies the previous application
//! and clears the visit plan and orders); care-stage change (start = the application date; the
//! previous one is closed; clears intake conditions, stage, orders, visit plan and ordering
//! doctor). The enrolment date is editable only for a new enrolment.

use super::Violation;
use crate::hmic::model::{Application, ApplicationType, CaseState, Intake, Orders, VisitPlan};
use chrono::NaiveDate;

/// Days after the enrolment date within which a new enrolment is applied for.
pub const NEW_WITHIN_DAYS: i64 = 30;
/// Days before / after the approved end within which an extension is applied for.
pub const EXTENSION_WINDOW_DAYS: i64 = 30;

/// The dates every application checks on its own: the application date is not in the future,
/// and a new enrolment is applied for within 30 days of the enrolment date (start = enrolment).
pub fn check_dates(app: &Application, today: NaiveDate) -> Result<(), Violation> {
    if app.application_date > today {
        return Err(Violation::invalid(
            "application_date",
            "application_date_not_in_future",
            "the application date is after today",
        ));
    }
    if app.kind == ApplicationType::New {
        let days = (app.application_date - app.enrolment_date).num_days();
        if !(0..=NEW_WITHIN_DAYS).contains(&days) {
            return Err(Violation::invalid(
                "enrolment_date",
                "new_enrolment_within_30_days",
                "a new enrolment is applied for within 30 days of the enrolment date",
            ));
        }
        if app.start_date != app.enrolment_date {
            return Err(Violation::invalid(
                "start_date",
                "new_enrolment_starts_at_enrolment",
                "a new enrolment starts on its enrolment date",
            ));
        }
        if app.previous_id.is_some() {
            return Err(Violation::invalid(
                "previous_id",
                "new_enrolment_has_no_previous",
                "a new enrolment continues no application",
            ));
        }
    }
    Ok(())
}

/// The extension window: `application_date` from 30 days before to 30 days after `previous_end`.
pub fn check_extension_window(previous_end: NaiveDate, application_date: NaiveDate) -> Result<(), Violation> {
    let days = (application_date - previous_end).num_days();
    if !(-EXTENSION_WINDOW_DAYS..=EXTENSION_WINDOW_DAYS).contains(&days) {
        return Err(Violation::invalid(
            "application_date",
            "extension_within_30_days_of_end",
            "an extension is applied for from 30 days before to 30 days after the approved end; later, close and re-apply",
        ));
    }
    Ok(())
}

/// The start of an extension: the previous end + 1 day while still valid, else the application date.
pub fn extension_start(previous_end: NaiveDate, application_date: NaiveDate) -> NaiveDate {
    if application_date <= previous_end {
        previous_end.succ_opt().unwrap_or(previous_end)
    } else {
        application_date
    }
}

/// The new application of `kind` (extension or stage change) from `prev`, applied for on
/// `application_date`: a copy with what the rule clears cleared, dates set, state draft.
pub fn derive(
    prev: &Application,
    kind: ApplicationType,
    new_id: String,
    application_date: NaiveDate,
) -> Result<Application, Violation> {
    let mut app = prev.clone();
    app.id = new_id;
    app.version = 1;
    app.kind = kind;
    app.previous_id = Some(prev.id.clone());
    app.application_date = application_date;
    app.acceptance_date = None;
    app.state = CaseState::Draft;
    app.reopened_at_ms = None;
    app.closing = None;
    match kind {
        ApplicationType::New => {
            return Err(Violation::invalid(
                "kind",
                "new_enrolment_has_no_previous",
                "a new enrolment is not derived from another application",
            ));
        }
        ApplicationType::Extension => {
            check_extension_window(prev.end_date(), application_date)?;
            app.start_date = extension_start(prev.end_date(), application_date);
            app.visit_plan = VisitPlan::default();
            app.orders = Orders::default();
        }
        ApplicationType::StageChange => {
            app.start_date = application_date;
            app.intake = Intake::default();
            app.care_stage = None;
            app.orders = Orders::default();
            app.visit_plan = VisitPlan::default();
            app.ordering_doctor.clear();
        }
    }
    Ok(app)
}

/// Checks an extension or stage change against the application it continues (`prev`): same
/// patient and institution, the enrolment date unchanged, the start as the rule sets it, the
/// previous application submitted and not closed.
pub fn check_against_previous(app: &Application, prev: &Application) -> Result<(), Violation> {
    if !matches!(prev.state, CaseState::Submitted | CaseState::Reopened) {
        return Err(Violation::invalid(
            "previous_id",
            "continues_a_submitted_application",
            "an extension or stage change continues a submitted application that is not closed",
        ));
    }
    if prev.patient.national_id != app.patient.national_id || prev.institution != app.institution {
        return Err(Violation::invalid(
            "previous_id",
            "continues_a_submitted_application",
            "the previous application is another patient's or institution's",
        ));
    }
    if app.enrolment_date != prev.enrolment_date {
        return Err(Violation::invalid(
            "enrolment_date",
            "enrolment_date_editable_only_for_new",
            "the enrolment date of an extension or stage change is the original one",
        ));
    }
    let expected = match app.kind {
        ApplicationType::Extension => {
            check_extension_window(prev.end_date(), app.application_date)?;
            extension_start(prev.end_date(), app.application_date)
        }
        ApplicationType::StageChange => {
            if app.care_stage == prev.care_stage {
                return Err(Violation::invalid(
                    "care_stage",
                    "stage_change_changes_stage",
                    "a care-stage change needs another care stage",
                ));
            }
            app.application_date
        }
        ApplicationType::New => return Ok(()),
    };
    if app.start_date != expected {
        return Err(Violation::invalid(
            "start_date",
            match app.kind {
                ApplicationType::Extension => "extension_start",
                _ => "stage_change_starts_at_application",
            },
            "the start date is not the one the application type sets",
        ));
    }
    Ok(())
}
