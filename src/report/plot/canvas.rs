//! What a chart draws on: a plotters backend, and the two things folio does differently for a
//! bitmap and for SVG — text, and thick lines.

use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use plotters_backend::{BackendCoord, DrawingErrorKind};

use super::Area;
use super::DrawError;
use super::font::scaled;
use super::ink::{Ink, text_width};
use super::theme::Theme;
use ab_glyph::{Font, ScaleFont, point};

/// A plotters backend that folio's charts draw on.
pub(super) trait Canvas: DrawingBackend + Sized {
    /// Whether a thick polyline must be drawn a segment at a time. Plotters' rasterizer joins
    /// thick polylines with miters, which shoot spikes far past the data where a noisy daily
    /// series turns sharply; SVG joins them round.
    const SEGMENT_THICK_LINES: bool;

    /// Draw `text` in `area`, laid out by folio with the embedded font (see
    /// [`super::text::draw_text`]).
    fn draw_label(area: &Area<Self>, theme: &Theme, text: &TextLine<'_>) -> Result<(), DrawError>;
}

/// A line of text to draw: anchored at `at` (pixels in its area) by `anchor`, and upright or
/// turned a quarter anticlockwise.
pub(super) struct TextLine<'t> {
    pub text: &'t str,
    pub at: (i32, i32),
    pub ink: Ink,
    pub anchor: (HPos, VPos),
    pub upright: bool,
}

/// Where the baseline of text anchored vertically at `v` lies below the anchor: by the ascent
/// (top), by half the height of a capital (centre), or above it by the descent (bottom).
pub(super) fn baseline(theme: &Theme, ink: Ink, v: VPos) -> f32 {
    let font = scaled(theme.fonts.face(ink.bold), ink.px);
    match v {
        VPos::Top => font.ascent(),
        VPos::Center => 0.365 * ink.px as f32,
        VPos::Bottom => font.descent(),
    }
}

impl Canvas for BitMapBackend<'_> {
    const SEGMENT_THICK_LINES: bool = true;

    /// Glyph outlines rasterized pixel by pixel: plotters 0.3.7's ab_glyph text drops each
    /// glyph's left side bearing, which spaces letters unevenly ("up date").
    fn draw_label(area: &Area<Self>, theme: &Theme, text: &TextLine<'_>) -> Result<(), DrawError> {
        let &TextLine { text, at, ink, anchor: (h, v), upright } = text;
        let face = theme.fonts.face(ink.bold);
        let font = scaled(face, ink.px);
        let width = text_width(theme, text, ink) as f32;
        let mut caret = match h {
            HPos::Left => 0.0,
            HPos::Center => -width / 2.0,
            HPos::Right => -width,
        };
        let baseline = baseline(theme, ink, v);
        let mut coverage = Vec::new();
        let mut previous = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = previous {
                caret += font.kern(p, id);
            }
            previous = Some(id);
            let glyph = id.with_scale_and_position(font.scale, point(caret, baseline));
            caret += font.h_advance(id);
            if let Some(outline) = face.outline_glyph(glyph) {
                let bounds = outline.px_bounds();
                let (x0, y0) = (bounds.min.x as i32, bounds.min.y as i32);
                outline.draw(|x, y, c| coverage.push((x0 + x as i32, y0 + y as i32, c)));
            }
        }
        for (u, w, c) in coverage {
            if c > 0.0 {
                let p = if upright { (at.0 + u, at.1 + w) } else { (at.0 + w, at.1 - u) };
                area.draw_pixel(p, &ink.colour.mix(c.min(1.0) as f64)).map_err(super::de)?;
            }
        }
        Ok(())
    }
}

/// An RGB picture (rows top to bottom, three bytes a pixel) whose top left corner sits at `at`
/// in its area: one blit, which a bitmap copies and SVG embeds as one image, where a shape per
/// pixel would make an SVG of megabytes.
pub(super) struct Raster {
    pub at: (i32, i32),
    pub size: (u32, u32),
    pub rgb: Vec<u8>,
}

impl<'a> PointCollection<'a, (i32, i32)> for &'a Raster {
    type Point = &'a (i32, i32);
    type IntoIter = std::iter::Once<&'a (i32, i32)>;

    fn point_iter(self) -> Self::IntoIter {
        std::iter::once(&self.at)
    }
}

impl<DB: DrawingBackend> Drawable<DB> for Raster {
    fn draw<I: Iterator<Item = BackendCoord>>(
        &self,
        mut pos: I,
        backend: &mut DB,
        _: (u32, u32),
    ) -> Result<(), DrawingErrorKind<DB::ErrorType>> {
        match pos.next() {
            Some(corner) => backend.blit_bitmap(corner, self.size, &self.rgb),
            None => Ok(()),
        }
    }
}
