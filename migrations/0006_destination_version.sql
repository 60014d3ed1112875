-- A destination's version, which orders its updates as they commit: each
-- update takes one above the version it replaces, read under the row's lock,
-- so of two concurrent renames the one that commits last has the higher
-- version (updated_at is each transaction's start, which is not in commit
-- order). It never falls below the wall clock in microseconds, what the
-- stats compared names by before, so names already there compare right.
ALTER TABLE destinations ADD COLUMN version bigint;
UPDATE destinations SET version = (extract(epoch FROM updated_at) * 1000000)::bigint;
ALTER TABLE destinations
    ALTER COLUMN version SET DEFAULT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
    ALTER COLUMN version SET NOT NULL;
