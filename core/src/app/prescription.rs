//! Prescriptions in the app: drug orders added to a stored visit from an order set, and issuing the
//! visit's prescription — the QR, barcode and one-time code for the family at once, offline, and
//! its registration with the VPN queued in the outbox (sent by the sync engine when online).

use super::{AppError, HomeVisit, VisitSummary};
use crate::rx::barcode::BarcodeExtras;
use crate::rx::orderset::OrderSet;
use crate::rx::sheet::{self, IssuedPrescription};
use crate::rx::sign::RxSigner;
use crate::rx::{RxError, outbox};
use crate::store::JobState;

/// The claim-side codes printed in the pharmacies' barcode for a home medical care visit
/// (case type `E1`, department `01`, copayment `K00`).
pub fn home_care_extras() -> BarcodeExtras {
    BarcodeExtras {
        case_type: "E1".into(),
        department: "01".into(),
        copayment: "K00".into(),
    }
}

fn rx_error(e: RxError) -> AppError {
    match e {
        RxError::Line(l) => AppError::Validation {
            field: "orders".into(),
            reason: l.to_string(),
        },
        RxError::Invalid { field, reason } => AppError::Validation {
            field: field.into(),
            reason,
        },
        RxError::Storage(_) => AppError::Storage,
        RxError::Download(_) => AppError::Network,
        RxError::Key(_) | RxError::Render(_) => {
            tracing::warn!(target: "homevisit::app", error = %e, "prescription failed");
            AppError::Internal
        }
    }
}

impl HomeVisit {
    /// Whether the visit's prescription was issued (its registration is in the outbox, pending,
    /// done or refused).
    fn prescription_issued(&self, visit_id: &str) -> Result<bool, AppError> {
        Ok(self
            .store
            .jobs_for_visit(visit_id)?
            .iter()
            .any(|j| j.kind == outbox::KIND && j.state != JobState::Superseded))
    }

    /// Adds the lines of `set` to the drug orders of the stored visit `visit_id` (all lines checked
    /// first: a bad set changes nothing) and stores the edit with its new card upload, offline.
    /// Refused once the visit's prescription is issued (its signed QR is already handed out).
    pub fn apply_order_set(&self, visit_id: &str, set: &OrderSet) -> Result<VisitSummary, AppError> {
        let stored = self.store.get_visit(visit_id)?;
        if self.prescription_issued(visit_id)? {
            return Err(super::input::invalid(
                "orders",
                "the prescription of this visit is already issued",
            ));
        }
        let mut visit = stored.visit;
        set.apply_to(&mut visit).map_err(|e| rx_error(e.into()))?;
        let job = crate::sync::visit_day::card_upload_job(&visit, stored.version + 1)?;
        self.store.update_visit(&visit, stored.version, &[job])?;
        self.changed();
        Ok(VisitSummary::of(&visit))
    }

    /// Issues the prescription of the stored visit `visit_id` (its drug orders; `chronic_refills`
    /// 2–3 for a chronic continuous prescription), signed by `signer` — the enrolled VPN client's
    /// device key (`client.device_key()`), the key the VPN publishes for pharmacies — with
    /// `contact` as the abnormal-situation contact. Works offline: the registration with the VPN
    /// is queued in the outbox (one per visit) and sent by the sync engine when the signal
    /// returns. A second issue for the same visit is refused.
    pub fn issue_prescription(
        &self,
        visit_id: &str,
        chronic_refills: Option<u8>,
        signer: &dyn RxSigner,
        contact: &str,
    ) -> Result<IssuedPrescription, AppError> {
        let visit = self.store.get_visit(visit_id)?.visit;
        if contact.trim().is_empty() {
            return Err(super::input::invalid("contact", "must not be empty"));
        }
        if self.prescription_issued(visit_id)? {
            return Err(super::input::invalid(
                "prescription",
                "is already issued for this visit",
            ));
        }
        let issued = sheet::issue(
            &visit,
            chronic_refills,
            signer,
            contact.trim(),
            &home_care_extras(),
        )
        .map_err(rx_error)?;
        let job = outbox::registration_job(&issued, &visit, signer).map_err(rx_error)?;
        self.store.enqueue(Some(visit_id), &[job])?;
        tracing::info!(target: "homevisit::app", visit_id = %visit.id, visit_code = %visit.visit_code, "prescription issued, registration queued");
        self.changed();
        Ok(issued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{AppConfig, CardInput, VisitDetails};
    use crate::platform::{ManualClock, MemoryKeyStore};
    use crate::rx::RxLine;
    use crate::store::JobKind;
    use crate::vpn::DeviceKey;
    use std::sync::Arc;

    fn app(dir: &std::path::Path) -> HomeVisit {
        HomeVisit::open(
            AppConfig {
                data_dir: dir.to_path_buf(),
                institution_code: "3501200000".into(),
                device_id: "rx-unit".into(),
            },
            Arc::new(MemoryKeyStore::with_seed(9)),
            ManualClock::new(1_709_280_000_000),
        )
        .unwrap()
    }

    fn set() -> OrderSet {
        OrderSet {
            id: "HTN".into(),
            name: "htn".into(),
            lines: vec![
                RxLine::new("A012345100", 100, "QD", "PO", 28),
                RxLine::new("AC45791100", 50, "BID", "PO", 28),
            ],
        }
    }

    fn record(app: &HomeVisit) -> String {
        let card = CardInput {
            card_number: "000012345678".into(),
            name: "王小明".into(),
            national_id: "A123456789".into(),
            birth_date: "0390506".into(),
            sex: "M".into(),
            issue_date: "1090102".into(),
        };
        let details = VisitDetails {
            practitioner_id: "B234567894".into(),
            visit_type: "AH".into(),
            sequence_number: "F00B".into(),
            diagnoses: vec!["I10".into()],
            note: String::new(),
            abnormal_reason: Some("A020 no signal in the home".into()),
        };
        app.record_visit_from_input(&card, details).unwrap().id
    }

    #[test]
    fn issuing_offline_queues_one_registration_behind_the_card_upload() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path());
        let id = record(&app);
        let key = DeviceKey::from_seed_for_tests(&[6; 32]);
        // No drug orders yet: nothing to prescribe, nothing queued.
        assert!(matches!(
            app.issue_prescription(&id, None, &key, "02-2345-6789"),
            Err(AppError::Validation { .. })
        ));
        app.apply_order_set(&id, &set()).unwrap();
        let issued = app.issue_prescription(&id, None, &key, "02-2345-6789").unwrap();
        assert!(issued.qr_text.starts_with("RX:"));
        let store = app.store();
        let jobs = store.jobs_for_visit(&id).unwrap();
        let live: Vec<_> = jobs.iter().filter(|j| j.state != JobState::Superseded).collect();
        assert_eq!(live.len(), 2, "the edited card upload and the registration");
        let (upload, reg) = (live[0], live[1]);
        assert_eq!(upload.kind, JobKind::CardUpload);
        assert_eq!(reg.kind, JobKind::PrescriptionRegistration);
        assert_eq!(
            reg.idempotency_key,
            format!("rx-{}", issued.prescription.visit_code)
        );
        assert_eq!(reg.state, JobState::Queued);
        let frozen = outbox::parse_payload(&reg.payload).unwrap();
        assert_eq!(frozen.one_time_code, issued.one_time_code);
        // Same patient: the registration is ready only after the card upload left the queue.
        let ready = store.ready_jobs(i64::MAX, 10).unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].id, upload.id);
        // Issued once: a second issue and further orders are refused, nothing more is queued.
        assert!(matches!(
            app.issue_prescription(&id, None, &key, "02-2345-6789"),
            Err(AppError::Validation { field, .. }) if field == "prescription"
        ));
        assert!(app.apply_order_set(&id, &set()).is_err());
        assert_eq!(store.jobs_for_visit(&id).unwrap().len(), jobs.len());
    }

    #[test]
    fn an_unknown_visit_or_an_empty_contact_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path());
        let key = DeviceKey::from_seed_for_tests(&[6; 32]);
        assert!(matches!(
            app.issue_prescription("no-such-visit", None, &key, "02"),
            Err(AppError::NotFound { what }) if what == "visit"
        ));
        let id = record(&app);
        app.apply_order_set(&id, &set()).unwrap();
        assert!(matches!(
            app.issue_prescription(&id, None, &key, "  "),
            Err(AppError::Validation { field, .. }) if field == "contact"
        ));
    }
}
