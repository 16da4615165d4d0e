//! Helpers shared by the card end-to-end tests.
#![allow(dead_code)]

use homevisit_core::card::sam::{SamAuthority, SamChallenge, SamError, VisitSignRequest, VisitSignature};
use homevisit_core::card::{CardError, PrescriptionEntry, VisitBody, VisitOutcome, VisitPlan, run_visit};
use homevisit_core::model::{InstitutionCode, RocDateTime, VisitType};
use homevisit_core::reader::ApduChannel;
use homevisit_core::rules::visit_code::VisitCodeGenerator;
use nhi_reader_sim::card::{DirectReader, PatientCard, PractitionerCard};
use nhi_reader_sim::keys::LocalSam;
use std::sync::atomic::{AtomicBool, Ordering};

pub const INSTITUTION: &str = "3501200000";
pub const SAM_ID: &str = "SAM000000001";

/// A reader holding the first demo patient card and the demo practitioner card.
pub fn reader_with_demo_cards() -> (DirectReader, PatientCard, PractitionerCard) {
    DirectReader::with_demo_cards()
}

pub fn codes() -> VisitCodeGenerator {
    VisitCodeGenerator::new(&[7u8; 32], "test-device-1").unwrap()
}

pub fn at(text: &str) -> RocDateTime {
    RocDateTime::parse(text).unwrap()
}

/// Eight realistic drug entries at `when`.
pub fn eight_prescriptions(when: RocDateTime) -> Vec<PrescriptionEntry> {
    let drugs = [
        ("AC45856100", "PO", "TID", 7, 21.0),
        ("AB47279100", "PO", "BID", 7, 14.0),
        ("AC36157100", "PO", "QD", 28, 28.0),
        ("BC23521100", "PO", "HS", 14, 14.0),
        ("AC58367100", "PO", "QID", 7, 28.0),
        ("A043522100", "EXT", "BID", 7, 1.0),
        ("AC22637100", "PO", "QD", 28, 28.0),
        ("AB15821100", "PO", "TIDPRN", 3, 9.0),
    ];
    drugs
        .iter()
        .map(|&(code, site, usage, days, total)| PrescriptionEntry {
            at: when,
            order_type: '1',
            code: code.into(),
            site: site.into(),
            usage: usage.into(),
            days,
            total,
            released: true,
        })
        .collect()
}

pub fn plan(txn: u8, visit_type: VisitType, when: &str) -> VisitPlan {
    let at = at(when);
    VisitPlan {
        txn_id: [txn; 16],
        visit_type,
        newborn: false,
        replacement: false,
        institution: InstitutionCode::parse(INSTITUTION).unwrap(),
        at,
        code_counter: u64::from(txn),
        body: VisitBody {
            diagnoses: vec!["I10".into(), "E119".into()],
            fee_points: 1631,
            copayment: 0,
        },
        prescriptions: eight_prescriptions(at),
        online: true,
    }
}

/// Runs a plan, reconnecting and re-inserting after each retryable failure, like the app does.
pub async fn run_with_retries(
    reader: &DirectReader,
    card: &PatientCard,
    sam: &dyn SamAuthority,
    plan: &VisitPlan,
) -> (Result<VisitOutcome, CardError>, u32) {
    let codes = codes();
    let mut failures = 0;
    loop {
        match run_visit(reader as &dyn ApduChannel, sam, &codes, plan).await {
            Err(e) if e.is_retryable() && failures < 5 => {
                failures += 1;
                reader.reconnect();
                card.reinsert();
            }
            other => return (other, failures),
        }
    }
}

/// A cloud SAM behind a network that can go down, before or during a visit.
pub struct FlakySam {
    pub inner: LocalSam,
    pub down: AtomicBool,
    pub down_at_sign: AtomicBool,
}

impl FlakySam {
    pub fn new() -> Self {
        Self {
            inner: LocalSam::new(SAM_ID),
            down: AtomicBool::new(false),
            down_at_sign: AtomicBool::new(false),
        }
    }
}

#[homevisit_core::card::sam::async_trait]
impl SamAuthority for FlakySam {
    fn sam_id(&self) -> String {
        self.inner.sam_id()
    }
    async fn begin_card_auth(&self, card_number: &str, c: [u8; 8]) -> Result<SamChallenge, SamError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(SamError::Unreachable("no network".into()));
        }
        self.inner.begin_card_auth(card_number, c).await
    }
    async fn verify_card(&self, session: &str, proof: [u8; 32]) -> Result<(), SamError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(SamError::Unreachable("no network".into()));
        }
        self.inner.verify_card(session, proof).await
    }
    async fn sign_visit(&self, request: &VisitSignRequest) -> Result<VisitSignature, SamError> {
        if self.down.load(Ordering::SeqCst) || self.down_at_sign.load(Ordering::SeqCst) {
            return Err(SamError::Unreachable("no network".into()));
        }
        self.inner.sign_visit(request).await
    }
}
