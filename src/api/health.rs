//! `/health`: whether the service is up, and what it serves.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ApiError;
use super::{resource, AppState};

/// The routes of this group.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/health", "GET").route(web::get().to(health)));
}

/// The body of `/health`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` while the service answers.
    status: &'static str,
    /// Seconds since the service started.
    uptime_seconds: f64,
    /// The model served (null before one is registered).
    model: Option<ServedModel>,
    /// Whether SPARQL updates are refused (no update token configured).
    read_only: bool,
}

/// The model a service serves.
#[derive(Serialize, ToSchema)]
pub struct ServedModel {
    /// Registered version.
    version: u64,
    /// Model kind.
    name: String,
    /// Items it ranks.
    items: usize,
    /// Users with a known history.
    users: usize,
}

/// Liveness and what is served.
#[utoipa::path(get, path = "/health", responses((status = 200, description = "Up", body = Health)))]
pub async fn health(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let model = state.live.as_ref().and_then(|l| l.current()).map(|r| {
        let e = r.entry();
        ServedModel {
            version: e.version,
            name: e.model.clone(),
            items: r.item_count(),
            users: r.user_count(),
        }
    });
    Ok(HttpResponse::Ok().json(Health {
        status: "ok",
        uptime_seconds: state.started.elapsed().as_secs_f64(),
        model,
        read_only: state.settings.update_token.is_none(),
    }))
}
