//! Card data upload format 2.0 on the server side: an independent Big5 XML parser (quick-xml, not
//! the core's writer), the checker rules per record, and the per-record, idempotent storage.
//!
//! Each record's content is kept per visit code with its digest (`rules::correction`, shared with
//! the device): a new record is answered `ok` with the digest, a resend `dup` with the digest of
//! what is stored (so the device tells a retry from a conflict); a correction (A01 = 3/4, within
//! 3 months by `rules::correction::check_correction_window`) replaces the stored content, a
//! deletion (A02 = 1) marks it deleted; a `ZA`/`ZB` record cancels the stored visit.

use homevisit_core::model::{NationalId, RocDate, RocDateTime, SequenceNumber, VisitType};
use homevisit_core::rules::correction::{self, RecordState};
use homevisit_core::vpn::wire::{InvalidRow, RecordResult, RecordStatus, UploadResponse, UploadResult};
use quick_xml::events::Event;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;

/// The visit identification code of a card-replacement upload without one.
pub const MISSING_VISIT_CODE: &str = "MISS0000000000000000";

/// One `REC` as read from the XML.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// `MSH` fields (H00, H01).
    pub msh: BTreeMap<String, String>,
    /// `MB1` fields (M01–M56).
    pub mb1: BTreeMap<String, String>,
    /// One map per `MB2` (D01–D15).
    pub mb2: Vec<BTreeMap<String, String>>,
}

impl Record {
    fn m(&self, field: &str) -> Option<&str> {
        self.mb1.get(field).map(String::as_str).filter(|v| !v.is_empty())
    }
    /// The visit identification code (M15), or empty.
    pub fn visit_code(&self) -> &str {
        self.m("M15").unwrap_or("")
    }
}

/// Why a whole batch was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

fn field_name_ok(parent: &str, name: &str) -> bool {
    let num = |prefix: char, max: u32| {
        name.len() == 3
            && name.starts_with(prefix)
            && name[1..].bytes().all(|b| b.is_ascii_digit())
            && name[1..].parse::<u32>().is_ok_and(|n| (1..=max).contains(&n))
    };
    match parent {
        "MSH" => matches!(name, "H00" | "H01" | "A01" | "A02"),
        "MB1" => num('M', 56),
        "MB2" => num('D', 15),
        _ => false,
    }
}

fn in_field(stack: &[String]) -> bool {
    stack.len() >= 2 && field_name_ok(&stack[stack.len() - 2], &stack[stack.len() - 1])
}

/// Parses a whole batch; anything malformed refuses the batch as a whole.
pub fn parse_batch(bytes: &[u8]) -> Result<Vec<Record>, Malformed> {
    let bad = |s: &str| Malformed(s.to_string());
    let head = &bytes[..bytes.len().min(64)];
    let head_text = String::from_utf8_lossy(head).to_ascii_lowercase();
    if !head_text.starts_with("<?xml") || !head_text.contains("encoding=\"big5\"") {
        return Err(bad(
            "the document must start with an XML declaration of encoding Big5",
        ));
    }
    let text = encoding_rs::BIG5
        .decode_without_bom_handling_and_without_replacement(bytes)
        .ok_or_else(|| bad("the document is not valid Big5"))?;
    let mut reader = quick_xml::Reader::from_str(&text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<String> = Vec::new();
    let mut records = Vec::new();
    let mut current: Option<Record> = None;
    let mut value = String::new();
    let mut seen_root = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| Malformed(format!("XML error at byte {}: {e}", reader.buffer_position())))?;
        match event {
            Event::Decl(_) if stack.is_empty() && !seen_root => {}
            Event::Comment(_) => {}
            Event::Start(e) => {
                let name = e.name().as_ref().to_string();
                if e.attributes().next().is_some() {
                    return Err(Malformed(format!("{name}: attributes are not allowed")));
                }
                let parent = stack.last().map(String::as_str).unwrap_or("");
                match (parent, name.as_str()) {
                    ("", "RECS") if !seen_root => seen_root = true,
                    ("RECS", "REC") => current = Some(Record::default()),
                    ("REC", "MSH") | ("REC", "MB") | ("MB", "MB1") => {
                        let rec = current.as_mut().ok_or_else(|| bad("element outside REC"))?;
                        let dup = match name.as_str() {
                            "MSH" => !rec.msh.is_empty(),
                            "MB1" => !rec.mb1.is_empty(),
                            _ => false,
                        };
                        if dup {
                            return Err(Malformed(format!("REC has two {name}")));
                        }
                    }
                    ("MB", "MB2") => current
                        .as_mut()
                        .ok_or_else(|| bad("element outside REC"))?
                        .mb2
                        .push(BTreeMap::new()),
                    (p, n) if field_name_ok(p, n) => value.clear(),
                    (p, n) => {
                        return Err(Malformed(format!(
                            "unexpected element <{n}> inside <{}>",
                            if p.is_empty() { "document" } else { p }
                        )));
                    }
                }
                stack.push(name);
            }
            Event::Empty(e) => {
                let name = e.name().as_ref().to_string();
                let parent = stack.last().map(String::as_str).unwrap_or("");
                if !field_name_ok(parent, &name) {
                    return Err(Malformed(format!("unexpected empty element <{name}>")));
                }
                // An empty field is the same as an absent one.
            }
            Event::Text(t) => {
                let s = t.xml10_content();
                let leaf = in_field(&stack);
                if leaf {
                    value.push_str(&s);
                } else if !s.trim().is_empty() {
                    return Err(bad("text outside a field"));
                }
            }
            Event::CData(c) => {
                let leaf = in_field(&stack);
                if !leaf {
                    return Err(bad("CDATA outside a field"));
                }
                value.push_str(&c.xml10_content());
            }
            Event::GeneralRef(r) => {
                let leaf = in_field(&stack);
                if !leaf {
                    return Err(bad("entity outside a field"));
                }
                if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => value.push(c),
                        _ => return Err(bad("bad character reference")),
                    }
                } else {
                    value.push(match r.xml10_content().as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => return Err(bad("unknown entity")),
                    });
                }
            }
            Event::End(e) => {
                let name = e.name().as_ref().to_string();
                stack.pop();
                let parent = stack.last().map(String::as_str).unwrap_or("");
                if field_name_ok(parent, &name) {
                    // XML 1.0 allows no control character but tab, line feed and carriage return.
                    if value.chars().any(|c| c < ' ' && !matches!(c, '\t' | '\n' | '\r')) {
                        return Err(Malformed(format!("field {name} holds a control character")));
                    }
                    let rec = current.as_mut().ok_or_else(|| bad("field outside REC"))?;
                    let map = match parent {
                        "MSH" => &mut rec.msh,
                        "MB1" => &mut rec.mb1,
                        _ => rec.mb2.last_mut().ok_or_else(|| bad("MB2 field outside MB2"))?,
                    };
                    if map.insert(name.clone(), std::mem::take(&mut value)).is_some() {
                        return Err(Malformed(format!("field {name} appears twice")));
                    }
                } else if name == "REC" {
                    let rec = current.take().ok_or_else(|| bad("REC closed twice"))?;
                    if rec.msh.is_empty() {
                        return Err(Malformed(format!("REC {} has no MSH", records.len() + 1)));
                    }
                    if rec.mb1.is_empty() {
                        return Err(Malformed(format!("REC {} has no MB/MB1", records.len() + 1)));
                    }
                    records.push(rec);
                }
            }
            Event::Eof => break,
            _ => return Err(bad("unexpected XML construct (DTD or processing instruction)")),
        }
    }
    if !stack.is_empty() || !seen_root {
        return Err(bad("the document ends before RECS is closed"));
    }
    if records.is_empty() {
        return Err(bad("RECS holds no REC"));
    }
    Ok(records)
}

/// A record broke a checker rule: the field and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field at fault, e.g. `M13`.
    pub field: String,
    /// Why.
    pub reason: String,
}

fn inv(field: &str, reason: impl Into<String>) -> Invalid {
    Invalid {
        field: field.to_string(),
        reason: reason.into(),
    }
}

fn is_digits(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

fn visit_code_shape(code: &str) -> bool {
    code.len() == 20
        && code
            .bytes()
            .all(|b| (b.is_ascii_digit() || b.is_ascii_uppercase()) && b != b'I' && b != b'O')
}

fn icd10_shape(code: &str) -> bool {
    let b = code.as_bytes();
    (3..=7).contains(&b.len())
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_digit()
        && b[2..]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

/// Checks M14 as the NHI can: the cloud SAM `sam` of the (simulated) key hierarchy signed M02, M11,
/// M13, M05 and M15 (see `nhi_reader_sim::keys::visit_signature`).
fn signature_matches(rec: &Record, sam: &str, signature_hex: &str) -> bool {
    let get = |f: &str| rec.m(f).unwrap_or("").to_string();
    let request = homevisit_core::card::sam::VisitSignRequest {
        session: String::new(),
        card_proof: [0; 32],
        card_number: get("M02"),
        visit_datetime: get("M11"),
        sequence_number: get("M13"),
        institution: get("M05"),
        visit_code: get("M15"),
        card_mac: [0; 32],
    };
    let keys = nhi_reader_sim::keys::KeyHierarchy::simulated();
    let expected = nhi_reader_sim::keys::visit_signature(&keys.sam_key(sam), &request);
    nhi_reader_sim::keys::ct_eq(expected.as_bytes(), signature_hex.to_ascii_uppercase().as_bytes())
}

/// A virtual-card visit (M13 `V…`, our reading of shared/domain.md §3 and seed 003): the card was
/// present (M12 = 1, no replacement), and the NHI's virtual-card signer gave the number, so M01 is
/// [`crate::vcard::SIGNER_ID`] and M14 its signature (verified below like a cloud SAM's). That
/// signer signs nothing else.
fn virtual_card_rules(rec: &Record, seq: SequenceNumber) -> Result<(), Invalid> {
    let virtual_signer = rec.m("M01") == Some(crate::vcard::SIGNER_ID);
    if !matches!(seq, SequenceNumber::Virtual(_)) {
        if virtual_signer {
            return Err(inv(
                "M01",
                "the virtual-card signer signs only V sequence numbers",
            ));
        }
        return Ok(());
    }
    if rec.m("M12") != Some("1") {
        return Err(inv(
            "M12",
            "a virtual-card visit is never a card replacement (M12 = 1)",
        ));
    }
    if !virtual_signer {
        return Err(inv(
            "M01",
            "a virtual-card visit carries the NHI's virtual-card signer id",
        ));
    }
    if rec.m("M14").is_none() {
        return Err(inv(
            "M14",
            "a virtual-card visit needs the NHI's signature of its V number",
        ));
    }
    Ok(())
}

/// Applies the known checker rules to one record. `institution` is the uploading device's;
/// `now_ms` the server's clock.
pub fn validate(rec: &Record, institution: &str, now_ms: i64) -> Result<(), Invalid> {
    let h00 = rec.msh.get("H00").map(String::as_str).unwrap_or("");
    if h00 != "1" {
        return Err(inv("H00", "data type must be 1 (card data)"));
    }
    let format = rec.msh.get("H01").map(String::as_str).unwrap_or("");
    if format != "A" && format != "B" {
        return Err(inv("H01", "format must be A (normal) or B (abnormal)"));
    }
    if let Some(a01) = rec.msh.get("A01") {
        match RecordState::parse(a01) {
            Some(state) if state.is_abnormal() == (format == "B") => {}
            Some(_) => return Err(inv("A01", "record state must agree with the format (H01)")),
            None => return Err(inv("A01", "record state must be 1-4")),
        }
    }
    for f in ["M03", "M04", "M05", "M06", "M07", "M11", "M12", "M13", "M15"] {
        if rec.m(f).is_none() {
            return Err(inv(f, "required field is missing"));
        }
    }
    let get = |f: &str| rec.m(f).unwrap_or("");
    NationalId::parse(get("M03")).map_err(|e| inv("M03", format!("national ID: {}", e.reason)))?;
    RocDate::parse(get("M04")).map_err(|_| inv("M04", "birth date is not a valid ROC date YYYMMDD"))?;
    if !is_digits(get("M05"), 10) {
        return Err(inv("M05", "institution code must be 10 digits"));
    }
    if get("M05") != institution {
        return Err(inv("M05", "not the institution this device is bound to"));
    }
    NationalId::parse(get("M06")).map_err(|e| inv("M06", format!("practitioner ID: {}", e.reason)))?;
    let visit_type = VisitType::parse(get("M07")).map_err(|_| inv("M07", "unknown visit type"))?;
    let visit_time = RocDateTime::parse(get("M11"))
        .map_err(|_| inv("M11", "visit date-time is not a valid ROC YYYMMDDHHMMSS"))?;
    if visit_time.unix_ms() > now_ms + 86_400_000 {
        return Err(inv("M11", "visit date-time is in the future"));
    }
    let m12 = get("M12");
    if !matches!(m12, "1" | "2" | "3" | "4") {
        return Err(inv("M12", "card-replacement flag must be 1-4"));
    }
    let seq = SequenceNumber::parse(get("M13"))
        .map_err(|e| inv("M13", format!("sequence number: {}", e.reason)))?;
    virtual_card_rules(rec, seq)?;
    if visit_type.is_counted() && format == "A" && seq.abnormal().is_some() {
        return Err(inv(
            "M13",
            "a counted visit type needs a sequence number 0001-1500",
        ));
    }
    match (format, seq.abnormal()) {
        ("B", None) => return Err(inv("M13", "format B requires an announced abnormal code")),
        ("A", Some(_)) => return Err(inv("H01", "an abnormal sequence code requires format B")),
        _ => {}
    }
    if visit_type.is_counted() {
        if rec.m("M35").is_none() {
            return Err(inv("M35", "a counted visit type needs the main diagnosis"));
        }
        if rec.m("M44").is_none() {
            return Err(inv("M44", "a counted visit type needs the medical fee"));
        }
    }
    if let Some(required) = seq.required_replacement_flag()
        && m12 != required.to_string()
    {
        return Err(inv(
            "M12",
            format!("sequence code {} requires M12 = {required}", seq.code()),
        ));
    }
    if m12 == "4" && get("M52") != MISSING_VISIT_CODE {
        return Err(inv("M52", "M12 = 4 requires M52 = MISS0000000000000000"));
    }
    if matches!(m12, "2" | "4") && rec.m("M49").is_none() {
        return Err(inv("M49", "a card replacement needs the actual visit date-time"));
    }
    if let Some(m49) = rec.m("M49") {
        let actual =
            RocDateTime::parse(m49).map_err(|_| inv("M49", "actual visit date-time is not valid"))?;
        if actual >= visit_time {
            return Err(inv("M49", "actual visit date-time must be earlier than M11"));
        }
    }
    let code = get("M15");
    if code == MISSING_VISIT_CODE {
        if !matches!(m12, "2" | "4") {
            return Err(inv("M15", "MISS0000000000000000 only for a card replacement"));
        }
    } else if !visit_code_shape(code) {
        return Err(inv(
            "M15",
            "visit identification code must be 20 of 0-9A-Z without I and O",
        ));
    }
    if let Some(m52) = rec.m("M52")
        && m52 != MISSING_VISIT_CODE
        && !visit_code_shape(m52)
    {
        return Err(inv("M52", "actual visit identification code has the wrong shape"));
    }
    if let Some(sig) = rec.m("M14")
        && (sig.len() != 256 || !sig.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(inv("M14", "security signature must be 256 hex characters"));
    }
    if let Some(sam) = rec.m("M01")
        && sam.len() != 12
    {
        return Err(inv("M01", "SAM id must be 12 characters"));
    }
    if let Some(sig) = rec.m("M14") {
        let Some(sam) = rec.m("M01") else {
            return Err(inv("M01", "a security signature needs the SAM id that made it"));
        };
        if !signature_matches(rec, sam, sig) {
            return Err(inv(
                "M14",
                "security signature does not match the card number, visit date-time, sequence number, institution and visit code",
            ));
        }
    }
    for f in ["M35", "M36", "M37", "M38", "M39", "M40"] {
        if let Some(dx) = rec.m(f)
            && !icd10_shape(dx)
        {
            return Err(inv(f, "diagnosis must be ICD-10-CM, upper-case, without the dot"));
        }
    }
    for f in ["M44", "M45", "M46", "M47", "M48"] {
        if let Some(v) = rec.m(f)
            && (v.is_empty() || v.len() > 8 || !v.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(inv(f, "points must be digits"));
        }
    }
    let mut serials = std::collections::BTreeSet::new();
    for (i, d) in rec.mb2.iter().enumerate() {
        let get = |f: &str| d.get(f).map(String::as_str).unwrap_or("");
        let which = |f: &str| format!("{f}#{}", i + 1);
        if !matches!(get("D02"), "1" | "2" | "G") {
            return Err(inv(&which("D02"), "order type must be 1, 2 or G"));
        }
        let serial = get("D03");
        if !is_digits(serial, 3) || serial == "000" || !serials.insert(serial.to_string()) {
            return Err(inv(&which("D03"), "order serial must be a unique 001-999"));
        }
        if get("D06").is_empty() || get("D06").len() > 12 {
            return Err(inv(
                &which("D06"),
                "order code is required (at most 12 characters)",
            ));
        }
        if let Some(total) = d.get("D10") {
            let ok = total.len() == 6
                && total.as_bytes()[4] == b'.'
                && total.bytes().filter(|b| b.is_ascii_digit()).count() == 5;
            if !ok {
                return Err(inv(&which("D10"), "total must be written 0000.0"));
            }
        }
        if let Some(days) = d.get("D09")
            && (days.is_empty() || days.len() > 3 || !days.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(inv(&which("D09"), "days must be digits"));
        }
    }
    crate::upload_check::check(rec)
}

/// The key a visit is stored under once: its visit identification code, or (for a replacement
/// without one) the 1.0↔2.0 match key ID + birth date + visit date-time + visit type.
pub fn dedup_key(rec: &Record) -> String {
    let code = rec.visit_code();
    if code != MISSING_VISIT_CODE {
        return code.to_string();
    }
    let get = |f: &str| rec.m(f).unwrap_or("");
    format!("MISS:{}:{}:{}:{}", get("M03"), get("M04"), get("M11"), get("M07"))
}

/// Which upload route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKind {
    /// New records.
    Normal,
    /// Corrections of stored records.
    Correction,
}

impl UploadKind {
    fn as_str(self) -> &'static str {
        match self {
            UploadKind::Normal => "normal",
            UploadKind::Correction => "correction",
        }
    }
}

/// The per-visit-code content store (created on first use, beside `db.rs`'s `visits`).
const CONTENT_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS record_content (
    key TEXT NOT NULL, institution TEXT NOT NULL, visit_code TEXT NOT NULL, visit_time TEXT NOT NULL,
    digest TEXT NOT NULL, content TEXT NOT NULL, state TEXT NOT NULL, record_state TEXT NOT NULL,
    corrections INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (key, institution)
);";

/// A record's content as stored (JSON of [`correction::RecordContent`]'s maps).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredRecord {
    /// Visit identification code.
    pub visit_code: String,
    /// `stored`, `deleted` or `cancelled`.
    pub state: String,
    /// The record state of the last record stored (A01, `1`–`4`).
    pub record_state: String,
    /// The digest the server answers with ([`correction::content_digest`] or the deletion's).
    pub digest: String,
    /// How many corrections were applied.
    pub corrections: u32,
    /// `MB1` fields.
    pub mb1: BTreeMap<String, String>,
    /// `MB2` fields per order.
    pub mb2: Vec<BTreeMap<String, String>>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Content {
    mb1: BTreeMap<String, String>,
    mb2: Vec<BTreeMap<String, String>>,
}

fn storage(e: rusqlite::Error) -> Invalid {
    inv("M15", format!("storage: {e}"))
}

fn is_cancellation(rec: &Record) -> bool {
    VisitType::parse(rec.m("M07").unwrap_or("")).is_ok_and(VisitType::is_cancellation)
}

/// Stores one valid record (new, cancellation or correction) and answers its status with the
/// digest of what the server now holds under its visit code.
fn store_record(
    tx: &Connection,
    rec: &Record,
    institution: &str,
    kind: UploadKind,
    batch_id: &str,
    now_ms: i64,
) -> Result<(RecordStatus, String), Invalid> {
    let code = rec.visit_code().to_string();
    let abnormal = rec.msh.get("H01").map(String::as_str) == Some("B");
    let state = rec
        .msh
        .get("A01")
        .and_then(|s| RecordState::parse(s))
        .unwrap_or(RecordState::of(abnormal, false));
    let deletion = rec.msh.get("A02").map(String::as_str) == Some("1");
    let digest = correction::content_digest(&rec.mb1, &rec.mb2);
    let content = serde_json::to_string(&Content {
        mb1: rec.mb1.clone(),
        mb2: rec.mb2.clone(),
    })
    .unwrap_or_default();
    let stored = |key: &str| -> Result<Option<(String, String, String)>, Invalid> {
        tx.prepare_cached(
            "SELECT digest, state, visit_time FROM record_content WHERE key = ?1 AND institution = ?2",
        )
        .and_then(|mut q| {
            q.query_row(params![key, institution], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
        })
        .map_err(storage)
    };
    let insert = |key: &str, digest: &str| -> Result<(), Invalid> {
        tx.prepare_cached(
            "INSERT INTO record_content (key, institution, visit_code, visit_time, digest, content, state, record_state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'stored', ?7)",
        )
        .and_then(|mut q| {
            q.execute(params![key, institution, code, rec.m("M11").unwrap_or(""), digest, content, state.code()])
        })
        .map(|_| ())
        .map_err(storage)
    };
    match kind {
        UploadKind::Normal if state.is_correction() || deletion => Err(inv(
            "A01",
            "a correction (A01 = 3/4) or deletion goes to the corrections route",
        )),
        UploadKind::Normal if is_cancellation(rec) => {
            let key = format!("cancel:{}", dedup_key(rec));
            if let Some((d, _, _)) = stored(&key)? {
                return Ok((RecordStatus::Duplicate, d));
            }
            match stored(&dedup_key(rec))? {
                None => Err(inv(
                    "M15",
                    "no stored visit with this visit identification code to cancel",
                )),
                Some((_, s, _)) if s == "deleted" => Err(inv("M15", "the visit was deleted")),
                Some(_) => {
                    insert(&key, &digest)?;
                    tx.execute(
                        "UPDATE record_content SET state = 'cancelled' WHERE key = ?1 AND institution = ?2",
                        params![dedup_key(rec), institution],
                    )
                    .map_err(storage)?;
                    Ok((RecordStatus::Accepted, digest))
                }
            }
        }
        UploadKind::Normal => {
            let key = dedup_key(rec);
            let n = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO visits (dedup_key, visit_code, institution, visit_time, fields, batch, accepted_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .and_then(|mut q| {
                    q.execute(params![
                        key,
                        code,
                        institution,
                        rec.m("M11").unwrap_or(""),
                        serde_json::to_string(&rec.mb1).unwrap_or_default(),
                        batch_id,
                        now_ms
                    ])
                })
                .map_err(storage)?;
            match stored(&key)? {
                // Stored before: answer with the digest of what is stored (a retry or a conflict).
                Some((d, _, _)) if n == 0 => Ok((RecordStatus::Duplicate, d)),
                Some((d, _, _)) => Ok((RecordStatus::Accepted, d)),
                None => {
                    insert(&key, &digest)?;
                    Ok((
                        if n == 1 {
                            RecordStatus::Accepted
                        } else {
                            RecordStatus::Duplicate
                        },
                        digest,
                    ))
                }
            }
        }
        UploadKind::Correction => {
            if !state.is_correction() {
                return Err(inv("A01", "a correction carries record state 3 or 4"));
            }
            let key = dedup_key(rec);
            let Some((_, current, original)) = stored(&key)? else {
                return Err(inv(
                    "M15",
                    "no stored visit with this visit identification code to correct",
                ));
            };
            if current == "deleted" {
                return Err(inv("A02", "the visit was deleted; nothing to correct"));
            }
            let visited_ms = RocDateTime::parse(&original)
                .map_err(|_| inv("M11", "the stored visit date-time is not valid"))?
                .unix_ms();
            if correction::check_correction_window(visited_ms, now_ms).is_err() {
                return Err(inv(
                    "M11",
                    "corrections are accepted within 3 months of the visit",
                ));
            }
            let (digest, new_state) = if deletion {
                (correction::deletion_digest(&code), "deleted")
            } else {
                (digest, current.as_str())
            };
            tx.execute(
                "UPDATE record_content SET digest = ?3, content = ?4, state = ?5, record_state = ?6,
                        corrections = corrections + 1
                 WHERE key = ?1 AND institution = ?2",
                params![key, institution, digest, content, new_state, state.code()],
            )
            .map_err(storage)?;
            tx.execute(
                "UPDATE visits SET fields = ?2, batch = ?3, corrections = corrections + 1
                 WHERE dedup_key = ?1 AND institution = ?4",
                params![
                    key,
                    serde_json::to_string(&rec.mb1).unwrap_or_default(),
                    batch_id,
                    institution
                ],
            )
            .map_err(storage)?;
            Ok((RecordStatus::Corrected, digest))
        }
    }
}

/// The record stored under a visit identification code (the admin view a test reads).
pub fn stored_record(conn: &Connection, visit_code: &str) -> rusqlite::Result<Option<StoredRecord>> {
    conn.execute_batch(CONTENT_SCHEMA)?;
    conn.query_row(
        "SELECT visit_code, state, record_state, digest, corrections, content FROM record_content
         WHERE visit_code = ?1 AND key NOT LIKE 'cancel:%'",
        [visit_code],
        |r| {
            let content: String = r.get(5)?;
            let c: Content = serde_json::from_str(&content).unwrap_or(Content {
                mb1: BTreeMap::new(),
                mb2: Vec::new(),
            });
            Ok(StoredRecord {
                visit_code: r.get(0)?,
                state: r.get(1)?,
                record_state: r.get(2)?,
                digest: r.get(3)?,
                corrections: r.get(4)?,
                mb1: c.mb1,
                mb2: c.mb2,
            })
        },
    )
    .optional()
}

/// What the upload route does, in one transaction: replay a known idempotency key, or validate and
/// store each record once, and record the batch for the result query.
pub fn process(
    conn: &mut Connection,
    device: &str,
    institution: &str,
    idem_key: &str,
    kind: UploadKind,
    records: &[Record],
    now_ms: i64,
) -> rusqlite::Result<String> {
    let tx = conn.transaction()?;
    if let Some(resp) = tx
        .query_row(
            "SELECT response FROM batches WHERE device = ?1 AND kind = ?2 AND idem_key = ?3",
            params![device, kind.as_str(), idem_key],
            |r| r.get::<_, String>(0),
        )
        .optional()?
    {
        return Ok(resp);
    }
    let batch_id = format!("B{}", uuid::Uuid::now_v7().simple());
    let mut results = Vec::with_capacity(records.len());
    let mut invalid = Vec::new();
    tx.execute_batch(CONTENT_SCHEMA)?;
    for (i, rec) in records.iter().enumerate() {
        let code = rec.visit_code().to_string();
        let verdict = validate(rec, institution, now_ms)
            .and_then(|()| store_record(&tx, rec, institution, kind, &batch_id, now_ms));
        results.push(match verdict {
            Ok((status, digest)) => RecordResult {
                visit_code: code,
                status,
                field: None,
                reason: None,
                digest: Some(digest),
            },
            Err(e) => {
                invalid.push(InvalidRow {
                    index: i as u32,
                    visit_code: code.clone(),
                    field: e.field.clone(),
                    reason: e.reason.clone(),
                });
                RecordResult {
                    visit_code: code,
                    status: RecordStatus::Rejected,
                    field: Some(e.field),
                    reason: Some(e.reason),
                    digest: None,
                }
            }
        });
    }
    let response = serde_json::to_string(&UploadResponse {
        batch_id: batch_id.clone(),
        records: results,
    })
    .unwrap_or_default();
    tx.execute(
        "INSERT INTO batches (id, device, idem_key, kind, received_ms, received, valid, invalid, response)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            batch_id,
            device,
            idem_key,
            kind.as_str(),
            now_ms,
            records.len() as i64,
            (records.len() - invalid.len()) as i64,
            invalid.len() as i64,
            response
        ],
    )?;
    {
        let mut row = tx.prepare_cached(
            "INSERT INTO batch_rows (batch, idx, visit_code, field, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for r in &invalid {
            row.execute(params![batch_id, r.index, r.visit_code, r.field, r.reason])?;
        }
    }
    tx.commit()?;
    Ok(response)
}

/// How long invalid rows can be downloaded, in ms (14 days).
pub const RESULT_RETENTION_MS: i64 = 14 * 86_400_000;

/// The upload-result query of one batch of `device`'s institution.
pub fn result(
    conn: &Connection,
    institution: &str,
    batch_id: &str,
    now_ms: i64,
) -> rusqlite::Result<Option<UploadResult>> {
    let head = conn
        .query_row(
            "SELECT b.received_ms, b.received, b.valid, b.invalid FROM batches b JOIN devices d ON d.id = b.device
             WHERE b.id = ?1 AND d.institution = ?2",
            params![batch_id, institution],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, u32>(1)?, r.get::<_, u32>(2)?, r.get::<_, u32>(3)?)),
        )
        .optional()?;
    let Some((received_at_ms, received, valid, invalid)) = head else {
        return Ok(None);
    };
    let invalid_rows = if now_ms - received_at_ms <= RESULT_RETENTION_MS {
        let mut stmt = conn.prepare_cached(
            "SELECT idx, visit_code, field, reason FROM batch_rows WHERE batch = ?1 ORDER BY idx",
        )?;
        let rows = stmt.query_map([batch_id], |r| {
            Ok(InvalidRow {
                index: r.get(0)?,
                visit_code: r.get(1)?,
                field: r.get(2)?,
                reason: r.get(3)?,
            })
        })?;
        rows.collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    Ok(Some(UploadResult {
        batch_id: batch_id.to_string(),
        received_at_ms,
        received,
        valid,
        invalid,
        invalid_rows,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One record written by hand from domain.md §10 (the same bytes the core's writer test pins),
    /// independent of the core's writer.
    const SAMPLE_BATCH: &[u8] = concat!(
        "<?xml version=\"1.0\" encoding=\"Big5\"?>",
        "<RECS><REC><MSH><H00>1</H00><H01>A</H01></MSH><MB><MB1>",
        "<M01>100000000001</M01><M02>000012345678</M02><M03>A123456789</M03><M04>0390305</M04>",
        "<M05>3501200000</M05><M06>B223456782</M06><M07>01</M07><M11>1130305093015</M11>",
        "<M12>1</M12><M13>0007</M13><M15>7K3P9QX2M4T8V6W1R5ZH</M15><M35>I10</M35><M36>E119</M36>",
        "<M44>1631</M44><M45>0</M45></MB1>",
        "<MB2><D01>1130305093015</D01><D02>2</D02><D03>001</D03><D06>05307C</D06><D10>0001.0</D10></MB2>",
        "<MB2><D01>1130305093015</D01><D02>1</D02><D03>002</D03><D06>AC45856100</D06><D07>PO</D07>",
        "<D08>TID</D08><D09>7</D09><D10>0021.0</D10></MB2>",
        "</MB></REC></RECS>"
    )
    .as_bytes();

    const INST: &str = "3501200000";
    /// 2024-03-06 00:00 Taiwan: the day after the sample visit.
    const NOW: i64 = 1_709_654_400_000;

    fn sample() -> Record {
        parse_batch(SAMPLE_BATCH).unwrap().remove(0)
    }

    fn genuine_signature(rec: &Record) -> String {
        let request = homevisit_core::card::sam::VisitSignRequest {
            session: String::new(),
            card_proof: [0; 32],
            card_number: rec.m("M02").unwrap().into(),
            visit_datetime: rec.m("M11").unwrap().into(),
            sequence_number: rec.m("M13").unwrap().into(),
            institution: rec.m("M05").unwrap().into(),
            visit_code: rec.m("M15").unwrap().into(),
            card_mac: [0; 32],
        };
        let sam_key = nhi_reader_sim::keys::KeyHierarchy::simulated().sam_key("100000000001");
        nhi_reader_sim::keys::visit_signature(&sam_key, &request)
    }

    fn set(rec: &mut Record, field: &str, value: &str) {
        if field.starts_with('H') {
            rec.msh.insert(field.into(), value.into());
        } else if value.is_empty() {
            rec.mb1.remove(field);
        } else {
            rec.mb1.insert(field.into(), value.into());
        }
    }

    fn with(changes: &[(&str, &str)]) -> Record {
        let mut r = sample();
        for (f, v) in changes {
            set(&mut r, f, v);
        }
        r
    }

    fn fails(changes: &[(&str, &str)], field: &str) {
        match validate(&with(changes), INST, NOW) {
            Err(e) => assert_eq!(e.field, field, "{changes:?}: {}", e.reason),
            Ok(()) => panic!("{changes:?} should fail on {field}"),
        }
    }

    fn passes(changes: &[(&str, &str)]) {
        if let Err(e) = validate(&with(changes), INST, NOW) {
            panic!("{changes:?} should pass: {} {}", e.field, e.reason);
        }
    }

    #[test]
    fn parses_the_fixed_byte_vector() {
        let recs = parse_batch(SAMPLE_BATCH).unwrap();
        assert_eq!(recs.len(), 1);
        let r = &recs[0];
        assert_eq!(r.msh.get("H01").map(String::as_str), Some("A"));
        assert_eq!(r.mb1.len(), 15);
        assert_eq!(r.m("M11"), Some("1130305093015"));
        assert_eq!(r.visit_code(), "7K3P9QX2M4T8V6W1R5ZH");
        assert_eq!(r.mb2.len(), 2);
        assert_eq!(r.mb2[1].get("D10").map(String::as_str), Some("0021.0"));
        assert_eq!(validate(r, INST, NOW), Ok(()));
    }

    #[test]
    fn decodes_big5_text_and_entities() {
        // M10 = 居 (Big5 A9 7E) followed by an escaped ampersand.
        let mut doc = b"<?xml version=\"1.0\" encoding=\"Big5\"?><RECS><REC><MSH><H00>1</H00><H01>A</H01></MSH><MB><MB1><M10>".to_vec();
        doc.extend_from_slice(&[0xA9, 0x7E]);
        doc.extend_from_slice(b"&amp;</M10></MB1></MB></REC></RECS>");
        let recs = parse_batch(&doc).unwrap();
        assert_eq!(recs[0].m("M10"), Some("居&"));
    }

    #[test]
    fn malformed_documents_are_refused_whole() {
        let ok = std::str::from_utf8(SAMPLE_BATCH).unwrap();
        let cases = [
            ok.replace("encoding=\"Big5\"", "encoding=\"UTF-8\""),
            ok.replace("</RECS>", ""),
            ok.replace("<M07>01</M07>", "<M07>01</M07><M07>02</M07>"),
            ok.replace("<M07>01</M07>", "<M57>01</M57>"),
            ok.replace("<MSH><H00>1</H00><H01>A</H01></MSH>", ""),
            ok.replace("<MB1>", "<MB1 x=\"1\">"),
            ok.replace("<REC>", "<REC>stray text"),
            ok.replace("<M07>01</M07>", "<M07>&bogus;</M07>"),
            ok.replace("</MB></REC>", "</MB></REC><REC></REC>"),
            "<?xml version=\"1.0\" encoding=\"Big5\"?><RECS></RECS>".to_string(),
            String::new(),
        ];
        for (i, c) in cases.iter().enumerate() {
            assert!(parse_batch(c.as_bytes()).is_err(), "case {i} was accepted");
        }
        let mut not_big5 = SAMPLE_BATCH.to_vec();
        let at = not_big5.len() - 30;
        not_big5[at] = 0xFF;
        assert!(parse_batch(&not_big5).is_err());
    }

    #[test]
    fn header_and_required_fields() {
        fails(&[("H00", "2")], "H00");
        fails(&[("H01", "C")], "H01");
        for f in ["M03", "M04", "M05", "M06", "M07", "M11", "M12", "M13", "M15"] {
            fails(&[(f, "")], f);
        }
        passes(&[("M01", "")]);
    }

    #[test]
    fn identity_fields() {
        fails(&[("M03", "A123456788")], "M03"); // wrong check digit
        passes(&[("M03", "B123456780")]);
        fails(&[("M04", "0390230")], "M04"); // 30 February
        fails(&[("M05", "3501200001")], "M05"); // another institution
        fails(&[("M05", "35012")], "M05");
        fails(&[("M06", "B223456780")], "M06");
        fails(&[("M07", "99")], "M07");
        passes(&[("M07", "02")]);
        fails(&[("M01", "123")], "M01");
    }

    #[test]
    fn visit_time_rules() {
        fails(&[("M11", "1131305093015")], "M11"); // month 13
        fails(&[("M11", "1130310093015")], "M11"); // in the future
        passes(&[("M11", "1130305235959")]);
    }

    #[test]
    fn counted_visit_type_needs_a_sequence_number_diagnosis_and_fee() {
        // M07 01-09 requires M13 in 0001-1500 (format A).
        fails(&[("M13", "A020")], "M13");
        passes(&[("M13", "1500")]);
        fails(&[("M13", "1501")], "M13");
        // … and M35 + M44.
        fails(&[("M35", ""), ("M36", "")], "M35");
        fails(&[("M44", "")], "M44");
        // A visit type not counted (AH, home care second visit on) needs neither.
        passes(&[("M07", "AH"), ("M44", ""), ("M35", ""), ("M36", "")]);
    }

    #[test]
    fn format_b_requires_an_announced_abnormal_code() {
        fails(&[("H01", "B")], "M13"); // 0007 is not abnormal
        passes(&[("H01", "B"), ("M13", "F00B")]);
        passes(&[("H01", "B"), ("M13", "A021")]);
        fails(&[("H01", "B"), ("M13", "Q999")], "M13"); // not announced
        // An abnormal code under format A.
        fails(&[("M07", "AH"), ("M13", "F00B")], "H01");
    }

    #[test]
    fn g000_requires_m12_1() {
        fails(
            &[
                ("H01", "B"),
                ("M13", "G000"),
                ("M12", "2"),
                ("M49", "1130304080000"),
            ],
            "M12",
        );
        passes(&[("H01", "B"), ("M13", "G000"), ("M12", "1")]);
    }

    #[test]
    fn replacement_rules_m12_m49_m52() {
        fails(&[("M12", "9")], "M12");
        // M12 = 4 ⇒ M52 = MISS0000000000000000.
        fails(&[("M12", "4"), ("M49", "1130304080000")], "M52");
        fails(
            &[
                ("M12", "4"),
                ("M49", "1130304080000"),
                ("M52", "7K3P9QX2M4T8V6W1R5ZH"),
            ],
            "M52",
        );
        passes(&[
            ("M12", "4"),
            ("M49", "1130304080000"),
            ("M52", MISSING_VISIT_CODE),
        ]);
        // A replacement needs the actual visit date-time, earlier than M11.
        fails(&[("M12", "2")], "M49");
        fails(&[("M12", "2"), ("M49", "1130305093015")], "M49");
        fails(&[("M12", "2"), ("M49", "1130306080000")], "M49");
        passes(&[("M12", "2"), ("M49", "1130304080000")]);
    }

    #[test]
    fn visit_code_signature_and_diagnosis_shapes() {
        fails(&[("M15", "7K3P9QX2M4T8V6W1R5ZI")], "M15"); // I is not in the alphabet
        fails(&[("M15", "7K3P9QX2M4T8V6W1R5Z")], "M15");
        fails(&[("M15", MISSING_VISIT_CODE)], "M15"); // MISS only for a replacement
        passes(&[
            ("M15", MISSING_VISIT_CODE),
            ("M12", "2"),
            ("M49", "1130304080000"),
        ]);
        fails(&[("M14", "ABC")], "M14");
        // A genuine signature of the sample's fields by SAM 100000000001 …
        let genuine = genuine_signature(&sample());
        passes(&[("M14", &genuine)]);
        // … refused when a signed field changed, when forged, or without the SAM id.
        fails(&[("M14", &genuine), ("M13", "0008")], "M14");
        fails(&[("M14", &"0F".repeat(128))], "M14");
        fails(&[("M14", &genuine), ("M01", "")], "M01");
        fails(&[("M35", "I10.0")], "M35");
        fails(&[("M36", "10I")], "M36");
        passes(&[("M35", "G450")]);
        fails(&[("M44", "12a")], "M44");
    }

    #[test]
    fn order_rules() {
        let mut r = sample();
        r.mb2[0].insert("D02".into(), "7".into());
        assert_eq!(validate(&r, INST, NOW).unwrap_err().field, "D02#1");
        let mut r = sample();
        r.mb2[1].insert("D03".into(), "001".into());
        assert_eq!(validate(&r, INST, NOW).unwrap_err().field, "D03#2");
        let mut r = sample();
        r.mb2[1].insert("D10".into(), "21".into());
        assert_eq!(validate(&r, INST, NOW).unwrap_err().field, "D10#2");
        let mut r = sample();
        r.mb2[0].remove("D06");
        assert_eq!(validate(&r, INST, NOW).unwrap_err().field, "D06#1");
        let mut r = sample();
        r.mb2[1].insert("D02".into(), "G".into());
        assert_eq!(validate(&r, INST, NOW), Ok(()));
    }

    #[test]
    fn stored_once_per_visit_code_and_batches_replay() {
        let mut conn = crate::db::open(None).unwrap();
        let recs = parse_batch(SAMPLE_BATCH).unwrap();
        let first = process(&mut conn, "D1", INST, "k1", UploadKind::Normal, &recs, NOW).unwrap();
        assert!(first.contains("\"s\":\"ok\""));
        assert_eq!(
            process(&mut conn, "D1", INST, "k1", UploadKind::Normal, &recs, NOW).unwrap(),
            first
        );
        let second = process(&mut conn, "D1", INST, "k2", UploadKind::Normal, &recs, NOW).unwrap();
        assert!(second.contains("\"s\":\"dup\""));
        assert_eq!(crate::db::visit_count(&conn, "7K3P9QX2M4T8V6W1R5ZH").unwrap(), 1);
    }

    fn corrected(changes: &[(&str, &str)]) -> Vec<Record> {
        let mut r = with(changes);
        r.msh.insert("A01".into(), "3".into());
        vec![r]
    }

    fn answer(resp: &str) -> RecordResult {
        serde_json::from_str::<UploadResponse>(resp)
            .unwrap()
            .records
            .remove(0)
    }

    /// The fixed vector of `rules::correction`'s test: the simulator's own parser gives the same
    /// digest as the device's reader of the same bytes.
    #[test]
    fn the_content_digest_agrees_with_the_device() {
        let rec = sample();
        let body = std::str::from_utf8(SAMPLE_BATCH).unwrap();
        let start = body.find("<REC>").unwrap();
        let end = body.find("</RECS>").unwrap();
        assert_eq!(
            correction::content_digest(&rec.mb1, &rec.mb2),
            correction::expected_digest(&body.as_bytes()[start..end]).unwrap()
        );
        assert_eq!(
            correction::content_digest(&rec.mb1, &rec.mb2),
            "b2a78195a46a9e002e203d78bf50b49519395727ba0427a8352c9ffbae2ecb0b"
        );
    }

    #[test]
    fn a_duplicate_answers_with_the_digest_of_what_is_stored() {
        let mut conn = crate::db::open(None).unwrap();
        let recs = parse_batch(SAMPLE_BATCH).unwrap();
        let first = answer(&process(&mut conn, "D1", INST, "k1", UploadKind::Normal, &recs, NOW).unwrap());
        let stored = correction::content_digest(&recs[0].mb1, &recs[0].mb2);
        assert_eq!(first.digest.as_deref(), Some(stored.as_str()));
        // Other content under the same code: dup, with the stored digest (a conflict for the device).
        let other = vec![with(&[("M36", "E118")])];
        let dup = answer(&process(&mut conn, "D1", INST, "k2", UploadKind::Normal, &other, NOW).unwrap());
        assert_eq!(dup.status, RecordStatus::Duplicate);
        assert_eq!(dup.digest.as_deref(), Some(stored.as_str()));
        // A correction sent to the upload route is refused.
        let wrong = answer(
            &process(
                &mut conn,
                "D1",
                INST,
                "k3",
                UploadKind::Normal,
                &corrected(&[]),
                NOW,
            )
            .unwrap(),
        );
        assert_eq!(wrong.field.as_deref(), Some("A01"));
    }

    #[test]
    fn a_correction_replaces_the_stored_content_and_a_deletion_marks_it_deleted() {
        let mut conn = crate::db::open(None).unwrap();
        let recs = parse_batch(SAMPLE_BATCH).unwrap();
        process(&mut conn, "D1", INST, "k1", UploadKind::Normal, &recs, NOW).unwrap();
        // Without record state 3/4: refused.
        let plain =
            answer(&process(&mut conn, "D1", INST, "c0", UploadKind::Correction, &recs, NOW).unwrap());
        assert_eq!(plain.field.as_deref(), Some("A01"));
        let fix = corrected(&[("M36", "E118")]);
        let a = answer(&process(&mut conn, "D1", INST, "c1", UploadKind::Correction, &fix, NOW).unwrap());
        assert_eq!(a.status, RecordStatus::Corrected);
        assert_eq!(
            a.digest,
            Some(correction::content_digest(&fix[0].mb1, &fix[0].mb2))
        );
        let s = stored_record(&conn, "7K3P9QX2M4T8V6W1R5ZH").unwrap().unwrap();
        assert_eq!(s.mb1.get("M36").map(String::as_str), Some("E118"));
        assert_eq!((s.corrections, s.record_state.as_str()), (1, "3"));
        assert_eq!(crate::db::visit_count(&conn, "7K3P9QX2M4T8V6W1R5ZH").unwrap(), 1);
        let mut del = corrected(&[]);
        del[0].msh.insert("A02".into(), "1".into());
        let d = answer(&process(&mut conn, "D1", INST, "c2", UploadKind::Correction, &del, NOW).unwrap());
        assert_eq!(
            d.digest,
            Some(correction::deletion_digest("7K3P9QX2M4T8V6W1R5ZH"))
        );
        assert_eq!(
            stored_record(&conn, "7K3P9QX2M4T8V6W1R5ZH")
                .unwrap()
                .unwrap()
                .state,
            "deleted"
        );
        let again = answer(&process(&mut conn, "D1", INST, "c3", UploadKind::Correction, &fix, NOW).unwrap());
        assert_eq!(again.field.as_deref(), Some("A02"));
    }

    #[test]
    fn a_correction_after_3_months_is_refused_with_field_and_reason() {
        let mut conn = crate::db::open(None).unwrap();
        let recs = parse_batch(SAMPLE_BATCH).unwrap();
        process(&mut conn, "D1", INST, "k1", UploadKind::Normal, &recs, NOW).unwrap();
        let visited = RocDateTime::parse("1130305093015").unwrap().unix_ms();
        let deadline = correction::correction_deadline_ms(visited);
        let fix = corrected(&[("M36", "E118")]);
        let late = answer(
            &process(
                &mut conn,
                "D1",
                INST,
                "c1",
                UploadKind::Correction,
                &fix,
                deadline + 1,
            )
            .unwrap(),
        );
        assert_eq!(late.status, RecordStatus::Rejected);
        assert_eq!(late.field.as_deref(), Some("M11"));
        assert!(late.reason.unwrap().contains("3 months"));
        let ok = answer(
            &process(
                &mut conn,
                "D1",
                INST,
                "c2",
                UploadKind::Correction,
                &fix,
                deadline,
            )
            .unwrap(),
        );
        assert_eq!(ok.status, RecordStatus::Corrected);
    }

    #[test]
    fn a_cancellation_marks_the_stored_visit_cancelled_once() {
        let mut conn = crate::db::open(None).unwrap();
        let recs = parse_batch(SAMPLE_BATCH).unwrap();
        let mut cancel = with(&[("M07", "ZA"), ("M35", ""), ("M36", ""), ("M44", ""), ("M45", "")]);
        cancel.mb2.clear();
        let both = vec![recs[0].clone(), cancel.clone()];
        let resp: UploadResponse = serde_json::from_str(
            &process(&mut conn, "D1", INST, "k1", UploadKind::Normal, &both, NOW).unwrap(),
        )
        .unwrap();
        assert!(
            resp.records.iter().all(|r| r.status == RecordStatus::Accepted),
            "{resp:?}"
        );
        assert_eq!(
            stored_record(&conn, "7K3P9QX2M4T8V6W1R5ZH")
                .unwrap()
                .unwrap()
                .state,
            "cancelled"
        );
        let again =
            answer(&process(&mut conn, "D1", INST, "k2", UploadKind::Normal, &[cancel], NOW).unwrap());
        assert_eq!(again.status, RecordStatus::Duplicate);
        assert_eq!(crate::db::visit_count(&conn, "7K3P9QX2M4T8V6W1R5ZH").unwrap(), 1);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_never_panic_the_parser(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_batch(&bytes);
        }

        #[test]
        fn any_damage_to_a_good_batch_is_refused_or_checked_without_panic(
            at in 0usize..SAMPLE_BATCH.len(),
            byte in proptest::num::u8::ANY,
            cut in 0usize..SAMPLE_BATCH.len(),
        ) {
            let mut doc = SAMPLE_BATCH.to_vec();
            doc[at] = byte;
            doc.truncate(cut.max(at + 1));
            if let Ok(records) = parse_batch(&doc) {
                for r in &records {
                    let _ = validate(r, INST, NOW);
                }
            }
        }
    }
}
