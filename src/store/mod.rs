//! The persistent store: one database (SQLite by default, PostgreSQL by URL) for the access log
//! and for consents, blocks, delegations and care relationships, with its schema migrations.
//!
//! Every query is written once, through sqlx's `Any` driver, with `$1`-style placeholders (which
//! SQLite accepts too). Columns are TEXT or integers only, so both backends decode alike: times are
//! milliseconds since 1970 (a `DateTime` read back is the one written, cut to the millisecond),
//! lists are JSON text, ids are UUID v4 text. Each write is one statement or one transaction.

mod access_log;
mod records;
#[cfg(unix)]
mod sqlite_files;
#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use futures::future::BoxFuture;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, Row};
use tokio::sync::mpsc;

pub use access_log::{LogPage, LogPosition};
pub use records::{
    Block, CareRelationship, Consent, Delegation, NewBlock, NewCareRelationship, NewConsent,
    NewDelegation,
};

use crate::domain::{Domain, HsaId, PersonId};

/// Which database a [`Store`] runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

/// Why the store could not do what was asked. The messages never contain personal data (they are
/// logged and may reach clients): at most a table, a column and the database's own message.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "unsupported database URL: use sqlite://FILE (e.g. sqlite://overblick.sqlite?mode=rwc to create the file), postgres://… or postgresql://…"
    )]
    UnsupportedUrl,
    #[error(
        "an in-memory SQLite database would lose the access log when the service stops; name a file, e.g. sqlite://overblick.sqlite?mode=rwc"
    )]
    InMemory,
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot bring the database schema up to date: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("database error while {doing}: {source}")]
    Query {
        doing: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("the database holds a value this version cannot read, in {table}.{column}")]
    Unreadable {
        table: &'static str,
        column: &'static str,
    },
    #[error("the access log writer has stopped")]
    WriterStopped,
    #[error("the database did not answer within {0:?}")]
    Timeout(Duration),
}

/// The store: cheap to clone (all clones share one connection pool and one access-log writer).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    backend: Backend,
    /// To the task that writes access records in batches (see `access_log`).
    writer: mpsc::Sender<access_log::Pending>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend)
            .finish_non_exhaustive()
    }
}

/// How long a write waits for SQLite's lock held by another connection before it fails.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Connects to `url` and brings the schema up to date. `sqlite://FILE[?mode=rwc]` (the file is
    /// created only with `mode=rwc`), or `postgres://…` / `postgresql://…`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let backend = backend_of(url)?;
        #[cfg(unix)]
        if backend == Backend::Sqlite {
            // Owner-only before SQLite creates anything: the files hold personal data.
            sqlite_files::keep_private(url);
        }
        sqlx::any::install_default_drivers();
        let options = match backend {
            Backend::Sqlite => AnyPoolOptions::new()
                // SQLite writes one at a time anyway; the other connections serve reads, which
                // WAL lets run beside a write.
                .max_connections(8)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        // WAL: readers do not block the writer; FULL: a commit is on disk (the
                        // WAL fsynced) before it returns, so a crash loses no committed record.
                        conn.execute(
                            format!(
                                "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;",
                                SQLITE_BUSY_TIMEOUT.as_millis()
                            )
                            .as_str(),
                        )
                        .await?;
                        Ok(())
                    })
                }),
            Backend::Postgres => AnyPoolOptions::new().max_connections(16),
        };
        let pool = options
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(StoreError::Connect)?;
        let migrator = Migrator::new(Embedded(match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        }))
        .await
        .map_err(StoreError::Migrate)?;
        migrator.run(&pool).await.map_err(StoreError::Migrate)?;
        let writer = access_log::start_writer(pool.clone());
        Ok(Store {
            inner: Arc::new(Inner {
                pool,
                backend,
                writer,
            }),
        })
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Whether the database answers a trivial query within `timeout` (the readiness probe).
    pub async fn ping(&self, timeout: Duration) -> Result<(), StoreError> {
        match tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(self.pool())).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(query_error("checking that the database answers")(e)),
            Err(_) => Err(StoreError::Timeout(timeout)),
        }
    }

    fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// Registers that `r.care_unit` has a care relationship with the patient.
    pub async fn register_care_relationship(
        &self,
        r: &NewCareRelationship,
    ) -> Result<CareRelationship, StoreError> {
        let stored = CareRelationship {
            id: new_id(),
            patient: r.patient.clone(),
            care_unit: r.care_unit.clone(),
            care_provider: r.care_provider.clone(),
            registered_by: r.registered_by.clone(),
            valid_from: to_millisecond(r.valid_from),
            valid_until: to_millisecond(r.valid_until),
            registered_at: to_millisecond(Utc::now()),
        };
        sqlx::query(
            "INSERT INTO care_relationships (id, patient, care_unit, care_provider, registered_by, \
             valid_from_ms, valid_until_ms, registered_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&stored.id)
        .bind(stored.patient.digits())
        .bind(stored.care_unit.as_str())
        .bind(stored.care_provider.as_str())
        .bind(stored.registered_by.as_str())
        .bind(stored.valid_from.timestamp_millis())
        .bind(stored.valid_until.timestamp_millis())
        .bind(stored.registered_at.timestamp_millis())
        .execute(self.pool())
        .await
        .map_err(query_error("registering a care relationship"))?;
        Ok(stored)
    }

    /// The patient's care relationships, ended ones included, newest first.
    pub async fn care_relationships(
        &self,
        patient: &PersonId,
    ) -> Result<Vec<CareRelationship>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, patient, care_unit, care_provider, registered_by, valid_from_ms, \
             valid_until_ms, registered_at_ms FROM care_relationships WHERE patient = $1 \
             ORDER BY registered_at_ms DESC, seq DESC",
        )
        .bind(patient.digits())
        .fetch_all(self.pool())
        .await
        .map_err(query_error("reading care relationships"))?;
        rows.iter().map(records::care_relationship).collect()
    }

    /// Registers the patient's consent for `c.care_unit`.
    pub async fn register_consent(&self, c: &NewConsent) -> Result<Consent, StoreError> {
        let stored = Consent {
            id: new_id(),
            patient: c.patient.clone(),
            care_unit: c.care_unit.clone(),
            care_unit_name: c.care_unit_name.clone(),
            care_provider: c.care_provider.clone(),
            registered_by: c.registered_by.clone(),
            registered_by_name: c.registered_by_name.clone(),
            registered_by_profession: c.registered_by_profession.clone(),
            valid_from: to_millisecond(c.valid_from),
            valid_until: to_millisecond(c.valid_until),
            registered_at: to_millisecond(Utc::now()),
            withdrawn_at: None,
        };
        sqlx::query(
            "INSERT INTO consents (id, patient, care_unit, care_unit_name, care_provider, \
             registered_by, valid_from_ms, valid_until_ms, registered_at_ms, registered_by_name, \
             registered_by_profession) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&stored.id)
        .bind(stored.patient.digits())
        .bind(stored.care_unit.as_str())
        .bind(stored.care_unit_name.clone())
        .bind(stored.care_provider.as_str())
        .bind(stored.registered_by.as_str())
        .bind(stored.valid_from.timestamp_millis())
        .bind(stored.valid_until.timestamp_millis())
        .bind(stored.registered_at.timestamp_millis())
        .bind(stored.registered_by_name.clone())
        .bind(stored.registered_by_profession.clone())
        .execute(self.pool())
        .await
        .map_err(query_error("registering a consent"))?;
        Ok(stored)
    }

    /// The patient's consents, withdrawn ones included, newest first.
    pub async fn consents(&self, patient: &PersonId) -> Result<Vec<Consent>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CONSENT_COLUMNS} FROM consents WHERE patient = $1 \
             ORDER BY registered_at_ms DESC, seq DESC"
        ))
        .bind(patient.digits())
        .fetch_all(self.pool())
        .await
        .map_err(query_error("reading consents"))?;
        rows.iter().map(records::consent).collect()
    }

    /// Withdraws the patient's consent `id` as of `at`. `None` when the patient has no consent
    /// with that id (another patient's is never touched); one already withdrawn comes back
    /// unchanged.
    pub async fn withdraw_consent(
        &self,
        patient: &PersonId,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Consent>, StoreError> {
        self.end(
            "UPDATE consents SET withdrawn_at_ms = COALESCE(withdrawn_at_ms, $1) WHERE id = $2 AND patient = $3",
            CONSENT_COLUMNS,
            patient,
            id,
            at,
            "withdrawing a consent",
            records::consent,
        )
        .await
    }

    /// Blocks (spärr) a care provider's data, or one of its care units' only. When the patient
    /// already has an active block on the same target, that one is returned and nothing is
    /// written: the check and the insert are one statement (SQLite runs it under its write
    /// lock; on PostgreSQL the transaction holds the patient's advisory lock), so two requests
    /// at once (a double tap) leave one block too.
    pub async fn set_block(&self, b: &NewBlock) -> Result<Block, StoreError> {
        let stored = Block {
            id: new_id(),
            patient: b.patient.clone(),
            care_provider: b.care_provider.clone(),
            care_unit: b.care_unit.clone(),
            set_at: to_millisecond(Utc::now()),
            lifted_at: None,
        };
        let unit = stored.care_unit.as_ref().map(|u| u.as_str().to_owned());
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(query_error("setting a block"))?;
        self.lock_patient(&mut tx, &stored.patient, "setting a block")
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO blocks (id, patient, care_provider, care_unit, set_at_ms) \
             SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM blocks WHERE patient = $2 \
             AND care_provider = $3 AND COALESCE(care_unit, '') = COALESCE($4, '') \
             AND lifted_at_ms IS NULL)",
        )
        .bind(&stored.id)
        .bind(stored.patient.digits())
        .bind(stored.care_provider.as_str())
        .bind(unit.clone())
        .bind(stored.set_at.timestamp_millis())
        .execute(&mut *tx)
        .await
        .map_err(query_error("setting a block"))?
        .rows_affected();
        let block = if inserted == 1 {
            stored
        } else {
            let row = sqlx::query(&format!(
                "SELECT {BLOCK_COLUMNS} FROM blocks WHERE patient = $1 AND care_provider = $2 \
                 AND COALESCE(care_unit, '') = COALESCE($3, '') AND lifted_at_ms IS NULL \
                 ORDER BY set_at_ms, seq LIMIT 1"
            ))
            .bind(stored.patient.digits())
            .bind(stored.care_provider.as_str())
            .bind(unit)
            .fetch_one(&mut *tx)
            .await
            .map_err(query_error("reading the existing block"))?;
            records::block(&row)?
        };
        tx.commit().await.map_err(query_error("setting a block"))?;
        Ok(block)
    }

    /// The patient's blocks, lifted ones included, newest first.
    pub async fn blocks(&self, patient: &PersonId) -> Result<Vec<Block>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {BLOCK_COLUMNS} FROM blocks WHERE patient = $1 ORDER BY set_at_ms DESC, seq DESC"
        ))
        .bind(patient.digits())
        .fetch_all(self.pool())
        .await
        .map_err(query_error("reading blocks"))?;
        rows.iter().map(records::block).collect()
    }

    /// Lifts the patient's block `id` as of `at`; as [`Store::withdraw_consent`].
    pub async fn lift_block(
        &self,
        patient: &PersonId,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Block>, StoreError> {
        self.end(
            "UPDATE blocks SET lifted_at_ms = COALESCE(lifted_at_ms, $1) WHERE id = $2 AND patient = $3",
            BLOCK_COLUMNS,
            patient,
            id,
            at,
            "lifting a block",
            records::block,
        )
        .await
    }

    /// Records that the patient lets `d.delegate` see `d.domains` until `d.valid_until`.
    pub async fn grant_delegation(&self, d: &NewDelegation) -> Result<Delegation, StoreError> {
        let stored = Delegation {
            id: new_id(),
            patient: d.patient.clone(),
            delegate: d.delegate.clone(),
            domains: d.domains.clone(),
            valid_until: d.valid_until,
            granted_at: to_millisecond(Utc::now()),
            revoked_at: None,
        };
        sqlx::query(
            "INSERT INTO delegations (id, patient, delegate, domains, valid_until, granted_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&stored.id)
        .bind(stored.patient.digits())
        .bind(stored.delegate.digits())
        .bind(domains_json(&stored.domains))
        .bind(stored.valid_until.format(DATE_FORMAT).to_string())
        .bind(stored.granted_at.timestamp_millis())
        .execute(self.pool())
        .await
        .map_err(query_error("granting a delegation"))?;
        Ok(stored)
    }

    /// Grants `d` in place of the patient's delegations `replaces` (revoked as of `at`; ids of
    /// another patient's, or already revoked ones, are left alone), in one transaction, so the
    /// delegate never holds both or neither. When an active delegation with the same delegate,
    /// lists and end date exists by the time the transaction runs (a request made twice at
    /// once), it is returned and nothing changes. Which delegations to replace is the rules'
    /// decision (`access::writes::delegation_change`).
    pub async fn grant_delegation_replacing(
        &self,
        d: &NewDelegation,
        replaces: &[&str],
        at: DateTime<Utc>,
    ) -> Result<Delegation, StoreError> {
        let doing = "granting a delegation";
        let stored = Delegation {
            id: new_id(),
            patient: d.patient.clone(),
            delegate: d.delegate.clone(),
            domains: d.domains.clone(),
            valid_until: d.valid_until,
            granted_at: to_millisecond(Utc::now()),
            revoked_at: None,
        };
        let domains = domains_json(&stored.domains);
        let until = stored.valid_until.format(DATE_FORMAT).to_string();
        let mut tx = self.pool().begin().await.map_err(query_error(doing))?;
        self.lock_patient(&mut tx, &stored.patient, doing).await?;
        // The insert checks for its twin itself, as its first statement: on SQLite a
        // transaction that read first could not then write once another had (it would fail
        // rather than wait), so the check is inside the write.
        let inserted = sqlx::query(
            "INSERT INTO delegations (id, patient, delegate, domains, valid_until, granted_at_ms) \
             SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM delegations \
             WHERE patient = $2 AND delegate = $3 AND domains = $4 AND valid_until = $5 \
             AND revoked_at_ms IS NULL)",
        )
        .bind(&stored.id)
        .bind(stored.patient.digits())
        .bind(stored.delegate.digits())
        .bind(&domains)
        .bind(&until)
        .bind(stored.granted_at.timestamp_millis())
        .execute(&mut *tx)
        .await
        .map_err(query_error(doing))?
        .rows_affected();
        if inserted != 1 {
            let row = sqlx::query(&format!(
                "SELECT {DELEGATION_COLUMNS} FROM delegations WHERE patient = $1 \
                 AND delegate = $2 AND domains = $3 AND valid_until = $4 \
                 AND revoked_at_ms IS NULL ORDER BY granted_at_ms, seq LIMIT 1"
            ))
            .bind(stored.patient.digits())
            .bind(stored.delegate.digits())
            .bind(&domains)
            .bind(&until)
            .fetch_one(&mut *tx)
            .await
            .map_err(query_error("reading the existing delegation"))?;
            let existing = records::delegation(&row)?;
            tx.commit().await.map_err(query_error(doing))?;
            return Ok(existing);
        }
        for id in replaces {
            sqlx::query(
                "UPDATE delegations SET revoked_at_ms = $1 WHERE id = $2 AND patient = $3 \
                 AND revoked_at_ms IS NULL",
            )
            .bind(at.timestamp_millis())
            .bind(*id)
            .bind(stored.patient.digits())
            .execute(&mut *tx)
            .await
            .map_err(query_error("revoking a replaced delegation"))?;
        }
        tx.commit().await.map_err(query_error(doing))?;
        Ok(stored)
    }

    /// The delegations the patient has granted, revoked and expired ones included, newest first.
    pub async fn delegations_granted_by(
        &self,
        patient: &PersonId,
    ) -> Result<Vec<Delegation>, StoreError> {
        self.delegations_where("patient", patient).await
    }

    /// The delegations granted to `delegate`, revoked and expired ones included, newest first.
    pub async fn delegations_to(&self, delegate: &PersonId) -> Result<Vec<Delegation>, StoreError> {
        self.delegations_where("delegate", delegate).await
    }

    async fn delegations_where(
        &self,
        column: &'static str,
        person: &PersonId,
    ) -> Result<Vec<Delegation>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {DELEGATION_COLUMNS} FROM delegations WHERE {column} = $1 \
             ORDER BY granted_at_ms DESC, seq DESC"
        ))
        .bind(person.digits())
        .fetch_all(self.pool())
        .await
        .map_err(query_error("reading delegations"))?;
        rows.iter().map(records::delegation).collect()
    }

    /// Revokes the delegation `id` that the patient granted, as of `at`; as
    /// [`Store::withdraw_consent`].
    pub async fn revoke_delegation(
        &self,
        patient: &PersonId,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Delegation>, StoreError> {
        self.end(
            "UPDATE delegations SET revoked_at_ms = COALESCE(revoked_at_ms, $1) WHERE id = $2 AND patient = $3",
            DELEGATION_COLUMNS,
            patient,
            id,
            at,
            "revoking a delegation",
            records::delegation,
        )
        .await
    }
}

impl Store {
    /// On PostgreSQL, holds an advisory lock on the patient until `tx` ends, so a check and the
    /// write it guards (no second identical block or delegation) are not interleaved with a
    /// concurrent request for the same patient; READ COMMITTED alone would let both see
    /// nothing and both insert. SQLite needs none: it runs one write transaction at a time, and
    /// each guarded write starts with its check inside a writing statement or is serialised by
    /// its first write.
    async fn lock_patient(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        patient: &PersonId,
        doing: &'static str,
    ) -> Result<(), StoreError> {
        if self.backend() != Backend::Postgres {
            return Ok(());
        }
        // Twelve digits fit a bigint; the service takes no other advisory locks.
        let key: i64 = patient
            .digits()
            .parse()
            .expect("a personnummer is twelve digits");
        // Wrapped in a count: the Any driver cannot decode `void`.
        sqlx::query("SELECT COUNT(*) FROM (SELECT pg_advisory_xact_lock($1)) AS locked")
            .bind(key)
            .fetch_one(&mut **tx)
            .await
            .map_err(query_error(doing))?;
        Ok(())
    }

    /// Ends the patient's row `id` as of `at` with `update` (one statement: `COALESCE` keeps an
    /// earlier end's time) and reads it back; `None` when the patient has no such row (another
    /// patient's is never touched).
    #[allow(clippy::too_many_arguments)]
    async fn end<T>(
        &self,
        update: &str,
        columns: &str,
        patient: &PersonId,
        id: &str,
        at: DateTime<Utc>,
        what: &'static str,
        decode: fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let row = sqlx::query(&format!("{update} RETURNING {columns}"))
            .bind(at.timestamp_millis())
            .bind(id)
            .bind(patient.digits())
            .fetch_optional(self.pool())
            .await
            .map_err(query_error(what))?;
        row.as_ref().map(decode).transpose()
    }
}

const CONSENT_COLUMNS: &str = "id, patient, care_unit, care_unit_name, care_provider, \
    registered_by, valid_from_ms, valid_until_ms, registered_at_ms, withdrawn_at_ms, \
    registered_by_name, registered_by_profession";
const BLOCK_COLUMNS: &str = "id, patient, care_provider, care_unit, set_at_ms, lifted_at_ms";
const DELEGATION_COLUMNS: &str =
    "id, patient, delegate, domains, valid_until, granted_at_ms, revoked_at_ms";
const DATE_FORMAT: &str = "%Y-%m-%d";

/// The backend a URL names, or why it names none.
fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Backend::Postgres);
    }
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Err(StoreError::UnsupportedUrl);
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    // Each pooled connection to an in-memory database would get a database of its own, and all
    // of it is gone when the service stops: never what an access log wants.
    if path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
        return Err(StoreError::InMemory);
    }
    Ok(Backend::Sqlite)
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = out[authority_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| authority_start + i);
        if let Some(at) = out[authority_start..authority_end].rfind('@') {
            let userinfo = &out[authority_start..authority_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(authority_start + colon + 1..authority_start + at, "***");
            }
        }
    }
    if let Some(query_start) = out.find('?') {
        let query: Vec<String> = out[query_start + 1..]
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.replace_range(query_start + 1.., &query.join("&"));
    }
    out
}

/// The migrations, embedded so the binary needs no files beside it. A test checks that every
/// file in `migrations/` is listed here.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "access_log_refusals",
        include_str!("../../migrations/sqlite/0002_access_log_refusals.sql"),
    ),
    (
        3,
        "names",
        include_str!("../../migrations/sqlite/0003_names.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "access_log_refusals",
        include_str!("../../migrations/postgres/0002_access_log_refusals.sql"),
    ),
    (
        3,
        "names",
        include_str!("../../migrations/postgres/0003_names.sql"),
    ),
];

/// Migrations from the embedded list (sqlx reads them from a folder at run time, or through its
/// `migrate!` macro, which we do without).
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|&(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `t` cut to the millisecond, as the store keeps it.
fn to_millisecond(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).expect("a time cut short stays valid")
}

fn query_error(doing: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { doing, source }
}

fn domains_json(domains: &[Domain]) -> String {
    serde_json::to_string(&domains.iter().map(|d| d.as_str()).collect::<Vec<_>>())
        .expect("a list of strings serialises")
}

/// Reading columns back, with errors that name the column and never the value.
struct Columns<'r> {
    row: &'r AnyRow,
    table: &'static str,
}

impl<'r> Columns<'r> {
    fn unreadable(&self, column: &'static str) -> StoreError {
        StoreError::Unreadable {
            table: self.table,
            column,
        }
    }

    fn text(&self, column: &'static str) -> Result<String, StoreError> {
        self.row
            .try_get::<String, _>(column)
            .map_err(|_| self.unreadable(column))
    }

    fn optional_text(&self, column: &'static str) -> Result<Option<String>, StoreError> {
        self.row
            .try_get::<Option<String>, _>(column)
            .map_err(|_| self.unreadable(column))
    }

    fn integer(&self, column: &'static str) -> Result<i64, StoreError> {
        self.row
            .try_get::<i64, _>(column)
            .map_err(|_| self.unreadable(column))
    }

    fn person(&self, column: &'static str) -> Result<PersonId, StoreError> {
        PersonId::parse(&self.text(column)?).map_err(|_| self.unreadable(column))
    }

    fn hsa_id(&self, column: &'static str) -> Result<HsaId, StoreError> {
        HsaId::parse(&self.text(column)?).map_err(|_| self.unreadable(column))
    }

    fn optional_hsa_id(&self, column: &'static str) -> Result<Option<HsaId>, StoreError> {
        self.optional_text(column)?
            .map(|t| HsaId::parse(&t).map_err(|_| self.unreadable(column)))
            .transpose()
    }

    fn time(&self, column: &'static str) -> Result<DateTime<Utc>, StoreError> {
        DateTime::from_timestamp_millis(self.integer(column)?).ok_or(self.unreadable(column))
    }

    fn optional_time(&self, column: &'static str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.row
            .try_get::<Option<i64>, _>(column)
            .map_err(|_| self.unreadable(column))?
            .map(|ms| DateTime::from_timestamp_millis(ms).ok_or(self.unreadable(column)))
            .transpose()
    }

    fn date(&self, column: &'static str) -> Result<NaiveDate, StoreError> {
        NaiveDate::parse_from_str(&self.text(column)?, DATE_FORMAT)
            .map_err(|_| self.unreadable(column))
    }

    fn string_list(&self, column: &'static str) -> Result<Vec<String>, StoreError> {
        serde_json::from_str(&self.text(column)?).map_err(|_| self.unreadable(column))
    }

    fn domains(&self, column: &'static str) -> Result<Vec<Domain>, StoreError> {
        self.string_list(column)?
            .iter()
            .map(|name| Domain::from_str_name(name).ok_or(self.unreadable(column)))
            .collect()
    }
}
