-- Bookings with their price breakdown, and the transactional outbox.

CREATE TABLE bookings (
    id               uuid PRIMARY KEY,
    flight_id        uuid NOT NULL REFERENCES flights (id),
    passenger_name   text NOT NULL CHECK (btrim(passenger_name) <> '' AND char_length(passenger_name) <= 120),
    passenger_age    smallint NOT NULL CHECK (passenger_age BETWEEN 0 AND 150),
    has_pet          boolean NOT NULL,
    status           text NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
    base_price       numeric(12, 2) NOT NULL CHECK (base_price > 0),
    discount         numeric(12, 2) NOT NULL CHECK (discount >= 0),
    tax              numeric(12, 2) NOT NULL CHECK (tax >= 0),
    total            numeric(12, 2) NOT NULL CHECK (total = base_price - discount + tax),
    -- The key of the command that made it (ce-source + ce-id, or Idempotency-Key).
    idempotency_key  text UNIQUE,
    created_at       timestamptz NOT NULL DEFAULT now(),
    cancelled_at     timestamptz,
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);

CREATE INDEX bookings_flight_idx ON bookings (flight_id, created_at, id);
CREATE INDEX bookings_passenger_idx ON bookings (lower(passenger_name), created_at, id);
CREATE INDEX bookings_created_idx ON bookings (created_at, id);

CREATE TABLE outbox (
    event_id      uuid PRIMARY KEY,
    type          text NOT NULL,
    source        text NOT NULL,
    subject       text NOT NULL,
    data          jsonb NOT NULL,
    traceparent   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
);

-- The relay's work list: only the rows still to send.
CREATE INDEX outbox_unpublished_idx ON outbox (created_at, event_id) WHERE published_at IS NULL;
