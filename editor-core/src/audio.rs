//! Audio: mixing every audible clip to interleaved PCM, and WAV export.
//!
//! The host decodes audio assets and hands over PCM through [`PcmSource`]; mixing is pure.
//! A clip plays its source from `source_in` at `speed` (resampled by linear interpolation),
//! scaled by its `gain_db` (keyframable, evaluated per sample) and its linear fades. Transitions
//! on audio tracks crossfade, whatever their visual kind. Muted tracks are skipped.

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::ops::Range;

use crate::eval::{active_layers, Layer};
use crate::model::{Clip, Source, Timeline, TrackKind};

/// Decoded audio: interleaved samples in `-1.0..=1.0`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pcm {
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// Number of interleaved channels.
    pub channels: u16,
    /// Interleaved samples, `frames × channels` long.
    pub samples: Vec<f32>,
}

impl Pcm {
    fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }
}

/// Where mixing finds decoded PCM for an audio asset id.
pub trait PcmSource {
    /// The decoded audio of an asset, if the host has it.
    fn pcm(&self, asset_id: &str) -> Option<&Pcm>;
}

impl PcmSource for HashMap<String, Pcm> {
    fn pcm(&self, asset_id: &str) -> Option<&Pcm> {
        self.get(asset_id)
    }
}

impl PcmSource for BTreeMap<String, Pcm> {
    fn pcm(&self, asset_id: &str) -> Option<&Pcm> {
        self.get(asset_id)
    }
}

/// Output format of a mixdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MixSettings {
    /// Samples per second, `8000..=192000`.
    pub sample_rate: u32,
    /// Interleaved output channels, `1..=8`.
    pub channels: u16,
}

impl Default for MixSettings {
    fn default() -> Self {
        MixSettings {
            sample_rate: 48_000,
            channels: 2,
        }
    }
}

/// Longest mixdown produced in one call, in samples (all channels): about 6 hours of 48 kHz stereo.
pub const MAX_MIX_SAMPLES: u64 = 1 << 31;

/// Why audio could not be mixed or encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AudioError {
    /// Sample rate or channel count out of range.
    #[error("invalid mix settings: {0}")]
    InvalidSettings(String),
    /// An audible clip's asset has no PCM from the host.
    #[error("no decoded audio for asset `{asset_id}`")]
    MissingAsset {
        /// The asset id.
        asset_id: String,
    },
    /// The host's PCM is malformed (zero channels or rate).
    #[error("decoded audio for asset `{asset_id}` is malformed")]
    MalformedPcm {
        /// The asset id.
        asset_id: String,
    },
    /// The requested range would exceed [`MAX_MIX_SAMPLES`].
    #[error("the mixdown would hold {samples} samples, more than {MAX_MIX_SAMPLES}")]
    TooLong {
        /// Samples requested.
        samples: u64,
    },
    /// The WAV encoder failed.
    #[error("WAV encoding failed: {0}")]
    Wav(String),
}

impl AudioError {
    /// A stable snake_case code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            AudioError::InvalidSettings(_) => "invalid_mix_settings",
            AudioError::MissingAsset { .. } => "missing_audio",
            AudioError::MalformedPcm { .. } => "malformed_audio",
            AudioError::TooLong { .. } => "mix_too_long",
            AudioError::Wav(_) => "wav_encoding_failed",
        }
    }
}

/// First sample of a timeline frame at a sample rate (exact rational arithmetic).
fn sample_of_frame(timeline: &Timeline, frame: u64, sample_rate: u32) -> u64 {
    let rate = timeline.settings.frame_rate;
    let numerator = u128::from(frame) * u128::from(sample_rate) * u128::from(rate.den);
    let samples = numerator / u128::from(rate.num.max(1));
    u64::try_from(samples).unwrap_or(u64::MAX)
}

/// Mixes the audible clips over a range of timeline frames to interleaved PCM.
///
/// The result holds exactly the samples of those frames, `channels` values per sample, unclipped
/// (sums may exceed ±1; [`wav_bytes`] clips when encoding).
pub fn mixdown(
    timeline: &Timeline,
    source: &dyn PcmSource,
    settings: MixSettings,
    frames: Range<u64>,
) -> Result<Vec<f32>, AudioError> {
    if !(8_000..=192_000).contains(&settings.sample_rate) {
        return Err(AudioError::InvalidSettings(
            "sample rate must be within 8000..=192000".into(),
        ));
    }
    if !(1..=8).contains(&settings.channels) {
        return Err(AudioError::InvalidSettings(
            "channel count must be within 1..=8".into(),
        ));
    }
    let first = sample_of_frame(timeline, frames.start, settings.sample_rate);
    let last = sample_of_frame(timeline, frames.end.max(frames.start), settings.sample_rate);
    let total = (last - first).saturating_mul(u64::from(settings.channels));
    if total > MAX_MIX_SAMPLES {
        return Err(AudioError::TooLong { samples: total });
    }
    let channels = usize::from(settings.channels);
    let mut out = vec![0.0f32; total as usize];
    let frame_seconds = timeline.settings.frame_seconds();
    let sample_seconds = 1.0 / f64::from(settings.sample_rate);

    for track in &timeline.tracks {
        if track.kind != TrackKind::Audio || track.muted {
            continue;
        }
        for frame in frames.clone() {
            let start = sample_of_frame(timeline, frame, settings.sample_rate);
            let end = sample_of_frame(timeline, frame + 1, settings.sample_rate);
            for layer in active_layers(track, frame, frame_seconds) {
                let voices: Vec<(&Clip, f64)> = match layer {
                    Layer::Clip(clip) => vec![(clip, 1.0)],
                    Layer::Transition {
                        from, to, progress, ..
                    } => vec![(from, 1.0 - progress), (to, progress)],
                };
                for (clip, factor) in voices {
                    let Source::Audio { asset_id } = &clip.source else {
                        continue;
                    };
                    let pcm = source
                        .pcm(asset_id)
                        .ok_or_else(|| AudioError::MissingAsset {
                            asset_id: asset_id.clone(),
                        })?;
                    if pcm.channels == 0 || pcm.sample_rate == 0 {
                        return Err(AudioError::MalformedPcm {
                            asset_id: asset_id.clone(),
                        });
                    }
                    for sample in start..end {
                        let seconds = sample as f64 * sample_seconds;
                        let local_seconds = seconds - clip.start as f64 * frame_seconds;
                        let gain =
                            factor * clip_gain(clip, local_seconds / frame_seconds, frame_seconds);
                        if gain == 0.0 {
                            continue;
                        }
                        let source_seconds =
                            clip.source_in * frame_seconds + local_seconds * clip.speed;
                        let position = source_seconds * f64::from(pcm.sample_rate);
                        let base = (sample - first) as usize * channels;
                        for channel in 0..channels {
                            let value = read(pcm, position, channel, channels);
                            out[base + channel] += (value * gain) as f32;
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Linear gain of a clip at a (fractional) frame relative to its start: keyframed decibels times
/// the fades.
fn clip_gain(clip: &Clip, local: f64, frame_seconds: f64) -> f64 {
    let (min, max) = crate::model::Property::GainDb.range();
    let db = clip.gain_db.value_at(local, frame_seconds).clamp(min, max);
    // libm keeps native and wasm32 mixes bit-identical.
    let mut gain = libm::pow(10.0, db / 20.0);
    if clip.fade_in > 0 {
        gain *= (local / clip.fade_in as f64).clamp(0.0, 1.0);
    }
    if clip.fade_out > 0 {
        let remaining = clip.duration as f64 - local;
        gain *= (remaining / clip.fade_out as f64).clamp(0.0, 1.0);
    }
    gain
}

/// One output channel's value at a fractional source sample position (silence outside the
/// source). Mono sources feed every channel; a mono output averages the source channels.
fn read(pcm: &Pcm, position: f64, channel: usize, out_channels: usize) -> f64 {
    if position < 0.0 || !position.is_finite() {
        return 0.0;
    }
    let frames = pcm.frames();
    let index = position.floor() as usize;
    if index >= frames {
        return 0.0;
    }
    let fraction = position - index as f64;
    let source_channels = usize::from(pcm.channels);
    let at = |frame: usize, c: usize| -> f64 {
        if frame >= frames {
            return 0.0;
        }
        f64::from(pcm.samples[frame * source_channels + c])
    };
    let sample = |frame: usize| -> f64 {
        if out_channels == 1 && source_channels > 1 {
            (0..source_channels).map(|c| at(frame, c)).sum::<f64>() / source_channels as f64
        } else {
            at(frame, channel.min(source_channels - 1))
        }
    };
    let a = sample(index);
    let b = if fraction > 0.0 { sample(index + 1) } else { a };
    a + (b - a) * fraction
}

/// Encodes interleaved samples as a 16-bit PCM WAV file (samples are clipped to `-1.0..=1.0`).
pub fn wav_bytes(samples: &[f32], settings: MixSettings) -> Result<Vec<u8>, AudioError> {
    let spec = hound::WavSpec {
        channels: settings.channels,
        sample_rate: settings.sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = Cursor::new(Vec::new());
    {
        let mut writer =
            hound::WavWriter::new(&mut cursor, spec).map_err(|e| AudioError::Wav(e.to_string()))?;
        for &sample in samples {
            let clipped = if sample.is_finite() {
                sample.clamp(-1.0, 1.0)
            } else {
                0.0
            };
            writer
                .write_sample((clipped * 32767.0).round() as i16)
                .map_err(|e| AudioError::Wav(e.to_string()))?;
        }
        writer
            .finalize()
            .map_err(|e| AudioError::Wav(e.to_string()))?;
    }
    Ok(cursor.into_inner())
}

/// Mixes the whole timeline and encodes it as WAV.
pub fn export_wav(
    timeline: &Timeline,
    source: &dyn PcmSource,
    settings: MixSettings,
) -> Result<Vec<u8>, AudioError> {
    let samples = mixdown(timeline, source, settings, 0..timeline.duration())?;
    wav_bytes(&samples, settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::tests::{base, cid, kfid, ok, tid};
    use crate::command::{apply, Command};
    use crate::easing::Easing;
    use crate::model::{Keyframe, Property, Transition, TransitionKind};

    const RATE: u32 = 48_000;
    /// Samples per frame at 30 fps and 48 kHz.
    const PER_FRAME: usize = 1600;

    fn settings(channels: u16) -> MixSettings {
        MixSettings {
            sample_rate: RATE,
            channels,
        }
    }

    fn constant(value: f32, seconds: usize) -> Pcm {
        Pcm {
            sample_rate: RATE,
            channels: 1,
            samples: vec![value; RATE as usize * seconds],
        }
    }

    fn sources(pairs: &[(&str, Pcm)]) -> HashMap<String, Pcm> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    /// `base()` has one audio clip, `cid(3)` on `tid(2)`, frames 0..60 of asset `ast_tone`.
    fn timeline() -> Timeline {
        base()
    }

    #[test]
    fn a_clip_plays_at_unity_gain_for_its_span() {
        let pcm = sources(&[("ast_tone", constant(0.5, 3))]);
        let out = ok_mix(mixdown(&timeline(), &pcm, settings(2), 0..90));
        assert_eq!(out.len(), 90 * PER_FRAME * 2);
        assert!(out[..60 * PER_FRAME * 2]
            .iter()
            .all(|&s| (s - 0.5).abs() < 1e-6));
        assert!(out[60 * PER_FRAME * 2..].iter().all(|&s| s == 0.0));
        // A sub-range starts at its own first frame.
        let tail = ok_mix(mixdown(&timeline(), &pcm, settings(1), 59..61));
        assert_eq!(tail.len(), 2 * PER_FRAME);
        assert!((tail[0] - 0.5).abs() < 1e-6 && tail[PER_FRAME] == 0.0);
    }

    fn ok_mix(result: Result<Vec<f32>, AudioError>) -> Vec<f32> {
        result.unwrap_or_else(|e| panic!("mix failed: {e}"))
    }

    #[test]
    fn gain_keyframes_and_fades_shape_the_level() {
        let mut timeline = timeline();
        ok(apply(
            &mut timeline,
            Command::SetClipParam {
                clip_id: cid(3),
                property: Property::GainDb,
                value: 20.0 * 0.5f64.log10(),
            },
        ));
        ok(apply(
            &mut timeline,
            Command::SetClipProperties {
                clip_id: cid(3),
                name: None,
                source: None,
                source_in: None,
                speed: None,
                blend_mode: None,
                fade_in: Some(10),
                fade_out: Some(10),
            },
        ));
        let pcm = sources(&[("ast_tone", constant(1.0, 3))]);
        let out = ok_mix(mixdown(&timeline, &pcm, settings(1), 0..60));
        assert_eq!(out[0], 0.0);
        assert!(
            (out[5 * PER_FRAME] - 0.25).abs() < 1e-3,
            "{}",
            out[5 * PER_FRAME]
        );
        assert!((out[30 * PER_FRAME] - 0.5).abs() < 1e-6);
        assert!((out[55 * PER_FRAME] - 0.25).abs() < 1e-3);
        // Keyframed gain overrides the base value.
        for (n, frame, value) in [(1, 0, 0.0), (2, 60, -96.0)] {
            ok(apply(
                &mut timeline,
                Command::AddKeyframe {
                    clip_id: cid(3),
                    property: Property::GainDb,
                    keyframe: Keyframe {
                        id: kfid(n),
                        frame,
                        value,
                        easing: Easing::Linear,
                    },
                },
            ));
        }
        let out = ok_mix(mixdown(&timeline, &pcm, settings(1), 0..60));
        assert!((out[30 * PER_FRAME] - 10f32.powf(-48.0 / 20.0)).abs() < 1e-4);
    }

    #[test]
    fn speed_and_in_point_pick_source_samples() {
        let mut timeline = timeline();
        ok(apply(
            &mut timeline,
            Command::SetClipProperties {
                clip_id: cid(3),
                name: None,
                source: None,
                source_in: Some(30.0),
                speed: Some(2.0),
                blend_mode: None,
                fade_in: None,
                fade_out: None,
            },
        ));
        // A ramp: sample i has value i / len.
        let len = RATE as usize * 4;
        let ramp = Pcm {
            sample_rate: RATE,
            channels: 1,
            samples: (0..len).map(|i| i as f32 / len as f32).collect(),
        };
        let pcm = sources(&[("ast_tone", ramp)]);
        let out = ok_mix(mixdown(&timeline, &pcm, settings(1), 0..60));
        // Frame 10 → source time 1 s + 2·(10/30) s = 1.666… s.
        let expected = (RATE as f32 * (1.0 + 2.0 * 10.0 / 30.0)) / len as f32;
        assert!((out[10 * PER_FRAME] - expected).abs() < 1e-5);
    }

    #[test]
    fn muted_tracks_are_silent_and_missing_assets_are_reported() {
        let mut timeline = timeline();
        let empty: HashMap<String, Pcm> = HashMap::new();
        assert_eq!(
            mixdown(&timeline, &empty, settings(2), 0..10).map_err(|e| e.code()),
            Err("missing_audio")
        );
        ok(apply(
            &mut timeline,
            Command::SetTrackProperties {
                track_id: tid(2),
                name: None,
                muted: Some(true),
                hidden: None,
                locked: None,
                opacity: None,
                blend_mode: None,
                allow_overlap: None,
            },
        ));
        let out = ok_mix(mixdown(&timeline, &empty, settings(2), 0..10));
        assert!(out.iter().all(|&s| s == 0.0));
        assert_eq!(
            mixdown(
                &timeline,
                &empty,
                MixSettings {
                    sample_rate: 10,
                    channels: 2
                },
                0..1
            )
            .map_err(|e| e.code()),
            Err("invalid_mix_settings")
        );
        assert_eq!(
            mixdown(&timeline, &empty, settings(2), 0..u64::MAX / 1_000_000).map_err(|e| e.code()),
            Err("mix_too_long")
        );
    }

    #[test]
    fn transitions_on_audio_tracks_crossfade() {
        let mut timeline = timeline();
        ok(apply(
            &mut timeline,
            Command::SplitClip {
                clip_id: cid(3),
                frame: 30,
                new_clip_id: cid(30),
            },
        ));
        ok(apply(
            &mut timeline,
            Command::SetClipProperties {
                clip_id: cid(30),
                name: None,
                source: Some(Source::Audio {
                    asset_id: "ast_other".into(),
                }),
                // Leave a handle before the in-point for the incoming half of the crossfade.
                source_in: Some(15.0),
                speed: None,
                blend_mode: None,
                fade_in: None,
                fade_out: None,
            },
        ));
        ok(apply(
            &mut timeline,
            Command::SetTransition {
                clip_id: cid(3),
                transition: Transition {
                    kind: TransitionKind::Crossfade,
                    duration: 10,
                    easing: Easing::Linear,
                },
            },
        ));
        let pcm = sources(&[
            ("ast_tone", constant(1.0, 3)),
            ("ast_other", constant(-1.0, 3)),
        ]);
        let out = ok_mix(mixdown(&timeline, &pcm, settings(1), 0..60));
        // At the cut (p = 0.5) the two cancel out; before the transition only the first plays.
        assert!(out[30 * PER_FRAME].abs() < 1e-6);
        assert!((out[24 * PER_FRAME] - 1.0).abs() < 1e-6);
        assert!((out[26 * PER_FRAME] - 0.8).abs() < 1e-6);
        assert!((out[40 * PER_FRAME] + 1.0).abs() < 1e-6);
    }

    #[test]
    fn wav_export_round_trips_through_hound() {
        let pcm = sources(&[("ast_tone", constant(0.5, 3))]);
        let bytes = export_wav(&timeline(), &pcm, settings(2))
            .unwrap_or_else(|e| panic!("export failed: {e}"));
        let reader = hound::WavReader::new(Cursor::new(bytes))
            .unwrap_or_else(|e| panic!("unreadable WAV: {e}"));
        let spec = reader.spec();
        assert_eq!(
            (spec.channels, spec.sample_rate, spec.bits_per_sample),
            (2, RATE, 16)
        );
        let samples: Vec<i16> = reader
            .into_samples::<i16>()
            .filter_map(Result::ok)
            .collect();
        assert_eq!(samples.len(), 60 * PER_FRAME * 2);
        assert!(samples.iter().all(|&s| s == 16384 || s == 16383));
        // Clipping and NaN are tamed when encoding.
        let loud = wav_bytes(&[2.0, -2.0, f32::NAN], settings(1)).unwrap_or_else(|e| panic!("{e}"));
        let values: Vec<i16> = hound::WavReader::new(Cursor::new(loud))
            .map(|r| r.into_samples::<i16>().filter_map(Result::ok).collect())
            .unwrap_or_default();
        assert_eq!(values, vec![32767, -32767, 0]);
    }
}
