//! The stored form of a timeline: versioned JSON with migrations.
//!
//! A document is the [`Timeline`] JSON with a `format_version` field first:
//! `{"format_version": 1, "settings": {…}, "tracks": […], "markers": […]}`. Loading runs
//! [`migrate`] to bring older documents up to [`FORMAT_VERSION`], then restores canonical order
//! and checks every invariant, so a loaded timeline is as trustworthy as one built by commands.
//!
//! Version history:
//! - 0: the prototype format. `settings.fps` was a number, colours were `"#rrggbb"` or
//!   `"#rrggbbaa"` strings, and documents might lack `format_version` altogether.
//! - 1: frame rates are rationals (`{"num": 30000, "den": 1001}`), colours are
//!   `{"r", "g", "b", "a"}` objects.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::CommandError;
use crate::model::Timeline;

/// The version this build writes.
pub const FORMAT_VERSION: u32 = 1;

/// A stored timeline could not be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormatError {
    /// The text is not JSON, or the JSON does not have the timeline's shape.
    #[error("malformed timeline document: {0}")]
    Malformed(String),
    /// The document was written by a newer build.
    #[error("format version {found} is newer than the newest supported version {newest}")]
    UnsupportedVersion {
        /// The document's version.
        found: u64,
        /// The newest version this build reads.
        newest: u32,
    },
    /// An older document could not be upgraded.
    #[error("cannot migrate from format version {from}: {reason}")]
    Migration {
        /// The version being upgraded.
        from: u64,
        /// What went wrong.
        reason: String,
    },
    /// The document parsed but breaks an invariant (overlapping clips, duplicate ids…).
    #[error("invalid timeline: {0}")]
    Invalid(#[from] CommandError),
}

impl FormatError {
    /// A stable snake_case code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            FormatError::Malformed(_) => "malformed_document",
            FormatError::UnsupportedVersion { .. } => "unsupported_format_version",
            FormatError::Migration { .. } => "migration_failed",
            FormatError::Invalid(_) => "invalid_timeline",
        }
    }
}

/// The stored document: a [`Timeline`] with its format version. Used for the JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct TimelineDocument {
    /// Format version of the document; [`FORMAT_VERSION`] when written by this build.
    pub format_version: u32,
    /// The timeline.
    #[serde(flatten)]
    pub timeline: Timeline,
}

#[derive(Serialize)]
struct DocumentRef<'a> {
    format_version: u32,
    #[serde(flatten)]
    timeline: &'a Timeline,
}

/// The document as a JSON value.
pub fn to_value(timeline: &Timeline) -> Value {
    serde_json::to_value(DocumentRef {
        format_version: FORMAT_VERSION,
        timeline,
    })
    .unwrap_or(Value::Null)
}

/// The document as compact JSON text. Equal timelines give identical text.
pub fn to_json(timeline: &Timeline) -> String {
    serde_json::to_string(&DocumentRef {
        format_version: FORMAT_VERSION,
        timeline,
    })
    .unwrap_or_default()
}

/// The document as indented JSON text.
pub fn to_json_pretty(timeline: &Timeline) -> String {
    serde_json::to_string_pretty(&DocumentRef {
        format_version: FORMAT_VERSION,
        timeline,
    })
    .unwrap_or_default()
}

/// Loads a document from JSON text, migrating and validating it.
pub fn from_json(text: &str) -> Result<Timeline, FormatError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| FormatError::Malformed(e.to_string()))?;
    from_value(value)
}

/// Loads a document from a JSON value, migrating and validating it.
pub fn from_value(value: Value) -> Result<Timeline, FormatError> {
    let mut value = migrate(value)?;
    if let Some(object) = value.as_object_mut() {
        object.remove("format_version");
    }
    let mut timeline: Timeline =
        serde_json::from_value(value).map_err(|e| FormatError::Malformed(e.to_string()))?;
    timeline.normalize();
    timeline.validate()?;
    Ok(timeline)
}

/// Upgrades a document of any supported version to [`FORMAT_VERSION`], one version at a time.
///
/// A document without `format_version` is version 0. Documents newer than this build are
/// refused rather than guessed at.
pub fn migrate(mut value: Value) -> Result<Value, FormatError> {
    let Some(object) = value.as_object_mut() else {
        return Err(FormatError::Malformed(
            "a timeline document is a JSON object".into(),
        ));
    };
    let mut version = match object.get("format_version") {
        None => 0,
        Some(v) => v.as_u64().ok_or_else(|| {
            FormatError::Malformed("format_version must be a non-negative integer".into())
        })?,
    };
    if version > u64::from(FORMAT_VERSION) {
        return Err(FormatError::UnsupportedVersion {
            found: version,
            newest: FORMAT_VERSION,
        });
    }
    while version < u64::from(FORMAT_VERSION) {
        match version {
            0 => migrate_v0_to_v1(object)?,
            other => {
                return Err(FormatError::Migration {
                    from: other,
                    reason: "no migration registered".into(),
                })
            }
        }
        version += 1;
        object.insert("format_version".into(), Value::from(version));
    }
    Ok(value)
}

fn migrate_v0_to_v1(document: &mut Map<String, Value>) -> Result<(), FormatError> {
    let fail = |reason: String| FormatError::Migration { from: 0, reason };
    if let Some(settings) = document.get_mut("settings").and_then(Value::as_object_mut) {
        if let Some(fps) = settings.remove("fps") {
            let fps = fps
                .as_f64()
                .filter(|f| f.is_finite() && *f > 0.0)
                .ok_or_else(|| fail("settings.fps must be a positive number".into()))?;
            let (num, den) = rational_from_fps(fps);
            settings.insert(
                "frame_rate".into(),
                serde_json::json!({"num": num, "den": den}),
            );
        }
    }
    for (key, value) in document.iter_mut() {
        convert_hex_colors(value, Some(key)).map_err(fail)?;
    }
    Ok(())
}

/// Turns `"#rrggbb[aa]"` strings under colour keys into colour objects, recursively.
fn convert_hex_colors(value: &mut Value, key: Option<&str>) -> Result<(), String> {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                convert_hex_colors(v, Some(k))?;
            }
        }
        Value::Array(items) => {
            for item in items {
                convert_hex_colors(item, key)?;
            }
        }
        Value::String(s) if matches!(key, Some("color" | "background" | "fill")) => {
            *value = parse_hex_color(s).ok_or_else(|| format!("`{s}` is not a #rrggbb colour"))?;
        }
        _ => {}
    }
    Ok(())
}

fn parse_hex_color(text: &str) -> Option<Value> {
    let hex = text.strip_prefix('#')?;
    if !(hex.len() == 6 || hex.len() == 8) || !hex.is_ascii() {
        return None;
    }
    let channel = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
    let alpha = if hex.len() == 8 { channel(6)? } else { 255 };
    Some(serde_json::json!({"r": channel(0)?, "g": channel(2)?, "b": channel(4)?, "a": alpha}))
}

/// NTSC rates (23.976, 29.97, 59.94…) become `n·1000/1001`; others become thousandths.
fn rational_from_fps(fps: f64) -> (u32, u32) {
    let ntsc = (fps * 1001.0 / 1000.0).round();
    if (ntsc * 1000.0 / 1001.0 - fps).abs() < 0.005 && (fps.fract() != 0.0) {
        return ((ntsc as u32).saturating_mul(1000), 1001);
    }
    if fps.fract() == 0.0 {
        return (fps as u32, 1);
    }
    let thousandths = (fps * 1000.0).round() as u32;
    let divisor = gcd(thousandths, 1000);
    (thousandths / divisor, 1000 / divisor)
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a.max(1)
    } else {
        gcd(b, a % b)
    }
}

/// JSON Schema of the stored document ([`TimelineDocument`]).
pub fn timeline_schema() -> Value {
    schemars::schema_for!(TimelineDocument).to_value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::Color;
    use crate::model::{Rational, Source};

    const V0: &str = include_str!("../tests/fixtures/timeline_v0.json");

    #[test]
    fn v0_documents_migrate_and_load() {
        let timeline = from_json(V0).unwrap_or_else(|e| panic!("v0 fixture: {e}"));
        assert_eq!(timeline.settings.frame_rate, Rational::new(30000, 1001));
        assert_eq!(timeline.settings.background, Color::rgb(0x10, 0x20, 0x30));
        let clip = &timeline.tracks[0].clips[0];
        assert_eq!(
            clip.source,
            Source::Solid {
                color: Color::rgba(255, 0, 0, 0x80)
            }
        );
        assert_eq!(clip.opacity.value, 0.5);
        // Migrated documents save in the current format and load back unchanged.
        let saved = to_json(&timeline);
        assert!(saved.starts_with(r#"{"format_version":1,"#), "{saved}");
        assert_eq!(from_json(&saved), Ok(timeline));
    }

    #[test]
    fn migrate_only_bumps_current_documents_through_missing_steps() {
        let current = serde_json::json!({"format_version": FORMAT_VERSION, "settings": {}});
        assert_eq!(migrate(current.clone()), Ok(current));
        let future = serde_json::json!({"format_version": 99});
        assert_eq!(
            migrate(future).map_err(|e| e.code()),
            Err("unsupported_format_version")
        );
        let bad_fps = serde_json::json!({"settings": {"fps": "fast"}});
        assert_eq!(
            migrate(bad_fps).map_err(|e| e.code()),
            Err("migration_failed")
        );
        assert_eq!(
            migrate(serde_json::json!([1])).map_err(|e| e.code()),
            Err("malformed_document")
        );
    }

    #[test]
    fn fps_numbers_become_rationals() {
        assert_eq!(rational_from_fps(30.0), (30, 1));
        assert_eq!(rational_from_fps(29.97), (30000, 1001));
        assert_eq!(rational_from_fps(23.976), (24000, 1001));
        assert_eq!(rational_from_fps(59.94), (60000, 1001));
        assert_eq!(rational_from_fps(12.5), (25, 2));
    }

    #[test]
    fn invalid_documents_are_refused_with_codes() {
        assert_eq!(
            from_json("{").map_err(|e| e.code()),
            Err("malformed_document")
        );
        let bad = r#"{"format_version":1,"settings":{"width":0,"height":10,"frame_rate":{"num":30,"den":1}}}"#;
        assert_eq!(
            from_json(bad).map_err(|e| e.code()),
            Err("invalid_timeline")
        );
        let unknown = r#"{"format_version":1,"settings":{"width":10,"height":10,"frame_rate":{"num":30,"den":1}},"extra":1}"#;
        assert_eq!(
            from_json(unknown).map_err(|e| e.code()),
            Err("malformed_document")
        );
    }

    #[test]
    fn timeline_schema_describes_the_document() {
        let schema = timeline_schema();
        let text = schema.to_string();
        assert!(text.contains("format_version"));
        assert!(text.contains("frame_rate"));
    }
}
