//! The error the host sees: `homevisit_core::app::AppError`, one to one, with the same fields and
//! the same stable code (`errorCode(e)` in Kotlin, `errorCode(e:)` in Swift; the codes are listed
//! by `errorCodes()`).

use homevisit_core::app::AppError;

/// What went wrong, in terms the app can act on (Kotlin: `HomeVisitException`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum HomeVisitError {
    /// An input broke a rule; `field` names it, `reason` says which rule (never the value).
    #[error("invalid {field}: {reason}")]
    Validation { field: String, reason: String },
    /// A PIN was wrong; `remaining` attempts are left.
    #[error("wrong PIN: {remaining} attempt(s) left")]
    WrongPin { remaining: u32 },
    /// The card is locked after too many wrong PINs.
    #[error("the card is locked")]
    CardLocked,
    /// No card reader is paired with this device yet.
    #[error("no card reader is paired")]
    ReaderNotPaired,
    /// The paired reader cannot be reached.
    #[error("the card reader is unavailable")]
    ReaderUnavailable,
    /// The card reader failed in another way.
    #[error("the card reader failed: {reason}")]
    Reader { reason: String },
    /// The NHI card answered with a control-software error code.
    #[error("card error {code}")]
    Card { code: String },
    /// The device clock is off from the NHI server's by `server_ahead_ms`.
    #[error("the device clock is off by {server_ahead_ms} ms")]
    ClockSkew { server_ahead_ms: i64 },
    /// The server's certificate is not the one pinned at enrolment.
    #[error("the server's certificate does not match the enrolled one")]
    CertificateMismatch,
    /// The NHI services could not be reached; the work stays queued.
    #[error("the network is unavailable")]
    Network,
    /// The NHI services refused the request (their code, the field when named, their reason).
    #[error("rejected ({code}): {reason}")]
    Rejected {
        code: String,
        field: Option<String>,
        reason: String,
    },
    /// The thing asked for does not exist (`what` names its kind).
    #[error("{what} not found")]
    NotFound { what: String },
    /// The local database could not be read or written.
    #[error("the local database failed")]
    Storage,
    /// The host key store is locked; retry after the device is unlocked.
    #[error("the key store is locked")]
    Locked,
    /// The database was sealed with another key than the key store gave.
    #[error("the local database was sealed with another key")]
    WrongKey,
    /// The database exists but the key store lost its key `alias`; nothing was created or touched.
    #[error("the key store no longer holds the local database's key")]
    KeyMissing { alias: String },
    /// The database file is corrupt; it was moved to `moved_to` for recovery.
    #[error("the local database is corrupt")]
    Corrupt { moved_to: String },
    /// This data directory is already open in this process (one app per directory).
    #[error("the data directory is already open")]
    AlreadyOpen,
    /// The device is not enrolled with the institution's VPN services yet.
    #[error("the device is not enrolled")]
    NotEnrolled,
    /// The prescription was dispensed already: by pharmacy `by` at `at_unix_ms`.
    #[error("already dispensed by {by}")]
    AlreadyDispensed { by: String, at_unix_ms: i64 },
    /// A prescription needs the practitioner card's PIN verified in this reader session.
    #[error("verify the practitioner card's PIN before prescribing")]
    PractitionerNotVerified,
    /// The action is not allowed in the record's state (e.g. correcting a sent referral).
    #[error("cannot {action} when {state}")]
    WrongState { action: String, state: String },
    /// Past the 3-month correction window (last moment `deadline_unix_ms`); nothing changed.
    #[error("the correction window closed")]
    CorrectionWindowClosed { deadline_unix_ms: i64 },
    /// Past the 24-hour cancel window (last moment `deadline_unix_ms`); nothing changed.
    #[error("the cancel window closed")]
    CancelWindowClosed { deadline_unix_ms: i64 },
    /// A bug inside the core (including a caught panic); logged, nothing the user can fix.
    #[error("internal error")]
    Internal,
    /// The virtual-card QR is past its 5 minutes (at `expired_at_unix_ms`; 0 when only the NHI
    /// knows): the patient shows a new one.
    #[error("the virtual card QR has expired")]
    VcardExpired { expired_at_unix_ms: i64 },
    /// The virtual-card QR was already used (single-use).
    #[error("the virtual card QR was already used")]
    VcardUsed,
    /// The virtual-card QR is not one the NHI issued.
    #[error("the virtual card QR is not genuine")]
    VcardForged,
    /// The patient has not consented (or refused) in their app.
    #[error("the patient has not consented to reading the virtual card")]
    VcardNoConsent,
    /// A virtual card cannot be verified offline; the fallback takes `fallback_sequence` (`A020`).
    #[error("a virtual card cannot be verified offline")]
    VcardNeedsNetwork { fallback_sequence: String },
    /// The institution does not hold the virtual-card assisted-application right.
    #[error("this institution does not hold the virtual-card application right")]
    VcardNoRight,
    /// A chronic continuous prescription was asked for on a card-less visit.
    #[error("no chronic continuous prescription on a card-less visit")]
    ChronicRxCardLess,
    /// The card came after the 10 working days (ISO dates, Taiwan time); the visit stays out of pocket.
    #[error("card replacement after the deadline {deadline}")]
    ReplacementTooLate { deadline: String, brought: String },
    /// The shipped holiday calendar does not cover `year`.
    #[error("the holiday calendar does not cover {year}")]
    CalendarNotCovered {
        year: i32,
        first_year: i32,
        last_year: i32,
    },
    /// An emergency visit needs at least one of the 8 indications.
    #[error("an emergency visit needs at least one indication")]
    EmergencyNoIndication,
}

impl From<AppError> for HomeVisitError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Validation { field, reason } => Self::Validation { field, reason },
            AppError::WrongPin { remaining } => Self::WrongPin { remaining },
            AppError::CardLocked => Self::CardLocked,
            AppError::ReaderNotPaired => Self::ReaderNotPaired,
            AppError::ReaderUnavailable => Self::ReaderUnavailable,
            AppError::Reader { reason } => Self::Reader { reason },
            AppError::Card { code } => Self::Card { code },
            AppError::ClockSkew { server_ahead_ms } => Self::ClockSkew { server_ahead_ms },
            AppError::CertificateMismatch => Self::CertificateMismatch,
            AppError::Network => Self::Network,
            AppError::Rejected { code, field, reason } => Self::Rejected { code, field, reason },
            AppError::NotFound { what } => Self::NotFound { what },
            AppError::Storage => Self::Storage,
            AppError::Locked => Self::Locked,
            AppError::WrongKey => Self::WrongKey,
            AppError::KeyMissing { alias } => Self::KeyMissing { alias },
            AppError::Corrupt { moved_to } => Self::Corrupt { moved_to },
            AppError::AlreadyOpen => Self::AlreadyOpen,
            AppError::NotEnrolled => Self::NotEnrolled,
            AppError::AlreadyDispensed { by, at_ms } => Self::AlreadyDispensed {
                by,
                at_unix_ms: at_ms,
            },
            AppError::PractitionerNotVerified => Self::PractitionerNotVerified,
            AppError::WrongState { action, state } => Self::WrongState { action, state },
            AppError::CorrectionWindowClosed { deadline_ms } => Self::CorrectionWindowClosed {
                deadline_unix_ms: deadline_ms,
            },
            AppError::CancelWindowClosed { deadline_ms } => Self::CancelWindowClosed {
                deadline_unix_ms: deadline_ms,
            },
            AppError::Internal => Self::Internal,
            AppError::VcardExpired { expired_at_ms } => Self::VcardExpired {
                expired_at_unix_ms: expired_at_ms,
            },
            AppError::VcardUsed => Self::VcardUsed,
            AppError::VcardForged => Self::VcardForged,
            AppError::VcardNoConsent => Self::VcardNoConsent,
            AppError::VcardNeedsNetwork { fallback_sequence } => {
                Self::VcardNeedsNetwork { fallback_sequence }
            }
            AppError::VcardNoRight => Self::VcardNoRight,
            AppError::ChronicRxCardLess => Self::ChronicRxCardLess,
            AppError::ReplacementTooLate { deadline, brought } => {
                Self::ReplacementTooLate { deadline, brought }
            }
            AppError::CalendarNotCovered {
                year,
                first_year,
                last_year,
            } => Self::CalendarNotCovered {
                year,
                first_year,
                last_year,
            },
            AppError::EmergencyNoIndication => Self::EmergencyNoIndication,
        }
    }
}

impl From<HomeVisitError> for AppError {
    fn from(e: HomeVisitError) -> Self {
        match e {
            HomeVisitError::Validation { field, reason } => Self::Validation { field, reason },
            HomeVisitError::WrongPin { remaining } => Self::WrongPin { remaining },
            HomeVisitError::CardLocked => Self::CardLocked,
            HomeVisitError::ReaderNotPaired => Self::ReaderNotPaired,
            HomeVisitError::ReaderUnavailable => Self::ReaderUnavailable,
            HomeVisitError::Reader { reason } => Self::Reader { reason },
            HomeVisitError::Card { code } => Self::Card { code },
            HomeVisitError::ClockSkew { server_ahead_ms } => Self::ClockSkew { server_ahead_ms },
            HomeVisitError::CertificateMismatch => Self::CertificateMismatch,
            HomeVisitError::Network => Self::Network,
            HomeVisitError::Rejected { code, field, reason } => Self::Rejected { code, field, reason },
            HomeVisitError::NotFound { what } => Self::NotFound { what },
            HomeVisitError::Storage => Self::Storage,
            HomeVisitError::Locked => Self::Locked,
            HomeVisitError::WrongKey => Self::WrongKey,
            HomeVisitError::KeyMissing { alias } => Self::KeyMissing { alias },
            HomeVisitError::Corrupt { moved_to } => Self::Corrupt { moved_to },
            HomeVisitError::AlreadyOpen => Self::AlreadyOpen,
            HomeVisitError::NotEnrolled => Self::NotEnrolled,
            HomeVisitError::AlreadyDispensed { by, at_unix_ms } => Self::AlreadyDispensed {
                by,
                at_ms: at_unix_ms,
            },
            HomeVisitError::PractitionerNotVerified => Self::PractitionerNotVerified,
            HomeVisitError::WrongState { action, state } => Self::WrongState { action, state },
            HomeVisitError::CorrectionWindowClosed { deadline_unix_ms } => Self::CorrectionWindowClosed {
                deadline_ms: deadline_unix_ms,
            },
            HomeVisitError::CancelWindowClosed { deadline_unix_ms } => Self::CancelWindowClosed {
                deadline_ms: deadline_unix_ms,
            },
            HomeVisitError::Internal => Self::Internal,
            HomeVisitError::VcardExpired { expired_at_unix_ms } => Self::VcardExpired {
                expired_at_ms: expired_at_unix_ms,
            },
            HomeVisitError::VcardUsed => Self::VcardUsed,
            HomeVisitError::VcardForged => Self::VcardForged,
            HomeVisitError::VcardNoConsent => Self::VcardNoConsent,
            HomeVisitError::VcardNeedsNetwork { fallback_sequence } => {
                Self::VcardNeedsNetwork { fallback_sequence }
            }
            HomeVisitError::VcardNoRight => Self::VcardNoRight,
            HomeVisitError::ChronicRxCardLess => Self::ChronicRxCardLess,
            HomeVisitError::ReplacementTooLate { deadline, brought } => {
                Self::ReplacementTooLate { deadline, brought }
            }
            HomeVisitError::CalendarNotCovered {
                year,
                first_year,
                last_year,
            } => Self::CalendarNotCovered {
                year,
                first_year,
                last_year,
            },
            HomeVisitError::EmergencyNoIndication => Self::EmergencyNoIndication,
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

/// The stable machine-readable code of an error (e.g. `wrong_pin`), the same as the core's.
#[uniffi::export]
pub fn error_code(error: HomeVisitError) -> String {
    AppError::from(error).code().to_string()
}

/// Every code `error_code` can give.
#[uniffi::export]
pub fn error_codes() -> Vec<String> {
    AppError::CODES.iter().map(|c| (*c).to_string()).collect()
}

/// Runs a synchronous export: a panic in the core becomes `Internal`, never an unwind across
/// the FFI.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T, AppError>) -> Result<T, HomeVisitError> {
    homevisit_core::app::catch_panic(f).map_err(HomeVisitError::from)
}

/// Runs an async export's core work on a tokio task: a panic becomes `Internal`.
pub(crate) async fn guard_async<T, F>(fut: F) -> Result<T, HomeVisitError>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, AppError>> + Send + 'static,
{
    Ok(tokio::spawn(fut).await??)
}
