//! The error the host sees: `homevisit_core::app::AppError`, one to one.

use homevisit_core::app::AppError;

/// What went wrong, in terms the app can act on (Kotlin: `HomeVisitException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum HomeVisitError {
    /// An input broke a rule; `field` names it, `reason` says which rule (never the value).
    #[error("invalid {field}: {reason}")]
    Validation { field: String, reason: String },
    /// The local database could not be read or written.
    #[error("the local database failed")]
    Storage,
    /// The database was sealed with another key than the key store gave.
    #[error("the local database was sealed with another key")]
    WrongKey,
    /// The database file is corrupt; it was kept aside for recovery.
    #[error("the local database is corrupt")]
    Corrupt,
    /// The host key store is locked; retry after the device is unlocked.
    #[error("the key store is locked")]
    Locked,
    /// The card reader failed or went away.
    #[error("the card reader failed: {reason}")]
    Reader { reason: String },
    /// The NHI card answered with a control-software error code.
    #[error("card error {code}")]
    Card { code: String },
    /// The NHI services could not be reached; the work stays queued.
    #[error("the network is unavailable")]
    Network,
    /// The NHI services refused the request.
    #[error("rejected ({code}): {reason}")]
    Rejected {
        code: String,
        field: Option<String>,
        reason: String,
    },
    /// The device is not enrolled with the institution's VPN services yet.
    #[error("the device is not enrolled")]
    NotEnrolled,
    /// The prescription was dispensed already: by pharmacy `by` at `at_unix_ms`.
    #[error("already dispensed by {by}")]
    AlreadyDispensed { by: String, at_unix_ms: i64 },
    /// A bug inside the core (including a caught panic); logged, nothing the user can fix.
    #[error("internal error")]
    Internal,
}

impl From<AppError> for HomeVisitError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Validation { field, reason } => Self::Validation { field, reason },
            AppError::Storage => Self::Storage,
            AppError::WrongKey => Self::WrongKey,
            AppError::Corrupt => Self::Corrupt,
            AppError::Locked => Self::Locked,
            AppError::Reader { reason } => Self::Reader { reason },
            AppError::Card { code } => Self::Card { code },
            AppError::Network => Self::Network,
            AppError::Rejected { code, field, reason } => Self::Rejected { code, field, reason },
            AppError::NotEnrolled => Self::NotEnrolled,
            AppError::AlreadyDispensed { by, at_ms } => Self::AlreadyDispensed {
                by,
                at_unix_ms: at_ms,
            },
            AppError::Internal => Self::Internal,
        }
    }
}

impl From<tokio::task::JoinError> for HomeVisitError {
    /// The core's task panicked or was cancelled: report, never unwind across the FFI.
    fn from(e: tokio::task::JoinError) -> Self {
        tracing::error!(target: "homevisit::ffi", panicked = e.is_panic(), "core task failed");
        Self::Internal
    }
}
