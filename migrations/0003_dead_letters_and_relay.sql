-- Dead letters kept for replay; the relay's per-row back-off and parking; retention.

-- Each event the broker could not deliver, once per event and destination.
CREATE TABLE dead_letters (
    id                 uuid PRIMARY KEY,
    event_source       text NOT NULL,
    event_id           text NOT NULL,
    event_type         text NOT NULL,
    -- The subscriber that refused it (knativeerrordest), its status
    -- (knativeerrorcode) and what it answered (knativeerrordata, decoded).
    error_dest         text NOT NULL DEFAULT '',
    error_code         integer,
    error_data         text,
    -- The event as it was, structured mode, without the error extensions.
    event              jsonb NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now(),
    deliveries         integer NOT NULL DEFAULT 1,
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'replayed')),
    replay_attempts    integer NOT NULL DEFAULT 0,
    replayed_at        timestamptz,
    last_replay_error  text,
    CONSTRAINT dead_letters_event_key UNIQUE (event_source, event_id, error_dest)
);

CREATE INDEX dead_letters_status_idx ON dead_letters (status, received_at, id);

-- The relay's schedule: a row is tried again at next_attempt_at (back-off
-- after a failure, a lease while a relay sends it); a row the broker refuses
-- as malformed is parked, with its error, for an operator.
ALTER TABLE outbox
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN parked_at timestamptz;

DROP INDEX outbox_unpublished_idx;
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, event_id)
    WHERE published_at IS NULL AND parked_at IS NULL;
-- Retention deletes published rows by age.
CREATE INDEX outbox_published_idx ON outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX idempotency_created_idx ON idempotency (created_at);
