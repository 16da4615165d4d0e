//! Caps and the 3-month rule on the device (issue 14 item 6), counted from the store's visits. The
//! rules are `rules::caps`; this file only reads, groups by Taiwan day / month / patient and maps.
//!
//! - [`HomeVisit::visit_caps`]: before a visit, the practitioner's counts today and this month and
//!   the warnings (9th of a day, 181st of a month, 241st for a dedicated home-care doctor).
//!   **Never blocking**: a warning is data, never an error; the visit flow does not consult it.
//! - [`HomeVisit::set_dedicated_home_care`]: the practitioner setting behind the 240 cap (sealed kv).
//! - [`HomeVisit::attending_visits_due`]: the cases whose attending-doctor visit (once every 3
//!   months) is coming due within N days or overdue.
//! - [`HomeVisit::case_fee_periods`]: the case-management-fee periods that would not be paid
//!   (3 consecutive months without a visit) and the one a visit this month still saves.
//!
//! A case is a patient (by national ID, in memory only); the lists show the patient masked and the
//! local id of their latest visit. History is read back [`CASE_HISTORY_MONTHS`] months.

use super::view::{mask_id, mask_name};
use super::{AppError, HomeVisit, input};
use crate::model::care::Role;
use crate::model::roc::{RocDateTime, taiwan_offset};
use crate::model::{Visit, VisitType};
use crate::rules::caps::{self, CapWarning, CaseLastVisit, CaseVisitMonths, FeePeriodStatus};
use crate::store::{Store, StoredVisit};
use chrono::{Months, NaiveDate};
use std::collections::BTreeMap;

/// Key/value namespace of the practitioner settings (dedicated home-care doctor).
const PRACTITIONER_NAMESPACE: &str = "practitioner_settings";

/// How far back the due list and the fee periods read visits, in months.
pub const CASE_HISTORY_MONTHS: u32 = 12;

/// Visits read per page while walking back through the store.
const PAGE: u32 = 500;

/// Whether a stored visit counts as a visit made (caps, 3-month rule, fee periods, reports): a
/// cancellation record (`ZA`/`ZB`) does not, nor a visit cancelled or deleted through the
/// corrections service (`corrections::is_withdrawn`).
pub(crate) fn counts_as_visit(store: &Store, v: &StoredVisit) -> bool {
    !VisitType::parse(&v.visit.visit_type).is_ok_and(|t| t.is_cancellation())
        && !super::corrections::is_withdrawn(store, &v.visit.id)
}

/// The visit's Taiwan calendar date.
pub(crate) fn taiwan_date(visit: &Visit) -> NaiveDate {
    visit.visited_at.with_timezone(&taiwan_offset()).date_naive()
}

/// Every stored visit at or after `from_ms`, newest first (pages through the time index).
pub(crate) fn visits_since(store: &Store, from_ms: i64) -> Result<Vec<StoredVisit>, AppError> {
    let mut out = Vec::new();
    let mut offset = 0u32;
    loop {
        let page = store.list_visits(PAGE, offset)?;
        let n = page.len() as u32;
        let mut older = false;
        for v in page {
            if v.visit.visited_at.timestamp_millis() < from_ms {
                older = true;
                break;
            }
            out.push(v);
        }
        if older || n < PAGE {
            return Ok(out);
        }
        offset = offset.saturating_add(n);
    }
}

/// Unix ms of a Taiwan date's midnight.
pub(crate) fn taiwan_midnight_ms(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(taiwan_offset()).single())
        .map(|t| t.timestamp_millis())
        // Midnight exists and is unambiguous in a fixed offset.
        .unwrap_or(i64::MIN)
}

/// A practitioner's counts and the warnings for their next visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapStatus {
    /// The practitioner.
    pub practitioner_id: String,
    /// A dedicated home-care doctor (240 a month).
    pub dedicated_home_care: bool,
    /// Visits made today (Taiwan day).
    pub today: u32,
    /// Visits made this month (Taiwan month).
    pub this_month: u32,
    /// The daily cap.
    pub daily_cap: u32,
    /// The monthly cap that applies.
    pub monthly_cap: u32,
    /// What the next visit would exceed (empty when nothing): shown, never blocking.
    pub warnings: Vec<CapWarning>,
}

/// A case whose attending-doctor visit is coming due or overdue (patient shown masked).
#[derive(Clone, PartialEq, Eq)]
pub struct DueCaseView {
    /// Local id of the patient's latest visit (to open the case).
    pub latest_visit_id: String,
    /// The patient's name, masked.
    pub masked_name: String,
    /// The patient's national ID, masked.
    pub masked_id: String,
    /// The last attending-doctor visit (or the first visit seen, when none).
    pub last_attending_visit: NaiveDate,
    /// The last day the visit is due by.
    pub due: NaiveDate,
    /// Days left (negative when overdue).
    pub days_left: i64,
    /// Past its due day.
    pub overdue: bool,
}

impl std::fmt::Debug for DueCaseView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueCaseView")
            .field("latest_visit_id", &self.latest_visit_id)
            .field("due", &self.due)
            .field("overdue", &self.overdue)
            .finish_non_exhaustive()
    }
}

/// A case-management-fee period that is not paid, or at risk (patient shown masked).
#[derive(Clone, PartialEq, Eq)]
pub struct FeePeriodView {
    /// Local id of the patient's latest visit.
    pub latest_visit_id: String,
    /// The patient's name, masked.
    pub masked_name: String,
    /// The patient's national ID, masked.
    pub masked_id: String,
    /// First month without a visit (its first day).
    pub from_month: NaiveDate,
    /// Last month without a visit (its first day).
    pub to_month: NaiveDate,
    /// Whole months without a visit.
    pub months: u32,
    /// Not paid, or at risk.
    pub status: FeePeriodStatus,
    /// Runs into the current month.
    pub ongoing: bool,
}

impl std::fmt::Debug for FeePeriodView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeePeriodView")
            .field("latest_visit_id", &self.latest_visit_id)
            .field("from_month", &self.from_month)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// A patient's visits grouped for the case lists (newest visit first).
struct Case<'a> {
    latest: &'a StoredVisit,
    visits: Vec<&'a StoredVisit>,
}

fn check_practitioner(id: &str) -> Result<&str, AppError> {
    let id = id.trim();
    if id.is_empty() || id.len() > 10 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(input::invalid(
            "practitioner_id",
            "must be 1 to 10 letters or digits",
        ));
    }
    Ok(id)
}

impl HomeVisit {
    /// Taiwan today by the app's clock.
    fn taiwan_today(&self) -> Result<NaiveDate, AppError> {
        Ok(RocDateTime::now(self.clock.as_ref())
            .map_err(crate::rules::RuleError::from)?
            .date()
            .naive())
    }

    /// Marks a practitioner as a dedicated home-care doctor (居家醫療專任醫師: 240 visits a month) or not.
    pub fn set_dedicated_home_care(&self, practitioner_id: &str, dedicated: bool) -> Result<(), AppError> {
        let id = check_practitioner(practitioner_id)?;
        self.store.kv_put(
            PRACTITIONER_NAMESPACE,
            &format!("dedicated:{id}"),
            &[u8::from(dedicated)],
        )?;
        Ok(())
    }

    /// Whether the practitioner is a dedicated home-care doctor (default: no).
    pub fn is_dedicated_home_care(&self, practitioner_id: &str) -> Result<bool, AppError> {
        let id = check_practitioner(practitioner_id)?;
        Ok(self
            .store
            .kv_get(PRACTITIONER_NAMESPACE, &format!("dedicated:{id}"))?
            .is_some_and(|b| b.first() == Some(&1)))
    }

    /// Before a visit: the practitioner's visits today and this month (Taiwan time, cancellations
    /// not counted) and what the next visit would exceed. A warning never blocks the visit.
    pub fn visit_caps(&self, practitioner_id: &str) -> Result<CapStatus, AppError> {
        let id = check_practitioner(practitioner_id)?.to_string();
        let dedicated = self.is_dedicated_home_care(&id)?;
        let today = self.taiwan_today()?;
        let month_start = caps::month_start(today);
        let mut n_today = 0u32;
        let mut n_month = 0u32;
        for v in visits_since(&self.store, taiwan_midnight_ms(month_start))? {
            if v.visit.practitioner_id != id || !counts_as_visit(&self.store, &v) {
                continue;
            }
            let day = taiwan_date(&v.visit);
            if caps::month_start(day) == month_start {
                n_month = n_month.saturating_add(1);
                if day == today {
                    n_today = n_today.saturating_add(1);
                }
            }
        }
        Ok(CapStatus {
            practitioner_id: id,
            dedicated_home_care: dedicated,
            today: n_today,
            this_month: n_month,
            daily_cap: caps::DAILY_CAP,
            monthly_cap: caps::monthly_cap(dedicated),
            warnings: caps::cap_warnings(n_today, n_month, dedicated),
        })
    }

    /// The visits of the last [`CASE_HISTORY_MONTHS`] months, by patient.
    fn patient_cases<'a>(&self, visits: &'a [StoredVisit]) -> BTreeMap<String, Case<'a>> {
        let mut cases: BTreeMap<String, Case<'a>> = BTreeMap::new();
        for v in visits.iter().filter(|v| counts_as_visit(&self.store, v)) {
            // Newest first: the first visit seen of a patient is their latest.
            cases
                .entry(v.visit.patient.national_id.expose().to_string())
                .or_insert_with(|| Case {
                    latest: v,
                    visits: Vec::new(),
                })
                .visits
                .push(v);
        }
        cases
    }

    fn history(&self, today: NaiveDate) -> Result<Vec<StoredVisit>, AppError> {
        let from = caps::month_start(today)
            .checked_sub_months(Months::new(CASE_HISTORY_MONTHS))
            .unwrap_or(NaiveDate::MIN);
        visits_since(&self.store, taiwan_midnight_ms(from))
    }

    /// The cases whose attending-doctor visit (at least once every 3 months) is due within
    /// `within_days` or overdue, most urgent first. An attending-doctor visit is one by a doctor
    /// (visits recorded before roles existed count as the doctor's); a case without one in the
    /// history counts from its first visit seen.
    pub fn attending_visits_due(&self, within_days: u32) -> Result<Vec<DueCaseView>, AppError> {
        let today = self.taiwan_today()?;
        let visits = self.history(today)?;
        let cases = self.patient_cases(&visits);
        let lasts: Vec<CaseLastVisit> = cases
            .iter()
            .map(|(key, c)| {
                let doctor = c
                    .visits
                    .iter()
                    .find(|v| matches!(v.visit.context.role, None | Some(Role::Doctor)));
                let last = doctor.or(c.visits.last()).unwrap_or(&c.latest);
                CaseLastVisit {
                    case_id: key.clone(),
                    last_attending_visit: taiwan_date(&last.visit),
                }
            })
            .collect();
        Ok(caps::attending_visits_due(&lasts, today, within_days)
            .into_iter()
            .filter_map(|d| {
                let c = cases.get(&d.case_id)?;
                let last = lasts.iter().find(|l| l.case_id == d.case_id)?;
                Some(DueCaseView {
                    latest_visit_id: c.latest.visit.id.clone(),
                    masked_name: mask_name(&c.latest.visit.patient.name),
                    masked_id: mask_id(c.latest.visit.patient.national_id.expose()),
                    last_attending_visit: last.last_attending_visit,
                    due: d.due,
                    days_left: d.days_left,
                    overdue: d.overdue,
                })
            })
            .collect())
    }

    /// The case-management-fee periods that would not be paid (3 consecutive whole months without
    /// a visit of the team) and those a visit this month still saves, by patient then month. A case
    /// starts at its first visit within the history.
    pub fn case_fee_periods(&self) -> Result<Vec<FeePeriodView>, AppError> {
        let today = self.taiwan_today()?;
        let visits = self.history(today)?;
        let cases = self.patient_cases(&visits);
        let input: Vec<CaseVisitMonths> = cases
            .iter()
            .map(|(key, c)| {
                let months: Vec<NaiveDate> = c.visits.iter().map(|v| taiwan_date(&v.visit)).collect();
                CaseVisitMonths {
                    case_id: key.clone(),
                    first_month: months.iter().min().copied().unwrap_or(today),
                    visited_months: months,
                }
            })
            .collect();
        Ok(caps::unpaid_fee_periods(&input, today)
            .into_iter()
            .filter_map(|p| {
                let c = cases.get(&p.case_id)?;
                Some(FeePeriodView {
                    latest_visit_id: c.latest.visit.id.clone(),
                    masked_name: mask_name(&c.latest.visit.patient.name),
                    masked_id: mask_id(c.latest.visit.patient.national_id.expose()),
                    from_month: p.from_month,
                    to_month: p.to_month,
                    months: p.months,
                    status: p.status,
                    ongoing: p.ongoing,
                })
            })
            .collect())
    }
}
