//! A most-significant-bit-first bit writer and reader for the packed QR payload.

/// Appends values of any width up to 64 bits.
#[derive(Debug, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    used: u32,
}

impl BitWriter {
    /// Writes the low `width` bits of `value` (the caller keeps `value` within `width` bits).
    pub fn put(&mut self, value: u64, width: u32) {
        for i in (0..width).rev() {
            if self.used.is_multiple_of(8) {
                self.bytes.push(0);
            }
            let bit = ((value >> i) & 1) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= bit << (7 - self.used % 8);
            }
            self.used += 1;
        }
    }
    /// Writes a 128-bit value's low `width` bits.
    pub fn put_u128(&mut self, value: u128, width: u32) {
        if width > 64 {
            self.put((value >> 64) as u64, width - 64);
            self.put(value as u64, 64);
        } else {
            self.put(value as u64, width);
        }
    }
    /// The bytes written, the last one zero-padded.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads values back; `None` past the end.
#[derive(Debug)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// Reads from the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }
    /// Reads `width` (≤ 64) bits.
    pub fn get(&mut self, width: u32) -> Option<u64> {
        let mut v = 0u64;
        for _ in 0..width {
            let byte = *self.bytes.get(self.pos / 8)?;
            v = (v << 1) | u64::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Some(v)
    }
    /// Reads `width` (≤ 128) bits.
    pub fn get_u128(&mut self, width: u32) -> Option<u128> {
        if width > 64 {
            let hi = self.get(width - 64)?;
            let lo = self.get(64)?;
            Some((u128::from(hi) << 64) | u128::from(lo))
        } else {
            self.get(width).map(u128::from)
        }
    }
    /// Bytes consumed so far (a partly read byte counts).
    pub fn bytes_used(&self) -> usize {
        self.pos.div_ceil(8)
    }
    /// Whether the bits left in the current byte are all zero (the writer's padding).
    pub fn padding_is_zero(&self) -> bool {
        let rem = self.pos % 8;
        if rem == 0 {
            return true;
        }
        self.bytes
            .get(self.pos / 8)
            .is_some_and(|b| b & (0xFFu8 >> rem) == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_mixed_widths() {
        let mut w = BitWriter::default();
        w.put(5, 3);
        w.put_u128((1u128 << 101) + 12345, 102);
        w.put(0xABCD, 16);
        w.put(1, 1);
        let b = w.finish();
        assert_eq!(b.len(), (3 + 102 + 16 + 1usize).div_ceil(8));
        let mut r = BitReader::new(&b);
        assert_eq!(r.get(3), Some(5));
        assert_eq!(r.get_u128(102), Some((1u128 << 101) + 12345));
        assert_eq!(r.get(16), Some(0xABCD));
        assert_eq!(r.get(1), Some(1));
        assert!(r.padding_is_zero());
        assert_eq!(r.get(8), None);
    }
}
