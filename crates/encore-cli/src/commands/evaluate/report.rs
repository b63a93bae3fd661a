//! What `encore evaluate` prints (an aligned table or one JSON object) and the `--write-recs`
//! files.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use encore_core::eval::{Metrics, TestSet};
use encore_core::ids::IdMap;
use serde_json::{Map, Value, json};

use super::CheckedSpec;
use crate::size::format_bytes;

/// The measurements of one model.
pub struct ModelResult {
    /// The spec as given.
    pub model: String,
    /// Top-K metrics.
    pub metrics: Metrics,
    /// Wall-clock training time.
    pub train_seconds: f64,
    /// Wall-clock time to rank the catalogue for every test user.
    pub eval_seconds: f64,
    /// Peak resident memory, when the platform reports it.
    pub peak_memory_bytes: Option<u64>,
    /// True when the peak was reset before this model (otherwise it is the process's peak).
    pub peak_is_per_model: bool,
    /// Size of the model file.
    pub model_size_bytes: u64,
}

/// All results of one run.
pub struct Report {
    /// The cut-off K.
    pub k: usize,
    /// One entry per model, in the order given.
    pub results: Vec<ModelResult>,
}

impl Report {
    /// `{"k":K,"results":[{"model":…,"metrics":{"ndcg@K":…},…}]}`.
    pub fn to_json(&self) -> Value {
        let results: Vec<Value> = self
            .results
            .iter()
            .map(|r| {
                let metrics: Map<String, Value> =
                    r.metrics.named().into_iter().map(|(n, v)| (n, json!(v))).collect();
                json!({
                    "model": r.model,
                    "metrics": metrics,
                    "train_seconds": r.train_seconds,
                    "eval_seconds": r.eval_seconds,
                    "peak_memory_bytes": r.peak_memory_bytes,
                    "model_size_bytes": r.model_size_bytes,
                    "evaluated_users": r.metrics.users,
                })
            })
            .collect();
        json!({ "k": self.k, "results": results })
    }

    /// An aligned text table, one row per model, then a line saying what was measured.
    pub fn to_table(&self) -> String {
        let k = self.k;
        let mut header: Vec<String> = vec!["model".into()];
        header.extend(
            ["ndcg", "precision", "recall", "map", "hr", "coverage"].map(|m| format!("{m}@{k}")),
        );
        header.extend(["train s", "eval s", "peak mem", "size"].map(String::from));
        let mut rows = vec![header];
        for r in &self.results {
            let mut row = vec![r.model.clone()];
            row.extend(r.metrics.named().iter().map(|(_, v)| format!("{v:.4}")));
            row.push(format!("{:.2}", r.train_seconds));
            row.push(format!("{:.2}", r.eval_seconds));
            row.push(r.peak_memory_bytes.map_or_else(|| "n/a".to_string(), format_bytes));
            row.push(format_bytes(r.model_size_bytes));
            rows.push(row);
        }
        let widths: Vec<usize> = (0..rows[0].len())
            .map(|c| rows.iter().map(|row| row[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for row in &rows {
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(c, cell)| {
                    // The model name is text (left-aligned); every other column is a number.
                    if c == 0 {
                        format!("{cell:<w$}", w = widths[c])
                    } else {
                        format!("{cell:>w$}", w = widths[c])
                    }
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        let users = self.results.first().map_or(0, |r| r.metrics.users);
        let per_model = self.results.iter().all(|r| r.peak_is_per_model);
        out.push_str(&format!(
            "{users} users evaluated; full-catalogue ranking; peak mem = {}\n",
            if per_model {
                "peak resident memory while training and evaluating each model"
            } else {
                "peak resident memory of the process"
            }
        ));
        out
    }
}

/// The `--write-recs` file of each spec: `base` itself for a single model; otherwise the spec,
/// made file-name safe, inserted before the extension (`recs.tsv` → `recs.ials.tsv`), with a
/// `-N` suffix when two specs would give the same name.
pub fn recs_paths(base: &Path, specs: &[CheckedSpec]) -> Vec<PathBuf> {
    if specs.len() == 1 {
        return vec![base.to_path_buf()];
    }
    let stem = base.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = base.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    let mut used: Vec<String> = Vec::new();
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let safe: String = s
                .spec
                .text()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
                .collect();
            let mut name = format!("{stem}.{safe}");
            if used.contains(&name) {
                name = format!("{name}-{}", i + 1);
            }
            used.push(name.clone());
            base.with_file_name(format!("{name}{ext}"))
        })
        .collect()
}

/// Writes `user_id<TAB>rank<TAB>item_id` for every evaluated user, ranks from 1.
pub fn write_recs(
    path: &Path,
    test: &TestSet,
    recommendations: &[Vec<u32>],
    users: &IdMap,
    items: &IdMap,
) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    for ((user, _), list) in test.lists.iter().zip(recommendations) {
        let user = users.id(*user);
        for (rank, &item) in list.iter().enumerate() {
            writeln!(out, "{user}\t{}\t{}", rank + 1, items.id(item))
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    out.flush().with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::specs::check;

    #[test]
    fn recs_paths_insert_a_safe_spec_before_the_extension() {
        let specs =
            vec![check("ials").unwrap(), check("ease:lambda=300").unwrap(), check("ials").unwrap()];
        let paths = recs_paths(Path::new("out/recs.tsv"), &specs);
        assert_eq!(
            paths,
            vec![
                PathBuf::from("out/recs.ials.tsv"),
                PathBuf::from("out/recs.ease_lambda_300.tsv"),
                PathBuf::from("out/recs.ials-3.tsv"),
            ]
        );
        assert_eq!(recs_paths(Path::new("r.tsv"), &specs[..1]), vec![PathBuf::from("r.tsv")]);
    }
}
