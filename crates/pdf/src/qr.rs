//! The verification QR code, drawn as vector rectangles (no raster image, so it stays sharp
//! at any zoom and adds only a few kilobytes).

use qrcode::{Color, EcLevel, QrCode};

use crate::PdfError;
use crate::typeset::Page;

/// Draws the QR code of `data` as a `size`-point square with its top left at (`x`, `y`).
/// The caller keeps four modules of white around it (the quiet zone).
pub(crate) fn draw(page: &mut Page, data: &str, x: f32, y: f32, size: f32) -> Result<(), PdfError> {
    // Level M survives a fold or a stain on a printed certificate.
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M)?;
    let n = code.width();
    let colors = code.to_colors();
    let module = size / n as f32;
    for (row, cells) in colors.chunks(n).enumerate() {
        // One rectangle per horizontal run of dark modules.
        let mut col = 0;
        while col < n {
            if cells[col] == Color::Dark {
                let start = col;
                while col < n && cells[col] == Color::Dark {
                    col += 1;
                }
                page.rect(
                    x + start as f32 * module,
                    y + row as f32 * module,
                    (col - start) as f32 * module,
                    module,
                    0,
                );
            } else {
                col += 1;
            }
        }
    }
    Ok(())
}
