//! The access log in the store: records are written by one task with group commit, and read
//! back per patient by time, whole or a page at a time (keyset on time and `seq`).
//!
//! `record` must not return before its record is committed, yet a commit is an fsync (SQLite
//! with `synchronous = FULL`) or a round trip with a WAL flush (PostgreSQL): one per record would
//! cap the service at the disk's fsyncs per second. So callers hand their record to a writer task
//! and wait; the task takes what has queued up meanwhile (up to `MAX_BATCH`), inserts it all in
//! one transaction, commits once and then answers every waiter. Under load the batches grow on
//! their own; alone, a record is committed at once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::AnyPool;
use sqlx::any::AnyRow;
use tokio::sync::{mpsc, oneshot};

use serde::{Deserialize, Serialize};

use super::{Columns, Store, StoreError, query_error};
use crate::audit::{AccessRecord, AuditError, AuditLog};
use crate::domain::PersonId;

/// A record waiting to be written, and where to say how it went.
pub(super) struct Pending {
    record: AccessRecord,
    done: oneshot::Sender<Result<(), Arc<StoreError>>>,
}

/// The most records committed in one transaction.
const MAX_BATCH: usize = 256;
/// Records that may wait for the writer before `record` itself waits to hand its over.
const QUEUE: usize = 4096;

const INSERT: &str = "INSERT INTO access_log (time_ms, request_id, actor_issuer, actor_subject, \
    actor_role, actor_person, actor_hsa_id, on_behalf_of, patient, care_unit, care_unit_name, \
    care_provider, care_provider_name, purpose, reason, emergency, domains, sources, outcome, \
    refusals, actor_name, actor_profession) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
    $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)";

const COLUMNS: &str = "time_ms, request_id, actor_issuer, actor_subject, actor_role, \
    actor_person, actor_hsa_id, on_behalf_of, patient, care_unit, care_unit_name, care_provider, \
    care_provider_name, purpose, reason, emergency, domains, sources, outcome, refusals, \
    actor_name, actor_profession";

/// Starts the writer task; it ends when every [`Store`] clone (every sender) is gone.
pub(super) fn start_writer(pool: AnyPool) -> mpsc::Sender<Pending> {
    let (sender, mut receiver) = mpsc::channel::<Pending>(QUEUE);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        // Waits for the first record, then takes whatever else is already queued.
        while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let outcome = insert_batch(&pool, &batch).await.map_err(Arc::new);
            for pending in batch.drain(..) {
                // A waiter that has gone (its request was dropped) needs no answer.
                let _ = pending.done.send(outcome.clone());
            }
        }
    });
    sender
}

/// All of `batch` in one transaction: all of it is committed, or none.
async fn insert_batch(pool: &AnyPool, batch: &[Pending]) -> Result<(), StoreError> {
    let doing = "writing access records";
    let mut tx = pool.begin().await.map_err(query_error(doing))?;
    for Pending { record: r, .. } in batch {
        sqlx::query(INSERT)
            .bind(r.time.timestamp_millis())
            .bind(r.request_id.as_str())
            .bind(r.actor_issuer.as_str())
            .bind(r.actor_subject.as_str())
            .bind(r.actor_role.as_str())
            .bind(r.actor_person.clone())
            .bind(r.actor_hsa_id.clone())
            .bind(r.on_behalf_of.clone())
            .bind(r.patient.as_str())
            .bind(r.care_unit.clone())
            .bind(r.care_unit_name.clone())
            .bind(r.care_provider.clone())
            .bind(r.care_provider_name.clone())
            .bind(r.purpose.clone())
            .bind(r.reason.clone())
            .bind(i64::from(r.emergency))
            .bind(json_list(&r.domains))
            .bind(json_list(&r.sources))
            .bind(r.outcome.as_str())
            .bind(serde_json::to_string(&r.refusals).expect("refusals serialise"))
            .bind(r.actor_name.clone())
            .bind(r.actor_profession.clone())
            .execute(&mut *tx)
            .await
            .map_err(query_error(doing))?;
    }
    tx.commit().await.map_err(query_error(doing))
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("a list of strings serialises")
}

impl AuditLog for Store {
    fn record<'a>(&'a self, record: &'a AccessRecord) -> BoxFuture<'a, Result<(), AuditError>> {
        Box::pin(async move {
            let (done, outcome) = oneshot::channel();
            let stopped = || AuditError::new(StoreError::WriterStopped);
            self.inner
                .writer
                .send(Pending {
                    record: record.clone(),
                    done,
                })
                .await
                .map_err(|_| stopped())?;
            outcome
                .await
                .map_err(|_| stopped())?
                .map_err(|e| AuditError::shared(e))
        })
    }
}

impl Store {
    /// The patient's access records from `from` (inclusive) to `to` (exclusive), newest first.
    /// Times come back cut to the millisecond.
    pub async fn access_log(
        &self,
        patient: &PersonId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<AccessRecord>, StoreError> {
        let (from, to) = bounds(from, to);
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM access_log WHERE patient = $1 AND time_ms >= $2 AND time_ms < $3 \
             ORDER BY time_ms DESC, seq DESC"
        ))
        .bind(patient.digits())
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await
        .map_err(query_error("reading the access log"))?;
        rows.iter().map(access_record).collect()
    }
}

/// A record's place in the access log's order: newest first by the stored (millisecond) time,
/// then the later written first (`seq`, the row's number, which never changes). What a page's
/// cursor remembers, so the next page starts right after it however many records were written
/// since.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPosition {
    #[serde(rename = "t")]
    pub time_ms: i64,
    #[serde(rename = "s")]
    pub seq: i64,
}

/// One page of a patient's access log.
#[derive(Debug)]
pub struct LogPage {
    /// At most the page's size, newest first, each with its place in the order.
    pub records: Vec<(LogPosition, AccessRecord)>,
    /// More records follow the last one (under the same range).
    pub has_more: bool,
}

/// A `from`/`to` pair as bounds on the stored milliseconds.
fn bounds(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> (i64, i64) {
    (
        from.map_or(i64::MIN, |t| t.timestamp_millis()),
        to.map_or(i64::MAX, |t| t.timestamp_millis()),
    )
}

impl Store {
    /// Up to `limit` of the patient's access records from `from` (inclusive) to `to`
    /// (exclusive) that come after `after` in the log's order (newest first; see
    /// [`LogPosition`]). Read in the database by keyset, on the index of patient and time: a
    /// page costs the same on the first day and after years of accesses.
    pub async fn access_log_page(
        &self,
        patient: &PersonId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        after: Option<LogPosition>,
        limit: usize,
    ) -> Result<LogPage, StoreError> {
        let (from, to) = bounds(from, to);
        let after = after.unwrap_or(LogPosition {
            time_ms: i64::MAX,
            seq: i64::MAX,
        });
        // One more than asked for tells whether more follow.
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX - 1) + 1;
        let rows = sqlx::query(&format!(
            "SELECT seq, {COLUMNS} FROM access_log WHERE patient = $1 AND time_ms >= $2 \
             AND time_ms < $3 AND (time_ms < $4 OR (time_ms = $4 AND seq < $5)) \
             ORDER BY time_ms DESC, seq DESC LIMIT $6"
        ))
        .bind(patient.digits())
        .bind(from)
        .bind(to)
        .bind(after.time_ms)
        .bind(after.seq)
        .bind(fetch)
        .fetch_all(self.pool())
        .await
        .map_err(query_error("reading the access log"))?;
        let has_more = rows.len() > limit;
        let records = rows
            .iter()
            .take(limit)
            .map(|row| {
                let c = Columns {
                    row,
                    table: "access_log",
                };
                let position = LogPosition {
                    time_ms: c.integer("time_ms")?,
                    seq: c.integer("seq")?,
                };
                Ok((position, access_record(row)?))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(LogPage { records, has_more })
    }

    /// Whether the patient has an access record from `from` to `to` at `position` or before it
    /// in the log's order (newer): whether a page after `position` has a page before it.
    pub async fn access_log_reaches(
        &self,
        patient: &PersonId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        position: LogPosition,
    ) -> Result<bool, StoreError> {
        let (from, to) = bounds(from, to);
        let row = sqlx::query(
            "SELECT seq FROM access_log WHERE patient = $1 AND time_ms >= $2 AND time_ms < $3 \
             AND (time_ms > $4 OR (time_ms = $4 AND seq >= $5)) LIMIT 1",
        )
        .bind(patient.digits())
        .bind(from)
        .bind(to)
        .bind(position.time_ms)
        .bind(position.seq)
        .fetch_optional(self.pool())
        .await
        .map_err(query_error("reading the access log"))?;
        Ok(row.is_some())
    }

    /// How many access records the patient has from `from` (inclusive) to `to` (exclusive).
    pub async fn access_log_count(
        &self,
        patient: &PersonId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<u64, StoreError> {
        let (from, to) = bounds(from, to);
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM access_log WHERE patient = $1 AND time_ms >= $2 \
             AND time_ms < $3",
        )
        .bind(patient.digits())
        .bind(from)
        .bind(to)
        .fetch_one(self.pool())
        .await
        .map_err(query_error("counting the access log"))?;
        let c = Columns {
            row: &row,
            table: "access_log",
        };
        u64::try_from(c.integer("n")?).map_err(|_| c.unreadable("n"))
    }
}

fn access_record(row: &AnyRow) -> Result<AccessRecord, StoreError> {
    let c = Columns {
        row,
        table: "access_log",
    };
    Ok(AccessRecord {
        time: c.time("time_ms")?,
        request_id: c.text("request_id")?,
        actor_issuer: c.text("actor_issuer")?,
        actor_subject: c.text("actor_subject")?,
        actor_role: c.text("actor_role")?,
        actor_person: c.optional_text("actor_person")?,
        actor_hsa_id: c.optional_text("actor_hsa_id")?,
        actor_name: c.optional_text("actor_name")?,
        actor_profession: c.optional_text("actor_profession")?,
        on_behalf_of: c.optional_text("on_behalf_of")?,
        patient: c.text("patient")?,
        care_unit: c.optional_text("care_unit")?,
        care_unit_name: c.optional_text("care_unit_name")?,
        care_provider: c.optional_text("care_provider")?,
        care_provider_name: c.optional_text("care_provider_name")?,
        purpose: c.optional_text("purpose")?,
        reason: c.optional_text("reason")?,
        emergency: match c.integer("emergency")? {
            0 => false,
            1 => true,
            _ => return Err(c.unreadable("emergency")),
        },
        domains: c.string_list("domains")?,
        sources: c.string_list("sources")?,
        outcome: c.text("outcome")?,
        refusals: serde_json::from_str(&c.text("refusals")?)
            .map_err(|_| c.unreadable("refusals"))?,
    })
}
