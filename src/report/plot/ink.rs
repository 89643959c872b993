//! How a piece of text looks and how wide it is, measured with the embedded font: what the
//! layout needs before any canvas draws it.

use ab_glyph::ScaleFont;
use plotters::prelude::*;

use super::font::scaled;
use super::theme::Theme;

/// How a piece of text looks: size (of the em square, in pixels), weight and colour.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ink {
    pub(super) px: f64,
    pub(super) bold: bool,
    pub(super) colour: RGBColor,
}

impl Ink {
    pub(super) fn new(px: f64, colour: RGBColor) -> Self {
        Self { px, bold: false, colour }
    }

    pub(super) fn bold(self) -> Self {
        Self { bold: true, ..self }
    }
}

/// Width of `text` in pixels: its advances and kerning.
pub(super) fn text_width(theme: &Theme, text: &str, ink: Ink) -> f64 {
    let font = scaled(theme.fonts.face(ink.bold), ink.px);
    let mut width = 0.0;
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = previous {
            width += font.kern(p, id);
        }
        width += font.h_advance(id);
        previous = Some(id);
    }
    width as f64
}
