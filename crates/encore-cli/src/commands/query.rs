//! What `recommend`, `similar` and `explain` share: loading a model file, turning `--user` or
//! `--history` into a [`Query`], and printing ranked items.

use std::path::Path;

use anyhow::Context;
use encore_core::Error;
use encore_core::model_file::ModelArtifact;
use encore_core::models::Query;
use serde_json::{Value, json};

/// Loads and verifies a model file.
pub fn load(path: &Path) -> anyhow::Result<ModelArtifact> {
    ModelArtifact::load(path).with_context(|| format!("cannot load the model {}", path.display()))
}

/// Who to score for: a known user's stored history, or an anonymous history of item ids.
pub struct Subject {
    /// The user's training row, when the subject is a known user.
    pub user: Option<u32>,
    /// History item indices, sorted and unique.
    pub items: Vec<u32>,
    /// Weights parallel to `items`.
    pub weights: Vec<f32>,
}

impl Subject {
    /// The query for the model.
    pub fn query(&self) -> Query<'_> {
        Query { user: self.user, items: &self.items, weights: &self.weights }
    }
}

/// Resolves `--user` (must be known: [`Error::UnknownUser`] otherwise) or `--history` (items
/// the model does not know are ignored with a warning; if none is known, [`Error::UnknownItem`]).
/// History items get weight 1, one play each.
pub fn subject(
    artifact: &ModelArtifact,
    user: Option<&str>,
    history: &[String],
) -> anyhow::Result<Subject> {
    if let Some(user) = user {
        let (row, query) = artifact.user_query(user)?;
        return Ok(Subject {
            user: Some(row),
            items: query.items.to_vec(),
            weights: query.weights.to_vec(),
        });
    }
    let mut items = Vec::with_capacity(history.len());
    let mut unknown = Vec::new();
    for id in history.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        match artifact.items.get(id) {
            Some(i) => items.push(i),
            None => unknown.push(id),
        }
    }
    if items.is_empty() {
        let ids =
            if unknown.is_empty() { "(empty history)".to_string() } else { unknown.join(", ") };
        return Err(Error::UnknownItem(ids))
            .context("no item of the history is known to the model");
    }
    if !unknown.is_empty() {
        eprintln!("warning: ignoring history items unknown to the model: {}", unknown.join(", "));
    }
    items.sort_unstable();
    items.dedup();
    let weights = vec![1.0; items.len()];
    Ok(Subject { user: None, items, weights })
}

/// The index of `--item`, or [`Error::UnknownItem`].
pub fn item(artifact: &ModelArtifact, id: &str) -> anyhow::Result<u32> {
    artifact.items.get(id).ok_or_else(|| Error::UnknownItem(id.to_string()).into())
}

/// Ranked `(item, score)` pairs as JSON objects `{"rank","item","score"}`.
pub fn ranked_json<'a>(ranked: impl IntoIterator<Item = (&'a str, f32)>) -> Vec<Value> {
    ranked
        .into_iter()
        .enumerate()
        .map(|(r, (item, score))| json!({ "rank": r + 1, "item": item, "score": score }))
        .collect()
}

/// Ranked `(item, score)` pairs as an aligned text table.
pub fn ranked_table<'a>(ranked: impl IntoIterator<Item = (&'a str, f32)>) -> String {
    let rows: Vec<(usize, &str, f32)> =
        ranked.into_iter().enumerate().map(|(r, (i, s))| (r + 1, i, s)).collect();
    let width = rows.iter().map(|(_, i, _)| i.chars().count()).max().unwrap_or(0).max(4);
    let mut out = format!("{:>4}  {:<width$}  {:>10}\n", "rank", "item", "score");
    for (rank, item, score) in rows {
        out.push_str(&format!("{rank:>4}  {item:<width$}  {score:>10.4}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let t = ranked_table([("a", 1.5f32), ("long-item", 0.25)]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with("   1  a "));
        assert!(lines[2].ends_with("    0.2500"));
    }
}
