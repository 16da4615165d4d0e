//! One outbox job as the sync engine sees it: what to send, to whom it belongs, and where it stands.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Identifier of an outbox job (the store's id as text).
pub type JobId = String;

/// A field the server found wrong in a record (the 2.0 field name, e.g. `M13`, and why).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Field name as the server names it (e.g. `M13`).
    pub field: String,
    /// What the checker said about it (never the value).
    pub message: String,
}

/// Why the server refused a record: shown to the user, who corrects the visit and re-queues it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The server's reason for the record as a whole.
    pub reason: String,
    /// Per-field errors, when the server named fields.
    #[serde(default)]
    pub fields: Vec<FieldError>,
}

/// Where one job stands, as the app shows it.
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
    /// A short stable name of the state (`queued`, `sending`, `done`, `rejected`, `waiting_retry`).
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
}

/// One outbox job: an upload of one frozen version of a visit (or of something attached to it).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The store's id of the job.
    pub id: JobId,
    /// What the job sends (e.g. `card_upload`).
    pub kind: String,
    /// Ordering group: jobs of one patient are sent in order (a keyed hash, never the clear ID).
    pub ordering_key: Option<String>,
    /// Local id of the visit the job belongs to, if any.
    pub visit_id: Option<String>,
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
    /// Enqueue order (monotonic within one store).
    pub seq: i64,
    /// When the job was queued (Unix ms).
    pub created_at_ms: i64,
    /// When the server confirmed the job (Unix ms).
    pub done_at_ms: Option<i64>,
    /// The last failure, as a short typed message (no patient data).
    pub last_error: Option<String>,
    /// When the visit happened (Unix ms), if the outbox knows: the 24-hour deadline runs from here.
    pub visited_at_ms: Option<i64>,
    /// Why the visit was abnormal (reader, network, power…), for the abnormal-situation report.
    pub abnormal_reason: Option<String>,
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
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// A job to add to an in-memory outbox (the outbox fills id, seq, state and attempts).
#[derive(Clone, PartialEq, Eq)]
pub struct NewJob {
    /// What the job sends (e.g. `card_upload`).
    pub kind: String,
    /// Ordering group (keyed hash of the patient's ID).
    pub ordering_key: Option<String>,
    /// Local id of the visit.
    pub visit_id: Option<String>,
    /// Visit identification code.
    pub visit_code: String,
    /// A job (by id) that must be done first.
    pub depends_on: Option<JobId>,
    /// Idempotency key (unique per job version).
    pub idempotency_key: String,
    /// The frozen body.
    pub payload: Vec<u8>,
    /// When the visit happened (Unix ms).
    pub visited_at_ms: Option<i64>,
    /// Why the visit was abnormal, if it was.
    pub abnormal_reason: Option<String>,
}

impl fmt::Debug for NewJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewJob")
            .field("kind", &self.kind)
            .field("visit_id", &self.visit_id)
            .field("payload_len", &self.payload.len())
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
        /// Confirmation time (Unix ms).
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
        class: super::target::FailureClass,
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

/// How many jobs stand in each state (superseded versions are not counted).
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
}

impl OutboxCounts {
    /// Jobs the engine still owes the server (queued + sending + waiting for retry).
    pub fn remaining(&self) -> usize {
        self.queued + self.sending + self.waiting_retry
    }
}
