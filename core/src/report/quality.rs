//! Upload-quality indicators (健保卡上傳品質指標, seed 004 "健保卡登錄及上傳輔導"): each with its
//! value and whether it meets its line of **90%**:
//!
//! | indicator (seed 004) | numerator / denominator |
//! |---|---|
//! | 24小時未上傳率 ≥90% | visits whose card upload was confirmed within 24 h of the visit / visits |
//! | 健保卡上傳與申報率 | claimed visits with a confirmed card upload / claimed visits |
//! | 1. 醫事人員ID上傳率 | uploads whose staff ID (M06) equals the claim's / claimed visits with an upload |
//! | 2. 主診斷上傳率 | main diagnosis (M35) equal / same |
//! | 3. 申報金額上傳率 | amount (M44) equal / same |
//! | 4. 部分負擔上傳率 | copayment (M45) equal / same |
//! | 5. 醫令上傳率 | the same order codes (D06, as a multiset) / same |
//!
//! The seed names the first "24小時未上傳率" yet sets its line at "≥90%": we read it, as the NHI's
//! counselling does, as the share uploaded **within** 24 h (a not-uploaded share of 90% could not
//! be a target). The 24-hour line holds for emergency visits too (their 1-hour deadline is the
//! abnormal-situation report's business, not this indicator's).
//!
//! The uploaded side is read from the frozen 2.0 record the outbox sent ([`uploaded_record`]); the
//! claim side is whatever the claims export will claim (`app::reports` builds it from the visit's
//! current content behind one function).

use crate::sync::deadline::UPLOAD_DEADLINE_MS;

/// The line every indicator must reach, in percent.
pub const QUALITY_LINE_PERCENT: u32 = 90;

/// What the NHI received for a visit: the content of its confirmed card upload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadedRecord {
    /// When the first card upload of the visit was confirmed (Unix ms).
    pub confirmed_at_ms: i64,
    /// M06 practitioner ID.
    pub practitioner_id: Option<String>,
    /// M35 main diagnosis.
    pub main_diagnosis: Option<String>,
    /// M44 medical fee points.
    pub amount: Option<u32>,
    /// M45 copayment.
    pub copayment: Option<u32>,
    /// D06 order codes, in record order.
    pub orders: Vec<String>,
}

/// What the institution claims for a visit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimRecord {
    /// The practitioner's ID.
    pub practitioner_id: String,
    /// The main diagnosis.
    pub main_diagnosis: Option<String>,
    /// Fee points.
    pub amount: Option<u32>,
    /// Copayment points.
    pub copayment: Option<u32>,
    /// Order codes.
    pub orders: Vec<String>,
}

/// One visit of the month as the indicators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityVisit {
    /// When the visit happened (Unix ms).
    pub visited_at_ms: i64,
    /// Its confirmed card upload, if any.
    pub uploaded: Option<UploadedRecord>,
    /// Its claim, if it is claimed.
    pub claim: Option<ClaimRecord>,
}

/// The seven indicators of seed 004.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndicatorKind {
    /// 24小時上傳率: uploaded within 24 hours.
    UploadedWithin24h,
    /// 健保卡上傳與申報率: claimed visits that were uploaded.
    UploadedOfClaimed,
    /// 醫事人員ID上傳率: staff ID agrees.
    StaffId,
    /// 主診斷上傳率: main diagnosis agrees.
    MainDiagnosis,
    /// 申報金額上傳率: amount agrees.
    Amount,
    /// 部分負擔上傳率: copayment agrees.
    Copayment,
    /// 醫令上傳率: orders agree.
    Orders,
}

impl IndicatorKind {
    /// Every indicator, in the seed's order.
    pub const ALL: [IndicatorKind; 7] = [
        IndicatorKind::UploadedWithin24h,
        IndicatorKind::UploadedOfClaimed,
        IndicatorKind::StaffId,
        IndicatorKind::MainDiagnosis,
        IndicatorKind::Amount,
        IndicatorKind::Copayment,
        IndicatorKind::Orders,
    ];

    /// The stable name (used over the FFI).
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorKind::UploadedWithin24h => "uploaded_within_24h",
            IndicatorKind::UploadedOfClaimed => "uploaded_of_claimed",
            IndicatorKind::StaffId => "staff_id",
            IndicatorKind::MainDiagnosis => "main_diagnosis",
            IndicatorKind::Amount => "amount",
            IndicatorKind::Copayment => "copayment",
            IndicatorKind::Orders => "orders",
        }
    }

    /// The seed's Chinese name.
    pub fn label_zh(self) -> &'static str {
        match self {
            IndicatorKind::UploadedWithin24h => "24小時上傳率",
            IndicatorKind::UploadedOfClaimed => "健保卡上傳與申報率",
            IndicatorKind::StaffId => "醫事人員ID上傳率",
            IndicatorKind::MainDiagnosis => "主診斷上傳率",
            IndicatorKind::Amount => "申報金額上傳率",
            IndicatorKind::Copayment => "部分負擔上傳率",
            IndicatorKind::Orders => "醫令上傳率",
        }
    }
}

/// One indicator's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Indicator {
    /// Which indicator.
    pub kind: IndicatorKind,
    /// Visits that meet it.
    pub numerator: u32,
    /// Visits it is counted over.
    pub denominator: u32,
    /// `numerator / denominator` in percent; `None` with nothing to count.
    pub percent: Option<f64>,
    /// At or above [`QUALITY_LINE_PERCENT`] (an indicator with nothing to count meets it).
    pub meets_line: bool,
}

/// Whether `numerator / denominator` reaches the 90% line (exact integer arithmetic).
pub fn meets_line(numerator: u32, denominator: u32) -> bool {
    u64::from(numerator) * 100 >= u64::from(QUALITY_LINE_PERCENT) * u64::from(denominator)
}

fn indicator(kind: IndicatorKind, numerator: u32, denominator: u32) -> Indicator {
    Indicator {
        kind,
        numerator,
        denominator,
        percent: (denominator > 0).then(|| f64::from(numerator) * 100.0 / f64::from(denominator)),
        meets_line: meets_line(numerator, denominator),
    }
}

fn same_orders(a: &[String], b: &[String]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

/// The seven indicators over a month's visits, in [`IndicatorKind::ALL`] order.
pub fn indicators(visits: &[QualityVisit]) -> Vec<Indicator> {
    let count = |pred: &dyn Fn(&QualityVisit) -> bool| visits.iter().filter(|v| pred(v)).count() as u32;
    let total = visits.len() as u32;
    let in_time = count(&|v| {
        v.uploaded
            .as_ref()
            .is_some_and(|u| u.confirmed_at_ms <= v.visited_at_ms.saturating_add(UPLOAD_DEADLINE_MS))
    });
    let claimed = count(&|v| v.claim.is_some());
    let both: Vec<(&UploadedRecord, &ClaimRecord)> = visits
        .iter()
        .filter_map(|v| Some((v.uploaded.as_ref()?, v.claim.as_ref()?)))
        .collect();
    let pairs = both.len() as u32;
    let agree = |f: &dyn Fn(&UploadedRecord, &ClaimRecord) -> bool| {
        both.iter().filter(|(u, c)| f(u, c)).count() as u32
    };
    IndicatorKind::ALL
        .into_iter()
        .map(|kind| match kind {
            IndicatorKind::UploadedWithin24h => indicator(kind, in_time, total),
            IndicatorKind::UploadedOfClaimed => indicator(kind, pairs, claimed),
            IndicatorKind::StaffId => indicator(
                kind,
                agree(&|u, c| u.practitioner_id.as_deref() == Some(c.practitioner_id.as_str())),
                pairs,
            ),
            IndicatorKind::MainDiagnosis => {
                indicator(kind, agree(&|u, c| u.main_diagnosis == c.main_diagnosis), pairs)
            }
            IndicatorKind::Amount => indicator(kind, agree(&|u, c| u.amount == c.amount), pairs),
            IndicatorKind::Copayment => indicator(kind, agree(&|u, c| u.copayment == c.copayment), pairs),
            IndicatorKind::Orders => indicator(kind, agree(&|u, c| same_orders(&u.orders, &c.orders)), pairs),
        })
        .collect()
}

/// The text of every `<tag>…</tag>` in a frozen 2.0 record, in order. Big5 never uses `<` as a
/// trail byte, so the ASCII search cannot match inside a Chinese character; the fields read here
/// are ASCII.
fn tag_values(record: &[u8], tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let open = open.as_bytes();
    let mut out = Vec::new();
    let mut rest = record;
    while let Some(at) = rest.windows(open.len()).position(|w| w == open) {
        rest = &rest[at + open.len()..];
        let Some(len) = rest.iter().position(|&b| b == b'<') else {
            break;
        };
        out.push(unescape(&String::from_utf8_lossy(&rest[..len])));
        rest = &rest[len..];
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// What a frozen 2.0 card-upload record says, for the comparison with the claim.
pub fn uploaded_record(payload: &[u8], confirmed_at_ms: i64) -> UploadedRecord {
    let first = |tag| {
        tag_values(payload, tag)
            .into_iter()
            .next()
            .filter(|s| !s.is_empty())
    };
    UploadedRecord {
        confirmed_at_ms,
        practitioner_id: first("M06"),
        main_diagnosis: first("M35"),
        amount: first("M44").and_then(|s| s.trim().parse().ok()),
        copayment: first("M45").and_then(|s| s.trim().parse().ok()),
        orders: tag_values(payload, "D06"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn claim() -> ClaimRecord {
        ClaimRecord {
            practitioner_id: "E123456789".into(),
            main_diagnosis: Some("I10".into()),
            amount: Some(1553),
            copayment: Some(0),
            orders: vec!["05307C".into(), "A012345100".into()],
        }
    }

    fn uploaded(at: i64) -> UploadedRecord {
        let c = claim();
        UploadedRecord {
            confirmed_at_ms: at,
            practitioner_id: Some(c.practitioner_id),
            main_diagnosis: c.main_diagnosis,
            amount: c.amount,
            copayment: c.copayment,
            orders: c.orders.into_iter().rev().collect(),
        }
    }

    fn visit(upload_after_h: Option<i64>) -> QualityVisit {
        QualityVisit {
            visited_at_ms: 0,
            uploaded: upload_after_h.map(|h| uploaded(h * HOUR)),
            claim: Some(claim()),
        }
    }

    fn get(all: &[Indicator], kind: IndicatorKind) -> Indicator {
        *all.iter().find(|i| i.kind == kind).unwrap()
    }

    #[test]
    fn the_90_percent_line_is_met_at_exactly_90() {
        assert!(meets_line(9, 10));
        assert!(!meets_line(8, 10));
        assert!(!meets_line(899, 1000));
        assert!(meets_line(0, 0));
        assert!(meets_line(u32::MAX, u32::MAX));
    }

    #[test]
    fn upload_within_24_hours_counts_to_the_millisecond() {
        let mut visits: Vec<_> = (0..9).map(|_| visit(Some(24))).collect();
        visits.push(visit(Some(25)));
        let all = indicators(&visits);
        let i = get(&all, IndicatorKind::UploadedWithin24h);
        assert_eq!((i.numerator, i.denominator, i.meets_line), (9, 10, true));
        visits[0].uploaded.as_mut().unwrap().confirmed_at_ms = 24 * HOUR + 1;
        let i = get(&indicators(&visits), IndicatorKind::UploadedWithin24h);
        assert_eq!((i.numerator, i.meets_line), (8, false));
    }

    #[test]
    fn claimed_visits_without_an_upload_lower_the_upload_to_claim_rate() {
        let visits = vec![visit(Some(1)), visit(None)];
        let i = get(&indicators(&visits), IndicatorKind::UploadedOfClaimed);
        assert_eq!((i.numerator, i.denominator, i.percent), (1, 2, Some(50.0)));
        assert!(!i.meets_line);
    }

    #[test]
    fn each_field_that_differs_from_the_claim_counts_against_its_own_indicator() {
        let mut v = vec![visit(Some(1)), visit(Some(1))];
        let c = v[1].claim.as_mut().unwrap();
        c.practitioner_id = "F223456789".into();
        c.main_diagnosis = Some("E119".into());
        c.amount = Some(1);
        c.copayment = Some(50);
        c.orders.push("05308C".into());
        let all = indicators(&v);
        for kind in [
            IndicatorKind::StaffId,
            IndicatorKind::MainDiagnosis,
            IndicatorKind::Amount,
            IndicatorKind::Copayment,
            IndicatorKind::Orders,
        ] {
            let i = get(&all, kind);
            assert_eq!(
                (i.numerator, i.denominator, i.meets_line),
                (1, 2, false),
                "{kind:?}"
            );
        }
        // Orders in another order still agree.
        v[1].claim = Some(claim());
        assert!(indicators(&v).iter().all(|i| i.meets_line));
    }

    #[test]
    fn the_uploaded_side_is_read_from_the_frozen_record() {
        let rec = b"<REC><MB><MB1><M06>E123456789</M06><M13>F00B</M13><M35>I10</M35><M36>E119</M36>\
<M44>1553</M44><M45>0</M45></MB1><MB2><D06>05307C</D06></MB2><MB2><D06>A&amp;B</D06></MB2></MB></REC>";
        let u = uploaded_record(rec, 7);
        assert_eq!(u.practitioner_id.as_deref(), Some("E123456789"));
        assert_eq!(u.main_diagnosis.as_deref(), Some("I10"));
        assert_eq!((u.amount, u.copayment), (Some(1553), Some(0)));
        assert_eq!(u.orders, vec!["05307C".to_string(), "A&B".to_string()]);
        assert_eq!(uploaded_record(b"<REC></REC>", 0).amount, None);
    }
}
