//! MediCloud export: the record is an object with accessors (clinical data stays out of the
//! generated `toString`/`description`).

use crate::app::HomeVisitApp;
use crate::error::{HomeVisitError, guard_async};
use homevisit_core::vpn::MediCloudView;
use std::sync::Arc;

/// A medication the patient received recently (any institution).
#[derive(Clone, uniffi::Record)]
pub struct MediCloudMedication {
    pub drug_code: String,
    pub drug_name: String,
    pub institution: String,
    /// ISO `YYYY-MM-DD` (Taiwan).
    pub dispensed_on: String,
    pub days: u32,
    /// Days left on the server's date of the answer.
    pub remaining_days: u32,
    /// Days left now, counting the copy's age.
    pub remaining_days_now: u32,
}

/// A laboratory result.
#[derive(Clone, uniffi::Record)]
pub struct MediCloudLab {
    pub code: String,
    pub name: String,
    pub value: String,
    pub unit: String,
    pub reference: String,
    /// ISO `YYYY-MM-DD`.
    pub taken_on: String,
}

/// A patient's MediCloud record with its age (an object: nothing of it prints by itself).
#[derive(uniffi::Object)]
pub struct MediCloudRecord {
    view: MediCloudView,
}

#[uniffi::export]
impl MediCloudRecord {
    /// The server's date of the answer, ISO `YYYY-MM-DD`.
    pub fn as_of(&self) -> String {
        self.view.record.as_of.clone()
    }

    /// Age of the copy in ms (0 when just fetched).
    pub fn age_ms(&self) -> i64 {
        self.view.age_ms
    }

    /// The age for people (`just now`, `5 min`, `3 h`, `2 d`).
    pub fn age_text(&self) -> String {
        self.view.age_text()
    }

    /// True when read from the sealed cache (offline, or the VPN could not be reached).
    pub fn from_cache(&self) -> bool {
        self.view.offline
    }

    /// Recent medications, newest first.
    pub fn medications(&self) -> Vec<MediCloudMedication> {
        self.view
            .record
            .medications
            .iter()
            .enumerate()
            .map(|(i, m)| MediCloudMedication {
                drug_code: m.drug_code.clone(),
                drug_name: m.name.clone(),
                institution: m.institution.clone(),
                dispensed_on: m.dispensed_on.clone(),
                days: m.days,
                remaining_days: m.remaining_days,
                remaining_days_now: self.view.remaining_days_now(i).unwrap_or(0),
            })
            .collect()
    }

    /// Recent lab results, newest first.
    pub fn labs(&self) -> Vec<MediCloudLab> {
        self.view
            .record
            .labs
            .iter()
            .map(|l| MediCloudLab {
                code: l.code.clone(),
                name: l.name.clone(),
                value: l.value.clone(),
                unit: l.unit.clone(),
                reference: l.reference.clone(),
                taken_on: l.taken_on.clone(),
            })
            .collect()
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl HomeVisitApp {
    /// The patient's MediCloud record: fresh when online (and cached sealed), else the cached copy
    /// with its age; `Network` when neither exists. Kotlin: `suspend`.
    pub async fn medicloud(&self, national_id: String) -> Result<Arc<MediCloudRecord>, HomeVisitError> {
        let inner = self.inner.clone();
        let view = guard_async(async move { inner.medicloud(&national_id).await }).await?;
        Ok(Arc::new(MediCloudRecord { view }))
    }
}
