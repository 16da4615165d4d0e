//! Routes and JSON bodies of the NHI's virtual-card service (simulated by `nhi-vpn-sim`). Every
//! `/v1/vcard` route is signed by the enrolled device like the other VPN routes.

use serde::{Deserialize, Serialize};

/// `GET`: the NHI's virtual-card QR public key (Ed25519).
pub const KEY: &str = "/v1/vcard/key";
/// `POST` [`ScanRequest`] → [`ScanResponse`]: the institution presents a scanned QR.
pub const SCAN: &str = "/v1/vcard/scan";
/// `POST` [`SessionRequest`] → [`ConsentResponse`]: whether the patient approved yet.
pub const CONSENT: &str = "/v1/vcard/consent";
/// `POST` [`SessionRequest`] → [`CardData`]: the card data (refused before consent).
pub const CARD: &str = "/v1/vcard/card";
/// `POST` [`SequenceRequest`] → [`SequenceResponse`]: the `V` sequence number of the visit.
pub const SEQUENCE: &str = "/v1/vcard/sequence";
/// `POST` [`ApplicationRequest`] → [`ApplicationResponse`]: an assisted virtual-card application.
pub const APPLICATION: &str = "/v1/vcard/applications";

/// The service's refusal codes (the `error` of an error body).
pub mod codes {
    /// The QR is past its 5 minutes.
    pub const EXPIRED: &str = "vcard_expired";
    /// The QR was scanned before (single-use), or its session already made a visit.
    pub const USED: &str = "vcard_used";
    /// The QR is not one the NHI issued.
    pub const FORGED: &str = "vcard_forged";
    /// The patient has not approved yet.
    pub const NO_CONSENT: &str = "vcard_no_consent";
    /// The patient refused.
    pub const REFUSED: &str = "vcard_refused";
    /// The institution does not hold the assisted-application right.
    pub const NO_RIGHT: &str = "vcard_no_right";
    /// The audit verification code is not the one issued to the institution.
    pub const BAD_AUDIT_CODE: &str = "vcard_bad_audit_code";
    /// The staff member is not one the institution designated.
    pub const NOT_DESIGNATED: &str = "vcard_not_designated";
    /// No such scan session (or another institution's).
    pub const UNKNOWN_SESSION: &str = "vcard_unknown_session";
}

/// The QR public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyResponse {
    /// Ed25519 public key, 32 bytes hex.
    pub public_key: String,
}

/// A scanned QR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanRequest {
    /// The QR text as scanned.
    pub qr: String,
}

/// The scan was accepted: the patient is asked to consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanResponse {
    /// The scan session (what the later calls name).
    pub session: String,
    /// When the QR expires (ms since the epoch, the NHI's clock).
    pub expires_at_ms: i64,
}

/// A call about one scan session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRequest {
    /// The scan session.
    pub session: String,
}

/// The patient's answer so far: `pending`, `granted` or `refused`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentResponse {
    /// `pending`, `granted` or `refused`.
    pub state: String,
}

/// The virtual card's data (the fields of the physical card's basic data).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardData {
    /// Card number (12).
    pub card_number: String,
    /// Name.
    pub name: String,
    /// National ID.
    pub national_id: String,
    /// Birth date, ROC `YYYMMDD`.
    pub birth_date: String,
    /// `M` or `F`.
    pub sex: String,
    /// Issue date, ROC `YYYMMDD`.
    pub issue_date: String,
}

impl std::fmt::Debug for CardData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardData(<redacted>)")
    }
}

/// The `V` sequence number request of a visit (idempotent per `txn_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceRequest {
    /// The consented scan session.
    pub session: String,
    /// Idempotency key (16 bytes hex): a retry gets the same answer.
    pub txn_id: String,
    /// Visit type (M07).
    pub visit_type: String,
    /// Visit date-time, ROC `YYYMMDDHHMMSS` (M11).
    pub visit_datetime: String,
    /// The visit identification code made on the device (M15).
    pub visit_code: String,
}

/// The NHI's answer: the `V` number and its signature over the upload's key fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceResponse {
    /// `V` + 3 characters (M13).
    pub sequence_number: String,
    /// The NHI's security signature (M14, 256 hex).
    pub signature_hex: String,
    /// The id of the NHI's virtual-card signer (M01, 12 characters).
    pub sam_id: String,
}

/// An assisted application (HMIC team, designated staff member, audit verification code).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationRequest {
    /// The applicant's card data as checked against the ID document.
    pub card: CardData,
    /// National ID of the designated staff member who checked photo and ID document.
    pub staff_id: String,
    /// The staff member confirmed the photo is the applicant's.
    pub photo_confirmed: bool,
    /// The staff member confirmed the ID document.
    pub id_document_confirmed: bool,
    /// The audit verification code issued to the institution.
    pub audit_code: String,
}

impl std::fmt::Debug for ApplicationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApplicationRequest(<redacted>)")
    }
}

/// The virtual card was issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationResponse {
    /// When it was issued (ms since the epoch).
    pub issued_at_ms: i64,
}
