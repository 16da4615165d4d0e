//! Card errors as the NHI control software reports them: a numeric code with a clear message.
//!
//! Codes 4013, 4033, 5001, 5102 and 9083 are the ones the NHI documents name; the others follow the
//! control-software numbering as it appears in public HIS code (4xxx reader/SAM/card presence,
//! 5xxx card operations, 9xxx insurance status). Where the public sources are silent the code is our
//! own choice and says so in its doc. No message ever holds patient data.

use crate::card::sam::SamError;
use crate::reader::ReaderError;

/// An NHI control-software error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum NhiCode {
    /// 4000: the reader did not answer in time.
    ReaderTimeout,
    /// 4013: no patient NHI card in the reader.
    NoPatientCard,
    /// 4014: no practitioner card (HPC) in the reader.
    NoPractitionerCard,
    /// 4033: the card in the patient slot is not an NHI card (e.g. a practitioner card).
    NotPatientCard,
    /// 4034: the card in the practitioner slot is not a practitioner card.
    NotPractitionerCard,
    /// 4042: the practitioner card's PIN has not been verified yet.
    PinNotVerified,
    /// 4050: the patient card has not been authenticated with the cloud SAM in this session.
    NotAuthenticated,
    /// 4061: the cloud SAM cannot be reached (no network).
    SamUnreachable,
    /// 4071: mutual authentication of the patient card and the cloud SAM failed: the card refused
    /// the SAM's proof or the SAM refused the card's (a fake or damaged card; or a fake SAM).
    CardNotGenuine,
    /// 4081 (our choice): the card was removed during the operation; nothing may have been written.
    CardRemoved,
    /// 5001: the card's visit count is exhausted.
    VisitCountExhausted,
    /// 5002: the card has been cancelled.
    CardCancelled,
    /// 5003: the card has expired.
    CardExpired,
    /// 5007: writing the visit data to the card failed.
    WriteFailed,
    /// 5008: the cloud SAM could not sign the visit.
    SignatureFailed,
    /// 5022: the visit record was not found on the card.
    RecordNotFound,
    /// 5031 (our choice): the card holds no room for more prescription entries (60 at most).
    PrescriptionsFull,
    /// 5032 (our choice): a visit can only be cancelled within 24 hours.
    CancelWindowPassed,
    /// 5102: the PIN entered does not match the card.
    WrongPin,
    /// 5105 (our choice of number): the PIN is locked after too many wrong entries.
    PinLocked,
    /// 9083: the card holder is not insured.
    NotInsured,
}

impl NhiCode {
    /// The numeric control-software code.
    pub fn code(self) -> u16 {
        match self {
            NhiCode::ReaderTimeout => 4000,
            NhiCode::NoPatientCard => 4013,
            NhiCode::NoPractitionerCard => 4014,
            NhiCode::NotPatientCard => 4033,
            NhiCode::NotPractitionerCard => 4034,
            NhiCode::PinNotVerified => 4042,
            NhiCode::NotAuthenticated => 4050,
            NhiCode::SamUnreachable => 4061,
            NhiCode::CardNotGenuine => 4071,
            NhiCode::CardRemoved => 4081,
            NhiCode::VisitCountExhausted => 5001,
            NhiCode::CardCancelled => 5002,
            NhiCode::CardExpired => 5003,
            NhiCode::WriteFailed => 5007,
            NhiCode::SignatureFailed => 5008,
            NhiCode::RecordNotFound => 5022,
            NhiCode::PrescriptionsFull => 5031,
            NhiCode::CancelWindowPassed => 5032,
            NhiCode::WrongPin => 5102,
            NhiCode::PinLocked => 5105,
            NhiCode::NotInsured => 9083,
        }
    }

    /// A clear message for the user (English; the shells translate).
    pub fn message(self) -> &'static str {
        match self {
            NhiCode::ReaderTimeout => "the card reader did not answer in time",
            NhiCode::NoPatientCard => "no NHI card in the reader",
            NhiCode::NoPractitionerCard => "no practitioner card in the reader",
            NhiCode::NotPatientCard => "the card is not a patient NHI card",
            NhiCode::NotPractitionerCard => "the card is not a practitioner card",
            NhiCode::PinNotVerified => "the practitioner card PIN has not been verified",
            NhiCode::NotAuthenticated => "the NHI card has not been authenticated with the cloud SAM",
            NhiCode::SamUnreachable => "the cloud SAM cannot be reached (no network)",
            NhiCode::CardNotGenuine => {
                "the NHI card failed authentication with the cloud SAM (fake or damaged card)"
            }
            NhiCode::CardRemoved => "the card was removed during the operation",
            NhiCode::VisitCountExhausted => "the card has no visits left",
            NhiCode::CardCancelled => "the card has been cancelled",
            NhiCode::CardExpired => "the card has expired",
            NhiCode::WriteFailed => "writing the visit to the card failed",
            NhiCode::SignatureFailed => "the cloud SAM could not sign the visit",
            NhiCode::RecordNotFound => "the visit record is not on the card",
            NhiCode::PrescriptionsFull => "the card has no room for more prescription entries",
            NhiCode::CancelWindowPassed => "a visit can only be cancelled within 24 hours",
            NhiCode::WrongPin => "wrong PIN",
            NhiCode::PinLocked => "the PIN is locked after too many wrong entries",
            NhiCode::NotInsured => "the card holder is not insured",
        }
    }

    /// Looks a numeric code up.
    pub fn from_code(code: u16) -> Option<Self> {
        ALL.iter().copied().find(|c| c.code() == code)
    }
}

/// Every code, for lookups and tests.
pub const ALL: &[NhiCode] = &[
    NhiCode::ReaderTimeout,
    NhiCode::NoPatientCard,
    NhiCode::NoPractitionerCard,
    NhiCode::NotPatientCard,
    NhiCode::NotPractitionerCard,
    NhiCode::PinNotVerified,
    NhiCode::NotAuthenticated,
    NhiCode::SamUnreachable,
    NhiCode::CardNotGenuine,
    NhiCode::CardRemoved,
    NhiCode::VisitCountExhausted,
    NhiCode::CardCancelled,
    NhiCode::CardExpired,
    NhiCode::WriteFailed,
    NhiCode::SignatureFailed,
    NhiCode::RecordNotFound,
    NhiCode::PrescriptionsFull,
    NhiCode::CancelWindowPassed,
    NhiCode::WrongPin,
    NhiCode::PinLocked,
    NhiCode::NotInsured,
];

impl std::fmt::Display for NhiCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code(), self.message())
    }
}

/// Anything the card layer can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// An NHI control-software error.
    #[error("NHI card error {0}")]
    Code(NhiCode),
    /// Wrong PIN on the practitioner card: code 5102, with the tries left before it locks.
    #[error("NHI card error 5102 wrong PIN ({remaining} tries left)")]
    WrongPin {
        /// Tries left before the PIN locks.
        remaining: u8,
    },
    /// The card answered something that does not decode (field named, never the value).
    #[error("malformed card response: {what}: {reason}")]
    Malformed {
        /// Which response or field.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The card answered a status word the card layer does not know.
    #[error("unexpected status word {sw:04X} from the card ({what})")]
    Status {
        /// Which command.
        what: &'static str,
        /// SW1 SW2.
        sw: u16,
    },
    /// The link to the reader failed (disconnect, bad frame): the operation may be retried.
    #[error(transparent)]
    Reader(ReaderError),
    /// The cloud SAM failed in a way that is not a card code.
    #[error(transparent)]
    Sam(SamError),
    /// The caller passed something the card cannot hold.
    #[error("invalid input: {0}")]
    Input(String),
}

impl CardError {
    /// The NHI code when the error has one.
    pub fn nhi_code(&self) -> Option<NhiCode> {
        match self {
            CardError::Code(c) => Some(*c),
            CardError::WrongPin { .. } => Some(NhiCode::WrongPin),
            _ => None,
        }
    }

    /// Whether retrying the same operation after reconnecting can succeed (link failures).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CardError::Reader(ReaderError::Disconnected | ReaderError::Timeout | ReaderError::BadFrame(_))
                | CardError::Code(NhiCode::CardRemoved | NhiCode::ReaderTimeout)
        )
    }

    pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> Self {
        CardError::Malformed {
            what,
            reason: reason.into(),
        }
    }
}

impl From<SamError> for CardError {
    fn from(e: SamError) -> Self {
        match e {
            SamError::Unreachable(_) => CardError::Code(NhiCode::SamUnreachable),
            SamError::CardNotGenuine => CardError::Code(NhiCode::CardNotGenuine),
            SamError::NotInsured => CardError::Code(NhiCode::NotInsured),
            other => CardError::Sam(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for c in ALL {
            assert!(seen.insert(c.code()), "duplicate {}", c.code());
            assert_eq!(NhiCode::from_code(c.code()), Some(*c));
            assert!(!c.message().is_empty());
        }
        assert_eq!(NhiCode::NoPatientCard.code(), 4013);
        assert_eq!(NhiCode::NotPatientCard.code(), 4033);
        assert_eq!(NhiCode::VisitCountExhausted.code(), 5001);
        assert_eq!(NhiCode::WrongPin.code(), 5102);
        assert_eq!(NhiCode::NotInsured.code(), 9083);
        assert_eq!(NhiCode::from_code(1234), None);
    }

    #[test]
    fn messages_name_the_code() {
        let e = CardError::Code(NhiCode::NotPatientCard);
        assert_eq!(
            e.to_string(),
            "NHI card error 4033 the card is not a patient NHI card"
        );
        let e = CardError::WrongPin { remaining: 2 };
        assert!(e.to_string().contains("5102"));
        assert_eq!(e.nhi_code(), Some(NhiCode::WrongPin));
    }
}
