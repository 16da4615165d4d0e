//! The simulated cards the reader holds, one per slot: patient NHI cards and practitioner cards
//! (HPC). The simulated reader meets the cards only through [`SimCard`].

pub mod apdu;
pub mod direct;
pub mod patient;
pub mod practitioner;

pub use direct::{DirectReader, LinkFault};
pub use patient::{Fault, PatientCard, PatientProfile, RecordView};
pub use practitioner::{PractitionerCard, PractitionerProfile};

use std::path::Path;

/// AID of the NHI application on the patient card.
pub const NHI_AID: [u8; 16] = [
    0xD1, 0x58, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11, 0x00,
];
/// AID of the practitioner application on the HPC.
pub const HPC_AID: [u8; 16] = [
    0xD1, 0x58, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00,
];

/// What kind of card sits in a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CardKind {
    /// A patient's NHI card.
    Patient,
    /// A medical staff card (HPC).
    Practitioner,
    /// Anything else (a bank card, a dead card).
    Other,
}

/// A card in a reader slot: answers one command APDU with the response APDU (data + SW1 SW2).
pub trait SimCard: Send {
    /// Answers one command. An empty answer means the card went mute (pulled out mid-command);
    /// the reader then reports the card removed.
    fn transmit(&mut self, apdu: &[u8]) -> Vec<u8>;
    /// What kind of card this is.
    fn kind(&self) -> CardKind;
    /// Whether the card is still in contact (false after a removal mid-command).
    fn present(&self) -> bool {
        true
    }
    /// Warm reset (reader power cycle or reconnect): forget selection and authentication.
    fn reset(&mut self) {}
}

/// Realistic patients for the demo and the tests (valid national IDs; birth dates ROC).
pub fn demo_patients() -> Vec<PatientProfile> {
    let p = |card: &str, name: &str, id: &str, birth: &str, sex: char, issue: &str, allergies: &[&str]| {
        PatientProfile {
            card_number: card.into(),
            name: name.into(),
            national_id: id.into(),
            birth_date: birth.into(),
            sex,
            issue_date: issue.into(),
            expiry_date: "1201231".into(),
            insured: true,
            cancelled: false,
            visits_left: 6,
            allergies: allergies.iter().map(|s| s.to_string()).collect(),
        }
    };
    vec![
        p(
            "000012345678",
            "王小明",
            "A123456789",
            "0290517",
            'M',
            "1020108",
            &["Penicillin 盤尼西林"],
        ),
        p(
            "000023456781",
            "陳美玲",
            "B220415378",
            "0340921",
            'F',
            "1050612",
            &[],
        ),
        p(
            "000034567812",
            "林志豪",
            "F128703126",
            "0221103",
            'M',
            "1030330",
            &["Aspirin 阿斯匹靈", "Sulfa 磺胺類"],
        ),
        p(
            "000045678123",
            "黃淑芬",
            "H223196849",
            "0380214",
            'F',
            "1070805",
            &[],
        ),
    ]
}

/// A realistic practitioner (PIN `1234`).
pub fn demo_practitioner() -> PractitionerProfile {
    PractitionerProfile {
        national_id: "E124562011".into(),
        name: "張家豪".into(),
        pin: "1234".into(),
        tries_left: practitioner::PIN_TRIES,
    }
}

/// A ready simulated patient card (the first demo patient), in memory.
pub fn demo_patient_card() -> PatientCard {
    PatientCard::new(demo_patients().remove(0))
}

/// The demo patient card `index` (0–3) backed by `state_dir/patient-<card number>.json`.
pub fn demo_patient_card_in(state_dir: &Path, index: usize) -> std::io::Result<PatientCard> {
    let profile = demo_patients()
        .into_iter()
        .nth(index)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such demo patient"))?;
    let path = state_dir.join(format!("patient-{}.json", profile.card_number));
    PatientCard::open(&path, profile)
}

/// The demo practitioner card backed by `state_dir/practitioner.json`.
pub fn demo_practitioner_card_in(state_dir: &Path) -> std::io::Result<PractitionerCard> {
    PractitionerCard::open(&state_dir.join("practitioner.json"), demo_practitioner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The basic-data record of the first demo patient, written out byte by byte.
    #[test]
    fn fixed_basic_data_vector() {
        let mut card = demo_patient_card();
        let select = hex_bytes("00A4040010D1580000010000000000000000001100");
        assert_eq!(card.transmit(&select), vec![0x90, 0x00]);
        let answer = card.transmit(&[0x00, 0xCA, 0x11, 0x00, 0x02, 0x00, 0x00]);
        let mut expected = b"000012345678".to_vec();
        expected.extend_from_slice(&[0xA4, 0xFD, 0xA4, 0x70, 0xA9, 0xFA]);
        expected.extend_from_slice(&[0; 14]);
        expected.extend_from_slice(b"A1234567890290517M1020108");
        expected.extend_from_slice(&[0x90, 0x00]);
        assert_eq!(answer, expected);
        assert_eq!(answer.len(), 59);
    }

    #[test]
    fn practitioner_card_is_not_an_nhi_card() {
        let mut hpc = PractitionerCard::new(demo_practitioner());
        let select = hex_bytes("00A4040010D1580000010000000000000000001100");
        assert_eq!(hpc.transmit(&select), vec![0x6A, 0x82]);
        let mut pat = demo_patient_card();
        let mut sel_hpc = hex_bytes("00A4040010");
        sel_hpc.extend_from_slice(&HPC_AID);
        assert_eq!(pat.transmit(&sel_hpc), vec![0x6A, 0x82]);
        // Nothing before SELECT.
        assert_eq!(
            pat.transmit(&[0x00, 0xCA, 0x11, 0x00, 0x02, 0x00, 0x00]),
            vec![0x69, 0x85]
        );
    }

    #[test]
    fn pin_lockout_after_three_wrong() {
        let mut hpc = PractitionerCard::new(demo_practitioner());
        let mut sel = hex_bytes("00A4040010");
        sel.extend_from_slice(&HPC_AID);
        assert_eq!(hpc.transmit(&sel), vec![0x90, 0x00]);
        let wrong = hex_bytes("002000010839393939FFFFFFFF");
        let right = hex_bytes("002000010831323334FFFFFFFF");
        assert_eq!(hpc.transmit(&wrong), vec![0x63, 0xC2]);
        assert_eq!(hpc.transmit(&wrong), vec![0x63, 0xC1]);
        assert_eq!(hpc.transmit(&wrong), vec![0x69, 0x83]);
        assert_eq!(hpc.transmit(&right), vec![0x69, 0x83]);
        assert_eq!(hpc.tries_left(), 0);
    }

    #[test]
    fn state_survives_a_restart_without_clear_patient_data() {
        let dir = tempfile::tempdir().unwrap();
        let card = demo_patient_card_in(dir.path(), 0).unwrap();
        assert_eq!(card.visits_left(), 6);
        let hpc = demo_practitioner_card_in(dir.path()).unwrap();
        let mut h = hpc.clone();
        let mut sel = hex_bytes("00A4040010");
        sel.extend_from_slice(&HPC_AID);
        h.transmit(&sel);
        h.transmit(&hex_bytes("002000010839393939FFFFFFFF"));
        let again = demo_practitioner_card_in(dir.path()).unwrap();
        assert_eq!(again.tries_left(), 2);
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            assert!(!text.contains("A123456789") && !text.contains("王小明") && !text.contains("E124562011"));
        }
    }

    fn hex_bytes(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }
}
