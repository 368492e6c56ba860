//! The display list: what one output frame shows, as plain data.
//!
//! It is the contract between evaluation ([`crate::eval`], timeline → display list) and the
//! renderer ([`crate::render`], display list → pixels). It carries no pixels and no timeline
//! concepts: every value is already resolved for one instant (keyframes interpolated,
//! transitions expressed as opacities, clip rectangles, transforms and overlay items) and
//! already scaled to the output size.
//!
//! # Coordinate spaces
//! - **Output space**: pixels of the output frame, origin top-left, x right, y down,
//!   `0..width` × `0..height`. Pixel centres sit at half-integers.
//! - **Content space**: the item's own space, origin at the top-left of its content. An image is
//!   `0..width` × `0..height` in source pixels, a shape or gradient spans its `width` × `height`,
//!   text starts at the top-left of its layout box. [`DisplayItem::transform`] maps content space
//!   to output space.
//!
//! # Painting model
//! The frame starts as [`DisplayList::background`]; items are painted in order (first item at
//! the bottom). Each item is rendered into its own layer (content, then crop and effects in
//! order), and the layer is composited onto the frame with the item's opacity, blend mode and
//! output-space clip. Colours are non-premultiplied sRGB, 8 bits per channel; blending happens
//! on premultiplied sRGB values (no linearisation), like browsers' 2D canvas.
//!
//! # Transitions
//! Expressed with plain items: a crossfade as the incoming clip's opacity over the outgoing one, a wipe as output-space `clip`s, slides
//! and pushes as transforms, a dip to colour as an overlay [`Content::Solid`] with an opacity.
//!
//! # What keeps rendering fast
//! - An item that covers the whole frame opaquely (an opaque image or solid at opacity 1,
//!   `normal` blend, no effects or clip) hides everything beneath it: the renderer skips those
//!   items. So a crossfade between two opaque full-frame clips is cheapest (and exact) as the
//!   outgoing clip at opacity 1 with the incoming one fading in over it.
//! - Shapes, gradients, text and items with effects are rasterised once and cached by
//!   content, the transform's linear part and sub-pixel phase; opacity, blend, clip and whole
//!   pixel moves reuse the cached layer.
//!
//! # Determinism
//! The same display list renders to the same pixels on every platform (native and wasm32).
//! Producers should compute any trigonometry for it with the `libm` crate rather than `f32::sin`
//! and friends, whose results differ in the last bit between platform maths libraries.

use serde::{Deserialize, Serialize};

/// Everything one output frame shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DisplayList {
    /// Output width in pixels (already scaled for previews).
    pub width: u32,
    /// Output height in pixels (already scaled for previews).
    pub height: u32,
    /// Colour of the frame before any item is painted.
    pub background: Color,
    /// Items bottom to top.
    pub items: Vec<DisplayItem>,
}

impl DisplayList {
    /// An empty list of the given size over a background colour.
    pub fn new(width: u32, height: u32, background: Color) -> Self {
        DisplayList {
            width,
            height,
            background,
            items: Vec::new(),
        }
    }

    /// Every image (asset id, frame) the list refers to, in paint order, including luma masks.
    ///
    /// A host that decodes lazily (video frames, image sequences) prepares these before
    /// rendering.
    pub fn image_refs(&self) -> Vec<(&str, Option<u32>)> {
        let mut refs = Vec::new();
        for item in &self.items {
            if let Content::Image {
                asset_id, frame, ..
            } = &item.content
            {
                refs.push((asset_id.as_str(), *frame));
            }
            for effect in &item.effects {
                if let Effect::Mask(Mask::Luma {
                    asset_id, frame, ..
                }) = effect
                {
                    refs.push((asset_id.as_str(), *frame));
                }
            }
        }
        refs
    }
}

/// One painted thing: a content, placed by a transform, composited with opacity and blend mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DisplayItem {
    /// Stable identity across frames (the clip id, suffixed if a clip emits several items).
    /// The renderer uses it only as a hint for caching; two items may share it.
    pub id: String,
    /// What is drawn, in content space.
    pub content: Content,
    /// Content space → output space.
    #[serde(default)]
    pub transform: Affine,
    /// Multiplies the layer's alpha when compositing, `0.0..=1.0` (clamped).
    #[serde(default = "one")]
    pub opacity: f32,
    /// How the layer combines with what is beneath it.
    #[serde(default)]
    pub blend: BlendMode,
    /// Output-space rectangle outside which the item leaves the frame untouched (wipes, slides).
    /// Its edges are snapped to whole pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<Rect>,
    /// Content-space rectangle: only this part of the content is drawn (crop of a photo).
    /// For images its edges are snapped outwards to whole source pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<Rect>,
    /// Applied in order to the item's layer, in output space, before compositing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<Effect>,
}

fn one() -> f32 {
    1.0
}

impl DisplayItem {
    /// An item with identity transform, full opacity, normal blending and no clip, crop or effects.
    pub fn new(id: impl Into<String>, content: Content) -> Self {
        DisplayItem {
            id: id.into(),
            content,
            transform: Affine::IDENTITY,
            opacity: 1.0,
            blend: BlendMode::Normal,
            clip: None,
            crop: None,
            effects: Vec::new(),
        }
    }
}

/// What an item draws, in its content space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Content {
    /// A decoded image from the host's image source, covering `0..width` × `0..height`.
    Image {
        /// Asset id (`ast_…`) the host's image source knows.
        asset_id: String,
        /// Frame index within an image sequence or video; `None` for a still.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        frame: Option<u32>,
        /// Source width in pixels (the decoded image's width).
        width: u32,
        /// Source height in pixels (the decoded image's height).
        height: u32,
    },
    /// A colour filling the whole output frame (ignores the transform; honours clip and
    /// opacity). Used for colour clips and dip-to-colour transitions.
    Solid {
        /// The colour.
        color: Color,
    },
    /// A linear gradient filling the rectangle `0..width` × `0..height`.
    LinearGradient {
        /// Rectangle width.
        width: f32,
        /// Rectangle height.
        height: f32,
        /// Where offset 0 lies, in content space.
        start: Point,
        /// Where offset 1 lies, in content space.
        end: Point,
        /// Colour stops in increasing offset order; colours are padded beyond the ends.
        stops: Vec<GradientStop>,
    },
    /// A radial gradient filling the rectangle `0..width` × `0..height`.
    RadialGradient {
        /// Rectangle width.
        width: f32,
        /// Rectangle height.
        height: f32,
        /// Centre (offset 0), in content space.
        center: Point,
        /// Distance from the centre at which offset 1 lies.
        radius: f32,
        /// Colour stops in increasing offset order; colours are padded beyond the ends.
        stops: Vec<GradientStop>,
    },
    /// A vector shape.
    Shape {
        /// The geometry.
        kind: ShapeKind,
        /// Interior colour; `None` for an outline only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fill: Option<Color>,
        /// Outline; `None` for no outline.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stroke: Option<Stroke>,
    },
    /// Text set in the embedded sans-serif font (DejaVu Sans, Latin subset).
    Text(TextContent),
}

/// A text run and how it is set. Content space origin is the top-left of the layout box.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextContent {
    /// The text; `\n` starts a new line.
    pub text: String,
    /// Em size in content-space units.
    pub font_size: f32,
    /// Fill colour of the glyphs.
    pub color: Color,
    /// Bold weight instead of regular.
    #[serde(default)]
    pub bold: bool,
    /// Horizontal alignment of each line within the box (or around x = 0 without a box).
    #[serde(default)]
    pub align: TextAlign,
    /// Box width: lines wrap at word boundaries to fit it. `None` never wraps; lines are then
    /// aligned left at 0, centred on 0 or right-aligned at 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub box_width: Option<f32>,
    /// Distance between baselines as a multiple of `font_size`.
    #[serde(default = "default_line_height")]
    pub line_height: f32,
    /// Outline centred on the glyph edges, drawn beneath the fill (so its outer half shows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stroke: Option<Stroke>,
    /// Shadow drawn beneath the glyphs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<Shadow>,
}

fn default_line_height() -> f32 {
    1.2
}

/// Horizontal text alignment.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TextAlign {
    /// Lines start at the left edge.
    #[default]
    Left,
    /// Lines are centred.
    Center,
    /// Lines end at the right edge.
    Right,
}

/// Geometry of a [`Content::Shape`], in content space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ShapeKind {
    /// Rectangle `0..width` × `0..height`.
    Rect {
        /// Width.
        width: f32,
        /// Height.
        height: f32,
    },
    /// Rectangle `0..width` × `0..height` with circular corners.
    RoundedRect {
        /// Width.
        width: f32,
        /// Height.
        height: f32,
        /// Corner radius (clamped to half the shorter side).
        radius: f32,
    },
    /// Ellipse inscribed in `0..width` × `0..height`.
    Ellipse {
        /// Width.
        width: f32,
        /// Height.
        height: f32,
    },
    /// An arbitrary path, filled with the non-zero rule.
    Path {
        /// The path's segments.
        commands: Vec<PathCommand>,
    },
}

/// One segment of a [`ShapeKind::Path`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PathCommand {
    /// Starts a new subpath.
    MoveTo {
        /// Point.
        x: f32,
        /// Point.
        y: f32,
    },
    /// Straight line.
    LineTo {
        /// End point.
        x: f32,
        /// End point.
        y: f32,
    },
    /// Quadratic Bézier.
    QuadTo {
        /// Control point.
        x1: f32,
        /// Control point.
        y1: f32,
        /// End point.
        x: f32,
        /// End point.
        y: f32,
    },
    /// Cubic Bézier.
    CubicTo {
        /// First control point.
        x1: f32,
        /// First control point.
        y1: f32,
        /// Second control point.
        x2: f32,
        /// Second control point.
        y2: f32,
        /// End point.
        x: f32,
        /// End point.
        y: f32,
    },
    /// Closes the subpath.
    Close,
}

/// An outline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stroke {
    /// Colour.
    pub color: Color,
    /// Line width in content-space units, centred on the outline.
    pub width: f32,
}

/// A blurred, offset copy of the content's silhouette.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shadow {
    /// Horizontal offset (output pixels for effects, content units for text).
    pub dx: f32,
    /// Vertical offset.
    pub dy: f32,
    /// Gaussian standard deviation of the blur, same units as the offset.
    pub blur: f32,
    /// Shadow colour (its alpha scales the silhouette).
    pub color: Color,
}

/// A gradient colour stop.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GradientStop {
    /// Position along the gradient, `0.0..=1.0`.
    pub offset: f32,
    /// Colour at that position.
    pub color: Color,
}

/// A post-processing step applied to an item's layer. Lengths are output pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Effect {
    /// Gaussian blur.
    GaussianBlur {
        /// Standard deviation in output pixels.
        radius: f32,
    },
    /// Box blur (uniform average over a square window of `2·radius + 1` pixels).
    BoxBlur {
        /// Half window in output pixels (rounded to a whole pixel).
        radius: f32,
    },
    /// Colour correction, applied as one colour matrix.
    ColorAdjust {
        /// Added to each channel, `-1.0..=1.0` (0 = unchanged).
        #[serde(default)]
        brightness: f32,
        /// Contrast around mid-grey (1 = unchanged, 0 = flat grey).
        #[serde(default = "one")]
        contrast: f32,
        /// Saturation (1 = unchanged, 0 = greyscale).
        #[serde(default = "one")]
        saturation: f32,
        /// Hue rotation in degrees.
        #[serde(default)]
        hue: f32,
    },
    /// Mixes every pixel's colour towards a colour, keeping its alpha.
    Tint {
        /// Target colour (its alpha is ignored).
        color: Color,
        /// Mix amount, `0.0..=1.0`.
        amount: f32,
    },
    /// A shadow of the layer's silhouette drawn beneath it (offset rounded to whole output
    /// pixels).
    DropShadow(Shadow),
    /// Multiplies the layer's alpha by a mask.
    Mask(Mask),
}

/// An alpha mask, positioned in the item's content space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Mask {
    /// Inside the shape is kept.
    Shape {
        /// The shape, in content space after `transform`.
        kind: ShapeKind,
        /// Mask space → content space.
        #[serde(default)]
        transform: Affine,
        /// Gaussian softening of the mask edge, in output pixels.
        #[serde(default)]
        feather: f32,
        /// Keep the outside instead.
        #[serde(default)]
        invert: bool,
    },
    /// The luminance of an image (times its alpha) is kept.
    Luma {
        /// Asset id of the mask image.
        asset_id: String,
        /// Frame index for a sequence or video.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        frame: Option<u32>,
        /// Mask image space → content space.
        #[serde(default)]
        transform: Affine,
        /// Keep the dark parts instead.
        #[serde(default)]
        invert: bool,
    },
}

/// How a layer combines with the frame beneath it (W3C compositing and blending modes).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BlendMode {
    /// Source over.
    #[default]
    Normal,
    /// Sum of the colours (linear dodge).
    Add,
    /// Product of the colours: darkens.
    Multiply,
    /// Inverse product: lightens.
    Screen,
    /// Multiply or screen depending on the backdrop.
    Overlay,
    /// Per channel minimum.
    Darken,
    /// Per channel maximum.
    Lighten,
    /// Brightens the backdrop towards the source.
    ColorDodge,
    /// Darkens the backdrop towards the source.
    ColorBurn,
    /// Multiply or screen depending on the source.
    HardLight,
    /// Soft version of hard light.
    SoftLight,
    /// Absolute difference.
    Difference,
    /// Like difference, lower contrast.
    Exclusion,
    /// Source hue with backdrop saturation and luminosity.
    Hue,
    /// Source saturation with backdrop hue and luminosity.
    Saturation,
    /// Source hue and saturation with backdrop luminosity.
    Color,
    /// Source luminosity with backdrop hue and saturation.
    Luminosity,
}

impl BlendMode {
    /// Every mode, in declaration order.
    pub const ALL: [BlendMode; 17] = [
        BlendMode::Normal,
        BlendMode::Add,
        BlendMode::Multiply,
        BlendMode::Screen,
        BlendMode::Overlay,
        BlendMode::Darken,
        BlendMode::Lighten,
        BlendMode::ColorDodge,
        BlendMode::ColorBurn,
        BlendMode::HardLight,
        BlendMode::SoftLight,
        BlendMode::Difference,
        BlendMode::Exclusion,
        BlendMode::Hue,
        BlendMode::Saturation,
        BlendMode::Color,
        BlendMode::Luminosity,
    ];
}

/// A non-premultiplied sRGB colour with alpha, 8 bits per channel.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Color {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
    /// Alpha (255 = opaque).
    pub a: u8,
}

impl Color {
    /// Opaque black.
    pub const BLACK: Color = Color::rgb(0, 0, 0);
    /// Opaque white.
    pub const WHITE: Color = Color::rgb(255, 255, 255);
    /// Fully transparent.
    pub const TRANSPARENT: Color = Color::rgba(0, 0, 0, 0);

    /// An opaque colour.
    pub const fn rgb(r: u8, g: u8, b: u8) -> Self {
        Color { r, g, b, a: 255 }
    }

    /// A colour with alpha.
    pub const fn rgba(r: u8, g: u8, b: u8, a: u8) -> Self {
        Color { r, g, b, a }
    }
}

/// A point.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// Horizontal coordinate.
    pub x: f32,
    /// Vertical coordinate.
    pub y: f32,
}

impl Point {
    /// A point.
    pub const fn new(x: f32, y: f32) -> Self {
        Point { x, y }
    }
}

/// An axis-aligned rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rect {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width (a negative width is an empty rectangle).
    pub width: f32,
    /// Height (a negative height is an empty rectangle).
    pub height: f32,
}

impl Rect {
    /// A rectangle from its top-left corner and size.
    pub const fn new(x: f32, y: f32, width: f32, height: f32) -> Self {
        Rect {
            x,
            y,
            width,
            height,
        }
    }
}

/// A 2D affine transform, same layout as tiny-skia's `Transform`:
/// `x' = sx·x + kx·y + tx`, `y' = ky·x + sy·y + ty`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Affine {
    /// Horizontal scale.
    pub sx: f32,
    /// Vertical shear (x contribution to y').
    pub ky: f32,
    /// Horizontal shear (y contribution to x').
    pub kx: f32,
    /// Vertical scale.
    pub sy: f32,
    /// Horizontal translation.
    pub tx: f32,
    /// Vertical translation.
    pub ty: f32,
}

impl Default for Affine {
    fn default() -> Self {
        Affine::IDENTITY
    }
}

impl Affine {
    /// The identity.
    pub const IDENTITY: Affine = Affine {
        sx: 1.0,
        ky: 0.0,
        kx: 0.0,
        sy: 1.0,
        tx: 0.0,
        ty: 0.0,
    };

    /// A translation.
    pub const fn translate(tx: f32, ty: f32) -> Self {
        Affine {
            sx: 1.0,
            ky: 0.0,
            kx: 0.0,
            sy: 1.0,
            tx,
            ty,
        }
    }

    /// A scale about the origin.
    pub const fn scale(sx: f32, sy: f32) -> Self {
        Affine {
            sx,
            ky: 0.0,
            kx: 0.0,
            sy,
            tx: 0.0,
            ty: 0.0,
        }
    }

    /// A rotation about the origin by `degrees` (clockwise on screen, y pointing down).
    /// Uses `libm` so the result is the same on every platform.
    pub fn rotate(degrees: f32) -> Self {
        let radians = f64::from(degrees).to_radians();
        let (sin, cos) = (libm::sin(radians) as f32, libm::cos(radians) as f32);
        Affine {
            sx: cos,
            ky: sin,
            kx: -sin,
            sy: cos,
            tx: 0.0,
            ty: 0.0,
        }
    }

    /// Matrix product `self × other` (applies `other` first).
    pub fn concat(self, other: Affine) -> Affine {
        Affine {
            sx: self.sx * other.sx + self.kx * other.ky,
            ky: self.ky * other.sx + self.sy * other.ky,
            kx: self.sx * other.kx + self.kx * other.sy,
            sy: self.ky * other.kx + self.sy * other.sy,
            tx: self.sx * other.tx + self.kx * other.ty + self.tx,
            ty: self.ky * other.tx + self.sy * other.ty + self.ty,
        }
    }

    /// Maps a point.
    pub fn apply(self, p: Point) -> Point {
        Point {
            x: self.sx * p.x + self.kx * p.y + self.tx,
            y: self.ky * p.x + self.sy * p.y + self.ty,
        }
    }

    /// The inverse, or `None` when the transform is degenerate (zero area).
    pub fn invert(self) -> Option<Affine> {
        let det = f64::from(self.sx) * f64::from(self.sy) - f64::from(self.kx) * f64::from(self.ky);
        if det.abs() < 1e-12 || !det.is_finite() {
            return None;
        }
        let inv = 1.0 / det;
        let (sx, ky, kx, sy) = (
            f64::from(self.sx),
            f64::from(self.ky),
            f64::from(self.kx),
            f64::from(self.sy),
        );
        let (tx, ty) = (f64::from(self.tx), f64::from(self.ty));
        Some(Affine {
            sx: (sy * inv) as f32,
            ky: (-ky * inv) as f32,
            kx: (-kx * inv) as f32,
            sy: (sx * inv) as f32,
            tx: ((kx * ty - sy * tx) * inv) as f32,
            ty: ((ky * tx - sx * ty) * inv) as f32,
        })
    }

    /// True when the transform only scales and translates (no rotation or shear).
    pub fn is_axis_aligned(self) -> bool {
        self.kx == 0.0 && self.ky == 0.0
    }

    /// True when every component is a finite number.
    pub fn is_finite(self) -> bool {
        [self.sx, self.ky, self.kx, self.sy, self.tx, self.ty]
            .iter()
            .all(|v| v.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_uses_tagged_snake_case() {
        let mut list = DisplayList::new(1920, 1080, Color::BLACK);
        let mut item = DisplayItem::new(
            "clip_1",
            Content::Image {
                asset_id: "ast_x".into(),
                frame: None,
                width: 10,
                height: 20,
            },
        );
        item.effects.push(Effect::GaussianBlur { radius: 2.0 });
        item.blend = BlendMode::SoftLight;
        list.items.push(item);
        let json = serde_json::to_string(&list).unwrap();
        assert!(json.contains(r#""type":"image""#), "{json}");
        assert!(json.contains(r#""type":"gaussian_blur""#), "{json}");
        assert!(json.contains(r#""soft_light""#), "{json}");
        let back: DisplayList = serde_json::from_str(&json).unwrap();
        assert_eq!(back, list);
    }

    #[test]
    fn affine_inverse_round_trips() {
        let t = Affine::translate(10.0, -4.0)
            .concat(Affine::rotate(30.0))
            .concat(Affine::scale(2.0, 0.5));
        let inv = t.invert().unwrap();
        let p = Point::new(3.0, 7.0);
        let q = inv.apply(t.apply(p));
        assert!((q.x - p.x).abs() < 1e-4 && (q.y - p.y).abs() < 1e-4);
        assert!(Affine::scale(0.0, 1.0).invert().is_none());
    }
}
