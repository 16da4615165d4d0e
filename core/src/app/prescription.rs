//! Prescriptions in the app: drug orders added to a stored visit from an order set, and issuing the
//! visit's prescription — the QR, barcode and one-time code for the family at once, offline, signed
//! with the enrolled device key, and its registration with the VPN queued in the outbox (sent by
//! the sync engine when online). Also the prescriber's chronic-refill operations `C` and `E`.

use super::{AppError, HomeVisit, VisitSummary};
use crate::model::{CareStage, Role, Visit};
use crate::rules::fees;
use crate::rx::barcode::{self, BarcodeExtras};
use crate::rx::orderset::OrderSet;
use crate::rx::pharmacy::wire::{self as rx_wire, RefillOpRequest};
use crate::rx::refill::RefillWindow;
use crate::rx::sheet::{self, IssuedPrescription};
use crate::rx::sign::RxSigner;
use crate::rx::{RxError, otc, outbox};
use crate::store::JobState;
use chrono::{NaiveDate, TimeZone};

/// The claim-side codes of a prescription written by `role` in `stage` (`rules::fees`): case type
/// `E1` / `A1` / `A5` (TCM `31`, pharmacy `E`), the role's department, the stage's copayment code.
pub fn care_extras(role: Role, stage: CareStage) -> BarcodeExtras {
    BarcodeExtras {
        case_type: fees::case_type(role, stage).into(),
        department: fees::department(role, ""),
        copayment: fees::copayment_code(stage).into(),
    }
}

/// The barcode codes of `visit`, from its role and care stage (a doctor in home medical care when
/// not set).
pub fn visit_extras(visit: &Visit) -> BarcodeExtras {
    care_extras(
        visit.context.role.unwrap_or(Role::Doctor),
        visit.context.care_stage.unwrap_or(CareStage::HomeMedical),
    )
}

/// Pixels per QR module of the PNG the app gets ([`IssuedPrescriptionView::qr_png`]).
pub const QR_PNG_SCALE: usize = 4;

/// The prescriber side's one conversion of an [`RxError`] into the public error.
pub(crate) fn rx_error(e: RxError) -> AppError {
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

/// Start of the Taiwan day `d`, in ms since the epoch.
pub(crate) fn taiwan_day_start_ms(d: NaiveDate) -> i64 {
    // Midnight exists on every date, and a fixed offset maps every local time exactly once.
    d.and_hms_opt(0, 0, 0)
        .and_then(|t| {
            crate::model::roc::taiwan_offset()
                .from_local_datetime(&t)
                .single()
        })
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

/// When one dispense of a prescription may be collected (both days inclusive, Taiwan dates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickUpWindow {
    /// 1 = the first dispense; 2 and 3 = the refills of a chronic prescription.
    pub refill: u8,
    /// Start of the first day (Taiwan midnight), ms since the epoch.
    pub first_day_ms: i64,
    /// Start of the last day (Taiwan midnight), ms since the epoch.
    pub last_day_ms: i64,
    /// The first day as a ROC date (`YYYMMDD`).
    pub first_day_roc: String,
    /// The last day as a ROC date (`YYYMMDD`).
    pub last_day_roc: String,
}

impl PickUpWindow {
    /// The view of a refill window.
    pub fn of(w: &RefillWindow) -> Self {
        Self {
            refill: w.refill,
            first_day_ms: taiwan_day_start_ms(w.from),
            last_day_ms: taiwan_day_start_ms(w.to),
            first_day_roc: barcode::roc_date(w.from),
            last_day_roc: barcode::roc_date(w.to),
        }
    }
}

/// An issued prescription as the app shows and prints it. The QR and the barcode encode the
/// patient's ID: never log them (the `Debug` form leaves them out).
#[derive(Clone)]
pub struct IssuedPrescriptionView {
    /// The local id of the visit it belongs to.
    pub visit_id: String,
    /// The visit identification code (what the pharmacy dispenses by).
    pub visit_code: String,
    /// The signed QR text (`RX:` + Base45).
    pub qr_text: String,
    /// The QR as a PNG ([`QR_PNG_SCALE`] pixels per module).
    pub qr_png: Vec<u8>,
    /// The QR as an SVG document.
    pub qr_svg: String,
    /// The semicolon-separated 2D barcode Taiwan pharmacies read today.
    pub pharmacy_barcode: String,
    /// The one-time code as typed into the pharmacy system (`K7QD3MXA`).
    pub one_time_code: String,
    /// The one-time code as shown to people (`K7QD-3MXA`).
    pub one_time_code_display: String,
    /// The abnormal-situation contact printed for the pharmacy.
    pub contact: String,
    /// Chronic continuous prescription.
    pub chronic: bool,
    /// How many dispenses in all (1, or 2–3 when chronic).
    pub refills: u8,
    /// Taiwan issue date, start of day, ms since the epoch.
    pub issued_on_ms: i64,
    /// Every dispense's pick-up window (the first, then the refills).
    pub pick_up_windows: Vec<PickUpWindow>,
    /// The printout's pick-up lines of the refills (`第2次領藥 refill 2: 1130319–1130328`).
    pub pick_up_lines: Vec<String>,
}

impl std::fmt::Debug for IssuedPrescriptionView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedPrescriptionView")
            .field("visit_id", &self.visit_id)
            .field("visit_code", &self.visit_code)
            .field("chronic", &self.chronic)
            .field("refills", &self.refills)
            .field("pick_up_windows", &self.pick_up_windows)
            .finish_non_exhaustive()
    }
}

impl IssuedPrescriptionView {
    /// The view of `issued` (renders the QR as PNG and SVG).
    pub fn of(visit_id: &str, issued: &IssuedPrescription) -> Result<Self, AppError> {
        Ok(Self {
            visit_id: visit_id.to_string(),
            visit_code: issued.prescription.visit_code.clone(),
            qr_text: issued.qr_text.clone(),
            qr_png: issued.qr_png(QR_PNG_SCALE).map_err(rx_error)?,
            qr_svg: issued.qr_svg().map_err(rx_error)?,
            pharmacy_barcode: issued.legacy_barcode.clone(),
            one_time_code: issued.one_time_code.clone(),
            one_time_code_display: otc::display(&issued.one_time_code),
            contact: issued.contact.clone(),
            chronic: issued.prescription.chronic,
            refills: issued.prescription.refills,
            issued_on_ms: taiwan_day_start_ms(issued.prescription.issued_on),
            pick_up_windows: issued.refill_windows.iter().map(PickUpWindow::of).collect(),
            pick_up_lines: issued.pick_up_lines(),
        })
    }
}

/// The prescriber's operations on an undispensed chronic refill (2.0 upload corrections).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefillOperation {
    /// `C`: cancel an undispensed refill 2 or 3.
    Cancel,
    /// `E`: undo a `C`.
    UndoCancel,
}

/// The state of one dispense of a prescription, as the pharmacy service keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefillStatus {
    /// Not dispensed yet.
    Open,
    /// Dispensed.
    Dispensed,
    /// Cancelled by the prescriber (`C`).
    Cancelled,
}

/// One dispense of a prescription and its state (no patient data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefillState {
    /// 1 = the first dispense; 2, 3 = chronic refills.
    pub refill: u8,
    /// Its state.
    pub status: RefillStatus,
    /// First pick-up day (ROC `YYYMMDD`).
    pub first_day_roc: String,
    /// Last pick-up day (ROC `YYYMMDD`).
    pub last_day_roc: String,
    /// The pharmacy that dispensed it.
    pub dispensed_by: Option<String>,
    /// When it was dispensed, ms since the epoch.
    pub dispensed_at_ms: Option<i64>,
}

impl RefillState {
    /// The view of the pharmacy service's refill record; an unknown status is a server fault.
    pub fn of(v: &rx_wire::RefillView) -> Result<Self, AppError> {
        let status = match v.status.as_str() {
            "open" => RefillStatus::Open,
            "dispensed" => RefillStatus::Dispensed,
            "cancelled" => RefillStatus::Cancelled,
            _ => return Err(AppError::Network),
        };
        Ok(Self {
            refill: v.refill,
            status,
            first_day_roc: v.from.clone(),
            last_day_roc: v.to.clone(),
            dispensed_by: v.dispensed_by.clone(),
            dispensed_at_ms: v.dispensed_at.as_deref().and_then(roc_date_time_ms),
        })
    }
}

/// ms since the epoch of a ROC date-time `YYYMMDDHHMMSS` (Taiwan time); `None` when unreadable.
pub(crate) fn roc_date_time_ms(text: &str) -> Option<i64> {
    crate::model::roc::RocDateTime::parse(text)
        .ok()
        .map(|t| t.unix_ms())
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
    pub fn apply_order_set_lines(&self, visit_id: &str, set: &OrderSet) -> Result<VisitSummary, AppError> {
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
    /// 2–3 for a chronic continuous prescription), signed with the enrolled device key — the key
    /// the VPN publishes for pharmacies — with `contact` as the abnormal-situation contact. Works
    /// offline: the registration with the VPN is queued in the outbox (one per visit) and sent by
    /// the sync engine when the signal returns. The prescriber is the practitioner whose card PIN
    /// was verified in this reader session ([`super::Readers::verify_practitioner_pin`]); their
    /// national ID is signed into the QR. No verified practitioner (never verified, card pulled,
    /// reader disconnected): [`AppError::PractitionerNotVerified`]. A second issue for the same
    /// visit is refused; not enrolled: [`AppError::NotEnrolled`].
    pub fn issue_prescription(
        &self,
        visit_id: &str,
        chronic_refills: Option<u8>,
        contact: &str,
    ) -> Result<IssuedPrescriptionView, AppError> {
        let client = self.vpn_client()?;
        let issued =
            self.issue_prescription_signed_by(visit_id, chronic_refills, client.device_key(), contact)?;
        IssuedPrescriptionView::of(visit_id, &issued)
    }

    /// As [`Self::issue_prescription`], signed by `signer`: for tools that hold their own enrolled
    /// VPN client (the desktop demo); `signer` must be that client's `device_key()`, the key the VPN
    /// publishes, or pharmacies will refuse the QR. The practitioner's PIN must have been verified
    /// in this reader session, as for [`Self::issue_prescription`].
    pub fn issue_prescription_signed_by(
        &self,
        visit_id: &str,
        chronic_refills: Option<u8>,
        signer: &dyn RxSigner,
        contact: &str,
    ) -> Result<IssuedPrescription, AppError> {
        let Some(practitioner) = self.readers.practitioner() else {
            tracing::info!(target: "homevisit::app", "prescription refused: no verified practitioner card");
            return Err(AppError::PractitionerNotVerified);
        };
        self.issue_prescription_as(
            visit_id,
            chronic_refills,
            signer,
            contact,
            &practitioner.national_id,
        )
    }

    /// Issues as prescriber `prescriber` (a verified practitioner's national ID).
    fn issue_prescription_as(
        &self,
        visit_id: &str,
        chronic_refills: Option<u8>,
        signer: &dyn RxSigner,
        contact: &str,
        prescriber: &str,
    ) -> Result<IssuedPrescription, AppError> {
        self.refuse_card_less_prescription(visit_id, chronic_refills)?;
        let visit = self.store.get_visit(visit_id)?.visit;
        if contact.trim().is_empty() {
            return Err(super::input::invalid("contact", "must not be empty"));
        }
        // Held from the check to the enqueue: two issues of one visit never both pass the check.
        let guard = self.record_lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.prescription_issued(visit_id)? {
            return Err(super::input::invalid(
                "prescription",
                "is already issued for this visit",
            ));
        }
        let issued = sheet::issue_by(
            &visit,
            prescriber,
            chronic_refills,
            signer,
            contact.trim(),
            &visit_extras(&visit),
        )
        .map_err(rx_error)?;
        let job = outbox::registration_job(&issued, &visit, signer).map_err(rx_error)?;
        self.store.enqueue(Some(visit_id), &[job])?;
        tracing::info!(target: "homevisit::app", visit_id = %visit.id, visit_code = %visit.visit_code, "prescription issued, registration queued");
        drop(guard);
        self.changed();
        Ok(issued)
    }

    /// Cancels (`C`) or restores (`E`) the undispensed chronic refill `refill` (2 or 3) of the
    /// prescription of the stored visit `visit_id`, at the pharmacy service, signed with the
    /// enrolled device key (only the prescribing institution may). Online; returns the refill's new
    /// state. A dispensed refill is refused (`AlreadyDispensed`), a refill that is not 2 or 3 of
    /// this prescription, or a `C` twice, is `Rejected`.
    pub async fn refill_operation(
        &self,
        visit_id: &str,
        refill: u8,
        op: RefillOperation,
    ) -> Result<RefillState, AppError> {
        let client = self.vpn_client()?;
        let visit: Visit = self.store.get_visit(visit_id)?.visit;
        if !self.prescription_issued(visit_id)? {
            return Err(super::input::invalid(
                "prescription",
                "is not issued for this visit",
            ));
        }
        if !(2..=crate::rx::prescription::MAX_REFILLS).contains(&refill) {
            return Err(super::input::invalid("refill", "must be refill 2 or 3"));
        }
        if !self.is_online() {
            return Err(AppError::Network);
        }
        let request = RefillOpRequest::signed(
            op == RefillOperation::Cancel,
            &visit.visit_code,
            refill,
            visit.institution.as_str(),
            self.clock.now_unix_ms(),
            client.device_key(),
        )
        .map_err(rx_error)?;
        let view: rx_wire::RefillView = client
            .post_signed(&format!("{}/refill-op", rx_wire::API), &request)
            .await
            .map_err(super::pharmacist::vpn_pharmacy_error)?;
        tracing::info!(target: "homevisit::app", visit_id = %visit.id, refill, op = ?op, "refill operation done");
        RefillState::of(&view)
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

    /// A valid practitioner's national ID.
    const PRESCRIBER: &str = "B234567894";

    /// Finding 4 (issue 11): a stolen, unlocked phone cannot issue prescriptions: without a
    /// practitioner card whose PIN was verified in this reader session, issuing is refused with
    /// its own error and nothing is signed or queued; the prescriber is signed into the QR.
    #[test]
    fn finding4_a_prescription_without_a_verified_practitioner_card_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path());
        let id = id_of(&app);
        let key = DeviceKey::from_seed_for_tests(&[6; 32]);
        let before = app.store().jobs_for_visit(&id).unwrap().len();
        let e = app
            .issue_prescription_signed_by(&id, None, &key, "02-2345-6789")
            .unwrap_err();
        assert_eq!(e, AppError::PractitionerNotVerified);
        assert_eq!(e.code(), "practitioner_not_verified");
        assert_eq!(
            app.store().jobs_for_visit(&id).unwrap().len(),
            before,
            "nothing queued"
        );
        let issued = app
            .issue_prescription_as(&id, None, &key, "02-2345-6789", PRESCRIBER)
            .unwrap();
        let signed = crate::rx::payload::decode(&issued.qr_text).unwrap();
        assert_eq!(signed.prescription.prescriber_id.expose(), PRESCRIBER);
        assert!(signed.verify(key.public_key()));
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
            app.issue_prescription_as(&id, None, &key, "02-2345-6789", PRESCRIBER),
            Err(AppError::Validation { .. })
        ));
        app.apply_order_set_lines(&id, &set()).unwrap();
        let issued = app
            .issue_prescription_as(&id, None, &key, "02-2345-6789", PRESCRIBER)
            .unwrap();
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
            app.issue_prescription_as(&id, None, &key, "02-2345-6789", PRESCRIBER),
            Err(AppError::Validation { field, .. }) if field == "prescription"
        ));
        assert!(app.apply_order_set_lines(&id, &set()).is_err());
        assert_eq!(store.jobs_for_visit(&id).unwrap().len(), jobs.len());
    }

    #[test]
    fn an_unknown_visit_or_an_empty_contact_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path());
        let key = DeviceKey::from_seed_for_tests(&[6; 32]);
        assert_eq!(
            app.issue_prescription(&id_of(&app), None, "02").unwrap_err(),
            AppError::NotEnrolled,
            "no enrolled device key: nothing to sign with"
        );
        assert!(matches!(
            app.issue_prescription_as("no-such-visit", None, &key, "02", PRESCRIBER),
            Err(AppError::NotFound { what }) if what == "visit"
        ));
        let id = record(&app);
        app.apply_order_set_lines(&id, &set()).unwrap();
        assert!(matches!(
            app.issue_prescription_as(&id, None, &key, "  ", PRESCRIBER),
            Err(AppError::Validation { field, .. }) if field == "contact"
        ));
    }

    fn id_of(app: &HomeVisit) -> String {
        let id = record(app);
        app.apply_order_set_lines(&id, &set()).unwrap();
        id
    }

    #[test]
    fn the_view_carries_what_the_family_takes_away_and_debug_hides_the_qr() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path());
        let id = id_of(&app);
        let key = DeviceKey::from_seed_for_tests(&[6; 32]);
        let issued = app
            .issue_prescription_as(&id, Some(3), &key, "02-2345-6789", PRESCRIBER)
            .unwrap();
        let v = IssuedPrescriptionView::of(&id, &issued).unwrap();
        assert!(v.qr_png.starts_with(b"\x89PNG"));
        assert!(v.qr_svg.contains("<svg"));
        assert_eq!(v.one_time_code_display.len(), 9);
        assert_eq!(v.one_time_code_display.replace('-', ""), v.one_time_code);
        assert_eq!(v.pick_up_windows.len(), 3);
        // 2024-03-01 Taiwan: refill 2 from 3/19 to 3/28 (28-day supply).
        assert_eq!(v.issued_on_ms, 1_709_222_400_000);
        assert_eq!(v.pick_up_windows[1].first_day_roc, "1130319");
        assert_eq!(
            v.pick_up_windows[1].first_day_ms,
            1_709_222_400_000 + 18 * 86_400_000
        );
        assert_eq!(v.pick_up_lines.len(), 2);
        let dbg = format!("{v:?}");
        assert!(!dbg.contains("RX:") && !dbg.contains("A123456789") && !dbg.contains(&v.one_time_code));
    }

    #[test]
    fn two_concurrent_issues_of_one_visit_give_one_prescription() {
        let dir = tempfile::tempdir().unwrap();
        let app = Arc::new(app(dir.path()));
        let id = id_of(&app);
        let results: Vec<_> = (0..4)
            .map(|i| {
                let (app, id) = (app.clone(), id.clone());
                std::thread::spawn(move || {
                    let key = DeviceKey::from_seed_for_tests(&[i; 32]);
                    app.issue_prescription_as(&id, None, &key, "02-2345-6789", PRESCRIBER)
                        .is_ok()
                })
            })
            .map(|t| t.join().unwrap())
            .collect();
        assert_eq!(results.iter().filter(|ok| **ok).count(), 1, "{results:?}");
        let regs = app
            .store()
            .jobs_for_visit(&id)
            .unwrap()
            .into_iter()
            .filter(|j| j.kind == JobKind::PrescriptionRegistration)
            .count();
        assert_eq!(regs, 1);
    }
}
