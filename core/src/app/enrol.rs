//! Device enrolment through the facade: the administrator's QR-2 and the PIN from the VPN screen
//! make the enrolled VPN client, which the app keeps sealed in its store and loads at open. Every
//! service that talks to the NHI (sync, cloud SAM, MediCloud, prescriptions) takes the client
//! from here.

use super::{AppError, HomeVisit};
use crate::vpn::{BindingQr, ClientOptions, VpnClient};
use std::sync::Arc;

/// Whether and how this device is enrolled (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentStatus {
    /// Enrolled with the institution's VPN services.
    pub enrolled: bool,
    /// The institution the device is bound to (empty when not enrolled).
    pub institution_code: String,
    /// The device id the VPN gave (empty when not enrolled).
    pub device_id: String,
    /// The institution's cloud SAM id (empty when not enrolled).
    pub sam_id: String,
    /// The VPN endpoint (empty when not enrolled).
    pub endpoint: String,
}

impl EnrolmentStatus {
    fn of(client: Option<&VpnClient>) -> Self {
        match client {
            None => Self {
                enrolled: false,
                institution_code: String::new(),
                device_id: String::new(),
                sam_id: String::new(),
                endpoint: String::new(),
            },
            Some(c) => {
                let e = c.enrolment();
                Self {
                    enrolled: true,
                    institution_code: e.institution_code.clone(),
                    device_id: e.device_id.clone(),
                    sam_id: e.sam_id.clone(),
                    endpoint: e.endpoint.clone(),
                }
            }
        }
    }
}

impl HomeVisit {
    /// The VPN client options of this app (its clock stamps signed requests).
    pub(crate) fn client_options(&self) -> ClientOptions {
        ClientOptions {
            clock: self.clock.clone(),
            ..ClientOptions::default()
        }
    }

    /// Loads the kept enrolment, if any (at open).
    pub(crate) fn load_enrolment(&self) -> Result<(), AppError> {
        let client = VpnClient::load(self.store.as_ref(), self.client_options())?;
        *self.vpn.write().unwrap_or_else(|p| p.into_inner()) = client.map(Arc::new);
        Ok(())
    }

    /// The enrolled VPN client, or [`AppError::NotEnrolled`].
    pub(crate) fn vpn_client(&self) -> Result<Arc<VpnClient>, AppError> {
        self.vpn
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(AppError::NotEnrolled)
    }

    /// Enrols this device from the administrator's QR-2 text and the PIN shown on the VPN
    /// screen (online), keeps the enrolment (with its device key) sealed, and returns the status.
    /// A garbage QR-2 is a validation error on `binding_qr`; a QR-2 of another institution than
    /// the app's is refused before anything is sent.
    pub async fn enrol(
        &self,
        qr_text: &str,
        pin: &str,
        device_name: &str,
    ) -> Result<EnrolmentStatus, AppError> {
        let qr = BindingQr::parse(qr_text.trim())?;
        if qr.institution_code != self.institution.as_str() {
            return Err(super::input::invalid(
                "binding_qr",
                "is for another institution than this app's",
            ));
        }
        let pin = pin.trim();
        if pin.is_empty() || !pin.chars().all(|c| c.is_ascii_digit()) {
            return Err(super::input::invalid(
                "pin",
                "must be the digits shown on the VPN screen",
            ));
        }
        let client = VpnClient::enrol(&qr, pin, device_name.trim(), self.client_options()).await?;
        client.save(self.store.as_ref())?;
        let status = EnrolmentStatus::of(Some(&client));
        *self.vpn.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(client));
        self.sync.clear_certificate_mismatch();
        tracing::info!(target: "homevisit::app", device_id = %status.device_id, "device enrolled");
        Ok(status)
    }

    /// Whether and how this device is enrolled.
    pub fn enrolment_status(&self) -> EnrolmentStatus {
        let guard = self.vpn.read().unwrap_or_else(|p| p.into_inner());
        EnrolmentStatus::of(guard.as_deref())
    }

    /// Points the kept enrolment at a new VPN endpoint (the institution moved it, or a simulator
    /// restarted on another port); the certificate pin and the device key stay. Kept sealed.
    pub fn set_vpn_endpoint(&self, endpoint: &str) -> Result<EnrolmentStatus, AppError> {
        let current = self.vpn_client()?;
        let mut enrolment = current.enrolment().clone();
        enrolment.endpoint = endpoint.trim().to_string();
        let client = VpnClient::from_enrolment(enrolment, self.client_options())?;
        client.save(self.store.as_ref())?;
        let status = EnrolmentStatus::of(Some(&client));
        *self.vpn.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(client));
        Ok(status)
    }
}
