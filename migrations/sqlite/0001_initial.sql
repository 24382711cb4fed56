-- Överblick's store, SQLite. Kept in step with ../postgres/0001_initial.sql: the same tables and
-- columns, only the DDL differs. Columns are TEXT or integers so that both backends read back
-- through sqlx's Any driver: times are milliseconds since 1970 (UTC), lists are JSON text, ids
-- are UUID v4 text. `seq` orders rows written in the same millisecond.

CREATE TABLE care_relationships (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    patient TEXT NOT NULL,
    care_unit TEXT NOT NULL,
    care_provider TEXT NOT NULL,
    registered_by TEXT NOT NULL,
    valid_from_ms BIGINT NOT NULL,
    valid_until_ms BIGINT NOT NULL,
    registered_at_ms BIGINT NOT NULL
);
CREATE INDEX care_relationships_by_patient ON care_relationships (patient, registered_at_ms);

CREATE TABLE consents (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    patient TEXT NOT NULL,
    care_unit TEXT NOT NULL,
    care_unit_name TEXT,
    care_provider TEXT NOT NULL,
    registered_by TEXT NOT NULL,
    valid_from_ms BIGINT NOT NULL,
    valid_until_ms BIGINT NOT NULL,
    registered_at_ms BIGINT NOT NULL,
    withdrawn_at_ms BIGINT
);
CREATE INDEX consents_by_patient ON consents (patient, registered_at_ms);

CREATE TABLE blocks (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    patient TEXT NOT NULL,
    care_provider TEXT NOT NULL,
    -- NULL: the whole care provider is blocked.
    care_unit TEXT,
    set_at_ms BIGINT NOT NULL,
    lifted_at_ms BIGINT
);
CREATE INDEX blocks_by_patient ON blocks (patient, set_at_ms);

CREATE TABLE delegations (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    patient TEXT NOT NULL,
    delegate TEXT NOT NULL,
    -- JSON array of domain names, e.g. ["medications","bookings"].
    domains TEXT NOT NULL,
    -- The last day the delegation holds, YYYY-MM-DD.
    valid_until TEXT NOT NULL,
    granted_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE INDEX delegations_by_patient ON delegations (patient, granted_at_ms);
CREATE INDEX delegations_by_delegate ON delegations (delegate, granted_at_ms);

CREATE TABLE access_log (
    seq INTEGER PRIMARY KEY,
    time_ms BIGINT NOT NULL,
    request_id TEXT NOT NULL,
    actor_issuer TEXT NOT NULL,
    actor_subject TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    actor_person TEXT,
    actor_hsa_id TEXT,
    on_behalf_of TEXT,
    patient TEXT NOT NULL,
    care_unit TEXT,
    care_unit_name TEXT,
    care_provider TEXT,
    care_provider_name TEXT,
    purpose TEXT,
    reason TEXT,
    emergency INTEGER NOT NULL CHECK (emergency IN (0, 1)),
    domains TEXT NOT NULL,
    sources TEXT NOT NULL,
    outcome TEXT NOT NULL
);
-- A patient reads their own log by time (`Store::access_log`).
CREATE INDEX access_log_by_patient_time ON access_log (patient, time_ms);

-- The access log is append-only: what was recorded stays recorded.
CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
BEGIN
    SELECT RAISE(ABORT, 'the access log is append-only');
END;
CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
BEGIN
    SELECT RAISE(ABORT, 'the access log is append-only');
END;
