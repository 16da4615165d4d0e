//! The care team's shared record: `HomeVisitApp.team()` → [`TeamService`]. Thin wrappers over
//! `homevisit_core::app::TeamService`; every rule, proposal, parse and mask is the core's. Cases,
//! records, messages and consultations carry patient data or free text, so they are objects with
//! accessors (never printed by a generated `toString`); the frequency, the members and the
//! refresh summary are plain records. Dates are ROC `YYYMMDD` text.

use crate::app::HomeVisitApp;
use crate::error::{HomeVisitError, guard, guard_async};
use homevisit_core::app::{self as core_app, RecordInput, team_date, team_date_text};
use homevisit_core::model::care::Role;
use homevisit_core::team::{self as t, FrequencyUnit as CoreUnit};
use std::sync::Arc;

/// The roles that keep visit records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TeamRole {
    /// Physician.
    Doctor,
    /// Nurse.
    Nurse,
    /// Respiratory therapist.
    RespiratoryTherapist,
    /// Clinical psychologist.
    ClinicalPsychologist,
    /// Social worker.
    SocialWorker,
    /// Another role (refused for visit records by the core; shown if met).
    Other,
}

impl From<TeamRole> for Role {
    fn from(r: TeamRole) -> Self {
        match r {
            TeamRole::Doctor => Role::Doctor,
            TeamRole::Nurse => Role::Nurse,
            TeamRole::RespiratoryTherapist => Role::RespiratoryTherapist,
            TeamRole::ClinicalPsychologist => Role::ClinicalPsychologist,
            TeamRole::SocialWorker => Role::SocialWorker,
            // The core refuses it with field `role`.
            TeamRole::Other => Role::Pharmacist,
        }
    }
}

impl From<Role> for TeamRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Doctor => TeamRole::Doctor,
            Role::Nurse => TeamRole::Nurse,
            Role::RespiratoryTherapist => TeamRole::RespiratoryTherapist,
            Role::ClinicalPsychologist => TeamRole::ClinicalPsychologist,
            Role::SocialWorker => TeamRole::SocialWorker,
            _ => TeamRole::Other,
        }
    }
}

/// The unit of a visit frequency's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FrequencyUnit {
    /// Days.
    Day,
    /// Weeks.
    Week,
    /// Calendar months.
    Month,
}

/// `times` visits every `every` `unit`s (每 2 週 1 次).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct VisitFrequency {
    pub times: u8,
    pub every: u16,
    pub unit: FrequencyUnit,
}

impl From<VisitFrequency> for t::VisitFrequency {
    fn from(f: VisitFrequency) -> Self {
        t::VisitFrequency {
            times: f.times,
            every: f.every,
            unit: match f.unit {
                FrequencyUnit::Day => CoreUnit::Day,
                FrequencyUnit::Week => CoreUnit::Week,
                FrequencyUnit::Month => CoreUnit::Month,
            },
        }
    }
}

impl From<t::VisitFrequency> for VisitFrequency {
    fn from(f: t::VisitFrequency) -> Self {
        VisitFrequency {
            times: f.times,
            every: f.every,
            unit: match f.unit {
                CoreUnit::Day => FrequencyUnit::Day,
                CoreUnit::Week => FrequencyUnit::Week,
                CoreUnit::Month => FrequencyUnit::Month,
            },
        }
    }
}

/// A shared case (the basic-data tab).
#[derive(uniffi::Object)]
pub struct TeamCase {
    case: t::SharedCase,
}

#[uniffi::export]
impl TeamCase {
    pub fn case_id(&self) -> String {
        self.case.case_id.clone()
    }
    /// The care team code.
    pub fn team(&self) -> String {
        self.case.team.clone()
    }
    /// The enrolling institution (the only one that edits notes and access).
    pub fn enrolling(&self) -> String {
        self.case.enrolling.clone()
    }
    pub fn special_notes(&self) -> String {
        self.case.special_notes.clone()
    }
    /// Team institutions the case is shared with.
    pub fn access(&self) -> Vec<String> {
        self.case.access.clone()
    }
    pub fn patient_name(&self) -> String {
        self.case.basics.name.clone()
    }
    pub fn national_id(&self) -> String {
        self.case.basics.national_id.clone()
    }
    /// The patient's name, masked (`王○明`).
    pub fn patient_name_masked(&self) -> String {
        self.case.masked_name()
    }
    /// The patient's ID, masked.
    pub fn national_id_masked(&self) -> String {
        self.case.masked_id()
    }
    /// Birth date, ROC `YYYMMDD` (empty when unknown).
    pub fn birth_date(&self) -> String {
        self.case
            .basics
            .birth_date
            .map(team_date_text)
            .unwrap_or_default()
    }
    pub fn sex(&self) -> String {
        self.case.basics.sex.clone()
    }
}

/// One care plan version.
#[derive(uniffi::Object)]
pub struct CarePlanVersion {
    plan: t::CarePlan,
}

#[uniffi::export]
impl CarePlanVersion {
    pub fn id(&self) -> String {
        self.plan.id.clone()
    }
    pub fn author(&self) -> String {
        self.plan.author.clone()
    }
    pub fn goals(&self) -> String {
        self.plan.content.goals.clone()
    }
    pub fn frequency(&self) -> VisitFrequency {
        self.plan.content.frequency.into()
    }
    /// The version it was copied from.
    pub fn copied_from(&self) -> Option<String> {
        self.plan.copied_from.clone()
    }
    /// How many times it was corrected (earlier contents kept).
    pub fn corrections(&self) -> u32 {
        u32::try_from(self.plan.corrections.len()).unwrap_or(u32::MAX)
    }
    pub fn deleted(&self) -> bool {
        self.plan.deleted
    }
    pub fn created_ms(&self) -> i64 {
        self.plan.created_ms
    }
}

/// A visit record as the screen fills it (`id` empty: new; next visit date `None`: proposed).
#[derive(uniffi::Object)]
pub struct TeamRecordDraft {
    input: RecordInput,
}

#[uniffi::export]
impl TeamRecordDraft {
    /// A draft; dates ROC `YYYMMDD`.
    #[uniffi::constructor]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        role: TeamRole,
        visit_date: String,
        next_visit_date: Option<String>,
        health_status: String,
        problem: String,
        service: String,
        visit_code: Option<String>,
    ) -> Result<Arc<Self>, HomeVisitError> {
        guard(|| {
            let next = match next_visit_date.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(d) => Some(team_date("next_visit_date", d)?),
            };
            Ok(Arc::new(Self {
                input: RecordInput {
                    id,
                    role: role.into(),
                    visit_date: team_date("visit_date", &visit_date)?,
                    next_visit_date: next,
                    health_status,
                    problem,
                    service,
                    visit_code,
                },
            }))
        })
    }
}

/// A visit record.
#[derive(uniffi::Object)]
pub struct TeamVisitRecord {
    record: t::VisitRecord,
}

#[uniffi::export]
impl TeamVisitRecord {
    pub fn id(&self) -> String {
        self.record.id.clone()
    }
    pub fn author(&self) -> String {
        self.record.author.clone()
    }
    pub fn role(&self) -> TeamRole {
        self.record.role.into()
    }
    /// ROC `YYYMMDD`.
    pub fn visit_date(&self) -> String {
        team_date_text(self.record.visit_date)
    }
    /// ROC `YYYMMDD` (proposed from the care plan unless typed).
    pub fn next_visit_date(&self) -> Option<String> {
        self.record.next_visit_date.map(team_date_text)
    }
    pub fn health_status(&self) -> String {
        self.record.health_status.clone()
    }
    pub fn problem(&self) -> String {
        self.record.problem.clone()
    }
    pub fn service(&self) -> String {
        self.record.service.clone()
    }
    pub fn visit_code(&self) -> Option<String> {
        self.record.visit_code.clone()
    }
    pub fn revision(&self) -> u32 {
        self.record.rev
    }
}

/// A discussion message or reply.
#[derive(uniffi::Object)]
pub struct TeamMessage {
    message: t::Message,
}

#[uniffi::export]
impl TeamMessage {
    pub fn id(&self) -> String {
        self.message.id.clone()
    }
    pub fn case_id(&self) -> String {
        self.message.case_id.clone()
    }
    pub fn author(&self) -> String {
        self.message.author.clone()
    }
    /// Addressed institutions (empty: the whole team).
    pub fn to(&self) -> Vec<String> {
        self.message.to.clone()
    }
    pub fn reply_to(&self) -> Option<String> {
        self.message.reply_to.clone()
    }
    pub fn text(&self) -> String {
        self.message.text.clone()
    }
    pub fn created_ms(&self) -> i64 {
        self.message.created_ms
    }
}

/// A 24-hour phone consultation.
#[derive(uniffi::Object)]
pub struct PhoneConsultation {
    call: t::Consultation,
}

#[uniffi::export]
impl PhoneConsultation {
    pub fn id(&self) -> String {
        self.call.id.clone()
    }
    pub fn author(&self) -> String {
        self.call.author.clone()
    }
    pub fn called_ms(&self) -> i64 {
        self.call.called_ms
    }
    pub fn question(&self) -> String {
        self.call.question.clone()
    }
    pub fn responder(&self) -> String {
        self.call.responder.clone()
    }
    pub fn answer(&self) -> String {
        self.call.answer.clone()
    }
}

/// A team institution and its current cases.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TeamMember {
    pub team: String,
    pub institution: String,
    pub enrolled_cases: u32,
    pub shared_cases: u32,
}

/// What a refresh changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct TeamRefresh {
    /// Cases the institution may see now.
    pub cases: u32,
    /// Cases removed from this device (access withdrawn, or closed).
    pub purged: u32,
}

/// The shared-record service (see `homevisit_core::app::TeamService`).
#[derive(uniffi::Object)]
pub struct TeamService {
    inner: Arc<core_app::TeamService>,
}

#[uniffi::export]
impl HomeVisitApp {
    /// The care team's shared record.
    pub fn team(&self) -> Arc<TeamService> {
        Arc::new(TeamService {
            inner: self.inner.team(),
        })
    }
}

fn case(c: t::SharedCase) -> Arc<TeamCase> {
    Arc::new(TeamCase { case: c })
}
fn plan(p: t::CarePlan) -> Arc<CarePlanVersion> {
    Arc::new(CarePlanVersion { plan: p })
}
fn record(r: t::VisitRecord) -> Arc<TeamVisitRecord> {
    Arc::new(TeamVisitRecord { record: r })
}
fn message(m: t::Message) -> Arc<TeamMessage> {
    Arc::new(TeamMessage { message: m })
}
fn call(c: t::Consultation) -> Arc<PhoneConsultation> {
    Arc::new(PhoneConsultation { call: c })
}
fn content(goals: String, frequency: VisitFrequency) -> t::PlanContent {
    t::PlanContent {
        goals,
        frequency: frequency.into(),
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl TeamService {
    /// The cases this institution may see (from the device).
    pub fn cases(&self) -> Result<Vec<Arc<TeamCase>>, HomeVisitError> {
        guard(|| Ok(self.inner.cases()?.into_iter().map(case).collect()))
    }

    /// One case (`not_found` when this institution may not see it).
    pub fn get_case(&self, case_id: String) -> Result<Arc<TeamCase>, HomeVisitError> {
        guard(|| Ok(case(self.inner.case_file(&case_id)?.case)))
    }

    /// The enrolling institution edits the special notes (others: `rejected`,
    /// `not_enrolling_institution`, field `special_notes`).
    pub fn set_special_notes(&self, case_id: String, notes: String) -> Result<Arc<TeamCase>, HomeVisitError> {
        guard(|| Ok(case(self.inner.set_special_notes(&case_id, &notes)?)))
    }

    /// The enrolling institution sets who may see and discuss the case.
    pub fn set_access(
        &self,
        case_id: String,
        institutions: Vec<String>,
    ) -> Result<Arc<TeamCase>, HomeVisitError> {
        guard(|| Ok(case(self.inner.set_access(&case_id, institutions)?)))
    }

    /// Every care plan version, newest first (deleted ones included).
    pub fn plans(&self, case_id: String) -> Result<Vec<Arc<CarePlanVersion>>, HomeVisitError> {
        guard(|| Ok(self.inner.plans(&case_id)?.into_iter().map(plan).collect()))
    }

    /// The newest care plan version.
    pub fn current_plan(&self, case_id: String) -> Result<Option<Arc<CarePlanVersion>>, HomeVisitError> {
        guard(|| Ok(self.inner.current_plan(&case_id)?.map(plan)))
    }

    /// Adds a version (copy-then-edit: `copied_from` names the version started from).
    pub fn add_plan(
        &self,
        case_id: String,
        goals: String,
        frequency: VisitFrequency,
        copied_from: Option<String>,
    ) -> Result<Arc<CarePlanVersion>, HomeVisitError> {
        guard(|| {
            Ok(plan(self.inner.add_plan(
                &case_id,
                content(goals, frequency),
                copied_from,
            )?))
        })
    }

    /// Corrects the newest version (its author only; the earlier content is kept).
    pub fn correct_plan(
        &self,
        case_id: String,
        plan_id: String,
        goals: String,
        frequency: VisitFrequency,
    ) -> Result<Arc<CarePlanVersion>, HomeVisitError> {
        guard(|| {
            Ok(plan(self.inner.correct_plan(
                &case_id,
                &plan_id,
                content(goals, frequency),
            )?))
        })
    }

    /// Deletes the newest version (its author only; kept in the history, marked).
    pub fn delete_plan(
        &self,
        case_id: String,
        plan_id: String,
    ) -> Result<Arc<CarePlanVersion>, HomeVisitError> {
        guard(|| Ok(plan(self.inner.delete_plan(&case_id, &plan_id)?)))
    }

    /// The next visit date the care plan proposes for a visit on `visit_date` (ROC `YYYMMDD`).
    pub fn propose_next_visit(
        &self,
        case_id: String,
        visit_date: String,
    ) -> Result<Option<String>, HomeVisitError> {
        guard(|| {
            let date = team_date("visit_date", &visit_date)?;
            Ok(self.inner.propose_next_visit(&case_id, date)?.map(team_date_text))
        })
    }

    /// Saves a visit record (offline too; queued).
    pub fn save_record(
        &self,
        case_id: String,
        draft: Arc<TeamRecordDraft>,
    ) -> Result<Arc<TeamVisitRecord>, HomeVisitError> {
        guard(|| Ok(record(self.inner.save_record(&case_id, draft.input.clone())?)))
    }

    /// Visit records with a visit date in `from..=to` (ROC `YYYMMDD`), newest first.
    pub fn records(
        &self,
        case_id: String,
        from: String,
        to: String,
    ) -> Result<Vec<Arc<TeamVisitRecord>>, HomeVisitError> {
        guard(|| {
            let (from, to) = (team_date("from", &from)?, team_date("to", &to)?);
            Ok(self
                .inner
                .records(&case_id, from, to)?
                .into_iter()
                .map(record)
                .collect())
        })
    }

    /// Posts a message to the team (`to` empty) or chosen institutions, or a reply.
    pub fn post_message(
        &self,
        case_id: String,
        text: String,
        to: Vec<String>,
        reply_to: Option<String>,
    ) -> Result<Arc<TeamMessage>, HomeVisitError> {
        guard(|| Ok(message(self.inner.post_message(&case_id, &text, to, reply_to)?)))
    }

    /// The case's messages this institution sees, newest first.
    pub fn messages(&self, case_id: String) -> Result<Vec<Arc<TeamMessage>>, HomeVisitError> {
        guard(|| Ok(self.inner.messages(&case_id)?.into_iter().map(message).collect()))
    }

    /// The replies to a message, oldest first.
    pub fn replies(
        &self,
        case_id: String,
        message_id: String,
    ) -> Result<Vec<Arc<TeamMessage>>, HomeVisitError> {
        guard(|| {
            Ok(self
                .inner
                .replies(&case_id, &message_id)?
                .into_iter()
                .map(message)
                .collect())
        })
    }

    /// "My messages".
    pub fn my_messages(&self) -> Result<Vec<Arc<TeamMessage>>, HomeVisitError> {
        guard(|| Ok(self.inner.my_messages()?.into_iter().map(message).collect()))
    }

    /// The unread notifications for this institution, newest first.
    pub fn unread(&self) -> Result<Vec<Arc<TeamMessage>>, HomeVisitError> {
        guard(|| Ok(self.inner.unread()?.into_iter().map(message).collect()))
    }

    /// How many unread notifications there are.
    pub fn unread_count(&self) -> Result<u32, HomeVisitError> {
        guard(|| self.inner.unread_count())
    }

    /// Marks the case's messages read on this device.
    pub fn mark_read(&self, case_id: String) -> Result<(), HomeVisitError> {
        guard(|| self.inner.mark_read(&case_id))
    }

    /// Logs a 24-hour phone consultation.
    pub fn log_call(
        &self,
        case_id: String,
        called_ms: i64,
        question: String,
    ) -> Result<Arc<PhoneConsultation>, HomeVisitError> {
        guard(|| Ok(call(self.inner.log_call(&case_id, called_ms, &question)?)))
    }

    /// Answers a consultation this institution logged.
    pub fn answer_call(
        &self,
        case_id: String,
        id: String,
        responder: String,
        answer: String,
    ) -> Result<Arc<PhoneConsultation>, HomeVisitError> {
        guard(|| Ok(call(self.inner.answer_call(&case_id, &id, &responder, &answer)?)))
    }

    /// The case's consultations, newest first.
    pub fn calls(&self, case_id: String) -> Result<Vec<Arc<PhoneConsultation>>, HomeVisitError> {
        guard(|| Ok(self.inner.calls(&case_id)?.into_iter().map(call).collect()))
    }

    /// The team member query (as of the last refresh).
    pub fn members(&self) -> Result<Vec<TeamMember>, HomeVisitError> {
        guard(|| {
            Ok(self
                .inner
                .members()?
                .into_iter()
                .map(|m| TeamMember {
                    team: m.team,
                    institution: m.institution,
                    enrolled_cases: m.enrolled_cases,
                    shared_cases: m.shared_cases,
                })
                .collect())
        })
    }

    /// Pulls what this institution may see (online), purging every other case. Kotlin: `suspend`.
    pub async fn refresh(&self) -> Result<TeamRefresh, HomeVisitError> {
        let inner = self.inner.clone();
        let s = guard_async(async move { inner.refresh().await }).await?;
        Ok(TeamRefresh {
            cases: s.cases,
            purged: s.purged,
        })
    }
}
