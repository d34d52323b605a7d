//! `/metrics`: Prometheus text format, from the `prometheus` crate. Requests by route
//! pattern, method and status, a latency histogram per route, and gauges for the model,
//! users, items and resident memory.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use prometheus::{Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use super::error::ApiError;
use super::{resource, AppState};

/// Latency histogram bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56,
];

/// The service's metrics, in their own registry (counters and histograms are atomics: no
/// lock is shared by every request).
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    uptime: Gauge,
    model_version: Gauge,
    items: Gauge,
    users: Gauge,
    resident: Gauge,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "kgrec_http_requests_total",
                "Requests served, by route, method and status.",
            ),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "kgrec_http_request_duration_seconds",
                "Time to answer, by route.",
            )
            .buckets(BUCKETS.to_vec()),
            &["route"],
        )?;
        let gauge = |name: &str, help: &str| -> Result<Gauge, prometheus::Error> {
            let g = Gauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let metrics = Metrics {
            uptime: gauge("kgrec_uptime_seconds", "Seconds since the service started.")?,
            model_version: gauge("kgrec_model_version", "Registered version being served.")?,
            items: gauge("kgrec_items", "Items the model ranks.")?,
            users: gauge("kgrec_users", "Users with a known history.")?,
            resident: gauge(
                "kgrec_process_resident_memory_bytes",
                "Resident memory of the service.",
            )?,
            requests,
            latency,
            registry,
        };
        metrics
            .registry
            .register(Box::new(metrics.requests.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.latency.clone()))?;
        Ok(metrics)
    }

    /// Counts one request: its route pattern (not the raw path, so ids do not multiply the
    /// series), method, status and duration.
    pub fn observe(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
    }

    /// Every metric in Prometheus text format, the gauges read from `state` now.
    fn render(&self, state: &AppState) -> Result<String, prometheus::Error> {
        self.uptime.set(state.started.elapsed().as_secs_f64());
        if let Some(r) = state.live.as_ref().and_then(|l| l.current()) {
            self.model_version.set(r.entry().version as f64);
            self.items.set(r.item_count() as f64);
            self.users.set(r.user_count() as f64);
        }
        if let Some(rss) = resident_bytes() {
            self.resident.set(rss as f64);
        }
        let mut out = Vec::new();
        prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// Resident memory of this process, from `/proc/self/statm` (Linux).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// The routes of this group.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/metrics", "GET").route(web::get().to(metrics)));
}

/// Prometheus metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    responses((status = 200, description = "Text format 0.0.4", body = String, content_type = "text/plain"))
)]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let text = state
        .metrics
        .render(&state)
        .map_err(|e| ApiError::Internal(format!("metrics: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_histograms_render_as_prometheus_text() {
        let m = Metrics::new().unwrap();
        let route = "/v1/users/{id}/recommendations";
        m.observe(route, "GET", 200, Duration::from_millis(3));
        m.observe(route, "GET", 200, Duration::from_millis(30));
        m.observe(route, "GET", 404, Duration::from_millis(1));
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&m.registry.gather(), &mut out)
            .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains(
            "kgrec_http_requests_total{method=\"GET\",route=\"/v1/users/{id}/recommendations\",status=\"200\"} 2"
        ), "{out}");
        assert!(out.contains("le=\"0.005\"} 2"), "{out}");
        assert!(out.contains("le=\"0.04\"} 3"), "{out}");
        assert!(out.contains("_count{route=\"/v1/users/{id}/recommendations\"} 3"));
    }
}
