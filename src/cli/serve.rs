//! `kgrec serve`: opens the store and the registered model, then runs the HTTP service.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kgrec::api::{serve as run_service, AppState, ServiceSettings};
use kgrec::features::text::TextFeatureConfig;
use kgrec::kg::KgStore;
use kgrec::registry::ModelRegistry;
use kgrec::serve::experiment::ExperimentSpec;
use kgrec::serve::live::{FollowSettings, LiveModel};

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
    if !(a.watch_registry.is_finite() && a.watch_registry >= 0.0) {
        bail!("--watch-registry must be 0 or a positive number of seconds");
    }
    if a.follow_every_ms == 0 {
        bail!("--follow-every-ms must be at least 1");
    }
    let started = Instant::now();
    let registry = ModelRegistry::open(registry_root)?;
    let text = TextFeatureConfig {
        model_dir: a.model_dir.clone(),
        threads: None,
    };
    let experiment = a
        .experiment
        .as_deref()
        .map(ExperimentSpec::parse)
        .transpose()?;
    let live = LiveModel::start_with(store.clone(), registry, text, a.model_version, experiment)
        .with_context(|| format!("cannot load a model from {}", registry_root.display()))?;
    match live.current() {
        Some(r) => {
            let parts: Vec<String> = r
                .load_seconds
                .iter()
                .map(|(stage, s)| format!("{stage} {s:.1}s"))
                .collect();
            eprintln!(
                "model {} version {}: {} items, {} users ({:.1}s: {})",
                r.entry().model,
                r.entry().version,
                r.item_count(),
                r.user_count(),
                started.elapsed().as_secs_f64(),
                parts.join(", ")
            );
        }
        None => eprintln!(
            "no model registered in {}: /sparql works, /v1 answers 503 until `kgrec train` has run",
            registry_root.display()
        ),
    }
    let live = Arc::new(live);
    let pinned = a.model_version.is_some();
    live.follow(FollowSettings {
        poll: Duration::from_millis(a.follow_every_ms),
        watch_registry: (a.watch_registry > 0.0 && !pinned)
            .then(|| Duration::from_secs_f64(a.watch_registry)),
    })
    .context("cannot start following the change log")?;
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
    let state = AppState::new(store.clone(), Some(live), settings)
        .context("cannot set up the service's metrics")?;
    actix_web::rt::System::new()
        .block_on(run_service(state, &a.addr, workers))
        .with_context(|| format!("cannot serve on {}", a.addr))?;
    eprintln!("kgrec stopped");
    Ok(())
}
