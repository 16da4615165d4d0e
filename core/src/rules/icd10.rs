//! ICD-10-CM diagnosis codes: normalisation (`g45.0` → `G450`), shape and chapter check, and
//! membership in the real code list.
//!
//! The list (`data/icd10cm.fc.zlib`, 17 KB) holds the 98,166 codes and categories of the US CMS
//! ICD-10-CM, April 2026 edition (public domain), taken once from the MIT-licensed PyPI package
//! `simple-icd-10-cm` 1.5.0 by `data/make_icd10cm.py` (see `data/README.md`). Taiwan's NHI uses its
//! own ICD-10-CM edition; it is close to, but not identical with, the US one, so a code that Taiwan
//! has and the US list lacks is refused with [`Icd10Error::Unknown`] (the app may offer an override).

use super::RuleError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// The embedded code list: zlib of sorted, front-coded codes (one digit = shared prefix length).
const LIST: &[u8] = include_bytes!("data/icd10cm.fc.zlib");
/// Shortest code (a category, e.g. `I10`).
pub const MIN_LEN: usize = 3;
/// Longest code (e.g. `S72001A`).
pub const MAX_LEN: usize = 7;

/// Why a diagnosis code was refused. Never holds the code (clinical data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Icd10Error {
    /// Nothing but spaces.
    #[error("icd10: empty")]
    Empty,
    /// Not 3–7 characters once the dot is removed.
    #[error("icd10: must be 3 to 7 characters without the dot")]
    Length,
    /// A dot anywhere but after the third character, or more than one.
    #[error("icd10: the dot may only follow the third character")]
    Dot,
    /// Wrong character class at a position (1-based): letter, digit, letter-or-digit, then
    /// letters or digits.
    #[error("icd10: character {position} has the wrong kind (letter, digit, then letters or digits)")]
    Shape {
        /// 1-based position in the normalised code.
        position: usize,
    },
    /// The first three characters fall in no ICD-10-CM chapter (e.g. `H96`).
    #[error("icd10: not in any ICD-10-CM chapter")]
    Chapter,
    /// Well-formed but not in the ICD-10-CM code list.
    #[error("icd10: not in the ICD-10-CM code list")]
    Unknown,
    /// The embedded code list could not be read (a broken build).
    #[error("icd10: the code list is unavailable")]
    ListUnavailable,
}

impl From<Icd10Error> for RuleError {
    fn from(e: Icd10Error) -> Self {
        let text = e.to_string();
        let reason = text.split_once(": ").map_or(text.clone(), |(_, r)| r.to_string());
        RuleError::Invalid {
            field: "diagnosis",
            reason,
        }
    }
}

/// An ICD-10-CM chapter: number, first and last category, short English title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chapter {
    /// Chapter number, 1–22.
    pub number: u8,
    /// First category of the chapter (e.g. `A00`).
    pub first: &'static str,
    /// Last category of the chapter (e.g. `B99`).
    pub last: &'static str,
    /// Short English title.
    pub title: &'static str,
}

/// The 22 chapters of ICD-10-CM by category range (`U` = codes for special purposes, e.g. U07.1).
pub const CHAPTERS: [Chapter; 22] = [
    ch(1, "A00", "B99", "Certain infectious and parasitic diseases"),
    ch(2, "C00", "D49", "Neoplasms"),
    ch(3, "D50", "D89", "Diseases of the blood and immune mechanism"),
    ch(4, "E00", "E89", "Endocrine, nutritional and metabolic diseases"),
    ch(
        5,
        "F01",
        "F99",
        "Mental, behavioral and neurodevelopmental disorders",
    ),
    ch(6, "G00", "G99", "Diseases of the nervous system"),
    ch(7, "H00", "H59", "Diseases of the eye and adnexa"),
    ch(8, "H60", "H95", "Diseases of the ear and mastoid process"),
    ch(9, "I00", "I99", "Diseases of the circulatory system"),
    ch(10, "J00", "J99", "Diseases of the respiratory system"),
    ch(11, "K00", "K95", "Diseases of the digestive system"),
    ch(12, "L00", "L99", "Diseases of the skin and subcutaneous tissue"),
    ch(
        13,
        "M00",
        "M99",
        "Diseases of the musculoskeletal system and connective tissue",
    ),
    ch(14, "N00", "N99", "Diseases of the genitourinary system"),
    ch(15, "O00", "O9A", "Pregnancy, childbirth and the puerperium"),
    ch(
        16,
        "P00",
        "P96",
        "Certain conditions originating in the perinatal period",
    ),
    ch(
        17,
        "Q00",
        "Q99",
        "Congenital malformations and chromosomal abnormalities",
    ),
    ch(18, "R00", "R99", "Symptoms, signs and abnormal findings"),
    ch(
        19,
        "S00",
        "T88",
        "Injury, poisoning and other consequences of external causes",
    ),
    ch(20, "V00", "Y99", "External causes of morbidity"),
    ch(
        21,
        "Z00",
        "Z99",
        "Factors influencing health status and contact with health services",
    ),
    ch(22, "U00", "U85", "Codes for special purposes"),
];

/// Builds a [`Chapter`] in a const context.
const fn ch(number: u8, first: &'static str, last: &'static str, title: &'static str) -> Chapter {
    Chapter {
        number,
        first,
        last,
        title,
    }
}

/// The chapter whose category range holds the first three characters of a normalised code.
pub fn chapter_of(code: &str) -> Option<Chapter> {
    let head = code.get(..3)?;
    // Categories compare as ASCII: `O9A` > `O99` and `D3A` < `D49`, matching the ICD ranges.
    CHAPTERS
        .iter()
        .copied()
        .find(|c| c.first <= head && head <= c.last)
}

/// Trims, upper-cases and removes the dot, then checks the shape: letter, digit, letter-or-digit,
/// then up to 4 letters or digits (3–7 characters). Does not consult the code list.
pub fn normalise(text: &str) -> Result<String, Icd10Error> {
    let t = text.trim();
    if t.is_empty() {
        return Err(Icd10Error::Empty);
    }
    let upper = t.to_ascii_uppercase();
    let dots: Vec<usize> = upper.match_indices('.').map(|(i, _)| i).collect();
    match dots.as_slice() {
        [] => {}
        [3] => {}
        _ => return Err(Icd10Error::Dot),
    }
    let code: String = upper.chars().filter(|&c| c != '.').collect();
    let b = code.as_bytes();
    if !(MIN_LEN..=MAX_LEN).contains(&b.len()) {
        return Err(Icd10Error::Length);
    }
    for (i, &c) in b.iter().enumerate() {
        let ok = match i {
            0 => c.is_ascii_uppercase(),
            1 => c.is_ascii_digit(),
            _ => c.is_ascii_digit() || c.is_ascii_uppercase(),
        };
        if !ok {
            return Err(Icd10Error::Shape { position: i + 1 });
        }
    }
    Ok(code)
}

/// The decoded list: sorted codes, each padded to 7 bytes with NUL.
fn list() -> Result<&'static [[u8; MAX_LEN]], Icd10Error> {
    static DECODED: OnceLock<Option<Vec<[u8; MAX_LEN]>>> = OnceLock::new();
    DECODED
        .get_or_init(decode_list)
        .as_deref()
        .ok_or(Icd10Error::ListUnavailable)
}

/// Inflates and un-front-codes the embedded list; `None` if it is damaged.
fn decode_list() -> Option<Vec<[u8; MAX_LEN]>> {
    let text = miniz_oxide::inflate::decompress_to_vec_zlib(LIST).ok()?;
    let mut out: Vec<[u8; MAX_LEN]> = Vec::with_capacity(100_000);
    let mut prev = [0u8; MAX_LEN];
    let mut prev_len = 0usize;
    for line in text.split(|&b| b == b'\n') {
        let (&k, rest) = line.split_first()?;
        let shared = usize::from(k.checked_sub(b'0')?);
        let len = shared + rest.len();
        if shared > prev_len || !(MIN_LEN..=MAX_LEN).contains(&len) {
            return None;
        }
        let mut code = [0u8; MAX_LEN];
        code[..shared].copy_from_slice(&prev[..shared]);
        code[shared..len].copy_from_slice(rest);
        if out.last().is_some_and(|last| *last >= code) {
            return None;
        }
        out.push(code);
        prev = code;
        prev_len = len;
    }
    Some(out)
}

/// Pads a normalised code to the list's fixed width.
fn padded(code: &str) -> [u8; MAX_LEN] {
    let mut p = [0u8; MAX_LEN];
    let n = code.len().min(MAX_LEN);
    p[..n].copy_from_slice(&code.as_bytes()[..n]);
    p
}

/// True when the normalised `code` is in the ICD-10-CM list (a category or a full code).
pub fn is_listed(code: &str) -> Result<bool, Icd10Error> {
    Ok(list()?.binary_search(&padded(code)).is_ok())
}

/// Number of codes in the embedded list.
pub fn listed_count() -> Result<usize, Icd10Error> {
    Ok(list()?.len())
}

/// A validated ICD-10-CM code, stored normalised (upper-case, no dot), e.g. `G450`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Icd10Code(String);

impl Icd10Code {
    /// Normalises and validates shape, chapter and list membership.
    pub fn parse(text: &str) -> Result<Self, Icd10Error> {
        let code = normalise(text)?;
        if chapter_of(&code).is_none() {
            return Err(Icd10Error::Chapter);
        }
        if !is_listed(&code)? {
            return Err(Icd10Error::Unknown);
        }
        Ok(Self(code))
    }

    /// The normalised code (`G450`), as stored and uploaded (M35–M40).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code with its dot for people (`G45.0`; a 3-character category has none).
    pub fn dotted(&self) -> String {
        if self.0.len() > 3 {
            format!("{}.{}", &self.0[..3], &self.0[3..])
        } else {
            self.0.clone()
        }
    }

    /// The chapter of the code.
    pub fn chapter(&self) -> Chapter {
        // `parse` refused every code without a chapter; chapter 1 is never reached as a fallback.
        chapter_of(&self.0).unwrap_or(CHAPTERS[0])
    }

    /// True when no longer code extends this one: the most specific level, as claims need.
    pub fn is_billable(&self) -> bool {
        let Ok(list) = list() else { return false };
        let me = padded(&self.0);
        let next = match list.binary_search(&me) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        list.get(next).is_none_or(|n| !n.starts_with(self.0.as_bytes()))
    }
}

impl fmt::Display for Icd10Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Icd10Code {
    type Err = Icd10Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Icd10Code {
    type Error = Icd10Error;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Icd10Code> for String {
    fn from(code: Icd10Code) -> String {
        code.0
    }
}

/// Normalises and validates a list of diagnoses (main first), returning the stored forms.
pub fn parse_all<S: AsRef<str>>(codes: &[S]) -> Result<Vec<Icd10Code>, Icd10Error> {
    codes.iter().map(|c| Icd10Code::parse(c.as_ref())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalises_case_spaces_and_the_dot() {
        assert_eq!(normalise("g45.0").unwrap(), "G450");
        assert_eq!(normalise(" G45.0 ").unwrap(), "G450");
        assert_eq!(normalise("G450").unwrap(), "G450");
        assert_eq!(normalise("s72.001a").unwrap(), "S72001A");
        assert_eq!(normalise("I10").unwrap(), "I10");
        assert_eq!(normalise("O9A.11").unwrap(), "O9A11");
    }

    #[test]
    fn malformed_codes_get_their_reason() {
        assert_eq!(normalise(""), Err(Icd10Error::Empty));
        assert_eq!(normalise("   "), Err(Icd10Error::Empty));
        assert_eq!(normalise("G4"), Err(Icd10Error::Length));
        assert_eq!(normalise("S72001AB"), Err(Icd10Error::Length));
        assert_eq!(normalise("G4.50"), Err(Icd10Error::Dot));
        assert_eq!(normalise("G45..0"), Err(Icd10Error::Dot));
        assert_eq!(normalise("1450"), Err(Icd10Error::Shape { position: 1 }));
        assert_eq!(normalise("GG50"), Err(Icd10Error::Shape { position: 2 }));
        assert_eq!(normalise("G45-0"), Err(Icd10Error::Shape { position: 4 }));
        assert_eq!(normalise("G45 0"), Err(Icd10Error::Shape { position: 4 }));
        assert_eq!(normalise("Ｇ450"), Err(Icd10Error::Shape { position: 1 }));
        let msg = Icd10Code::parse("G45-0").unwrap_err().to_string();
        assert!(!msg.contains("G45"), "{msg}");
    }

    #[test]
    fn chapters_by_range() {
        assert_eq!(chapter_of("G450").unwrap().number, 6);
        assert_eq!(chapter_of("H60").unwrap().number, 8);
        assert_eq!(chapter_of("H59").unwrap().number, 7);
        assert_eq!(chapter_of("D3A").unwrap().number, 2);
        assert_eq!(chapter_of("D50").unwrap().number, 3);
        assert_eq!(chapter_of("O9A").unwrap().number, 15);
        assert_eq!(chapter_of("T88").unwrap().number, 19);
        assert_eq!(chapter_of("U071").unwrap().number, 22);
        assert_eq!(chapter_of("H96"), None);
        assert_eq!(chapter_of("K96"), None);
        assert_eq!(chapter_of("F00"), None);
        assert_eq!(Icd10Code::parse("H96.0"), Err(Icd10Error::Chapter));
    }

    #[test]
    fn real_codes_are_listed_and_made_up_ones_are_not() {
        let g450 = Icd10Code::parse("G45.0").unwrap();
        assert_eq!(g450.as_str(), "G450");
        assert_eq!(g450.dotted(), "G45.0");
        assert_eq!(g450.chapter().number, 6);
        assert!(Icd10Code::parse("I10").is_ok(), "essential hypertension");
        assert!(Icd10Code::parse("E11.9").is_ok(), "type 2 diabetes");
        assert!(Icd10Code::parse("U07.1").is_ok(), "COVID-19");
        assert!(Icd10Code::parse("S72.001A").is_ok());
        assert_eq!(Icd10Code::parse("G45.7"), Err(Icd10Error::Unknown));
        assert_eq!(Icd10Code::parse("I10.9"), Err(Icd10Error::Unknown));
        assert_eq!(Icd10Code::parse("Z9999"), Err(Icd10Error::Unknown));
        assert!(listed_count().unwrap() > 90_000);
    }

    #[test]
    fn billable_is_the_most_specific_level() {
        assert!(Icd10Code::parse("G450").unwrap().is_billable());
        assert!(!Icd10Code::parse("G45").unwrap().is_billable());
        assert!(Icd10Code::parse("I10").unwrap().is_billable());
        assert!(!Icd10Code::parse("E11").unwrap().is_billable());
        assert_eq!(Icd10Code::parse("I10").unwrap().dotted(), "I10");
    }

    #[test]
    fn the_embedded_list_is_sorted_and_well_formed() {
        let list = list().unwrap();
        for code in list {
            let len = code.iter().position(|&b| b == 0).unwrap_or(MAX_LEN);
            let s = std::str::from_utf8(&code[..len]).unwrap();
            assert_eq!(normalise(s).unwrap(), s);
            assert!(chapter_of(s).is_some(), "{s} has a chapter");
        }
    }

    #[test]
    fn serde_and_parse_all() {
        let all = parse_all(&["g45.0", "I10"]).unwrap();
        assert_eq!(serde_json::to_string(&all).unwrap(), "[\"G450\",\"I10\"]");
        assert_eq!(
            serde_json::from_str::<Vec<Icd10Code>>("[\"G450\",\"I10\"]").unwrap(),
            all
        );
        assert!(serde_json::from_str::<Icd10Code>("\"G457\"").is_err());
        assert_eq!(
            parse_all(&["G450", "nope"]),
            Err(Icd10Error::Shape { position: 2 })
        );
        let e: RuleError = Icd10Error::Unknown.into();
        assert_eq!(e.to_string(), "diagnosis: not in the ICD-10-CM code list");
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC{0,12}") {
            let _ = normalise(&s);
            let _ = Icd10Code::parse(&s);
        }

        #[test]
        fn shaped_input_normalises_idempotently(s in "[A-Za-z][0-9][0-9A-Za-z](\\.[0-9A-Za-z]{1,4})?") {
            let n = normalise(&s).unwrap();
            prop_assert_eq!(normalise(&n).unwrap(), n.clone());
            if let Ok(code) = Icd10Code::parse(&s) {
                prop_assert_eq!(Icd10Code::parse(&code.dotted()).unwrap(), code.clone());
                prop_assert_eq!(code.as_str(), n.as_str());
            }
        }
    }
}
