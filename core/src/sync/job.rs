//! The outbox's one model of a job, shared by the store (which keeps jobs durably) and the sync
//! engine (which sends them): ids, kinds, states, the job itself, what is enqueued, the outcomes
//! the engine records, and the counts the app shows. `store` uses and re-exports these types.

use super::target::FailureClass;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Identifier of an outbox job, as text. The store's ids are its integer job keys (`"42"`); the
/// in-memory outbox's are `job-N`. A [`NewJob`]'s id is a placeholder (see [`new_job_id`]) that other
/// jobs of the same enqueue may name in `depends_on`; the outbox hands back the real ids.
pub type JobId = String;

/// A fresh placeholder id for a [`NewJob`] (UUIDv7 text): unique, never a stored job's id.
pub fn new_job_id() -> JobId {
    format!("new-{}", uuid::Uuid::now_v7())
}

/// What a job sends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Card data upload (format 2.0) of a visit; its `done` marks the visit uploaded (24 h rule).
    CardUpload,
    /// Registration of a visit's prescription with the VPN.
    PrescriptionRegistration,
    /// Cancellation of a visit within 24 h (退掛).
    VisitCancel,
    /// A correction (or deletion) of a visit the NHI already holds, keyed by its visit
    /// identification code (`rules::correction`); sent to the corrections route.
    VisitCorrection,
    /// A sent round of an e-referral (see `crate::referral::outbox`).
    ReferralSubmit,
    /// A receiver's reply to an e-referral round.
    ReferralReply,
    /// A write of the care team's shared record (see `crate::team::outbox`).
    TeamWrite,
    /// A submission of an HMIC case application version (see `crate::hmic::outbox`).
    HmicSubmit,
    /// The closing of an HMIC case application.
    HmicClose,
    /// Any other kind, by name (lower-case `[a-z0-9_]`).
    Other(String),
}

impl JobKind {
    /// The stable name (stored, and sent as the upload item's kind).
    pub fn as_str(&self) -> &str {
        match self {
            JobKind::CardUpload => "card_upload",
            JobKind::PrescriptionRegistration => "rx_registration",
            JobKind::VisitCancel => "visit_cancel",
            JobKind::VisitCorrection => "visit_correction",
            JobKind::ReferralSubmit => "referral_submit",
            JobKind::ReferralReply => "referral_reply",
            JobKind::TeamWrite => "team_write",
            JobKind::HmicSubmit => "hmic_submit",
            JobKind::HmicClose => "hmic_close",
            JobKind::Other(name) => name,
        }
    }
    /// Parses a stable name.
    pub fn parse(name: &str) -> Self {
        match name {
            "card_upload" => JobKind::CardUpload,
            "rx_registration" => JobKind::PrescriptionRegistration,
            "visit_cancel" => JobKind::VisitCancel,
            "visit_correction" => JobKind::VisitCorrection,
            "referral_submit" => JobKind::ReferralSubmit,
            "referral_reply" => JobKind::ReferralReply,
            "team_write" => JobKind::TeamWrite,
            "hmic_submit" => JobKind::HmicSubmit,
            "hmic_close" => JobKind::HmicClose,
            other => JobKind::Other(other.to_string()),
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for JobKind {
    fn from(name: &str) -> Self {
        JobKind::parse(name)
    }
}

impl PartialEq<str> for JobKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for JobKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for JobKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(JobKind::parse(&String::deserialize(d)?))
    }
}

/// A field the server found wrong in a record (the 2.0 field name, e.g. `M13`, and why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Field name as the server names it (e.g. `M13`).
    pub field: String,
    /// What the checker said about it (never the value). Stores before the one outbox model
    /// sealed it as `reason`.
    #[serde(alias = "reason")]
    pub message: String,
}

/// Why the server refused a record: shown to the user, who corrects the visit and re-queues it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The server's reason for the record as a whole.
    pub reason: String,
    /// Per-field errors, when the server named fields.
    #[serde(default)]
    pub fields: Vec<FieldError>,
}

/// Where one job stands.
///
/// `queued` → `sending` → `done` | `waiting_retry` (→ `sending` again once due) | `rejected`
/// (→ `superseded` when its correction is queued); `superseded` also when an edit of the visit
/// replaced a job that had not started sending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Waiting to be sent.
    Queued,
    /// Handed to the server; its answer is not yet recorded (frozen: never edited in place).
    Sending,
    /// The server confirmed this job; it has left the queue.
    Done,
    /// The server refused the record; parked until the user corrects and re-queues it.
    Rejected(Rejection),
    /// A network or server failure; sent again at `next_at_ms` (Unix ms) or on "send now".
    WaitingRetry {
        /// When the next attempt is due (Unix ms).
        next_at_ms: i64,
    },
    /// Replaced by a later edit of its visit before it was sent; never sent.
    Superseded,
}

impl JobState {
    /// Every state's stable name, in the order the app lists them.
    pub const NAMES: [&'static str; 6] = [
        "queued",
        "sending",
        "waiting_retry",
        "rejected",
        "done",
        "superseded",
    ];

    /// The state's short stable name (`queued`, `sending`, `done`, `rejected`, `waiting_retry`,
    /// `superseded`); the store keeps it in the `state` column.
    pub fn name(&self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Sending => "sending",
            JobState::Done => "done",
            JobState::Rejected(_) => "rejected",
            JobState::WaitingRetry { .. } => "waiting_retry",
            JobState::Superseded => "superseded",
        }
    }

    /// True while the engine still owes the server this job (queued, sending, waiting for retry).
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            JobState::Queued | JobState::Sending | JobState::WaitingRetry { .. }
        )
    }

    /// True when `self` and `other` are the same state, whatever the data they carry.
    pub fn same_as(&self, other: &JobState) -> bool {
        self.name() == other.name()
    }

    /// How far the job is from done (0 = rejected … 4 = done or superseded): a visit's least
    /// advanced job is the one with the lowest rank.
    pub fn rank(&self) -> u8 {
        match self {
            JobState::Rejected(_) => 0,
            JobState::WaitingRetry { .. } => 1,
            JobState::Queued => 2,
            JobState::Sending => 3,
            JobState::Done | JobState::Superseded => 4,
        }
    }
}

/// One outbox job: an upload of one frozen version of a visit (or of something attached to it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The outbox's id of the job.
    pub id: JobId,
    /// What the job sends.
    pub kind: JobKind,
    /// Ordering group: jobs of one patient are sent in order (a keyed hash, never the clear ID).
    pub ordering_key: Option<String>,
    /// Local id of the visit the job belongs to, if any.
    pub visit_id: Option<String>,
    /// The visit version the payload froze, when the outbox tracks versions.
    #[serde(default)]
    pub visit_version: Option<i64>,
    /// The visit identification code, when known (empty otherwise).
    pub visit_code: String,
    /// A job that must be done before this one is sent.
    pub depends_on: Option<JobId>,
    /// Sent with every attempt so the server records a retried upload only once.
    pub idempotency_key: String,
    /// The frozen body to send (sealed at rest by the store; may hold patient data).
    pub payload: Vec<u8>,
    /// Where the job stands.
    pub state: JobState,
    /// Times the job was handed out for sending.
    pub attempts: u32,
    /// Enqueue order (monotonic within one outbox).
    pub seq: i64,
    /// When the job was queued (Unix ms).
    pub created_at_ms: i64,
    /// The job's last transition (Unix ms).
    #[serde(default)]
    pub updated_at_ms: i64,
    /// When the server confirmed the job (Unix ms).
    pub done_at_ms: Option<i64>,
    /// The server's acknowledgement once done.
    #[serde(default)]
    pub server_ack: Option<String>,
    /// The last failure, as a short typed message (no patient data).
    pub last_error: Option<String>,
    /// Which side the last failure came from.
    #[serde(default)]
    pub last_error_class: Option<FailureClass>,
    /// When the visit happened (Unix ms), if the outbox knows: the 24-hour deadline runs from here.
    pub visited_at_ms: Option<i64>,
    /// Why the visit was abnormal (reader, network, power…), for the abnormal-situation report.
    pub abnormal_reason: Option<String>,
}

impl Job {
    /// The rejection (reason and field errors), when the job is rejected.
    pub fn rejection(&self) -> Option<&Rejection> {
        match &self.state {
            JobState::Rejected(r) => Some(r),
            _ => None,
        }
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("visit_id", &self.visit_id)
            .field("state", &self.state)
            .field("attempts", &self.attempts)
            .field("seq", &self.seq)
            .field("last_error_class", &self.last_error_class)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// A job to enqueue. The outbox fills the rest (id, seq, state, attempts, times); the visit it
/// belongs to is named at enqueue (the store reads the visit's patient, code and time from it).
#[derive(Clone, PartialEq, Eq)]
pub struct NewJob {
    /// A placeholder id: another job of the same enqueue may name it in `depends_on`.
    pub id: JobId,
    /// What it sends.
    pub kind: JobKind,
    /// Unique across the outbox; sent to the server so a retried upload is recorded once.
    pub idempotency_key: String,
    /// A job that must be `done` before this one may be sent: a stored job's id, or the placeholder
    /// id of an earlier job of the same enqueue.
    pub depends_on: Option<JobId>,
    /// What to send (sealed at rest by the store).
    pub payload: Vec<u8>,
}

impl NewJob {
    /// A job with a fresh placeholder id and no dependency.
    pub fn new(kind: JobKind, idempotency_key: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Self {
            id: new_job_id(),
            kind,
            idempotency_key: idempotency_key.into(),
            depends_on: None,
            payload: payload.into(),
        }
    }
    /// The same job, sent only after `job` is done.
    pub fn after(mut self, job: &JobId) -> Self {
        self.depends_on = Some(job.clone());
        self
    }
}

impl fmt::Debug for NewJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewJob")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("depends_on", &self.depends_on)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// The visit a job belongs to, as the in-memory outbox is told it (the store reads it from the
/// visit row instead).
#[derive(Clone, PartialEq, Eq)]
pub struct JobVisit {
    /// Local id of the visit.
    pub visit_id: String,
    /// Ordering group (keyed hash of the patient's ID).
    pub ordering_key: String,
    /// Visit identification code.
    pub visit_code: String,
    /// When the visit happened (Unix ms).
    pub visited_at_ms: i64,
    /// Why the visit was abnormal, if it was.
    pub abnormal_reason: Option<String>,
}

impl fmt::Debug for JobVisit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobVisit")
            .field("visit_id", &self.visit_id)
            .field("visit_code", &self.visit_code)
            .finish_non_exhaustive()
    }
}

/// A state change the engine records for one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobUpdate {
    /// The server confirmed the job at `at_ms`.
    Done {
        /// Job.
        id: JobId,
        /// Confirmation time (Unix ms; the store stamps its own clock's time).
        at_ms: i64,
        /// The server's acknowledgement (batch id, status).
        ack: String,
    },
    /// A network/server failure: try again at `next_at_ms`.
    Retry {
        /// Job.
        id: JobId,
        /// When to try again (Unix ms).
        next_at_ms: i64,
        /// Network or server.
        class: FailureClass,
        /// Short typed message of the failure.
        error: String,
    },
    /// The server refused the record.
    Rejected {
        /// Job.
        id: JobId,
        /// The server's reason and field errors.
        rejection: Rejection,
    },
}

impl JobUpdate {
    /// The job the update is about.
    pub fn id(&self) -> &JobId {
        match self {
            JobUpdate::Done { id, .. } | JobUpdate::Retry { id, .. } | JobUpdate::Rejected { id, .. } => id,
        }
    }
}

/// How many jobs stand in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxCounts {
    /// Queued, never tried or re-queued.
    pub queued: usize,
    /// Handed to the server, no answer recorded.
    pub sending: usize,
    /// Confirmed by the server.
    pub done: usize,
    /// Refused by the server, waiting for the user.
    pub rejected: usize,
    /// Waiting for a retry after a failure.
    pub waiting_retry: usize,
    /// Replaced by a later version (never sent; not owed).
    #[serde(default)]
    pub superseded: usize,
}

impl OutboxCounts {
    /// Jobs the engine still owes the server (queued + sending + waiting for retry).
    pub fn remaining(&self) -> usize {
        self.queued + self.sending + self.waiting_retry
    }

    /// Adds `n` jobs in the state named `name` (see [`JobState::name`]); unknown names are ignored.
    pub fn add(&mut self, name: &str, n: usize) {
        match name {
            "queued" => self.queued += n,
            "sending" => self.sending += n,
            "done" => self.done += n,
            "rejected" => self.rejected += n,
            "waiting_retry" => self.waiting_retry += n,
            "superseded" => self.superseded += n,
            _ => {}
        }
    }
}
