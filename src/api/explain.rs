//! `/v1/explain?user=&item=`: the KG paths from a user to an item, each with a score, and
//! one plain-English sentence.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::error::ApiError;
use super::recommend::{model_ref, ranked};
use super::{resource, AppState};
use crate::serve::recommender::ScoredItem;

/// Most paths one request may ask for.
const MAX_PATHS: usize = 20;

/// The routes of this group.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/explain", "GET").route(web::get().to(explain)));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplainParams {
    user: String,
    item: String,
    paths: Option<usize>,
}

async fn explain(
    state: web::Data<AppState>,
    params: web::Query<ExplainParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let max_paths = match p.paths.unwrap_or(3) {
        n @ 1..=MAX_PATHS => n,
        n => {
            return Err(ApiError::bad_request(
                "bad_parameter",
                format!("paths must be between 1 and {MAX_PATHS}, not {n}"),
            ))
        }
    };
    // Sub-millisecond CPU work: answered on the worker, without a hop to the blocking pool.
    let r = state.recommender()?;
    let user = r.resolve_user(&p.user)?;
    let row = r.resolve_item(&p.item)?;
    let explanation = r.explain(&user, row, max_paths)?;
    let iri = r.item(row).map(|i| i.iri).unwrap_or_default();
    let score = r.score_user_item(&user, &iri).unwrap_or(f32::NAN);
    let item = ranked(
        r,
        vec![ScoredItem {
            row,
            item: iri,
            score,
        }],
    );
    let body = serde_json::json!({
        "user": user,
        "item": item.first(),
        "model": model_ref(r),
        "paths": explanation.paths,
        "sentence": explanation.sentence,
    });
    Ok(HttpResponse::Ok().json(body))
}
