//! The HMIC case application (居家醫療照護整合計畫個案申請書, domain §4, seed 000 §壹) as the
//! device and the VPN simulator both hold it. Dates are Taiwan calendar days (`NaiveDate`; ROC at
//! the edges). Holds patient data: `Debug` of [`Application`] prints none of it.

use crate::model::care::CareStage;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The application type (申請類別).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ApplicationType {
    /// 申請收案: within 30 days of the enrolment date.
    New,
    /// 申請延長照護: from 30 days before to 30 days after the approved end.
    Extension,
    /// 照護階段轉換: start = application date, the previous application is closed.
    StageChange,
}

impl ApplicationType {
    /// Every type, in a stable order.
    pub const ALL: [ApplicationType; 3] = [
        ApplicationType::New,
        ApplicationType::Extension,
        ApplicationType::StageChange,
    ];
    /// The stable name (stored, sent, used over the FFI).
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationType::New => "new",
            ApplicationType::Extension => "extension",
            ApplicationType::StageChange => "stage_change",
        }
    }
    /// Parses a stable name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// Where an application stands (seed 000 §壹 一 (五)–(七)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CaseState {
    /// 申請: stored, correctable and deletable, not yet sent.
    Draft,
    /// 送件: sent to the NHI, locked (only closing).
    Submitted,
    /// 允許修改: the regional office reopened it; modifiable for 3 days, then locked again.
    Reopened,
    /// 結案.
    Closed,
}

impl CaseState {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Draft => "draft",
            CaseState::Submitted => "submitted",
            CaseState::Reopened => "reopened",
            CaseState::Closed => "closed",
        }
    }
}

/// Disability certificate system (身心障礙類別評估 新制 / 舊制).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisabilitySystem {
    /// 舊制.
    Old,
    /// 新制 (needs the new category and its ICD code).
    New,
}

/// Social-welfare disability status (社會福利身分別).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disability {
    /// 領有身心障礙證明.
    pub holds_certificate: bool,
    /// 障礙類別.
    pub category: String,
    /// 障礙等級.
    pub grade: String,
    /// 新制 / 舊制.
    pub system: Option<DisabilitySystem>,
    /// New system: 障礙類別 (新制).
    pub new_category: String,
    /// New system: ICD 診斷.
    pub new_icd: String,
}

/// Skin damage types (損傷類別, multi-select).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SkinDamage {
    /// 壓傷.
    PressureInjury,
    /// 傷口.
    Wound,
    /// 其他.
    Other,
}

/// Skin condition (皮膚狀況).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skin {
    /// 損傷 (else intact).
    pub damaged: bool,
    /// 損傷類別 (required when damaged).
    pub damage_types: Vec<SkinDamage>,
    /// 部位 (required when damaged).
    pub site: String,
    /// 大小 cm² (required when damaged).
    pub size_cm2: Option<u32>,
    /// 其他 (≤ 10 Chinese characters).
    pub other: String,
}

/// The Barthel index (ADL) popup: ten items, the assessment date (required since 2017).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adl {
    /// 評估日期.
    pub assessed_on: Option<NaiveDate>,
    /// Scores of the ten items in [`ADL_ITEMS`] order.
    pub scores: [u8; 10],
}

/// The ten Barthel items: stable name and allowed scores.
pub const ADL_ITEMS: [(&str, &[u8]); 10] = [
    ("feeding", &[0, 5, 10]),
    ("transfer", &[0, 5, 10, 15]),
    ("grooming", &[0, 5]),
    ("toilet", &[0, 5, 10]),
    ("bathing", &[0, 5]),
    ("mobility", &[0, 5, 10, 15]),
    ("stairs", &[0, 5, 10]),
    ("dressing", &[0, 5, 10]),
    ("bowel", &[0, 5, 10]),
    ("bladder", &[0, 5, 10]),
];

/// Dependency level from the Barthel total (依賴程度).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dependency {
    /// 0–20 完全依賴.
    Total,
    /// 21–60 嚴重依賴.
    Severe,
    /// 61–90 中度依賴.
    Moderate,
    /// 91–99 輕度依賴.
    Mild,
    /// 100 完全獨立.
    Independent,
}

impl Dependency {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dependency::Total => "total",
            Dependency::Severe => "severe",
            Dependency::Moderate => "moderate",
            Dependency::Mild => "mild",
            Dependency::Independent => "independent",
        }
    }
}

/// Options of intake condition 2 (multi-select).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Condition2 {
    /// 失能: ADL < 60.
    AdlBelow60,
    /// 疾病特性致外出就醫不便 (needs a description ≤ 25 Chinese characters).
    DiseaseTrait,
}

/// Intake conditions (收案條件).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intake {
    /// Condition 1 (required): 有明確醫療需求.
    pub condition1: bool,
    /// Condition 2 (required, multi-select).
    pub condition2: Vec<Condition2>,
    /// Condition 2 disease trait description.
    pub disease_trait: String,
    /// Condition 5: 末期病患 (needs at least one terminal symptom).
    pub condition5: bool,
    /// 末期病患主要症狀 (codes of the symptom table).
    pub terminal_symptoms: Vec<String>,
    /// 其他 (≤ 50 Chinese characters).
    pub other: String,
}

/// Hospice fields (required for care stage A5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hospice {
    /// A: pain assessment 0–10.
    pub pain_score: Option<u8>,
    /// B: ECOG 0–4.
    pub ecog: Option<u8>,
    /// C: hospice / DNR consent signed.
    pub consent_signed: bool,
}

/// Free-text "other" answers of the assessment (each with its limit, `rules::hmic::text_limits`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// 住家種類 其他.
    pub home_type_other: String,
    /// 居住狀況.
    pub living_situation: String,
    /// 常用語言.
    pub language: String,
    /// 意識狀態.
    pub consciousness: String,
    /// 呼吸.
    pub breathing: String,
    /// 進食.
    pub eating: String,
    /// 排泄.
    pub excretion: String,
    /// 肌力 (integer, 0–5).
    pub muscle_strength: Option<i64>,
    /// 疾病史.
    pub disease_history: String,
    /// 過敏史.
    pub allergy_history: String,
    /// 其他照護需求評估 (each ≤ 15).
    pub other_needs: Vec<String>,
}

/// A tube change order (更換鼻胃管 / 導尿管 / 氣切管).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TubeOrder {
    /// Frequency: every N days.
    pub every_days: Option<u32>,
    /// 材質 (≤ 10 Chinese characters).
    pub material: String,
    /// 管徑 (Fr).
    pub size_fr: Option<u32>,
}

/// Orders (醫囑): optional fields, at least one complete.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Orders {
    /// 更換鼻胃管.
    pub ng_tube: Option<TubeOrder>,
    /// 更換導尿管.
    pub urinary_catheter: Option<TubeOrder>,
    /// 更換氣切管.
    pub tracheostomy: Option<TubeOrder>,
    /// 疼痛控制 (≤ 50).
    pub pain_control: String,
    /// 其他處置 (≤ 200).
    pub other_treatment: String,
    /// 藥物處方 (≤ 100).
    pub medication: String,
}

impl Orders {
    /// True when nothing is ordered.
    pub fn is_empty(&self) -> bool {
        *self == Orders::default()
    }
}

/// The visit plan (訪視計畫): visits a month per role name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitPlan {
    /// (role stable name, visits a month).
    pub per_month: Vec<(String, u8)>,
}

/// Closing reasons (結案原因), the full list of domain §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClosingReason {
    /// 死亡.
    Death,
    /// 遷居.
    MovedAway,
    /// 病情改善.
    Improved,
    /// 入住長照機構.
    AdmittedToCareInstitution,
    /// 拒絕訪視.
    RefusesVisits,
    /// 住院超過 30 天.
    HospitalisedOver30Days,
    /// 轉由其他院所收案.
    TakenOverByAnotherInstitution,
    /// 照護階段轉換 (the system closes the previous application).
    StageChanged,
    /// 計畫面: 未實質整合照護.
    NoIntegratedCare,
    /// 計畫面: 一年內未完成用藥整合.
    MedicationIntegrationNotDone,
}

impl ClosingReason {
    /// Every reason, in a stable order.
    pub const ALL: [ClosingReason; 10] = [
        ClosingReason::Death,
        ClosingReason::MovedAway,
        ClosingReason::Improved,
        ClosingReason::AdmittedToCareInstitution,
        ClosingReason::RefusesVisits,
        ClosingReason::HospitalisedOver30Days,
        ClosingReason::TakenOverByAnotherInstitution,
        ClosingReason::StageChanged,
        ClosingReason::NoIntegratedCare,
        ClosingReason::MedicationIntegrationNotDone,
    ];
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClosingReason::Death => "death",
            ClosingReason::MovedAway => "moved_away",
            ClosingReason::Improved => "improved",
            ClosingReason::AdmittedToCareInstitution => "admitted_to_care_institution",
            ClosingReason::RefusesVisits => "refuses_visits",
            ClosingReason::HospitalisedOver30Days => "hospitalised_over_30_days",
            ClosingReason::TakenOverByAnotherInstitution => "taken_over_by_another_institution",
            ClosingReason::StageChanged => "stage_changed",
            ClosingReason::NoIntegratedCare => "no_integrated_care",
            ClosingReason::MedicationIntegrationNotDone => "medication_integration_not_done",
        }
    }
    /// Parses a stable name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// Closing (結案): date and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closing {
    /// 結案日期.
    pub date: NaiveDate,
    /// 結案原因.
    pub reason: ClosingReason,
}

/// The patient's identity on the application.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patient {
    /// National ID (upper case, check digit verified).
    pub national_id: String,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// Name.
    pub name: String,
    /// `M` / `F`, filled from the ID.
    pub sex: String,
}

/// One case application.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    /// Id (UUIDv7 made by the device; the NHI's key too).
    pub id: String,
    /// Version (1 at creation; +1 at each correction after a rejection or reopening).
    pub version: u32,
    /// The enrolling institution (10 digits).
    pub institution: String,
    /// Care team code (`HM` + 8 digits).
    pub care_team: String,
    /// 申請類別.
    pub kind: ApplicationType,
    /// The application this one extends or changes the stage of.
    pub previous_id: Option<String>,
    /// Patient.
    pub patient: Patient,
    /// 醫事機構收案日期.
    pub enrolment_date: NaiveDate,
    /// 申請日.
    pub application_date: NaiveDate,
    /// 受理日 (= the submission date; set by the submission).
    pub acceptance_date: Option<NaiveDate>,
    /// 核定起日.
    pub start_date: NaiveDate,
    /// 照護期間 in months (1–24).
    pub care_months: u32,
    /// 照護階段.
    pub care_stage: Option<CareStage>,
    /// Disability status.
    pub disability: Disability,
    /// Skin.
    pub skin: Skin,
    /// ADL.
    pub adl: Option<Adl>,
    /// Assessment texts.
    pub assessment: Assessment,
    /// Intake conditions.
    pub intake: Intake,
    /// Hospice fields.
    pub hospice: Hospice,
    /// ICD-10-CM diagnoses, upper case without the dot.
    pub diagnoses: Vec<String>,
    /// Orders.
    pub orders: Orders,
    /// Visit plan.
    pub visit_plan: VisitPlan,
    /// 醫囑醫師 (practitioner ID).
    pub ordering_doctor: String,
    /// State.
    pub state: CaseState,
    /// When the office reopened it (Unix ms).
    pub reopened_at_ms: Option<i64>,
    /// Closing, once closed.
    pub closing: Option<Closing>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("kind", &self.kind)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Patient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Patient(<redacted>)")
    }
}

impl Application {
    /// The approved end date: start + care months − 1 day.
    pub fn end_date(&self) -> NaiveDate {
        self.start_date
            .checked_add_months(chrono::Months::new(self.care_months))
            .and_then(|d| d.pred_opt())
            .unwrap_or(self.start_date)
    }

    /// The outbox idempotency key of this version's submission.
    pub fn submission_key(&self) -> String {
        format!("hmic:{}:{}", self.id, self.version)
    }

    /// The outbox idempotency key of its closing.
    pub fn closing_key(&self) -> String {
        format!("hmic-close:{}", self.id)
    }
}
