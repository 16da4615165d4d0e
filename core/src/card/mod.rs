//! The NHI card application: APDUs, record layouts, operations and control-software error codes.
//!
//! The card layer talks to a card only through [`crate::reader::ApduChannel`] and to the cloud SAM
//! only through [`sam::SamAuthority`].

pub mod apdu;
pub mod basic_data;
pub mod error;
pub mod fields;
pub mod hpc;
pub mod patient;
pub mod records;
pub mod sam;
pub mod visit_txn;

pub use error::{CardError, NhiCode};
pub use hpc::{PinState, Practitioner};
pub use patient::{PatientCard, SequenceRequest};
pub use records::{CardVisitRecord, PrescriptionEntry, SequenceForm, VisitBody};
pub use sam::{SamAuthority, SamChallenge, SamError, VisitSignRequest, VisitSignature};
pub use visit_txn::{
    AbnormalDecision, Failure, Phase, VisitOutcome, VisitPlan, abnormal_decision, run_visit,
};
