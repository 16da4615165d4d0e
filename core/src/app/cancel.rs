//! Cancelling a visit (退掛, `ZA` for a counted visit, `ZB` otherwise; issue 14 item 3): within 24
//! hours of the visit (`rules::correction::check_cancel_window`), card, store and upload in one
//! flow, offline first, exactly once.
//!
//! Like `VisitSession::finish`, the caller names the attempt with a request id: the intent (visit,
//! time of the cancellation) is kept sealed before the card is touched, and a retry under the same
//! id — after a crash, a timeout, a second tap — finishes that intent and never makes a second
//! cancellation (the visit's `visit_cancel` job is the record that it happened; a cancellation of
//! a visit already cancelled returns the first one, whatever the request id).
//!
//! The card: when the visit was written to the card, the patient's card is in the paired reader
//! and the app is online (cancelling on the card needs mutual authentication with the cloud SAM),
//! the card gets its visit back (`PatientCard::cancel_visit`). **Card absent** (no reader, another
//! card, offline, or a visit never written to the card): the cancellation is still stored and
//! uploaded — the NHI's record is what pays — and the receipt says `card_cancelled = false`; the
//! card keeps its entry (a `ZA` on the card is only possible within the same 24 hours anyway).
//! After 24 hours: [`AppError::CancelWindowClosed`], nothing changed.

use super::corrections::{CorrectionService, VisitStanding, standing};
use super::readers::card_error;
use super::{AppError, HomeVisit};
use crate::card::error::NhiCode;
use crate::card::patient::PatientCard;
use crate::card::{CardError, basic_data};
use crate::model::{RocDateTime, Visit, VisitType};
use crate::rules::VisitCode;
use crate::rules::correction::check_cancel_window;
use crate::sync::job::{JobKind, NewJob};
use crate::vpn::upload_xml;
use serde::{Deserialize, Serialize};

/// Sealed key/value namespace of the kept cancellation intents (by request id).
const CANCEL_NAMESPACE: &str = "visit_cancel_plans";

/// Longest request id.
const MAX_REQUEST_ID: usize = 64;

/// The intent of a cancellation, kept before the card is touched.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CancelPlan {
    visit_id: String,
    at_ms: i64,
    card_done: bool,
    card_cancelled: bool,
}

/// What a cancellation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelReceipt {
    /// The cancelled visit (kept, listed as cancelled).
    pub visit_id: String,
    /// Its visit identification code.
    pub visit_code: String,
    /// `ZA` (a counted visit: the card gets it back) or `ZB`.
    pub cancel_type: String,
    /// The outbox job that uploads the cancellation.
    pub job_id: String,
    /// Whether the patient's card was updated (false: card absent, see the module doc).
    pub card_cancelled: bool,
    /// When the cancellation was made (Unix ms).
    pub cancelled_at_ms: i64,
}

fn check_request_id(request_id: &str) -> Result<&str, AppError> {
    let id = request_id.trim();
    if id.is_empty()
        || id.len() > MAX_REQUEST_ID
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(super::input::invalid(
            "request_id",
            "must be 1 to 64 letters, digits, '-' or '_'",
        ));
    }
    Ok(id)
}

/// The cancellation's type and record: the visit's record with M07 = `ZA`/`ZB`, without orders,
/// diagnoses or fees (the signed fields M01, M02, M05, M11, M13, M14, M15 unchanged).
fn cancel_record(visit: &Visit) -> Result<(VisitType, Vec<u8>), AppError> {
    let original = VisitType::parse(&visit.visit_type).map_err(crate::rules::RuleError::from)?;
    let kind = if original.is_counted() {
        VisitType::CancelZa
    } else {
        VisitType::CancelZb
    };
    let mut record = visit.clone();
    record.visit_type = kind.code().to_string();
    record.orders.clear();
    record.diagnoses.clear();
    record.fee_points = None;
    record.copayment_points = None;
    Ok((kind, upload_xml::record_big5(&record)?))
}

impl HomeVisit {
    fn keep_cancel_plan(&self, request_id: &str, plan: &CancelPlan) -> Result<(), AppError> {
        // Serialising plain fields cannot fail.
        let bytes = serde_json::to_vec(plan).map_err(|_| AppError::Internal)?;
        self.store.kv_put(CANCEL_NAMESPACE, request_id, &bytes)?;
        Ok(())
    }

    /// Cancels the visit on the patient's card when it can (see the module doc): `Ok(false)` when
    /// the card is absent.
    async fn cancel_on_card(&self, visit: &Visit, at: RocDateTime) -> Result<bool, AppError> {
        if !visit.card_written || !self.is_online() {
            return Ok(false);
        }
        let Ok(sam) = self.vpn_client() else {
            return Ok(false);
        };
        let Ok(session) = self.readers.session().await else {
            return Ok(false);
        };
        let Ok(card) = basic_data::read(session.as_ref()).await else {
            return Ok(false);
        };
        if card.national_id != visit.patient.national_id || card.card_number != visit.patient.card_number {
            return Ok(false);
        }
        let code = VisitCode::parse(&visit.visit_code).map_err(|_| AppError::Internal)?;
        let original = VisitType::parse(&visit.visit_type).map_err(crate::rules::RuleError::from)?;
        let mut opened = PatientCard::open(session.as_ref()).await.map_err(card_error)?;
        opened
            .authenticate(sam.as_ref(), false)
            .await
            .map_err(card_error)?;
        match opened.cancel_visit(&code, original, at).await {
            Ok(_) => Ok(true),
            Err(CardError::Code(NhiCode::RecordNotFound)) => Ok(false),
            Err(CardError::Code(NhiCode::CancelWindowPassed)) => Err(AppError::CancelWindowClosed {
                deadline_ms: visit.visited_at.timestamp_millis() + crate::rules::correction::CANCEL_WINDOW_MS,
            }),
            Err(e) => Err(card_error(e)),
        }
    }
}

impl CorrectionService {
    /// Cancels a stored visit (`ZA`/`ZB`) within 24 hours of it, under `request_id` (the caller's
    /// idempotency key): on the card when present, marked cancelled in the store (kept), and a
    /// `visit_cancel` job queued for the NHI — exactly once. After 24 hours
    /// [`AppError::CancelWindowClosed`] and nothing changes; a deleted visit is refused
    /// ([`AppError::WrongState`]).
    pub async fn cancel_visit(&self, visit_id: &str, request_id: &str) -> Result<CancelReceipt, AppError> {
        let request_id = check_request_id(request_id)?;
        let app = &self.app;
        let _one_card_flow_at_a_time = app.readers.visit_lock.lock().await;
        let kept: Option<CancelPlan> = match app.store.kv_get(CANCEL_NAMESPACE, request_id)? {
            Some(bytes) => Some(serde_json::from_slice(&bytes).map_err(|_| AppError::Internal)?),
            None => None,
        };
        if kept.as_ref().is_some_and(|p| p.visit_id != visit_id) {
            return Err(super::input::invalid(
                "request_id",
                "was used to cancel another visit",
            ));
        }
        let stored = app.store.get_visit(visit_id)?;
        let visit = stored.visit;
        let (kind, payload) = cancel_record(&visit)?;
        let jobs = app.store.jobs_for_visit(visit_id)?;
        let receipt = |job_id: String, plan: Option<&CancelPlan>, at_ms: i64| CancelReceipt {
            visit_id: visit_id.to_string(),
            visit_code: visit.visit_code.clone(),
            cancel_type: kind.code().to_string(),
            job_id,
            card_cancelled: plan.is_some_and(|p| p.card_cancelled),
            cancelled_at_ms: plan.map_or(at_ms, |p| p.at_ms),
        };
        // Already cancelled (this request or another): the first cancellation, once.
        if let Some(done) = jobs
            .iter()
            .find(|j| j.kind == JobKind::VisitCancel && j.state != crate::sync::JobState::Superseded)
        {
            tracing::info!(target: "homevisit::app", visit_id = %visit_id, "cancel retried; already cancelled");
            return Ok(receipt(done.id.to_string(), kept.as_ref(), done.created_at_ms));
        }
        let st = standing(stored.state, &jobs);
        if st == VisitStanding::Deleted {
            return Err(AppError::WrongState {
                action: "cancel".into(),
                state: st.as_str().into(),
            });
        }
        let mut plan = match kept {
            Some(p) => p,
            None => CancelPlan {
                visit_id: visit_id.to_string(),
                at_ms: app.clock.now_unix_ms(),
                card_done: false,
                card_cancelled: false,
            },
        };
        check_cancel_window(visit.visited_at.timestamp_millis(), plan.at_ms).map_err(|c| {
            AppError::CancelWindowClosed {
                deadline_ms: c.deadline_ms,
            }
        })?;
        // The intent, kept before the card is touched.
        app.keep_cancel_plan(request_id, &plan)?;
        app.fail_point("cancel_planned");
        if !plan.card_done {
            let at = RocDateTime::from_unix_ms(plan.at_ms).map_err(|_| AppError::Internal)?;
            plan.card_cancelled = app.cancel_on_card(&visit, at).await?;
            plan.card_done = true;
            app.keep_cancel_plan(request_id, &plan)?;
            app.fail_point("cancel_card_done");
        }
        let mut job = NewJob::new(JobKind::VisitCancel, format!("za-{}", visit.visit_code), payload);
        if let Some(up) = jobs
            .iter()
            .rev()
            .find(|j| j.kind == JobKind::CardUpload && j.state.is_pending())
        {
            job = job.after(&up.id);
        }
        let ids = app.store.enqueue(Some(visit_id), &[job])?;
        let job_id = ids.first().map(|j| j.to_string()).ok_or(AppError::Internal)?;
        app.fail_point("cancel_committed");
        tracing::info!(target: "homevisit::app", visit_id = %visit_id, card = plan.card_cancelled, "visit cancelled");
        app.listeners
            .notify_changed(app.store.as_ref(), std::slice::from_ref(&job_id));
        app.sync.wake();
        Ok(receipt(job_id, Some(&plan), plan.at_ms))
    }
}
