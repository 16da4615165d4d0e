//! The calls of the NHI's virtual-card service over the enrolled device's signed client, with
//! the service's refusals turned into [`VcardError`]s.

use super::VcardError;
use super::wire::{self, CardData, ScanResponse, SequenceRequest, SequenceResponse};
use crate::vpn::{VpnClient, VpnError};

fn typed(e: VpnError) -> VcardError {
    match &e {
        VpnError::Rejected { code, .. } => VcardError::from_server_code(code).unwrap_or(VcardError::Vpn(e)),
        _ => VcardError::Vpn(e),
    }
}

/// The NHI's QR public key (32 bytes).
pub async fn public_key(client: &VpnClient) -> Result<Vec<u8>, VcardError> {
    let k: wire::KeyResponse = client.get_signed(wire::KEY).await.map_err(typed)?;
    hex::decode(&k.public_key)
        .ok()
        .filter(|k| k.len() == 32)
        .ok_or_else(|| {
            VcardError::Vpn(VpnError::BadResponse {
                reason: "the virtual-card key is not 32 bytes hex".into(),
            })
        })
}

/// Presents a scanned QR; the NHI asks the patient to consent.
pub async fn scan(client: &VpnClient, qr: &str) -> Result<ScanResponse, VcardError> {
    client
        .post_signed(wire::SCAN, &wire::ScanRequest { qr: qr.to_string() })
        .await
        .map_err(typed)
}

/// The patient's answer so far (`pending`, `granted`, `refused`).
pub async fn consent(client: &VpnClient, session: &str) -> Result<String, VcardError> {
    let r: wire::ConsentResponse = client
        .post_signed(
            wire::CONSENT,
            &wire::SessionRequest {
                session: session.to_string(),
            },
        )
        .await
        .map_err(typed)?;
    Ok(r.state)
}

/// The card data, once the patient consented.
pub async fn card(client: &VpnClient, session: &str) -> Result<CardData, VcardError> {
    client
        .post_signed(
            wire::CARD,
            &wire::SessionRequest {
                session: session.to_string(),
            },
        )
        .await
        .map_err(typed)
}

/// The visit's `V` sequence number (idempotent per `txn_id`).
pub async fn sequence(client: &VpnClient, req: &SequenceRequest) -> Result<SequenceResponse, VcardError> {
    client.post_signed(wire::SEQUENCE, req).await.map_err(typed)
}

/// An assisted application.
pub async fn apply(
    client: &VpnClient,
    req: &wire::ApplicationRequest,
) -> Result<wire::ApplicationResponse, VcardError> {
    client.post_signed(wire::APPLICATION, req).await.map_err(typed)
}
