//! What can go wrong talking to the NHI VPN services, typed so the sync engine can sort every
//! failure into network / server / record and decide whether to retry.

/// How a network-level failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkKind {
    /// The connection (TCP or TLS) could not be set up.
    Connect,
    /// The server did not answer in time.
    Timeout,
    /// The connection closed before a whole answer arrived.
    Dropped,
}

/// Which side a failure belongs to, for the sync engine's sorting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The network failed: try again later, nothing is wrong with the data.
    Network,
    /// The server failed or answered nonsense: try again later.
    Server,
    /// The request itself was refused: retrying the same bytes will not help.
    Record,
}

/// Why enrolment of this device failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrolmentError {
    /// The PIN typed does not match the one on the institution's VPN screen.
    #[error("wrong PIN verification code: {remaining} attempt(s) left")]
    WrongPin {
        /// Attempts left before the binding token is locked.
        remaining: u32,
    },
    /// The binding token (QR-2) has expired: the administrator must show a new QR-2.
    #[error("the binding QR code has expired; ask the administrator for a new one")]
    TokenExpired,
    /// Too many wrong PINs: the binding token is locked.
    #[error("the binding QR code is locked after too many wrong PINs; ask the administrator for a new one")]
    TokenLocked,
    /// The binding token was already used to enrol a device.
    #[error("the binding QR code was already used")]
    TokenUsed,
    /// The server does not know the binding token.
    #[error("the binding QR code is not known to the VPN")]
    TokenUnknown,
}

/// A failure of a call to the NHI VPN services. Messages never hold patient data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VpnError {
    /// The network failed (no route, timeout, connection dropped).
    #[error("network failure ({kind:?}): {detail}")]
    Network {
        /// How it failed.
        kind: NetworkKind,
        /// Technical detail (no patient data).
        detail: String,
    },
    /// The server answered with an error status it did not explain (5xx, or 4xx without a body).
    #[error("the VPN server failed with HTTP status {status}")]
    Server {
        /// The HTTP status.
        status: u16,
    },
    /// The answer could not be understood (garbage, half a body, wrong content type).
    #[error("the VPN server's answer could not be read: {reason}")]
    BadResponse {
        /// What was wrong with it.
        reason: String,
    },
    /// The server refused the request; sending the same request again will not help.
    #[error("the VPN server refused the request: {reason}")]
    Rejected {
        /// The server's error code (e.g. `malformed_batch`, `bad_signature`).
        code: String,
        /// The server's explanation.
        reason: String,
        /// The field at fault, when the server named one.
        field: Option<String>,
    },
    /// The server's certificate is not the one pinned by the binding QR code.
    #[error("the VPN server's certificate does not match the one in the binding QR code")]
    CertificateMismatch,
    /// Enrolment of the device failed.
    #[error("enrolment failed: {0}")]
    Enrolment(#[from] EnrolmentError),
    /// The device's clock differs too much from the server's; the client has learnt the offset and
    /// the next attempt is sent with corrected time.
    #[error("the device clock is off by {server_ahead_ms} ms from the VPN server")]
    ClockSkew {
        /// How far the server's clock is ahead of the device's (negative: behind).
        server_ahead_ms: i64,
    },
    /// The binding QR code (QR-2) cannot be read.
    #[error("the binding QR code is not valid: {reason}")]
    InvalidQr {
        /// What is wrong with it.
        reason: String,
    },
    /// The request could not be built from the data given.
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// What is wrong.
        reason: String,
    },
    /// Keeping the device key or a cache on this device failed.
    #[error("local storage failed: {reason}")]
    Storage {
        /// What failed (no patient data).
        reason: String,
    },
}

impl VpnError {
    /// Whether sending the same request again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            VpnError::Network { .. }
                | VpnError::Server { .. }
                | VpnError::BadResponse { .. }
                | VpnError::ClockSkew { .. }
        )
    }

    /// Network / server / record, for the sync engine.
    pub fn class(&self) -> FailureClass {
        match self {
            VpnError::Network { .. } => FailureClass::Network,
            VpnError::Server { .. } | VpnError::BadResponse { .. } | VpnError::ClockSkew { .. } => {
                FailureClass::Server
            }
            VpnError::CertificateMismatch => FailureClass::Server,
            _ => FailureClass::Record,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_and_class_sort_failures() {
        let net = VpnError::Network {
            kind: NetworkKind::Timeout,
            detail: "t".into(),
        };
        assert!(net.is_retryable());
        assert_eq!(net.class(), FailureClass::Network);
        assert!(VpnError::Server { status: 503 }.is_retryable());
        assert_eq!(VpnError::Server { status: 500 }.class(), FailureClass::Server);
        let rejected = VpnError::Rejected {
            code: "malformed_batch".into(),
            reason: "x".into(),
            field: None,
        };
        assert!(!rejected.is_retryable());
        assert_eq!(rejected.class(), FailureClass::Record);
        assert!(!VpnError::CertificateMismatch.is_retryable());
        assert!(!VpnError::from(EnrolmentError::WrongPin { remaining: 2 }).is_retryable());
        assert!(
            VpnError::from(EnrolmentError::WrongPin { remaining: 2 })
                .to_string()
                .contains("2 attempt")
        );
    }
}
