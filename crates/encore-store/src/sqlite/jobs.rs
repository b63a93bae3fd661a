//! Training-job records, so that job history survives a restart.

use rusqlite::{Connection, OptionalExtension, Row};

use super::catalogs::id_of;
use super::{now_ms, to_i64, to_u64};
use crate::error::{Error, Resource, Result};
use crate::types::{JobRecord, JobState, JobUpdate};

const JOB_SELECT: &str = "SELECT j.id, c.name, j.state, j.request, j.progress, j.epoch, j.loss,
         j.metrics, j.error, j.model_version, j.created_ms, j.updated_ms
     FROM jobs j JOIN catalogs c ON c.id = j.catalog_id";

fn conversion_error(
    i: usize,
    e: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
}

fn job_from_row(r: &Row<'_>) -> rusqlite::Result<JobRecord> {
    let state: String = r.get(2)?;
    let state = JobState::parse(&state).ok_or_else(|| {
        conversion_error(2, std::io::Error::other(format!("unknown job state `{state}`")))
    })?;
    let request: String = r.get(3)?;
    let metrics: Option<String> = r.get(7)?;
    Ok(JobRecord {
        id: to_u64(r.get(0)?),
        catalog: r.get(1)?,
        state,
        request: serde_json::from_str(&request).map_err(|e| conversion_error(3, e))?,
        progress: r.get(4)?,
        epoch: r.get(5)?,
        loss: r.get(6)?,
        metrics: metrics
            .map(|m| serde_json::from_str(&m))
            .transpose()
            .map_err(|e| conversion_error(7, e))?,
        error: r.get(8)?,
        model_version: r.get(9)?,
        created_ms: r.get(10)?,
        updated_ms: r.get(11)?,
        owner: None,
    })
}

pub(super) fn create(
    conn: &Connection,
    catalog: &str,
    request: &serde_json::Value,
) -> Result<JobRecord> {
    let catalog_id = id_of(conn, catalog)?;
    let now = now_ms();
    conn.execute(
        "INSERT INTO jobs (catalog_id, state, request, created_ms, updated_ms)
         VALUES (?1, 'queued', ?2, ?3, ?3)",
        (catalog_id, request.to_string(), now),
    )?;
    get(conn, to_u64(conn.last_insert_rowid()))
}

pub(super) fn get(conn: &Connection, id: u64) -> Result<JobRecord> {
    conn.prepare_cached(&format!("{JOB_SELECT} WHERE j.id = ?1"))?
        .query_row([to_i64("job id", id)?], job_from_row)
        .optional()?
        .ok_or_else(|| Error::not_found(Resource::Job, id.to_string()))
}

pub(super) fn list(
    conn: &Connection,
    catalog: Option<&str>,
    limit: usize,
) -> Result<Vec<JobRecord>> {
    let catalog_id = catalog.map(|c| id_of(conn, c)).transpose()?;
    let mut stmt = conn.prepare_cached(&format!(
        "{JOB_SELECT} WHERE (?1 IS NULL OR j.catalog_id = ?1) ORDER BY j.id DESC LIMIT ?2"
    ))?;
    let rows =
        stmt.query_map((catalog_id, i64::try_from(limit).unwrap_or(i64::MAX)), job_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn update(conn: &Connection, id: u64, update: &JobUpdate) -> Result<JobRecord> {
    let current = get(conn, id)?;
    update.check(&current)?;
    conn.execute(
        "UPDATE jobs SET
             state = coalesce(?2, state),
             progress = coalesce(?3, progress),
             epoch = coalesce(?4, epoch),
             loss = coalesce(?5, loss),
             metrics = coalesce(?6, metrics),
             error = coalesce(?7, error),
             model_version = coalesce(?8, model_version),
             updated_ms = ?9
         WHERE id = ?1",
        (
            to_i64("job id", id)?,
            update.state.map(JobState::as_str),
            update.progress,
            update.epoch,
            update.loss.filter(|l| l.is_finite()),
            update.metrics.as_ref().map(serde_json::Value::to_string),
            update.error.as_deref(),
            update.model_version,
            now_ms(),
        ),
    )?;
    get(conn, id)
}

pub(super) fn fail_unfinished(conn: &Connection, reason: &str) -> Result<u64> {
    let n = conn.execute(
        "UPDATE jobs SET state = 'failed', error = ?1, updated_ms = ?2
         WHERE state IN ('queued', 'running')",
        (reason, now_ms()),
    )?;
    Ok(n as u64)
}
