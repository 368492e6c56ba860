//! Property tests: random command sequences against the invariants of [`apply`].
//!
//! Operations are drawn as small tuples of numbers and turned into commands against the current
//! timeline, so most pick existing ids (and succeed) while a steady fraction pick unknown ids,
//! colliding frames or out-of-range values (and must change nothing).

use proptest::prelude::*;

use super::tests::{audio_source, base, cid, fxid, kfid, mid, solid, text_source, tid};
use super::*;
use crate::display::Color;
use crate::eval::frame_at;
use crate::format;
use crate::model::{Direction, Param, TrackKind, TransitionKind};

type Op = (u8, u16, u16, u16);

struct Builder {
    fresh: u128,
}

impl Builder {
    fn fresh(&mut self) -> u128 {
        self.fresh += 1;
        self.fresh
    }

    fn track(&self, timeline: &Timeline, n: u16) -> TrackId {
        if n.is_multiple_of(17) || timeline.tracks.is_empty() {
            return tid(999);
        }
        timeline.tracks[usize::from(n) % timeline.tracks.len()]
            .id
            .clone()
    }

    fn clip(&self, timeline: &Timeline, n: u16) -> ClipId {
        let clips: Vec<&Clip> = timeline.tracks.iter().flat_map(|t| &t.clips).collect();
        if n.is_multiple_of(17) || clips.is_empty() {
            return cid(999);
        }
        clips[usize::from(n) % clips.len()].id.clone()
    }

    fn keyframe(&self, timeline: &Timeline, clip: &ClipId, n: u16) -> KeyframeId {
        let ids: Vec<KeyframeId> = timeline
            .clip(clip)
            .map(|c| {
                c.params()
                    .into_iter()
                    .flat_map(|(_, p)| p.keyframes.iter().map(|k| k.id.clone()))
                    .collect()
            })
            .unwrap_or_default();
        if n.is_multiple_of(13) || ids.is_empty() {
            return kfid(999);
        }
        ids[usize::from(n) % ids.len()].clone()
    }

    fn effect(&self, timeline: &Timeline, clip: &ClipId, n: u16) -> EffectId {
        let ids: Vec<EffectId> = timeline
            .clip(clip)
            .map(|c| c.effects.iter().map(|e| e.id.clone()).collect())
            .unwrap_or_default();
        if n.is_multiple_of(13) || ids.is_empty() {
            return fxid(999);
        }
        ids[usize::from(n) % ids.len()].clone()
    }

    fn marker(&self, timeline: &Timeline, n: u16) -> MarkerId {
        if n.is_multiple_of(11) || timeline.markers.is_empty() {
            return mid(999);
        }
        timeline.markers[usize::from(n) % timeline.markers.len()]
            .id
            .clone()
    }

    fn property(&self, timeline: &Timeline, clip: &ClipId, n: u16) -> Property {
        match n % 8 {
            0 => Property::PositionX,
            1 => Property::ScaleY,
            2 => Property::Rotation,
            3 => Property::Opacity,
            4 => Property::CropLeft,
            5 => Property::GainDb,
            _ => Property::Effect {
                effect_id: self.effect(timeline, clip, n / 8),
                param: if n.is_multiple_of(2) {
                    "radius"
                } else {
                    "amount"
                }
                .into(),
            },
        }
    }

    fn source_for(&self, timeline: &Timeline, track: &TrackId, n: u16) -> Source {
        Self::source_for_kind(timeline.track(track).map(|t| t.kind), n)
    }

    fn source_for_kind(kind: Option<TrackKind>, n: u16) -> Source {
        // Mostly a fitting source, sometimes one the track refuses.
        match (kind, n % 9) {
            (_, 0) => audio_source(),
            (_, 1) => text_source(),
            (Some(TrackKind::Audio), _) => audio_source(),
            (Some(TrackKind::Text), _) => text_source(),
            _ => solid((n % 200) as u8),
        }
    }

    fn value(property: &Property, n: u16) -> f64 {
        let (min, max) = property.range();
        // A few values deliberately fall outside the range.
        let t = f64::from(n) / f64::from(u16::MAX) * 1.1 - 0.05;
        min.max(-1e3) + (max.min(1e3) - min.max(-1e3)) * t
    }

    fn build(&mut self, timeline: &Timeline, (kind, a, b, c): Op, depth: u8) -> Command {
        match kind % 29 {
            0 => {
                let id = if a.is_multiple_of(11) {
                    tid(1)
                } else {
                    tid(self.fresh())
                };
                let kinds = [
                    TrackKind::Video,
                    TrackKind::Overlay,
                    TrackKind::Audio,
                    TrackKind::Text,
                ];
                let mut track = Track::new(id, kinds[usize::from(b) % 4]);
                track.allow_overlap = c.is_multiple_of(5);
                track.locked = c % 7 == 3;
                if c % 2 == 0 {
                    let id = cid(self.fresh());
                    let source = Self::source_for_kind(Some(track.kind), c / 2);
                    track.clips.push(Clip::new(
                        id,
                        u64::from(a % 100),
                        u64::from(b % 50) + 1,
                        source,
                    ));
                }
                Command::AddTrack {
                    track,
                    index: (c.is_multiple_of(3)).then_some(u32::from(c % 6)),
                }
            }
            1 => Command::RemoveTrack {
                track_id: self.track(timeline, a),
            },
            2 => Command::ReorderTrack {
                track_id: self.track(timeline, a),
                index: u32::from(b % 6),
            },
            3 => Command::SetTrackProperties {
                track_id: self.track(timeline, a),
                name: (b.is_multiple_of(2)).then(|| format!("t{c}")),
                muted: (b.is_multiple_of(3)).then_some(c.is_multiple_of(2)),
                hidden: (b.is_multiple_of(5)).then_some(c % 2 == 1),
                locked: (b % 4 == 1).then_some(c.is_multiple_of(2)),
                opacity: (b.is_multiple_of(4)).then_some(f64::from(c) / 60000.0),
                blend_mode: (b.is_multiple_of(6)).then_some(BlendMode::Multiply),
                allow_overlap: (b.is_multiple_of(8)).then_some(c.is_multiple_of(2)),
            },
            4 | 5 => {
                let track_id = self.track(timeline, a);
                let id = if b.is_multiple_of(23) {
                    cid(1)
                } else {
                    cid(self.fresh())
                };
                let mut clip = Clip::new(
                    id,
                    u64::from(b % 200),
                    u64::from(c % 60),
                    self.source_for(timeline, &track_id, c),
                );
                clip.opacity = Param::constant(f64::from(a % 11) / 10.0);
                Command::AddClip { track_id, clip }
            }
            6 => Command::RemoveClip {
                clip_id: self.clip(timeline, a),
            },
            7 | 8 => Command::MoveClip {
                clip_id: self.clip(timeline, a),
                start: u64::from(b % 250),
                track_id: (c.is_multiple_of(3)).then(|| self.track(timeline, c / 3)),
            },
            9 => {
                let clip_id = self.clip(timeline, a);
                let start = timeline.clip(&clip_id).map_or(0, |c| c.start);
                Command::TrimClip {
                    clip_id,
                    edge: if b.is_multiple_of(2) {
                        ClipEdge::Start
                    } else {
                        ClipEdge::End
                    },
                    frame: (start + u64::from(c % 80)).saturating_sub(20),
                    source_in: (b.is_multiple_of(7)).then_some(f64::from(c % 50) - 5.0),
                }
            }
            10 => {
                let clip_id = self.clip(timeline, a);
                let (start, duration) = timeline
                    .clip(&clip_id)
                    .map_or((0, 1), |c| (c.start, c.duration));
                Command::SplitClip {
                    clip_id,
                    frame: start + u64::from(b) % (duration + 1),
                    new_clip_id: if c.is_multiple_of(19) {
                        cid(1)
                    } else {
                        cid(self.fresh())
                    },
                }
            }
            11 => Command::DuplicateClip {
                clip_id: self.clip(timeline, a),
                new_clip_id: cid(self.fresh()),
                start: (b.is_multiple_of(2)).then_some(u64::from(c % 250)),
                track_id: (b.is_multiple_of(3)).then(|| self.track(timeline, c)),
            },
            12 => {
                let clip_id = self.clip(timeline, a);
                let track_id = timeline
                    .clip_position(&clip_id)
                    .map_or(tid(999), |(t, _)| timeline.tracks[t].id.clone());
                Command::SetClipProperties {
                    name: (b.is_multiple_of(2)).then(|| format!("c{c}")),
                    source: (b.is_multiple_of(3)).then(|| self.source_for(timeline, &track_id, c)),
                    source_in: (b.is_multiple_of(5)).then_some(f64::from(c % 100) - 10.0),
                    speed: (b.is_multiple_of(7)).then_some(f64::from(c % 300) / 100.0),
                    blend_mode: (b.is_multiple_of(11)).then_some(BlendMode::Screen),
                    fade_in: (b.is_multiple_of(13)).then_some(u64::from(c % 20)),
                    fade_out: (b.is_multiple_of(17)).then_some(u64::from(c % 20)),
                    clip_id,
                }
            }
            13 => {
                let clip_id = self.clip(timeline, a);
                let property = self.property(timeline, &clip_id, b);
                Command::SetClipParam {
                    value: Self::value(&property, c),
                    property,
                    clip_id,
                }
            }
            14 | 15 => {
                let clip_id = self.clip(timeline, a);
                let property = self.property(timeline, &clip_id, b);
                let id = if c.is_multiple_of(29) {
                    self.keyframe(timeline, &clip_id, c)
                } else {
                    kfid(self.fresh())
                };
                let easing = match c % 5 {
                    0 => Easing::Linear,
                    1 => Easing::Hold,
                    2 => Easing::EaseOut,
                    3 => Easing::CubicBezier {
                        x1: 0.3,
                        y1: 1.4,
                        x2: 0.6,
                        y2: 1.0,
                    },
                    _ => Easing::Spring {
                        stiffness: 120.0,
                        damping: 8.0,
                        mass: 1.0,
                    },
                };
                Command::AddKeyframe {
                    keyframe: Keyframe {
                        id,
                        frame: i64::from(c % 40) - 5,
                        value: Self::value(&property, c.wrapping_mul(7)),
                        easing,
                    },
                    property,
                    clip_id,
                }
            }
            16 => {
                let clip_id = self.clip(timeline, a);
                Command::MoveKeyframe {
                    keyframe_id: self.keyframe(timeline, &clip_id, b),
                    frame: i64::from(c % 40) - 5,
                    clip_id,
                }
            }
            17 => {
                let clip_id = self.clip(timeline, a);
                Command::UpdateKeyframe {
                    keyframe_id: self.keyframe(timeline, &clip_id, b),
                    value: (c.is_multiple_of(2)).then_some(f64::from(c % 3) / 2.0),
                    easing: (c.is_multiple_of(3)).then_some(Easing::Ease),
                    clip_id,
                }
            }
            18 => {
                let clip_id = self.clip(timeline, a);
                Command::RemoveKeyframe {
                    keyframe_id: self.keyframe(timeline, &clip_id, b),
                    clip_id,
                }
            }
            19 => {
                let clip_id = self.clip(timeline, a);
                let id = if b.is_multiple_of(19) {
                    self.effect(timeline, &clip_id, b)
                } else {
                    fxid(self.fresh())
                };
                let kind = match c % 4 {
                    0 => EffectKind::GaussianBlur {
                        radius: Param::constant(f64::from(c % 600)),
                    },
                    1 => EffectKind::Tint {
                        color: Color::rgb(0, 0, 255),
                        amount: Param::constant(0.5),
                    },
                    2 => EffectKind::DropShadow {
                        offset_x: Param::constant(4.0),
                        offset_y: Param::constant(4.0),
                        blur: Param::constant(3.0),
                        color: Color::BLACK,
                        opacity: Param::constant(0.5),
                    },
                    _ => EffectKind::ColorAdjust {
                        brightness: Param::constant(0.1),
                        contrast: Param::constant(1.2),
                        saturation: Param::constant(0.8),
                        hue: Param::constant(10.0),
                    },
                };
                Command::AddEffect {
                    clip_id,
                    effect: Effect {
                        id,
                        enabled: b.is_multiple_of(2),
                        kind,
                    },
                    index: (b.is_multiple_of(3)).then_some(u32::from(b % 4)),
                }
            }
            20 => {
                let clip_id = self.clip(timeline, a);
                Command::RemoveEffect {
                    effect_id: self.effect(timeline, &clip_id, b),
                    clip_id,
                }
            }
            21 => {
                let clip_id = self.clip(timeline, a);
                Command::ReorderEffect {
                    effect_id: self.effect(timeline, &clip_id, b),
                    index: u32::from(c % 4),
                    clip_id,
                }
            }
            22 => {
                let clip_id = self.clip(timeline, a);
                Command::ConfigureEffect {
                    effect_id: self.effect(timeline, &clip_id, b),
                    enabled: (c.is_multiple_of(2)).then_some(c.is_multiple_of(4)),
                    kind: (c.is_multiple_of(3)).then_some(EffectKind::BoxBlur {
                        radius: Param::constant(f64::from(c % 8)),
                    }),
                    clip_id,
                }
            }
            23 => {
                let directions = [
                    Direction::Left,
                    Direction::Right,
                    Direction::Up,
                    Direction::Down,
                ];
                let direction = directions[usize::from(c) % 4];
                let kind = match b % 5 {
                    0 => TransitionKind::Crossfade,
                    1 => TransitionKind::DipToColor {
                        color: Color::BLACK,
                    },
                    2 => TransitionKind::Wipe { direction },
                    3 => TransitionKind::Slide { direction },
                    _ => TransitionKind::Push { direction },
                };
                Command::SetTransition {
                    clip_id: self.clip(timeline, a),
                    transition: Transition {
                        kind,
                        duration: u64::from(c % 40),
                        easing: Easing::EaseInOut,
                    },
                }
            }
            24 => Command::RemoveTransition {
                clip_id: self.clip(timeline, a),
            },
            25 => Command::AddMarker {
                marker: Marker {
                    id: if a.is_multiple_of(7) {
                        mid(1)
                    } else {
                        mid(self.fresh())
                    },
                    frame: u64::from(b % 300),
                    label: format!("m{c}"),
                    color: Color::WHITE,
                },
            },
            26 => match b % 3 {
                0 => Command::MoveMarker {
                    marker_id: self.marker(timeline, a),
                    frame: u64::from(c % 300),
                },
                1 => Command::UpdateMarker {
                    marker_id: self.marker(timeline, a),
                    label: Some(format!("u{c}")),
                    color: None,
                },
                _ => Command::RemoveMarker {
                    marker_id: self.marker(timeline, a),
                },
            },
            27 => Command::SetProjectSettings {
                width: (b.is_multiple_of(2)).then_some(u32::from(c % 4000)),
                height: (b.is_multiple_of(3)).then_some(u32::from(c % 3000) + 1),
                frame_rate: (b.is_multiple_of(5)).then_some(Rational::new(u32::from(c % 61), 1)),
                background: (b.is_multiple_of(7)).then_some(Color::rgb(1, 2, 3)),
            },
            _ => {
                // A batch of up to three operations derived from the numbers, built against the
                // timeline as it is now (so later members may fail after earlier ones apply).
                if depth >= 2 {
                    return Command::Batch { commands: vec![] };
                }
                let parts = [(b % 29) as u8, (c % 29) as u8, ((b ^ c) % 29) as u8];
                let commands = parts[..usize::from(a % 3) + 1]
                    .iter()
                    .enumerate()
                    .map(|(i, &k)| {
                        let salt = i as u16;
                        self.build(
                            timeline,
                            (
                                k,
                                a.wrapping_add(salt),
                                b.wrapping_mul(3).wrapping_add(salt),
                                c,
                            ),
                            depth + 1,
                        )
                    })
                    .collect();
                Command::Batch { commands }
            }
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    (any::<u8>(), any::<u16>(), any::<u16>(), any::<u16>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_every_guarantee(ops in prop::collection::vec(op(), 1..60)) {
        let initial = base();
        let mut timeline = initial.clone();
        let mut builder = Builder { fresh: 10_000 };
        let mut log = Vec::new();
        let mut inverses = Vec::new();
        let mut applied_count = 0usize;
        for op in ops {
            let command = builder.build(&timeline, op, 0);
            // Commands survive a JSON round trip unchanged (they travel as JSON).
            let text = serde_json::to_string(&command).unwrap_or_default();
            let parsed: Result<Command, _> = serde_json::from_str(&text);
            prop_assert_eq!(parsed.as_ref().ok(), Some(&command));

            let before = format::to_json(&timeline);
            match apply(&mut timeline, command.clone()) {
                Ok(applied) => {
                    applied_count += 1;
                    prop_assert_eq!(timeline.validate(), Ok(()));
                    // Undo restores the previous timeline exactly.
                    let mut undone = timeline.clone();
                    prop_assert!(apply(&mut undone, applied.inverse.clone()).is_ok());
                    prop_assert_eq!(format::to_json(&undone), before);
                    log.push(command);
                    inverses.push(applied.inverse);
                }
                Err(_) => {
                    // Refused: bit-for-bit unchanged.
                    prop_assert_eq!(format::to_json(&timeline), before);
                }
            }
        }
        prop_assert!(applied_count > 0 || log.is_empty());

        // Replaying the log reproduces the timeline and every display list.
        let replayed = replay(initial.clone(), &log);
        prop_assert_eq!(replayed.as_ref().ok(), Some(&timeline));
        if let Ok(replayed) = &replayed {
            for frame in [0, 14, 29, 30, 45, 60, 120] {
                prop_assert_eq!(frame_at(replayed, frame, 0.5), frame_at(&timeline, frame, 0.5));
            }
        }

        // The stored form round-trips.
        prop_assert_eq!(format::from_json(&format::to_json(&timeline)).ok(), Some(timeline.clone()));

        // Undoing everything, newest first, returns to the start.
        let mut unwound = timeline;
        for inverse in inverses.into_iter().rev() {
            prop_assert!(apply(&mut unwound, inverse).is_ok());
        }
        prop_assert_eq!(unwound, initial);
    }
}

fn hostile_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(1e300),
        -2.0..2.0f64,
    ]
}

fn hostile_command(pick: u8, v: f64, n: u64, i: i64) -> Command {
    match pick {
        0 => Command::SetClipParam {
            clip_id: cid(1),
            property: if n.is_multiple_of(2) {
                Property::Opacity
            } else {
                Property::Rotation
            },
            value: v,
        },
        1 => Command::MoveClip {
            clip_id: cid(1),
            start: n,
            track_id: None,
        },
        2 => Command::TrimClip {
            clip_id: cid(3),
            edge: ClipEdge::Start,
            frame: n % 100,
            source_in: Some(v),
        },
        3 => Command::TrimClip {
            clip_id: cid(2),
            edge: ClipEdge::End,
            frame: n,
            source_in: None,
        },
        4 => Command::SplitClip {
            clip_id: cid(2),
            frame: n,
            new_clip_id: cid(50),
        },
        5 => Command::AddKeyframe {
            clip_id: cid(1),
            property: Property::ScaleX,
            keyframe: Keyframe {
                id: kfid(50),
                frame: i,
                value: v,
                easing: Easing::Spring {
                    stiffness: v,
                    damping: v.abs(),
                    mass: 1.0,
                },
            },
        },
        6 => {
            let mut clip = Clip::new(cid(50), n, n / 3, solid(1));
            clip.speed = v;
            Command::AddClip {
                track_id: tid(1),
                clip,
            }
        }
        7 => Command::SetProjectSettings {
            width: Some(n as u32),
            height: None,
            frame_rate: Some(Rational::new(n as u32, (n >> 32) as u32)),
            background: None,
        },
        8 => Command::AddMarker {
            marker: Marker {
                id: mid(50),
                frame: n,
                label: String::new(),
                color: Color::BLACK,
            },
        },
        9 => Command::SetTransition {
            clip_id: cid(1),
            transition: Transition {
                kind: TransitionKind::Crossfade,
                duration: n,
                easing: Easing::CubicBezier {
                    x1: v,
                    y1: v,
                    x2: v.abs(),
                    y2: v,
                },
            },
        },
        10 => Command::SetClipProperties {
            clip_id: cid(3),
            name: None,
            source: None,
            source_in: Some(v),
            speed: Some(v),
            blend_mode: None,
            fade_in: Some(n),
            fade_out: None,
        },
        _ => Command::DuplicateClip {
            clip_id: cid(2),
            new_clip_id: cid(50),
            start: Some(n),
            track_id: None,
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Extreme numbers (NaN, infinities, u64/i64 extremes) are refused or applied cleanly, never
    /// panicking, and evaluation of the result never panics either.
    #[test]
    fn hostile_values_never_panic(
        pick in 0u8..12,
        v in hostile_f64(),
        n in prop_oneof![any::<u64>(), 0u64..200, Just(u64::MAX)],
        i in prop_oneof![any::<i64>(), Just(i64::MIN), -50i64..50],
    ) {
        let timeline = base();
        let before = format::to_json(&timeline);
        let mut attempt = timeline.clone();
        match apply(&mut attempt, hostile_command(pick, v, n, i)) {
            Ok(applied) => {
                prop_assert_eq!(attempt.validate(), Ok(()));
                let mut undone = attempt.clone();
                prop_assert!(apply(&mut undone, applied.inverse).is_ok());
                prop_assert_eq!(format::to_json(&undone), before);
            }
            Err(_) => prop_assert_eq!(format::to_json(&attempt), before),
        }
        let _ = frame_at(&attempt, n, v as f32);
        let _ = frame_at(&attempt, n % 100, 0.25);
    }
}
