//! Enrolment and connectivity exports of `HomeVisitApp`.

use crate::app::HomeVisitApp;
use crate::error::{HomeVisitError, guard, guard_async};
use homevisit_core::app;

/// Whether and how this device is enrolled (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EnrolmentStatus {
    pub enrolled: bool,
    pub institution_code: String,
    pub device_id: String,
    pub sam_id: String,
    pub endpoint: String,
}

impl From<app::EnrolmentStatus> for EnrolmentStatus {
    fn from(s: app::EnrolmentStatus) -> Self {
        Self {
            enrolled: s.enrolled,
            institution_code: s.institution_code,
            device_id: s.device_id,
            sam_id: s.sam_id,
            endpoint: s.endpoint,
        }
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl HomeVisitApp {
    /// Enrols this device from the administrator's QR-2 text and the PIN on the VPN screen.
    /// Kotlin: `suspend`.
    pub async fn enrol(
        &self,
        qr_text: String,
        pin: String,
        device_name: String,
    ) -> Result<EnrolmentStatus, HomeVisitError> {
        let inner = self.inner.clone();
        let status = guard_async(async move { inner.enrol(&qr_text, &pin, &device_name).await }).await?;
        Ok(status.into())
    }

    /// Whether and how this device is enrolled.
    pub fn enrolment_status(&self) -> Result<EnrolmentStatus, HomeVisitError> {
        Ok(guard(|| Ok(self.inner.enrolment_status()))?.into())
    }

    /// Points the kept enrolment at a new VPN endpoint (pin and device key stay).
    pub fn set_vpn_endpoint(&self, endpoint: String) -> Result<EnrolmentStatus, HomeVisitError> {
        Ok(guard(|| self.inner.set_vpn_endpoint(&endpoint))?.into())
    }

    /// The host reports whether the network is usable (nothing is sent while offline; going
    /// online wakes the background sync).
    pub fn set_online(&self, online: bool) {
        self.inner.set_online(online);
    }

    /// Whether the host last said the network is usable.
    pub fn is_online(&self) -> bool {
        self.inner.is_online()
    }
}
