//! ProEditor's timeline engine: the timeline model, the commands that edit it, evaluation of a
//! frame into a display list, audio mixdown, and the tiny-skia renderer.
//!
//! The crate is pure Rust with no I/O: it builds natively and for `wasm32-unknown-unknown`, so the
//! Worker, the ProjectRoom Durable Object and the browser preview all run the same code.
//!
//! # Data model
//! - A [`Timeline`] has [`ProjectSettings`] (size, rational frame rate, background), tracks
//!   ordered bottom to top, and markers. Its duration is the end of its last clip.
//! - A [`Track`](model::Track) has a kind (video, overlay, audio, text), mute/hide/lock flags,
//!   an opacity and blend mode, and clips sorted by start; clips may not overlap unless the track
//!   allows it.
//! - A [`Clip`](model::Clip) covers `start..start + duration` timeline frames and shows a
//!   [`Source`](model::Source): an image, an image sequence or video frames, a solid colour, a
//!   linear or radial gradient, a shape, text or audio. It has a transform, opacity, crop, blend
//!   mode, audio gain and fades, an ordered effect stack and an optional transition into the next
//!   clip.
//! - Every numeric property is a [`Param`](model::Param): a value, or keyframes (relative to the
//!   clip start) with [`Easing`](easing::Easing) curves between them, including CSS cubic
//!   Béziers and springs.
//! - Ids are typed ULID strings (`trk_…`, `clp_…`, `fx_…`, `kf_…`, `mrk_…`) minted by callers.
//!
//! # Data flow
//! [`Command`] → [`apply`] (validates, mutates, returns the inverse) → [`Timeline`] →
//! [`frame_at`] → [`DisplayList`](display::DisplayList) → [`render`] → pixels. The
//! [`format`](mod@format) module stores timelines as versioned JSON; [`audio`] mixes PCM and writes WAV.
//!
//! # Quick start
//! ```
//! use editor_core::display::Color;
//! use editor_core::ids::{ClipId, TrackId};
//! use editor_core::model::{Clip, ProjectSettings, Rational, Source, Track, TrackKind};
//! use editor_core::{apply, frame_at, Command, Timeline};
//! use ulid::Ulid;
//!
//! let mut timeline = Timeline::new(ProjectSettings::new(1280, 720, Rational::new(30, 1)));
//! let track_id = TrackId::from_ulid(Ulid::from_parts(1, 1));
//! let clip_id = ClipId::from_ulid(Ulid::from_parts(1, 2));
//!
//! // Commands usually arrive as JSON from the editor, the room or an agent.
//! let add_track: Command = serde_json::from_value(serde_json::json!({
//!     "type": "add_track",
//!     "track": { "id": track_id, "kind": "video" }
//! }))?;
//! apply(&mut timeline, add_track)?;
//!
//! let red = Source::Solid { color: Color::rgb(255, 0, 0) };
//! let applied = apply(
//!     &mut timeline,
//!     Command::AddClip { track_id, clip: Clip::new(clip_id, 0, 90, red) },
//! )?;
//! assert_eq!(timeline.duration(), 90);
//!
//! // Half-size preview of frame 10: one item, scaled to 640×360.
//! let list = frame_at(&timeline, 10, 0.5);
//! assert_eq!((list.width, list.height, list.items.len()), (640, 360, 1));
//!
//! // Undo is applying the inverse.
//! apply(&mut timeline, applied.inverse)?;
//! assert_eq!(timeline.duration(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod audio;
pub mod command;
pub mod display;
pub mod easing;
pub mod error;
pub mod eval;
pub mod fixtures;
pub mod format;
pub mod ids;
pub mod image;
pub mod model;
pub mod render;

pub use command::{apply, command_schema, replay, Applied, Command};
pub use error::CommandError;
pub use eval::frame_at;
pub use format::timeline_schema;
pub use model::{ProjectSettings, Timeline};
