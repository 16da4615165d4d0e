//! Operations on the patient's NHI card: open (select + public basic data), mutual authentication
//! through the cloud SAM, the visit sequence number, the visit write, reads, and the 24-hour
//! cancellation (退掛). Each method is one exchange with the card unless it says otherwise.
//!
//! Idempotency, so that a retry after a disconnect at any point is safe:
//! - GET SEQUENCE carries a 16-byte transaction id; the card answers a repeated id with what it gave
//!   the first time (same sequence number, nothing consumed again);
//! - WRITE VISIT is keyed by the visit identification code; writing again replaces the visit's body
//!   and prescription entries, so the card never holds two copies;
//! - CANCEL of an already cancelled visit answers success without restoring a second visit.

use super::apdu::{self, CLA_NHI};
use super::basic_data;
use super::error::{CardError, NhiCode};
use super::records::{
    self, CardSequence, CardVisitRecord, MAX_PRESCRIPTIONS, PRESCRIPTION_LEN, PrescriptionEntry,
    SequenceForm, VISIT_RECORD_LEN, VisitBody,
};
use super::sam::{SamAuthority, VisitSignRequest};
use crate::model::{CardBasicData, InstitutionCode, RocDateTime, VisitType};
use crate::reader::{ApduChannel, CardSlot};
use crate::rules::visit_code::VisitCode;

const SLOT: CardSlot = CardSlot::Patient;

/// What a get-sequence-number request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceRequest {
    /// Transaction id: the same id on a retry returns the same number.
    pub txn_id: [u8; 16],
    /// Visit type (not `ZA`/`ZB`).
    pub visit_type: VisitType,
    /// Newborn visit under the parent's card.
    pub newborn: bool,
    /// Card replacement (after-check flag `2`) instead of a normal visit (`1`).
    pub replacement: bool,
    /// Institution code.
    pub institution: InstitutionCode,
    /// Visit date-time (Taiwan time, from the device clock).
    pub at: RocDateTime,
    /// Visit identification code, generated offline before the request.
    pub visit_code: VisitCode,
}

impl SequenceRequest {
    fn to_bytes(&self) -> Result<Vec<u8>, CardError> {
        if self.visit_type.is_cancellation() {
            return Err(CardError::Input("ZA/ZB is a cancellation, not a visit".into()));
        }
        let mut d = Vec::with_capacity(63);
        d.extend_from_slice(&self.txn_id);
        d.extend_from_slice(self.visit_type.code().as_bytes());
        d.push(if self.newborn { b'Y' } else { b'N' });
        d.push(if self.replacement { b'2' } else { b'1' });
        d.extend_from_slice(self.institution.as_str().as_bytes());
        super::fields::put_roc_datetime(&mut d, self.at);
        d.extend_from_slice(self.visit_code.as_str().as_bytes());
        Ok(d)
    }
}

/// The GET SEQUENCE command APDU (`80 D0 00 00 3F … 00`).
pub fn sequence_command(req: &SequenceRequest) -> Result<Vec<u8>, CardError> {
    Ok(apdu::command(
        CLA_NHI,
        apdu::INS_GET_SEQUENCE,
        0,
        0,
        &req.to_bytes()?,
        Some(256),
    ))
}

/// The WRITE VISIT command APDU (extended length).
pub fn write_command(
    code: &VisitCode,
    body: &VisitBody,
    entries: &[PrescriptionEntry],
) -> Result<Vec<u8>, CardError> {
    if entries.len() > MAX_PRESCRIPTIONS {
        return Err(CardError::Input(format!(
            "at most {MAX_PRESCRIPTIONS} prescription entries"
        )));
    }
    let mut d = Vec::with_capacity(79 + entries.len() * PRESCRIPTION_LEN);
    d.extend_from_slice(code.as_str().as_bytes());
    d.extend_from_slice(&body.to_bytes()?);
    d.push(entries.len() as u8);
    for e in entries {
        d.extend_from_slice(&e.to_bytes()?);
    }
    Ok(apdu::command(
        CLA_NHI,
        apdu::INS_WRITE_VISIT,
        0,
        0,
        &d,
        Some(65536),
    ))
}

/// The card-side authentication state of this session.
#[derive(Clone)]
struct Auth {
    session: String,
    card_proof: [u8; 32],
}

/// An opened patient card.
pub struct PatientCard<'a> {
    channel: &'a dyn ApduChannel,
    basic: CardBasicData,
    auth: Option<Auth>,
}

impl std::fmt::Debug for PatientCard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientCard")
            .field("authenticated", &self.auth.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a> PatientCard<'a> {
    /// Selects the NHI application and reads the basic data (2 exchanges). 4013 without a card,
    /// 4033 for a card of another type.
    pub async fn open(channel: &'a dyn ApduChannel) -> Result<Self, CardError> {
        let basic = basic_data::read(channel).await?;
        Ok(Self {
            channel,
            basic,
            auth: None,
        })
    }

    /// The card's public basic data.
    pub fn basic(&self) -> &CardBasicData {
        &self.basic
    }

    /// Whether mutual authentication has run in this session.
    pub fn is_authenticated(&self) -> bool {
        self.auth.is_some()
    }

    /// Mutual authentication with the cloud SAM (2 exchanges with the card, 1 SAM round trip; a
    /// second SAM round trip when `verify_now`, otherwise the card's proof is checked by the SAM
    /// when it signs the visit). A fake card or a fake SAM fails with 4071 (the card refuses a
    /// SAM proof it cannot check, the SAM refuses a card proof it cannot check); no network gives 4061.
    pub async fn authenticate(&mut self, sam: &dyn SamAuthority, verify_now: bool) -> Result<(), CardError> {
        self.auth = None;
        let challenge = apdu::exchange(self.channel, SLOT, &apdu::get_challenge(), "get challenge").await?;
        let card_challenge: [u8; 8] = challenge
            .as_slice()
            .try_into()
            .map_err(|_| CardError::malformed("challenge", "not 8 bytes"))?;
        let sam_answer = sam
            .begin_card_auth(&self.basic.card_number, card_challenge)
            .await?;
        let proof = apdu::exchange(
            self.channel,
            SLOT,
            &apdu::mutual_authenticate(&sam_answer.sam_challenge, &sam_answer.sam_proof),
            "mutual authenticate",
        )
        .await?;
        let card_proof: [u8; 32] = proof
            .as_slice()
            .try_into()
            .map_err(|_| CardError::malformed("card proof", "not 32 bytes"))?;
        if verify_now {
            sam.verify_card(&sam_answer.session, card_proof).await?;
        }
        self.auth = Some(Auth {
            session: sam_answer.session,
            card_proof,
        });
        Ok(())
    }

    /// Asks the card for the sequence number (1 exchange; registers the visit on the card and, for a
    /// counted visit type, consumes a visit). Needs [`Self::authenticate`] first.
    pub async fn issue_sequence(&self, req: &SequenceRequest) -> Result<CardSequence, CardError> {
        let data = apdu::exchange(self.channel, SLOT, &sequence_command(req)?, "get sequence").await?;
        CardSequence::from_bytes(&data)
    }

    /// Has the SAM check the card and sign the visit (1 SAM round trip), giving the 316-byte form.
    pub async fn sign(
        &self,
        sam: &dyn SamAuthority,
        institution: &InstitutionCode,
        issued: &CardSequence,
    ) -> Result<SequenceForm, CardError> {
        let auth = self
            .auth
            .as_ref()
            .ok_or(CardError::Code(NhiCode::NotAuthenticated))?;
        let req = VisitSignRequest {
            session: auth.session.clone(),
            card_proof: auth.card_proof,
            card_number: self.basic.card_number.clone(),
            visit_datetime: issued.visit_datetime.to_roc_string(),
            sequence_number: issued.sequence.code(),
            institution: institution.as_str().to_string(),
            visit_code: issued.visit_code.as_str().to_string(),
            card_mac: issued.card_mac,
        };
        let signed = sam.sign_visit(&req).await?;
        if signed.signature_hex.len() != 256 || !signed.signature_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CardError::Code(NhiCode::SignatureFailed));
        }
        Ok(SequenceForm {
            visit_datetime: issued.visit_datetime,
            sequence: issued.sequence,
            institution: institution.clone(),
            signature_hex: signed.signature_hex,
            sam_id: signed.sam_id,
            same_day: issued.same_day,
            visit_code: issued.visit_code.clone(),
        })
    }

    /// Gets the visit sequence number: [`Self::issue_sequence`] then [`Self::sign`].
    pub async fn get_sequence_number(
        &self,
        sam: &dyn SamAuthority,
        req: &SequenceRequest,
    ) -> Result<SequenceForm, CardError> {
        let issued = self.issue_sequence(req).await?;
        self.sign(sam, &req.institution, &issued).await
    }

    /// Writes the visit's diagnoses and fees and up to 60 prescription entries in one signed
    /// exchange; returns each entry's 40-character signature (D11). Safe to repeat.
    pub async fn write_visit(
        &self,
        code: &VisitCode,
        body: &VisitBody,
        entries: &[PrescriptionEntry],
    ) -> Result<Vec<String>, CardError> {
        let data = apdu::exchange(
            self.channel,
            SLOT,
            &write_command(code, body, entries)?,
            "write visit",
        )
        .await?;
        if data.len() != entries.len() * 40 {
            return Err(CardError::malformed(
                "write answer",
                format!("{} bytes", data.len()),
            ));
        }
        data.chunks(40)
            .map(|c| {
                let s = super::fields::ascii(c, "prescription signature")?;
                if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Ok(s)
                } else {
                    Err(CardError::malformed(
                        "prescription signature",
                        "not 40 hex characters",
                    ))
                }
            })
            .collect()
    }

    /// Reads one visit and its prescription entries back (1 exchange); 5022 when not on the card.
    pub async fn read_visit(
        &self,
        code: &VisitCode,
    ) -> Result<(CardVisitRecord, Vec<PrescriptionEntry>), CardError> {
        let cmd = apdu::command(
            CLA_NHI,
            apdu::INS_READ_VISITS,
            0,
            0,
            code.as_str().as_bytes(),
            Some(65536),
        );
        let data = apdu::exchange(self.channel, SLOT, &cmd, "read visit").await?;
        if data.len() < VISIT_RECORD_LEN {
            return Err(CardError::malformed("visit", format!("{} bytes", data.len())));
        }
        let record = CardVisitRecord::from_bytes(&data[..VISIT_RECORD_LEN])?;
        let entries = records::split(
            &data[VISIT_RECORD_LEN..],
            PRESCRIPTION_LEN,
            "prescriptions",
            PrescriptionEntry::from_bytes,
        )?;
        Ok((record, entries))
    }

    /// Reads the recent visits, newest first (1 exchange).
    pub async fn read_visits(&self) -> Result<Vec<CardVisitRecord>, CardError> {
        let cmd = apdu::command(CLA_NHI, apdu::INS_READ_VISITS, 0, 0, &[], Some(65536));
        let data = apdu::exchange(self.channel, SLOT, &cmd, "read visits").await?;
        records::split(&data, VISIT_RECORD_LEN, "visits", CardVisitRecord::from_bytes)
    }

    /// Reads every prescription entry on the card, oldest first (1 exchange).
    pub async fn read_prescriptions(&self) -> Result<Vec<PrescriptionEntry>, CardError> {
        let cmd = apdu::command(CLA_NHI, apdu::INS_READ_PRESCRIPTIONS, 0, 0, &[], Some(65536));
        let data = apdu::exchange(self.channel, SLOT, &cmd, "read prescriptions").await?;
        records::split(
            &data,
            PRESCRIPTION_LEN,
            "prescriptions",
            PrescriptionEntry::from_bytes,
        )
    }

    /// Reads the register-basic buffer: visits left, expiry, cancelled and newborn flags (1 exchange).
    pub async fn read_register_basic(&self) -> Result<records::RegisterBasic, CardError> {
        let cmd = apdu::command(CLA_NHI, apdu::INS_READ_REGISTER, 0, 0, &[], Some(256));
        let data = apdu::exchange(self.channel, SLOT, &cmd, "register basic").await?;
        records::RegisterBasic::from_bytes(&data)
    }

    /// Reads the drug allergies recorded on the card (1 exchange).
    pub async fn read_allergies(&self) -> Result<Vec<String>, CardError> {
        let cmd = apdu::command(CLA_NHI, apdu::INS_READ_ALLERGIES, 0, 0, &[], Some(256));
        let data = apdu::exchange(self.channel, SLOT, &cmd, "read allergies").await?;
        records::allergies_from_bytes(&data)
    }

    /// Cancels a visit within 24 h of its date-time (退掛; 1 exchange): `ZA` for a counted visit
    /// (the card gets its visit back), `ZB` otherwise. Returns the visits left. 5022 when the visit
    /// is not on the card; 5032 after 24 h. Cancelling twice is harmless.
    pub async fn cancel_visit(
        &self,
        code: &VisitCode,
        original: VisitType,
        now: RocDateTime,
    ) -> Result<u16, CardError> {
        if original.is_cancellation() {
            return Err(CardError::Input(
                "the visit to cancel must be a visit type, not ZA/ZB".into(),
            ));
        }
        let kind = if original.is_counted() {
            VisitType::CancelZa
        } else {
            VisitType::CancelZb
        };
        let mut d = Vec::with_capacity(35);
        d.extend_from_slice(kind.code().as_bytes());
        d.extend_from_slice(code.as_str().as_bytes());
        super::fields::put_roc_datetime(&mut d, now);
        let cmd = apdu::command(CLA_NHI, apdu::INS_CANCEL_VISIT, 0, 0, &d, Some(256));
        let data = apdu::exchange(self.channel, SLOT, &cmd, "cancel visit").await?;
        Ok(super::fields::digits(&data, "visits left")? as u16)
    }
}
