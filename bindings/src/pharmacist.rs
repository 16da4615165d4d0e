//! The pharmacist at the counter (Kotlin/Swift: `Pharmacist`), and what it shows: the details of a
//! prescription as an object (patient name and masked ID behind accessors), records for the
//! offline check and the receipt.

use crate::error::HomeVisitError;
use crate::order_sets::OrderSetLine;
use crate::platform::{ClockAdapter, HostClock};
use crate::prescription::{RefillState, guard, spawn_guarded};
use homevisit_core::app;
use homevisit_core::platform::SystemClock;
use std::sync::Arc;

/// What a QR says, verified offline (no patient data).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VerifiedQr {
    pub visit_code: String,
    pub institution: String,
    /// The prescriber's national ID (signed into the QR), middle masked.
    pub prescriber_id_masked: String,
    /// Issue date, ROC `YYYMMDD`.
    pub issued_on_roc: String,
    /// Last day any dispense may happen, ROC `YYYMMDD`.
    pub valid_until_roc: String,
    /// Start (Taiwan midnight) of that day, ms since the epoch.
    pub valid_until_unix_ms: i64,
    pub chronic: bool,
    pub refills: u8,
    pub lines: Vec<OrderSetLine>,
}

impl From<app::VerifiedQr> for VerifiedQr {
    fn from(v: app::VerifiedQr) -> Self {
        Self {
            visit_code: v.visit_code,
            institution: v.institution,
            prescriber_id_masked: v.prescriber_id_masked,
            issued_on_roc: v.issued_on_roc,
            valid_until_roc: v.valid_until_roc,
            valid_until_unix_ms: v.valid_until_ms,
            chronic: v.chronic,
            refills: v.refills,
            lines: v.lines.into_iter().map(Into::into).collect(),
        }
    }
}

/// Proof of one dispense (no patient data).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DispenseReceipt {
    pub receipt_no: String,
    pub visit_code: String,
    /// Which dispense (1, or 2–3 for a chronic refill).
    pub refill: u8,
    /// The pharmacy that dispensed.
    pub pharmacy: String,
    /// When, ms since the epoch.
    pub dispensed_at_unix_ms: i64,
    /// When, ROC `YYYMMDDHHMMSS` as printed.
    pub dispensed_at_roc: String,
}

impl From<app::DispenseReceipt> for DispenseReceipt {
    fn from(r: app::DispenseReceipt) -> Self {
        Self {
            receipt_no: r.receipt_no,
            visit_code: r.visit_code,
            refill: r.refill,
            pharmacy: r.pharmacy,
            dispensed_at_unix_ms: r.dispensed_at_ms,
            dispensed_at_roc: r.dispensed_at_roc,
        }
    }
}

/// A prescription as the pharmacist sees it (an object: it holds the patient's name).
#[derive(uniffi::Object)]
pub struct DispenseDetails {
    inner: app::DispenseDetails,
}

#[uniffi::export]
impl DispenseDetails {
    /// The visit identification code.
    pub fn visit_code(&self) -> String {
        self.inner.visit_code.clone()
    }
    /// The prescribing institution.
    pub fn institution(&self) -> String {
        self.inner.institution.clone()
    }
    /// The patient's name.
    pub fn patient_name(&self) -> String {
        self.inner.patient_name.clone()
    }
    /// The patient's ID, middle masked.
    pub fn patient_id_masked(&self) -> String {
        self.inner.patient_id_masked.clone()
    }
    /// Issue date, ROC `YYYMMDD`.
    pub fn issued_on_roc(&self) -> String {
        self.inner.issued_on_roc.clone()
    }
    /// Chronic continuous prescription.
    pub fn chronic(&self) -> bool {
        self.inner.chronic
    }
    /// The drug lines.
    pub fn lines(&self) -> Vec<OrderSetLine> {
        self.inner.lines.iter().cloned().map(Into::into).collect()
    }
    /// The prescriber's abnormal-situation contact.
    pub fn contact(&self) -> String {
        self.inner.contact.clone()
    }
    /// Every dispense and its state.
    pub fn refills(&self) -> Vec<RefillState> {
        self.inner.refills.iter().cloned().map(Into::into).collect()
    }
    /// The dispense due today, if any.
    pub fn due_refill(&self) -> Option<u8> {
        self.inner.due_refill
    }
}

fn details(d: app::DispenseDetails) -> Arc<DispenseDetails> {
    Arc::new(DispenseDetails { inner: d })
}

/// A pharmacist logged in to the pharmacy service.
#[derive(uniffi::Object)]
pub struct Pharmacist {
    inner: Arc<app::Pharmacist>,
}

#[uniffi::export(async_runtime = "tokio")]
impl Pharmacist {
    /// Logs in at `endpoint` (HTTPS, pinned to the certificate whose SHA-256 is `cert_sha256_hex`)
    /// as pharmacy `account`, and downloads the published device keys. `clock` dates the offline
    /// checks (the system clock when null). Kotlin: `suspend`.
    #[uniffi::constructor]
    pub async fn login(
        endpoint: String,
        cert_sha256_hex: String,
        account: String,
        password: String,
        clock: Option<Arc<dyn HostClock>>,
    ) -> Result<Arc<Self>, HomeVisitError> {
        let clock: Arc<dyn homevisit_core::platform::Clock> = match clock {
            Some(c) => Arc::new(ClockAdapter(c)),
            None => Arc::new(SystemClock),
        };
        let p = spawn_guarded(async move {
            app::Pharmacist::login(&endpoint, &cert_sha256_hex, &account, &password, clock).await
        })
        .await?;
        Ok(Arc::new(Self { inner: Arc::new(p) }))
    }

    /// The pharmacy account logged in.
    pub fn account(&self) -> String {
        self.inner.account().to_string()
    }

    /// Downloads the published device keys again; returns how many are kept. Kotlin: `suspend`.
    pub async fn refresh_keys(&self) -> Result<u32, HomeVisitError> {
        let p = self.inner.clone();
        spawn_guarded(async move { p.refresh_keys().await }).await
    }

    /// Verifies a QR offline (`Rejected` with code `not_ours`, `malformed`, `tampered`,
    /// `unknown_institution`, `unknown_signer` or `expired`).
    pub fn verify_offline(&self, qr: String) -> Result<VerifiedQr, HomeVisitError> {
        guard(|| Ok(self.inner.verify_offline(&qr)?.into()))
    }

    /// Scans a QR: verified offline, then its details fetched. Kotlin: `suspend`.
    pub async fn scan(&self, qr: String) -> Result<Arc<DispenseDetails>, HomeVisitError> {
        let p = self.inner.clone();
        spawn_guarded(async move { p.scan(&qr).await }).await.map(details)
    }

    /// The details of a typed one-time code. Kotlin: `suspend`.
    pub async fn lookup_code(&self, code: String) -> Result<Arc<DispenseDetails>, HomeVisitError> {
        let p = self.inner.clone();
        spawn_guarded(async move { p.lookup_code(&code).await })
            .await
            .map(details)
    }

    /// Dispenses a scanned QR once; again: `AlreadyDispensed(by, atUnixMs)`. Kotlin: `suspend`.
    pub async fn dispense_qr(&self, qr: String) -> Result<DispenseReceipt, HomeVisitError> {
        let p = self.inner.clone();
        spawn_guarded(async move { p.dispense_qr(&qr).await })
            .await
            .map(Into::into)
    }

    /// Dispenses by one-time code once; again: `AlreadyDispensed`. Kotlin: `suspend`.
    pub async fn dispense_code(&self, code: String) -> Result<DispenseReceipt, HomeVisitError> {
        let p = self.inner.clone();
        spawn_guarded(async move { p.dispense_code(&code).await })
            .await
            .map(Into::into)
    }

    /// Abnormal-case restore of a dispense (audited with `reason`). Kotlin: `suspend`.
    pub async fn restore(
        &self,
        visit_code: String,
        refill: u8,
        reason: String,
    ) -> Result<(), HomeVisitError> {
        let p = self.inner.clone();
        spawn_guarded(async move { p.restore(&visit_code, refill, &reason).await }).await
    }
}
