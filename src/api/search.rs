//! `/v1/search?q=&k=&user=&category=&brand=`: products by the meaning of a text query,
//! optionally personalised for a user and filtered by category or brand.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::error::ApiError;
use super::recommend::{model_ref, ranked, read_filter, read_k};
use super::{resource, AppState};

/// Longest query accepted, in characters.
const MAX_QUERY: usize = 1000;

/// The routes of this group.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/search", "GET").route(web::get().to(search)));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchParams {
    q: String,
    k: Option<usize>,
    user: Option<String>,
    category: Option<String>,
    brand: Option<String>,
}

async fn search(
    state: web::Data<AppState>,
    params: web::Query<SearchParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let query = p.q.trim().to_owned();
    if query.is_empty() || query.chars().count() > MAX_QUERY {
        return Err(ApiError::bad_request(
            "bad_parameter",
            format!("q must have 1 to {MAX_QUERY} characters"),
        ));
    }
    let k = read_k(p.k)?;
    let filter = read_filter(p.category, p.brand)?;
    let body = web::block(move || -> Result<_, ApiError> {
        let r = state.recommender()?;
        if !r.can_search() {
            return Err(ApiError::Unavailable(
                "the served model reads no product text, so it cannot search by meaning; serve a kgrec model trained with text".into(),
            ));
        }
        let user = p.user.as_deref().map(|u| r.resolve_user(u)).transpose()?;
        let items = r.search(&query, k, user.as_deref(), &filter)?;
        Ok(serde_json::json!({
            "query": query,
            "user": user,
            "model": model_ref(r),
            "items": ranked(r, items),
        }))
    })
    .await??;
    Ok(HttpResponse::Ok().json(body))
}
