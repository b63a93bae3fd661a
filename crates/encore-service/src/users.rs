//! A user's stored data (data access requests) and erasure.
//!
//! Erasure removes the user everywhere Encore keeps them: the events in the store, the id, the
//! training row and the per-user parameters in **every** model file of the catalog (each file that
//! holds the user is rewritten atomically and its new size registered), the loaded model, the
//! candidate cache and the in-memory history. Afterwards the id appears in no model file and no
//! response, and the user gets `popular` recommendations like any unknown user. Aggregates the user
//! contributed to (item factors, popularity) stay until the next training, as the model file
//! format documents. Erasing a user who is not stored anywhere is not an error: the receipt says
//! nothing was removed (so a retried erasure succeeds).

use std::sync::Arc;

use encore_core::model_file::ModelArtifact;

use crate::dto;
use crate::error::{Error, Resource, Result};
use crate::loaded::LoadedModel;
use crate::service::Encore;
use crate::state::not_found_as;
use crate::validate;

impl Encore {
    /// Everything stored about a user, in the order it was stored.
    pub fn user_data(&self, catalog: &str, user_id: &str) -> Result<dto::UserData> {
        let state = self.inner.catalog_state(catalog)?;
        validate::id("user_id", user_id)?;
        let events = self
            .inner
            .store
            .user_events(catalog, user_id)
            .map_err(not_found_as(Resource::User, user_id))?;
        let data = state.read();
        let title =
            |item_id: &str| data.visible_item(item_id).and_then(|i| data.title_and_kind(i).0);
        Ok(dto::UserData {
            user_id: user_id.to_string(),
            events: events
                .into_iter()
                .map(|e| dto::UserEvent {
                    title: title(&e.item_id),
                    item_id: e.item_id,
                    weight: e.weight as f64,
                    timestamp: e.timestamp.unwrap_or(e.ingested_ms / 1000),
                })
                .collect(),
        })
    }

    /// Erases a user (see the module docs).
    pub fn erase_user(&self, catalog: &str, user_id: &str) -> Result<dto::EraseReceipt> {
        let state = self.inner.catalog_state(catalog)?;
        validate::id("user_id", user_id)?;
        // Held throughout, so that no job registers a model and no activation loads one between
        // the rewrite of the files and the swap of the loaded model.
        let _files = state.model_files.lock().unwrap_or_else(|p| p.into_inner());
        let report = self.inner.store.erase_user(catalog, user_id)?;
        state.record_erasure(user_id);
        state.write().remove_user(user_id);

        let loaded = state.model.load_full();
        if let Some(current) = &loaded {
            current.forget_fresh(user_id);
        }
        let mut rewritten = Vec::new();
        let mut active_artifact = None;
        // Oldest first, so the receipt lists versions in order.
        let mut records = self.inner.store.list_models(catalog)?;
        records.reverse();
        for record in records {
            // With replicas, the local copy is fetched first if missing or stale.
            let path = self.inner.local_model_file(catalog, &record)?;
            let mut artifact = ModelArtifact::load(&path)?;
            if !artifact.remove_user(user_id) {
                continue;
            }
            let size = artifact.save(&path)?;
            self.inner.upload_model_file(catalog, record.version, &path)?;
            self.inner.store.update_model_file(catalog, record.version, &record.file_path, size)?;
            rewritten.push(record.version_label());
            tracing::info!(catalog, model = %record.version_label(), "model file rewritten without an erased user");
            if loaded.as_ref().is_some_and(|l| l.version == record.version) {
                active_artifact = Some(artifact);
            }
        }

        if let Some(current) = loaded
            && let Some(row) = current.artifact.users.get(user_id)
        {
            let artifact = match active_artifact {
                Some(a) => a,
                // The loaded model's file did not hold the user (it was rewritten meanwhile):
                // drop the user from the in-memory copy all the same.
                None => {
                    let mut a = current.artifact.clone();
                    a.remove_user(user_id);
                    a
                }
            };
            let next = Arc::new(LoadedModel::without_user(&current, artifact, row));
            if next.artifact.users.get(user_id).is_some() {
                return Err(Error::Internal(format!("user `{user_id}` survived erasure")));
            }
            self.inner.serve_model(&state, next);
        }
        Ok(dto::EraseReceipt {
            user_id: user_id.to_string(),
            events_removed: report.events_deleted,
            models_rewritten: rewritten.len(),
            versions_rewritten: rewritten,
        })
    }
}
