//! Every lifecycle rule of the e-referral platform as a pure function over the shared model. The
//! device (`app::referrals`) and the simulated platform (`nhi-vpn-sim`'s `referral` module) call
//! these same functions, and both run the fixed vectors of `vectors.rs` in their tests, so the two
//! sides cannot agree on a bug one of them has alone.
//!
//! - **Who opens what** ([`may_open`]): a contracted institution opens `01`, `03` and `04`; an LTC
//!   centre opens `02`. The manual's §(一)1 sentence "特約醫事機構 … 01、02、04" contradicts its own
//!   §(一)3 (institutions choose `03` for an ordinary case to LTC) and §(一)6 (`02` is the LTC
//!   centre's default); we follow §(一)3/6 — see `README.md`.
//! - **Opening** makes the number ([`referral_number`]) and checks the six parts ([`check_form`]).
//! - **Sender**: correct ([`correct`]) and delete ([`may_delete`]) only while opened-unsent; [`send`]
//!   once. After that only the receiver acts.
//! - **Receiver**: [`process`] (status + explanation) and correct it until [`reply`].
//! - **Re-referral** ([`re_refer`]): only after a sent reply with status `04`; same number, count
//!   + 1, a new receiving unit, and it must be sent again.
//! - **The platform's acceptance** of a submission ([`accept_submission`]) and of a reply
//!   ([`accept_reply`]): the same rules, plus idempotency (a resent round is a duplicate).

use super::model::{
    Processing, ProcessingStatus, ReceiverState, Referral, ReferralForm, ReferralType, Round, SenderState,
    Unit, UnitKind,
};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What a party tries to do to a referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Open a new referral.
    Open,
    /// Correct the form (sender).
    Correct,
    /// Delete the referral (sender).
    Delete,
    /// Send the current round (sender).
    Send,
    /// Enter or correct the processing status (receiver).
    Process,
    /// Send the processing back (receiver).
    Reply,
    /// Re-refer after status `04` (sender).
    ReRefer,
}

impl Action {
    /// Stable name (`open`, `correct`, `delete`, `send`, `process`, `reply`, `re_refer`).
    pub fn name(self) -> &'static str {
        match self {
            Action::Open => "open",
            Action::Correct => "correct",
            Action::Delete => "delete",
            Action::Send => "send",
            Action::Process => "process",
            Action::Reply => "reply",
            Action::ReRefer => "re_refer",
        }
    }
}

/// A broken rule: which, in words that name fields and states, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// This kind of unit may not open this type.
    #[error("a {} may not open referral type {}", .unit.name(), .kind.code())]
    TypeNotAllowed {
        /// The type asked for.
        kind: ReferralType,
        /// Who asked.
        unit: UnitKind,
    },
    /// A field of the form is missing or malformed.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field (`patient.national_id`, `purpose`…).
        field: &'static str,
        /// The rule it broke.
        reason: String,
    },
    /// The action is not allowed in the referral's state.
    #[error("cannot {} a referral that is {state}", .action.name())]
    WrongState {
        /// What was tried.
        action: Action,
        /// The state that forbids it (a sender or receiver state name, or `re_referral_round`).
        state: &'static str,
    },
    /// A submission's referral count does not follow the platform's.
    #[error("referral count {got} does not follow {expected}")]
    CountMismatch {
        /// The count the platform expects next (or has).
        expected: u32,
        /// The count that came.
        got: u32,
    },
}

impl Violation {
    /// Stable code (`type_not_allowed`, `invalid`, `wrong_state`, `count_mismatch`), sent by the
    /// platform as its error code.
    pub fn code(&self) -> &'static str {
        match self {
            Violation::TypeNotAllowed { .. } => "type_not_allowed",
            Violation::Invalid { .. } => "invalid",
            Violation::WrongState { .. } => "wrong_state",
            Violation::CountMismatch { .. } => "count_mismatch",
        }
    }

    /// The field at fault, when one is.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Violation::Invalid { field, .. } => Some(field),
            Violation::TypeNotAllowed { .. } => Some("kind"),
            Violation::CountMismatch { .. } => Some("count"),
            Violation::WrongState { .. } => None,
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Violation {
    Violation::Invalid {
        field,
        reason: reason.into(),
    }
}

fn wrong_state(action: Action, state: &'static str) -> Violation {
    Violation::WrongState { action, state }
}

/// The types a unit may open: a contracted institution `01`, `03`, `04`; an LTC centre `02`.
pub fn opener_types(unit: UnitKind) -> &'static [ReferralType] {
    match unit {
        UnitKind::Institution => &[
            ReferralType::HomeCareToLtc,
            ReferralType::InstitutionToLtc,
            ReferralType::InstitutionToHomeCare,
        ],
        UnitKind::LtcCentre => &[ReferralType::LtcCentreToHomeCare],
    }
}

/// Whether `unit` may open `kind`.
pub fn may_open(unit: UnitKind, kind: ReferralType) -> Result<(), Violation> {
    if opener_types(unit).contains(&kind) {
        Ok(())
    } else {
        Err(Violation::TypeNotAllowed { kind, unit })
    }
}

/// Longest purpose (轉介目的), in characters.
pub const MAX_PURPOSE: usize = 100;
/// Longest condition / living summary, in characters.
pub const MAX_SUMMARY: usize = 500;
/// Longest processing explanation (處理情形說明), in characters.
pub const MAX_EXPLANATION: usize = 200;
/// Longest assessment note, in characters.
pub const MAX_NOTE: usize = 200;
/// Longest patient name, in characters.
pub const MAX_NAME: usize = 20;

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn check_text(field: &'static str, s: &str, max: usize, required: bool) -> Result<(), Violation> {
    let n = chars(s.trim());
    if required && n == 0 {
        return Err(invalid(field, "is required"));
    }
    if n > max {
        return Err(invalid(field, format!("is longer than {max} characters")));
    }
    if s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(field, "holds control characters"));
    }
    Ok(())
}

fn check_unit(field: &'static str, u: &Unit) -> Result<(), Violation> {
    let code = u.code.trim();
    if code.len() != 10 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(invalid(field, "code must be 10 letters or digits"));
    }
    check_text(field, &u.name, 50, true)?;
    check_text(field, &u.contact, 20, false)?;
    check_text(field, &u.phone, 20, false)
}

/// Checks the six parts of the form for `kind` on Taiwan date `today`: both units (10-character
/// codes, names; the receiver is not the sender), the patient (valid national ID, name, birth date
/// not in the future, sex `M`/`F` matching the ID), the assessment (ADL 0–100, ICD-10-CM codes),
/// the purpose and the summary (required, length limits).
pub fn check_form(kind: ReferralType, form: &ReferralForm, today: NaiveDate) -> Result<(), Violation> {
    let _ = kind;
    check_unit("referring_unit", &form.referring_unit)?;
    let p = &form.patient;
    let id = crate::rules::national_id::parse(p.national_id.trim())
        .map_err(|_| invalid("patient.national_id", "must be a valid national ID"))?;
    check_text("patient.name", &p.name, MAX_NAME, true)?;
    match p.birth_date {
        None => return Err(invalid("patient.birth_date", "is required")),
        Some(d) if d > today => return Err(invalid("patient.birth_date", "is in the future")),
        Some(_) => {}
    }
    let sex = match p.sex.trim() {
        "M" => crate::model::Sex::Male,
        "F" => crate::model::Sex::Female,
        _ => return Err(invalid("patient.sex", "must be M or F")),
    };
    crate::rules::national_id::check_sex(&id, sex)
        .map_err(|_| invalid("patient.sex", "does not match the national ID"))?;
    check_text("patient.phone", &p.phone, 20, false)?;
    check_text("patient.address", &p.address, 100, false)?;
    let a = &form.assessment;
    if a.adl_score.is_some_and(|s| s > 100) {
        return Err(invalid("assessment.adl_score", "must be 0 to 100"));
    }
    for d in &a.diagnoses {
        crate::rules::icd10::normalise(d)
            .map_err(|_| invalid("assessment.diagnoses", "must be ICD-10-CM codes"))?;
    }
    check_text("assessment.note", &a.note, MAX_NOTE, false)?;
    check_text("purpose", &form.purpose, MAX_PURPOSE, true)?;
    check_unit("receiving_unit", &form.receiving_unit)?;
    if form.receiving_unit.code.trim() == form.referring_unit.code.trim() {
        return Err(invalid(
            "receiving_unit",
            "must be another unit than the referring one",
        ));
    }
    check_text("summary", &form.summary.0, MAX_SUMMARY, true)
}

/// Base-36 digits of the device tag in a referral number.
pub const DEVICE_TAG_LEN: usize = 4;

/// The device's tag in referral numbers: 4 base-36 characters of SHA-256(device id), so that two
/// devices of one institution (1 in 1.7 million per pair) do not make the same number offline.
pub fn device_tag(device_id: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, device_id.as_bytes());
    let mut v = u32::from_be_bytes([d.as_ref()[0], d.as_ref()[1], d.as_ref()[2], d.as_ref()[3]]);
    let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = [b'0'; DEVICE_TAG_LEN];
    for slot in out.iter_mut().rev() {
        *slot = alphabet[(v % 36) as usize];
        v /= 36;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The referral number made at opening (offline): sender code (10) + ROC opening date `YYYMMDD`
/// (7) + device tag (4) + the device's serial of the day (3) — 24 characters, e.g.
/// `35012000001131201` `K3ZQ` `001`. Serial 1–999.
pub fn referral_number(
    sender_code: &str,
    opened_on: NaiveDate,
    tag: &str,
    serial: u32,
) -> Result<String, Violation> {
    if !(1..=999).contains(&serial) {
        return Err(invalid("number", "at most 999 referrals a day per device"));
    }
    let date = crate::model::roc::RocDate::from_naive(opened_on)
        .map_err(|_| invalid("number", "the opening date is outside the ROC calendar"))?;
    let number = format!("{}{}{tag}{serial:03}", sender_code.trim(), date.to_roc_string());
    check_number(&number)?;
    Ok(number)
}

/// Checks a referral number's shape (24 upper-case letters or digits).
pub fn check_number(number: &str) -> Result<(), Violation> {
    if number.len() == 24
        && number
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        Ok(())
    } else {
        Err(invalid("number", "must be 24 letters or digits"))
    }
}

/// Opens a referral: `unit` may open `kind`, the form passes [`check_form`]; count 1, not sent.
pub fn open(
    unit: UnitKind,
    sender_code: &str,
    kind: ReferralType,
    number: String,
    form: ReferralForm,
    now_ms: i64,
    today: NaiveDate,
) -> Result<Referral, Violation> {
    may_open(unit, kind)?;
    check_number(&number)?;
    check_form(kind, &form, today)?;
    if form.referring_unit.code.trim() != sender_code.trim() {
        return Err(invalid("referring_unit", "must be the opening unit itself"));
    }
    Ok(Referral {
        number,
        count: 1,
        kind,
        sender_code: sender_code.trim().to_string(),
        form,
        opened_at_ms: now_ms,
        sent_at_ms: None,
        processing: None,
        rounds: Vec::new(),
    })
}

fn require_unsent(r: &Referral, action: Action) -> Result<(), Violation> {
    match r.sender_state() {
        SenderState::OpenedUnsent => Ok(()),
        s => Err(wrong_state(action, s.name())),
    }
}

/// Corrects the form: only while opened-unsent; the type, the sender, and (in a re-referral round)
/// the patient stay.
pub fn correct(r: &mut Referral, form: ReferralForm, today: NaiveDate) -> Result<(), Violation> {
    require_unsent(r, Action::Correct)?;
    check_form(r.kind, &form, today)?;
    if form.referring_unit.code.trim() != r.sender_code {
        return Err(invalid("referring_unit", "must be the opening unit itself"));
    }
    if !r.rounds.is_empty() && form.patient.national_id.trim() != r.form.patient.national_id.trim() {
        return Err(invalid("patient.national_id", "a re-referral keeps its patient"));
    }
    r.form = form;
    Ok(())
}

/// Whether the referral may be deleted: only while opened-unsent, and only its first round (an
/// unsent re-referral round can be corrected, not deleted: the earlier rounds are the platform's).
pub fn may_delete(r: &Referral) -> Result<(), Violation> {
    require_unsent(r, Action::Delete)?;
    if r.count > 1 {
        return Err(wrong_state(Action::Delete, "re_referral_round"));
    }
    Ok(())
}

/// Sends the current round (once).
pub fn send(r: &mut Referral, now_ms: i64) -> Result<(), Violation> {
    require_unsent(r, Action::Send)?;
    r.sent_at_ms = Some(now_ms);
    Ok(())
}

/// The receiver enters or corrects its processing: only after the round was sent and until the
/// reply is sent; the explanation is required (at most [`MAX_EXPLANATION`] characters).
pub fn process(
    r: &mut Referral,
    status: ProcessingStatus,
    explanation: &str,
    now_ms: i64,
) -> Result<(), Violation> {
    match r.receiver_state() {
        None => return Err(wrong_state(Action::Process, SenderState::OpenedUnsent.name())),
        Some(ReceiverState::Replied) => {
            return Err(wrong_state(Action::Process, ReceiverState::Replied.name()));
        }
        Some(_) => {}
    }
    check_text("explanation", explanation, MAX_EXPLANATION, true)?;
    r.processing = Some(Processing {
        status,
        explanation: explanation.trim().to_string(),
        processed_at_ms: now_ms,
        replied_at_ms: None,
    });
    Ok(())
}

/// The receiver sends its processing back (once); after that nothing changes.
pub fn reply(r: &mut Referral, now_ms: i64) -> Result<(), Violation> {
    match r.receiver_state() {
        Some(ReceiverState::ProcessedNotReplied) => {}
        Some(s) => return Err(wrong_state(Action::Reply, s.name())),
        None => return Err(wrong_state(Action::Reply, SenderState::OpenedUnsent.name())),
    }
    if let Some(p) = r.processing.as_mut() {
        p.replied_at_ms = Some(now_ms);
    }
    Ok(())
}

/// Whether the sender may re-refer: the reply is sent and its status is `04`.
pub fn may_re_refer(r: &Referral) -> Result<(), Violation> {
    match r.reply() {
        Some(p) if p.status == ProcessingStatus::ArrangeReReferral => Ok(()),
        Some(_) => Err(wrong_state(Action::ReRefer, "replied_without_04")),
        None => Err(wrong_state(Action::ReRefer, r.sender_state().name())),
    }
}

/// Re-refers after status `04`: the closed round moves to the history, the number stays, the
/// count goes up by one, the form names the new receiving unit (another than the last), and the
/// new round is opened-unsent — it must be sent again.
pub fn re_refer(r: &mut Referral, receiving_unit: Unit) -> Result<(), Violation> {
    may_re_refer(r)?;
    check_unit("receiving_unit", &receiving_unit)?;
    if receiving_unit.code.trim() == r.form.receiving_unit.code.trim() {
        return Err(invalid("receiving_unit", "a re-referral goes to another unit"));
    }
    if receiving_unit.code.trim() == r.sender_code {
        return Err(invalid(
            "receiving_unit",
            "must be another unit than the referring one",
        ));
    }
    let previous = std::mem::replace(&mut r.form.receiving_unit, receiving_unit);
    r.rounds.push(Round {
        count: r.count,
        receiving_unit: previous,
        sent_at_ms: r.sent_at_ms.take(),
        processing: r.processing.take(),
    });
    r.count += 1;
    Ok(())
}

/// What the platform did with a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// A new referral (count 1).
    New(Referral),
    /// A re-referral round of a known number (count + 1).
    ReReferral(Referral),
    /// This round was received before (a resend): nothing changes.
    Duplicate,
}

/// The platform's acceptance of a sent round `incoming` (the sender's copy, `sent_at_ms` set)
/// from a unit of kind `unit`, given what it holds under that number (`existing`). The same
/// rules as the device's, plus: count 1 for a new number; count + 1 only after a `04` reply; a
/// resent round is a duplicate.
pub fn accept_submission(
    existing: Option<&Referral>,
    incoming: &Referral,
    unit: UnitKind,
    now_ms: i64,
    today: NaiveDate,
) -> Result<Accepted, Violation> {
    may_open(unit, incoming.kind)?;
    check_number(&incoming.number)?;
    check_form(incoming.kind, &incoming.form, today)?;
    if incoming.form.referring_unit.code.trim() != incoming.sender_code {
        return Err(invalid("referring_unit", "must be the opening unit itself"));
    }
    match existing {
        None if incoming.count == 1 => {
            let mut r = incoming.clone();
            r.rounds.clear();
            r.processing = None;
            r.sent_at_ms = Some(now_ms);
            Ok(Accepted::New(r))
        }
        None => Err(Violation::CountMismatch {
            expected: 1,
            got: incoming.count,
        }),
        Some(e) if e.sender_code != incoming.sender_code || e.kind != incoming.kind => {
            Err(invalid("number", "belongs to another referral"))
        }
        Some(e) if e.count == incoming.count && e.sent_at_ms.is_some() => Ok(Accepted::Duplicate),
        Some(e) if incoming.count == e.count + 1 => {
            let mut r = e.clone();
            re_refer(&mut r, incoming.form.receiving_unit.clone())?;
            correct(&mut r, incoming.form.clone(), today)?;
            send(&mut r, now_ms)?;
            Ok(Accepted::ReReferral(r))
        }
        Some(e) => Err(Violation::CountMismatch {
            expected: e.count + 1,
            got: incoming.count,
        }),
    }
}

/// The platform's acceptance of a receiver's reply to round `count`: the same rules as
/// [`process`] + [`reply`]; the same reply resent is a duplicate (`Ok(false)`), a changed one after
/// the reply is refused.
pub fn accept_reply(
    r: &mut Referral,
    count: u32,
    status: ProcessingStatus,
    explanation: &str,
    now_ms: i64,
) -> Result<bool, Violation> {
    if count != r.count {
        return Err(Violation::CountMismatch {
            expected: r.count,
            got: count,
        });
    }
    if let Some(p) = r.reply()
        && p.status == status
        && p.explanation == explanation.trim()
    {
        return Ok(false);
    }
    process(r, status, explanation, now_ms)?;
    reply(r, now_ms)?;
    Ok(true)
}

/// The opening date of a referral (Taiwan), from its opening time.
pub fn opened_on(r: &Referral) -> Option<NaiveDate> {
    crate::model::roc::RocDateTime::from_unix_ms(r.opened_at_ms)
        .ok()
        .map(|t| t.date().naive())
}
