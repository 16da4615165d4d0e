//! Corrections that are never lost (issue 14 item 1): the facade edits a stored visit (diagnoses,
//! drug orders, note, fees) or deletes one, and lists where each visit stands with the NHI.
//!
//! - An edit of a visit the NHI does not hold yet **replaces** its pending upload (the queued job is
//!   superseded in the same transaction: never two uploads).
//! - An edit of a visit the NHI holds (uploaded; or a card upload already handed to the server; or
//!   a `Duplicate` conflict) goes out as a **correction** keyed by its visit identification code,
//!   record state corrected-normal/corrected-abnormal (A01 = 3/4), to the corrections route; within
//!   3 months of the visit (`rules::correction`), after that [`AppError::CorrectionWindowClosed`]
//!   and nothing changes.
//! - A **deletion** is a correction with the deletion mark (A02 = 1), queued after the visit's own
//!   upload when that is still pending (the NHI gets the card data, then its withdrawal).
//! - A job is done only when the server acknowledged the digest of that content
//!   (`sync::vpn_target`); a `Duplicate` of other content is parked as `duplicate_conflict` and the
//!   visit listed in [`VisitStanding::Conflict`] until an edit sends a correction.
//!
//! Cancelling a visit (`ZA`/`ZB`) is in `cancel.rs`.

use super::{AppError, HomeVisit, MAX_DIAGNOSES};
use crate::model::{Order, Visit};
use crate::rules::correction::{self, check_correction_window};
use crate::rx::orderset::{RxLine, parse_centi};
use crate::store::VisitState;
use crate::sync::job::{Job, JobKind, JobState, NewJob};
use crate::sync::vpn_target::is_conflict;
use crate::vpn::upload_xml;
use std::sync::Arc;

/// One drug line of an edit (the same checks as `VisitSession::add_drug_order`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrugOrderEdit {
    /// NHI drug code.
    pub drug_code: String,
    /// Dose per administration (`1`, `0.5`).
    pub dose: String,
    /// Frequency code (`TID`).
    pub frequency: String,
    /// Route (`PO`).
    pub route: String,
    /// Days supplied.
    pub days: u16,
}

/// What a UI edits in a stored visit. The diagnoses replace the visit's (main first, 1 to 6);
/// `drug_orders` replace its drug lines when given (treatment orders are kept).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct VisitEdit {
    /// ICD-10-CM codes, main first.
    pub diagnoses: Vec<String>,
    /// The drug lines, or `None` to keep them.
    pub drug_orders: Option<Vec<DrugOrderEdit>>,
    /// The free-text note (at most 2000 characters).
    pub note: String,
    /// Medical fee points (M44), or `None` to keep.
    pub fee_points: Option<u32>,
    /// Copayment points (M45), or `None` to keep.
    pub copayment_points: Option<u32>,
}

impl std::fmt::Debug for VisitEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VisitEdit")
            .field("diagnoses", &self.diagnoses.len())
            .finish_non_exhaustive()
    }
}

/// How an edit or deletion went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditPath {
    /// The pending upload was replaced (the NHI did not hold the visit yet).
    Replaced,
    /// A correction (A01 = 3/4) keyed by the visit identification code.
    Correction,
    /// A deletion through the corrections route (A02 = 1).
    Deletion,
}

impl EditPath {
    /// Stable name (`replaced`, `correction`, `deletion`).
    pub fn as_str(self) -> &'static str {
        match self {
            EditPath::Replaced => "replaced",
            EditPath::Correction => "correction",
            EditPath::Deletion => "deletion",
        }
    }
}

/// What an edit or deletion stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditReceipt {
    /// The visit.
    pub visit_id: String,
    /// The visit's version after the edit.
    pub version: i64,
    /// The outbox job that sends it.
    pub job_id: String,
    /// How it goes out.
    pub path: EditPath,
}

/// Where a visit stands with the NHI, as a UI lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitStanding {
    /// Its upload is still owed.
    Pending,
    /// The NHI acknowledged its record.
    Uploaded,
    /// A correction (or deletion) is queued or being sent.
    CorrectionPending,
    /// The NHI acknowledged the correction.
    Corrected,
    /// The NHI holds other content under its visit code (`duplicate_conflict`): edit it to send a
    /// correction.
    Conflict,
    /// Cancelled (`ZA`/`ZB`); kept and listed.
    Cancelled,
    /// Deleted through the corrections route.
    Deleted,
}

impl VisitStanding {
    /// Stable name (`pending`, `uploaded`, `correction_pending`, `corrected`, `conflict`,
    /// `cancelled`, `deleted`).
    pub fn as_str(self) -> &'static str {
        match self {
            VisitStanding::Pending => "pending",
            VisitStanding::Uploaded => "uploaded",
            VisitStanding::CorrectionPending => "correction_pending",
            VisitStanding::Corrected => "corrected",
            VisitStanding::Conflict => "conflict",
            VisitStanding::Cancelled => "cancelled",
            VisitStanding::Deleted => "deleted",
        }
    }
}

/// A visit's standing with what a list shows (no patient data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitStatus {
    /// The visit.
    pub visit_id: String,
    /// Its visit identification code.
    pub visit_code: String,
    /// Where it stands.
    pub standing: VisitStanding,
    /// The visit's version.
    pub version: i64,
    /// Whether every job of the visit that is owed is done (uploads, corrections, cancellation).
    pub all_acknowledged: bool,
    /// Last day to correct it (Unix ms): 3 months after the visit.
    pub correction_deadline_ms: i64,
}

/// Corrections, deletions and cancellations of stored visits (from [`HomeVisit::corrections`]).
#[derive(Clone)]
pub struct CorrectionService {
    pub(super) app: Arc<HomeVisit>,
}

impl std::fmt::Debug for CorrectionService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CorrectionService")
    }
}

impl HomeVisit {
    /// The corrections service: edit, delete or cancel a stored visit; where each visit stands.
    pub fn corrections(self: &Arc<Self>) -> CorrectionService {
        CorrectionService { app: self.clone() }
    }
}

fn is_deletion(job: &Job) -> bool {
    job.kind == JobKind::VisitCorrection
        && correction::read_record(&job.payload).is_some_and(|(_, _, deletion)| deletion)
}

fn live(job: &Job) -> bool {
    !matches!(job.state, JobState::Superseded)
}

/// Whether the visit was cancelled or deleted (a live cancel or deletion job): it no longer counts
/// as a visit made. A store that cannot be read counts the visit (a cap warns rather than hides).
pub(super) fn is_withdrawn(store: &crate::store::Store, visit_id: &str) -> bool {
    store.jobs_for_visit(visit_id).is_ok_and(|jobs| {
        jobs.iter()
            .filter(|j| live(j))
            .any(|j| j.kind == JobKind::VisitCancel || is_deletion(j))
    })
}

/// The standing of a visit from its stored state and jobs.
pub(super) fn standing(state: VisitState, jobs: &[Job]) -> VisitStanding {
    let live_jobs = || jobs.iter().filter(|j| live(j));
    if live_jobs().any(|j| j.kind == JobKind::VisitCancel) {
        return VisitStanding::Cancelled;
    }
    if live_jobs().any(is_deletion) {
        return VisitStanding::Deleted;
    }
    if live_jobs().any(|j| j.rejection().is_some_and(|r| is_conflict(&r.reason))) {
        return VisitStanding::Conflict;
    }
    let fixes: Vec<&Job> = live_jobs()
        .filter(|j| j.kind == JobKind::VisitCorrection)
        .collect();
    if fixes.iter().any(|j| j.state != JobState::Done) {
        return VisitStanding::CorrectionPending;
    }
    if !fixes.is_empty() {
        return VisitStanding::Corrected;
    }
    match state {
        VisitState::Uploaded => VisitStanding::Uploaded,
        VisitState::Pending => VisitStanding::Pending,
    }
}

/// Whether the NHI may hold a record under the visit's code: uploaded, a card upload handed to
/// the server (sending or done), or a conflict.
fn nhi_may_hold(state: VisitState, jobs: &[Job]) -> bool {
    state == VisitState::Uploaded
        || jobs.iter().any(|j| {
            j.kind == JobKind::CardUpload
                && (matches!(j.state, JobState::Sending | JobState::Done)
                    || j.rejection().is_some_and(|r| is_conflict(&r.reason)))
        })
}

/// The visit's card upload still owed and not replaceable (sending), or pending, to wait for.
fn pending_upload(jobs: &[Job]) -> Option<&Job> {
    jobs.iter()
        .rev()
        .find(|j| j.kind == JobKind::CardUpload && j.state.is_pending())
}

fn apply_edit(visit: &mut Visit, edit: VisitEdit) -> Result<(), AppError> {
    if edit.diagnoses.is_empty() || edit.diagnoses.len() > MAX_DIAGNOSES {
        return Err(super::input::invalid("diagnoses", "1 to 6 (M35-M40), main first"));
    }
    let diagnoses = crate::rules::icd10::parse_all(&edit.diagnoses).map_err(crate::rules::RuleError::from)?;
    if edit.note.chars().count() > 2000 {
        return Err(super::input::invalid("note", "at most 2000 characters"));
    }
    for points in [edit.fee_points, edit.copayment_points].into_iter().flatten() {
        if points > 99_999_999 {
            return Err(super::input::invalid("fee_points", "at most 8 digits"));
        }
    }
    if let Some(lines) = edit.drug_orders {
        let mut orders: Vec<Order> = visit
            .orders
            .iter()
            .filter(|o| o.kind == crate::model::OrderKind::Treatment)
            .cloned()
            .collect();
        for (i, l) in lines.iter().enumerate() {
            let dose_centi = parse_centi(l.dose.trim())
                .ok_or_else(|| super::input::invalid("dose", "must be a number like 1 or 0.5"))?;
            let line = RxLine::new(
                l.drug_code.trim(),
                dose_centi,
                l.frequency.trim(),
                l.route.trim(),
                l.days,
            );
            line.validate(i + 1)
                .map_err(|e| super::input::invalid(e.field, &e.reason))?;
            orders.push(line.to_order());
        }
        if orders.len() > crate::card::records::MAX_PRESCRIPTIONS {
            return Err(super::input::invalid("orders", "at most 60 per visit"));
        }
        visit.orders = orders;
    }
    visit.diagnoses = diagnoses.into_iter().map(String::from).collect();
    visit.note = edit.note;
    if edit.fee_points.is_some() {
        visit.fee_points = edit.fee_points;
    }
    if edit.copayment_points.is_some() {
        visit.copayment_points = edit.copayment_points;
    }
    Ok(())
}

impl CorrectionService {
    fn refuse_if_closed(&self, standing: VisitStanding, action: &str) -> Result<(), AppError> {
        match standing {
            VisitStanding::Cancelled | VisitStanding::Deleted => Err(AppError::WrongState {
                action: action.into(),
                state: standing.as_str().into(),
            }),
            _ => Ok(()),
        }
    }

    fn window(&self, visit: &Visit) -> Result<(), AppError> {
        let now = self.app.clock.now_unix_ms();
        check_correction_window(visit.visited_at.timestamp_millis(), now).map_err(|c| {
            AppError::CorrectionWindowClosed {
                deadline_ms: c.deadline_ms,
            }
        })
    }

    /// Edits a stored visit: replaces its pending upload when the NHI does not hold it yet, else
    /// queues a correction (A01 = 3/4) keyed by its visit identification code — within 3 months of
    /// the visit ([`AppError::CorrectionWindowClosed`] after, nothing changed). A cancelled or
    /// deleted visit is refused ([`AppError::WrongState`]).
    pub fn edit_visit(&self, visit_id: &str, edit: VisitEdit) -> Result<EditReceipt, AppError> {
        let app = &self.app;
        let _guard = app.record_lock.lock().unwrap_or_else(|p| p.into_inner());
        let stored = app.store.get_visit(visit_id)?;
        let jobs = app.store.jobs_for_visit(visit_id)?;
        self.refuse_if_closed(standing(stored.state, &jobs), "edit")?;
        let mut visit = stored.visit.clone();
        apply_edit(&mut visit, edit)?;
        let version = stored.version + 1;
        let (job, path) = if nhi_may_hold(stored.state, &jobs) {
            self.window(&visit)?;
            let payload = upload_xml::as_correction(&upload_xml::record_big5(&visit)?, false)?;
            let mut job = NewJob::new(
                JobKind::VisitCorrection,
                format!("fx-{}-v{version}", visit.visit_code),
                payload,
            );
            // A card upload still being sent goes first (the correction needs the record).
            if let Some(up) = pending_upload(&jobs).filter(|j| j.state == JobState::Sending) {
                job = job.after(&up.id);
            }
            (job, EditPath::Correction)
        } else {
            (
                crate::sync::visit_day::card_upload_job(&visit, version)?,
                EditPath::Replaced,
            )
        };
        let committed = app.store.update_visit(&visit, stored.version, &[job])?;
        let job_id = committed
            .jobs
            .first()
            .map(|j| j.to_string())
            .ok_or(AppError::Internal)?;
        tracing::info!(target: "homevisit::app", visit_id = %visit_id, path = path.as_str(), "visit edited");
        app.listeners
            .notify_changed(app.store.as_ref(), std::slice::from_ref(&job_id));
        app.sync.wake();
        Ok(EditReceipt {
            visit_id: visit_id.to_string(),
            version: committed.version,
            job_id,
            path,
        })
    }

    /// Deletes a stored visit through the corrections route (A02 = 1), after its own upload when
    /// that is still owed; within 3 months of the visit. The visit is kept, listed as deleted.
    /// Deleting it again returns the first receipt.
    pub fn delete_visit(&self, visit_id: &str) -> Result<EditReceipt, AppError> {
        let app = &self.app;
        let _guard = app.record_lock.lock().unwrap_or_else(|p| p.into_inner());
        let stored = app.store.get_visit(visit_id)?;
        let jobs = app.store.jobs_for_visit(visit_id)?;
        if let Some(done) = jobs.iter().find(|j| live(j) && is_deletion(j)) {
            return Ok(EditReceipt {
                visit_id: visit_id.to_string(),
                version: stored.version,
                job_id: done.id.to_string(),
                path: EditPath::Deletion,
            });
        }
        self.refuse_if_closed(standing(stored.state, &jobs), "delete")?;
        self.window(&stored.visit)?;
        let payload = upload_xml::as_correction(&upload_xml::record_big5(&stored.visit)?, true)?;
        let mut job = NewJob::new(
            JobKind::VisitCorrection,
            format!("del-{}", stored.visit.visit_code),
            payload,
        );
        if let Some(up) = pending_upload(&jobs) {
            job = job.after(&up.id);
        }
        let ids = app.store.enqueue(Some(visit_id), &[job])?;
        let job_id = ids.first().map(|j| j.to_string()).ok_or(AppError::Internal)?;
        tracing::info!(target: "homevisit::app", visit_id = %visit_id, "visit deletion queued");
        app.listeners
            .notify_changed(app.store.as_ref(), std::slice::from_ref(&job_id));
        app.sync.wake();
        Ok(EditReceipt {
            visit_id: visit_id.to_string(),
            version: stored.version,
            job_id,
            path: EditPath::Deletion,
        })
    }

    /// Where one visit stands with the NHI.
    pub fn visit_status(&self, visit_id: &str) -> Result<VisitStatus, AppError> {
        let stored = self.app.store.get_visit(visit_id)?;
        let jobs = self.app.store.jobs_for_visit(visit_id)?;
        Ok(VisitStatus {
            visit_id: visit_id.to_string(),
            visit_code: stored.visit.visit_code.clone(),
            standing: standing(stored.state, &jobs),
            version: stored.version,
            all_acknowledged: jobs
                .iter()
                .all(|j| matches!(j.state, JobState::Done | JobState::Superseded)),
            correction_deadline_ms: correction::correction_deadline_ms(
                stored.visit.visited_at.timestamp_millis(),
            ),
        })
    }

    /// The stored visits (newest first, at most `limit`) standing as `standing` — e.g. the
    /// cancelled ones, or the conflicts a user must resolve.
    pub fn visits_standing(
        &self,
        standing_wanted: VisitStanding,
        limit: u32,
    ) -> Result<Vec<VisitStatus>, AppError> {
        let mut out = Vec::new();
        for v in self.app.store.list_visits(super::OUTBOX_LIST_LIMIT, 0)? {
            let status = self.visit_status(&v.visit.id)?;
            if status.standing == standing_wanted {
                out.push(status);
                if out.len() >= limit as usize {
                    break;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standing_names_are_stable() {
        let names: Vec<_> = [
            VisitStanding::Pending,
            VisitStanding::Uploaded,
            VisitStanding::CorrectionPending,
            VisitStanding::Corrected,
            VisitStanding::Conflict,
            VisitStanding::Cancelled,
            VisitStanding::Deleted,
        ]
        .iter()
        .map(|s| s.as_str())
        .collect();
        assert_eq!(
            names,
            [
                "pending",
                "uploaded",
                "correction_pending",
                "corrected",
                "conflict",
                "cancelled",
                "deleted"
            ]
        );
        assert_eq!(standing(VisitState::Uploaded, &[]), VisitStanding::Uploaded);
    }
}
