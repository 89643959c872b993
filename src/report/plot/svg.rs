//! folio's SVG backend for plotters: the charts of `report.html`, drawn with the same layout as
//! the PNG files, as vector shapes and selectable text.
//!
//! Two things keep the file small. Coordinates stay whole pixels, so a series with more points
//! than the chart has pixel columns keeps, in each column, only its first and last point and its
//! extremes ([`thin`]): the line drawn covers the same pixels as the full series. And points in
//! the middle of a straight stretch are dropped.
//!
//! Text is SVG text in DejaVu Sans (or the closest sans-serif the viewer has), measured and
//! anchored by folio as in the PNG files; nothing is fetched to show it.

use std::fmt::{self, Write};

use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters::style::text_anchor::HPos;
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, DrawingErrorKind};

use super::Area;
use super::DrawError;
use super::canvas::{Canvas, TextLine, baseline};
use super::theme::Theme;

/// The fonts SVG text asks for: the embedded DejaVu Sans that measured it, if the viewer has it,
/// else its close relatives.
const FONT_FAMILY: &str = "'DejaVu Sans', 'Bitstream Vera Sans', Verdana, sans-serif";

/// An SVG document being drawn into `out`, closed by `present`.
pub(crate) struct SvgCanvas<'a> {
    out: &'a mut String,
    size: (u32, u32),
    closed: bool,
}

type Drawn = Result<(), DrawingErrorKind<fmt::Error>>;

impl<'a> SvgCanvas<'a> {
    pub(super) fn new(out: &'a mut String, size: (u32, u32)) -> Self {
        let (w, h) = size;
        out.push_str(&format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" \
             font-family=\"{FONT_FAMILY}\" stroke-linejoin=\"round\" stroke-linecap=\"butt\">\n"
        ));
        Self { out, size, closed: false }
    }

    fn write(&mut self, args: fmt::Arguments<'_>) -> Drawn {
        self.out.write_fmt(args).map_err(DrawingErrorKind::DrawingError)
    }

    fn points(&mut self, points: &[BackendCoord]) -> Drawn {
        for (k, (x, y)) in points.iter().enumerate() {
            let sep = if k == 0 { "" } else { " " };
            self.write(format_args!("{sep}{x},{y}"))?;
        }
        Ok(())
    }

    /// SVG text whose anchor (after `anchor` and the baseline) is at `at`, in backend pixels.
    fn label(&mut self, label: &Label<'_>, at: BackendCoord) -> Drawn {
        // Turned text keeps its anchor and baseline, and turns about the anchor.
        let (x, y) = (at.0, ((at.1 as f32 + label.baseline) * 10.0).round() / 10.0);
        let weight = if label.bold { " font-weight=\"bold\"" } else { "" };
        let turn =
            if label.upright { String::new() } else { format!(" transform=\"rotate(-90 {x} {})\"", at.1) };
        self.write(format_args!(
            "<text x=\"{x}\" y=\"{y}\" font-size=\"{}\"{weight} fill=\"{}\" text-anchor=\"{}\"{turn}>{}</text>\n",
            label.px,
            hex(label.colour),
            label.anchor,
            escape(label.text)
        ))
    }
}

/// `#rrggbb`.
fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// ` stroke="..." stroke-width=".."` (with its opacity), and half a pixel's shift for odd widths
/// so that a one-pixel line covers one row of pixels, as in the PNG, rather than two half-lit.
fn stroke(style: &impl BackendStyle) -> String {
    let BackendColor { alpha, rgb } = style.color();
    let width = style.stroke_width();
    let opacity = if alpha < 1.0 { format!(" stroke-opacity=\"{alpha:.3}\"") } else { String::new() };
    let shift = if width % 2 == 1 { " transform=\"translate(.5 .5)\"" } else { "" };
    format!(" fill=\"none\" stroke=\"{}\" stroke-width=\"{width}\"{opacity}{shift}", hex(rgb))
}

/// ` fill="..."` with its opacity.
fn fill(colour: BackendColor) -> String {
    let opacity =
        if colour.alpha < 1.0 { format!(" fill-opacity=\"{:.3}\"", colour.alpha) } else { String::new() };
    format!(" fill=\"{}\"{opacity}", hex(colour.rgb))
}

/// Standard base64 with padding (RFC 4648), for pictures inside the document.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            let c = if k <= chunk.len() { ALPHABET[(n >> (18 - 6 * k)) as usize & 63] as char } else { '=' };
            out.push(c);
        }
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The points of a line in whole pixels with the same pixels drawn: in each run of points that
/// share a pixel column only the first, the lowest, the highest and the last (in their order),
/// and no point in the middle of a straight stretch.
pub(super) fn thin(points: impl IntoIterator<Item = BackendCoord>) -> Vec<BackendCoord> {
    let mut columns: Vec<BackendCoord> = Vec::new();
    let mut group: Vec<BackendCoord> = Vec::new();
    let flush = |group: &mut Vec<BackendCoord>, out: &mut Vec<BackendCoord>| {
        if group.is_empty() {
            return;
        }
        let lowest = (0..group.len()).min_by_key(|&i| group[i].1).unwrap_or(0);
        let highest = (0..group.len()).max_by_key(|&i| group[i].1).unwrap_or(0);
        let mut keep = vec![0, lowest, highest, group.len() - 1];
        keep.sort_unstable();
        keep.dedup();
        out.extend(keep.into_iter().map(|i| group[i]));
        group.clear();
    };
    for p in points {
        if group.last().is_some_and(|q| q.0 != p.0) {
            flush(&mut group, &mut columns);
        }
        group.push(p);
    }
    flush(&mut group, &mut columns);
    let mut out: Vec<BackendCoord> = Vec::with_capacity(columns.len());
    for p in columns {
        if out.last() == Some(&p) {
            continue;
        }
        if let [.., a, b] = out[..] {
            let (u, v) = ((b.0 - a.0, b.1 - a.1), (p.0 - b.0, p.1 - b.1));
            let straight = u.0 as i64 * v.1 as i64 == u.1 as i64 * v.0 as i64;
            if straight && u.0 as i64 * v.0 as i64 + u.1 as i64 * v.1 as i64 >= 0 {
                out.pop();
            }
        }
        out.push(p);
    }
    out
}

impl DrawingBackend for SvgCanvas<'_> {
    type ErrorType = fmt::Error;

    fn get_size(&self) -> (u32, u32) {
        self.size
    }

    fn ensure_prepared(&mut self) -> Drawn {
        Ok(())
    }

    fn present(&mut self) -> Drawn {
        if !self.closed {
            self.closed = true;
            self.out.push_str("</svg>\n");
        }
        Ok(())
    }

    fn draw_pixel(&mut self, (x, y): BackendCoord, colour: BackendColor) -> Drawn {
        if colour.alpha == 0.0 {
            return Ok(());
        }
        self.write(format_args!("<rect x=\"{x}\" y=\"{y}\" width=\"1\" height=\"1\"{}/>\n", fill(colour)))
    }

    /// One `<image>` holding the pixels as a PNG, drawn without smoothing as the bitmap shows it.
    fn blit_bitmap(&mut self, (x, y): BackendCoord, (w, h): (u32, u32), src: &[u8]) -> Drawn {
        let png = super::encode_png(src, w, h).map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
        self.write(format_args!(
            "<image x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" preserveAspectRatio=\"none\" \
             style=\"image-rendering:pixelated\" href=\"data:image/png;base64,{}\"/>\n",
            base64(&png)
        ))
    }

    fn draw_line<S: BackendStyle>(&mut self, from: BackendCoord, to: BackendCoord, style: &S) -> Drawn {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        let ((x1, y1), (x2, y2)) = (from, to);
        self.write(format_args!("<path d=\"M{x1} {y1}L{x2} {y2}\"{}/>\n", stroke(style)))
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        (x0, y0): BackendCoord,
        (x1, y1): BackendCoord,
        style: &S,
        filled: bool,
    ) -> Drawn {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        let (x, y, w, h) = (x0.min(x1), y0.min(y1), (x1 - x0).abs(), (y1 - y0).abs());
        if filled {
            // The bitmap fills both corners' pixels.
            let paint = fill(style.color());
            self.write(format_args!(
                "<rect x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{}\"{paint}/>\n",
                w + 1,
                h + 1
            ))
        } else {
            self.write(format_args!(
                "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\"{}/>\n",
                stroke(style)
            ))
        }
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Drawn {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        let points = thin(path);
        self.write(format_args!("<polyline{} points=\"", stroke(style)))?;
        self.points(&points)?;
        self.write(format_args!("\"/>\n"))
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        (x, y): BackendCoord,
        radius: u32,
        style: &S,
        filled: bool,
    ) -> Drawn {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        let paint = if filled { fill(style.color()) } else { stroke(style) };
        let (x, y) = (x as f64 + 0.5, y as f64 + 0.5);
        let paint = paint.replace(" transform=\"translate(.5 .5)\"", "");
        self.write(format_args!("<circle cx=\"{x}\" cy=\"{y}\" r=\"{radius}\"{paint}/>\n"))
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Drawn {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        let points = thin(vert);
        self.write(format_args!("<polygon{} points=\"", fill(style.color())))?;
        self.points(&points)?;
        self.write(format_args!("\"/>\n"))
    }
}

/// Text for [`SvgCanvas`], drawn through a drawing area so that the area's offset applies.
/// Plotters moves a point outside the area onto its edge, and labels beside an axis lie outside
/// the plot: the point is the area's corner, and `offset` leads from there to the anchor.
struct Label<'t> {
    text: &'t str,
    corner: BackendCoord,
    offset: BackendCoord,
    px: f64,
    bold: bool,
    colour: (u8, u8, u8),
    anchor: &'static str,
    /// Below the anchor, in pixels (along the turned text when not upright).
    baseline: f32,
    upright: bool,
}

impl<'a> PointCollection<'a, BackendCoord> for &'a Label<'_> {
    type Point = &'a BackendCoord;
    type IntoIter = std::iter::Once<&'a BackendCoord>;

    fn point_iter(self) -> Self::IntoIter {
        std::iter::once(&self.corner)
    }
}

impl<'a> Drawable<SvgCanvas<'a>> for Label<'_> {
    fn draw<I: Iterator<Item = BackendCoord>>(
        &self,
        mut pos: I,
        backend: &mut SvgCanvas<'a>,
        _: (u32, u32),
    ) -> Drawn {
        match pos.next() {
            Some((x, y)) => backend.label(self, (x + self.offset.0, y + self.offset.1)),
            None => Ok(()),
        }
    }
}

impl Canvas for SvgCanvas<'_> {
    const SEGMENT_THICK_LINES: bool = false;

    fn draw_label(area: &Area<Self>, theme: &Theme, text: &TextLine<'_>) -> Result<(), DrawError> {
        let &TextLine { text, at, ink, anchor: (h, v), upright } = text;
        if text.is_empty() {
            return Ok(());
        }
        let anchor = match h {
            HPos::Left => "start",
            HPos::Center => "middle",
            HPos::Right => "end",
        };
        let label = Label {
            text,
            corner: (0, 0),
            offset: at,
            px: ink.px,
            bold: ink.bold,
            colour: (ink.colour.0, ink.colour.1, ink.colour.2),
            anchor,
            baseline: baseline(theme, ink, v),
            upright,
        };
        area.draw(&label).map_err(super::de)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn thinning_keeps_each_columns_extremes_in_order_and_drops_straight_stretches() {
        let column = [(0, 5), (0, 9), (0, 1), (0, 4), (0, 6)];
        assert_eq!(thin(column), [(0, 5), (0, 9), (0, 1), (0, 6)]);
        let flat: Vec<BackendCoord> = (0..100).map(|x| (x, 7)).collect();
        assert_eq!(thin(flat), [(0, 7), (99, 7)]);
        // A turn back along the same line is kept: dropping it would shorten the line.
        assert_eq!(thin([(0, 0), (10, 0), (5, 0)]), [(0, 0), (10, 0), (5, 0)]);
        let many: Vec<BackendCoord> = (0..10_000).map(|i| (i / 10, i * 7919 % 13)).collect();
        assert!(thin(many).len() <= 4 * 1000);
    }
}
