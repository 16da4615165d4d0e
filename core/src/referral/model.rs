//! The referral's plain types: the four referral types, who opens them, the receiver's processing
//! statuses, the six parts of the form, the referral itself and the states both sides see. The
//! same types are used by the device and by the simulated platform (`nhi-vpn-sim`), so the two
//! apply one set of rules (`rules.rs`) to one model. Patient data (name, national ID, birth date)
//! never prints in `Debug`.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The four referral types (轉介類別) of the e-referral platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum ReferralType {
    /// `01` 居家醫療轉介長照服務: an HMIC home-care case referred to long-term care.
    HomeCareToLtc,
    /// `02` 長照中心轉介居家醫療服務: an LTC centre refers a case to home medical care.
    LtcCentreToHomeCare,
    /// `03` 特約機構轉介長照服務: a contracted institution refers an ordinary case to LTC.
    InstitutionToLtc,
    /// `04` 特約機構轉介居家醫療: a contracted institution refers an ordinary case to home care.
    InstitutionToHomeCare,
}

impl ReferralType {
    /// Every type, in code order.
    pub const ALL: [ReferralType; 4] = [
        ReferralType::HomeCareToLtc,
        ReferralType::LtcCentreToHomeCare,
        ReferralType::InstitutionToLtc,
        ReferralType::InstitutionToHomeCare,
    ];

    /// The platform's two-digit code (`01`–`04`).
    pub fn code(self) -> &'static str {
        match self {
            ReferralType::HomeCareToLtc => "01",
            ReferralType::LtcCentreToHomeCare => "02",
            ReferralType::InstitutionToLtc => "03",
            ReferralType::InstitutionToHomeCare => "04",
        }
    }

    /// The type of a two-digit code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }

    /// The platform's label (as printed in the detail report).
    pub fn label(self) -> &'static str {
        match self {
            ReferralType::HomeCareToLtc => "居家醫療轉介長照服務",
            ReferralType::LtcCentreToHomeCare => "長照中心轉介居家醫療服務",
            ReferralType::InstitutionToLtc => "特約機構轉介長照服務",
            ReferralType::InstitutionToHomeCare => "特約機構轉介居家醫療",
        }
    }

    /// The kind of unit that receives this type (an LTC centre, or a home-care institution).
    pub fn receiver_kind(self) -> UnitKind {
        match self {
            ReferralType::HomeCareToLtc | ReferralType::InstitutionToLtc => UnitKind::LtcCentre,
            ReferralType::LtcCentreToHomeCare | ReferralType::InstitutionToHomeCare => UnitKind::Institution,
        }
    }
}

/// Who uses the platform: a contracted medical institution (特約醫事機構) or a county's long-term
/// care management centre (長期照護管理中心).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UnitKind {
    /// A contracted medical institution (this app's institutions).
    Institution,
    /// A long-term care management centre.
    LtcCentre,
}

impl UnitKind {
    /// Stable name (`institution`, `ltc_centre`).
    pub fn name(self) -> &'static str {
        match self {
            UnitKind::Institution => "institution",
            UnitKind::LtcCentre => "ltc_centre",
        }
    }
}

/// The receiver's processing status (處理情形). Only `04` is named by the platform manual
/// (「安排再轉他院/長照單位」); `01`–`03` are this project's choice, documented in
/// `core/src/referral/README.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProcessingStatus {
    /// `01` 已收案: the case is accepted.
    Accepted,
    /// `02` 不符收案條件: the case does not meet the receiver's intake conditions.
    NotEligible,
    /// `03` 個案/家屬拒絕: the patient or the family declined.
    Declined,
    /// `04` 安排再轉他院/長照單位: arrange re-referral — the sender may re-refer (count + 1).
    ArrangeReReferral,
}

impl ProcessingStatus {
    /// Every status, in code order.
    pub const ALL: [ProcessingStatus; 4] = [
        ProcessingStatus::Accepted,
        ProcessingStatus::NotEligible,
        ProcessingStatus::Declined,
        ProcessingStatus::ArrangeReReferral,
    ];

    /// The two-digit code.
    pub fn code(self) -> &'static str {
        match self {
            ProcessingStatus::Accepted => "01",
            ProcessingStatus::NotEligible => "02",
            ProcessingStatus::Declined => "03",
            ProcessingStatus::ArrangeReReferral => "04",
        }
    }

    /// The status of a two-digit code.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The label printed in the detail report.
    pub fn label(self) -> &'static str {
        match self {
            ProcessingStatus::Accepted => "已收案",
            ProcessingStatus::NotEligible => "不符收案條件",
            ProcessingStatus::Declined => "個案/家屬拒絕",
            ProcessingStatus::ArrangeReReferral => "安排再轉他院/長照單位",
        }
    }
}

/// The sender's view (主動轉介處理情形).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SenderState {
    /// Opened (the number exists) but not sent: may be corrected or deleted.
    OpenedUnsent,
    /// Sent; the receiver has not replied.
    Sent,
    /// The receiver's reply arrived.
    Replied,
}

impl SenderState {
    /// Every state.
    pub const ALL: [SenderState; 3] = [SenderState::OpenedUnsent, SenderState::Sent, SenderState::Replied];

    /// Stable name (`opened_unsent`, `sent`, `replied`).
    pub fn name(self) -> &'static str {
        match self {
            SenderState::OpenedUnsent => "opened_unsent",
            SenderState::Sent => "sent",
            SenderState::Replied => "replied",
        }
    }

    /// The label printed in the detail report.
    pub fn label(self) -> &'static str {
        match self {
            SenderState::OpenedUnsent => "已開立未送出",
            SenderState::Sent => "已送出",
            SenderState::Replied => "已回覆",
        }
    }

    /// The state of a stable name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// The receiver's view (接受轉介處理情形).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReceiverState {
    /// Received, nothing entered.
    Unprocessed,
    /// A processing status is entered but not sent: the receiver may still correct it.
    ProcessedNotReplied,
    /// The reply is sent: nothing changes any more (until a re-referral opens a new round).
    Replied,
}

impl ReceiverState {
    /// Every state.
    pub const ALL: [ReceiverState; 3] = [
        ReceiverState::Unprocessed,
        ReceiverState::ProcessedNotReplied,
        ReceiverState::Replied,
    ];

    /// Stable name (`unprocessed`, `processed_not_replied`, `replied`).
    pub fn name(self) -> &'static str {
        match self {
            ReceiverState::Unprocessed => "unprocessed",
            ReceiverState::ProcessedNotReplied => "processed_not_replied",
            ReceiverState::Replied => "replied",
        }
    }

    /// The label printed in the detail report.
    pub fn label(self) -> &'static str {
        match self {
            ReceiverState::Unprocessed => "未處理",
            ReceiverState::ProcessedNotReplied => "已處理未回覆",
            ReceiverState::Replied => "已回覆",
        }
    }

    /// The state of a stable name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A unit on the form (part 1 referring unit, part 5 receiving unit): its code, name and contact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// The unit's code (10-digit institution code, or the LTC centre's code).
    pub code: String,
    /// Its name.
    pub name: String,
    /// Contact person (a staff member, not patient data).
    pub contact: String,
    /// Contact phone.
    pub phone: String,
}

/// Part 2, the patient's basic data (個案基本資料). Never printed by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientBasic {
    /// National ID or resident certificate number.
    pub national_id: String,
    /// Name.
    pub name: String,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// `M` or `F`.
    pub sex: String,
    /// Contact phone of the patient or family.
    pub phone: String,
    /// Address where care happens.
    pub address: String,
}

impl fmt::Debug for PatientBasic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PatientBasic(<redacted>)")
    }
}

/// Part 3, assessment (個案評量資料): the ADL (Barthel) score, the HMIC case it belongs to (type
/// `01`), the care stage and diagnoses, and free text. Clinical data: never printed by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// Barthel index 0–100, when assessed.
    pub adl_score: Option<u8>,
    /// Care stage code of the HMIC case (`E1`, `A1`, `A5`), type `01`.
    pub care_stage: String,
    /// ICD-10-CM codes (upper case, no dot).
    pub diagnoses: Vec<String>,
    /// The last home visit of the case (Unix ms), type `01`.
    pub last_visit_ms: Option<i64>,
    /// Home visits of the case recorded by this institution, type `01`.
    pub visits: u32,
    /// Free text.
    pub note: String,
}

impl fmt::Debug for Assessment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Assessment(<redacted>)")
    }
}

/// The six parts of the form (圖二): referring unit, patient, assessment, purpose, receiving unit,
/// condition / living summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralForm {
    /// 1. 主動轉介單位資料.
    pub referring_unit: Unit,
    /// 2. 個案基本資料.
    pub patient: PatientBasic,
    /// 3. 個案評量資料.
    pub assessment: Assessment,
    /// 4. 轉介目的.
    pub purpose: String,
    /// 5. 接受轉介單位資料.
    pub receiving_unit: Unit,
    /// 6. 個案病情或生活狀況摘要 (clinical text; only `Debug` of the whole form hides it).
    pub summary: Summary,
}

/// Part 6 as text that `Debug` does not print.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Summary(pub String);

impl fmt::Debug for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Summary({} chars)", self.0.chars().count())
    }
}

/// The receiver's processing of one round: status, explanation, and when it was sent back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Processing {
    /// 處理情形.
    pub status: ProcessingStatus,
    /// 處理情形說明 (no patient data is expected here; it is still sealed at rest).
    pub explanation: String,
    /// When the receiver entered or last corrected it (Unix ms).
    pub processed_at_ms: i64,
    /// When the receiver sent it (Unix ms); `None` while it may still be corrected.
    pub replied_at_ms: Option<i64>,
}

/// An earlier round of a re-referred referral: to whom it went and what came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    /// Its referral count (1 for the first).
    pub count: u32,
    /// Who received it.
    pub receiving_unit: Unit,
    /// When it was sent (Unix ms).
    pub sent_at_ms: Option<i64>,
    /// The reply that closed it.
    pub processing: Option<Processing>,
}

/// One referral as both sides keep it: the number, the current round (count, form, sent, the
/// receiver's processing) and the rounds before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    /// The referral number (轉介單號), made at opening; kept by re-referrals.
    pub number: String,
    /// The referral count (轉介次數): 1, then + 1 per re-referral.
    pub count: u32,
    /// The type.
    pub kind: ReferralType,
    /// The code of the unit that opened it.
    pub sender_code: String,
    /// The form of the current round.
    pub form: ReferralForm,
    /// When it was opened (Unix ms).
    pub opened_at_ms: i64,
    /// When the current round was sent (Unix ms); `None` = opened, not sent.
    pub sent_at_ms: Option<i64>,
    /// The receiver's processing of the current round.
    pub processing: Option<Processing>,
    /// Earlier rounds, oldest first.
    pub rounds: Vec<Round>,
}

impl Referral {
    /// The sender's state of the current round.
    pub fn sender_state(&self) -> SenderState {
        match (&self.sent_at_ms, &self.processing) {
            (None, _) => SenderState::OpenedUnsent,
            (Some(_), Some(p)) if p.replied_at_ms.is_some() => SenderState::Replied,
            (Some(_), _) => SenderState::Sent,
        }
    }

    /// The receiver's state of the current round (`None` before the round is sent: the receiver
    /// does not see it).
    pub fn receiver_state(&self) -> Option<ReceiverState> {
        self.sent_at_ms?;
        Some(match &self.processing {
            None => ReceiverState::Unprocessed,
            Some(p) if p.replied_at_ms.is_none() => ReceiverState::ProcessedNotReplied,
            Some(_) => ReceiverState::Replied,
        })
    }

    /// The processing as the sender sees it: only once sent back by the receiver.
    pub fn reply(&self) -> Option<&Processing> {
        self.processing.as_ref().filter(|p| p.replied_at_ms.is_some())
    }

    /// The idempotency key of the current round's submission (`referral:<number>:<count>`).
    pub fn submission_key(&self) -> String {
        format!("referral:{}:{}", self.number, self.count)
    }

    /// The idempotency key of the current round's reply (`referral-reply:<number>:<count>`).
    pub fn reply_key(&self) -> String {
        format!("referral-reply:{}:{}", self.number, self.count)
    }
}
