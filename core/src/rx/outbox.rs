//! The prescription registration as an outbox job: issued offline in the patient's home, frozen in
//! the outbox with the visit, sent by the sync engine when the signal returns, recorded once.
//!
//! The job's frozen payload is [`IssuedPrescription::registration_payload`] (the signed JSON
//! [`Registration`]); its idempotency key is derived from the visit identification code, the key
//! the pharmacy service stores a prescription under, so a visit has one registration job and a
//! resend of it is answered "already registered".
//!
//! **Order.** The job has no `depends_on`: the store already sends a patient's jobs in enqueue order
//! while they are pending, so the registration follows the visit's card upload; but a card upload
//! the NHI checker *rejects* (a claim-data fault the user corrects later) must not keep the
//! patient's medicine from the pharmacy, and the pharmacy service does not need the card record.

use super::RxError;
use super::pharmacy::wire::Registration;
use super::sheet::IssuedPrescription;
use super::sign::RxSigner;
use crate::model::Visit;
use crate::store::{JobKind, NewJob};

/// The outbox kind of a prescription registration.
pub const KIND: JobKind = JobKind::PrescriptionRegistration;

/// The idempotency key of the registration of the visit `visit_code` (one per visit).
pub fn idempotency_key(visit_code: &str) -> String {
    format!("rx-{visit_code}")
}

/// Whether an outbox job kind (by its stored name) is a prescription registration.
pub fn is_registration(kind: &str) -> bool {
    kind == KIND.as_str()
}

/// The outbox job that registers `issued` (the prescription of `visit`), signed by `signer`, the
/// device key that signed the QR.
pub fn registration_job(
    issued: &IssuedPrescription,
    visit: &Visit,
    signer: &dyn RxSigner,
) -> Result<NewJob, RxError> {
    if issued.prescription.visit_code != visit.visit_code {
        return Err(RxError::Invalid {
            field: "visit_code",
            reason: "the prescription belongs to another visit".into(),
        });
    }
    Ok(NewJob::new(
        KIND,
        idempotency_key(&visit.visit_code),
        issued.registration_payload(visit, signer)?,
    ))
}

/// Reads a registration job's frozen payload back; anything else is an invalid record (never sent).
pub fn parse_payload(payload: &[u8]) -> Result<Registration, RxError> {
    serde_json::from_slice(payload).map_err(|_| RxError::Invalid {
        field: "registration",
        reason: "the frozen registration is not a registration".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rx::barcode::BarcodeExtras;
    use crate::rx::prescription::tests::{htn_set, visit};
    use crate::rx::sheet::issue;
    use crate::vpn::DeviceKey;

    fn extras() -> BarcodeExtras {
        BarcodeExtras {
            case_type: "E1".into(),
            department: "01".into(),
            copayment: "K00".into(),
        }
    }

    #[test]
    fn the_job_freezes_the_signed_registration_under_a_key_of_the_visit() {
        let mut v = visit();
        htn_set().apply_to(&mut v).unwrap();
        let key = DeviceKey::from_seed_for_tests(&[4; 32]);
        let issued = issue(&v, None, &key, "02-2345-6789", &extras()).unwrap();
        let job = registration_job(&issued, &v, &key).unwrap();
        assert_eq!(job.kind, JobKind::PrescriptionRegistration);
        assert!(is_registration(job.kind.as_str()));
        assert!(!is_registration("card_upload"));
        assert_eq!(job.idempotency_key, format!("rx-{}", v.visit_code));
        assert!(job.depends_on.is_none());
        let r = parse_payload(&job.payload).unwrap();
        assert_eq!(r.qr, issued.qr_text);
        assert_eq!(r.one_time_code, issued.one_time_code);
        assert!(crate::rx::sign::verify(
            key.public_key(),
            &r.message(),
            &hex::decode(&r.signature).unwrap()
        ));
        // The same visit always gives the same key; a payload that is not a registration is refused.
        assert_eq!(
            registration_job(&issued, &v, &key).unwrap().idempotency_key,
            job.idempotency_key
        );
        assert!(matches!(
            parse_payload(b"{\"qr\":1}"),
            Err(RxError::Invalid {
                field: "registration",
                ..
            })
        ));
    }

    #[test]
    fn a_prescription_is_never_queued_under_another_visit() {
        let mut v = visit();
        htn_set().apply_to(&mut v).unwrap();
        let key = DeviceKey::from_seed_for_tests(&[4; 32]);
        let issued = issue(&v, None, &key, "02-2345-6789", &extras()).unwrap();
        let mut other = v.clone();
        other.visit_code = "ZZZZZZZZZZZZZZZZZZZZ".into();
        assert!(matches!(
            registration_job(&issued, &other, &key),
            Err(RxError::Invalid {
                field: "visit_code",
                ..
            })
        ));
    }
}
