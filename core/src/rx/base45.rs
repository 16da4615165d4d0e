//! Base45 (RFC 9285): bytes as text in the QR alphanumeric alphabet, so the QR code can use
//! alphanumeric mode (5.5 bits per character). Small enough to write here rather than add a crate.

/// The 45 characters of the QR alphanumeric mode, in Base45 value order.
pub const ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Why Base45 text could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Base45Error {
    /// A character outside the alphabet.
    #[error("character outside the Base45 alphabet at {0}")]
    BadChar(usize),
    /// The length leaves one dangling character.
    #[error("Base45 text length leaves a dangling character")]
    BadLength,
    /// A group decodes to more than its bytes can hold.
    #[error("Base45 group out of range at {0}")]
    Overflow(usize),
}

/// Encodes bytes as Base45 text.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(2) * 3);
    let mut push = |v: usize| out.push(char::from(ALPHABET[v]));
    for pair in bytes.chunks(2) {
        if let [a, b] = pair {
            let n = usize::from(*a) * 256 + usize::from(*b);
            push(n % 45);
            push(n / 45 % 45);
            push(n / 2025);
        } else {
            let n = usize::from(pair[0]);
            push(n % 45);
            push(n / 45);
        }
    }
    out
}

fn value(c: u8, at: usize) -> Result<u32, Base45Error> {
    ALPHABET
        .iter()
        .position(|&a| a == c)
        .map(|v| v as u32)
        .ok_or(Base45Error::BadChar(at))
}

/// Decodes Base45 text.
pub fn decode(text: &str) -> Result<Vec<u8>, Base45Error> {
    let t = text.as_bytes();
    if t.len() % 3 == 1 {
        return Err(Base45Error::BadLength);
    }
    let mut out = Vec::with_capacity(t.len() / 3 * 2 + 1);
    for (g, chunk) in t.chunks(3).enumerate() {
        let at = g * 3;
        let mut n = 0u32;
        let mut mul = 1u32;
        for (i, &c) in chunk.iter().enumerate() {
            n += value(c, at + i)? * mul;
            mul *= 45;
        }
        if chunk.len() == 3 {
            if n > 0xFFFF {
                return Err(Base45Error::Overflow(at));
            }
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            if n > 0xFF {
                return Err(Base45Error::Overflow(at));
            }
            out.push(n as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc9285_vectors() {
        assert_eq!(encode(b"AB"), "BB8");
        assert_eq!(encode(b"Hello!!"), "%69 VD92EX0");
        assert_eq!(encode(b"base-45"), "UJCLQE7W581");
        assert_eq!(decode("QED8WEX0").unwrap(), b"ietf!");
        assert_eq!(decode("").unwrap(), b"");
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!(decode("GGW"), Err(Base45Error::Overflow(0)));
        assert_eq!(decode("ab8"), Err(Base45Error::BadChar(0)));
        assert_eq!(decode("BB8B"), Err(Base45Error::BadLength));
        assert_eq!(decode(":::"), Err(Base45Error::Overflow(0)));
    }

    proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(decode(&encode(&bytes)).unwrap(), bytes);
        }
        #[test]
        fn never_panics(text in ".{0,200}") {
            let _ = decode(&text);
        }
    }
}
