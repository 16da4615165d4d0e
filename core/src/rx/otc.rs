//! One-time verification codes (一次性驗證碼) for pharmacies without a scanner: short, from
//! characters nobody confuses, registered with the server and good for one dispense.

use super::RxError;
use ring::rand::{SecureRandom, SystemRandom};

/// 31 characters: digits and capitals without `0 O 1 I L`.
pub const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Characters in a code (31^8 ≈ 8.5 × 10^11 codes).
pub const LEN: usize = 8;

/// A fresh random code, e.g. `K7QD3MXA`.
pub fn generate() -> Result<String, RxError> {
    let rng = SystemRandom::new();
    let mut out = String::with_capacity(LEN);
    while out.len() < LEN {
        let mut b = [0u8; 16];
        rng.fill(&mut b)
            .map_err(|_| RxError::Key("no system randomness".into()))?;
        // Rejection sampling: 248 = 8 × 31 keeps the choice uniform.
        for &x in b.iter().filter(|&&x| x < 248) {
            if out.len() < LEN {
                out.push(char::from(ALPHABET[usize::from(x % 31)]));
            }
        }
    }
    Ok(out)
}

/// What a person typed, normalised: upper-case, spaces and dashes dropped; `None` when it cannot be
/// a code (wrong length or a character outside the alphabet).
pub fn normalize(typed: &str) -> Option<String> {
    let s: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (s.len() == LEN && s.bytes().all(|b| ALPHABET.contains(&b))).then_some(s)
}

/// The code as shown to people: `K7QD-3MXA`.
pub fn display(code: &str) -> String {
    if code.len() == LEN && code.is_ascii() {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_short_unambiguous_and_distinct() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), LEN);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| !b"0O1IL".contains(&c)));
        assert_eq!(normalize(&display(&a).to_lowercase()), Some(a.clone()));
        assert_eq!(normalize(" k7qd 3mxa "), Some("K7QD3MXA".into()));
        assert_eq!(normalize("K7QD3MX0"), None, "0 is not in the alphabet");
        assert_eq!(normalize("K7QD3MX"), None);
        assert_eq!(display("K7QD3MXA"), "K7QD-3MXA");
    }
}
