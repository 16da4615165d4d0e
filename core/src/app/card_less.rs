//! Card-less visits and their card replacement (補卡), issue 14 item 4.
//!
//! **A card-less visit** ([`HomeVisit::begin_card_less_visit`]): the patient's national ID (check
//! digit checked), name and birth date are typed in from an ID document instead of read from a
//! card. The session records the visit as usual (diagnoses, orders, emergency…) plus what the
//! patient paid out of pocket ([`VisitSession::set_out_of_pocket`], required); `finish` takes the
//! visit identification code offline (the device's own counter, no network, no card), writes
//! nothing to any card and keeps the visit **sealed in the card-less book** (the sealed kv, one
//! entry per visit), not in the visits table: a self-paid visit is no NHI claim, so **nothing is
//! uploaded for it** while it waits for its card. No chronic continuous prescription may be issued
//! for it ([`AppError::ChronicRxCardLess`], checked where prescriptions are issued).
//!
//! **The replacement** ([`CardLessService::replace`]): the card brought within 10 working days of
//! the visit (Taiwan calendar, `rules::calendar`; later → [`AppError::ReplacementTooLate`], a year
//! the calendar does not cover → [`AppError::CalendarNotCovered`]; the entry stays pending either
//! way) is read from the reader (its ID must be the one typed in), and the visit runs as a chip
//! visit with the after-check flag `2` (card replacement) through the same `finish` machinery:
//! exactly once under its request id (the first request id is kept in the entry; a retry with
//! another id resumes the first), offline first, committed with its one `card_upload` job. That
//! upload carries M12 = 2 (4 with M52 = `MISS` + 16 `0` when the card-less visit has no code),
//! M49 = the card-less visit's time, M52 = its code, and the refund (what was paid minus the
//! copayment) in `Visit.context.card_replacement`. A card never brought leaves the visit out of
//! pocket, listed as `expired`.

use super::input::invalid;
use super::visit::CardSource;
use super::{AppError, CardLessPatient, HomeVisit, VisitSession, VisitSummary};
use crate::card::basic_data;
use crate::model::{CardReplacement, Visit, VisitContext, VisitType};
use crate::rules::calendar::{self, WorkingDays};
use crate::rules::visit_code::VisitCodeInput;
use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Key/value namespace of the card-less book, keyed by the visit's local id.
const BOOK: &str = "card-less";
/// M52 of a replacement without an actual visit identification code.
pub const MISSING_VISIT_CODE: &str = "MISS0000000000000000";

/// One card-less visit in the book (sealed at rest).
#[derive(Clone, Serialize, Deserialize)]
struct Entry {
    visit: Visit,
    /// NT$ the patient paid out of pocket.
    paid: u32,
    /// The request id the replacement runs under, kept before the card is touched.
    #[serde(default)]
    replace_request: Option<String>,
    /// The stored replacement visit's id, once committed.
    #[serde(default)]
    replaced_by: Option<String>,
}

/// Where a card-less visit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardLessState {
    /// Waiting for the card; the deadline has not passed.
    Pending,
    /// The card was brought and the replacement visit committed.
    Replaced,
    /// The 10 working days passed without the card: the visit stays out of pocket.
    Expired,
}

impl CardLessState {
    /// Stable name (`pending`, `replaced`, `expired`).
    pub fn name(self) -> &'static str {
        match self {
            CardLessState::Pending => "pending",
            CardLessState::Replaced => "replaced",
            CardLessState::Expired => "expired",
        }
    }
}

/// A card-less visit as a list shows it (masked patient fields only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardLessView {
    /// Local id of the card-less visit.
    pub visit_id: String,
    /// Its visit identification code, taken offline.
    pub visit_code: String,
    /// When it happened, Taiwan time.
    pub visited_at: DateTime<FixedOffset>,
    /// Patient name, masked.
    pub patient_name_masked: String,
    /// National ID, masked.
    pub national_id_masked: String,
    /// NT$ paid out of pocket.
    pub paid: u32,
    /// The last day the card may be brought (ISO date); `None` when the calendar does not cover it.
    pub deadline: Option<String>,
    /// Pending, replaced or expired.
    pub state: CardLessState,
    /// The replacement visit's local id, once replaced.
    pub replaced_by: Option<String>,
    /// Points refunded at the replacement (paid minus the copayment), once replaced.
    pub refund_points: Option<u32>,
}

/// The card-less visits and their replacement (Kotlin: `app.cardLess()`).
pub struct CardLessService {
    app: Arc<HomeVisit>,
}

impl std::fmt::Debug for CardLessService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardLessService").finish_non_exhaustive()
    }
}

/// The replacement record of a card-less visit: flag 2 with its code, 4 without one.
pub fn replacement_of(
    actual_visited_at: DateTime<FixedOffset>,
    actual_visit_code: &str,
    paid: u32,
    copayment: u32,
) -> CardReplacement {
    let code =
        Some(actual_visit_code.trim().to_string()).filter(|c| !c.is_empty() && c != MISSING_VISIT_CODE);
    CardReplacement {
        flag: if code.is_some() { 2 } else { 4 },
        actual_visited_at,
        actual_visit_code: code,
        refund_points: paid.saturating_sub(copayment),
    }
}

fn taiwan_date(t: DateTime<FixedOffset>) -> NaiveDate {
    t.with_timezone(&crate::model::roc::taiwan_offset()).date_naive()
}

/// The app clock's now, Taiwan time.
fn now_taiwan(app: &HomeVisit) -> Option<DateTime<FixedOffset>> {
    crate::model::RocDateTime::from_unix_ms(app.clock.now_unix_ms())
        .ok()
        .map(|t| t.to_datetime())
}

impl HomeVisit {
    /// Starts a card-less visit of the patient typed in from an ID document (practitioner PIN
    /// verified first). The session works as a card visit's; `finish` needs the out-of-pocket
    /// amount ([`VisitSession::set_out_of_pocket`]) and keeps the visit pending its card.
    pub fn begin_card_less_visit(
        self: &Arc<Self>,
        patient: &CardLessPatient,
    ) -> Result<VisitSession, AppError> {
        let practitioner = self
            .readers
            .practitioner()
            .ok_or_else(|| invalid("practitioner", "verify the practitioner PIN first"))?;
        let patient = patient.parse()?;
        VisitSession::new(
            self.clone(),
            patient,
            practitioner.national_id,
            CardSource::CardLess,
        )
    }

    /// Starts the card replacement of a card-less visit the app never recorded (seen on paper,
    /// or on another device) at `actual_visited_at_ms`: the 10 working days are checked first
    /// ([`AppError::ReplacementTooLate`], [`AppError::CalendarNotCovered`]), then the patient card
    /// is read. The session records the visit as usual (with
    /// [`VisitSession::set_out_of_pocket`] for the refund); `finish` commits it with M12 = 4,
    /// M52 = `MISS` + 16 `0` (no actual visit identification code) and M49 = the actual time.
    pub async fn begin_replacement_visit(
        self: &Arc<Self>,
        actual_visited_at_ms: i64,
    ) -> Result<VisitSession, AppError> {
        let practitioner = self
            .readers
            .practitioner()
            .ok_or_else(|| invalid("practitioner", "verify the practitioner PIN first"))?;
        let actual = crate::model::RocDateTime::from_unix_ms(actual_visited_at_ms)
            .map_err(|_| invalid("actual_visited_at", "time out of range"))?
            .to_datetime();
        let brought = taiwan_date(now_taiwan(self).ok_or(AppError::Internal)?);
        calendar::check_replacement(WorkingDays::taiwan(), taiwan_date(actual), brought)?;
        let card = {
            let session = self.readers.session().await?;
            basic_data::read(session.as_ref())
                .await
                .map_err(super::readers::card_error)?
        };
        VisitSession::new(
            self.clone(),
            card,
            practitioner.national_id,
            CardSource::Replacement(replacement_of(actual, "", 0, 0)),
        )
    }

    /// The card-less visits and their replacement.
    pub fn card_less(self: &Arc<Self>) -> CardLessService {
        CardLessService { app: self.clone() }
    }

    fn book_get(&self, visit_id: &str) -> Result<Option<Entry>, AppError> {
        match self.store.kv_get(BOOK, visit_id)? {
            Some(bytes) => Ok(Some(
                serde_json::from_slice(&bytes).map_err(|_| AppError::Internal)?,
            )),
            None => Ok(None),
        }
    }

    fn book_put(&self, entry: &Entry) -> Result<(), AppError> {
        // Serialising plain fields cannot fail.
        let bytes = serde_json::to_vec(entry).map_err(|_| AppError::Internal)?;
        self.store.kv_put(BOOK, &entry.visit.id, &bytes)?;
        Ok(())
    }

    /// The prescription rule of card-less visits, checked where prescriptions are issued: no
    /// chronic continuous prescription for a card-less visit (pending or replaced). A card-less
    /// visit still pending its card has no NHI prescription at all (it is self-paid).
    pub(super) fn refuse_card_less_prescription(
        &self,
        visit_id: &str,
        chronic_refills: Option<u8>,
    ) -> Result<(), AppError> {
        let chronic = chronic_refills.is_some_and(|n| n > 1);
        let card_less = match self.book_get(visit_id)? {
            Some(_) if chronic => true,
            Some(_) => {
                return Err(invalid(
                    "prescription",
                    "a card-less visit is self-paid; its NHI prescription waits for the card",
                ));
            }
            None => match self.store.get_visit(visit_id) {
                Ok(v) => v.visit.context.card_less,
                Err(_) => false,
            },
        };
        if chronic && card_less {
            tracing::info!(target: "homevisit::app", "chronic prescription refused: card-less visit");
            return Err(AppError::ChronicRxCardLess);
        }
        Ok(())
    }

    fn view_of(&self, e: &Entry) -> CardLessView {
        // A replacement a crash left committed (by a reconciliation) before the book was told.
        let replaced_by = e.replaced_by.clone().or_else(|| {
            e.replace_request
                .as_deref()
                .and_then(|r| self.visit_of_request(r).ok().flatten())
        });
        let deadline =
            calendar::replacement_deadline(WorkingDays::taiwan(), taiwan_date(e.visit.visited_at)).ok();
        let today = taiwan_date(now_taiwan(self).unwrap_or(e.visit.visited_at));
        let refund_points = replaced_by
            .as_deref()
            .and_then(|id| self.store.get_visit(id).ok())
            .and_then(|v| v.visit.context.card_replacement.map(|r| r.refund_points));
        let state = match (&replaced_by, deadline) {
            (Some(_), _) => CardLessState::Replaced,
            (None, Some(d)) if today > d => CardLessState::Expired,
            _ => CardLessState::Pending,
        };
        CardLessView {
            visit_id: e.visit.id.clone(),
            visit_code: e.visit.visit_code.clone(),
            visited_at: e.visit.visited_at,
            patient_name_masked: super::readers::mask_name(&e.visit.patient.name),
            national_id_masked: super::view::mask_id(e.visit.patient.national_id.expose()),
            paid: e.paid,
            deadline: deadline.map(|d| d.to_string()),
            state,
            replaced_by,
            refund_points,
        }
    }
}

impl VisitSession {
    /// Records what the patient of a card-less visit paid out of pocket (NT$): on the card-less
    /// visit itself, or on a replacement visit (the refund is this minus the copayment).
    pub fn set_out_of_pocket(&self, paid: u32) -> Result<(), AppError> {
        if !matches!(self.source, CardSource::CardLess | CardSource::Replacement(_)) {
            return Err(invalid(
                "out_of_pocket",
                "only a card-less visit is paid out of pocket",
            ));
        }
        if paid > 99_999_999 {
            return Err(invalid("out_of_pocket", "at most 8 digits"));
        }
        self.draft_mut().out_of_pocket = Some(paid);
        Ok(())
    }

    /// `finish` of a card-less visit: the visit code taken offline, the visit kept in the book
    /// under its plan's id (a retry finds it there).
    pub(super) fn finish_card_less(
        &self,
        draft: &super::VisitDraft,
        (visit_id, code_counter): (String, u64),
        at: crate::model::RocDateTime,
        context: VisitContext,
    ) -> Result<VisitSummary, AppError> {
        let app = &self.app;
        if let Some(e) = app.book_get(&visit_id)? {
            return Ok(VisitSummary::of(&e.visit));
        }
        let paid = draft
            .out_of_pocket
            .ok_or_else(|| invalid("out_of_pocket", "record what the patient paid"))?;
        let code = app
            .codes
            .generate(
                code_counter,
                &VisitCodeInput {
                    person: &self.patient.national_id,
                    at,
                    institution: &app.institution,
                },
            )
            .map_err(crate::rules::RuleError::from)?;
        let visit = Visit {
            id: visit_id,
            visit_code: code.as_str().to_string(),
            patient: self.patient.clone(),
            institution: app.institution.clone(),
            practitioner_id: self.practitioner_id.clone(),
            visit_type: draft.visit_type.code().to_string(),
            sequence_number: String::new(),
            visited_at: at.to_datetime(),
            diagnoses: draft.diagnoses.clone(),
            note: draft.note.clone(),
            orders: draft.orders.clone(),
            security_signature: None,
            sam_id: None,
            abnormal_reason: None,
            card_written: false,
            fee_points: Some(draft.fee_points),
            copayment_points: Some(draft.copayment),
            context,
        };
        app.book_put(&Entry {
            visit: visit.clone(),
            paid,
            replace_request: None,
            replaced_by: None,
        })?;
        tracing::info!(target: "homevisit::app", visit_id = %visit.id, visit_code = %visit.visit_code, "card-less visit kept pending its card");
        app.changed();
        Ok(VisitSummary::of(&visit))
    }
}

impl CardLessService {
    /// Every card-less visit of the book, oldest first.
    pub fn list(&self) -> Result<Vec<CardLessView>, AppError> {
        let mut out = Vec::new();
        for key in self.app.store.kv_keys(BOOK)? {
            if let Some(e) = self.app.book_get(&key)? {
                out.push(self.app.view_of(&e));
            }
        }
        out.sort_by_key(|v| v.visited_at);
        Ok(out)
    }

    /// One card-less visit.
    pub fn get(&self, visit_id: &str) -> Result<CardLessView, AppError> {
        let e = self
            .app
            .book_get(visit_id.trim())?
            .ok_or_else(|| AppError::NotFound {
                what: "card_less_visit".into(),
            })?;
        Ok(self.app.view_of(&e))
    }

    /// The card of card-less visit `visit_id` was brought: checks the 10 working days, reads the
    /// card in the reader (its ID must be the one typed in), and commits the replacement visit
    /// (after-check flag `2`, M12/M49/M52, refund) with its upload job, exactly once under
    /// `request_id` (see the module doc). The practitioner's PIN must have been verified.
    pub async fn replace(&self, visit_id: &str, request_id: &str) -> Result<VisitSummary, AppError> {
        let app = &self.app;
        let mut entry = app.book_get(visit_id.trim())?.ok_or_else(|| AppError::NotFound {
            what: "card_less_visit".into(),
        })?;
        if let Some(done) = entry.replaced_by.as_deref() {
            return Ok(VisitSummary::of(&app.store.get_visit(done)?.visit));
        }
        let request_id = match entry.replace_request.clone() {
            Some(first) => first,
            None => {
                let brought = taiwan_date(now_taiwan(app).ok_or(AppError::Internal)?);
                calendar::check_replacement(
                    WorkingDays::taiwan(),
                    taiwan_date(entry.visit.visited_at),
                    brought,
                )
                .inspect_err(|e| {
                    tracing::info!(target: "homevisit::app", error = %e, "card replacement refused");
                })?;
                request_id.trim().to_string()
            }
        };
        let practitioner = app
            .readers
            .practitioner()
            .ok_or_else(|| invalid("practitioner", "verify the practitioner PIN first"))?;
        let card = {
            let session = app.readers.session().await?;
            basic_data::read(session.as_ref())
                .await
                .map_err(super::readers::card_error)?
        };
        if card.national_id != entry.visit.patient.national_id {
            return Err(invalid(
                "patient_card",
                "is not the card of the card-less visit's patient",
            ));
        }
        if entry.replace_request.is_none() {
            entry.replace_request = Some(request_id.clone());
            app.book_put(&entry)?;
        }
        let replacement = replacement_of(
            entry.visit.visited_at,
            &entry.visit.visit_code,
            entry.paid,
            entry.visit.copayment_points.unwrap_or(0),
        );
        let session = VisitSession::new(
            app.clone(),
            card,
            practitioner.national_id,
            CardSource::Replacement(replacement),
        )?;
        {
            let v = &entry.visit;
            let mut d = session.draft_mut();
            d.visit_type = VisitType::parse(&v.visit_type).unwrap_or(d.visit_type);
            d.diagnoses = v.diagnoses.clone();
            d.orders = v.orders.clone();
            d.note = v.note.clone();
            d.fee_points = v.fee_points.unwrap_or(0);
            d.copayment = v.copayment_points.unwrap_or(0);
            d.emergency = v.context.emergency.clone();
            d.out_of_pocket = Some(entry.paid);
        }
        let summary = session.finish(&request_id).await?;
        entry.replaced_by = Some(summary.id.clone());
        app.book_put(&entry)?;
        tracing::info!(target: "homevisit::app", visit_id = %summary.id, "card replacement committed");
        app.changed();
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-12-01T10:00:00+08:00").unwrap()
    }

    #[test]
    fn replacement_with_the_actual_code_is_flag_2_and_refunds_paid_minus_copayment() {
        let r = replacement_of(at(), "7K3P9QX2M4T8V6W1R5ZH", 1631, 50);
        assert_eq!(r.flag, 2);
        assert_eq!(r.actual_visit_code.as_deref(), Some("7K3P9QX2M4T8V6W1R5ZH"));
        assert_eq!(r.refund_points, 1581);
        assert_eq!(r.actual_visited_at, at());
    }

    #[test]
    fn replacement_without_an_actual_code_is_flag_4() {
        for code in ["", "  ", MISSING_VISIT_CODE] {
            let r = replacement_of(at(), code, 100, 200);
            assert_eq!((r.flag, r.actual_visit_code, r.refund_points), (4, None, 0));
        }
    }

    #[test]
    fn card_less_patient_is_checked_and_its_sex_comes_from_the_id() {
        let p = CardLessPatient {
            national_id: "B220415378".into(),
            name: "陳美玲".into(),
            birth_date: "0450101".into(),
        };
        let card = p.parse().unwrap();
        assert_eq!(card.sex, crate::model::Sex::Female);
        assert!(card.card_number.is_empty());
        assert!(!format!("{p:?}").contains("B220415378"));
        let bad = CardLessPatient {
            national_id: "B220415379".into(),
            ..p.clone()
        };
        assert!(bad.parse().is_err());
        let no_name = CardLessPatient {
            name: " ".into(),
            ..p
        };
        assert!(matches!(no_name.parse(), Err(AppError::Validation { field, .. }) if field == "name"));
    }
}
