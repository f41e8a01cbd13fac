//! QR codes drawn as inline SVG (no script, no inline style: the pages' CSP allows neither).

use qrcode::{EcLevel, QrCode};

use crate::shell::error::{Failure, PageError};

/// The SVG of a QR code of `data` at least `size` pixels wide, without the XML declaration (it is
/// inlined in the page). Level M: a phone screen with glare or a cracked corner still scans.
pub fn svg(data: &str, size: u32) -> Result<String, PageError> {
    let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M).map_err(|e| {
        tracing::error!(error = %e, "QR code");
        PageError(Failure::Internal)
    })?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(size, size)
        .build();
    Ok(match svg.find("<svg") {
        Some(i) => svg[i..].to_owned(),
        None => svg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_personal_code_draws_as_inline_svg() {
        let svg = svg("MAMIS-P1.abcdef", 240).unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert!(!svg.contains("style="), "CSP forbids inline styles");
    }
}
