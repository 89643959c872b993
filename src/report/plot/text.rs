//! Text measured and drawn by folio itself (see [`draw_text`]), titles, and labels shortened to
//! fit.

use ab_glyph::{Font, ScaleFont, point};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::font::scaled;
use super::theme::{INK, Theme};
use super::{Area, de};

/// How a piece of text looks: size (of the em square, in pixels), weight and colour.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ink {
    px: f64,
    bold: bool,
    colour: RGBColor,
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

/// Draw `text` anchored at `at` (pixels in `area`); not `upright`, it is turned a quarter
/// anticlockwise to read upwards beside a y axis.
///
/// folio lays text out itself, with ab_glyph and the embedded font: plotters 0.3.7's ab_glyph
/// text drops each glyph's left side bearing, which spaces letters unevenly ("up date").
pub(super) fn draw_text(
    area: &Area<'_>,
    theme: &Theme,
    text: &str,
    at: (i32, i32),
    ink: Ink,
    (h, v): (HPos, VPos),
    upright: bool,
) -> Result<(), String> {
    let face = theme.fonts.face(ink.bold);
    let font = scaled(face, ink.px);
    let width = text_width(theme, text, ink) as f32;
    let mut caret = match h {
        HPos::Left => 0.0,
        HPos::Center => -width / 2.0,
        HPos::Right => -width,
    };
    // The baseline lies below the anchor by the ascent (top), by half the height of a capital
    // (centre), or above it by the descent (bottom).
    let baseline = match v {
        VPos::Top => font.ascent(),
        VPos::Center => 0.365 * ink.px as f32,
        VPos::Bottom => font.descent(),
    };
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
            area.draw_pixel(p, &ink.colour.mix(c.min(1.0) as f64)).map_err(de)?;
        }
    }
    Ok(())
}

/// `text`, shortened with an ellipsis until it fits in `max_w` pixels.
pub(super) fn fit_text(theme: &Theme, text: &str, ink: Ink, max_w: f64) -> String {
    if text_width(theme, text, ink) <= max_w {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    for keep in (0..chars.len()).rev() {
        let short: String = chars[..keep].iter().collect::<String>() + "…";
        if text_width(theme, &short, ink) <= max_w {
            return short;
        }
    }
    String::new()
}

pub(super) fn draw_title<'b>(root: &Area<'b>, theme: &Theme, title: &str) -> Result<Area<'b>, String> {
    let height = (theme.title * 2.2).round() as u32;
    let (top, body) = root.split_vertically(height);
    let (width, _) = root.dim_in_pixel();
    let ink = Ink::new(theme.title, INK).bold();
    let text = fit_text(theme, title, ink, width as f64 - 2.0 * theme.pad);
    let at = (theme.pad as i32, (height as f64 * 0.55) as i32);
    draw_text(&top, theme, &text, at, ink, (HPos::Left, VPos::Center), true)?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::plot::PlotSize;
    use crate::report::plot::font::fonts;

    #[test]
    fn the_embedded_font_loads_and_measures_text() {
        let theme = Theme::new(PlotSize::default(), fonts().unwrap());
        let ink = Ink::new(12.0, INK);
        let short = text_width(&theme, "Jan", ink);
        let long = text_width(&theme, "Jan 2019", ink);
        assert!(short > 15.0 && long > 2.2 * short, "{short} {long}");
        // DejaVu Sans digits are 0.636 em wide.
        assert!((text_width(&theme, "0123456789", ink) - 10.0 * 0.636 * 12.0).abs() < 1.0);
        assert!(text_width(&theme, "Jan", ink.bold()) > short);
    }
}
