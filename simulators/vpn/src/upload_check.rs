//! The checker rules of `shared/domain.md` §10 for the 2.0 record, one pure function per rule,
//! run by [`crate::upload::validate`] at one point ([`check`]). A refusal names the field and the
//! reason (the device shows it as a rejected job). The fixed vectors of the device's writer
//! (`homevisit_core::vpn::upload_xml::vectors`) are parsed and accepted here.
//!
//! Rules: M07 `01`–`09` ⇒ M13 in `0001`–`1500` and M35 + M44; format `B` ⇒ M13 an announced
//! abnormal code; M13 `G000` ⇒ M12 = 1; M12 = 4 ⇒ M52 = `MISS0000000000000000`; M49 earlier than
//! M11; the original visit M16–M19 all or none; the dispensing data M20–M24 consistent; D04/D05/D11
//! only on drug orders with their codes; D07 site and D08 usage within the card's field widths
//! (6 and 18). One malformed `RECS` rejects the batch: that is [`crate::upload::parse_batch`].

use crate::upload::{Invalid, MISSING_VISIT_CODE, Record};
use homevisit_core::model::{RocDateTime, SequenceNumber};
use std::collections::BTreeMap;

fn inv(field: &str, reason: &str) -> Invalid {
    Invalid {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

fn m<'a>(rec: &'a Record, f: &str) -> Option<&'a str> {
    rec.mb1.get(f).map(String::as_str).filter(|v| !v.is_empty())
}

fn digits(s: &str, max_len: usize) -> bool {
    !s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit())
}

/// Every rule of this module, in order; the first refusal wins.
pub fn check(rec: &Record) -> Result<(), Invalid> {
    counted_visit_needs_sequence_number_diagnosis_and_fee(rec)?;
    format_b_needs_an_announced_abnormal_code(rec)?;
    g000_needs_m12_1(rec)?;
    m12_4_needs_m52_miss(rec)?;
    m49_is_earlier_than_m11(rec)?;
    original_visit_is_m16_to_m19_together(rec)?;
    dispensing_data_is_consistent(rec)?;
    for (i, order) in rec.mb2.iter().enumerate() {
        prescription_fields_only_on_drugs(i, order)?;
        site_and_usage_fit_the_card(i, order)?;
    }
    Ok(())
}

/// M07 `01`–`09` (a counted visit) ⇒ M13 a sequence number `0001`–`1500`, and M35 and M44 present.
pub fn counted_visit_needs_sequence_number_diagnosis_and_fee(rec: &Record) -> Result<(), Invalid> {
    let counted = m(rec, "M07").is_some_and(|t| t.len() == 2 && ("01"..="09").contains(&t));
    if !counted {
        return Ok(());
    }
    // `0001`–`1500`, or a virtual card's `V` number (which stands in for one).
    let normal = SequenceNumber::parse(m(rec, "M13").unwrap_or("")).is_ok_and(|s| s.abnormal().is_none());
    // Format B (an announced abnormal code) is the one exception a counted visit may take.
    let abnormal = rec.msh.get("H01").map(String::as_str) == Some("B");
    if !normal && !abnormal {
        return Err(inv(
            "M13",
            "a counted visit type needs a sequence number 0001-1500",
        ));
    }
    if m(rec, "M35").is_none() {
        return Err(inv("M35", "a counted visit type needs the main diagnosis"));
    }
    if m(rec, "M44").is_none() {
        return Err(inv("M44", "a counted visit type needs the medical fee"));
    }
    Ok(())
}

/// Format `B` ⇒ M13 is an announced abnormal code.
pub fn format_b_needs_an_announced_abnormal_code(rec: &Record) -> Result<(), Invalid> {
    if rec.msh.get("H01").map(String::as_str) != Some("B") {
        return Ok(());
    }
    let announced = SequenceNumber::parse(m(rec, "M13").unwrap_or(""))
        .ok()
        .and_then(|s| s.abnormal())
        .is_some();
    if announced {
        Ok(())
    } else {
        Err(inv("M13", "format B requires an announced abnormal code"))
    }
}

/// M13 `G000` (new contract) ⇒ M12 = 1.
pub fn g000_needs_m12_1(rec: &Record) -> Result<(), Invalid> {
    if m(rec, "M13") == Some("G000") && m(rec, "M12") != Some("1") {
        return Err(inv("M12", "sequence code G000 requires M12 = 1"));
    }
    Ok(())
}

/// M12 = 4 (replacement without an actual visit code) ⇒ M52 = `MISS0000000000000000`.
pub fn m12_4_needs_m52_miss(rec: &Record) -> Result<(), Invalid> {
    if m(rec, "M12") == Some("4") && m(rec, "M52") != Some(MISSING_VISIT_CODE) {
        return Err(inv("M52", "M12 = 4 requires M52 = MISS0000000000000000"));
    }
    Ok(())
}

/// M49 (the actual visit date-time of a replacement) is earlier than M11.
pub fn m49_is_earlier_than_m11(rec: &Record) -> Result<(), Invalid> {
    let Some(m49) = m(rec, "M49") else {
        return Ok(());
    };
    let actual = RocDateTime::parse(m49).map_err(|_| inv("M49", "actual visit date-time is not valid"))?;
    let visit = RocDateTime::parse(m(rec, "M11").unwrap_or(""))
        .map_err(|_| inv("M11", "visit date-time is not a valid ROC YYYMMDDHHMMSS"))?;
    if actual >= visit {
        return Err(inv("M49", "actual visit date-time must be earlier than M11"));
    }
    Ok(())
}

/// The original visit (M16 code, M17 institution, M18 sequence number, M19 date-time) is written
/// whole or not at all, each in its shape.
pub fn original_visit_is_m16_to_m19_together(rec: &Record) -> Result<(), Invalid> {
    let fields = ["M16", "M17", "M18", "M19"];
    let present = fields.iter().filter(|f| m(rec, f).is_some()).count();
    if present == 0 {
        return Ok(());
    }
    if let Some(missing) = fields.iter().find(|f| m(rec, f).is_none()) {
        return Err(inv(
            missing,
            "the original visit needs M16, M17, M18 and M19 together",
        ));
    }
    let code = m(rec, "M16").unwrap_or("");
    let code_ok = code.len() == 20
        && code
            .bytes()
            .all(|b| (b.is_ascii_digit() || b.is_ascii_uppercase()) && b != b'I' && b != b'O');
    if !code_ok {
        return Err(inv(
            "M16",
            "original visit code must be 20 of 0-9A-Z without I and O",
        ));
    }
    let inst = m(rec, "M17").unwrap_or("");
    if inst.len() != 10 || !inst.bytes().all(|b| b.is_ascii_digit()) {
        return Err(inv("M17", "original institution must be 10 digits"));
    }
    SequenceNumber::parse(m(rec, "M18").unwrap_or(""))
        .map_err(|_| inv("M18", "original sequence number has the wrong shape"))?;
    let orig =
        RocDateTime::parse(m(rec, "M19").unwrap_or("")).map_err(|_| inv("M19", "not a valid date-time"))?;
    if let Ok(visit) = RocDateTime::parse(m(rec, "M11").unwrap_or(""))
        && orig > visit
    {
        return Err(inv(
            "M19",
            "the original visit cannot be later than this one (M11)",
        ));
    }
    Ok(())
}

/// Dispensing data: M20 days and M21 total days are digits, M23 is `0` or `1`, a chronic
/// prescription's M22 (this dispensing) is 1…M24 (dispensings in all, 2 or 3) and M21 = M20 × M24.
pub fn dispensing_data_is_consistent(rec: &Record) -> Result<(), Invalid> {
    for f in ["M20", "M21", "M22", "M24"] {
        if let Some(v) = m(rec, f)
            && !digits(v, 3)
        {
            return Err(inv(f, "must be digits"));
        }
    }
    if let Some(v) = m(rec, "M23")
        && !matches!(v, "0" | "1")
    {
        return Err(inv("M23", "dispensing method must be 0 (self) or 1 (released)"));
    }
    let num = |f: &str| m(rec, f).and_then(|v| v.parse::<u32>().ok());
    match (num("M22"), num("M24")) {
        (None, None) => {}
        (Some(this), Some(all)) => {
            if !(2..=3).contains(&all) {
                return Err(inv("M24", "a chronic prescription is dispensed 2 or 3 times"));
            }
            if this == 0 || this > all {
                return Err(inv("M22", "the dispensing number must be 1 to M24"));
            }
            if let (Some(days), Some(total)) = (num("M20"), num("M21"))
                && total != days * all
            {
                return Err(inv("M21", "chronic total days must be M20 × M24"));
            }
        }
        (Some(_), None) => return Err(inv("M24", "a dispensing number needs the dispensings in all")),
        (None, Some(_)) => return Err(inv("M22", "dispensings in all need the dispensing number")),
    }
    Ok(())
}

/// D04 prescription kind (`1`/`2`), D05 dispensing method (`0`/`1`) and D11 signature (hex) appear
/// only on drug orders (D02 `1`), each in its shape.
pub fn prescription_fields_only_on_drugs(i: usize, d: &BTreeMap<String, String>) -> Result<(), Invalid> {
    let which = |f: &str| format!("{f}#{}", i + 1);
    let get = |f: &str| d.get(f).map(String::as_str).filter(|v| !v.is_empty());
    let drug = get("D02") == Some("1");
    for f in ["D04", "D05", "D11"] {
        if get(f).is_some() && !drug {
            return Err(Invalid {
                field: which(f),
                reason: "prescription fields belong to drug orders (D02 = 1)".into(),
            });
        }
    }
    if let Some(v) = get("D04")
        && !matches!(v, "1" | "2")
    {
        return Err(Invalid {
            field: which("D04"),
            reason: "prescription kind must be 1 (ordinary) or 2 (chronic)".into(),
        });
    }
    if let Some(v) = get("D05")
        && !matches!(v, "0" | "1")
    {
        return Err(Invalid {
            field: which("D05"),
            reason: "dispensing method must be 0 (self) or 1 (released)".into(),
        });
    }
    if let Some(v) = get("D11")
        && (v.len() > 512 || !v.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(Invalid {
            field: which("D11"),
            reason: "prescription signature must be hex (at most 512)".into(),
        });
    }
    Ok(())
}

/// D07 (site) fits the card's 6 bytes and D08 (usage) its 18 bytes.
pub fn site_and_usage_fit_the_card(i: usize, d: &BTreeMap<String, String>) -> Result<(), Invalid> {
    for (f, max) in [("D07", 6), ("D08", 18)] {
        if let Some(v) = d.get(f)
            && v.len() > max
        {
            return Err(Invalid {
                field: format!("{f}#{}", i + 1),
                reason: format!("at most {max} characters (the card's field)"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::parse_batch;
    use homevisit_core::vpn::upload_xml::vectors;

    fn home() -> Record {
        parse_batch(vectors::HOME_VISIT.batch.as_bytes())
            .unwrap()
            .remove(0)
    }
    fn chronic() -> Record {
        parse_batch(vectors::CHRONIC_REFILL.batch.as_bytes())
            .unwrap()
            .remove(0)
    }
    fn set(rec: &mut Record, f: &str, v: &str) {
        match f {
            "H01" => {
                rec.msh.insert(f.into(), v.into());
            }
            _ if v.is_empty() => {
                rec.mb1.remove(f);
            }
            _ => {
                rec.mb1.insert(f.into(), v.into());
            }
        }
    }
    fn refused(rec: &Record) -> String {
        check(rec).unwrap_err().field
    }

    #[test]
    fn the_writer_vectors_parse_to_their_fields_and_pass() {
        for v in vectors::ALL {
            let recs = parse_batch(v.batch.as_bytes()).unwrap();
            assert_eq!(recs.len(), 1, "{}", v.name);
            let rec = &recs[0];
            for (f, want) in v.mb1 {
                assert_eq!(rec.mb1.get(*f).map(String::as_str), Some(*want), "{} {f}", v.name);
            }
            for (i, f, want) in v.mb2 {
                assert_eq!(
                    rec.mb2[*i].get(*f).map(String::as_str),
                    Some(*want),
                    "{} {f}",
                    v.name
                );
            }
            for (at, f) in v.absent {
                let present = match at {
                    None => rec.mb1.contains_key(*f),
                    Some(i) => rec.mb2[*i].contains_key(*f),
                };
                assert!(!present, "{} {f}", v.name);
            }
            check(rec).unwrap();
            crate::upload::validate(rec, "3501200000", i64::MAX / 4).unwrap();
        }
    }

    #[test]
    fn counted_visit_needs_sequence_number_0001_to_1500_m35_and_m44() {
        let mut r = home();
        set(&mut r, "M13", "1501");
        assert_eq!(refused(&r), "M13");
        let mut r = home();
        set(&mut r, "M07", "09");
        set(&mut r, "M13", "0000");
        assert_eq!(refused(&r), "M13");
        let mut r = home();
        set(&mut r, "M35", "");
        set(&mut r, "M36", "");
        assert_eq!(refused(&r), "M35");
        let mut r = home();
        set(&mut r, "M44", "");
        assert_eq!(refused(&r), "M44");
        let mut r = home();
        set(&mut r, "M07", "AH");
        set(&mut r, "M44", "");
        assert!(check(&r).is_ok());
    }

    #[test]
    fn format_b_needs_an_announced_abnormal_code_in_m13() {
        let mut r = home();
        set(&mut r, "H01", "B");
        assert_eq!(refused(&r), "M13");
        set(&mut r, "M13", "Q999");
        assert_eq!(refused(&r), "M13");
        set(&mut r, "M13", "F00B");
        assert!(check(&r).is_ok());
    }

    #[test]
    fn g000_needs_m12_equal_1() {
        let mut r = home();
        set(&mut r, "H01", "B");
        set(&mut r, "M13", "G000");
        set(&mut r, "M12", "2");
        set(&mut r, "M49", "1130304080000");
        assert_eq!(refused(&r), "M12");
        set(&mut r, "M12", "1");
        assert!(check(&r).is_ok());
    }

    #[test]
    fn m12_4_needs_m52_miss_and_16_zeros() {
        let mut r = parse_batch(vectors::REPLACEMENT_WITHOUT_CODE.batch.as_bytes())
            .unwrap()
            .remove(0);
        assert!(check(&r).is_ok());
        set(&mut r, "M52", "7K3P9QX2M4T8V6W1R5ZB");
        assert_eq!(refused(&r), "M52");
        set(&mut r, "M52", "");
        assert_eq!(refused(&r), "M52");
    }

    #[test]
    fn m49_must_be_earlier_than_m11() {
        let mut r = parse_batch(vectors::REPLACEMENT_WITHOUT_CODE.batch.as_bytes())
            .unwrap()
            .remove(0);
        set(&mut r, "M49", "1130305093015");
        assert_eq!(refused(&r), "M49");
        set(&mut r, "M49", "1130306080000");
        assert_eq!(refused(&r), "M49");
        set(&mut r, "M49", "not a time");
        assert_eq!(refused(&r), "M49");
    }

    #[test]
    fn original_visit_m16_to_m19_together_and_not_later() {
        let mut r = chronic();
        set(&mut r, "M18", "");
        assert_eq!(refused(&r), "M18");
        let mut r = chronic();
        set(&mut r, "M16", "7K3P9QX2M4T8V6W1R5ZI");
        assert_eq!(refused(&r), "M16");
        let mut r = chronic();
        set(&mut r, "M17", "35012");
        assert_eq!(refused(&r), "M17");
        let mut r = chronic();
        set(&mut r, "M19", "1130306080000");
        assert_eq!(refused(&r), "M19");
    }

    #[test]
    fn dispensing_data_m20_to_m24_consistent() {
        let mut r = chronic();
        set(&mut r, "M23", "2");
        assert_eq!(refused(&r), "M23");
        let mut r = chronic();
        set(&mut r, "M22", "4");
        assert_eq!(refused(&r), "M22");
        let mut r = chronic();
        set(&mut r, "M24", "5");
        set(&mut r, "M22", "1");
        assert_eq!(refused(&r), "M24");
        let mut r = chronic();
        set(&mut r, "M21", "56");
        assert_eq!(refused(&r), "M21");
        let mut r = chronic();
        set(&mut r, "M24", "");
        assert_eq!(refused(&r), "M24");
        let mut r = chronic();
        set(&mut r, "M20", "2x");
        assert_eq!(refused(&r), "M20");
    }

    #[test]
    fn prescription_fields_d04_d05_d11_only_on_drugs() {
        let mut r = chronic();
        r.mb2[0].insert("D04".into(), "1".into());
        assert_eq!(refused(&r), "D04#1");
        let mut r = chronic();
        r.mb2[1].insert("D05".into(), "7".into());
        assert_eq!(refused(&r), "D05#2");
        let mut r = chronic();
        r.mb2[1].insert("D04".into(), "3".into());
        assert_eq!(refused(&r), "D04#2");
        let mut r = chronic();
        r.mb2[1].insert("D11".into(), "not hex".into());
        assert_eq!(refused(&r), "D11#2");
    }

    #[test]
    fn site_fits_6_and_usage_fits_18() {
        let mut r = chronic();
        r.mb2[0].insert("D07".into(), "LEFT LOWER LEG".into());
        assert_eq!(refused(&r), "D07#1");
        let mut r = home();
        r.mb2[1].insert("D08".into(), "TID PO AFTER MEALS WITH WATER".into());
        assert_eq!(refused(&r), "D08#2");
    }

    #[test]
    fn one_malformed_recs_rejects_the_batch() {
        let two = [
            vectors::HOME_VISIT.batch.trim_end_matches("</RECS>"),
            "<REC><MSH><H00>1</H00></MSH><MB><MB1><M99>x</M99></MB1></MB></REC></RECS>",
        ]
        .concat();
        assert!(parse_batch(two.as_bytes()).is_err());
        let unclosed = vectors::CHRONIC_REFILL.batch.trim_end_matches("</RECS>");
        assert!(parse_batch(unclosed.as_bytes()).is_err());
    }
}
