//! Drawing a QR code: PNG and SVG for the shells, Unicode half blocks for the terminal.
//!
//! The `qrcode` crate builds the symbol (segments, error correction, function patterns, masks);
//! only the choice of mask is ours: its `apply_best_mask` scores the eight masks slowly (≈ 2 ms
//! for a version-10 code), so we score them with the standard penalty rules (N1–N4) over plain
//! booleans, which keeps generation + PNG well under the 2 ms target.

use super::RxError;
use qrcode::canvas::{Canvas, MaskPattern};
use qrcode::{Color, EcLevel, Version};

/// Modules of quiet zone around the code (the QR standard asks for 4).
pub const QUIET_ZONE: usize = 4;

const MASKS: [MaskPattern; 8] = [
    MaskPattern::Checkerboard,
    MaskPattern::HorizontalLines,
    MaskPattern::VerticalLines,
    MaskPattern::DiagonalLines,
    MaskPattern::LargeCheckerboard,
    MaskPattern::Fields,
    MaskPattern::Diamonds,
    MaskPattern::Meadow,
];

/// A finished QR symbol: its version and its modules (true = dark), row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrMatrix {
    version: i16,
    width: usize,
    dark: Vec<bool>,
}

impl QrMatrix {
    /// The QR version (1–40).
    pub fn version(&self) -> i16 {
        self.version
    }
    /// Modules per side (without quiet zone).
    pub fn width(&self) -> usize {
        self.width
    }
    /// Whether module (x, y) of the symbol is dark.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.width && y < self.width && self.dark[y * self.width + x]
    }
    /// Whether the module at (x, y) of the symbol plus quiet zone is dark.
    fn dark_q(&self, x: usize, y: usize) -> bool {
        x >= QUIET_ZONE && y >= QUIET_ZONE && self.is_dark(x - QUIET_ZONE, y - QUIET_ZONE)
    }
}

/// The QR code of `data` at error-correction level M, in the smallest version, with segments
/// chosen by the `qrcode` optimiser (Base45 text goes in alphanumeric mode).
pub fn qr_code(data: &[u8]) -> Result<QrMatrix, RxError> {
    let e = |e: qrcode::types::QrError| RxError::Render(e.to_string());
    let bits = qrcode::bits::encode_auto(data, EcLevel::M).map_err(e)?;
    let version = bits.version();
    let v = match version {
        Version::Normal(v) | Version::Micro(v) => v,
    };
    let (codewords, ec) =
        qrcode::ec::construct_codewords(&bits.into_bytes(), version, EcLevel::M).map_err(e)?;
    let mut canvas = Canvas::new(version, EcLevel::M);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&codewords, &ec);
    let width = usize::try_from(version.width()).map_err(|_| RxError::Render("bad version".into()))?;
    let mut best: Option<(u32, Vec<bool>)> = None;
    for mask in MASKS {
        let mut c = canvas.clone();
        c.apply_mask(mask);
        let dark: Vec<bool> = c.into_colors().into_iter().map(|c| c == Color::Dark).collect();
        let score = penalty(&dark, width);
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((score, dark));
        }
    }
    let (_, dark) = best.ok_or_else(|| RxError::Render("no mask".into()))?;
    Ok(QrMatrix {
        version: v,
        width,
        dark,
    })
}

/// The QR version (1–40) of a code.
pub fn version_number(code: &QrMatrix) -> i16 {
    code.version
}

/// The mask penalty of ISO/IEC 18004 §7.8.3: N1 runs of five or more, N2 2×2 blocks, N3
/// finder-like 1:1:3:1:1 patterns with four light modules on a side, N4 dark proportion.
pub fn penalty(dark: &[bool], w: usize) -> u32 {
    let at = |x: usize, y: usize, col: bool| if col { dark[x * w + y] } else { dark[y * w + x] };
    let mut score = 0u32;
    for col in [false, true] {
        for y in 0..w {
            // N1.
            let mut run = 1u32;
            for x in 1..w {
                if at(x, y, col) == at(x - 1, y, col) {
                    run += 1;
                } else {
                    if run >= 5 {
                        score += 3 + run - 5;
                    }
                    run = 1;
                }
            }
            if run >= 5 {
                score += 3 + run - 5;
            }
            // N3: dark-light-dark×3-light-dark with four light modules before or after.
            if w >= 11 {
                for x in 0..=w - 7 {
                    let p = [true, false, true, true, true, false, true];
                    if (0..7).all(|i| at(x + i, y, col) == p[i]) {
                        let light_before = x >= 4 && (x - 4..x).all(|i| !at(i, y, col));
                        let light_after = x + 11 <= w && (x + 7..x + 11).all(|i| !at(i, y, col));
                        let edge_before = x < 4 && (0..x).all(|i| !at(i, y, col));
                        let edge_after = x + 11 > w && (x + 7..w).all(|i| !at(i, y, col));
                        if light_before || light_after || edge_before || edge_after {
                            score += 40;
                        }
                    }
                }
            }
        }
    }
    // N2.
    for y in 0..w.saturating_sub(1) {
        for x in 0..w - 1 {
            let c = dark[y * w + x];
            if dark[y * w + x + 1] == c && dark[(y + 1) * w + x] == c && dark[(y + 1) * w + x + 1] == c {
                score += 3;
            }
        }
    }
    // N4.
    let total = dark.len().max(1);
    let n_dark = dark.iter().filter(|d| **d).count();
    let deviation = (n_dark * 100 / total).abs_diff(50);
    score + (deviation / 5) as u32 * 10
}

/// A 1-bit greyscale PNG, `scale` pixels per module, quiet zone included.
pub fn to_png(code: &QrMatrix, scale: usize) -> Result<Vec<u8>, RxError> {
    let scale = scale.max(1);
    let modules = code.width + 2 * QUIET_ZONE;
    let px = modules * scale;
    let row_bytes = px.div_ceil(8);
    let mut data = vec![0u8; row_bytes * px];
    for my in 0..modules {
        let row = &mut data[my * scale * row_bytes..(my * scale + 1) * row_bytes];
        for x in 0..px {
            // In 1-bit greyscale a set bit is white.
            if !code.dark_q(x / scale, my) {
                row[x / 8] |= 0x80 >> (x % 8);
            }
        }
        for k in 1..scale {
            data.copy_within(
                my * scale * row_bytes..(my * scale + 1) * row_bytes,
                (my * scale + k) * row_bytes,
            );
        }
    }
    let side = u32::try_from(px).map_err(|_| RxError::Render("image too large".into()))?;
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, side, side);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::One);
    enc.set_compression(png::Compression::Fast);
    let mut w = enc.write_header().map_err(|e| RxError::Render(e.to_string()))?;
    w.write_image_data(&data)
        .map_err(|e| RxError::Render(e.to_string()))?;
    w.finish().map_err(|e| RxError::Render(e.to_string()))?;
    Ok(out)
}

/// An SVG document of the code (one path of unit squares, quiet zone included).
pub fn to_svg(code: &QrMatrix) -> String {
    let n = code.width + 2 * QUIET_ZONE;
    let mut path = String::new();
    for y in 0..code.width {
        for x in 0..code.width {
            if code.is_dark(x, y) {
                path.push_str(&format!("M{} {}h1v1h-1z", x + QUIET_ZONE, y + QUIET_ZONE));
            }
        }
    }
    format!(
        "<?xml version=\"1.0\" standalone=\"yes\"?><svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" \
         width=\"{px}\" height=\"{px}\" viewBox=\"0 0 {n} {n}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{n}\" height=\"{n}\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>",
        px = n * 6
    )
}

/// The code as text for a terminal: two modules per character cell with Unicode half blocks.
/// Light modules are drawn (inverted), so it scans on the usual dark terminal background.
pub fn to_terminal(code: &QrMatrix) -> String {
    let modules = code.width + 2 * QUIET_ZONE;
    let mut s = String::with_capacity((modules + 1) * modules.div_ceil(2) * 3);
    for y in (0..modules).step_by(2) {
        for x in 0..modules {
            let top = !code.dark_q(x, y);
            let bottom = y + 1 < modules && !code.dark_q(x, y + 1);
            s.push(match (top, bottom) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_is_one_of_the_eight_qrcode_masks_and_the_lowest_penalty() {
        for data in [
            &b"RX:HELLO WORLD"[..],
            b"RX:0123456789ABCDEF $%*+-./:",
            &[0xE4u8, 0xB8, 0xAD, 0x41][..],
        ] {
            let ours = qr_code(data).unwrap();
            let theirs = qrcode::QrCode::with_error_correction_level(data, EcLevel::M).unwrap();
            assert_eq!(
                i32::from(ours.version()),
                match theirs.version() {
                    Version::Normal(v) | Version::Micro(v) => i32::from(v),
                }
            );
            // Rebuild all eight masked symbols the crate's way; ours must be one of them, with
            // the lowest penalty among them.
            let bits = qrcode::bits::encode_auto(data, EcLevel::M).unwrap();
            let v = bits.version();
            let (d, e) = qrcode::ec::construct_codewords(&bits.into_bytes(), v, EcLevel::M).unwrap();
            let mut c = Canvas::new(v, EcLevel::M);
            c.draw_all_functional_patterns();
            c.draw_data(&d, &e);
            let candidates: Vec<Vec<bool>> = MASKS
                .iter()
                .map(|m| {
                    let mut k = c.clone();
                    k.apply_mask(*m);
                    k.into_colors().into_iter().map(|c| c == Color::Dark).collect()
                })
                .collect();
            assert!(candidates.contains(&ours.dark));
            let min = candidates.iter().map(|d| penalty(d, ours.width())).min().unwrap();
            assert_eq!(penalty(&ours.dark, ours.width()), min);
            // The crate's own best-mask symbol is one of the candidates too (same construction).
            let theirs: Vec<bool> = theirs.to_colors().into_iter().map(|c| c == Color::Dark).collect();
            assert!(candidates.contains(&theirs));
        }
    }

    #[test]
    fn penalty_rules() {
        // All dark 5×5: N1 10 runs of 5 (3 each) = 30; N2 16 blocks × 3 = 48; N4 50% off → 100.
        assert_eq!(penalty(&[true; 25], 5), 30 + 48 + 100);
    }

    #[test]
    fn renders_png_svg_and_terminal() {
        let code = qr_code(b"RX:HELLO WORLD").unwrap();
        assert_eq!(version_number(&code), 1);
        let png = to_png(&code, 4).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let mut reader = png::Decoder::new(std::io::Cursor::new(png)).read_info().unwrap();
        let side = ((21 + 8) * 4) as u32;
        assert_eq!((reader.info().width, reader.info().height), (side, side));
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut buf).unwrap();
        // Top-left finder: pixel (16, 16) is dark (bit 0), pixel (0, 0) quiet zone is white.
        let row_bytes = (side as usize).div_ceil(8);
        assert_eq!(buf[0] & 0x80, 0x80);
        assert_eq!(buf[16 * row_bytes + 2] & 0x80, 0);
        let svg = to_svg(&code);
        assert!(svg.contains("<svg") && svg.contains("</svg>") && svg.contains("M4 4h1v1h-1z"));
        let t = to_terminal(&code);
        assert_eq!(t.lines().count(), (21 + 8usize).div_ceil(2));
        assert!(t.lines().all(|l| l.chars().count() == 29));
        assert!(t.lines().next().unwrap().chars().all(|c| c == '█'));
    }

    #[test]
    fn too_much_data_is_an_error() {
        assert!(matches!(qr_code(&vec![0xAB; 4000]), Err(RxError::Render(_))));
    }
}
