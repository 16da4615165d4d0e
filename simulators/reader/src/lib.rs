//! nhi-reader-sim: simulated BLE card readers and NHI cards on a virtual-time link.

pub mod card;
pub mod keys;
