//! [`LiveModel`]: the served model over time. It answers with one registered version, swaps
//! to a newer one while serving (requests in flight finish on the one they started with),
//! and follows the change log in the store, so that an event or a forgetting sent to any
//! replica reaches every replica's answers.
//!
//! The change log is the store itself: every live event carries the Unix second it was
//! recorded in (`kgr:recordedSecond`), and a forgetting leaves a record with the user's
//! SHA-256. A replica reads the last [`CHANGE_WINDOW`] seconds every [`FollowSettings`]
//! poll, by an index lookup per second, and applies what it has not applied yet. A model is
//! loaded with histories that leave out the events recorded in the window before its load
//! began, and then reads the log from there: nothing is missed or applied twice, provided a
//! store commits an event within [`CHANGE_WINDOW`] of its recording second.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::events::{changes_between, now_second, record_events, LiveEvent};
use super::experiment::{ExperimentSpec, Exposure, ExposureLog};
use super::recommender::Recommender;
use crate::error::RecError;
use crate::features::text::TextFeatureConfig;
use crate::kg::KgStore;
use crate::registry::{ModelEntry, ModelRegistry};

/// How many seconds back each read of the change log goes: longer than a store takes to
/// commit an event, shorter than a poll's answer should grow.
pub const CHANGE_WINDOW: i64 = 10;

/// How a replica follows the store and the registry.
#[derive(Clone, Debug)]
pub struct FollowSettings {
    /// Pause between reads of the change log.
    pub poll: Duration,
    /// Pause between looks for a newer registered version; `None`: only on
    /// `POST /v1/admin/reload`.
    pub watch_registry: Option<Duration>,
}

impl Default for FollowSettings {
    fn default() -> Self {
        FollowSettings {
            poll: Duration::from_millis(250),
            watch_registry: Some(Duration::from_secs(5)),
        }
    }
}

/// What a reload did.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Reloaded {
    /// The version served before.
    pub previous: Option<u64>,
    /// The version served now.
    pub served: Option<u64>,
    /// Whether the model changed.
    pub swapped: bool,
    /// Seconds the new version took to load.
    pub load_seconds: f64,
}

/// The served model, swapped as new versions are registered, and the replica's view of the
/// change log.
pub struct LiveModel {
    store: KgStore,
    registry: ModelRegistry,
    text: TextFeatureConfig,
    /// Serve this version only, never a newer one.
    pinned: Option<u64>,
    current: RwLock<Option<Arc<Recommender>>>,
    /// One reload at a time.
    reloading: Mutex<()>,
    /// Models swapped out that requests may still hold; once the last lets go, freed memory
    /// is handed back to the system.
    retired: Mutex<Vec<std::sync::Weak<Recommender>>>,
    /// The A/B test running, if any.
    experiment: Option<Experiment>,
}

/// An A/B test: its arms' models (pinned versions, loaded at start) and its exposure log.
struct Experiment {
    spec: ExperimentSpec,
    models: Vec<Arc<Recommender>>,
    log: ExposureLog,
}

/// Which arm of which experiment served an answer.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ServedArm {
    /// The experiment's name.
    pub experiment: String,
    /// The arm's name (`v3`).
    pub arm: String,
}

impl LiveModel {
    /// Loads the pinned version, or the newest registered one (none yet: the service answers
    /// 503 until one is registered and loaded).
    pub fn start(
        store: KgStore,
        registry: ModelRegistry,
        text: TextFeatureConfig,
        pinned: Option<u64>,
    ) -> Result<Self, RecError> {
        Self::start_with(store, registry, text, pinned, None)
    }

    /// As [`LiveModel::start`], with an A/B test between registered versions: each arm's
    /// version is loaded too, and serves its share of users.
    pub fn start_with(
        store: KgStore,
        registry: ModelRegistry,
        text: TextFeatureConfig,
        pinned: Option<u64>,
        experiment: Option<ExperimentSpec>,
    ) -> Result<Self, RecError> {
        let mut live = LiveModel {
            store,
            registry,
            text,
            pinned,
            current: RwLock::new(None),
            reloading: Mutex::new(()),
            retired: Mutex::new(Vec::new()),
            experiment: None,
        };
        if let Some(v) = pinned {
            if live.registry.entry(v)?.is_none() {
                return Err(RecError::NotFound(format!(
                    "model version {v} in {}",
                    live.registry.root().display()
                )));
            }
        }
        live.reload()?;
        if let Some(spec) = experiment {
            let mut models = Vec::new();
            for arm in &spec.arms {
                let entry = live.registry.entry(arm.version)?.ok_or_else(|| {
                    RecError::NotFound(format!(
                        "model version {} (arm {} of experiment {}) in {}",
                        arm.version,
                        arm.name,
                        spec.name,
                        live.registry.root().display()
                    ))
                })?;
                models.push(live.load_version(entry)?.0);
            }
            live.experiment = Some(Experiment {
                spec,
                models,
                log: ExposureLog::default(),
            });
        }
        Ok(live)
    }

    /// Loads a version with histories up to date: read from the store up to the change
    /// log's window, then the log applied from there.
    fn load_version(&self, entry: ModelEntry) -> Result<(Arc<Recommender>, f64), RecError> {
        let started = Instant::now();
        let since = now_second() - CHANGE_WINDOW;
        let r = Recommender::load_histories_until(
            &self.store,
            &self.registry,
            entry,
            &self.text,
            Some(since),
        )?;
        let changes = changes_between(&self.store, since, now_second())?;
        r.apply_changes(&self.store, &changes)?;
        Ok((Arc::new(r), started.elapsed().as_secs_f64()))
    }

    /// The model that answers `user`, and the experiment arm it belongs to when an A/B test
    /// is running.
    pub fn model_for(&self, user: &str) -> Option<(Arc<Recommender>, Option<ServedArm>)> {
        match &self.experiment {
            Some(x) => {
                let i = x.spec.arm_of(user);
                Some((
                    Arc::clone(&x.models[i]),
                    Some(ServedArm {
                        experiment: x.spec.name.clone(),
                        arm: x.spec.arms[i].name.clone(),
                    }),
                ))
            }
            None => self.current().map(|r| (r, None)),
        }
    }

    /// Logs that `user` was shown `shown` by `arm` (written to the store at the next poll).
    pub fn expose(&self, arm: &ServedArm, user: &str, shown: Vec<String>) -> Result<(), RecError> {
        let Some(x) = &self.experiment else {
            return Ok(());
        };
        x.log.push(Exposure {
            arm: arm.arm.clone(),
            user: user.to_owned(),
            time: now_second(),
            shown,
        })
    }

    /// The experiment called `name`, if it is the one running.
    pub fn experiment(&self, name: &str) -> Option<&ExperimentSpec> {
        self.experiment
            .as_ref()
            .map(|x| &x.spec)
            .filter(|s| s.name == name)
    }

    /// Writes the waiting exposures to the store.
    pub fn flush_exposures(&self) -> Result<(), RecError> {
        if let Some(x) = &self.experiment {
            x.log.flush(&self.store, &x.spec)?;
        }
        Ok(())
    }

    /// Every model held: the current one and the experiment's arms.
    fn models(&self) -> Vec<Arc<Recommender>> {
        let mut all: Vec<Arc<Recommender>> = self.current().into_iter().collect();
        for m in self.experiment.iter().flat_map(|x| &x.models) {
            if !all.iter().any(|a| Arc::ptr_eq(a, m)) {
                all.push(Arc::clone(m));
            }
        }
        all
    }

    /// Forgets a user in every model held, after the store did (`record` is the forgetting
    /// record written there; the registry is the caller's).
    pub fn forget_in_memory(
        &self,
        user: &str,
        record: &super::events::Forgetting,
    ) -> Result<(), RecError> {
        for r in self.models() {
            r.forget_recorded(user, record)?;
        }
        Ok(())
    }

    /// The model answering now; a request keeps the one it got until it ends.
    pub fn current(&self) -> Option<Arc<Recommender>> {
        self.current.read().map_or(None, |c| c.clone())
    }

    /// The registry the versions come from.
    pub fn registry(&self) -> &ModelRegistry {
        &self.registry
    }

    /// The store events are written to and read from.
    pub fn store(&self) -> &KgStore {
        &self.store
    }

    fn wanted(&self) -> Result<Option<ModelEntry>, RecError> {
        match self.pinned {
            Some(v) => self.registry.entry(v),
            None => self.registry.latest(),
        }
    }

    /// Serves the newest registered version (or the pinned one) if it is not served yet:
    /// loads it beside the current one, brings its histories up to date from the change
    /// log, then swaps. The old model is freed when the last request using it ends.
    pub fn reload(&self) -> Result<Reloaded, RecError> {
        let _one = self
            .reloading
            .lock()
            .map_err(|_| RecError::Poisoned("the reload lock"))?;
        let previous = self.current().map(|r| r.entry().version);
        // Nothing registered, or the version wanted is the one served.
        let entry = match self.wanted()? {
            Some(entry) if Some(entry.version) != previous => entry,
            _ => {
                return Ok(Reloaded {
                    previous,
                    served: previous,
                    swapped: false,
                    load_seconds: 0.0,
                })
            }
        };
        let (r, load_seconds) = self.load_version(entry)?;
        let served = Some(r.entry().version);
        tracing::info!(
            version = r.entry().version,
            model = %r.entry().model,
            items = r.item_count(),
            users = r.user_count(),
            seconds = load_seconds,
            stages = ?r.load_seconds,
            "serving a model version"
        );
        let old = self
            .current
            .write()
            .map_err(|_| RecError::Poisoned("the served model"))?
            .replace(r);
        if let Some(old) = old {
            // Freed here, or by the last request still holding it.
            let weak = Arc::downgrade(&old);
            drop(old);
            self.retired
                .lock()
                .map_err(|_| RecError::Poisoned("the retired models"))?
                .push(weak);
            self.release_retired()?;
        }
        Ok(Reloaded {
            previous,
            served,
            swapped: true,
            load_seconds,
        })
    }

    /// Records events in the store (durable when this returns) and applies them to the model
    /// answering now; other replicas apply them from the change log. Returns the recorded
    /// events and the products placed from their text.
    pub fn record(
        &self,
        events: &[LiveEvent],
    ) -> Result<(Vec<super::events::RecordedEvent>, Vec<String>), RecError> {
        let recorded = record_events(&self.store, events)?;
        let mut placed = Vec::new();
        for r in self.models() {
            for item in r.apply_live(&self.store, &recorded)? {
                if !placed.contains(&item) {
                    placed.push(item);
                }
            }
        }
        Ok((recorded, placed))
    }

    /// Hands memory back once no request holds a swapped-out model any more.
    fn release_retired(&self) -> Result<(), RecError> {
        let mut retired = self
            .retired
            .lock()
            .map_err(|_| RecError::Poisoned("the retired models"))?;
        let before = retired.len();
        retired.retain(|w| w.strong_count() > 0);
        if retired.len() < before {
            return_freed_memory();
        }
        Ok(())
    }

    /// Reads the change log's last [`CHANGE_WINDOW`] seconds into the model answering now.
    pub fn catch_up(&self) -> Result<(), RecError> {
        self.release_retired()?;
        let models = self.models();
        if models.is_empty() {
            return Ok(());
        }
        let now = now_second();
        let changes = changes_between(&self.store, now - CHANGE_WINDOW, now)?;
        for r in models {
            r.apply_changes(&self.store, &changes)?;
        }
        Ok(())
    }

    /// Follows the change log (and, when asked, the registry) on a thread of its own until
    /// the process ends. A failed read is logged and tried again at the next poll.
    pub fn follow(self: &Arc<Self>, settings: FollowSettings) -> std::io::Result<()> {
        let live = Arc::clone(self);
        std::thread::Builder::new()
            .name("kgrec-follow".into())
            .spawn(move || {
                let mut last_look = Instant::now();
                loop {
                    std::thread::sleep(settings.poll);
                    if let Err(e) = live.catch_up() {
                        tracing::warn!(error = %e, "cannot read the change log");
                    }
                    if let Err(e) = live.flush_exposures() {
                        tracing::warn!(error = %e, "cannot write the experiment's exposures");
                    }
                    if let Some(every) = settings.watch_registry {
                        if last_look.elapsed() >= every {
                            last_look = Instant::now();
                            if let Err(e) = live.reload() {
                                tracing::warn!(error = %e, "cannot load the newest model version");
                            }
                        }
                    }
                }
            })
            .map(drop)
    }
}

/// Asks the allocator to hand freed memory back to the system, so that after a swap the
/// process holds one model's worth again (glibc keeps freed heap otherwise).
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::filter::ItemFilter;

    /// A swap while a request holds the old model: the request finishes on it, new requests
    /// get the new version with the live histories, and the old model is freed once let go.
    #[test]
    fn a_new_version_is_served_without_a_restart_and_the_old_one_freed() {
        let (store, registry, _dir, entry, _) =
            crate::serve::recommender::tests::trained_shop(None);
        let live = LiveModel::start(
            store.clone(),
            registry.clone(),
            TextFeatureConfig::default(),
            None,
        )
        .unwrap();
        let held = live.current().unwrap();
        assert_eq!(held.entry().version, entry.version);
        let u1 = "https://w3id.org/kgrec/id/fixture/user/U1";
        let p3 = "https://w3id.org/kgrec/id/fixture/product/P3";
        let event = LiveEvent {
            user: u1.into(),
            item: p3.into(),
            kind: "view".into(),
            time: 1_700_000_000,
            rating: None,
        };
        live.record(std::slice::from_ref(&event)).unwrap();
        let history = held.history(u1).unwrap().unwrap();
        assert_eq!(held.item(*history.last().unwrap()).unwrap().iri, p3);
        // Nothing new registered: nothing to do.
        assert!(!live.reload().unwrap().swapped);

        let from = registry.folder(&entry);
        let next = registry
            .add_version(|_, dir| {
                for file in std::fs::read_dir(&from).unwrap() {
                    let file = file.unwrap();
                    std::fs::copy(file.path(), dir.join(file.file_name())).unwrap();
                }
                Ok(entry.clone())
            })
            .unwrap();
        let done = live.reload().unwrap();
        assert!(done.swapped);
        assert_eq!(
            (done.previous, done.served),
            (Some(entry.version), Some(next.version))
        );
        let now = live.current().unwrap();
        assert_eq!(now.entry().version, next.version);
        // The request in flight still answers from the old model.
        assert_eq!(held.entry().version, entry.version);
        assert!(!held
            .recommend(u1, 3, &ItemFilter::default(), false)
            .unwrap()
            .is_empty());
        // The event recorded a moment ago is in the new model's history once, not twice.
        assert_eq!(now.history(u1).unwrap().unwrap(), history);
        // Once the request lets go, the old model is freed.
        let weak = Arc::downgrade(&held);
        drop(held);
        assert_eq!(weak.strong_count(), 0);
        live.catch_up().unwrap();
        assert!(live.retired.lock().unwrap().is_empty());
    }
}
