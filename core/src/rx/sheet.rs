//! Issuing a prescription at the end of a visit: everything the app shows and prints (the signed
//! QR, the pharmacies' semicolon barcode, the one-time code, the abnormal-situation contact, the
//! chronic refill pick-up dates) and what it registers with the VPN.

use super::barcode::{self, BarcodeExtras};
use super::pharmacy::wire::Registration;
use super::prescription::Prescription;
use super::refill::RefillWindow;
use super::sign::RxSigner;
use super::{RxError, otc, payload, render};
use crate::model::Visit;

/// A prescription ready to hand to the family.
#[derive(Clone)]
pub struct IssuedPrescription {
    /// The prescription.
    pub prescription: Prescription,
    /// The signed QR text (`RX:` + Base45).
    pub qr_text: String,
    /// The semicolon-separated barcode text (holds patient data: never log it).
    pub legacy_barcode: String,
    /// The one-time verification code for pharmacies without a scanner.
    pub one_time_code: String,
    /// Whom the pharmacy calls when something is wrong (異常狀況聯絡窗口).
    pub contact: String,
    /// Pick-up windows of every dispense (refills 2 and 3 for a chronic prescription).
    pub refill_windows: Vec<RefillWindow>,
}

impl std::fmt::Debug for IssuedPrescription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedPrescription")
            .field("prescription", &self.prescription)
            .field("refill_windows", &self.refill_windows)
            .finish_non_exhaustive()
    }
}

/// Issues the prescription of `visit`, prescribed by the visit's practitioner: validates it, signs
/// the QR with `signer`, writes the barcode, draws a one-time code.
pub fn issue(
    visit: &Visit,
    chronic_refills: Option<u8>,
    signer: &dyn RxSigner,
    contact: &str,
    extras: &BarcodeExtras,
) -> Result<IssuedPrescription, RxError> {
    issue_by(
        visit,
        &visit.practitioner_id,
        chronic_refills,
        signer,
        contact,
        extras,
    )
}

/// As [`issue`], prescribed by `prescriber` (the national ID of the practitioner whose card PIN
/// was verified), which is signed into the QR.
pub fn issue_by(
    visit: &Visit,
    prescriber: &str,
    chronic_refills: Option<u8>,
    signer: &dyn RxSigner,
    contact: &str,
    extras: &BarcodeExtras,
) -> Result<IssuedPrescription, RxError> {
    let prescription = Prescription::from_visit_by(visit, chronic_refills, prescriber)?;
    let qr_text = payload::encode(&prescription, signer)?;
    let legacy_barcode = barcode::encode(visit, &prescription, extras)?;
    Ok(IssuedPrescription {
        refill_windows: prescription.refill_windows(),
        qr_text,
        legacy_barcode,
        one_time_code: otc::generate()?,
        contact: contact.to_string(),
        prescription,
    })
}

impl IssuedPrescription {
    /// The body that registers it with the VPN (so pharmacies can fetch details and dispense),
    /// signed by `signer`, the device key that signed the QR.
    pub fn registration(&self, visit: &Visit, signer: &dyn RxSigner) -> Result<Registration, RxError> {
        let mut r = Registration {
            qr: self.qr_text.clone(),
            one_time_code: self.one_time_code.clone(),
            contact: self.contact.clone(),
            patient_name: visit.patient.name.clone(),
            birth_date: barcode::roc_date(visit.patient.birth_date),
            signature: String::new(),
        };
        r.signature = hex::encode(signer.sign(&r.message())?);
        Ok(r)
    }

    /// The registration as the frozen payload of an outbox job (`rx_registration`).
    pub fn registration_payload(&self, visit: &Visit, signer: &dyn RxSigner) -> Result<Vec<u8>, RxError> {
        serde_json::to_vec(&self.registration(visit, signer)?).map_err(|e| RxError::Storage(e.to_string()))
    }

    /// Pick-up lines for the printout, e.g. `第2次領藥 1130319–1130328`.
    pub fn pick_up_lines(&self) -> Vec<String> {
        self.refill_windows
            .iter()
            .filter(|w| w.refill >= 2)
            .map(|w| {
                format!(
                    "第{}次領藥 refill {}: {}–{}",
                    w.refill,
                    w.refill,
                    barcode::roc_date(w.from),
                    barcode::roc_date(w.to)
                )
            })
            .collect()
    }

    /// The QR as a PNG (`scale` pixels per module).
    pub fn qr_png(&self, scale: usize) -> Result<Vec<u8>, RxError> {
        render::to_png(&render::qr_code(self.qr_text.as_bytes())?, scale)
    }

    /// The QR as an SVG document.
    pub fn qr_svg(&self) -> Result<String, RxError> {
        Ok(render::to_svg(&render::qr_code(self.qr_text.as_bytes())?))
    }

    /// The QR drawn for a terminal.
    pub fn qr_terminal(&self) -> Result<String, RxError> {
        Ok(render::to_terminal(&render::qr_code(self.qr_text.as_bytes())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rx::prescription::tests::{htn_set, visit};
    use crate::vpn::DeviceKey;

    #[test]
    fn issues_everything_the_family_takes_away() {
        let mut v = visit();
        htn_set().apply_to(&mut v).unwrap();
        let key = DeviceKey::from_seed_for_tests(&[3; 32]);
        let extras = BarcodeExtras {
            case_type: "E1".into(),
            department: "01".into(),
            copayment: "K00".into(),
        };
        let s = issue(&v, Some(3), &key, "居家護理站 02-2345-6789", &extras).unwrap();
        assert!(s.qr_text.starts_with("RX:"));
        assert_eq!(s.one_time_code.len(), otc::LEN);
        assert_eq!(
            s.pick_up_lines(),
            vec![
                "第2次領藥 refill 2: 1130319–1130328",
                "第3次領藥 refill 3: 1130416–1130425"
            ]
        );
        assert!(s.qr_png(3).unwrap().starts_with(b"\x89PNG"));
        assert!(s.qr_svg().unwrap().contains("<svg"));
        assert!(!s.qr_terminal().unwrap().is_empty());
        let r = s.registration(&v, &key).unwrap();
        assert_eq!(r.birth_date, "0390506");
        assert!(crate::rx::sign::verify(
            key.public_key(),
            &r.message(),
            &hex::decode(&r.signature).unwrap()
        ));
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("王") && !dbg.contains("A123456789"));
        assert!(issue(&v, Some(9), &key, "x", &extras).is_err());
    }
}
