//! The virtual NHI card at the facade: [`HomeVisit::virtual_card`] hands out a
//! [`VirtualCardService`] that scans the patient's QR (checked on the device first: shape and NHI
//! signature, the 5-minute expiry by the app's clock, single use), asks the NHI for the patient's
//! consent, and — only once the patient tapped "同意" — reads the card data and begins a
//! [`VisitSession`] whose card is virtual. That session's `finish` gets a `V` sequence number and
//! the NHI's signature from the simulated NHI instead of the chip, writes no card (there is none)
//! and commits the visit with its 2.0 upload job like any other visit.
//!
//! Offline a virtual card cannot be verified: [`AppError::VcardNeedsNetwork`] says so, and
//! [`VirtualCardService::record_offline_fallback`] records the visit on the abnormal path `A020`
//! (network failure before a sequence number) with the patient's data typed from an ID document —
//! never as a virtual-card visit. If the network drops between consent and finish, the visit also
//! takes `A020`, with the reason recorded.

use super::input::invalid;
use super::visit::{CardSource, VisitDraft, VisitSession};
use super::{AppError, CardInput, HomeVisit, VisitDetails, VisitSummary};
use crate::model::{AbnormalCode, RocDateTime, SequenceNumber, Visit};
use crate::rules::RuleError;
use crate::rules::visit_code::VisitCodeInput;
use crate::vcard::{VcardError, VcardQr, client, wire};
use crate::vpn::{VpnClient, VpnError};
use std::sync::Arc;

/// Key/value namespace of the virtual-card service (the NHI's QR key).
const KV_NAMESPACE: &str = "vcard";
/// Key of the NHI's QR public key in [`KV_NAMESPACE`].
const KEY_KEY: &str = "nhi-qr-key";
/// Key/value namespace of the QR tokens this device has presented (single use).
const USED_NAMESPACE: &str = "vcard-used";

/// A scan the NHI accepted: the patient is now asked to consent in their app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualCardScan {
    /// The NHI's scan session (what `consent_state` and `begin_visit` name).
    pub session: String,
    /// When the QR expires (ms since the epoch).
    pub expires_at_ms: i64,
}

/// The patient's answer in their app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentState {
    /// Not answered yet: ask again.
    Pending,
    /// The patient tapped "同意": the card data may be read.
    Granted,
    /// The patient refused.
    Refused,
}

/// An assisted virtual-card application (an HMIC team member helps the patient apply).
#[derive(Clone, PartialEq, Eq)]
pub struct AssistedApplication {
    /// The applicant's data as checked against their ID document.
    pub card: CardInput,
    /// National ID of the designated staff member who checked photo and ID document.
    pub staff_id: String,
    /// The staff member confirmed the photo is the applicant's.
    pub photo_confirmed: bool,
    /// The staff member confirmed the ID document.
    pub id_document_confirmed: bool,
    /// The audit verification code (審核認證碼) the NHI issued to the institution.
    pub audit_code: String,
}

impl std::fmt::Debug for AssistedApplication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AssistedApplication(<redacted>)")
    }
}

/// The virtual-card service of the app (Kotlin: `app.virtualCard()`).
pub struct VirtualCardService {
    app: Arc<HomeVisit>,
}

impl std::fmt::Debug for VirtualCardService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualCardService").finish_non_exhaustive()
    }
}

impl HomeVisit {
    /// The virtual NHI card service: scan, consent, visit, offline fallback, assisted application.
    pub fn virtual_card(self: &Arc<Self>) -> VirtualCardService {
        VirtualCardService { app: self.clone() }
    }
}

/// Whether a failure means the NHI could not be reached (so the card cannot be verified).
fn unreachable(e: &VcardError) -> bool {
    matches!(
        e,
        VcardError::Vpn(VpnError::Network { .. } | VpnError::Server { .. } | VpnError::BadResponse { .. })
    )
}

/// Network-class failures of the virtual-card calls become [`VcardError::NeedsNetwork`].
fn needs_network(e: VcardError) -> VcardError {
    if unreachable(&e) {
        VcardError::NeedsNetwork
    } else {
        e
    }
}

fn check_session(session: &str) -> Result<&str, AppError> {
    let s = session.trim();
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(invalid("session", "is not a virtual-card scan session"));
    }
    Ok(s)
}

impl VirtualCardService {
    /// The enrolled client, when the network is up; otherwise the card cannot be verified.
    fn online_client(&self) -> Result<Arc<VpnClient>, AppError> {
        if !self.app.is_online() {
            return Err(VcardError::NeedsNetwork.into());
        }
        self.app.vpn_client()
    }

    /// The NHI's QR key: kept from an earlier scan, else fetched (and kept).
    fn cached_key(&self) -> Result<Option<Vec<u8>>, AppError> {
        Ok(self.app.store.kv_get(KV_NAMESPACE, KEY_KEY)?)
    }

    async fn key(&self, client: &VpnClient) -> Result<Vec<u8>, AppError> {
        if let Some(k) = self.cached_key()? {
            return Ok(k);
        }
        let k = client::public_key(client).await.map_err(needs_network)?;
        self.app.store.kv_put(KV_NAMESPACE, KEY_KEY, &k)?;
        Ok(k)
    }

    /// Scans the patient's QR: refused here when it is not the NHI's ([`AppError::VcardForged`]),
    /// past its 5 minutes by the app's clock ([`AppError::VcardExpired`]) or already presented by
    /// this device ([`AppError::VcardUsed`]); then presented to the NHI, which checks the same by
    /// its own records and asks the patient to consent. Offline: [`AppError::VcardNeedsNetwork`]
    /// (after the checks the device can make alone).
    pub async fn scan(&self, qr_text: &str) -> Result<VirtualCardScan, AppError> {
        let qr = VcardQr::parse(qr_text)?;
        let local_checks = |key: &[u8]| -> Result<(), AppError> {
            qr.verify(key)?;
            // Used before expired: a QR presented once stays "used" after its 5 minutes too.
            if self.app.store.kv_get(USED_NAMESPACE, &qr.token_hex())?.is_some() {
                return Err(VcardError::Used.into());
            }
            qr.check_fresh(self.app.clock.now_unix_ms())?;
            Ok(())
        };
        if let Some(key) = self.cached_key()? {
            local_checks(&key)?;
        }
        let client = self.online_client()?;
        let key = self.key(&client).await?;
        local_checks(&key)?;
        let answer = client::scan(&client, qr_text.trim()).await.map_err(needs_network);
        if matches!(answer, Ok(_) | Err(VcardError::Used)) {
            // Presented once: never again from this device.
            let at = self.app.clock.now_unix_ms().to_be_bytes();
            self.app.store.kv_put(USED_NAMESPACE, &qr.token_hex(), &at)?;
        }
        let answer = answer.map_err(|e| match e {
            // The NHI's clock said expired: the device knows when.
            VcardError::Expired { .. } => VcardError::Expired {
                expired_at_ms: qr.expires_ms,
            },
            other => other,
        })?;
        Ok(VirtualCardScan {
            session: answer.session,
            expires_at_ms: answer.expires_at_ms,
        })
    }

    /// The patient's answer so far (the host asks again while it is `Pending`).
    pub async fn consent_state(&self, session: &str) -> Result<ConsentState, AppError> {
        let session = check_session(session)?;
        let client = self.online_client()?;
        let state = client::consent(&client, session).await.map_err(needs_network)?;
        match state.as_str() {
            "pending" => Ok(ConsentState::Pending),
            "granted" => Ok(ConsentState::Granted),
            "refused" => Ok(ConsentState::Refused),
            _ => Err(AppError::Network),
        }
    }

    /// Reads the card data (refused with [`AppError::VcardNoConsent`] until the patient consented)
    /// and begins a visit on the virtual card. The practitioner's PIN must have been verified.
    pub async fn begin_visit(&self, session: &str) -> Result<VisitSession, AppError> {
        let session = check_session(session)?;
        let practitioner = self
            .app
            .readers
            .practitioner()
            .ok_or_else(|| invalid("practitioner", "verify the practitioner PIN first"))?;
        let client = self.online_client()?;
        let data = client::card(&client, session).await.map_err(needs_network)?;
        let patient = CardInput {
            card_number: data.card_number.clone(),
            name: data.name.clone(),
            national_id: data.national_id.clone(),
            birth_date: data.birth_date.clone(),
            sex: data.sex.clone(),
            issue_date: data.issue_date.clone(),
        }
        .parse()
        .map_err(|e| {
            tracing::warn!(target: "homevisit::app", code = e.code(), "the NHI sent virtual-card data that does not parse");
            AppError::Network
        })?;
        VisitSession::new(
            self.app.clone(),
            patient,
            practitioner.national_id,
            CardSource::Virtual {
                session: session.to_string(),
            },
        )
    }

    /// The offline fallback the rules allow when a virtual card cannot be verified: the visit is
    /// recorded on the abnormal path `A020` (network failure before a sequence number) from the
    /// patient's data typed from an ID document, with the reason on the abnormal-situation
    /// report. `details.sequence_number` and `details.abnormal_reason` are set here.
    pub fn record_offline_fallback(
        &self,
        card: &CardInput,
        mut details: VisitDetails,
    ) -> Result<VisitSummary, AppError> {
        let code = AbnormalCode::NetworkBefore;
        details.sequence_number = code.code().to_string();
        details.abnormal_reason = Some(format!(
            "{} {}: virtual NHI card could not be verified without the NHI; patient identified from an ID document; card not written",
            code.code(),
            code.meaning().en
        ));
        self.app.record_visit_from_input(card, details)
    }

    /// Submits an assisted virtual-card application: a designated staff member confirmed photo
    /// and ID document and enters the audit verification code issued to the institution. The
    /// NHI refuses an institution without the right ([`AppError::VcardNoRight`]), a wrong code or a
    /// staff member not designated (`Rejected` naming `audit_code` / `staff_id`). Returns when the
    /// card was issued (ms since the epoch).
    pub async fn assist_application(&self, application: &AssistedApplication) -> Result<i64, AppError> {
        let card = application.card.parse()?;
        crate::rules::national_id::parse(&application.staff_id).map_err(|e| match e {
            RuleError::Invalid { reason, .. } => invalid("staff_id", &reason),
        })?;
        if !application.photo_confirmed {
            return Err(invalid(
                "photo_confirmed",
                "the staff member must confirm the photo",
            ));
        }
        if !application.id_document_confirmed {
            return Err(invalid(
                "id_document_confirmed",
                "the staff member must confirm the ID document",
            ));
        }
        let code = application.audit_code.trim();
        if code.is_empty() || code.len() > 32 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(invalid("audit_code", "must be 1 to 32 letters or digits"));
        }
        if !self.app.is_online() {
            return Err(AppError::Network);
        }
        let client = self.app.vpn_client()?;
        let req = wire::ApplicationRequest {
            card: wire::CardData {
                card_number: card.card_number.clone(),
                name: card.name.clone(),
                national_id: card.national_id.expose().to_string(),
                birth_date: application.card.birth_date.trim().to_string(),
                sex: application.card.sex.trim().to_ascii_uppercase(),
                issue_date: application.card.issue_date.trim().to_string(),
            },
            staff_id: application.staff_id.trim().to_string(),
            photo_confirmed: true,
            id_document_confirmed: true,
            audit_code: code.to_string(),
        };
        let answer = client::apply(&client, &req).await?;
        Ok(answer.issued_at_ms)
    }
}

impl VisitSession {
    /// `finish` of a virtual-card visit (called by `visit.rs` with the kept plan): the visit code
    /// is made on the device, the NHI gives the `V` sequence number and signs the upload's key
    /// fields (idempotent per `txn_id`), nothing is written to a card. If the NHI cannot be reached
    /// the visit takes `A020` with the reason recorded.
    pub(super) async fn finish_virtual(
        &self,
        session: &str,
        draft: &VisitDraft,
        (visit_id, txn_id, code_counter): (String, [u8; 16], u64),
        at: RocDateTime,
    ) -> Result<VisitSummary, AppError> {
        let app = &self.app;
        let code = app
            .codes
            .generate(
                code_counter,
                &VisitCodeInput {
                    person: &self.patient.national_id,
                    at,
                    institution: &app.institution,
                },
            )
            .map_err(RuleError::from)?;
        let mut visit = Visit {
            id: visit_id,
            visit_code: code.as_str().to_string(),
            patient: self.patient.clone(),
            institution: app.institution.clone(),
            practitioner_id: self.practitioner_id.clone(),
            visit_type: draft.visit_type.code().to_string(),
            sequence_number: String::new(),
            visited_at: at.to_datetime(),
            diagnoses: draft.diagnoses.clone(),
            note: draft.note.clone(),
            orders: draft.orders.clone(),
            security_signature: None,
            sam_id: None,
            abnormal_reason: None,
            card_written: false,
            fee_points: Some(draft.fee_points),
            copayment_points: Some(draft.copayment),
            context: draft.context.clone(),
        };
        let client = if app.is_online() {
            app.vpn_client().ok()
        } else {
            None
        };
        let answer = match client {
            Some(c) => {
                let req = wire::SequenceRequest {
                    session: session.to_string(),
                    txn_id: hex::encode(txn_id),
                    visit_type: visit.visit_type.clone(),
                    visit_datetime: at.to_roc_string(),
                    visit_code: visit.visit_code.clone(),
                };
                match client::sequence(&c, &req).await {
                    Ok(a) => Some(a),
                    Err(e) if unreachable(&e) => None,
                    Err(e) => return Err(e.into()),
                }
            }
            None => None,
        };
        match answer {
            Some(a) => {
                if !matches!(
                    SequenceNumber::parse(&a.sequence_number),
                    Ok(SequenceNumber::Virtual(_))
                ) {
                    tracing::warn!(target: "homevisit::app", "the NHI answered a virtual-card visit without a V number");
                    return Err(AppError::Network);
                }
                visit.sequence_number = a.sequence_number;
                visit.security_signature = Some(a.signature_hex);
                visit.sam_id = Some(a.sam_id);
            }
            None => {
                let code = AbnormalCode::NetworkBefore;
                visit.sequence_number = code.code().to_string();
                visit.abnormal_reason = Some(format!(
                    "{} {}: virtual NHI card: the NHI could not be reached for the V sequence number; no card written (no chip)",
                    code.code(),
                    code.meaning().en
                ));
            }
        }
        app.commit_visit(&visit)
    }
}
