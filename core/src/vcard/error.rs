//! What can go wrong with a virtual NHI card: one variant per lifecycle rule, so a screen can tell
//! the patient what to do (show a new QR, tap "同意", use the physical card…).

use crate::vpn::VpnError;

/// A refusal of the virtual-card flow. Messages never hold patient data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VcardError {
    /// The QR is older than its 5 minutes: the patient must show a new one.
    #[error("the virtual card QR has expired")]
    Expired {
        /// When it expired, ms since the epoch.
        expired_at_ms: i64,
    },
    /// The QR was already scanned once (it is single-use).
    #[error("the virtual card QR was already used")]
    Used,
    /// The QR is not one the NHI issued (bad shape or signature).
    #[error("the virtual card QR is not genuine: {reason}")]
    Forged {
        /// What is wrong with it.
        reason: String,
    },
    /// The patient has not approved (or refused) the reading in their app.
    #[error("the patient has not consented to the reading")]
    NoConsent,
    /// A virtual card cannot be verified without the NHI: no network.
    #[error("a virtual card cannot be verified without the network")]
    NeedsNetwork,
    /// The institution does not hold the virtual-card assisted-application right.
    #[error("this institution does not hold the virtual-card application right")]
    NoRight,
    /// Any other failure of the NHI services.
    #[error(transparent)]
    Vpn(#[from] VpnError),
}

impl VcardError {
    /// The typed error of a server refusal code (`vcard_expired`…), or `None` for other codes.
    pub fn from_server_code(code: &str) -> Option<Self> {
        Some(match code {
            super::wire::codes::EXPIRED => VcardError::Expired { expired_at_ms: 0 },
            super::wire::codes::USED => VcardError::Used,
            super::wire::codes::FORGED => VcardError::Forged {
                reason: "the NHI does not know this QR".into(),
            },
            super::wire::codes::NO_CONSENT | super::wire::codes::REFUSED => VcardError::NoConsent,
            super::wire::codes::NO_RIGHT => VcardError::NoRight,
            _ => return None,
        })
    }
}
