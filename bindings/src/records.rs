//! Plain records crossing the FFI, each a mirror of a `homevisit_core::app` type.

use homevisit_core::app;
use std::path::PathBuf;

/// Where the app keeps its data and who it is.
#[derive(Debug, Clone, uniffi::Record)]
pub struct AppConfig {
    /// Directory of the app's database (created if missing).
    pub data_dir: String,
    /// The 10-digit NHI institution code.
    pub institution_code: String,
    /// A stable identifier of this device.
    pub device_id: String,
}

impl From<AppConfig> for app::AppConfig {
    fn from(c: AppConfig) -> Self {
        Self {
            data_dir: PathBuf::from(c.data_dir),
            institution_code: c.institution_code,
            device_id: c.device_id,
        }
    }
}

/// The patient card's basic data as text (dates ROC `YYYMMDD`, sex `M`/`F`).
#[derive(Clone, uniffi::Record)]
pub struct CardInput {
    pub card_number: String,
    pub name: String,
    pub national_id: String,
    pub birth_date: String,
    pub sex: String,
    pub issue_date: String,
}

impl From<CardInput> for app::CardInput {
    fn from(c: CardInput) -> Self {
        Self {
            card_number: c.card_number,
            name: c.name,
            national_id: c.national_id,
            birth_date: c.birth_date,
            sex: c.sex,
            issue_date: c.issue_date,
        }
    }
}

/// What the practitioner records about the visit.
#[derive(Clone, uniffi::Record)]
pub struct VisitDetails {
    pub practitioner_id: String,
    pub visit_type: String,
    pub sequence_number: String,
    pub diagnoses: Vec<String>,
    pub note: String,
    #[uniffi(default = None)]
    pub abnormal_reason: Option<String>,
}

impl From<VisitDetails> for app::VisitDetails {
    fn from(d: VisitDetails) -> Self {
        Self {
            practitioner_id: d.practitioner_id,
            visit_type: d.visit_type,
            sequence_number: d.sequence_number,
            diagnoses: d.diagnoses,
            note: d.note,
            abnormal_reason: d.abnormal_reason,
        }
    }
}

/// One stored visit as a list shows it.
#[derive(Clone, uniffi::Record)]
pub struct VisitSummary {
    pub id: String,
    pub visit_code: String,
    /// RFC 3339, Taiwan time (`2024-03-05T10:30:00+08:00`).
    pub visited_at: String,
    pub visited_at_unix_ms: i64,
    pub visit_type: String,
    pub sequence_number: String,
    pub patient_name: String,
    pub national_id_masked: String,
    pub diagnoses: Vec<String>,
}

impl From<app::VisitSummary> for VisitSummary {
    fn from(v: app::VisitSummary) -> Self {
        Self {
            id: v.id,
            visit_code: v.visit_code,
            visited_at: v.visited_at.to_rfc3339(),
            visited_at_unix_ms: v.visited_at.timestamp_millis(),
            visit_type: v.visit_type,
            sequence_number: v.sequence_number,
            patient_name: v.patient_name,
            national_id_masked: v.national_id_masked,
            diagnoses: v.diagnoses,
        }
    }
}

/// Where one outbox job stands.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum JobStatus {
    Queued,
    Sending,
    Done,
    Rejected { reason: String },
    WaitingRetry { next_at_unix_ms: i64 },
    Superseded,
}

impl From<app::JobStatus> for JobStatus {
    fn from(s: app::JobStatus) -> Self {
        match s {
            app::JobStatus::Queued => Self::Queued,
            app::JobStatus::Sending => Self::Sending,
            app::JobStatus::Done => Self::Done,
            app::JobStatus::Rejected { reason } => Self::Rejected { reason },
            app::JobStatus::WaitingRetry { next_at_ms } => Self::WaitingRetry {
                next_at_unix_ms: next_at_ms,
            },
            app::JobStatus::Superseded => Self::Superseded,
        }
    }
}

/// One outbox job.
#[derive(Debug, Clone, uniffi::Record)]
pub struct OutboxJob {
    pub id: String,
    pub kind: String,
    pub visit_id: String,
    pub visit_code: String,
    pub status: JobStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
}

impl From<app::OutboxJobView> for OutboxJob {
    fn from(j: app::OutboxJobView) -> Self {
        Self {
            id: j.id,
            kind: j.kind,
            visit_id: j.visit_id,
            visit_code: j.visit_code,
            status: j.status.into(),
            attempts: j.attempts,
            last_error: j.last_error,
        }
    }
}

/// Number of outbox jobs in each state.
#[derive(Debug, Clone, Copy, uniffi::Record)]
pub struct OutboxCounts {
    pub queued: u32,
    pub sending: u32,
    pub done: u32,
    pub rejected: u32,
    pub waiting_retry: u32,
}

impl From<app::OutboxCounts> for OutboxCounts {
    fn from(c: app::OutboxCounts) -> Self {
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Self {
            queued: n(c.queued),
            sending: n(c.sending),
            done: n(c.done),
            rejected: n(c.rejected),
            waiting_retry: n(c.waiting_retry),
        }
    }
}

/// The outbox: counts by state and every job.
#[derive(Debug, Clone, uniffi::Record)]
pub struct OutboxState {
    pub counts: OutboxCounts,
    pub jobs: Vec<OutboxJob>,
}

impl From<app::OutboxState> for OutboxState {
    fn from(s: app::OutboxState) -> Self {
        Self {
            counts: s.counts.into(),
            jobs: s.jobs.into_iter().map(Into::into).collect(),
        }
    }
}
