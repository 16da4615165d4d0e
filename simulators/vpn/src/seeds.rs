//! Seeded data the simulator serves: the institution's order sets (處方套餐) and patients' MediCloud
//! records (generated deterministically from the national ID, so every run shows the same patient
//! the same history).
//!
//! Drug codes have the NHI 10-character shape; `A000015421` is from the public NHI drug list (TW
//! Core IG), the others are shaped like real codes. Lab codes are NHI fee codes (09005C fasting
//! glucose, 09006C HbA1c, 09015C creatinine, 09044C LDL-C, 09022C potassium).

use chrono::{Duration, NaiveDate};
use homevisit_core::vpn::wire::{LabResult, MediCloudRecord, Medication, OrderSet, OrderSetLine};

fn line(drug_code: &str, dose_centi: u32, frequency: &str, per_day: u32, days: u16) -> OrderSetLine {
    // Whole units per day × days, so the total always matches dose × frequency × days.
    let total_units_centi = dose_centi * per_day * u32::from(days);
    OrderSetLine {
        drug_code: drug_code.to_string(),
        dose_centi,
        frequency: frequency.to_string(),
        route: "PO".to_string(),
        days,
        total_deci: total_units_centi.div_ceil(100) * 10,
    }
}

/// The institution's order sets.
pub fn order_sets() -> Vec<OrderSet> {
    vec![
        OrderSet {
            id: "HT28".into(),
            name: "高血壓 28 天".into(),
            lines: vec![
                line("AC45856100", 100, "QD", 1, 28),
                line("AC49381100", 100, "QD", 1, 28),
            ],
        },
        OrderSet {
            id: "DM28".into(),
            name: "糖尿病 28 天".into(),
            lines: vec![
                line("BC24227100", 100, "BID", 2, 28),
                line("AB45778100", 100, "HS", 1, 28),
            ],
        },
        OrderSet {
            id: "CONST7".into(),
            name: "便秘 7 天".into(),
            lines: vec![
                line("AC41215100", 200, "HS", 1, 7),
                line("AC46708100", 100, "TID", 3, 7),
            ],
        },
        OrderSet {
            id: "PAIN7".into(),
            name: "居家疼痛 7 天".into(),
            lines: vec![line("AC36122100", 100, "QID", 4, 7)],
        },
        OrderSet {
            id: "HF14".into(),
            name: "心衰竭利尿 14 天".into(),
            lines: vec![line("AB42374100", 50, "QD", 1, 14)],
        },
    ]
}

const DRUGS: &[(&str, &str, u32)] = &[
    ("AC45856100", "Amlodipine 5 mg", 28),
    ("BC24227100", "Metformin 500 mg", 28),
    ("AC49381100", "Losartan 50 mg", 28),
    ("AB45778100", "Atorvastatin 20 mg", 28),
    ("AC36122100", "Acetaminophen 500 mg", 7),
    ("AB42374100", "Furosemide 40 mg", 14),
    ("AC46708100", "Magnesium oxide 250 mg", 7),
    ("A000015421", "Yen Kuang eye drops", 30),
];

const INSTITUTIONS: &[&str] = &["0401180014", "1101010012", "3501200000", "1317040011"];

fn hash(id: &str) -> u64 {
    let d = ring::digest::digest(&ring::digest::SHA256, id.as_bytes());
    u64::from_be_bytes(d.as_ref()[..8].try_into().unwrap_or([0; 8]))
}

/// The MediCloud record of the patient with `national_id`, as of `today` (Taiwan date).
pub fn medicloud(national_id: &str, today: NaiveDate) -> MediCloudRecord {
    let mut h = hash(national_id);
    let mut next = |n: u64| {
        h = h
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (h >> 33) % n
    };
    let count = 2 + next(3) as usize;
    let mut picked: Vec<usize> = Vec::new();
    while picked.len() < count {
        let i = next(DRUGS.len() as u64) as usize;
        if !picked.contains(&i) {
            picked.push(i);
        }
    }
    let mut medications: Vec<Medication> = picked
        .into_iter()
        .map(|i| {
            let (code, name, days) = DRUGS[i];
            let ago = 1 + next(40) as u32;
            Medication {
                drug_code: code.into(),
                name: name.into(),
                institution: INSTITUTIONS[next(INSTITUTIONS.len() as u64) as usize].into(),
                dispensed_on: (today - Duration::days(i64::from(ago))).to_string(),
                days,
                remaining_days: days.saturating_sub(ago),
            }
        })
        .collect();
    medications.sort_by(|a, b| b.dispensed_on.cmp(&a.dispensed_on));
    let taken = |ago: i64| (today - Duration::days(ago)).to_string();
    let lab_ago = 3 + next(60) as i64;
    let labs = vec![
        LabResult {
            code: "09006C".into(),
            name: "HbA1c".into(),
            value: format!("{:.1}", 5.6 + next(30) as f64 / 10.0),
            unit: "%".into(),
            reference: "4.0-6.0".into(),
            taken_on: taken(lab_ago),
        },
        LabResult {
            code: "09015C".into(),
            name: "Creatinine".into(),
            value: format!("{:.2}", 0.7 + next(90) as f64 / 100.0),
            unit: "mg/dL".into(),
            reference: "0.7-1.3".into(),
            taken_on: taken(lab_ago),
        },
        LabResult {
            code: "09005C".into(),
            name: "Glucose (AC)".into(),
            value: (85 + next(80)).to_string(),
            unit: "mg/dL".into(),
            reference: "70-100".into(),
            taken_on: taken(lab_ago),
        },
        LabResult {
            code: "09044C".into(),
            name: "LDL-C".into(),
            value: (70 + next(100)).to_string(),
            unit: "mg/dL".into(),
            reference: "<130".into(),
            taken_on: taken(lab_ago + 30),
        },
        LabResult {
            code: "09022C".into(),
            name: "Potassium".into(),
            value: format!("{:.1}", 3.4 + next(20) as f64 / 10.0),
            unit: "mmol/L".into(),
            reference: "3.5-5.1".into(),
            taken_on: taken(lab_ago + 30),
        },
    ];
    MediCloudRecord {
        as_of: today.to_string(),
        medications,
        labs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_set_totals_match_dose_frequency_days() {
        for set in order_sets() {
            assert!(!set.lines.is_empty());
            for l in set.lines {
                assert_eq!(l.drug_code.len(), 10);
                assert_eq!(l.total_deci % 10, 0);
            }
        }
        let ht = &order_sets()[0].lines[0];
        assert_eq!((ht.dose_centi, ht.days, ht.total_deci), (100, 28, 280));
        let hf = &order_sets()[4].lines[0];
        assert_eq!(hf.total_deci, 70);
    }

    #[test]
    fn medicloud_is_deterministic_and_remaining_days_add_up() {
        let today = NaiveDate::from_ymd_opt(2024, 3, 5).unwrap();
        let a = medicloud("A123456789", today);
        assert_eq!(a, medicloud("A123456789", today));
        assert_ne!(a, medicloud("B123456780", today));
        assert!((2..=4).contains(&a.medications.len()));
        for m in &a.medications {
            let d = NaiveDate::parse_from_str(&m.dispensed_on, "%Y-%m-%d").unwrap();
            let ago = (today - d).num_days() as u32;
            assert_eq!(m.remaining_days, m.days.saturating_sub(ago));
        }
        assert_eq!(a.labs.len(), 5);
    }
}
