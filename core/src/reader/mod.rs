//! BLE card readers: the transport trait and its backends, frame codec, secure channel, pairing.
//! The card layer (`crate::card`) talks to a reader only through [`ApduChannel`].

mod apdu;

pub use apdu::{ApduChannel, CardSlot, ReaderError};
