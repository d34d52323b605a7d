//! `/health`: whether the service is up, and what it serves.

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::error::ApiError;
use super::{resource, AppState};

/// The routes of this group.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/health", "GET").route(web::get().to(health)));
}

async fn health(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let model = state.recommender.as_ref().map(|r| {
        let e = r.entry();
        json!({
            "version": e.version,
            "name": e.model,
            "items": r.item_count(),
            "users": r.user_count(),
        })
    });
    Ok(HttpResponse::Ok().json(json!({
        "status": "ok",
        "uptime_seconds": state.started.elapsed().as_secs_f64(),
        "model": model,
        "read_only": state.settings.update_token.is_none(),
    })))
}
