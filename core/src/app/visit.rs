//! The visit session a UI drives step by step: [`HomeVisit::begin_visit`] reads the patient card
//! and proposes the visit type; the UI adds diagnoses, orders (plain or from a cached order set)
//! and a note; [`VisitSession::finish`] runs the card transaction (online: cloud-SAM
//! authentication, sequence number, card write and read-back; offline: the abnormal path, card not
//! written) and commits the visit with its `card_upload` job in one transaction.
//!
//! `finish` is idempotent under the caller's request id: the first call keeps a plan (visit id,
//! transaction id, visit-code counter, time) sealed in the store before touching the card, and every
//! retry with the same id runs that same plan, so the card gives the same sequence number and the
//! store gets one visit. A reader or card failure commits nothing and can be retried.
//!
//! **Crash between the card write and the commit.** The plan is the visit's one intent record:
//! before the card is touched it also holds what is sent (patient, type, diagnoses, orders, fees,
//! note), and once the SAM signed it, the signed sequence form (before the card write). Nothing
//! else remembers an unfinished visit. [`HomeVisit::reconcile_visits`] (and every
//! [`HomeVisit::begin_visit`], i.e. each time the reader is back after a start-up or a reconnect)
//! looks at the open plans of the patient whose card is in the reader and reads the card back: a
//! visit the card holds as planned is committed from the plan and the read-back, once, with its one
//! upload job; one the card registered but was not written is run again with the same plan (same
//! transaction id: same sequence number) when the SAM is reachable; one that never reached the card
//! stays open for the caller's retry of `finish`.

use super::readers::{card_error, mask_name, reader_error};
use super::{AppError, HomeVisit, MAX_DIAGNOSES, VisitSummary};
use crate::card::error::NhiCode;
use crate::card::patient::PatientCard;
use crate::card::records::{MAX_PRESCRIPTIONS, PrescriptionEntry, SequenceForm, VisitBody};
use crate::card::sam::{SamAuthority, SamChallenge, SamError, VisitSignRequest, VisitSignature};
use crate::card::visit_txn::{VisitOutcome, VisitPlan, VisitProgress, run_visit_with};
use crate::card::{CardError, basic_data};
use crate::model::{
    CardBasicData, CardReplacement, EmergencyRecord, Order, RocDateTime, Sex, VisitContext, VisitType,
};
use crate::reader::ApduChannel;
use crate::rules::visit_code::VisitCodeInput;
use crate::rx::orderset::{RxLine, cached_order_sets, parse_centi};
use crate::store::StoreError;
use std::sync::{Arc, Mutex};

/// Key/value namespace of the finish plans, keyed by the caller's request id.
const PLAN_NAMESPACE: &str = "visit-request";
/// Longest request id accepted.
const MAX_REQUEST_ID: usize = 64;

/// The patient as the screen shows them: masked fields only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientView {
    /// Name with its middle masked (`王○明`).
    pub name_masked: String,
    /// National ID with its middle masked (`A12*****89`).
    pub national_id_masked: String,
    /// Year of birth.
    pub birth_year: i32,
    /// Sex as printed on the card.
    pub sex: Sex,
}

impl PatientView {
    fn of(b: &CardBasicData) -> Self {
        use chrono::Datelike;
        Self {
            name_masked: mask_name(&b.name),
            national_id_masked: super::view::mask_id(b.national_id.expose()),
            birth_year: b.birth_date.year(),
            sex: b.sex,
        }
    }
}

/// What the practitioner has recorded so far.
#[derive(Debug, Clone, PartialEq)]
pub struct VisitDraft {
    /// The visit type (proposed: `01` for a first visit, `AH` for a later home-care visit).
    pub visit_type: VisitType,
    /// Whether this device already holds a visit of the patient.
    pub follow_up: bool,
    /// Diagnoses, normalised, main first.
    pub diagnoses: Vec<String>,
    /// Orders.
    pub orders: Vec<Order>,
    /// Free-text note.
    pub note: String,
    /// Medical fee in points.
    pub fee_points: u32,
    /// Copayment in NT$.
    pub copayment: u32,
    /// Role, care stage and the audit details of the visit, committed with it.
    pub context: VisitContext,
    /// A card-less visit: what the patient paid out of pocket (NT$), once recorded.
    pub out_of_pocket: Option<u32>,
    /// The emergency details when the visit is marked as an emergency visit (`payable` is
    /// decided at `finish`, from the store's visits).
    pub emergency: Option<EmergencyRecord>,
}

/// What `finish` keeps, sealed, under the request id before touching the card: the visit's one
/// intent record (see the module doc).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct FinishPlan {
    visit_id: String,
    txn_id: [u8; 16],
    code_counter: u64,
    at_unix_ms: i64,
    /// What the attempt sends to the card and commits; rewritten before each attempt touches the
    /// card (absent in plans kept before reconciliation existed).
    #[serde(default)]
    intent: Option<Intent>,
    /// The SAM-signed sequence form (316 bytes), kept after signing and before the card write.
    #[serde(default)]
    signed_form: Option<Vec<u8>>,
}

/// What a visit sends to the card and commits: enough to finish it without the caller.
#[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Intent {
    /// The patient's card (national ID sealed at rest with the plan; never logged).
    national_id: String,
    card_number: String,
    practitioner_id: String,
    visit_type: VisitType,
    diagnoses: Vec<String>,
    orders: Vec<Order>,
    note: String,
    fee_points: u32,
    copayment: u32,
    online: bool,
    /// Card-less, replacement and emergency details committed with the visit (absent in plans kept before it existed).
    #[serde(default)]
    context: VisitContext,
}

impl Intent {
    fn body(&self) -> VisitBody {
        VisitBody {
            diagnoses: self.diagnoses.clone(),
            fee_points: self.fee_points,
            copayment: self.copayment,
        }
    }

    fn is_of(&self, card: &CardBasicData) -> bool {
        self.national_id == card.national_id.expose() && self.card_number == card.card_number
    }
}

/// What [`HomeVisit::reconcile_visits`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Visits found on the card (or finished on it with their own plan) and committed now.
    pub committed: u32,
    /// Plans of this patient still open: they never reached the card, or the card cannot be
    /// finished now (SAM unreachable); the caller's retry of `finish` or a later reconcile ends them.
    pub open: u32,
}

/// Keeps the signed form in the plan before the card write, and passes the fail points.
struct KeepSigned<'a> {
    app: &'a HomeVisit,
    request_id: &'a str,
    plan: &'a FinishPlan,
}

impl VisitProgress for KeepSigned<'_> {
    fn signed(&self, form: &SequenceForm) -> Result<(), CardError> {
        let mut plan = self.plan.clone();
        plan.signed_form = Some(form.to_bytes()?);
        self.app.keep_plan(self.request_id, &plan).map_err(|e| {
            tracing::warn!(target: "homevisit::app", code = e.code(), "could not keep the signed form");
            CardError::Input("the visit plan could not be kept; the card was not written".into())
        })?;
        self.app.fail_point("signed");
        Ok(())
    }

    fn written(&self) {
        self.app.fail_point("card_written");
    }
}

/// Where a visit's card data came from, and so how `finish` gets its sequence number.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum CardSource {
    /// The physical card in the reader: cloud SAM, sequence number from the chip, card written.
    Chip,
    /// A virtual NHI card read through the NHI after the patient consented (`virtual_card.rs`):
    /// a `V` sequence number from the NHI, nothing written (no chip).
    Virtual {
        /// The NHI's scan session.
        session: String,
    },
    /// No card: the patient's data typed in (`card_less.rs`); out of pocket, visit code taken
    /// offline, nothing written, kept pending its card.
    CardLess,
    /// The card brought for a card-less visit (`card_less.rs`): the chip transaction with the
    /// after-check flag `2`, committed with M12/M49/M52 and the refund.
    Replacement(CardReplacement),
}

/// One visit in progress (Kotlin: hold it for the visit screen; drop it to abandon the visit).
pub struct VisitSession {
    pub(super) app: Arc<HomeVisit>,
    pub(super) patient: CardBasicData,
    pub(super) practitioner_id: String,
    pub(super) draft: Mutex<VisitDraft>,
    pub(super) source: CardSource,
}

impl std::fmt::Debug for VisitSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VisitSession").finish_non_exhaustive()
    }
}

impl HomeVisit {
    /// Starts a visit: reads the patient card in the connected reader (reconnecting if needed) and
    /// proposes the visit type. The practitioner's PIN must have been verified in this session.
    pub async fn begin_visit(self: &Arc<Self>) -> Result<VisitSession, AppError> {
        let practitioner = self
            .readers
            .practitioner()
            .ok_or_else(|| super::input::invalid("practitioner", "verify the practitioner PIN first"))?;
        let session = self.readers.session().await?;
        let patient = basic_data::read(session.as_ref()).await.map_err(card_error)?;
        // The reader is back (start-up, reconnect): first finish what a crash left on this card.
        {
            let _one_visit_at_a_time = self.readers.visit_lock.lock().await;
            if let Err(e) = self.reconcile_locked(session.as_ref(), &patient).await {
                tracing::warn!(target: "homevisit::app", code = e.code(), "reconciliation postponed");
            }
        }
        VisitSession::new(self.clone(), patient, practitioner.national_id, CardSource::Chip)
    }
}

impl VisitSession {
    /// A new visit of `patient` seen by `practitioner_id`, its card read from `source`: a
    /// follow-up home-care visit (`AH`) when this device has seen the patient before, else `01`.
    pub(super) fn new(
        app: Arc<HomeVisit>,
        patient: CardBasicData,
        practitioner_id: String,
        source: CardSource,
    ) -> Result<Self, AppError> {
        let follow_up = app.has_visited(&patient.national_id)?;
        let visit_type = if follow_up {
            VisitType::HomeCareFollowUp
        } else {
            VisitType::WesternOutpatient
        };
        Ok(VisitSession {
            app,
            patient,
            practitioner_id,
            source,
            draft: Mutex::new(VisitDraft {
                visit_type,
                follow_up,
                diagnoses: Vec::new(),
                orders: Vec::new(),
                note: String::new(),
                fee_points: 0,
                copayment: 0,
                context: VisitContext::default(),
                out_of_pocket: None,
                emergency: None,
            }),
        })
    }

    pub(super) fn draft_mut(&self) -> std::sync::MutexGuard<'_, VisitDraft> {
        // A panic while holding the lock cannot leave the draft half-updated (single assignments).
        self.draft.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The patient, masked.
    pub fn patient(&self) -> PatientView {
        PatientView::of(&self.patient)
    }

    /// What has been recorded so far.
    pub fn draft(&self) -> VisitDraft {
        self.draft_mut().clone()
    }

    /// Overrides the proposed visit type (a counted type `01`–`08` or a not-counted one; never a
    /// cancellation).
    pub fn set_visit_type(&self, visit_type: VisitType) -> Result<(), AppError> {
        if visit_type.is_cancellation() {
            return Err(super::input::invalid(
                "visit_type",
                "ZA/ZB cancel a visit; they are not a visit",
            ));
        }
        self.draft_mut().visit_type = visit_type;
        Ok(())
    }

    /// Adds an ICD-10-CM diagnosis (checked against the code list; at most 6; the first is the main
    /// one). Adding a code already there is a no-op. Returns the normalised code.
    pub fn add_diagnosis(&self, code: &str) -> Result<String, AppError> {
        let parsed = crate::rules::icd10::Icd10Code::parse(code.trim())
            .map_err(|e| AppError::from(crate::rules::RuleError::from(e)))?;
        let mut d = self.draft_mut();
        if d.diagnoses.iter().any(|c| c == parsed.as_str()) {
            return Ok(parsed.as_str().to_string());
        }
        if d.diagnoses.len() >= MAX_DIAGNOSES {
            return Err(super::input::invalid("diagnoses", "at most 6 (M35-M40)"));
        }
        d.diagnoses.push(parsed.as_str().to_string());
        Ok(parsed.as_str().to_string())
    }

    /// Removes a diagnosis (no-op when absent).
    pub fn remove_diagnosis(&self, code: &str) {
        let code = crate::rules::icd10::normalise(code.trim()).unwrap_or_default();
        self.draft_mut().diagnoses.retain(|c| *c != code);
    }

    /// Adds a drug order: NHI drug code, dose per administration (`1`, `0.5`), frequency (`TID`),
    /// route (`PO`), days. The line is checked as a prescription line.
    pub fn add_drug_order(
        &self,
        drug_code: &str,
        dose: &str,
        frequency: &str,
        route: &str,
        days: u16,
    ) -> Result<(), AppError> {
        let dose_centi = parse_centi(dose.trim())
            .ok_or_else(|| super::input::invalid("dose", "must be a number like 1 or 0.5"))?;
        let line = RxLine::new(drug_code.trim(), dose_centi, frequency.trim(), route.trim(), days);
        line.validate(1)
            .map_err(|e| super::input::invalid(e.field, &e.reason))?;
        self.push_orders(vec![line.to_order()])
    }

    /// Adds every line of a cached order set (處方套餐) by its id; lines already ordered are kept
    /// once. Returns how many orders were added.
    pub fn add_order_set(&self, set_id: &str) -> Result<u32, AppError> {
        let sets = cached_order_sets(self.app.store.as_ref()).map_err(|e| {
            tracing::warn!(target: "homevisit::app", error = %e, "order-set cache unreadable");
            AppError::Storage
        })?;
        let set = sets
            .iter()
            .find(|s| s.id == set_id.trim())
            .ok_or_else(|| super::input::invalid("order_set", "not among the downloaded order sets"))?;
        let have: Vec<String> = self.draft_mut().orders.iter().map(|o| o.code.clone()).collect();
        let mut new: Vec<Order> = Vec::new();
        for line in &set.lines {
            if !have.contains(&line.drug_code) && !new.iter().any(|o| o.code == line.drug_code) {
                new.push(line.to_order());
            }
        }
        let n = u32::try_from(new.len()).unwrap_or(u32::MAX);
        self.push_orders(new)?;
        Ok(n)
    }

    fn push_orders(&self, orders: Vec<Order>) -> Result<(), AppError> {
        let mut d = self.draft_mut();
        if d.orders.len() + orders.len() > MAX_PRESCRIPTIONS {
            return Err(super::input::invalid("orders", "at most 60 per visit"));
        }
        d.orders.extend(orders);
        Ok(())
    }

    /// Removes every order with `code`.
    pub fn remove_order(&self, code: &str) {
        self.draft_mut().orders.retain(|o| o.code != code.trim());
    }

    /// Sets the free-text note (at most 2000 characters).
    pub fn set_note(&self, note: &str) -> Result<(), AppError> {
        if note.chars().count() > 2000 {
            return Err(super::input::invalid("note", "at most 2000 characters"));
        }
        self.draft_mut().note = note.to_string();
        Ok(())
    }

    /// Sets the medical fee (points) and the copayment (NT$).
    pub fn set_fees(&self, fee_points: u32, copayment: u32) -> Result<(), AppError> {
        if fee_points > 99_999_999 || copayment > 99_999_999 {
            return Err(super::input::invalid("fee_points", "at most 8 digits"));
        }
        let mut d = self.draft_mut();
        d.fee_points = fee_points;
        d.copayment = copayment;
        Ok(())
    }

    /// Finishes the visit under `request_id` (the caller's idempotency key, e.g. a UUID made when
    /// the user pressed "finish"): online through the cloud SAM with the card written, or offline
    /// on the abnormal path; then one commit. A retry with the same id returns the same visit.
    pub async fn finish(&self, request_id: &str) -> Result<VisitSummary, AppError> {
        let request_id = request_id.trim();
        if request_id.is_empty()
            || request_id.len() > MAX_REQUEST_ID
            || !request_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(super::input::invalid(
                "request_id",
                "must be 1 to 64 letters, digits, '-' or '_'",
            ));
        }
        let app = &self.app;
        let _one_visit_at_a_time = app.readers.visit_lock.lock().await;
        let kept = match app.store.kv_get(PLAN_NAMESPACE, request_id)? {
            Some(bytes) => {
                let plan: FinishPlan = serde_json::from_slice(&bytes).map_err(|_| AppError::Internal)?;
                match app.store.get_visit(&plan.visit_id) {
                    Ok(stored) => {
                        tracing::info!(target: "homevisit::app", visit_id = %plan.visit_id, "finish retried; visit already stored");
                        return Ok(VisitSummary::of(&stored.visit));
                    }
                    Err(StoreError::NotFound { .. }) => Some(plan),
                    Err(e) => return Err(e.into()),
                }
            }
            None => None,
        };
        let draft = self.draft();
        if draft.diagnoses.is_empty() {
            return Err(super::input::invalid("diagnoses", "at least one diagnosis"));
        }
        let mut plan = match kept {
            Some(plan) => plan,
            None => self.new_plan(request_id)?,
        };
        let at = RocDateTime::from_unix_ms(plan.at_unix_ms).map_err(|_| AppError::Internal)?;
        let context = self.context_of(&draft, &plan)?;
        match &self.source {
            CardSource::Virtual { session } => {
                let ids = (plan.visit_id, plan.txn_id, plan.code_counter);
                return self.finish_virtual(session, &draft, ids, at).await;
            }
            CardSource::CardLess => {
                return self.finish_card_less(&draft, (plan.visit_id, plan.code_counter), at, context);
            }
            CardSource::Chip | CardSource::Replacement(_) => {}
        }
        let online = app.is_online();
        // The intent of this attempt, kept before the card is touched.
        plan.intent = Some(Intent {
            national_id: self.patient.national_id.expose().to_string(),
            card_number: self.patient.card_number.clone(),
            practitioner_id: self.practitioner_id.clone(),
            visit_type: draft.visit_type,
            diagnoses: draft.diagnoses.clone(),
            orders: draft.orders.clone(),
            note: draft.note.clone(),
            fee_points: draft.fee_points,
            copayment: draft.copayment,
            online,
            context,
        });
        plan.signed_form = None;
        app.keep_plan(request_id, &plan)?;
        app.fail_point("planned");
        let card_plan = card_plan_of(app, &plan, online)?;
        let sam: Arc<dyn SamAuthority> = match app.vpn_client() {
            Ok(c) => c,
            Err(AppError::NotEnrolled) if !online => Arc::new(NoSam),
            Err(e) => return Err(e),
        };
        let session = app.readers.session().await?;
        // The card must still be the patient's the visit began with.
        let now_in = basic_data::read(session.as_ref()).await.map_err(card_error)?;
        if now_in.national_id != self.patient.national_id || now_in.card_number != self.patient.card_number {
            return Err(super::input::invalid(
                "patient_card",
                "another card is in the reader than at the start of the visit",
            ));
        }
        let progress = KeepSigned {
            app,
            request_id,
            plan: &plan,
        };
        let outcome = run_visit_with(session.as_ref(), sam.as_ref(), &app.codes, &card_plan, &progress)
            .await
            .map_err(|e| match e {
                CardError::Reader(r) => reader_error(r),
                other => card_error(other),
            })?;
        app.commit_outcome(&plan, &outcome)
    }

    /// What the visit commits beyond its card data: card-less, the replacement it is, and the
    /// emergency details with their payability decided now (from the store's visits).
    fn context_of(&self, draft: &VisitDraft, plan: &FinishPlan) -> Result<VisitContext, AppError> {
        let emergency = match &draft.emergency {
            Some(e) => Some(self.app.decide_emergency(
                e,
                &self.patient.national_id,
                &self.practitioner_id,
                &plan.visit_id,
            )?),
            None => None,
        };
        Ok(VisitContext {
            card_less: matches!(self.source, CardSource::CardLess | CardSource::Replacement(_)),
            card_replacement: match &self.source {
                // The refund: what was paid out of pocket minus this visit's copayment.
                CardSource::Replacement(r) => Some(CardReplacement {
                    refund_points: draft
                        .out_of_pocket
                        .map_or(r.refund_points, |paid| paid.saturating_sub(draft.copayment)),
                    ..r.clone()
                }),
                _ => None,
            },
            emergency,
            // Role and care stage as the UI set them (`set_care`).
            ..draft.context.clone()
        })
    }

    /// Reserves the counter, makes the transaction id and keeps the plan before any card command.
    fn new_plan(&self, request_id: &str) -> Result<FinishPlan, AppError> {
        let app = &self.app;
        let plan = FinishPlan {
            visit_id: crate::store::Store::new_id(),
            txn_id: *uuid::Uuid::now_v7().as_bytes(),
            code_counter: app.reserve_code_counter()?,
            at_unix_ms: app.clock.now_unix_ms(),
            intent: None,
            signed_form: None,
        };
        app.keep_plan(request_id, &plan)?;
        Ok(plan)
    }
}

/// The card transaction of a plan (its intent, at its time, under its transaction id).
fn card_plan_of(app: &HomeVisit, plan: &FinishPlan, online: bool) -> Result<VisitPlan, AppError> {
    let intent = plan.intent.as_ref().ok_or(AppError::Internal)?;
    let at = RocDateTime::from_unix_ms(plan.at_unix_ms).map_err(|_| AppError::Internal)?;
    Ok(VisitPlan {
        txn_id: plan.txn_id,
        visit_type: intent.visit_type,
        newborn: false,
        replacement: intent.context.card_replacement.is_some(),
        institution: app.institution.clone(),
        at,
        code_counter: plan.code_counter,
        body: intent.body(),
        prescriptions: intent
            .orders
            .iter()
            .map(|o| PrescriptionEntry::from_order(o, at, true))
            .collect(),
        online,
    })
}

impl HomeVisit {
    /// The id of the visit committed under `request_id`, if its finish (or a reconciliation of
    /// it) committed one.
    pub(super) fn visit_of_request(&self, request_id: &str) -> Result<Option<String>, AppError> {
        let Some(bytes) = self.store.kv_get(PLAN_NAMESPACE, request_id)? else {
            return Ok(None);
        };
        let plan: FinishPlan = serde_json::from_slice(&bytes).map_err(|_| AppError::Internal)?;
        match self.store.get_visit(&plan.visit_id) {
            Ok(_) => Ok(Some(plan.visit_id)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Keeps `plan` sealed under the request id (replacing the previous one).
    fn keep_plan(&self, request_id: &str, plan: &FinishPlan) -> Result<(), AppError> {
        // Serialising plain fields cannot fail.
        let bytes = serde_json::to_vec(plan).map_err(|_| AppError::Internal)?;
        self.store.kv_put(PLAN_NAMESPACE, request_id, &bytes)?;
        Ok(())
    }

    /// Commits what the card transaction of `plan` produced, under the plan's visit id.
    fn commit_outcome(&self, plan: &FinishPlan, outcome: &VisitOutcome) -> Result<VisitSummary, AppError> {
        let intent = plan.intent.as_ref().ok_or(AppError::Internal)?;
        let mut visit = outcome.to_visit(
            &self.institution,
            &intent.practitioner_id,
            &intent.body(),
            intent.note.clone(),
            intent.orders.clone(),
        );
        visit.id = plan.visit_id.clone();
        visit.context = intent.context.clone();
        let summary = self.commit_visit(&visit)?;
        self.fail_point("committed");
        Ok(summary)
    }

    /// Finishes the visits a crash left between the card and the store, for the patient whose
    /// card is in the connected reader (see the module doc): each is committed once, with its one
    /// upload job, and never takes a second sequence number. Also runs at every
    /// [`HomeVisit::begin_visit`]; call it when the reader is back (start-up, reconnect).
    pub async fn reconcile_visits(self: &Arc<Self>) -> Result<ReconcileReport, AppError> {
        let _one_visit_at_a_time = self.readers.visit_lock.lock().await;
        let session = self.readers.session().await?;
        let card = basic_data::read(session.as_ref()).await.map_err(card_error)?;
        self.reconcile_locked(session.as_ref(), &card).await
    }

    /// [`Self::reconcile_visits`] with the visit lock held and the card's basic data read.
    async fn reconcile_locked(
        &self,
        channel: &dyn ApduChannel,
        card: &CardBasicData,
    ) -> Result<ReconcileReport, AppError> {
        let mut report = ReconcileReport::default();
        for request_id in self.store.kv_keys(PLAN_NAMESPACE)? {
            let Some(bytes) = self.store.kv_get(PLAN_NAMESPACE, &request_id)? else {
                continue;
            };
            let Ok(plan) = serde_json::from_slice::<FinishPlan>(&bytes) else {
                tracing::warn!(target: "homevisit::app", "an unreadable visit plan was skipped");
                continue;
            };
            match self.store.get_visit(&plan.visit_id) {
                Ok(_) => continue,
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let Some(intent) = plan.intent.as_ref() else {
                continue;
            };
            if !intent.is_of(card) {
                continue;
            }
            match self.reconcile_one(channel, card, &request_id, &plan).await {
                Ok(true) => report.committed += 1,
                Ok(false) => report.open += 1,
                Err(e) => {
                    tracing::warn!(target: "homevisit::app", code = e.code(), "an open visit stays open");
                    report.open += 1;
                }
            }
        }
        if report.committed > 0 || report.open > 0 {
            tracing::info!(target: "homevisit::app", committed = report.committed, open = report.open, "open visits reconciled");
        }
        Ok(report)
    }

    /// Reads one open plan's visit back from the card and commits it (true), or leaves it open.
    async fn reconcile_one(
        &self,
        channel: &dyn ApduChannel,
        card: &CardBasicData,
        request_id: &str,
        plan: &FinishPlan,
    ) -> Result<bool, AppError> {
        let card_plan = card_plan_of(self, plan, true)?;
        let code = self
            .codes
            .generate(
                plan.code_counter,
                &VisitCodeInput {
                    person: &card.national_id,
                    at: card_plan.at,
                    institution: &self.institution,
                },
            )
            .map_err(crate::rules::RuleError::from)?;
        // Reading the card's visits needs mutual authentication with the cloud SAM.
        if !self.is_online() {
            return Ok(false);
        }
        let sam = self.vpn_client()?;
        let mut opened = PatientCard::open(channel).await.map_err(card_error)?;
        opened
            .authenticate(sam.as_ref(), false)
            .await
            .map_err(card_error)?;
        let (record, entries) = match opened.read_visit(&code).await {
            Ok(found) => found,
            // Never reached the card: nothing to finish without the caller, whose retry of
            // `finish` rewrites the intent; until then the plan is not read back again.
            Err(CardError::Code(NhiCode::RecordNotFound)) => {
                let mut parked = plan.clone();
                parked.intent = None;
                parked.signed_form = None;
                self.keep_plan(request_id, &parked)?;
                return Ok(false);
            }
            Err(e) => return Err(card_error(e)),
        };
        if record.cancelled {
            return Ok(false);
        }
        let written = record.body.as_ref() == Some(&card_plan.body) && entries == card_plan.prescriptions;
        if written && let Some(form) = plan.signed_form.as_deref() {
            let form = SequenceForm::from_bytes(form).map_err(card_error)?;
            let outcome = VisitOutcome {
                basic: card.clone(),
                visit_code: form.visit_code.clone(),
                visited_at: form.visit_datetime,
                visit_type: card_plan.visit_type,
                sequence: form.sequence,
                form: Some(form),
                prescription_signatures: Vec::new(),
                card_written: true,
                read_back: Some(record),
                abnormal: None,
            };
            self.commit_outcome(plan, &outcome)?;
            tracing::info!(target: "homevisit::app", visit_id = %plan.visit_id, "a visit found on the card was committed");
            return Ok(true);
        }
        // Registered on the card but not written (or not signed yet): the same plan again gives
        // the same sequence number.
        let progress = KeepSigned {
            app: self,
            request_id,
            plan,
        };
        let outcome = run_visit_with(channel, sam.as_ref(), &self.codes, &card_plan, &progress)
            .await
            .map_err(card_error)?;
        if outcome.abnormal.is_some() {
            // The SAM went away meanwhile: the caller's retry decides the abnormal course.
            return Ok(false);
        }
        self.commit_outcome(plan, &outcome)?;
        Ok(true)
    }
}

/// The SAM of a device not enrolled yet, used only offline (where it is never called).
struct NoSam;

#[async_trait::async_trait]
impl SamAuthority for NoSam {
    fn sam_id(&self) -> String {
        String::new()
    }
    async fn begin_card_auth(&self, _: &str, _: [u8; 8]) -> Result<SamChallenge, SamError> {
        Err(SamError::Unreachable("the device is not enrolled".into()))
    }
    async fn verify_card(&self, _: &str, _: [u8; 32]) -> Result<(), SamError> {
        Err(SamError::Unreachable("the device is not enrolled".into()))
    }
    async fn sign_visit(&self, _: &VisitSignRequest) -> Result<VisitSignature, SamError> {
        Err(SamError::Unreachable("the device is not enrolled".into()))
    }
}

// ── The visit's role and care stage (issue 14 item 7: fee codes, case type, department) ──────────

impl VisitSession {
    /// Sets who gives the care (`role`) and under which case (`stage`): the visit's fee code, claim
    /// case type, order department and the prescription's case type / department / copayment come
    /// from them. Refused when an order already on the visit is a fee code of another role or stage.
    pub fn set_care(&self, role: crate::model::Role, stage: crate::model::CareStage) -> Result<(), AppError> {
        let mut d = self.draft_mut();
        for o in &d.orders {
            crate::rules::fees::check_fee_for(&o.code, role, stage).map_err(AppError::from)?;
        }
        d.context.role = Some(role);
        d.context.care_stage = Some(stage);
        Ok(())
    }

    /// Adds the visit fee the fee table proposes for the role and stage set with
    /// [`Self::set_care`] (`remote`: the remote-area code where there is one, e.g. `05308C`);
    /// returns its code. Refused before `set_care`, or for a role without a home-visit fee code.
    pub fn add_visit_fee(&self, remote: bool) -> Result<String, AppError> {
        let (role, stage) = {
            let d = self.draft_mut();
            match (d.context.role, d.context.care_stage) {
                (Some(r), Some(s)) => (r, s),
                _ => return Err(super::input::invalid("care", "set the role and care stage first")),
            }
        };
        let fee = crate::rules::fees::visit_fee(role, stage, remote)
            .ok_or_else(|| super::input::invalid("fee_code", "this role has no home-visit fee code"))?;
        if self.draft_mut().orders.iter().any(|o| o.code == fee.code) {
            return Ok(fee.code.clone());
        }
        self.push_orders(vec![Order::treatment(&fee.code, 1.0)])?;
        Ok(fee.code.clone())
    }
}
