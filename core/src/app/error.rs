//! The public error of the app facade: only what the app can act on, each variant with a stable
//! machine-readable [`AppError::code`] and the fields a screen needs. Made from the internal errors
//! at one conversion point ([`AppError::from`] over [`crate::Error`], plus one `From` per domain
//! error), which also decides what is logged. No message here ever holds patient data: fields and
//! reasons name the rule, never the value.
//!
//! To map a new domain error: add a `From<YourError> for AppError` next to the others (or a match
//! arm in [`map`] when the error is a [`crate::Error`] variant), reusing the variants below.

use crate::platform::KeyStoreError;
use crate::rules::RuleError;
use crate::store::StoreError;
use crate::vpn::{EnrolmentError, VpnError};

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
    /// A PIN was wrong (the card's, or the enrolment PIN); `remaining` attempts are left.
    #[error("wrong PIN: {remaining} attempt(s) left")]
    WrongPin {
        /// Attempts left before the card (or the binding token) locks.
        remaining: u32,
    },
    /// The card is locked after too many wrong PINs.
    #[error("the card is locked")]
    CardLocked,
    /// No card reader is paired with this device yet.
    #[error("no card reader is paired")]
    ReaderNotPaired,
    /// The paired reader cannot be reached (off, out of range, Bluetooth off).
    #[error("the card reader is unavailable")]
    ReaderUnavailable,
    /// The card reader failed in another way.
    #[error("the card reader failed: {reason}")]
    Reader {
        /// What happened, without patient data.
        reason: String,
    },
    /// The NHI card answered with a control-software error code (e.g. 5102).
    #[error("card error {code}")]
    Card {
        /// The control-software code.
        code: String,
    },
    /// The device clock differs too much from the NHI server's; the next attempt corrects it.
    #[error("the device clock is off by {server_ahead_ms} ms")]
    ClockSkew {
        /// How far the server's clock is ahead of the device's (negative: behind).
        server_ahead_ms: i64,
    },
    /// The server's certificate is not the one pinned at enrolment (possible interception).
    #[error("the server's certificate does not match the enrolled one")]
    CertificateMismatch,
    /// The NHI services could not be reached or answered nonsense; the work stays queued.
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
    /// The thing asked for does not exist (`what` names its kind, e.g. `visit`).
    #[error("{what} not found")]
    NotFound {
        /// Kind of the missing thing (never its value).
        what: String,
    },
    /// The local database could not be read or written (disk full, I/O error, busy).
    #[error("the local database failed")]
    Storage,
    /// The host key store is locked (e.g. the device was not unlocked since boot); retry later.
    #[error("the key store is locked")]
    Locked,
    /// The database was sealed with another key than the key store gave.
    #[error("the local database was sealed with another key")]
    WrongKey,
    /// The database exists but the key store lost its key (`alias`): no key was created and no
    /// file touched; restoring the key store (or its backup) opens it again.
    #[error("the key store no longer holds the local database's key")]
    KeyMissing {
        /// The missing key's alias (never key material).
        alias: String,
    },
    /// The database file is corrupt; it was moved to `moved_to` (never deleted) for recovery.
    #[error("the local database is corrupt")]
    Corrupt {
        /// Where the corrupt file was moved (empty when nothing was moved).
        moved_to: String,
    },
    /// Another `HomeVisit` of this process already has this data directory open.
    #[error("the data directory is already open")]
    AlreadyOpen,
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
    /// A prescription needs the prescriber's practitioner card with its PIN verified in this
    /// reader session (insert the card, verify the PIN, then issue).
    #[error("verify the practitioner card's PIN before prescribing")]
    PractitionerNotVerified,
    /// The action is not allowed in the record's state (e.g. correcting a sent referral);
    /// `action` and `state` are stable names.
    #[error("cannot {action} when {state}")]
    WrongState {
        /// What was tried (`correct`, `delete`, `send`, `process`, `reply`, `re_refer`).
        action: String,
        /// The state that forbids it (`sent`, `replied`, `opened_unsent`…).
        state: String,
    },
    /// The visit is past the 3-month correction window (`rules::correction`): the NHI no longer
    /// accepts a correction or deletion of it; nothing was changed.
    #[error("the correction window closed")]
    CorrectionWindowClosed {
        /// The window's last moment (Unix ms).
        deadline_ms: i64,
    },
    /// The visit is past the 24-hour cancel window (`ZA`/`ZB`); nothing was changed.
    #[error("the cancel window closed")]
    CancelWindowClosed {
        /// The window's last moment (Unix ms).
        deadline_ms: i64,
    },
    /// A bug or an unexpected state inside the core; logged, nothing the user can fix.
    #[error("internal error")]
    Internal,
    /// The virtual NHI card QR is past its 5 minutes (at `expired_at_ms`; 0 when only the NHI
    /// knows): the patient must show a new one.
    #[error("the virtual card QR has expired")]
    VcardExpired {
        /// When it expired, ms since the epoch (0 when the NHI refused it without saying).
        expired_at_ms: i64,
    },
    /// The virtual NHI card QR was already used (single-use): the patient must show a new one.
    #[error("the virtual card QR was already used")]
    VcardUsed,
    /// The virtual NHI card QR is not one the NHI issued.
    #[error("the virtual card QR is not genuine")]
    VcardForged,
    /// The patient has not approved the reading in their app (or refused it).
    #[error("the patient has not consented to reading the virtual card")]
    VcardNoConsent,
    /// A virtual card cannot be verified without the NHI: no network. The visit may go on the
    /// abnormal path `fallback_sequence` (with the physical card, or the patient's data typed from
    /// an ID document), never as a verified virtual-card visit.
    #[error("a virtual card cannot be verified offline")]
    VcardNeedsNetwork {
        /// The abnormal sequence number the fallback takes (`A020`).
        fallback_sequence: String,
    },
    /// The institution does not hold the virtual-card assisted-application right.
    #[error("this institution does not hold the virtual-card application right")]
    VcardNoRight,
    /// A chronic continuous prescription (refills 2–3) was asked for on a card-less visit: the
    /// NHI allows none without the card.
    #[error("no chronic continuous prescription on a card-less visit")]
    ChronicRxCardLess,
    /// The card of a card-less visit came after the 10 working days: `deadline` was the last
    /// allowed day, `brought` the day it came (ISO dates, Taiwan time). The visit stays out of pocket.
    #[error("card replacement after the deadline {deadline}")]
    ReplacementTooLate {
        /// The last working day allowed (`2026-12-15`).
        deadline: String,
        /// The day the card was brought.
        brought: String,
    },
    /// The shipped holiday calendar does not cover `year` (it covers `first_year`–`last_year`): a
    /// rule counting working days or holidays cannot answer; update the app's calendar data.
    #[error("the holiday calendar does not cover {year}")]
    CalendarNotCovered {
        /// The year asked about.
        year: i32,
        /// First year covered.
        first_year: i32,
        /// Last year covered.
        last_year: i32,
    },
    /// An emergency visit needs at least one of the 8 indications.
    #[error("an emergency visit needs at least one indication")]
    EmergencyNoIndication,
}

impl AppError {
    /// The stable machine-readable code of the variant (e.g. `wrong_pin`); never changes.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Validation { .. } => "validation",
            AppError::WrongPin { .. } => "wrong_pin",
            AppError::CardLocked => "card_locked",
            AppError::ReaderNotPaired => "reader_not_paired",
            AppError::ReaderUnavailable => "reader_unavailable",
            AppError::Reader { .. } => "reader",
            AppError::Card { .. } => "card",
            AppError::ClockSkew { .. } => "clock_skew",
            AppError::CertificateMismatch => "certificate_mismatch",
            AppError::Network => "network",
            AppError::Rejected { .. } => "rejected",
            AppError::NotFound { .. } => "not_found",
            AppError::Storage => "storage",
            AppError::Locked => "locked",
            AppError::WrongKey => "wrong_key",
            AppError::KeyMissing { .. } => "key_missing",
            AppError::Corrupt { .. } => "corrupt",
            AppError::AlreadyOpen => "already_open",
            AppError::NotEnrolled => "not_enrolled",
            AppError::AlreadyDispensed { .. } => "already_dispensed",
            AppError::PractitionerNotVerified => "practitioner_not_verified",
            AppError::WrongState { .. } => "wrong_state",
            AppError::CorrectionWindowClosed { .. } => "correction_window_closed",
            AppError::CancelWindowClosed { .. } => "cancel_window_closed",
            AppError::Internal => "internal",
            AppError::VcardExpired { .. } => "vcard_expired",
            AppError::VcardUsed => "vcard_used",
            AppError::VcardForged => "vcard_forged",
            AppError::VcardNoConsent => "vcard_no_consent",
            AppError::VcardNeedsNetwork { .. } => "vcard_needs_network",
            AppError::VcardNoRight => "vcard_no_right",
            AppError::ChronicRxCardLess => "chronic_rx_card_less",
            AppError::ReplacementTooLate { .. } => "replacement_too_late",
            AppError::CalendarNotCovered { .. } => "calendar_not_covered",
            AppError::EmergencyNoIndication => "emergency_no_indication",
        }
    }

    /// Every code [`AppError::code`] can give (for hosts that switch on codes, and for tests).
    pub const CODES: [&'static str; 35] = [
        "validation",
        "wrong_pin",
        "card_locked",
        "reader_not_paired",
        "reader_unavailable",
        "reader",
        "card",
        "clock_skew",
        "certificate_mismatch",
        "network",
        "rejected",
        "not_found",
        "storage",
        "locked",
        "wrong_key",
        "key_missing",
        "corrupt",
        "already_open",
        "not_enrolled",
        "already_dispensed",
        "practitioner_not_verified",
        "wrong_state",
        "correction_window_closed",
        "cancel_window_closed",
        "internal",
        "vcard_expired",
        "vcard_used",
        "vcard_forged",
        "vcard_no_consent",
        "vcard_needs_network",
        "vcard_no_right",
        "chronic_rx_card_less",
        "replacement_too_late",
        "calendar_not_covered",
        "emergency_no_indication",
    ];

    /// Whether trying the same operation again later may succeed (network, clock, lock).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AppError::Network | AppError::ClockSkew { .. } | AppError::Locked | AppError::ReaderUnavailable
        )
    }

    /// The error of a panic caught at an export: logged (without its payload, which could quote
    /// data), reported as [`AppError::Internal`].
    pub fn from_panic(_payload: Box<dyn std::any::Any + Send>) -> Self {
        tracing::error!(target: "homevisit::app", "a panic was caught at the facade");
        AppError::Internal
    }
}

/// Runs `f`, turning a panic into [`AppError::Internal`] (for every synchronous export).
pub fn catch_panic<T>(f: impl FnOnce() -> Result<T, AppError>) -> Result<T, AppError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| Err(AppError::from_panic(p)))
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

impl From<crate::vcard::VcardError> for AppError {
    /// The virtual-card refusals keep their own codes; other failures map as the VPN's do.
    fn from(e: crate::vcard::VcardError) -> Self {
        use crate::vcard::VcardError as V;
        if !matches!(e, V::Vpn(_)) {
            tracing::info!(target: "homevisit::app", error = %e, "virtual card refused");
        }
        match e {
            V::Vpn(v) => AppError::from(v),
            V::Expired { expired_at_ms } => AppError::VcardExpired { expired_at_ms },
            V::Used => AppError::VcardUsed,
            V::Forged { .. } => AppError::VcardForged,
            V::NoConsent => AppError::VcardNoConsent,
            V::NeedsNetwork => AppError::VcardNeedsNetwork {
                fallback_sequence: crate::model::AbnormalCode::NetworkBefore.code().to_string(),
            },
            V::NoRight => AppError::VcardNoRight,
        }
    }
}

impl From<crate::rules::calendar::CalendarError> for AppError {
    /// A year the shipped calendar does not cover keeps its own code; malformed data is a bug.
    fn from(e: crate::rules::calendar::CalendarError) -> Self {
        use crate::rules::calendar::CalendarError as C;
        tracing::warn!(target: "homevisit::app", error = %e, "the holiday calendar cannot answer");
        match e {
            C::YearNotCovered { year, covered } => AppError::CalendarNotCovered {
                year,
                first_year: covered.0,
                last_year: covered.1,
            },
            C::Malformed { .. } => AppError::Internal,
        }
    }
}

impl From<crate::rules::calendar::ReplacementError> for AppError {
    /// A card brought too late keeps its own code with both dates; before the visit is bad input.
    fn from(e: crate::rules::calendar::ReplacementError) -> Self {
        use crate::rules::calendar::ReplacementError as R;
        match e {
            R::TooLate { deadline, brought } => AppError::ReplacementTooLate {
                deadline: deadline.to_string(),
                brought: brought.to_string(),
            },
            R::BeforeVisit { .. } => AppError::Validation {
                field: "brought".into(),
                reason: "the card is brought before the visit it replaces".into(),
            },
            R::Calendar(c) => AppError::from(c),
        }
    }
}

impl From<crate::rules::emergency::EmergencyError> for AppError {
    /// No indication keeps its own code; the other refusals name the field at fault.
    fn from(e: crate::rules::emergency::EmergencyError) -> Self {
        use crate::rules::emergency::EmergencyError as E;
        let invalid = |field: &str, reason: &str| AppError::Validation {
            field: field.into(),
            reason: reason.into(),
        };
        match e {
            E::NoIndication => AppError::EmergencyNoIndication,
            E::UnknownIndication => invalid("indications", "not one of the 8 indications"),
            E::EndBeforeArrival => invalid("end", "the visit ends before the arrival"),
            E::VisitTooLong => invalid("end", "the visit lasts longer than 24 hours"),
            E::TimeOutOfRange => invalid("arrival", "time out of range"),
            E::Calendar(c) => AppError::from(c),
        }
    }
}

impl From<crate::sync::SyncError> for AppError {
    fn from(e: crate::sync::SyncError) -> Self {
        tracing::warn!(target: "homevisit::app", error = %e, "the outbox failed");
        AppError::Storage
    }
}

impl From<crate::Error> for AppError {
    /// The one conversion point: maps the internal error and logs it. Internal errors never hold
    /// patient data (their own rule), so their text may be logged; input faults log at debug only.
    fn from(e: crate::Error) -> Self {
        let public = map(&e);
        match public {
            AppError::Validation { .. } | AppError::NotFound { .. } => {
                tracing::debug!(target: "homevisit::app", error = %e, "input refused")
            }
            AppError::Locked | AppError::Network | AppError::ClockSkew { .. } => {
                tracing::info!(target: "homevisit::app", error = %e, "temporarily unavailable")
            }
            _ => {
                tracing::warn!(target: "homevisit::app", error = %e, code = public.code(), "operation failed")
            }
        }
        public
    }
}

/// Maps an internal error to the public one (no logging).
fn map(e: &crate::Error) -> AppError {
    match e {
        crate::Error::Rule(RuleError::Invalid { field, reason }) => AppError::Validation {
            field: (*field).to_string(),
            reason: reason.clone(),
        },
        crate::Error::KeyStore(KeyStoreError::Locked) => AppError::Locked,
        crate::Error::KeyStore(KeyStoreError::Failed(_)) => AppError::Storage,
        crate::Error::Store(s) => map_store(s),
        crate::Error::Vpn(v) => map_vpn(v),
    }
}

/// The store's errors.
fn map_store(s: &StoreError) -> AppError {
    match s {
        StoreError::WrongKey => AppError::WrongKey,
        StoreError::KeyMissing { alias } => AppError::KeyMissing {
            alias: (*alias).to_string(),
        },
        StoreError::Corrupt { moved_to } => AppError::Corrupt {
            moved_to: moved_to.display().to_string(),
        },
        StoreError::Tampered { .. } => AppError::Corrupt {
            moved_to: String::new(),
        },
        StoreError::KeyStore(KeyStoreError::Locked) => AppError::Locked,
        StoreError::NotFound { what } => AppError::NotFound {
            what: (*what).to_string(),
        },
        StoreError::Invalid(_) | StoreError::Serde(_) => AppError::Internal,
        StoreError::Conflict(_)
        | StoreError::TooNew { .. }
        | StoreError::Sqlite(_)
        | StoreError::Io(_)
        | StoreError::KeyStore(KeyStoreError::Failed(_)) => AppError::Storage,
    }
}

/// The VPN client's errors: clock skew and a certificate pin mismatch get their own variants.
fn map_vpn(v: &VpnError) -> AppError {
    match v {
        VpnError::Network { .. } | VpnError::Server { .. } | VpnError::BadResponse { .. } => {
            AppError::Network
        }
        VpnError::ClockSkew { server_ahead_ms } => AppError::ClockSkew {
            server_ahead_ms: *server_ahead_ms,
        },
        VpnError::CertificateMismatch => AppError::CertificateMismatch,
        VpnError::Rejected { code, reason, field } => AppError::Rejected {
            code: code.clone(),
            field: field.clone(),
            reason: reason.clone(),
        },
        VpnError::Enrolment(EnrolmentError::WrongPin { remaining }) => AppError::WrongPin {
            remaining: *remaining,
        },
        VpnError::Enrolment(other) => AppError::Rejected {
            code: match other {
                EnrolmentError::TokenExpired => "token_expired",
                EnrolmentError::TokenLocked => "token_locked",
                EnrolmentError::TokenUsed => "token_used",
                EnrolmentError::TokenUnknown | EnrolmentError::WrongPin { .. } => "token_unknown",
            }
            .into(),
            field: Some("binding_qr".into()),
            reason: other.to_string(),
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
        assert_eq!(e.code(), "validation");
    }

    #[test]
    fn key_store_errors_map_to_locked_or_storage() {
        assert_eq!(AppError::from(KeyStoreError::Locked), AppError::Locked);
        assert_eq!(
            AppError::from(KeyStoreError::Failed("disk".into())),
            AppError::Storage
        );
    }

    #[test]
    fn clock_skew_and_certificate_mismatch_have_their_own_variants() {
        let skew = AppError::from(VpnError::ClockSkew {
            server_ahead_ms: 600_000,
        });
        assert_eq!(
            skew,
            AppError::ClockSkew {
                server_ahead_ms: 600_000
            }
        );
        assert_eq!(skew.code(), "clock_skew");
        assert!(skew.is_transient());
        let pin = AppError::from(VpnError::CertificateMismatch);
        assert_eq!(pin, AppError::CertificateMismatch);
        assert_eq!(pin.code(), "certificate_mismatch");
        let wrong = AppError::from(VpnError::from(EnrolmentError::WrongPin { remaining: 2 }));
        assert_eq!(wrong, AppError::WrongPin { remaining: 2 });
        let rejected = AppError::from(VpnError::Rejected {
            code: "bad_signature".into(),
            reason: "signature does not verify".into(),
            field: Some("x-hv-sig".into()),
        });
        assert!(
            matches!(&rejected, AppError::Rejected { code, field: Some(f), .. }
            if code == "bad_signature" && f == "x-hv-sig")
        );
        assert_eq!(
            AppError::from(StoreError::NotFound { what: "visit" }),
            AppError::NotFound { what: "visit".into() }
        );
    }

    #[test]
    fn every_variant_has_a_distinct_listed_code() {
        let all = [
            AppError::Validation {
                field: String::new(),
                reason: String::new(),
            },
            AppError::WrongPin { remaining: 1 },
            AppError::CardLocked,
            AppError::ReaderNotPaired,
            AppError::ReaderUnavailable,
            AppError::Reader {
                reason: String::new(),
            },
            AppError::Card { code: String::new() },
            AppError::ClockSkew { server_ahead_ms: 0 },
            AppError::CertificateMismatch,
            AppError::Network,
            AppError::Rejected {
                code: String::new(),
                field: None,
                reason: String::new(),
            },
            AppError::NotFound { what: String::new() },
            AppError::Storage,
            AppError::Locked,
            AppError::WrongKey,
            AppError::KeyMissing { alias: String::new() },
            AppError::Corrupt {
                moved_to: String::new(),
            },
            AppError::AlreadyOpen,
            AppError::NotEnrolled,
            AppError::AlreadyDispensed {
                by: String::new(),
                at_ms: 0,
            },
            AppError::PractitionerNotVerified,
            AppError::WrongState {
                action: String::new(),
                state: String::new(),
            },
            AppError::CorrectionWindowClosed { deadline_ms: 0 },
            AppError::CancelWindowClosed { deadline_ms: 0 },
            AppError::Internal,
            AppError::VcardExpired { expired_at_ms: 0 },
            AppError::VcardUsed,
            AppError::VcardForged,
            AppError::VcardNoConsent,
            AppError::VcardNeedsNetwork {
                fallback_sequence: String::new(),
            },
            AppError::VcardNoRight,
            AppError::ChronicRxCardLess,
            AppError::ReplacementTooLate {
                deadline: String::new(),
                brought: String::new(),
            },
            AppError::CalendarNotCovered {
                year: 0,
                first_year: 0,
                last_year: 0,
            },
            AppError::EmergencyNoIndication,
        ];
        let codes: Vec<_> = all.iter().map(AppError::code).collect();
        assert_eq!(codes, AppError::CODES);
        let unique: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), codes.len());
    }

    #[test]
    fn a_panic_becomes_internal() {
        let r: Result<(), AppError> = catch_panic(|| panic!("bug"));
        assert_eq!(r, Err(AppError::Internal));
    }
}
