//! The visit identification code (就醫識別碼, upload field M15): generated offline on the device,
//! validated with a check character.
//!
//! # Shape
//! 20 characters from the 34-symbol alphabet `0-9A-Z` without `I` and `O` (so nobody confuses them
//! with `1` and `0`): 19 payload symbols followed by 1 check symbol. The abnormal form
//! `MISS0000000000000000` (`MISS` + 16 `0`) stands for "card replacement without an actual code"
//! (M12 = 4 ⇒ M52); it is not generated, and only [`VisitCode::parse_allowing_missing`] accepts it.
//!
//! # What goes in
//! The payload is `HMAC-SHA256(device key, m)` (with `ring`) expanded into 19 base-34 symbols, where
//! `m` is the length-prefixed concatenation of a domain label, the **device id**, the device's
//! **visit counter** (u64, strictly increasing, never reused: the caller reserves it durably before
//! it asks for a code), the **person** (national ID), the **time** (ROC date-time to the second,
//! Taiwan time), the **place** (10-digit institution code) and a small **nonce** (see the check
//! symbol). The device key never leaves the device's key store ([`KEY_ALIAS`]).
//!
//! # Why it is unique
//! No two visits feed the same `m` into the same key: on one device the counter differs, across
//! devices the device id (and the key) differ. HMAC-SHA256 under a secret key behaves as a random
//! function, so two different inputs give the same 19 symbols with probability `34^-19` ≈ `2^-96.6`.
//! Even at 10⁹ visits a year across the whole NHI the chance of any collision stays below 10⁻¹¹.
//! Generation needs no network: it runs entirely on the device. Holding the device key, the
//! institution (or an auditor) can recompute a code from its inputs ([`VisitCodeGenerator::verify`])
//! and so prove which person, time and place it was issued for; without the key the code reveals
//! nothing about the patient.
//!
//! # What the check symbol detects
//! With symbol values `v₀…v₁₉` (0–33) and weights `wᵢ = i + 1`, a valid code satisfies
//! `Σ wᵢ·vᵢ ≡ 0 (mod 37)`. Because 37 is prime and larger than every weight and every difference of
//! two symbol values:
//! - **one changed character** changes the sum by `wᵢ·(v′−v)`, a product of two numbers that are
//!   non-zero mod 37, so it is never ≡ 0: always detected;
//! - **two swapped characters** (any two positions, adjacent or not) change the sum by
//!   `(wᵢ−wⱼ)·(vⱼ−vᵢ)`; the weights are distinct and the values differ, so again never ≡ 0.
//!
//! The check value `v₁₉ = −(Σ_{i<19} wᵢ·vᵢ)·20⁻¹ mod 37` can be 34, 35 or 36, which have no symbol;
//! then the generator re-derives the payload with the next nonce (3 chances in 37 each time, so
//! about 1.09 derivations on average). The unit tests check the two claims exhaustively on sample
//! codes.

use super::RuleError;
use crate::model::{InstitutionCode, NationalId, RocDateTime};
use crate::platform::{KeyStore, KeyStoreError};
use ring::hmac;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The 34 symbols, in value order: digits, then `A`–`Z` without `I` and `O`.
pub const ALPHABET: &[u8; 34] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// Length of every visit identification code.
pub const CODE_LEN: usize = 20;
/// The abnormal form for a card replacement without an actual code (M12 = 4 ⇒ M52).
pub const MISSING_CODE: &str = "MISS0000000000000000";
/// Key-store alias of the device's visit-code key.
pub const KEY_ALIAS: &str = "visit-code-hmac-v1";

/// The modulus of the check sum (prime, larger than the alphabet and the number of positions).
const MODULUS: u32 = 37;
/// Domain-separation label of the HMAC input.
const LABEL: &[u8] = b"homevisit/visit-code/v1";
/// Most derivations tried before giving up (each fails with probability 3/37).
const MAX_NONCE: u8 = 64;

/// Why a visit identification code was refused or could not be made. Never holds the code itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VisitCodeError {
    /// Not exactly 20 characters.
    #[error("visit_code: must be 20 characters")]
    Length,
    /// A character outside `0-9A-Z` without `I`/`O` (position counted from 1).
    #[error("visit_code: character {position} is not one of 0-9, A-Z without I and O")]
    Symbol {
        /// 1-based position of the first bad character.
        position: usize,
    },
    /// The check symbol does not match: a character was mistyped or two were swapped.
    #[error("visit_code: check character does not match (mistyped or swapped characters)")]
    Check,
    /// The `MISS` form where a real code is required.
    #[error("visit_code: the MISS form is only allowed for a card replacement without an actual code")]
    MissingNotAllowed,
    /// Card replacement without an actual code (M12 = 4) needs exactly the `MISS` form.
    #[error("visit_code: a card replacement without an actual code (M12 = 4) needs MISS + 16 zeros")]
    MissingRequired,
    /// No derivation gave a check value in the alphabet (practically impossible: (3/37)^64).
    #[error("visit_code: could not derive a code with a valid check symbol")]
    Exhausted,
    /// The device id is empty or longer than 64 bytes.
    #[error("device_id: must be 1 to 64 bytes")]
    DeviceId,
}

impl From<VisitCodeError> for RuleError {
    fn from(e: VisitCodeError) -> Self {
        let field = match e {
            VisitCodeError::DeviceId => "device_id",
            _ => "visit_code",
        };
        let text = e.to_string();
        let reason = text.split_once(": ").map_or(text.clone(), |(_, r)| r.to_string());
        RuleError::Invalid { field, reason }
    }
}

/// The value (0–33) of an alphabet symbol, or `None` for any other byte.
pub fn symbol_value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'H' => Some(u32::from(c - b'A') + 10),
        b'J'..=b'N' => Some(u32::from(c - b'J') + 18),
        b'P'..=b'Z' => Some(u32::from(c - b'P') + 23),
        _ => None,
    }
}

/// Weight of position `i` (0-based) in the check sum: distinct, non-zero mod 37.
fn weight(i: usize) -> u32 {
    i as u32 + 1
}

/// The check sum `Σ wᵢ·vᵢ mod 37` of symbol values.
fn check_sum(values: &[u32]) -> u32 {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| weight(i) * v)
        .sum::<u32>()
        % MODULUS
}

/// The check value that completes 19 payload values, if it fits the alphabet.
fn check_value(payload: &[u32; CODE_LEN - 1]) -> Option<u32> {
    // 20 · 13 = 260 = 7 · 37 + 1, so 13 is the inverse of the last weight (20) mod 37.
    const INV_LAST_WEIGHT: u32 = 13;
    let s = check_sum(payload);
    let v = ((MODULUS - s) % MODULUS) * INV_LAST_WEIGHT % MODULUS;
    (v < ALPHABET.len() as u32).then_some(v)
}

/// A visit identification code: either a generated code with a valid check symbol, or the abnormal
/// `MISS` form (only from [`VisitCode::parse_allowing_missing`] or [`VisitCode::missing`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VisitCode(String);

impl VisitCode {
    /// Reads a generated code exactly as written (20 symbols, valid check symbol); refuses `MISS…`.
    pub fn parse(text: &str) -> Result<Self, VisitCodeError> {
        if text == MISSING_CODE {
            return Err(VisitCodeError::MissingNotAllowed);
        }
        let b = text.as_bytes();
        if b.len() != CODE_LEN {
            return Err(VisitCodeError::Length);
        }
        let mut values = [0u32; CODE_LEN];
        for (i, &c) in b.iter().enumerate() {
            values[i] = symbol_value(c).ok_or(VisitCodeError::Symbol { position: i + 1 })?;
        }
        if check_sum(&values) != 0 {
            return Err(VisitCodeError::Check);
        }
        Ok(Self(text.to_string()))
    }

    /// Reads a code typed by a person: trims spaces and upper-cases before [`VisitCode::parse`].
    pub fn parse_typed(text: &str) -> Result<Self, VisitCodeError> {
        Self::parse(&text.trim().to_ascii_uppercase())
    }

    /// Reads a code where the abnormal `MISS` + 16 `0` form is allowed (M52 when M12 = 4).
    pub fn parse_allowing_missing(text: &str) -> Result<Self, VisitCodeError> {
        if text == MISSING_CODE {
            Ok(Self::missing())
        } else {
            Self::parse(text)
        }
    }

    /// The abnormal form `MISS0000000000000000`.
    pub fn missing() -> Self {
        Self(MISSING_CODE.to_string())
    }

    /// True for the abnormal `MISS` form.
    pub fn is_missing(&self) -> bool {
        self.0 == MISSING_CODE
    }

    /// The 20 characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VisitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for VisitCode {
    type Err = VisitCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for VisitCode {
    type Error = VisitCodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse_allowing_missing(&value)
    }
}

impl From<VisitCode> for String {
    fn from(code: VisitCode) -> String {
        code.0
    }
}

/// The checker rule on M52: card-replacement flag (M12) 4 requires `MISS` + 16 `0`; any other flag
/// requires a real generated code.
pub fn check_actual_code(replacement_flag: u8, m52: &str) -> Result<VisitCode, VisitCodeError> {
    if replacement_flag == 4 {
        if m52 == MISSING_CODE {
            Ok(VisitCode::missing())
        } else {
            Err(VisitCodeError::MissingRequired)
        }
    } else {
        VisitCode::parse(m52)
    }
}

/// What ties a code to its visit: person, time (to the second, Taiwan time) and place.
#[derive(Clone, Copy)]
pub struct VisitCodeInput<'a> {
    /// The patient's national ID or resident certificate number.
    pub person: &'a NationalId,
    /// The visit date-time.
    pub at: RocDateTime,
    /// The institution where the visit is billed.
    pub institution: &'a InstitutionCode,
}

impl fmt::Debug for VisitCodeInput<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VisitCodeInput")
            .field("person", self.person)
            .field("at", &self.at)
            .field("institution", self.institution)
            .finish()
    }
}

/// Makes visit identification codes on one device, offline, under the device's HMAC key.
pub struct VisitCodeGenerator {
    key: hmac::Key,
    device_id: String,
}

impl fmt::Debug for VisitCodeGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VisitCodeGenerator")
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

impl VisitCodeGenerator {
    /// A generator for `device_id` (1–64 bytes) under a 32-byte secret key.
    pub fn new(key: &[u8; 32], device_id: &str) -> Result<Self, VisitCodeError> {
        if device_id.is_empty() || device_id.len() > 64 {
            return Err(VisitCodeError::DeviceId);
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            device_id: device_id.to_string(),
        })
    }

    /// A generator whose key lives in the host key store under [`KEY_ALIAS`].
    pub fn from_key_store(keys: &dyn KeyStore, device_id: &str) -> Result<Self, VisitCodeStoreError> {
        let key = keys.get_or_create_key(KEY_ALIAS)?;
        Ok(Self::new(&key, device_id)?)
    }

    /// The device id this generator stamps into every code.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The code for the visit numbered `counter` on this device. The caller must never reuse a
    /// counter (reserve it durably first); the result depends only on the inputs, so a retry after a
    /// crash with the same counter yields the same code.
    pub fn generate(&self, counter: u64, input: &VisitCodeInput<'_>) -> Result<VisitCode, VisitCodeError> {
        for nonce in 0..MAX_NONCE {
            let payload = self.payload(counter, input, nonce);
            if let Some(check) = check_value(&payload) {
                let mut code = String::with_capacity(CODE_LEN);
                for v in payload.iter().chain(std::iter::once(&check)) {
                    code.push(char::from(ALPHABET[*v as usize]));
                }
                return Ok(VisitCode(code));
            }
        }
        Err(VisitCodeError::Exhausted)
    }

    /// True when `code` is the one this device issued for `counter` and `input`.
    pub fn verify(&self, code: &VisitCode, counter: u64, input: &VisitCodeInput<'_>) -> bool {
        // Codes are printed on paper and are not secrets, so a plain comparison is enough.
        self.generate(counter, input)
            .is_ok_and(|expected| expected == *code)
    }

    /// The 19 payload symbol values for one derivation.
    fn payload(&self, counter: u64, input: &VisitCodeInput<'_>, nonce: u8) -> [u32; CODE_LEN - 1] {
        let mut ctx = hmac::Context::with_key(&self.key);
        let at = input.at.to_roc_string();
        let parts: [&[u8]; 5] = [
            LABEL,
            self.device_id.as_bytes(),
            input.person.expose().as_bytes(),
            at.as_bytes(),
            input.institution.as_str().as_bytes(),
        ];
        for part in parts {
            // Every part is at most 64 bytes, so the length fits a byte; the prefix keeps the
            // concatenation unambiguous.
            ctx.update(&[part.len() as u8]);
            ctx.update(part);
        }
        ctx.update(&counter.to_be_bytes());
        ctx.update(&[nonce]);
        let tag = ctx.sign();
        let mut first = [0u8; 16];
        first.copy_from_slice(&tag.as_ref()[..16]);
        // 2^128 / 34^19 ≈ 2^31, so the base-34 digits of a 128-bit number are uniform to within 2^-31.
        let mut n = u128::from_be_bytes(first);
        let mut out = [0u32; CODE_LEN - 1];
        for slot in out.iter_mut() {
            *slot = (n % 34) as u32;
            n /= 34;
        }
        out
    }
}

/// Making a generator from the key store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VisitCodeStoreError {
    /// The key store could not give the key.
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),
    /// The device id was refused.
    #[error(transparent)]
    Code(#[from] VisitCodeError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::MemoryKeyStore;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn generator(device: &str) -> VisitCodeGenerator {
        VisitCodeGenerator::new(&[7u8; 32], device).unwrap()
    }

    fn sample(counter: u64) -> VisitCode {
        let person = NationalId::parse("A123456789").unwrap();
        let institution = InstitutionCode::parse("3501200000").unwrap();
        let at = RocDateTime::parse("1130305143005").unwrap();
        generator("device-1")
            .generate(
                counter,
                &VisitCodeInput {
                    person: &person,
                    at,
                    institution: &institution,
                },
            )
            .unwrap()
    }

    fn is_code_shape(s: &str) -> bool {
        s.len() == 20 && s.bytes().all(|c| ALPHABET.contains(&c))
    }

    #[test]
    fn alphabet_values_are_consistent() {
        for (v, &c) in ALPHABET.iter().enumerate() {
            assert_eq!(symbol_value(c), Some(v as u32));
        }
        assert_eq!(symbol_value(b'I'), None);
        assert_eq!(symbol_value(b'O'), None);
        assert_eq!(symbol_value(b'a'), None);
    }

    #[test]
    fn generated_codes_have_the_shape_and_validate() {
        for counter in 0..500 {
            let code = sample(counter);
            assert!(is_code_shape(code.as_str()), "{code}");
            assert_eq!(VisitCode::parse(code.as_str()).unwrap(), code);
        }
    }

    #[test]
    fn same_inputs_same_code_other_inputs_other_code() {
        assert_eq!(
            sample(1),
            sample(1),
            "a retry with the same counter gives the same code"
        );
        let person = NationalId::parse("A123456789").unwrap();
        let other_person = NationalId::parse("B234567894").unwrap();
        let inst = InstitutionCode::parse("3501200000").unwrap();
        let other_inst = InstitutionCode::parse("3501200001").unwrap();
        let at = RocDateTime::parse("1130305143005").unwrap();
        let later = RocDateTime::parse("1130305143006").unwrap();
        let base = VisitCodeInput {
            person: &person,
            at,
            institution: &inst,
        };
        let g = generator("device-1");
        let codes: HashSet<VisitCode> = [
            g.generate(1, &base).unwrap(),
            g.generate(2, &base).unwrap(),
            g.generate(
                1,
                &VisitCodeInput {
                    person: &other_person,
                    ..base
                },
            )
            .unwrap(),
            g.generate(1, &VisitCodeInput { at: later, ..base }).unwrap(),
            g.generate(
                1,
                &VisitCodeInput {
                    institution: &other_inst,
                    ..base
                },
            )
            .unwrap(),
            generator("device-2").generate(1, &base).unwrap(),
            VisitCodeGenerator::new(&[8u8; 32], "device-1")
                .unwrap()
                .generate(1, &base)
                .unwrap(),
        ]
        .into_iter()
        .collect();
        assert_eq!(codes.len(), 7);
    }

    #[test]
    fn unique_across_many_visits_and_devices() {
        let person = NationalId::parse("A123456789").unwrap();
        let inst = InstitutionCode::parse("3501200000").unwrap();
        let at = RocDateTime::parse("1130305143005").unwrap();
        let input = VisitCodeInput {
            person: &person,
            at,
            institution: &inst,
        };
        let mut seen = HashSet::new();
        for device in ["phone-a", "phone-b", "tablet-c"] {
            let g = generator(device);
            for counter in 0..2000 {
                assert!(seen.insert(g.generate(counter, &input).unwrap()));
            }
        }
    }

    #[test]
    fn verify_ties_the_code_to_its_visit() {
        let person = NationalId::parse("A123456789").unwrap();
        let inst = InstitutionCode::parse("3501200000").unwrap();
        let at = RocDateTime::parse("1130305143005").unwrap();
        let input = VisitCodeInput {
            person: &person,
            at,
            institution: &inst,
        };
        let g = generator("device-1");
        let code = g.generate(42, &input).unwrap();
        assert!(g.verify(&code, 42, &input));
        assert!(!g.verify(&code, 43, &input));
        let later = RocDateTime::parse("1130305143006").unwrap();
        assert!(!g.verify(&code, 42, &VisitCodeInput { at: later, ..input }));
        assert!(!generator("device-2").verify(&code, 42, &input));
    }

    #[test]
    fn every_single_substitution_is_rejected() {
        for counter in 0..40 {
            let code = sample(counter);
            let b = code.as_str().as_bytes();
            for pos in 0..CODE_LEN {
                for &c in ALPHABET.iter().chain(b"IOio a-") {
                    if c == b[pos] {
                        continue;
                    }
                    let mut t = b.to_vec();
                    t[pos] = c;
                    let t = String::from_utf8(t).unwrap();
                    assert!(VisitCode::parse(&t).is_err(), "{t} from {code}");
                }
            }
        }
    }

    #[test]
    fn every_swap_of_two_characters_is_rejected() {
        for counter in 0..40 {
            let code = sample(counter);
            let b = code.as_str().as_bytes();
            for i in 0..CODE_LEN {
                for j in i + 1..CODE_LEN {
                    if b[i] == b[j] {
                        continue;
                    }
                    let mut t = b.to_vec();
                    t.swap(i, j);
                    let t = String::from_utf8(t).unwrap();
                    assert_eq!(
                        VisitCode::parse(&t),
                        Err(VisitCodeError::Check),
                        "{t} from {code}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_check_detects_everything_algebraically() {
        // Independent of samples: for every position pair, every pair of distinct values, the sum
        // changes by a non-zero amount mod 37 (substitutions and swaps).
        for i in 0..CODE_LEN {
            for a in 0..34u32 {
                for b in 0..34u32 {
                    if a == b {
                        continue;
                    }
                    let sub = (weight(i) * (a + MODULUS * 40 - b)) % MODULUS;
                    assert_ne!(sub, 0);
                    for j in i + 1..CODE_LEN {
                        let swap = ((weight(j) - weight(i)) * (a + MODULUS * 40 - b)) % MODULUS;
                        assert_ne!(swap, 0);
                    }
                }
            }
        }
    }

    #[test]
    fn malformed_codes_get_their_reason() {
        let code = sample(3);
        let s = code.as_str();
        assert_eq!(VisitCode::parse(&s[..19]), Err(VisitCodeError::Length));
        assert_eq!(VisitCode::parse(&format!("{s}0")), Err(VisitCodeError::Length));
        assert_eq!(VisitCode::parse(""), Err(VisitCodeError::Length));
        let with_o = format!("O{}", &s[1..]);
        assert_eq!(
            VisitCode::parse(&with_o),
            Err(VisitCodeError::Symbol { position: 1 })
        );
        let lower = s.to_ascii_lowercase();
        if lower != s {
            assert!(VisitCode::parse(&lower).is_err());
            assert_eq!(VisitCode::parse_typed(&format!("  {lower} ")).unwrap(), code);
        }
        let msg = VisitCode::parse(&with_o).unwrap_err().to_string();
        assert!(!msg.contains(&s[1..]), "{msg}");
    }

    #[test]
    fn the_missing_form() {
        assert_eq!(
            VisitCode::parse(MISSING_CODE),
            Err(VisitCodeError::MissingNotAllowed)
        );
        let m = VisitCode::parse_allowing_missing(MISSING_CODE).unwrap();
        assert!(m.is_missing());
        assert_eq!(m.as_str(), "MISS0000000000000000");
        assert!(!sample(0).is_missing());
        assert!(VisitCode::parse_allowing_missing("MISS000000000000000").is_err());
        assert!(check_actual_code(4, MISSING_CODE).unwrap().is_missing());
        assert_eq!(
            check_actual_code(4, sample(0).as_str()),
            Err(VisitCodeError::MissingRequired)
        );
        assert_eq!(
            check_actual_code(2, MISSING_CODE),
            Err(VisitCodeError::MissingNotAllowed)
        );
        assert_eq!(check_actual_code(2, sample(0).as_str()).unwrap(), sample(0));
    }

    #[test]
    fn serde_round_trip() {
        let code = sample(9);
        let json = serde_json::to_string(&code).unwrap();
        assert_eq!(json, format!("\"{code}\""));
        assert_eq!(serde_json::from_str::<VisitCode>(&json).unwrap(), code);
        let m: VisitCode = serde_json::from_str(&format!("\"{MISSING_CODE}\"")).unwrap();
        assert!(m.is_missing());
        assert!(serde_json::from_str::<VisitCode>("\"00000000000000000001\"").is_err());
    }

    #[test]
    fn device_id_and_key_store() {
        assert_eq!(
            VisitCodeGenerator::new(&[0; 32], "").unwrap_err(),
            VisitCodeError::DeviceId
        );
        assert!(VisitCodeGenerator::new(&[0; 32], &"x".repeat(65)).is_err());
        let keys = MemoryKeyStore::with_seed(1);
        let a = VisitCodeGenerator::from_key_store(&keys, "d").unwrap();
        let b = VisitCodeGenerator::from_key_store(&keys, "d").unwrap();
        let person = NationalId::parse("A123456789").unwrap();
        let inst = InstitutionCode::parse("3501200000").unwrap();
        let at = RocDateTime::parse("1130305143005").unwrap();
        let input = VisitCodeInput {
            person: &person,
            at,
            institution: &inst,
        };
        assert_eq!(
            a.generate(5, &input).unwrap(),
            b.generate(5, &input).unwrap(),
            "same stored key"
        );
        assert!(!format!("{input:?}").contains("A123456789"));
        let e: RuleError = VisitCodeError::Check.into();
        assert!(e.to_string().starts_with("visit_code: check character"));
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC{0,24}") {
            let _ = VisitCode::parse(&s);
            let _ = VisitCode::parse_typed(&s);
            let _ = VisitCode::parse_allowing_missing(&s);
        }

        #[test]
        fn random_strings_of_the_alphabet_pass_only_with_the_right_check(s in "[0-9A-HJ-NP-Z]{20}") {
            let values: Vec<u32> = s.bytes().map(|c| symbol_value(c).unwrap()).collect();
            prop_assert_eq!(VisitCode::parse(&s).is_ok(), check_sum(&values) == 0);
        }

        #[test]
        fn generated_codes_round_trip(counter in any::<u64>(), secs in 0i64..4_000_000_000, device in "[a-z0-9-]{1,64}") {
            let person = NationalId::parse("F131104093").unwrap();
            let inst = InstitutionCode::parse("1234567890").unwrap();
            let at = RocDateTime::from_unix_ms(secs * 1000).unwrap();
            let g = VisitCodeGenerator::new(&[3u8; 32], &device).unwrap();
            let code = g.generate(counter, &VisitCodeInput { person: &person, at, institution: &inst }).unwrap();
            prop_assert!(is_code_shape(code.as_str()));
            prop_assert_eq!(VisitCode::parse(code.as_str()).unwrap(), code.clone());
            prop_assert_eq!(code.as_str().parse::<VisitCode>().unwrap(), code);
        }
    }
}
