//! Orders of a visit (drugs and treatments), as written to the card, uploaded (MB2) and prescribed.

use serde::{Deserialize, Serialize};

/// What kind of order a line is (2.0 upload field D02).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderKind {
    /// `1`: a drug.
    Drug,
    /// `2`: a treatment or procedure.
    Treatment,
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
}
