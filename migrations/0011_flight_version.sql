-- A flight's version, one higher with every change to its row (a seat taken
-- or given back), under the row's lock: the flights read model in Redis
-- keeps a flight only if it is newer than the one it holds, so deliveries in
-- any order, twice, or beside a rebuild leave the newest there.
ALTER TABLE flights ADD COLUMN version bigint NOT NULL DEFAULT 1;
