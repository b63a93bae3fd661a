//! Item use cases: batch upserts, one item's metadata, takedowns (see [`crate::catalog_data`] for
//! what a takedown hides).

use encore_store::NewItem;

use crate::dto;
use crate::error::{Error, Resource, Result};
use crate::limits;
use crate::service::Encore;
use crate::state::not_found_as;
use crate::validate::{self, RowErrors};

impl Encore {
    /// Creates or replaces items, all or nothing; every bad row is reported.
    pub fn upsert_items(
        &self,
        catalog: &str,
        req: &dto::UpsertItems,
    ) -> Result<dto::UpsertItemsResponse> {
        let state = self.inner.catalog_state(catalog)?;
        if req.items.len() > limits::MAX_BATCH_ROWS {
            return Err(Error::TooLarge(format!(
                "{} items in one request; the limit is {}",
                req.items.len(),
                limits::MAX_BATCH_ROWS
            )));
        }
        let mut errors = RowErrors::default();
        for (i, item) in req.items.iter().enumerate() {
            validate::item_row(i, item, &mut errors);
        }
        errors.finish()?;
        let rows: Vec<NewItem> = req.items.iter().map(NewItem::from).collect();
        self.inner.store.upsert_items(catalog, &rows)?;
        let mut data = state.write();
        for item in &req.items {
            data.set_item(item);
        }
        Ok(dto::UpsertItemsResponse { upserted: req.items.len() })
    }

    /// One item. An item known only from events (no metadata) is returned bare; a taken-down
    /// item is not found.
    pub fn get_item(&self, catalog: &str, item_id: &str) -> Result<dto::Item> {
        let state = self.inner.catalog_state(catalog)?;
        let data = state.read();
        match data.visible_item(item_id) {
            Some(i) => Ok(data.item_dto(i)),
            None => Err(Error::not_found(Resource::Item, item_id)),
        }
    }

    /// Creates or replaces one item.
    pub fn put_item(
        &self,
        catalog: &str,
        item_id: &str,
        fields: &dto::ItemFields,
    ) -> Result<dto::Item> {
        let item = fields.clone().into_item(item_id);
        let req = dto::UpsertItems { items: vec![item.clone()] };
        self.upsert_items(catalog, &req).map_err(|e| match e {
            // A single item's problems are reported as plain field errors.
            Error::InvalidRows(rows) if !rows.is_empty() => {
                Error::invalid(rows[0].field.clone(), rows[0].message.clone())
            }
            other => other,
        })?;
        Ok(item)
    }

    /// Takes an item down: from the moment this returns, `get_item` does not find it and no
    /// recommendation or similar list contains it, whatever the source, without retraining.
    /// Its events stay (they are training history); storing the item again puts it back.
    /// `NotFound` when the catalog has no such item or it is already down.
    pub fn delete_item(&self, catalog: &str, item_id: &str) -> Result<()> {
        let state = self.inner.catalog_state(catalog)?;
        self.inner
            .store
            .delete_item(catalog, item_id)
            .map_err(not_found_as(Resource::Item, item_id))?;
        state.write().take_down(item_id);
        Ok(())
    }
}
