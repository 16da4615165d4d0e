//! The virtual NHI card: wrappers over `homevisit_core::app::VirtualCardService` (scan → consent →
//! a visit session on the virtual card; the offline fallback; the assisted application).

use crate::app::HomeVisitApp;
use crate::error::HomeVisitError;
use crate::readers::task;
use crate::records::{CardInput, VisitDetails, VisitSummary};
use crate::visit::VisitSession;
use homevisit_core::app;
use std::sync::Arc;

/// A scan the NHI accepted: the patient is asked to consent in their app.
#[derive(Debug, Clone, uniffi::Record)]
pub struct VirtualCardScan {
    /// The NHI's scan session (for `consentState` and `beginVisit`).
    pub session: String,
    /// When the QR expires, ms since the epoch.
    pub expires_at_unix_ms: i64,
}

/// The patient's answer in their app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConsentState {
    /// Not answered yet: ask again.
    Pending,
    /// The patient tapped "同意".
    Granted,
    /// The patient refused.
    Refused,
}

impl From<app::ConsentState> for ConsentState {
    fn from(c: app::ConsentState) -> Self {
        match c {
            app::ConsentState::Pending => Self::Pending,
            app::ConsentState::Granted => Self::Granted,
            app::ConsentState::Refused => Self::Refused,
        }
    }
}

/// The virtual NHI card service (Kotlin: `app.virtualCard()`).
#[derive(uniffi::Object)]
pub struct VirtualCard {
    inner: Arc<app::VirtualCardService>,
}

#[uniffi::export(async_runtime = "tokio")]
impl VirtualCard {
    /// Scans the patient's QR (forged, expired, used: their own errors; offline: `VcardNeedsNetwork`).
    pub async fn scan(&self, qr: String) -> Result<VirtualCardScan, HomeVisitError> {
        let inner = self.inner.clone();
        let s = task(async move { inner.scan(&qr).await }).await?;
        Ok(VirtualCardScan {
            session: s.session,
            expires_at_unix_ms: s.expires_at_ms,
        })
    }

    /// The patient's answer so far.
    pub async fn consent_state(&self, session: String) -> Result<ConsentState, HomeVisitError> {
        let inner = self.inner.clone();
        Ok(task(async move { inner.consent_state(&session).await })
            .await?
            .into())
    }

    /// Reads the card data (refused until the patient consented) and begins a visit on it.
    pub async fn begin_visit(&self, session: String) -> Result<Arc<VisitSession>, HomeVisitError> {
        let inner = self.inner.clone();
        let v = task(async move { inner.begin_visit(&session).await }).await?;
        Ok(Arc::new(VisitSession { inner: Arc::new(v) }))
    }

    /// Offline fallback: records the visit on the abnormal path `A020` from the patient's data
    /// typed from an ID document. Kotlin: `suspend`.
    pub async fn record_offline_fallback(
        &self,
        card: CardInput,
        details: VisitDetails,
    ) -> Result<VisitSummary, HomeVisitError> {
        let inner = self.inner.clone();
        let card: app::CardInput = card.into();
        let summary = tokio::task::spawn_blocking(move || {
            app::catch_panic(|| inner.record_offline_fallback(&card, details.into()))
        })
        .await??;
        Ok(summary.into())
    }

    /// An assisted application: the designated staff member confirmed photo and ID document and
    /// enters the institution's audit verification code. Returns when the card was issued (ms).
    pub async fn assist_application(
        &self,
        card: CardInput,
        staff_id: String,
        photo_confirmed: bool,
        id_document_confirmed: bool,
        audit_code: String,
    ) -> Result<i64, HomeVisitError> {
        let inner = self.inner.clone();
        let application = app::AssistedApplication {
            card: card.into(),
            staff_id,
            photo_confirmed,
            id_document_confirmed,
            audit_code,
        };
        task(async move { inner.assist_application(&application).await }).await
    }
}

#[uniffi::export]
impl HomeVisitApp {
    /// The virtual NHI card service.
    pub fn virtual_card(&self) -> Arc<VirtualCard> {
        Arc::new(VirtualCard {
            inner: Arc::new(self.inner.virtual_card()),
        })
    }
}
