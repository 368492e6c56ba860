//! Text layout and glyph outlines with the embedded DejaVu Sans subset.
//!
//! Layout is deliberately simple (one left-to-right script, greedy word wrap, pair kerning from
//! the font's GPOS table); outlines become one tiny-skia path that the raster step fills and
//! strokes like any shape, so text shares the shapes' deterministic integer coverage.

use std::sync::OnceLock;

use tiny_skia::{Path, PathBuilder};
use ttf_parser::{gpos::PairAdjustment, gpos::PositioningSubtable, Face, GlyphId};

use crate::display::{TextAlign, TextContent};

static REGULAR_BYTES: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");
static BOLD_BYTES: &[u8] = include_bytes!("fonts/DejaVuSans-Bold.ttf");

fn face(bold: bool) -> Option<&'static Face<'static>> {
    static REGULAR: OnceLock<Option<Face<'static>>> = OnceLock::new();
    static BOLD: OnceLock<Option<Face<'static>>> = OnceLock::new();
    if bold {
        BOLD.get_or_init(|| Face::parse(BOLD_BYTES, 0).ok())
            .as_ref()
    } else {
        REGULAR
            .get_or_init(|| Face::parse(REGULAR_BYTES, 0).ok())
            .as_ref()
    }
}

/// Glyphs positioned in content space, plus the box they occupy.
pub(crate) struct TextLayout {
    /// The glyph outlines as one path (non-zero winding), in content space.
    pub path: Option<Path>,
    /// Content-space bounds `(x0, y0, x1, y1)` of the line boxes, padded for glyph overhang.
    pub bounds: (f32, f32, f32, f32),
}

struct Shaper {
    face: &'static Face<'static>,
    scale: f32,
}

impl Shaper {
    fn glyph(&self, c: char) -> GlyphId {
        self.face
            .glyph_index(c)
            .or_else(|| self.face.glyph_index('?'))
            .unwrap_or(GlyphId(0))
    }

    fn advance(&self, g: GlyphId) -> f32 {
        f32::from(self.face.glyph_hor_advance(g).unwrap_or(0)) * self.scale
    }

    /// Horizontal pair adjustment from the GPOS pair-positioning lookups (the subset keeps only
    /// the kerning feature's lookups).
    fn kerning(&self, left: GlyphId, right: GlyphId) -> f32 {
        let Some(gpos) = self.face.tables().gpos else {
            return 0.0;
        };
        let mut total = 0i32;
        for lookup in gpos.lookups {
            for sub in lookup.subtables.into_iter::<PositioningSubtable>() {
                let PositioningSubtable::Pair(pair) = sub else {
                    continue;
                };
                let found = match pair {
                    PairAdjustment::Format1 { coverage, sets } => coverage
                        .get(left)
                        .and_then(|i| sets.get(i))
                        .and_then(|set| set.get(right))
                        .map(|(a, _)| a.x_advance),
                    PairAdjustment::Format2 {
                        coverage,
                        classes,
                        matrix,
                    } => {
                        if coverage.contains(left) {
                            matrix
                                .get((classes.0.get(left), classes.1.get(right)))
                                .map(|(a, _)| a.x_advance)
                        } else {
                            None
                        }
                    }
                };
                if let Some(adv) = found {
                    total += i32::from(adv);
                    break;
                }
            }
        }
        total as f32 * self.scale
    }

    fn measure(&self, text: &str) -> f32 {
        let mut width = 0.0;
        let mut prev: Option<GlyphId> = None;
        for c in text.chars() {
            let g = self.glyph(c);
            if let Some(p) = prev {
                width += self.kerning(p, g);
            }
            width += self.advance(g);
            prev = Some(g);
        }
        width
    }
}

/// Greedy word wrap of one paragraph to `max_width`.
fn wrap<'t>(shaper: &Shaper, paragraph: &'t str, max_width: Option<f32>) -> Vec<&'t str> {
    let Some(max_width) = max_width else {
        return vec![paragraph];
    };
    let mut lines = Vec::new();
    let mut start = 0;
    let mut last_fit_end: Option<usize> = None;
    let mut search = 0;
    loop {
        let next_space = paragraph[search..].find(' ').map(|i| search + i);
        let end = next_space.unwrap_or(paragraph.len());
        let candidate = &paragraph[start..end];
        if shaper.measure(candidate) <= max_width || last_fit_end.is_none() {
            last_fit_end = Some(end);
            match next_space {
                Some(s) => search = s + 1,
                None => {
                    lines.push(candidate);
                    break;
                }
            }
        } else {
            let fit = last_fit_end.unwrap_or(end);
            lines.push(paragraph[start..fit].trim_end());
            start = (fit + 1).min(paragraph.len());
            search = start;
            last_fit_end = None;
        }
    }
    lines
}

struct OutlineSink<'b> {
    builder: &'b mut PathBuilder,
    x: f32,
    baseline: f32,
    scale: f32,
}

impl ttf_parser::OutlineBuilder for OutlineSink<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        self.builder
            .move_to(self.x + x * self.scale, self.baseline - y * self.scale);
    }
    fn line_to(&mut self, x: f32, y: f32) {
        self.builder
            .line_to(self.x + x * self.scale, self.baseline - y * self.scale);
    }
    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        self.builder.quad_to(
            self.x + x1 * self.scale,
            self.baseline - y1 * self.scale,
            self.x + x * self.scale,
            self.baseline - y * self.scale,
        );
    }
    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        self.builder.cubic_to(
            self.x + x1 * self.scale,
            self.baseline - y1 * self.scale,
            self.x + x2 * self.scale,
            self.baseline - y2 * self.scale,
            self.x + x * self.scale,
            self.baseline - y * self.scale,
        );
    }
    fn close(&mut self) {
        self.builder.close();
    }
}

/// Most lines and characters laid out; bounds hostile input.
const MAX_CHARS: usize = 10_000;

/// Lays out `text` and builds its glyph outlines.
pub(crate) fn layout(text: &TextContent) -> TextLayout {
    let size = if text.font_size.is_finite() {
        text.font_size.clamp(0.0, 4096.0)
    } else {
        0.0
    };
    let empty = TextLayout {
        path: None,
        bounds: (0.0, 0.0, 0.0, 0.0),
    };
    let Some(face) = face(text.bold) else {
        return empty;
    };
    if size <= 0.0 {
        return empty;
    }
    let upem = f32::from(face.units_per_em());
    let shaper = Shaper {
        face,
        scale: size / upem,
    };
    let box_width = text.box_width.filter(|w| w.is_finite() && *w > 0.0);
    let line_height = if text.line_height.is_finite() {
        text.line_height.clamp(0.0, 100.0)
    } else {
        1.2
    } * size;
    let ascender = f32::from(face.ascender()) * shaper.scale;
    let descender = f32::from(face.descender()) * shaper.scale;

    let source: String = text.text.chars().take(MAX_CHARS).collect();
    let mut lines: Vec<&str> = Vec::new();
    for paragraph in source.split('\n') {
        lines.extend(wrap(&shaper, paragraph, box_width));
    }

    let mut builder = PathBuilder::new();
    let (mut min_x, mut max_x) = (f32::MAX, f32::MIN);
    for (i, line) in lines.iter().enumerate() {
        let width = shaper.measure(line);
        let start = match (text.align, box_width) {
            (TextAlign::Left, _) => 0.0,
            (TextAlign::Center, Some(b)) => (b - width) / 2.0,
            (TextAlign::Center, None) => -width / 2.0,
            (TextAlign::Right, Some(b)) => b - width,
            (TextAlign::Right, None) => -width,
        };
        min_x = min_x.min(start);
        max_x = max_x.max(start + width);
        let baseline = ascender + i as f32 * line_height;
        let mut x = start;
        let mut prev: Option<GlyphId> = None;
        for c in line.chars() {
            let g = shaper.glyph(c);
            if let Some(p) = prev {
                x += shaper.kerning(p, g);
            }
            let mut sink = OutlineSink {
                builder: &mut builder,
                x,
                baseline,
                scale: shaper.scale,
            };
            face.outline_glyph(g, &mut sink);
            x += shaper.advance(g);
            prev = Some(g);
        }
    }
    if lines.is_empty() || min_x > max_x {
        return empty;
    }
    let bottom = ascender + (lines.len() - 1) as f32 * line_height - descender;
    let pad = size * 0.25;
    TextLayout {
        path: builder.finish(),
        bounds: (min_x - pad, -pad, max_x + pad, bottom + pad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::Color;

    fn text(s: &str, box_width: Option<f32>) -> TextContent {
        TextContent {
            text: s.into(),
            font_size: 40.0,
            color: Color::WHITE,
            bold: false,
            align: TextAlign::Left,
            box_width,
            line_height: 1.2,
            stroke: None,
            shadow: None,
        }
    }

    #[test]
    fn fonts_parse_and_kern() {
        let face = face(false).unwrap();
        let shaper = Shaper {
            face,
            scale: 40.0 / f32::from(face.units_per_em()),
        };
        let av = shaper.kerning(shaper.glyph('A'), shaper.glyph('V'));
        assert!(av < 0.0, "AV should kern tighter, got {av}");
        assert!(super::face(true).is_some());
    }

    #[test]
    fn wraps_within_box() {
        let l = layout(&text("one two three four five six", Some(200.0)));
        let (x0, y0, x1, y1) = l.bounds;
        assert!(x1 - x0 <= 200.0 + 20.0 + 1.0, "{:?}", l.bounds);
        assert!(y1 - y0 > 100.0, "should have wrapped onto several lines");
        assert!(l.path.is_some());
        assert!(layout(&text("", None)).path.is_none());
    }
}
