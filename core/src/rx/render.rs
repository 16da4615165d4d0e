//! Drawing a QR code: PNG and SVG for the shells, Unicode half blocks for the terminal.

use super::RxError;
use qrcode::{Color, EcLevel, QrCode, Version};

/// Modules of quiet zone around the code (the QR standard asks for 4).
pub const QUIET_ZONE: usize = 4;

/// Builds the QR code of `data` at error-correction level M (the mode is chosen per segment, so
/// Base45 text goes in alphanumeric mode).
pub fn qr_code(data: &[u8]) -> Result<QrCode, RxError> {
    QrCode::with_error_correction_level(data, EcLevel::M).map_err(|e| RxError::Render(e.to_string()))
}

/// The QR version (1–40) of a code.
pub fn version_number(code: &QrCode) -> i16 {
    match code.version() {
        Version::Normal(v) | Version::Micro(v) => v,
    }
}

/// Whether the module at (x, y) of the code plus quiet zone is dark.
fn dark(code: &QrCode, colors: &[Color], x: usize, y: usize) -> bool {
    let w = code.width();
    if x < QUIET_ZONE || y < QUIET_ZONE || x >= w + QUIET_ZONE || y >= w + QUIET_ZONE {
        return false;
    }
    colors[(y - QUIET_ZONE) * w + (x - QUIET_ZONE)] == Color::Dark
}

/// A 1-bit greyscale PNG, `scale` pixels per module, quiet zone included.
pub fn to_png(code: &QrCode, scale: usize) -> Result<Vec<u8>, RxError> {
    let scale = scale.max(1);
    let colors = code.to_colors();
    let modules = code.width() + 2 * QUIET_ZONE;
    let px = modules * scale;
    let row_bytes = px.div_ceil(8);
    let mut data = vec![0u8; row_bytes * px];
    for y in 0..px {
        let row = &mut data[y * row_bytes..(y + 1) * row_bytes];
        for x in 0..px {
            // In 1-bit greyscale a set bit is white.
            if !dark(code, &colors, x / scale, y / scale) {
                row[x / 8] |= 0x80 >> (x % 8);
            }
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

/// An SVG document of the code.
pub fn to_svg(code: &QrCode) -> String {
    code.render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build()
}

/// The code as text for a terminal: two modules per character cell with Unicode half blocks.
/// Light modules are drawn (inverted), so it scans on the usual dark terminal background.
pub fn to_terminal(code: &QrCode) -> String {
    let colors = code.to_colors();
    let modules = code.width() + 2 * QUIET_ZONE;
    let mut s = String::with_capacity((modules + 1) * modules.div_ceil(2) * 3);
    for y in (0..modules).step_by(2) {
        for x in 0..modules {
            let top = !dark(code, &colors, x, y);
            let bottom = y + 1 < modules && !dark(code, &colors, x, y + 1);
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
    fn renders_png_svg_and_terminal() {
        let code = qr_code(b"RX:HELLO WORLD").unwrap();
        assert_eq!(version_number(&code), 1);
        let png = to_png(&code, 4).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let dec = png::Decoder::new(std::io::Cursor::new(png));
        let reader = dec.read_info().unwrap();
        let side = ((21 + 8) * 4) as u32;
        assert_eq!((reader.info().width, reader.info().height), (side, side));
        let svg = to_svg(&code);
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
        let t = to_terminal(&code);
        assert_eq!(t.lines().count(), (21 + 8usize).div_ceil(2));
        assert!(t.lines().all(|l| l.chars().count() == 29));
        // Quiet zone: the first line is all light (drawn as full blocks).
        assert!(t.lines().next().unwrap().chars().all(|c| c == '█'));
    }

    #[test]
    fn too_much_data_is_an_error() {
        assert!(matches!(qr_code(&vec![0xAB; 4000]), Err(RxError::Render(_))));
    }
}
