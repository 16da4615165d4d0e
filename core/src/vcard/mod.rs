//! The virtual NHI card (虛擬健保卡, shared/domain.md §3, seed 003): the patient's phone shows a
//! single-use QR that the NHI signs and that expires 5 minutes after issue; the institution scans
//! it, the patient approves in their app ("同意"), and only then may the institution read the card
//! data. A visit on a virtual card gets a sequence number `V…` from the NHI (there is no chip, so
//! nothing is written to a card). HMIC teams holding the right may help a patient apply for one.
//!
//! - [`qr`]: the QR codec and its device-side checks (signature, expiry by the [`crate::platform::Clock`]);
//! - [`wire`]: the routes and JSON bodies of the NHI's virtual-card service;
//! - [`client`]: the calls over the enrolled [`crate::vpn::VpnClient`], with the server's refusals typed;
//! - [`error`]: [`VcardError`], one variant per lifecycle rule.

pub mod client;
pub mod error;
pub mod qr;
pub mod wire;

pub use error::VcardError;
pub use qr::{QR_LIFETIME_MS, QR_PREFIX, VcardQr};

#[cfg(test)]
mod tests;
