//! Card-less visits with their card replacement, and emergency home visits: wrappers over
//! `homevisit_core::app::{CardLessService, VisitSession::set_emergency, HomeVisit::emergency_*}`.

use crate::app::HomeVisitApp;
use crate::error::HomeVisitError;
use crate::readers::{guard, task};
use crate::records::VisitSummary;
use crate::sync::DeadlineReport;
use crate::visit::VisitSession;
use homevisit_core::{app, model};
use std::sync::Arc;

/// An emergency visit's marking: indications, arrival and end (Unix ms, counted to the minute),
/// the surcharge bracket (`none`, `night`, `late_night`, `holiday`, `night_holiday`,
/// `late_night_holiday`), its percent, whether it is payable (one per doctor per patient per
/// Taiwan day, decided at finish) and the claim mark `ECE`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EmergencyMarking {
    pub indications: Vec<String>,
    pub arrival_unix_ms: i64,
    pub end_unix_ms: i64,
    pub bracket: String,
    pub surcharge_percent: u32,
    pub payable: bool,
    pub claim_mark: String,
}

impl From<model::EmergencyRecord> for EmergencyMarking {
    fn from(e: model::EmergencyRecord) -> Self {
        let claim_mark = app::claim_mark(Some(&e)).unwrap_or_default().to_string();
        Self {
            indications: e.indications,
            arrival_unix_ms: e.arrival_ms,
            end_unix_ms: e.end_ms,
            bracket: e.bracket,
            surcharge_percent: e.surcharge_percent,
            payable: e.payable,
            claim_mark,
        }
    }
}

/// Where a card-less visit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CardLessState {
    /// Waiting for the card, within its 10 working days.
    Pending,
    /// The card was brought; the replacement visit is committed.
    Replaced,
    /// The 10 working days passed; the visit stays out of pocket.
    Expired,
}

impl From<app::CardLessState> for CardLessState {
    fn from(s: app::CardLessState) -> Self {
        match s {
            app::CardLessState::Pending => Self::Pending,
            app::CardLessState::Replaced => Self::Replaced,
            app::CardLessState::Expired => Self::Expired,
        }
    }
}

/// A card-less visit as a list shows it (masked patient fields only; `deadline` an ISO date, null
/// when the holiday calendar does not cover it).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CardLessVisit {
    pub visit_id: String,
    pub visit_code: String,
    pub visited_at_unix_ms: i64,
    pub patient_name_masked: String,
    pub national_id_masked: String,
    pub paid: u32,
    pub deadline: Option<String>,
    pub state: CardLessState,
    pub replaced_by: Option<String>,
    pub refund_points: Option<u32>,
}

impl From<app::CardLessView> for CardLessVisit {
    fn from(v: app::CardLessView) -> Self {
        Self {
            visit_id: v.visit_id,
            visit_code: v.visit_code,
            visited_at_unix_ms: v.visited_at.timestamp_millis(),
            patient_name_masked: v.patient_name_masked,
            national_id_masked: v.national_id_masked,
            paid: v.paid,
            deadline: v.deadline,
            state: v.state.into(),
            replaced_by: v.replaced_by,
            refund_points: v.refund_points,
        }
    }
}

/// The card-less visits and their card replacement.
#[derive(uniffi::Object)]
pub struct CardLessService {
    inner: Arc<app::CardLessService>,
}

#[uniffi::export(async_runtime = "tokio")]
impl CardLessService {
    /// Every card-less visit, oldest first.
    pub fn list(&self) -> Result<Vec<CardLessVisit>, HomeVisitError> {
        Ok(guard(|| self.inner.list())?.into_iter().map(Into::into).collect())
    }

    /// One card-less visit.
    pub fn get(&self, visit_id: String) -> Result<CardLessVisit, HomeVisitError> {
        Ok(guard(|| self.inner.get(&visit_id))?.into())
    }

    /// The card was brought: within 10 working days (else `ReplacementTooLate`; a year the
    /// calendar does not cover: `CalendarNotCovered`), the card read from the reader, the
    /// replacement visit committed once under `request_id` with its upload (M12 2/4, M49, M52,
    /// refund). Kotlin: `suspend`.
    pub async fn replace(
        &self,
        visit_id: String,
        request_id: String,
    ) -> Result<VisitSummary, HomeVisitError> {
        let inner = self.inner.clone();
        Ok(task(async move { inner.replace(&visit_id, &request_id).await })
            .await?
            .into())
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl HomeVisitApp {
    /// Starts a card-less visit of a patient typed in from an ID document (national ID with its
    /// check digit, name, ROC birth date `YYYMMDD`); the practitioner's PIN verified first.
    pub fn begin_card_less_visit(
        &self,
        national_id: String,
        name: String,
        birth_date: String,
    ) -> Result<Arc<VisitSession>, HomeVisitError> {
        let patient = app::CardLessPatient {
            national_id,
            name,
            birth_date,
        };
        let session = guard(|| self.inner.begin_card_less_visit(&patient))?;
        Ok(Arc::new(VisitSession {
            inner: Arc::new(session),
        }))
    }

    /// Starts the card replacement of a card-less visit the app never recorded, seen at
    /// `actual_visited_at_unix_ms`: the 10 working days checked first, then the card read; the
    /// finished visit uploads with M12 = 4 and M52 = `MISS` + 16 `0`. Kotlin: `suspend`.
    pub async fn begin_replacement_visit(
        &self,
        actual_visited_at_unix_ms: i64,
    ) -> Result<Arc<VisitSession>, HomeVisitError> {
        let app = self.inner.clone();
        let session =
            task(async move { app.begin_replacement_visit(actual_visited_at_unix_ms).await }).await?;
        Ok(Arc::new(VisitSession {
            inner: Arc::new(session),
        }))
    }

    /// The card-less visits and their replacement.
    pub fn card_less(&self) -> Arc<CardLessService> {
        Arc::new(CardLessService {
            inner: Arc::new(self.inner.card_less()),
        })
    }

    /// The codes of the 8 emergency indications (what `setEmergency` takes).
    pub fn emergency_indications(&self) -> Vec<String> {
        app::emergency_indications()
    }

    /// The emergency marking of a stored visit (null when it was no emergency).
    pub fn emergency_of(&self, visit_id: String) -> Result<Option<EmergencyMarking>, HomeVisitError> {
        Ok(guard(|| self.inner.emergency_of(&visit_id))?.map(Into::into))
    }

    /// Emergency visits against their 1-hour upload deadline (at risk within the hour, missed
    /// after it), beside the 24-hour report of `sync().deadlines()`.
    pub fn emergency_deadlines(&self) -> Result<DeadlineReport, HomeVisitError> {
        Ok(guard(|| self.inner.emergency_deadlines())?.into())
    }
}

#[uniffi::export]
impl VisitSession {
    /// Marks the visit as an emergency visit: indication codes (at least one, else
    /// `EmergencyNoIndication`), arrival and end (Unix ms). Returns the surcharge that applies.
    pub fn set_emergency(
        &self,
        indications: Vec<String>,
        arrival_unix_ms: i64,
        end_unix_ms: i64,
    ) -> Result<EmergencyMarking, HomeVisitError> {
        Ok(guard(|| {
            self.inner
                .set_emergency(&indications, arrival_unix_ms, end_unix_ms)
        })?
        .into())
    }

    /// Unmarks the visit as an emergency visit.
    pub fn clear_emergency(&self) -> Result<(), HomeVisitError> {
        guard(|| {
            self.inner.clear_emergency();
            Ok(())
        })
    }

    /// Records what the patient of a card-less visit paid out of pocket (NT$).
    pub fn set_out_of_pocket(&self, paid: u32) -> Result<(), HomeVisitError> {
        guard(|| self.inner.set_out_of_pocket(paid))
    }
}
