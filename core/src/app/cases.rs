//! HMIC case applications through the facade: [`HomeVisit::cases`] hands out the [`CaseService`].
//! Every rule is `crate::rules::hmic` (the functions the VPN simulator runs); this file only
//! loads, applies, stores and queues. Offline first: drafts, corrections, submissions and
//! closings work with no network (sealed kv + the one outbox); the NHI (the simulator) is the
//! authority and a rule broken offline comes back as a rejected job, correctable with
//! [`CaseService::correct_rejected`] and re-queued.
//!
//! - [`CaseService::blank`] (清除: an empty form for an ID + birth date, sex from the ID,
//!   application date today), [`CaseService::create`] (申請: a new enrolment, checked),
//!   [`CaseService::correct`], [`CaseService::delete`], [`CaseService::latest`] (最新一筆查詢);
//! - [`CaseService::submit`] (送件, queued; acceptance date = the submission date);
//! - [`CaseService::extend`] and [`CaseService::change_stage`] (a new draft derived from a
//!   submitted application), [`CaseService::close`];
//! - online: [`CaseService::check_enrolment`], [`CaseService::refresh`] (reopening by the office,
//!   closings), [`CaseService::query`] + [`CaseService::export_csv`], [`CaseService::upload_batch`].

use super::record_service::{ServiceParts, StepHook};
use super::{AppError, HomeVisit};
use crate::hmic::model::{Application, ApplicationType, CaseState, Closing, ClosingReason, Patient};
use crate::hmic::store::{self as book, StoredCase};
use crate::hmic::wire::{self, BatchAck, BatchRequest, CheckRequest, CheckResponse, QueryRequest, QueryRow};
use crate::hmic::{outbox, xml};
use crate::model::roc::{RocDate, RocDateTime};
use crate::platform::Connectivity;
use crate::referral::csv::{CsvEncoding, CsvExport};
use crate::rules::hmic::enrolment::{self, Enrolment, Service, Verdict};
use crate::rules::hmic::state::{self, Action};
use crate::rules::hmic::{self as rules, Violation, Warning, application_type, closing};
use crate::store::{Store, StoreError};
use chrono::NaiveDate;
use std::sync::Arc;

pub use crate::hmic::store::StoredCase as CaseRecord;

/// The one conversion of a broken HMIC rule into the public error: a field rule is
/// [`AppError::Validation`] with the field and `"<rule>: <reason>"`; a state rule is
/// [`AppError::WrongState`].
pub fn case_violation(v: Violation) -> AppError {
    match v {
        Violation::Invalid { field, rule, reason } => AppError::Validation {
            field,
            reason: format!("{rule}: {reason}"),
        },
        Violation::WrongState { action, state } => AppError::WrongState {
            action: action.into(),
            state: state.into(),
        },
    }
}

fn store_err(e: serde_json::Error) -> AppError {
    AppError::from(StoreError::from(e))
}

/// What the duplicate-enrolment check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentCheck {
    /// The verdict.
    pub verdict: Verdict,
    /// The same-team case now kept read-only on this device (or this institution's own case).
    pub case: Option<CaseRecord>,
}

/// The HMIC case service of one app (see the module docs).
pub struct CaseService {
    parts: ServiceParts,
}

impl std::fmt::Debug for CaseService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseService")
            .field("institution", &self.parts.institution)
            .finish_non_exhaustive()
    }
}

impl HomeVisit {
    /// The HMIC case application service.
    pub fn cases(&self) -> Arc<CaseService> {
        self.cases.clone()
    }
}

impl CaseService {
    pub(crate) fn new(parts: ServiceParts) -> Self {
        Self { parts }
    }

    /// Sets the crash tests' progress hook.
    #[cfg(feature = "inspect")]
    pub fn set_step_hook(&self, hook: Option<StepHook>) {
        self.parts.set_step_hook(hook);
    }

    fn step(&self, name: &str) {
        self.parts.step(name);
    }

    fn now(&self) -> Result<(i64, NaiveDate), AppError> {
        let t = RocDateTime::now(self.parts.clock.as_ref()).map_err(|_| AppError::Internal)?;
        Ok((t.unix_ms(), t.date().naive()))
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.parts.guard()
    }

    /// 清除: an empty new-enrolment form for the patient (national ID with its check digit, birth
    /// date): sex from the ID, application and enrolment date today, this institution, `care_team`.
    /// Nothing is stored.
    pub fn blank(
        &self,
        national_id: &str,
        birth_date: NaiveDate,
        care_team: &str,
    ) -> Result<Application, AppError> {
        let (_, today) = self.now()?;
        let id = crate::rules::national_id::parse(national_id.trim().to_ascii_uppercase().as_str()).map_err(
            |_| {
                case_violation(Violation::invalid(
                    "patient.national_id",
                    "national_id_check_digit",
                    "must be a national ID with a valid check digit",
                ))
            },
        )?;
        Ok(Application {
            id: String::new(),
            version: 1,
            institution: self.parts.institution.as_str().to_string(),
            care_team: care_team.trim().to_string(),
            kind: ApplicationType::New,
            previous_id: None,
            patient: Patient {
                national_id: id.expose().to_string(),
                birth_date: Some(birth_date),
                name: String::new(),
                sex: rules::assessment::sex_from_id(&id),
            },
            enrolment_date: today,
            application_date: today,
            acceptance_date: None,
            start_date: today,
            care_months: 6,
            care_stage: None,
            disability: Default::default(),
            skin: Default::default(),
            adl: None,
            assessment: Default::default(),
            intake: Default::default(),
            hospice: Default::default(),
            diagnoses: Vec::new(),
            orders: Default::default(),
            visit_plan: Default::default(),
            ordering_doctor: String::new(),
            state: CaseState::Draft,
            reopened_at_ms: None,
            closing: None,
        })
    }

    /// The enrolments this device knows (its own and read-only cases), for the offline check.
    fn local_enrolments(&self) -> Result<Vec<Enrolment>, AppError> {
        Ok(book::all(&self.parts.store)?
            .into_iter()
            .filter(|c| c.application.state != CaseState::Draft)
            .filter_map(|c| {
                let a = c.application;
                Some(Enrolment {
                    national_id: a.patient.national_id.clone(),
                    birth_date: a.patient.birth_date?,
                    service: Service::Hmic,
                    institution: a.institution.clone(),
                    care_team: Some(a.care_team.clone()),
                    application_id: Some(a.id.clone()),
                    closed: a.state == CaseState::Closed,
                })
            })
            .collect())
    }

    /// Brings what the application must carry from the device in line: this institution, sex from
    /// the ID, diagnoses upper case without the dot, a new enrolment's start = its enrolment date.
    fn normalise(&self, app: &mut Application) -> Result<(), AppError> {
        app.institution = self.parts.institution.as_str().to_string();
        app.patient.national_id = app.patient.national_id.trim().to_ascii_uppercase();
        if let Ok(id) = crate::rules::national_id::parse(&app.patient.national_id) {
            app.patient.sex = rules::assessment::sex_from_id(&id);
        }
        for (i, d) in app.diagnoses.iter_mut().enumerate() {
            *d = rules::assessment::normalise_diagnosis(&format!("diagnoses.{i}"), d)
                .map_err(case_violation)?;
        }
        if app.kind == ApplicationType::New {
            app.start_date = app.enrolment_date;
        }
        Ok(())
    }

    /// 申請: checks a new enrolment (every rule, and no open enrolment this device knows of) and
    /// keeps it sealed as a draft (offline). Returns it with the rules' warnings.
    pub fn create(&self, mut app: Application) -> Result<(CaseRecord, Vec<Warning>), AppError> {
        let _g = self.guard();
        let (_, today) = self.now()?;
        app.id = Store::new_id();
        app.version = 1;
        app.kind = ApplicationType::New;
        app.previous_id = None;
        app.state = CaseState::Draft;
        app.acceptance_date = None;
        app.reopened_at_ms = None;
        app.closing = None;
        self.normalise(&mut app)?;
        let warnings = rules::validate(&app, today).map_err(case_violation)?;
        if let Some(birth) = app.patient.birth_date {
            let verdict = enrolment::check(
                &self.local_enrolments()?,
                &app.patient.national_id,
                birth,
                self.parts.institution.as_str(),
                &app.care_team,
            )
            .map_err(case_violation)?;
            enrolment::may_enrol_new(&verdict).map_err(case_violation)?;
        }
        let c = StoredCase {
            application: app,
            read_only: false,
            job_id: None,
        };
        book::put(&self.parts.store, &c)?;
        self.step("created");
        tracing::info!(target: "homevisit::app", case = %c.application.id, "case application drafted");
        Ok((c, warnings))
    }

    /// One application, after bringing it in line with the outbox.
    pub fn get(&self, id: &str) -> Result<CaseRecord, AppError> {
        let (_, today) = self.now()?;
        let mut c =
            book::get(&self.parts.store, id)?.ok_or_else(|| AppError::NotFound { what: "case".into() })?;
        book::reconcile(&self.parts.store, &mut c, today)?;
        Ok(c)
    }

    fn get_own(&self, id: &str, action: Action) -> Result<CaseRecord, AppError> {
        let c = self.get(id)?;
        if c.read_only {
            return Err(AppError::WrongState {
                action: action.name().into(),
                state: "read_only".into(),
            });
        }
        Ok(c)
    }

    /// Every application on this device (own and read-only), oldest first.
    pub fn list(&self) -> Result<Vec<CaseRecord>, AppError> {
        let (_, today) = self.now()?;
        let mut all = book::all(&self.parts.store)?;
        for c in &mut all {
            book::reconcile(&self.parts.store, c, today)?;
        }
        Ok(all)
    }

    /// 最新一筆查詢: the newest application of the patient on this device.
    pub fn latest(&self, national_id: &str, birth_date: NaiveDate) -> Result<Option<CaseRecord>, AppError> {
        let id = national_id.trim().to_ascii_uppercase();
        Ok(self
            .list()?
            .into_iter()
            .filter(|c| {
                c.application.patient.national_id == id
                    && c.application.patient.birth_date == Some(birth_date)
            })
            .max_by(|a, b| a.application.id.cmp(&b.application.id)))
    }

    /// The fields the user may not change keep their stored values.
    fn keep_fixed(old: &Application, new: &mut Application) {
        new.id = old.id.clone();
        new.version = old.version;
        new.kind = old.kind;
        new.previous_id = old.previous_id.clone();
        new.state = old.state;
        new.acceptance_date = old.acceptance_date;
        new.reopened_at_ms = old.reopened_at_ms;
        new.closing = old.closing;
        if old.kind != ApplicationType::New {
            new.enrolment_date = old.enrolment_date;
        }
    }

    /// The start an extension or stage change gets from its previous application.
    fn derive_dates(&self, app: &mut Application) -> Result<(), AppError> {
        let Some(prev_id) = app.previous_id.clone() else {
            return Ok(());
        };
        let prev = self.get(&prev_id)?.application;
        app.start_date = match app.kind {
            ApplicationType::Extension => {
                application_type::check_extension_window(prev.end_date(), app.application_date)
                    .map_err(case_violation)?;
                application_type::extension_start(prev.end_date(), app.application_date)
            }
            ApplicationType::StageChange => app.application_date,
            ApplicationType::New => app.enrolment_date,
        };
        Ok(())
    }

    fn check_full(&self, app: &Application, today: NaiveDate) -> Result<Vec<Warning>, AppError> {
        let warnings = rules::validate(app, today).map_err(case_violation)?;
        if let Some(prev_id) = &app.previous_id {
            let prev = self.get(prev_id)?.application;
            // The device closes the previous application at a stage change's submission; the
            // check is against it as it was.
            let mut as_was = prev.clone();
            if as_was.state == CaseState::Closed
                && as_was
                    .closing
                    .is_some_and(|c| c.reason == ClosingReason::StageChanged)
            {
                as_was.state = CaseState::Submitted;
            }
            application_type::check_against_previous(app, &as_was).map_err(case_violation)?;
        }
        Ok(warnings)
    }

    /// Corrects a draft (within 30 days of its application date) or an application the office
    /// reopened (within its 3 days; the correction is queued as a new version). Every rule is
    /// checked again.
    pub fn correct(&self, id: &str, mut app: Application) -> Result<(CaseRecord, Vec<Warning>), AppError> {
        let _g = self.guard();
        let (now, today) = self.now()?;
        let mut c = self.get_own(id, Action::Correct)?;
        state::may(Action::Correct, &c.application, now, today).map_err(case_violation)?;
        Self::keep_fixed(&c.application, &mut app);
        self.normalise(&mut app)?;
        self.derive_dates(&mut app)?;
        let warnings = self.check_full(&app, today)?;
        let reopened = state::effective(&c.application, now) == CaseState::Reopened;
        c.application = app;
        if reopened {
            c.application.version += 1;
            let job = outbox::submit_job(&c.application).map_err(store_err)?;
            let job_id = book::enqueue_once(&self.parts.store, job)?;
            c.job_id = Some(job_id.clone());
            book::put(&self.parts.store, &c)?;
            self.queued(job_id);
        } else {
            book::put(&self.parts.store, &c)?;
        }
        Ok((c, warnings))
    }

    /// Deletes a draft (the only action left after its 30 days).
    pub fn delete(&self, id: &str) -> Result<(), AppError> {
        let _g = self.guard();
        let (now, today) = self.now()?;
        let c = self.get_own(id, Action::Delete)?;
        state::may(Action::Delete, &c.application, now, today).map_err(case_violation)?;
        book::delete(&self.parts.store, id)?;
        Ok(())
    }

    /// 送件: checks every rule and the 30-day window, locks the application (acceptance date =
    /// today) and queues it in the outbox (offline too; sent once online, exactly once). A stage
    /// change closes its previous application.
    pub fn submit(&self, id: &str) -> Result<CaseRecord, AppError> {
        let _g = self.guard();
        let (now, today) = self.now()?;
        let mut c = self.get_own(id, Action::Submit)?;
        state::may(Action::Submit, &c.application, now, today).map_err(case_violation)?;
        self.check_full(&c.application, today)?;
        state::submit(&mut c.application, now, today).map_err(case_violation)?;
        let job = outbox::submit_job(&c.application).map_err(store_err)?;
        let job_id = book::enqueue_once(&self.parts.store, job)?;
        self.step("queued");
        c.job_id = Some(job_id.clone());
        book::put(&self.parts.store, &c)?;
        self.step("marked_submitted");
        if c.application.kind == ApplicationType::StageChange
            && let Some(prev_id) = &c.application.previous_id
            && let Some(mut prev) = book::get(&self.parts.store, prev_id)?
            && prev.application.state != CaseState::Closed
        {
            prev.application.state = CaseState::Closed;
            prev.application.closing = Some(Closing {
                date: c.application.application_date,
                reason: ClosingReason::StageChanged,
            });
            book::put(&self.parts.store, &prev)?;
        }
        self.queued(job_id);
        Ok(c)
    }

    fn derive(
        &self,
        previous_id: &str,
        kind: ApplicationType,
        application_date: Option<NaiveDate>,
    ) -> Result<CaseRecord, AppError> {
        let _g = self.guard();
        let (now, today) = self.now()?;
        let prev = self.get_own(
            previous_id,
            if kind == ApplicationType::Extension {
                Action::Extend
            } else {
                Action::ChangeStage
            },
        )?;
        let action = if kind == ApplicationType::Extension {
            Action::Extend
        } else {
            Action::ChangeStage
        };
        state::may(action, &prev.application, now, today).map_err(case_violation)?;
        let app = application_type::derive(
            &prev.application,
            kind,
            Store::new_id(),
            application_date.unwrap_or(today),
        )
        .map_err(case_violation)?;
        let c = StoredCase {
            application: app,
            read_only: false,
            job_id: None,
        };
        book::put(&self.parts.store, &c)?;
        Ok(c)
    }

    /// 申請延長照護: a new draft copied from the submitted application `previous_id` (visit plan
    /// and orders cleared; start = previous end + 1 while valid, else the application date).
    /// Fill it with [`Self::correct`], then [`Self::submit`].
    pub fn extend(
        &self,
        previous_id: &str,
        application_date: Option<NaiveDate>,
    ) -> Result<CaseRecord, AppError> {
        self.derive(previous_id, ApplicationType::Extension, application_date)
    }

    /// 照護階段轉換: a new draft copied from `previous_id` (intake conditions, stage, orders, visit
    /// plan and ordering doctor cleared; start = the application date). Its submission closes
    /// the previous application.
    pub fn change_stage(
        &self,
        previous_id: &str,
        application_date: Option<NaiveDate>,
    ) -> Result<CaseRecord, AppError> {
        self.derive(previous_id, ApplicationType::StageChange, application_date)
    }

    /// 結案: closes a submitted application with date and reason (queued).
    pub fn close(&self, id: &str, date: NaiveDate, reason: ClosingReason) -> Result<CaseRecord, AppError> {
        let _g = self.guard();
        let (now, today) = self.now()?;
        let mut c = self.get_own(id, Action::Close)?;
        state::may(Action::Close, &c.application, now, today).map_err(case_violation)?;
        let closing_ = Closing { date, reason };
        closing::close(&mut c.application, closing_, today).map_err(case_violation)?;
        let job = outbox::close_job(&c.application, closing_).map_err(store_err)?;
        let job_id = book::enqueue_once(&self.parts.store, job)?;
        book::put(&self.parts.store, &c)?;
        self.queued(job_id);
        Ok(c)
    }

    /// Corrects the application of a rejected `hmic_submit` job (e.g. refused by the NHI for a
    /// submission after day 30) and queues the correction as a new version, retiring the rejected
    /// job, in one transaction. Every rule is checked again on today. Returns the new job's id.
    pub fn correct_rejected(&self, job_id: &str, mut app: Application) -> Result<String, AppError> {
        let _g = self.guard();
        let (now, today) = self.now()?;
        let mut c = book::all(&self.parts.store)?
            .into_iter()
            .find(|c| c.job_id.as_deref() == Some(job_id) && !c.read_only)
            .ok_or_else(|| AppError::NotFound { what: "job".into() })?;
        match book::queued_job(&self.parts.store, &c.application.submission_key())? {
            Some((_, state)) if state == "rejected" => {}
            _ => return Err(super::input::invalid("job", "is not a rejected case submission")),
        }
        let mut draft = c.application.clone();
        draft.state = CaseState::Draft;
        Self::keep_fixed(&draft, &mut app);
        self.normalise(&mut app)?;
        self.derive_dates(&mut app)?;
        self.check_full(&app, today)?;
        state::submit(&mut app, now, today).map_err(case_violation)?;
        app.version = c.application.version + 1;
        let job = outbox::submit_job(&app).map_err(store_err)?;
        let new_id = self
            .parts
            .store
            .requeue_after_correction(&job_id.to_string(), crate::store::Correction { visit: None, job })?
            .to_string();
        c.application = app;
        c.job_id = Some(new_id.clone());
        book::put(&self.parts.store, &c)?;
        tracing::info!(target: "homevisit::app", job = %job_id, new_job = %new_id, "rejected case corrected and re-queued");
        self.parts
            .listeners
            .notify_changed(self.parts.store.as_ref(), &[job_id.to_string(), new_id.clone()]);
        self.parts.sync.wake();
        Ok(new_id)
    }

    /// Where the application's current submission stands in the outbox (`queued`, `sending`,
    /// `waiting_retry`, `done`, `rejected`), or `None` when nothing is queued.
    pub fn delivery(&self, id: &str) -> Result<Option<String>, AppError> {
        let c = self.get(id)?;
        Ok(book::queued_job(&self.parts.store, &c.application.submission_key())?.map(|(_, s)| s))
    }

    fn queued(&self, job_id: String) {
        self.parts
            .listeners
            .notify_changed(self.parts.store.as_ref(), &[job_id]);
        if self.parts.connectivity.is_online() {
            self.parts.sync.wake();
        }
    }

    fn client(&self) -> Result<Arc<crate::vpn::VpnClient>, AppError> {
        if !self.parts.connectivity.is_online() {
            return Err(AppError::Network);
        }
        self.parts
            .vpn
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(AppError::NotEnrolled)
    }

    /// Online: the NHI's duplicate-enrolment check. A same-team case of another institution is
    /// kept on this device read-only; another service's or team's open case is refused
    /// (`Rejected{code: no_duplicate_enrolment, field: patient.national_id}`).
    pub async fn check_enrolment(
        &self,
        national_id: &str,
        birth_date: NaiveDate,
        care_team: &str,
    ) -> Result<EnrolmentCheck, AppError> {
        let client = self.client()?;
        let req = CheckRequest {
            national_id: national_id.trim().to_ascii_uppercase(),
            birth_date,
            care_team: care_team.trim().to_string(),
        };
        let resp: CheckResponse = client.post_signed(wire::CHECK, &req).await?;
        let _g = self.guard();
        let case = match (&resp.verdict, resp.application) {
            (Verdict::SameTeam { .. }, Some(app)) => {
                let c = StoredCase {
                    application: app,
                    read_only: true,
                    job_id: None,
                };
                book::put(&self.parts.store, &c)?;
                Some(c)
            }
            (Verdict::Own { application_id }, _) => book::get(&self.parts.store, application_id)?,
            _ => None,
        };
        Ok(EnrolmentCheck {
            verdict: resp.verdict,
            case,
        })
    }

    /// Online: takes the NHI's copy of this institution's applications: a reopening by the
    /// regional office (modifiable for 3 days), its re-lock, closings, acceptance dates (not for an
    /// application whose own change is still queued). Returns how many local applications changed.
    pub async fn refresh(&self) -> Result<u32, AppError> {
        let client = self.client()?;
        let theirs: Vec<Application> = client.post_signed(wire::SYNC, &serde_json::json!({})).await?;
        let _g = self.guard();
        let mut changed = 0;
        for t in theirs {
            let Some(mut c) = book::get(&self.parts.store, &t.id)? else {
                continue;
            };
            // A change of this device still on its way wins until the NHI has answered it.
            let pending = |key: &str| -> Result<bool, AppError> {
                Ok(book::queued_job(&self.parts.store, key)?
                    .is_some_and(|(_, s)| matches!(s.as_str(), "queued" | "sending" | "waiting_retry")))
            };
            if c.application.state == CaseState::Draft
                || pending(&c.application.submission_key())?
                || pending(&c.application.closing_key())?
            {
                continue;
            }
            let a = &mut c.application;
            if (a.state, a.reopened_at_ms, a.closing, a.acceptance_date)
                != (t.state, t.reopened_at_ms, t.closing, t.acceptance_date)
            {
                a.state = t.state;
                a.reopened_at_ms = t.reopened_at_ms;
                a.closing = t.closing;
                a.acceptance_date = t.acceptance_date;
                book::put(&self.parts.store, &c)?;
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// The state of an application now (a reopened one locks again after 3 days by itself).
    pub fn state_of(&self, id: &str) -> Result<CaseState, AppError> {
        let (now, _) = self.now()?;
        Ok(state::effective(&self.get(id)?.application, now))
    }

    /// Online: the NHI's query by application date range (required) and optionally one of this
    /// institution's care teams.
    pub async fn query(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        care_team: Option<&str>,
    ) -> Result<Vec<QueryRow>, AppError> {
        if from > to {
            return Err(super::input::invalid("from", "the range starts after it ends"));
        }
        let client = self.client()?;
        let req = QueryRequest {
            from,
            to,
            care_team: care_team.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()),
        };
        Ok(client.post_signed(wire::QUERY, &req).await?)
    }

    /// The query's rows as a CSV file (Big5 by default, UTF-8 with BOM).
    pub fn export_csv(&self, rows: &[QueryRow], encoding: CsvEncoding) -> CsvExport {
        crate::hmic::csv::export(rows, encoding)
    }

    /// The batch file of applications `ids` (this institution's): its name (never repeated on
    /// this device: the serial of the month is reserved first) and its XML.
    pub fn batch_file(&self, ids: &[String]) -> Result<(String, String), AppError> {
        let _g = self.guard();
        let (_, today) = self.now()?;
        let mut apps = Vec::new();
        for id in ids {
            apps.push(self.get_own(id, Action::Submit)?.application);
        }
        let month = RocDate::from_naive(today)
            .map_err(|_| AppError::Internal)?
            .to_roc_year_month();
        let serial = book::next_serial(&self.parts.store, &month)?;
        let name = rules::batch::file_name(self.parts.institution.as_str(), &month, serial)
            .map_err(case_violation)?;
        let text = xml::to_xml(&apps).map_err(store_err)?;
        Ok((name, text))
    }

    /// Online: uploads a batch file made by [`Self::batch_file`]. One invalid record rejects the
    /// whole file (`Rejected{code: <rule>, field: records.<n>.<field>}`); a name already used is
    /// refused (`batch_name_repeated`).
    pub async fn upload_batch(&self, file_name: &str, xml_text: &str) -> Result<BatchAck, AppError> {
        let client = self.client()?;
        let req = BatchRequest {
            file_name: file_name.to_string(),
            xml: xml_text.to_string(),
        };
        Ok(client.post_signed(wire::BATCH, &req).await?)
    }
}

impl StoredCase {
    /// The patient's name as lists show it (`陳○明`).
    pub fn masked_name(&self) -> String {
        super::view::mask_name(&self.application.patient.name)
    }

    /// The patient's national ID as lists show it.
    pub fn masked_id(&self) -> String {
        super::view::mask_id(&self.application.patient.national_id)
    }
}

/// Parses a ROC `YYYMMDD` date of a case form (`field` names it in the error).
pub fn case_date(field: &str, text: &str) -> Result<NaiveDate, AppError> {
    RocDate::parse(text.trim())
        .map(|d| d.naive())
        .map_err(|_| super::input::invalid(field, "must be a ROC date YYYMMDD"))
}

/// The ADL popup as a screen (or the FFI) hands it over: the assessment date (ROC `YYYMMDD`,
/// empty: not given — refused by the rules) and the ten scores in `hmic::model::ADL_ITEMS` order.
pub fn adl_input(assessed_on: &str, scores: &[u8]) -> Result<crate::hmic::model::Adl, AppError> {
    let scores: [u8; 10] = scores
        .try_into()
        .map_err(|_| super::input::invalid("adl", "ten item scores in the Barthel order"))?;
    let assessed_on = match assessed_on.trim() {
        "" => None,
        t => Some(case_date("adl.assessed_on", t)?),
    };
    Ok(crate::hmic::model::Adl { assessed_on, scores })
}

/// A muscle strength as typed (an integer 0–5, or empty).
pub fn muscle_strength_input(text: &str) -> Result<Option<i64>, AppError> {
    rules::assessment::parse_muscle_strength(text).map_err(case_violation)
}

impl QueryRow {
    /// The patient's national ID as lists show it.
    pub fn masked_id(&self) -> String {
        super::view::mask_id(&self.national_id)
    }
}
