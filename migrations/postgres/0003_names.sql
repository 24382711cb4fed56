-- Who did what, by name, as they were called when they did it: a name looked up later may have
-- changed, and the patient has the right to know who read their data (patientdatalagen). Kept
-- in step with ../sqlite/0003_names.sql. Rows written before it show NULL; adding columns
-- fires no trigger, so the access log stays append-only.

-- The staff member who registered a consent, from their token: name and profession (their
-- care unit is the consent's).
ALTER TABLE consents ADD COLUMN registered_by_name TEXT;
ALTER TABLE consents ADD COLUMN registered_by_profession TEXT;

-- Who read: the staff member's name and profession, or the person's name (a relative's from
-- their token, else the population register at access time).
ALTER TABLE access_log ADD COLUMN actor_name TEXT;
ALTER TABLE access_log ADD COLUMN actor_profession TEXT;
