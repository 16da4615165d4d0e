//! Plain domain types: patients, practitioners, institutions, visits, orders, ROC dates and times.
//! The ground floor: nothing here depends on another layer of the core.

pub mod care;
pub mod codes;
pub mod ids;
pub mod order;
pub mod roc;
pub mod visit;

pub use care::{CareStage, CareTeamCode, Role};
pub use codes::{AbnormalCode, CodeError, SequenceNumber, VisitType};
pub use ids::{IdError, InstitutionCode, NationalId, Sex};
pub use order::{
    Dispensing, Order, OrderExecution, OrderKind, OriginalVisit, PrescriptionInfo, PrescriptionKind,
};
pub use roc::{RocDate, RocDateTime, RocError, RocErrorKind, taiwan_offset};
pub use visit::{CardBasicData, CardReplacement, EmergencyRecord, Visit, VisitContext};
