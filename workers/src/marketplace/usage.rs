//! Using what was bought, behind the licence check: "use template" creates a project from a
//! template's timeline; an effect preset is applied to a clip of a project.

use editor_core::format;
use editor_core::model::EffectKind;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Method, Request, Response};

use super::licences::{self, Holder};
use super::listings;
use crate::args;
use crate::assets;
use crate::audit::Record;
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::api::clean_name;
use crate::identity::{authenticate, authorize, Permission};
use crate::projects::{self, CommandsResponse, ProjectResponse};

/// Largest effect preset document read from storage.
const MAX_PRESET_BYTES: u64 = 64 * 1024;
/// Most effects one preset may add.
const MAX_PRESET_EFFECTS: usize = 16;

/// `POST /v1/market/listings/{listing_id}/use`: create a project from a purchased template.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UseTemplateBody {
    /// The organisation to create the project in (editor there).
    pub org_id: String,
    /// The new project's name; the listing's title when absent.
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /v1/projects/{project_id}/effect-presets`: apply a purchased effect preset to a clip.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyPresetBody {
    /// The effect preset product (`prd_…`).
    pub product_id: String,
    /// The clip whose effect stack receives the preset's effects.
    pub clip_id: String,
}

/// An effect preset document: the JSON asset a preset product points at.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetDocument {
    /// Effects appended to the clip's stack, in order.
    pub effects: Vec<EffectKind>,
}

/// The product behind a listing or a product id, with its subject.
#[derive(Debug, Deserialize)]
struct Subject {
    org_id: String,
    kind: String,
    title: String,
    subject_type: Option<String>,
    subject_id: Option<String>,
}

async fn product(ctx: &Ctx, product_id: &str) -> AppResult<Option<Subject>> {
    ctx.db()?
        .first(
            "SELECT org_id, kind, title, subject_type, subject_id FROM products WHERE id = ?1",
            args![product_id],
        )
        .await
}

fn unavailable(what: &str) -> AppError {
    AppError::conflict(
        "subject_unavailable",
        format!("the seller's {what} is no longer available"),
    )
}

/// `POST /v1/market/listings/{listing_id}/use` (editor of `org_id`): checks the licence, then
/// creates a project in `org_id` with the template project's current timeline. A usage licence
/// spends one unit, in the batch that records the use.
pub async fn use_template(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let listing_id = ctx.param("listing_id").to_string();
    let principal = authenticate(ctx).await?;
    let body: UseTemplateBody = ctx.json(&mut req).await?;
    authorize(ctx, &body.org_id, Permission::Write).await?;
    let listing = listings::find(ctx, &listing_id)
        .await?
        .ok_or_else(|| AppError::not_found("listing"))?;
    let holder = Holder::of(&principal, &body.org_id);
    let licence = match licences::require(ctx, &holder, &listing.product_id).await {
        Ok(licence) => licence,
        // Only published listings are visible to people without a licence.
        Err(_) if !listing.is_public() => return Err(AppError::not_found("listing")),
        Err(error) => return Err(error),
    };
    let subject = product(ctx, &listing.product_id)
        .await?
        .ok_or_else(|| AppError::not_found("listing"))?;
    if subject.kind != "template" {
        return Err(AppError::invalid(
            "not_a_template",
            format!("this listing sells a {}, not a template", subject.kind),
        ));
    }
    let name = match &body.name {
        Some(name) => clean_name(name, "project name")?,
        None => subject.title.chars().take(100).collect(),
    };
    let template_id = match (subject.subject_type.as_deref(), subject.subject_id) {
        (Some("project"), Some(id)) => id,
        _ => return Err(unavailable("template project")),
    };
    let live: Option<Value> = ctx
        .db()?
        .first(
            "SELECT id FROM projects WHERE id = ?1 AND org_id = ?2 AND deleted_at IS NULL",
            args![template_id.as_str(), subject.org_id.as_str()],
        )
        .await?;
    if live.is_none() {
        return Err(unavailable("template project"));
    }
    let (status, value) = projects::room(ctx, &template_id, Method::Get, "/state", None).await?;
    if status != 200 {
        return Err(projects::room_error(status, &value));
    }
    let timeline = format::from_value(value["timeline"].clone()).map_err(AppError::internal)?;
    let settings = timeline.settings.clone();
    let project =
        projects::insert_project(ctx, &body.org_id, &name, &settings, &timeline, None).await?;
    let db = ctx.db()?;
    let statements = licences::record_use(ctx, &db, &licence, "template", Some(&project.id))?;
    let record = Record::success(
        Some(&body.org_id),
        "template.use",
        Some(("project", &project.id)),
    )
    .with_details(json!({
        "listing_id": listing.id, "product_id": listing.product_id, "licence_id": licence.id,
    }));
    if let Err(error) = licences::commit_use(ctx, &db, &licence, statements, record).await {
        // The last unit went to a concurrent use: the project just made must not stay.
        db.run(
            "UPDATE projects SET deleted_at = ?1, updated_at = ?1 WHERE id = ?2",
            args![ctx.now, project.id.as_str()],
        )
        .await?;
        return Err(error);
    }
    http::json(201, &ProjectResponse { project })
}

/// `POST /v1/projects/{project_id}/effect-presets` (editor of the project): checks the licence
/// for the preset, then appends the preset's effects to the clip in one atomic command request.
pub async fn apply_preset(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let project = projects::load(ctx, Permission::Write).await?;
    let principal = authenticate(ctx).await?;
    let body: ApplyPresetBody = ctx.json(&mut req).await?;
    let subject = product(ctx, &body.product_id)
        .await?
        .ok_or_else(|| AppError::not_found("product"))?;
    let holder = Holder::of(&principal, &project.org_id);
    let licence = licences::require(ctx, &holder, &body.product_id).await?;
    if subject.kind != "effect_preset" {
        return Err(AppError::invalid(
            "not_an_effect_preset",
            format!("the product is a {}, not an effect preset", subject.kind),
        ));
    }
    let asset_id = match (subject.subject_type.as_deref(), subject.subject_id) {
        (Some("asset"), Some(id)) => id,
        _ => return Err(unavailable("preset")),
    };
    #[derive(Deserialize)]
    struct PresetAsset {
        r2_key: String,
        bytes: i64,
    }
    let asset: PresetAsset = ctx
        .db()?
        .first(
            "SELECT r2_key, bytes FROM assets WHERE id = ?1 AND org_id = ?2 AND status = 'ready'",
            args![asset_id.as_str(), subject.org_id.as_str()],
        )
        .await?
        .ok_or_else(|| unavailable("preset"))?;
    if asset.bytes as u64 > MAX_PRESET_BYTES {
        return Err(unavailable("preset"));
    }
    let object = assets::bucket(&ctx.env)?
        .get(&asset.r2_key)
        .execute()
        .await?
        .ok_or_else(|| unavailable("preset"))?;
    let bytes = object
        .body()
        .ok_or_else(|| AppError::internal("preset object without body"))?
        .bytes()
        .await?;
    let preset = parse_preset(&bytes).ok_or_else(|| unavailable("preset"))?;
    let commands: Vec<Value> = preset
        .effects
        .into_iter()
        .map(|kind| {
            json!({
                "type": "add_effect",
                "clip_id": body.clip_id,
                "effect": { "id": crate::util::new_id("fx", ctx.now), "enabled": true, "kind": kind },
            })
        })
        .collect();
    let room_body = json!({
        "actor": {"type": principal.actor_type(), "id": principal.actor_id()},
        "commands": commands,
    });
    let (status, value) = projects::room(
        ctx,
        &project.id,
        Method::Post,
        "/commands",
        Some(room_body.to_string()),
    )
    .await?;
    if status != 200 {
        return Err(projects::room_error(status, &value));
    }
    let answer: CommandsResponse = serde_json::from_value(value).map_err(AppError::internal)?;
    let db = ctx.db()?;
    let statements = licences::record_use(ctx, &db, &licence, "effect_preset", Some(&project.id))?;
    let record = Record::success(
        Some(&project.org_id),
        "effect_preset.apply",
        Some(("project", &project.id)),
    )
    .with_details(json!({
        "product_id": body.product_id, "licence_id": licence.id, "clip_id": body.clip_id, "seq": answer.seq,
    }));
    licences::commit_use(ctx, &db, &licence, statements, record).await?;
    http::json(200, &answer)
}

/// Parses a preset document: 1 to [`MAX_PRESET_EFFECTS`] effects.
pub fn parse_preset(bytes: &[u8]) -> Option<PresetDocument> {
    let preset: PresetDocument = serde_json::from_slice(bytes).ok()?;
    (!preset.effects.is_empty() && preset.effects.len() <= MAX_PRESET_EFFECTS).then_some(preset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_documents_hold_one_to_sixteen_effects() {
        let ok = br#"{"effects":[{"type":"gaussian_blur","radius":3},{"type":"tint","color":{"r":255,"g":0,"b":0,"a":255},"amount":0.5}]}"#;
        assert_eq!(parse_preset(ok).map(|p| p.effects.len()), Some(2));
        assert!(parse_preset(br#"{"effects":[]}"#).is_none());
        assert!(parse_preset(br#"{"effects":[{"type":"nope"}]}"#).is_none());
        assert!(parse_preset(b"not json").is_none());
    }
}
