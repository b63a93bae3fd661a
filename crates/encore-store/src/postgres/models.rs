//! The model registry: versions, activation, file bookkeeping.

use postgres::{Row, Transaction};

use super::catalogs::{id_of, lock};
use super::{to_i32, to_i64, to_u64};
use crate::clock::now_ms;
use crate::error::{Error, Resource, Result};
use crate::types::{JobState, ModelRecord, ModelVersion, NewModel};

const MODEL_SELECT: &str = "SELECT c.name, m.version, m.algorithm, m.params, m.metrics,
         m.file_path, m.size_bytes, m.created_ms, m.trained_events_seq, m.active
     FROM models m JOIN catalogs c ON c.id = m.catalog_id";

fn model_from_row(r: &Row) -> ModelRecord {
    ModelRecord {
        catalog: r.get(0),
        version: r.get::<_, i32>(1) as u32,
        algorithm: r.get(2),
        params: r.get(3),
        metrics: r.get(4),
        file_path: r.get(5),
        size_bytes: to_u64(r.get(6)),
        created_ms: r.get(7),
        trained_events_seq: to_u64(r.get(8)),
        active: r.get(9),
    }
}

fn model_not_found(catalog: &str, version: u32) -> Error {
    Error::not_found(Resource::Model, format!("{catalog}/{}", ModelVersion(version)))
}

/// Hands out the next version; the catalog row's lock makes concurrent reservations wait.
pub(super) fn reserve_version(tx: &mut Transaction<'_>, catalog: &str) -> Result<u32> {
    let catalog_id = id_of(tx, catalog)?;
    let version: i32 = tx
        .query_one(
            "UPDATE catalogs SET next_model_version = next_model_version + 1 WHERE id = $1
             RETURNING next_model_version - 1",
            &[&catalog_id],
        )?
        .get(0);
    Ok(version as u32)
}

use crate::limits::check_model_file_path as check_file_path;

pub(super) fn register(
    tx: &mut Transaction<'_>,
    catalog: &str,
    model: &NewModel,
) -> Result<ModelRecord> {
    let catalog_id = lock(tx, catalog)?;
    check_file_path(&model.file_path)?;
    if model.algorithm.is_empty() {
        return Err(Error::Invalid("model algorithm is empty".into()));
    }
    if let Some(job) = model.job {
        check_job(tx, catalog_id, catalog, job)?;
    }
    let version = match model.version {
        Some(v) => {
            let next: i32 = tx
                .query_one("SELECT next_model_version FROM catalogs WHERE id = $1", &[&catalog_id])?
                .get(0);
            if v == 0 || i64::from(v) >= i64::from(next) {
                return Err(Error::Invalid(format!(
                    "model version {v} of catalog `{catalog}` was not reserved"
                )));
            }
            v
        }
        None => reserve_version(tx, catalog)?,
    };
    let inserted = tx.execute(
        "INSERT INTO models (catalog_id, version, algorithm, params, metrics, file_path,
             size_bytes, created_ms, trained_events_seq, active)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, false)
         ON CONFLICT (catalog_id, version) DO NOTHING",
        &[
            &catalog_id,
            &to_i32("model version", version)?,
            &model.algorithm,
            &model.params,
            &model.metrics,
            &model.file_path,
            &to_i64("size_bytes", model.size_bytes)?,
            &now_ms(),
            &to_i64("trained_events_seq", model.trained_events_seq)?,
        ],
    )?;
    if inserted == 0 {
        return Err(Error::Conflict(format!("model v{version} of `{catalog}` already exists")));
    }
    get(tx, catalog, version)
}

/// The fencing rule ([`crate::replica::check_job_may_register`]). The job row stays locked until
/// the registration commits, so a concurrent update that ends the job (another replica failing
/// it as abandoned) either waits and finds it succeeded, or goes first and the model is refused.
fn check_job(tx: &mut Transaction<'_>, catalog_id: i64, catalog: &str, job: u64) -> Result<()> {
    let row = tx
        .query_opt(
            "SELECT state, catalog_id FROM jobs WHERE id = $1 FOR UPDATE",
            &[&to_i64("job id", job)?],
        )?
        .ok_or_else(|| Error::not_found(Resource::Job, job.to_string()))?;
    let (state, job_catalog): (String, i64) = (row.get(0), row.get(1));
    if job_catalog != catalog_id {
        return Err(Error::Invalid(format!("job {job} is not a job of catalog `{catalog}`")));
    }
    let state = JobState::parse(&state)
        .ok_or_else(|| Error::Conflict(format!("stored job state `{state}` is unknown")))?;
    crate::replica::check_job_may_register(job, state)
}

fn get_by_id(
    tx: &mut Transaction<'_>,
    catalog_id: i64,
    version: u32,
) -> Result<Option<ModelRecord>> {
    Ok(tx
        .query_opt(
            &format!("{MODEL_SELECT} WHERE m.catalog_id = $1 AND m.version = $2"),
            &[&catalog_id, &to_i32("model version", version)?],
        )?
        .map(|r| model_from_row(&r)))
}

pub(super) fn get(tx: &mut Transaction<'_>, catalog: &str, version: u32) -> Result<ModelRecord> {
    let catalog_id = id_of(tx, catalog)?;
    get_by_id(tx, catalog_id, version)?.ok_or_else(|| model_not_found(catalog, version))
}

pub(super) fn list(tx: &mut Transaction<'_>, catalog: &str) -> Result<Vec<ModelRecord>> {
    let catalog_id = id_of(tx, catalog)?;
    let rows = tx.query(
        &format!("{MODEL_SELECT} WHERE m.catalog_id = $1 ORDER BY m.version DESC"),
        &[&catalog_id],
    )?;
    Ok(rows.iter().map(model_from_row).collect())
}

/// Deactivates the current model and activates `version` in the caller's transaction, with the
/// catalog row locked: concurrent activations run one after the other, so each sees the model
/// the previous one activated (at READ COMMITTED an unlocked pair of UPDATEs would not, and
/// the one-active index would refuse the second commit).
pub(super) fn activate(
    tx: &mut Transaction<'_>,
    catalog: &str,
    version: u32,
) -> Result<ModelRecord> {
    let catalog_id = lock(tx, catalog)?;
    if get_by_id(tx, catalog_id, version)?.is_none() {
        return Err(model_not_found(catalog, version));
    }
    tx.execute(
        "UPDATE models SET active = false WHERE catalog_id = $1 AND active",
        &[&catalog_id],
    )?;
    tx.execute(
        "UPDATE models SET active = true WHERE catalog_id = $1 AND version = $2",
        &[&catalog_id, &to_i32("model version", version)?],
    )?;
    get(tx, catalog, version)
}

pub(super) fn active(tx: &mut Transaction<'_>, catalog: &str) -> Result<Option<ModelRecord>> {
    let catalog_id = id_of(tx, catalog)?;
    Ok(tx
        .query_opt(&format!("{MODEL_SELECT} WHERE m.catalog_id = $1 AND m.active"), &[&catalog_id])?
        .map(|r| model_from_row(&r)))
}

pub(super) fn update_file(
    tx: &mut Transaction<'_>,
    catalog: &str,
    version: u32,
    file_path: &str,
    size_bytes: u64,
) -> Result<ModelRecord> {
    let catalog_id = id_of(tx, catalog)?;
    check_file_path(file_path)?;
    let changed = tx.execute(
        "UPDATE models SET file_path = $3, size_bytes = $4 WHERE catalog_id = $1 AND version = $2",
        &[
            &catalog_id,
            &to_i32("model version", version)?,
            &file_path,
            &to_i64("size_bytes", size_bytes)?,
        ],
    )?;
    if changed == 0 {
        return Err(model_not_found(catalog, version));
    }
    get(tx, catalog, version)
}
