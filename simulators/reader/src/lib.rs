//! nhi-reader-sim: simulated BLE card readers and NHI cards on a virtual-time link.
//!
//! A full in-process reader: build a [`gatt::SimReader`] of a supported model, put
//! [`card::SimCard`]s in its slots, hand it to a `homevisit_core::reader::MemoryTransport`, then
//! pair and connect with a `ReaderClient`. [`link::LinkStats`] counts the BLE cost in virtual time.

pub mod card;
pub mod gatt;
pub mod keys;
pub mod link;

pub use gatt::{ReaderConfig, SimReader, Tamper};
pub use link::{LinkConfig, LinkStats};
