//! Training-job records, so that job history survives a restart.

use postgres::{Row, Transaction};

use super::catalogs::id_of;
use super::{limit_i64, to_i32, to_i64, to_u64};
use crate::clock::now_ms;
use crate::error::{Error, Resource, Result};
use crate::types::{JobRecord, JobState, JobUpdate};

const JOB_SELECT: &str = "SELECT j.id, c.name, j.state, j.request, j.progress, j.epoch, j.loss,
         j.metrics, j.error, j.model_version, j.created_ms, j.updated_ms, j.owner
     FROM jobs j JOIN catalogs c ON c.id = j.catalog_id";

fn job_from_row(r: &Row) -> Result<JobRecord> {
    let state: String = r.get(2);
    let state = JobState::parse(&state)
        .ok_or_else(|| Error::Conflict(format!("stored job state `{state}` is unknown")))?;
    Ok(JobRecord {
        id: to_u64(r.get(0)),
        catalog: r.get(1),
        state,
        request: r.get(3),
        progress: r.get(4),
        epoch: r.get::<_, Option<i32>>(5).map(|e| e as u32),
        loss: r.get(6),
        metrics: r.get(7),
        error: r.get(8),
        model_version: r.get::<_, Option<i32>>(9).map(|v| v as u32),
        created_ms: r.get(10),
        updated_ms: r.get(11),
        owner: r.get(12),
    })
}

pub(super) fn create(
    tx: &mut Transaction<'_>,
    catalog: &str,
    request: &serde_json::Value,
    owner: Option<&str>,
) -> Result<JobRecord> {
    let catalog_id = id_of(tx, catalog)?;
    let id: i64 = tx
        .query_one(
            "INSERT INTO jobs (catalog_id, state, request, created_ms, updated_ms, owner)
             VALUES ($1, 'queued', $2, $3, $3, $4) RETURNING id",
            &[&catalog_id, request, &now_ms(), &owner],
        )?
        .get(0);
    get(tx, to_u64(id))
}

/// One job; with `lock`, its row stays locked until the transaction ends.
fn fetch(tx: &mut Transaction<'_>, id: u64, lock: bool) -> Result<JobRecord> {
    let sql = format!("{JOB_SELECT} WHERE j.id = $1{}", if lock { " FOR UPDATE OF j" } else { "" });
    match tx.query_opt(&sql, &[&to_i64("job id", id)?])? {
        Some(r) => job_from_row(&r),
        None => Err(Error::not_found(Resource::Job, id.to_string())),
    }
}

pub(super) fn get(tx: &mut Transaction<'_>, id: u64) -> Result<JobRecord> {
    fetch(tx, id, false)
}

pub(super) fn list(
    tx: &mut Transaction<'_>,
    catalog: Option<&str>,
    limit: usize,
) -> Result<Vec<JobRecord>> {
    let catalog_id = catalog.map(|c| id_of(tx, c)).transpose()?;
    let rows = tx.query(
        &format!(
            "{JOB_SELECT} WHERE ($1::bigint IS NULL OR j.catalog_id = $1) ORDER BY j.id DESC LIMIT $2"
        ),
        &[&catalog_id, &limit_i64(limit)],
    )?;
    rows.iter().map(job_from_row).collect()
}

/// Applies an update; the job's row is locked first, so a cancel and a finish racing each other
/// see each other's state and the terminal-state rule holds.
pub(super) fn update(tx: &mut Transaction<'_>, id: u64, update: &JobUpdate) -> Result<JobRecord> {
    let current = fetch(tx, id, true)?;
    update.check(&current)?;
    tx.execute(
        "UPDATE jobs SET
             state = coalesce($2, state),
             progress = coalesce($3, progress),
             epoch = coalesce($4, epoch),
             loss = coalesce($5, loss),
             metrics = coalesce($6, metrics),
             error = coalesce($7, error),
             model_version = coalesce($8, model_version),
             updated_ms = $9
         WHERE id = $1",
        &[
            &to_i64("job id", id)?,
            &update.state.map(JobState::as_str),
            &update.progress,
            &update.epoch.map(|e| to_i32("epoch", e)).transpose()?,
            &update.loss.filter(|l| l.is_finite()),
            &update.metrics,
            &update.error.as_deref(),
            &update.model_version.map(|v| to_i32("model version", v)).transpose()?,
            &now_ms(),
        ],
    )?;
    get(tx, id)
}

pub(super) fn fail_unfinished(tx: &mut Transaction<'_>, reason: &str) -> Result<u64> {
    Ok(tx.execute(
        "UPDATE jobs SET state = 'failed', error = $1, updated_ms = $2
         WHERE state IN ('queued', 'running')",
        &[&reason, &now_ms()],
    )?)
}
