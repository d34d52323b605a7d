//! `/v1/explain?user=&item=`: the KG paths from a user to an item, each with a score, and
//! one plain-English sentence.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, LookupErrors};
use super::recommend::{model_ref, ranked, ModelRef, RankedItem};
use super::{resource, AppState};
use crate::serve::explain::{ExplanationBasis, ExplanationPath};
use crate::serve::recommender::ScoredItem;

/// Most paths one request may ask for.
const MAX_PATHS: usize = 20;

/// The routes of this group.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/explain", "GET").route(web::get().to(explain)));
}

/// Query parameters of `/v1/explain`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExplainParams {
    /// User IRI or id.
    #[param(pattern = r"\S", example = "U1")]
    user: String,
    /// Item IRI or id.
    #[param(pattern = r"\S", example = "P2")]
    item: String,
    /// How many paths.
    #[param(minimum = 1, maximum = 20, default = 3)]
    paths: Option<usize>,
}

/// The body of `/v1/explain`.
#[derive(Serialize, ToSchema)]
pub struct ExplainedPair {
    /// The user's IRI.
    user: String,
    /// The item, as a ranked list shows it, with the model's score for the user.
    item: RankedItem,
    /// The model that scored.
    model: ModelRef,
    /// The best paths, best first (never through a hub nearly every product shares).
    paths: Vec<ExplanationPath>,
    /// What the explanation rests on: KG paths, a link the model weighted, or customers
    /// like the user.
    basis: ExplanationBasis,
    /// The top reasons in one sentence.
    sentence: Option<String>,
}

/// The KG paths from a user to an item, with one sentence.
#[utoipa::path(
    get,
    path = "/v1/explain",
    params(ExplainParams),
    responses((status = 200, description = "Paths", body = ExplainedPair), LookupErrors)
)]
pub async fn explain(
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
    let (user, r, _) = state.model_for(&p.user)?;
    let row = r.resolve_item(&p.item)?;
    let explanation = r.explain(&user, row, max_paths)?;
    let iri = r
        .item(row)
        .map(|i| i.iri)
        .ok_or_else(|| ApiError::Internal(format!("item row {row} has no catalogue entry")))?;
    // NaN (serialised as null) when the model cannot score the pair.
    let score = r.score_user_item(&user, &iri).unwrap_or(f32::NAN);
    let item = ranked(
        &r,
        vec![ScoredItem {
            row,
            item: iri,
            score,
        }],
    )
    .pop()
    .ok_or_else(|| ApiError::Internal("ranking one item gave none".into()))?;
    Ok(HttpResponse::Ok().json(ExplainedPair {
        user,
        item,
        model: model_ref(&r),
        paths: explanation.paths,
        basis: explanation.basis,
        sentence: explanation.sentence,
    }))
}
