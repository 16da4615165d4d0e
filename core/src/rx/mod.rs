//! Prescriptions: order sets, the signed QR payload, one-time codes, chronic refills, dispensing.
//!
//! - [`orderset`]: order sets (處方套餐), line validation, download and sealed cache, apply/edit.
//! - [`prescription`]: the prescription of a visit, tied to its visit identification code.
//! - [`payload`] (+ [`base45`], [`sign`]): the compact signed QR text; [`render`]: PNG / SVG / terminal.
//! - [`barcode`]: the semicolon-separated 2D barcode Taiwan pharmacies already read.
//! - [`otc`]: one-time verification codes; [`refill`]: chronic refill dates and `C`/`E`.
//! - [`pharmacy`]: the pharmacist's side (scan → verify → fetch → dispense → receipt).

pub mod barcode;
pub mod base45;
mod bits;
pub mod codes;
pub mod orderset;
pub mod otc;
pub mod outbox;
pub mod payload;
pub mod pharmacy;
pub mod prescription;
pub mod refill;
pub mod render;
pub mod sheet;
pub mod sign;

pub use orderset::{LineError, OrderSet, RxLine};
pub use prescription::Prescription;

/// Anything that can go wrong on the prescriber's side of `rx`. Messages never hold patient data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RxError {
    /// A prescription line broke a rule.
    #[error(transparent)]
    Line(#[from] LineError),
    /// A prescription field broke a rule.
    #[error("{field}: {reason}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The device key could not be loaded or used.
    #[error("device key: {0}")]
    Key(String),
    /// The sealed cache could not be read or written.
    #[error("storage: {0}")]
    Storage(String),
    /// The order-set download failed.
    #[error("download: {0}")]
    Download(String),
    /// Rendering the QR failed.
    #[error("render: {0}")]
    Render(String),
}
