//! The standard visit transaction on the patient card, and the offline / abnormal decision.
//!
//! [`run_visit`] (practitioner PIN already verified): select + basic data, visit identification
//! code (offline, `rules::visit_code`), mutual authentication through the cloud SAM, sequence number
//! (card) + security signature (SAM, which also checks the card's proof), one signed write of the
//! visit record with its prescription entries, and one read back. That is 7 exchanges with the card
//! and 2 SAM round trips. Every step is idempotent, so after a disconnect the caller reconnects and
//! runs the same [`VisitPlan`] again: the card gives the same sequence number (same transaction id)
//! and the write replaces rather than adds.
//!
//! When the cloud SAM cannot be reached, nothing waits on the network: the visit takes the abnormal
//! sequence number [`abnormal_decision`] picks, records why, and is not written to the card.

use super::error::{CardError, NhiCode};
use super::patient::{PatientCard, SequenceRequest};
use super::records::{CardVisitRecord, PrescriptionEntry, SequenceForm, VisitBody};
use super::sam::SamAuthority;
use crate::model::{
    AbnormalCode, CardBasicData, InstitutionCode, Order, RocDateTime, SequenceNumber, Visit, VisitType,
};
use crate::reader::{ApduChannel, ReaderError};
use crate::rules::visit_code::{VisitCode, VisitCodeGenerator, VisitCodeInput};

/// What kept a visit from its normal course.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No network: the cloud SAM cannot be reached.
    Network,
    /// The card reader failed (link lost for good, reader dead).
    Reader,
    /// The card's chip answers garbage.
    Card,
    /// The cloud SAM answered but failed.
    Sam,
}

/// Whether a sequence number had been obtained from the card when the failure struck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the card issued a number.
    BeforeSequence,
    /// After the card issued a number.
    AfterSequence,
}

/// The abnormal course a visit takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbnormalDecision {
    /// The abnormal sequence number (M13, upload format `B`).
    pub code: AbnormalCode,
    /// Why, for `Visit::abnormal_reason` and the abnormal-situation report.
    pub reason: String,
    /// Whether the card may be written (never, without a SAM signature).
    pub write_card: bool,
    /// Whether the visit goes on the abnormal-situation report (always).
    pub report: bool,
}

/// Picks the abnormal sequence number for a failure. `card_read` says whether the card's basic data
/// was read offline (the home lightweight Bluetooth solution's offline card recognition, `F00B`).
///
/// | failure | before a number | after a number |
/// |---|---|---|
/// | network, card read offline | `F00B` | `A021` |
/// | network, card not read | `A020` | `A021` |
/// | reader | `A010` | `A011` |
/// | card chip | `B000` | `B001` |
/// | cloud SAM | `A030` | `A031` |
pub fn abnormal_decision(failure: Failure, phase: Phase, card_read: bool) -> AbnormalDecision {
    use AbnormalCode::*;
    let before = phase == Phase::BeforeSequence;
    let (code, why) = match failure {
        Failure::Network if before && card_read => (
            BluetoothOffline,
            "cloud SAM unreachable (no network); card recognised offline in the home lightweight Bluetooth solution",
        ),
        Failure::Network if before => (
            NetworkBefore,
            "network failure before a sequence number was obtained",
        ),
        Failure::Network => (
            NetworkAfter,
            "network failure after the card issued a sequence number",
        ),
        Failure::Reader if before => (
            ReaderBefore,
            "card reader failure before a sequence number was obtained",
        ),
        Failure::Reader => (
            ReaderAfter,
            "card reader failure after the card issued a sequence number",
        ),
        Failure::Card if before => (
            BadChipBefore,
            "card chip unreadable before a sequence number was obtained",
        ),
        Failure::Card => (
            BadChipAfter,
            "card chip unreadable after the card issued a sequence number",
        ),
        Failure::Sam if before => (
            SamBefore,
            "cloud SAM failure before a sequence number was obtained",
        ),
        Failure::Sam => (
            SamAfter,
            "cloud SAM failure after the card issued a sequence number",
        ),
    };
    AbnormalDecision {
        code,
        reason: format!("{} {}: {why}; card not written", code.code(), code.meaning().en),
        write_card: false,
        report: true,
    }
}

/// Which abnormal situation a card error is, if any. Refusals that are answers about the patient
/// (wrong card 4033, visits exhausted 5001, not insured 9083, fake card 4071…) are not abnormal
/// situations: the visit cannot go on the card, and the app shows the error.
pub fn classify(error: &CardError) -> Option<Failure> {
    match error {
        CardError::Code(NhiCode::SamUnreachable) => Some(Failure::Network),
        CardError::Code(NhiCode::ReaderTimeout | NhiCode::CardRemoved) => Some(Failure::Reader),
        CardError::Reader(ReaderError::NoAdapter | ReaderError::Device(_) | ReaderError::Disconnected) => {
            Some(Failure::Reader)
        }
        CardError::Reader(_) => Some(Failure::Reader),
        CardError::Malformed { .. } | CardError::Status { .. } => Some(Failure::Card),
        CardError::Code(NhiCode::SignatureFailed) | CardError::Sam(_) => Some(Failure::Sam),
        _ => None,
    }
}

/// Everything one visit transaction needs. Keep it (with its `txn_id` and `code_counter`) until the
/// visit is stored: running the same plan again is how a retry stays exactly-once.
#[derive(Debug, Clone, PartialEq)]
pub struct VisitPlan {
    /// Idempotency key of the sequence-number request (e.g. the visit's UUIDv7 bytes).
    pub txn_id: [u8; 16],
    /// Visit type (`01`; `AH` for the second and later home-care visits).
    pub visit_type: VisitType,
    /// Newborn visit under the parent's card.
    pub newborn: bool,
    /// Card replacement (after-check flag `2`).
    pub replacement: bool,
    /// Where the visit is billed.
    pub institution: InstitutionCode,
    /// Visit date-time (Taiwan time).
    pub at: RocDateTime,
    /// The device's visit counter reserved for this visit's identification code.
    pub code_counter: u64,
    /// Diagnoses and fees to write.
    pub body: VisitBody,
    /// Prescription entries to write (at most 60).
    pub prescriptions: Vec<PrescriptionEntry>,
    /// Whether the host believes the network is up; when false the SAM is not even tried.
    pub online: bool,
}

/// What a visit transaction produced.
#[derive(Debug, Clone, PartialEq)]
pub struct VisitOutcome {
    /// The patient's card data.
    pub basic: CardBasicData,
    /// Visit identification code (M15).
    pub visit_code: VisitCode,
    /// Visit date-time as registered (the card's on a normal visit).
    pub visited_at: RocDateTime,
    /// Visit type.
    pub visit_type: VisitType,
    /// Sequence number: normal, or the abnormal code.
    pub sequence: SequenceNumber,
    /// The 316-byte get-sequence-number form, on a normal visit.
    pub form: Option<SequenceForm>,
    /// Signatures of the written prescription entries (D11).
    pub prescription_signatures: Vec<String>,
    /// Whether the card holds the visit.
    pub card_written: bool,
    /// The visit as read back from the card.
    pub read_back: Option<CardVisitRecord>,
    /// The abnormal course, when the visit could not go normally.
    pub abnormal: Option<AbnormalDecision>,
}

impl VisitOutcome {
    /// Copies the card's results into a visit (code, patient, type, sequence, time, signature,
    /// SAM id, abnormal reason, card-written flag).
    pub fn apply_to(&self, visit: &mut Visit) {
        visit.visit_code = self.visit_code.as_str().to_string();
        visit.patient = self.basic.clone();
        visit.visit_type = self.visit_type.code().to_string();
        visit.sequence_number = self.sequence.code();
        visit.visited_at = self.visited_at.to_datetime();
        visit.security_signature = self.form.as_ref().map(|f| f.signature_hex.clone());
        visit.sam_id = self.form.as_ref().map(|f| f.sam_id.clone());
        visit.abnormal_reason = self.abnormal.as_ref().map(|a| a.reason.clone());
        visit.card_written = self.card_written;
    }

    /// A new visit (fresh UUIDv7 id) from this outcome and what the practitioner recorded.
    pub fn to_visit(
        &self,
        institution: &InstitutionCode,
        practitioner_id: &str,
        body: &VisitBody,
        note: String,
        orders: Vec<Order>,
    ) -> Visit {
        let mut v = Visit {
            id: uuid::Uuid::now_v7().to_string(),
            visit_code: String::new(),
            patient: self.basic.clone(),
            institution: institution.clone(),
            practitioner_id: practitioner_id.to_string(),
            visit_type: String::new(),
            sequence_number: String::new(),
            visited_at: self.visited_at.to_datetime(),
            diagnoses: body.diagnoses.clone(),
            note,
            orders,
            security_signature: None,
            sam_id: None,
            abnormal_reason: None,
            card_written: false,
            fee_points: Some(body.fee_points),
            copayment_points: Some(body.copayment),
            context: Default::default(),
        };
        self.apply_to(&mut v);
        v
    }
}

fn offline(
    basic: CardBasicData,
    code: VisitCode,
    plan: &VisitPlan,
    decision: AbnormalDecision,
) -> VisitOutcome {
    VisitOutcome {
        basic,
        visit_code: code,
        visited_at: plan.at,
        visit_type: plan.visit_type,
        sequence: SequenceNumber::Abnormal(decision.code),
        form: None,
        prescription_signatures: Vec::new(),
        card_written: false,
        read_back: None,
        abnormal: Some(decision),
    }
}

/// Told by [`run_visit_with`] as the transaction passes the points a crash must be recoverable
/// from: the caller keeps what it learns durably (the app keeps the signed form in its plan, so
/// a visit the card holds can be committed from the card's read-back after a crash).
pub trait VisitProgress: Send + Sync {
    /// The SAM signed the visit; the card is written next. An error stops before the write.
    fn signed(&self, form: &SequenceForm) -> Result<(), CardError>;
    /// The card accepted the write (the read-back comes next).
    fn written(&self) {}
}

/// The progress of a caller that keeps nothing.
struct NoProgress;

impl VisitProgress for NoProgress {
    fn signed(&self, _: &SequenceForm) -> Result<(), CardError> {
        Ok(())
    }
}

/// Runs the standard visit transaction on the card in the patient slot (see the module doc).
/// Errors: the card's refusals as NHI codes (4013, 4033, 5001, 9083, 4071…); link failures as
/// retryable errors (run the same plan again after reconnecting; [`classify`] +
/// [`abnormal_decision`] give the abnormal course if the reader stays down).
pub async fn run_visit(
    channel: &dyn ApduChannel,
    sam: &dyn SamAuthority,
    codes: &VisitCodeGenerator,
    plan: &VisitPlan,
) -> Result<VisitOutcome, CardError> {
    run_visit_with(channel, sam, codes, plan, &NoProgress).await
}

/// [`run_visit`], telling `progress` when the visit is signed (before the card write) and when
/// the card was written.
pub async fn run_visit_with(
    channel: &dyn ApduChannel,
    sam: &dyn SamAuthority,
    codes: &VisitCodeGenerator,
    plan: &VisitPlan,
    progress: &dyn VisitProgress,
) -> Result<VisitOutcome, CardError> {
    if plan.prescriptions.len() > super::records::MAX_PRESCRIPTIONS {
        return Err(CardError::Input("at most 60 prescription entries".into()));
    }
    if plan.visit_type.is_cancellation() {
        return Err(CardError::Input(
            "ZA/ZB cancel a visit (PatientCard::cancel_visit); they are not a visit".into(),
        ));
    }
    let mut card = PatientCard::open(channel).await?;
    let basic = card.basic().clone();
    let code = codes
        .generate(
            plan.code_counter,
            &VisitCodeInput {
                person: &basic.national_id,
                at: plan.at,
                institution: &plan.institution,
            },
        )
        .map_err(|e| CardError::Input(e.to_string()))?;
    let network_down = |phase| abnormal_decision(Failure::Network, phase, true);
    if !plan.online {
        return Ok(offline(basic, code, plan, network_down(Phase::BeforeSequence)));
    }
    match card.authenticate(sam, false).await {
        Ok(()) => {}
        Err(CardError::Code(NhiCode::SamUnreachable)) => {
            return Ok(offline(basic, code, plan, network_down(Phase::BeforeSequence)));
        }
        Err(e) => return Err(e),
    }
    let req = SequenceRequest {
        txn_id: plan.txn_id,
        visit_type: plan.visit_type,
        newborn: plan.newborn,
        replacement: plan.replacement,
        institution: plan.institution.clone(),
        at: plan.at,
        visit_code: code,
    };
    let issued = card.issue_sequence(&req).await?;
    let form = match card.sign(sam, &plan.institution, &issued).await {
        Ok(f) => f,
        Err(CardError::Code(NhiCode::SamUnreachable)) => {
            let mut out = offline(
                basic,
                issued.visit_code.clone(),
                plan,
                network_down(Phase::AfterSequence),
            );
            out.visited_at = issued.visit_datetime;
            return Ok(out);
        }
        Err(e) => return Err(e),
    };
    progress.signed(&form)?;
    let signatures = card
        .write_visit(&form.visit_code, &plan.body, &plan.prescriptions)
        .await?;
    progress.written();
    let (record, entries) = card.read_visit(&form.visit_code).await?;
    if record.body.as_ref() != Some(&plan.body) || entries != plan.prescriptions || record.cancelled {
        return Err(CardError::Code(NhiCode::WriteFailed));
    }
    Ok(VisitOutcome {
        basic,
        visit_code: form.visit_code.clone(),
        visited_at: form.visit_datetime,
        visit_type: plan.visit_type,
        sequence: form.sequence,
        form: Some(form),
        prescription_signatures: signatures,
        card_written: true,
        read_back: Some(record),
        abnormal: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_decision_table() {
        let d = abnormal_decision(Failure::Network, Phase::BeforeSequence, true);
        assert_eq!(d.code.code(), "F00B");
        assert!(!d.write_card && d.report);
        assert!(d.reason.starts_with("F00B"));
        let cases = [
            (Failure::Network, Phase::BeforeSequence, false, "A020"),
            (Failure::Network, Phase::AfterSequence, true, "A021"),
            (Failure::Network, Phase::AfterSequence, false, "A021"),
            (Failure::Reader, Phase::BeforeSequence, true, "A010"),
            (Failure::Reader, Phase::AfterSequence, true, "A011"),
            (Failure::Card, Phase::BeforeSequence, true, "B000"),
            (Failure::Card, Phase::AfterSequence, true, "B001"),
            (Failure::Sam, Phase::BeforeSequence, true, "A030"),
            (Failure::Sam, Phase::AfterSequence, true, "A031"),
        ];
        for (f, p, read, code) in cases {
            let d = abnormal_decision(f, p, read);
            assert_eq!(d.code.code(), code, "{f:?} {p:?} {read}");
            assert!(!d.write_card && d.report);
            assert!(d.reason.contains("card not written"));
        }
    }

    #[test]
    fn only_situations_are_abnormal() {
        assert_eq!(
            classify(&CardError::Code(NhiCode::SamUnreachable)),
            Some(Failure::Network)
        );
        assert_eq!(
            classify(&CardError::Reader(ReaderError::Disconnected)),
            Some(Failure::Reader)
        );
        assert_eq!(
            classify(&CardError::Code(NhiCode::CardRemoved)),
            Some(Failure::Reader)
        );
        assert_eq!(classify(&CardError::malformed("x", "y")), Some(Failure::Card));
        for refusal in [
            NhiCode::NotPatientCard,
            NhiCode::VisitCountExhausted,
            NhiCode::NotInsured,
            NhiCode::CardNotGenuine,
            NhiCode::NoPatientCard,
        ] {
            assert_eq!(classify(&CardError::Code(refusal)), None, "{refusal:?}");
        }
    }
}
