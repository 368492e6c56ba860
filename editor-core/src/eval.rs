//! Evaluation: what a timeline shows at one frame, as a [`DisplayList`] (no pixels).
//!
//! Evaluation is pure: the same timeline, frame and scale always give the same list. It resolves
//! keyframes and easing, turns transitions into opacities, clip rectangles, translations and
//! colour overlays, folds track opacity and blend mode into each item, and scales everything to
//! the output size so a ½ or ¼ preview keeps the framing of the full-size frame.
//!
//! Composition order: tracks bottom to top; within a track, clips by start; within a transition
//! the outgoing clip first, then the incoming one (then a dip's colour overlay).
//!
//! Known simplifications, chosen so each item stays independent for the renderer: track opacity
//! multiplies each item's opacity (rather than fading the track as one group), a crossfade
//! dissolves the incoming clip over the outgoing one (exact for opaque pictures), and a clip with
//! blend mode `normal` takes its track's blend mode.

use crate::display::{
    Affine, Content, DisplayItem, DisplayList, Effect as DisplayEffect, Mask, Rect, Shadow,
    ShapeKind, TextContent,
};
use crate::model::{
    Clip, Direction, EffectKind, Fit, MaskKind, ProjectSettings, Source, Timeline, Track,
    TrackKind, Transition, TransitionKind,
};

/// Largest supported output scale (4× supersampling).
pub const MAX_SCALE: f32 = 4.0;

/// Output size for a scale: the project size times `scale`, rounded, at least one pixel.
/// Invalid scales (non-finite, ≤ 0) count as 1; scales above [`MAX_SCALE`] are clamped.
pub fn output_size(settings: &ProjectSettings, scale: f32) -> (u32, u32) {
    let scale = sanitize_scale(scale);
    let side = |v: u32| ((f64::from(v) * f64::from(scale)).round() as u32).max(1);
    (side(settings.width), side(settings.height))
}

fn sanitize_scale(scale: f32) -> f32 {
    if scale.is_finite() && scale > 0.0 {
        scale.min(MAX_SCALE)
    } else {
        1.0
    }
}

/// What is visible at `frame`, scaled by `scale` (1 = project size, 0.5 = half-size preview).
pub fn frame_at(timeline: &Timeline, frame: u64, scale: f32) -> DisplayList {
    let settings = &timeline.settings;
    let (width, height) = output_size(settings, scale);
    let mut list = DisplayList::new(width, height, settings.background);
    let context = Context {
        settings,
        scale_x: f64::from(width) / f64::from(settings.width.max(1)),
        scale_y: f64::from(height) / f64::from(settings.height.max(1)),
        out_width: f64::from(width),
        out_height: f64::from(height),
        frame,
    };
    for track in &timeline.tracks {
        if track.hidden || track.kind == TrackKind::Audio {
            continue;
        }
        for layer in active_layers(track, frame, settings.frame_seconds()) {
            context.emit(track, layer, &mut list.items);
        }
    }
    list
}

/// A clip or a pair of clips in transition, active at some frame.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Layer<'a> {
    /// A clip playing on its own.
    Clip(&'a Clip),
    /// Two clips handing over.
    Transition {
        /// The outgoing clip.
        from: &'a Clip,
        /// The incoming clip.
        to: &'a Clip,
        /// The transition (on `from`).
        transition: &'a Transition,
        /// Eased progress, 0 at the start of the transition.
        progress: f64,
    },
}

/// Frames a transition covers: centred on the cut, shortened to fit both clips.
pub(crate) fn transition_span(from: &Clip, to: &Clip, transition: &Transition) -> (u64, u64) {
    let duration = transition
        .duration
        .min(from.duration)
        .min(to.duration)
        .max(1);
    let start = from.end() - duration / 2;
    (start, start + duration)
}

/// The clip a clip's transition leads into: the first clip starting exactly at its end.
fn next_clip<'a>(track: &'a Track, clip: &Clip) -> Option<&'a Clip> {
    let end = clip.end();
    let at = track.clips.partition_point(|c| c.start < end);
    track.clips[at..]
        .iter()
        .take_while(|c| c.start == end)
        .find(|c| c.id != clip.id)
}

/// Layers of a track active at `frame`, in paint order.
pub(crate) fn active_layers(track: &Track, frame: u64, frame_seconds: f64) -> Vec<Layer<'_>> {
    let mut transitions: Vec<Layer<'_>> = Vec::new();
    let mut busy: Vec<&crate::ids::ClipId> = Vec::new();
    for from in &track.clips {
        let Some(transition) = &from.transition else {
            continue;
        };
        let Some(to) = next_clip(track, from) else {
            continue;
        };
        let (start, end) = transition_span(from, to, transition);
        if frame < start || frame >= end || busy.contains(&&from.id) || busy.contains(&&to.id) {
            continue;
        }
        let length = (end - start) as f64;
        let raw = (frame - start) as f64 / length;
        let progress = transition.easing.apply(raw, length * frame_seconds);
        busy.push(&from.id);
        busy.push(&to.id);
        transitions.push(Layer::Transition {
            from,
            to,
            transition,
            progress,
        });
    }
    let mut layers = Vec::new();
    for clip in &track.clips {
        if let Some(layer) = transitions
            .iter()
            .find(|layer| matches!(layer, Layer::Transition { from, .. } if from.id == clip.id))
        {
            layers.push(*layer);
        } else if !busy.contains(&&clip.id) && clip.start <= frame && frame < clip.end() {
            layers.push(Layer::Clip(clip));
        }
    }
    layers
}

struct Context<'a> {
    settings: &'a ProjectSettings,
    scale_x: f64,
    scale_y: f64,
    out_width: f64,
    out_height: f64,
    frame: u64,
}

/// How a transition alters one of its clips.
#[derive(Default)]
struct Treatment {
    opacity: Option<f64>,
    /// Output-space translation.
    offset: (f64, f64),
    clip: Option<Rect>,
}

impl Context<'_> {
    fn emit(&self, track: &Track, layer: Layer<'_>, items: &mut Vec<DisplayItem>) {
        match layer {
            Layer::Clip(clip) => items.extend(self.item(track, clip, Treatment::default())),
            Layer::Transition {
                from,
                to,
                transition,
                progress,
            } => {
                let p = progress;
                let (w, h) = (self.out_width, self.out_height);
                match transition.kind {
                    TransitionKind::Crossfade => {
                        // The incoming clip dissolves in over the outgoing one, which stays
                        // opaque: for opaque pictures `p·B + (1−p)·A` exactly, with nothing of
                        // the tracks below showing through mid-fade (fading both halves would
                        // let the background in at (1−p)·(1−p)+… and cost a third layer).
                        let incoming = Treatment {
                            opacity: Some(p),
                            ..Treatment::default()
                        };
                        items.extend(self.item(track, from, Treatment::default()));
                        items.extend(self.item(track, to, incoming));
                    }
                    TransitionKind::DipToColor { color } => {
                        let (clip, cover) = if p < 0.5 {
                            (from, 2.0 * p)
                        } else {
                            (to, 2.0 * (1.0 - p))
                        };
                        items.extend(self.item(track, clip, Treatment::default()));
                        let opacity = (cover * track.opacity).clamp(0.0, 1.0) as f32;
                        if opacity > 0.0 {
                            let mut overlay = DisplayItem::new(
                                format!("{}#dip", from.id),
                                Content::Solid { color },
                            );
                            overlay.opacity = opacity;
                            items.push(overlay);
                        }
                    }
                    TransitionKind::Wipe { direction } => {
                        let reveal = match direction {
                            Direction::Right => Rect::new(0.0, 0.0, (p * w) as f32, h as f32),
                            Direction::Left => {
                                Rect::new(((1.0 - p) * w) as f32, 0.0, (p * w) as f32, h as f32)
                            }
                            Direction::Down => Rect::new(0.0, 0.0, w as f32, (p * h) as f32),
                            Direction::Up => {
                                Rect::new(0.0, ((1.0 - p) * h) as f32, w as f32, (p * h) as f32)
                            }
                        };
                        items.extend(self.item(track, from, Treatment::default()));
                        let incoming = Treatment {
                            clip: Some(reveal),
                            ..Treatment::default()
                        };
                        items.extend(self.item(track, to, incoming));
                    }
                    TransitionKind::Slide { direction } | TransitionKind::Push { direction } => {
                        let unit = match direction {
                            Direction::Left => (-w, 0.0),
                            Direction::Right => (w, 0.0),
                            Direction::Up => (0.0, -h),
                            Direction::Down => (0.0, h),
                        };
                        let outgoing = if matches!(transition.kind, TransitionKind::Push { .. }) {
                            Treatment {
                                offset: (unit.0 * p, unit.1 * p),
                                ..Treatment::default()
                            }
                        } else {
                            Treatment::default()
                        };
                        let incoming = Treatment {
                            offset: (-unit.0 * (1.0 - p), -unit.1 * (1.0 - p)),
                            ..Treatment::default()
                        };
                        items.extend(self.item(track, from, outgoing));
                        items.extend(self.item(track, to, incoming));
                    }
                }
            }
        }
    }

    /// The display item for a clip, or `None` when it shows nothing (audio, fully transparent,
    /// cropped away).
    fn item(&self, track: &Track, clip: &Clip, treatment: Treatment) -> Option<DisplayItem> {
        let local = self.frame as f64 - clip.start as f64;
        let seconds = self.settings.frame_seconds();
        let value = |param: &crate::model::Param, property: crate::model::Property| {
            let (min, max) = property.range();
            param.value_at(local, seconds).clamp(min, max)
        };
        use crate::model::Property as P;

        let opacity = value(&clip.opacity, P::Opacity)
            * track.opacity.clamp(0.0, 1.0)
            * treatment.opacity.unwrap_or(1.0).clamp(0.0, 1.0);
        if opacity <= 0.0 {
            return None;
        }
        let (content, bounds, fit) = self.content(clip, local)?;

        let transform = &clip.transform;
        let placement = Affine::translate(
            value(&transform.position_x, P::PositionX) as f32,
            value(&transform.position_y, P::PositionY) as f32,
        )
        .concat(Affine::rotate(
            value(&transform.rotation, P::Rotation) as f32
        ))
        .concat(Affine::scale(
            value(&transform.scale_x, P::ScaleX) as f32,
            value(&transform.scale_y, P::ScaleY) as f32,
        ))
        .concat(Affine::translate(
            -value(&transform.anchor_x, P::AnchorX) as f32,
            -value(&transform.anchor_y, P::AnchorY) as f32,
        ))
        .concat(fit);
        let output = Affine::translate(treatment.offset.0 as f32, treatment.offset.1 as f32)
            .concat(Affine::scale(self.scale_x as f32, self.scale_y as f32))
            .concat(placement);

        let crop = match bounds {
            Some(bounds) => {
                let left = value(&clip.crop.left, P::CropLeft);
                let top = value(&clip.crop.top, P::CropTop);
                let right = value(&clip.crop.right, P::CropRight);
                let bottom = value(&clip.crop.bottom, P::CropBottom);
                if left + right >= 1.0 || top + bottom >= 1.0 {
                    return None;
                }
                if left + right + top + bottom > 0.0 {
                    let (bw, bh) = (f64::from(bounds.width), f64::from(bounds.height));
                    Some(Rect::new(
                        (f64::from(bounds.x) + left * bw) as f32,
                        (f64::from(bounds.y) + top * bh) as f32,
                        (bw * (1.0 - left - right)) as f32,
                        (bh * (1.0 - top - bottom)) as f32,
                    ))
                } else {
                    None
                }
            }
            None => None,
        };

        let length = ((self.scale_x + self.scale_y) / 2.0) as f32;
        let effects = clip
            .effects
            .iter()
            .filter(|effect| effect.enabled)
            .map(|effect| {
                let param = |name: &str| {
                    let property = P::Effect {
                        effect_id: effect.id.clone(),
                        param: name.to_owned(),
                    };
                    effect
                        .kind
                        .param(name)
                        .map(|p| value(p, property))
                        .unwrap_or(0.0) as f32
                };
                match &effect.kind {
                    EffectKind::GaussianBlur { .. } => DisplayEffect::GaussianBlur {
                        radius: param("radius") * length,
                    },
                    EffectKind::BoxBlur { .. } => DisplayEffect::BoxBlur {
                        radius: param("radius") * length,
                    },
                    EffectKind::ColorAdjust { .. } => DisplayEffect::ColorAdjust {
                        brightness: param("brightness"),
                        contrast: param("contrast"),
                        saturation: param("saturation"),
                        hue: param("hue"),
                    },
                    EffectKind::Tint { color, .. } => DisplayEffect::Tint {
                        color: *color,
                        amount: param("amount"),
                    },
                    EffectKind::DropShadow { color, .. } => {
                        let mut color = *color;
                        color.a = (f32::from(color.a) * param("opacity"))
                            .round()
                            .clamp(0.0, 255.0) as u8;
                        DisplayEffect::DropShadow(Shadow {
                            dx: param("offset_x") * self.scale_x as f32,
                            dy: param("offset_y") * self.scale_y as f32,
                            blur: param("blur") * length,
                            color,
                        })
                    }
                    EffectKind::Mask {
                        mask: MaskKind::Shape { shape, invert, .. },
                    } => DisplayEffect::Mask(Mask::Shape {
                        kind: shape.clone(),
                        transform: Affine::translate(param("x"), param("y")),
                        feather: param("feather") * length,
                        invert: *invert,
                    }),
                    EffectKind::Mask {
                        mask: MaskKind::Luma { asset_id, invert },
                    } => DisplayEffect::Mask(Mask::Luma {
                        asset_id: asset_id.clone(),
                        frame: None,
                        transform: Affine::IDENTITY,
                        invert: *invert,
                    }),
                }
            })
            .collect();

        Some(DisplayItem {
            id: clip.id.to_string(),
            content,
            transform: output,
            opacity: opacity as f32,
            blend: if clip.blend_mode == crate::display::BlendMode::Normal {
                track.blend_mode
            } else {
                clip.blend_mode
            },
            clip: treatment.clip,
            crop,
            effects,
        })
    }

    /// The content of a clip at a local frame, its bounds in content space (when known without
    /// laying out text) and the fit transform (content → project pixels before the clip
    /// transform).
    fn content(&self, clip: &Clip, local: f64) -> Option<(Content, Option<Rect>, Affine)> {
        let frame_w = f64::from(self.settings.width);
        let frame_h = f64::from(self.settings.height);
        let full = |w: Option<f64>, h: Option<f64>| (w.unwrap_or(frame_w), h.unwrap_or(frame_h));
        Some(match &clip.source {
            Source::Image {
                asset_id,
                width,
                height,
                fit,
            } => (
                Content::Image {
                    asset_id: asset_id.clone(),
                    frame: None,
                    width: *width,
                    height: *height,
                },
                Some(Rect::new(0.0, 0.0, *width as f32, *height as f32)),
                fit_transform(*fit, *width, *height, frame_w, frame_h),
            ),
            Source::ImageSequence {
                asset_id,
                width,
                height,
                fit,
                frame_rate,
                frame_count,
            } => {
                let project_rate = self.settings.frame_rate.as_f64();
                let source_rate = frame_rate.map_or(project_rate, |r| r.as_f64());
                // Source position in project frames, converted to the source's own frames; the
                // epsilon absorbs float error at exact frame boundaries.
                let position = clip.source_in + local * clip.speed;
                let mut index = (position * source_rate / project_rate + 1e-9)
                    .floor()
                    .max(0.0);
                if let Some(count) = frame_count {
                    index = index.min(count.saturating_sub(1) as f64);
                }
                (
                    Content::Image {
                        asset_id: asset_id.clone(),
                        frame: Some(index.min(f64::from(u32::MAX)) as u32),
                        width: *width,
                        height: *height,
                    },
                    Some(Rect::new(0.0, 0.0, *width as f32, *height as f32)),
                    fit_transform(*fit, *width, *height, frame_w, frame_h),
                )
            }
            Source::Solid { color } => (
                // A frame-sized rectangle rather than `Content::Solid`, so the clip transform and
                // slide/push transitions move it like any other picture.
                Content::Shape {
                    kind: ShapeKind::Rect {
                        width: frame_w as f32,
                        height: frame_h as f32,
                    },
                    fill: Some(*color),
                    stroke: None,
                },
                Some(Rect::new(0.0, 0.0, frame_w as f32, frame_h as f32)),
                Affine::IDENTITY,
            ),
            Source::LinearGradient {
                width,
                height,
                start,
                end,
                stops,
            } => {
                let (w, h) = full(*width, *height);
                (
                    Content::LinearGradient {
                        width: w as f32,
                        height: h as f32,
                        start: *start,
                        end: *end,
                        stops: stops.clone(),
                    },
                    Some(Rect::new(0.0, 0.0, w as f32, h as f32)),
                    Affine::IDENTITY,
                )
            }
            Source::RadialGradient {
                width,
                height,
                center,
                radius,
                stops,
            } => {
                let (w, h) = full(*width, *height);
                (
                    Content::RadialGradient {
                        width: w as f32,
                        height: h as f32,
                        center: *center,
                        radius: *radius as f32,
                        stops: stops.clone(),
                    },
                    Some(Rect::new(0.0, 0.0, w as f32, h as f32)),
                    Affine::IDENTITY,
                )
            }
            Source::Shape {
                shape,
                fill,
                stroke,
            } => (
                Content::Shape {
                    kind: shape.clone(),
                    fill: *fill,
                    stroke: *stroke,
                },
                shape_bounds(shape),
                Affine::IDENTITY,
            ),
            Source::Text {
                text,
                font_size,
                color,
                bold,
                align,
                box_width,
                line_height,
                stroke,
                shadow,
            } => (
                Content::Text(TextContent {
                    text: text.clone(),
                    font_size: *font_size as f32,
                    color: *color,
                    bold: *bold,
                    align: *align,
                    box_width: box_width.map(|w| w as f32),
                    line_height: *line_height as f32,
                    stroke: *stroke,
                    shadow: *shadow,
                }),
                None,
                Affine::IDENTITY,
            ),
            Source::Audio { .. } => return None,
        })
    }
}

/// Maps an image's pixels into project pixels according to its fit.
fn fit_transform(fit: Fit, width: u32, height: u32, frame_w: f64, frame_h: f64) -> Affine {
    let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    match fit {
        Fit::Native => Affine::IDENTITY,
        Fit::Stretch => Affine::scale((frame_w / w) as f32, (frame_h / h) as f32),
        Fit::Contain | Fit::Cover => {
            let k = if fit == Fit::Contain {
                (frame_w / w).min(frame_h / h)
            } else {
                (frame_w / w).max(frame_h / h)
            };
            Affine::translate(
                ((frame_w - w * k) / 2.0) as f32,
                ((frame_h - h * k) / 2.0) as f32,
            )
            .concat(Affine::scale(k as f32, k as f32))
        }
    }
}

/// Bounding box of a shape in content space (`None` for an empty path).
fn shape_bounds(shape: &ShapeKind) -> Option<Rect> {
    use crate::display::PathCommand;
    match shape {
        ShapeKind::Rect { width, height }
        | ShapeKind::RoundedRect { width, height, .. }
        | ShapeKind::Ellipse { width, height } => Some(Rect::new(0.0, 0.0, *width, *height)),
        ShapeKind::Path { commands } => {
            let mut points = commands.iter().flat_map(|command| match *command {
                PathCommand::MoveTo { x, y } | PathCommand::LineTo { x, y } => vec![(x, y)],
                PathCommand::QuadTo { x1, y1, x, y } => vec![(x1, y1), (x, y)],
                PathCommand::CubicTo {
                    x1,
                    y1,
                    x2,
                    y2,
                    x,
                    y,
                } => vec![(x1, y1), (x2, y2), (x, y)],
                PathCommand::Close => vec![],
            });
            let (x0, y0) = points.next()?;
            let (mut min_x, mut min_y, mut max_x, mut max_y) = (x0, y0, x0, y0);
            for (x, y) in points {
                min_x = min_x.min(x);
                min_y = min_y.min(y);
                max_x = max_x.max(x);
                max_y = max_y.max(y);
            }
            Some(Rect::new(min_x, min_y, max_x - min_x, max_y - min_y))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::tests::{base, cid, fxid, kfid, ok, tid};
    use crate::command::{apply, Command};
    use crate::display::{BlendMode, Color, Point};
    use crate::easing::Easing;
    use crate::fixtures::{r1, r1_ids, R1_CUT};
    use crate::model::{Effect, Keyframe, Param, Property};

    fn image(asset: &str) -> Source {
        Source::Image {
            asset_id: asset.into(),
            width: 1920,
            height: 1080,
            fit: Fit::Native,
        }
    }

    /// Video track `tid(1)` with images `cid(1)` 0..30 and `cid(2)` 30..60.
    fn two_images() -> Timeline {
        let mut timeline = base();
        for (n, asset) in [(1, "ast_a"), (2, "ast_b")] {
            let mut set = match ok(apply(
                &mut timeline,
                Command::RemoveClip { clip_id: cid(n) },
            ))
            .inverse
            {
                Command::AddClip { track_id, clip } => (track_id, clip),
                other => panic!("unexpected inverse {other:?}"),
            };
            set.1.source = image(asset);
            ok(apply(
                &mut timeline,
                Command::AddClip {
                    track_id: set.0,
                    clip: set.1,
                },
            ));
        }
        timeline
    }

    fn with_transition(kind: TransitionKind, duration: u64) -> Timeline {
        let mut timeline = two_images();
        ok(apply(
            &mut timeline,
            Command::SetTransition {
                clip_id: cid(1),
                transition: Transition {
                    kind,
                    duration,
                    easing: Easing::Linear,
                },
            },
        ));
        timeline
    }

    fn ids(list: &DisplayList) -> Vec<String> {
        list.items.iter().map(|i| i.id.clone()).collect()
    }

    fn item<'a>(list: &'a DisplayList, id: &crate::ids::ClipId) -> &'a DisplayItem {
        list.items
            .iter()
            .find(|i| i.id == id.as_str())
            .unwrap_or_else(|| panic!("no item {id} in {:?}", ids(list)))
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-3
    }

    #[test]
    fn a_clip_is_gone_at_its_exact_end_frame() {
        let timeline = two_images();
        assert_eq!(ids(&frame_at(&timeline, 29, 1.0)), vec![cid(1).to_string()]);
        assert_eq!(ids(&frame_at(&timeline, 30, 1.0)), vec![cid(2).to_string()]);
        assert!(frame_at(&timeline, 60, 1.0).items.is_empty());
        // Audio clips never produce pictures.
        assert!(frame_at(&timeline, 10, 1.0)
            .items
            .iter()
            .all(|i| i.id != cid(3).as_str()));
    }

    #[test]
    fn crossfade_dissolves_the_incoming_clip_over_the_outgoing_one() {
        let timeline = with_transition(TransitionKind::Crossfade, 10);
        // Centred on the cut at 30: frames 25..35.
        let mid = frame_at(&timeline, 30, 1.0);
        assert_eq!(ids(&mid), vec![cid(1).to_string(), cid(2).to_string()]);
        assert!(close(item(&mid, &cid(1)).opacity, 1.0));
        assert!(close(item(&mid, &cid(2)).opacity, 0.5));
        let early = frame_at(&timeline, 26, 1.0);
        assert!(close(item(&early, &cid(1)).opacity, 1.0));
        assert!(close(item(&early, &cid(2)).opacity, 0.1));
        // Outside the span only one clip is visible, at full opacity.
        assert_eq!(ids(&frame_at(&timeline, 24, 1.0)), vec![cid(1).to_string()]);
        assert_eq!(ids(&frame_at(&timeline, 35, 1.0)), vec![cid(2).to_string()]);
        // At the very first frame the incoming clip is fully transparent and left out.
        assert_eq!(ids(&frame_at(&timeline, 25, 1.0)), vec![cid(1).to_string()]);
    }

    #[test]
    fn dip_to_colour_covers_the_cut_with_an_overlay() {
        let color = Color::rgb(255, 255, 255);
        let timeline = with_transition(TransitionKind::DipToColor { color }, 10);
        let quarter = frame_at(&timeline, 26, 1.0); // p = 0.1: outgoing + overlay at 0.2
        assert_eq!(quarter.items.len(), 2);
        assert_eq!(quarter.items[0].id, cid(1).as_str());
        assert_eq!(quarter.items[1].content, Content::Solid { color });
        assert!(close(quarter.items[1].opacity, 0.2));
        let mid = frame_at(&timeline, 30, 1.0); // p = 0.5: incoming under a full overlay
        assert_eq!(mid.items[0].id, cid(2).as_str());
        assert!(close(mid.items[1].opacity, 1.0));
    }

    #[test]
    fn wipes_clip_the_incoming_clip() {
        let timeline = with_transition(
            TransitionKind::Wipe {
                direction: Direction::Right,
            },
            10,
        );
        let list = frame_at(&timeline, 30, 0.5);
        assert_eq!(item(&list, &cid(1)).clip, None);
        assert_eq!(
            item(&list, &cid(2)).clip,
            Some(Rect::new(0.0, 0.0, 480.0, 540.0))
        );
        let up = with_transition(
            TransitionKind::Wipe {
                direction: Direction::Up,
            },
            10,
        );
        let list = frame_at(&up, 30, 1.0);
        assert_eq!(
            item(&list, &cid(2)).clip,
            Some(Rect::new(0.0, 540.0, 1920.0, 540.0))
        );
    }

    #[test]
    fn slides_and_pushes_translate() {
        let slide = with_transition(
            TransitionKind::Slide {
                direction: Direction::Left,
            },
            10,
        );
        let list = frame_at(&slide, 30, 1.0);
        assert!(close(item(&list, &cid(1)).transform.tx, 0.0));
        assert!(close(item(&list, &cid(2)).transform.tx, 960.0));
        let push = with_transition(
            TransitionKind::Push {
                direction: Direction::Down,
            },
            10,
        );
        let list = frame_at(&push, 30, 0.5);
        assert!(close(item(&list, &cid(1)).transform.ty, 270.0));
        assert!(close(item(&list, &cid(2)).transform.ty, -270.0));
    }

    #[test]
    fn transitions_shrink_to_fit_short_clips() {
        let mut timeline = with_transition(TransitionKind::Crossfade, 100);
        ok(apply(
            &mut timeline,
            Command::TrimClip {
                clip_id: cid(2),
                edge: crate::command::ClipEdge::End,
                frame: 40,
                source_in: None,
            },
        ));
        // Shortened to 10 frames (the incoming clip's length): 25..35.
        assert_eq!(frame_at(&timeline, 24, 1.0).items.len(), 1);
        assert_eq!(frame_at(&timeline, 30, 1.0).items.len(), 2);
    }

    #[test]
    fn keyframes_and_easing_resolve_per_frame() {
        let mut timeline = two_images();
        let keyframes = [
            (1, Property::Opacity, 0, 0.0, Easing::EaseInOut),
            (2, Property::Opacity, 10, 1.0, Easing::Linear),
            (3, Property::PositionX, 0, 0.0, Easing::EaseOut),
            (4, Property::PositionX, 20, 100.0, Easing::Linear),
        ];
        for (n, property, frame, value, easing) in keyframes {
            ok(apply(
                &mut timeline,
                Command::AddKeyframe {
                    clip_id: cid(1),
                    property,
                    keyframe: Keyframe {
                        id: kfid(n),
                        frame,
                        value,
                        easing,
                    },
                },
            ));
        }
        let list = frame_at(&timeline, 5, 1.0);
        let clip = item(&list, &cid(1));
        assert!(close(clip.opacity, 0.5), "{}", clip.opacity);
        let expected_x = 100.0 * crate::easing::cubic_bezier(0.0, 0.0, 0.58, 1.0, 0.25);
        assert!(close(clip.transform.tx, expected_x as f32));
        // At frame 0 the clip is transparent and left out entirely.
        assert!(frame_at(&timeline, 0, 1.0).items.is_empty());
    }

    #[test]
    fn transform_rotates_and_scales_about_the_anchor() {
        let mut timeline = two_images();
        for (property, value) in [
            (Property::AnchorX, 960.0),
            (Property::AnchorY, 540.0),
            (Property::PositionX, 960.0),
            (Property::PositionY, 540.0),
            (Property::Rotation, 90.0),
            (Property::ScaleX, 2.0),
        ] {
            ok(apply(
                &mut timeline,
                Command::SetClipParam {
                    clip_id: cid(1),
                    property,
                    value,
                },
            ));
        }
        let list = frame_at(&timeline, 0, 1.0);
        let transform = list.items[0].transform;
        // The anchor stays put; a point 10 px right of it moves 20 px down (scale 2, 90°).
        let centre = transform.apply(Point::new(960.0, 540.0));
        assert!(close(centre.x, 960.0) && close(centre.y, 540.0));
        let right = transform.apply(Point::new(970.0, 540.0));
        assert!(close(right.x, 960.0) && close(right.y, 560.0), "{right:?}");
    }

    #[test]
    fn output_scale_preserves_framing() {
        let timeline = two_images();
        for (scale, size) in [(1.0, (1920, 1080)), (0.5, (960, 540)), (0.25, (480, 270))] {
            let list = frame_at(&timeline, 0, scale);
            assert_eq!((list.width, list.height), size);
            let corner = list.items[0].transform.apply(Point::new(1920.0, 1080.0));
            assert!(close(corner.x, size.0 as f32) && close(corner.y, size.1 as f32));
        }
        // Nonsense scales fall back to full size instead of failing.
        assert_eq!(frame_at(&timeline, 0, f32::NAN).width, 1920);
        assert_eq!(frame_at(&timeline, 0, -1.0).width, 1920);
    }

    #[test]
    fn tracks_hide_fade_and_blend_their_clips() {
        let mut timeline = two_images();
        ok(apply(
            &mut timeline,
            Command::SetTrackProperties {
                track_id: tid(1),
                name: None,
                muted: None,
                hidden: None,
                locked: None,
                opacity: Some(0.5),
                blend_mode: Some(BlendMode::Screen),
                allow_overlap: None,
            },
        ));
        ok(apply(
            &mut timeline,
            Command::SetClipParam {
                clip_id: cid(1),
                property: Property::Opacity,
                value: 0.5,
            },
        ));
        let list = frame_at(&timeline, 0, 1.0);
        assert!(close(list.items[0].opacity, 0.25));
        assert_eq!(list.items[0].blend, BlendMode::Screen);
        ok(apply(
            &mut timeline,
            Command::SetTrackProperties {
                track_id: tid(1),
                name: None,
                muted: None,
                hidden: Some(true),
                locked: None,
                opacity: None,
                blend_mode: None,
                allow_overlap: None,
            },
        ));
        assert!(frame_at(&timeline, 0, 1.0).items.is_empty());
    }

    #[test]
    fn crop_and_effects_are_resolved_and_scaled() {
        let mut timeline = two_images();
        for (property, value) in [(Property::CropLeft, 0.25), (Property::CropBottom, 0.5)] {
            ok(apply(
                &mut timeline,
                Command::SetClipParam {
                    clip_id: cid(1),
                    property,
                    value,
                },
            ));
        }
        ok(apply(
            &mut timeline,
            Command::AddEffect {
                clip_id: cid(1),
                effect: Effect {
                    id: fxid(1),
                    enabled: true,
                    kind: EffectKind::GaussianBlur {
                        radius: Param::constant(8.0),
                    },
                },
                index: None,
            },
        ));
        ok(apply(
            &mut timeline,
            Command::AddEffect {
                clip_id: cid(1),
                effect: Effect {
                    id: fxid(2),
                    enabled: false,
                    kind: EffectKind::BoxBlur {
                        radius: Param::constant(8.0),
                    },
                },
                index: None,
            },
        ));
        let list = frame_at(&timeline, 0, 0.5);
        let clip = &list.items[0];
        assert_eq!(clip.crop, Some(Rect::new(480.0, 0.0, 1440.0, 540.0)));
        assert_eq!(
            clip.effects,
            vec![DisplayEffect::GaussianBlur { radius: 4.0 }]
        );
        // Cropping everything away hides the clip.
        ok(apply(
            &mut timeline,
            Command::SetClipParam {
                clip_id: cid(1),
                property: Property::CropRight,
                value: 0.75,
            },
        ));
        assert!(frame_at(&timeline, 0, 1.0).items.is_empty());
    }

    #[test]
    fn image_sequences_pick_frames_by_speed_and_in_point() {
        let mut timeline = two_images();
        ok(apply(
            &mut timeline,
            Command::SetClipProperties {
                clip_id: cid(2),
                name: None,
                source: Some(Source::ImageSequence {
                    asset_id: "ast_seq".into(),
                    width: 640,
                    height: 360,
                    fit: Fit::Contain,
                    frame_rate: Some(crate::model::Rational::new(15, 1)),
                    frame_count: Some(20),
                }),
                source_in: Some(10.0),
                speed: Some(2.0),
                blend_mode: None,
                fade_in: None,
                fade_out: None,
            },
        ));
        let frame_of = |frame| match &frame_at(&timeline, frame, 1.0).items[0].content {
            Content::Image { frame, .. } => *frame,
            other => panic!("unexpected content {other:?}"),
        };
        // Local 0: source 10 project frames = 5 source frames; each frame advances 2·15/30 = 1.
        assert_eq!(frame_of(30), Some(5));
        assert_eq!(frame_of(33), Some(8));
        // Past the last source frame the last one holds.
        assert_eq!(frame_of(59), Some(19));
        // Contain fit: 640×360 scaled ×3 fills 1920×1080 exactly.
        let corner = frame_at(&timeline, 30, 1.0).items[0]
            .transform
            .apply(Point::new(640.0, 360.0));
        assert!(close(corner.x, 1920.0) && close(corner.y, 1080.0));
    }

    #[test]
    fn r1_crossfade_midpoint_and_overlays() {
        let timeline = r1();
        let mid = frame_at(&timeline, R1_CUT, 1.0);
        let a = item(&mid, &r1_ids::photo_a());
        let b = item(&mid, &r1_ids::photo_b());
        assert!(close(a.opacity, 1.0) && close(b.opacity, 0.5));
        // Background, two photos, lower third, title and logo, bottom to top.
        assert_eq!(mid.items.len(), 6);
        assert_eq!(mid.items[0].id, r1_ids::background().as_str());
        assert_eq!(mid.items[5].id, r1_ids::logo().as_str());
        let logo = item(&mid, &r1_ids::logo());
        assert!(close(logo.opacity, 0.5));
        assert!(!logo.transform.is_axis_aligned());
        let lower = item(&mid, &r1_ids::lower_third());
        assert!(matches!(lower.effects[..], [DisplayEffect::DropShadow(_)]));
        // Before the lower third has fully slid in, it is left of its resting place.
        let sliding = frame_at(&timeline, 40, 1.0);
        assert!(item(&sliding, &r1_ids::lower_third()).transform.tx < 96.0);
        assert!(close(item(&mid, &r1_ids::lower_third()).transform.tx, 96.0));
        // The title fades in from its first frame.
        let fading = frame_at(&timeline, 55, 1.0);
        let title = item(&fading, &r1_ids::title());
        assert!(title.opacity > 0.0 && title.opacity < 1.0);
        assert!(frame_at(&timeline, 45, 1.0)
            .items
            .iter()
            .all(|i| i.id != r1_ids::title().as_str()));
        // The end frame is empty but for the background colour.
        assert!(frame_at(&timeline, 300, 1.0).items.is_empty());
    }
}
