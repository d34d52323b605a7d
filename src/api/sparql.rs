//! The SPARQL 1.1 Protocol at `/sparql`: queries by GET and POST (form-encoded or direct),
//! results by content negotiation, updates by POST behind a bearer token, each request
//! within the configured time and result-size limits.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, HttpRequest, HttpResponse};
use oxigraph::model::{NamedNode, Term, Variable};
use serde::Deserialize;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{ContentBuilder, RefOr, Response, ResponseBuilder};
use utoipa::{IntoParams, IntoResponses, PartialSchema, ToSchema};

use super::error::{ApiError, SparqlErrors};
use super::{read_body, resource, AppState};
use crate::kg::{QueryOptions, QueryOutcome, ResultFormat};

/// The routes of this group.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/sparql", "GET, POST")
            .route(web::get().to(get))
            .route(web::post().to(post)),
    );
}

/// One protocol operation, whichever way it arrived.
#[derive(Debug, Default)]
struct Operation {
    query: Option<String>,
    update: Option<String>,
    default_graphs: Vec<String>,
    named_graphs: Vec<String>,
}

impl Operation {
    /// Reads the protocol's parameters; repeated `query` or `update` is an error.
    fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let mut op = Operation::default();
        for (name, value) in pairs {
            match name.as_str() {
                "query" | "update" => {
                    let slot = if name == "query" {
                        &mut op.query
                    } else {
                        &mut op.update
                    };
                    if slot.replace(value).is_some() {
                        return Err(ApiError::bad_request(
                            "bad_parameter",
                            format!("the {name} parameter is given more than once"),
                        ));
                    }
                }
                "default-graph-uri" | "using-graph-uri" => op.default_graphs.push(value),
                "named-graph-uri" | "using-named-graph-uri" => op.named_graphs.push(value),
                _ => {}
            }
        }
        Ok(op)
    }
}

/// The query parameters of `GET /sparql` (the handler reads them itself: the graph
/// parameters repeat).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SparqlQueryParams {
    /// The SPARQL query.
    #[param(pattern = r"\S", example = "ASK { ?s ?p ?o }")]
    pub query: String,
    /// Default graph (repeatable).
    #[serde(rename = "default-graph-uri")]
    #[param(pattern = r#"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>"{}|\\^`]+$"#)]
    pub default_graph_uri: Option<String>,
    /// Named graph (repeatable).
    #[serde(rename = "named-graph-uri")]
    #[param(pattern = r#"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>"{}|\\^`]+$"#)]
    pub named_graph_uri: Option<String>,
}

/// The 200 response of a query: every format the endpoint negotiates ([`SOLUTION_TYPES`],
/// [`GRAPH_TYPES`]), by the media type it answers with.
pub struct SparqlResults;

impl IntoResponses for SparqlResults {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut formats: Vec<ResultFormat> = Vec::new();
        for (_, format) in SOLUTION_TYPES.iter().chain(GRAPH_TYPES) {
            if !formats.contains(format) {
                formats.push(*format);
            }
        }
        let mut response = ResponseBuilder::new().description("Results, by content negotiation");
        for format in formats {
            let media = format.media_type().split(';').next().unwrap_or_default();
            let kind = if media.ends_with("json") {
                Type::Object
            } else {
                Type::String
            };
            let schema = ObjectBuilder::new().schema_type(kind);
            response = response.content(media, ContentBuilder::new().schema(Some(schema)).build());
        }
        BTreeMap::from([("200".to_owned(), response.build().into())])
    }
}

/// The form body of `POST /sparql`: a query or an update.
pub struct SparqlForm;

impl PartialSchema for SparqlForm {
    fn schema() -> RefOr<Schema> {
        let text = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"\S"))
        };
        let one = |name: &str| {
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .required(name)
        };
        AllOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property("query", text().examples(["ASK { ?s ?p ?o }"]))
                    .property("update", text()),
            )
            .item(OneOfBuilder::new().item(one("query")).item(one("update")))
            .into()
    }
}

impl ToSchema for SparqlForm {}

fn pairs(text: &str) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(text)
        .map_err(|e| ApiError::bad_request("bad_parameter", format!("malformed parameters: {e}")))
}

/// SPARQL 1.1 query (protocol GET).
#[utoipa::path(
    get,
    path = "/sparql",
    params(SparqlQueryParams),
    responses(SparqlResults, SparqlErrors,)
)]
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let op = Operation::from_pairs(pairs(req.query_string())?)?;
    if op.update.is_some() {
        return Err(ApiError::MethodNotAllowed(
            "updates are sent by POST, never by GET".into(),
        ));
    }
    run(&req, state, op, Vec::new()).await
}

/// SPARQL 1.1 query or update (protocol POST).
#[utoipa::path(
    post,
    path = "/sparql",
    request_body(content(
        (SparqlForm = "application/x-www-form-urlencoded"),
        (String = "application/sparql-query"),
        (String = "application/sparql-update"),
    )),
    security((), ("bearer" = [])),
    responses(
        SparqlResults,
        (status = 204, description = "Update applied"),
        SparqlErrors,
    )
)]
pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, body, state.settings.max_body_bytes).await?;
    let text = || {
        String::from_utf8(body.to_vec())
            .map_err(|_| ApiError::bad_request("bad_body", "the body is not UTF-8"))
    };
    let media = media_type(req.headers());
    let mut op = match media.as_deref() {
        Some("application/x-www-form-urlencoded") => Operation::from_pairs(pairs(&text()?)?)?,
        Some("application/sparql-query") => {
            let mut op = Operation::from_pairs(pairs(req.query_string())?)?;
            op.query = Some(text()?);
            op
        }
        Some("application/sparql-update") => {
            let mut op = Operation::from_pairs(pairs(req.query_string())?)?;
            op.update = Some(text()?);
            op
        }
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "POST /sparql takes application/x-www-form-urlencoded, application/sparql-query \
                 or application/sparql-update, not {}",
                other.unwrap_or("a body without Content-Type")
            )))
        }
    };
    if op.update.is_some() {
        if op.query.is_some() {
            return Err(ApiError::bad_request(
                "bad_parameter",
                "a request carries a query or an update, not both",
            ));
        }
        authorize(req.headers(), state.settings.update_token.as_deref())?;
        let update = op.update.take().unwrap_or_default();
        let options = options(&state, &op)?;
        let store = state.store.clone();
        let named = update.clone();
        within_limit(&state, &named, move || {
            store
                .update_with(&update, &options)
                .map_err(|e| ApiError::from_query(e, &update))
        })
        .await?;
        return Ok(HttpResponse::NoContent().finish());
    }
    run(&req, state, op, Vec::new()).await
}

/// Answers `query` with `bindings` as `/sparql` would: the same limits, the same content
/// negotiation (what runs a saved query).
pub async fn answer(
    req: &HttpRequest,
    state: web::Data<AppState>,
    query: String,
    bindings: Vec<(Variable, Term)>,
) -> Result<HttpResponse, ApiError> {
    let op = Operation {
        query: Some(query),
        ..Operation::default()
    };
    run(req, state, op, bindings).await
}

/// Evaluates the query of `op` and writes its outcome as the client asked.
async fn run(
    req: &HttpRequest,
    state: web::Data<AppState>,
    op: Operation,
    bindings: Vec<(Variable, Term)>,
) -> Result<HttpResponse, ApiError> {
    let Some(query) = op.query.clone() else {
        return Err(ApiError::bad_request(
            "bad_parameter",
            "the query parameter is missing",
        ));
    };
    let options = QueryOptions {
        bindings,
        ..options(&state, &op)?
    };
    let store = state.store.clone();
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let named = query.clone();
    let (format, body) = within_limit(&state, &named, move || {
        let outcome = store
            .query_with(&query, &options)
            .map_err(|e| ApiError::from_query(e, &query))?;
        let format = negotiate(accept.as_deref(), &outcome)?;
        let mut body = Vec::new();
        crate::kg::results::write_outcome(outcome, format, &mut body)?;
        Ok((format, body))
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type(format.media_type())
        .insert_header((header::VARY, "Accept"))
        .body(body))
}

/// Runs `work` on the blocking pool and answers 503 at the time limit even when the engine
/// has not noticed its cancellation yet. (oxigraph checks it on every read from the store, so
/// a join held in memory, such as a cartesian product, finishes its work in the background.)
async fn within_limit<T: Send + 'static>(
    state: &AppState,
    query: &str,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let limit = state.settings.query_timeout;
    let grace = Duration::from_millis(200);
    match actix_web::rt::time::timeout(limit + grace, web::block(work)).await {
        Ok(done) => done?,
        Err(_) => Err(ApiError::query_timeout(query, limit)),
    }
}

fn options(state: &AppState, op: &Operation) -> Result<QueryOptions, ApiError> {
    let graphs = |iris: &[String]| -> Result<Vec<NamedNode>, ApiError> {
        iris.iter()
            .map(|i| {
                NamedNode::new(i.as_str()).map_err(|e| {
                    ApiError::bad_request("bad_parameter", format!("graph IRI <{i}>: {e}"))
                })
            })
            .collect()
    };
    Ok(QueryOptions {
        union_default_graph: true,
        default_graphs: graphs(&op.default_graphs)?,
        named_graphs: graphs(&op.named_graphs)?,
        functions: state.functions.clone(),
        timeout: Some(state.settings.query_timeout),
        max_results: Some(state.settings.max_results),
        ..QueryOptions::default()
    })
}

/// Refuses an update unless it carries `Authorization: Bearer <token>` with the configured
/// token; with none configured the service is read-only.
pub(crate) fn authorize(headers: &HeaderMap, token: Option<&str>) -> Result<(), ApiError> {
    let Some(token) = token else {
        return Err(ApiError::Unauthorized(
            "this service is read-only: start it with an update token to accept updates".into(),
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(g) if constant_time_eq(g.as_bytes(), token.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::Unauthorized(
            "the bearer token is not valid".into(),
        )),
        None => Err(ApiError::Unauthorized(
            "updates need an Authorization: Bearer token".into(),
        )),
    }
}

/// Compares without stopping at the first difference, so timing does not leak the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The media type of the request body, lower-case, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

/// What each kind of outcome can be written as, the default first.
const SOLUTION_TYPES: &[(&str, ResultFormat)] = &[
    ("application/sparql-results+json", ResultFormat::Json),
    ("application/json", ResultFormat::Json),
    ("application/sparql-results+xml", ResultFormat::Xml),
    ("application/xml", ResultFormat::Xml),
    ("text/xml", ResultFormat::Xml),
    ("text/csv", ResultFormat::Csv),
    ("text/tab-separated-values", ResultFormat::Tsv),
];
const GRAPH_TYPES: &[(&str, ResultFormat)] = &[
    ("text/turtle", ResultFormat::Turtle),
    ("application/n-triples", ResultFormat::Ntriples),
    ("text/plain", ResultFormat::Ntriples),
    ("application/ld+json", ResultFormat::Jsonld),
    ("application/rdf+xml", ResultFormat::Rdfxml),
];

/// Picks the format by the Accept header (q-values, `type/*` and `*/*`); no header means the
/// default (SPARQL JSON for solutions and booleans, Turtle for graphs).
fn negotiate(accept: Option<&str>, outcome: &QueryOutcome) -> Result<ResultFormat, ApiError> {
    let offered = match outcome {
        QueryOutcome::Graph(_) => GRAPH_TYPES,
        _ => SOLUTION_TYPES,
    };
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(offered[0].1);
    };
    let mut best: Option<(f32, usize, ResultFormat)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if q <= 0.0 {
            continue;
        }
        // Exact types beat `type/*`, which beats `*/*`, at equal q.
        let (specificity, found) = if media == "*/*" {
            (0, Some(offered[0].1))
        } else if let Some(major) = media.strip_suffix("/*") {
            (
                1,
                offered
                    .iter()
                    .find(|(t, _)| t.split('/').next() == Some(major))
                    .map(|(_, f)| *f),
            )
        } else {
            (
                2,
                offered.iter().find(|(t, _)| *t == media).map(|(_, f)| *f),
            )
        };
        if let Some(f) = found {
            if best.is_none_or(|(bq, bs, _)| q > bq || (q == bq && specificity > bs)) {
                best = Some((q, specificity, f));
            }
        }
    }
    best.map(|(_, _, f)| f).ok_or_else(|| {
        ApiError::NotAcceptable(format!(
            "none of the accepted types ({accept}) fits this result; offered: {}",
            offered
                .iter()
                .map(|(t, _)| *t)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solutions() -> QueryOutcome {
        QueryOutcome::Boolean(true)
    }

    #[test]
    fn negotiation_follows_q_values_and_wildcards() {
        let s = solutions();
        let g = QueryOutcome::Graph(Vec::new());
        assert_eq!(negotiate(None, &s).unwrap(), ResultFormat::Json);
        assert_eq!(negotiate(None, &g).unwrap(), ResultFormat::Turtle);
        assert_eq!(negotiate(Some("*/*"), &s).unwrap(), ResultFormat::Json);
        assert_eq!(
            negotiate(Some("text/csv;q=0.5, application/sparql-results+xml"), &s).unwrap(),
            ResultFormat::Xml
        );
        assert_eq!(
            negotiate(Some("text/*;q=0.9, */*;q=0.1"), &s).unwrap(),
            ResultFormat::Xml
        );
        assert_eq!(
            negotiate(Some("application/ld+json"), &g).unwrap(),
            ResultFormat::Jsonld
        );
        assert_eq!(
            negotiate(Some("application/n-triples, text/turtle;q=0.2"), &g).unwrap(),
            ResultFormat::Ntriples
        );
        assert!(matches!(
            negotiate(Some("image/png"), &s),
            Err(ApiError::NotAcceptable(_))
        ));
        assert!(matches!(
            negotiate(Some("text/csv;q=0"), &s),
            Err(ApiError::NotAcceptable(_))
        ));
    }

    #[test]
    fn updates_need_the_configured_token() {
        let mut h = HeaderMap::new();
        assert!(authorize(&h, None).is_err());
        assert!(authorize(&h, Some("s3cret")).is_err());
        h.insert(
            header::AUTHORIZATION,
            header::HeaderValue::from_static("Bearer wrong!"),
        );
        assert!(authorize(&h, Some("s3cret")).is_err());
        h.insert(
            header::AUTHORIZATION,
            header::HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(authorize(&h, Some("s3cret")).is_ok());
        assert!(authorize(&h, None).is_err());
    }

    #[test]
    fn parameters_are_read_once() {
        let op = Operation::from_pairs(pairs("query=ASK%7B%7D&default-graph-uri=urn%3Ag").unwrap())
            .unwrap();
        assert_eq!(op.query.as_deref(), Some("ASK{}"));
        assert_eq!(op.default_graphs, ["urn:g"]);
        assert!(Operation::from_pairs(pairs("query=a&query=b").unwrap()).is_err());
    }
}
