//! `/v1/items/{id}` and `/v1/items/{id}/neighbourhood`: a product's facts, and its
//! neighbourhood in the KG the explanations walk (for the workbench's product page, and for
//! apps that draw one). Similar items are a ranking and live in [`super::recommend`].

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, LookupErrors};
use super::recommend::{card_at, model_ref, ItemCard, ModelRef};
use super::{resource, AppState};
use crate::serve::neighbourhood::{NeighbourEdge, NeighbourNode};

/// Most neighbours kept per expanded node.
const MAX_PER_NODE: usize = 50;

/// The routes of this group.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/items/{id}", "GET").route(web::get().to(item)))
        .service(
            resource("/v1/items/{id}/neighbourhood", "GET").route(web::get().to(neighbourhood)),
        );
}

/// A product's facts as the served model's catalogue holds them.
#[utoipa::path(
    get,
    path = "/v1/items/{id}",
    params(
        ("id" = String, Path, description = "Item IRI (percent-encoded) or the last segment of it", example = "P1"),
    ),
    responses((status = 200, description = "The product", body = ItemCard), LookupErrors)
)]
pub async fn item(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let r = state.recommender()?;
    let row = r.resolve_item(&id)?;
    Ok(HttpResponse::Ok().json(card_at(&r, row)?))
}

/// Query parameters of the neighbourhood route.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NeighbourhoodParams {
    /// How far out: 1 or 2 hops.
    #[param(minimum = 1, maximum = 2, default = 2)]
    hops: Option<u8>,
    /// Most neighbours kept per expanded node (brands and categories first).
    #[param(minimum = 1, maximum = 50, default = 8)]
    limit: Option<usize>,
}

/// The body of `/v1/items/{id}/neighbourhood`.
#[derive(Serialize, ToSchema)]
pub struct ItemNeighbourhood {
    /// The product's IRI.
    item: String,
    /// The model whose KG projection was walked.
    model: ModelRef,
    /// The product first, then by hops; hubs (more than 60 links) are shown but not expanded.
    nodes: Vec<NeighbourNode>,
    /// The triples among them.
    edges: Vec<NeighbourEdge>,
    /// Neighbours left out by `limit`.
    left_out: usize,
}

/// A product's neighbourhood in the KG: brand, categories, linked products, one or two hops.
#[utoipa::path(
    get,
    path = "/v1/items/{id}/neighbourhood",
    params(
        ("id" = String, Path, description = "Item IRI (percent-encoded) or the last segment of it", example = "P1"),
        NeighbourhoodParams,
    ),
    responses((status = 200, description = "Nodes and triples", body = ItemNeighbourhood), LookupErrors)
)]
pub async fn neighbourhood(
    state: web::Data<AppState>,
    id: web::Path<String>,
    params: web::Query<NeighbourhoodParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let hops = match p.hops.unwrap_or(2) {
        h @ 1..=2 => h,
        h => {
            return Err(ApiError::bad_request(
                "bad_parameter",
                format!("hops must be 1 or 2, not {h}"),
            ))
        }
    };
    let limit = match p.limit.unwrap_or(8) {
        l @ 1..=MAX_PER_NODE => l,
        l => {
            return Err(ApiError::bad_request(
                "bad_parameter",
                format!("limit must be between 1 and {MAX_PER_NODE}, not {l}"),
            ))
        }
    };
    let r = state.recommender()?;
    let row = r.resolve_item(&id)?;
    let n = r.neighbourhood(row, hops, limit)?;
    let item = n.nodes.first().map(|x| x.iri.clone()).unwrap_or_default();
    Ok(HttpResponse::Ok().json(ItemNeighbourhood {
        item,
        model: model_ref(&r),
        nodes: n.nodes,
        edges: n.edges,
        left_out: n.left_out,
    }))
}
