//! What the device and the simulator send each other (JSON over the signed VPN client): one
//! write of the shared record ([`TeamWrite`], pushed from the outbox), and the sync (every case
//! the institution may see, with the team members). The simulator (`nhi-vpn-sim`) uses these
//! same types.

use super::model::{CarePlan, CaseFile, Consultation, Message, TeamMember, VisitRecord};
use serde::{Deserialize, Serialize};

/// `POST` one write ([`TeamWrite`] → [`WriteAck`]).
pub const PUSH: &str = "/team/push";
/// `POST` the sync ([`SyncRequest`] → [`SyncResponse`]).
pub const SYNC: &str = "/team/sync";

/// One write of the shared record, as queued by the device (whole items: a resend is the same).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TeamWrite {
    /// The enrolling institution's special notes and access control.
    Case {
        /// The case.
        case_id: String,
        /// Special notes.
        special_notes: String,
        /// Team institutions that may see the case.
        access: Vec<String>,
        /// The new revision.
        rev: u32,
    },
    /// A care plan version (new, corrected or deleted).
    Plan(CarePlan),
    /// A visit record (new or edited).
    Record(VisitRecord),
    /// A discussion message or reply.
    Message(Message),
    /// A phone consultation (new or answered).
    Consultation(Consultation),
}

impl TeamWrite {
    /// The case written to.
    pub fn case_id(&self) -> &str {
        match self {
            TeamWrite::Case { case_id, .. } => case_id,
            TeamWrite::Plan(p) => &p.case_id,
            TeamWrite::Record(r) => &r.case_id,
            TeamWrite::Message(m) => &m.case_id,
            TeamWrite::Consultation(c) => &c.case_id,
        }
    }

    /// The written item's id and revision (the case's id for a case write).
    pub fn item(&self) -> (&str, u32) {
        match self {
            TeamWrite::Case { case_id, rev, .. } => (case_id, *rev),
            TeamWrite::Plan(p) => (&p.id, p.rev),
            TeamWrite::Record(r) => (&r.id, r.rev),
            TeamWrite::Message(m) => (&m.id, m.rev),
            TeamWrite::Consultation(c) => (&c.id, c.rev),
        }
    }

    /// The kind's short name (`case`, `plan`, `record`, `message`, `consultation`).
    pub fn op(&self) -> &'static str {
        match self {
            TeamWrite::Case { .. } => "case",
            TeamWrite::Plan(_) => "plan",
            TeamWrite::Record(_) => "record",
            TeamWrite::Message(_) => "message",
            TeamWrite::Consultation(_) => "consultation",
        }
    }

    /// The outbox idempotency key: `team:<op>:<id>:<rev>`.
    pub fn key(&self) -> String {
        let (id, rev) = self.item();
        format!("team:{}:{id}:{rev}", self.op())
    }
}

/// The simulator's answer to a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteAck {
    /// The item's id.
    pub id: String,
    /// Its revision.
    pub rev: u32,
    /// `received` the first time, `duplicate` for a resend or an older revision.
    pub status: String,
}

/// The sync request (the simulator knows the institution from the signature).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {}

/// Every case the institution may see, and its teams' members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// The visible cases, each with what the institution sees of it.
    pub files: Vec<CaseFile>,
    /// The members of the institution's care teams.
    pub members: Vec<TeamMember>,
}
