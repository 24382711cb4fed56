-- The domains refused within an access that was otherwise granted (a delegate's undelegated
-- lists), each with its code: JSON text, e.g. [{"domain":"lab_results","code":"FORBIDDEN"}].
-- Kept in step with ../postgres/0002_access_log_refusals.sql. Records written before it have
-- none recorded ('[]'); adding a column fires no trigger, so the log stays append-only.
ALTER TABLE access_log ADD COLUMN refusals TEXT NOT NULL DEFAULT '[]';
