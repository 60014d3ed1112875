-- Every outbox row's place in one stream: consumers remember what they have
-- applied as a floor in it (everything below is settled) and a small bitmap
-- above, instead of a mark per event. The sequence is drawn after the
-- writing transaction holds its id (see `outbox::insert`), so once every
-- transaction older than a reading of `last_value` has ended, no number at
-- or below it can still appear.
CREATE SEQUENCE outbox_seq AS bigint;
ALTER TABLE outbox ADD COLUMN seq bigint;
UPDATE outbox SET seq = numbered.seq
FROM (SELECT event_id, nextval('outbox_seq') AS seq
      FROM (SELECT event_id FROM outbox ORDER BY created_at, event_id) ordered) numbered
WHERE outbox.event_id = numbered.event_id;
ALTER TABLE outbox ALTER COLUMN seq SET NOT NULL,
                   ALTER COLUMN seq SET DEFAULT nextval('outbox_seq');
ALTER SEQUENCE outbox_seq OWNED BY outbox.seq;
-- The floor walks the stream by number, a tick's worth at a time.
CREATE UNIQUE INDEX outbox_seq_idx ON outbox (seq) INCLUDE (type);
