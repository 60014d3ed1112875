-- no-transaction
-- The parked rows, for relay-outbox's backlog gauge: counted through this
-- index (almost always empty) and the pending ones through outbox_due_idx,
-- rather than by reading every row kept for retention each tick. Built
-- CONCURRENTLY, outside a transaction, so bookings keep writing the outbox
-- while it is built; one statement only (several would share an implicit
-- transaction). If a build is interrupted it leaves an invalid index behind
-- and this migration fails on its next run until that is dropped:
-- DROP INDEX CONCURRENTLY outbox_parked_idx;
CREATE INDEX CONCURRENTLY outbox_parked_idx ON outbox (parked_at)
    WHERE published_at IS NULL AND parked_at IS NOT NULL;
