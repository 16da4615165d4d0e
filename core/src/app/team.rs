//! The care team's shared record through the facade: [`HomeVisit::team`] hands out the
//! [`TeamService`]. Every rule is `crate::team::rules` (the functions the simulator runs on each
//! write); this file only loads, applies, stores and queues.
//!
//! **Offline first.** Every write (special notes, access control, a care plan version, a visit
//! record, a message, a phone consultation) is checked here, queued in the one outbox as a
//! `team_write` job (one per revision: key `team:<op>:<id>:<rev>`) and applied to the sealed
//! cache (one kv entry per case). The job is queued before the cache is written; what a device
//! shows is the last pulled copy with every pending write laid over it, so a crash between the two
//! loses nothing and a pull never hides a write not yet sent.
//!
//! **Access mirrored.** A case is shown only while its access control lets this institution see
//! it; [`TeamService::refresh`] (online) replaces the cache with what the simulator says the
//! institution may see and purges every other case (a withdrawn access removes the case, its
//! read marks and its cached records from the device). A write the simulator refuses (its rule's
//! code and field) parks its job as rejected, kept with the server's reason.

use super::record_service::{ServiceParts, StepHook};
use super::{AppError, HomeVisit};
use crate::model::care::Role;
use crate::model::roc::RocDateTime;
use crate::platform::Connectivity;
use crate::store::{Store, StoreError};
use crate::sync::job::JobKind;
use crate::team::model::{
    CarePlan, CaseFile, Consultation, Message, PlanContent, SharedCase, TeamMember, VisitRecord,
};
use crate::team::rules::{self, Violation};
use crate::team::wire::{self, TeamWrite};
use crate::team::{outbox, schedule, store as cache};
use chrono::NaiveDate;
use std::sync::Arc;

/// The one conversion of a broken shared-record rule into the public error: a bad input is
/// [`AppError::Validation`]; an authority rule (enrolling institution, author, access) is
/// [`AppError::Rejected`] with the rule's code and field, as the simulator would answer.
pub(crate) fn violation(v: Violation) -> AppError {
    match v {
        Violation::Invalid { field, reason } => AppError::Validation {
            field: field.into(),
            reason,
        },
        other => AppError::Rejected {
            code: other.code().into(),
            field: Some(other.field().into()),
            reason: other.to_string(),
        },
    }
}

/// What [`TeamService::refresh`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TeamRefresh {
    /// Cases the institution may see now.
    pub cases: u32,
    /// Cases removed from this device (access withdrawn, or closed).
    pub purged: u32,
}

/// A visit record as a screen hands it over. `id` empty: a new record; else the record to edit.
/// `next_visit_date` `None`: proposed from the current care plan's frequency.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordInput {
    /// The record to edit (empty: new).
    pub id: String,
    /// Whose record.
    pub role: Role,
    /// The visit date.
    pub visit_date: NaiveDate,
    /// The next visit date (`None`: proposed).
    pub next_visit_date: Option<NaiveDate>,
    /// Health status.
    pub health_status: String,
    /// Problem description.
    pub problem: String,
    /// Service content.
    pub service: String,
    /// The card visit's visit identification code.
    pub visit_code: Option<String>,
}

impl std::fmt::Debug for RecordInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordInput(<redacted>)")
    }
}

/// The shared-record service of one app (see the module docs).
pub struct TeamService {
    parts: ServiceParts,
}

impl std::fmt::Debug for TeamService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamService")
            .field("institution", &self.parts.institution)
            .finish_non_exhaustive()
    }
}

impl HomeVisit {
    /// The care team's shared record.
    pub fn team(&self) -> Arc<TeamService> {
        self.team.clone()
    }
}

impl TeamService {
    pub(crate) fn new(parts: ServiceParts) -> Self {
        Self { parts }
    }

    /// Sets the crash tests' progress hook.
    #[cfg(feature = "inspect")]
    pub fn set_step_hook(&self, hook: Option<StepHook>) {
        self.parts.set_step_hook(hook);
    }

    fn step(&self, name: &str) {
        self.parts.step(name);
    }

    fn me(&self) -> &str {
        self.parts.institution.as_str()
    }

    fn now_ms(&self) -> Result<i64, AppError> {
        Ok(RocDateTime::now(self.parts.clock.as_ref())
            .map_err(|_| AppError::Internal)?
            .unix_ms())
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.parts.guard()
    }

    /// The writes still owed to the simulator, in queue order.
    fn pending_writes(&self) -> Result<Vec<TeamWrite>, AppError> {
        let mut out = Vec::new();
        for job in self.parts.store.unfinished_jobs()? {
            if job.kind == JobKind::TeamWrite
                && job.state.is_pending()
                && let Ok(w) = serde_json::from_slice::<TeamWrite>(&job.payload)
            {
                out.push(w);
            }
        }
        Ok(out)
    }

    fn members_of(&self, team: &str) -> Result<Vec<String>, AppError> {
        Ok(cache::members(&self.parts.store)?
            .into_iter()
            .filter(|m| m.team == team)
            .map(|m| m.institution)
            .collect())
    }

    /// Lays the pending writes of `file`'s case over it (a write already in the file is a
    /// duplicate and changes nothing).
    fn overlay(&self, file: &mut CaseFile, pending: &[TeamWrite]) -> Result<(), AppError> {
        let members = self.members_of(&file.case.team)?;
        let case_id = file.case.case_id.clone();
        for w in pending.iter().filter(|w| w.case_id() == case_id) {
            let members = if members.is_empty() {
                file.case.access.clone()
            } else {
                members.clone()
            };
            let _ = rules::apply(file, &members, self.me(), w);
        }
        Ok(())
    }

    /// The case as this device shows it: the cached copy with the pending writes over it, only if
    /// the institution may see it.
    fn load(&self, case_id: &str) -> Result<CaseFile, AppError> {
        let not_found = || AppError::NotFound { what: "case".into() };
        let mut file = cache::get(&self.parts.store, case_id)?.ok_or_else(not_found)?;
        if !rules::may_see(&file.case, self.me()) {
            return Err(not_found());
        }
        let pending = self.pending_writes()?;
        self.overlay(&mut file, &pending)?;
        if let Some(view) = rules::view_for(&file, self.me()) {
            return Ok(view);
        }
        Err(not_found())
    }

    /// Checks `write` against the case, queues it, then caches the result.
    fn write(&self, write: TeamWrite) -> Result<CaseFile, AppError> {
        let mut file = self.load(write.case_id())?;
        let members = match self.members_of(&file.case.team)? {
            m if m.is_empty() => file.case.access.clone(),
            m => m,
        };
        rules::apply(&mut file, &members, self.me(), &write).map_err(violation)?;
        let job = outbox::job(&write).map_err(|e| AppError::from(StoreError::from(e)))?;
        let job_id = crate::referral::store::enqueue_once(&self.parts.store, job)?;
        self.step("queued");
        // The cache keeps the pulled copy's shape: the write is laid over it on every read, and
        // stored here so the file is whole even after its job is done and before the next pull.
        cache::put(&self.parts.store, &file)?;
        self.step("cached");
        tracing::info!(target: "homevisit::app", op = write.op(), "team write queued");
        self.parts
            .listeners
            .notify_changed(self.parts.store.as_ref(), &[job_id]);
        if self.parts.connectivity.is_online() {
            self.parts.sync.wake();
        }
        Ok(file)
    }

    /// The cases this institution may see, from the cache.
    pub fn cases(&self) -> Result<Vec<SharedCase>, AppError> {
        let mut out = Vec::new();
        for f in cache::all(&self.parts.store)? {
            if rules::may_see(&f.case, self.me())
                && let Ok(v) = self.load(&f.case.case_id)
            {
                out.push(v.case);
            }
        }
        Ok(out)
    }

    /// Everything of one case this institution may see ([`AppError::NotFound`] otherwise).
    pub fn case_file(&self, case_id: &str) -> Result<CaseFile, AppError> {
        self.load(case_id)
    }

    /// The enrolling institution edits the special notes (another institution:
    /// [`AppError::Rejected`] `not_enrolling_institution`, field `special_notes`).
    pub fn set_special_notes(&self, case_id: &str, notes: &str) -> Result<SharedCase, AppError> {
        let _g = self.guard();
        let c = self.load(case_id)?.case;
        Ok(self
            .write(TeamWrite::Case {
                case_id: c.case_id.clone(),
                special_notes: notes.trim().to_string(),
                access: c.access.clone(),
                rev: c.rev + 1,
            })?
            .case)
    }

    /// The enrolling institution sets which team institutions may see and discuss the case.
    pub fn set_access(&self, case_id: &str, institutions: Vec<String>) -> Result<SharedCase, AppError> {
        let _g = self.guard();
        let c = self.load(case_id)?.case;
        let mut access: Vec<String> = institutions.iter().map(|i| i.trim().to_string()).collect();
        access.sort();
        access.dedup();
        Ok(self
            .write(TeamWrite::Case {
                case_id: c.case_id.clone(),
                special_notes: c.special_notes.clone(),
                access,
                rev: c.rev + 1,
            })?
            .case)
    }

    /// Every care plan version, newest first (deleted ones included, marked).
    pub fn plans(&self, case_id: &str) -> Result<Vec<CarePlan>, AppError> {
        let mut plans = self.load(case_id)?.plans;
        plans.sort_by(|a, b| (b.created_ms, &b.id).cmp(&(a.created_ms, &a.id)));
        Ok(plans)
    }

    /// The newest care plan version (the one the screen opens on), if any.
    pub fn current_plan(&self, case_id: &str) -> Result<Option<CarePlan>, AppError> {
        Ok(self.load(case_id)?.current_plan().cloned())
    }

    /// Adds a care plan version (copy-then-edit: `copied_from` names the version it started
    /// from, usually the current one).
    pub fn add_plan(
        &self,
        case_id: &str,
        content: PlanContent,
        copied_from: Option<String>,
    ) -> Result<CarePlan, AppError> {
        let _g = self.guard();
        let plan = CarePlan {
            id: Store::new_id(),
            case_id: case_id.to_string(),
            author: self.me().to_string(),
            copied_from,
            content,
            corrections: Vec::new(),
            deleted: false,
            created_ms: self.now_ms()?,
            rev: 1,
        };
        self.write(TeamWrite::Plan(plan.clone()))?;
        Ok(plan)
    }

    fn newest_own_plan(&self, case_id: &str, plan_id: &str, action: &str) -> Result<CarePlan, AppError> {
        let file = self.load(case_id)?;
        let Some(plan) = file.plans.iter().find(|p| p.id == plan_id).cloned() else {
            return Err(AppError::NotFound { what: "plan".into() });
        };
        // The seed's screen corrects or deletes only the newest version.
        if file.current_plan().map(|p| p.id.as_str()) != Some(plan_id) {
            return Err(AppError::WrongState {
                action: action.into(),
                state: if plan.deleted { "deleted" } else { "not_newest" }.into(),
            });
        }
        Ok(plan)
    }

    /// Corrects the newest version (its author only); the corrected content stays in its history.
    pub fn correct_plan(
        &self,
        case_id: &str,
        plan_id: &str,
        content: PlanContent,
    ) -> Result<CarePlan, AppError> {
        let _g = self.guard();
        let mut plan = self.newest_own_plan(case_id, plan_id, "correct")?;
        plan.corrections.push(plan.content.clone());
        plan.content = content;
        plan.rev += 1;
        self.write(TeamWrite::Plan(plan.clone()))?;
        Ok(plan)
    }

    /// Deletes the newest version (its author only): marked deleted, kept in the history.
    pub fn delete_plan(&self, case_id: &str, plan_id: &str) -> Result<CarePlan, AppError> {
        let _g = self.guard();
        let mut plan = self.newest_own_plan(case_id, plan_id, "delete")?;
        plan.deleted = true;
        plan.rev += 1;
        self.write(TeamWrite::Plan(plan.clone()))?;
        Ok(plan)
    }

    /// The next visit date proposed for a visit on `visit_date` by the current care plan's
    /// frequency (`None` without a plan).
    pub fn propose_next_visit(
        &self,
        case_id: &str,
        visit_date: NaiveDate,
    ) -> Result<Option<NaiveDate>, AppError> {
        match self.current_plan(case_id)? {
            None => Ok(None),
            Some(p) => schedule::next_visit_date(visit_date, &p.content.frequency)
                .map(Some)
                .map_err(violation),
        }
    }

    /// Saves a visit record (new, or an edit of this institution's own): the next visit date is
    /// proposed from the care plan when not given.
    pub fn save_record(&self, case_id: &str, input: RecordInput) -> Result<VisitRecord, AppError> {
        let _g = self.guard();
        let next = match input.next_visit_date {
            Some(d) => Some(d),
            None => self.propose_next_visit(case_id, input.visit_date)?,
        };
        let (id, rev) = if input.id.trim().is_empty() {
            (Store::new_id(), 1)
        } else {
            let file = self.load(case_id)?;
            let old = file
                .records
                .iter()
                .find(|r| r.id == input.id.trim())
                .ok_or_else(|| AppError::NotFound {
                    what: "record".into(),
                })?;
            (old.id.clone(), old.rev + 1)
        };
        let record = VisitRecord {
            id,
            case_id: case_id.to_string(),
            author: self.me().to_string(),
            role: input.role,
            visit_date: input.visit_date,
            next_visit_date: next,
            health_status: input.health_status.trim().to_string(),
            problem: input.problem.trim().to_string(),
            service: input.service.trim().to_string(),
            visit_code: input
                .visit_code
                .map(|c| c.trim().to_ascii_uppercase())
                .filter(|c| !c.is_empty()),
            rev,
        };
        self.write(TeamWrite::Record(record.clone()))?;
        Ok(record)
    }

    /// Visit records with a visit date in `from..=to`, newest first.
    pub fn records(
        &self,
        case_id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<VisitRecord>, AppError> {
        if to < from {
            return Err(super::input::invalid("to", "must not be before from"));
        }
        let mut out: Vec<_> = self
            .load(case_id)?
            .records
            .into_iter()
            .filter(|r| r.visit_date >= from && r.visit_date <= to)
            .collect();
        out.sort_by(|a, b| (b.visit_date, &b.id).cmp(&(a.visit_date, &a.id)));
        Ok(out)
    }

    /// The latest health status recorded (the health-status tab's default).
    pub fn latest_health_status(&self, case_id: &str) -> Result<Option<VisitRecord>, AppError> {
        Ok(self
            .load(case_id)?
            .records
            .into_iter()
            .filter(|r| !r.health_status.is_empty())
            .max_by(|a, b| (a.visit_date, &a.id).cmp(&(b.visit_date, &b.id))))
    }

    /// Posts a message to the whole team (`to` empty) or to chosen institutions, or a reply.
    pub fn post_message(
        &self,
        case_id: &str,
        text: &str,
        to: Vec<String>,
        reply_to: Option<String>,
    ) -> Result<Message, AppError> {
        let _g = self.guard();
        let m = Message {
            id: Store::new_id(),
            case_id: case_id.to_string(),
            author: self.me().to_string(),
            to: to.iter().map(|t| t.trim().to_string()).collect(),
            reply_to: reply_to.filter(|r| !r.trim().is_empty()),
            text: text.trim().to_string(),
            created_ms: self.now_ms()?,
            rev: 1,
        };
        self.write(TeamWrite::Message(m.clone()))?;
        cache::mark_read(&self.parts.store, case_id, [m.id.clone()])?;
        Ok(m)
    }

    /// The case's messages this institution sees, newest first.
    pub fn messages(&self, case_id: &str) -> Result<Vec<Message>, AppError> {
        let mut m = self.load(case_id)?.messages;
        m.sort_by(|a, b| (b.created_ms, &b.id).cmp(&(a.created_ms, &a.id)));
        Ok(m)
    }

    /// The replies to `message_id`, oldest first.
    pub fn replies(&self, case_id: &str, message_id: &str) -> Result<Vec<Message>, AppError> {
        let mut m: Vec<_> = self
            .load(case_id)?
            .messages
            .into_iter()
            .filter(|m| m.reply_to.as_deref() == Some(message_id))
            .collect();
        m.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(m)
    }

    fn all_visible(&self) -> Result<Vec<CaseFile>, AppError> {
        let mut out = Vec::new();
        for f in cache::all(&self.parts.store)? {
            if let Ok(v) = self.load(&f.case.case_id) {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// "My messages": what this institution posted, newest first, over every case.
    pub fn my_messages(&self) -> Result<Vec<Message>, AppError> {
        let mut out: Vec<Message> = self
            .all_visible()?
            .into_iter()
            .flat_map(|f| f.messages)
            .filter(|m| m.author == self.me())
            .collect();
        out.sort_by(|a, b| (b.created_ms, &b.id).cmp(&(a.created_ms, &a.id)));
        Ok(out)
    }

    /// The unread notifications (最新留言): messages from other institutions this one sees and
    /// has not read on this device, newest first.
    pub fn unread(&self) -> Result<Vec<Message>, AppError> {
        let mut out = Vec::new();
        for f in self.all_visible()? {
            let read = cache::read_ids(&self.parts.store, &f.case.case_id)?;
            out.extend(
                f.messages
                    .into_iter()
                    .filter(|m| m.author != self.me() && !read.contains(&m.id)),
            );
        }
        out.sort_by(|a, b| (b.created_ms, &b.id).cmp(&(a.created_ms, &a.id)));
        Ok(out)
    }

    /// How many unread notifications there are.
    pub fn unread_count(&self) -> Result<u32, AppError> {
        Ok(self.unread()?.len() as u32)
    }

    /// Marks every message of the case as read on this device.
    pub fn mark_read(&self, case_id: &str) -> Result<(), AppError> {
        let ids: Vec<String> = self.load(case_id)?.messages.into_iter().map(|m| m.id).collect();
        cache::mark_read(&self.parts.store, case_id, ids)?;
        Ok(())
    }

    /// Logs a 24-hour phone consultation (the call's time, the question; answered later).
    pub fn log_call(&self, case_id: &str, called_ms: i64, question: &str) -> Result<Consultation, AppError> {
        let _g = self.guard();
        let c = Consultation {
            id: Store::new_id(),
            case_id: case_id.to_string(),
            author: self.me().to_string(),
            called_ms,
            question: question.trim().to_string(),
            responder: String::new(),
            answer: String::new(),
            rev: 1,
        };
        self.write(TeamWrite::Consultation(c.clone()))?;
        Ok(c)
    }

    /// Answers (or corrects the answer of) a consultation this institution logged.
    pub fn answer_call(
        &self,
        case_id: &str,
        id: &str,
        responder: &str,
        answer: &str,
    ) -> Result<Consultation, AppError> {
        let _g = self.guard();
        let mut c = self
            .load(case_id)?
            .consultations
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| AppError::NotFound {
                what: "consultation".into(),
            })?;
        c.responder = responder.trim().to_string();
        c.answer = answer.trim().to_string();
        c.rev += 1;
        self.write(TeamWrite::Consultation(c.clone()))?;
        Ok(c)
    }

    /// The case's phone consultations, newest call first.
    pub fn calls(&self, case_id: &str) -> Result<Vec<Consultation>, AppError> {
        let mut c = self.load(case_id)?.consultations;
        c.sort_by(|a, b| (b.called_ms, &b.id).cmp(&(a.called_ms, &a.id)));
        Ok(c)
    }

    /// The team member query: the institutions of this institution's care teams and their
    /// current cases (as of the last refresh).
    pub fn members(&self) -> Result<Vec<TeamMember>, AppError> {
        Ok(cache::members(&self.parts.store)?)
    }

    /// Pulls what the simulator says this institution may see (online): replaces the cached
    /// cases and purges every other one (cache included). Pending writes stay queued and are
    /// laid over the new copy. Offline → [`AppError::Network`].
    pub async fn refresh(&self) -> Result<TeamRefresh, AppError> {
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

    fn merge(&self, resp: wire::SyncResponse) -> Result<TeamRefresh, AppError> {
        let mut summary = TeamRefresh::default();
        let keep: Vec<&str> = resp
            .files
            .iter()
            .filter(|f| rules::may_see(&f.case, self.me()))
            .map(|f| f.case.case_id.as_str())
            .collect();
        for old in self.parts.store.kv_keys(cache::NAMESPACE)? {
            if !keep.contains(&old.as_str()) {
                cache::purge(&self.parts.store, &old)?;
                summary.purged += 1;
            }
        }
        for f in &resp.files {
            if rules::may_see(&f.case, self.me()) {
                cache::put(&self.parts.store, f)?;
                summary.cases += 1;
            }
        }
        cache::put_members(&self.parts.store, &resp.members)?;
        Ok(summary)
    }
}

impl SharedCase {
    /// The patient's name as lists show it (`王○明`).
    pub fn masked_name(&self) -> String {
        super::view::mask_name(&self.basics.name)
    }

    /// The patient's national ID as lists show it.
    pub fn masked_id(&self) -> String {
        super::view::mask_id(&self.basics.national_id)
    }
}

/// Parses a ROC `YYYMMDD` date of the shared record (`field` names it in the error).
pub fn team_date(field: &'static str, text: &str) -> Result<NaiveDate, AppError> {
    crate::model::roc::RocDate::parse(text.trim())
        .map(|d| d.naive())
        .map_err(|_| super::input::invalid(field, "must be a ROC date YYYMMDD"))
}

/// A date as ROC `YYYMMDD` (empty when outside the ROC calendar).
pub fn team_date_text(date: NaiveDate) -> String {
    crate::model::roc::RocDate::from_naive(date)
        .map(|d| d.to_roc_string())
        .unwrap_or_default()
}
