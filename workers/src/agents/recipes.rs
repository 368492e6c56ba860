//! The built-in recipe planner: deterministic plans for common edits that work offline.
//!
//! A recipe turns a project's settings and markers (and, for a slideshow, the dimensions of
//! the chosen images) into a list of tool calls: timeline commands (editor-core [`Command`]s,
//! checked by parsing them as such) applied with `apply_commands`, and a `render_frame` to
//! look at the result. It runs no I/O: the caller gathers the facts and executes the plan.
//!
//! - `slideshow`: the images in order on a new video track, each `seconds_per_image` long,
//!   fitted to the frame, with a crossfade between neighbours, and a title on a text track
//!   over the first seconds.
//! - `lower_thirds`: a lower-third caption at each marker of the timeline (the marker's label,
//!   or one text for all), on a new text track.

use durable_objects::agent_run::PlannedCall;
use editor_core::model::ProjectSettings;
use editor_core::Command;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::{AppError, AppResult};

/// Most images in one slideshow.
pub const MAX_SLIDES: usize = 200;

/// Inputs of the `slideshow` recipe.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlideshowInputs {
    /// Image assets (`ast_…`), in order: 1 to 200.
    pub asset_ids: Vec<String>,
    /// How long each image shows, 0.5–60 seconds (default 2).
    #[serde(default)]
    pub seconds_per_image: Option<f64>,
    /// Crossfade length in frames between neighbours (default: a quarter of an image, at most 12);
    /// 0 for cuts.
    #[serde(default)]
    pub crossfade_frames: Option<u64>,
    /// Title shown over the first images (none when absent).
    #[serde(default)]
    pub title: Option<String>,
}

/// Inputs of the `lower_thirds` recipe.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LowerThirdsInputs {
    /// The caption at every marker; each marker's own label when absent.
    #[serde(default)]
    pub text: Option<String>,
    /// How long each caption shows, 0.5–30 seconds (default 3).
    #[serde(default)]
    pub seconds: Option<f64>,
}

/// An image chosen for a slideshow.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    /// `ast_…`
    pub asset_id: String,
    /// Pixel width.
    pub width: u32,
    /// Pixel height.
    pub height: u32,
}

/// A marker of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkerInfo {
    /// Timeline frame.
    pub frame: u64,
    /// Its label.
    pub label: String,
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::invalid("invalid_inputs", message)
}

fn frames_for(settings: &ProjectSettings, seconds: f64) -> u64 {
    let fps = settings.frame_rate.num as f64 / settings.frame_rate.den.max(1) as f64;
    ((seconds * fps).round() as u64).max(1)
}

/// Parses commands built here as editor-core commands: a recipe only ever plans commands the
/// engine's own type accepts.
fn commands(values: Vec<Value>) -> AppResult<Value> {
    let parsed: Vec<Command> = values
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(AppError::internal)?;
    Ok(serde_json::to_value(parsed)?)
}

fn apply(
    project_id: &str,
    values: Vec<Value>,
    key: &str,
    playhead: u64,
    summary: String,
) -> AppResult<PlannedCall> {
    Ok(PlannedCall {
        tool: "apply_commands".into(),
        // The key makes a step that is driven twice (after a crash) apply once.
        arguments: json!({"project_id": project_id, "commands": commands(values)?, "idempotency_key": key}),
        call_id: None,
        round: None,
        playhead: Some(playhead),
        summary,
    })
}

fn render(project_id: &str, frame: u64) -> PlannedCall {
    PlannedCall {
        tool: "render_frame".into(),
        arguments: json!({"project_id": project_id, "frame": frame, "scale": 0.5}),
        call_id: None,
        round: None,
        playhead: Some(frame),
        summary: format!("look at frame {frame}"),
    }
}

fn read(project_id: &str) -> PlannedCall {
    PlannedCall {
        tool: "get_timeline".into(),
        arguments: json!({"project_id": project_id}),
        call_id: None,
        round: None,
        playhead: Some(0),
        summary: "read the timeline".into(),
    }
}

fn text_source(text: &str, font_size: f64, box_width: f64, align: &str) -> Value {
    json!({
        "type": "text",
        "text": text,
        "font_size": font_size.round().max(8.0),
        "color": {"r": 255, "g": 255, "b": 255, "a": 255},
        "bold": true,
        "align": align,
        "box_width": box_width.round().max(16.0),
    })
}

/// The `slideshow` plan. `key` prefixes the idempotency keys (the run id); `new_id` mints ids
/// for tracks and clips (`trk`, `clp`).
pub fn slideshow(
    project_id: &str,
    settings: &ProjectSettings,
    inputs: &SlideshowInputs,
    images: &[ImageInfo],
    key: &str,
    new_id: &mut dyn FnMut(&str) -> String,
) -> AppResult<Vec<PlannedCall>> {
    if images.is_empty() || images.len() > MAX_SLIDES {
        return Err(invalid(format!(
            "asset_ids must name 1 to {MAX_SLIDES} images"
        )));
    }
    let seconds = inputs.seconds_per_image.unwrap_or(2.0);
    if !seconds.is_finite() || !(0.5..=60.0).contains(&seconds) {
        return Err(invalid("seconds_per_image must be 0.5 to 60"));
    }
    let per_image = frames_for(settings, seconds);
    let crossfade = inputs
        .crossfade_frames
        .unwrap_or_else(|| (per_image / 4).min(12));
    if crossfade >= per_image {
        return Err(invalid(format!(
            "crossfade_frames must be shorter than an image ({per_image} frames)"
        )));
    }
    if let Some(title) = &inputs.title {
        let length = title.chars().count();
        if length == 0 || length > 200 {
            return Err(invalid("title must have 1 to 200 characters"));
        }
    }
    let track_id = new_id("trk");
    let clip_ids: Vec<String> = images.iter().map(|_| new_id("clp")).collect();
    let mut plan = vec![read(project_id)];

    let mut clips = vec![
        json!({"type": "add_track", "track": {"id": track_id, "kind": "video", "name": "Slideshow"}}),
    ];
    for (i, (image, clip_id)) in images.iter().zip(&clip_ids).enumerate() {
        clips.push(json!({
            "type": "add_clip",
            "track_id": track_id,
            "clip": {
                "id": clip_id,
                "name": format!("Slide {}", i + 1),
                "start": i as u64 * per_image,
                "duration": per_image,
                "source": {"type": "image", "asset_id": image.asset_id, "width": image.width, "height": image.height, "fit": "contain"},
            },
        }));
    }
    plan.push(apply(
        project_id,
        clips,
        &format!("{key}:slides"),
        0,
        format!("place {} images on a new video track", images.len()),
    )?);

    if crossfade > 0 && clip_ids.len() > 1 {
        let transitions = clip_ids[..clip_ids.len() - 1]
            .iter()
            .map(|clip_id| {
                json!({
                    "type": "set_transition",
                    "clip_id": clip_id,
                    "transition": {"kind": {"type": "crossfade"}, "duration": crossfade},
                })
            })
            .collect();
        plan.push(apply(
            project_id,
            transitions,
            &format!("{key}:transitions"),
            per_image,
            format!("crossfade between the images ({crossfade} frames)"),
        )?);
    }

    let total = per_image * images.len() as u64;
    if let Some(title) = &inputs.title {
        let title_track = new_id("trk");
        let width = settings.width as f64;
        let height = settings.height as f64;
        let font_size = height / 9.0;
        let duration = frames_for(settings, 3.0).min(total);
        plan.push(apply(
            project_id,
            vec![
                json!({"type": "add_track", "track": {"id": title_track, "kind": "text", "name": "Title"}}),
                json!({
                    "type": "add_clip",
                    "track_id": title_track,
                    "clip": {
                        "id": new_id("clp"),
                        "name": "Title",
                        "start": 0,
                        "duration": duration,
                        "source": text_source(title, font_size, width * 0.8, "center"),
                        "transform": {"position_x": (width * 0.1).round(), "position_y": (height * 0.4).round()},
                    },
                }),
            ],
            &format!("{key}:title"),
            0,
            format!("add the title \"{title}\""),
        )?);
    }
    plan.push(render(project_id, (per_image / 2).min(total - 1)));
    Ok(plan)
}

/// The `lower_thirds` plan: one caption per marker.
pub fn lower_thirds(
    project_id: &str,
    settings: &ProjectSettings,
    inputs: &LowerThirdsInputs,
    markers: &[MarkerInfo],
    key: &str,
    new_id: &mut dyn FnMut(&str) -> String,
) -> AppResult<Vec<PlannedCall>> {
    if markers.is_empty() {
        return Err(AppError::invalid(
            "no_markers",
            "the timeline has no markers to put lower thirds at",
        ));
    }
    if markers.len() > MAX_SLIDES {
        return Err(invalid(format!("at most {MAX_SLIDES} markers")));
    }
    let seconds = inputs.seconds.unwrap_or(3.0);
    if !seconds.is_finite() || !(0.5..=30.0).contains(&seconds) {
        return Err(invalid("seconds must be 0.5 to 30"));
    }
    if let Some(text) = &inputs.text {
        let length = text.chars().count();
        if length == 0 || length > 200 {
            return Err(invalid("text must have 1 to 200 characters"));
        }
    }
    let duration = frames_for(settings, seconds);
    let width = settings.width as f64;
    let height = settings.height as f64;
    let track_id = new_id("trk");
    let mut plan = vec![read(project_id)];
    plan.push(apply(
        project_id,
        vec![json!({"type": "add_track", "track": {"id": track_id, "kind": "text", "name": "Lower thirds", "allow_overlap": true}})],
        &format!("{key}:track"),
        0,
        "add a text track for the lower thirds".into(),
    )?);
    for (i, marker) in markers.iter().enumerate() {
        let text = inputs.text.clone().unwrap_or_else(|| {
            if marker.label.is_empty() {
                format!("Marker {}", i + 1)
            } else {
                marker.label.clone()
            }
        });
        plan.push(apply(
            project_id,
            vec![json!({
                "type": "add_clip",
                "track_id": track_id,
                "clip": {
                    "id": new_id("clp"),
                    "name": format!("Lower third {}", i + 1),
                    "start": marker.frame,
                    "duration": duration,
                    "source": text_source(&text, height / 16.0, width * 0.6, "left"),
                    "transform": {"position_x": (width * 0.06).round(), "position_y": (height * 0.78).round()},
                },
            })],
            &format!("{key}:marker:{i}"),
            marker.frame,
            format!("lower third \"{text}\" at frame {}", marker.frame),
        )?);
    }
    plan.push(render(project_id, markers[0].frame));
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use editor_core::model::Rational;
    use editor_core::{apply as apply_command, Timeline};

    fn settings() -> ProjectSettings {
        ProjectSettings::new(320, 180, Rational::new(24, 1))
    }

    fn ids() -> impl FnMut(&str) -> String {
        let mut n = 0u128;
        move |prefix| {
            n += 1;
            format!("{prefix}_{}", ulid::Ulid::from_parts(1, n))
        }
    }

    fn run(plan: &[PlannedCall]) -> Timeline {
        let mut timeline = Timeline::new(settings());
        for call in plan.iter().filter(|c| c.tool == "apply_commands") {
            let commands: Vec<Command> =
                serde_json::from_value(call.arguments["commands"].clone()).unwrap();
            for command in commands {
                apply_command(&mut timeline, command).unwrap();
            }
        }
        timeline
    }

    #[test]
    fn slideshow_places_images_with_crossfades_and_a_title() {
        let images: Vec<ImageInfo> = (0..3)
            .map(|i| ImageInfo {
                asset_id: format!("ast_{i}"),
                width: 64,
                height: 48,
            })
            .collect();
        let inputs = SlideshowInputs {
            asset_ids: vec![],
            seconds_per_image: Some(1.0),
            crossfade_frames: Some(6),
            title: Some("Holiday".into()),
        };
        let plan = slideshow("prj_1", &settings(), &inputs, &images, "run_1", &mut ids()).unwrap();
        let tools: Vec<&str> = plan.iter().map(|c| c.tool.as_str()).collect();
        assert_eq!(
            tools,
            [
                "get_timeline",
                "apply_commands",
                "apply_commands",
                "apply_commands",
                "render_frame"
            ]
        );
        let timeline = run(&plan);
        assert_eq!(timeline.tracks.len(), 2);
        let slides = &timeline.tracks[0].clips;
        assert_eq!(slides.len(), 3);
        assert_eq!(
            slides.iter().map(|c| c.start).collect::<Vec<_>>(),
            [0, 24, 48]
        );
        assert_eq!(slides.iter().filter(|c| c.transition.is_some()).count(), 2);
        assert_eq!(timeline.tracks[1].clips.len(), 1);
    }

    #[test]
    fn lower_thirds_follow_the_markers() {
        let markers = vec![
            MarkerInfo {
                frame: 10,
                label: "Intro".into(),
            },
            MarkerInfo {
                frame: 100,
                label: String::new(),
            },
        ];
        let plan = lower_thirds(
            "prj_1",
            &settings(),
            &LowerThirdsInputs::default(),
            &markers,
            "run_1",
            &mut ids(),
        )
        .unwrap();
        let timeline = run(&plan);
        let clips = &timeline.tracks[0].clips;
        assert_eq!(clips.iter().map(|c| c.start).collect::<Vec<_>>(), [10, 100]);
        assert!(lower_thirds(
            "prj_1",
            &settings(),
            &LowerThirdsInputs::default(),
            &[],
            "k",
            &mut ids()
        )
        .is_err());
    }

    #[test]
    fn bad_inputs_are_refused() {
        let image = ImageInfo {
            asset_id: "ast_1".into(),
            width: 1,
            height: 1,
        };
        let inputs = SlideshowInputs {
            asset_ids: vec![],
            seconds_per_image: Some(0.1),
            crossfade_frames: None,
            title: None,
        };
        assert!(slideshow("prj_1", &settings(), &inputs, &[image], "k", &mut ids()).is_err());
    }
}
