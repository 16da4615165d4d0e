//! The public error of the app facade: only what the app can act on. Made from the internal
//! [`crate::Error`] at one conversion point ([`AppError::from`]), which also decides what is logged.
//! No message here ever holds patient data: fields and reasons name the rule, never the value.

use crate::platform::KeyStoreError;
use crate::rules::RuleError;
use crate::store::StoreError;
use crate::vpn::VpnError;

/// What went wrong, in terms the app (and its user) can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// An input broke a rule; `field` names it, `reason` says which rule (never the value).
    #[error("invalid {field}: {reason}")]
    Validation {
        /// The field that was refused (e.g. `national_id`).
        field: String,
        /// The rule it broke.
        reason: String,
    },
    /// The local database could not be read or written (disk full, I/O error, busy).
    #[error("the local database failed")]
    Storage,
    /// The database was sealed with another key than the key store gave.
    #[error("the local database was sealed with another key")]
    WrongKey,
    /// The database file is corrupt; it was kept (never deleted) and must be recovered.
    #[error("the local database is corrupt")]
    Corrupt,
    /// The host key store is locked (e.g. the device was not unlocked since boot); retry later.
    #[error("the key store is locked")]
    Locked,
    /// The card reader failed or went away.
    #[error("the card reader failed: {reason}")]
    Reader {
        /// What happened, without patient data.
        reason: String,
    },
    /// The NHI card answered with a control-software error code (e.g. 5102 wrong PIN).
    #[error("card error {code}")]
    Card {
        /// The control-software code.
        code: String,
    },
    /// The NHI services could not be reached; the work stays queued.
    #[error("the network is unavailable")]
    Network,
    /// The NHI services refused the request: their `code`, the `field` at fault when named, and
    /// their reason.
    #[error("rejected ({code}): {reason}")]
    Rejected {
        /// The server's error code (e.g. `token_expired`, `bad_signature`).
        code: String,
        /// The field at fault, when the server named one.
        field: Option<String>,
        /// The server's reason (no patient data).
        reason: String,
    },
    /// The device is not enrolled with the institution's VPN services yet (enrol with QR-2 + PIN).
    #[error("the device is not enrolled")]
    NotEnrolled,
    /// The prescription (its due refill) was dispensed already: by pharmacy `by` at `at_ms`.
    #[error("already dispensed by {by}")]
    AlreadyDispensed {
        /// The pharmacy code that dispensed it.
        by: String,
        /// When, ms since the epoch.
        at_ms: i64,
    },
    /// A bug or an unexpected state inside the core; logged, nothing the user can fix.
    #[error("internal error")]
    Internal,
}

impl From<RuleError> for AppError {
    fn from(e: RuleError) -> Self {
        AppError::from(crate::Error::from(e))
    }
}

impl From<KeyStoreError> for AppError {
    fn from(e: KeyStoreError) -> Self {
        AppError::from(crate::Error::from(e))
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::from(crate::Error::from(e))
    }
}

impl From<VpnError> for AppError {
    fn from(e: VpnError) -> Self {
        AppError::from(crate::Error::from(e))
    }
}

impl From<crate::Error> for AppError {
    /// The one conversion point: maps the internal error and logs it. Internal errors never hold
    /// patient data (their own rule), so their text may be logged; input faults log at debug only.
    fn from(e: crate::Error) -> Self {
        let public = map(&e);
        match public {
            AppError::Validation { .. } => {
                tracing::debug!(target: "homevisit::app", error = %e, "input refused")
            }
            AppError::Locked | AppError::Network => {
                tracing::info!(target: "homevisit::app", error = %e, "temporarily unavailable")
            }
            _ => tracing::warn!(target: "homevisit::app", error = %e, kind = ?public, "operation failed"),
        }
        public
    }
}

fn map(e: &crate::Error) -> AppError {
    match e {
        crate::Error::Rule(RuleError::Invalid { field, reason }) => AppError::Validation {
            field: (*field).to_string(),
            reason: reason.clone(),
        },
        crate::Error::KeyStore(KeyStoreError::Locked) => AppError::Locked,
        crate::Error::KeyStore(KeyStoreError::Failed(_)) => AppError::Storage,
        crate::Error::Store(s) => match s {
            StoreError::WrongKey => AppError::WrongKey,
            StoreError::Corrupt { .. } | StoreError::Tampered { .. } => AppError::Corrupt,
            StoreError::KeyStore(KeyStoreError::Locked) => AppError::Locked,
            StoreError::NotFound { what } => AppError::Validation {
                field: (*what).to_string(),
                reason: "not found".into(),
            },
            StoreError::Invalid(_) | StoreError::Serde(_) => AppError::Internal,
            StoreError::Conflict(_)
            | StoreError::TooNew { .. }
            | StoreError::Sqlite(_)
            | StoreError::Io(_)
            | StoreError::KeyStore(KeyStoreError::Failed(_)) => AppError::Storage,
        },
        crate::Error::Vpn(v) => match v {
            VpnError::Network { .. }
            | VpnError::Server { .. }
            | VpnError::BadResponse { .. }
            | VpnError::ClockSkew { .. } => AppError::Network,
            VpnError::Rejected { code, field, reason } => AppError::Rejected {
                code: code.clone(),
                field: field.clone(),
                reason: reason.clone(),
            },
            VpnError::InvalidRequest { reason } => AppError::Validation {
                field: "visit".into(),
                reason: reason.clone(),
            },
            VpnError::InvalidQr { reason } => AppError::Validation {
                field: "binding_qr".into(),
                reason: reason.clone(),
            },
            VpnError::Storage { .. } => AppError::Storage,
            other => AppError::Rejected {
                code: "rejected".into(),
                field: None,
                reason: other.to_string(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_errors_become_validation_with_field_and_no_value() {
        let e = AppError::from(RuleError::Invalid {
            field: "national_id",
            reason: "wrong check digit".into(),
        });
        assert_eq!(
            e,
            AppError::Validation {
                field: "national_id".into(),
                reason: "wrong check digit".into()
            }
        );
        assert_eq!(e.to_string(), "invalid national_id: wrong check digit");
    }

    #[test]
    fn key_store_errors_map_to_locked_or_storage() {
        assert_eq!(AppError::from(KeyStoreError::Locked), AppError::Locked);
        assert_eq!(
            AppError::from(KeyStoreError::Failed("disk".into())),
            AppError::Storage
        );
    }
}
