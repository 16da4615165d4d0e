//! Plain domain types: patients, practitioners, institutions, visits, orders, ROC dates and times.
//! The ground floor: nothing here depends on another layer of the core.

pub mod ids;
pub mod order;
pub mod visit;

pub use ids::{IdError, InstitutionCode, NationalId, Sex};
pub use order::{Order, OrderKind};
pub use visit::{CardBasicData, Visit};
