//! `/metrics`: Prometheus text format. Requests by route pattern, method and status, a
//! latency histogram per route, and gauges for the model, users, items, logged events and
//! resident memory.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{web, HttpResponse};

use super::error::ApiError;
use super::{resource, AppState};

/// Latency histogram bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56,
];

/// Counters and histograms of the requests served.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Metrics {
    /// Counts one request: its route pattern (not the raw path, so ids do not multiply the
    /// series), method, status and duration.
    pub fn observe(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let Ok(mut m) = self.inner.lock() else {
            return;
        };
        *m.requests
            .entry((route.to_owned(), method.to_owned(), status))
            .or_default() += 1;
        let h = m.latency.entry(route.to_owned()).or_default();
        let s = elapsed.as_secs_f64();
        for (b, bound) in h.buckets.iter_mut().zip(BUCKETS) {
            if s <= bound {
                *b += 1;
            }
        }
        h.sum += s;
        h.count += 1;
    }

    /// The counters in Prometheus text format.
    fn render(&self, out: &mut String) {
        let Ok(m) = self.inner.lock() else {
            return;
        };
        out.push_str(
            "# HELP kgrec_http_requests_total Requests served, by route, method and status.\n",
        );
        out.push_str("# TYPE kgrec_http_requests_total counter\n");
        for ((route, method, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "kgrec_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP kgrec_http_request_duration_seconds Time to answer, by route.\n");
        out.push_str("# TYPE kgrec_http_request_duration_seconds histogram\n");
        for (route, h) in &m.latency {
            let route = escape(route);
            for (b, bound) in h.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "kgrec_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {b}"
                );
            }
            let _ = writeln!(
                out,
                "kgrec_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "kgrec_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "kgrec_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
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

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut out = String::new();
    state.metrics.render(&mut out);
    gauge(
        &mut out,
        "kgrec_uptime_seconds",
        "Seconds since the service started.",
        state.started.elapsed().as_secs_f64(),
    );
    if let Some(r) = &state.recommender {
        gauge(
            &mut out,
            "kgrec_model_version",
            "Registered version being served.",
            r.entry().version as f64,
        );
        gauge(
            &mut out,
            "kgrec_items",
            "Items the model ranks.",
            r.item_count() as f64,
        );
        gauge(
            &mut out,
            "kgrec_users",
            "Users with a known history.",
            r.user_count() as f64,
        );
    }
    if let Some(rss) = resident_bytes() {
        gauge(
            &mut out,
            "kgrec_process_resident_memory_bytes",
            "Resident memory of the service.",
            rss as f64,
        );
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_histograms_render_as_prometheus_text() {
        let m = Metrics::default();
        m.observe(
            "/v1/users/{id}/recommendations",
            "GET",
            200,
            Duration::from_millis(3),
        );
        m.observe(
            "/v1/users/{id}/recommendations",
            "GET",
            200,
            Duration::from_millis(30),
        );
        m.observe(
            "/v1/users/{id}/recommendations",
            "GET",
            404,
            Duration::from_millis(1),
        );
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains(
            "kgrec_http_requests_total{route=\"/v1/users/{id}/recommendations\",method=\"GET\",status=\"200\"} 2"
        ));
        assert!(out.contains("le=\"0.005\"} 2"), "{out}");
        assert!(out.contains("le=\"0.04\"} 3"), "{out}");
        assert!(out.contains("_count{route=\"/v1/users/{id}/recommendations\"} 3"));
    }
}
