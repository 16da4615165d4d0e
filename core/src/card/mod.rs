//! The NHI card application: APDUs, record layouts, operations and control-software error codes.
//!
//! The card layer talks to a card only through [`crate::reader::ApduChannel`] and to the cloud SAM
//! only through [`sam::SamAuthority`].

pub mod apdu;
pub mod basic_data;
pub mod error;
pub mod fields;
pub mod sam;

pub use error::{CardError, NhiCode};
pub use sam::{SamAuthority, SamChallenge, SamError, VisitSignRequest, VisitSignature};
