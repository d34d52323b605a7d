//! The HTTP service (`kgrec serve`): the SPARQL 1.1 Protocol at `/sparql`, the JSON API under
//! `/v1`, the merchandiser's workbench page at `/`, and `/health`. One file per route group; [`error`] is the one place that maps
//! errors to HTTP.
//!
//! May import: `serve` and what it answers with (`kg`, `eval`, `model` types, `error`); it
//! holds no state of its own beyond the shared [`AppState`].

pub mod error;
pub mod events;
pub mod experiments;
pub mod explain;
pub mod health;
pub mod items;
pub mod metrics;
pub mod models;
pub mod openapi;
pub mod quality;
pub mod queries;
pub mod recommend;
pub mod search;
pub mod sparql;
pub mod workbench;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

use crate::kg::{ExtensionFunction, KgStore};
use crate::serve::live::{LiveModel, ServedArm};
use crate::serve::recommender::Recommender;
use error::ApiError;

/// Limits and access settings of the service.
#[derive(Clone, Debug)]
pub struct ServiceSettings {
    /// Bearer token that SPARQL updates must carry; `None`: read-only.
    pub update_token: Option<String>,
    /// Longest a SPARQL query or update may run.
    pub query_timeout: Duration,
    /// Most rows (or triples) a SPARQL query may return.
    pub max_results: usize,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Folder of saved queries (those built into kgrec are served too).
    pub queries_dir: std::path::PathBuf,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            update_token: None,
            query_timeout: Duration::from_secs(30),
            max_results: 100_000,
            max_body_bytes: 1 << 20,
            queries_dir: std::path::PathBuf::from("queries"),
        }
    }
}

/// What every request handler shares.
pub struct AppState {
    /// The knowledge-graph store.
    pub store: KgStore,
    /// The served model over time (swapped as versions are registered), with the registry
    /// and the change log; `None` for a service over the store alone (tests).
    pub live: Option<Arc<LiveModel>>,
    /// Limits and access.
    pub settings: ServiceSettings,
    /// SPARQL extension functions (`kgr:score`, `kgr:similarity`).
    pub functions: Vec<(oxigraph::model::NamedNode, ExtensionFunction)>,
    /// When the service started.
    pub started: Instant,
    /// Request counters and latencies, for `/metrics`.
    pub metrics: metrics::Metrics,
}

impl AppState {
    /// Shared state over `store`, serving the models of `live` when there is one.
    pub fn new(
        store: KgStore,
        live: Option<Arc<LiveModel>>,
        settings: ServiceSettings,
    ) -> Result<Self, prometheus::Error> {
        let functions = live
            .as_ref()
            .map(crate::serve::functions::recommender_functions)
            .unwrap_or_default();
        Ok(AppState {
            store,
            live,
            settings,
            functions,
            started: Instant::now(),
            metrics: metrics::Metrics::new()?,
        })
    }

    /// The model answering now (a request keeps it to its end, across a swap), or 503 when
    /// none is registered yet.
    pub fn recommender(&self) -> Result<Arc<Recommender>, ApiError> {
        self.live.as_ref().and_then(|l| l.current()).ok_or_else(|| {
            ApiError::Unavailable(
                "no model is registered yet: run `kgrec train`; the service loads it within \
                 seconds, or at once on POST /v1/admin/reload"
                    .into(),
            )
        })
    }

    /// The IRI of user `id` and the model that answers them: their arm's when an A/B test is
    /// running (with the arm), or the current one.
    pub fn model_for(
        &self,
        id: &str,
    ) -> Result<(String, Arc<Recommender>, Option<ServedArm>), ApiError> {
        let user = self.recommender()?.resolve_user(id)?;
        let (r, arm) = self
            .live()?
            .model_for(&user)
            .ok_or_else(|| ApiError::Unavailable("no model is registered yet".into()))?;
        Ok((user, r, arm))
    }

    /// The served model's keeper, or 503 when the service runs over the store alone.
    pub fn live(&self) -> Result<&Arc<LiveModel>, ApiError> {
        self.live
            .as_ref()
            .ok_or_else(|| ApiError::Unavailable("this service serves no model".into()))
    }
}

/// A resource at `path` whose other methods get a JSON 405 naming the ones it serves.
pub fn resource(path: &str, methods: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| async move {
        let mut response = actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed(
            format!("{} takes {methods}, not {}", req.path(), req.method()),
        ));
        if let Ok(v) = header::HeaderValue::from_str(methods) {
            response.headers_mut().insert(header::ALLOW, v);
        }
        Ok::<HttpResponse, actix_web::Error>(response)
    }))
}

/// Every route of the service.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(sparql::routes)
        .configure(recommend::routes)
        .configure(explain::routes)
        .configure(items::routes)
        .configure(models::routes)
        .configure(events::routes)
        .configure(experiments::routes)
        .configure(search::routes)
        .configure(quality::routes)
        .configure(queries::routes)
        .configure(health::routes)
        .configure(metrics::routes)
        .configure(openapi::routes)
        .configure(workbench::routes);
}

/// The application: routes, a log line and metrics per request, JSON errors for malformed
/// query strings, and a JSON 404.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let observed = state.clone();
    App::new()
        .app_data(state)
        .wrap_fn(move |req, srv| {
            let started = Instant::now();
            let method = req.method().to_string();
            let metrics = observed.clone();
            let response = actix_web::dev::Service::call(srv, req);
            async move {
                let response = response.await?;
                let route = response
                    .request()
                    .match_pattern()
                    .unwrap_or_else(|| "(no route)".into());
                let status = response.status().as_u16();
                let elapsed = started.elapsed();
                metrics.metrics.observe(&route, &method, status, elapsed);
                tracing::info!(
                    method = %method,
                    route = %route,
                    status,
                    ms = elapsed.as_secs_f64() * 1e3,
                    "request"
                );
                Ok(response)
            }
        })
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| ApiError::bad_request("bad_parameter", e.to_string()).into()),
        )
        .app_data(
            web::PathConfig::default()
                .error_handler(|e, _| ApiError::bad_request("bad_parameter", e.to_string()).into()),
        )
        .configure(routes)
        .default_service(web::to(|req: HttpRequest| async move {
            Err::<HttpResponse, _>(ApiError::NotFound(format!(
                "no route {} {}",
                req.method(),
                req.path()
            )))
        }))
}

/// Serves on `addr` until SIGTERM or SIGINT (both finish the requests in flight first).
pub async fn serve(state: AppState, addr: &str, workers: usize) -> std::io::Result<()> {
    let state = web::Data::new(state);
    let server = HttpServer::new(move || app(state.clone()))
        .workers(workers.max(1))
        .shutdown_timeout(10)
        .bind(addr)?;
    for a in server.addrs() {
        eprintln!(
            "kgrec serving on http://{a} (the workbench page at /, SPARQL at /sparql, JSON API under /v1)"
        );
    }
    server.run().await
}

/// Reads a request body of at most `limit` bytes: 413 beyond it, whether or not the client
/// declared its length.
pub async fn read_body(
    req: &HttpRequest,
    body: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    match body.to_bytes_limited(limit).await {
        Err(_) => Err(ApiError::PayloadTooLarge(limit)),
        Ok(Err(e)) => Err(ApiError::bad_request(
            "bad_body",
            format!("the body could not be read: {e}"),
        )),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}
