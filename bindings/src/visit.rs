//! The visit session a UI drives step by step, and the connectivity/enrolment it depends on.
//! Wrappers over `homevisit_core::app::VisitSession`.

use crate::app::HomeVisitApp;
use crate::error::HomeVisitError;
use crate::readers::{guard, task};
use crate::records::VisitSummary;
use homevisit_core::{app, model};
use std::sync::Arc;

macro_rules! mirror_enum {
    ($(#[$m:meta])* $name:ident => $core:path { $($(#[$vm:meta])* $v:ident),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
        pub enum $name { $($(#[$vm])* $v),+ }
        impl From<$core> for $name {
            fn from(x: $core) -> Self { match x { $(<$core>::$v => Self::$v),+ } }
        }
        impl From<$name> for $core {
            fn from(x: $name) -> Self { match x { $($name::$v => <$core>::$v),+ } }
        }
    };
}

mirror_enum! {
    /// Visit type (M07): `WesternOutpatient` is `01`, `HomeCareFollowUp` is `AH`, and so on.
    VisitType => model::VisitType {
        WesternOutpatient, Dental, ChineseMedicine, Emergency, Inpatient, Referral, PostOperative,
        PostDischarge, TreatmentCourseAa, TreatmentCourseAb, PreventiveCare, Ad, ChronicRefill,
        PharmacyDispensing, Ag, HomeCareFollowUp, Ai, CancelZa, CancelZb,
    }
}

mirror_enum! {
    /// Sex as printed on the card.
    Sex => model::Sex { Male, Female }
}

mirror_enum! {
    /// Drug or treatment.
    OrderKind => model::OrderKind { Drug, Treatment }
}

/// The patient as the screen shows them (masked fields only).
#[derive(Debug, Clone, uniffi::Record)]
pub struct PatientView {
    pub name_masked: String,
    pub national_id_masked: String,
    pub birth_year: i32,
    pub sex: Sex,
}

/// One order line of the visit.
#[derive(Debug, Clone, uniffi::Record)]
pub struct OrderLine {
    pub kind: OrderKind,
    pub code: String,
    pub dose: String,
    pub frequency: String,
    pub route: String,
    pub days: u16,
    pub total: f64,
}

/// What has been recorded so far.
#[derive(Debug, Clone, uniffi::Record)]
pub struct VisitDraft {
    /// Proposed: `WesternOutpatient` (01) for a first visit, `HomeCareFollowUp` (AH) for later ones.
    pub visit_type: VisitType,
    pub follow_up: bool,
    pub diagnoses: Vec<String>,
    pub orders: Vec<OrderLine>,
    pub note: String,
    pub fee_points: u32,
    pub copayment: u32,
    /// A card-less visit: what the patient paid out of pocket (NT$), once recorded.
    pub out_of_pocket: Option<u32>,
    /// The emergency marking, when the visit is marked as one.
    pub emergency: Option<crate::emergency::EmergencyMarking>,
}

/// One visit in progress; close it to abandon the visit.
#[derive(uniffi::Object)]
pub struct VisitSession {
    pub(crate) inner: Arc<app::VisitSession>,
}

#[uniffi::export(async_runtime = "tokio")]
impl VisitSession {
    /// The patient, masked.
    pub fn patient(&self) -> Result<PatientView, HomeVisitError> {
        let p = guard(|| Ok(self.inner.patient()))?;
        Ok(PatientView {
            name_masked: p.name_masked,
            national_id_masked: p.national_id_masked,
            birth_year: p.birth_year,
            sex: p.sex.into(),
        })
    }

    /// What has been recorded so far.
    pub fn draft(&self) -> Result<VisitDraft, HomeVisitError> {
        let d = guard(|| Ok(self.inner.draft()))?;
        Ok(VisitDraft {
            visit_type: d.visit_type.into(),
            follow_up: d.follow_up,
            diagnoses: d.diagnoses,
            orders: d
                .orders
                .into_iter()
                .map(|o| OrderLine {
                    kind: o.kind.into(),
                    code: o.code,
                    dose: o.dose,
                    frequency: o.frequency,
                    route: o.route,
                    days: o.days,
                    total: o.total,
                })
                .collect(),
            note: d.note,
            fee_points: d.fee_points,
            copayment: d.copayment,
            out_of_pocket: d.out_of_pocket,
            emergency: d.emergency.map(Into::into),
        })
    }

    /// Overrides the proposed visit type.
    pub fn set_visit_type(&self, visit_type: VisitType) -> Result<(), HomeVisitError> {
        guard(|| self.inner.set_visit_type(visit_type.into()))
    }

    /// Adds an ICD-10-CM diagnosis (checked); returns it normalised.
    pub fn add_diagnosis(&self, code: String) -> Result<String, HomeVisitError> {
        guard(|| self.inner.add_diagnosis(&code))
    }

    /// Removes a diagnosis.
    pub fn remove_diagnosis(&self, code: String) -> Result<(), HomeVisitError> {
        guard(|| {
            self.inner.remove_diagnosis(&code);
            Ok(())
        })
    }

    /// Adds a drug order (checked as a prescription line).
    pub fn add_drug_order(
        &self,
        drug_code: String,
        dose: String,
        frequency: String,
        route: String,
        days: u16,
    ) -> Result<(), HomeVisitError> {
        guard(|| {
            self.inner
                .add_drug_order(&drug_code, &dose, &frequency, &route, days)
        })
    }

    /// Adds every line of a downloaded order set; returns how many orders were added.
    pub fn add_order_set(&self, set_id: String) -> Result<u32, HomeVisitError> {
        guard(|| self.inner.add_order_set(&set_id))
    }

    /// Removes the orders with `code`.
    pub fn remove_order(&self, code: String) -> Result<(), HomeVisitError> {
        guard(|| {
            self.inner.remove_order(&code);
            Ok(())
        })
    }

    /// Sets the note.
    pub fn set_note(&self, note: String) -> Result<(), HomeVisitError> {
        guard(|| self.inner.set_note(&note))
    }

    /// Sets the medical fee (points) and the copayment (NT$).
    pub fn set_fees(&self, fee_points: u32, copayment: u32) -> Result<(), HomeVisitError> {
        guard(|| self.inner.set_fees(fee_points, copayment))
    }

    /// Finishes the visit under the caller's `request_id`: online with the card written, or
    /// offline on the abnormal path; one commit. The same id again returns the same visit.
    pub async fn finish(&self, request_id: String) -> Result<VisitSummary, HomeVisitError> {
        let inner = self.inner.clone();
        Ok(task(async move { inner.finish(&request_id).await }).await?.into())
    }
}

/// What `reconcileVisits` did: visits a crash left on the card only, committed now, and the
/// patient's plans still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct ReconcileReport {
    pub committed: u32,
    pub open: u32,
}

impl From<app::ReconcileReport> for ReconcileReport {
    fn from(r: app::ReconcileReport) -> Self {
        Self {
            committed: r.committed,
            open: r.open,
        }
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl HomeVisitApp {
    /// Finishes the visits a crash left on the card in the reader but not in the store (each
    /// once, with its one upload); also runs at every `beginVisit`. Call it when the reader is
    /// back (start-up, reconnect). Kotlin: `suspend`.
    pub async fn reconcile_visits(&self) -> Result<ReconcileReport, HomeVisitError> {
        let app = self.inner.clone();
        Ok(task(async move { app.reconcile_visits().await }).await?.into())
    }

    /// Starts a visit: reads the patient card and proposes the visit type (PIN verified first).
    pub async fn begin_visit(&self) -> Result<Arc<VisitSession>, HomeVisitError> {
        let app = self.inner.clone();
        let session = task(async move { app.begin_visit().await }).await?;
        Ok(Arc::new(VisitSession {
            inner: Arc::new(session),
        }))
    }
}
