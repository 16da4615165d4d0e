//! The pharmacist at the counter (not a doctor's [`super::HomeVisit`]): logs in to the pharmacy
//! service, keeps the institutions' published device keys to verify prescription QR codes offline,
//! looks a prescription up by QR or one-time code, dispenses it once, restores a dispense in an
//! abnormal case. Every [`PharmacyError`] becomes an [`AppError`] at one point ([`pharmacy_error`]).

use super::AppError;
use super::order_sets::OrderLineView;
use super::prescription::{RefillState, roc_date_time_ms, taiwan_day_start_ms};
use crate::platform::Clock;
use crate::rx::barcode;
use crate::rx::payload::SignedPayload;
use crate::rx::pharmacy::{self, HttpPharmacy, PharmacyError, wire};
use crate::vpn::VpnError;
use std::sync::Arc;

/// What the QR says, checked offline (signature, signer, expiry). No patient data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedQr {
    /// The visit identification code.
    pub visit_code: String,
    /// The prescribing institution.
    pub institution: String,
    /// The prescriber's national ID (signed into the QR) with its middle masked.
    pub prescriber_id_masked: String,
    /// Taiwan issue date (ROC `YYYMMDD`).
    pub issued_on_roc: String,
    /// Last day any dispense may happen (ROC `YYYMMDD`).
    pub valid_until_roc: String,
    /// Start of that last day (Taiwan midnight), ms since the epoch.
    pub valid_until_ms: i64,
    /// Chronic continuous prescription.
    pub chronic: bool,
    /// Dispenses in all.
    pub refills: u8,
    /// The drug lines.
    pub lines: Vec<OrderLineView>,
}

impl VerifiedQr {
    fn of(p: &SignedPayload) -> Self {
        let rx = &p.prescription;
        let until = rx.valid_until();
        Self {
            visit_code: rx.visit_code.clone(),
            institution: rx.institution.as_str().to_string(),
            prescriber_id_masked: super::view::mask_id(rx.prescriber_id.expose()),
            issued_on_roc: barcode::roc_date(rx.issued_on),
            valid_until_roc: barcode::roc_date(until),
            valid_until_ms: taiwan_day_start_ms(until),
            chronic: rx.chronic,
            refills: rx.refills,
            lines: rx.lines.iter().map(OrderLineView::of).collect(),
        }
    }
}

/// What the pharmacist sees of a prescription: holds the patient's name (the `Debug` form leaves
/// it out; never log it).
#[derive(Clone, PartialEq, Eq)]
pub struct DispenseDetails {
    /// The visit identification code.
    pub visit_code: String,
    /// The prescribing institution.
    pub institution: String,
    /// The patient's name.
    pub patient_name: String,
    /// The patient's ID with its middle masked (`A12****789`).
    pub patient_id_masked: String,
    /// Taiwan issue date (ROC `YYYMMDD`).
    pub issued_on_roc: String,
    /// Chronic continuous prescription.
    pub chronic: bool,
    /// The drug lines.
    pub lines: Vec<OrderLineView>,
    /// The abnormal-situation contact of the prescriber.
    pub contact: String,
    /// Every dispense and its state.
    pub refills: Vec<RefillState>,
    /// The dispense due today, if any.
    pub due_refill: Option<u8>,
}

impl std::fmt::Debug for DispenseDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DispenseDetails")
            .field("visit_code", &self.visit_code)
            .field("refills", &self.refills)
            .field("due_refill", &self.due_refill)
            .finish_non_exhaustive()
    }
}

impl DispenseDetails {
    fn of(d: &wire::Details) -> Result<Self, AppError> {
        Ok(Self {
            visit_code: d.visit_code.clone(),
            institution: d.institution.clone(),
            patient_name: d.patient_name.clone(),
            patient_id_masked: d.patient_id_masked.clone(),
            issued_on_roc: d.issued_on.clone(),
            chronic: d.chronic,
            lines: d.lines.iter().map(OrderLineView::of).collect(),
            contact: d.contact.clone(),
            refills: d.refills.iter().map(RefillState::of).collect::<Result<_, _>>()?,
            due_refill: d.due_refill,
        })
    }
}

/// Proof of one dispense (no patient data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispenseReceipt {
    /// Receipt number.
    pub receipt_no: String,
    /// The visit identification code.
    pub visit_code: String,
    /// Which dispense (1, or 2–3 for a chronic refill).
    pub refill: u8,
    /// The pharmacy that dispensed.
    pub pharmacy: String,
    /// When, ms since the epoch.
    pub dispensed_at_ms: i64,
    /// When, as the ROC date-time `YYYMMDDHHMMSS` printed on the receipt.
    pub dispensed_at_roc: String,
}

impl DispenseReceipt {
    fn of(r: wire::Receipt) -> Result<Self, AppError> {
        Ok(Self {
            dispensed_at_ms: roc_date_time_ms(&r.dispensed_at).ok_or(AppError::Network)?,
            receipt_no: r.receipt_no,
            visit_code: r.visit_code,
            refill: r.refill,
            pharmacy: r.pharmacy,
            dispensed_at_roc: r.dispensed_at,
        })
    }
}

/// A refusal with a stable code, the field it is about and the rule's text (no patient data).
pub(crate) fn rejected(code: &str, field: &str, reason: String) -> AppError {
    tracing::debug!(target: "homevisit::app", code, field, "refused");
    AppError::Rejected {
        code: code.to_string(),
        field: Some(field.to_string()),
        reason,
    }
}

/// The one conversion of a [`PharmacyError`] into the public error: each answer about the
/// prescription keeps its stable code ([`PharmacyError::code`]) with `field` (`qr`, `one_time_code`,
/// `password`, …); a second dispense says who and when; the network and the server are `Network`.
pub fn pharmacy_error(e: PharmacyError, field: &str) -> AppError {
    match e {
        PharmacyError::AlreadyDispensed { by, at } => AppError::AlreadyDispensed {
            at_ms: roc_date_time_ms(&at).unwrap_or(0),
            by,
        },
        PharmacyError::Network(_) | PharmacyError::Server(_) => {
            tracing::info!(target: "homevisit::app", code = e.code(), "pharmacy service unavailable");
            AppError::Network
        }
        PharmacyError::Unauthorized => rejected(e.code(), "password", e.to_string()),
        e => rejected(e.code(), field, e.to_string()),
    }
}

/// A pharmacy-service answer that came through the enrolled VPN client (the prescriber's refill
/// operations): its stable code kept, as [`pharmacy_error`] does.
pub(crate) fn vpn_pharmacy_error(e: VpnError) -> AppError {
    match e {
        VpnError::Rejected { code, field, reason } if code != "clock_skew" => {
            rejected(&code, field.as_deref().unwrap_or("refill"), reason)
        }
        e => AppError::from(e),
    }
}

/// The pharmacist at the counter: a session with the pharmacy service and the published keys.
pub struct Pharmacist {
    inner: pharmacy::Pharmacist,
    api: Arc<HttpPharmacy>,
    account: String,
}

impl std::fmt::Debug for Pharmacist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pharmacist")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// `cert_sha256_hex` (64 hex digits, `:` and spaces allowed) as a certificate pin.
fn parse_pin(cert_sha256_hex: &str) -> Result<[u8; 32], AppError> {
    let clean: String = cert_sha256_hex
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    hex::decode(clean)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| super::input::invalid("cert_sha256", "must be 64 hex digits"))
}

impl Pharmacist {
    /// Logs in to the pharmacy service at `endpoint` (HTTPS, trusting only the certificate whose
    /// SHA-256 is `cert_sha256_hex`) as pharmacy `account`, then downloads the published device
    /// keys. A wrong password is `Rejected` (`unauthorized`); `clock` dates the offline checks.
    pub async fn login(
        endpoint: &str,
        cert_sha256_hex: &str,
        account: &str,
        password: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AppError> {
        let pin = parse_pin(cert_sha256_hex)?;
        let endpoint = endpoint.trim();
        if !endpoint.starts_with("https://") {
            return Err(super::input::invalid("endpoint", "must be an https:// address"));
        }
        let account = account.trim();
        if account.is_empty() {
            return Err(super::input::invalid("account", "must not be empty"));
        }
        let mut api = HttpPharmacy::new(endpoint, pin).map_err(|e| pharmacy_error(e, "endpoint"))?;
        api.login(account, password)
            .await
            .map_err(|e| pharmacy_error(e, "password"))?;
        let api = Arc::new(api);
        let me = Self {
            inner: pharmacy::Pharmacist::new(api.clone(), clock),
            api,
            account: account.to_string(),
        };
        me.refresh_keys().await?;
        tracing::info!(target: "homevisit::app", account = %me.account, "pharmacist logged in");
        Ok(me)
    }

    /// The pharmacy account logged in.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Downloads the institutions' published device keys and the revocation list again (kept for
    /// offline checks for at most an hour); returns how many live keys are kept.
    pub async fn refresh_keys(&self) -> Result<u32, AppError> {
        let n = self
            .inner
            .refresh_keys()
            .await
            .map_err(|e| pharmacy_error(e, "keys"))?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Verifies a scanned QR offline with the keys last downloaded: not ours, malformed, tampered,
    /// unknown institution or signer, signed by a revoked device (`revoked`), expired — each
    /// `Rejected` with its code on field `qr`. Keys older than their maximum age (an hour at
    /// most) are refused (`keys_stale`): call [`Self::refresh_keys`] (a scan does it itself).
    pub fn verify_offline(&self, qr: &str) -> Result<VerifiedQr, AppError> {
        let p = self
            .inner
            .verify(qr.trim())
            .map_err(|e| pharmacy_error(e, "qr"))?;
        Ok(VerifiedQr::of(&p))
    }

    /// Scans a QR: verified offline, then its details fetched from the service.
    pub async fn scan(&self, qr: &str) -> Result<DispenseDetails, AppError> {
        let scan = self
            .inner
            .scan(qr.trim())
            .await
            .map_err(|e| pharmacy_error(e, "qr"))?;
        DispenseDetails::of(&scan.details)
    }

    /// The details of the prescription of a typed one-time code (`K7QD-3MXA`, any case).
    pub async fn lookup_code(&self, code: &str) -> Result<DispenseDetails, AppError> {
        let d = self
            .inner
            .lookup_code(code)
            .await
            .map_err(|e| pharmacy_error(e, "one_time_code"))?;
        DispenseDetails::of(&d)
    }

    /// Dispenses the due refill of a scanned QR (verified offline first, so a forged QR never
    /// reaches the service). A second attempt: [`AppError::AlreadyDispensed`] with who and when.
    pub async fn dispense_qr(&self, qr: &str) -> Result<DispenseReceipt, AppError> {
        let r = self
            .inner
            .dispense_qr(qr.trim())
            .await
            .map_err(|e| pharmacy_error(e, "qr"))?;
        tracing::info!(target: "homevisit::app", visit_code = %r.visit_code, refill = r.refill, "dispensed");
        DispenseReceipt::of(r)
    }

    /// Dispenses by typed one-time code; a second attempt as [`Self::dispense_qr`].
    pub async fn dispense_code(&self, code: &str) -> Result<DispenseReceipt, AppError> {
        let r = self
            .inner
            .dispense_code(code)
            .await
            .map_err(|e| pharmacy_error(e, "one_time_code"))?;
        tracing::info!(target: "homevisit::app", visit_code = %r.visit_code, refill = r.refill, "dispensed");
        DispenseReceipt::of(r)
    }

    /// Abnormal-case restore of dispense `refill` of visit `visit_code` (the medicine was not handed
    /// over): audited by the service with `reason`, which is required.
    pub async fn restore(&self, visit_code: &str, refill: u8, reason: &str) -> Result<(), AppError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(super::input::invalid(
                "reason",
                "must say why (kept in the audit log)",
            ));
        }
        self.api
            .restore(&wire::Restore {
                visit_code: visit_code.trim().to_string(),
                refill,
                reason: reason.to_string(),
            })
            .await
            .map_err(|e| pharmacy_error(e, "visit_code"))?;
        tracing::info!(target: "homevisit::app", visit_code = %visit_code.trim(), refill, "dispense restored");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pharmacy_answer_keeps_its_code_and_no_patient_data() {
        assert_eq!(
            pharmacy_error(
                PharmacyError::AlreadyDispensed {
                    by: "5901010010".into(),
                    at: "1130301101500".into()
                },
                "qr"
            ),
            AppError::AlreadyDispensed {
                by: "5901010010".into(),
                at_ms: 1_709_259_300_000
            }
        );
        assert!(matches!(
            pharmacy_error(PharmacyError::Tampered, "qr"),
            AppError::Rejected { code, field, .. } if code == "tampered" && field.as_deref() == Some("qr")
        ));
        assert_eq!(
            pharmacy_error(PharmacyError::Network("down".into()), "qr"),
            AppError::Network
        );
        assert!(parse_pin("zz").is_err());
        assert_eq!(parse_pin(&"AB:".repeat(32)).unwrap(), [0xAB; 32]);
    }
}
