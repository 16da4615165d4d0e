//! Free-text limits of the shared record. The seed (000 §肆) gives none for these tabs; these
//! are ours, sized like the application's longest fields (disease history 500, domain §4):
//! a limit counts characters (Unicode scalar values) — a Chinese character and a half-width
//! letter or digit count one each, so a limit never depends on the encoding. Text is trimmed
//! before it is counted; control characters other than line breaks and tabs are refused.

use super::rules::Violation;

/// Special notes (特殊事項).
pub const SPECIAL_NOTES: usize = 200;
/// Care goals (照護目標).
pub const GOALS: usize = 500;
/// Health status (健康狀態).
pub const HEALTH_STATUS: usize = 200;
/// Problem description (問題描述).
pub const PROBLEM: usize = 500;
/// Service content (服務內容).
pub const SERVICE: usize = 500;
/// A discussion message.
pub const MESSAGE: usize = 500;
/// A phone consultation's question.
pub const QUESTION: usize = 500;
/// A phone consultation's answer.
pub const ANSWER: usize = 500;
/// The responder's name.
pub const RESPONDER: usize = 20;

/// Every limit by field name (the table `README.md` shows).
pub const LIMITS: [(&str, usize); 9] = [
    ("special_notes", SPECIAL_NOTES),
    ("goals", GOALS),
    ("health_status", HEALTH_STATUS),
    ("problem", PROBLEM),
    ("service", SERVICE),
    ("text", MESSAGE),
    ("question", QUESTION),
    ("answer", ANSWER),
    ("responder", RESPONDER),
];

/// The length as the limits count it (characters after trimming).
pub fn length(text: &str) -> usize {
    text.trim().chars().count()
}

/// Checks `text` (field `field`) against `limit`; `required` refuses an empty text.
pub fn check(field: &'static str, text: &str, limit: usize, required: bool) -> Result<(), Violation> {
    let t = text.trim();
    if required && t.is_empty() {
        return Err(Violation::invalid(field, "is required"));
    }
    if t.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Violation::invalid(field, "holds a control character"));
    }
    if length(t) > limit {
        return Err(Violation::Invalid {
            field,
            reason: format!("at most {limit} characters"),
        });
    }
    Ok(())
}
