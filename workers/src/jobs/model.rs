//! Wire and storage types of jobs: the queue messages, the typed parameters stored in
//! `jobs.params`, the D1 row and the JSON view the API and the rooms show.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::util;

/// A message on the jobs queues. Messages name a job (and a chunk); the job's parameters live
/// in its D1 record, so a redelivered or duplicated message always sees the current state.
///
/// The queues also carry `{"type":"event"}` messages from project rooms, which the consumer
/// records in the analytics event stream before it looks for a job message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum JobMessage {
    /// Render one frame of a project as PNG.
    RenderStill {
        /// `job_…`
        job_id: String,
    },
    /// Render one chunk of frames of a range render; the consumer that finishes the last
    /// chunk joins them into the output.
    RenderChunk {
        /// `job_…`
        job_id: String,
        /// Index of the chunk (`job_chunks.idx`).
        chunk: u32,
    },
    /// Mix a project's audio to WAV.
    AudioMixdown {
        /// `job_…`
        job_id: String,
    },
    /// POST a signed event to a URL.
    DeliverWebhook {
        /// `job_…`
        job_id: String,
    },
    /// Make a thumbnail of an asset (handled by the assets module).
    MakeThumbnail {
        /// `job_…`
        job_id: String,
    },
    /// Read an uploaded asset's media properties (handled by the assets module).
    ProbeAsset {
        /// `job_…`
        job_id: String,
    },
    /// Run one step of an automation (handled by the automation module).
    AutomationStep {
        /// `job_…`
        job_id: String,
    },
}

impl JobMessage {
    /// The job the message is about.
    pub fn job_id(&self) -> &str {
        match self {
            JobMessage::RenderStill { job_id }
            | JobMessage::RenderChunk { job_id, .. }
            | JobMessage::AudioMixdown { job_id }
            | JobMessage::DeliverWebhook { job_id }
            | JobMessage::MakeThumbnail { job_id }
            | JobMessage::ProbeAsset { job_id }
            | JobMessage::AutomationStep { job_id } => job_id,
        }
    }

    /// The unit of work's identity for admission: the job, or the job's chunk.
    pub fn lease_key(&self) -> String {
        match self {
            JobMessage::RenderChunk { job_id, chunk } => format!("{job_id}#{chunk}"),
            other => other.job_id().to_string(),
        }
    }
}

/// What a render produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RenderKind {
    /// One frame as PNG.
    Still,
    /// A zip of one PNG per frame.
    PngSequence,
    /// An animated PNG that loops.
    Apng,
    /// A looping GIF.
    Gif,
    /// The audio mix as 16-bit PCM WAV.
    Wav,
}

impl RenderKind {
    /// The job kind stored in `jobs.kind`.
    pub fn job_kind(self) -> &'static str {
        match self {
            RenderKind::Still => "render_still",
            RenderKind::PngSequence | RenderKind::Apng | RenderKind::Gif => "render_range",
            RenderKind::Wav => "audio_mixdown",
        }
    }

    /// Interactive work goes ahead of batch work.
    pub fn priority(self) -> &'static str {
        match self {
            RenderKind::Still => "interactive",
            _ => "batch",
        }
    }
}

/// A failure forced by a test (honoured only where `FAULT_INJECTION` is "1").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Every attempt fails with a transient error (retries, then the dead-letter queue).
    Transient,
    /// The first attempt fails with a transient error; the retry succeeds.
    TransientOnce,
    /// The first attempt fails with a permanent error.
    Permanent,
    /// Every frame takes 100 ms longer (to cancel mid-render).
    Slow,
}

/// Parameters of a render job, as stored in `jobs.params` and shown in the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderParams {
    /// What to produce.
    pub kind: RenderKind,
    /// First frame, inclusive.
    pub from_frame: u64,
    /// Last frame, inclusive.
    pub to_frame: u64,
    /// Output scale in (0, 1] (1 for audio).
    pub scale: f64,
    /// Output width in pixels (0 for audio).
    pub width: u32,
    /// Output height in pixels (0 for audio).
    pub height: u32,
    /// Frames per chunk of a range render.
    pub chunk_frames: u32,
    /// The project's sequence number the render was taken from.
    pub seq: u64,
    /// Where to POST a signed `job.<status>` event when the render ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    /// Test-only forced failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
}

impl RenderParams {
    /// Frames rendered.
    pub fn frame_count(&self) -> u64 {
        self.to_frame - self.from_frame + 1
    }
}

/// Parameters of a webhook delivery job. The signing secret is never stored with the job: it
/// is the Worker secret `WEBHOOK_SIGNING_SECRET`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookParams {
    /// Where to POST.
    pub url: String,
    /// Event name, sent as `x-creator-os-event`.
    pub event: String,
    /// The JSON body, as text (signed byte for byte).
    pub body: String,
    /// Test-only forced failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
}

/// A job as stored in D1.
#[derive(Debug, Clone, Deserialize)]
pub struct JobRow {
    /// `job_…`
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// Project, for project-scoped work.
    pub project_id: Option<String>,
    /// Kind (`render_still`, `render_range`, …).
    pub kind: String,
    /// `interactive` or `batch`.
    pub priority: String,
    /// JSON parameters.
    pub params: String,
    /// Lifecycle state.
    pub status: String,
    /// Attempts started.
    pub attempts: i64,
    /// Attempts allowed before the dead-letter queue.
    pub max_attempts: i64,
    /// 0–100.
    pub progress: i64,
    /// JSON array of output asset ids.
    pub result_asset_ids: String,
    /// JSON `{code, message}` of the last failure.
    pub error: Option<String>,
    /// Creation, ms.
    pub created_at: i64,
    /// First start, ms.
    pub started_at: Option<i64>,
    /// End, ms.
    pub finished_at: Option<i64>,
    /// Last change, ms.
    pub updated_at: i64,
}

/// Columns of [`JobRow`], in order.
pub const JOB_COLUMNS: &str = "id, org_id, project_id, kind, priority, params, status, attempts, max_attempts, progress, result_asset_ids, error, created_at, started_at, finished_at, updated_at";

/// Whether a status is final.
pub fn is_terminal(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "cancelled" | "dead")
}

/// A job as the API and the rooms show it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct JobView {
    /// `job_…`
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// Project, for project-scoped work.
    pub project_id: Option<String>,
    /// `render_still`, `render_range`, `audio_mixdown`, `deliver_webhook`, `make_thumbnail`,
    /// `probe_asset` or `automation_step`.
    pub kind: String,
    /// `interactive` or `batch`.
    pub priority: String,
    /// The job's typed parameters.
    pub params: Value,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled` or `dead`.
    pub status: String,
    /// Attempts started (for chunked renders: of the most-tried chunk).
    pub attempts: i64,
    /// 0–100; frames done for renders.
    pub progress: i64,
    /// Output assets (`ast_…`) once succeeded.
    pub result_asset_ids: Vec<String>,
    /// `{code, message}` of the last failure.
    pub error: Option<Value>,
    /// Creation time.
    pub created_at: String,
    /// First start.
    pub started_at: Option<String>,
    /// End (succeeded, failed, cancelled or dead).
    pub finished_at: Option<String>,
    /// Last change.
    pub updated_at: String,
}

impl JobRow {
    /// The API view.
    pub fn view(&self) -> JobView {
        JobView {
            id: self.id.clone(),
            org_id: self.org_id.clone(),
            project_id: self.project_id.clone(),
            kind: self.kind.clone(),
            priority: self.priority.clone(),
            params: serde_json::from_str(&self.params).unwrap_or(Value::Null),
            status: self.status.clone(),
            attempts: self.attempts,
            progress: self.progress,
            result_asset_ids: serde_json::from_str(&self.result_asset_ids).unwrap_or_default(),
            error: self
                .error
                .as_deref()
                .and_then(|e| serde_json::from_str(e).ok()),
            created_at: util::rfc3339(self.created_at),
            started_at: self.started_at.map(util::rfc3339),
            finished_at: self.finished_at.map(util::rfc3339),
            updated_at: util::rfc3339(self.updated_at),
        }
    }
}

/// The output asset id of a job: derived from the job id, so a redelivered message that
/// finishes the job again can only meet the same asset (`INSERT … ON CONFLICT DO NOTHING`).
pub fn output_asset_id(job_id: &str) -> String {
    format!("ast_{}", job_id.trim_start_matches("job_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_on_type() {
        let message = JobMessage::RenderChunk {
            job_id: "job_1".into(),
            chunk: 3,
        };
        let json = serde_json::to_value(&message).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"type": "render_chunk", "job_id": "job_1", "chunk": 3})
        );
        assert_eq!(message.lease_key(), "job_1#3");
        let parsed: Result<JobMessage, _> =
            serde_json::from_value(serde_json::json!({"type": "render_still", "job_id": "job_2"}));
        assert!(matches!(parsed, Ok(JobMessage::RenderStill { .. })));
        assert_eq!(output_asset_id("job_01ABC"), "ast_01ABC");
    }
}
