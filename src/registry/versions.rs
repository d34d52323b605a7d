//! The model registry: trained models under one root directory, each version in its own
//! folder (`v1/`, `v2/`, …) holding its tensors as safetensors, its entry (`entry.json`:
//! model, config, data hash, metrics, costs) and its id maps (`items.txt`, `users.txt`: the
//! IRI of each row, one per line).
//!
//! The folders are the source of truth, and plain files so that many processes can share
//! one registry: `kgrec train` adding versions while several `kgrec serve` replicas read it,
//! on one machine or on a shared file system. (An earlier registry kept entries and id maps
//! in sled, which one process at a time may open; its `registry/` folder is no longer read,
//! since every version folder carries the same data.)
//!
//! A version is written as `.vN.partial`, its entry last, and renamed to `vN` once complete,
//! so a reader sees it whole or not at all. Writers (adding a version, forgetting a user)
//! take an advisory lock on `<root>/.lock`; opening clears what a killed writer left.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::RecError;
use crate::model::SequentialConfig;

/// What one stage of training cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageCost {
    /// Stage name (`structure`, `text`, `training`, …).
    pub stage: String,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Peak resident memory during the stage, in bytes, where the platform reports it.
    pub peak_rss_bytes: Option<u64>,
}

/// One trained model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    /// Version number, from 1, increasing.
    pub version: u64,
    /// The model kind (`kgrec`, `sasrec`, …).
    pub model: String,
    /// When it was registered, in seconds since the Unix epoch.
    pub created_unix: u64,
    /// Its folder, relative to the registry root.
    pub folder: String,
    /// The protocol whose held-out parts were kept out of training, or `None` when the model
    /// saw every interaction (a model to serve).
    pub holdout: Option<String>,
    /// The seed it was trained with.
    pub seed: u64,
    /// The experiment settings (JSON), for reproducing it.
    pub config: serde_json::Value,
    /// The sequence model's effective settings, needed to load its weights (the defaults
    /// for EASE).
    pub sequential: SequentialConfig,
    /// What EASE chose (its λ, dropout, KG weight); `None` for the sequence models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ease: Option<crate::model::ease::EaseChoice>,
    /// Which candidate `kgrec train` kept and why, when no model was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choice: Option<super::served::ModelChoice>,
    /// [`super::InteractionData::content_hash`] of the data it was trained on.
    pub data_hash: String,
    /// Users, items and interactions it saw.
    pub counts: BTreeMap<String, u64>,
    /// Metrics: `train.loss`, and with a holdout `valid.NDCG@10`, `test.HR@10`, ….
    pub metrics: BTreeMap<String, f64>,
    /// Time and memory per stage.
    pub stages: Vec<StageCost>,
    /// What a reader must know (an input the data lacked).
    pub notes: Vec<String>,
    /// What `--exclude-flagged` left out or merged; `None` when training used every
    /// interaction as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusions: Option<ExclusionRecord>,
}

/// What a version was trained without, as its entry records it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExclusionRecord {
    /// The finding kinds acted on (`shilling`, `near-duplicate`, …).
    pub kinds: Vec<String>,
    /// Accounts nothing was learned from (their interactions were only their own history).
    pub users_left_out: u64,
    /// Flagged accounts learned from after all: one per group of accounts acting alike.
    #[serde(default)]
    pub group_accounts_kept: u64,
    /// Their interactions.
    pub interactions_left_out: u64,
    /// Each duplicate product and the representative it was merged into (also when serving).
    pub item_aliases: BTreeMap<String, String>,
    /// Product titles read as `kgrec check` repaired them.
    #[serde(default)]
    pub titles_repaired: u64,
    /// Products read as carrying the brand their title names.
    #[serde(default)]
    pub brands_linked: u64,
}

/// A registry root: plain folders that any number of processes may read at once (several
/// `kgrec serve` replicas on a shared file system), while `kgrec train` adds versions.
#[derive(Clone, Debug)]
pub struct ModelRegistry {
    root: PathBuf,
}

fn registry_error(root: &Path, e: impl std::fmt::Display) -> RecError {
    RecError::Registry(format!("{}: {e}", root.display()))
}

/// Which rows an id map covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowKind {
    /// Item rows (`item_vectors`).
    Item,
    /// User rows (`user_vectors`).
    User,
}

impl RowKind {
    /// The file of a version's folder that lists these rows' IRIs, one per line.
    fn file(self) -> &'static str {
        match self {
            RowKind::Item => "items.txt",
            RowKind::User => "users.txt",
        }
    }
}

/// The registry's write lock: an exclusive advisory lock on `<root>/.lock`, held while a
/// version is written and numbered, while a user is forgotten and while crash leftovers are
/// cleared. Readers take no lock: every change they can see is a rename.
struct WriteLock {
    _file: std::fs::File,
}

impl WriteLock {
    fn take(root: &Path) -> Result<Self, RecError> {
        let path = root.join(".lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| RecError::Io {
                path: path.clone(),
                source,
            })?;
        file.lock()
            .map_err(|source| RecError::Io { path, source })?;
        Ok(WriteLock { _file: file })
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RecError {
    let path = path.to_owned();
    move |source| RecError::Io { path, source }
}

impl ModelRegistry {
    /// Opens (creating if needed) the registry under `root`, clearing what a crashed writer
    /// left half-written. Many processes may hold it at once.
    pub fn open(root: &Path) -> Result<Self, RecError> {
        std::fs::create_dir_all(root).map_err(|e| registry_error(root, e))?;
        let registry = ModelRegistry {
            root: root.to_owned(),
        };
        let _lock = WriteLock::take(root)?;
        registry.clear_leftovers()?;
        Ok(registry)
    }

    /// Removes what a writer killed midway left: a `.vN.partial` folder, or a `vN` folder
    /// without its `entry.json` (which is written before the folder is renamed into place,
    /// so only a hand-made folder lacks it). Called under the write lock, so no live writer
    /// owns them.
    fn clear_leftovers(&self) -> Result<(), RecError> {
        for dirent in std::fs::read_dir(&self.root).map_err(io(&self.root))? {
            let dirent = dirent.map_err(io(&self.root))?;
            let name = dirent.file_name().to_string_lossy().into_owned();
            let path = dirent.path();
            if !path.is_dir() {
                continue;
            }
            let partial = name.starts_with(".v") && name.ends_with(".partial");
            let incomplete = version_of(&name).is_some() && !path.join("entry.json").is_file();
            if partial || incomplete {
                std::fs::remove_dir_all(&path).map_err(io(&path))?;
            }
        }
        Ok(())
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of `entry`.
    pub fn folder(&self, entry: &ModelEntry) -> PathBuf {
        self.root.join(&entry.folder)
    }

    /// Adds the next version: under the write lock, `write` fills a fresh `.vN.partial`
    /// folder for version N and returns the entry; the entry is written beside the files
    /// and the folder renamed to `vN`, so that readers see the version complete or not at
    /// all. Two trainers finishing together get different numbers.
    pub fn add_version(
        &self,
        write: impl FnOnce(u64, &Path) -> Result<ModelEntry, RecError>,
    ) -> Result<ModelEntry, RecError> {
        let _lock = WriteLock::take(&self.root)?;
        let version = self.versions()?.last().map_or(1, |v| v + 1);
        let folder = format!("v{version}");
        let partial = self.root.join(format!(".{folder}.partial"));
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(io(&partial))?;
        }
        std::fs::create_dir_all(&partial).map_err(io(&partial))?;
        let mut entry = write(version, &partial)?;
        entry.version = version;
        entry.folder = folder.clone();
        let json = serde_json::to_vec_pretty(&entry).map_err(|e| registry_error(&self.root, e))?;
        let entry_path = partial.join("entry.json");
        std::fs::write(&entry_path, json).map_err(io(&entry_path))?;
        let done = self.root.join(&folder);
        std::fs::rename(&partial, &done).map_err(io(&done))?;
        Ok(entry)
    }

    /// The numbers of the complete versions, in order.
    fn versions(&self) -> Result<Vec<u64>, RecError> {
        let mut versions = Vec::new();
        for dirent in std::fs::read_dir(&self.root).map_err(io(&self.root))? {
            let dirent = dirent.map_err(io(&self.root))?;
            let name = dirent.file_name().to_string_lossy().into_owned();
            if let Some(v) = version_of(&name) {
                if dirent.path().join("entry.json").is_file() {
                    versions.push(v);
                }
            }
        }
        versions.sort_unstable();
        Ok(versions)
    }

    /// Removes every trace of a user from every version: their line of `users.txt` (left
    /// empty, so that no other row moves) and their row of `user_vectors.safetensors`
    /// (zeroed), each rewritten aside and renamed. Returns the number of versions that had
    /// them.
    pub fn forget_user(&self, iri: &str) -> Result<usize, RecError> {
        let _lock = WriteLock::take(&self.root)?;
        let mut touched = 0;
        for entry in self.entries()? {
            let folder = self.folder(&entry);
            let Some(r) = self
                .iris(entry.version, RowKind::User)?
                .iter()
                .position(|u| u == iri)
            else {
                continue;
            };
            zero_row(&folder.join("user_vectors.safetensors"), "user_vectors", r)?;
            blank_line(&folder.join("users.txt"), r)?;
            touched += 1;
        }
        Ok(touched)
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> Result<Vec<ModelEntry>, RecError> {
        self.versions()?
            .into_iter()
            .filter_map(|v| self.entry(v).transpose())
            .collect()
    }

    /// The newest entry, if any.
    pub fn latest(&self) -> Result<Option<ModelEntry>, RecError> {
        match self.versions()?.last() {
            Some(&v) => self.entry(v),
            None => Ok(None),
        }
    }

    /// The entry of `version`, if it is complete.
    pub fn entry(&self, version: u64) -> Result<Option<ModelEntry>, RecError> {
        let path = self.root.join(format!("v{version}")).join("entry.json");
        let json = match std::fs::read(&path) {
            Ok(json) => json,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        serde_json::from_slice(&json)
            .map(Some)
            .map_err(|e| registry_error(&self.root, format!("{}: {e}", path.display())))
    }

    /// The IRIs of a version's item or user rows, in row order; a forgotten user's row is
    /// empty.
    pub fn iris(&self, version: u64, kind: RowKind) -> Result<Vec<String>, RecError> {
        let path = self.root.join(format!("v{version}")).join(kind.file());
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        Ok(text.lines().map(str::to_owned).collect())
    }
}

/// The version a folder name stands for (`v12` → 12).
fn version_of(name: &str) -> Option<u64> {
    name.strip_prefix('v')?.parse().ok()
}

/// Replaces line `row` of a text file with an empty line (written aside, then renamed).
fn blank_line(path: &Path, row: usize) -> Result<(), RecError> {
    let io = |e: std::io::Error| RecError::Io {
        path: path.to_owned(),
        source: e,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let mut lines: Vec<&str> = text.lines().collect();
    if let Some(line) = lines.get_mut(row) {
        *line = "";
    }
    let mut out = lines.join("\n");
    out.push('\n');
    replace_file(path, out.as_bytes())
}

/// Zeroes row `row` of the 2-D f32 tensor `name` in a safetensors file (written aside, then
/// renamed).
fn zero_row(path: &Path, name: &str, row: usize) -> Result<(), RecError> {
    let model = |e: String| {
        RecError::from(crate::eval::LearnError::Checkpoint {
            path: path.to_owned(),
            message: e,
        })
    };
    let mut tensors = candle_core::safetensors::load(path, &candle_core::Device::Cpu)
        .map_err(|e| model(e.to_string()))?;
    let t = tensors
        .get(name)
        .ok_or_else(|| model(format!("no tensor {name}")))?;
    let (rows, dim) = t.dims2().map_err(|e| model(e.to_string()))?;
    if row >= rows {
        return Ok(());
    }
    let mut values: Vec<f32> = t
        .flatten_all()
        .and_then(|v| v.to_vec1())
        .map_err(|e| model(e.to_string()))?;
    values[row * dim..(row + 1) * dim].fill(0.0);
    let zeroed = candle_core::Tensor::from_vec(values, (rows, dim), &candle_core::Device::Cpu)
        .map_err(|e| model(e.to_string()))?;
    tensors.insert(name.to_owned(), zeroed);
    let aside = path.with_extension("safetensors.partial");
    candle_core::safetensors::save(&tensors, &aside).map_err(|e| model(e.to_string()))?;
    std::fs::rename(&aside, path).map_err(|e| RecError::Io {
        path: path.to_owned(),
        source: e,
    })
}

fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), RecError> {
    let aside = path.with_extension("partial");
    let io = |e: std::io::Error| RecError::Io {
        path: path.to_owned(),
        source: e,
    };
    std::fs::write(&aside, bytes).map_err(io)?;
    std::fs::rename(&aside, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: u64) -> ModelEntry {
        ModelEntry {
            version,
            model: "kgrec".into(),
            created_unix: 1,
            folder: format!("v{version}"),
            holdout: None,
            seed: 1,
            config: serde_json::json!({"a": 1}),
            sequential: SequentialConfig::default(),
            ease: None,
            choice: None,
            data_hash: "abc".into(),
            counts: BTreeMap::new(),
            metrics: BTreeMap::from([("train.loss".into(), 1.5)]),
            stages: Vec::new(),
            notes: Vec::new(),
            exclusions: None,
        }
    }

    /// Adds a version as training does: the tensors' stand-in and the id maps.
    fn add(r: &ModelRegistry, items: &[&str], users: &[&str]) -> ModelEntry {
        r.add_version(|version, dir| {
            let lines = |xs: &[&str]| xs.iter().map(|x| format!("{x}\n")).collect::<String>();
            std::fs::write(dir.join("items.txt"), lines(items)).unwrap();
            std::fs::write(dir.join("users.txt"), lines(users)).unwrap();
            let t = candle_core::Tensor::ones(
                (users.len(), 2),
                candle_core::DType::F32,
                &candle_core::Device::Cpu,
            )
            .unwrap();
            let tensors = std::collections::HashMap::from([("user_vectors".to_owned(), t)]);
            candle_core::safetensors::save(&tensors, dir.join("user_vectors.safetensors")).unwrap();
            Ok(entry(version))
        })
        .unwrap()
    }

    #[test]
    fn entries_and_id_maps_are_read_by_any_number_of_openers() {
        let dir = tempfile::tempdir().unwrap();
        let r = ModelRegistry::open(dir.path()).unwrap();
        assert!(r.latest().unwrap().is_none());
        assert_eq!(
            add(&r, &["http://x/i0", "http://x/i1"], &["http://x/u0"]),
            entry(1)
        );
        // A second opener (another replica) sees the same, and its versions are numbered
        // after the first's.
        let other = ModelRegistry::open(dir.path()).unwrap();
        assert_eq!(other.latest().unwrap().unwrap(), entry(1));
        assert_eq!(add(&other, &["http://x/i1"], &[]), entry(2));
        assert_eq!(r.latest().unwrap().unwrap(), entry(2));
        assert_eq!(r.entries().unwrap(), [entry(1), entry(2)]);
        assert_eq!(
            r.iris(1, RowKind::Item).unwrap(),
            ["http://x/i0", "http://x/i1"]
        );
        assert_eq!(r.iris(2, RowKind::Item).unwrap(), ["http://x/i1"]);
        assert_eq!(r.iris(1, RowKind::User).unwrap(), ["http://x/u0"]);
        assert!(r.entry(3).unwrap().is_none());
    }

    #[test]
    fn writers_in_parallel_get_distinct_versions() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let root = root.clone();
                std::thread::spawn(move || {
                    let r = ModelRegistry::open(&root).unwrap();
                    (0..5)
                        .map(|_| add(&r, &[], &[]).version)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut versions: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        versions.sort_unstable();
        assert_eq!(versions, (1..=20).collect::<Vec<_>>());
    }

    #[test]
    fn forgetting_a_user_moves_no_other_row() {
        let dir = tempfile::tempdir().unwrap();
        let r = ModelRegistry::open(dir.path()).unwrap();
        let users = ["http://x/u0", "http://x/u1", "http://x/u2"];
        add(&r, &["http://x/i0"], &users);
        assert_eq!(r.forget_user("http://x/u1").unwrap(), 1);
        assert_eq!(r.forget_user("http://x/nobody").unwrap(), 0);
        assert_eq!(
            r.iris(1, RowKind::User).unwrap(),
            ["http://x/u0", "", "http://x/u2"]
        );
        let text = std::fs::read_to_string(dir.path().join("v1/users.txt")).unwrap();
        assert_eq!(text, "http://x/u0\n\nhttp://x/u2\n");
        let t = candle_core::safetensors::load(
            dir.path().join("v1/user_vectors.safetensors"),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let rows: Vec<Vec<f32>> = t["user_vectors"].to_vec2().unwrap();
        assert_eq!(rows, [vec![1.0, 1.0], vec![0.0, 0.0], vec![1.0, 1.0]]);
    }

    #[test]
    fn opening_clears_what_a_killed_writer_left() {
        let dir = tempfile::tempdir().unwrap();
        let r = ModelRegistry::open(dir.path()).unwrap();
        add(&r, &["http://x/i0"], &["http://x/u0"]);
        // Training was killed while writing v2; a folder without its entry is incomplete.
        std::fs::create_dir_all(dir.path().join(".v2.partial")).unwrap();
        std::fs::write(dir.path().join(".v2.partial/model.safetensors"), b"half").unwrap();
        std::fs::create_dir_all(dir.path().join("v3")).unwrap();
        assert_eq!(r.latest().unwrap().unwrap(), entry(1));
        let r = ModelRegistry::open(dir.path()).unwrap();
        assert!(!dir.path().join(".v2.partial").exists());
        assert!(!dir.path().join("v3").exists());
        assert_eq!(add(&r, &[], &[]).version, 2);
    }
}
