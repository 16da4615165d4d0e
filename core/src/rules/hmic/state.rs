//! The lifecycle (seed 000 §壹 一 (五)–(七), 三 (二十一)): a draft is corrected, deleted or submitted
//! (within 30 days of its application date, else only deleted); a submitted application is locked
//! (only closed, extended or stage-changed) unless the regional office reopens it, which makes it
//! modifiable for 3 days and then locks it again by itself.

use super::Violation;
use crate::hmic::model::{Application, CaseState};
use chrono::NaiveDate;

/// How long a reopened application stays modifiable.
pub const REOPEN_MS: i64 = 3 * 24 * 3600 * 1000;
/// Days after the application date within which it must be submitted.
pub const SUBMIT_WITHIN_DAYS: i64 = 30;

/// What can be done to an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Correct its content.
    Correct,
    /// Delete it.
    Delete,
    /// Submit it.
    Submit,
    /// Close it.
    Close,
    /// Extend its care (a new application from it).
    Extend,
    /// Change its care stage (a new application from it).
    ChangeStage,
}

impl Action {
    /// The stable name.
    pub fn name(self) -> &'static str {
        match self {
            Action::Correct => "correct",
            Action::Delete => "delete",
            Action::Submit => "submit",
            Action::Close => "close",
            Action::Extend => "extend",
            Action::ChangeStage => "change_stage",
        }
    }
}

/// The state at `now_ms`: a reopened application is locked again ([`CaseState::Submitted`]) once
/// its 3 days have passed.
pub fn effective(app: &Application, now_ms: i64) -> CaseState {
    match (app.state, app.reopened_at_ms) {
        (CaseState::Reopened, Some(at)) if now_ms >= at.saturating_add(REOPEN_MS) => CaseState::Submitted,
        (CaseState::Reopened, None) => CaseState::Submitted,
        (s, _) => s,
    }
}

/// The submission window: `today` at most 30 days after the application date.
pub fn check_submission_date(app: &Application, today: NaiveDate) -> Result<(), Violation> {
    let days = (today - app.application_date).num_days();
    if days > SUBMIT_WITHIN_DAYS {
        return Err(Violation::invalid(
            "application_date",
            "submission_within_30_days",
            "must be submitted within 30 days of the application date; only deletion is left",
        ));
    }
    Ok(())
}

/// Whether `action` is allowed on `app` at `now_ms` (`today` its Taiwan date).
pub fn may(action: Action, app: &Application, now_ms: i64, today: NaiveDate) -> Result<(), Violation> {
    let state = effective(app, now_ms);
    let ok = match (action, state) {
        (Action::Delete, CaseState::Draft) => true,
        (Action::Correct | Action::Submit, CaseState::Draft) => {
            check_submission_date(app, today)?;
            true
        }
        (Action::Correct, CaseState::Reopened) => true,
        (
            Action::Close | Action::Extend | Action::ChangeStage,
            CaseState::Submitted | CaseState::Reopened,
        ) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Violation::WrongState {
            action: action.name(),
            state: state.as_str(),
        })
    }
}

/// Submits a draft on `today`: locked, acceptance date = today.
pub fn submit(app: &mut Application, now_ms: i64, today: NaiveDate) -> Result<(), Violation> {
    may(Action::Submit, app, now_ms, today)?;
    app.state = CaseState::Submitted;
    app.acceptance_date = Some(today);
    Ok(())
}

/// The regional office reopens a submitted application at `now_ms` (3 days to modify).
pub fn reopen(app: &mut Application, now_ms: i64) -> Result<(), Violation> {
    match effective(app, now_ms) {
        CaseState::Submitted | CaseState::Reopened => {
            app.state = CaseState::Reopened;
            app.reopened_at_ms = Some(now_ms);
            Ok(())
        }
        s => Err(Violation::WrongState {
            action: "reopen",
            state: s.as_str(),
        }),
    }
}
