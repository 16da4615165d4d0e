//! The APDUs of the NHI card application and the status words the simulated (and modelled) cards
//! answer. Fixed byte vectors for every command are checked in the tests here and, independently,
//! in the reader simulator, so that a codec bug cannot hide by agreeing with itself.
//!
//! ISO 7816-4 commands (SELECT, GET CHALLENGE, MUTUAL AUTHENTICATE, VERIFY, the basic-data GET
//! DATA) have their public shape; the operations the NHI keeps private (sequence number, visit
//! write, reads, cancel) use proprietary class `80` with extended-length data where a record is
//! longer than 255 bytes, so each operation is one exchange with the card.

use super::error::{CardError, NhiCode};
use crate::reader::{CardSlot, ReaderError};

/// AID of the NHI application on the patient card.
pub const NHI_AID: [u8; 16] = [
    0xD1, 0x58, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11, 0x00,
];
/// AID of the practitioner application on the HPC (our choice; the SAM applet ends `… 00 31 00`).
pub const HPC_AID: [u8; 16] = [
    0xD1, 0x58, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21, 0x00,
];

/// Proprietary class byte of the NHI operations.
pub const CLA_NHI: u8 = 0x80;
/// INS: read the practitioner's id from the HPC.
pub const INS_HPC_READ: u8 = 0xCA;
/// INS: VERIFY (PIN).
pub const INS_VERIFY: u8 = 0x20;
/// INS: get the visit sequence number (registers the visit on the card).
pub const INS_GET_SEQUENCE: u8 = 0xD0;
/// INS: write the visit record and its prescriptions.
pub const INS_WRITE_VISIT: u8 = 0xD2;
/// INS: cancel a visit within 24 h (退掛).
pub const INS_CANCEL_VISIT: u8 = 0xD4;
/// INS: read the recent visit records.
pub const INS_READ_VISITS: u8 = 0xB2;
/// INS: read the prescription entries (all, or of one visit).
pub const INS_READ_PRESCRIPTIONS: u8 = 0xB4;
/// INS: read the allergy entries.
pub const INS_READ_ALLERGIES: u8 = 0xB6;
/// INS: read the register-basic buffer (visit count, expiry, flags).
pub const INS_READ_REGISTER: u8 = 0xB8;

/// Status words answered by the cards.
pub mod sw {
    /// Success.
    pub const OK: u16 = 0x9000;
    /// Wrong PIN; the low nibble holds the tries left (`63 Cx`).
    pub const WRONG_PIN_MASK: u16 = 0x63C0;
    /// Authentication failed (the card refused the SAM's proof).
    pub const AUTH_FAILED: u16 = 0x6300;
    /// Wrong length.
    pub const WRONG_LENGTH: u16 = 0x6700;
    /// Security status not satisfied (no mutual authentication / PIN not verified).
    pub const SECURITY_NOT_SATISFIED: u16 = 0x6982;
    /// Authentication method blocked (PIN locked).
    pub const PIN_BLOCKED: u16 = 0x6983;
    /// Wrong data in the command.
    pub const WRONG_DATA: u16 = 0x6A80;
    /// Application not found (the card is not of the expected type).
    pub const APP_NOT_FOUND: u16 = 0x6A82;
    /// No room left (prescription entries full).
    pub const NO_ROOM: u16 = 0x6A84;
    /// Referenced record not found.
    pub const RECORD_NOT_FOUND: u16 = 0x6A88;
    /// Instruction not supported.
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    /// Class not supported.
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;
    /// Memory failure (the write did not take).
    pub const MEMORY_FAILURE: u16 = 0x6581;
    /// Visit count exhausted (NHI 5001).
    pub const VISITS_EXHAUSTED: u16 = 0x9501;
    /// Card cancelled (NHI 5002).
    pub const CARD_CANCELLED: u16 = 0x9502;
    /// Card expired (NHI 5003).
    pub const CARD_EXPIRED: u16 = 0x9503;
    /// Cancel requested more than 24 h after the visit.
    pub const CANCEL_WINDOW_PASSED: u16 = 0x9510;
    /// Holder not insured (NHI 9083).
    pub const NOT_INSURED: u16 = 0x9583;
}

/// A card response split into data and status word.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    /// Response data (without SW).
    pub data: Vec<u8>,
    /// SW1 SW2.
    pub sw: u16,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Response({} bytes, SW {:04X})", self.data.len(), self.sw)
    }
}

impl Response {
    /// Splits a raw response; fewer than 2 bytes is malformed.
    pub fn parse(raw: &[u8]) -> Result<Self, CardError> {
        if raw.len() < 2 {
            return Err(CardError::malformed("response", "shorter than a status word"));
        }
        let (data, sw) = raw.split_at(raw.len() - 2);
        Ok(Self {
            data: data.to_vec(),
            sw: u16::from_be_bytes([sw[0], sw[1]]),
        })
    }
}

/// Builds a command APDU: short form when data and Le fit, extended otherwise.
/// `le` of `Some(0)` asks for "all available".
pub fn command(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<usize>) -> Vec<u8> {
    let mut out = vec![cla, ins, p1, p2];
    let extended = data.len() > 255 || le.is_some_and(|l| l > 256);
    if extended {
        out.push(0);
        if !data.is_empty() {
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(data);
        }
        if let Some(le) = le {
            let le = if le >= 65536 { 0 } else { le as u16 };
            out.extend_from_slice(&le.to_be_bytes());
        }
    } else {
        if !data.is_empty() {
            out.push(data.len() as u8);
            out.extend_from_slice(data);
        }
        if let Some(le) = le {
            out.push(if le == 256 { 0 } else { le as u8 });
        }
    }
    out
}

/// SELECT by AID: `00 A4 04 00 10 <aid>`.
pub fn select(aid: &[u8; 16]) -> Vec<u8> {
    command(0x00, 0xA4, 0x04, 0x00, aid, None)
}

/// The public basic-data read: `00 CA 11 00 02 00 00`.
pub fn read_basic_data() -> Vec<u8> {
    vec![0x00, 0xCA, 0x11, 0x00, 0x02, 0x00, 0x00]
}

/// GET CHALLENGE of 8 bytes: `00 84 00 00 08`.
pub fn get_challenge() -> Vec<u8> {
    vec![0x00, 0x84, 0x00, 0x00, 0x08]
}

/// MUTUAL AUTHENTICATE: `00 82 00 00 28 <sam challenge 8> <sam proof 32> 20`.
pub fn mutual_authenticate(sam_challenge: &[u8; 8], sam_proof: &[u8; 32]) -> Vec<u8> {
    let mut data = Vec::with_capacity(40);
    data.extend_from_slice(sam_challenge);
    data.extend_from_slice(sam_proof);
    command(0x00, 0x82, 0x00, 0x00, &data, Some(32))
}

/// VERIFY the HPC PIN (ASCII digits padded with `FF` to 8 bytes): `00 20 00 01 08 …`.
pub fn verify_pin(pin: &str) -> Result<Vec<u8>, CardError> {
    if !(4..=8).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CardError::Input("the PIN must be 4 to 8 digits".into()));
    }
    let mut data = [0xFFu8; 8];
    data[..pin.len()].copy_from_slice(pin.as_bytes());
    Ok(command(0x00, INS_VERIFY, 0x00, 0x01, &data, None))
}

/// Ask the HPC how many PIN tries are left without trying: `00 20 00 01` (no data).
pub fn pin_status() -> Vec<u8> {
    vec![0x00, INS_VERIFY, 0x00, 0x01]
}

/// Maps a non-success status word to the card error it means for an operation on `slot`.
/// `what` names the command for the unknown-status case.
pub fn status_error(sw: u16, slot: CardSlot, what: &'static str) -> CardError {
    match sw {
        s if s & 0xFFF0 == sw::WRONG_PIN_MASK => CardError::WrongPin {
            remaining: (s & 0x000F) as u8,
        },
        sw::PIN_BLOCKED => CardError::Code(NhiCode::PinLocked),
        sw::AUTH_FAILED => CardError::Code(NhiCode::CardNotGenuine),
        sw::SECURITY_NOT_SATISFIED => CardError::Code(match slot {
            CardSlot::Practitioner => NhiCode::PinNotVerified,
            CardSlot::Patient => NhiCode::NotAuthenticated,
        }),
        sw::APP_NOT_FOUND | sw::CLA_NOT_SUPPORTED | sw::INS_NOT_SUPPORTED => CardError::Code(match slot {
            CardSlot::Practitioner => NhiCode::NotPractitionerCard,
            CardSlot::Patient => NhiCode::NotPatientCard,
        }),
        sw::NO_ROOM => CardError::Code(NhiCode::PrescriptionsFull),
        sw::RECORD_NOT_FOUND => CardError::Code(NhiCode::RecordNotFound),
        sw::MEMORY_FAILURE => CardError::Code(NhiCode::WriteFailed),
        sw::VISITS_EXHAUSTED => CardError::Code(NhiCode::VisitCountExhausted),
        sw::CARD_CANCELLED => CardError::Code(NhiCode::CardCancelled),
        sw::CARD_EXPIRED => CardError::Code(NhiCode::CardExpired),
        sw::CANCEL_WINDOW_PASSED => CardError::Code(NhiCode::CancelWindowPassed),
        sw::NOT_INSURED => CardError::Code(NhiCode::NotInsured),
        other => CardError::Status { what, sw: other },
    }
}

/// Maps a reader failure to the card error the user sees.
pub fn reader_error(e: ReaderError, slot: CardSlot) -> CardError {
    match e {
        ReaderError::NoCard(CardSlot::Patient) => CardError::Code(NhiCode::NoPatientCard),
        ReaderError::NoCard(CardSlot::Practitioner) => CardError::Code(NhiCode::NoPractitionerCard),
        ReaderError::CardRemoved => {
            let _ = slot;
            CardError::Code(NhiCode::CardRemoved)
        }
        ReaderError::Timeout => CardError::Code(NhiCode::ReaderTimeout),
        other => CardError::Reader(other),
    }
}

/// Sends one command and returns the data of a `90 00` answer; any other status becomes the
/// matching [`CardError`].
pub async fn exchange(
    channel: &dyn crate::reader::ApduChannel,
    slot: CardSlot,
    apdu: &[u8],
    what: &'static str,
) -> Result<Vec<u8>, CardError> {
    let raw = channel
        .transmit(slot, apdu)
        .await
        .map_err(|e| reader_error(e, slot))?;
    let resp = Response::parse(&raw)?;
    if resp.sw == sw::OK {
        Ok(resp.data)
    } else {
        Err(status_error(resp.sw, slot, what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_vectors_of_the_public_commands() {
        assert_eq!(
            select(&NHI_AID),
            hex::decode("00A4040010D1580000010000000000000000001100").unwrap()
        );
        assert_eq!(read_basic_data(), [0x00, 0xCA, 0x11, 0x00, 0x02, 0x00, 0x00]);
        assert_eq!(get_challenge(), [0x00, 0x84, 0x00, 0x00, 0x08]);
        let ma = mutual_authenticate(&[1; 8], &[2; 32]);
        assert_eq!(&ma[..5], &[0x00, 0x82, 0x00, 0x00, 0x28]);
        assert_eq!(ma.len(), 5 + 40 + 1);
        assert_eq!(ma[45], 0x20);
        assert_eq!(
            verify_pin("1234").unwrap(),
            hex::decode("002000010831323334FFFFFFFF").unwrap()
        );
        assert!(verify_pin("12a4").is_err());
        assert!(verify_pin("123").is_err());
    }

    #[test]
    fn extended_length_for_long_data() {
        let data = vec![0xAB; 300];
        let c = command(0x80, 0xD2, 0, 0, &data, Some(0));
        assert_eq!(&c[..7], &[0x80, 0xD2, 0, 0, 0x00, 0x01, 0x2C]);
        assert_eq!(c.len(), 7 + 300 + 2);
        assert_eq!(&c[307..], &[0, 0]);
        let short = command(0x80, 0xB2, 0, 0, &[], Some(256));
        assert_eq!(short, [0x80, 0xB2, 0, 0, 0x00]);
    }

    #[test]
    fn status_words_map_to_nhi_codes() {
        let p = CardSlot::Patient;
        assert_eq!(
            status_error(0x63C2, CardSlot::Practitioner, "x"),
            CardError::WrongPin { remaining: 2 }
        );
        assert_eq!(
            status_error(0x6983, CardSlot::Practitioner, "x").nhi_code(),
            Some(NhiCode::PinLocked)
        );
        assert_eq!(status_error(0x6A82, p, "x").nhi_code().unwrap().code(), 4033);
        assert_eq!(
            status_error(0x6A82, CardSlot::Practitioner, "x")
                .nhi_code()
                .unwrap()
                .code(),
            4034
        );
        assert_eq!(status_error(0x9501, p, "x").nhi_code().unwrap().code(), 5001);
        assert_eq!(status_error(0x9583, p, "x").nhi_code().unwrap().code(), 9083);
        assert_eq!(status_error(0x6581, p, "x").nhi_code().unwrap().code(), 5007);
        assert_eq!(
            status_error(0x6F00, p, "x"),
            CardError::Status {
                what: "x",
                sw: 0x6F00
            }
        );
        assert_eq!(
            reader_error(ReaderError::NoCard(p), p).nhi_code().unwrap().code(),
            4013
        );
        assert_eq!(
            reader_error(ReaderError::CardRemoved, p).nhi_code(),
            Some(NhiCode::CardRemoved)
        );
        assert!(matches!(
            reader_error(ReaderError::Disconnected, p),
            CardError::Reader(_)
        ));
    }

    #[test]
    fn short_responses_are_malformed() {
        assert!(Response::parse(&[0x90]).is_err());
        let r = Response::parse(&[1, 2, 0x90, 0x00]).unwrap();
        assert_eq!(r.data, vec![1, 2]);
        assert_eq!(r.sw, 0x9000);
    }
}
