//! Orders of a visit (drugs and treatments), as written to the card, uploaded (MB2), prescribed and
//! claimed: what was ordered, where and how it is used (D07 site, D08 usage), the prescription it
//! belongs to (D04 kind, D05 dispensing method, D11 signature, refills, the original visit of a
//! dispensing) and who carried it out when (claims: execution start/end, performer, department).

use serde::{Deserialize, Serialize};

/// What kind of order a line is (2.0 upload field D02).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderKind {
    /// `1`: a drug.
    Drug,
    /// `2`: a treatment or procedure.
    Treatment,
}

/// The kind of prescription a drug order is on (2.0 upload field D04; our coding, domain §10 names
/// the field only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrescriptionKind {
    /// `1`: an ordinary prescription.
    Ordinary,
    /// `2`: a chronic continuous prescription (慢性病連續處方箋, refills 2 and 3 at a pharmacy).
    Chronic,
}

impl PrescriptionKind {
    /// The D04 code.
    pub fn code(self) -> &'static str {
        match self {
            PrescriptionKind::Ordinary => "1",
            PrescriptionKind::Chronic => "2",
        }
    }
}

/// Who dispenses a drug order (2.0 upload field D05, dispensing method M23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dispensing {
    /// `0`: dispensed by the institution itself.
    SelfDispensed,
    /// `1`: released to a community pharmacy (交付調劑).
    Released,
}

impl Dispensing {
    /// The D05 / M23 code.
    pub fn code(self) -> &'static str {
        match self {
            Dispensing::SelfDispensed => "0",
            Dispensing::Released => "1",
        }
    }
}

/// The visit a dispensing or follow-up order goes back to (2.0 upload fields M16–M19).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginalVisit {
    /// M16: the original visit identification code (20 characters).
    pub visit_code: String,
    /// M17: the original institution (10 digits).
    pub institution: String,
    /// M18: the original sequence number.
    pub sequence_number: String,
    /// M19: the original visit date-time, ROC `YYYMMDDHHMMSS`.
    pub visited_at: String,
}

/// The prescription side of a drug order: kind, dispensing, signature and refills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrescriptionInfo {
    /// D04: ordinary or chronic continuous.
    pub kind: PrescriptionKind,
    /// D05: self-dispensed or released to a pharmacy.
    pub dispensing: Dispensing,
    /// D11: the prescription's signature (hex), when it was signed.
    #[serde(default)]
    pub signature: Option<String>,
    /// For a chronic prescription: how many dispensings in all (2 or 3); 0 otherwise.
    #[serde(default)]
    pub refills: u8,
    /// Which dispensing this is (1 for the first); 0 when not a chronic prescription.
    #[serde(default)]
    pub refill_number: u8,
    /// The visit this dispensing goes back to (refill 2 or 3, a pharmacy dispensing).
    #[serde(default)]
    pub original: Option<OriginalVisit>,
}

/// Who carried an order out and when (claims: 醫令執行時間起迄, 執行人員, 科別; domain §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderExecution {
    /// Execution start, Unix ms.
    pub start_ms: i64,
    /// Execution end, Unix ms.
    pub end_ms: i64,
    /// The performer's national ID.
    pub performer_id: String,
    /// The department: a doctor's specialty, `EA` nurse, `AC` respiratory therapist, else blank.
    pub department: String,
}

/// One order line of a visit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Drug or treatment.
    pub kind: OrderKind,
    /// NHI order code (drug code up to 12 characters, or a fee code such as `05307C`).
    pub code: String,
    /// Dose per administration as text (e.g. `1` tablet, `0.5`), empty for treatments.
    pub dose: String,
    /// Frequency code (e.g. `TID`, `QD`, `HS`), empty for treatments.
    pub frequency: String,
    /// Route (e.g. `PO`), empty for treatments.
    pub route: String,
    /// Days supplied.
    pub days: u16,
    /// Total quantity (NHI `0000.0` form at the edges).
    pub total: f64,
    /// D07: the site of the order (作用部位, e.g. a wound site for a dressing); empty when none.
    /// The route is part of the usage (D08), never the site.
    #[serde(default)]
    pub site: String,
    /// The prescription a drug order is on; `None` for treatments and unprescribed drugs.
    #[serde(default)]
    pub prescription: Option<PrescriptionInfo>,
    /// Who carried the order out and when; `None` means the visit's practitioner at the visit.
    #[serde(default)]
    pub execution: Option<OrderExecution>,
}

impl Order {
    /// A treatment or fee line (`D02` = 2): code and quantity, nothing else.
    pub fn treatment(code: &str, total: f64) -> Order {
        Order {
            kind: OrderKind::Treatment,
            code: code.to_string(),
            dose: String::new(),
            frequency: String::new(),
            route: String::new(),
            days: 0,
            total,
            site: String::new(),
            prescription: None,
            execution: None,
        }
    }

    /// D08: the usage as written to the card and the upload: frequency, then the route
    /// (`TID PO`); empty for a treatment.
    pub fn usage(&self) -> String {
        match (self.frequency.is_empty(), self.route.is_empty()) {
            (true, true) => String::new(),
            (false, true) => self.frequency.clone(),
            (true, false) => self.route.clone(),
            (false, false) => format!("{} {}", self.frequency, self.route),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_frequency_then_route_and_never_the_site() {
        let mut o = Order::treatment("AC45856100", 21.0);
        assert_eq!(o.usage(), "");
        o.frequency = "TID".into();
        assert_eq!(o.usage(), "TID");
        o.route = "PO".into();
        o.site = "LLE".into();
        assert_eq!(o.usage(), "TID PO");
    }

    #[test]
    fn orders_stored_before_the_new_fields_still_read() {
        let old =
            r#"{"kind":"Drug","code":"A1","dose":"1","frequency":"QD","route":"PO","days":7,"total":7.0}"#;
        let o: Order = serde_json::from_str(old).unwrap();
        assert_eq!(o.site, "");
        assert!(o.prescription.is_none() && o.execution.is_none());
    }
}
