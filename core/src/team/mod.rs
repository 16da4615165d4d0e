//! The care team's shared record (居家醫療整合照護資訊共享平台, seed 000 §肆 and §伍): one model
//! and one set of pure rules shared by the device and the VPN simulator (the authority).
//!
//! - [`model`]: the shared case ([`CaseBasics`] from the latest application, special notes,
//!   access control), care plans (versioned), visit records per role, discussion messages,
//!   24-hour phone consultations, and a case's whole file ([`CaseFile`]);
//! - [`text`]: the free-text limits (in characters; decided here, see `README.md`);
//! - [`schedule`]: the next visit date proposed from the care plan's visit frequency;
//! - [`rules`]: who may see, edit and delete what; every write checked the same way on both sides;
//! - [`wire`]: the JSON the device and the simulator exchange (a write, the sync);
//! - [`outbox`]: the `team_write` job and its dispatch;
//! - [`store`]: the device's sealed cache (one kv entry per case);
//! - [`vectors`]: fixed test vectors both sides run.
//!
//! The facade's service is `app::TeamService` (`HomeVisit::team()`).

pub mod model;
pub mod outbox;
pub mod rules;
pub mod schedule;
pub mod store;
pub mod text;
pub mod vectors;
pub mod wire;

#[cfg(test)]
mod tests;

pub use model::{
    CarePlan, CaseBasics, CaseFile, Consultation, Message, PlanContent, SharedCase, TeamMember,
    VisitFrequency, VisitRecord,
};
pub use rules::Violation;
pub use schedule::{FrequencyUnit, next_visit_date};
pub use wire::TeamWrite;
