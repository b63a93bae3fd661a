//! The model registry: versions, activation, file bookkeeping.

use rusqlite::{Connection, OptionalExtension, Row};

use super::catalogs::id_of;
use super::{now_ms, to_i64, to_u64};
use crate::error::{Error, Resource, Result};
use crate::types::{JobState, ModelRecord, NewModel};

const MODEL_SELECT: &str = "SELECT c.name, m.version, m.algorithm, m.params, m.metrics,
         m.file_path, m.size_bytes, m.created_ms, m.trained_events_seq, m.active
     FROM models m JOIN catalogs c ON c.id = m.catalog_id";

fn json_column(r: &Row<'_>, i: usize) -> rusqlite::Result<serde_json::Value> {
    let text: String = r.get(i)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn model_from_row(r: &Row<'_>) -> rusqlite::Result<ModelRecord> {
    Ok(ModelRecord {
        catalog: r.get(0)?,
        version: r.get(1)?,
        algorithm: r.get(2)?,
        params: json_column(r, 3)?,
        metrics: json_column(r, 4)?,
        file_path: r.get(5)?,
        size_bytes: to_u64(r.get(6)?),
        created_ms: r.get(7)?,
        trained_events_seq: to_u64(r.get(8)?),
        active: r.get(9)?,
    })
}

pub(super) fn reserve_version(conn: &Connection, catalog: &str) -> Result<u32> {
    let catalog_id = id_of(conn, catalog)?;
    let version: u32 = conn.query_row(
        "UPDATE catalogs SET next_model_version = next_model_version + 1 WHERE id = ?1
         RETURNING next_model_version - 1",
        [catalog_id],
        |r| r.get(0),
    )?;
    Ok(version)
}

use crate::limits::check_model_file_path as check_file_path;

pub(super) fn register(conn: &Connection, catalog: &str, model: &NewModel) -> Result<ModelRecord> {
    let catalog_id = id_of(conn, catalog)?;
    check_file_path(&model.file_path)?;
    if model.algorithm.is_empty() {
        return Err(Error::Invalid("model algorithm is empty".into()));
    }
    if let Some(job) = model.job {
        check_job(conn, catalog_id, catalog, job)?;
    }
    let version = match model.version {
        Some(v) => {
            let next: u32 = conn.query_row(
                "SELECT next_model_version FROM catalogs WHERE id = ?1",
                [catalog_id],
                |r| r.get(0),
            )?;
            if v == 0 || v >= next {
                return Err(Error::Invalid(format!(
                    "model version {v} of catalog `{catalog}` was not reserved"
                )));
            }
            v
        }
        None => reserve_version(conn, catalog)?,
    };
    if get_by_id(conn, catalog_id, version)?.is_some() {
        return Err(Error::Conflict(format!("model v{version} of `{catalog}` already exists")));
    }
    conn.execute(
        "INSERT INTO models (catalog_id, version, algorithm, params, metrics, file_path,
             size_bytes, created_ms, trained_events_seq, active)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)",
        (
            catalog_id,
            version,
            &model.algorithm,
            model.params.to_string(),
            model.metrics.to_string(),
            &model.file_path,
            to_i64("size_bytes", model.size_bytes)?,
            now_ms(),
            to_i64("trained_events_seq", model.trained_events_seq)?,
        ),
    )?;
    get(conn, catalog, version)
}

/// The fencing rule ([`crate::replica::check_job_may_register`]), inside the caller's write
/// transaction (SQLite has one writer, so the job cannot end before the registration commits).
fn check_job(conn: &Connection, catalog_id: i64, catalog: &str, job: u64) -> Result<()> {
    let row: Option<(String, i64)> = conn
        .prepare_cached("SELECT state, catalog_id FROM jobs WHERE id = ?1")?
        .query_row([to_i64("job id", job)?], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((state, job_catalog)) = row else {
        return Err(Error::not_found(Resource::Job, job.to_string()));
    };
    if job_catalog != catalog_id {
        return Err(Error::Invalid(format!("job {job} is not a job of catalog `{catalog}`")));
    }
    let state = JobState::parse(&state)
        .ok_or_else(|| Error::Conflict(format!("stored job state `{state}` is unknown")))?;
    crate::replica::check_job_may_register(job, state)
}

fn get_by_id(conn: &Connection, catalog_id: i64, version: u32) -> Result<Option<ModelRecord>> {
    Ok(conn
        .prepare_cached(&format!("{MODEL_SELECT} WHERE m.catalog_id = ?1 AND m.version = ?2"))?
        .query_row((catalog_id, version), model_from_row)
        .optional()?)
}

pub(super) fn get(conn: &Connection, catalog: &str, version: u32) -> Result<ModelRecord> {
    let catalog_id = id_of(conn, catalog)?;
    get_by_id(conn, catalog_id, version)?.ok_or_else(|| {
        Error::not_found(
            Resource::Model,
            format!("{catalog}/{}", crate::types::ModelVersion(version)),
        )
    })
}

pub(super) fn list(conn: &Connection, catalog: &str) -> Result<Vec<ModelRecord>> {
    let catalog_id = id_of(conn, catalog)?;
    let mut stmt = conn.prepare_cached(&format!(
        "{MODEL_SELECT} WHERE m.catalog_id = ?1 ORDER BY m.version DESC"
    ))?;
    let rows = stmt.query_map([catalog_id], model_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Deactivates the current model and activates `version`; both in the caller's transaction, so
/// a reader sees either the old or the new active model, never none or two.
pub(super) fn activate(conn: &Connection, catalog: &str, version: u32) -> Result<ModelRecord> {
    let catalog_id = id_of(conn, catalog)?;
    if get_by_id(conn, catalog_id, version)?.is_none() {
        return Err(Error::not_found(
            Resource::Model,
            format!("{catalog}/{}", crate::types::ModelVersion(version)),
        ));
    }
    conn.execute(
        "UPDATE models SET active = 0 WHERE catalog_id = ?1 AND active = 1",
        [catalog_id],
    )?;
    conn.execute(
        "UPDATE models SET active = 1 WHERE catalog_id = ?1 AND version = ?2",
        (catalog_id, version),
    )?;
    get(conn, catalog, version)
}

pub(super) fn active(conn: &Connection, catalog: &str) -> Result<Option<ModelRecord>> {
    let catalog_id = id_of(conn, catalog)?;
    Ok(conn
        .prepare_cached(&format!("{MODEL_SELECT} WHERE m.catalog_id = ?1 AND m.active = 1"))?
        .query_row([catalog_id], model_from_row)
        .optional()?)
}

pub(super) fn update_file(
    conn: &Connection,
    catalog: &str,
    version: u32,
    file_path: &str,
    size_bytes: u64,
) -> Result<ModelRecord> {
    let catalog_id = id_of(conn, catalog)?;
    check_file_path(file_path)?;
    let changed = conn.execute(
        "UPDATE models SET file_path = ?3, size_bytes = ?4 WHERE catalog_id = ?1 AND version = ?2",
        (catalog_id, version, file_path, to_i64("size_bytes", size_bytes)?),
    )?;
    if changed == 0 {
        return Err(Error::not_found(
            Resource::Model,
            format!("{catalog}/{}", crate::types::ModelVersion(version)),
        ));
    }
    get(conn, catalog, version)
}
