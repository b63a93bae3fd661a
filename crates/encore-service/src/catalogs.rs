//! Catalog use cases: create, list, inspect, delete, and the default catalog of requests that
//! name none.

use crate::dto;
use crate::error::{Error, Resource, Result};
use crate::service::Encore;
use crate::state::not_found_as;
use crate::validate;

impl Encore {
    /// Creates a catalog; `Conflict` if it exists.
    pub fn create_catalog(&self, req: &dto::CreateCatalog) -> Result<dto::CatalogInfo> {
        validate::catalog_name("name", &req.name)?;
        self.ensure_started()?;
        self.inner.store.create_catalog(&req.name)?;
        self.inner.default_catalog.invalidate();
        self.inner.catalog_state(&req.name)?;
        self.catalog(&req.name)
    }

    /// All catalogs with their counts.
    pub fn list_catalogs(&self) -> Result<dto::CatalogList> {
        let catalogs = self.inner.store.list_catalogs()?;
        let catalogs =
            catalogs.iter().map(|c| self.catalog(&c.name)).collect::<Result<Vec<_>>>()?;
        Ok(dto::CatalogList { catalogs })
    }

    /// One catalog with its counts and active model.
    pub fn catalog(&self, name: &str) -> Result<dto::CatalogInfo> {
        let catalog =
            self.inner.store.get_catalog(name).map_err(not_found_as(Resource::Catalog, name))?;
        let stats = self.inner.store.catalog_stats(name)?;
        let active = self.inner.store.active_model(name)?;
        Ok(dto::CatalogInfo {
            name: catalog.name,
            items: stats.item_ids,
            users: stats.users,
            events: stats.events,
            active_model: active.map(|m| m.version_label()),
            created_unix_ms: catalog.created_ms,
        })
    }

    /// The catalog a request without one means: the only catalog, when there is exactly one.
    /// Cached until a catalog is created or deleted, which invalidate the cache (the store is
    /// read once per change, not once per request).
    pub fn default_catalog(&self) -> Result<String> {
        self.inner.default_catalog.get(|| {
            let mut catalogs = self.inner.store.list_catalogs()?;
            match catalogs.len() {
                1 => Ok(catalogs.remove(0).name),
                0 => Err(Error::not_found(Resource::Catalog, "(default)")),
                // A well-formed request the server's state makes ambiguous: a conflict, not a
                // bad field.
                n => Err(Error::Conflict(format!(
                    "the server hosts {n} catalogs; name one with \"catalog\""
                ))),
            }
        })
    }

    /// Deletes a catalog with its items, events, models (files too) and jobs.
    pub fn delete_catalog(&self, name: &str) -> Result<()> {
        let state = self.inner.catalog_state(name)?;
        let files = {
            let _files = state.model_files.lock().unwrap_or_else(|p| p.into_inner());
            self.inner.jobs.cancel_catalog(name);
            let files = self.inner.store.delete_catalog(name)?;
            self.inner.default_catalog.invalidate();
            if let Some(old) = state.model.swap(None) {
                old.retire();
            }
            self.inner.catalogs.write().unwrap_or_else(|p| p.into_inner()).remove(name);
            files
        };
        for file in files {
            let path = self.inner.config.data_dir.join(&file);
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %path.display(), error = %e, "could not delete a model file");
            }
        }
        let _ = std::fs::remove_dir(self.inner.config.models_dir(name));
        Ok(())
    }
}
