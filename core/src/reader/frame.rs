//! The frame codec of the reader protocol: frames with a kind, a per-direction sequence number, a
//! length and a CRC-32, split into fragments that each fit one ATT write or notification
//! (MTU − 3 bytes), and reassembled on the other side.
//!
//! Frame: `kind u8 | seq u32 BE | len u16 BE | body[len] | crc32 u32 BE` (CRC over everything before).
//! Fragment: first `0x80 | total_len u16 BE | bytes…`, then `index (1..=127, wrapping, bit 7 clear) | bytes…`.
//! The CRC catches every single-bit error and every burst up to 32 bits; the lengths catch truncation;
//! the fragment index catches a lost, duplicated or reordered fragment. Authenticity is the secure
//! channel's job (`super::secure`), not the CRC's.

use super::ReaderError;

/// Bytes before a frame's body.
pub const FRAME_HEADER: usize = 7;
/// Bytes after a frame's body (the CRC-32).
pub const FRAME_TRAILER: usize = 4;
/// Largest body a frame can carry.
pub const MAX_BODY: usize = u16::MAX as usize - FRAME_HEADER - FRAME_TRAILER;
/// Smallest ATT payload the fragmenter can work with.
pub const MIN_FRAGMENT_PAYLOAD: usize = 4;

const START: u8 = 0x80;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// Phone → reader: start pairing (phone id, X25519 public key, commitment to its nonce).
    PairRequest = 0x01,
    /// Reader → phone: the reader's id, public key and nonce.
    PairResponse = 0x02,
    /// Phone → reader: the user confirmed the code; MAC proving the phone holds the derived key.
    PairConfirm = 0x03,
    /// Reader → phone: pairing stored; MAC proving the reader holds the derived key.
    PairConfirmed = 0x04,
    /// Either side: pairing abandoned (wrong code or cancelled).
    PairAbort = 0x05,
    /// Phone → reader: the phone's nonce, opening its commitment.
    PairReveal = 0x06,
    /// Reader → phone: the commitment opened; the reader now shows the short code.
    PairShown = 0x07,
    /// Phone → reader: open a secure session (phone id, fresh nonce).
    SessionHello = 0x10,
    /// Reader → phone: the reader's fresh nonce and a MAC under the long-term key.
    SessionAccept = 0x11,
    /// Either side: an AEAD-sealed [`super::message::Message`].
    Sealed = 0x20,
    /// Reader → phone: an unauthenticated error outside a session (code, text).
    Error = 0x7f,
}

impl FrameKind {
    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0x01 => Self::PairRequest,
            0x02 => Self::PairResponse,
            0x03 => Self::PairConfirm,
            0x04 => Self::PairConfirmed,
            0x05 => Self::PairAbort,
            0x06 => Self::PairReveal,
            0x07 => Self::PairShown,
            0x10 => Self::SessionHello,
            0x11 => Self::SessionAccept,
            0x20 => Self::Sealed,
            0x7f => Self::Error,
            _ => return None,
        })
    }
}

/// One protocol frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the body holds.
    pub kind: FrameKind,
    /// Per-direction sequence number, starting at 0 on each connection.
    pub seq: u32,
    /// The body (sealed for [`FrameKind::Sealed`]).
    pub body: Vec<u8>,
}

fn bad(msg: impl Into<String>) -> ReaderError {
    ReaderError::BadFrame(msg.into())
}

impl Frame {
    /// The header bytes (kind, seq, len), also used as AEAD associated data.
    pub fn header(kind: FrameKind, seq: u32, body_len: usize) -> [u8; FRAME_HEADER] {
        let mut h = [0u8; FRAME_HEADER];
        h[0] = kind as u8;
        h[1..5].copy_from_slice(&seq.to_be_bytes());
        // Bodies are bounded by MAX_BODY (checked in `encode`), so the length fits in u16.
        h[5..7].copy_from_slice(&(body_len.min(u16::MAX as usize) as u16).to_be_bytes());
        h
    }

    /// Serialises the frame. Fails only for a body larger than [`MAX_BODY`].
    pub fn encode(&self) -> Result<Vec<u8>, ReaderError> {
        if self.body.len() > MAX_BODY {
            return Err(bad(format!(
                "frame body of {} bytes exceeds {MAX_BODY}",
                self.body.len()
            )));
        }
        let mut out = Vec::with_capacity(FRAME_HEADER + self.body.len() + FRAME_TRAILER);
        out.extend_from_slice(&Self::header(self.kind, self.seq, self.body.len()));
        out.extend_from_slice(&self.body);
        let crc = crc32(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        Ok(out)
    }

    /// Parses one whole frame, checking length and CRC.
    pub fn decode(bytes: &[u8]) -> Result<Frame, ReaderError> {
        if bytes.len() < FRAME_HEADER + FRAME_TRAILER {
            return Err(bad(format!("truncated frame ({} bytes)", bytes.len())));
        }
        let body_len = u16::from_be_bytes([bytes[5], bytes[6]]) as usize;
        if bytes.len() != FRAME_HEADER + body_len + FRAME_TRAILER {
            return Err(bad(format!(
                "frame length {} does not match its header ({})",
                bytes.len(),
                FRAME_HEADER + body_len + FRAME_TRAILER
            )));
        }
        let (content, crc) = bytes.split_at(bytes.len() - FRAME_TRAILER);
        let want = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if crc32(content) != want {
            return Err(bad("frame checksum mismatch"));
        }
        let kind = FrameKind::from_u8(bytes[0])
            .ok_or_else(|| bad(format!("unknown frame kind {:#04x}", bytes[0])))?;
        let seq = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        Ok(Frame {
            kind,
            seq,
            body: content[FRAME_HEADER..].to_vec(),
        })
    }
}

/// Splits an encoded frame into fragments of at most `payload` bytes (the ATT payload, MTU − 3).
pub fn fragment(encoded: &[u8], payload: usize) -> Vec<Vec<u8>> {
    let payload = payload.max(MIN_FRAGMENT_PAYLOAD);
    let mut out = Vec::new();
    let first_room = payload - 3;
    let first_len = encoded.len().min(first_room);
    let mut first = Vec::with_capacity(3 + first_len);
    first.push(START);
    // Encoded frames are at most u16::MAX bytes (see `Frame::encode`).
    first.extend_from_slice(&(encoded.len().min(u16::MAX as usize) as u16).to_be_bytes());
    first.extend_from_slice(&encoded[..first_len]);
    out.push(first);
    let mut index: u8 = 0;
    for chunk in encoded[first_len..].chunks(payload - 1) {
        index = next_index(index);
        let mut f = Vec::with_capacity(1 + chunk.len());
        f.push(index);
        f.extend_from_slice(chunk);
        out.push(f);
    }
    out
}

fn next_index(i: u8) -> u8 {
    if i >= 0x7f { 1 } else { i + 1 }
}

/// Rebuilds frames from fragments, rejecting gaps, duplicates, overruns and stray fragments.
#[derive(Debug, Default)]
pub struct Reassembler {
    buf: Vec<u8>,
    total: usize,
    index: u8,
    active: bool,
}

impl Reassembler {
    /// An idle reassembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when no frame is half received (a truncated frame leaves this false).
    pub fn is_idle(&self) -> bool {
        !self.active
    }

    /// Feeds one fragment; returns the whole encoded frame once its last fragment arrived. After an
    /// error the reassembler is reset.
    pub fn push(&mut self, fragment: &[u8]) -> Result<Option<Vec<u8>>, ReaderError> {
        let r = self.push_inner(fragment);
        if r.is_err() {
            *self = Self::default();
        }
        r
    }

    fn push_inner(&mut self, fragment: &[u8]) -> Result<Option<Vec<u8>>, ReaderError> {
        let Some((&head, rest)) = fragment.split_first() else {
            return Err(bad("empty fragment"));
        };
        if head == START {
            if self.active {
                return Err(bad(
                    "new frame started before the previous one was complete (lost fragment)",
                ));
            }
            if rest.len() < 2 {
                return Err(bad("truncated first fragment"));
            }
            let total = u16::from_be_bytes([rest[0], rest[1]]) as usize;
            if total < FRAME_HEADER + FRAME_TRAILER {
                return Err(bad(format!("announced frame length {total} is too short")));
            }
            self.total = total;
            self.buf.clear();
            self.index = 0;
            self.active = true;
            self.append(&rest[2..])
        } else {
            if !self.active {
                return Err(bad("continuation fragment without a frame start"));
            }
            let want = next_index(self.index);
            if head != want {
                return Err(bad(format!(
                    "fragment {head} where {want} was expected (lost or reordered fragment)"
                )));
            }
            self.index = want;
            self.append(rest)
        }
    }

    fn append(&mut self, bytes: &[u8]) -> Result<Option<Vec<u8>>, ReaderError> {
        if self.buf.len() + bytes.len() > self.total {
            return Err(bad("fragment runs past the announced frame length"));
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() == self.total {
            self.active = false;
            return Ok(Some(std::mem::take(&mut self.buf)));
        }
        if bytes.is_empty() {
            return Err(bad("empty fragment inside a frame"));
        }
        Ok(None)
    }
}

/// One side of a connection at the frame layer: numbers outgoing frames, reassembles incoming ones
/// and enforces the peer's sequence (a replayed or reordered frame is rejected).
#[derive(Debug)]
pub struct FrameEndpoint {
    send_seq: u32,
    recv_seq: u32,
    payload: usize,
    reassembler: Reassembler,
}

impl FrameEndpoint {
    /// A fresh endpoint whose fragments carry at most `payload` bytes (MTU − 3).
    pub fn new(payload: usize) -> Self {
        Self {
            send_seq: 0,
            recv_seq: 0,
            payload: payload.max(MIN_FRAGMENT_PAYLOAD),
            reassembler: Reassembler::new(),
        }
    }

    /// The sequence number the next outgoing frame will carry.
    pub fn next_send_seq(&self) -> u32 {
        self.send_seq
    }

    /// The sequence number the next incoming frame must carry.
    pub fn next_recv_seq(&self) -> u32 {
        self.recv_seq
    }

    /// Encodes a frame with the next sequence number and splits it into fragments.
    pub fn encode(&mut self, kind: FrameKind, body: Vec<u8>) -> Result<Vec<Vec<u8>>, ReaderError> {
        let frame = Frame {
            kind,
            seq: self.send_seq,
            body,
        };
        let bytes = frame.encode()?;
        self.send_seq = self
            .send_seq
            .checked_add(1)
            .ok_or_else(|| bad("sequence numbers exhausted; reconnect"))?;
        Ok(fragment(&bytes, self.payload))
    }

    /// Feeds one received fragment; returns a frame once complete and in sequence.
    pub fn receive(&mut self, fragment: &[u8]) -> Result<Option<Frame>, ReaderError> {
        let Some(bytes) = self.reassembler.push(fragment)? else {
            return Ok(None);
        };
        let frame = Frame::decode(&bytes)?;
        if frame.seq < self.recv_seq {
            return Err(bad(format!(
                "replayed frame (seq {}, expected {})",
                frame.seq, self.recv_seq
            )));
        }
        if frame.seq > self.recv_seq {
            return Err(bad(format!(
                "frame out of order (seq {}, expected {})",
                frame.seq, self.recv_seq
            )));
        }
        self.recv_seq += 1;
        Ok(Some(frame))
    }

    /// True when no incoming frame is half received.
    pub fn is_idle(&self) -> bool {
        self.reassembler.is_idle()
    }
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320).
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c = TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reassemble_all(frags: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, ReaderError> {
        let mut r = Reassembler::new();
        let mut out = Vec::new();
        for f in frags {
            if let Some(b) = r.push(f)? {
                out.push(b);
            }
        }
        if !r.is_idle() {
            return Err(bad("truncated: frame incomplete"));
        }
        Ok(out)
    }

    /// Decodes every fragment stream into frames; any failure is an error.
    fn decode_all(frags: &[Vec<u8>]) -> Result<Vec<Frame>, ReaderError> {
        reassemble_all(frags)?.iter().map(|b| Frame::decode(b)).collect()
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn fixed_vector_apdu_frame() {
        // A sealed frame of seq 1 with body 00 A4 04 00, fragmented at the minimum MTU.
        let f = Frame {
            kind: FrameKind::Sealed,
            seq: 1,
            body: vec![0x00, 0xA4, 0x04, 0x00],
        };
        let enc = f.encode().unwrap();
        // CRC checked independently: python3 -c "import zlib; print(hex(zlib.crc32(bytes.fromhex('2000000001000400a40400'))))"
        assert_eq!(hex::encode(&enc), "2000000001000400a4040004f1a3f7");
        let frags = fragment(&enc, 20);
        assert_eq!(frags.len(), 1);
        assert_eq!(hex::encode(&frags[0]), "80000f2000000001000400a4040004f1a3f7");
        let frags = fragment(&enc, 8);
        assert_eq!(
            frags.iter().map(hex::encode).collect::<Vec<_>>(),
            ["80000f2000000001", "01000400a4040004", "02f1a3f7"]
        );
        assert_eq!(decode_all(&frags).unwrap(), vec![f]);
    }

    #[test]
    fn endpoint_rejects_replayed_and_reordered_frames() {
        let mut tx = FrameEndpoint::new(20);
        let mut rx = FrameEndpoint::new(20);
        let a = tx.encode(FrameKind::Sealed, vec![1; 30]).unwrap();
        let b = tx.encode(FrameKind::Sealed, vec![2; 30]).unwrap();
        let c = tx.encode(FrameKind::Sealed, vec![3; 5]).unwrap();
        for f in &a {
            let _ = rx.receive(f).unwrap();
        }
        // Reordered: c before b.
        let err = c.iter().map(|f| rx.receive(f)).find_map(|r| r.err()).unwrap();
        assert!(
            matches!(&err, ReaderError::BadFrame(m) if m.contains("out of order")),
            "{err}"
        );
        // Replayed: a again.
        let err = a.iter().map(|f| rx.receive(f)).find_map(|r| r.err()).unwrap();
        assert!(
            matches!(&err, ReaderError::BadFrame(m) if m.contains("replayed")),
            "{err}"
        );
        // In order still works.
        let got = b.iter().filter_map(|f| rx.receive(f).unwrap()).next().unwrap();
        assert_eq!(got.seq, 1);
    }

    #[test]
    fn garbage_is_rejected_without_panic() {
        let mut r = Reassembler::new();
        assert!(r.push(&[]).is_err());
        assert!(r.push(&[0x05, 1, 2]).is_err());
        assert!(r.push(&[0x80, 0]).is_err());
        assert!(r.push(&[0x80, 0, 2, 1]).is_err());
        assert!(Frame::decode(&[0; 3]).is_err());
        assert!(Frame::decode(&[0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    fn frames_strategy() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
        prop::collection::vec((0u8..11, prop::collection::vec(any::<u8>(), 0..600)), 1..4)
    }

    const KINDS: [FrameKind; 11] = [
        FrameKind::PairRequest,
        FrameKind::PairResponse,
        FrameKind::PairConfirm,
        FrameKind::PairConfirmed,
        FrameKind::PairAbort,
        FrameKind::PairReveal,
        FrameKind::PairShown,
        FrameKind::SessionHello,
        FrameKind::SessionAccept,
        FrameKind::Sealed,
        FrameKind::Error,
    ];

    fn build(frames: &[(u8, Vec<u8>)], payload: usize) -> (Vec<Frame>, Vec<Vec<u8>>) {
        let mut ep = FrameEndpoint::new(payload);
        let mut want = Vec::new();
        let mut frags = Vec::new();
        for (k, body) in frames {
            let kind = KINDS[*k as usize];
            want.push(Frame {
                kind,
                seq: ep.next_send_seq(),
                body: body.clone(),
            });
            frags.extend(ep.encode(kind, body.clone()).unwrap());
        }
        (want, frags)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_fragmentation_reassembles(frames in frames_strategy(), payload in 4usize..260) {
            let (want, frags) = build(&frames, payload);
            prop_assert!(frags.iter().all(|f| f.len() <= payload));
            let mut rx = FrameEndpoint::new(payload);
            let mut got = Vec::new();
            for f in &frags {
                if let Some(fr) = rx.receive(f).unwrap() { got.push(fr); }
            }
            prop_assert!(rx.is_idle());
            prop_assert_eq!(got, want);
        }

        #[test]
        fn any_single_bit_flip_is_detected(frames in frames_strategy(), payload in 4usize..200, pick in any::<prop::sample::Index>(), bit in 0u8..8) {
            let (want, mut frags) = build(&frames, payload);
            let total: usize = frags.iter().map(|f| f.len()).sum();
            let mut at = pick.index(total);
            for f in frags.iter_mut() {
                if at < f.len() { f[at] ^= 1 << bit; break; }
                at -= f.len();
            }
            match decode_all(&frags) {
                Err(ReaderError::BadFrame(_)) => {}
                Err(e) => prop_assert!(false, "unexpected error {e}"),
                Ok(got) => prop_assert!(false, "corruption went undetected: {} frames, equal={}", got.len(), got == want),
            }
        }

        #[test]
        fn any_truncation_is_detected(frames in frames_strategy(), payload in 4usize..200, pick in any::<prop::sample::Index>(), drop_whole_fragment in any::<bool>()) {
            let (_, mut frags) = build(&frames[..frames.len() - 1], payload);
            let before = frags.len();
            frags.extend(build(&frames, payload).1.split_off(before));
            let last = frags.len() - 1;
            let in_last_frame = frags.len() - before;
            // Cut the last frame short: either lose one of its fragments or shorten its tail.
            if drop_whole_fragment && in_last_frame > 1 {
                frags.remove(before + pick.index(in_last_frame));
            } else {
                let f = &mut frags[last];
                let keep = pick.index(f.len());
                f.truncate(keep);
            }
            prop_assert!(decode_all(&frags).is_err());
        }
    }
}
