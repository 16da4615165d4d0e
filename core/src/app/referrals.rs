//! E-referrals through the facade: [`HomeVisit::referrals`] hands out the [`ReferralService`].
//! Every rule is `crate::referral::rules` (the same functions the platform simulator runs); this
//! file only loads, applies, stores and queues.
//!
//! - As sender (a contracted institution: types `01`, `03`, `04`): [`ReferralService::prefill`]
//!   (type `01`: the patient's birth date and case data from this institution's home-care visits),
//!   [`ReferralService::open`] (makes the number offline), [`ReferralService::correct`],
//!   [`ReferralService::delete`], [`ReferralService::send`] (queued in the outbox: works offline,
//!   sent by the sync engine once online, exactly once), [`ReferralService::re_refer`] after a `04`.
//! - As receiver (a type `02`/`04` referral addressed to this institution):
//!   [`ReferralService::process`] (status + explanation, correctable) and
//!   [`ReferralService::send_reply`] (queued like a send).
//! - [`ReferralService::refresh`] (online) pulls the platform's copy: replies to what we sent,
//!   referrals sent to us.
//! - [`ReferralService::find`], [`ReferralService::report`] and [`ReferralService::export_csv`].

use super::record_service::{ServiceParts, StepHook};
use super::{AppError, HomeVisit};
use crate::model::roc::{RocDate, RocDateTime};
use crate::platform::Connectivity;
use crate::referral::csv::{self, CsvEncoding, CsvExport, ReportRow};
use crate::referral::model::{ProcessingStatus, ReferralForm, ReferralType, Unit, UnitKind};
use crate::referral::query::{ReferralQuery, ReportFilter, Side};
use crate::referral::rules::{self, Violation};
use crate::referral::store::{self as book, StoredReferral};
use crate::referral::{outbox, wire};
use crate::store::{Store, StoreError};
use chrono::NaiveDate;
use std::sync::Arc;

pub use crate::referral::store::StoredReferral as ReferralRecord;

/// The one conversion of a broken referral rule into the public error.
pub(crate) fn violation(v: Violation) -> AppError {
    match v {
        Violation::Invalid { field, reason } => AppError::Validation {
            field: field.into(),
            reason,
        },
        Violation::TypeNotAllowed { .. } => AppError::Validation {
            field: "kind".into(),
            reason: v.to_string(),
        },
        Violation::WrongState { action, state } => AppError::WrongState {
            action: action.name().into(),
            state: state.into(),
        },
        Violation::CountMismatch { .. } => AppError::Validation {
            field: "count".into(),
            reason: v.to_string(),
        },
    }
}

/// What [`ReferralService::refresh`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefreshSummary {
    /// Replies that arrived for referrals this institution sent.
    pub replies: u32,
    /// Referrals addressed to this institution that are new here.
    pub received: u32,
}

/// The e-referral service of one app (see the module docs).
pub struct ReferralService {
    parts: ServiceParts,
    device_tag: String,
}

impl std::fmt::Debug for ReferralService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReferralService")
            .field("institution", &self.parts.institution)
            .finish_non_exhaustive()
    }
}

impl HomeVisit {
    /// The e-referral service.
    pub fn referrals(&self) -> Arc<ReferralService> {
        self.referrals.clone()
    }
}

impl ReferralService {
    pub(crate) fn new(parts: ServiceParts, device_id: &str) -> Self {
        Self {
            parts,
            device_tag: rules::device_tag(device_id),
        }
    }

    /// Sets the crash tests' progress hook.
    #[cfg(feature = "inspect")]
    pub fn set_step_hook(&self, hook: Option<StepHook>) {
        self.parts.set_step_hook(hook);
    }

    fn step(&self, name: &str) {
        self.parts.step(name);
    }

    fn now(&self) -> Result<(i64, NaiveDate), AppError> {
        let t = RocDateTime::now(self.parts.clock.as_ref()).map_err(|_| AppError::Internal)?;
        Ok((t.unix_ms(), t.date().naive()))
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.parts.guard()
    }

    /// The types this institution may open (`01`, `03`, `04`).
    pub fn types_to_open(&self) -> Vec<ReferralType> {
        rules::opener_types(UnitKind::Institution).to_vec()
    }

    /// A form to start from: the referring unit is this institution; for type `01` and a patient
    /// who is this institution's home-care case (visits recorded here), the patient's basic data
    /// (name, birth date, sex) and the case data (visits, the last visit, its diagnoses, care
    /// stage `E1`) come from the latest visit. `is_case` says whether that happened.
    pub fn prefill(&self, kind: ReferralType, national_id: &str) -> Result<(ReferralForm, bool), AppError> {
        rules::may_open(UnitKind::Institution, kind).map_err(violation)?;
        let id = crate::rules::national_id::parse(national_id.trim())
            .map_err(|_| super::input::invalid("patient.national_id", "must be a valid national ID"))?;
        let mut form = ReferralForm::default();
        form.referring_unit.code = self.parts.institution.as_str().to_string();
        form.patient.national_id = id.expose().to_string();
        if kind != ReferralType::HomeCareToLtc {
            return Ok((form, false));
        }
        let visits: Vec<_> = self
            .parts
            .store
            .find_visits_by_national_id(&id)?
            .into_iter()
            .filter(|v| v.visit.institution == self.parts.institution)
            .collect();
        let Some(latest) = visits.first() else {
            return Ok((form, false));
        };
        let v = &latest.visit;
        form.patient.name = v.patient.name.clone();
        form.patient.birth_date = Some(v.patient.birth_date);
        form.patient.sex = v.patient.sex.card_letter().to_string();
        form.assessment.care_stage = "E1".into();
        form.assessment.diagnoses = v.diagnoses.clone();
        form.assessment.last_visit_ms = Some(v.visited_at.timestamp_millis());
        form.assessment.visits = visits.len() as u32;
        Ok((form, true))
    }

    /// Opens a referral of `kind` (offline): checks the six parts, makes the referral number and
    /// keeps it sealed, opened-unsent.
    pub fn open(&self, kind: ReferralType, form: ReferralForm) -> Result<StoredReferral, AppError> {
        let _g = self.guard();
        let (now, today) = self.now()?;
        rules::may_open(UnitKind::Institution, kind).map_err(violation)?;
        rules::check_form(kind, &form, today).map_err(violation)?;
        let roc = RocDate::from_naive(today).map_err(|_| AppError::Internal)?;
        let serial = book::next_serial(&self.parts.store, &roc.to_roc_string())?;
        let number = rules::referral_number(self.parts.institution.as_str(), today, &self.device_tag, serial)
            .map_err(violation)?;
        let referral = rules::open(
            UnitKind::Institution,
            self.parts.institution.as_str(),
            kind,
            number,
            form,
            now,
            today,
        )
        .map_err(violation)?;
        let stored = StoredReferral {
            id: Store::new_id(),
            side: Side::Sent,
            referral,
        };
        book::put(&self.parts.store, &stored)?;
        self.step("opened");
        tracing::info!(target: "homevisit::app", referral = %stored.id, kind = kind.code(), "referral opened");
        Ok(stored)
    }

    /// One referral, after bringing it in line with the outbox.
    pub fn get(&self, id: &str) -> Result<StoredReferral, AppError> {
        let mut r = book::get(&self.parts.store, id)?.ok_or_else(|| AppError::NotFound {
            what: "referral".into(),
        })?;
        book::reconcile(&self.parts.store, &mut r)?;
        Ok(r)
    }

    fn get_side(&self, id: &str, side: Side, action: rules::Action) -> Result<StoredReferral, AppError> {
        let r = self.get(id)?;
        if r.side != side {
            return Err(AppError::WrongState {
                action: action.name().into(),
                state: match r.side {
                    Side::Sent => "sent_by_this_institution",
                    Side::Received => "received_by_this_institution",
                }
                .into(),
            });
        }
        Ok(r)
    }

    /// Corrects the form of an opened-unsent referral (or an unsent re-referral round).
    pub fn correct(&self, id: &str, form: ReferralForm) -> Result<StoredReferral, AppError> {
        let _g = self.guard();
        let (_, today) = self.now()?;
        let mut r = self.get_side(id, Side::Sent, rules::Action::Correct)?;
        rules::correct(&mut r.referral, form, today).map_err(violation)?;
        book::put(&self.parts.store, &r)?;
        Ok(r)
    }

    /// Deletes an opened-unsent referral.
    pub fn delete(&self, id: &str) -> Result<(), AppError> {
        let _g = self.guard();
        let r = self.get_side(id, Side::Sent, rules::Action::Delete)?;
        rules::may_delete(&r.referral).map_err(violation)?;
        book::delete(&self.parts.store, id)?;
        Ok(())
    }

    /// Sends the current round: queued in the outbox now (offline too) and sent by the sync
    /// engine once online, exactly once (see `referral::store`).
    pub fn send(&self, id: &str) -> Result<StoredReferral, AppError> {
        let _g = self.guard();
        let (now, _) = self.now()?;
        let mut r = self.get_side(id, Side::Sent, rules::Action::Send)?;
        rules::send(&mut r.referral, now).map_err(violation)?;
        let job = outbox::submit_job(&r.referral).map_err(|e| AppError::from(StoreError::from(e)))?;
        let job_id = book::enqueue_once(&self.parts.store, job)?;
        self.step("queued");
        book::put(&self.parts.store, &r)?;
        self.step("marked_sent");
        self.queued(job_id);
        Ok(r)
    }

    /// Re-refers after the receiver's `04` reply: same number, count + 1, to `receiving_unit`;
    /// the new round is opened-unsent and must be sent again ([`Self::send`]).
    pub fn re_refer(&self, id: &str, receiving_unit: Unit) -> Result<StoredReferral, AppError> {
        let _g = self.guard();
        let mut r = self.get_side(id, Side::Sent, rules::Action::ReRefer)?;
        rules::re_refer(&mut r.referral, receiving_unit).map_err(violation)?;
        book::put(&self.parts.store, &r)?;
        Ok(r)
    }

    /// The receiver enters or corrects its processing of a referral sent to this institution.
    pub fn process(
        &self,
        id: &str,
        status: ProcessingStatus,
        explanation: &str,
    ) -> Result<StoredReferral, AppError> {
        let _g = self.guard();
        let (now, _) = self.now()?;
        let mut r = self.get_side(id, Side::Received, rules::Action::Process)?;
        rules::process(&mut r.referral, status, explanation, now).map_err(violation)?;
        book::put(&self.parts.store, &r)?;
        Ok(r)
    }

    /// The receiver sends its processing back (queued like a send; nothing changes after).
    pub fn send_reply(&self, id: &str) -> Result<StoredReferral, AppError> {
        let _g = self.guard();
        let (now, _) = self.now()?;
        let mut r = self.get_side(id, Side::Received, rules::Action::Reply)?;
        rules::reply(&mut r.referral, now).map_err(violation)?;
        let job = match outbox::reply_job(&r.referral) {
            Some(j) => j.map_err(|e| AppError::from(StoreError::from(e)))?,
            None => return Err(AppError::Internal),
        };
        let job_id = book::enqueue_once(&self.parts.store, job)?;
        book::put(&self.parts.store, &r)?;
        self.queued(job_id);
        Ok(r)
    }

    fn queued(&self, job_id: String) {
        self.parts
            .listeners
            .notify_changed(self.parts.store.as_ref(), &[job_id]);
        if self.parts.connectivity.is_online() {
            self.parts.sync.wake();
        }
    }

    /// Pulls the platform's copy (online): the receivers' replies to what this institution sent
    /// (for the round the device holds), and referrals addressed to it (new ones stored as
    /// received, unprocessed). Offline → [`AppError::Network`].
    pub async fn refresh(&self) -> Result<RefreshSummary, AppError> {
        if !self.parts.connectivity.is_online() {
            return Err(AppError::Network);
        }
        let client = self
            .parts
            .vpn
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(AppError::NotEnrolled)?;
        let resp: wire::SyncResponse = client
            .post_signed(wire::SYNC, &wire::SyncRequest::default())
            .await?;
        let _g = self.guard();
        self.merge(resp)
    }

    fn merge(&self, resp: wire::SyncResponse) -> Result<RefreshSummary, AppError> {
        let mut summary = RefreshSummary::default();
        let mut mine = book::all(&self.parts.store)?;
        for theirs in resp.sent {
            let Some(local) = mine
                .iter_mut()
                .find(|m| m.side == Side::Sent && m.referral.number == theirs.number)
            else {
                continue;
            };
            book::reconcile(&self.parts.store, local)?;
            let r = &mut local.referral;
            // Only the round the device has sent: a re-referral round opened here wins.
            if theirs.count == r.count
                && r.sent_at_ms.is_some()
                && r.reply().is_none()
                && theirs.reply().is_some()
            {
                r.processing = theirs.processing.clone();
                book::put(&self.parts.store, local)?;
                summary.replies += 1;
            }
        }
        for theirs in resp.received {
            if theirs.form.receiving_unit.code != self.parts.institution.as_str() {
                continue;
            }
            match mine
                .iter_mut()
                .find(|m| m.side == Side::Received && m.referral.number == theirs.number)
            {
                Some(local) if theirs.count > local.referral.count => {
                    local.referral = theirs;
                    book::put(&self.parts.store, local)?;
                    summary.received += 1;
                }
                Some(_) => {}
                None => {
                    let mut r = theirs;
                    r.processing = None;
                    let stored = StoredReferral {
                        id: Store::new_id(),
                        side: Side::Received,
                        referral: r,
                    };
                    book::put(&self.parts.store, &stored)?;
                    mine.push(stored);
                    summary.received += 1;
                }
            }
        }
        Ok(summary)
    }

    fn all(&self) -> Result<Vec<StoredReferral>, AppError> {
        let mut all = book::all(&self.parts.store)?;
        for r in &mut all {
            book::reconcile(&self.parts.store, r)?;
        }
        Ok(all)
    }

    /// Where the current round's send (sender) or reply (receiver) stands in the outbox: the
    /// job state's name (`queued`, `sending`, `waiting_retry`, `done`, `rejected`), or `None`
    /// when nothing is queued.
    pub fn delivery(&self, id: &str) -> Result<Option<String>, AppError> {
        let r = self.get(id)?;
        let key = match r.side {
            Side::Sent => r.referral.submission_key(),
            Side::Received => r.referral.reply_key(),
        };
        Ok(book::queued_job(&self.parts.store, &key)?.map(|(_, _, state)| state))
    }

    /// The sender's (`Side::Sent`) or the receiver's (`Side::Received`) query, oldest first.
    pub fn find(&self, side: Side, query: &ReferralQuery) -> Result<Vec<StoredReferral>, AppError> {
        Ok(self
            .all()?
            .into_iter()
            .filter(|r| r.side == side && query.matches(&r.referral))
            .collect())
    }

    /// The detail report's rows (both sides unless filtered), oldest first.
    pub fn report(&self, filter: &ReportFilter) -> Result<Vec<ReportRow>, AppError> {
        Ok(self
            .all()?
            .iter()
            .filter(|r| filter.matches(&r.referral, r.side))
            .map(|r| ReportRow::of(&r.referral, r.side))
            .collect())
    }

    /// The detail report as a CSV file (Big5 by default; see `referral::csv`).
    pub fn export_csv(&self, filter: &ReportFilter, encoding: CsvEncoding) -> Result<CsvExport, AppError> {
        Ok(csv::export(&self.report(filter)?, encoding))
    }
}

impl StoredReferral {
    /// The patient's name as lists show it (`陳○明`).
    pub fn masked_name(&self) -> String {
        super::view::mask_name(&self.referral.form.patient.name)
    }

    /// The patient's national ID as lists show it.
    pub fn masked_id(&self) -> String {
        super::view::mask_id(&self.referral.form.patient.national_id)
    }
}

impl ReportRow {
    /// The patient's name as lists show it (`陳○明`).
    pub fn masked_name(&self) -> String {
        super::view::mask_name(&self.patient_name)
    }

    /// The patient's national ID as lists show it.
    pub fn masked_id(&self) -> String {
        super::view::mask_id(&self.national_id)
    }
}

/// The form as text fields, as a screen (or the FFI) hands it over; [`ReferralInput::to_form`]
/// parses it (birth date ROC `YYYMMDD`). Holds patient data: `Debug` prints none of it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ReferralInput {
    /// Part 1.
    pub referring_unit: Unit,
    /// National ID.
    pub national_id: String,
    /// Name.
    pub name: String,
    /// Birth date, ROC `YYYMMDD` (empty: not given).
    pub birth_date: String,
    /// `M` or `F`.
    pub sex: String,
    /// Contact phone.
    pub phone: String,
    /// Address.
    pub address: String,
    /// Barthel index 0–100.
    pub adl_score: Option<u8>,
    /// Care stage code.
    pub care_stage: String,
    /// ICD-10-CM codes.
    pub diagnoses: Vec<String>,
    /// Assessment note.
    pub note: String,
    /// Part 4.
    pub purpose: String,
    /// Part 5.
    pub receiving_unit: Unit,
    /// Part 6.
    pub summary: String,
}

impl std::fmt::Debug for ReferralInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReferralInput(<redacted>)")
    }
}

impl ReferralInput {
    /// Parses the text fields into the form (the rules then check it on open / correct).
    pub fn to_form(&self) -> Result<ReferralForm, AppError> {
        let birth_date = match self.birth_date.trim() {
            "" => None,
            t => Some(
                RocDate::parse(t)
                    .map_err(|_| super::input::invalid("patient.birth_date", "must be a ROC date YYYMMDD"))?
                    .naive(),
            ),
        };
        Ok(ReferralForm {
            referring_unit: self.referring_unit.clone(),
            patient: crate::referral::PatientBasic {
                national_id: self.national_id.trim().to_ascii_uppercase(),
                name: self.name.trim().to_string(),
                birth_date,
                sex: self.sex.trim().to_string(),
                phone: self.phone.trim().to_string(),
                address: self.address.trim().to_string(),
            },
            assessment: crate::referral::Assessment {
                adl_score: self.adl_score,
                care_stage: self.care_stage.trim().to_string(),
                diagnoses: self
                    .diagnoses
                    .iter()
                    .map(|d| d.trim().replace('.', "").to_ascii_uppercase())
                    .collect(),
                last_visit_ms: None,
                visits: 0,
                note: self.note.clone(),
            },
            purpose: self.purpose.clone(),
            receiving_unit: self.receiving_unit.clone(),
            summary: crate::referral::Summary(self.summary.clone()),
        })
    }

    /// The text fields of a form (birth date as ROC `YYYMMDD`).
    pub fn of(form: &ReferralForm) -> Self {
        Self {
            referring_unit: form.referring_unit.clone(),
            national_id: form.patient.national_id.clone(),
            name: form.patient.name.clone(),
            birth_date: form
                .patient
                .birth_date
                .and_then(|d| RocDate::from_naive(d).ok())
                .map(|d| d.to_roc_string())
                .unwrap_or_default(),
            sex: form.patient.sex.clone(),
            phone: form.patient.phone.clone(),
            address: form.patient.address.clone(),
            adl_score: form.assessment.adl_score,
            care_stage: form.assessment.care_stage.clone(),
            diagnoses: form.assessment.diagnoses.clone(),
            note: form.assessment.note.clone(),
            purpose: form.purpose.clone(),
            receiving_unit: form.receiving_unit.clone(),
            summary: form.summary.0.clone(),
        }
    }
}

/// Parses an optional ROC `YYYMMDD` query date (`field` names it in the error).
pub fn referral_date(field: &'static str, text: Option<&str>) -> Result<Option<NaiveDate>, AppError> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => RocDate::parse(t)
            .map(|d| Some(d.naive()))
            .map_err(|_| super::input::invalid(field, "must be a ROC date YYYMMDD")),
    }
}
