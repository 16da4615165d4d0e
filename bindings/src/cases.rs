//! HMIC case applications: `HomeVisitApp.cases()` → [`CaseService`]. Thin wrappers over
//! `homevisit_core::app::CaseService`; every rule, parse and mask is the core's. The form and
//! the case carry patient data, so they are objects with accessors ([`CaseForm`], [`Case`],
//! [`CaseQuery`], [`CaseBatchFile`]); query rows handed out carry masked fields only.

use crate::app::HomeVisitApp;
use crate::error::{HomeVisitError, guard, guard_async};
use crate::referrals::{CsvEncoding, CsvFile};
use homevisit_core::app::{self as core_app, CaseRecord};
use homevisit_core::hmic::model as m;
use homevisit_core::hmic::wire::QueryRow;
use homevisit_core::model::care::CareStage;
use homevisit_core::model::roc::RocDate;
use homevisit_core::rules::hmic::assessment;
use homevisit_core::rules::hmic::enrolment::Verdict;
use std::sync::{Arc, Mutex};

/// The application type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CaseKind {
    /// 申請收案.
    New,
    /// 申請延長照護.
    Extension,
    /// 照護階段轉換.
    StageChange,
}

impl From<m::ApplicationType> for CaseKind {
    fn from(k: m::ApplicationType) -> Self {
        match k {
            m::ApplicationType::New => Self::New,
            m::ApplicationType::Extension => Self::Extension,
            m::ApplicationType::StageChange => Self::StageChange,
        }
    }
}

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CaseState {
    /// Draft (correct, delete, submit).
    Draft,
    /// Submitted, locked.
    Submitted,
    /// Reopened by the office (modifiable for 3 days).
    Reopened,
    /// Closed.
    Closed,
}

impl From<m::CaseState> for CaseState {
    fn from(s: m::CaseState) -> Self {
        match s {
            m::CaseState::Draft => Self::Draft,
            m::CaseState::Submitted => Self::Submitted,
            m::CaseState::Reopened => Self::Reopened,
            m::CaseState::Closed => Self::Closed,
        }
    }
}

/// Closing reasons (the full list of domain §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CaseClosingReason {
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
    /// 照護階段轉換.
    StageChanged,
    /// 未實質整合照護.
    NoIntegratedCare,
    /// 一年內未完成用藥整合.
    MedicationIntegrationNotDone,
}

impl From<CaseClosingReason> for m::ClosingReason {
    fn from(r: CaseClosingReason) -> Self {
        use CaseClosingReason as C;
        match r {
            C::Death => Self::Death,
            C::MovedAway => Self::MovedAway,
            C::Improved => Self::Improved,
            C::AdmittedToCareInstitution => Self::AdmittedToCareInstitution,
            C::RefusesVisits => Self::RefusesVisits,
            C::HospitalisedOver30Days => Self::HospitalisedOver30Days,
            C::TakenOverByAnotherInstitution => Self::TakenOverByAnotherInstitution,
            C::StageChanged => Self::StageChanged,
            C::NoIntegratedCare => Self::NoIntegratedCare,
            C::MedicationIntegrationNotDone => Self::MedicationIntegrationNotDone,
        }
    }
}

/// A tube change order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CaseTube {
    /// 更換鼻胃管.
    NgTube,
    /// 更換導尿管.
    UrinaryCatheter,
    /// 更換氣切管.
    Tracheostomy,
}

/// Options of intake condition 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CaseIntakeOption {
    /// ADL below 60.
    AdlBelow60,
    /// A disease trait that makes going out hard (described).
    DiseaseTrait,
}

/// What the duplicate-enrolment check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CaseVerdict {
    /// Free to enrol.
    Free,
    /// This institution's own open case.
    Own,
    /// Another institution of the same team has the case: read-only.
    SameTeam,
}

/// The check's answer.
#[derive(uniffi::Record)]
pub struct CaseEnrolmentCheck {
    /// The verdict.
    pub verdict: CaseVerdict,
    /// The case (own, or the same team's read-only one).
    pub case: Option<Arc<Case>>,
}

fn roc<D: TryInto<RocDate>>(d: D) -> String {
    d.try_into()
        .map(|d: RocDate| d.to_roc_string())
        .unwrap_or_default()
}

/// An application form being filled (patient data: accessors only, no generated `toString`).
#[derive(uniffi::Object)]
pub struct CaseForm {
    app: Mutex<m::Application>,
}

impl CaseForm {
    fn new(app: m::Application) -> Arc<Self> {
        Arc::new(Self { app: Mutex::new(app) })
    }
    fn with<T>(&self, f: impl FnOnce(&mut m::Application) -> T) -> T {
        f(&mut self.app.lock().unwrap_or_else(|p| p.into_inner()))
    }
    fn snapshot(&self) -> m::Application {
        self.with(|a| a.clone())
    }
}

#[uniffi::export]
impl CaseForm {
    /// Patient national ID.
    pub fn national_id(&self) -> String {
        self.with(|a| a.patient.national_id.clone())
    }
    /// Patient name.
    pub fn name(&self) -> String {
        self.with(|a| a.patient.name.clone())
    }
    /// Sex from the ID (`M` / `F`).
    pub fn sex(&self) -> String {
        self.with(|a| a.patient.sex.clone())
    }
    /// Application date, ROC `YYYMMDD`.
    pub fn application_date(&self) -> String {
        self.with(|a| roc(a.application_date))
    }
    /// Enrolment date, ROC `YYYMMDD`.
    pub fn enrolment_date(&self) -> String {
        self.with(|a| roc(a.enrolment_date))
    }
    /// Care stage code (`E1`, `A1`, `A5`), empty when cleared.
    pub fn care_stage(&self) -> String {
        self.with(|a| a.care_stage.map(|s| s.code().to_string()).unwrap_or_default())
    }
    /// Diagnoses (upper case without the dot).
    pub fn diagnoses(&self) -> Vec<String> {
        self.with(|a| a.diagnoses.clone())
    }
    /// ADL total (computed), if assessed.
    pub fn adl_total(&self) -> Option<u32> {
        self.with(|a| a.adl.as_ref().map(assessment::adl_total))
    }
    /// Dependency level name (computed), if assessed.
    pub fn dependency(&self) -> Option<String> {
        self.with(|a| {
            a.adl.as_ref().map(|x| {
                assessment::dependency(assessment::adl_total(x))
                    .as_str()
                    .to_string()
            })
        })
    }
    /// Whether any order is filled.
    pub fn has_orders(&self) -> bool {
        self.with(|a| !a.orders.is_empty())
    }
    /// Sets the patient (national ID, birth date ROC `YYYMMDD`); the service fills the sex from the ID.
    pub fn set_patient(&self, national_id: String, birth_date: String) -> Result<(), HomeVisitError> {
        guard(|| {
            let birth = core_app::case_date("patient.birth_date", &birth_date)?;
            self.with(|a| {
                a.patient.national_id = national_id.trim().to_ascii_uppercase();
                a.patient.birth_date = Some(birth);
            });
            Ok(())
        })
    }
    /// Sets the patient's name.
    pub fn set_name(&self, name: String) {
        self.with(|a| a.patient.name = name.trim().to_string());
    }
    /// Sets the application date (ROC `YYYMMDD`; editable).
    pub fn set_application_date(&self, date: String) -> Result<(), HomeVisitError> {
        guard(|| {
            let d = core_app::case_date("application_date", &date)?;
            self.with(|a| a.application_date = d);
            Ok(())
        })
    }
    /// Sets the enrolment date (ROC `YYYMMDD`; new enrolments only — the service keeps the
    /// original for the others).
    pub fn set_enrolment_date(&self, date: String) -> Result<(), HomeVisitError> {
        guard(|| {
            let d = core_app::case_date("enrolment_date", &date)?;
            self.with(|a| a.enrolment_date = d);
            Ok(())
        })
    }
    /// Sets the care period in months (1–24; above 12 warns).
    pub fn set_care_months(&self, months: u32) {
        self.with(|a| a.care_months = months);
    }
    /// Sets the care stage (`E1`, `A1`, `A5`).
    pub fn set_care_stage(&self, code: String) -> Result<(), HomeVisitError> {
        guard(|| {
            let s = CareStage::parse(code.trim()).map_err(|e| core_app::AppError::Validation {
                field: e.field.into(),
                reason: e.reason.into(),
            })?;
            self.with(|a| a.care_stage = Some(s));
            Ok(())
        })
    }
    /// Sets the hospice fields (required for `A5`).
    pub fn set_hospice(&self, pain_score: Option<u8>, ecog: Option<u8>, consent_signed: bool) {
        self.with(|a| {
            a.hospice = m::Hospice {
                pain_score,
                ecog,
                consent_signed,
            }
        });
    }
    /// Sets the ADL popup: assessment date (ROC `YYYMMDD`) and the ten scores.
    pub fn set_adl(&self, assessed_on: String, scores: Vec<u8>) -> Result<(), HomeVisitError> {
        guard(|| {
            let adl = core_app::adl_input(&assessed_on, &scores)?;
            self.with(|a| a.adl = Some(adl));
            Ok(())
        })
    }
    /// Sets the muscle strength as typed (an integer 0–5, or empty).
    pub fn set_muscle_strength(&self, text: String) -> Result<(), HomeVisitError> {
        guard(|| {
            let v = core_app::muscle_strength_input(&text)?;
            self.with(|a| a.assessment.muscle_strength = v);
            Ok(())
        })
    }
    /// Sets the intake conditions.
    pub fn set_intake(
        &self,
        condition1: bool,
        condition2: Vec<CaseIntakeOption>,
        disease_trait: String,
        condition5: bool,
        terminal_symptoms: Vec<String>,
    ) {
        self.with(|a| {
            a.intake = m::Intake {
                condition1,
                condition2: condition2
                    .into_iter()
                    .map(|o| match o {
                        CaseIntakeOption::AdlBelow60 => m::Condition2::AdlBelow60,
                        CaseIntakeOption::DiseaseTrait => m::Condition2::DiseaseTrait,
                    })
                    .collect(),
                disease_trait,
                condition5,
                terminal_symptoms,
                other: a.intake.other.clone(),
            }
        });
    }
    /// Sets the diagnoses as typed (normalised by the service: upper case, no dot).
    pub fn set_diagnoses(&self, codes: Vec<String>) {
        self.with(|a| a.diagnoses = codes);
    }
    /// Sets a tube change order (frequency in days, material, size in Fr).
    pub fn set_tube_order(
        &self,
        tube: CaseTube,
        every_days: Option<u32>,
        material: String,
        size_fr: Option<u32>,
    ) {
        let t = Some(m::TubeOrder {
            every_days,
            material,
            size_fr,
        });
        self.with(|a| match tube {
            CaseTube::NgTube => a.orders.ng_tube = t,
            CaseTube::UrinaryCatheter => a.orders.urinary_catheter = t,
            CaseTube::Tracheostomy => a.orders.tracheostomy = t,
        });
    }
    /// Sets the text orders (pain control, other treatment, medication).
    pub fn set_text_orders(&self, pain_control: String, other_treatment: String, medication: String) {
        self.with(|a| {
            a.orders.pain_control = pain_control;
            a.orders.other_treatment = other_treatment;
            a.orders.medication = medication;
        });
    }
    /// Sets the disease history (≤ 500 Chinese characters).
    pub fn set_disease_history(&self, text: String) {
        self.with(|a| a.assessment.disease_history = text);
    }
}

/// One application as the device holds it (patient data: accessors only).
#[derive(uniffi::Object)]
pub struct Case {
    inner: CaseRecord,
}

fn wrap(c: CaseRecord) -> Arc<Case> {
    Arc::new(Case { inner: c })
}

#[uniffi::export]
impl Case {
    /// Id.
    pub fn id(&self) -> String {
        self.inner.application.id.clone()
    }
    /// Version.
    pub fn version(&self) -> u32 {
        self.inner.application.version
    }
    /// Type.
    pub fn kind(&self) -> CaseKind {
        self.inner.application.kind.into()
    }
    /// State as stored (see `CaseService.state_of` for the re-lock).
    pub fn state(&self) -> CaseState {
        self.inner.application.state.into()
    }
    /// Another institution's case of the same team: read-only.
    pub fn read_only(&self) -> bool {
        self.inner.read_only
    }
    /// Acceptance date (ROC), once submitted.
    pub fn acceptance_date(&self) -> Option<String> {
        self.inner.application.acceptance_date.map(roc)
    }
    /// Approved start (ROC).
    pub fn start_date(&self) -> String {
        roc(self.inner.application.start_date)
    }
    /// Approved end (ROC).
    pub fn end_date(&self) -> String {
        roc(self.inner.application.end_date())
    }
    /// Closing reason name, once closed.
    pub fn closing_reason(&self) -> Option<String> {
        self.inner
            .application
            .closing
            .map(|c| c.reason.as_str().to_string())
    }
    /// The outbox job of its current submission.
    pub fn job_id(&self) -> Option<String> {
        self.inner.job_id.clone()
    }
    /// National ID as lists show it.
    pub fn national_id_masked(&self) -> String {
        self.inner.masked_id()
    }
    /// Name as lists show it.
    pub fn patient_name_masked(&self) -> String {
        self.inner.masked_name()
    }
    /// A form holding a copy of the application (to correct it).
    pub fn form(&self) -> Arc<CaseForm> {
        CaseForm::new(self.inner.application.clone())
    }
}

/// A created or corrected case with the rules' warnings.
#[derive(uniffi::Record)]
pub struct CaseSaved {
    /// The case.
    pub case: Arc<Case>,
    /// Warning rule names (e.g. `care_period_warn_above_12_months`).
    pub warnings: Vec<String>,
}

/// A query row as lists show it (masked).
#[derive(Debug, Clone, uniffi::Record)]
pub struct CaseQueryRow {
    /// Application id.
    pub id: String,
    /// Institution.
    pub institution: String,
    /// Care team.
    pub care_team: String,
    /// Type name.
    pub kind: String,
    /// State name.
    pub state: String,
    /// National ID (masked).
    pub national_id_masked: String,
    /// Application date (ROC).
    pub application_date: String,
    /// Care stage code.
    pub care_stage: String,
}

/// The NHI's answer to a query (rows with patient data stay inside; export them as CSV).
#[derive(uniffi::Object)]
pub struct CaseQuery {
    rows: Vec<QueryRow>,
    service: Arc<core_app::CaseService>,
}

#[uniffi::export]
impl CaseQuery {
    /// The rows, masked.
    pub fn rows(&self) -> Vec<CaseQueryRow> {
        self.rows
            .iter()
            .map(|r| CaseQueryRow {
                id: r.id.clone(),
                institution: r.institution.clone(),
                care_team: r.care_team.clone(),
                kind: r.kind.clone(),
                state: r.state.clone(),
                national_id_masked: r.masked_id(),
                application_date: roc(r.application_date),
                care_stage: r.care_stage.clone(),
            })
            .collect()
    }
    /// The rows as a CSV file.
    pub fn export_csv(&self, encoding: CsvEncoding) -> CsvFile {
        let out = self.service.export_csv(&self.rows, encoding.into());
        CsvFile {
            bytes: out.bytes,
            encoding,
            lossy_rows: out.lossy_rows,
        }
    }
}

/// A batch upload file (its XML holds patient data).
#[derive(uniffi::Object)]
pub struct CaseBatchFile {
    name: String,
    xml: String,
}

#[uniffi::export]
impl CaseBatchFile {
    /// `HMIC` + institution + ROC `YYYMM` + serial + `.XML`.
    pub fn name(&self) -> String {
        self.name.clone()
    }
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.xml.len() as u64
    }
}

/// The HMIC case service.
#[derive(uniffi::Object)]
pub struct CaseService {
    inner: Arc<core_app::CaseService>,
}

#[uniffi::export]
impl HomeVisitApp {
    /// The HMIC case application service.
    pub fn cases(&self) -> Arc<CaseService> {
        Arc::new(CaseService {
            inner: self.inner.cases(),
        })
    }
}

fn saved((c, w): (CaseRecord, Vec<homevisit_core::rules::hmic::Warning>)) -> CaseSaved {
    CaseSaved {
        case: wrap(c),
        warnings: w.into_iter().map(|w| w.rule.to_string()).collect(),
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl CaseService {
    /// 清除: an empty form for the patient (sex from the ID; dates today).
    pub fn blank(
        &self,
        national_id: String,
        birth_date: String,
        care_team: String,
    ) -> Result<Arc<CaseForm>, HomeVisitError> {
        guard(|| {
            let birth = core_app::case_date("patient.birth_date", &birth_date)?;
            Ok(CaseForm::new(self.inner.blank(
                &national_id,
                birth,
                &care_team,
            )?))
        })
    }
    /// 申請: a new enrolment, every rule checked; kept as a draft (offline).
    pub fn create(&self, form: Arc<CaseForm>) -> Result<CaseSaved, HomeVisitError> {
        guard(|| Ok(saved(self.inner.create(form.snapshot())?)))
    }
    /// Corrects a draft (or a reopened application).
    pub fn correct(&self, id: String, form: Arc<CaseForm>) -> Result<CaseSaved, HomeVisitError> {
        guard(|| Ok(saved(self.inner.correct(&id, form.snapshot())?)))
    }
    /// Deletes a draft.
    pub fn delete(&self, id: String) -> Result<(), HomeVisitError> {
        guard(|| self.inner.delete(&id))
    }
    /// One case.
    pub fn get(&self, id: String) -> Result<Arc<Case>, HomeVisitError> {
        guard(|| Ok(wrap(self.inner.get(&id)?)))
    }
    /// Every case on this device.
    pub fn list(&self) -> Result<Vec<Arc<Case>>, HomeVisitError> {
        guard(|| Ok(self.inner.list()?.into_iter().map(wrap).collect()))
    }
    /// 最新一筆查詢.
    pub fn latest(
        &self,
        national_id: String,
        birth_date: String,
    ) -> Result<Option<Arc<Case>>, HomeVisitError> {
        guard(|| {
            let birth = core_app::case_date("patient.birth_date", &birth_date)?;
            Ok(self.inner.latest(&national_id, birth)?.map(wrap))
        })
    }
    /// 送件 (queued; acceptance date = today).
    pub fn submit(&self, id: String) -> Result<Arc<Case>, HomeVisitError> {
        guard(|| Ok(wrap(self.inner.submit(&id)?)))
    }
    /// 申請延長照護 (application date ROC, default today).
    pub fn extend(
        &self,
        previous_id: String,
        application_date: Option<String>,
    ) -> Result<Arc<Case>, HomeVisitError> {
        guard(|| {
            let d = match application_date.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(t) => Some(core_app::case_date("application_date", t)?),
            };
            Ok(wrap(self.inner.extend(&previous_id, d)?))
        })
    }
    /// 照護階段轉換 (application date ROC, default today).
    pub fn change_stage(
        &self,
        previous_id: String,
        application_date: Option<String>,
    ) -> Result<Arc<Case>, HomeVisitError> {
        guard(|| {
            let d = match application_date.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(t) => Some(core_app::case_date("application_date", t)?),
            };
            Ok(wrap(self.inner.change_stage(&previous_id, d)?))
        })
    }
    /// 結案 with date (ROC) and reason (queued).
    pub fn close(
        &self,
        id: String,
        date: String,
        reason: CaseClosingReason,
    ) -> Result<Arc<Case>, HomeVisitError> {
        guard(|| {
            let d = core_app::case_date("closing.date", &date)?;
            Ok(wrap(self.inner.close(&id, d, reason.into())?))
        })
    }
    /// Corrects the case of a rejected submission job and re-queues it; the new job's id.
    pub fn correct_rejected(&self, job_id: String, form: Arc<CaseForm>) -> Result<String, HomeVisitError> {
        guard(|| self.inner.correct_rejected(&job_id, form.snapshot()))
    }
    /// The current submission's outbox state name.
    pub fn delivery(&self, id: String) -> Result<Option<String>, HomeVisitError> {
        guard(|| self.inner.delivery(&id))
    }
    /// The state now (a reopened case re-locks after 3 days).
    pub fn state_of(&self, id: String) -> Result<CaseState, HomeVisitError> {
        guard(|| Ok(self.inner.state_of(&id)?.into()))
    }
    /// The batch file of cases `ids` (its name is never repeated).
    pub fn batch_file(&self, ids: Vec<String>) -> Result<Arc<CaseBatchFile>, HomeVisitError> {
        guard(|| {
            let (name, xml) = self.inner.batch_file(&ids)?;
            Ok(Arc::new(CaseBatchFile { name, xml }))
        })
    }
    /// Online: the duplicate-enrolment check.
    pub async fn check_enrolment(
        &self,
        national_id: String,
        birth_date: String,
        care_team: String,
    ) -> Result<CaseEnrolmentCheck, HomeVisitError> {
        let inner = self.inner.clone();
        guard_async(async move {
            let birth = core_app::case_date("patient.birth_date", &birth_date)?;
            let c = inner.check_enrolment(&national_id, birth, &care_team).await?;
            Ok(CaseEnrolmentCheck {
                verdict: match c.verdict {
                    Verdict::Free => CaseVerdict::Free,
                    Verdict::Own { .. } => CaseVerdict::Own,
                    Verdict::SameTeam { .. } => CaseVerdict::SameTeam,
                },
                case: c.case.map(wrap),
            })
        })
        .await
    }
    /// Online: the NHI's copy (reopening, closings); how many cases changed.
    pub async fn refresh(&self) -> Result<u32, HomeVisitError> {
        let inner = self.inner.clone();
        guard_async(async move { inner.refresh().await }).await
    }
    /// Online: the query by application date range (ROC) and optionally an own care team.
    pub async fn query(
        &self,
        from: String,
        to: String,
        care_team: Option<String>,
    ) -> Result<Arc<CaseQuery>, HomeVisitError> {
        let inner = self.inner.clone();
        guard_async(async move {
            let from = core_app::case_date("from", &from)?;
            let to = core_app::case_date("to", &to)?;
            let rows = inner.query(from, to, care_team.as_deref()).await?;
            Ok(Arc::new(CaseQuery { rows, service: inner }))
        })
        .await
    }
    /// Online: uploads a batch file; the number of records accepted.
    pub async fn upload_batch(&self, file: Arc<CaseBatchFile>) -> Result<u32, HomeVisitError> {
        let inner = self.inner.clone();
        guard_async(async move { Ok(inner.upload_batch(&file.name, &file.xml).await?.records) }).await
    }
}
