//! Fee data per role and care stage, and the monthly claims export (issue 14 items 7 and 8):
//! wrappers over `homevisit_core::app::ClaimsService` and `VisitSession::set_care` /
//! `add_visit_fee`. Claim files hold patient data, so they are Objects with accessors.

use crate::error::{HomeVisitError, guard};
use crate::referrals::{CsvEncoding, CsvFile};
use crate::{HomeVisitApp, VisitSession};
use homevisit_core::app;
use homevisit_core::model as m;
use homevisit_core::referral::csv::CsvExport;
use std::sync::Arc;

/// A care-team member's role (fee codes, case type, department).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Role {
    /// Physician.
    Doctor,
    /// TCM physician (case type `31`).
    TcmDoctor,
    /// Nurse (department `EA`).
    Nurse,
    /// Respiratory therapist (department `AC`).
    RespiratoryTherapist,
    /// Clinical psychologist.
    ClinicalPsychologist,
    /// Social worker.
    SocialWorker,
    /// Pharmacist (case type `E`).
    Pharmacist,
}

impl From<Role> for m::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::Doctor => m::Role::Doctor,
            Role::TcmDoctor => m::Role::TcmDoctor,
            Role::Nurse => m::Role::Nurse,
            Role::RespiratoryTherapist => m::Role::RespiratoryTherapist,
            Role::ClinicalPsychologist => m::Role::ClinicalPsychologist,
            Role::SocialWorker => m::Role::SocialWorker,
            Role::Pharmacist => m::Role::Pharmacist,
        }
    }
}

/// The HMIC care stage of the case (claim case type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CareStage {
    /// Home medical care, `E1`.
    HomeMedical,
    /// Intensive home medical care, `A1`.
    Intensive,
    /// Hospice home care, `A5`.
    Hospice,
}

impl From<CareStage> for m::CareStage {
    fn from(s: CareStage) -> Self {
        match s {
            CareStage::HomeMedical => m::CareStage::HomeMedical,
            CareStage::Intensive => m::CareStage::Intensive,
            CareStage::Hospice => m::CareStage::Hospice,
        }
    }
}

// ── The visit session's role and care stage (a separate export block over `VisitSession`) ──

#[uniffi::export]
impl VisitSession {
    /// Sets the practitioner's role and the case's care stage for this visit.
    pub fn set_care(&self, role: Role, stage: CareStage) -> Result<(), HomeVisitError> {
        guard(|| self.inner.set_care(role.into(), stage.into()))
    }

    /// Adds the visit fee the fee table proposes for the role and stage; returns its code.
    pub fn add_visit_fee(&self, remote: bool) -> Result<String, HomeVisitError> {
        guard(|| self.inner.add_visit_fee(remote))
    }
}

// ── The claims export ──

fn file(c: &CsvExport, encoding: CsvEncoding) -> CsvFile {
    CsvFile {
        bytes: c.bytes.clone(),
        encoding,
        lossy_rows: c.lossy_rows.clone(),
    }
}

/// One practitioner's claim files for a month.
#[derive(uniffi::Object)]
pub struct PractitionerClaims {
    inner: app::PractitionerClaimFiles,
    encoding: CsvEncoding,
}

#[uniffi::export]
impl PractitionerClaims {
    /// The practitioner's national ID.
    pub fn practitioner_id(&self) -> String {
        self.inner.practitioner_id.clone()
    }
    /// Visits in the month.
    pub fn visits(&self) -> u32 {
        self.inner.visits
    }
    /// Emergency visits (marked `ECE`).
    pub fn emergencies(&self) -> u32 {
        self.inner.emergencies
    }
    /// CSV rows (one per order).
    pub fn rows(&self) -> u32 {
        self.inner.rows
    }
    /// The CSV file.
    pub fn csv(&self) -> CsvFile {
        file(&self.inner.csv, self.encoding)
    }
    /// The 2.0 upload XML of the practitioner's visits (Big5 bytes).
    pub fn xml(&self) -> Vec<u8> {
        self.inner.xml.clone()
    }
}

/// A month's claims export.
#[derive(uniffi::Object)]
pub struct ClaimsExport {
    inner: app::ClaimsExport,
    encoding: CsvEncoding,
}

#[uniffi::export]
impl ClaimsExport {
    /// Gregorian year.
    pub fn year(&self) -> i32 {
        self.inner.year
    }
    /// Month 1–12.
    pub fn month(&self) -> u32 {
        self.inner.month
    }
    /// Every practitioner's rows in one CSV.
    pub fn csv(&self) -> CsvFile {
        file(&self.inner.csv, self.encoding)
    }
    /// Per practitioner (by ID).
    pub fn practitioners(&self) -> Vec<Arc<PractitionerClaims>> {
        self.inner
            .practitioners
            .iter()
            .map(|p| {
                Arc::new(PractitionerClaims {
                    inner: p.clone(),
                    encoding: self.encoding,
                })
            })
            .collect()
    }
}

/// The claims export service (see `homevisit_core::app::ClaimsService`).
#[derive(uniffi::Object)]
pub struct ClaimsService {
    inner: app::ClaimsService,
}

#[uniffi::export]
impl ClaimsService {
    /// The claims of `year`-`month` (Taiwan time), per practitioner, CSV in `encoding` + XML.
    pub fn export_month(
        &self,
        year: i32,
        month: u32,
        encoding: CsvEncoding,
    ) -> Result<Arc<ClaimsExport>, HomeVisitError> {
        guard(|| {
            let inner = self.inner.export_month(year, month, encoding.into())?;
            Ok(Arc::new(ClaimsExport { inner, encoding }))
        })
    }
}

#[uniffi::export]
impl HomeVisitApp {
    /// The monthly claims export.
    pub fn claims(&self) -> Arc<ClaimsService> {
        Arc::new(ClaimsService {
            inner: self.inner.claims(),
        })
    }
}
