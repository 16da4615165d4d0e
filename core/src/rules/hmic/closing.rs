//! Closing (結案): a date and a reason from the full list of domain §4.

use super::Violation;
use crate::hmic::model::{Application, CaseState, Closing};
use chrono::NaiveDate;

/// Checks a closing of `app` on `today`: the date is on or after the start and not in the future.
pub fn check(app: &Application, closing: &Closing, today: NaiveDate) -> Result<(), Violation> {
    const RULE: &str = "closing_date_and_reason";
    if closing.date < app.start_date.min(app.enrolment_date) {
        return Err(Violation::invalid(
            "closing.date",
            RULE,
            "the closing date is before the care started",
        ));
    }
    if closing.date > today {
        return Err(Violation::invalid(
            "closing.date",
            RULE,
            "the closing date is in the future",
        ));
    }
    Ok(())
}

/// Closes `app` (submitted or reopened) with `closing`.
pub fn close(app: &mut Application, closing: Closing, today: NaiveDate) -> Result<(), Violation> {
    match app.state {
        CaseState::Submitted | CaseState::Reopened => {}
        s => {
            return Err(Violation::WrongState {
                action: "close",
                state: s.as_str(),
            });
        }
    }
    check(app, &closing, today)?;
    app.closing = Some(closing);
    app.state = CaseState::Closed;
    Ok(())
}
