//! Text measured and drawn by folio itself (see [`draw_text`]), titles, and labels shortened to
//! fit.

use plotters::style::text_anchor::{HPos, VPos};

use super::Area;
use super::DrawError;
use super::canvas::{Canvas, TextLine};
pub(super) use super::ink::{Ink, text_width};
use super::theme::{INK, Theme};

/// Draw `text` anchored at `at` (pixels in `area`); not `upright`, it is turned a quarter
/// anticlockwise to read upwards beside a y axis.
///
/// folio lays text out itself, with ab_glyph and the embedded font, so that it measures what it
/// draws; each [`Canvas`] then draws it its own way (pixels, or SVG text).
pub(super) fn draw_text<C: Canvas>(
    area: &Area<C>,
    theme: &Theme,
    text: &str,
    at: (i32, i32),
    ink: Ink,
    anchor: (HPos, VPos),
    upright: bool,
) -> Result<(), DrawError> {
    C::draw_label(area, theme, &TextLine { text, at, ink, anchor, upright })
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

pub(super) fn draw_title<C: Canvas>(
    root: &Area<C>,
    theme: &Theme,
    title: &str,
) -> Result<Area<C>, DrawError> {
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
