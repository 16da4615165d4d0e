//! The pharmacist's side: scan → parse → verify the signature against the published device keys
//! (offline) → fetch details → dispense → receipt, with one typed error per way it can fail.

use super::otc;
use super::payload::{self, QrError, SignedPayload};
use crate::platform::Clock;
use crate::vpn::wire::DeviceKeys;
use chrono::NaiveDate;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// JSON bodies of the pharmacy API (`/pharmacy/api/...` on the VPN simulator).
pub mod wire {
    use crate::rx::orderset::RxLine;
    use serde::{Deserialize, Serialize};

    /// Path prefix of the pharmacy API.
    pub const API: &str = "/pharmacy/api";

    /// A device registers a prescription it issued (`POST /pharmacy/api/prescriptions`).
    #[derive(Clone, Serialize, Deserialize)]
    pub struct Registration {
        /// The signed QR text.
        pub qr: String,
        /// The one-time verification code.
        pub one_time_code: String,
        /// Abnormal-situation contact.
        pub contact: String,
        /// Patient's name (shown to the pharmacist).
        pub patient_name: String,
        /// Patient's ROC birth date.
        pub birth_date: String,
        /// Hex Ed25519 signature of [`Registration::message`] by the device that signed the QR,
        /// so nobody who merely saw the QR can register it with another code or name.
        pub signature: String,
    }

    impl Registration {
        /// The bytes the device signs: every field but the signature, NUL-separated.
        pub fn message(&self) -> Vec<u8> {
            [
                "homevisit-rx-registration-v1",
                &self.qr,
                &self.one_time_code,
                &self.contact,
                &self.patient_name,
                &self.birth_date,
            ]
            .join("\0")
            .into_bytes()
        }
    }

    impl std::fmt::Debug for Registration {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Registration(<redacted>)")
        }
    }

    /// A pharmacy logs in (`POST /pharmacy/api/login`).
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Login {
        /// Pharmacy institution code.
        pub pharmacy: String,
        /// Its password.
        pub password: String,
    }

    /// The session token of a logged-in pharmacy.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Session {
        /// Bearer token.
        pub token: String,
    }

    /// What the pharmacist has in hand: the scanned QR text or the typed one-time code.
    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    pub struct Presented {
        /// Scanned QR text.
        #[serde(default)]
        pub qr: Option<String>,
        /// Typed one-time code.
        #[serde(default)]
        pub code: Option<String>,
    }

    /// One dispense of a prescription and its state.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct RefillView {
        /// 1 = first dispense; 2, 3 = chronic refills.
        pub refill: u8,
        /// First pick-up day (ROC).
        pub from: String,
        /// Last pick-up day (ROC).
        pub to: String,
        /// `open`, `dispensed` or `cancelled`.
        pub status: String,
        /// Pharmacy that dispensed it.
        pub dispensed_by: Option<String>,
        /// When (ROC date-time).
        pub dispensed_at: Option<String>,
    }

    /// What the pharmacist sees after a scan.
    #[derive(Clone, Serialize, Deserialize)]
    pub struct Details {
        /// Visit identification code.
        pub visit_code: String,
        /// Prescribing institution.
        pub institution: String,
        /// Patient's name.
        pub patient_name: String,
        /// Patient ID with the middle masked (`A12****789`).
        pub patient_id_masked: String,
        /// ROC issue date.
        pub issued_on: String,
        /// Chronic continuous prescription.
        pub chronic: bool,
        /// Drug lines.
        pub lines: Vec<RxLine>,
        /// Abnormal-situation contact.
        pub contact: String,
        /// Every dispense and its state.
        pub refills: Vec<RefillView>,
        /// The dispense due today, if any.
        pub due_refill: Option<u8>,
    }

    impl std::fmt::Debug for Details {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Details")
                .field("visit_code", &self.visit_code)
                .field("refills", &self.refills)
                .finish_non_exhaustive()
        }
    }

    /// Proof of one dispense.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Receipt {
        /// Receipt number.
        pub receipt_no: String,
        /// Visit identification code.
        pub visit_code: String,
        /// Which dispense.
        pub refill: u8,
        /// The pharmacy.
        pub pharmacy: String,
        /// When (ROC date-time `YYYMMDDHHMMSS`).
        pub dispensed_at: String,
    }

    /// Abnormal-case restore of a dispense (`POST /pharmacy/api/restore`), audited.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Restore {
        /// Visit identification code.
        pub visit_code: String,
        /// Which dispense.
        pub refill: u8,
        /// Why (required, kept in the audit log).
        pub reason: String,
    }

    /// Operation `C` or `E` on a chronic refill, signed by the prescriber's device
    /// (`POST /pharmacy/api/refill-op`).
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct RefillOpRequest {
        /// Visit identification code.
        pub visit_code: String,
        /// Refill 2 or 3.
        pub refill: u8,
        /// `C` or `E`.
        pub op: String,
        /// The requesting institution.
        pub institution: String,
        /// Hex Ed25519 signature of [`refill_op_message`] by one of the institution's devices.
        pub signature: String,
    }

    impl RefillOpRequest {
        /// A `C` (`cancel`) or `E` request for refill `refill`, signed by the prescriber's device.
        pub fn signed(
            cancel: bool,
            visit_code: &str,
            refill: u8,
            institution: &str,
            signer: &dyn crate::rx::sign::RxSigner,
        ) -> Result<Self, crate::rx::RxError> {
            let op = if cancel { "C" } else { "E" };
            let sig = signer.sign(&refill_op_message(op, visit_code, refill, institution))?;
            Ok(Self {
                visit_code: visit_code.to_string(),
                refill,
                op: op.to_string(),
                institution: institution.to_string(),
                signature: hex::encode(sig),
            })
        }
    }

    /// The bytes a prescriber's device signs for a `C`/`E`.
    pub fn refill_op_message(op: &str, visit_code: &str, refill: u8, institution: &str) -> Vec<u8> {
        format!("homevisit-rx-op-v1\0{op}|{visit_code}|{refill}|{institution}").into_bytes()
    }

    /// An error answer: a stable `error` code and a message, plus who/when for `already_dispensed`.
    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    pub struct ApiError {
        /// Stable code (`tampered`, `already_dispensed`, …).
        pub error: String,
        /// Human message (no patient data).
        pub message: String,
        /// Who dispensed it.
        #[serde(default)]
        pub by: Option<String>,
        /// When.
        #[serde(default)]
        pub at: Option<String>,
        /// A date the error refers to (due-from / valid-until), ROC.
        #[serde(default)]
        pub date: Option<String>,
    }
}

use wire::{ApiError, Details, Presented, Receipt};

/// Everything that can go wrong for the pharmacist, each case its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PharmacyError {
    /// A QR from the street: not a prescription of this system.
    #[error("this QR code is not a home-visit prescription")]
    NotOurs,
    /// Ours, but unreadable (damaged or truncated).
    #[error("the prescription QR code is unreadable: {0}")]
    Malformed(String),
    /// A byte was changed after signing, or the signature does not verify.
    #[error("the prescription QR code was altered: do not dispense")]
    Tampered,
    /// No published key for the prescribing institution.
    #[error("unknown prescribing institution {0}")]
    UnknownInstitution(String),
    /// The institution is known but the signing device is not one of its published devices.
    #[error("the signing device is not registered for institution {0}")]
    UnknownSigner(String),
    /// Past its last pick-up day.
    #[error("the prescription expired on {valid_until}")]
    Expired {
        /// Last valid day (ROC).
        valid_until: String,
    },
    /// The next refill cannot be collected yet.
    #[error("the next refill can be collected from {from}")]
    NotYetDue {
        /// First day (ROC).
        from: String,
    },
    /// Dispensed already.
    #[error("already dispensed by {by} at {at}")]
    AlreadyDispensed {
        /// Pharmacy code.
        by: String,
        /// ROC date-time.
        at: String,
    },
    /// The prescriber cancelled the due refill (operation `C`).
    #[error("the prescriber cancelled this refill")]
    Cancelled,
    /// The one-time code is not known (typo, or never registered).
    #[error("unknown one-time code")]
    UnknownCode,
    /// The prescription was never registered with the VPN (the doctor's device has not synced).
    #[error("the prescription is not registered yet: call the abnormal-situation contact")]
    NotRegistered,
    /// Not logged in, or the session ended.
    #[error("the pharmacy is not logged in")]
    Unauthorized,
    /// The request was refused for another stated reason.
    #[error("refused: {0}")]
    Refused(String),
    /// The server could not be reached.
    #[error("network: {0}")]
    Network(String),
    /// The server answered something we cannot use.
    #[error("server: {0}")]
    Server(String),
}

impl PharmacyError {
    /// The stable code used on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotOurs => "not_ours",
            Self::Malformed(_) => "malformed",
            Self::Tampered => "tampered",
            Self::UnknownInstitution(_) => "unknown_institution",
            Self::UnknownSigner(_) => "unknown_signer",
            Self::Expired { .. } => "expired",
            Self::NotYetDue { .. } => "not_yet_due",
            Self::AlreadyDispensed { .. } => "already_dispensed",
            Self::Cancelled => "cancelled",
            Self::UnknownCode => "unknown_code",
            Self::NotRegistered => "not_registered",
            Self::Unauthorized => "unauthorized",
            Self::Refused(_) => "refused",
            Self::Network(_) => "network",
            Self::Server(_) => "server",
        }
    }

    /// Whether trying again later may succeed (the network or the server failed), as opposed to
    /// an answer about the prescription itself. The sync engine retries the former and parks the
    /// latter with the message.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Network(_) | Self::Server(_))
    }

    /// The wire form.
    pub fn to_api(&self) -> ApiError {
        let mut e = ApiError {
            error: self.code().to_string(),
            message: self.to_string(),
            ..Default::default()
        };
        match self {
            Self::AlreadyDispensed { by, at } => {
                e.by = Some(by.clone());
                e.at = Some(at.clone());
            }
            Self::Expired { valid_until: d } | Self::NotYetDue { from: d } => e.date = Some(d.clone()),
            Self::UnknownInstitution(i) | Self::UnknownSigner(i) => e.by = Some(i.clone()),
            _ => {}
        }
        e
    }

    /// Back from the wire form; an unknown code is a server error.
    pub fn from_api(e: ApiError) -> Self {
        let s = |o: Option<String>| o.unwrap_or_default();
        match e.error.as_str() {
            "not_ours" => Self::NotOurs,
            "malformed" => Self::Malformed(e.message),
            "tampered" => Self::Tampered,
            "unknown_institution" => Self::UnknownInstitution(s(e.by)),
            "unknown_signer" => Self::UnknownSigner(s(e.by)),
            "expired" => Self::Expired {
                valid_until: s(e.date),
            },
            "not_yet_due" => Self::NotYetDue { from: s(e.date) },
            "already_dispensed" => Self::AlreadyDispensed {
                by: s(e.by),
                at: s(e.at),
            },
            "cancelled" => Self::Cancelled,
            "unknown_code" => Self::UnknownCode,
            "not_registered" => Self::NotRegistered,
            "unauthorized" => Self::Unauthorized,
            "refused" => Self::Refused(e.message),
            _ => Self::Server(format!("{}: {}", e.error, e.message)),
        }
    }
}

/// The published device keys, by institution.
#[derive(Debug, Clone, Default)]
pub struct KeySet(HashMap<String, Vec<Vec<u8>>>);

impl KeySet {
    /// Builds the set from the VPN's key listing; keys that are not hex are skipped.
    pub fn from_published(list: &[DeviceKeys]) -> Self {
        let mut m: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
        for inst in list {
            let keys = m.entry(inst.institution_code.clone()).or_default();
            keys.extend(inst.keys.iter().filter_map(|k| hex::decode(&k.public_key).ok()));
        }
        Self(m)
    }
    /// Adds one key.
    pub fn insert(&mut self, institution: &str, public_key: Vec<u8>) {
        self.0
            .entry(institution.to_string())
            .or_default()
            .push(public_key);
    }
    /// Number of keys.
    pub fn len(&self) -> usize {
        self.0.values().map(Vec::len).sum()
    }
    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Taiwan date of a Unix time in ms.
pub fn taiwan_date(unix_ms: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(unix_ms)
        .unwrap_or_default()
        .with_timezone(&super::prescription::taiwan())
        .date_naive()
}

/// Verifies a scanned QR offline: ours, intact, signed by a published device of its institution,
/// and not past its last pick-up day on `today` (Taiwan date).
pub fn verify_offline(text: &str, keys: &KeySet, today: NaiveDate) -> Result<SignedPayload, PharmacyError> {
    let p = payload::decode(text).map_err(|e| match e {
        QrError::NotOurs => PharmacyError::NotOurs,
        QrError::Malformed(m) => PharmacyError::Malformed(m),
        QrError::Altered => PharmacyError::Tampered,
    })?;
    let inst = p.prescription.institution.as_str().to_string();
    let Some(inst_keys) = keys.0.get(&inst).filter(|k| !k.is_empty()) else {
        return Err(PharmacyError::UnknownInstitution(inst));
    };
    let mut candidates = inst_keys
        .iter()
        .filter(|k| super::sign::key_id(k) == p.key_id)
        .peekable();
    if candidates.peek().is_none() {
        return Err(PharmacyError::UnknownSigner(inst));
    }
    if !candidates.any(|k| p.verify(k)) {
        return Err(PharmacyError::Tampered);
    }
    let until = p.prescription.valid_until();
    if today > until {
        return Err(PharmacyError::Expired {
            valid_until: super::barcode::roc_date(until),
        });
    }
    Ok(p)
}

/// The pharmacy services the pharmacist's app talks to.
#[async_trait::async_trait]
pub trait PharmacyService: Send + Sync {
    /// Every institution's published device keys.
    async fn published_keys(&self) -> Result<Vec<DeviceKeys>, PharmacyError>;
    /// Details of the presented prescription.
    async fn lookup(&self, presented: &Presented) -> Result<Details, PharmacyError>;
    /// Dispenses the due refill of the presented prescription.
    async fn dispense(&self, presented: &Presented) -> Result<Receipt, PharmacyError>;
}

/// The pharmacist role of the app.
pub struct Pharmacist {
    service: Arc<dyn PharmacyService>,
    keys: RwLock<KeySet>,
    clock: Arc<dyn Clock>,
}

/// A verified scan: the prescription from the QR, and the server's view of it.
#[derive(Debug, Clone)]
pub struct Scan {
    /// What the QR says (signature verified offline).
    pub payload: SignedPayload,
    /// What the server says (names, states of the refills).
    pub details: Details,
}

impl Pharmacist {
    /// A pharmacist over `service`, with no keys yet (call [`Pharmacist::refresh_keys`]).
    pub fn new(service: Arc<dyn PharmacyService>, clock: Arc<dyn Clock>) -> Self {
        Self {
            service,
            keys: RwLock::new(KeySet::default()),
            clock,
        }
    }

    /// Downloads the published device keys (kept for offline verification); returns how many.
    pub async fn refresh_keys(&self) -> Result<usize, PharmacyError> {
        let set = KeySet::from_published(&self.service.published_keys().await?);
        let n = set.len();
        *self
            .keys
            .write()
            .map_err(|_| PharmacyError::Server("key cache poisoned".into()))? = set;
        Ok(n)
    }

    /// Verifies a QR offline with the keys last downloaded.
    pub fn verify(&self, qr: &str) -> Result<SignedPayload, PharmacyError> {
        let keys = self
            .keys
            .read()
            .map_err(|_| PharmacyError::Server("key cache poisoned".into()))?;
        verify_offline(qr, &keys, taiwan_date(self.clock.now_unix_ms()))
    }

    /// Scan: verify offline, then fetch the details.
    pub async fn scan(&self, qr: &str) -> Result<Scan, PharmacyError> {
        let payload = self.verify(qr)?;
        let details = self
            .service
            .lookup(&Presented {
                qr: Some(qr.to_string()),
                code: None,
            })
            .await?;
        Ok(Scan { payload, details })
    }

    /// Details for a typed one-time code.
    pub async fn lookup_code(&self, typed: &str) -> Result<Details, PharmacyError> {
        let code = otc::normalize(typed).ok_or(PharmacyError::UnknownCode)?;
        self.service
            .lookup(&Presented {
                qr: None,
                code: Some(code),
            })
            .await
    }

    /// Dispenses a scanned QR (verified offline first, so a forged QR never reaches the server).
    pub async fn dispense_qr(&self, qr: &str) -> Result<Receipt, PharmacyError> {
        self.verify(qr)?;
        self.service
            .dispense(&Presented {
                qr: Some(qr.to_string()),
                code: None,
            })
            .await
    }

    /// Dispenses by one-time code.
    pub async fn dispense_code(&self, typed: &str) -> Result<Receipt, PharmacyError> {
        let code = otc::normalize(typed).ok_or(PharmacyError::UnknownCode)?;
        self.service
            .dispense(&Presented {
                qr: None,
                code: Some(code),
            })
            .await
    }
}

/// The pharmacy API over HTTPS (pinned to the simulator's certificate).
pub struct HttpPharmacy {
    base: String,
    client: reqwest::Client,
    token: Option<String>,
}

fn net(e: reqwest::Error) -> PharmacyError {
    PharmacyError::Network(e.to_string())
}

impl HttpPharmacy {
    /// A client for `base` (e.g. `https://127.0.0.1:8443`) trusting only the certificate whose
    /// SHA-256 is `cert_pin`.
    pub fn new(base: &str, cert_pin: [u8; 32]) -> Result<Self, PharmacyError> {
        let verifier = crate::vpn::pinning::PinnedVerifier::new(cert_pin);
        let tls = crate::vpn::pinning::client_config(verifier)
            .map_err(|e| PharmacyError::Network(e.to_string()))?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(net)?;
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            client,
            token: None,
        })
    }

    /// Logs in as pharmacy `pharmacy`.
    pub async fn login(&mut self, pharmacy: &str, password: &str) -> Result<(), PharmacyError> {
        let s: wire::Session = self
            .post(
                "/login",
                &wire::Login {
                    pharmacy: pharmacy.to_string(),
                    password: password.to_string(),
                },
            )
            .await?;
        self.token = Some(s.token);
        Ok(())
    }

    /// Registers an issued prescription (the prescribing device's call); idempotent.
    pub async fn register(&self, r: &wire::Registration) -> Result<(), PharmacyError> {
        let _: serde_json::Value = self.post("/prescriptions", r).await?;
        Ok(())
    }

    /// Registers from an outbox job's frozen payload (the JSON of a [`wire::Registration`]); a
    /// payload that does not parse is a record error, never retried.
    pub async fn register_payload(&self, payload: &[u8]) -> Result<(), PharmacyError> {
        let r: wire::Registration = serde_json::from_slice(payload)
            .map_err(|_| PharmacyError::Malformed("registration payload is not JSON".into()))?;
        self.register(&r).await
    }

    /// Abnormal-case restore of a dispense (audited on the server).
    pub async fn restore(&self, r: &wire::Restore) -> Result<(), PharmacyError> {
        let _: serde_json::Value = self.post("/restore", r).await?;
        Ok(())
    }

    /// Operation `C`/`E` on a chronic refill.
    pub async fn refill_op(&self, r: &wire::RefillOpRequest) -> Result<wire::RefillView, PharmacyError> {
        self.post("/refill-op", r).await
    }

    async fn answer<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T, PharmacyError> {
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(net)?;
        if status.is_success() {
            serde_json::from_slice(&bytes).map_err(|e| PharmacyError::Server(format!("bad body: {e}")))
        } else {
            match serde_json::from_slice::<ApiError>(&bytes) {
                Ok(e) => Err(PharmacyError::from_api(e)),
                Err(_) => Err(PharmacyError::Server(format!("HTTP {status}"))),
            }
        }
    }

    async fn post<B: serde::Serialize + ?Sized, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, PharmacyError> {
        let mut req = self
            .client
            .post(format!("{}{}{path}", self.base, wire::API))
            .json(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        Self::answer(req.send().await.map_err(net)?).await
    }
}

#[async_trait::async_trait]
impl PharmacyService for HttpPharmacy {
    async fn published_keys(&self) -> Result<Vec<DeviceKeys>, PharmacyError> {
        let resp = self
            .client
            .get(format!("{}{}/keys", self.base, wire::API))
            .send()
            .await
            .map_err(net)?;
        Self::answer(resp).await
    }
    async fn lookup(&self, presented: &Presented) -> Result<Details, PharmacyError> {
        self.post("/lookup", presented).await
    }
    async fn dispense(&self, presented: &Presented) -> Result<Receipt, PharmacyError> {
        self.post("/dispense", presented).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rx::payload::tests::ten_line_prescription;
    use crate::rx::{base45, payload};
    use crate::vpn::DeviceKey;

    fn keys_with(inst: &str, k: &DeviceKey) -> KeySet {
        let mut s = KeySet::default();
        s.insert(inst, k.public_key().to_vec());
        s
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn each_failure_has_its_own_error() {
        let key = DeviceKey::from_seed_for_tests(&[5; 32]);
        let p = ten_line_prescription();
        let qr = payload::encode(&p, &key).unwrap();
        let keys = keys_with("3501200000", &key);
        let today = day(2024, 3, 2);
        assert!(verify_offline(&qr, &keys, today).is_ok());

        // One byte changed.
        let mut bytes = base45::decode(&qr[3..]).unwrap();
        bytes[30] ^= 0x04;
        let tampered = format!("RX:{}", base45::encode(&bytes));
        assert_eq!(
            verify_offline(&tampered, &keys, today).unwrap_err(),
            PharmacyError::Tampered
        );
        // Unknown institution, unknown signer.
        let other = DeviceKey::from_seed_for_tests(&[6; 32]);
        assert_eq!(
            verify_offline(&qr, &keys_with("3501200009", &key), today).unwrap_err(),
            PharmacyError::UnknownInstitution("3501200000".into())
        );
        assert_eq!(
            verify_offline(&qr, &keys_with("3501200000", &other), today).unwrap_err(),
            PharmacyError::UnknownSigner("3501200000".into())
        );
        // Expired: a chronic 3 × 28 issued 2024-03-01 ends 2024-04-25.
        assert!(verify_offline(&qr, &keys, day(2024, 4, 25)).is_ok());
        assert_eq!(
            verify_offline(&qr, &keys, day(2024, 4, 26)).unwrap_err(),
            PharmacyError::Expired {
                valid_until: "1130425".into()
            }
        );
        // Street QR and malformed.
        assert_eq!(
            verify_offline("WIFI:S:cafe;T:WPA;P:1234;;", &keys, today).unwrap_err(),
            PharmacyError::NotOurs
        );
        assert!(matches!(
            verify_offline("RX:ZZZ", &keys, today).unwrap_err(),
            PharmacyError::Malformed(_)
        ));
    }

    #[test]
    fn api_errors_round_trip() {
        let all = [
            PharmacyError::NotOurs,
            PharmacyError::Malformed("x".into()),
            PharmacyError::Tampered,
            PharmacyError::UnknownInstitution("1".into()),
            PharmacyError::UnknownSigner("1".into()),
            PharmacyError::Expired {
                valid_until: "1130101".into(),
            },
            PharmacyError::NotYetDue {
                from: "1130101".into(),
            },
            PharmacyError::AlreadyDispensed {
                by: "5901".into(),
                at: "1130101120000".into(),
            },
            PharmacyError::Cancelled,
            PharmacyError::UnknownCode,
            PharmacyError::NotRegistered,
            PharmacyError::Unauthorized,
        ];
        assert!(
            all.iter().all(|e| !e.is_retryable()),
            "answers about the prescription are final"
        );
        assert!(PharmacyError::Network("x".into()).is_retryable());
        assert!(PharmacyError::Server("x".into()).is_retryable());
        for e in all {
            let back = PharmacyError::from_api(e.to_api());
            match (&e, &back) {
                (PharmacyError::Malformed(_), PharmacyError::Malformed(_)) => {}
                _ => assert_eq!(e, back),
            }
        }
        assert!(matches!(
            PharmacyError::from_api(ApiError {
                error: "weird".into(),
                ..Default::default()
            }),
            PharmacyError::Server(_)
        ));
    }

    proptest::proptest! {
        #[test]
        fn the_pharmacist_never_panics_on_any_scan(text in "\\PC{0,400}", bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let key = DeviceKey::from_seed_for_tests(&[5; 32]);
            let keys = keys_with("3501200000", &key);
            let today = day(2024, 3, 2);
            let _ = verify_offline(&text, &keys, today);
            let _ = verify_offline(&format!("RX:{text}"), &keys, today);
            let r = verify_offline(&format!("RX:{}", base45::encode(&bytes)), &keys, today);
            proptest::prop_assert!(r.is_err(), "random bytes never verify");
        }
    }
}
