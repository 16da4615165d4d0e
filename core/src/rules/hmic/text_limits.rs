//! Free-text limits (seed 000 §壹 三 (二十二)), in Chinese characters.
//!
//! **Decision:** a limit of N Chinese characters is N full-width characters, i.e. 2N half-width
//! units, as the NHI's Big5 columns hold them: a full-width character (Chinese, full-width
//! punctuation, anything outside ASCII and half-width katakana) counts 1, a half-width character
//! (ASCII, U+FF61–U+FF9F) counts ½. So a 25-character field holds 25 Chinese characters or 50
//! ASCII letters, and the 26th Chinese character (or the 51st letter) is refused.

use super::Violation;
use crate::hmic::model::Application;

/// Rule name of every text limit.
pub const RULE: &str = "text_limit";

/// The limits: (field, Chinese characters).
pub const LIMITS: [(&str, usize); 17] = [
    ("assessment.home_type_other", 10),
    ("assessment.living_situation", 20),
    ("assessment.language", 20),
    ("assessment.consciousness", 10),
    ("assessment.breathing", 10),
    ("assessment.eating", 10),
    ("assessment.excretion", 10),
    ("skin.other", 10),
    ("assessment.disease_history", 500),
    ("assessment.allergy_history", 150),
    ("intake.disease_trait", 25),
    ("intake.other", 50),
    ("assessment.other_needs", 15),
    ("orders.pain_control", 50),
    ("orders.other_treatment", 200),
    ("orders.medication", 100),
    ("orders.tube.material", 10),
];

/// The limit of `field` in Chinese characters.
pub fn limit_of(field: &str) -> Option<usize> {
    LIMITS.iter().find(|(f, _)| *f == field).map(|(_, n)| *n)
}

/// True for a half-width character (counts ½).
pub fn is_half_width(c: char) -> bool {
    c.is_ascii() || ('\u{FF61}'..='\u{FF9F}').contains(&c)
}

/// The width of `text` in half-width units (full-width 2, half-width 1).
pub fn units(text: &str) -> usize {
    text.chars().map(|c| if is_half_width(c) { 1 } else { 2 }).sum()
}

/// Checks `text` against a limit of `chinese_chars` Chinese characters.
pub fn check(field: &str, text: &str, chinese_chars: usize) -> Result<(), Violation> {
    if units(text) > 2 * chinese_chars {
        return Err(Violation::invalid(
            field,
            RULE,
            format!("at most {chinese_chars} Chinese characters (a half-width character counts half)"),
        ));
    }
    Ok(())
}

fn lim(field: &str) -> usize {
    limit_of(field).unwrap_or(0)
}

/// Checks every free-text field of `app`.
pub fn check_all(app: &Application) -> Result<(), Violation> {
    let a = &app.assessment;
    let fields: [(&str, &str); 16] = [
        ("assessment.home_type_other", &a.home_type_other),
        ("assessment.living_situation", &a.living_situation),
        ("assessment.language", &a.language),
        ("assessment.consciousness", &a.consciousness),
        ("assessment.breathing", &a.breathing),
        ("assessment.eating", &a.eating),
        ("assessment.excretion", &a.excretion),
        ("skin.other", &app.skin.other),
        ("assessment.disease_history", &a.disease_history),
        ("assessment.allergy_history", &a.allergy_history),
        ("intake.disease_trait", &app.intake.disease_trait),
        ("intake.other", &app.intake.other),
        ("orders.pain_control", &app.orders.pain_control),
        ("orders.other_treatment", &app.orders.other_treatment),
        ("orders.medication", &app.orders.medication),
        ("skin.site", &app.skin.site),
    ];
    for (field, text) in fields {
        let n = if field == "skin.site" { 10 } else { lim(field) };
        check(field, text, n)?;
    }
    for need in &a.other_needs {
        check("assessment.other_needs", need, lim("assessment.other_needs"))?;
    }
    for (name, tube) in super::orders::tubes(&app.orders) {
        if let Some(t) = tube {
            check(
                &format!("orders.{name}.material"),
                &t.material,
                lim("orders.tube.material"),
            )?;
        }
    }
    Ok(())
}
