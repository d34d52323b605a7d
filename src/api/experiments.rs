//! `GET /v1/experiments/{name}`: the A/B test's report (per arm: users, exposures, clicks and
//! purchases within a window after each user's first exposure, their rates with 95%
//! intervals, and each arm against the first).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, LookupErrors};
use super::{resource, AppState};
use crate::serve::experiment::{report as experiment_report, ExperimentReport};

/// The routes of this group.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/experiments/{name}", "GET").route(web::get().to(report)));
}

/// Longest window accepted: a year.
const MAX_WINDOW: i64 = 366 * 86_400;

/// The report's options.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// Seconds after a user's first exposure in which their clicks and purchases count
    /// (default 86400, a day).
    #[param(minimum = 1, maximum = 31_622_400, default = 86_400)]
    window: Option<i64>,
}

/// The A/B test's report.
#[utoipa::path(
    get,
    path = "/v1/experiments/{name}",
    params(
        ("name" = String, Path, description = "The experiment's name, as given to `--experiment`", example = "ranker"),
        ReportParams,
    ),
    responses((status = 200, description = "Per arm", body = ExperimentReport), LookupErrors)
)]
pub async fn report(
    state: web::Data<AppState>,
    name: web::Path<String>,
    params: web::Query<ReportParams>,
) -> Result<HttpResponse, ApiError> {
    let window = params.window.unwrap_or(86_400);
    if !(1..=MAX_WINDOW).contains(&window) {
        return Err(ApiError::bad_request(
            "bad_parameter",
            format!("window must be between 1 and {MAX_WINDOW} seconds, not {window}"),
        ));
    }
    let live = std::sync::Arc::clone(state.live()?);
    let body = web::block(move || -> Result<_, ApiError> {
        let spec = live.experiment(&name).ok_or_else(|| {
            ApiError::NotFound(format!("no experiment {name} is running on this service"))
        })?;
        // What this replica has not written yet counts too.
        live.flush_exposures()?;
        Ok(experiment_report(live.store(), spec, window)?)
    })
    .await??;
    Ok(HttpResponse::Ok().json(body))
}
