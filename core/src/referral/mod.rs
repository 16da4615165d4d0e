//! Electronic referrals (電子轉介平台, seed 002): home care ⇄ long-term care, as one model and one
//! set of pure rules shared by the device and the platform simulator.
//!
//! - [`model`]: the four types, unit kinds, processing statuses, the six-part form, the referral
//!   and its sender / receiver states;
//! - [`rules`]: who opens what, the referral number, the form checks, correct / delete / send,
//!   process / reply, re-referral, and the platform's acceptance of submissions and replies;
//! - [`query`]: the sender's and receiver's queries and the detail report's filters;
//! - [`csv`]: the detail report and its CSV export (Big5 default, UTF-8 with BOM);
//! - [`wire`]: the JSON the device and the platform exchange;
//! - [`outbox`]: the `referral_submit` / `referral_reply` jobs and their dispatch;
//! - [`store`]: the device's sealed copies and the "sent = queued" rule;
//! - [`vectors`]: fixed test vectors both sides run.
//!
//! The facade's service is `app::ReferralService` (`HomeVisit::referrals()`). Decisions are
//! written in `README.md` beside this file.

pub mod csv;
pub mod model;
pub mod outbox;
pub mod query;
pub mod rules;
pub mod store;
pub mod vectors;
pub mod wire;

#[cfg(test)]
mod tests;

pub use model::{
    Assessment, PatientBasic, Processing, ProcessingStatus, ReceiverState, Referral, ReferralForm,
    ReferralType, Round, SenderState, Summary, Unit, UnitKind,
};
pub use query::{ReferralQuery, ReportFilter, Side};
pub use rules::{Action, Violation};
