//! What the device and the NHI's HMIC service (the VPN simulator) send each other: JSON over the
//! signed VPN client. The simulator uses these same types.

use super::model::{Application, Closing};
use crate::rules::hmic::enrolment::Verdict;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// `POST` a submission ([`SubmitRequest`] → [`Ack`]).
pub const SUBMIT: &str = "/hmic/applications";
/// `POST` a closing ([`CloseRequest`] → [`Ack`]).
pub const CLOSE: &str = "/hmic/applications/close";
/// `POST` the institution's applications as the NHI holds them (→ `Vec<Application>`).
pub const SYNC: &str = "/hmic/applications/sync";
/// `POST` the duplicate-enrolment check ([`CheckRequest`] → [`CheckResponse`]).
pub const CHECK: &str = "/hmic/enrolment";
/// `POST` the query ([`QueryRequest`] → `Vec<QueryRow>`).
pub const QUERY: &str = "/hmic/query";
/// `POST` a batch file ([`BatchRequest`] → [`BatchAck`]).
pub const BATCH: &str = "/hmic/batch";

/// A submission (new, extension, stage change, or a correction as a new version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitRequest {
    /// The application as the device holds it.
    pub application: Application,
}

/// A closing of a submitted application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseRequest {
    /// The application id.
    pub id: String,
    /// Date and reason.
    pub closing: Closing,
}

/// The NHI's answer to a submission or closing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The application id.
    pub id: String,
    /// Its version.
    pub version: u32,
    /// `received` the first time, `duplicate` for a resend.
    pub status: String,
    /// The acceptance date (受理日).
    pub acceptance_date: Option<NaiveDate>,
}

/// The duplicate-enrolment check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRequest {
    /// Patient national ID.
    pub national_id: String,
    /// Patient birth date.
    pub birth_date: NaiveDate,
    /// The care team the institution enrols for.
    pub care_team: String,
}

/// The check's answer: the verdict, and the same-team case to show read-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResponse {
    /// What the check found.
    pub verdict: Verdict,
    /// The case of another institution of the same team (read-only), or this institution's own.
    pub application: Option<Application>,
}

/// The query: by application date range (required) and optionally this institution's own team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryRequest {
    /// First application date.
    pub from: NaiveDate,
    /// Last application date.
    pub to: NaiveDate,
    /// A care team of the institution.
    pub care_team: Option<String>,
}

/// One row of the query (and of its CSV export).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryRow {
    /// Application id.
    pub id: String,
    /// Enrolling institution.
    pub institution: String,
    /// Care team.
    pub care_team: String,
    /// Type name.
    pub kind: String,
    /// State name.
    pub state: String,
    /// Patient national ID.
    pub national_id: String,
    /// Patient name.
    pub name: String,
    /// Application date.
    pub application_date: NaiveDate,
    /// Acceptance date.
    pub acceptance_date: Option<NaiveDate>,
    /// Approved start.
    pub start_date: NaiveDate,
    /// Approved end.
    pub end_date: NaiveDate,
    /// Care stage code.
    pub care_stage: String,
    /// Closing date.
    pub closing_date: Option<NaiveDate>,
    /// Closing reason name.
    pub closing_reason: String,
}

impl std::fmt::Debug for QueryRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryRow")
            .field("id", &self.id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl QueryRow {
    /// The row of `a`.
    pub fn of(a: &Application) -> Self {
        Self {
            id: a.id.clone(),
            institution: a.institution.clone(),
            care_team: a.care_team.clone(),
            kind: a.kind.as_str().into(),
            state: a.state.as_str().into(),
            national_id: a.patient.national_id.clone(),
            name: a.patient.name.clone(),
            application_date: a.application_date,
            acceptance_date: a.acceptance_date,
            start_date: a.start_date,
            end_date: a.end_date(),
            care_stage: a.care_stage.map(|s| s.code()).unwrap_or("").into(),
            closing_date: a.closing.map(|c| c.date),
            closing_reason: a.closing.map(|c| c.reason.as_str()).unwrap_or("").into(),
        }
    }
}

/// A batch upload file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRequest {
    /// `HMIC` + institution + ROC `YYYMM` + serial + `.XML`.
    pub file_name: String,
    /// The file (see `hmic::xml`).
    pub xml: String,
}

/// The answer to an accepted batch file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAck {
    /// The file name.
    pub file_name: String,
    /// Records accepted (all of them: one bad record rejects the file).
    pub records: u32,
}
