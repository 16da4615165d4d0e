//! Fixed-width fields of the card's records: ASCII, Big5 text, digits, ROC dates and date-times.
//! Errors name the field, never its value.

use super::error::CardError;
use crate::model::{RocDate, RocDateTime};

/// Reads an ASCII field, trimming trailing spaces and NULs.
pub fn ascii(bytes: &[u8], what: &'static str) -> Result<String, CardError> {
    if !bytes.iter().all(|b| b.is_ascii() && (*b >= 0x20 || *b == 0)) {
        return Err(CardError::malformed(what, "not printable ASCII"));
    }
    let s: String = bytes.iter().map(|&b| b as char).collect();
    Ok(s.trim_end_matches(['\0', ' ']).to_string())
}

/// Writes `value` into a `width`-byte ASCII field, padded with spaces; too long or non-ASCII is an
/// input error.
pub fn put_ascii(out: &mut Vec<u8>, value: &str, width: usize, what: &'static str) -> Result<(), CardError> {
    if !value.is_ascii() || value.len() > width {
        return Err(CardError::Input(format!(
            "{what}: at most {width} ASCII characters"
        )));
    }
    out.extend_from_slice(value.as_bytes());
    out.extend(std::iter::repeat_n(b' ', width - value.len()));
    Ok(())
}

/// Writes a number as `width` zero-padded digits.
pub fn put_digits(out: &mut Vec<u8>, value: u64, width: usize, what: &'static str) -> Result<(), CardError> {
    let s = format!("{value:0width$}");
    if s.len() > width {
        return Err(CardError::Input(format!("{what}: more than {width} digits")));
    }
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// Reads a digits-only field as a number.
pub fn digits(bytes: &[u8], what: &'static str) -> Result<u64, CardError> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(CardError::malformed(what, "not digits"));
    }
    bytes
        .iter()
        .try_fold(0u64, |acc, &b| {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        })
        .ok_or_else(|| CardError::malformed(what, "number too large"))
}

/// Decodes a Big5 text field, NUL- or space-padded; invalid Big5 is malformed.
pub fn big5(bytes: &[u8], what: &'static str) -> Result<String, CardError> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let (text, _) = encoding_rs::BIG5
        .decode_without_bom_handling_and_without_replacement(&bytes[..end])
        .map(|c| (c.into_owned(), ()))
        .ok_or_else(|| CardError::malformed(what, "not valid Big5"))?;
    Ok(text.trim_end().to_string())
}

/// Encodes text as Big5 into a `width`-byte NUL-padded field.
pub fn put_big5(out: &mut Vec<u8>, value: &str, width: usize, what: &'static str) -> Result<(), CardError> {
    let (bytes, _, unmappable) = encoding_rs::BIG5.encode(value);
    if unmappable || bytes.len() > width {
        return Err(CardError::Input(format!(
            "{what}: must fit {width} bytes of Big5"
        )));
    }
    out.extend_from_slice(&bytes);
    out.extend(std::iter::repeat_n(0u8, width - bytes.len()));
    Ok(())
}

/// Parses a ROC date `YYYMMDD` (year − 1911) with `model::roc`.
pub fn roc_date(bytes: &[u8], what: &'static str) -> Result<RocDate, CardError> {
    let text = std::str::from_utf8(bytes).map_err(|_| CardError::malformed(what, "not ASCII"))?;
    RocDate::parse(text).map_err(|e| CardError::malformed(what, e.to_string()))
}

/// Writes a ROC date `YYYMMDD` (7 bytes).
pub fn put_roc_date(out: &mut Vec<u8>, date: RocDate) {
    out.extend_from_slice(date.to_roc_string().as_bytes());
}

/// Parses a ROC date-time `YYYMMDDHHMMSS` (Taiwan time) with `model::roc`.
pub fn roc_datetime(bytes: &[u8], what: &'static str) -> Result<RocDateTime, CardError> {
    let text = std::str::from_utf8(bytes).map_err(|_| CardError::malformed(what, "not ASCII"))?;
    RocDateTime::parse(text).map_err(|e| CardError::malformed(what, e.to_string()))
}

/// Writes a ROC date-time `YYYMMDDHHMMSS` (13 bytes).
pub fn put_roc_datetime(out: &mut Vec<u8>, at: RocDateTime) {
    out.extend_from_slice(at.to_roc_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roc_dates_both_ways() {
        let d = roc_date(b"1130305", "d").unwrap();
        assert_eq!(d.naive(), chrono::NaiveDate::from_ymd_opt(2024, 3, 5).unwrap());
        let mut out = Vec::new();
        put_roc_date(&mut out, d);
        assert_eq!(out, b"1130305");
        assert!(roc_date(b"1130230", "d").is_err());
        assert!(roc_date(b"11303a5", "d").is_err());
        let t = roc_datetime(b"1130305142501", "t").unwrap();
        let mut out = Vec::new();
        put_roc_datetime(&mut out, t);
        assert_eq!(out, b"1130305142501");
        assert!(roc_datetime(b"1130305246001", "t").is_err());
    }

    #[test]
    fn big5_and_ascii_fields() {
        let mut out = Vec::new();
        put_big5(&mut out, "王小明", 20, "name").unwrap();
        assert_eq!(&out[..6], &[0xA4, 0xFD, 0xA4, 0x70, 0xA9, 0xFA]);
        assert_eq!(out.len(), 20);
        assert_eq!(big5(&out, "name").unwrap(), "王小明");
        assert!(big5(&[0xA4], "name").is_err());
        assert!(put_big5(&mut Vec::new(), "😀", 20, "name").is_err());
        assert_eq!(ascii(b"AB  \0", "x").unwrap(), "AB");
        assert!(ascii(&[0x80], "x").is_err());
        assert!(put_ascii(&mut Vec::new(), "toolong", 3, "x").is_err());
    }
}
