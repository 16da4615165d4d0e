//! Who may see, edit and delete what in the shared record (seed 000 §肆), as pure functions the
//! device runs before it queues a write and the simulator runs on every write it receives:
//!
//! - a case is seen (and discussed) by its enrolling institution and by the team institutions
//!   its access control names ([`may_see`]); anything else is refused `no_access`;
//! - special notes and access control are edited only by the enrolling institution
//!   (`not_enrolling_institution`, field `special_notes` or `access`); access names only
//!   institutions of the team;
//! - a care plan version, a visit record and a phone consultation are corrected only by the
//!   institution that wrote them (`not_author`); a care plan version is never lost: a correction
//!   keeps the corrected content in its history, a deletion only marks it, and two versions added
//!   at once are both kept (each has its own id);
//! - a visit record is one of the five roles of the seed; its next visit date is after the visit;
//! - a message goes to the whole team or to chosen institutions that see the case; a reply names
//!   a message of the case; messages are not edited;
//! - each write carries a revision: one the record already has (or an older one) is a duplicate,
//!   recorded once and answered as such.

use super::model::{CarePlan, CaseFile, Consultation, Message, SharedCase, VisitRecord};
use super::text;
use super::wire::TeamWrite;
use crate::model::care::Role;

/// A broken rule of the shared record: a stable [`Violation::code`] and the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// An input broke a rule (field + reason, never the value).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The rule.
        reason: String,
    },
    /// The institution may not see this case (not enrolling, not in its access control).
    #[error("this institution may not see the case")]
    NoAccess,
    /// Only the enrolling institution edits special notes and access control.
    #[error("only the enrolling institution edits {field}")]
    NotEnrolling {
        /// `special_notes` or `access`.
        field: &'static str,
    },
    /// Only the institution that wrote a record edits it.
    #[error("only the institution that wrote it edits this {what}")]
    NotAuthor {
        /// `plan`, `record`, `consultation` or `message`.
        what: &'static str,
    },
}

impl Violation {
    /// An [`Violation::Invalid`] with a fixed reason.
    pub fn invalid(field: &'static str, reason: &str) -> Self {
        Violation::Invalid {
            field,
            reason: reason.to_string(),
        }
    }

    /// The stable code (`invalid`, `no_access`, `not_enrolling_institution`, `not_author`).
    pub fn code(&self) -> &'static str {
        match self {
            Violation::Invalid { .. } => "invalid",
            Violation::NoAccess => "no_access",
            Violation::NotEnrolling { .. } => "not_enrolling_institution",
            Violation::NotAuthor { .. } => "not_author",
        }
    }

    /// The field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Violation::Invalid { field, .. } => field,
            Violation::NoAccess => "case_id",
            Violation::NotEnrolling { field } => field,
            Violation::NotAuthor { .. } => "author",
        }
    }
}

/// The roles that keep visit records in the shared record (the seed's five tabs).
pub const RECORD_ROLES: [Role; 5] = [
    Role::Doctor,
    Role::Nurse,
    Role::RespiratoryTherapist,
    Role::ClinicalPsychologist,
    Role::SocialWorker,
];

/// Whether `institution` may see (and discuss) `case`.
pub fn may_see(case: &SharedCase, institution: &str) -> bool {
    case.enrolling == institution || case.access.iter().any(|a| a == institution)
}

/// Whether `institution` sees `message` (its author, the whole team, or addressed to it).
pub fn sees_message(message: &Message, institution: &str) -> bool {
    message.author == institution || message.to.is_empty() || message.to.iter().any(|t| t == institution)
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The write changed the file.
    Changed,
    /// The file has this revision (or a newer one) already: nothing changed.
    Duplicate,
}

fn check_case(case: &SharedCase, members: &[String]) -> Result<(), Violation> {
    text::check("special_notes", &case.special_notes, text::SPECIAL_NOTES, false)?;
    for a in &case.access {
        if a == &case.enrolling {
            continue;
        }
        if !members.iter().any(|m| m == a) {
            return Err(Violation::invalid(
                "access",
                "names an institution outside the care team",
            ));
        }
    }
    Ok(())
}

/// Checks a care plan version's content.
pub fn check_plan(plan: &CarePlan) -> Result<(), Violation> {
    text::check("goals", &plan.content.goals, text::GOALS, true)?;
    plan.content.frequency.check()
}

/// Checks a visit record's fields.
pub fn check_record(r: &VisitRecord) -> Result<(), Violation> {
    if !RECORD_ROLES.contains(&r.role) {
        return Err(Violation::invalid(
            "role",
            "visit records are kept by doctor, nurse, respiratory therapist, clinical psychologist or social worker",
        ));
    }
    if let Some(next) = r.next_visit_date
        && next <= r.visit_date
    {
        return Err(Violation::invalid(
            "next_visit_date",
            "must be after the visit date",
        ));
    }
    if let Some(code) = &r.visit_code
        && !(code.len() == 20 && code.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return Err(Violation::invalid(
            "visit_code",
            "must be the 20-character visit identification code",
        ));
    }
    text::check("health_status", &r.health_status, text::HEALTH_STATUS, false)?;
    text::check("problem", &r.problem, text::PROBLEM, true)?;
    text::check("service", &r.service, text::SERVICE, true)
}

/// Checks a phone consultation's fields.
pub fn check_consultation(c: &Consultation) -> Result<(), Violation> {
    text::check("question", &c.question, text::QUESTION, true)?;
    text::check("responder", &c.responder, text::RESPONDER, false)?;
    text::check("answer", &c.answer, text::ANSWER, false)?;
    if !c.answer.trim().is_empty() && c.responder.trim().is_empty() {
        return Err(Violation::invalid("responder", "is required with an answer"));
    }
    Ok(())
}

/// Checks a message against the case it goes to.
pub fn check_message(m: &Message, file: &CaseFile) -> Result<(), Violation> {
    text::check("text", &m.text, text::MESSAGE, true)?;
    for t in &m.to {
        if t == &m.author || !may_see(&file.case, t) {
            return Err(Violation::invalid(
                "to",
                "names an institution that does not see the case",
            ));
        }
    }
    if let Some(parent) = &m.reply_to
        && !file.messages.iter().any(|p| &p.id == parent)
    {
        return Err(Violation::invalid("reply_to", "names no message of this case"));
    }
    Ok(())
}

fn upsert<T: Clone>(items: &mut Vec<T>, item: &T, same: impl Fn(&T) -> bool) {
    match items.iter_mut().find(|i| same(i)) {
        Some(slot) => *slot = item.clone(),
        None => items.push(item.clone()),
    }
}

/// Applies `write` by `institution` to `file` (the team's `members`): every rule of the module
/// docs. A refused write changes nothing.
pub fn apply(
    file: &mut CaseFile,
    members: &[String],
    institution: &str,
    write: &TeamWrite,
) -> Result<Applied, Violation> {
    if !may_see(&file.case, institution) || write.case_id() != file.case.case_id {
        return Err(Violation::NoAccess);
    }
    match write {
        TeamWrite::Case {
            special_notes,
            access,
            rev,
            ..
        } => {
            let current = &file.case;
            if institution != current.enrolling {
                let field = if special_notes != &current.special_notes {
                    "special_notes"
                } else {
                    "access"
                };
                return Err(Violation::NotEnrolling { field });
            }
            if *rev <= current.rev {
                return Ok(Applied::Duplicate);
            }
            let mut next = current.clone();
            next.special_notes = special_notes.trim().to_string();
            next.access = access.clone();
            next.rev = *rev;
            check_case(&next, members)?;
            file.case = next;
        }
        TeamWrite::Plan(p) => {
            check_plan(p)?;
            match file.plans.iter().find(|x| x.id == p.id) {
                None => {
                    if p.author != institution {
                        return Err(Violation::NotAuthor { what: "plan" });
                    }
                    if !p.corrections.is_empty() || p.deleted {
                        return Err(Violation::invalid("plan", "a new version starts without history"));
                    }
                    if let Some(from) = &p.copied_from
                        && !file.plans.iter().any(|x| &x.id == from)
                    {
                        return Err(Violation::invalid("copied_from", "names no version of this case"));
                    }
                }
                Some(old) => {
                    if old.author != institution || p.author != old.author {
                        return Err(Violation::NotAuthor { what: "plan" });
                    }
                    if p.rev <= old.rev {
                        return Ok(Applied::Duplicate);
                    }
                    if !p.corrections.starts_with(&old.corrections)
                        || p.created_ms != old.created_ms
                        || p.copied_from != old.copied_from
                    {
                        return Err(Violation::invalid(
                            "corrections",
                            "a version's history is never lost",
                        ));
                    }
                    if old.deleted && !p.deleted {
                        return Err(Violation::invalid("deleted", "a deleted version stays deleted"));
                    }
                }
            }
            upsert(&mut file.plans, p, |x| x.id == p.id);
        }
        TeamWrite::Record(r) => {
            check_record(r)?;
            match file.records.iter().find(|x| x.id == r.id) {
                None if r.author != institution => return Err(Violation::NotAuthor { what: "record" }),
                None => {}
                Some(old) => {
                    if old.author != institution || r.author != old.author {
                        return Err(Violation::NotAuthor { what: "record" });
                    }
                    if r.rev <= old.rev {
                        return Ok(Applied::Duplicate);
                    }
                }
            }
            upsert(&mut file.records, r, |x| x.id == r.id);
        }
        TeamWrite::Message(m) => {
            if file.messages.iter().any(|x| x.id == m.id) {
                return Ok(Applied::Duplicate);
            }
            if m.author != institution {
                return Err(Violation::NotAuthor { what: "message" });
            }
            check_message(m, file)?;
            file.messages.push(m.clone());
        }
        TeamWrite::Consultation(c) => {
            check_consultation(c)?;
            match file.consultations.iter().find(|x| x.id == c.id) {
                None if c.author != institution => {
                    return Err(Violation::NotAuthor { what: "consultation" });
                }
                None => {}
                Some(old) => {
                    if old.author != institution || c.author != old.author {
                        return Err(Violation::NotAuthor { what: "consultation" });
                    }
                    if c.rev <= old.rev {
                        return Ok(Applied::Duplicate);
                    }
                }
            }
            upsert(&mut file.consultations, c, |x| x.id == c.id);
        }
    }
    Ok(Applied::Changed)
}

/// What `institution` may see of `file`: `None` when the case is not shared with it, else the
/// file with only the messages it sees.
pub fn view_for(file: &CaseFile, institution: &str) -> Option<CaseFile> {
    if !may_see(&file.case, institution) {
        return None;
    }
    let mut v = file.clone();
    v.messages.retain(|m| sees_message(m, institution));
    Some(v)
}
