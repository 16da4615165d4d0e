//! HMIC case applications (居家醫療照護整合計畫, domain §4, seed 000 §壹): one model shared by the
//! device and the VPN simulator; the rules are `crate::rules::hmic` (pure functions, both sides).
//!
//! - [`model`]: the application, its types, states, assessment, orders and closing;
//! - [`vectors`]: fixed test vectors both sides run;
//! - [`wire`]: the JSON the device and the simulator exchange;
//! - [`outbox`]: the `hmic_submit` / `hmic_close` jobs and their dispatch;
//! - [`store`]: the device's sealed copies (kv, no migration);
//! - [`xml`]: the batch upload file;
//! - [`csv`]: the query's CSV export.

pub mod csv;
pub mod model;
pub mod outbox;
pub mod store;
pub mod vectors;
pub mod wire;
pub mod xml;

#[cfg(test)]
mod tests;

pub use model::{Application, ApplicationType, CaseState, ClosingReason};
