//! The seam between the engine and the server: upload a batch of jobs, get one result per job.

use super::job::{FieldError, JobId};
use async_trait::async_trait;
use std::fmt;

/// One job handed to the server.
#[derive(Clone, PartialEq, Eq)]
pub struct UploadItem {
    /// The outbox job.
    pub job_id: JobId,
    /// What is sent (e.g. `card_upload`).
    pub kind: String,
    /// The visit identification code.
    pub visit_code: String,
    /// Idempotency key: the server records a key once, however often it is sent.
    pub idempotency_key: String,
    /// The frozen body.
    pub payload: Vec<u8>,
}

impl fmt::Debug for UploadItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadItem")
            .field("job_id", &self.job_id)
            .field("kind", &self.kind)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// The server's verdict on one job of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Recorded (now or by an earlier attempt with the same idempotency key).
    Accepted {
        /// The server's acknowledgement (e.g. batch id and status), kept with the job.
        ack: String,
    },
    /// The record is invalid: the user must correct it.
    Rejected {
        /// The server's reason.
        reason: String,
        /// Per-field errors.
        fields: Vec<FieldError>,
    },
    /// The server could not take this record now (transient); try again later.
    Retry {
        /// Why.
        reason: String,
    },
}

/// The verdict on one job, matched to it by job id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemResult {
    /// The job the verdict is about.
    pub job_id: JobId,
    /// The verdict.
    pub outcome: ItemOutcome,
}

/// How a failure is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FailureClass {
    /// The server could not be reached or the connection broke (timeouts, resets): retry.
    Network,
    /// The server failed (5xx, garbage, half a body, wrong content type): retry.
    Server,
    /// The record itself is wrong: park it with the server's reason until the user corrects it.
    Record,
}

/// A whole batch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// No connection, a timeout or a dropped connection.
    #[error("network: {0}")]
    Network(String),
    /// The server answered with a failure or an answer that cannot be read.
    #[error("server: {0}")]
    Server(String),
    /// The server refused the batch as a whole (malformed); the engine isolates the bad record.
    #[error("batch rejected: {0}")]
    BatchRejected(String),
    /// The server's certificate matches neither pinned one (possible interception): the engine
    /// stops the drain at once and leaves the jobs queued; nothing is retried until asked again.
    #[error("the server's certificate matches no pin")]
    CertificateMismatch,
}

impl UploadError {
    /// How the engine handles it.
    pub fn class(&self) -> FailureClass {
        match self {
            UploadError::Network(_) => FailureClass::Network,
            UploadError::Server(_) | UploadError::CertificateMismatch => FailureClass::Server,
            UploadError::BatchRejected(_) => FailureClass::Record,
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureClass::Network => "network",
            FailureClass::Server => "server",
            FailureClass::Record => "record",
        })
    }
}

/// Where the engine sends jobs. The VPN client adapter implements it for the real server; a fake
/// implements it for the unit tests.
#[async_trait]
pub trait UploadTarget: Send + Sync {
    /// Uploads a batch; on success returns one result per item (missing results are retried).
    async fn upload(&self, items: &[UploadItem]) -> Result<Vec<ItemResult>, UploadError>;
}
