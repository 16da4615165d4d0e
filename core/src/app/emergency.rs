//! Emergency home visits through the visit session (issue 14 item 5): the session marks the visit
//! as an emergency with at least one of the 8 indications and its arrival and end times; the
//! surcharge bracket comes from `rules::emergency` over the shipped holiday calendar; at `finish`
//! the visit is payable only if it is the first emergency of this practitioner for this patient on
//! that Taiwan day (from the store's visits). The committed visit carries the record in
//! `Visit.context.emergency` — its claim mark is [`EMERGENCY_MARK`] (`ECE`) — and its upload is due
//! within 1 hour ([`HomeVisit::emergency_deadlines`], beside the 24-hour report of the sync service).

use super::{AppError, HomeVisit, VisitSession};
use crate::model::{EmergencyRecord, NationalId};
use crate::rules::calendar::WorkingDays;
use crate::rules::emergency::{
    self, Bracket, EMERGENCY_MARK, EmergencyVisit, Indication, check_indications, payable_emergencies,
};
use crate::store::Store;
use crate::sync::deadline::{DeadlineReport, EMERGENCY_AT_RISK_WINDOW_MS, EMERGENCY_UPLOAD_DEADLINE_MS};

/// The stable name of a surcharge bracket (kept in `EmergencyRecord::bracket`).
pub fn bracket_name(b: Bracket) -> &'static str {
    match b {
        Bracket::None => "none",
        Bracket::Night => "night",
        Bracket::LateNight => "late_night",
        Bracket::Holiday => "holiday",
        Bracket::NightHoliday => "night_holiday",
        Bracket::LateNightHoliday => "late_night_holiday",
    }
}

/// The codes of the 8 emergency indications, in the plan's order (what `set_emergency` takes).
pub fn emergency_indications() -> Vec<String> {
    Indication::ALL.iter().map(|i| i.code().to_string()).collect()
}

impl VisitSession {
    /// Marks the visit as an emergency home visit: `indications` (codes of
    /// [`emergency_indications`], at least one: none → [`AppError::EmergencyNoIndication`]),
    /// arrival at the home and end of the visit (Unix ms; counted to the minute). Returns the
    /// record with the surcharge that applies; `payable` is provisional until `finish` checks the
    /// practitioner's other emergency visits of the patient that day. A year the holiday calendar
    /// does not cover → [`AppError::CalendarNotCovered`]. The draft is unchanged on any refusal.
    pub fn set_emergency(
        &self,
        indications: &[String],
        arrival_ms: i64,
        end_ms: i64,
    ) -> Result<EmergencyRecord, AppError> {
        let parsed = indications
            .iter()
            .map(|c| Indication::from_code(c.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut parsed = parsed;
        parsed.sort();
        parsed.dedup();
        check_indications(&parsed)?;
        let s = emergency::surcharge(arrival_ms, end_ms, WorkingDays::taiwan())?;
        let record = EmergencyRecord {
            indications: parsed.iter().map(|i| i.code().to_string()).collect(),
            arrival_ms,
            end_ms,
            bracket: bracket_name(s.bracket).to_string(),
            surcharge_percent: s.percent,
            payable: true,
        };
        self.draft_mut().emergency = Some(record.clone());
        Ok(record)
    }

    /// Unmarks the visit as an emergency visit.
    pub fn clear_emergency(&self) {
        self.draft_mut().emergency = None;
    }
}

impl HomeVisit {
    /// The emergency record of a visit being finished, with `payable` decided: the first (earliest
    /// arrival) emergency of `practitioner_id` for `patient` on the Taiwan day is payable, a later
    /// one is not (the stored visit `visit_id` itself, on a retry, is not counted twice).
    pub(super) fn decide_emergency(
        &self,
        draft: &EmergencyRecord,
        patient: &NationalId,
        practitioner_id: &str,
        visit_id: &str,
    ) -> Result<EmergencyRecord, AppError> {
        let mut visits: Vec<EmergencyVisit> = self
            .store
            .find_visits_by_national_id(patient)?
            .into_iter()
            .filter(|v| v.visit.id != visit_id && v.visit.practitioner_id == practitioner_id)
            .filter_map(|v| {
                v.visit.context.emergency.map(|e| EmergencyVisit {
                    practitioner_id: practitioner_id.to_string(),
                    patient_key: String::new(),
                    arrival_ms: e.arrival_ms,
                })
            })
            .collect();
        visits.push(EmergencyVisit {
            practitioner_id: practitioner_id.to_string(),
            patient_key: String::new(),
            arrival_ms: draft.arrival_ms,
        });
        let payable = payable_emergencies(&visits)?;
        let mut record = draft.clone();
        // The last entry is this visit; one already stored arriving earlier (or at the same
        // minute) that day wins.
        record.payable = payable.last().copied().unwrap_or(true);
        if !record.payable {
            tracing::info!(target: "homevisit::app", "emergency visit not payable: not the first of the day");
        }
        Ok(record)
    }

    /// The emergency record of the stored visit `visit_id` (`None` for a visit that was no
    /// emergency): bracket, surcharge and whether it is payable.
    pub fn emergency_of(&self, visit_id: &str) -> Result<Option<EmergencyRecord>, AppError> {
        Ok(self.store.get_visit(visit_id.trim())?.visit.context.emergency)
    }

    /// Emergency visits (claim mark `ECE`) against their 1-hour upload deadline: those not uploaded
    /// yet (all at risk within their hour) and those that missed it (uploaded late or overdue).
    pub fn emergency_deadlines(&self) -> Result<DeadlineReport, AppError> {
        emergency_deadline_report(&self.store, self.clock.now_unix_ms())
    }
}

/// Emergency visits against their 1-hour upload deadline at `now_ms` (shared by
/// [`HomeVisit::emergency_deadlines`] and the sync service's one deadline report).
pub(crate) fn emergency_deadline_report(store: &Store, now_ms: i64) -> Result<DeadlineReport, AppError> {
    let all = store.upload_deadlines(now_ms, EMERGENCY_UPLOAD_DEADLINE_MS, EMERGENCY_AT_RISK_WINDOW_MS)?;
    let mut out = DeadlineReport::default();
    for e in all.at_risk {
        if is_emergency(store, &e.visit_id) {
            out.at_risk.push(e);
        }
    }
    for e in all.missed {
        if is_emergency(store, &e.visit_id) {
            out.missed.push(e);
        }
    }
    Ok(out)
}

/// Whether the stored visit `visit_id` was an emergency visit (an unreadable visit counts as not).
pub(crate) fn is_emergency(store: &Store, visit_id: &str) -> bool {
    store
        .get_visit(visit_id)
        .is_ok_and(|v| v.visit.context.emergency.is_some())
}

/// The claim mark of an emergency visit (`ECE`), or none.
pub fn claim_mark(record: Option<&EmergencyRecord>) -> Option<&'static str> {
    record.map(|_| EMERGENCY_MARK)
}
