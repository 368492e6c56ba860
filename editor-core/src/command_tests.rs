//! Unit tests for every command: the happy path with its inverse, and each validation.

use ulid::Ulid;

use super::*;
use crate::display::{Color, ShapeKind};
use crate::format;
use crate::model::{MaskKind, Param, ProjectSettings, TransitionKind};

pub(crate) fn tid(n: u128) -> TrackId {
    TrackId::from_ulid(Ulid::from_parts(7, n))
}
pub(crate) fn cid(n: u128) -> ClipId {
    ClipId::from_ulid(Ulid::from_parts(7, n))
}
pub(crate) fn fxid(n: u128) -> EffectId {
    EffectId::from_ulid(Ulid::from_parts(7, n))
}
pub(crate) fn kfid(n: u128) -> KeyframeId {
    KeyframeId::from_ulid(Ulid::from_parts(7, n))
}
pub(crate) fn mid(n: u128) -> MarkerId {
    MarkerId::from_ulid(Ulid::from_parts(7, n))
}

pub(crate) fn solid(n: u8) -> Source {
    Source::Solid {
        color: Color::rgb(n, 0, 0),
    }
}

pub(crate) fn audio_source() -> Source {
    Source::Audio {
        asset_id: "ast_tone".into(),
    }
}

pub(crate) fn text_source() -> Source {
    Source::Text {
        text: "hello".into(),
        font_size: 40.0,
        color: Color::WHITE,
        bold: false,
        align: Default::default(),
        box_width: None,
        line_height: 1.2,
        stroke: None,
        shadow: None,
    }
}

/// Tracks: video `tid(1)` with clips `cid(1)` 0..30 and `cid(2)` 30..60; audio `tid(2)` with
/// `cid(3)` 0..60; text `tid(3)` empty. One marker `mid(1)` at 10.
pub(crate) fn base() -> Timeline {
    let mut timeline = Timeline::new(ProjectSettings::new(1920, 1080, Rational::new(30, 1)));
    let mut video = Track::new(tid(1), crate::model::TrackKind::Video);
    video.clips = vec![
        Clip::new(cid(1), 0, 30, solid(1)),
        Clip::new(cid(2), 30, 30, solid(2)),
    ];
    let mut audio = Track::new(tid(2), crate::model::TrackKind::Audio);
    audio.clips = vec![Clip::new(cid(3), 0, 60, audio_source())];
    let text = Track::new(tid(3), crate::model::TrackKind::Text);
    for track in [video, audio, text] {
        ok(apply(
            &mut timeline,
            Command::AddTrack { track, index: None },
        ));
    }
    ok(apply(
        &mut timeline,
        Command::AddMarker {
            marker: Marker {
                id: mid(1),
                frame: 10,
                label: "a".into(),
                color: Color::WHITE,
            },
        },
    ));
    timeline
}

pub(crate) fn ok<T>(result: Result<T, CommandError>) -> T {
    result.unwrap_or_else(|e| panic!("unexpected error: {e}"))
}

/// Applies a command that must succeed, checks the invariants, then checks its inverse restores
/// the timeline exactly. Returns the timeline after the command.
#[track_caller]
pub(crate) fn check_applies(timeline: &Timeline, command: Command) -> Timeline {
    let before = format::to_json(timeline);
    let mut after = timeline.clone();
    let applied = ok(apply(&mut after, command));
    ok(after.validate());
    let mut undone = after.clone();
    ok(apply(&mut undone, applied.inverse));
    assert_eq!(
        format::to_json(&undone),
        before,
        "inverse did not restore the timeline"
    );
    assert_eq!(&undone, timeline);
    after
}

/// Applies a command that must fail with `code` and checks nothing changed.
#[track_caller]
pub(crate) fn check_refused(timeline: &Timeline, command: Command, code: &str) {
    let before = format::to_json(timeline);
    let mut attempt = timeline.clone();
    match apply(&mut attempt, command) {
        Ok(_) => panic!("expected `{code}`, but the command applied"),
        Err(error) => assert_eq!(error.code(), code, "{error}"),
    }
    assert_eq!(format::to_json(&attempt), before);
}

fn clip<'a>(timeline: &'a Timeline, id: &ClipId) -> &'a Clip {
    timeline
        .clip(id)
        .unwrap_or_else(|| panic!("clip {id} missing"))
}

fn lock(timeline: &Timeline, track: TrackId) -> Timeline {
    check_applies(
        timeline,
        Command::SetTrackProperties {
            track_id: track,
            name: None,
            muted: None,
            hidden: None,
            locked: Some(true),
            opacity: None,
            blend_mode: None,
            allow_overlap: None,
        },
    )
}

fn track_props(track_id: TrackId) -> Command {
    Command::SetTrackProperties {
        track_id,
        name: None,
        muted: None,
        hidden: None,
        locked: None,
        opacity: None,
        blend_mode: None,
        allow_overlap: None,
    }
}

fn clip_props(clip_id: ClipId) -> Command {
    Command::SetClipProperties {
        clip_id,
        name: None,
        source: None,
        source_in: None,
        speed: None,
        blend_mode: None,
        fade_in: None,
        fade_out: None,
    }
}

fn keyframe(n: u128, frame: i64, value: f64) -> Keyframe {
    Keyframe {
        id: kfid(n),
        frame,
        value,
        easing: Easing::Linear,
    }
}

fn blur(n: u128, radius: f64) -> Effect {
    Effect {
        id: fxid(n),
        enabled: true,
        kind: EffectKind::GaussianBlur {
            radius: Param::constant(radius),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Tracks

#[test]
fn add_track_at_an_index_and_undo() {
    let timeline = base();
    let after = check_applies(
        &timeline,
        Command::AddTrack {
            track: Track::new(tid(9), crate::model::TrackKind::Overlay),
            index: Some(1),
        },
    );
    assert_eq!(after.tracks[1].id, tid(9));
}

#[test]
fn add_track_refuses_bad_input() {
    let timeline = base();
    let add = |track: Track, index| Command::AddTrack { track, index };
    let video = crate::model::TrackKind::Video;
    check_refused(
        &timeline,
        add(Track::new(tid(1), video), None),
        "duplicate_id",
    );
    check_refused(
        &timeline,
        add(Track::new(tid(9), video), Some(4)),
        "invalid_index",
    );
    let wrong_prefix = TrackId::from_ulid(Ulid::from_parts(7, 9))
        .as_str()
        .replace("trk_", "clp_");
    let bad: Track = Track::new(
        serde_json::from_value(serde_json::Value::String(wrong_prefix)).unwrap_or_else(|_| tid(0)),
        video,
    );
    check_refused(&timeline, add(bad, None), "invalid_id");
    let mut overlapping = Track::new(tid(9), video);
    overlapping.clips = vec![
        Clip::new(cid(10), 0, 10, solid(1)),
        Clip::new(cid(11), 5, 10, solid(1)),
    ];
    check_refused(&timeline, add(overlapping, None), "clip_overlap");
    let mut reused = Track::new(tid(9), video);
    reused.clips = vec![Clip::new(cid(1), 0, 10, solid(1))];
    check_refused(&timeline, add(reused, None), "duplicate_id");
    let mut wrong_kind = Track::new(tid(9), video);
    wrong_kind.clips = vec![Clip::new(cid(10), 0, 10, audio_source())];
    check_refused(&timeline, add(wrong_kind, None), "incompatible_track");
    let mut opaque = Track::new(tid(9), video);
    opaque.opacity = 2.0;
    check_refused(&timeline, add(opaque, None), "invalid_value");
}

#[test]
fn add_track_sorts_its_clips() {
    let timeline = base();
    let mut track = Track::new(tid(9), crate::model::TrackKind::Video);
    track.clips = vec![
        Clip::new(cid(11), 50, 10, solid(1)),
        Clip::new(cid(10), 0, 10, solid(1)),
    ];
    let after = check_applies(&timeline, Command::AddTrack { track, index: None });
    let ids: Vec<_> = after.tracks[3].clips.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids, vec![cid(10), cid(11)]);
}

#[test]
fn remove_track_restores_position_and_clips_on_undo() {
    let timeline = base();
    let after = check_applies(&timeline, Command::RemoveTrack { track_id: tid(1) });
    assert_eq!(after.tracks.len(), 2);
    assert!(after.clip(&cid(1)).is_none());
    check_refused(
        &timeline,
        Command::RemoveTrack { track_id: tid(9) },
        "track_not_found",
    );
    let locked = lock(&timeline, tid(1));
    check_refused(
        &locked,
        Command::RemoveTrack { track_id: tid(1) },
        "track_locked",
    );
}

#[test]
fn reorder_track() {
    let timeline = base();
    let after = check_applies(
        &timeline,
        Command::ReorderTrack {
            track_id: tid(1),
            index: 2,
        },
    );
    assert_eq!(after.tracks[2].id, tid(1));
    check_refused(
        &timeline,
        Command::ReorderTrack {
            track_id: tid(1),
            index: 3,
        },
        "invalid_index",
    );
}

#[test]
fn set_track_properties_and_locking() {
    let timeline = base();
    let mut command = track_props(tid(1));
    if let Command::SetTrackProperties {
        name,
        muted,
        hidden,
        opacity,
        blend_mode,
        ..
    } = &mut command
    {
        *name = Some("Main".into());
        *muted = Some(true);
        *hidden = Some(true);
        *opacity = Some(0.25);
        *blend_mode = Some(BlendMode::Screen);
    }
    let after = check_applies(&timeline, command);
    assert_eq!(after.tracks[0].name, "Main");
    assert_eq!(after.tracks[0].opacity, 0.25);

    let mut bad = track_props(tid(1));
    if let Command::SetTrackProperties { opacity, .. } = &mut bad {
        *opacity = Some(f64::NAN);
    }
    check_refused(&timeline, bad, "invalid_value");

    let locked = lock(&timeline, tid(1));
    let mut rename = track_props(tid(1));
    if let Command::SetTrackProperties { name, .. } = &mut rename {
        *name = Some("x".into());
    }
    check_refused(&locked, rename.clone(), "track_locked");
    // Unlocking (with other changes in the same command) is allowed.
    if let Command::SetTrackProperties { locked: l, .. } = &mut rename {
        *l = Some(false);
    }
    check_applies(&locked, rename);
}

#[test]
fn overlap_can_only_be_forbidden_when_nothing_overlaps() {
    let timeline = base();
    let mut allow = track_props(tid(1));
    if let Command::SetTrackProperties { allow_overlap, .. } = &mut allow {
        *allow_overlap = Some(true);
    }
    let open = check_applies(&timeline, allow);
    let overlapped = check_applies(
        &open,
        Command::AddClip {
            track_id: tid(1),
            clip: Clip::new(cid(20), 10, 30, solid(3)),
        },
    );
    let mut forbid = track_props(tid(1));
    if let Command::SetTrackProperties { allow_overlap, .. } = &mut forbid {
        *allow_overlap = Some(false);
    }
    check_refused(&overlapped, forbid, "clip_overlap");
}

// ---------------------------------------------------------------------------------------------
// Clips

#[test]
fn add_clip_and_undo() {
    let timeline = base();
    let after = check_applies(
        &timeline,
        Command::AddClip {
            track_id: tid(1),
            clip: Clip::new(cid(20), 60, 10, solid(3)),
        },
    );
    assert_eq!(after.duration(), 70);
}

#[test]
fn add_clip_validation() {
    let timeline = base();
    let add = |track: u128, clip: Clip| Command::AddClip {
        track_id: tid(track),
        clip,
    };
    check_refused(
        &timeline,
        add(1, Clip::new(cid(20), 29, 10, solid(3))),
        "clip_overlap",
    );
    check_refused(
        &timeline,
        add(1, Clip::new(cid(20), 60, 0, solid(3))),
        "invalid_duration",
    );
    check_refused(
        &timeline,
        add(1, Clip::new(cid(1), 60, 10, solid(3))),
        "duplicate_id",
    );
    check_refused(
        &timeline,
        add(9, Clip::new(cid(20), 60, 10, solid(3))),
        "track_not_found",
    );
    check_refused(
        &timeline,
        add(1, Clip::new(cid(20), 60, 10, audio_source())),
        "incompatible_track",
    );
    check_refused(
        &timeline,
        add(2, Clip::new(cid(20), 60, 10, solid(1))),
        "incompatible_track",
    );
    check_refused(
        &timeline,
        add(3, Clip::new(cid(20), 60, 10, solid(1))),
        "incompatible_track",
    );
    check_refused(
        &timeline,
        add(1, Clip::new(cid(20), MAX_FRAME_FOR_TESTS, 10, solid(3))),
        "frame_out_of_range",
    );
    let mut fast = Clip::new(cid(20), 60, 10, solid(3));
    fast.speed = 0.0;
    check_refused(&timeline, add(1, fast), "invalid_value");
    let bad_asset = Source::Image {
        asset_id: "https://example.com/a.png".into(),
        width: 10,
        height: 10,
        fit: Default::default(),
    };
    check_refused(
        &timeline,
        add(1, Clip::new(cid(20), 60, 10, bad_asset)),
        "invalid_value",
    );
    let mut bad_keyframes = Clip::new(cid(20), 60, 10, solid(3));
    bad_keyframes.opacity.keyframes = vec![keyframe(1, 0, 0.0), keyframe(2, 0, 1.0)];
    check_refused(&timeline, add(1, bad_keyframes), "keyframe_conflict");
    let mut out_of_range = Clip::new(cid(20), 60, 10, solid(3));
    out_of_range.opacity = Param::constant(1.5);
    check_refused(&timeline, add(1, out_of_range), "invalid_value");
    let locked = lock(&timeline, tid(1));
    check_refused(
        &locked,
        add(1, Clip::new(cid(20), 60, 10, solid(3))),
        "track_locked",
    );
    check_applies(&timeline, add(3, Clip::new(cid(20), 0, 10, text_source())));
}

const MAX_FRAME_FOR_TESTS: u64 = crate::model::MAX_FRAME;

#[test]
fn add_clip_accepts_keyframes_in_any_order() {
    let timeline = base();
    let mut animated = Clip::new(cid(20), 60, 10, solid(3));
    animated.opacity.keyframes = vec![keyframe(2, 9, 1.0), keyframe(1, 0, 0.0)];
    let after = check_applies(
        &timeline,
        Command::AddClip {
            track_id: tid(1),
            clip: animated,
        },
    );
    assert_eq!(clip(&after, &cid(20)).opacity.keyframes[0].id, kfid(1));
}

#[test]
fn remove_clip() {
    let timeline = base();
    let after = check_applies(&timeline, Command::RemoveClip { clip_id: cid(2) });
    assert!(after.clip(&cid(2)).is_none());
    check_refused(
        &timeline,
        Command::RemoveClip { clip_id: cid(99) },
        "clip_not_found",
    );
    check_refused(
        &lock(&timeline, tid(1)),
        Command::RemoveClip { clip_id: cid(2) },
        "track_locked",
    );
}

#[test]
fn move_clip_in_time_and_across_tracks() {
    let mut timeline = base();
    ok(apply(
        &mut timeline,
        Command::AddTrack {
            track: Track::new(tid(4), crate::model::TrackKind::Overlay),
            index: None,
        },
    ));
    let later = check_applies(
        &timeline,
        Command::MoveClip {
            clip_id: cid(2),
            start: 100,
            track_id: None,
        },
    );
    assert_eq!(clip(&later, &cid(2)).start, 100);
    let across = check_applies(
        &timeline,
        Command::MoveClip {
            clip_id: cid(1),
            start: 5,
            track_id: Some(tid(4)),
        },
    );
    assert_eq!(across.tracks[3].clips[0].id, cid(1));
    check_refused(
        &timeline,
        Command::MoveClip {
            clip_id: cid(2),
            start: 10,
            track_id: None,
        },
        "clip_overlap",
    );
    check_refused(
        &timeline,
        Command::MoveClip {
            clip_id: cid(1),
            start: 0,
            track_id: Some(tid(2)),
        },
        "incompatible_track",
    );
    check_refused(
        &lock(&timeline, tid(4)),
        Command::MoveClip {
            clip_id: cid(1),
            start: 0,
            track_id: Some(tid(4)),
        },
        "track_locked",
    );
    // Moving onto itself (overlapping only its own old position) is fine.
    check_applies(
        &timeline,
        Command::MoveClip {
            clip_id: cid(1),
            start: 0,
            track_id: None,
        },
    );
}

#[test]
fn trim_start_keeps_content_and_animation_aligned() {
    let mut timeline = base();
    ok(apply(
        &mut timeline,
        Command::AddKeyframe {
            clip_id: cid(3),
            property: Property::GainDb,
            keyframe: keyframe(1, 20, -6.0),
        },
    ));
    let mut speed = clip_props(cid(3));
    if let Command::SetClipProperties { speed: s, .. } = &mut speed {
        *s = Some(2.0);
    }
    ok(apply(&mut timeline, speed));
    let after = check_applies(
        &timeline,
        Command::TrimClip {
            clip_id: cid(3),
            edge: ClipEdge::Start,
            frame: 10,
            source_in: None,
        },
    );
    let trimmed = clip(&after, &cid(3));
    assert_eq!((trimmed.start, trimmed.duration), (10, 50));
    assert_eq!(trimmed.source_in, 20.0);
    assert_eq!(trimmed.gain_db.keyframes[0].frame, 10);
    // The head cannot go before the source's first frame.
    check_refused(
        &after,
        Command::TrimClip {
            clip_id: cid(3),
            edge: ClipEdge::Start,
            frame: 0,
            source_in: Some(-1.0),
        },
        "invalid_trim",
    );
    let mut early = after.clone();
    ok(apply(
        &mut early,
        Command::MoveClip {
            clip_id: cid(3),
            start: 40,
            track_id: None,
        },
    ));
    check_refused(
        &early,
        Command::TrimClip {
            clip_id: cid(3),
            edge: ClipEdge::Start,
            frame: 20,
            source_in: None,
        },
        "invalid_trim",
    );
}

#[test]
fn trim_end_and_its_validation() {
    let timeline = base();
    let trim = |clip: u128, edge, frame| Command::TrimClip {
        clip_id: cid(clip),
        edge,
        frame,
        source_in: None,
    };
    let after = check_applies(&timeline, trim(2, ClipEdge::End, 45));
    assert_eq!(clip(&after, &cid(2)).duration, 15);
    check_applies(&timeline, trim(2, ClipEdge::End, 90));
    check_refused(&timeline, trim(2, ClipEdge::End, 30), "invalid_trim");
    check_refused(&timeline, trim(2, ClipEdge::Start, 60), "invalid_trim");
    check_refused(&timeline, trim(2, ClipEdge::Start, 20), "clip_overlap");
    check_refused(
        &timeline,
        Command::TrimClip {
            clip_id: cid(2),
            edge: ClipEdge::End,
            frame: 50,
            source_in: Some(1.0),
        },
        "invalid_value",
    );
    // A still's head can be extended freely; its in-point stays put.
    let after = check_applies(&timeline, Command::RemoveClip { clip_id: cid(1) });
    let extended = check_applies(&after, trim(2, ClipEdge::Start, 0));
    assert_eq!(clip(&extended, &cid(2)).source_in, 0.0);
}

#[test]
fn split_clip_cuts_strictly_inside() {
    let mut timeline = base();
    ok(apply(
        &mut timeline,
        Command::AddKeyframe {
            clip_id: cid(3),
            property: Property::GainDb,
            keyframe: keyframe(1, 0, 0.0),
        },
    ));
    ok(apply(
        &mut timeline,
        Command::AddKeyframe {
            clip_id: cid(3),
            property: Property::GainDb,
            keyframe: keyframe(2, 60, -60.0),
        },
    ));
    let mut fades = clip_props(cid(3));
    if let Command::SetClipProperties {
        fade_in, fade_out, ..
    } = &mut fades
    {
        *fade_in = Some(5);
        *fade_out = Some(5);
    }
    ok(apply(&mut timeline, fades));
    let after = check_applies(
        &timeline,
        Command::SplitClip {
            clip_id: cid(3),
            frame: 20,
            new_clip_id: cid(30),
        },
    );
    let (left, right) = (clip(&after, &cid(3)), clip(&after, &cid(30)));
    assert_eq!((left.start, left.duration, left.fade_out), (0, 20, 0));
    assert_eq!((right.start, right.duration, right.fade_in), (20, 40, 0));
    assert_eq!(right.source_in, 20.0);
    // The animation continues across the cut.
    let original = clip(&timeline, &cid(3));
    for frame in [20.0, 30.0, 59.0] {
        assert_eq!(
            original.gain_db.value_at(frame, 1.0 / 30.0),
            right.gain_db.value_at(frame - 20.0, 1.0 / 30.0)
        );
    }
    let split = |frame, new: u128| Command::SplitClip {
        clip_id: cid(3),
        frame,
        new_clip_id: cid(new),
    };
    check_refused(&timeline, split(0, 30), "split_out_of_range");
    check_refused(&timeline, split(60, 30), "split_out_of_range");
    check_refused(&timeline, split(20, 1), "duplicate_id");
}

#[test]
fn split_moves_the_outgoing_transition_to_the_right_part() {
    let mut timeline = base();
    ok(apply(
        &mut timeline,
        Command::SetTransition {
            clip_id: cid(1),
            transition: Transition {
                kind: TransitionKind::Crossfade,
                duration: 10,
                easing: Easing::Linear,
            },
        },
    ));
    let after = check_applies(
        &timeline,
        Command::SplitClip {
            clip_id: cid(1),
            frame: 10,
            new_clip_id: cid(30),
        },
    );
    assert!(clip(&after, &cid(1)).transition.is_none());
    assert!(clip(&after, &cid(30)).transition.is_some());
}

#[test]
fn duplicate_clip() {
    let timeline = base();
    let after = check_applies(
        &timeline,
        Command::DuplicateClip {
            clip_id: cid(2),
            new_clip_id: cid(40),
            start: None,
            track_id: None,
        },
    );
    assert_eq!(clip(&after, &cid(40)).start, 60);
    check_refused(
        &timeline,
        Command::DuplicateClip {
            clip_id: cid(2),
            new_clip_id: cid(40),
            start: Some(0),
            track_id: None,
        },
        "clip_overlap",
    );
    check_refused(
        &timeline,
        Command::DuplicateClip {
            clip_id: cid(2),
            new_clip_id: cid(3),
            start: None,
            track_id: None,
        },
        "duplicate_id",
    );
}

#[test]
fn set_clip_properties() {
    let timeline = base();
    let mut command = clip_props(cid(1));
    if let Command::SetClipProperties {
        name,
        source,
        blend_mode,
        ..
    } = &mut command
    {
        *name = Some("Red".into());
        *source = Some(solid(200));
        *blend_mode = Some(BlendMode::Multiply);
    }
    let after = check_applies(&timeline, command);
    assert_eq!(clip(&after, &cid(1)).blend_mode, BlendMode::Multiply);
    let mut wrong = clip_props(cid(1));
    if let Command::SetClipProperties { source, .. } = &mut wrong {
        *source = Some(audio_source());
    }
    check_refused(&timeline, wrong, "incompatible_track");
    let mut slow = clip_props(cid(1));
    if let Command::SetClipProperties { speed, .. } = &mut slow {
        *speed = Some(1000.0);
    }
    check_refused(&timeline, slow, "invalid_value");
}

#[test]
fn set_clip_param() {
    let timeline = base();
    let set = |property, value| Command::SetClipParam {
        clip_id: cid(1),
        property,
        value,
    };
    let after = check_applies(&timeline, set(Property::Rotation, 45.0));
    assert_eq!(clip(&after, &cid(1)).transform.rotation.value, 45.0);
    check_refused(&timeline, set(Property::Opacity, -0.1), "invalid_value");
    check_refused(
        &timeline,
        set(Property::ScaleX, f64::INFINITY),
        "invalid_value",
    );
    check_refused(
        &timeline,
        set(
            Property::Effect {
                effect_id: fxid(1),
                param: "radius".into(),
            },
            1.0,
        ),
        "unknown_property",
    );
}

// ---------------------------------------------------------------------------------------------
// Keyframes

#[test]
fn keyframe_lifecycle() {
    let timeline = base();
    let add = |n: u128, frame, value| Command::AddKeyframe {
        clip_id: cid(1),
        property: Property::Opacity,
        keyframe: keyframe(n, frame, value),
    };
    let one = check_applies(&timeline, add(1, 10, 0.5));
    let two = check_applies(&one, add(2, 0, 0.0));
    assert_eq!(clip(&two, &cid(1)).opacity.keyframes[0].id, kfid(2));
    check_refused(&two, add(2, 5, 0.0), "duplicate_id");
    check_refused(&two, add(3, 10, 0.0), "keyframe_conflict");
    check_refused(&two, add(3, 5, 2.0), "invalid_value");
    check_refused(
        &two,
        Command::AddKeyframe {
            clip_id: cid(1),
            property: Property::Opacity,
            keyframe: Keyframe {
                id: kfid(3),
                frame: 5,
                value: 0.5,
                easing: Easing::CubicBezier {
                    x1: 2.0,
                    y1: 0.0,
                    x2: 0.5,
                    y2: 1.0,
                },
            },
        },
        "invalid_value",
    );
    check_refused(
        &two,
        Command::AddKeyframe {
            clip_id: cid(1),
            property: Property::Opacity,
            keyframe: keyframe(3, i64::MIN, 0.5),
        },
        "frame_out_of_range",
    );

    let moved = check_applies(
        &two,
        Command::MoveKeyframe {
            clip_id: cid(1),
            keyframe_id: kfid(2),
            frame: 20,
        },
    );
    assert_eq!(clip(&moved, &cid(1)).opacity.keyframes[1].id, kfid(2));
    check_refused(
        &two,
        Command::MoveKeyframe {
            clip_id: cid(1),
            keyframe_id: kfid(2),
            frame: 10,
        },
        "keyframe_conflict",
    );
    check_refused(
        &two,
        Command::MoveKeyframe {
            clip_id: cid(1),
            keyframe_id: kfid(9),
            frame: 10,
        },
        "keyframe_not_found",
    );
    let updated = check_applies(
        &two,
        Command::UpdateKeyframe {
            clip_id: cid(1),
            keyframe_id: kfid(1),
            value: Some(1.0),
            easing: Some(Easing::EaseOut),
        },
    );
    assert_eq!(
        clip(&updated, &cid(1)).opacity.keyframes[1].easing,
        Easing::EaseOut
    );
    check_refused(
        &two,
        Command::UpdateKeyframe {
            clip_id: cid(1),
            keyframe_id: kfid(1),
            value: Some(9.0),
            easing: None,
        },
        "invalid_value",
    );
    let removed = check_applies(
        &two,
        Command::RemoveKeyframe {
            clip_id: cid(1),
            keyframe_id: kfid(1),
        },
    );
    assert_eq!(clip(&removed, &cid(1)).opacity.keyframes.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Effects

#[test]
fn effect_lifecycle() {
    let timeline = base();
    let add = |effect, index| Command::AddEffect {
        clip_id: cid(1),
        effect,
        index,
    };
    let one = check_applies(&timeline, add(blur(1, 4.0), None));
    let two = check_applies(
        &one,
        add(
            Effect {
                id: fxid(2),
                enabled: true,
                kind: EffectKind::Mask {
                    mask: MaskKind::Shape {
                        shape: ShapeKind::Ellipse {
                            width: 100.0,
                            height: 50.0,
                        },
                        x: Param::constant(0.0),
                        y: Param::constant(0.0),
                        feather: Param::constant(2.0),
                        invert: false,
                    },
                },
            },
            Some(0),
        ),
    );
    assert_eq!(clip(&two, &cid(1)).effects[0].id, fxid(2));
    check_refused(&two, add(blur(1, 1.0), None), "duplicate_id");
    check_refused(&two, add(blur(3, 1.0), Some(5)), "invalid_index");
    check_refused(&two, add(blur(3, 9999.0), None), "invalid_value");

    let reordered = check_applies(
        &two,
        Command::ReorderEffect {
            clip_id: cid(1),
            effect_id: fxid(2),
            index: 1,
        },
    );
    assert_eq!(clip(&reordered, &cid(1)).effects[1].id, fxid(2));
    check_refused(
        &two,
        Command::ReorderEffect {
            clip_id: cid(1),
            effect_id: fxid(2),
            index: 2,
        },
        "invalid_index",
    );

    let configured = check_applies(
        &two,
        Command::ConfigureEffect {
            clip_id: cid(1),
            effect_id: fxid(1),
            enabled: Some(false),
            kind: Some(EffectKind::BoxBlur {
                radius: Param::constant(3.0),
            }),
        },
    );
    assert!(!clip(&configured, &cid(1)).effects[1].enabled);
    check_refused(
        &two,
        Command::ConfigureEffect {
            clip_id: cid(1),
            effect_id: fxid(9),
            enabled: Some(false),
            kind: None,
        },
        "effect_not_found",
    );

    // Effect parameters are animatable like any other property.
    let radius = Property::Effect {
        effect_id: fxid(1),
        param: "radius".into(),
    };
    let animated = check_applies(
        &two,
        Command::AddKeyframe {
            clip_id: cid(1),
            property: radius.clone(),
            keyframe: keyframe(5, 0, 10.0),
        },
    );
    assert_eq!(
        clip(&animated, &cid(1))
            .param(&radius)
            .map(|p| p.keyframes.len()),
        Some(1)
    );
    check_refused(
        &two,
        Command::AddKeyframe {
            clip_id: cid(1),
            property: Property::Effect {
                effect_id: fxid(1),
                param: "amount".into(),
            },
            keyframe: keyframe(5, 0, 0.5),
        },
        "unknown_property",
    );

    let removed = check_applies(
        &two,
        Command::RemoveEffect {
            clip_id: cid(1),
            effect_id: fxid(2),
        },
    );
    assert_eq!(clip(&removed, &cid(1)).effects.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Transitions and markers

#[test]
fn transitions() {
    let timeline = base();
    let set = |duration| Command::SetTransition {
        clip_id: cid(1),
        transition: Transition {
            kind: TransitionKind::Wipe {
                direction: crate::model::Direction::Left,
            },
            duration,
            easing: Easing::Linear,
        },
    };
    let with = check_applies(&timeline, set(10));
    let replaced = check_applies(&with, set(20));
    assert_eq!(
        clip(&replaced, &cid(1)).transition.map(|t| t.duration),
        Some(20)
    );
    check_refused(&timeline, set(0), "invalid_duration");
    check_applies(&with, Command::RemoveTransition { clip_id: cid(1) });
    check_refused(
        &timeline,
        Command::RemoveTransition { clip_id: cid(1) },
        "transition_not_found",
    );
}

#[test]
fn markers() {
    let timeline = base();
    let marker = |n: u128, frame| Marker {
        id: mid(n),
        frame,
        label: "m".into(),
        color: Color::WHITE,
    };
    let added = check_applies(
        &timeline,
        Command::AddMarker {
            marker: marker(2, 5),
        },
    );
    assert_eq!(added.markers[0].id, mid(2));
    check_refused(
        &timeline,
        Command::AddMarker {
            marker: marker(1, 5),
        },
        "duplicate_id",
    );
    let moved = check_applies(
        &added,
        Command::MoveMarker {
            marker_id: mid(2),
            frame: 50,
        },
    );
    assert_eq!(moved.markers[1].id, mid(2));
    check_applies(
        &added,
        Command::UpdateMarker {
            marker_id: mid(1),
            label: Some("chorus".into()),
            color: Some(Color::BLACK),
        },
    );
    check_applies(&added, Command::RemoveMarker { marker_id: mid(1) });
    check_refused(
        &timeline,
        Command::RemoveMarker { marker_id: mid(9) },
        "marker_not_found",
    );
}

#[test]
fn project_settings() {
    let timeline = base();
    let after = check_applies(
        &timeline,
        Command::SetProjectSettings {
            width: Some(1280),
            height: Some(720),
            frame_rate: Some(Rational::new(30000, 1001)),
            background: Some(Color::WHITE),
        },
    );
    assert_eq!(after.settings.width, 1280);
    let bad = |width, frame_rate| Command::SetProjectSettings {
        width,
        height: None,
        frame_rate,
        background: None,
    };
    check_refused(&timeline, bad(Some(0), None), "invalid_value");
    check_refused(
        &timeline,
        bad(None, Some(Rational::new(30, 0))),
        "invalid_value",
    );
}

// ---------------------------------------------------------------------------------------------
// Batches, ids, JSON

#[test]
fn batches_are_all_or_nothing_and_undo_in_reverse() {
    let timeline = base();
    let good = Command::Batch {
        commands: vec![
            Command::AddClip {
                track_id: tid(1),
                clip: Clip::new(cid(20), 60, 10, solid(3)),
            },
            Command::MoveClip {
                clip_id: cid(20),
                start: 80,
                track_id: None,
            },
            Command::SetClipParam {
                clip_id: cid(20),
                property: Property::Opacity,
                value: 0.5,
            },
        ],
    };
    let after = check_applies(&timeline, good);
    assert_eq!(clip(&after, &cid(20)).start, 80);

    let bad = Command::Batch {
        commands: vec![
            Command::RemoveClip { clip_id: cid(1) },
            Command::RemoveClip { clip_id: cid(1) },
        ],
    };
    check_refused(&timeline, bad.clone(), "clip_not_found");
    let mut attempt = timeline.clone();
    match apply(&mut attempt, bad) {
        Err(CommandError::InBatch { index, .. }) => assert_eq!(index, 1),
        other => panic!("expected a batch failure, got {other:?}"),
    }
}

#[test]
fn batches_nest_up_to_a_limit() {
    let timeline = base();
    let mut nested = Command::RemoveClip { clip_id: cid(1) };
    for _ in 0..MAX_BATCH_DEPTH {
        nested = Command::Batch {
            commands: vec![nested],
        };
    }
    check_applies(&timeline, nested.clone());
    check_refused(
        &timeline,
        Command::Batch {
            commands: vec![nested],
        },
        "batch_too_deep",
    );
    check_applies(&timeline, Command::Batch { commands: vec![] });
}

#[test]
fn malformed_ids_are_refused_not_panicked() {
    let timeline = base();
    for raw in [
        "",
        "clp_",
        "trk_01J",
        "clp_hello world",
        "clp_ZZZZZZZZZZZZZZZZZZZZZZZZZZ",
    ] {
        let command: Command = match serde_json::from_value(serde_json::json!({
            "type": "remove_clip",
            "clip_id": raw,
        })) {
            Ok(command) => command,
            Err(e) => panic!("{raw}: {e}"),
        };
        check_refused(&timeline, command, "invalid_id");
    }
}

#[test]
fn json_shape_is_tagged_snake_case_and_strict() {
    let command = Command::MoveClip {
        clip_id: cid(1),
        start: 12,
        track_id: None,
    };
    let json = serde_json::to_value(&command).unwrap_or_default();
    assert_eq!(
        json,
        serde_json::json!({"type": "move_clip", "clip_id": cid(1), "start": 12})
    );
    let unknown = serde_json::json!({"type": "move_clip", "clip_id": cid(1), "start": 12, "x": 1});
    assert!(serde_json::from_value::<Command>(unknown).is_err());
    let no_type = serde_json::json!({"clip_id": cid(1), "start": 12});
    assert!(serde_json::from_value::<Command>(no_type).is_err());
    let keyframe_json = serde_json::json!({
        "type": "add_keyframe",
        "clip_id": cid(1),
        "property": {"effect": {"effect_id": fxid(1), "param": "radius"}},
        "keyframe": {"id": kfid(1), "frame": 0, "value": 2.0,
                     "easing": {"type": "spring", "stiffness": 100.0, "damping": 10.0, "mass": 1.0}}
    });
    assert!(serde_json::from_value::<Command>(keyframe_json).is_ok());
}

#[test]
fn schema_lists_every_command() {
    let schema = command_schema().to_string();
    for name in [
        "add_track",
        "remove_track",
        "reorder_track",
        "set_track_properties",
        "add_clip",
        "remove_clip",
        "move_clip",
        "trim_clip",
        "split_clip",
        "duplicate_clip",
        "set_clip_properties",
        "set_clip_param",
        "add_keyframe",
        "move_keyframe",
        "update_keyframe",
        "remove_keyframe",
        "add_effect",
        "remove_effect",
        "reorder_effect",
        "configure_effect",
        "set_transition",
        "remove_transition",
        "add_marker",
        "move_marker",
        "update_marker",
        "remove_marker",
        "set_project_settings",
        "batch",
    ] {
        assert!(
            schema.contains(&format!("\"{name}\"")),
            "schema lacks {name}"
        );
    }
    assert!(schema.contains("additionalProperties"));
}

#[test]
fn replay_reproduces_and_reports_the_failing_index() {
    let initial = base();
    let log = vec![
        Command::RemoveClip { clip_id: cid(1) },
        Command::MoveClip {
            clip_id: cid(2),
            start: 0,
            track_id: None,
        },
    ];
    let replayed = ok(replay(initial.clone(), &log).map_err(|(_, e)| e));
    assert_eq!(clip(&replayed, &cid(2)).start, 0);
    let mut broken = log.clone();
    broken.push(Command::RemoveClip { clip_id: cid(1) });
    match replay(initial, &broken) {
        Err((index, error)) => {
            assert_eq!(index, 2);
            assert_eq!(error.code(), "clip_not_found");
        }
        Ok(_) => panic!("replay should fail"),
    }
}

#[test]
fn error_codes_are_distinct() {
    let samples = [
        CommandError::InvalidId(crate::ids::IdError {
            id: String::new(),
            prefix: "clp",
        }),
        CommandError::DuplicateId { id: String::new() },
        CommandError::TrackNotFound { id: String::new() },
        CommandError::ClipNotFound { id: String::new() },
        CommandError::EffectNotFound {
            clip_id: String::new(),
            id: String::new(),
        },
        CommandError::KeyframeNotFound {
            clip_id: String::new(),
            id: String::new(),
        },
        CommandError::MarkerNotFound { id: String::new() },
        CommandError::TransitionNotFound {
            clip_id: String::new(),
        },
        CommandError::TrackLocked {
            track_id: String::new(),
        },
        CommandError::ClipOverlap {
            clip_id: String::new(),
            other_clip_id: String::new(),
            track_id: String::new(),
        },
        CommandError::IncompatibleTrack {
            source_kind: "a",
            track_kind: "b",
        },
        CommandError::InvalidDuration {
            field: String::new(),
        },
        CommandError::FrameOutOfRange {
            field: String::new(),
            frame: 0,
            min: 0,
            max: 0,
        },
        CommandError::SplitOutOfRange {
            frame: 0,
            start: 0,
            end: 0,
        },
        CommandError::InvalidTrim {
            reason: String::new(),
        },
        CommandError::InvalidIndex { index: 0, max: 0 },
        CommandError::UnknownProperty {
            clip_id: String::new(),
            property: String::new(),
        },
        CommandError::KeyframeConflict {
            property: String::new(),
            frame: 0,
        },
        CommandError::InvalidValue {
            field: String::new(),
            reason: String::new(),
        },
        CommandError::BatchTooDeep { max: 0 },
    ];
    let mut codes: Vec<&str> = samples.iter().map(CommandError::code).collect();
    assert!(codes
        .iter()
        .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), samples.len());
}

#[test]
fn adding_a_locked_track_undoes_cleanly() {
    let timeline = base();
    let mut track = Track::new(tid(9), crate::model::TrackKind::Video);
    track.locked = true;
    track.clips = vec![Clip::new(cid(20), 0, 10, solid(1))];
    let after = check_applies(&timeline, Command::AddTrack { track, index: None });
    check_refused(
        &after,
        Command::RemoveClip { clip_id: cid(20) },
        "track_locked",
    );
}
