//! homevisit-core: all product logic of the homevisit app.
//!
//! The layers run one way (see `ARCHITECTURE.md`): [`model`] and [`platform`] are the ground floor;
//! [`rules`], [`reader`], [`store`] and [`vpn`] stand on them; [`card`], [`rx`] and [`sync`] on those;
//! the [`app`] facade on top. No FFI code lives here: `homevisit-ffi` wraps this crate.

#![warn(missing_docs)]

pub mod app;
pub mod card;
pub mod claims;
pub mod error;
pub mod hmic;
pub mod model;
pub mod platform;
pub mod reader;
pub mod referral;
pub mod report;
pub mod rules;
pub mod rx;
pub mod store;
pub mod sync;
pub mod team;
pub mod vcard;
pub mod vpn;

pub use error::{Error, Result};
