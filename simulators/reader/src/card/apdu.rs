//! Command-APDU parsing on the card side (short and extended length) and the status words the
//! simulated cards answer. Written independently of the core's builders; both sides pin the same
//! fixed byte vectors in their tests.

/// A parsed command APDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (empty when there is none).
    pub data: &'a [u8],
    /// Whether the command carried an Le field.
    pub has_le: bool,
}

/// Status words (SW1 SW2) the simulated cards answer.
pub mod sw {
    /// Success.
    pub const OK: [u8; 2] = [0x90, 0x00];
    /// Authentication of the SAM failed.
    pub const AUTH_FAILED: [u8; 2] = [0x63, 0x00];
    /// Memory failure.
    pub const MEMORY_FAILURE: [u8; 2] = [0x65, 0x81];
    /// Wrong length.
    pub const WRONG_LENGTH: [u8; 2] = [0x67, 0x00];
    /// Security status not satisfied.
    pub const SECURITY: [u8; 2] = [0x69, 0x82];
    /// PIN blocked.
    pub const PIN_BLOCKED: [u8; 2] = [0x69, 0x83];
    /// Conditions of use not satisfied (e.g. MUTUAL AUTHENTICATE without GET CHALLENGE).
    pub const CONDITIONS: [u8; 2] = [0x69, 0x85];
    /// Wrong data.
    pub const WRONG_DATA: [u8; 2] = [0x6A, 0x80];
    /// Application not found.
    pub const APP_NOT_FOUND: [u8; 2] = [0x6A, 0x82];
    /// No room.
    pub const NO_ROOM: [u8; 2] = [0x6A, 0x84];
    /// Record not found.
    pub const RECORD_NOT_FOUND: [u8; 2] = [0x6A, 0x88];
    /// Wrong P1/P2.
    pub const WRONG_P1P2: [u8; 2] = [0x6B, 0x00];
    /// Instruction not supported.
    pub const INS_NOT_SUPPORTED: [u8; 2] = [0x6D, 0x00];
    /// Class not supported.
    pub const CLA_NOT_SUPPORTED: [u8; 2] = [0x6E, 0x00];
    /// Visit count exhausted.
    pub const VISITS_EXHAUSTED: [u8; 2] = [0x95, 0x01];
    /// Card cancelled.
    pub const CARD_CANCELLED: [u8; 2] = [0x95, 0x02];
    /// Card expired.
    pub const CARD_EXPIRED: [u8; 2] = [0x95, 0x03];
    /// Cancel more than 24 h after the visit.
    pub const CANCEL_WINDOW: [u8; 2] = [0x95, 0x10];
    /// Holder not insured.
    pub const NOT_INSURED: [u8; 2] = [0x95, 0x83];
    /// Wrong PIN with `n` tries left.
    pub fn wrong_pin(n: u8) -> [u8; 2] {
        [0x63, 0xC0 | (n & 0x0F)]
    }
}

/// Parses a command APDU; a malformed one gives the status word to answer.
pub fn parse(apdu: &[u8]) -> Result<Command<'_>, [u8; 2]> {
    if apdu.len() < 4 {
        return Err(sw::WRONG_LENGTH);
    }
    let (cla, ins, p1, p2) = (apdu[0], apdu[1], apdu[2], apdu[3]);
    let body = &apdu[4..];
    let (data, has_le): (&[u8], bool) = match body.len() {
        0 => (&[], false),
        1 => (&[], true),
        _ if body[0] != 0 => {
            let lc = usize::from(body[0]);
            let rest = body.len().checked_sub(1 + lc).ok_or(sw::WRONG_LENGTH)?;
            if rest > 1 {
                return Err(sw::WRONG_LENGTH);
            }
            (&body[1..1 + lc], rest == 1)
        }
        3 => (&[], true),
        _ => {
            let lc = usize::from(u16::from_be_bytes([body[1], body[2]]));
            if lc == 0 {
                return Err(sw::WRONG_LENGTH);
            }
            let rest = body.len().checked_sub(3 + lc).ok_or(sw::WRONG_LENGTH)?;
            if rest != 0 && rest != 2 {
                return Err(sw::WRONG_LENGTH);
            }
            (&body[3..3 + lc], rest == 2)
        }
    };
    Ok(Command {
        cla,
        ins,
        p1,
        p2,
        data,
        has_le,
    })
}

/// Appends a status word to response data.
pub fn respond(mut data: Vec<u8>, sw: [u8; 2]) -> Vec<u8> {
    data.extend_from_slice(&sw);
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_case() {
        let c = parse(&[0x00, 0x84, 0x00, 0x00, 0x08]).unwrap();
        assert_eq!((c.ins, c.data.len(), c.has_le), (0x84, 0, true));
        let c = parse(&[0x00, 0xCA, 0x11, 0x00, 0x02, 0x00, 0x00]).unwrap();
        assert_eq!(
            (c.ins, c.p1, c.data, c.has_le),
            (0xCA, 0x11, &[0u8, 0][..], false)
        );
        let c = parse(&[0x80, 0xB2, 0, 0, 0x00, 0x00, 0x00]).unwrap();
        assert_eq!((c.data.len(), c.has_le), (0, true));
        let mut ext = vec![0x80, 0xD2, 0, 0, 0x00, 0x01, 0x2C];
        ext.extend(std::iter::repeat_n(0xAB, 300));
        ext.extend([0, 0]);
        let c = parse(&ext).unwrap();
        assert_eq!((c.data.len(), c.has_le), (300, true));
        assert_eq!(parse(&[0x00, 0xA4]), Err(sw::WRONG_LENGTH));
        assert_eq!(parse(&[0x00, 0xA4, 4, 0, 0x10, 1, 2]), Err(sw::WRONG_LENGTH));
        assert_eq!(
            parse(&[0x80, 0xD2, 0, 0, 0x00, 0x01, 0x2C, 1]),
            Err(sw::WRONG_LENGTH)
        );
    }
}
