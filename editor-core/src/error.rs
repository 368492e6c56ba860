//! Why a command was refused.

use crate::ids::IdError;

/// A command was refused; the timeline is unchanged.
///
/// Every variant has a stable snake_case [`code`](CommandError::code) that the HTTP layer, the
/// room protocol and MCP tools expose to clients, and a message meant for humans and agents.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    /// An id is malformed or carries the wrong type prefix.
    #[error(transparent)]
    InvalidId(#[from] IdError),
    /// An id is already used by another object of the same kind in the same scope.
    #[error("id `{id}` is already in use")]
    DuplicateId {
        /// The id.
        id: String,
    },
    /// No track has this id.
    #[error("no track with id `{id}`")]
    TrackNotFound {
        /// The id.
        id: String,
    },
    /// No clip has this id.
    #[error("no clip with id `{id}`")]
    ClipNotFound {
        /// The id.
        id: String,
    },
    /// The clip has no effect with this id.
    #[error("clip `{clip_id}` has no effect with id `{id}`")]
    EffectNotFound {
        /// The clip.
        clip_id: String,
        /// The effect id.
        id: String,
    },
    /// The clip has no keyframe with this id.
    #[error("clip `{clip_id}` has no keyframe with id `{id}`")]
    KeyframeNotFound {
        /// The clip.
        clip_id: String,
        /// The keyframe id.
        id: String,
    },
    /// No marker has this id.
    #[error("no marker with id `{id}`")]
    MarkerNotFound {
        /// The id.
        id: String,
    },
    /// The clip has no outgoing transition to remove.
    #[error("clip `{clip_id}` has no transition")]
    TransitionNotFound {
        /// The clip.
        clip_id: String,
    },
    /// The track is locked: unlock it first.
    #[error("track `{track_id}` is locked")]
    TrackLocked {
        /// The locked track.
        track_id: String,
    },
    /// The clip would overlap another clip on a track that forbids overlaps.
    #[error("clip `{clip_id}` would overlap clip `{other_clip_id}` on track `{track_id}`")]
    ClipOverlap {
        /// The clip being placed.
        clip_id: String,
        /// The clip already there.
        other_clip_id: String,
        /// The track.
        track_id: String,
    },
    /// The clip's source cannot live on this kind of track (audio on a video track…).
    #[error("a {source_kind} clip cannot be placed on a {track_kind} track")]
    IncompatibleTrack {
        /// What the clip shows or plays.
        source_kind: &'static str,
        /// The kind of the target track.
        track_kind: &'static str,
    },
    /// A duration is zero (every clip and transition lasts at least one frame).
    #[error("{field} must be at least one frame")]
    InvalidDuration {
        /// Which duration.
        field: String,
    },
    /// A frame lies outside the supported range.
    #[error("{field} = {frame} is outside the supported range {min}..={max}")]
    FrameOutOfRange {
        /// Which frame.
        field: String,
        /// The offending frame.
        frame: i64,
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
    },
    /// A split point must lie strictly inside the clip.
    #[error("split frame {frame} is not strictly inside the clip ({start}..{end})")]
    SplitOutOfRange {
        /// The requested split frame.
        frame: u64,
        /// The clip's first frame.
        start: u64,
        /// The clip's end frame (exclusive).
        end: u64,
    },
    /// A trim would leave the clip empty or start its source before its first frame.
    #[error("invalid trim: {reason}")]
    InvalidTrim {
        /// What is wrong.
        reason: String,
    },
    /// A position in an ordered list is past its end.
    #[error("index {index} is out of range (0..={max})")]
    InvalidIndex {
        /// The requested index.
        index: u32,
        /// Largest allowed index.
        max: u32,
    },
    /// A property path names nothing on this clip (e.g. a parameter the effect does not have).
    #[error("clip `{clip_id}` has no animatable property {property}")]
    UnknownProperty {
        /// The clip.
        clip_id: String,
        /// The property as written.
        property: String,
    },
    /// Two keyframes of one property would share a frame.
    #[error("property {property} already has a keyframe at frame {frame}")]
    KeyframeConflict {
        /// The property as written.
        property: String,
        /// The frame (relative to the clip start).
        frame: i64,
    },
    /// A value is malformed or out of range.
    #[error("invalid {field}: {reason}")]
    InvalidValue {
        /// Which value (a path such as `settings.width` or `clip.speed`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Batches may nest, but not without limit.
    #[error("batches nest deeper than {max} levels")]
    BatchTooDeep {
        /// The deepest nesting allowed.
        max: usize,
    },
    /// A command inside a batch failed; the whole batch was refused.
    #[error("command {index} of the batch failed: {source}")]
    InBatch {
        /// Position of the failing command in the batch.
        index: usize,
        /// Why it failed.
        source: Box<CommandError>,
    },
}

impl CommandError {
    /// A stable snake_case code for clients. A failure inside a batch reports the code of the
    /// innermost failing command.
    pub fn code(&self) -> &'static str {
        match self {
            CommandError::InvalidId(_) => "invalid_id",
            CommandError::DuplicateId { .. } => "duplicate_id",
            CommandError::TrackNotFound { .. } => "track_not_found",
            CommandError::ClipNotFound { .. } => "clip_not_found",
            CommandError::EffectNotFound { .. } => "effect_not_found",
            CommandError::KeyframeNotFound { .. } => "keyframe_not_found",
            CommandError::MarkerNotFound { .. } => "marker_not_found",
            CommandError::TransitionNotFound { .. } => "transition_not_found",
            CommandError::TrackLocked { .. } => "track_locked",
            CommandError::ClipOverlap { .. } => "clip_overlap",
            CommandError::IncompatibleTrack { .. } => "incompatible_track",
            CommandError::InvalidDuration { .. } => "invalid_duration",
            CommandError::FrameOutOfRange { .. } => "frame_out_of_range",
            CommandError::SplitOutOfRange { .. } => "split_out_of_range",
            CommandError::InvalidTrim { .. } => "invalid_trim",
            CommandError::InvalidIndex { .. } => "invalid_index",
            CommandError::UnknownProperty { .. } => "unknown_property",
            CommandError::KeyframeConflict { .. } => "keyframe_conflict",
            CommandError::InvalidValue { .. } => "invalid_value",
            CommandError::BatchTooDeep { .. } => "batch_too_deep",
            CommandError::InBatch { source, .. } => source.code(),
        }
    }

    /// The error that actually failed, looking through batch wrappers.
    pub fn root(&self) -> &CommandError {
        match self {
            CommandError::InBatch { source, .. } => source.root(),
            other => other,
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        CommandError::InvalidValue {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_failures_report_the_inner_code() {
        let inner = CommandError::ClipNotFound { id: "clp_x".into() };
        let outer = CommandError::InBatch {
            index: 2,
            source: Box::new(CommandError::InBatch {
                index: 0,
                source: Box::new(inner.clone()),
            }),
        };
        assert_eq!(outer.code(), "clip_not_found");
        assert_eq!(outer.root(), &inner);
        assert!(outer.to_string().contains("command 2 of the batch"));
    }
}
