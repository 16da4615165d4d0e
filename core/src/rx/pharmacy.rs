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
    #[derive(Clone, Serialize, Deserialize)]
    pub struct Login {
        /// Pharmacy institution code.
        pub pharmacy: String,
        /// Its password.
        pub password: String,
    }

    impl std::fmt::Debug for Login {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Login")
                .field("pharmacy", &self.pharmacy)
                .field("password", &"<redacted>")
                .finish()
        }
    }

    /// A device key the institution's administrator revoked (a lost or stolen phone): whatever
    /// it signed is refused from then on, whatever issue date the QR claims.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct RevokedKey {
        /// The institution the device belonged to.
        pub institution_code: String,
        /// The device.
        pub device_id: String,
        /// Its Ed25519 public key, hex.
        pub public_key: String,
        /// When it was revoked, ms since the epoch.
        pub revoked_at_ms: i64,
    }

    /// What a pharmacy trusts (`GET /pharmacy/api/trust`): the published device keys (revoked
    /// ones left out) and the revocation list, with the longest a pharmacy may keep it.
    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    pub struct TrustList {
        /// Every institution's live device keys.
        pub keys: Vec<crate::vpn::wire::DeviceKeys>,
        /// Every revoked device key.
        pub revoked: Vec<RevokedKey>,
        /// When the server made the list, ms since the epoch.
        pub issued_at_ms: i64,
        /// The longest a pharmacy may verify with this list before fetching it again, ms.
        pub max_age_ms: i64,
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
    /// (`POST /pharmacy/api/refill-op`). The signed time and nonce make a captured request
    /// useless: the server refuses one outside [`REFILL_OP_MAX_SKEW_MS`] of its clock or seen before.
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
        /// When the device made the request, ms since the epoch (signed).
        pub issued_ms: i64,
        /// A random value never used before (signed), 32 hex digits.
        pub nonce: String,
        /// Hex Ed25519 signature of [`refill_op_message`] by one of the institution's devices.
        pub signature: String,
    }

    /// How far a `C`/`E` request's time may be from the server's clock.
    pub const REFILL_OP_MAX_SKEW_MS: i64 = 5 * 60 * 1000;

    impl RefillOpRequest {
        /// A `C` (`cancel`) or `E` request for refill `refill` made at `now_ms`, with a fresh
        /// nonce, signed by the prescriber's device.
        pub fn signed(
            cancel: bool,
            visit_code: &str,
            refill: u8,
            institution: &str,
            now_ms: i64,
            signer: &dyn crate::rx::sign::RxSigner,
        ) -> Result<Self, crate::rx::RxError> {
            use ring::rand::SecureRandom;
            let op = if cancel { "C" } else { "E" };
            let mut n = [0u8; 16];
            ring::rand::SystemRandom::new()
                .fill(&mut n)
                .map_err(|_| crate::rx::RxError::Key("no system randomness".into()))?;
            let nonce = hex::encode(n);
            let msg = refill_op_message(op, visit_code, refill, institution, now_ms, &nonce);
            let sig = signer.sign(&msg)?;
            Ok(Self {
                visit_code: visit_code.to_string(),
                refill,
                op: op.to_string(),
                institution: institution.to_string(),
                issued_ms: now_ms,
                nonce,
                signature: hex::encode(sig),
            })
        }

        /// The bytes its signature covers.
        pub fn message(&self) -> Vec<u8> {
            refill_op_message(
                &self.op,
                &self.visit_code,
                self.refill,
                &self.institution,
                self.issued_ms,
                &self.nonce,
            )
        }
    }

    /// The bytes a prescriber's device signs for a `C`/`E`.
    pub fn refill_op_message(
        op: &str,
        visit_code: &str,
        refill: u8,
        institution: &str,
        issued_ms: i64,
        nonce: &str,
    ) -> Vec<u8> {
        format!("homevisit-rx-op-v2\0{op}|{visit_code}|{refill}|{institution}|{issued_ms}|{nonce}")
            .into_bytes()
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
    /// The QR was signed by a device key the institution revoked (a lost or stolen phone).
    #[error("the signing device of institution {0} was revoked: do not dispense")]
    Revoked(String),
    /// The published keys kept for offline checks are older than the maximum age and could not
    /// be fetched again (a revocation may be missing): refresh them online first.
    #[error("the published keys are too old: refresh them before verifying")]
    KeysStale,
    /// Too many failed attempts (wrong one-time codes, wrong passwords) from this account or
    /// address: wait `retry_after_s` seconds.
    #[error("too many failed attempts: try again in {retry_after_s} s")]
    Throttled {
        /// Seconds to wait.
        retry_after_s: u64,
    },
    /// A signed request that was already received, or whose time is too far from the server's.
    #[error("this request was already received or is too old")]
    Replayed,
    /// The dispense was already restored once; another restore needs the prescriber.
    #[error("this dispense was already restored once")]
    RestoreLimit,
    /// A form of the pharmacy page was posted without its session's anti-forgery token.
    #[error("the form's anti-forgery token is missing or wrong: reload the page")]
    Csrf,
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
            Self::Revoked(_) => "revoked",
            Self::KeysStale => "keys_stale",
            Self::Throttled { .. } => "throttled",
            Self::Replayed => "replayed",
            Self::RestoreLimit => "restore_limit",
            Self::Csrf => "csrf",
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
            Self::UnknownInstitution(i) | Self::UnknownSigner(i) | Self::Revoked(i) => e.by = Some(i.clone()),
            Self::Throttled { retry_after_s } => e.date = Some(retry_after_s.to_string()),
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
            "revoked" => Self::Revoked(s(e.by)),
            "keys_stale" => Self::KeysStale,
            "throttled" => Self::Throttled {
                retry_after_s: s(e.date).parse().unwrap_or(60),
            },
            "replayed" => Self::Replayed,
            "restore_limit" => Self::RestoreLimit,
            "csrf" => Self::Csrf,
            "refused" => Self::Refused(e.message),
            _ => Self::Server(format!("{}: {}", e.error, e.message)),
        }
    }
}

/// The published device keys by institution, and the revoked ones.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, Vec<Vec<u8>>>,
    revoked: HashMap<String, Vec<Vec<u8>>>,
}

impl KeySet {
    /// Builds the set from the VPN's key listing; keys that are not hex are skipped.
    pub fn from_published(list: &[DeviceKeys]) -> Self {
        let mut s = Self::default();
        for inst in list {
            for k in inst.keys.iter().filter_map(|k| hex::decode(&k.public_key).ok()) {
                s.insert(&inst.institution_code, k);
            }
        }
        s
    }
    /// Builds the set from a trust list: its keys, less every revoked one (a revoked key listed
    /// as live by mistake stays revoked).
    pub fn from_trust(t: &wire::TrustList) -> Self {
        let mut s = Self::from_published(&t.keys);
        for r in &t.revoked {
            if let Ok(k) = hex::decode(&r.public_key) {
                s.revoke(&r.institution_code, k);
            }
        }
        s
    }
    /// Adds one key.
    pub fn insert(&mut self, institution: &str, public_key: Vec<u8>) {
        if self.is_revoked(institution, &public_key) {
            return;
        }
        self.keys
            .entry(institution.to_string())
            .or_default()
            .push(public_key);
    }
    /// Marks one key revoked (and drops it from the live keys).
    pub fn revoke(&mut self, institution: &str, public_key: Vec<u8>) {
        if let Some(live) = self.keys.get_mut(institution) {
            live.retain(|k| *k != public_key);
        }
        self.revoked
            .entry(institution.to_string())
            .or_default()
            .push(public_key);
    }
    fn is_revoked(&self, institution: &str, public_key: &[u8]) -> bool {
        self.revoked
            .get(institution)
            .is_some_and(|r| r.iter().any(|k| k == public_key))
    }
    /// The live keys of `institution`.
    pub fn keys_of(&self, institution: &str) -> &[Vec<u8>] {
        self.keys.get(institution).map_or(&[], Vec::as_slice)
    }
    /// Number of live keys.
    pub fn len(&self) -> usize {
        self.keys.values().map(Vec::len).sum()
    }
    /// Whether it holds no live key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Number of revoked keys.
    pub fn revoked_len(&self) -> usize {
        self.revoked.values().map(Vec::len).sum()
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
    // A revoked key is refused whatever the QR claims (a thief can back-date the issue day).
    if let Some(revoked) = keys.revoked.get(&inst)
        && revoked
            .iter()
            .any(|k| super::sign::key_id(k) == p.key_id && p.verify(k))
    {
        return Err(PharmacyError::Revoked(inst));
    }
    let inst_keys = keys.keys_of(&inst);
    if inst_keys.is_empty() {
        return Err(if keys.revoked.contains_key(&inst) {
            PharmacyError::UnknownSigner(inst)
        } else {
            PharmacyError::UnknownInstitution(inst)
        });
    }
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

/// The longest a pharmacist verifies QR codes with the same trust list before fetching it again
/// (a revoked phone is refused at every pharmacy within this time); a server may ask for less.
pub const TRUST_MAX_AGE_MS: i64 = 60 * 60 * 1000;

/// The pharmacy services the pharmacist's app talks to.
#[async_trait::async_trait]
pub trait PharmacyService: Send + Sync {
    /// Every institution's published device keys and the revocation list.
    async fn trust_list(&self) -> Result<wire::TrustList, PharmacyError>;
    /// Details of the presented prescription.
    async fn lookup(&self, presented: &Presented) -> Result<Details, PharmacyError>;
    /// Dispenses the due refill of the presented prescription.
    async fn dispense(&self, presented: &Presented) -> Result<Receipt, PharmacyError>;
}

/// The trust list as kept: the keys, when they were fetched (by the pharmacist's clock) and how
/// long they may be used.
#[derive(Debug, Default)]
struct Trust {
    keys: KeySet,
    fetched_ms: Option<i64>,
    max_age_ms: i64,
}

/// The pharmacist role of the app.
pub struct Pharmacist {
    service: Arc<dyn PharmacyService>,
    trust: RwLock<Trust>,
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
            trust: RwLock::new(Trust::default()),
            clock,
        }
    }

    /// Downloads the published device keys and the revocation list (kept for offline
    /// verification, for at most [`TRUST_MAX_AGE_MS`] or the server's shorter maximum); returns
    /// how many live keys are kept.
    pub async fn refresh_keys(&self) -> Result<usize, PharmacyError> {
        let list = self.service.trust_list().await?;
        let set = KeySet::from_trust(&list);
        let n = set.len();
        let max_age_ms = if list.max_age_ms > 0 {
            list.max_age_ms.min(TRUST_MAX_AGE_MS)
        } else {
            TRUST_MAX_AGE_MS
        };
        *self
            .trust
            .write()
            .map_err(|_| PharmacyError::Server("key cache poisoned".into()))? = Trust {
            keys: set,
            fetched_ms: Some(self.clock.now_unix_ms()),
            max_age_ms,
        };
        Ok(n)
    }

    /// How old the kept trust list is, ms (`None`: never fetched).
    pub fn keys_age_ms(&self) -> Option<i64> {
        let t = self.trust.read().ok()?;
        t.fetched_ms.map(|f| self.clock.now_unix_ms() - f)
    }

    fn is_stale(&self) -> Result<bool, PharmacyError> {
        let t = self
            .trust
            .read()
            .map_err(|_| PharmacyError::Server("key cache poisoned".into()))?;
        Ok(match t.fetched_ms {
            None => true,
            // A clock set back before the fetch counts as stale too: the age is unknown.
            Some(f) => {
                let age = self.clock.now_unix_ms() - f;
                !(0..=t.max_age_ms).contains(&age)
            }
        })
    }

    /// Fetches the trust list again when it is older than its maximum age; refused with
    /// [`PharmacyError::KeysStale`] when that fails.
    pub async fn ensure_fresh_keys(&self) -> Result<(), PharmacyError> {
        if self.is_stale()? {
            self.refresh_keys().await.map_err(|e| match e {
                PharmacyError::Network(_) | PharmacyError::Server(_) => PharmacyError::KeysStale,
                e => e,
            })?;
        }
        Ok(())
    }

    /// Verifies a QR offline with the keys last downloaded; refused with
    /// [`PharmacyError::KeysStale`] when they are older than their maximum age.
    pub fn verify(&self, qr: &str) -> Result<SignedPayload, PharmacyError> {
        if self.is_stale()? {
            return Err(PharmacyError::KeysStale);
        }
        let t = self
            .trust
            .read()
            .map_err(|_| PharmacyError::Server("key cache poisoned".into()))?;
        verify_offline(qr, &t.keys, taiwan_date(self.clock.now_unix_ms()))
    }

    /// Scan: keys refreshed when too old, verify offline, then fetch the details.
    pub async fn scan(&self, qr: &str) -> Result<Scan, PharmacyError> {
        self.ensure_fresh_keys().await?;
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

    /// Dispenses a scanned QR (keys refreshed when too old, verified offline first, so a forged
    /// QR never reaches the server).
    pub async fn dispense_qr(&self, qr: &str) -> Result<Receipt, PharmacyError> {
        self.ensure_fresh_keys().await?;
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
    async fn trust_list(&self) -> Result<wire::TrustList, PharmacyError> {
        let resp = self
            .client
            .get(format!("{}{}/trust", self.base, wire::API))
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
            PharmacyError::Revoked("1".into()),
            PharmacyError::KeysStale,
            PharmacyError::Throttled { retry_after_s: 900 },
            PharmacyError::Replayed,
            PharmacyError::RestoreLimit,
            PharmacyError::Csrf,
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

    /// Finding 4 (issue 11): once the institution revoked a device, whatever its key signed is
    /// refused with its own error — even a QR that claims an issue day before the revocation.
    #[test]
    fn finding4_a_qr_signed_by_a_revoked_key_is_refused_as_revoked() {
        let stolen = DeviceKey::from_seed_for_tests(&[5; 32]);
        let kept = DeviceKey::from_seed_for_tests(&[6; 32]);
        let qr = payload::encode(&ten_line_prescription(), &stolen).unwrap();
        let good = payload::encode(&ten_line_prescription(), &kept).unwrap();
        let today = day(2024, 3, 2);
        let key = |k: &DeviceKey| hex::encode(k.public_key());
        let mut list = wire::TrustList {
            keys: vec![DeviceKeys {
                institution_code: "3501200000".into(),
                keys: vec![
                    crate::vpn::wire::DevicePublicKey {
                        device_id: "D00001".into(),
                        public_key: key(&stolen),
                    },
                    crate::vpn::wire::DevicePublicKey {
                        device_id: "D00002".into(),
                        public_key: key(&kept),
                    },
                ],
            }],
            ..Default::default()
        };
        assert!(verify_offline(&qr, &KeySet::from_trust(&list), today).is_ok());
        list.revoked.push(wire::RevokedKey {
            institution_code: "3501200000".into(),
            device_id: "D00001".into(),
            public_key: key(&stolen),
            revoked_at_ms: 1,
        });
        // Even listed among the live keys by mistake, a revoked key stays revoked.
        let set = KeySet::from_trust(&list);
        assert_eq!((set.len(), set.revoked_len()), (1, 1));
        assert_eq!(
            verify_offline(&qr, &set, today).unwrap_err(),
            PharmacyError::Revoked("3501200000".into())
        );
        assert!(
            verify_offline(&good, &set, today).is_ok(),
            "the other device still works"
        );
    }

    /// A pharmacy service whose trust list the test changes, and which can be unreachable.
    #[derive(Default)]
    struct FakeService {
        list: std::sync::Mutex<wire::TrustList>,
        down: std::sync::atomic::AtomicBool,
        fetches: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl PharmacyService for FakeService {
        async fn trust_list(&self) -> Result<wire::TrustList, PharmacyError> {
            use std::sync::atomic::Ordering::SeqCst;
            if self.down.load(SeqCst) {
                return Err(PharmacyError::Network("down".into()));
            }
            self.fetches.fetch_add(1, SeqCst);
            Ok(self.list.lock().unwrap().clone())
        }
        async fn lookup(&self, _: &Presented) -> Result<Details, PharmacyError> {
            Err(PharmacyError::NotRegistered)
        }
        async fn dispense(&self, _: &Presented) -> Result<Receipt, PharmacyError> {
            Err(PharmacyError::NotRegistered)
        }
    }

    /// Finding 4 (issue 11): a pharmacist never verifies with a trust list older than its
    /// maximum age: a scan fetches it again (and so learns of a revocation), and when it cannot,
    /// the QR is refused with `KeysStale`. Virtual time, no sleeps.
    #[tokio::test]
    async fn finding4_a_trust_list_older_than_its_max_age_is_refreshed_or_refused() {
        use std::sync::atomic::Ordering::SeqCst;
        let stolen = DeviceKey::from_seed_for_tests(&[5; 32]);
        let qr = payload::encode(&ten_line_prescription(), &stolen).unwrap();
        let service = Arc::new(FakeService::default());
        let entry = DeviceKeys {
            institution_code: "3501200000".into(),
            keys: vec![crate::vpn::wire::DevicePublicKey {
                device_id: "D00001".into(),
                public_key: hex::encode(stolen.public_key()),
            }],
        };
        service.list.lock().unwrap().keys = vec![entry];
        service.list.lock().unwrap().max_age_ms = 30 * 60 * 1000;
        // 2024-03-02 10:00 Taiwan.
        let clock = crate::platform::ManualClock::new(1_709_344_800_000);
        let ph = Pharmacist::new(service.clone(), clock.clone());
        assert_eq!(
            ph.verify(&qr).unwrap_err(),
            PharmacyError::KeysStale,
            "never fetched"
        );
        ph.refresh_keys().await.unwrap();
        assert!(ph.verify(&qr).is_ok());
        // The administrator revokes the phone; within the server's 30 minutes the old list
        // still verifies offline …
        service.list.lock().unwrap().revoked.push(wire::RevokedKey {
            institution_code: "3501200000".into(),
            device_id: "D00001".into(),
            public_key: hex::encode(stolen.public_key()),
            revoked_at_ms: 1,
        });
        clock.advance_ms(29 * 60 * 1000);
        assert!(ph.verify(&qr).is_ok());
        // … past it, offline verification is refused, and a scan fetches the list again and
        // refuses the QR as revoked.
        clock.advance_ms(2 * 60 * 1000);
        assert_eq!(ph.verify(&qr).unwrap_err(), PharmacyError::KeysStale);
        assert_eq!(
            ph.scan(&qr).await.unwrap_err(),
            PharmacyError::Revoked("3501200000".into())
        );
        assert_eq!(service.fetches.load(SeqCst), 2);
        assert_eq!(ph.keys_age_ms(), Some(0));
        // Stale again and the service unreachable: refused, never verified with the old list.
        clock.advance_ms(31 * 60 * 1000);
        service.down.store(true, SeqCst);
        assert_eq!(ph.dispense_qr(&qr).await.unwrap_err(), PharmacyError::KeysStale);
        // A clock set back before the fetch does not make an old list fresh.
        clock.advance_ms(-2 * 3600 * 1000);
        assert_eq!(ph.verify(&qr).unwrap_err(), PharmacyError::KeysStale);
    }

    #[test]
    fn finding8_login_debug_hides_the_password() {
        let l = wire::Login {
            pharmacy: "5901010010".into(),
            password: "hunter2-secret".into(),
        };
        let d = format!("{l:?}");
        assert!(d.contains("5901010010") && !d.contains("hunter2"), "{d}");
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
