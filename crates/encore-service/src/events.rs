//! Event ingestion: validated all or nothing, acknowledged after the durable commit, and counted
//! for recommendations at once.

use encore_store::NewEvent;
use rustc_hash::FxHashMap;

use crate::dto;
use crate::error::{Error, Result};
use crate::limits;
use crate::service::Encore;
use crate::state::now_ms;
use crate::validate::{self, RowErrors};

impl Encore {
    /// Validates and stores a batch of events, all or nothing, returning once they are durably
    /// committed. Items the catalog does not know yet are created bare, so no event is lost for
    /// lack of metadata. The events count for recommendations at once.
    pub fn ingest_events(
        &self,
        catalog: &str,
        req: &dto::IngestEvents,
    ) -> Result<dto::IngestEventsResponse> {
        let state = self.inner.catalog_state(catalog)?;
        if req.events.len() > limits::MAX_BATCH_ROWS {
            return Err(Error::TooLarge(format!(
                "{} events in one request; the limit is {}",
                req.events.len(),
                limits::MAX_BATCH_ROWS
            )));
        }
        let now_s = now_ms() / 1000;
        let mut errors = RowErrors::default();
        let mut rows = Vec::with_capacity(req.events.len());
        // An event with an explicit timestamp is identified by (user, item, timestamp): the same
        // triple twice in one batch is one event sent twice (a client bug or a botched retry),
        // and storing both would count it twice. Events without a timestamp are repeat plays
        // stamped at ingestion, so they may repeat.
        let mut first_of: FxHashMap<(&str, &str, i64), usize> = FxHashMap::default();
        for (i, e) in req.events.iter().enumerate() {
            if let Some(m) = validate::id_problem(&e.user_id) {
                errors.push(i, "user_id", m);
            }
            if let Some(m) = validate::id_problem(&e.item_id) {
                errors.push(i, "item_id", m);
            }
            let weight = validate::weight(e.weight).unwrap_or_else(|m| {
                errors.push(i, "weight", m);
                0.0
            });
            if let Some(t) = e.timestamp
                && t < 0
            {
                errors.push(i, "timestamp", "must be seconds since the Unix epoch (>= 0)");
            }
            if let Some(t) = e.timestamp {
                let first = *first_of.entry((&e.user_id, &e.item_id, t)).or_insert(i);
                if first != i {
                    let m =
                        format!("duplicates event {first} (same user_id, item_id and timestamp)");
                    errors.push(i, "timestamp", m);
                }
            }
            rows.push(NewEvent {
                user_id: e.user_id.clone(),
                item_id: e.item_id.clone(),
                weight,
                timestamp: Some(e.timestamp.unwrap_or(now_s)),
            });
        }
        errors.finish()?;
        if rows.is_empty() {
            return Ok(dto::IngestEventsResponse { accepted: 0 });
        }
        let report = self.inner.store.append_events(catalog, &rows)?;
        let (first, last) = report
            .seq_range
            .ok_or_else(|| Error::Internal("the store assigned no sequence numbers".into()))?;
        match self.inner.following() {
            // With replicas, the follower applies every replica's events in sequence order,
            // these included (see `replication`); the answer waits until it has.
            Some(follow) => {
                if !follow.wait_applied(last) {
                    tracing::warn!(
                        catalog,
                        seq = last,
                        "events committed but not yet applied by the follower; they count once \
                         it catches up"
                    );
                }
            }
            None => {
                let mut data = state.write();
                for (k, e) in rows.iter().enumerate() {
                    data.apply_event(first + k as u64, &e.user_id, &e.item_id, e.weight);
                }
            }
        }
        self.inner
            .counters
            .events_ingested
            .fetch_add(rows.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(dto::IngestEventsResponse { accepted: rows.len() })
    }

    /// Events ingested through this service since it started (for metrics).
    pub fn events_ingested(&self) -> u64 {
        self.inner.counters.events_ingested.load(std::sync::atomic::Ordering::Relaxed)
    }
}
