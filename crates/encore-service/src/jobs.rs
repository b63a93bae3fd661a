//! Training jobs: a bounded pool, progress reporting, cancellation, and the model registry use
//! cases (list, activate, rollback).
//!
//! A job runs on the service's training pool (`training_threads` threads), so however many jobs
//! are started, training never takes the cores that answer requests; extra jobs wait as `queued`.
//! Its steps:
//!
//! 1. **Snapshot**: the catalog's newest event sequence number becomes the job's *watermark*,
//!    and every event up to it is streamed into id maps and an interaction matrix.
//! 2. **Evaluate** (with `holdout`): the model is trained on a per-user random holdout split and
//!    measured with exact full-ranking metrics at K = 10.
//! 3. **Train** on all the snapshot's data — the served model has seen every event up to the
//!    watermark, which is what lets [`crate::recommend`] use the model's own user parameters
//!    for users without newer events. The holdout metrics are recorded as the estimate of how
//!    this configuration performs. Steps 2 and 3 are [`crate::training::train`], the pipeline
//!    `encore train` runs on a file.
//! 4. **Register**: the model file is written to `DIR/models/<catalog>/v<N>.enc` (atomically) and
//!    registered with its metrics and watermark.
//! 5. **Activate** by policy: `always`; `never`; `if_better` activates when the catalog has no
//!    active model, or when both models have a holdout `ndcg@10` and the new one is higher.
//!
//! A job that a stop of the process interrupts is marked failed at the next start (the previous
//! active model keeps serving); cancellation is polled between epochs.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use encore_core::ids::IdMap;
use encore_core::matrix::InteractionMatrix;
use encore_core::models::{Algorithm, ModelConfig, ModelSpec};
use encore_core::progress::TrainingObserver;
use encore_store::{JobRecord, JobUpdate, ModelRecord, NewModel};

use crate::dto::{self, ActivatePolicy, JobState};
use crate::error::{Error, Resource, Result};
use crate::job_registry::LiveJob;
use crate::loaded::LoadedModel;
use crate::service::Encore;
use crate::state::{CatalogState, Inner, metrics_map, not_found_as};
use crate::training;

/// The metric `if_better` compares.
pub const COMPARE_METRIC: &str = "ndcg@10";

/// Receives the engine's progress for one phase of a job and maps it into `[start, start+span]`.
struct PhaseObserver<'a> {
    inner: &'a Inner,
    job: &'a LiveJob,
    start: f64,
    span: f64,
}

impl TrainingObserver for PhaseObserver<'_> {
    fn on_start(&self, epochs: usize) {
        self.job.epochs.store(epochs, Ordering::Relaxed);
        // Each fit (holdout, then final) draws its own curve.
        self.job.losses.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
    fn on_epoch(&self, epoch: usize, loss: Option<f64>) {
        let epochs = self.job.epochs.load(Ordering::Relaxed).max(1);
        let progress = self.start + self.span * (epoch.min(epochs) as f64 / epochs as f64);
        if let Some(loss) = loss.filter(|l| l.is_finite()) {
            self.job.losses.lock().unwrap_or_else(|p| p.into_inner()).push(loss);
        }
        let update = JobUpdate {
            progress: Some(progress),
            epoch: Some(epoch as u32),
            loss: loss.filter(|l| l.is_finite()),
            ..Default::default()
        };
        match self.inner.store.update_job(self.job.id, &update) {
            Ok(_) => {}
            // Ended elsewhere: cancelled through another replica, or failed as abandoned while
            // this one could not heartbeat. Stop; the registration would be refused anyway.
            Err(encore_store::Error::Conflict(reason)) => {
                tracing::warn!(job = self.job.id, %reason, "the job was ended elsewhere; stopping");
                self.job.cancel.store(true, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(job = self.job.id, error = %e, "could not record job progress")
            }
        }
    }
    fn is_cancelled(&self) -> bool {
        self.job.cancel.load(Ordering::Relaxed)
    }
}

/// The job's view of the training pipeline: each fit reports into its share of the progress
/// (holdout fit 0.05–0.45, final fit up to 0.95), and the holdout metrics are recorded at once.
/// After the search of an `auto` job (0.05–0.85) the fits share what is left.
struct JobProgress<'a> {
    inner: &'a Inner,
    job: &'a LiveJob,
    holdout: bool,
    searched: bool,
}

impl training::Progress for JobProgress<'_> {
    fn fit(
        &self,
        stage: training::Stage,
        run: &mut dyn FnMut(&dyn TrainingObserver) -> Result<encore_core::models::Model>,
    ) -> Result<encore_core::models::Model> {
        let (first, end) = if self.searched { (0.85, 0.95) } else { (0.05, 0.95) };
        let middle = (first + end) / 2.0;
        let start = match stage {
            training::Stage::Measure => first,
            training::Stage::Final if self.holdout => middle,
            training::Stage::Final => first,
        };
        // The measuring fit ends a little before the middle, where its evaluation is recorded.
        let span = if stage == training::Stage::Measure {
            (middle - first) * 8.0 / 9.0
        } else {
            end - start
        };
        run(&PhaseObserver { inner: self.inner, job: self.job, start, span })
    }

    fn evaluated(&self, metrics: &encore_core::eval::Metrics) -> Result<()> {
        let metrics = serde_json::to_value(training::named_metrics(metrics))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let middle = if self.searched { 0.9 } else { 0.5 };
        let update =
            JobUpdate { progress: Some(middle), metrics: Some(metrics), ..Default::default() };
        self.inner.store.update_job(self.job.id, &update)?;
        Ok(())
    }
}

impl Encore {
    /// Starts a training job on the bounded pool; returns its id at once.
    pub fn start_training(
        &self,
        catalog: &str,
        req: &dto::TrainRequest,
    ) -> Result<dto::JobAccepted> {
        let state = self.inner.catalog_state(catalog)?;
        // Check the request before queueing, so that a typo is a 400 now, not a failed job later.
        crate::tuning::check_request(req)?;
        if req.model != crate::tuning::AUTO {
            let algorithm: Algorithm = req.model.parse().map_err(|_| {
                Error::invalid(
                    "model",
                    format!(
                        "unknown model `{}`; expected one of ials, bpr, ease, itemknn, \
                         popularity, or auto",
                        req.model
                    ),
                )
            })?;
            let spec = ModelSpec::from_json(algorithm, &req.params)?;
            ModelConfig::from_spec(&spec)?;
        }
        if let Some(h) = req.holdout
            && !(h == 0.0 || (h > 0.0 && h < 1.0))
        {
            return Err(Error::invalid(
                "holdout",
                format!("must be 0 (none) or strictly between 0 and 1, got {h}"),
            ));
        }
        let request = serde_json::to_value(req).map_err(|e| Error::Internal(e.to_string()))?;
        let record = self.inner.store.create_job(catalog, &request)?;
        let live = Arc::new(LiveJob {
            id: record.id,
            catalog: catalog.to_string(),
            cancel: AtomicBool::new(false),
            epochs: AtomicUsize::new(0),
            activated: Mutex::new(None),
            activation_seconds: Mutex::new(None),
            losses: Mutex::new(Vec::new()),
            tuning: Mutex::new(None),
        });
        self.inner
            .jobs
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(record.id, live.clone());
        let inner = self.inner.clone();
        let req = req.clone();
        self.inner.training_pool.spawn(move || {
            let outcome = inner.run_job(&state, &live, &req);
            inner.finish_job(&live, outcome);
        });
        Ok(dto::JobAccepted { job_id: record.id })
    }

    /// A job's state.
    pub fn job(&self, job_id: u64) -> Result<dto::JobInfo> {
        let record = self
            .inner
            .store
            .get_job(job_id)
            .map_err(not_found_as(Resource::Job, &job_id.to_string()))?;
        Ok(self.inner.job_info(&record))
    }

    /// Recent jobs, newest first, of one catalog or of all.
    pub fn list_jobs(&self, catalog: Option<&str>, limit: usize) -> Result<Vec<dto::JobInfo>> {
        if let Some(c) = catalog {
            self.inner.catalog_state(c)?;
        }
        let records = self.inner.store.list_jobs(catalog, limit.clamp(1, 1000))?;
        Ok(records.iter().map(|r| self.inner.job_info(r)).collect())
    }

    /// Cancels a queued or running job; `Conflict` when it has already ended.
    pub fn cancel_job(&self, job_id: u64) -> Result<dto::JobInfo> {
        let record = self
            .inner
            .store
            .get_job(job_id)
            .map_err(not_found_as(Resource::Job, &job_id.to_string()))?;
        if record.state.is_terminal() {
            return Err(Error::Conflict(format!(
                "job {job_id} has already ended ({})",
                record.state.as_str()
            )));
        }
        match self.inner.jobs.get(job_id) {
            // A running job notices at its next poll and records the cancellation itself; a
            // queued one is recorded as cancelled at once and skipped when its turn comes.
            Some(live) => {
                live.cancel.store(true, Ordering::Relaxed);
                if record.state == JobState::Queued {
                    let update =
                        JobUpdate { state: Some(JobState::Cancelled), ..Default::default() };
                    if let Err(e) = self.inner.store.update_job(job_id, &update) {
                        // It started meanwhile: it will record the cancellation itself.
                        tracing::debug!(job = job_id, error = %e, "queued job already moved on");
                    }
                }
            }
            // Not run by this process: nothing will ever finish it, so record it here.
            None => {
                let update = JobUpdate { state: Some(JobState::Cancelled), ..Default::default() };
                self.inner.store.update_job(job_id, &update)?;
            }
        }
        self.job(job_id)
    }

    /// Waits until a job has ended or `timeout` passed; returns its last state.
    pub fn wait_for_job(&self, job_id: u64, timeout: std::time::Duration) -> Result<dto::JobInfo> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let info = self.job(job_id)?;
            if info.state.is_terminal() || std::time::Instant::now() >= deadline {
                return Ok(info);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Asks every running job to stop (graceful shutdown).
    pub fn cancel_all_jobs(&self) {
        self.inner.jobs.cancel_all();
    }

    /// The catalog's model versions, newest first.
    pub fn list_models(&self, catalog: &str) -> Result<dto::ModelList> {
        self.inner.catalog_state(catalog)?;
        let models = self.inner.store.list_models(catalog)?;
        Ok(dto::ModelList { models: models.iter().map(model_info).collect() })
    }

    /// Makes `version` (`v3` or `3`) the active model: the registry is switched in one
    /// transaction, then the loaded model is swapped; requests in flight finish on the old one.
    /// Also the rollback.
    pub fn activate_model(&self, catalog: &str, version: &str) -> Result<dto::ModelInfo> {
        let state = self.inner.catalog_state(catalog)?;
        let number: encore_store::ModelVersion = version.parse().map_err(|_| {
            Error::invalid("version", format!("`{version}` is not a version such as v3"))
        })?;
        let (record, _) = self.inner.activate(&state, number.0)?;
        Ok(model_info(&record))
    }
}

impl Inner {
    fn job_info(&self, r: &JobRecord) -> dto::JobInfo {
        let live = self.jobs.get(r.id);
        let epochs = live.as_ref().map(|l| l.epochs.load(Ordering::Relaxed)).filter(|&e| e > 0);
        dto::JobInfo {
            job_id: r.id,
            catalog: r.catalog.clone(),
            model: r.request.get("model").and_then(|m| m.as_str()).unwrap_or_default().to_string(),
            state: r.state,
            progress: r.progress,
            epoch: r.epoch.map(|e| e as usize),
            epochs,
            loss: r.loss,
            metrics: r.metrics.as_ref().map(metrics_map),
            model_version: r.model_version.map(|v| encore_store::ModelVersion(v).to_string()),
            loss_history: live
                .as_ref()
                .map(|l| l.losses.lock().unwrap_or_else(|p| p.into_inner()).clone())
                .unwrap_or_default(),
            activated: live
                .as_ref()
                .and_then(|l| *l.activated.lock().unwrap_or_else(|p| p.into_inner())),
            activation_seconds: live
                .as_ref()
                .and_then(|l| *l.activation_seconds.lock().unwrap_or_else(|p| p.into_inner())),
            error: r.error.clone(),
            tuning: live
                .as_ref()
                .and_then(|l| l.tuning.lock().unwrap_or_else(|p| p.into_inner()).clone()),
            created_unix_ms: r.created_ms,
            finished_unix_ms: r.state.is_terminal().then_some(r.updated_ms),
            replica: r.owner.clone(),
        }
    }

    /// Activates a registered version: loads it first (a file that fails to load never becomes
    /// active), builds what it needs to serve at full speed while the current model keeps
    /// serving ([`Inner::prepare`]), then switches the registry and swaps the serving model in
    /// one step, so the registry never names a version that is not answering. Returns the record
    /// and the seconds from the call to the new version answering.
    pub fn activate(
        self: &Arc<Self>,
        state: &CatalogState,
        version: u32,
    ) -> Result<(ModelRecord, f64)> {
        let started = std::time::Instant::now();
        // One activation at a time per catalog, so the last one asked for is the one that wins.
        let _activation = state.activation.lock().unwrap_or_else(|p| p.into_inner());
        let (loaded, erase_tick, prepare_seconds) = self.prepare_version(state, version)?;
        let _files = state.model_files.lock().unwrap_or_else(|p| p.into_inner());
        let loaded = without_erased(state, loaded, erase_tick);
        let record = self.store.activate_model(&state.name, version)?;
        let seconds = started.elapsed().as_secs_f64();
        loaded.set_activation_seconds(seconds);
        tracing::info!(
            catalog = %state.name,
            model = %loaded.label,
            prepare_seconds,
            activation_seconds = seconds,
            "model activated"
        );
        self.serve_model(state, loaded);
        Ok((record, seconds))
    }

    /// Loads a registered version (a file that fails to load never becomes active) and builds
    /// what it needs to serve at full speed while the current model keeps serving
    /// ([`Inner::prepare`]). Returns it with the erasure tick it was read at and the seconds the
    /// preparation took; the caller applies the erasures since ([`without_erased`]) under the
    /// files lock, right before the swap. The caller holds the catalog's activation lock.
    pub(crate) fn prepare_version(
        self: &Arc<Self>,
        state: &CatalogState,
        version: u32,
    ) -> Result<(Arc<LoadedModel>, u64, f64)> {
        let (loaded, erase_tick) = {
            // An erasure cannot rewrite the file while it is read.
            let _files = state.model_files.lock().unwrap_or_else(|p| p.into_inner());
            let record = self.store.get_model(&state.name, version).map_err(not_found_as(
                Resource::Model,
                &encore_store::ModelVersion(version).to_string(),
            ))?;
            (self.load_model(state, &record)?, state.erase_tick())
        };
        // Without the files lock: erasures and jobs go on meanwhile.
        let loaded = Arc::new(loaded);
        state.preparing.store(Some(loaded.clone()));
        let prepare_seconds = self.prepare(&loaded);
        state.preparing.store(None);
        Ok((loaded, erase_tick, prepare_seconds))
    }

    fn finish_job(&self, live: &LiveJob, outcome: Result<u32>) {
        let update = match &outcome {
            Ok(version) => JobUpdate {
                state: Some(JobState::Succeeded),
                progress: Some(1.0),
                model_version: Some(*version),
                ..Default::default()
            },
            Err(Error::Engine(encore_core::Error::Cancelled)) => {
                JobUpdate { state: Some(JobState::Cancelled), ..Default::default() }
            }
            Err(_) if live.cancel.load(Ordering::Relaxed) => {
                JobUpdate { state: Some(JobState::Cancelled), ..Default::default() }
            }
            Err(e) => JobUpdate {
                state: Some(JobState::Failed),
                error: Some(e.to_string()),
                ..Default::default()
            },
        };
        match &outcome {
            Ok(v) => {
                tracing::info!(job = live.id, catalog = %live.catalog, version = v, "training job succeeded")
            }
            Err(e) => {
                tracing::warn!(job = live.id, catalog = %live.catalog, error = %e, "training job ended without a model")
            }
        }
        // A queued job cancelled by `cancel_job` has already been recorded.
        if self.store.get_job(live.id).is_ok_and(|r| r.state.is_terminal()) {
            return;
        }
        if let Err(e) = self.store.update_job(live.id, &update) {
            tracing::error!(job = live.id, error = %e, "could not record the end of a job");
        }
    }

    fn run_job(
        self: &Arc<Self>,
        state: &CatalogState,
        live: &LiveJob,
        req: &dto::TrainRequest,
    ) -> Result<u32> {
        if live.cancel.load(Ordering::Relaxed) {
            return Err(Error::Engine(encore_core::Error::Cancelled));
        }
        let running =
            JobUpdate { state: Some(JobState::Running), progress: Some(0.0), ..Default::default() };
        self.store.update_job(live.id, &running)?;
        let holdout = req.holdout.filter(|&h| h > 0.0);

        // 1. Snapshot.
        let erase_tick = state.erase_tick();
        let watermark = self.store.catalog_stats(&state.name)?.last_event_seq;
        let (users, items, matrix) = self.snapshot(&state.name, watermark)?;
        if matrix.nnz() == 0 {
            return Err(Error::Unprocessable(format!(
                "catalog `{}` has no events to train on; ingest events first",
                state.name
            )));
        }
        self.store
            .update_job(live.id, &JobUpdate { progress: Some(0.05), ..Default::default() })?;

        // 1b. The spec, or with "auto" the search's pick (the search reads the snapshot only).
        let (config, search_record) = if req.model == crate::tuning::AUTO {
            let (config, record) = crate::tuning::search(self, live, req, &matrix)?;
            (config, Some(record))
        } else {
            let algorithm: Algorithm = req.model.parse()?;
            (ModelConfig::from_spec(&ModelSpec::from_json(algorithm, &req.params)?)?, None)
        };
        let algorithm = config.algorithm();

        // 2-3. Evaluate on a holdout split, then train on everything: the shared pipeline.
        let plan = training::Plan {
            config: &config,
            seed: self.config.seed,
            memory_limit_bytes: self.config.memory_limit_bytes,
            holdout: holdout.map(|fraction| training::Holdout { fraction, k: 10 }),
        };
        let data = encore_core::data::Dataset { users, items, matrix };
        let progress = JobProgress {
            inner: self,
            job: live,
            holdout: holdout.is_some(),
            searched: search_record.is_some(),
        };
        let training::Trained { mut artifact, metrics } =
            training::train(data, &plan, Some(format!("catalog {}", state.name)), &progress)?;
        // 3b. The approximate index of a large catalogue, measured, stored in the model file.
        let index = training::build_index(
            &mut artifact,
            self.config.index_min_items,
            self.config.index_target_recall,
            self.config.seed,
        );
        let mut registry_metrics =
            serde_json::to_value(&metrics).map_err(|e| Error::Internal(e.to_string()))?;
        registry_metrics["index"] =
            serde_json::to_value(&index).map_err(|e| Error::Internal(e.to_string()))?;
        if let Some(record) = search_record {
            // The search's table travels with the version it produced.
            registry_metrics["tuning"] = record;
        }

        // 4. Register, with users erased meanwhile removed.
        let record = {
            let _files = state.model_files.lock().unwrap_or_else(|p| p.into_inner());
            if live.cancel.load(Ordering::Relaxed) {
                return Err(Error::Engine(encore_core::Error::Cancelled));
            }
            for user in state.erased_since(erase_tick) {
                artifact.remove_user(&user);
            }
            let version = self.store.reserve_model_version(&state.name)?;
            let relative =
                format!("models/{}/{}.enc", state.name, encore_store::ModelVersion(version));
            let path = self.config.data_dir.join(&relative);
            let dir = self.config.models_dir(&state.name);
            std::fs::create_dir_all(&dir).map_err(|e| encore_core::Error::io(&dir, e))?;
            let size_bytes = artifact.save(&path)?;
            // Other replicas fetch it from the database (a no-op on SQLite).
            self.upload_model_file(&state.name, version, &path)?;
            self.store.register_model(
                &state.name,
                &NewModel {
                    version: Some(version),
                    algorithm: algorithm.name().to_string(),
                    params: config.params_json(),
                    metrics: registry_metrics,
                    file_path: relative,
                    size_bytes,
                    trained_events_seq: watermark,
                    job: Some(live.id),
                },
            )?
        };

        // 5. Activate by policy — only while the job is still this replica's to finish: one
        //    failed as abandoned meanwhile (this replica could not heartbeat) leaves its model
        //    registered but inactive.
        self.store
            .update_job(live.id, &JobUpdate { progress: Some(0.96), ..Default::default() })?;
        let activate = match req.activate.unwrap_or_default() {
            ActivatePolicy::Always => true,
            ActivatePolicy::Never => false,
            ActivatePolicy::IfBetter => match self.store.active_model(&state.name)? {
                None => true,
                Some(active) => match (
                    metrics.get(COMPARE_METRIC),
                    metrics_map(&active.metrics).get(COMPARE_METRIC),
                ) {
                    (Some(new), Some(old)) => new > old,
                    (Some(_), None) => true,
                    (None, _) => false,
                },
            },
        };
        if activate {
            let (_, seconds) = self.activate(state, record.version)?;
            *live.activation_seconds.lock().unwrap_or_else(|p| p.into_inner()) = Some(seconds);
        }
        *live.activated.lock().unwrap_or_else(|p| p.into_inner()) = Some(activate);
        Ok(record.version)
    }

    /// Streams the catalog's events up to `watermark` into id maps and a matrix.
    fn snapshot(&self, catalog: &str, watermark: u64) -> Result<(IdMap, IdMap, InteractionMatrix)> {
        let mut builder = training::DatasetBuilder::new();
        self.store.for_each_training_event(catalog, Some(watermark), &mut |e| {
            builder.push(e.user_id, e.item_id, e.weight);
        })?;
        let data = builder.finish()?;
        Ok((data.users, data.items, data.matrix))
    }
}

/// `loaded` without the users erased after `erase_tick` (call under the catalog's files lock,
/// so no erasure slips in before the swap).
pub(crate) fn without_erased(
    state: &CatalogState,
    mut loaded: Arc<LoadedModel>,
    erase_tick: u64,
) -> Arc<LoadedModel> {
    for user in state.erased_since(erase_tick) {
        if let Some(next) = loaded.without_user_id(&user) {
            loaded = Arc::new(next);
        }
    }
    loaded
}

/// The DTO of a registry record.
pub(crate) fn model_info(r: &ModelRecord) -> dto::ModelInfo {
    dto::ModelInfo {
        version: r.version_label(),
        algorithm: r.algorithm.clone(),
        params: r.params.clone(),
        metrics: metrics_map(&r.metrics),
        index: r.metrics.get("index").and_then(|i| serde_json::from_value(i.clone()).ok()),
        tuning: r.metrics.get("tuning").cloned(),
        size_bytes: r.size_bytes,
        created_unix_ms: r.created_ms,
        watermark: r.trained_events_seq,
        active: r.active,
    }
}
