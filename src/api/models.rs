//! `/v1/models`: the registered versions (data hash, settings, metrics, stage costs, what
//! they were trained without), which one is served, and the served model's learned weight of
//! each KG link kind by recency: the workbench's model page, and a registry view for apps.
//! `POST /v1/admin/reload` (with the update token) serves the newest version at once, without
//! waiting for the service's own look at the registry.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::{resource, AppState};
use crate::registry::ModelEntry;
use crate::serve::live::Reloaded;

/// The routes of this group.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/models", "GET").route(web::get().to(models)))
        .service(resource("/v1/admin/reload", "POST").route(web::post().to(reload)));
}

/// Serve the newest registered version now (or the pinned one), without a restart.
#[utoipa::path(
    post,
    path = "/v1/admin/reload",
    responses(
        (status = 200, description = "What is served now", body = Reloaded),
        (status = 401, description = "No or a wrong bearer token"),
        (status = 503, description = "The service serves no model")
    ),
    security(("bearer" = []))
)]
pub async fn reload(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    super::sparql::authorize(req.headers(), state.settings.update_token.as_deref())?;
    let live = std::sync::Arc::clone(state.live()?);
    let done = web::block(move || live.reload()).await??;
    Ok(HttpResponse::Ok().json(done))
}

/// One KG link kind's learned weights.
#[derive(Serialize, ToSchema)]
pub struct LinkWeight {
    /// The link kind (`also_bought`, `shared brand`, `^bought_together`…).
    kind: String,
    /// Its weight from the last item, the two before it, and the rest of the last ten.
    by_recency: Vec<f32>,
}

/// The body of `/v1/models`.
#[derive(Serialize, ToSchema)]
pub struct Models {
    /// The served version; absent when none is registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    served: Option<u64>,
    /// Every registered version, newest first, as its registry entry holds it: `version`,
    /// `model`, `created_unix`, `holdout`, `seed`, `data_hash`, `config`, `counts`, `metrics`,
    /// `stages`, `notes`, `exclusions`.
    #[schema(value_type = Vec<Object>)]
    versions: Vec<ModelEntry>,
    /// The served model's link weights, strongest (from the last item) first.
    link_weights: Vec<LinkWeight>,
}

/// The registered models and the served one's link weights.
#[utoipa::path(
    get,
    path = "/v1/models",
    responses((status = 200, description = "The registry", body = Models))
)]
pub async fn models(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut versions = match &state.live {
        Some(live) => live.registry().entries()?,
        None => Vec::new(),
    };
    versions.sort_by_key(|e| std::cmp::Reverse(e.version));
    let (served, mut link_weights) = match state.live.as_ref().and_then(|l| l.current()) {
        Some(r) => (
            Some(r.entry().version),
            r.link_weights()?
                .into_iter()
                .map(|(kind, by_recency)| LinkWeight { kind, by_recency })
                .collect::<Vec<_>>(),
        ),
        None => (None, Vec::new()),
    };
    link_weights.sort_by(|a, b| {
        let first = |w: &LinkWeight| w.by_recency.first().copied().unwrap_or(0.0);
        first(b).total_cmp(&first(a))
    });
    Ok(HttpResponse::Ok().json(Models {
        served,
        versions,
        link_weights,
    }))
}
