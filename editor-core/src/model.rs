//! The timeline data model: project settings, tracks, clips, sources, animatable parameters,
//! effects, transitions and markers.
//!
//! Everything here is plain data with serde and JSON Schema derives. Mutations go through
//! [`crate::command::apply`], which keeps the invariants checked by [`Timeline::validate`]:
//! well-formed unique ids, clips sorted by `(start, id)` on each track, no overlaps on tracks that
//! forbid them, every number finite and in range.
//!
//! Time is counted in frames of the project's frame rate. Clip `start`/`duration` are timeline
//! frames; keyframe frames are relative to their clip's start (so moving a clip moves its
//! animation), and trimming a clip's head shifts them so the animation stays attached to the
//! content.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::display::{BlendMode, Color, GradientStop, Point, Shadow, ShapeKind, Stroke, TextAlign};
use crate::easing::Easing;
use crate::error::CommandError;
use crate::ids::{ClipId, EffectId, KeyframeId, MarkerId, TrackId};

/// Largest frame number (and duration) a timeline may use: about 2 years at 30 fps, far beyond
/// any edit, while keeping every frame exactly representable as `f64` and `i64`.
pub const MAX_FRAME: u64 = 2_000_000_000;

/// Longest accepted text field (names, labels, text clip contents), in bytes.
pub const MAX_TEXT_LEN: usize = 100_000;

/// A rational number, used for frame rates (`30000/1001` for 29.97 fps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rational {
    /// Numerator (> 0).
    pub num: u32,
    /// Denominator (> 0).
    pub den: u32,
}

impl Rational {
    /// A rational `num / den`.
    pub const fn new(num: u32, den: u32) -> Self {
        Rational { num, den }
    }

    /// The value as a float (0 when the denominator is 0).
    pub fn as_f64(self) -> f64 {
        if self.den == 0 {
            0.0
        } else {
            f64::from(self.num) / f64::from(self.den)
        }
    }

    fn problem(self) -> Option<&'static str> {
        if self.num == 0 || self.den == 0 {
            Some("numerator and denominator must be positive")
        } else if self.as_f64() > 1000.0 || self.as_f64() < 0.01 {
            Some("frame rate must be between 0.01 and 1000 frames per second")
        } else {
            None
        }
    }
}

/// Output format of the project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectSettings {
    /// Frame width in pixels, `1..=16384`.
    pub width: u32,
    /// Frame height in pixels, `1..=16384`.
    pub height: u32,
    /// Frames per second, as a rational.
    pub frame_rate: Rational,
    /// Colour behind every track.
    #[serde(default = "default_background")]
    pub background: Color,
}

fn default_background() -> Color {
    Color::BLACK
}

impl ProjectSettings {
    /// Settings with a black background.
    pub fn new(width: u32, height: u32, frame_rate: Rational) -> Self {
        ProjectSettings {
            width,
            height,
            frame_rate,
            background: Color::BLACK,
        }
    }

    /// Seconds per frame.
    pub fn frame_seconds(&self) -> f64 {
        let fps = self.frame_rate.as_f64();
        if fps > 0.0 {
            1.0 / fps
        } else {
            0.0
        }
    }

    pub(crate) fn validate(&self) -> Result<(), CommandError> {
        for (field, value) in [
            ("settings.width", self.width),
            ("settings.height", self.height),
        ] {
            if !(1..=16384).contains(&value) {
                return Err(CommandError::invalid(field, "must be between 1 and 16384"));
            }
        }
        if let Some(problem) = self.frame_rate.problem() {
            return Err(CommandError::invalid("settings.frame_rate", problem));
        }
        Ok(())
    }
}

/// The whole edit: settings, tracks bottom to top, and markers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Timeline {
    /// Output format.
    pub settings: ProjectSettings,
    /// Tracks, bottom (painted first) to top.
    #[serde(default)]
    pub tracks: Vec<Track>,
    /// Markers, sorted by `(frame, id)`.
    #[serde(default)]
    pub markers: Vec<Marker>,
}

/// What a track holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrackKind {
    /// Pictures: images, sequences, colours, gradients, shapes and text.
    Video,
    /// Same contents as video; a separate kind so editors can show graphics apart from footage.
    Overlay,
    /// Audio clips only.
    Audio,
    /// Text clips only.
    Text,
}

impl TrackKind {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            TrackKind::Video => "video",
            TrackKind::Overlay => "overlay",
            TrackKind::Audio => "audio",
            TrackKind::Text => "text",
        }
    }

    /// Whether a clip with this source may live on a track of this kind.
    pub fn accepts(self, source: &Source) -> bool {
        match self {
            TrackKind::Audio => matches!(source, Source::Audio { .. }),
            TrackKind::Text => matches!(source, Source::Text { .. }),
            TrackKind::Video | TrackKind::Overlay => !matches!(source, Source::Audio { .. }),
        }
    }
}

/// A layer of clips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Track {
    /// Unique id (`trk_…`).
    pub id: TrackId,
    /// What the track holds. Fixed once created.
    pub kind: TrackKind,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Silences the track's audio.
    #[serde(default)]
    pub muted: bool,
    /// Hides the track's pictures.
    #[serde(default)]
    pub hidden: bool,
    /// Refuses every edit to the track and its clips until unlocked.
    #[serde(default)]
    pub locked: bool,
    /// Multiplies the opacity of every clip on the track, `0.0..=1.0`.
    #[serde(default = "one")]
    pub opacity: f64,
    /// Blend mode of clips on this track whose own blend mode is `normal`.
    #[serde(default)]
    pub blend_mode: BlendMode,
    /// Lets clips on this track overlap in time (later-starting clips paint on top).
    #[serde(default)]
    pub allow_overlap: bool,
    /// Clips sorted by `(start, id)`.
    #[serde(default)]
    pub clips: Vec<Clip>,
}

impl Track {
    /// An empty, visible, unlocked track.
    pub fn new(id: TrackId, kind: TrackKind) -> Self {
        Track {
            id,
            kind,
            name: String::new(),
            muted: false,
            hidden: false,
            locked: false,
            opacity: 1.0,
            blend_mode: BlendMode::Normal,
            allow_overlap: false,
            clips: Vec::new(),
        }
    }

    /// The clip with this id, if it is on this track.
    pub fn clip(&self, id: &ClipId) -> Option<&Clip> {
        self.clips.iter().find(|clip| &clip.id == id)
    }
}

fn one() -> f64 {
    1.0
}

fn param_one() -> Param {
    Param::constant(1.0)
}

/// How an image's pixels map into the frame before the clip transform applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    /// One image pixel is one project pixel, top-left at the origin.
    #[default]
    Native,
    /// Stretched to exactly the frame size.
    Stretch,
    /// Scaled uniformly to fit inside the frame, centred (letterboxed).
    Contain,
    /// Scaled uniformly to cover the frame, centred (edges cropped by the frame).
    Cover,
}

/// What a clip shows or plays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Source {
    /// A still image asset.
    Image {
        /// Asset id (`ast_…`) the host resolves to decoded pixels.
        asset_id: String,
        /// Pixel width of the image.
        width: u32,
        /// Pixel height of the image.
        height: u32,
        /// How the image maps into the frame.
        #[serde(default)]
        fit: Fit,
    },
    /// Numbered frames supplied by the host: an image sequence or decoded video.
    ImageSequence {
        /// Asset id (`ast_…`).
        asset_id: String,
        /// Pixel width of each frame.
        width: u32,
        /// Pixel height of each frame.
        height: u32,
        /// How frames map into the frame.
        #[serde(default)]
        fit: Fit,
        /// Frame rate of the source; the project rate when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        frame_rate: Option<Rational>,
        /// Number of frames, when known; later source frames hold the last one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        frame_count: Option<u64>,
    },
    /// A colour filling the whole frame.
    Solid {
        /// The colour.
        color: Color,
    },
    /// A linear gradient filling a rectangle (the whole frame by default).
    LinearGradient {
        /// Rectangle width in project pixels; the frame width when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        width: Option<f64>,
        /// Rectangle height in project pixels; the frame height when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        height: Option<f64>,
        /// Where offset 0 lies, in content pixels.
        start: Point,
        /// Where offset 1 lies, in content pixels.
        end: Point,
        /// Colour stops, offsets non-decreasing in `0..=1`.
        stops: Vec<GradientStop>,
    },
    /// A radial gradient filling a rectangle (the whole frame by default).
    RadialGradient {
        /// Rectangle width in project pixels; the frame width when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        width: Option<f64>,
        /// Rectangle height in project pixels; the frame height when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        height: Option<f64>,
        /// Centre (offset 0), in content pixels.
        center: Point,
        /// Distance from the centre where offset 1 lies (> 0).
        radius: f64,
        /// Colour stops, offsets non-decreasing in `0..=1`.
        stops: Vec<GradientStop>,
    },
    /// A vector shape: rect, rounded rect, ellipse or path.
    Shape {
        /// Geometry in content pixels.
        shape: ShapeKind,
        /// Interior colour; none for an outline only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fill: Option<Color>,
        /// Outline; none for no outline.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stroke: Option<Stroke>,
    },
    /// Text set in the embedded sans-serif font.
    Text {
        /// The text; `\n` starts a new line.
        text: String,
        /// Em size in project pixels (> 0).
        font_size: f64,
        /// Glyph colour.
        color: Color,
        /// Bold weight instead of regular.
        #[serde(default)]
        bold: bool,
        /// Alignment of each line within the box.
        #[serde(default)]
        align: TextAlign,
        /// Box width: lines wrap at word boundaries to fit it. Without a box lines never wrap.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        box_width: Option<f64>,
        /// Distance between baselines as a multiple of the font size.
        #[serde(default = "default_line_height")]
        line_height: f64,
        /// Outline over the glyphs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stroke: Option<Stroke>,
        /// Shadow beneath the glyphs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shadow: Option<Shadow>,
    },
    /// An audio asset whose decoded PCM the host supplies.
    Audio {
        /// Asset id (`ast_…`).
        asset_id: String,
    },
}

fn default_line_height() -> f64 {
    1.2
}

impl Source {
    /// The snake_case name of the source type.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Source::Image { .. } => "image",
            Source::ImageSequence { .. } => "image_sequence",
            Source::Solid { .. } => "solid",
            Source::LinearGradient { .. } => "linear_gradient",
            Source::RadialGradient { .. } => "radial_gradient",
            Source::Shape { .. } => "shape",
            Source::Text { .. } => "text",
            Source::Audio { .. } => "audio",
        }
    }

    /// Whether the source has a bounded timeline of its own (so its in-point cannot go negative).
    pub fn is_timed(&self) -> bool {
        matches!(self, Source::ImageSequence { .. } | Source::Audio { .. })
    }

    fn validate(&self) -> Result<(), CommandError> {
        let field = "clip.source";
        let finite = |name: &str, v: f64, limit: f64| {
            if v.is_finite() && v.abs() <= limit {
                Ok(())
            } else {
                Err(CommandError::invalid(
                    format!("{field}.{name}"),
                    format!("must be a finite number within ±{limit}"),
                ))
            }
        };
        let positive_size = |name: &str, v: Option<f64>| match v {
            Some(v) if !(v.is_finite() && v > 0.0 && v <= 1e6) => Err(CommandError::invalid(
                format!("{field}.{name}"),
                "must be in (0, 1e6]",
            )),
            _ => Ok(()),
        };
        match self {
            Source::Image {
                asset_id,
                width,
                height,
                ..
            }
            | Source::ImageSequence {
                asset_id,
                width,
                height,
                ..
            } => {
                validate_asset_id(asset_id)?;
                if *width == 0 || *height == 0 || *width > 65_536 || *height > 65_536 {
                    return Err(CommandError::invalid(
                        format!("{field}.width/height"),
                        "image dimensions must be between 1 and 65536",
                    ));
                }
                if let Source::ImageSequence { frame_rate, .. } = self {
                    if let Some(problem) = frame_rate.and_then(Rational::problem) {
                        return Err(CommandError::invalid(
                            format!("{field}.frame_rate"),
                            problem,
                        ));
                    }
                }
            }
            Source::Solid { .. } => {}
            Source::LinearGradient {
                width,
                height,
                start,
                end,
                stops,
            } => {
                positive_size("width", *width)?;
                positive_size("height", *height)?;
                for (name, v) in [("start", start), ("end", end)] {
                    finite(name, f64::from(v.x), 1e6)?;
                    finite(name, f64::from(v.y), 1e6)?;
                }
                validate_stops(stops)?;
            }
            Source::RadialGradient {
                width,
                height,
                center,
                radius,
                stops,
            } => {
                positive_size("width", *width)?;
                positive_size("height", *height)?;
                finite("center", f64::from(center.x), 1e6)?;
                finite("center", f64::from(center.y), 1e6)?;
                if !(radius.is_finite() && *radius > 0.0 && *radius <= 1e6) {
                    return Err(CommandError::invalid(
                        format!("{field}.radius"),
                        "must be in (0, 1e6]",
                    ));
                }
                validate_stops(stops)?;
            }
            Source::Shape { shape, stroke, .. } => {
                validate_shape(shape, "clip.source.shape")?;
                if let Some(stroke) = stroke {
                    validate_stroke(stroke, "clip.source.stroke")?;
                }
            }
            Source::Text {
                text,
                font_size,
                box_width,
                line_height,
                stroke,
                shadow,
                ..
            } => {
                if text.len() > MAX_TEXT_LEN {
                    return Err(CommandError::invalid(
                        format!("{field}.text"),
                        format!("longer than {MAX_TEXT_LEN} bytes"),
                    ));
                }
                if !(font_size.is_finite() && *font_size > 0.0 && *font_size <= 10_000.0) {
                    return Err(CommandError::invalid(
                        format!("{field}.font_size"),
                        "must be in (0, 10000]",
                    ));
                }
                positive_size("box_width", *box_width)?;
                if !(line_height.is_finite() && *line_height > 0.0 && *line_height <= 10.0) {
                    return Err(CommandError::invalid(
                        format!("{field}.line_height"),
                        "must be in (0, 10]",
                    ));
                }
                if let Some(stroke) = stroke {
                    validate_stroke(stroke, "clip.source.stroke")?;
                }
                if let Some(shadow) = shadow {
                    finite("shadow.dx", f64::from(shadow.dx), 1e4)?;
                    finite("shadow.dy", f64::from(shadow.dy), 1e4)?;
                    if !(shadow.blur.is_finite() && (0.0..=500.0).contains(&shadow.blur)) {
                        return Err(CommandError::invalid(
                            format!("{field}.shadow.blur"),
                            "must be in 0..=500",
                        ));
                    }
                }
            }
            Source::Audio { asset_id } => validate_asset_id(asset_id)?,
        }
        Ok(())
    }
}

fn validate_asset_id(asset_id: &str) -> Result<(), CommandError> {
    let ok = asset_id.len() <= 256
        && asset_id.strip_prefix("ast_").is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(CommandError::invalid(
            "clip.source.asset_id",
            format!(
                "`{asset_id}` is not an asset id (`ast_` followed by letters, digits, `_` or `-`)"
            ),
        ))
    }
}

fn validate_stops(stops: &[GradientStop]) -> Result<(), CommandError> {
    if stops.is_empty() || stops.len() > 64 {
        return Err(CommandError::invalid(
            "clip.source.stops",
            "a gradient needs between 1 and 64 stops",
        ));
    }
    let mut previous = 0.0f32;
    for stop in stops {
        if !(stop.offset.is_finite() && (0.0..=1.0).contains(&stop.offset))
            || stop.offset < previous
        {
            return Err(CommandError::invalid(
                "clip.source.stops",
                "offsets must be non-decreasing within 0..=1",
            ));
        }
        previous = stop.offset;
    }
    Ok(())
}

fn validate_stroke(stroke: &Stroke, field: &str) -> Result<(), CommandError> {
    if stroke.width.is_finite() && (0.0..=1000.0).contains(&stroke.width) {
        Ok(())
    } else {
        Err(CommandError::invalid(
            format!("{field}.width"),
            "must be in 0..=1000",
        ))
    }
}

pub(crate) fn validate_shape(shape: &ShapeKind, field: &str) -> Result<(), CommandError> {
    let size_ok = |v: f32| v.is_finite() && (0.0..=1e6).contains(&v);
    let ok = match shape {
        ShapeKind::Rect { width, height } | ShapeKind::Ellipse { width, height } => {
            size_ok(*width) && size_ok(*height)
        }
        ShapeKind::RoundedRect {
            width,
            height,
            radius,
        } => size_ok(*width) && size_ok(*height) && size_ok(*radius),
        ShapeKind::Path { commands } => {
            use crate::display::PathCommand;
            commands.len() <= 100_000
                && commands.iter().all(|command| {
                    let coordinates: &[f32] = match command {
                        PathCommand::MoveTo { x, y } | PathCommand::LineTo { x, y } => &[*x, *y],
                        PathCommand::QuadTo { x1, y1, x, y } => &[*x1, *y1, *x, *y],
                        PathCommand::CubicTo {
                            x1,
                            y1,
                            x2,
                            y2,
                            x,
                            y,
                        } => &[*x1, *y1, *x2, *y2, *x, *y],
                        PathCommand::Close => &[],
                    };
                    coordinates.iter().all(|v| v.is_finite() && v.abs() <= 1e6)
                })
        }
    };
    if ok {
        Ok(())
    } else {
        Err(CommandError::invalid(
            field,
            "sizes must be finite within 0..=1e6 and path coordinates within ±1e6",
        ))
    }
}

/// One keyframe of an animatable parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Keyframe {
    /// Unique within its clip (`kf_…`).
    pub id: KeyframeId,
    /// Frame relative to the clip's start (may be negative or past the clip's end).
    pub frame: i64,
    /// Value at that frame.
    pub value: f64,
    /// Curve from this keyframe to the next one.
    #[serde(default)]
    pub easing: Easing,
}

/// An animatable number: a base value, or keyframes when there are any.
///
/// Written as a bare number when it has no keyframes (`"opacity": 0.5`), otherwise as
/// `{"value": 0.5, "keyframes": [...]}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(from = "ParamRepr", into = "ParamRepr")]
pub struct Param {
    /// Used while there are no keyframes.
    pub value: f64,
    /// Sorted by frame, at most one per frame.
    pub keyframes: Vec<Keyframe>,
}

/// Wire form of [`Param`].
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
enum ParamRepr {
    /// A constant.
    Constant(f64),
    /// A base value with keyframes.
    Animated {
        /// Used while there are no keyframes.
        value: f64,
        /// Keyframes sorted by frame.
        #[serde(default)]
        keyframes: Vec<Keyframe>,
    },
}

impl From<ParamRepr> for Param {
    fn from(repr: ParamRepr) -> Self {
        match repr {
            ParamRepr::Constant(value) => Param::constant(value),
            ParamRepr::Animated { value, keyframes } => Param { value, keyframes },
        }
    }
}

impl From<Param> for ParamRepr {
    fn from(param: Param) -> Self {
        if param.keyframes.is_empty() {
            ParamRepr::Constant(param.value)
        } else {
            ParamRepr::Animated {
                value: param.value,
                keyframes: param.keyframes,
            }
        }
    }
}

impl Param {
    /// A value without keyframes.
    pub fn constant(value: f64) -> Self {
        Param {
            value,
            keyframes: Vec::new(),
        }
    }

    /// The value at a (possibly fractional) frame relative to the clip start.
    ///
    /// Before the first keyframe and after the last one the value holds. `frame_seconds` is the
    /// duration of one frame, which springs need to run in real time.
    pub fn value_at(&self, frame: f64, frame_seconds: f64) -> f64 {
        let (Some(first), Some(last)) = (self.keyframes.first(), self.keyframes.last()) else {
            return self.value;
        };
        if frame <= first.frame as f64 {
            return first.value;
        }
        if frame >= last.frame as f64 {
            return last.value;
        }
        // The first keyframe strictly after `frame`; its predecessor starts the segment.
        let next = self.keyframes.partition_point(|k| k.frame as f64 <= frame);
        let (from, to) = (&self.keyframes[next - 1], &self.keyframes[next]);
        let span = (to.frame - from.frame) as f64;
        let t = (frame - from.frame as f64) / span;
        let eased = from.easing.apply(t, span * frame_seconds);
        from.value + (to.value - from.value) * eased
    }

    /// Index of the keyframe with this id.
    pub fn keyframe_index(&self, id: &KeyframeId) -> Option<usize> {
        self.keyframes.iter().position(|k| &k.id == id)
    }

    /// Re-sorts keyframes by frame (the invariant every mutation restores).
    pub(crate) fn sort(&mut self) {
        self.keyframes.sort_by_key(|k| k.frame);
    }
}

/// Position, scale, rotation and anchor of a clip's content. The content's anchor point (in
/// content pixels) is placed at `position` (project pixels); scale and rotation happen about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Transform {
    /// Horizontal position of the anchor, project pixels from the left edge.
    pub position_x: Param,
    /// Vertical position of the anchor, project pixels from the top edge.
    pub position_y: Param,
    /// Horizontal scale (1 = natural size, negative flips).
    pub scale_x: Param,
    /// Vertical scale (1 = natural size, negative flips).
    pub scale_y: Param,
    /// Clockwise rotation in degrees.
    pub rotation: Param,
    /// Anchor x in content pixels (after the source's fit).
    pub anchor_x: Param,
    /// Anchor y in content pixels (after the source's fit).
    pub anchor_y: Param,
}

impl Default for Transform {
    fn default() -> Self {
        Transform {
            position_x: Param::constant(0.0),
            position_y: Param::constant(0.0),
            scale_x: Param::constant(1.0),
            scale_y: Param::constant(1.0),
            rotation: Param::constant(0.0),
            anchor_x: Param::constant(0.0),
            anchor_y: Param::constant(0.0),
        }
    }
}

/// Fractions of the content cut away from each edge, `0.0..=1.0`. Text content is never cropped.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Crop {
    /// Fraction of the width removed on the left.
    pub left: Param,
    /// Fraction of the height removed at the top.
    pub top: Param,
    /// Fraction of the width removed on the right.
    pub right: Param,
    /// Fraction of the height removed at the bottom.
    pub bottom: Param,
}

/// Something placed on a track for a span of frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Clip {
    /// Unique within the timeline (`clp_…`).
    pub id: ClipId,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// First timeline frame.
    pub start: u64,
    /// Length in timeline frames (≥ 1). The clip covers `start..start + duration`.
    pub duration: u64,
    /// Source position at the clip's first frame, in project frames of source time (≥ 0).
    /// Meaningful for image sequences and audio; kept at 0 for stills.
    #[serde(default)]
    pub source_in: f64,
    /// Playback speed of timed sources (1 = normal, 2 = twice as fast), `0.01..=100`.
    #[serde(default = "one")]
    pub speed: f64,
    /// What the clip shows or plays.
    pub source: Source,
    /// Placement of the content.
    #[serde(default)]
    pub transform: Transform,
    /// Opacity, `0.0..=1.0`.
    #[serde(default = "param_one")]
    pub opacity: Param,
    /// Edge crop.
    #[serde(default)]
    pub crop: Crop,
    /// Blend mode; `normal` defers to the track's blend mode.
    #[serde(default)]
    pub blend_mode: BlendMode,
    /// Audio gain in decibels, `-96.0..=24.0` (audio clips).
    #[serde(default)]
    pub gain_db: Param,
    /// Audio fade-in length in frames from the clip's start.
    #[serde(default)]
    pub fade_in: u64,
    /// Audio fade-out length in frames before the clip's end.
    #[serde(default)]
    pub fade_out: u64,
    /// Effects applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<Effect>,
    /// Transition into the clip that starts exactly where this one ends on the same track.
    /// Inert while no clip starts there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<Transition>,
}

impl Clip {
    /// A clip with default transform, full opacity and no effects.
    pub fn new(id: ClipId, start: u64, duration: u64, source: Source) -> Self {
        Clip {
            id,
            name: String::new(),
            start,
            duration,
            source_in: 0.0,
            speed: 1.0,
            source,
            transform: Transform::default(),
            opacity: Param::constant(1.0),
            crop: Crop::default(),
            blend_mode: BlendMode::Normal,
            gain_db: Param::constant(0.0),
            fade_in: 0,
            fade_out: 0,
            effects: Vec::new(),
            transition: None,
        }
    }

    /// The first frame after the clip.
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.duration)
    }

    /// Index of the effect with this id.
    pub fn effect_index(&self, id: &EffectId) -> Option<usize> {
        self.effects.iter().position(|e| &e.id == id)
    }

    /// The parameter a property names, if the clip has it.
    pub fn param(&self, property: &Property) -> Option<&Param> {
        Some(match property {
            Property::PositionX => &self.transform.position_x,
            Property::PositionY => &self.transform.position_y,
            Property::ScaleX => &self.transform.scale_x,
            Property::ScaleY => &self.transform.scale_y,
            Property::Rotation => &self.transform.rotation,
            Property::AnchorX => &self.transform.anchor_x,
            Property::AnchorY => &self.transform.anchor_y,
            Property::Opacity => &self.opacity,
            Property::CropLeft => &self.crop.left,
            Property::CropTop => &self.crop.top,
            Property::CropRight => &self.crop.right,
            Property::CropBottom => &self.crop.bottom,
            Property::GainDb => &self.gain_db,
            Property::Effect { effect_id, param } => {
                let index = self.effect_index(effect_id)?;
                return self.effects[index].kind.param(param);
            }
        })
    }

    /// Mutable access to the parameter a property names.
    pub fn param_mut(&mut self, property: &Property) -> Option<&mut Param> {
        Some(match property {
            Property::PositionX => &mut self.transform.position_x,
            Property::PositionY => &mut self.transform.position_y,
            Property::ScaleX => &mut self.transform.scale_x,
            Property::ScaleY => &mut self.transform.scale_y,
            Property::Rotation => &mut self.transform.rotation,
            Property::AnchorX => &mut self.transform.anchor_x,
            Property::AnchorY => &mut self.transform.anchor_y,
            Property::Opacity => &mut self.opacity,
            Property::CropLeft => &mut self.crop.left,
            Property::CropTop => &mut self.crop.top,
            Property::CropRight => &mut self.crop.right,
            Property::CropBottom => &mut self.crop.bottom,
            Property::GainDb => &mut self.gain_db,
            Property::Effect { effect_id, param } => {
                let index = self.effect_index(effect_id)?;
                return self.effects[index].kind.param_mut(param);
            }
        })
    }

    /// Every animatable parameter with the property that names it.
    pub fn params(&self) -> Vec<(Property, &Param)> {
        let mut params = vec![
            (Property::PositionX, &self.transform.position_x),
            (Property::PositionY, &self.transform.position_y),
            (Property::ScaleX, &self.transform.scale_x),
            (Property::ScaleY, &self.transform.scale_y),
            (Property::Rotation, &self.transform.rotation),
            (Property::AnchorX, &self.transform.anchor_x),
            (Property::AnchorY, &self.transform.anchor_y),
            (Property::Opacity, &self.opacity),
            (Property::CropLeft, &self.crop.left),
            (Property::CropTop, &self.crop.top),
            (Property::CropRight, &self.crop.right),
            (Property::CropBottom, &self.crop.bottom),
            (Property::GainDb, &self.gain_db),
        ];
        for effect in &self.effects {
            for (name, param) in effect.kind.params() {
                params.push((
                    Property::Effect {
                        effect_id: effect.id.clone(),
                        param: name.to_owned(),
                    },
                    param,
                ));
            }
        }
        params
    }

    /// Finds a keyframe by id: the property it animates and its index there.
    pub fn find_keyframe(&self, id: &KeyframeId) -> Option<(Property, usize)> {
        self.params()
            .into_iter()
            .find_map(|(property, param)| param.keyframe_index(id).map(|i| (property, i)))
    }

    /// Shifts every keyframe by `delta` frames (keeps animation attached to the content when the
    /// clip's head moves relative to it).
    pub(crate) fn shift_keyframes(&mut self, delta: i64) {
        let properties: Vec<Property> = self.params().into_iter().map(|(p, _)| p).collect();
        for property in properties {
            if let Some(param) = self.param_mut(&property) {
                for keyframe in &mut param.keyframes {
                    keyframe.frame = keyframe.frame.saturating_add(delta);
                }
            }
        }
    }

    /// Checks everything about the clip that does not depend on its neighbours.
    pub fn validate(&self) -> Result<(), CommandError> {
        self.id.validate()?;
        if self.name.len() > MAX_TEXT_LEN {
            return Err(CommandError::invalid("clip.name", "too long"));
        }
        if self.duration == 0 {
            return Err(CommandError::InvalidDuration {
                field: "clip.duration".into(),
            });
        }
        check_frame("clip.start", self.start)?;
        check_frame("clip.duration", self.duration)?;
        check_frame("clip end (start + duration)", self.start + self.duration)?;
        if !(self.source_in.is_finite() && (0.0..=MAX_FRAME as f64).contains(&self.source_in)) {
            return Err(CommandError::invalid(
                "clip.source_in",
                format!("must be within 0..={MAX_FRAME}"),
            ));
        }
        if !(self.speed.is_finite() && (0.01..=100.0).contains(&self.speed)) {
            return Err(CommandError::invalid(
                "clip.speed",
                "must be within 0.01..=100",
            ));
        }
        check_frame("clip.fade_in", self.fade_in)?;
        check_frame("clip.fade_out", self.fade_out)?;
        self.source.validate()?;
        let mut effect_ids: Vec<&EffectId> = Vec::with_capacity(self.effects.len());
        for effect in &self.effects {
            effect.id.validate()?;
            if effect_ids.contains(&&effect.id) {
                return Err(CommandError::DuplicateId {
                    id: effect.id.to_string(),
                });
            }
            effect_ids.push(&effect.id);
            effect.kind.validate()?;
        }
        let mut keyframe_ids: Vec<&KeyframeId> = Vec::new();
        for (property, param) in self.params() {
            validate_param(&property, param)?;
            for keyframe in &param.keyframes {
                if keyframe_ids.contains(&&keyframe.id) {
                    return Err(CommandError::DuplicateId {
                        id: keyframe.id.to_string(),
                    });
                }
                keyframe_ids.push(&keyframe.id);
            }
        }
        if let Some(transition) = &self.transition {
            transition.validate()?;
        }
        Ok(())
    }
}

pub(crate) fn check_frame(field: &str, frame: u64) -> Result<(), CommandError> {
    if frame <= MAX_FRAME {
        Ok(())
    } else {
        Err(CommandError::FrameOutOfRange {
            field: field.into(),
            frame: i64::try_from(frame).unwrap_or(i64::MAX),
            min: 0,
            max: MAX_FRAME as i64,
        })
    }
}

pub(crate) fn check_relative_frame(field: &str, frame: i64) -> Result<(), CommandError> {
    let max = MAX_FRAME as i64;
    if (-max..=max).contains(&frame) {
        Ok(())
    } else {
        Err(CommandError::FrameOutOfRange {
            field: field.into(),
            frame,
            min: -max,
            max,
        })
    }
}

/// Checks a value for a property against its allowed range.
pub(crate) fn check_value(property: &Property, value: f64) -> Result<(), CommandError> {
    let (min, max) = property.range();
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(CommandError::invalid(
            property.to_string(),
            format!("{value} is outside {min}..={max}"),
        ))
    }
}

fn validate_param(property: &Property, param: &Param) -> Result<(), CommandError> {
    check_value(property, param.value)?;
    let mut previous: Option<i64> = None;
    for keyframe in &param.keyframes {
        keyframe.id.validate()?;
        check_relative_frame("keyframe.frame", keyframe.frame)?;
        check_value(property, keyframe.value)?;
        if let Some(problem) = keyframe.easing.problem() {
            return Err(CommandError::invalid("keyframe.easing", problem));
        }
        match previous {
            Some(previous) if previous == keyframe.frame => {
                return Err(CommandError::KeyframeConflict {
                    property: property.to_string(),
                    frame: keyframe.frame,
                })
            }
            Some(previous) if previous > keyframe.frame => {
                return Err(CommandError::invalid(
                    property.to_string(),
                    "keyframes must be sorted by frame",
                ))
            }
            _ => {}
        }
        previous = Some(keyframe.frame);
    }
    Ok(())
}

/// Names one animatable parameter of a clip.
///
/// Written as a string for clip properties (`"opacity"`, `"position_x"`) and as
/// `{"effect": {"effect_id": "fx_…", "param": "radius"}}` for an effect's parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Property {
    /// `transform.position_x`.
    PositionX,
    /// `transform.position_y`.
    PositionY,
    /// `transform.scale_x`.
    ScaleX,
    /// `transform.scale_y`.
    ScaleY,
    /// `transform.rotation`.
    Rotation,
    /// `transform.anchor_x`.
    AnchorX,
    /// `transform.anchor_y`.
    AnchorY,
    /// `opacity`.
    Opacity,
    /// `crop.left`.
    CropLeft,
    /// `crop.top`.
    CropTop,
    /// `crop.right`.
    CropRight,
    /// `crop.bottom`.
    CropBottom,
    /// `gain_db`.
    GainDb,
    /// A numeric parameter of one of the clip's effects.
    Effect {
        /// The effect.
        effect_id: EffectId,
        /// Parameter name, as in the effect's JSON (`radius`, `amount`, `offset_x`…).
        param: String,
    },
}

impl Property {
    /// Allowed values (inclusive). Eased values that overshoot are clamped to it when evaluated.
    pub fn range(&self) -> (f64, f64) {
        match self {
            Property::PositionX | Property::PositionY | Property::AnchorX | Property::AnchorY => {
                (-1e6, 1e6)
            }
            Property::ScaleX | Property::ScaleY => (-1e4, 1e4),
            Property::Rotation => (-1e6, 1e6),
            Property::Opacity
            | Property::CropLeft
            | Property::CropTop
            | Property::CropRight
            | Property::CropBottom => (0.0, 1.0),
            Property::GainDb => (-96.0, 24.0),
            Property::Effect { param, .. } => effect_param_range(param),
        }
    }
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Property::PositionX => "position_x",
            Property::PositionY => "position_y",
            Property::ScaleX => "scale_x",
            Property::ScaleY => "scale_y",
            Property::Rotation => "rotation",
            Property::AnchorX => "anchor_x",
            Property::AnchorY => "anchor_y",
            Property::Opacity => "opacity",
            Property::CropLeft => "crop_left",
            Property::CropTop => "crop_top",
            Property::CropRight => "crop_right",
            Property::CropBottom => "crop_bottom",
            Property::GainDb => "gain_db",
            Property::Effect { effect_id, param } => {
                return write!(f, "effect {effect_id}.{param}");
            }
        };
        f.write_str(name)
    }
}

fn effect_param_range(param: &str) -> (f64, f64) {
    match param {
        "radius" | "blur" | "feather" => (0.0, 500.0),
        "brightness" => (-1.0, 1.0),
        "contrast" | "saturation" => (0.0, 10.0),
        "hue" => (-1e6, 1e6),
        "amount" | "opacity" => (0.0, 1.0),
        "offset_x" | "offset_y" => (-1e4, 1e4),
        _ => (-1e6, 1e6),
    }
}

/// One entry of a clip's effect stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Effect {
    /// Unique within its clip (`fx_…`).
    pub id: EffectId,
    /// Disabled effects are kept but not applied.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// What the effect does and its parameters.
    pub kind: EffectKind,
}

fn yes() -> bool {
    true
}

/// An effect and its parameters. Lengths are project pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EffectKind {
    /// Gaussian blur.
    GaussianBlur {
        /// Standard deviation, `0..=500`.
        radius: Param,
    },
    /// Box blur.
    BoxBlur {
        /// Half window, `0..=500`.
        radius: Param,
    },
    /// Brightness, contrast, saturation and hue in one colour matrix.
    ColorAdjust {
        /// Added to each channel, `-1..=1` (0 = unchanged).
        #[serde(default)]
        brightness: Param,
        /// Around mid-grey, `0..=10` (1 = unchanged).
        #[serde(default = "param_one")]
        contrast: Param,
        /// `0..=10` (1 = unchanged, 0 = grey).
        #[serde(default = "param_one")]
        saturation: Param,
        /// Hue rotation in degrees.
        #[serde(default)]
        hue: Param,
    },
    /// Mixes colours towards a colour.
    Tint {
        /// Target colour.
        color: Color,
        /// Mix amount, `0..=1`.
        amount: Param,
    },
    /// A blurred, offset shadow of the clip's silhouette.
    DropShadow {
        /// Horizontal offset in project pixels.
        offset_x: Param,
        /// Vertical offset in project pixels.
        offset_y: Param,
        /// Blur standard deviation, `0..=500`.
        blur: Param,
        /// Shadow colour.
        color: Color,
        /// Multiplies the colour's alpha, `0..=1`.
        #[serde(default = "param_one")]
        opacity: Param,
    },
    /// Keeps the part of the clip inside a shape, or where a luma image is bright.
    Mask {
        /// The mask.
        mask: MaskKind,
    },
}

/// The mask of a [`EffectKind::Mask`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum MaskKind {
    /// A vector shape in content pixels, offset by (`x`, `y`).
    Shape {
        /// Geometry.
        shape: ShapeKind,
        /// Horizontal offset in content pixels.
        #[serde(default)]
        x: Param,
        /// Vertical offset in content pixels.
        #[serde(default)]
        y: Param,
        /// Softening of the edge, `0..=500` project pixels.
        #[serde(default)]
        feather: Param,
        /// Keep the outside instead.
        #[serde(default)]
        invert: bool,
    },
    /// An image whose luminance is the mask, laid over the content pixel for pixel.
    Luma {
        /// Asset id (`ast_…`) of the mask image.
        asset_id: String,
        /// Keep the dark parts instead.
        #[serde(default)]
        invert: bool,
    },
}

impl EffectKind {
    /// The effect's animatable parameters by name.
    pub fn params(&self) -> Vec<(&'static str, &Param)> {
        match self {
            EffectKind::GaussianBlur { radius } | EffectKind::BoxBlur { radius } => {
                vec![("radius", radius)]
            }
            EffectKind::ColorAdjust {
                brightness,
                contrast,
                saturation,
                hue,
            } => vec![
                ("brightness", brightness),
                ("contrast", contrast),
                ("saturation", saturation),
                ("hue", hue),
            ],
            EffectKind::Tint { amount, .. } => vec![("amount", amount)],
            EffectKind::DropShadow {
                offset_x,
                offset_y,
                blur,
                opacity,
                ..
            } => vec![
                ("offset_x", offset_x),
                ("offset_y", offset_y),
                ("blur", blur),
                ("opacity", opacity),
            ],
            EffectKind::Mask {
                mask: MaskKind::Shape { x, y, feather, .. },
            } => vec![("x", x), ("y", y), ("feather", feather)],
            EffectKind::Mask {
                mask: MaskKind::Luma { .. },
            } => Vec::new(),
        }
    }

    /// The parameter with this name.
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| p)
    }

    /// Mutable access to the parameter with this name.
    pub fn param_mut(&mut self, name: &str) -> Option<&mut Param> {
        match (self, name) {
            (EffectKind::GaussianBlur { radius } | EffectKind::BoxBlur { radius }, "radius") => {
                Some(radius)
            }
            (EffectKind::ColorAdjust { brightness, .. }, "brightness") => Some(brightness),
            (EffectKind::ColorAdjust { contrast, .. }, "contrast") => Some(contrast),
            (EffectKind::ColorAdjust { saturation, .. }, "saturation") => Some(saturation),
            (EffectKind::ColorAdjust { hue, .. }, "hue") => Some(hue),
            (EffectKind::Tint { amount, .. }, "amount") => Some(amount),
            (EffectKind::DropShadow { offset_x, .. }, "offset_x") => Some(offset_x),
            (EffectKind::DropShadow { offset_y, .. }, "offset_y") => Some(offset_y),
            (EffectKind::DropShadow { blur, .. }, "blur") => Some(blur),
            (EffectKind::DropShadow { opacity, .. }, "opacity") => Some(opacity),
            (
                EffectKind::Mask {
                    mask: MaskKind::Shape { x, .. },
                },
                "x",
            ) => Some(x),
            (
                EffectKind::Mask {
                    mask: MaskKind::Shape { y, .. },
                },
                "y",
            ) => Some(y),
            (
                EffectKind::Mask {
                    mask: MaskKind::Shape { feather, .. },
                },
                "feather",
            ) => Some(feather),
            _ => None,
        }
    }

    fn validate(&self) -> Result<(), CommandError> {
        match self {
            EffectKind::Mask {
                mask: MaskKind::Shape { shape, .. },
            } => validate_shape(shape, "effect.mask.shape"),
            EffectKind::Mask {
                mask: MaskKind::Luma { asset_id, .. },
            } => validate_asset_id(asset_id),
            _ => Ok(()),
        }
    }
}

/// Direction of motion for wipes, slides and pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Towards the left edge.
    Left,
    /// Towards the right edge.
    Right,
    /// Towards the top edge.
    Up,
    /// Towards the bottom edge.
    Down,
}

/// How one clip hands over to the next.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TransitionKind {
    /// The outgoing clip fades out while the incoming one fades in.
    Crossfade,
    /// Fades to a colour, then from it to the incoming clip.
    DipToColor {
        /// The colour in the middle of the transition.
        color: Color,
    },
    /// The incoming clip is revealed behind an edge moving in `direction`.
    Wipe {
        /// Direction the edge travels.
        direction: Direction,
    },
    /// The incoming clip slides in over the outgoing one, moving in `direction`.
    Slide {
        /// Direction of motion.
        direction: Direction,
    },
    /// The incoming clip pushes the outgoing one out, both moving in `direction`.
    Push {
        /// Direction of motion.
        direction: Direction,
    },
}

/// A transition at the cut between a clip and the next one on its track, centred on the cut:
/// it starts `duration / 2` frames before it (rounded down) and lasts `duration` frames.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transition {
    /// What happens.
    pub kind: TransitionKind,
    /// Length in frames (≥ 1); shortened when evaluated to fit both clips.
    pub duration: u64,
    /// Progress curve.
    #[serde(default)]
    pub easing: Easing,
}

impl Transition {
    fn validate(&self) -> Result<(), CommandError> {
        if self.duration == 0 {
            return Err(CommandError::InvalidDuration {
                field: "transition.duration".into(),
            });
        }
        check_frame("transition.duration", self.duration)?;
        if let Some(problem) = self.easing.problem() {
            return Err(CommandError::invalid("transition.easing", problem));
        }
        Ok(())
    }
}

/// A named point in time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Marker {
    /// Unique within the timeline (`mrk_…`).
    pub id: MarkerId,
    /// Timeline frame.
    pub frame: u64,
    /// Label.
    #[serde(default)]
    pub label: String,
    /// Colour shown in the editor.
    #[serde(default = "default_marker_color")]
    pub color: Color,
}

fn default_marker_color() -> Color {
    Color::rgb(255, 196, 0)
}

impl Marker {
    pub(crate) fn validate(&self) -> Result<(), CommandError> {
        self.id.validate()?;
        check_frame("marker.frame", self.frame)?;
        if self.label.len() > MAX_TEXT_LEN {
            return Err(CommandError::invalid("marker.label", "too long"));
        }
        Ok(())
    }
}

impl Timeline {
    /// An empty timeline.
    pub fn new(settings: ProjectSettings) -> Self {
        Timeline {
            settings,
            tracks: Vec::new(),
            markers: Vec::new(),
        }
    }

    /// Length in frames: the end of the last clip.
    pub fn duration(&self) -> u64 {
        self.tracks
            .iter()
            .flat_map(|track| track.clips.iter().map(Clip::end))
            .max()
            .unwrap_or(0)
    }

    /// Index of the track with this id.
    pub fn track_index(&self, id: &TrackId) -> Option<usize> {
        self.tracks.iter().position(|t| &t.id == id)
    }

    /// The track with this id.
    pub fn track(&self, id: &TrackId) -> Option<&Track> {
        self.tracks.iter().find(|t| &t.id == id)
    }

    /// Where a clip lives: `(track index, clip index)`.
    pub fn clip_position(&self, id: &ClipId) -> Option<(usize, usize)> {
        self.tracks
            .iter()
            .enumerate()
            .find_map(|(t, track)| track.clips.iter().position(|c| &c.id == id).map(|c| (t, c)))
    }

    /// The clip with this id.
    pub fn clip(&self, id: &ClipId) -> Option<&Clip> {
        self.clip_position(id)
            .map(|(t, c)| &self.tracks[t].clips[c])
    }

    /// Index of the marker with this id.
    pub fn marker_index(&self, id: &MarkerId) -> Option<usize> {
        self.markers.iter().position(|m| &m.id == id)
    }

    /// Restores canonical order: clips by `(start, id)`, markers by `(frame, id)`, keyframes by
    /// frame. Commands keep it; documents written by hand may not.
    pub fn normalize(&mut self) {
        for track in &mut self.tracks {
            sort_clips(&mut track.clips);
            for clip in &mut track.clips {
                let properties: Vec<Property> = clip.params().into_iter().map(|(p, _)| p).collect();
                for property in properties {
                    if let Some(param) = clip.param_mut(&property) {
                        param.sort();
                    }
                }
            }
        }
        sort_markers(&mut self.markers);
    }

    /// Checks every invariant that commands maintain. Documents loaded from storage or written by
    /// hand are checked with it before use.
    pub fn validate(&self) -> Result<(), CommandError> {
        self.settings.validate()?;
        let mut track_ids = std::collections::HashSet::new();
        let mut clip_ids = std::collections::HashSet::new();
        for track in &self.tracks {
            track.id.validate()?;
            if !track_ids.insert(&track.id) {
                return Err(CommandError::DuplicateId {
                    id: track.id.to_string(),
                });
            }
            validate_track_props(track)?;
            for (i, clip) in track.clips.iter().enumerate() {
                if !clip_ids.insert(&clip.id) {
                    return Err(CommandError::DuplicateId {
                        id: clip.id.to_string(),
                    });
                }
                clip.validate()?;
                check_kind(track.kind, &clip.source)?;
                if i > 0 && clip_order(&track.clips[i - 1], clip) != std::cmp::Ordering::Less {
                    return Err(CommandError::invalid(
                        "track.clips",
                        "clips must be sorted by (start, id)",
                    ));
                }
            }
            if !track.allow_overlap {
                for pair in track.clips.windows(2) {
                    if pair[1].start < pair[0].end() {
                        return Err(CommandError::ClipOverlap {
                            clip_id: pair[1].id.to_string(),
                            other_clip_id: pair[0].id.to_string(),
                            track_id: track.id.to_string(),
                        });
                    }
                }
            }
        }
        let mut marker_ids = std::collections::HashSet::new();
        for (i, marker) in self.markers.iter().enumerate() {
            marker.validate()?;
            if !marker_ids.insert(&marker.id) {
                return Err(CommandError::DuplicateId {
                    id: marker.id.to_string(),
                });
            }
            if i > 0 {
                let previous = &self.markers[i - 1];
                if (previous.frame, &previous.id) > (marker.frame, &marker.id) {
                    return Err(CommandError::invalid(
                        "markers",
                        "markers must be sorted by (frame, id)",
                    ));
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn validate_track_props(track: &Track) -> Result<(), CommandError> {
    if track.name.len() > MAX_TEXT_LEN {
        return Err(CommandError::invalid("track.name", "too long"));
    }
    if !(track.opacity.is_finite() && (0.0..=1.0).contains(&track.opacity)) {
        return Err(CommandError::invalid(
            "track.opacity",
            "must be within 0..=1",
        ));
    }
    Ok(())
}

pub(crate) fn check_kind(kind: TrackKind, source: &Source) -> Result<(), CommandError> {
    if kind.accepts(source) {
        Ok(())
    } else {
        Err(CommandError::IncompatibleTrack {
            source_kind: source.kind_name(),
            track_kind: kind.name(),
        })
    }
}

fn clip_order(a: &Clip, b: &Clip) -> std::cmp::Ordering {
    (a.start, &a.id).cmp(&(b.start, &b.id))
}

pub(crate) fn sort_clips(clips: &mut [Clip]) {
    clips.sort_by(clip_order);
}

pub(crate) fn sort_markers(markers: &mut [Marker]) {
    markers.sort_by(|a, b| (a.frame, &a.id).cmp(&(b.frame, &b.id)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kf(n: u64, frame: i64, value: f64, easing: Easing) -> Keyframe {
        Keyframe {
            id: KeyframeId::from_ulid(ulid::Ulid::from_parts(1, u128::from(n))),
            frame,
            value,
            easing,
        }
    }

    #[test]
    fn params_serialize_as_numbers_until_animated() {
        let param = Param::constant(0.5);
        assert_eq!(serde_json::to_string(&param).ok().as_deref(), Some("0.5"));
        let animated = Param {
            value: 0.5,
            keyframes: vec![kf(1, 0, 0.0, Easing::Linear)],
        };
        let json = serde_json::to_value(&animated).unwrap_or_default();
        assert_eq!(json["keyframes"][0]["frame"], 0);
        let back: Param = serde_json::from_value(json).unwrap_or_default();
        assert_eq!(back, animated);
    }

    #[test]
    fn keyframes_interpolate_hold_and_clamp() {
        let param = Param {
            value: 9.0,
            keyframes: vec![
                kf(1, 0, 0.0, Easing::Linear),
                kf(2, 10, 100.0, Easing::Hold),
                kf(3, 20, 50.0, Easing::EaseInOut),
                kf(4, 30, 0.0, Easing::Linear),
            ],
        };
        assert_eq!(param.value_at(-5.0, 1.0 / 30.0), 0.0);
        assert_eq!(param.value_at(5.0, 1.0 / 30.0), 50.0);
        assert_eq!(param.value_at(10.0, 1.0 / 30.0), 100.0);
        assert_eq!(param.value_at(19.0, 1.0 / 30.0), 100.0);
        assert_eq!(param.value_at(20.0, 1.0 / 30.0), 50.0);
        assert!((param.value_at(25.0, 1.0 / 30.0) - 25.0).abs() < 1e-9);
        assert_eq!(param.value_at(99.0, 1.0 / 30.0), 0.0);
    }

    #[test]
    fn track_kinds_accept_matching_sources() {
        let audio = Source::Audio {
            asset_id: "ast_a".into(),
        };
        let solid = Source::Solid {
            color: Color::WHITE,
        };
        assert!(TrackKind::Audio.accepts(&audio));
        assert!(!TrackKind::Audio.accepts(&solid));
        assert!(!TrackKind::Video.accepts(&audio));
        assert!(TrackKind::Overlay.accepts(&solid));
        assert!(!TrackKind::Text.accepts(&solid));
    }

    #[test]
    fn property_names_round_trip_through_json() {
        let effect_id = EffectId::from_ulid(ulid::Ulid::from_parts(1, 1));
        let property = Property::Effect {
            effect_id: effect_id.clone(),
            param: "radius".into(),
        };
        let json = serde_json::to_value(&property).unwrap_or_default();
        assert_eq!(json["effect"]["param"], "radius");
        assert_eq!(
            serde_json::to_value(Property::PositionX).unwrap_or_default(),
            "position_x"
        );
        let back: Property = serde_json::from_value(json).unwrap_or(Property::Opacity);
        assert_eq!(back, property);
    }
}
