//! Commands: the one way a timeline changes.
//!
//! A [`Command`] is plain data (JSON tagged on `type`). [`apply`] validates it against the
//! timeline and either applies it and returns its inverse, or refuses it with a
//! [`CommandError`] and leaves the timeline bit-for-bit unchanged. `apply` reads no clock and
//! draws no randomness: every id a command creates is in the command, so replaying a command log
//! reproduces the same timeline everywhere.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::display::{BlendMode, Color};
use crate::easing::Easing;
use crate::error::CommandError;
use crate::ids::{ClipId, EffectId, KeyframeId, MarkerId, TrackId};
use crate::model::{
    check_frame, check_kind, check_relative_frame, check_value, sort_clips, sort_markers,
    validate_track_props, Clip, Effect, EffectKind, Keyframe, Marker, Property, Rational, Source,
    Timeline, Track, Transition, MAX_TEXT_LEN,
};

/// Batches may contain batches, up to this depth.
pub const MAX_BATCH_DEPTH: usize = 8;

/// Which end of a clip a trim moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClipEdge {
    /// The first frame (head).
    Start,
    /// The end (tail).
    End,
}

/// An edit to a timeline.
///
/// JSON form: `{"type": "move_clip", "clip_id": "clp_…", "start": 120}`. Unknown fields are
/// rejected. Optional fields of the `set_…`/`update_…` commands leave their value unchanged when
/// absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[expect(
    clippy::large_enum_variant,
    reason = "commands are built once and applied once; boxing clips would only burden callers"
)]
pub enum Command {
    /// Adds a track (with any clips it already holds) to the stack.
    AddTrack {
        /// The new track; its id and every clip id must be unused.
        track: Track,
        /// Position in the stack, 0 = bottom; the top when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index: Option<u32>,
    },
    /// Removes a track and all its clips. Locked tracks refuse.
    RemoveTrack {
        /// The track.
        track_id: TrackId,
    },
    /// Moves a track to another position in the stack.
    ReorderTrack {
        /// The track.
        track_id: TrackId,
        /// Its position afterwards, 0 = bottom.
        index: u32,
    },
    /// Changes a track's properties. A locked track only accepts this command when it sets
    /// `locked` to false.
    SetTrackProperties {
        /// The track.
        track_id: TrackId,
        /// New display name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Silence the track's audio.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        muted: Option<bool>,
        /// Hide the track's pictures.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hidden: Option<bool>,
        /// Lock or unlock the track.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        locked: Option<bool>,
        /// Track opacity, `0.0..=1.0`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        opacity: Option<f64>,
        /// Blend mode of the track's `normal` clips.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blend_mode: Option<BlendMode>,
        /// Whether clips may overlap. Turning it off fails while clips overlap.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        allow_overlap: Option<bool>,
    },
    /// Places a new clip on a track.
    AddClip {
        /// The track.
        track_id: TrackId,
        /// The clip; its id must be unused in the timeline.
        clip: Clip,
    },
    /// Removes a clip.
    RemoveClip {
        /// The clip.
        clip_id: ClipId,
    },
    /// Moves a clip in time and optionally to another track of a compatible kind.
    MoveClip {
        /// The clip.
        clip_id: ClipId,
        /// New first frame.
        start: u64,
        /// Destination track; the clip's own track when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        track_id: Option<TrackId>,
    },
    /// Moves one edge of a clip, keeping the content under the other edge in place.
    ///
    /// Trimming the start keeps the content aligned: the source in-point advances by the frames
    /// removed (times the speed) and keyframes shift so animation stays on the same content.
    TrimClip {
        /// The clip.
        clip_id: ClipId,
        /// Which edge moves.
        edge: ClipEdge,
        /// Timeline frame the edge moves to (must keep the clip at least one frame long).
        frame: u64,
        /// Start edge only: the source in-point to use instead of the computed one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source_in: Option<f64>,
    },
    /// Cuts a clip in two at a frame strictly inside it. The right part gets the new id, the
    /// outgoing transition and the fade-out; the left part keeps the fade-in.
    SplitClip {
        /// The clip.
        clip_id: ClipId,
        /// Timeline frame where the right part starts.
        frame: u64,
        /// Id of the right part.
        new_clip_id: ClipId,
    },
    /// Copies a clip (with its effects, keyframes and transition) under a new id.
    DuplicateClip {
        /// The clip to copy.
        clip_id: ClipId,
        /// Id of the copy.
        new_clip_id: ClipId,
        /// First frame of the copy; right after the original when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start: Option<u64>,
        /// Track of the copy; the original's track when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        track_id: Option<TrackId>,
    },
    /// Changes a clip's non-animated properties.
    SetClipProperties {
        /// The clip.
        clip_id: ClipId,
        /// New display name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// New source (must suit the track kind).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<Source>,
        /// New source in-point (a slip edit), in project frames of source time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source_in: Option<f64>,
        /// New playback speed, `0.01..=100`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        speed: Option<f64>,
        /// New blend mode.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blend_mode: Option<BlendMode>,
        /// New audio fade-in length in frames.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fade_in: Option<u64>,
        /// New audio fade-out length in frames.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fade_out: Option<u64>,
    },
    /// Sets the base value of an animatable property (used while it has no keyframes).
    SetClipParam {
        /// The clip.
        clip_id: ClipId,
        /// The property.
        property: Property,
        /// The value, within the property's range.
        value: f64,
    },
    /// Adds a keyframe to an animatable property.
    AddKeyframe {
        /// The clip.
        clip_id: ClipId,
        /// The property.
        property: Property,
        /// The keyframe; its id must be unused in the clip and its frame free on the property.
        keyframe: Keyframe,
    },
    /// Moves a keyframe to another frame.
    MoveKeyframe {
        /// The clip.
        clip_id: ClipId,
        /// The keyframe.
        keyframe_id: KeyframeId,
        /// New frame relative to the clip start (must be free on the property).
        frame: i64,
    },
    /// Changes a keyframe's value or easing.
    UpdateKeyframe {
        /// The clip.
        clip_id: ClipId,
        /// The keyframe.
        keyframe_id: KeyframeId,
        /// New value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<f64>,
        /// New easing towards the next keyframe.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        easing: Option<Easing>,
    },
    /// Removes a keyframe.
    RemoveKeyframe {
        /// The clip.
        clip_id: ClipId,
        /// The keyframe.
        keyframe_id: KeyframeId,
    },
    /// Inserts an effect into a clip's stack.
    AddEffect {
        /// The clip.
        clip_id: ClipId,
        /// The effect; its id must be unused in the clip.
        effect: Effect,
        /// Position in the stack (applied in order); the end when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index: Option<u32>,
    },
    /// Removes an effect.
    RemoveEffect {
        /// The clip.
        clip_id: ClipId,
        /// The effect.
        effect_id: EffectId,
    },
    /// Moves an effect within the stack.
    ReorderEffect {
        /// The clip.
        clip_id: ClipId,
        /// The effect.
        effect_id: EffectId,
        /// Its position afterwards.
        index: u32,
    },
    /// Enables, disables or reconfigures an effect.
    ConfigureEffect {
        /// The clip.
        clip_id: ClipId,
        /// The effect.
        effect_id: EffectId,
        /// Enable or disable.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        enabled: Option<bool>,
        /// Replaces the effect's type and parameters (with their keyframes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<EffectKind>,
    },
    /// Sets (or replaces) the transition from a clip into the clip that starts where it ends.
    SetTransition {
        /// The outgoing clip.
        clip_id: ClipId,
        /// The transition.
        transition: Transition,
    },
    /// Removes a clip's outgoing transition.
    RemoveTransition {
        /// The outgoing clip.
        clip_id: ClipId,
    },
    /// Adds a marker.
    AddMarker {
        /// The marker; its id must be unused.
        marker: Marker,
    },
    /// Moves a marker.
    MoveMarker {
        /// The marker.
        marker_id: MarkerId,
        /// New timeline frame.
        frame: u64,
    },
    /// Changes a marker's label or colour.
    UpdateMarker {
        /// The marker.
        marker_id: MarkerId,
        /// New label.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// New colour.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        color: Option<Color>,
    },
    /// Removes a marker.
    RemoveMarker {
        /// The marker.
        marker_id: MarkerId,
    },
    /// Changes the project's output format.
    SetProjectSettings {
        /// Frame width in pixels.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        width: Option<u32>,
        /// Frame height in pixels.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        height: Option<u32>,
        /// Frame rate.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        frame_rate: Option<Rational>,
        /// Background colour.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        background: Option<Color>,
    },
    /// Applies commands in order, all or nothing. Its inverse is the batch of the inverses in
    /// reverse order.
    Batch {
        /// The commands.
        commands: Vec<Command>,
    },
}

/// What a successful [`apply`] reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Applied {
    /// Applying this right afterwards restores the timeline exactly (undo).
    pub inverse: Command,
}

/// Applies a command: validated, atomic and deterministic.
///
/// On error the timeline is unchanged, bit for bit; a batch fails as a whole.
pub fn apply(timeline: &mut Timeline, command: Command) -> Result<Applied, CommandError> {
    apply_at(timeline, command, 0).map(|inverse| Applied { inverse })
}

/// Replays a command log from an initial timeline. On failure reports the index of the refused
/// command and why.
pub fn replay(initial: Timeline, commands: &[Command]) -> Result<Timeline, (usize, CommandError)> {
    let mut timeline = initial;
    for (index, command) in commands.iter().enumerate() {
        apply(&mut timeline, command.clone()).map_err(|error| (index, error))?;
    }
    Ok(timeline)
}

/// JSON Schema (draft 2020-12) of [`Command`], shared by HTTP, the room protocol and MCP tools.
pub fn command_schema() -> serde_json::Value {
    schemars::schema_for!(Command).to_value()
}

fn apply_at(
    timeline: &mut Timeline,
    command: Command,
    depth: usize,
) -> Result<Command, CommandError> {
    match command {
        Command::Batch { commands } => {
            if depth >= MAX_BATCH_DEPTH {
                return Err(CommandError::BatchTooDeep {
                    max: MAX_BATCH_DEPTH,
                });
            }
            // Only the outermost batch needs a scratch copy: a failure anywhere inside discards it.
            if depth == 0 {
                let mut scratch = timeline.clone();
                let inverse = apply_batch(&mut scratch, commands, depth)?;
                *timeline = scratch;
                Ok(inverse)
            } else {
                apply_batch(timeline, commands, depth)
            }
        }
        other => apply_one(timeline, other),
    }
}

fn apply_batch(
    timeline: &mut Timeline,
    commands: Vec<Command>,
    depth: usize,
) -> Result<Command, CommandError> {
    let mut inverses = Vec::with_capacity(commands.len());
    for (index, command) in commands.into_iter().enumerate() {
        let inverse =
            apply_at(timeline, command, depth + 1).map_err(|error| CommandError::InBatch {
                index,
                source: Box::new(error),
            })?;
        inverses.push(inverse);
    }
    inverses.reverse();
    Ok(Command::Batch { commands: inverses })
}

/// Every arm validates completely before its first mutation, so an error leaves the timeline as
/// it was without needing a copy.
fn apply_one(timeline: &mut Timeline, command: Command) -> Result<Command, CommandError> {
    match command {
        Command::AddTrack { track, index } => add_track(timeline, track, index),
        Command::RemoveTrack { track_id } => {
            let t = track_index(timeline, &track_id)?;
            ensure_unlocked(&timeline.tracks[t])?;
            let track = timeline.tracks.remove(t);
            Ok(Command::AddTrack {
                track,
                index: Some(to_u32(t)),
            })
        }
        Command::ReorderTrack { track_id, index } => {
            let t = track_index(timeline, &track_id)?;
            let target = check_index(index, timeline.tracks.len().saturating_sub(1))?;
            let track = timeline.tracks.remove(t);
            timeline.tracks.insert(target, track);
            Ok(Command::ReorderTrack {
                track_id,
                index: to_u32(t),
            })
        }
        Command::SetTrackProperties {
            track_id,
            name,
            muted,
            hidden,
            locked,
            opacity,
            blend_mode,
            allow_overlap,
        } => {
            let t = track_index(timeline, &track_id)?;
            let track = &timeline.tracks[t];
            if track.locked && locked != Some(false) {
                return Err(CommandError::TrackLocked {
                    track_id: track_id.to_string(),
                });
            }
            let mut probe = Track::new(track.id.clone(), track.kind);
            probe.name = name.clone().unwrap_or_default();
            probe.opacity = opacity.unwrap_or(1.0);
            validate_track_props(&probe)?;
            if allow_overlap == Some(false) && track.allow_overlap {
                if let Some(pair) = track
                    .clips
                    .windows(2)
                    .find(|pair| pair[1].start < pair[0].end())
                {
                    return Err(CommandError::ClipOverlap {
                        clip_id: pair[1].id.to_string(),
                        other_clip_id: pair[0].id.to_string(),
                        track_id: track_id.to_string(),
                    });
                }
            }
            let track = &mut timeline.tracks[t];
            Ok(Command::SetTrackProperties {
                name: name.map(|v| std::mem::replace(&mut track.name, v)),
                muted: muted.map(|v| std::mem::replace(&mut track.muted, v)),
                hidden: hidden.map(|v| std::mem::replace(&mut track.hidden, v)),
                locked: locked.map(|v| std::mem::replace(&mut track.locked, v)),
                opacity: opacity.map(|v| std::mem::replace(&mut track.opacity, v)),
                blend_mode: blend_mode.map(|v| std::mem::replace(&mut track.blend_mode, v)),
                allow_overlap: allow_overlap
                    .map(|v| std::mem::replace(&mut track.allow_overlap, v)),
                track_id,
            })
        }
        Command::AddClip { track_id, mut clip } => {
            let t = track_index(timeline, &track_id)?;
            ensure_unlocked(&timeline.tracks[t])?;
            normalize_clip(&mut clip);
            clip.validate()?;
            check_kind(timeline.tracks[t].kind, &clip.source)?;
            ensure_clip_id_free(timeline, &clip.id)?;
            check_placement(&timeline.tracks[t], &clip, None)?;
            let clip_id = clip.id.clone();
            insert_clip(&mut timeline.tracks[t], clip);
            Ok(Command::RemoveClip { clip_id })
        }
        Command::RemoveClip { clip_id } => {
            let (t, c) = locate_clip(timeline, &clip_id)?;
            let clip = timeline.tracks[t].clips.remove(c);
            Ok(Command::AddClip {
                track_id: timeline.tracks[t].id.clone(),
                clip,
            })
        }
        Command::MoveClip {
            clip_id,
            start,
            track_id,
        } => {
            let (t, c) = locate_clip(timeline, &clip_id)?;
            let target = match &track_id {
                Some(id) => track_index(timeline, id)?,
                None => t,
            };
            ensure_unlocked(&timeline.tracks[target])?;
            let old = &timeline.tracks[t].clips[c];
            check_kind(timeline.tracks[target].kind, &old.source)?;
            let mut moved = old.clone();
            moved.start = start;
            check_frame("clip.start", start)?;
            check_frame(
                "clip end (start + duration)",
                start.saturating_add(moved.duration),
            )?;
            check_placement(&timeline.tracks[target], &moved, Some(&clip_id))?;
            let old_start = old.start;
            timeline.tracks[t].clips.remove(c);
            insert_clip(&mut timeline.tracks[target], moved);
            Ok(Command::MoveClip {
                clip_id,
                start: old_start,
                track_id: (target != t).then(|| timeline.tracks[t].id.clone()),
            })
        }
        Command::TrimClip {
            clip_id,
            edge,
            frame,
            source_in,
        } => trim_clip(timeline, clip_id, edge, frame, source_in),
        Command::SplitClip {
            clip_id,
            frame,
            new_clip_id,
        } => split_clip(timeline, clip_id, frame, new_clip_id),
        Command::DuplicateClip {
            clip_id,
            new_clip_id,
            start,
            track_id,
        } => {
            let (t, c) = locate_clip(timeline, &clip_id)?;
            new_clip_id.validate()?;
            ensure_clip_id_free(timeline, &new_clip_id)?;
            let target = match &track_id {
                Some(id) => track_index(timeline, id)?,
                None => t,
            };
            ensure_unlocked(&timeline.tracks[target])?;
            let original = &timeline.tracks[t].clips[c];
            let mut copy = original.clone();
            copy.id = new_clip_id.clone();
            copy.start = start.unwrap_or(original.end());
            copy.validate()?;
            check_kind(timeline.tracks[target].kind, &copy.source)?;
            check_placement(&timeline.tracks[target], &copy, None)?;
            insert_clip(&mut timeline.tracks[target], copy);
            Ok(Command::RemoveClip {
                clip_id: new_clip_id,
            })
        }
        Command::SetClipProperties {
            clip_id,
            name,
            source,
            source_in,
            speed,
            blend_mode,
            fade_in,
            fade_out,
        } => {
            let (t, c) = locate_clip(timeline, &clip_id)?;
            let old = &timeline.tracks[t].clips[c];
            let mut new = old.clone();
            let inverse = Command::SetClipProperties {
                clip_id,
                name: name.map(|v| std::mem::replace(&mut new.name, v)),
                source: source.map(|v| std::mem::replace(&mut new.source, v)),
                source_in: source_in.map(|v| std::mem::replace(&mut new.source_in, v)),
                speed: speed.map(|v| std::mem::replace(&mut new.speed, v)),
                blend_mode: blend_mode.map(|v| std::mem::replace(&mut new.blend_mode, v)),
                fade_in: fade_in.map(|v| std::mem::replace(&mut new.fade_in, v)),
                fade_out: fade_out.map(|v| std::mem::replace(&mut new.fade_out, v)),
            };
            new.validate()?;
            check_kind(timeline.tracks[t].kind, &new.source)?;
            timeline.tracks[t].clips[c] = new;
            Ok(inverse)
        }
        Command::SetClipParam {
            clip_id,
            property,
            value,
        } => {
            let (t, c) = locate_clip(timeline, &clip_id)?;
            check_value(&property, value)?;
            let clip = &mut timeline.tracks[t].clips[c];
            let param = clip
                .param_mut(&property)
                .ok_or_else(|| unknown_property(&clip_id, &property))?;
            let old = std::mem::replace(&mut param.value, value);
            Ok(Command::SetClipParam {
                clip_id,
                property,
                value: old,
            })
        }
        Command::AddKeyframe {
            clip_id,
            property,
            keyframe,
        } => {
            let (t, c) = locate_clip(timeline, &clip_id)?;
            keyframe.id.validate()?;
            check_relative_frame("keyframe.frame", keyframe.frame)?;
            check_value(&property, keyframe.value)?;
            if let Some(problem) = keyframe.easing.problem() {
                return Err(CommandError::invalid("keyframe.easing", problem));
            }
            let clip = &mut timeline.tracks[t].clips[c];
            if clip.find_keyframe(&keyframe.id).is_some() {
                return Err(CommandError::DuplicateId {
                    id: keyframe.id.to_string(),
                });
            }
            let param = clip
                .param_mut(&property)
                .ok_or_else(|| unknown_property(&clip_id, &property))?;
            let at = param
                .keyframes
                .partition_point(|k| k.frame < keyframe.frame);
            if param
                .keyframes
                .get(at)
                .is_some_and(|k| k.frame == keyframe.frame)
            {
                return Err(CommandError::KeyframeConflict {
                    property: property.to_string(),
                    frame: keyframe.frame,
                });
            }
            let keyframe_id = keyframe.id.clone();
            param.keyframes.insert(at, keyframe);
            Ok(Command::RemoveKeyframe {
                clip_id,
                keyframe_id,
            })
        }
        Command::MoveKeyframe {
            clip_id,
            keyframe_id,
            frame,
        } => {
            let (t, c) = locate_clip(timeline, &clip_id)?;
            check_relative_frame("keyframe.frame", frame)?;
            let clip = &mut timeline.tracks[t].clips[c];
            let (property, i) = find_keyframe(clip, &clip_id, &keyframe_id)?;
            let param = clip
                .param_mut(&property)
                .ok_or_else(|| unknown_property(&clip_id, &property))?;
            if param
                .keyframes
                .iter()
                .any(|k| k.frame == frame && k.id != keyframe_id)
            {
                return Err(CommandError::KeyframeConflict {
                    property: property.to_string(),
                    frame,
                });
            }
            let old = std::mem::replace(&mut param.keyframes[i].frame, frame);
            param.sort();
            Ok(Command::MoveKeyframe {
                clip_id,
                keyframe_id,
                frame: old,
            })
        }
        Command::UpdateKeyframe {
            clip_id,
            keyframe_id,
            value,
            easing,
        } => {
            let (t, c) = locate_clip(timeline, &clip_id)?;
            let clip = &mut timeline.tracks[t].clips[c];
            let (property, i) = find_keyframe(clip, &clip_id, &keyframe_id)?;
            if let Some(value) = value {
                check_value(&property, value)?;
            }
            if let Some(problem) = easing.as_ref().and_then(Easing::problem) {
                return Err(CommandError::invalid("keyframe.easing", problem));
            }
            let param = clip
                .param_mut(&property)
                .ok_or_else(|| unknown_property(&clip_id, &property))?;
            let keyframe = &mut param.keyframes[i];
            Ok(Command::UpdateKeyframe {
                value: value.map(|v| std::mem::replace(&mut keyframe.value, v)),
                easing: easing.map(|v| std::mem::replace(&mut keyframe.easing, v)),
                clip_id,
                keyframe_id,
            })
        }
        Command::RemoveKeyframe {
            clip_id,
            keyframe_id,
        } => {
            let (t, c) = locate_clip(timeline, &clip_id)?;
            let clip = &mut timeline.tracks[t].clips[c];
            let (property, i) = find_keyframe(clip, &clip_id, &keyframe_id)?;
            let param = clip
                .param_mut(&property)
                .ok_or_else(|| unknown_property(&clip_id, &property))?;
            let keyframe = param.keyframes.remove(i);
            Ok(Command::AddKeyframe {
                clip_id,
                property,
                keyframe,
            })
        }
        Command::AddEffect {
            clip_id,
            effect,
            index,
        } => {
            let (t, c) = locate_clip(timeline, &clip_id)?;
            let old = &timeline.tracks[t].clips[c];
            let at = match index {
                Some(index) => check_index(index, old.effects.len())?,
                None => old.effects.len(),
            };
            if old.effect_index(&effect.id).is_some() {
                return Err(CommandError::DuplicateId {
                    id: effect.id.to_string(),
                });
            }
            let effect_id = effect.id.clone();
            let mut new = old.clone();
            new.effects.insert(at, effect);
            normalize_clip(&mut new);
            new.validate()?;
            timeline.tracks[t].clips[c] = new;
            Ok(Command::RemoveEffect { clip_id, effect_id })
        }
        Command::RemoveEffect { clip_id, effect_id } => {
            let (t, c) = locate_clip(timeline, &clip_id)?;
            let clip = &mut timeline.tracks[t].clips[c];
            let i = effect_index(clip, &clip_id, &effect_id)?;
            let effect = clip.effects.remove(i);
            Ok(Command::AddEffect {
                clip_id,
                effect,
                index: Some(to_u32(i)),
            })
        }
        Command::ReorderEffect {
            clip_id,
            effect_id,
            index,
        } => {
            let (t, c) = locate_clip(timeline, &clip_id)?;
            let clip = &mut timeline.tracks[t].clips[c];
            let i = effect_index(clip, &clip_id, &effect_id)?;
            let target = check_index(index, clip.effects.len().saturating_sub(1))?;
            let effect = clip.effects.remove(i);
            clip.effects.insert(target, effect);
            Ok(Command::ReorderEffect {
                clip_id,
                effect_id,
                index: to_u32(i),
            })
        }
        Command::ConfigureEffect {
            clip_id,
            effect_id,
            enabled,
            kind,
        } => {
            let (t, c) = locate_clip(timeline, &clip_id)?;
            let old = &timeline.tracks[t].clips[c];
            let i = effect_index(old, &clip_id, &effect_id)?;
            let mut new = old.clone();
            let effect = &mut new.effects[i];
            let inverse = Command::ConfigureEffect {
                enabled: enabled.map(|v| std::mem::replace(&mut effect.enabled, v)),
                kind: kind.map(|v| std::mem::replace(&mut effect.kind, v)),
                clip_id,
                effect_id,
            };
            normalize_clip(&mut new);
            new.validate()?;
            timeline.tracks[t].clips[c] = new;
            Ok(inverse)
        }
        Command::SetTransition {
            clip_id,
            transition,
        } => {
            let (t, c) = locate_clip(timeline, &clip_id)?;
            let mut new = timeline.tracks[t].clips[c].clone();
            let old = new.transition.replace(transition);
            new.validate()?;
            timeline.tracks[t].clips[c] = new;
            Ok(match old {
                Some(transition) => Command::SetTransition {
                    clip_id,
                    transition,
                },
                None => Command::RemoveTransition { clip_id },
            })
        }
        Command::RemoveTransition { clip_id } => {
            let (t, c) = locate_clip(timeline, &clip_id)?;
            let transition = timeline.tracks[t].clips[c]
                .transition
                .take()
                .ok_or_else(|| CommandError::TransitionNotFound {
                    clip_id: clip_id.to_string(),
                })?;
            Ok(Command::SetTransition {
                clip_id,
                transition,
            })
        }
        Command::AddMarker { marker } => {
            marker.validate()?;
            if timeline.marker_index(&marker.id).is_some() {
                return Err(CommandError::DuplicateId {
                    id: marker.id.to_string(),
                });
            }
            let marker_id = marker.id.clone();
            timeline.markers.push(marker);
            sort_markers(&mut timeline.markers);
            Ok(Command::RemoveMarker { marker_id })
        }
        Command::MoveMarker { marker_id, frame } => {
            let m = marker_index(timeline, &marker_id)?;
            check_frame("marker.frame", frame)?;
            let old = std::mem::replace(&mut timeline.markers[m].frame, frame);
            sort_markers(&mut timeline.markers);
            Ok(Command::MoveMarker {
                marker_id,
                frame: old,
            })
        }
        Command::UpdateMarker {
            marker_id,
            label,
            color,
        } => {
            let m = marker_index(timeline, &marker_id)?;
            if label.as_ref().is_some_and(|l| l.len() > MAX_TEXT_LEN) {
                return Err(CommandError::invalid("marker.label", "too long"));
            }
            let marker = &mut timeline.markers[m];
            Ok(Command::UpdateMarker {
                label: label.map(|v| std::mem::replace(&mut marker.label, v)),
                color: color.map(|v| std::mem::replace(&mut marker.color, v)),
                marker_id,
            })
        }
        Command::RemoveMarker { marker_id } => {
            let m = marker_index(timeline, &marker_id)?;
            let marker = timeline.markers.remove(m);
            Ok(Command::AddMarker { marker })
        }
        Command::SetProjectSettings {
            width,
            height,
            frame_rate,
            background,
        } => {
            let mut new = timeline.settings.clone();
            let inverse = Command::SetProjectSettings {
                width: width.map(|v| std::mem::replace(&mut new.width, v)),
                height: height.map(|v| std::mem::replace(&mut new.height, v)),
                frame_rate: frame_rate.map(|v| std::mem::replace(&mut new.frame_rate, v)),
                background: background.map(|v| std::mem::replace(&mut new.background, v)),
            };
            new.validate()?;
            timeline.settings = new;
            Ok(inverse)
        }
        Command::Batch { .. } => apply_at(timeline, command, 0),
    }
}

fn add_track(
    timeline: &mut Timeline,
    mut track: Track,
    index: Option<u32>,
) -> Result<Command, CommandError> {
    track.id.validate()?;
    if timeline.track_index(&track.id).is_some() {
        return Err(CommandError::DuplicateId {
            id: track.id.to_string(),
        });
    }
    validate_track_props(&track)?;
    let at = match index {
        Some(index) => check_index(index, timeline.tracks.len())?,
        None => timeline.tracks.len(),
    };
    for clip in &mut track.clips {
        normalize_clip(clip);
    }
    sort_clips(&mut track.clips);
    for (i, clip) in track.clips.iter().enumerate() {
        clip.validate()?;
        check_kind(track.kind, &clip.source)?;
        ensure_clip_id_free(timeline, &clip.id)?;
        if track.clips[..i].iter().any(|other| other.id == clip.id) {
            return Err(CommandError::DuplicateId {
                id: clip.id.to_string(),
            });
        }
    }
    if !track.allow_overlap {
        if let Some(pair) = track.clips.windows(2).find(|p| p[1].start < p[0].end()) {
            return Err(CommandError::ClipOverlap {
                clip_id: pair[1].id.to_string(),
                other_clip_id: pair[0].id.to_string(),
                track_id: track.id.to_string(),
            });
        }
    }
    let track_id = track.id.clone();
    let locked = track.locked;
    timeline.tracks.insert(at, track);
    let remove = Command::RemoveTrack {
        track_id: track_id.clone(),
    };
    if !locked {
        return Ok(remove);
    }
    // A locked track refuses removal, so its undo unlocks it first.
    Ok(Command::Batch {
        commands: vec![
            Command::SetTrackProperties {
                track_id,
                name: None,
                muted: None,
                hidden: None,
                locked: Some(false),
                opacity: None,
                blend_mode: None,
                allow_overlap: None,
            },
            remove,
        ],
    })
}

fn trim_clip(
    timeline: &mut Timeline,
    clip_id: ClipId,
    edge: ClipEdge,
    frame: u64,
    source_in: Option<f64>,
) -> Result<Command, CommandError> {
    let (t, c) = locate_clip(timeline, &clip_id)?;
    let old = &timeline.tracks[t].clips[c];
    let end = old.end();
    check_frame("trim frame", frame)?;
    let mut new = old.clone();
    let inverse = match edge {
        ClipEdge::Start => {
            if frame >= end {
                return Err(CommandError::InvalidTrim {
                    reason: format!("start {frame} must be before the clip's end {end}"),
                });
            }
            // Both frames are at most MAX_FRAME, so the difference fits an i64 exactly.
            let delta = frame as i64 - old.start as i64;
            new.source_in = match source_in {
                Some(source_in) => source_in,
                None if old.source.is_timed() => old.source_in + delta as f64 * old.speed,
                None => old.source_in,
            };
            if new.source_in < 0.0 {
                return Err(CommandError::InvalidTrim {
                    reason: "the source would start before its first frame".into(),
                });
            }
            new.start = frame;
            new.duration = end - frame;
            new.shift_keyframes(-delta);
            Command::TrimClip {
                clip_id: clip_id.clone(),
                edge,
                frame: old.start,
                source_in: Some(old.source_in),
            }
        }
        ClipEdge::End => {
            if source_in.is_some() {
                return Err(CommandError::invalid(
                    "source_in",
                    "only a start trim can set the source in-point",
                ));
            }
            if frame <= old.start {
                return Err(CommandError::InvalidTrim {
                    reason: format!("end {frame} must be after the clip's start {}", old.start),
                });
            }
            new.duration = frame - old.start;
            Command::TrimClip {
                clip_id: clip_id.clone(),
                edge,
                frame: end,
                source_in: None,
            }
        }
    };
    new.validate()?;
    check_placement(&timeline.tracks[t], &new, Some(&clip_id))?;
    timeline.tracks[t].clips.remove(c);
    insert_clip(&mut timeline.tracks[t], new);
    Ok(inverse)
}

fn split_clip(
    timeline: &mut Timeline,
    clip_id: ClipId,
    frame: u64,
    new_clip_id: ClipId,
) -> Result<Command, CommandError> {
    let (t, c) = locate_clip(timeline, &clip_id)?;
    new_clip_id.validate()?;
    ensure_clip_id_free(timeline, &new_clip_id)?;
    let original = &timeline.tracks[t].clips[c];
    if frame <= original.start || frame >= original.end() {
        return Err(CommandError::SplitOutOfRange {
            frame,
            start: original.start,
            end: original.end(),
        });
    }
    let offset = frame - original.start;
    let mut left = original.clone();
    left.duration = offset;
    left.transition = None;
    left.fade_out = 0;
    let mut right = original.clone();
    right.id = new_clip_id.clone();
    right.start = frame;
    right.duration = original.end() - frame;
    if original.source.is_timed() {
        right.source_in = original.source_in + offset as f64 * original.speed;
    }
    right.fade_in = 0;
    right.shift_keyframes(-(offset as i64));
    left.validate()?;
    right.validate()?;
    let track = &mut timeline.tracks[t];
    let original = std::mem::replace(&mut track.clips[c], left);
    insert_clip(track, right);
    Ok(Command::Batch {
        commands: vec![
            Command::RemoveClip {
                clip_id: new_clip_id,
            },
            Command::RemoveClip {
                clip_id: clip_id.clone(),
            },
            Command::AddClip {
                track_id: track.id.clone(),
                clip: original,
            },
        ],
    })
}

fn to_u32(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

fn check_index(index: u32, max: usize) -> Result<usize, CommandError> {
    let i = index as usize;
    if i <= max {
        Ok(i)
    } else {
        Err(CommandError::InvalidIndex {
            index,
            max: to_u32(max),
        })
    }
}

fn track_index(timeline: &Timeline, id: &TrackId) -> Result<usize, CommandError> {
    id.validate()?;
    timeline
        .track_index(id)
        .ok_or_else(|| CommandError::TrackNotFound { id: id.to_string() })
}

fn marker_index(timeline: &Timeline, id: &MarkerId) -> Result<usize, CommandError> {
    id.validate()?;
    timeline
        .marker_index(id)
        .ok_or_else(|| CommandError::MarkerNotFound { id: id.to_string() })
}

fn ensure_unlocked(track: &Track) -> Result<(), CommandError> {
    if track.locked {
        Err(CommandError::TrackLocked {
            track_id: track.id.to_string(),
        })
    } else {
        Ok(())
    }
}

/// Finds a clip that may be edited: it exists and its track is unlocked.
fn locate_clip(timeline: &Timeline, id: &ClipId) -> Result<(usize, usize), CommandError> {
    id.validate()?;
    let (t, c) = timeline
        .clip_position(id)
        .ok_or_else(|| CommandError::ClipNotFound { id: id.to_string() })?;
    ensure_unlocked(&timeline.tracks[t])?;
    Ok((t, c))
}

fn ensure_clip_id_free(timeline: &Timeline, id: &ClipId) -> Result<(), CommandError> {
    if timeline.clip_position(id).is_some() {
        Err(CommandError::DuplicateId { id: id.to_string() })
    } else {
        Ok(())
    }
}

fn effect_index(clip: &Clip, clip_id: &ClipId, id: &EffectId) -> Result<usize, CommandError> {
    id.validate()?;
    clip.effect_index(id)
        .ok_or_else(|| CommandError::EffectNotFound {
            clip_id: clip_id.to_string(),
            id: id.to_string(),
        })
}

fn find_keyframe(
    clip: &Clip,
    clip_id: &ClipId,
    id: &KeyframeId,
) -> Result<(Property, usize), CommandError> {
    id.validate()?;
    clip.find_keyframe(id)
        .ok_or_else(|| CommandError::KeyframeNotFound {
            clip_id: clip_id.to_string(),
            id: id.to_string(),
        })
}

fn unknown_property(clip_id: &ClipId, property: &Property) -> CommandError {
    CommandError::UnknownProperty {
        clip_id: clip_id.to_string(),
        property: property.to_string(),
    }
}

/// Refuses a placement that overlaps another clip on a track that forbids overlaps.
fn check_placement(
    track: &Track,
    clip: &Clip,
    ignore: Option<&ClipId>,
) -> Result<(), CommandError> {
    if track.allow_overlap {
        return Ok(());
    }
    let (start, end) = (clip.start, clip.end());
    match track
        .clips
        .iter()
        .find(|other| Some(&other.id) != ignore && other.start < end && start < other.end())
    {
        Some(other) => Err(CommandError::ClipOverlap {
            clip_id: clip.id.to_string(),
            other_clip_id: other.id.to_string(),
            track_id: track.id.to_string(),
        }),
        None => Ok(()),
    }
}

fn insert_clip(track: &mut Track, clip: Clip) {
    let at = track
        .clips
        .partition_point(|other| (other.start, &other.id) < (clip.start, &clip.id));
    track.clips.insert(at, clip);
}

/// Sorts keyframes into canonical order so callers may list them in any order.
fn normalize_clip(clip: &mut Clip) {
    let properties: Vec<Property> = clip.params().into_iter().map(|(p, _)| p).collect();
    for property in properties {
        if let Some(param) = clip.param_mut(&property) {
            param.sort();
        }
    }
}

#[cfg(test)]
#[path = "command_tests.rs"]
pub(crate) mod tests;

#[cfg(test)]
#[path = "command_proptests.rs"]
mod proptests;
