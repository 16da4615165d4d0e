//! JSON bodies exchanged with the NHI VPN services (the upload itself is 2.0 XML, see
//! [`super::upload_xml`]). Shared by the client and the simulator; field names are short on
//! purpose where a body repeats per visit.

use serde::{Deserialize, Serialize};

/// Route paths of the VPN services.
pub mod routes {
    /// `POST` [`super::EnrolRequest`] → [`super::EnrolResponse`].
    pub const ENROL: &str = "/v1/enrol";
    /// `POST` 2.0 XML (Big5) → [`super::UploadResponse`]; header [`IDEMPOTENCY`] names the batch.
    pub const UPLOAD: &str = "/v1/upload";
    /// `POST` 2.0 XML corrections (record state A01 = 3/4, deletion A02 = 1) by visit
    /// identification code → [`super::UploadResponse`].
    pub const CORRECTIONS: &str = "/v1/upload/corrections";
    /// `GET /v1/upload/{batch_id}` → [`super::UploadResult`].
    pub const UPLOAD_RESULT_PREFIX: &str = "/v1/upload/";
    /// `POST` [`super::MediCloudRequest`] → [`super::MediCloudRecord`].
    pub const MEDICLOUD: &str = "/v1/medicloud";
    /// `GET` → `Vec<`[`super::OrderSet`]`>`.
    pub const ORDER_SETS: &str = "/v1/order-sets";
    /// `GET /v1/institutions/{code}/keys` (no signature) → [`super::DeviceKeys`].
    pub const INSTITUTION_KEYS_PREFIX: &str = "/v1/institutions/";
    /// `POST` [`super::SamCardAuthRequest`] → [`super::SamCardAuthResponse`].
    pub const SAM_CARD_AUTH: &str = "/v1/sam/card-auth";
    /// `POST` [`super::SamVerifyRequest`] → [`super::Done`] (or `card_not_genuine`).
    pub const SAM_VERIFY: &str = "/v1/sam/verify";
    /// `POST` [`super::SamSignRequest`] → [`super::SamSignResponse`].
    pub const SAM_SIGN: &str = "/v1/sam/sign";
    /// Header carrying the batch idempotency key.
    pub const IDEMPOTENCY: &str = "x-hv-idem";
}

/// Enrolment of a device (after scanning QR-2 and typing the PIN).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolRequest {
    /// The one-time token from QR-2.
    pub token: String,
    /// The device's Ed25519 public key, hex.
    pub public_key: String,
    /// HMAC of the PIN (see `signing::pin_proof`), hex.
    pub pin_proof: String,
    /// Signature by the new key over `signing::enrol_proof_message`, base64url.
    pub key_proof: String,
    /// A name for the device shown on the institution's screen.
    pub device_name: String,
}

/// What the server gives an enrolled device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolResponse {
    /// The device's id, sent with every signed request.
    pub device_id: String,
    /// The institution the device is bound to.
    pub institution_code: String,
    /// The institution's cloud SAM id (12 characters, upload field M01).
    pub sam_id: String,
    /// SHA-256 (hex) of the server's next certificate, pinned as the backup (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_cert_sha256: Option<String>,
}

/// The error body every failing route answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable error code, e.g. `wrong_pin`, `malformed_batch`, `clock_skew`.
    pub error: String,
    /// Human explanation (no patient data).
    pub message: String,
    /// PIN attempts left, for `wrong_pin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u32>,
    /// The field at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The server's clock, for `clock_skew`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_time_ms: Option<i64>,
}

/// The server's verdict on one record of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordStatus {
    /// Stored now.
    #[serde(rename = "ok")]
    Accepted,
    /// Already stored by an earlier upload: nothing new stored; the digest says which content the
    /// server holds (the same as sent: a retry; another: a conflict).
    #[serde(rename = "dup")]
    Duplicate,
    /// Replaced an earlier record with the same visit identification code (corrections).
    #[serde(rename = "fix")]
    Corrected,
    /// Not stored: see field and reason.
    #[serde(rename = "err")]
    Rejected,
}

impl RecordStatus {
    /// True when the server holds the record (accepted now, before, or corrected).
    pub fn is_stored(self) -> bool {
        !matches!(self, RecordStatus::Rejected)
    }
}

/// One record's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordResult {
    /// Visit identification code of the record (M15).
    #[serde(rename = "c")]
    pub visit_code: String,
    /// The verdict.
    #[serde(rename = "s")]
    pub status: RecordStatus,
    /// The field at fault (e.g. `M13`), for rejections.
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why it was rejected.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The digest of the content the server now holds under this visit code
    /// (`rules::correction::content_digest`, or `deletion_digest` for a deleted visit): the device
    /// counts a record done only when it is the digest of what it sent.
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// The immediate answer to an upload: one result per record, in the batch's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadResponse {
    /// Batch id for the upload-result query.
    #[serde(rename = "b")]
    pub batch_id: String,
    /// Per-record results, in order.
    #[serde(rename = "r")]
    pub records: Vec<RecordResult>,
}

/// One invalid row of an upload result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidRow {
    /// Position of the record in the batch (0-based).
    pub index: u32,
    /// Visit identification code of the record.
    pub visit_code: String,
    /// The field at fault.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// The upload-result query (上傳結果查詢): counts and the invalid rows of one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadResult {
    /// The batch.
    pub batch_id: String,
    /// When the server received it, Unix ms.
    pub received_at_ms: i64,
    /// Records received.
    pub received: u32,
    /// Records valid (accepted, duplicate or corrected).
    pub valid: u32,
    /// Records invalid.
    pub invalid: u32,
    /// The invalid rows with their reasons.
    pub invalid_rows: Vec<InvalidRow>,
}

/// Query of a patient's MediCloud record.
#[derive(Clone, Serialize, Deserialize)]
pub struct MediCloudRequest {
    /// The patient's national ID (sent only inside the pinned TLS channel, never in a URL).
    pub national_id: String,
}

impl std::fmt::Debug for MediCloudRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediCloudRequest(<redacted>)")
    }
}

/// A medication the patient received recently (any institution).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Medication {
    /// NHI drug code.
    pub drug_code: String,
    /// Drug name.
    pub name: String,
    /// Institution that prescribed it.
    pub institution: String,
    /// Dispensing date, ISO `YYYY-MM-DD` (Taiwan).
    pub dispensed_on: String,
    /// Days supplied.
    pub days: u32,
    /// Days of medicine left on the server's date of the answer.
    pub remaining_days: u32,
}

/// A laboratory result.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct LabResult {
    /// Lab order code (NHI fee code, e.g. `09005C`).
    pub code: String,
    /// Test name.
    pub name: String,
    /// Result value as reported.
    pub value: String,
    /// Unit.
    pub unit: String,
    /// Reference range as reported.
    pub reference: String,
    /// Date taken, ISO `YYYY-MM-DD`.
    pub taken_on: String,
}

/// A patient's MediCloud record (clinical data: `Debug` is redacted).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct MediCloudRecord {
    /// The server's date of the answer, ISO `YYYY-MM-DD` (Taiwan).
    pub as_of: String,
    /// Recent medications, newest first.
    pub medications: Vec<Medication>,
    /// Recent lab results, newest first.
    pub labs: Vec<LabResult>,
}

impl std::fmt::Debug for MediCloudRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MediCloudRecord(as_of {}, {} medications, {} labs)",
            self.as_of,
            self.medications.len(),
            self.labs.len()
        )
    }
}

/// One drug line of an order set (the same JSON fields as `rx::orderset::RxLine`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSetLine {
    /// NHI drug code (10 characters).
    pub drug_code: String,
    /// Dose per administration in hundredths of a unit (`50` = half a tablet).
    pub dose_centi: u32,
    /// Frequency code, e.g. `TID`.
    pub frequency: String,
    /// Route code, e.g. `PO`.
    pub route: String,
    /// Days supplied.
    pub days: u16,
    /// Total quantity in tenths of a unit.
    pub total_deci: u32,
}

/// A prescription order set (處方套餐) of the institution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSet {
    /// Stable id of the set.
    pub id: String,
    /// Name shown to the doctor.
    pub name: String,
    /// Its drug lines.
    pub lines: Vec<OrderSetLine>,
}

/// Public keys of an institution's enrolled devices (for pharmacists verifying signed QR codes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceKeys {
    /// The institution.
    pub institution_code: String,
    /// `(device id, Ed25519 public key hex)` pairs.
    pub keys: Vec<DevicePublicKey>,
}

/// One device's public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicePublicKey {
    /// Device id.
    pub device_id: String,
    /// Ed25519 public key, hex.
    pub public_key: String,
}

/// Cloud SAM, step 2 of card authentication: the card's challenge.
#[derive(Clone, Serialize, Deserialize)]
pub struct SamCardAuthRequest {
    /// The patient card's number (12).
    pub card_number: String,
    /// The card's 8-byte challenge, hex.
    pub card_challenge: String,
}

impl std::fmt::Debug for SamCardAuthRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SamCardAuthRequest(<redacted>)")
    }
}

/// The SAM's challenge and proof for the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamCardAuthResponse {
    /// SAM-side session id.
    pub session: String,
    /// The SAM's 8-byte challenge, hex.
    pub sam_challenge: String,
    /// The SAM's 32-byte proof, hex.
    pub sam_proof: String,
}

/// Cloud SAM: check the card's proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamVerifyRequest {
    /// SAM-side session id.
    pub session: String,
    /// The card's 32-byte proof, hex.
    pub card_proof: String,
}

/// Cloud SAM: check the card and sign a visit (security signature, M14).
#[derive(Clone, Serialize, Deserialize)]
pub struct SamSignRequest {
    /// SAM-side session id.
    pub session: String,
    /// The card's 32-byte proof, hex.
    pub card_proof: String,
    /// Card number (12).
    pub card_number: String,
    /// Visit date-time, ROC `YYYMMDDHHMMSS`.
    pub visit_datetime: String,
    /// Sequence number (4).
    pub sequence_number: String,
    /// Institution code (10).
    pub institution: String,
    /// Visit identification code (20).
    pub visit_code: String,
    /// The card's 32-byte MAC over the visit fields, hex.
    pub card_mac: String,
}

impl std::fmt::Debug for SamSignRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamSignRequest")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// The security signature of a visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamSignResponse {
    /// 256 upper-case hex characters.
    pub signature_hex: String,
    /// The SAM id (12).
    pub sam_id: String,
}

/// An empty success body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// Always true.
    pub ok: bool,
}
