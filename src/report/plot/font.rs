//! The embedded DejaVu Sans (`assets/fonts/`, Bitstream Vera licence), loaded once and used
//! for every text, so that pictures draw the same on a machine without system fonts.

use std::sync::OnceLock;

use super::DrawError;
use ab_glyph::{Font, FontRef, PxScale, PxScaleFont};
use plotters::style::{FontStyle, register_font};

/// The family every text uses; registered from the embedded font, never looked up on the system.
const FONT: &str = "DejaVu Sans";
static DEJAVU_SANS: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
static DEJAVU_SANS_BOLD: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf");

/// The embedded faces, parsed once.
pub(super) struct Fonts {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

impl Fonts {
    pub(super) fn face(&self, bold: bool) -> &FontRef<'static> {
        if bold { &self.bold } else { &self.regular }
    }
}

/// Load the embedded fonts, once per process, and register them with plotters too (as folio's
/// family and as plotters' generic "sans-serif"), so that no text plotters might draw by itself
/// goes looking for a system font.
pub(super) fn fonts() -> Result<&'static Fonts, DrawError> {
    static FONTS: OnceLock<Result<Fonts, DrawError>> = OnceLock::new();
    fn broken<E>(_: E) -> String {
        "the embedded DejaVu Sans font does not load".into()
    }
    FONTS
        .get_or_init(|| {
            for family in [FONT, "sans-serif"] {
                register_font(family, FontStyle::Normal, DEJAVU_SANS).map_err(broken)?;
                register_font(family, FontStyle::Bold, DEJAVU_SANS_BOLD).map_err(broken)?;
            }
            Ok(Fonts {
                regular: FontRef::try_from_slice(DEJAVU_SANS).map_err(broken)?,
                bold: FontRef::try_from_slice(DEJAVU_SANS_BOLD).map_err(broken)?,
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A face scaled so that its em square is `px` pixels, as a CSS font size.
pub(super) fn scaled<'f>(face: &'f FontRef<'static>, px: f64) -> PxScaleFont<&'f FontRef<'static>> {
    let per_em = face.units_per_em().unwrap_or(2048.0) as f64;
    face.as_scaled(PxScale::from((px * face.height_unscaled() as f64 / per_em) as f32))
}
