//! What the facade shows the app: visit summaries and the outbox state (the outbox's own counts,
//! `crate::sync::OutboxCounts`, and a payload-free view of each job).

use crate::model::Visit;
use crate::store::{Store, StoreResult};
use crate::sync::{Job, JobState};
use chrono::{DateTime, FixedOffset};

pub use crate::sync::OutboxCounts;

/// One stored visit as a list shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct VisitSummary {
    /// Local id (UUIDv7 text).
    pub id: String,
    /// The 20-character visit identification code.
    pub visit_code: String,
    /// When the visit happened, Taiwan time.
    pub visited_at: DateTime<FixedOffset>,
    /// Visit type (M07).
    pub visit_type: String,
    /// Visit sequence number or abnormal code (M13).
    pub sequence_number: String,
    /// The patient's name (for the screen only; never logged).
    pub patient_name: String,
    /// The patient's name with its middle masked (`王○明`): what may be shown where a full name
    /// must not be (lists, notifications, logs of the UI).
    pub patient_name_masked: String,
    /// The national ID with its middle masked (`A12*****89`), enough to tell patients apart.
    pub national_id_masked: String,
    /// Diagnoses, normalised, main first.
    pub diagnoses: Vec<String>,
    /// Whether the visit was written to the patient's card (false on the abnormal path).
    pub card_written: bool,
    /// Why the visit took the abnormal path (for the abnormal-situation report), if it did.
    pub abnormal_reason: Option<String>,
    /// Number of orders (drug lines) of the visit.
    pub orders: u32,
}

impl VisitSummary {
    /// The summary of a stored visit.
    pub fn of(visit: &Visit) -> Self {
        Self {
            id: visit.id.clone(),
            visit_code: visit.visit_code.clone(),
            visited_at: visit.visited_at,
            visit_type: visit.visit_type.clone(),
            sequence_number: visit.sequence_number.clone(),
            patient_name: visit.patient.name.clone(),
            patient_name_masked: mask_name(&visit.patient.name),
            national_id_masked: mask_id(visit.patient.national_id.expose()),
            diagnoses: visit.diagnoses.clone(),
            card_written: visit.card_written,
            abnormal_reason: visit.abnormal_reason.clone(),
            orders: u32::try_from(visit.orders.len()).unwrap_or(u32::MAX),
        }
    }
}

/// Keeps the first and last character of a name: `王小明` → `王○明`, `陳美` → `陳○`.
pub(super) fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 | 1 => name.to_string(),
        2 => format!("{}○", chars[0]),
        n => format!("{}{}{}", chars[0], "○".repeat(n - 2), chars[n - 1]),
    }
}

/// Keeps the first three and last two characters of an ID: `A123456789` → `A12*****89`.
pub(super) fn mask_id(id: &str) -> String {
    id.chars()
        .enumerate()
        .map(|(i, c)| {
            if i < 3 || i + 2 >= id.chars().count() {
                c
            } else {
                '*'
            }
        })
        .collect()
}

impl std::fmt::Debug for VisitSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VisitSummary")
            .field("id", &self.id)
            .field("visit_code", &self.visit_code)
            .field("visited_at", &self.visited_at)
            .finish_non_exhaustive()
    }
}

/// Where one outbox job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting to be sent.
    Queued,
    /// Handed to the server, answer not yet recorded.
    Sending,
    /// Confirmed by the server.
    Done,
    /// Refused by the server; parked until corrected.
    Rejected {
        /// The server's reason.
        reason: String,
    },
    /// Failed for a network or server reason; retried at `next_at_ms` (Unix ms).
    WaitingRetry {
        /// When the next attempt is due.
        next_at_ms: i64,
    },
    /// Replaced by a later edit of its visit; never sent.
    Superseded,
}

/// One outbox job as the app shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxJobView {
    /// The store's id of the job.
    pub id: String,
    /// What the job sends (e.g. `card_upload`).
    pub kind: String,
    /// The visit it belongs to.
    pub visit_id: String,
    /// That visit's identification code.
    pub visit_code: String,
    /// Where it stands.
    pub status: JobStatus,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The last failure, as the server or the network reported it.
    pub last_error: Option<String>,
    /// Enqueue order.
    pub seq: i64,
}

impl OutboxJobView {
    /// The view of a stored job (its payload stays behind).
    pub fn of(job: &Job) -> Self {
        let status = match &job.state {
            JobState::Queued => JobStatus::Queued,
            JobState::Sending => JobStatus::Sending,
            JobState::Done => JobStatus::Done,
            JobState::Rejected(r) => JobStatus::Rejected {
                reason: r.reason.clone(),
            },
            JobState::WaitingRetry { next_at_ms } => JobStatus::WaitingRetry {
                next_at_ms: *next_at_ms,
            },
            JobState::Superseded => JobStatus::Superseded,
        };
        Self {
            id: job.id.clone(),
            kind: job.kind.as_str().to_string(),
            visit_id: job.visit_id.clone().unwrap_or_default(),
            visit_code: job.visit_code.clone(),
            status,
            attempts: job.attempts,
            last_error: job.last_error.clone(),
            seq: job.seq,
        }
    }
}

/// The outbox: counts by state and every job.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutboxState {
    /// Counts by state.
    pub counts: OutboxCounts,
    /// Every job, oldest first.
    pub jobs: Vec<OutboxJobView>,
}

impl OutboxState {
    /// Reads the outbox of `store`: exact counts by state, and up to `per_state` jobs of each
    /// state but superseded, oldest first.
    pub fn read(store: &Store, per_state: u32) -> StoreResult<Self> {
        let counts = store.outbox_counts()?;
        let mut jobs = Vec::new();
        for state in [
            JobState::Queued,
            JobState::Sending,
            JobState::WaitingRetry { next_at_ms: 0 },
            JobState::Rejected(Default::default()),
            JobState::Done,
        ] {
            let listed = store.jobs_in_state(state, per_state)?;
            jobs.extend(listed.iter().map(OutboxJobView::of));
        }
        jobs.sort_by_key(|j| j.seq);
        Ok(Self { counts, jobs })
    }
}
