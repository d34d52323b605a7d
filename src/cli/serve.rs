//! `kgrec serve`: opens the store and the registered model, then runs the HTTP service.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kgrec::api::{serve as run_service, AppState, ServiceSettings};
use kgrec::features::text::TextFeatureConfig;
use kgrec::kg::KgStore;
use kgrec::registry::ModelRegistry;
use kgrec::serve::events::EventRecorder;
use kgrec::serve::recommender::Recommender;

use super::args::ServeArgs;

/// Runs `kgrec serve` until SIGTERM or Ctrl-C.
pub fn serve(
    store: &KgStore,
    registry_root: &Path,
    queries_dir: &Path,
    a: ServeArgs,
) -> Result<()> {
    if !(a.query_timeout.is_finite() && a.query_timeout > 0.0) {
        bail!("--query-timeout must be a positive number of seconds");
    }
    if a.update_token
        .as_deref()
        .is_some_and(|t| t.trim().len() < 8)
    {
        bail!("--update-token must have at least 8 characters");
    }
    let started = Instant::now();
    let registry = ModelRegistry::open(registry_root)?;
    let entry = match a.model_version {
        Some(v) => Some(
            registry
                .entry(v)?
                .with_context(|| format!("no model version {v} in {}", registry_root.display()))?,
        ),
        None => registry.latest()?,
    };
    let recommender = match entry {
        Some(e) => {
            let (version, name) = (e.version, e.model.clone());
            let text = TextFeatureConfig {
                model_dir: a.model_dir.clone(),
                threads: None,
            };
            let r = Recommender::load(store, &registry, e, &text)?;
            let parts: Vec<String> = r
                .load_seconds
                .iter()
                .map(|(stage, s)| format!("{stage} {s:.1}s"))
                .collect();
            eprintln!(
                "model {name} version {version}: {} items, {} users ({:.1}s: {})",
                r.item_count(),
                r.user_count(),
                started.elapsed().as_secs_f64(),
                parts.join(", ")
            );
            Some(r)
        }
        None => {
            eprintln!(
                "no model registered in {}: /sparql works, /v1 answers 503 until `kgrec train` has run",
                registry_root.display()
            );
            None
        }
    };
    let settings = ServiceSettings {
        update_token: a.update_token.clone(),
        query_timeout: Duration::from_secs_f64(a.query_timeout),
        max_results: a.max_results,
        max_body_bytes: a.max_body,
        queries_dir: queries_dir.to_owned(),
    };
    let workers = a.workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    });
    let events = EventRecorder::new(registry);
    let state = AppState::new(store.clone(), recommender, Some(events), settings)
        .context("cannot set up the service's metrics")?;
    actix_web::rt::System::new()
        .block_on(run_service(state, &a.addr, workers))
        .with_context(|| format!("cannot serve on {}", a.addr))?;
    eprintln!("kgrec stopped");
    Ok(())
}
