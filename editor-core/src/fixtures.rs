//! Reference timelines shared by tests, benchmarks and golden images.
//!
//! They are built only by applying [`Command`]s, so they also exercise the command path. Ids are
//! ULIDs with a fixed timestamp, so every build produces identical timelines.

use ulid::Ulid;

use crate::command::{apply, Command};
use crate::display::{Color, GradientStop, Point, ShapeKind, Stroke, TextAlign};
use crate::easing::Easing;
use crate::ids::{ClipId, EffectId, KeyframeId, MarkerId, TrackId};
use crate::model::{
    Clip, Effect, EffectKind, Fit, Keyframe, Marker, Param, ProjectSettings, Property, Rational,
    Source, Timeline, Track, TrackKind, Transition, TransitionKind,
};

/// Asset id of R1's first photo (1920×1080 JPEG).
pub const R1_PHOTO_A: &str = "ast_r1_photo_a";
/// Asset id of R1's second photo (1920×1080 JPEG).
pub const R1_PHOTO_B: &str = "ast_r1_photo_b";
/// Asset id of R1's logo (512×512 PNG with alpha).
pub const R1_LOGO: &str = "ast_r1_logo";

/// 2026-11-20T00:00:00Z: the timestamp part of every R1 id.
const R1_EPOCH_MS: u64 = 1_795_132_800_000;

fn ulid(n: u128) -> Ulid {
    Ulid::from_parts(R1_EPOCH_MS, n)
}

/// Ids of the objects in [`r1`], for tests that edit it.
pub mod r1_ids {
    use super::*;

    /// Background gradient track.
    pub fn background_track() -> TrackId {
        TrackId::from_ulid(ulid(0x101))
    }
    /// Photo track.
    pub fn photo_track() -> TrackId {
        TrackId::from_ulid(ulid(0x102))
    }
    /// Lower-third track.
    pub fn lower_third_track() -> TrackId {
        TrackId::from_ulid(ulid(0x103))
    }
    /// Title track.
    pub fn title_track() -> TrackId {
        TrackId::from_ulid(ulid(0x104))
    }
    /// Logo track.
    pub fn logo_track() -> TrackId {
        TrackId::from_ulid(ulid(0x105))
    }
    /// Background gradient clip.
    pub fn background() -> ClipId {
        ClipId::from_ulid(ulid(0x201))
    }
    /// First photo (0–5 s).
    pub fn photo_a() -> ClipId {
        ClipId::from_ulid(ulid(0x202))
    }
    /// Second photo (5–10 s).
    pub fn photo_b() -> ClipId {
        ClipId::from_ulid(ulid(0x203))
    }
    /// Lower third.
    pub fn lower_third() -> ClipId {
        ClipId::from_ulid(ulid(0x204))
    }
    /// Title.
    pub fn title() -> ClipId {
        ClipId::from_ulid(ulid(0x205))
    }
    /// Logo.
    pub fn logo() -> ClipId {
        ClipId::from_ulid(ulid(0x206))
    }
    /// Drop shadow of the lower third.
    pub fn lower_third_shadow() -> EffectId {
        EffectId::from_ulid(ulid(0x301))
    }
    /// Marker at the crossfade cut.
    pub fn crossfade_marker() -> MarkerId {
        MarkerId::from_ulid(ulid(0x401))
    }
}

/// Frames per second of R1.
pub const R1_FPS: u32 = 30;
/// Length of R1 in frames (10 s).
pub const R1_DURATION: u64 = 300;
/// The cut between the two photos; the crossfade spans frames 135–164.
pub const R1_CUT: u64 = 150;

/// The commands that build R1 from an empty 1920×1080, 30 fps timeline.
pub fn r1_commands() -> Vec<Command> {
    use r1_ids::*;
    let mut next_keyframe = 0x500u128;
    let mut keyframe = |frame: i64, value: f64, easing: Easing| {
        next_keyframe += 1;
        Keyframe {
            id: KeyframeId::from_ulid(ulid(next_keyframe)),
            frame,
            value,
            easing,
        }
    };
    let mut commands = Vec::new();
    let add_track = |id: TrackId, kind: TrackKind, name: &str| {
        let mut track = Track::new(id, kind);
        track.name = name.to_owned();
        Command::AddTrack { track, index: None }
    };
    commands.push(add_track(
        background_track(),
        TrackKind::Video,
        "Background",
    ));
    commands.push(add_track(photo_track(), TrackKind::Video, "Photos"));
    commands.push(add_track(
        lower_third_track(),
        TrackKind::Overlay,
        "Lower third",
    ));
    commands.push(add_track(title_track(), TrackKind::Text, "Title"));
    commands.push(add_track(logo_track(), TrackKind::Overlay, "Logo"));

    // Track 1: full-frame diagonal gradient.
    let mut gradient = Clip::new(
        background(),
        0,
        R1_DURATION,
        Source::LinearGradient {
            width: None,
            height: None,
            start: Point::new(0.0, 0.0),
            end: Point::new(1920.0, 1080.0),
            stops: vec![
                GradientStop {
                    offset: 0.0,
                    color: Color::rgb(18, 24, 64),
                },
                GradientStop {
                    offset: 1.0,
                    color: Color::rgb(96, 32, 112),
                },
            ],
        },
    );
    gradient.name = "Gradient".into();
    commands.push(Command::AddClip {
        track_id: background_track(),
        clip: gradient,
    });

    // Track 2: two photos with a slow Ken Burns move each, crossfading over 1 s at the cut.
    let photo = |id: ClipId, asset: &str, start: u64, duration: u64| {
        let mut clip = Clip::new(
            id,
            start,
            duration,
            Source::Image {
                asset_id: asset.to_owned(),
                width: 1920,
                height: 1080,
                fit: Fit::Cover,
            },
        );
        // Scale about the frame centre.
        clip.transform.anchor_x = Param::constant(960.0);
        clip.transform.anchor_y = Param::constant(540.0);
        clip.transform.position_x = Param::constant(960.0);
        clip.transform.position_y = Param::constant(540.0);
        clip
    };
    commands.push(Command::AddClip {
        track_id: photo_track(),
        clip: photo(photo_a(), R1_PHOTO_A, 0, R1_CUT),
    });
    commands.push(Command::AddClip {
        track_id: photo_track(),
        clip: photo(photo_b(), R1_PHOTO_B, R1_CUT, R1_DURATION - R1_CUT),
    });
    let ken_burns = [
        (
            photo_a(),
            (0, 165),
            (1.0, 1.12),
            (960.0, 910.0),
            (540.0, 520.0),
        ),
        (
            photo_b(),
            (-15, 150),
            (1.12, 1.0),
            (1010.0, 960.0),
            (560.0, 540.0),
        ),
    ];
    for (clip_id, (first, last), scale, x, y) in ken_burns {
        // Keyframes span the whole time each photo is seen, including its 15 frames of the
        // crossfade outside the clip itself.
        for (property, (from, to)) in [
            (Property::ScaleX, scale),
            (Property::ScaleY, scale),
            (Property::PositionX, x),
            (Property::PositionY, y),
        ] {
            commands.push(Command::AddKeyframe {
                clip_id: clip_id.clone(),
                property: property.clone(),
                keyframe: keyframe(first, from, Easing::Linear),
            });
            commands.push(Command::AddKeyframe {
                clip_id: clip_id.clone(),
                property,
                keyframe: keyframe(last, to, Easing::Linear),
            });
        }
    }
    commands.push(Command::SetTransition {
        clip_id: photo_a(),
        transition: Transition {
            kind: TransitionKind::Crossfade,
            duration: 30,
            easing: Easing::Linear,
        },
    });

    // Track 3: semi-transparent rounded-rect lower third with a drop shadow, sliding in from
    // the left with an ease-out.
    let mut lower = Clip::new(
        lower_third(),
        30,
        240,
        Source::Shape {
            shape: ShapeKind::RoundedRect {
                width: 900.0,
                height: 140.0,
                radius: 28.0,
            },
            fill: Some(Color::rgba(16, 20, 36, 180)),
            stroke: Some(Stroke {
                color: Color::rgba(255, 255, 255, 90),
                width: 2.0,
            }),
        },
    );
    lower.name = "Lower third".into();
    lower.transform.position_y = Param::constant(860.0);
    lower.effects.push(Effect {
        id: lower_third_shadow(),
        enabled: true,
        kind: EffectKind::DropShadow {
            offset_x: Param::constant(0.0),
            offset_y: Param::constant(10.0),
            blur: Param::constant(14.0),
            color: Color::rgba(0, 0, 0, 200),
            opacity: Param::constant(0.8),
        },
    });
    commands.push(Command::AddClip {
        track_id: lower_third_track(),
        clip: lower,
    });
    commands.push(Command::AddKeyframe {
        clip_id: lower_third(),
        property: Property::PositionX,
        keyframe: keyframe(0, -960.0, Easing::EaseOut),
    });
    commands.push(Command::AddKeyframe {
        clip_id: lower_third(),
        property: Property::PositionX,
        keyframe: keyframe(24, 96.0, Easing::Linear),
    });

    // Track 4: two-line stroked title, fading in and out.
    let mut title_clip = Clip::new(
        title(),
        45,
        210,
        Source::Text {
            text: "Creator OS\nReference timeline R1".into(),
            font_size: 84.0,
            color: Color::WHITE,
            bold: true,
            align: TextAlign::Center,
            box_width: Some(1600.0),
            line_height: 1.2,
            stroke: Some(Stroke {
                color: Color::rgb(20, 20, 30),
                width: 4.0,
            }),
            shadow: None,
        },
    );
    title_clip.name = "Title".into();
    title_clip.transform.position_x = Param::constant(160.0);
    title_clip.transform.position_y = Param::constant(380.0);
    commands.push(Command::AddClip {
        track_id: title_track(),
        clip: title_clip,
    });
    for (frame, value, easing) in [
        (0, 0.0, Easing::EaseInOut),
        (20, 1.0, Easing::Hold),
        (190, 1.0, Easing::EaseInOut),
        (210, 0.0, Easing::Linear),
    ] {
        commands.push(Command::AddKeyframe {
            clip_id: title(),
            property: Property::Opacity,
            keyframe: keyframe(frame, value, easing),
        });
    }

    // Track 5: the logo at 50 % opacity in the top-right corner, turning slowly about its centre.
    let mut logo_clip = Clip::new(
        logo(),
        0,
        R1_DURATION,
        Source::Image {
            asset_id: R1_LOGO.into(),
            width: 512,
            height: 512,
            fit: Fit::Native,
        },
    );
    logo_clip.name = "Logo".into();
    logo_clip.opacity = Param::constant(0.5);
    logo_clip.transform.anchor_x = Param::constant(256.0);
    logo_clip.transform.anchor_y = Param::constant(256.0);
    logo_clip.transform.scale_x = Param::constant(0.4);
    logo_clip.transform.scale_y = Param::constant(0.4);
    logo_clip.transform.position_x = Param::constant(1920.0 - 64.0 - 102.4);
    logo_clip.transform.position_y = Param::constant(64.0 + 102.4);
    commands.push(Command::AddClip {
        track_id: logo_track(),
        clip: logo_clip,
    });
    commands.push(Command::AddKeyframe {
        clip_id: logo(),
        property: Property::Rotation,
        keyframe: keyframe(0, 0.0, Easing::Linear),
    });
    commands.push(Command::AddKeyframe {
        clip_id: logo(),
        property: Property::Rotation,
        keyframe: keyframe(R1_DURATION as i64, 45.0, Easing::Linear),
    });

    commands.push(Command::AddMarker {
        marker: Marker {
            id: crossfade_marker(),
            frame: R1_CUT,
            label: "Crossfade".into(),
            color: Color::rgb(255, 196, 0),
        },
    });
    commands
}

/// The empty timeline R1 starts from: 1920×1080 at 30 fps on black.
pub fn r1_settings() -> ProjectSettings {
    ProjectSettings::new(1920, 1080, Rational::new(R1_FPS, 1))
}

/// Reference timeline R1: 1920×1080, 30 fps, 10 s.
///
/// 1. A full-frame linear gradient background.
/// 2. Two full-frame photos ([`R1_PHOTO_A`], [`R1_PHOTO_B`]) with a 1 s crossfade at 5 s, each
///    with a slow keyframed scale + position ("Ken Burns") move.
/// 3. A semi-transparent rounded-rect lower third with a drop shadow, sliding in with ease-out.
/// 4. A two-line stroked text title fading in and out.
/// 5. A logo ([`R1_LOGO`]) at 50 % opacity in the top-right corner, rotating slowly.
///
/// Plus a marker at the cut.
pub fn r1() -> Timeline {
    let mut timeline = Timeline::new(r1_settings());
    for command in r1_commands() {
        if let Err(error) = apply(&mut timeline, command) {
            // The commands are constants checked by the test suite; failing here is a bug.
            panic!("R1 fixture command refused: {error}");
        }
    }
    timeline
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format;

    const R1_JSON: &str = include_str!("../tests/fixtures/r1.json");

    #[test]
    fn r1_has_the_documented_shape() {
        let timeline = r1();
        assert_eq!(timeline.tracks.len(), 5);
        assert_eq!(timeline.duration(), R1_DURATION);
        assert_eq!(timeline.settings.width, 1920);
        assert_eq!(timeline.tracks[1].clips.len(), 2);
        assert!(timeline.validate().is_ok());
    }

    #[test]
    fn committed_r1_json_matches_and_round_trips() {
        let timeline = r1();
        let written = format::to_json_pretty(&timeline);
        if std::env::var_os("EDITOR_CORE_BLESS").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/r1.json");
            if let Err(error) = std::fs::write(path, format!("{written}\n")) {
                panic!("cannot write {path}: {error}");
            }
        }
        let loaded = format::from_json(R1_JSON).unwrap_or_else(|e| panic!("r1.json: {e}"));
        assert_eq!(
            loaded, timeline,
            "tests/fixtures/r1.json is stale: rerun with EDITOR_CORE_BLESS=1"
        );
        assert_eq!(R1_JSON.trim_end(), written);
        assert_eq!(format::from_json(&format::to_json(&loaded)), Ok(loaded));
    }
}
