//! The training jobs this process runs, by id: what the job runner ([`crate::jobs`]) and catalog
//! deletion share (cancellation flags, epoch counts, the activation outcome). Kept apart from
//! the job use cases so the service state can own a registry without depending on them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;

/// The live part of a job this process runs.
#[derive(Debug)]
pub(crate) struct LiveJob {
    pub id: u64,
    pub catalog: String,
    pub cancel: AtomicBool,
    pub epochs: AtomicUsize,
    pub activated: Mutex<Option<bool>>,
    /// Seconds from the end of training to the new version answering, when it was activated.
    pub activation_seconds: Mutex<Option<f64>>,
    /// The loss after each epoch of the fit in progress (or the last one), for the loss curve.
    pub losses: Mutex<Vec<f64>>,
    /// The search of an `auto` job: trials done, best so far, time left.
    pub tuning: Mutex<Option<crate::dto::TuningProgress>>,
}

/// Jobs started by this process.
#[derive(Debug, Default)]
pub(crate) struct JobRegistry {
    pub live: Mutex<FxHashMap<u64, Arc<LiveJob>>>,
}

impl JobRegistry {
    pub fn get(&self, id: u64) -> Option<Arc<LiveJob>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).get(&id).cloned()
    }

    /// Asks every job of `catalog` to stop (the catalog is being deleted).
    pub fn cancel_catalog(&self, catalog: &str) {
        for job in self.live.lock().unwrap_or_else(|p| p.into_inner()).values() {
            if job.catalog == catalog {
                job.cancel.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Asks every job to stop.
    pub fn cancel_all(&self) {
        for job in self.live.lock().unwrap_or_else(|p| p.into_inner()).values() {
            job.cancel.store(true, Ordering::Relaxed);
        }
    }
}
