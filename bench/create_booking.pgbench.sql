-- The SQL transaction create-booking runs, statement for statement, for pgbench:
-- the baseline its HTTP throughput is compared with.
\set n random(1, :flights)
\set key random(1, 9000000000000000000)
BEGIN;
INSERT INTO idempotency (function, key, request) VALUES ('bench', 'pgb-' || :client_id || '-' || :key, '{"flight":1}') ON CONFLICT (function, key) DO NOTHING;
SELECT f.id, f.flight_number, f.destination_id, d.name AS destination_name, d.tax_amount, d.is_promotion, d.allows_pets, f.base_price, f.departure_at, f.capacity, f.seats_taken, f.created_at, f.version, d.version AS destination_version FROM flights f JOIN destinations d ON d.id = f.destination_id WHERE f.id = ('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid FOR UPDATE OF f;
UPDATE flights SET seats_taken = seats_taken + 1, version = version + 1 WHERE id = ('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid;
INSERT INTO bookings (id, flight_id, passenger_name, passenger_age, has_pet, status, base_price, discount, tax, total, idempotency_key, owner) VALUES (gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid, 'Bench', 30, false, 'confirmed', 1000.00, 100.00, 50.00, 950.00, 'pgb-' || :client_id || '-' || :key, 'bench') RETURNING created_at;
INSERT INTO outbox (event_id, type, source, subject, data, traceparent, tracestate, created_at) VALUES (gen_random_uuid(), 'skybook.booking.created', '/skybook/bookings', 'bench', '{"id":"bench","price":{"total":"950.00"}}', NULL, NULL, now());
UPDATE idempotency SET reply = '{"id":"bench"}' WHERE function = 'bench' AND key = 'pgb-' || :client_id || '-' || :key;
COMMIT;
