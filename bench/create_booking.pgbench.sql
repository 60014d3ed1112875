-- The SQL transaction create-booking runs for a booking the read model does
-- not quote (under the flight's lock), statement for statement, for pgbench:
-- the second baseline its HTTP throughput is compared with. The request, the
-- reply and the event's data are bound as parameters (`-D`, from a booking
-- the function wrote in the same run), as the function binds them. Only the
-- function's `SET LOCAL statement_timeout`, sent with its BEGIN, is left out.
\set n random(1, :flights)
\set key random(1, 9000000000000000000)
BEGIN;
INSERT INTO idempotency (function, key, request) VALUES ('bench', 'pgb-' || :client_id || '-' || :key, (:request::jsonb)) ON CONFLICT (function, key) DO NOTHING;
SELECT f.id, f.flight_number, f.destination_id, d.name AS destination_name, d.tax_amount, d.is_promotion, d.allows_pets, f.base_price, f.departure_at, f.capacity, f.seats_taken, f.created_at, f.version, d.version AS destination_version FROM flights f JOIN destinations d ON d.id = f.destination_id WHERE f.id = ('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid FOR UPDATE OF f;
WITH seat AS (UPDATE flights SET seats_taken = seats_taken + 1, version = version + 1 WHERE id = ('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid) INSERT INTO bookings (id, flight_id, passenger_name, passenger_age, has_pet, status, base_price, discount, tax, total, idempotency_key, owner) VALUES (gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid, 'Bench', 30, false, 'confirmed', 1000.00, 100.00, 50.00, 950.00, 'pgb-' || :client_id || '-' || :key, 'bench') RETURNING created_at;
WITH tx AS MATERIALIZED (SELECT pg_current_xact_id()), completed AS (UPDATE idempotency SET reply = (:reply::jsonb) WHERE function = 'bench' AND key = 'pgb-' || :client_id || '-' || :key) INSERT INTO outbox (seq, event_id, type, source, subject, data, traceparent, tracestate, created_at) SELECT nextval('outbox_seq'), e.* FROM tx, unnest(ARRAY[gen_random_uuid()], ARRAY['skybook.booking.created'], ARRAY['/skybook/bookings'], ARRAY['bench'], (:data::jsonb[]), ARRAY[NULL::text], ARRAY[NULL::text], ARRAY[now()]) AS e(event_id, type, source, subject, data, traceparent, tracestate, created_at) RETURNING event_id, seq;
COMMIT;
