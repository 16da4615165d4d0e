//! The messages inside sealed frames, and the plain bodies of the pairing / session-opening frames.

use super::{CardSlot, ReaderError};

fn bad(msg: impl Into<String>) -> ReaderError {
    ReaderError::BadFrame(msg.into())
}

/// Reader error codes carried by [`Message::ReaderError`] and plain error frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ReaderErrorCode {
    /// The slot holds no card.
    NoCard = 1,
    /// The card was pulled out while the reader talked to it.
    CardRemoved = 2,
    /// The reader could not parse or authenticate what the phone sent.
    BadFrame = 3,
    /// The phone is not paired with this reader.
    NotPaired = 4,
    /// The reader is busy (e.g. pairing with someone else).
    Busy = 5,
    /// Any other fault inside the reader.
    Internal = 6,
    /// The pairing was not confirmed on the reader itself (its button), or the reader refuses
    /// pairing until it is (too many failed attempts).
    NotConfirmed = 7,
}

impl ReaderErrorCode {
    fn from_u8(b: u8) -> Self {
        match b {
            1 => Self::NoCard,
            2 => Self::CardRemoved,
            3 => Self::BadFrame,
            4 => Self::NotPaired,
            5 => Self::Busy,
            7 => Self::NotConfirmed,
            _ => Self::Internal,
        }
    }
}

/// Encodes a slot on the wire.
pub fn slot_byte(slot: CardSlot) -> u8 {
    match slot {
        CardSlot::Practitioner => 0,
        CardSlot::Patient => 1,
    }
}

/// Decodes a slot from the wire.
pub fn slot_from_byte(b: u8) -> Result<CardSlot, ReaderError> {
    match b {
        0 => Ok(CardSlot::Practitioner),
        1 => Ok(CardSlot::Patient),
        _ => Err(bad(format!("unknown card slot {b}"))),
    }
}

/// What travels inside a sealed frame. `Debug` shows APDU lengths only: commands carry PINs and
/// responses carry patient data, and a message may end up in an error text or a log.
#[derive(Clone, PartialEq, Eq)]
pub enum Message {
    /// Phone → reader: send this APDU to the card in `slot`.
    ApduRequest {
        /// Target slot.
        slot: CardSlot,
        /// Command APDU.
        apdu: Vec<u8>,
    },
    /// Reader → phone: the card's response (data + SW1 SW2).
    ApduResponse {
        /// Slot that answered.
        slot: CardSlot,
        /// Response APDU.
        response: Vec<u8>,
    },
    /// Reader → phone: a card was inserted.
    CardInserted(CardSlot),
    /// Reader → phone: a card was removed.
    CardRemoved(CardSlot),
    /// Reader → phone: the reader failed the last request.
    ReaderError {
        /// What went wrong.
        code: ReaderErrorCode,
        /// Human-readable detail (never patient data).
        text: String,
    },
    /// Phone → reader: which slots hold a card?
    StatusRequest,
    /// Reader → phone: slot occupancy (practitioner, patient).
    Status {
        /// A card sits in the practitioner slot.
        practitioner: bool,
        /// A card sits in the patient slot.
        patient: bool,
    },
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::ApduRequest { slot, apdu } => write!(f, "ApduRequest({slot:?}, {} bytes)", apdu.len()),
            Message::ApduResponse { slot, response } => {
                write!(f, "ApduResponse({slot:?}, {} bytes)", response.len())
            }
            Message::CardInserted(s) => write!(f, "CardInserted({s:?})"),
            Message::CardRemoved(s) => write!(f, "CardRemoved({s:?})"),
            Message::ReaderError { code, .. } => write!(f, "ReaderError({code:?})"),
            Message::StatusRequest => f.write_str("StatusRequest"),
            Message::Status {
                practitioner,
                patient,
            } => write!(f, "Status(practitioner: {practitioner}, patient: {patient})"),
        }
    }
}

impl Message {
    /// Serialises the message.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Message::ApduRequest { slot, apdu } => [&[0x01, slot_byte(*slot)][..], apdu].concat(),
            Message::ApduResponse { slot, response } => [&[0x02, slot_byte(*slot)][..], response].concat(),
            Message::CardInserted(s) => vec![0x03, slot_byte(*s)],
            Message::CardRemoved(s) => vec![0x04, slot_byte(*s)],
            Message::ReaderError { code, text } => [&[0x05, *code as u8][..], text.as_bytes()].concat(),
            Message::StatusRequest => vec![0x06],
            Message::Status {
                practitioner,
                patient,
            } => vec![0x07, *practitioner as u8, *patient as u8],
        }
    }

    /// Parses a message; unknown or short input is a [`ReaderError::BadFrame`].
    pub fn decode(b: &[u8]) -> Result<Message, ReaderError> {
        let (&tag, rest) = b.split_first().ok_or_else(|| bad("empty message"))?;
        let need = |n: usize| {
            if rest.len() < n {
                Err(bad(format!("message {tag:#04x} too short")))
            } else {
                Ok(())
            }
        };
        Ok(match tag {
            0x01 => {
                need(1)?;
                Message::ApduRequest {
                    slot: slot_from_byte(rest[0])?,
                    apdu: rest[1..].to_vec(),
                }
            }
            0x02 => {
                need(1)?;
                Message::ApduResponse {
                    slot: slot_from_byte(rest[0])?,
                    response: rest[1..].to_vec(),
                }
            }
            0x03 | 0x04 => {
                need(1)?;
                let s = slot_from_byte(rest[0])?;
                if tag == 0x03 {
                    Message::CardInserted(s)
                } else {
                    Message::CardRemoved(s)
                }
            }
            0x05 => {
                need(1)?;
                Message::ReaderError {
                    code: ReaderErrorCode::from_u8(rest[0]),
                    text: String::from_utf8_lossy(&rest[1..]).into_owned(),
                }
            }
            0x06 => Message::StatusRequest,
            0x07 => {
                need(2)?;
                Message::Status {
                    practitioner: rest[0] != 0,
                    patient: rest[1] != 0,
                }
            }
            _ => return Err(bad(format!("unknown message type {tag:#04x}"))),
        })
    }
}

/// Appends a length-prefixed (u8) byte string.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len().min(255);
    out.push(n as u8);
    out.extend_from_slice(&b[..n]);
}

/// Reads fields out of a plain frame body.
#[derive(Debug)]
pub struct BodyReader<'a> {
    rest: &'a [u8],
}

impl<'a> BodyReader<'a> {
    /// Reads from `body`.
    pub fn new(body: &'a [u8]) -> Self {
        Self { rest: body }
    }
    /// Takes exactly `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], ReaderError> {
        if self.rest.len() < n {
            return Err(bad("frame body too short"));
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Ok(a)
    }
    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], ReaderError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    /// Takes a u8-length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8], ReaderError> {
        let n = self.take(1)?[0] as usize;
        self.take(n)
    }
    /// Takes a u8-length-prefixed UTF-8 string.
    pub fn string(&mut self) -> Result<String, ReaderError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| bad("string field is not UTF-8"))
    }
    /// Fails unless everything was read.
    pub fn finish(self) -> Result<(), ReaderError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(bad("trailing bytes in frame body"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn messages_round_trip() {
        let all = [
            Message::ApduRequest {
                slot: CardSlot::Patient,
                apdu: vec![0, 0xCA, 0x11, 0, 2, 0, 0],
            },
            Message::ApduResponse {
                slot: CardSlot::Practitioner,
                response: vec![0x90, 0],
            },
            Message::CardInserted(CardSlot::Patient),
            Message::CardRemoved(CardSlot::Practitioner),
            Message::ReaderError {
                code: ReaderErrorCode::NoCard,
                text: "empty".into(),
            },
            Message::StatusRequest,
            Message::Status {
                practitioner: true,
                patient: false,
            },
        ];
        for m in all {
            assert_eq!(Message::decode(&m.encode()).unwrap(), m);
        }
        assert_eq!(
            Message::ApduRequest {
                slot: CardSlot::Patient,
                apdu: vec![0x00, 0x84, 0x00, 0x00, 0x08]
            }
            .encode(),
            [0x01, 0x01, 0x00, 0x84, 0x00, 0x00, 0x08]
        );
    }

    proptest! {
        #[test]
        fn decoding_garbage_never_panics(b in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = Message::decode(&b);
        }
    }

    #[test]
    fn debug_shows_no_card_bytes() {
        let pin = Message::ApduRequest {
            slot: CardSlot::Practitioner,
            apdu: vec![0x00, 0x20, 0x00, 0x01, 0x04, 0x31, 0x32, 0x33, 0x34],
        };
        let answer = Message::ApduResponse {
            slot: CardSlot::Patient,
            response: b"A123456789".iter().copied().chain([0x90, 0x00]).collect(),
        };
        for (m, bytes) in [(pin, "49, 50"), (answer, "65, 49")] {
            let d = format!("{m:?}");
            assert!(
                !d.contains(bytes) && !d.contains("0x") && d.contains("bytes"),
                "{d}"
            );
        }
    }
}
