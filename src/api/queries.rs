//! `/v1/queries`: the saved queries (`queries/*.rq` beside the service, and those built into
//! kgrec) with their titles, purposes and parameters, and `/v1/queries/{name}` to run one with
//! its parameters bound as RDF terms (never spliced into the text), answered as `/sparql`
//! answers: the same limits and content negotiation (SPARQL JSON, XML, CSV, TSV).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, LookupErrors, SparqlErrors};
use super::sparql::{answer, SparqlResults};
use super::{resource, AppState};
use crate::kg::{ParamType, SavedQuery};

/// The routes of this group.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/queries", "GET").route(web::get().to(list)))
        .service(resource("/v1/queries/{name}", "GET").route(web::get().to(run)));
}

/// One parameter of a saved query.
#[derive(Serialize, ToSchema)]
pub struct QueryParameter {
    /// Its name: pass it as `?name=value`.
    name: String,
    /// `iri`, `string`, `integer` or `decimal`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// Whether the query runs without it.
    optional: bool,
    /// What it means.
    description: String,
}

/// A saved query as a form shows it.
#[derive(Serialize, ToSchema)]
pub struct SavedQueryInfo {
    /// Its name (the file's stem).
    name: String,
    /// A short title.
    title: String,
    /// What it is for.
    purpose: String,
    /// Its parameters.
    parameters: Vec<QueryParameter>,
    /// The SPARQL text.
    text: String,
}

/// The body of `/v1/queries`.
#[derive(Serialize, ToSchema)]
pub struct SavedQueries {
    /// By name.
    queries: Vec<SavedQueryInfo>,
}

fn info(q: SavedQuery) -> SavedQueryInfo {
    SavedQueryInfo {
        parameters: q
            .params
            .into_iter()
            .map(|p| QueryParameter {
                name: p.name,
                kind: match p.kind {
                    ParamType::Iri => "iri",
                    ParamType::String => "string",
                    ParamType::Integer => "integer",
                    ParamType::Decimal => "decimal",
                },
                optional: p.optional,
                description: p.description,
            })
            .collect(),
        name: q.name,
        title: q.title,
        purpose: q.purpose,
        text: q.text,
    }
}

/// Every saved query, with its parameters.
#[utoipa::path(
    get,
    path = "/v1/queries",
    responses((status = 200, description = "The saved queries", body = SavedQueries))
)]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let queries = SavedQuery::list(&state.settings.queries_dir)?
        .into_iter()
        .map(info)
        .collect();
    Ok(HttpResponse::Ok().json(SavedQueries { queries }))
}

/// Runs a saved query; its parameters come as query parameters (`?product=https://…`).
#[utoipa::path(
    get,
    path = "/v1/queries/{name}",
    params(
        ("name" = String, Path, description = "The saved query's name (`/v1/queries` lists them)", example = "store-overview"),
    ),
    responses(SparqlResults, LookupErrors, SparqlErrors)
)]
pub async fn run(
    req: HttpRequest,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let q = SavedQuery::find(&name, &state.settings.queries_dir).map_err(|e| {
        if SavedQuery::list(&state.settings.queries_dir)
            .is_ok_and(|all| !all.iter().any(|q| q.name == *name))
        {
            ApiError::NotFound(format!(
                "no saved query named '{name}'; /v1/queries lists them"
            ))
        } else {
            ApiError::from(e)
        }
    })?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::bad_request("bad_parameter", format!("the query string: {e}")))?;
    let bindings = q.bind(&pairs)?;
    answer(&req, state, q.text, bindings).await
}
