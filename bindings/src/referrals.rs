//! E-referrals: `HomeVisitApp.referrals()` → [`ReferralService`]. Thin wrappers over
//! `homevisit_core::app::ReferralService`; every rule, parse and mask is the core's. The form and
//! the referral carry patient data, so they are objects with accessors ([`ReferralDraft`],
//! [`Referral`]); report rows carry masked fields only.

use crate::app::HomeVisitApp;
use crate::error::{HomeVisitError, guard, guard_async};
use homevisit_core::app::{self as core_app, ReferralInput, ReferralRecord};
use homevisit_core::referral::csv::CsvEncoding as CoreEncoding;
use homevisit_core::referral::{self as r, ReferralQuery as CoreQuery, ReportFilter as CoreFilter};
use std::sync::Arc;

/// The four referral types (`01`–`04`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ReferralKind {
    /// `01` home care → long-term care.
    HomeCareToLtc,
    /// `02` LTC centre → home care.
    LtcCentreToHomeCare,
    /// `03` contracted institution → long-term care.
    InstitutionToLtc,
    /// `04` contracted institution → home care.
    InstitutionToHomeCare,
}

impl From<ReferralKind> for r::ReferralType {
    fn from(k: ReferralKind) -> Self {
        match k {
            ReferralKind::HomeCareToLtc => Self::HomeCareToLtc,
            ReferralKind::LtcCentreToHomeCare => Self::LtcCentreToHomeCare,
            ReferralKind::InstitutionToLtc => Self::InstitutionToLtc,
            ReferralKind::InstitutionToHomeCare => Self::InstitutionToHomeCare,
        }
    }
}

impl From<r::ReferralType> for ReferralKind {
    fn from(k: r::ReferralType) -> Self {
        match k {
            r::ReferralType::HomeCareToLtc => Self::HomeCareToLtc,
            r::ReferralType::LtcCentreToHomeCare => Self::LtcCentreToHomeCare,
            r::ReferralType::InstitutionToLtc => Self::InstitutionToLtc,
            r::ReferralType::InstitutionToHomeCare => Self::InstitutionToHomeCare,
        }
    }
}

/// The receiver's processing status (`01`–`04`; `04` = arrange re-referral).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ReferralProcessing {
    /// `01` accepted.
    Accepted,
    /// `02` does not meet the intake conditions.
    NotEligible,
    /// `03` the patient or family declined.
    Declined,
    /// `04` arrange re-referral: the sender may re-refer.
    ArrangeReReferral,
}

impl From<ReferralProcessing> for r::ProcessingStatus {
    fn from(p: ReferralProcessing) -> Self {
        match p {
            ReferralProcessing::Accepted => Self::Accepted,
            ReferralProcessing::NotEligible => Self::NotEligible,
            ReferralProcessing::Declined => Self::Declined,
            ReferralProcessing::ArrangeReReferral => Self::ArrangeReReferral,
        }
    }
}

impl From<r::ProcessingStatus> for ReferralProcessing {
    fn from(p: r::ProcessingStatus) -> Self {
        match p {
            r::ProcessingStatus::Accepted => Self::Accepted,
            r::ProcessingStatus::NotEligible => Self::NotEligible,
            r::ProcessingStatus::Declined => Self::Declined,
            r::ProcessingStatus::ArrangeReReferral => Self::ArrangeReReferral,
        }
    }
}

/// The sender's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ReferralSenderState {
    /// Opened, not sent (correct / delete allowed).
    OpenedUnsent,
    /// Sent, no reply yet.
    Sent,
    /// Replied.
    Replied,
}

impl From<r::SenderState> for ReferralSenderState {
    fn from(s: r::SenderState) -> Self {
        match s {
            r::SenderState::OpenedUnsent => Self::OpenedUnsent,
            r::SenderState::Sent => Self::Sent,
            r::SenderState::Replied => Self::Replied,
        }
    }
}

impl From<ReferralSenderState> for r::SenderState {
    fn from(s: ReferralSenderState) -> Self {
        match s {
            ReferralSenderState::OpenedUnsent => Self::OpenedUnsent,
            ReferralSenderState::Sent => Self::Sent,
            ReferralSenderState::Replied => Self::Replied,
        }
    }
}

/// The receiver's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ReferralReceiverState {
    /// Nothing entered.
    Unprocessed,
    /// Processed, not replied (still correctable).
    ProcessedNotReplied,
    /// Replied.
    Replied,
}

impl From<r::ReceiverState> for ReferralReceiverState {
    fn from(s: r::ReceiverState) -> Self {
        match s {
            r::ReceiverState::Unprocessed => Self::Unprocessed,
            r::ReceiverState::ProcessedNotReplied => Self::ProcessedNotReplied,
            r::ReceiverState::Replied => Self::Replied,
        }
    }
}

impl From<ReferralReceiverState> for r::ReceiverState {
    fn from(s: ReferralReceiverState) -> Self {
        match s {
            ReferralReceiverState::Unprocessed => Self::Unprocessed,
            ReferralReceiverState::ProcessedNotReplied => Self::ProcessedNotReplied,
            ReferralReceiverState::Replied => Self::Replied,
        }
    }
}

/// Whether this institution sent or received a referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ReferralSide {
    /// Opened here.
    Sent,
    /// Addressed to this institution.
    Received,
}

impl From<ReferralSide> for r::Side {
    fn from(s: ReferralSide) -> Self {
        match s {
            ReferralSide::Sent => Self::Sent,
            ReferralSide::Received => Self::Received,
        }
    }
}

impl From<r::Side> for ReferralSide {
    fn from(s: r::Side) -> Self {
        match s {
            r::Side::Sent => Self::Sent,
            r::Side::Received => Self::Received,
        }
    }
}

/// The CSV export's encoding (Big5 is the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CsvEncoding {
    /// Big5 (CP950): what Taiwan office software opens on a double click.
    Big5,
    /// UTF-8 with a byte-order mark: keeps every character.
    Utf8Bom,
}

impl From<CsvEncoding> for CoreEncoding {
    fn from(e: CsvEncoding) -> Self {
        match e {
            CsvEncoding::Big5 => Self::Big5,
            CsvEncoding::Utf8Bom => Self::Utf8Bom,
        }
    }
}

/// A unit on the form (no patient data).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReferralUnit {
    pub code: String,
    pub name: String,
    #[uniffi(default = "")]
    pub contact: String,
    #[uniffi(default = "")]
    pub phone: String,
}

impl From<ReferralUnit> for r::Unit {
    fn from(u: ReferralUnit) -> Self {
        Self {
            code: u.code,
            name: u.name,
            contact: u.contact,
            phone: u.phone,
        }
    }
}

impl From<r::Unit> for ReferralUnit {
    fn from(u: r::Unit) -> Self {
        Self {
            code: u.code,
            name: u.name,
            contact: u.contact,
            phone: u.phone,
        }
    }
}

/// The six parts of the form (an object: the patient's data never prints by itself).
#[derive(uniffi::Object)]
pub struct ReferralDraft {
    input: ReferralInput,
}

#[uniffi::export]
impl ReferralDraft {
    /// A form from its fields; birth date ROC `YYYMMDD` (empty when unknown), sex `M`/`F`.
    #[uniffi::constructor]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        referring_unit: ReferralUnit,
        national_id: String,
        name: String,
        birth_date: String,
        sex: String,
        phone: String,
        address: String,
        adl_score: Option<u8>,
        care_stage: String,
        diagnoses: Vec<String>,
        note: String,
        purpose: String,
        receiving_unit: ReferralUnit,
        summary: String,
    ) -> Arc<Self> {
        Arc::new(Self {
            input: ReferralInput {
                referring_unit: referring_unit.into(),
                national_id,
                name,
                birth_date,
                sex,
                phone,
                address,
                adl_score,
                care_stage,
                diagnoses,
                note,
                purpose,
                receiving_unit: receiving_unit.into(),
                summary,
            },
        })
    }

    /// The same form with the referring unit (name, contact), purpose, receiving unit and
    /// summary given: the parts the user adds to a prefilled type `01` form.
    pub fn completed(
        &self,
        referring_unit: ReferralUnit,
        purpose: String,
        receiving_unit: ReferralUnit,
        summary: String,
    ) -> Arc<Self> {
        let mut input = self.input.clone();
        input.referring_unit = referring_unit.into();
        input.purpose = purpose;
        input.receiving_unit = receiving_unit.into();
        input.summary = summary;
        Arc::new(Self { input })
    }

    pub fn referring_unit(&self) -> ReferralUnit {
        self.input.referring_unit.clone().into()
    }
    pub fn national_id(&self) -> String {
        self.input.national_id.clone()
    }
    pub fn name(&self) -> String {
        self.input.name.clone()
    }
    /// ROC `YYYMMDD`, empty when unknown.
    pub fn birth_date(&self) -> String {
        self.input.birth_date.clone()
    }
    pub fn sex(&self) -> String {
        self.input.sex.clone()
    }
    pub fn adl_score(&self) -> Option<u8> {
        self.input.adl_score
    }
    pub fn care_stage(&self) -> String {
        self.input.care_stage.clone()
    }
    pub fn diagnoses(&self) -> Vec<String> {
        self.input.diagnoses.clone()
    }
    pub fn purpose(&self) -> String {
        self.input.purpose.clone()
    }
    pub fn receiving_unit(&self) -> ReferralUnit {
        self.input.receiving_unit.clone().into()
    }
    pub fn summary(&self) -> String {
        self.input.summary.clone()
    }
}

/// What `prefill` found: the form to start from and whether the patient is this institution's
/// home-care case (then birth date and case data are filled).
#[derive(uniffi::Object)]
pub struct ReferralPrefill {
    draft: Arc<ReferralDraft>,
    is_case: bool,
    visits: u32,
    last_visit_ms: Option<i64>,
}

#[uniffi::export]
impl ReferralPrefill {
    pub fn draft(&self) -> Arc<ReferralDraft> {
        self.draft.clone()
    }
    pub fn is_case(&self) -> bool {
        self.is_case
    }
    /// Home visits of the case recorded here.
    pub fn visits(&self) -> u32 {
        self.visits
    }
    /// The case's last home visit, Unix ms.
    pub fn last_visit_ms(&self) -> Option<i64> {
        self.last_visit_ms
    }
}

/// One referral (an object: patient data only through accessors).
#[derive(uniffi::Object)]
pub struct Referral {
    record: ReferralRecord,
}

#[uniffi::export]
impl Referral {
    /// Local id.
    pub fn id(&self) -> String {
        self.record.id.clone()
    }
    /// 轉介單號.
    pub fn number(&self) -> String {
        self.record.referral.number.clone()
    }
    /// 轉介次數.
    pub fn count(&self) -> u32 {
        self.record.referral.count
    }
    pub fn kind(&self) -> ReferralKind {
        self.record.referral.kind.into()
    }
    pub fn side(&self) -> ReferralSide {
        self.record.side.into()
    }
    pub fn sender_state(&self) -> ReferralSenderState {
        self.record.referral.sender_state().into()
    }
    /// `None` before the round is sent.
    pub fn receiver_state(&self) -> Option<ReferralReceiverState> {
        self.record.referral.receiver_state().map(Into::into)
    }
    pub fn opened_at_ms(&self) -> i64 {
        self.record.referral.opened_at_ms
    }
    pub fn sent_at_ms(&self) -> Option<i64> {
        self.record.referral.sent_at_ms
    }
    /// The receiver's status of the current round (the sender sees it once replied).
    pub fn processing(&self) -> Option<ReferralProcessing> {
        self.record.referral.processing.as_ref().map(|p| p.status.into())
    }
    /// 處理情形說明.
    pub fn explanation(&self) -> Option<String> {
        self.record
            .referral
            .processing
            .as_ref()
            .map(|p| p.explanation.clone())
    }
    pub fn replied_at_ms(&self) -> Option<i64> {
        self.record.referral.reply().and_then(|p| p.replied_at_ms)
    }
    /// Earlier rounds (re-referrals before this one).
    pub fn earlier_rounds(&self) -> u32 {
        u32::try_from(self.record.referral.rounds.len()).unwrap_or(u32::MAX)
    }
    /// Whether the sender may re-refer now (the reply is `04`).
    pub fn can_re_refer(&self) -> bool {
        self.record.side == r::Side::Sent && r::rules::may_re_refer(&self.record.referral).is_ok()
    }
    pub fn receiving_unit(&self) -> ReferralUnit {
        self.record.referral.form.receiving_unit.clone().into()
    }
    /// The patient's name, masked (`陳○明`).
    pub fn patient_name_masked(&self) -> String {
        self.record.masked_name()
    }
    /// The patient's ID, masked.
    pub fn national_id_masked(&self) -> String {
        self.record.masked_id()
    }
    /// The full form.
    pub fn form(&self) -> Arc<ReferralDraft> {
        Arc::new(ReferralDraft {
            input: ReferralInput::of(&self.record.referral.form),
        })
    }
}

fn wrap(record: ReferralRecord) -> Arc<Referral> {
    Arc::new(Referral { record })
}

/// The sender's or receiver's query (every condition optional; dates ROC `YYYMMDD`).
#[derive(Clone, Default, uniffi::Record)]
pub struct ReferralQuery {
    #[uniffi(default = None)]
    pub national_id: Option<String>,
    #[uniffi(default = None)]
    pub number: Option<String>,
    #[uniffi(default = None)]
    pub opened_from: Option<String>,
    #[uniffi(default = None)]
    pub opened_to: Option<String>,
    #[uniffi(default = None)]
    pub sender_state: Option<ReferralSenderState>,
    #[uniffi(default = None)]
    pub receiver_state: Option<ReferralReceiverState>,
}

/// The detail report's filters (dates ROC `YYYMMDD`).
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct ReferralReportFilter {
    #[uniffi(default = None)]
    pub kind: Option<ReferralKind>,
    #[uniffi(default = None)]
    pub side: Option<ReferralSide>,
    #[uniffi(default = None)]
    pub from: Option<String>,
    #[uniffi(default = None)]
    pub to: Option<String>,
    #[uniffi(default = None)]
    pub sender_state: Option<ReferralSenderState>,
    #[uniffi(default = None)]
    pub receiver_state: Option<ReferralReceiverState>,
}

impl ReferralReportFilter {
    fn to_core(&self) -> Result<CoreFilter, core_app::AppError> {
        Ok(CoreFilter {
            kind: self.kind.map(Into::into),
            side: self.side.map(Into::into),
            from: core_app::referral_date("from", self.from.as_deref())?,
            to: core_app::referral_date("to", self.to.as_deref())?,
            sender_state: self.sender_state.map(Into::into),
            receiver_state: self.receiver_state.map(Into::into),
        })
    }
}

/// One row of the detail report (patient fields masked).
#[derive(Debug, Clone, uniffi::Record)]
pub struct ReferralReportRow {
    pub number: String,
    pub count: u32,
    pub kind: ReferralKind,
    pub side: ReferralSide,
    /// ROC `YYY/MM/DD`.
    pub opened_on: String,
    pub sender_code: String,
    pub receiver_code: String,
    pub patient_name_masked: String,
    pub national_id_masked: String,
    pub sender_state: ReferralSenderState,
    /// Label, empty before sending.
    pub receiver_state: String,
    /// `04 安排再轉他院/長照單位`, when replied.
    pub processing: String,
}

/// A CSV export: bytes, encoding, and the rows (1-based) where a character outside Big5 became `？`.
#[derive(Clone, uniffi::Record)]
pub struct CsvFile {
    pub bytes: Vec<u8>,
    pub encoding: CsvEncoding,
    pub lossy_rows: Vec<u32>,
}

/// What `refresh` brought in.
#[derive(Debug, Clone, Copy, uniffi::Record)]
pub struct ReferralRefresh {
    pub replies: u32,
    pub received: u32,
}

/// The e-referral service (see `homevisit_core::app::ReferralService`).
#[derive(uniffi::Object)]
pub struct ReferralService {
    inner: Arc<core_app::ReferralService>,
}

#[uniffi::export]
impl HomeVisitApp {
    /// The e-referral service.
    pub fn referrals(&self) -> Arc<ReferralService> {
        Arc::new(ReferralService {
            inner: self.inner.referrals(),
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl ReferralService {
    /// The types this institution may open (`01`, `03`, `04`).
    pub fn types_to_open(&self) -> Vec<ReferralKind> {
        self.inner.types_to_open().into_iter().map(Into::into).collect()
    }

    /// The form to start from (type `01`: birth date and case data of this institution's case).
    pub fn prefill(
        &self,
        kind: ReferralKind,
        national_id: String,
    ) -> Result<Arc<ReferralPrefill>, HomeVisitError> {
        guard(|| {
            let (form, is_case) = self.inner.prefill(kind.into(), &national_id)?;
            Ok(Arc::new(ReferralPrefill {
                visits: form.assessment.visits,
                last_visit_ms: form.assessment.last_visit_ms,
                draft: Arc::new(ReferralDraft {
                    input: ReferralInput::of(&form),
                }),
                is_case,
            }))
        })
    }

    /// Opens a referral (offline too): the number is made now.
    pub fn open(
        &self,
        kind: ReferralKind,
        draft: Arc<ReferralDraft>,
    ) -> Result<Arc<Referral>, HomeVisitError> {
        guard(|| Ok(wrap(self.inner.open(kind.into(), draft.input.to_form()?)?)))
    }

    /// Corrects an opened-unsent referral (`WrongState` once sent).
    pub fn correct(&self, id: String, draft: Arc<ReferralDraft>) -> Result<Arc<Referral>, HomeVisitError> {
        guard(|| Ok(wrap(self.inner.correct(&id, draft.input.to_form()?)?)))
    }

    /// Deletes an opened-unsent referral.
    pub fn delete(&self, id: String) -> Result<(), HomeVisitError> {
        guard(|| self.inner.delete(&id))
    }

    /// Sends the current round (queued; sent when online, exactly once).
    pub fn send(&self, id: String) -> Result<Arc<Referral>, HomeVisitError> {
        guard(|| Ok(wrap(self.inner.send(&id)?)))
    }

    /// Re-refers after a `04` reply (count + 1); send it again afterwards.
    pub fn re_refer(
        &self,
        id: String,
        receiving_unit: ReferralUnit,
    ) -> Result<Arc<Referral>, HomeVisitError> {
        guard(|| Ok(wrap(self.inner.re_refer(&id, receiving_unit.into())?)))
    }

    /// The receiver enters or corrects its processing.
    pub fn process(
        &self,
        id: String,
        status: ReferralProcessing,
        explanation: String,
    ) -> Result<Arc<Referral>, HomeVisitError> {
        guard(|| Ok(wrap(self.inner.process(&id, status.into(), &explanation)?)))
    }

    /// The receiver sends its processing back (queued).
    pub fn send_reply(&self, id: String) -> Result<Arc<Referral>, HomeVisitError> {
        guard(|| Ok(wrap(self.inner.send_reply(&id)?)))
    }

    /// One referral.
    pub fn get(&self, id: String) -> Result<Arc<Referral>, HomeVisitError> {
        guard(|| Ok(wrap(self.inner.get(&id)?)))
    }

    /// The outbox state of the current round's send or reply (`queued`, `done`…), if queued.
    pub fn delivery(&self, id: String) -> Result<Option<String>, HomeVisitError> {
        guard(|| self.inner.delivery(&id))
    }

    /// Pulls replies and referrals addressed here (online). Kotlin: `suspend`.
    pub async fn refresh(&self) -> Result<ReferralRefresh, HomeVisitError> {
        let inner = self.inner.clone();
        let s = guard_async(async move { inner.refresh().await }).await?;
        Ok(ReferralRefresh {
            replies: s.replies,
            received: s.received,
        })
    }

    /// The sender's or the receiver's query.
    pub fn find(
        &self,
        side: ReferralSide,
        query: ReferralQuery,
    ) -> Result<Vec<Arc<Referral>>, HomeVisitError> {
        guard(|| {
            let q = CoreQuery {
                national_id: query.national_id,
                number: query.number,
                opened_from: core_app::referral_date("opened_from", query.opened_from.as_deref())?,
                opened_to: core_app::referral_date("opened_to", query.opened_to.as_deref())?,
                sender_state: query.sender_state.map(Into::into),
                receiver_state: query.receiver_state.map(Into::into),
            };
            Ok(self.inner.find(side.into(), &q)?.into_iter().map(wrap).collect())
        })
    }

    /// The detail report (patient fields masked).
    pub fn report(&self, filter: ReferralReportFilter) -> Result<Vec<ReferralReportRow>, HomeVisitError> {
        guard(|| {
            let rows = self.inner.report(&filter.to_core()?)?;
            Ok(rows
                .iter()
                .map(|row| ReferralReportRow {
                    number: row.number.clone(),
                    count: row.count,
                    kind: r::ReferralType::from_code(row.kind_code)
                        .unwrap_or(r::ReferralType::HomeCareToLtc)
                        .into(),
                    side: row.side.into(),
                    opened_on: row.opened_on.clone(),
                    sender_code: row.sender_code.clone(),
                    receiver_code: row.receiver_code.clone(),
                    patient_name_masked: row.masked_name(),
                    national_id_masked: row.masked_id(),
                    sender_state: row.sender_state.into(),
                    receiver_state: row.receiver_state_label.to_string(),
                    processing: row.processing.clone(),
                })
                .collect())
        })
    }

    /// The detail report as a CSV file (Big5 by default in the app's UI; see the core's docs).
    pub fn export_csv(
        &self,
        filter: ReferralReportFilter,
        encoding: CsvEncoding,
    ) -> Result<CsvFile, HomeVisitError> {
        guard(|| {
            let out = self.inner.export_csv(&filter.to_core()?, encoding.into())?;
            Ok(CsvFile {
                bytes: out.bytes,
                encoding,
                lossy_rows: out.lossy_rows,
            })
        })
    }
}
