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
//! flag (`1`: card present; `2`/`4` from `Visit.context.card_replacement`), M13 sequence number,
//! M14 security signature, M15 visit identification code; M16–M19 the original visit (code,
//! institution, sequence number, date-time) of the first order that goes back to one (a refill, a
//! dispensing); the dispensing data from the visit's prescribed drug orders: M20 days given (the
//! longest D09), M21 chronic total days (days × dispensings), M22 which dispensing this is, M23
//! dispensing method (`0` self, `1` released), M24 dispensings in all (M25–M34 are not known to the
//! app and are left out); M35–M40 diagnoses (main first, at most 6), M44 fee points, M45 copayment
//! points; M49 the actual visit date-time and M52 the actual visit identification code (or
//! `MISS` + 16 `0`) of a card replacement. One `MB2` per order: D01 visit date-time, D02 `1` drug /
//! `2` treatment, D03 serial `001`…, D04 prescription kind (`1` ordinary, `2` chronic), D05
//! dispensing method, D06 code, D07 **site** (作用部位; never the route), D08 **usage** (frequency
//! then route, `TID PO`), D09 days, D10 total `0000.0`, D11 the prescription's signature.
//!
//! A virtual-card visit (M13 `V…`, `crate::vcard`) is format `A` with M12 `1`; its M01 is the NHI's
//! virtual-card signer and M14 the NHI's signature of the `V` number (there is no chip and no SAM
//! on the device); a `V` visit without them is refused here rather than sent.

use super::error::VpnError;
use crate::model::{OrderKind, RocDate, RocDateTime, SequenceNumber, Visit};

/// The actual visit identification code of a card replacement without one (M52 with M12 = 4).
pub const MISSING_VISIT_CODE: &str = "MISS0000000000000000";

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
    let replacement = match &visit.context.card_replacement {
        Some(r) if matches!(r.flag, 2 | 4) => r.flag,
        Some(_) => return Err(bad("M12: a card replacement is flag 2 or 4")),
        None => seq.required_replacement_flag().unwrap_or(1),
    }
    .to_string();
    let actual = match &visit.context.card_replacement {
        Some(r) => {
            let at = RocDateTime::from_datetime(&r.actual_visited_at)
                .map_err(|_| bad("M49: actual visit date-time out of the ROC range"))?
                .to_roc_string();
            let code = match (r.flag, &r.actual_visit_code) {
                (4, _) | (_, None) => MISSING_VISIT_CODE.to_string(),
                (_, Some(c)) => c.clone(),
            };
            Some((at, code))
        }
        None => None,
    };
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
    push_dispensing(&mut s, visit);
    for (i, dx) in visit.diagnoses.iter().enumerate() {
        push_field(&mut s, &format!("M{}", 35 + i), dx);
    }
    if let Some(fee) = visit.fee_points {
        push_field(&mut s, "M44", &fee.to_string());
    }
    if let Some(copay) = visit.copayment_points {
        push_field(&mut s, "M45", &copay.to_string());
    }
    if let Some((at, code)) = &actual {
        push_field(&mut s, "M49", at);
        push_field(&mut s, "M52", code);
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
        if let Some(p) = &order.prescription {
            push_field(&mut s, "D04", p.kind.code());
            push_field(&mut s, "D05", p.dispensing.code());
        }
        push_field(&mut s, "D06", &order.code);
        push_field(&mut s, "D07", &order.site);
        push_field(&mut s, "D08", &order.usage());
        if order.days > 0 {
            push_field(&mut s, "D09", &order.days.to_string());
        }
        push_field(&mut s, "D10", &format!("{:06.1}", order.total));
        if let Some(sig) = order.prescription.as_ref().and_then(|p| p.signature.as_deref()) {
            push_field(&mut s, "D11", sig);
        }
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

/// M16–M24: the original visit and the dispensing data, from the visit's prescribed drug orders.
fn push_dispensing(s: &mut String, visit: &Visit) {
    let prescribed: Vec<_> = visit
        .orders
        .iter()
        .filter(|o| o.kind == OrderKind::Drug)
        .filter_map(|o| o.prescription.as_ref().map(|p| (o, p)))
        .collect();
    if let Some(orig) = prescribed.iter().find_map(|(_, p)| p.original.as_ref()) {
        push_field(s, "M16", &orig.visit_code);
        push_field(s, "M17", &orig.institution);
        push_field(s, "M18", &orig.sequence_number);
        push_field(s, "M19", &orig.visited_at);
    }
    let Some((_, first)) = prescribed.first() else {
        return;
    };
    let days = prescribed.iter().map(|(o, _)| o.days).max().unwrap_or(0);
    if days > 0 {
        push_field(s, "M20", &days.to_string());
    }
    let chronic = prescribed
        .iter()
        .find(|(_, p)| p.kind == crate::model::PrescriptionKind::Chronic && p.refills > 0);
    if let Some((_, p)) = chronic {
        push_field(s, "M21", &(u32::from(days) * u32::from(p.refills)).to_string());
        push_field(s, "M22", &p.refill_number.max(1).to_string());
    }
    push_field(s, "M23", first.dispensing.code());
    if let Some((_, p)) = chronic {
        push_field(s, "M24", &p.refills.to_string());
    }
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

/// Fixed byte vectors of the 2.0 record, held by the device's writer (`core` tests build the
/// visits and compare bytes) and by the simulator's parser and checker (`nhi-vpn-sim` parses them,
/// expects the fields below and accepts them), so the two sides cannot agree on a bug.
pub mod vectors {
    /// One vector: a whole batch as the device writes it, and fields the server must read from it.
    #[derive(Debug)]
    pub struct RecordVector {
        /// A stable name.
        pub name: &'static str,
        /// The whole batch (ASCII, so also its Big5 bytes).
        pub batch: &'static str,
        /// `MB1` fields the server must read, with their values.
        pub mb1: &'static [(&'static str, &'static str)],
        /// `MB2` fields the server must read: (order index from 0, field, value).
        pub mb2: &'static [(usize, &'static str, &'static str)],
        /// Fields that must be absent: (`None` for MB1 or `Some(order index)`, field).
        pub absent: &'static [(Option<usize>, &'static str)],
    }

    /// A first home visit by the doctor: visit fee and a drug, usage `TID PO` in D08, no site.
    pub const HOME_VISIT: RecordVector = RecordVector {
        name: "home_visit",
        batch: concat!(
            "<?xml version=\"1.0\" encoding=\"Big5\"?>",
            "<RECS><REC><MSH><H00>1</H00><H01>A</H01></MSH><MB><MB1>",
            "<M01>100000000001</M01><M02>000012345678</M02><M03>A123456789</M03><M04>0390305</M04>",
            "<M05>3501200000</M05><M06>B223456782</M06>",
            "<M07>01</M07><M11>1130305093015</M11><M12>1</M12><M13>0007</M13><M15>7K3P9QX2M4T8V6W1R5ZH</M15>",
            "<M35>I10</M35><M36>E119</M36><M44>1631</M44><M45>0</M45></MB1>",
            "<MB2><D01>1130305093015</D01><D02>2</D02><D03>001</D03><D06>05307C</D06><D10>0001.0</D10></MB2>",
            "<MB2><D01>1130305093015</D01><D02>1</D02><D03>002</D03><D06>AC45856100</D06><D08>TID PO</D08>",
            "<D09>7</D09><D10>0021.0</D10></MB2></MB></REC></RECS>",
        ),
        mb1: &[("M07", "01"), ("M12", "1"), ("M13", "0007"), ("M44", "1631")],
        mb2: &[(0, "D06", "05307C"), (1, "D08", "TID PO"), (1, "D09", "7")],
        absent: &[
            (Some(1), "D07"),
            (None, "M16"),
            (None, "M20"),
            (None, "M49"),
            (None, "M52"),
        ],
    };

    /// A follow-up: a wound dressing with its site (D07), the second dispensing of a chronic
    /// prescription released to a pharmacy (D04 `2`, D05 `1`, D11, M16–M24).
    pub const CHRONIC_REFILL: RecordVector = RecordVector {
        name: "chronic_refill",
        batch: concat!(
            "<?xml version=\"1.0\" encoding=\"Big5\"?>",
            "<RECS><REC><MSH><H00>1</H00><H01>A</H01></MSH><MB><MB1>",
            "<M01>100000000001</M01><M02>000012345678</M02><M03>A123456789</M03><M04>0390305</M04>",
            "<M05>3501200000</M05><M06>B223456782</M06>",
            "<M07>AH</M07><M11>1130305093015</M11><M12>1</M12><M13>0008</M13><M15>7K3P9QX2M4T8V6W1R5ZH</M15>",
            "<M16>7K3P9QX2M4T8V6W1R5ZA</M16><M17>3501200000</M17><M18>0003</M18><M19>1130205091000</M19>",
            "<M20>28</M20><M21>84</M21><M22>2</M22><M23>1</M23><M24>3</M24><M35>I10</M35></MB1>",
            "<MB2><D01>1130305093015</D01><D02>2</D02><D03>001</D03><D06>48011C</D06><D07>LLEG</D07><D10>0001.0</D10></MB2>",
            "<MB2><D01>1130305093015</D01><D02>1</D02><D03>002</D03><D04>2</D04><D05>1</D05><D06>AC45856100</D06>",
            "<D08>TID PO</D08><D09>28</D09><D10>0084.0</D10><D11>3F9A01C2</D11></MB2></MB></REC></RECS>",
        ),
        mb1: &[
            ("M07", "AH"),
            ("M16", "7K3P9QX2M4T8V6W1R5ZA"),
            ("M17", "3501200000"),
            ("M18", "0003"),
            ("M19", "1130205091000"),
            ("M20", "28"),
            ("M21", "84"),
            ("M22", "2"),
            ("M23", "1"),
            ("M24", "3"),
        ],
        mb2: &[
            (0, "D07", "LLEG"),
            (1, "D04", "2"),
            (1, "D05", "1"),
            (1, "D08", "TID PO"),
            (1, "D11", "3F9A01C2"),
        ],
        absent: &[(Some(0), "D08"), (Some(1), "D07"), (None, "M44")],
    };

    /// A card replacement without an actual visit identification code: M12 `4`, M49, M52 `MISS…`.
    pub const REPLACEMENT_WITHOUT_CODE: RecordVector = RecordVector {
        name: "replacement_without_code",
        batch: concat!(
            "<?xml version=\"1.0\" encoding=\"Big5\"?>",
            "<RECS><REC><MSH><H00>1</H00><H01>A</H01></MSH><MB><MB1>",
            "<M01>100000000001</M01><M02>000012345678</M02><M03>A123456789</M03><M04>0390305</M04>",
            "<M05>3501200000</M05><M06>B223456782</M06>",
            "<M07>01</M07><M11>1130305093015</M11><M12>4</M12><M13>0007</M13><M15>7K3P9QX2M4T8V6W1R5ZH</M15>",
            "<M35>I10</M35><M36>E119</M36><M44>1631</M44><M45>0</M45>",
            "<M49>1130304200500</M49><M52>MISS0000000000000000</M52></MB1>",
            "<MB2><D01>1130305093015</D01><D02>2</D02><D03>001</D03><D06>05307C</D06><D10>0001.0</D10></MB2></MB></REC></RECS>",
        ),
        mb1: &[
            ("M11", "1130305093015"),
            ("M12", "4"),
            ("M49", "1130304200500"),
            ("M52", "MISS0000000000000000"),
        ],
        mb2: &[(0, "D06", "05307C")],
        absent: &[(None, "M16")],
    };

    /// Every vector.
    pub const ALL: [&RecordVector; 3] = [&HOME_VISIT, &CHRONIC_REFILL, &REPLACEMENT_WITHOUT_CODE];
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
                Order::treatment("05307C", 1.0),
                Order {
                    kind: OrderKind::Drug,
                    code: "AC45856100".into(),
                    dose: "1".into(),
                    frequency: "TID".into(),
                    route: "PO".into(),
                    days: 7,
                    total: 21.0,
                    site: String::new(),
                    prescription: None,
                    execution: None,
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

    /// The expected bytes of `sample_visit()`'s batch (the shared vector `home_visit`).
    pub(crate) const SAMPLE_BATCH: &str = vectors::HOME_VISIT.batch;

    /// The visit of vector `chronic_refill`: a follow-up (`AH`) where the nurse dresses a wound
    /// (site on D07) and the second dispensing of a chronic prescription is released to a pharmacy.
    pub(crate) fn chronic_refill_visit() -> Visit {
        let mut v = sample_visit();
        v.visit_type = "AH".into();
        v.sequence_number = "0008".into();
        v.fee_points = None;
        v.copayment_points = None;
        v.diagnoses = vec!["I10".into()];
        let mut dressing = Order::treatment("48011C", 1.0);
        dressing.site = "LLEG".into();
        let mut drug = v.orders[1].clone();
        drug.days = 28;
        drug.total = 84.0;
        drug.prescription = Some(crate::model::PrescriptionInfo {
            kind: crate::model::PrescriptionKind::Chronic,
            dispensing: crate::model::Dispensing::Released,
            signature: Some("3F9A01C2".into()),
            refills: 3,
            refill_number: 2,
            original: Some(crate::model::OriginalVisit {
                visit_code: "7K3P9QX2M4T8V6W1R5ZA".into(),
                institution: "3501200000".into(),
                sequence_number: "0003".into(),
                visited_at: "1130205091000".into(),
            }),
        });
        v.orders = vec![dressing, drug];
        v
    }

    /// The visit of vector `replacement_without_code`: the card brought a day later, no actual visit
    /// identification code (M12 = 4, M52 = `MISS` + 16 `0`), M49 the card-less visit.
    pub(crate) fn replacement_visit() -> Visit {
        let mut v = sample_visit();
        v.orders.truncate(1);
        v.context.card_replacement = Some(crate::model::CardReplacement {
            flag: 4,
            actual_visited_at: crate::model::taiwan_offset()
                .with_ymd_and_hms(2024, 3, 4, 20, 5, 0)
                .unwrap(),
            actual_visit_code: None,
            refund_points: 1631,
        });
        v
    }

    #[test]
    fn writes_every_shared_vector() {
        for (vector, visit) in [
            (&vectors::HOME_VISIT, sample_visit()),
            (&vectors::CHRONIC_REFILL, chronic_refill_visit()),
            (&vectors::REPLACEMENT_WITHOUT_CODE, replacement_visit()),
        ] {
            let bytes = batch_big5(&[visit]).unwrap();
            assert_eq!(String::from_utf8(bytes).unwrap(), vector.batch, "{}", vector.name);
        }
    }

    #[test]
    fn site_goes_to_d07_and_usage_with_route_to_d08() {
        let text = record_text(&sample_visit()).unwrap();
        assert!(text.contains("<D06>AC45856100</D06><D08>TID PO</D08>"));
        assert!(!text.contains("<D07>PO</D07>"));
        let text = record_text(&chronic_refill_visit()).unwrap();
        assert!(text.contains("<D06>48011C</D06><D07>LLEG</D07><D10>"));
    }

    #[test]
    fn card_replacement_writes_m12_m49_m52() {
        let mut v = replacement_visit();
        let text = record_text(&v).unwrap();
        assert!(text.contains("<M12>4</M12>"));
        assert!(text.contains("<M49>1130304200500</M49><M52>MISS0000000000000000</M52>"));
        if let Some(r) = v.context.card_replacement.as_mut() {
            r.flag = 2;
            r.actual_visit_code = Some("7K3P9QX2M4T8V6W1R5ZB".into());
        }
        let text = record_text(&v).unwrap();
        assert!(text.contains("<M12>2</M12>") && text.contains("<M52>7K3P9QX2M4T8V6W1R5ZB</M52>"));
        if let Some(r) = v.context.card_replacement.as_mut() {
            r.flag = 3;
        }
        assert!(record_text(&v).is_err());
    }

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
