//! `/v1/search?q=&k=&user=&category=&brand=`: products by the meaning of a text query,
//! optionally personalised for a user and filtered by category or brand.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, LookupErrors};
use super::recommend::{model_ref, ranked, read_filter, read_k, ModelRef, RankedItem};
use super::{resource, AppState};

/// Longest query accepted, in characters.
const MAX_QUERY: usize = 1000;

/// The routes of this group.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/search", "GET").route(web::get().to(search)));
}

/// Query parameters of `/v1/search`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The text query.
    #[param(pattern = r"\S", max_length = 1000, example = "nail polish")]
    q: String,
    /// How many items.
    #[param(minimum = 1, maximum = 1000, default = 10)]
    k: Option<usize>,
    /// Personalise for this user.
    #[param(pattern = r"\S")]
    user: Option<String>,
    /// A category, by IRI or label.
    #[param(pattern = r"\S")]
    category: Option<String>,
    /// A brand, by IRI or name.
    #[param(pattern = r"\S")]
    brand: Option<String>,
}

/// The body of `/v1/search`.
#[derive(Serialize, ToSchema)]
pub struct SearchResults {
    /// The query, trimmed.
    query: String,
    /// The user it was personalised for, if any.
    user: Option<String>,
    /// The model whose sentence vectors matched.
    model: ModelRef,
    /// Best first.
    items: Vec<RankedItem>,
}

/// Products by the meaning of a text query.
#[utoipa::path(
    get,
    path = "/v1/search",
    params(SearchParams),
    responses((status = 200, description = "Ranked items", body = SearchResults), LookupErrors)
)]
pub async fn search(
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
        Ok(SearchResults {
            query,
            user,
            model: model_ref(&r),
            items: ranked(&r, items),
        })
    })
    .await??;
    Ok(HttpResponse::Ok().json(body))
}
