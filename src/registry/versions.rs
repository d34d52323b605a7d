//! The model registry: trained models under one root directory, each version in its own
//! folder (`v1/`, `v2/`, …) with its vectors as safetensors, and a sled database
//! (`registry/`) holding each version's entry (model, config, data hash, metrics, costs) and
//! its id maps both ways (row ↔ IRI for items and users).
//!
//! The sled database is the source of truth for entries and id maps. The files beside the
//! tensors (`entry.json`, `items.txt`, `users.txt`) are an export of the same data, written
//! at registration for other tools, and read back only to recover a version whose
//! registration a crash cut short.
//!
//! A version's folder is written as `.vN.partial` and renamed to `vN` once complete; the
//! entry is registered after that, last of all, so a version is either complete in the
//! registry or not there at all. A crash between the rename and the registration leaves a
//! complete folder that no entry names: [`ModelRegistry::open`] registers it from its
//! export, and removes what a crash left half-written.

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

/// A registry root opened for reading and registering.
pub struct ModelRegistry {
    root: PathBuf,
    db: sled::Db,
}

fn registry_error(root: &Path, e: impl std::fmt::Display) -> RecError {
    RecError::Registry(format!("{}: {e}", root.display()))
}

const ENTRIES: &str = "entries";

/// Which rows an id map covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowKind {
    /// Item rows (`item_vectors`).
    Item,
    /// User rows (`user_vectors`).
    User,
}

fn map_tree(kind: RowKind, version: u64, by_iri: bool) -> String {
    let kind = match kind {
        RowKind::Item => "item",
        RowKind::User => "user",
    };
    if by_iri {
        format!("{kind}-ids.v{version}")
    } else {
        format!("{kind}-iris.v{version}")
    }
}

/// How long opening waits for the database's lock before it says another process holds it.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens the sled database, waiting up to [`LOCK_WAIT`] for its file lock. sled releases the
/// lock only when the last of its background threads lets go of the file, a moment after the
/// database is dropped, so a registry reopened at once (a restart, a test) would otherwise
/// fail now and then although nobody else holds it.
fn open_waiting_for_lock(path: &Path) -> sled::Result<sled::Db> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match sled::open(path) {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

impl ModelRegistry {
    /// Opens (creating if needed) the registry under `root`. Only one process may hold it.
    pub fn open(root: &Path) -> Result<Self, RecError> {
        std::fs::create_dir_all(root).map_err(|e| registry_error(root, e))?;
        let db = open_waiting_for_lock(&root.join("registry")).map_err(|e| {
            registry_error(
                root,
                format!("{e} (is another kgrec process using this model directory?)"),
            )
        })?;
        let registry = ModelRegistry {
            root: root.to_owned(),
            db,
        };
        registry.reconcile()?;
        Ok(registry)
    }

    /// Brings the folders and the database into agreement after a crash: a complete version
    /// folder (`vN` with its `entry.json`) that is not registered is registered from its
    /// export; a half-written one (`.vN.partial`, or `vN` without `entry.json` and not
    /// registered) is removed.
    fn reconcile(&self) -> Result<(), RecError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| RecError::Io { path, source }
        };
        let listing = std::fs::read_dir(&self.root).map_err(io(&self.root))?;
        let mut folders = Vec::new();
        for dirent in listing {
            let dirent = dirent.map_err(io(&self.root))?;
            let name = dirent.file_name().to_string_lossy().into_owned();
            let path = dirent.path();
            if !path.is_dir() {
                continue;
            }
            if name.starts_with(".v") && name.ends_with(".partial") {
                std::fs::remove_dir_all(&path).map_err(io(&path))?;
            } else if let Some(version) = name.strip_prefix('v').and_then(|v| v.parse::<u64>().ok())
            {
                folders.push((version, path));
            }
        }
        folders.sort();
        for (version, path) in folders {
            if self.entry(version)?.is_some() {
                continue;
            }
            let entry_path = path.join("entry.json");
            if !entry_path.is_file() {
                std::fs::remove_dir_all(&path).map_err(io(&path))?;
                continue;
            }
            let json = std::fs::read(&entry_path).map_err(io(&entry_path))?;
            let entry: ModelEntry = serde_json::from_slice(&json).map_err(|e| {
                registry_error(&self.root, format!("{}: {e}", entry_path.display()))
            })?;
            let lines = |file: &str| -> Result<Vec<String>, RecError> {
                let p = path.join(file);
                let text = std::fs::read_to_string(&p).map_err(io(&p))?;
                Ok(text.lines().map(str::to_owned).collect())
            };
            self.register(&entry, &lines("items.txt")?, &lines("users.txt")?)?;
        }
        Ok(())
    }

    /// A fresh id, increasing across calls and restarts.
    pub(crate) fn generate_id(&self) -> Result<u64, RecError> {
        self.db
            .generate_id()
            .map_err(|e| registry_error(&self.root, e))
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The version the next registered model gets.
    pub fn next_version(&self) -> Result<u64, RecError> {
        Ok(self.entries()?.last().map_or(1, |e| e.version + 1))
    }

    /// The folder of `entry`.
    pub fn folder(&self, entry: &ModelEntry) -> PathBuf {
        self.root.join(&entry.folder)
    }

    /// Records `entry`, whose folder must already be complete, with its id maps (row `i` of
    /// the vectors is `items[i]` / `users[i]`).
    pub fn register(
        &self,
        entry: &ModelEntry,
        items: &[String],
        users: &[String],
    ) -> Result<(), RecError> {
        let err = |e: sled::Error| registry_error(&self.root, e);
        let entries = self.db.open_tree(ENTRIES).map_err(err)?;
        if entries
            .contains_key(entry.version.to_be_bytes())
            .map_err(err)?
        {
            return Err(RecError::Registry(format!(
                "version {} is already registered",
                entry.version
            )));
        }
        for (kind, iris) in [(RowKind::Item, items), (RowKind::User, users)] {
            let by_row = self
                .db
                .open_tree(map_tree(kind, entry.version, false))
                .map_err(err)?;
            let by_iri = self
                .db
                .open_tree(map_tree(kind, entry.version, true))
                .map_err(err)?;
            let (mut rows, mut ids) = (sled::Batch::default(), sled::Batch::default());
            for (i, iri) in iris.iter().enumerate() {
                let row = (i as u32).to_be_bytes();
                rows.insert(&row, iri.as_bytes());
                // An empty row is a forgotten user's: it keeps its number, maps from nothing.
                if !iri.is_empty() {
                    ids.insert(iri.as_bytes(), &row);
                }
            }
            by_row.apply_batch(rows).map_err(err)?;
            by_iri.apply_batch(ids).map_err(err)?;
        }
        let json = serde_json::to_vec(entry).map_err(|e| registry_error(&self.root, e))?;
        entries
            .insert(entry.version.to_be_bytes(), json)
            .map_err(err)?;
        self.db.flush().map_err(err)?;
        Ok(())
    }

    /// Removes every trace of a user from every registered version: the id maps (their row
    /// stays, empty, so that no other row moves), their line of `users.txt` (left empty) and
    /// their row of `user_vectors.safetensors` (zeroed). Returns the number of versions that
    /// had them.
    pub fn forget_user(&self, iri: &str) -> Result<usize, RecError> {
        let err = |e: sled::Error| registry_error(&self.root, e);
        let mut touched = 0;
        for entry in self.entries()? {
            let by_iri = self
                .db
                .open_tree(map_tree(RowKind::User, entry.version, true))
                .map_err(err)?;
            let Some(row) = by_iri.get(iri.as_bytes()).map_err(err)? else {
                continue;
            };
            let bytes: [u8; 4] = row
                .as_ref()
                .try_into()
                .map_err(|_| registry_error(&self.root, "corrupt user map"))?;
            let r = u32::from_be_bytes(bytes) as usize;
            let folder = self.folder(&entry);
            blank_line(&folder.join("users.txt"), r)?;
            zero_row(&folder.join("user_vectors.safetensors"), "user_vectors", r)?;
            by_iri.remove(iri.as_bytes()).map_err(err)?;
            self.db
                .open_tree(map_tree(RowKind::User, entry.version, false))
                .map_err(err)?
                .insert(bytes, &[])
                .map_err(err)?;
            touched += 1;
        }
        self.db.flush().map_err(err)?;
        Ok(touched)
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> Result<Vec<ModelEntry>, RecError> {
        let err = |e: sled::Error| registry_error(&self.root, e);
        let entries = self.db.open_tree(ENTRIES).map_err(err)?;
        entries
            .iter()
            .values()
            .map(|v| {
                let v = v.map_err(err)?;
                serde_json::from_slice(&v).map_err(|e| registry_error(&self.root, e))
            })
            .collect()
    }

    /// The newest entry, if any.
    pub fn latest(&self) -> Result<Option<ModelEntry>, RecError> {
        Ok(self.entries()?.pop())
    }

    /// The entry of `version`, if registered.
    pub fn entry(&self, version: u64) -> Result<Option<ModelEntry>, RecError> {
        let err = |e: sled::Error| registry_error(&self.root, e);
        let entries = self.db.open_tree(ENTRIES).map_err(err)?;
        match entries.get(version.to_be_bytes()).map_err(err)? {
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| registry_error(&self.root, e)),
            None => Ok(None),
        }
    }

    /// The IRIs of a version's item or user rows, in row order; a forgotten user's row is
    /// empty.
    pub fn iris(&self, version: u64, kind: RowKind) -> Result<Vec<String>, RecError> {
        let err = |e: sled::Error| registry_error(&self.root, e);
        let tree = self
            .db
            .open_tree(map_tree(kind, version, false))
            .map_err(err)?;
        tree.iter()
            .values()
            .map(|v| {
                let v = v.map_err(err)?;
                String::from_utf8(v.to_vec()).map_err(|e| registry_error(&self.root, e))
            })
            .collect()
    }

    /// The row of `iri` among a version's items or users.
    pub fn row(&self, version: u64, kind: RowKind, iri: &str) -> Result<Option<u32>, RecError> {
        let err = |e: sled::Error| registry_error(&self.root, e);
        let tree = self
            .db
            .open_tree(map_tree(kind, version, true))
            .map_err(err)?;
        Ok(tree.get(iri.as_bytes()).map_err(err)?.and_then(|v| {
            let bytes: [u8; 4] = v.as_ref().try_into().ok()?;
            Some(u32::from_be_bytes(bytes))
        }))
    }
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

    #[test]
    fn entries_and_id_maps_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let r = ModelRegistry::open(dir.path()).unwrap();
            assert_eq!(r.next_version().unwrap(), 1);
            assert!(r.latest().unwrap().is_none());
            let items = vec!["http://x/i0".to_owned(), "http://x/i1".to_owned()];
            r.register(&entry(1), &items, &["http://x/u0".to_owned()])
                .unwrap();
            r.register(&entry(2), &items[1..], &[]).unwrap();
            assert!(r.register(&entry(2), &items, &[]).is_err());
        }
        let r = ModelRegistry::open(dir.path()).unwrap();
        assert_eq!(r.next_version().unwrap(), 3);
        assert_eq!(r.latest().unwrap().unwrap(), entry(2));
        assert_eq!(r.entry(1).unwrap().unwrap(), entry(1));
        assert_eq!(
            r.iris(1, RowKind::Item).unwrap(),
            ["http://x/i0", "http://x/i1"]
        );
        assert_eq!(r.iris(2, RowKind::Item).unwrap(), ["http://x/i1"]);
        assert_eq!(r.row(1, RowKind::Item, "http://x/i1").unwrap(), Some(1));
        assert_eq!(r.row(2, RowKind::Item, "http://x/i1").unwrap(), Some(0));
        assert_eq!(r.row(1, RowKind::User, "http://x/u0").unwrap(), Some(0));
        assert_eq!(r.row(1, RowKind::User, "http://x/nobody").unwrap(), None);
    }

    #[test]
    fn a_held_registry_is_refused_and_a_dropped_one_reopens_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let held = ModelRegistry::open(dir.path()).unwrap();
        let refused = ModelRegistry::open(dir.path()).err().unwrap().to_string();
        assert!(refused.contains("another kgrec process"), "{refused}");
        drop(held);
        for _ in 0..20 {
            let r = ModelRegistry::open(dir.path()).unwrap();
            r.register(&entry(r.next_version().unwrap()), &[], &[])
                .unwrap();
        }
        assert_eq!(
            ModelRegistry::open(dir.path())
                .unwrap()
                .next_version()
                .unwrap(),
            21
        );
    }

    /// Writes a version's folder as training does: the tensors' stand-in and the export.
    fn write_folder(root: &Path, e: &ModelEntry, items: &[&str], users: &[&str]) {
        let dir = root.join(&e.folder);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("items.txt"), items.join("\n") + "\n").unwrap();
        std::fs::write(dir.join("users.txt"), users.join("\n") + "\n").unwrap();
        let t = candle_core::Tensor::ones(
            (users.len(), 2),
            candle_core::DType::F32,
            &candle_core::Device::Cpu,
        )
        .unwrap();
        let tensors = std::collections::HashMap::from([("user_vectors".to_owned(), t)]);
        candle_core::safetensors::save(&tensors, dir.join("user_vectors.safetensors")).unwrap();
        std::fs::write(dir.join("entry.json"), serde_json::to_vec(e).unwrap()).unwrap();
    }

    #[test]
    fn forgetting_a_user_moves_no_other_row() {
        let dir = tempfile::tempdir().unwrap();
        let r = ModelRegistry::open(dir.path()).unwrap();
        let users = ["http://x/u0", "http://x/u1", "http://x/u2"];
        write_folder(dir.path(), &entry(1), &["http://x/i0"], &users);
        let owned: Vec<String> = users.iter().map(|u| (*u).to_owned()).collect();
        r.register(&entry(1), &["http://x/i0".to_owned()], &owned)
            .unwrap();
        assert_eq!(r.forget_user("http://x/u1").unwrap(), 1);
        assert_eq!(
            r.iris(1, RowKind::User).unwrap(),
            ["http://x/u0", "", "http://x/u2"]
        );
        assert_eq!(r.row(1, RowKind::User, "http://x/u2").unwrap(), Some(2));
        assert_eq!(r.row(1, RowKind::User, "http://x/u1").unwrap(), None);
        let text = std::fs::read_to_string(dir.path().join("v1/users.txt")).unwrap();
        assert_eq!(text, "http://x/u0\n\nhttp://x/u2\n");
    }

    #[test]
    fn opening_registers_a_complete_folder_and_removes_a_partial_one() {
        let dir = tempfile::tempdir().unwrap();
        drop(ModelRegistry::open(dir.path()).unwrap());
        // Training was killed after renaming v1 into place, before registering it, and while
        // writing v2.
        write_folder(
            dir.path(),
            &entry(1),
            &["http://x/i0", "http://x/i1"],
            &["http://x/u0", ""],
        );
        std::fs::create_dir_all(dir.path().join(".v2.partial")).unwrap();
        std::fs::write(dir.path().join(".v2.partial/model.safetensors"), b"half").unwrap();
        // A folder renamed into place without its entry cannot happen through training; it
        // is incomplete all the same.
        std::fs::create_dir_all(dir.path().join("v3")).unwrap();
        let r = ModelRegistry::open(dir.path()).unwrap();
        assert_eq!(r.entry(1).unwrap().unwrap(), entry(1));
        assert_eq!(
            r.iris(1, RowKind::Item).unwrap(),
            ["http://x/i0", "http://x/i1"]
        );
        assert_eq!(r.iris(1, RowKind::User).unwrap(), ["http://x/u0", ""]);
        assert_eq!(r.row(1, RowKind::User, "").unwrap(), None);
        assert!(!dir.path().join(".v2.partial").exists());
        assert!(!dir.path().join("v3").exists());
        assert_eq!(r.next_version().unwrap(), 2);
    }
}
