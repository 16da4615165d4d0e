//! A home visit as the app captures it, and the patient card data it starts from.

use super::care::{CareStage, Role};
use super::ids::{InstitutionCode, NationalId, Sex};
use super::order::Order;
use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The public basic data of a patient's NHI card (the 57-byte record).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardBasicData {
    /// Card number, 12 characters.
    pub card_number: String,
    /// Patient's name (decoded from Big5).
    pub name: String,
    /// National ID.
    pub national_id: NationalId,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// Sex as printed on the card.
    pub sex: Sex,
    /// Card issue date.
    pub issue_date: NaiveDate,
}

impl fmt::Debug for CardBasicData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardBasicData(<redacted>)")
    }
}

/// One home visit: who, when, where, its NHI identity and what was recorded.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    /// Local id (UUIDv7 text).
    pub id: String,
    /// The 20-character visit identification code (就醫識別碼) shared with the NHI.
    pub visit_code: String,
    /// The patient's card data as read at the visit.
    pub patient: CardBasicData,
    /// Where the visit is billed.
    pub institution: InstitutionCode,
    /// National ID of the attending practitioner.
    pub practitioner_id: String,
    /// Visit type code (就醫類別, M07), e.g. `01` or `AH`.
    pub visit_type: String,
    /// Visit sequence number (就醫序號, M13): `0001`–`1500` or an abnormal code such as `F00B`.
    pub sequence_number: String,
    /// When the visit happened, Taiwan time.
    pub visited_at: DateTime<FixedOffset>,
    /// ICD-10-CM diagnoses, normalised (upper-case, no dot), main diagnosis first.
    pub diagnoses: Vec<String>,
    /// Free-text clinical note (sealed at rest).
    pub note: String,
    /// Orders of the visit (drugs and treatments), in order-serial order (D03 001…).
    #[serde(default)]
    pub orders: Vec<Order>,
    /// Card security signature for this visit (M14, hex), when the card gave one.
    #[serde(default)]
    pub security_signature: Option<String>,
    /// Cloud SAM id (M01) that authenticated the card, when online.
    #[serde(default)]
    pub sam_id: Option<String>,
    /// Why the visit took an abnormal sequence number (reader, network, power…), for the
    /// abnormal-situation report; `None` for a normal visit.
    #[serde(default)]
    pub abnormal_reason: Option<String>,
    /// Whether the visit was written to the patient's card.
    #[serde(default)]
    pub card_written: bool,
    /// Medical fee points of the visit (2.0 upload field M44; required for counted visit types).
    #[serde(default)]
    pub fee_points: Option<u32>,
    /// Copayment points the patient paid (2.0 upload field M45).
    #[serde(default)]
    pub copayment_points: Option<u32>,
    /// Who gave the care and under which case: role, care stage, card-less visit, card
    /// replacement, emergency (issue 14). All-default for a plain card visit.
    #[serde(default)]
    pub context: VisitContext,
}

/// What the NHI audits about a visit beyond its card data: the practitioner's role and the case's
/// care stage (fee codes, case type), a card-less visit and its later card replacement, and the
/// emergency details (surcharge, `ECE` marking).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VisitContext {
    /// The practitioner's role in the care team; `None` for visits recorded before roles existed.
    #[serde(default)]
    pub role: Option<Role>,
    /// The case's HMIC care stage (claim case type E1 / A1 / A5); `None` when not known.
    #[serde(default)]
    pub care_stage: Option<CareStage>,
    /// The patient had no card at the visit: treated and charged out of pocket, visit code taken
    /// offline, nothing written to a card.
    #[serde(default)]
    pub card_less: bool,
    /// The card brought later (補卡): set on the replacement upload.
    #[serde(default)]
    pub card_replacement: Option<CardReplacement>,
    /// Set when this was an emergency home visit.
    #[serde(default)]
    pub emergency: Option<EmergencyRecord>,
}

/// A card replacement (補卡) after a card-less visit: 2.0 fields M12, M49 and M52.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardReplacement {
    /// M12: `2` card replacement, `4` card replacement without an actual visit identification code.
    pub flag: u8,
    /// M49: the actual visit date-time (the card-less visit), Taiwan time.
    pub actual_visited_at: DateTime<FixedOffset>,
    /// M52: the actual visit identification code; `None` writes `MISS` + 16 `0` (flag 4).
    pub actual_visit_code: Option<String>,
    /// Points refunded to the patient, who had paid out of pocket.
    pub refund_points: u32,
}

/// An emergency home visit as recorded (domain §6): indications, arrival and end to the minute, the
/// surcharge bracket that applied and whether it is payable (one per doctor per patient per day).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmergencyRecord {
    /// The indication codes (`rules::emergency::Indication::code`), at least one.
    pub indications: Vec<String>,
    /// Arrival at the patient's home, Unix ms.
    pub arrival_ms: i64,
    /// End of the visit, Unix ms.
    pub end_ms: i64,
    /// The bracket that applied (stable name, e.g. `late_night_holiday`).
    pub bracket: String,
    /// The surcharge in percent (0, 40, 50 or 70).
    pub surcharge_percent: u32,
    /// Whether this emergency visit is payable.
    pub payable: bool,
}

impl fmt::Debug for Visit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Visit")
            .field("id", &self.id)
            .field("visit_code", &self.visit_code)
            .field("visit_type", &self.visit_type)
            .field("sequence_number", &self.sequence_number)
            .field("visited_at", &self.visited_at)
            .finish_non_exhaustive()
    }
}
