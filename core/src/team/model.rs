//! The shared record's types. Every item carries the institution that wrote it and a revision
//! (`rev`, 1 at creation, +1 per edit) that the simulator uses to record each edit exactly once.
//! Patient data (the basics, free text) never appears in `Debug`.

use crate::model::care::{CareStage, Role};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

pub use super::schedule::VisitFrequency;

/// The patient's basic data, from the latest HMIC application (the HMIC side fills it).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseBasics {
    /// National ID.
    pub national_id: String,
    /// Name.
    pub name: String,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// `M` or `F`.
    pub sex: String,
    /// The care stage of the latest application.
    pub care_stage: Option<CareStage>,
    /// The latest application's care period start.
    pub period_start: Option<NaiveDate>,
    /// The latest application's care period end.
    pub period_end: Option<NaiveDate>,
}

impl fmt::Debug for CaseBasics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CaseBasics(<redacted>)")
    }
}

/// A case as the team shares it (the basic-data tab).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedCase {
    /// The case id (the simulator's, stable).
    pub case_id: String,
    /// The care team code (`HM` + 8 digits).
    pub team: String,
    /// The enrolling institution (收案院所): the only one that edits notes and access.
    pub enrolling: String,
    /// Basic data from the latest application.
    pub basics: CaseBasics,
    /// Special notes (特殊事項) for the team.
    pub special_notes: String,
    /// Team institutions (besides the enrolling one) that may see and discuss the case.
    pub access: Vec<String>,
    /// Revision of the notes and access.
    pub rev: u32,
}

impl fmt::Debug for SharedCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedCase")
            .field("case_id", &self.case_id)
            .field("team", &self.team)
            .field("enrolling", &self.enrolling)
            .field("access", &self.access)
            .field("rev", &self.rev)
            .finish_non_exhaustive()
    }
}

/// What a care plan says (goals and visit frequency).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanContent {
    /// Care goals (照護目標).
    pub goals: String,
    /// Visit frequency (訪視頻率).
    pub frequency: VisitFrequency,
}

impl fmt::Debug for PlanContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlanContent")
            .field("frequency", &self.frequency)
            .finish_non_exhaustive()
    }
}

/// One version of the care plan. Versions are never removed: a correction keeps the corrected
/// content in `corrections`, a deletion only marks the version deleted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarePlan {
    /// Id (UUIDv7 made by the writing device).
    pub id: String,
    /// The case.
    pub case_id: String,
    /// The institution that added this version (the only one that corrects or deletes it).
    pub author: String,
    /// The version it was copied from, if any.
    pub copied_from: Option<String>,
    /// The content now.
    pub content: PlanContent,
    /// Earlier contents of this version, oldest first (one per correction).
    pub corrections: Vec<PlanContent>,
    /// Deleted (kept in the history, never shown as the newest).
    pub deleted: bool,
    /// When it was added (Unix ms, the device's clock).
    pub created_ms: i64,
    /// Revision.
    pub rev: u32,
}

impl fmt::Debug for CarePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CarePlan")
            .field("id", &self.id)
            .field("author", &self.author)
            .field("deleted", &self.deleted)
            .field("rev", &self.rev)
            .finish_non_exhaustive()
    }
}

/// A visit record: one professional's record of one visit (訪視紀錄).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitRecord {
    /// Id (UUIDv7 made by the writing device).
    pub id: String,
    /// The case.
    pub case_id: String,
    /// The authoring institution (the only one that edits it).
    pub author: String,
    /// Whose record (doctor, nurse, respiratory therapist, clinical psychologist, social worker).
    pub role: Role,
    /// The visit date.
    pub visit_date: NaiveDate,
    /// The next visit date (proposed from the care plan's frequency, editable).
    pub next_visit_date: Option<NaiveDate>,
    /// The patient's health status at the visit (健康狀態).
    pub health_status: String,
    /// Problem description (問題描述).
    pub problem: String,
    /// Service content (服務內容).
    pub service: String,
    /// The card visit's visit identification code, when tied to one.
    pub visit_code: Option<String>,
    /// Revision.
    pub rev: u32,
}

impl fmt::Debug for VisitRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VisitRecord")
            .field("id", &self.id)
            .field("author", &self.author)
            .field("role", &self.role)
            .field("rev", &self.rev)
            .finish_non_exhaustive()
    }
}

/// A discussion message (交流討論) or a reply to one.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Id (UUIDv7 made by the writing device).
    pub id: String,
    /// The case.
    pub case_id: String,
    /// The posting institution.
    pub author: String,
    /// Addressed institutions; empty = the whole team (those with access).
    pub to: Vec<String>,
    /// The message this one answers.
    pub reply_to: Option<String>,
    /// The text.
    pub text: String,
    /// When it was posted (Unix ms).
    pub created_ms: i64,
    /// Revision (messages are not edited: always 1).
    pub rev: u32,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("id", &self.id)
            .field("author", &self.author)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

/// A 24-hour phone consultation (24 小時電話諮詢紀錄).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consultation {
    /// Id (UUIDv7 made by the writing device).
    pub id: String,
    /// The case.
    pub case_id: String,
    /// The institution that logged it (the only one that edits it, by reply).
    pub author: String,
    /// When the call came (Unix ms).
    pub called_ms: i64,
    /// The question asked.
    pub question: String,
    /// Who answered.
    pub responder: String,
    /// The answer.
    pub answer: String,
    /// Revision.
    pub rev: u32,
}

impl fmt::Debug for Consultation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consultation")
            .field("id", &self.id)
            .field("author", &self.author)
            .field("rev", &self.rev)
            .finish_non_exhaustive()
    }
}

/// A team's institution and its current cases (照護團隊成員查詢).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamMember {
    /// The care team code.
    pub team: String,
    /// The institution code.
    pub institution: String,
    /// Cases this institution enrolled that are open.
    pub enrolled_cases: u32,
    /// Cases it may see (its own and those shared with it).
    pub shared_cases: u32,
}

/// Everything of one case an institution may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseFile {
    /// The case.
    pub case: SharedCase,
    /// Care plan versions, oldest first.
    pub plans: Vec<CarePlan>,
    /// Visit records.
    pub records: Vec<VisitRecord>,
    /// Messages visible to the institution, oldest first.
    pub messages: Vec<Message>,
    /// Phone consultations.
    pub consultations: Vec<Consultation>,
}

impl CaseFile {
    /// A file with only the case.
    pub fn new(case: SharedCase) -> Self {
        Self {
            case,
            plans: Vec::new(),
            records: Vec::new(),
            messages: Vec::new(),
            consultations: Vec::new(),
        }
    }

    /// The newest plan version not deleted (by creation time, then id).
    pub fn current_plan(&self) -> Option<&CarePlan> {
        self.plans
            .iter()
            .filter(|p| !p.deleted)
            .max_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)))
    }
}
