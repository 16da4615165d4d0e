//! The semicolon-separated 2D prescription barcode that Taiwan pharmacy systems already read
//! (`shared/domain.md` §10), so a pharmacy whose system only reads that form can still fill the
//! prescription. It is not signed: the pharmacy still checks it against the server by visit code.
//!
//! Fields, in order: institution code; case type; name; national ID; ROC birth date; department;
//! ROC visit date; sequence number; copayment code; then [`DIAGNOSIS_SLOTS`] diagnosis fields
//! (empty when fewer; the public description gives no count, so we fix one); then one group of
//! five fields per drug: code; dose; frequency; route; total (`0.0` form).

use super::RxError;
use super::orderset::{RxLine, format_centi};
use super::prescription::Prescription;
use crate::model::Visit;
use chrono::{Datelike, NaiveDate};

/// How many diagnosis fields the barcode carries.
pub const DIAGNOSIS_SLOTS: usize = 4;

/// A date as ROC `YYYMMDD` (via `model::roc`; dates before the ROC calendar, which no
/// prescription has, fall back to the plain arithmetic).
pub fn roc_date(d: NaiveDate) -> String {
    crate::model::roc::RocDate::from_naive(d)
        .map(|r| r.to_roc_string())
        .unwrap_or_else(|_| format!("{:03}{:02}{:02}", d.year() - 1911, d.month(), d.day()))
}

/// What the barcode needs beyond the prescription (claim-side codes the visit does not hold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarcodeExtras {
    /// Case type (案件分類), e.g. `E1` for home medical care.
    pub case_type: String,
    /// Department code (科別), e.g. `01` family medicine.
    pub department: String,
    /// Copayment code (部分負擔代碼), e.g. `K00`.
    pub copayment: String,
}

fn clean(s: &str) -> Result<&str, RxError> {
    if s.contains(';') || s.contains('\n') {
        return Err(RxError::Invalid {
            field: "barcode",
            reason: "a field may not contain ';' or a line break".into(),
        });
    }
    Ok(s)
}

/// The barcode text of `p`, written at `visit`.
pub fn encode(visit: &Visit, p: &Prescription, extra: &BarcodeExtras) -> Result<String, RxError> {
    if visit.diagnoses.len() > DIAGNOSIS_SLOTS {
        return Err(RxError::Invalid {
            field: "diagnoses",
            reason: format!("the barcode holds at most {DIAGNOSIS_SLOTS} diagnoses"),
        });
    }
    let mut f: Vec<String> = vec![
        p.institution.as_str().to_string(),
        clean(&extra.case_type)?.to_string(),
        clean(&visit.patient.name)?.to_string(),
        p.patient_id.expose().to_string(),
        roc_date(visit.patient.birth_date),
        clean(&extra.department)?.to_string(),
        roc_date(p.issued_on),
        clean(&visit.sequence_number)?.to_string(),
        clean(&extra.copayment)?.to_string(),
    ];
    for i in 0..DIAGNOSIS_SLOTS {
        f.push(clean(visit.diagnoses.get(i).map_or("", String::as_str))?.to_string());
    }
    for l in &p.lines {
        f.push(l.drug_code.clone());
        f.push(format_centi(l.dose_centi));
        f.push(l.frequency.clone());
        f.push(l.route.clone());
        f.push(format!("{}.{}", l.total_deci / 10, l.total_deci % 10));
    }
    Ok(f.join(";"))
}

/// The drug lines read back from a barcode text (the pharmacist's side of the legacy form).
pub fn decode_lines(text: &str) -> Result<Vec<RxLine>, RxError> {
    let f: Vec<&str> = text.split(';').collect();
    let head = 9 + DIAGNOSIS_SLOTS;
    let bad = |r: &str| RxError::Invalid {
        field: "barcode",
        reason: r.to_string(),
    };
    if f.len() < head || !(f.len() - head).is_multiple_of(5) {
        return Err(bad("wrong number of fields"));
    }
    f[head..]
        .chunks(5)
        .map(|g| {
            Ok(RxLine {
                drug_code: g[0].to_string(),
                dose_centi: super::orderset::parse_centi(g[1]).ok_or_else(|| bad("dose"))?,
                frequency: g[2].to_string(),
                route: g[3].to_string(),
                days: 0,
                total_deci: super::orderset::parse_centi(g[4])
                    .filter(|c| c % 10 == 0)
                    .map(|c| c / 10)
                    .ok_or_else(|| bad("total"))?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rx::prescription::tests::{htn_set, visit};

    #[test]
    fn writes_the_fields_in_order_and_reads_the_drugs_back() {
        let mut v = visit();
        htn_set().apply_to(&mut v).unwrap();
        let p = Prescription::from_visit(&v, None).unwrap();
        let extra = BarcodeExtras {
            case_type: "E1".into(),
            department: "01".into(),
            copayment: "K00".into(),
        };
        let t = encode(&v, &p, &extra).unwrap();
        assert_eq!(
            t,
            "3501200000;E1;王小明;A123456789;0390506;01;1130301;0007;K00;I10;E119;;;\
             A012345100;1;QD;PO;28.0;AC45791100;0.5;BID;PO;28.0"
        );
        let lines = decode_lines(&t).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[1].dose_centi, lines[1].total_deci), (50, 280));
        assert!(decode_lines("a;b;c").is_err());
        let mut semi = v.clone();
        semi.patient.name = "王;小明".into();
        assert!(encode(&semi, &p, &extra).is_err());
    }
}
