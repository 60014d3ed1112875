-- Destinations and flights, with their invariants enforced here too.

CREATE TABLE destinations (
    id            uuid PRIMARY KEY,
    name          text NOT NULL CHECK (btrim(name) <> '' AND char_length(name) <= 120),
    tax_amount    numeric(12, 2) NOT NULL CHECK (tax_amount >= 0),
    is_promotion  boolean NOT NULL DEFAULT false,
    allows_pets   boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Names are unique whatever their case: "Cancún" and "cancún" are one place.
CREATE UNIQUE INDEX destinations_name_key ON destinations (lower(name));

CREATE TABLE flights (
    id              uuid PRIMARY KEY,
    destination_id  uuid NOT NULL REFERENCES destinations (id),
    flight_number   text NOT NULL CHECK (flight_number ~ '^[A-Z0-9]{2,8}$'),
    base_price      numeric(12, 2) NOT NULL CHECK (base_price > 0),
    departure_at    timestamptz NOT NULL,
    capacity        integer NOT NULL CHECK (capacity > 0),
    seats_taken     integer NOT NULL DEFAULT 0 CHECK (seats_taken >= 0 AND seats_taken <= capacity),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT flights_number_departure_key UNIQUE (flight_number, departure_at)
);

-- The orders list-flights pages by: all flights, or one destination's.
CREATE INDEX flights_departure_idx ON flights (departure_at, id);
CREATE INDEX flights_destination_departure_idx ON flights (destination_id, departure_at, id);

-- One row per command key: the claim and the first reply (see shared/src/idempotency.rs).
CREATE TABLE idempotency (
    function    text NOT NULL,
    key         text NOT NULL,
    request     jsonb NOT NULL,
    reply       jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (function, key)
);
