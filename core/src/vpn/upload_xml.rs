//! The card data upload format 2.0 (健保卡資料上傳格式 2.0) writer: a visit as one `REC` of the
//! XML HIS vendors upload, Big5-encoded.
//!
//! Shape: `<RECS><REC><MSH><H00/><H01/></MSH><MB><MB1>M01…M56</MB1><MB2>D01…D15</MB2>…</MB></REC>…</RECS>`,
//! fields in ascending order, only non-empty fields written, no whitespace between elements (every
//! byte is paid for on the mobile VPN). Records are written one at a time (the sync engine freezes
//! each record when it starts sending) and wrapped into a batch with [`wrap_batch`]; Big5 is
//! ASCII-compatible, so frozen record bytes concatenate into a valid document.
//!
//! Field mapping from [`Visit`] (our choice where `shared/domain.md` §10 is silent):
//! H00 `1` (card data); H01 `A` for a normal or virtual-card sequence number, `B` for an abnormal
//! code. M01 SAM id, M02 card number, M03 national ID, M04 birth date (ROC), M05 institution, M06
//! practitioner ID, M07 visit type, M11 visit date-time (ROC, Taiwan time), M12 card-replacement
//! flag (`1`: card present), M13 sequence number, M14 security signature, M15 visit identification
//! code, M35–M40 diagnoses (main first, at most 6), M44 fee points, M45 copayment points. One `MB2`
//! per order: D01 visit date-time, D02 `1` drug / `2` treatment, D03 serial `001`…, D06 code,
//! D07 route, D08 frequency, D09 days, D10 total `0000.0`.
//!
//! A virtual-card visit (M13 `V…`, `crate::vcard`) is format `A` with M12 `1`; its M01 is the NHI's
//! virtual-card signer and M14 the NHI's signature of the `V` number (there is no chip and no SAM
//! on the device); a `V` visit without them is refused here rather than sent.

use super::error::VpnError;
use crate::model::{OrderKind, RocDate, RocDateTime, SequenceNumber, Visit};

/// The XML declaration every batch starts with.
pub const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"Big5\"?>";

fn bad(reason: impl Into<String>) -> VpnError {
    VpnError::InvalidRequest {
        reason: reason.into(),
    }
}

fn push_field(out: &mut String, name: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    out.push('<');
    out.push_str(name);
    out.push('>');
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// The record of one visit as XML text (`<REC>…</REC>`), before Big5 encoding.
pub fn record_text(visit: &Visit) -> Result<String, VpnError> {
    let seq = SequenceNumber::parse(&visit.sequence_number).map_err(|e| bad(format!("M13: {}", e.reason)))?;
    let format = if seq.abnormal().is_some() { "B" } else { "A" };
    let visited = RocDateTime::from_datetime(&visit.visited_at)
        .map_err(|_| bad("M11: visit date-time out of the ROC range"))?
        .to_roc_string();
    let birth = RocDate::from_naive(visit.patient.birth_date)
        .map_err(|_| bad("M04: birth date out of the ROC range"))?
        .to_roc_string();
    if visit.diagnoses.len() > 6 {
        return Err(bad("M35-M40: at most 6 diagnoses"));
    }
    if visit.orders.len() > 999 {
        return Err(bad("D03: at most 999 orders"));
    }
    if matches!(seq, SequenceNumber::Virtual(_))
        && (visit.sam_id.is_none() || visit.security_signature.is_none() || visit.card_written)
    {
        return Err(bad(
            "M13: a virtual-card visit carries the NHI's signer (M01) and signature (M14), and no card write",
        ));
    }
    let replacement = seq.required_replacement_flag().unwrap_or(1).to_string();
    let mut s = String::with_capacity(640 + 96 * visit.orders.len());
    s.push_str("<REC><MSH><H00>1</H00><H01>");
    s.push_str(format);
    s.push_str("</H01></MSH><MB><MB1>");
    push_field(&mut s, "M01", visit.sam_id.as_deref().unwrap_or(""));
    push_field(&mut s, "M02", &visit.patient.card_number);
    push_field(&mut s, "M03", visit.patient.national_id.expose());
    push_field(&mut s, "M04", &birth);
    push_field(&mut s, "M05", visit.institution.as_str());
    push_field(&mut s, "M06", &visit.practitioner_id);
    push_field(&mut s, "M07", &visit.visit_type);
    push_field(&mut s, "M11", &visited);
    push_field(&mut s, "M12", &replacement);
    push_field(&mut s, "M13", &seq.code());
    push_field(&mut s, "M14", visit.security_signature.as_deref().unwrap_or(""));
    push_field(&mut s, "M15", &visit.visit_code);
    for (i, dx) in visit.diagnoses.iter().enumerate() {
        push_field(&mut s, &format!("M{}", 35 + i), dx);
    }
    if let Some(fee) = visit.fee_points {
        push_field(&mut s, "M44", &fee.to_string());
    }
    if let Some(copay) = visit.copayment_points {
        push_field(&mut s, "M45", &copay.to_string());
    }
    s.push_str("</MB1>");
    for (i, order) in visit.orders.iter().enumerate() {
        if !(0.0..=9999.9).contains(&order.total) {
            return Err(bad(format!("D10: total of order {} out of range", i + 1)));
        }
        s.push_str("<MB2>");
        push_field(&mut s, "D01", &visited);
        push_field(
            &mut s,
            "D02",
            match order.kind {
                OrderKind::Drug => "1",
                OrderKind::Treatment => "2",
            },
        );
        push_field(&mut s, "D03", &format!("{:03}", i + 1));
        push_field(&mut s, "D06", &order.code);
        push_field(&mut s, "D07", &order.route);
        push_field(&mut s, "D08", &order.frequency);
        if order.days > 0 {
            push_field(&mut s, "D09", &order.days.to_string());
        }
        push_field(&mut s, "D10", &format!("{:06.1}", order.total));
        s.push_str("</MB2>");
    }
    s.push_str("</MB></REC>");
    Ok(s)
}

/// The record state (A01) of a correction, kept apart from the writer: a frozen `REC` as a
/// correction of its visit (A01 = 3 for format A, 4 for format B, written after H01), and as a
/// deletion (A02 = 1) when `deletion`. A new record carries no A01 (its state is its H01).
pub fn as_correction(rec_big5: &[u8], deletion: bool) -> Result<Vec<u8>, VpnError> {
    use crate::rules::correction::{DELETION_FIELD, RECORD_STATE_FIELD, RecordState};
    let find = |needle: &[u8]| rec_big5.windows(needle.len()).position(|w| w == needle);
    let at = find(b"</H01>").ok_or_else(|| bad("H01: not a frozen 2.0 record"))? + b"</H01>".len();
    if find(format!("<{RECORD_STATE_FIELD}>").as_bytes()).is_some() {
        return Err(bad("A01: the record already carries a record state"));
    }
    let abnormal = find(b"<H01>B</H01>").is_some();
    let mut extra = String::new();
    push_field(
        &mut extra,
        RECORD_STATE_FIELD,
        RecordState::of(abnormal, true).code(),
    );
    if deletion {
        push_field(&mut extra, DELETION_FIELD, "1");
    }
    let mut out = Vec::with_capacity(rec_big5.len() + extra.len());
    out.extend_from_slice(&rec_big5[..at]);
    out.extend_from_slice(extra.as_bytes());
    out.extend_from_slice(&rec_big5[at..]);
    Ok(out)
}

/// Big5 bytes of text; refused when a character has no Big5 form.
pub fn to_big5(text: &str) -> Result<Vec<u8>, VpnError> {
    let (bytes, _, unmappable) = encoding_rs::BIG5.encode(text);
    if unmappable {
        return Err(bad("a field holds a character that Big5 cannot encode"));
    }
    Ok(bytes.into_owned())
}

/// One visit's `REC`, Big5-encoded: what the sync engine freezes as a job's payload.
pub fn record_big5(visit: &Visit) -> Result<Vec<u8>, VpnError> {
    to_big5(&record_text(visit)?)
}

/// A whole batch document from frozen Big5 records.
pub fn wrap_batch<R: AsRef<[u8]>>(records: &[R]) -> Vec<u8> {
    let len: usize = records.iter().map(|r| r.as_ref().len()).sum();
    let mut out = Vec::with_capacity(len + XML_DECLARATION.len() + 13);
    out.extend_from_slice(XML_DECLARATION.as_bytes());
    out.extend_from_slice(b"<RECS>");
    for r in records {
        out.extend_from_slice(r.as_ref());
    }
    out.extend_from_slice(b"</RECS>");
    out
}

/// A batch of visits, Big5-encoded.
pub fn batch_big5(visits: &[Visit]) -> Result<Vec<u8>, VpnError> {
    let records = visits.iter().map(record_big5).collect::<Result<Vec<_>, _>>()?;
    Ok(wrap_batch(&records))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{CardBasicData, InstitutionCode, NationalId, Order, Sex};
    use chrono::{NaiveDate, TimeZone};

    /// A visit every VPN test can start from.
    pub(crate) fn sample_visit() -> Visit {
        Visit {
            id: "0190f5a0-0000-7000-8000-000000000001".into(),
            visit_code: "7K3P9QX2M4T8V6W1R5ZH".into(),
            patient: CardBasicData {
                card_number: "000012345678".into(),
                name: "王小明".into(),
                national_id: NationalId::parse("A123456789").unwrap(),
                birth_date: NaiveDate::from_ymd_opt(1950, 3, 5).unwrap(),
                sex: Sex::Male,
                issue_date: NaiveDate::from_ymd_opt(2020, 1, 2).unwrap(),
            },
            institution: InstitutionCode::parse("3501200000").unwrap(),
            practitioner_id: "B223456782".into(),
            visit_type: "01".into(),
            sequence_number: "0007".into(),
            visited_at: crate::model::taiwan_offset()
                .with_ymd_and_hms(2024, 3, 5, 9, 30, 15)
                .unwrap(),
            diagnoses: vec!["I10".into(), "E119".into()],
            note: "secret note".into(),
            orders: vec![
                Order {
                    kind: OrderKind::Treatment,
                    code: "05307C".into(),
                    dose: String::new(),
                    frequency: String::new(),
                    route: String::new(),
                    days: 0,
                    total: 1.0,
                },
                Order {
                    kind: OrderKind::Drug,
                    code: "AC45856100".into(),
                    dose: "1".into(),
                    frequency: "TID".into(),
                    route: "PO".into(),
                    days: 7,
                    total: 21.0,
                },
            ],
            security_signature: None,
            sam_id: Some("100000000001".into()),
            abnormal_reason: None,
            card_written: true,
            fee_points: Some(1631),
            copayment_points: Some(0),
            context: Default::default(),
        }
    }

    /// The expected bytes of `sample_visit()`'s batch, written by hand from domain.md §10.
    pub(crate) const SAMPLE_BATCH: &str = concat!(
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
    );

    #[test]
    fn writes_the_fixed_byte_vector() {
        let bytes = batch_big5(&[sample_visit()]).unwrap();
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), SAMPLE_BATCH);
        assert_eq!(bytes, SAMPLE_BATCH.as_bytes());
        // Patient name and clinical note are not upload fields.
        assert!(!String::from_utf8_lossy(&bytes).contains("secret"));
    }

    #[test]
    fn abnormal_code_writes_format_b_and_its_replacement_flag() {
        let mut v = sample_visit();
        v.sequence_number = "G000".into();
        let text = record_text(&v).unwrap();
        assert!(text.contains("<H01>B</H01>"));
        assert!(text.contains("<M12>1</M12><M13>G000</M13>"));
        v.sequence_number = "F00B".into();
        assert!(record_text(&v).unwrap().contains("<H01>B</H01>"));
    }

    #[test]
    fn refuses_what_cannot_be_written() {
        let mut v = sample_visit();
        v.sequence_number = "12".into();
        assert!(matches!(record_text(&v), Err(VpnError::InvalidRequest { .. })));
        let mut v = sample_visit();
        v.diagnoses = vec!["I10".into(); 7];
        assert!(record_text(&v).is_err());
        let mut v = sample_visit();
        v.practitioner_id = "😀".into();
        assert!(record_big5(&v).is_err());
        let mut v = sample_visit();
        v.orders[0].total = 10_000.0;
        assert!(record_text(&v).is_err());
    }

    #[test]
    fn escapes_markup_and_encodes_big5() {
        let mut v = sample_visit();
        v.practitioner_id = "居<&>".into();
        let bytes = record_big5(&v).unwrap();
        // 居 is 0xA9 0x7E in Big5.
        let needle = [b"<M06>".as_slice(), &[0xA9, 0x7E], b"&lt;&amp;&gt;</M06>"].concat();
        assert!(bytes.windows(needle.len()).any(|w| w == needle.as_slice()));
    }
}
