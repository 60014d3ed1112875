-- A replay leases the letters it claims until it has recorded how each
-- went: a concurrent replay skips them though the claim has committed, so no
-- letter is sent twice at once; a replay that dies leaves them to the next
-- one when the lease runs out.
ALTER TABLE dead_letters ADD COLUMN leased_until timestamptz;
