//! Model specs given with `--model`: parsed and validated before any data is read, so a typo
//! fails in milliseconds rather than after loading a large file.

use anyhow::Context;
use encore_core::models::{Algorithm, ModelConfig, ModelSpec};

/// Help text shared by every `--model` option.
pub const SPEC_HELP: &str = "Model spec NAME[:key=value,...], NAME one of ials, bpr, ease, \
    itemknn, popularity; e.g. `ials:factors=128,alpha=2` or `ease:lambda=300`. Unknown names, \
    unknown keys and out-of-range values are rejected";

/// A spec with its validated configuration.
pub struct CheckedSpec {
    /// The spec as parsed.
    pub spec: ModelSpec,
    /// Its validated configuration.
    pub config: ModelConfig,
}

/// Parses and validates one spec.
pub fn check(text: &str) -> anyhow::Result<CheckedSpec> {
    let spec = ModelSpec::parse(text)?;
    let config = ModelConfig::from_spec(&spec).with_context(|| format!("model `{text}`"))?;
    Ok(CheckedSpec { spec, config })
}

/// Parses every spec, or every algorithm at its defaults when none is given.
pub fn check_all(texts: &[String]) -> anyhow::Result<Vec<CheckedSpec>> {
    if texts.is_empty() {
        return Algorithm::ALL.iter().map(|a| check(a.name())).collect();
    }
    texts.iter().map(|t| check(t)).collect()
}
