//! `audio_mixdown`: the project's audio over a frame range as 16-bit PCM WAV.

use std::collections::HashMap;
use std::io::Cursor;

use editor_core::audio::{self, MixSettings, Pcm};
use editor_core::model::{Source, Timeline};

use super::model::JobRow;
use super::render::{self, AssetRef, Output};
use super::{Config, JobError};
use crate::db::Db;
use crate::http::Ctx;

/// Decodes a WAV file (8/16/24/32-bit integer or 32-bit float) to PCM.
pub fn decode_wav(asset_id: &str, bytes: &[u8]) -> Result<Pcm, JobError> {
    let unsupported = |detail: String| {
        JobError::permanent(
            "unsupported_audio",
            format!("asset {asset_id} is not a WAV file this renderer can read: {detail}"),
        )
    };
    let mut reader =
        hound::WavReader::new(Cursor::new(bytes)).map_err(|e| unsupported(e.to_string()))?;
    let spec = reader.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| unsupported(e.to_string()))?,
        hound::SampleFormat::Int => {
            let scale = 2f32.powi(i32::from(spec.bits_per_sample.max(1)) - 1);
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 / scale))
                .collect::<Result<_, _>>()
                .map_err(|e| unsupported(e.to_string()))?
        }
    };
    Ok(Pcm {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        samples,
    })
}

fn audio_asset_ids(timeline: &Timeline) -> Vec<String> {
    let mut ids = Vec::new();
    for track in &timeline.tracks {
        for clip in &track.clips {
            if let Source::Audio { asset_id } = &clip.source {
                if !ids.contains(asset_id) {
                    ids.push(asset_id.clone());
                }
            }
        }
    }
    ids
}

/// Runs an `audio_mixdown` job.
pub async fn mixdown(ctx: &Ctx, db: &Db, config: &Config, job: &JobRow) -> Result<(), JobError> {
    let params = render::params(job)?;
    let Some(attempt) = render::start(ctx, db, job).await? else {
        return Ok(());
    };
    render::injected_fault(config, params.fault, attempt)?;
    let timeline = render::load_snapshot(ctx, job).await?;
    let parents: Vec<AssetRef> =
        render::visible_assets(db, &job.org_id, &render::referenced_assets(&timeline)).await?;
    let mut sources: HashMap<String, Pcm> = HashMap::new();
    for asset_id in audio_asset_ids(&timeline) {
        let asset = parents.iter().find(|a| a.id == asset_id).ok_or_else(|| {
            JobError::permanent(
                "missing_audio",
                format!("audio asset {asset_id} is not in this organisation"),
            )
        })?;
        let bytes = render::read_asset(ctx, asset).await?;
        sources.insert(asset_id.clone(), decode_wav(&asset_id, &bytes)?);
    }
    let settings = MixSettings::default();
    let samples = audio::mixdown(
        &timeline,
        &sources,
        settings,
        params.from_frame..params.to_frame + 1,
    )
    .map_err(|e| JobError::permanent(e.code(), e.to_string()))?;
    let wav = audio::wav_bytes(&samples, settings)
        .map_err(|e| JobError::permanent(e.code(), e.to_string()))?;
    let frames = samples.len() as i64 / i64::from(settings.channels);
    let output = Output {
        stored: render::store_bytes(ctx, job, wav).await?,
        kind: "audio",
        mime: "audio/wav",
        size: None,
        duration_ms: Some(frames * 1000 / i64::from(settings.sample_rate)),
        name: render::output_name(db, job, &params).await,
    };
    render::finish_with_output(ctx, db, job, &params, &parents, output).await
}
