//! The batch upload file name (seed 000 三, domain §4): `HMIC` + institution code (10) + upload
//! month (ROC `YYYMM`) + serial (`001`) + `.XML`, e.g. `HMIC350120000010505001.XML`.

use super::Violation;

const RULE: &str = "batch_file_name";

/// The file name of `institution`'s batch `serial` of ROC month `roc_year_month` (`YYYMM`).
pub fn file_name(institution: &str, roc_year_month: &str, serial: u32) -> Result<String, Violation> {
    let name = format!("HMIC{institution}{roc_year_month}{serial:03}.XML");
    parse(&name)?;
    Ok(name)
}

/// The parts of a batch file name: (institution, ROC `YYYMM`, serial).
pub fn parse(name: &str) -> Result<(String, String, u32), Violation> {
    let bad = |why: &str| Violation::invalid("file_name", RULE, why.to_string());
    let rest = name
        .strip_prefix("HMIC")
        .ok_or_else(|| bad("must start with HMIC"))?;
    let body = rest
        .strip_suffix(".XML")
        .ok_or_else(|| bad("must end with .XML"))?;
    if body.len() != 18 || !body.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            "must be HMIC + institution (10) + ROC YYYMM (5) + serial (3) + .XML",
        ));
    }
    let month: u32 = body[13..15].parse().map_err(|_| bad("bad month"))?;
    if !(1..=12).contains(&month) {
        return Err(bad("the month must be 01 to 12"));
    }
    let serial: u32 = body[15..].parse().map_err(|_| bad("bad serial"))?;
    if serial == 0 {
        return Err(bad("the serial starts at 001"));
    }
    Ok((body[..10].to_string(), body[10..15].to_string(), serial))
}
