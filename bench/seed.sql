-- Bench data: one destination on promotion, :flights flights with ids
-- 00000000-0000-4000-8000-<n, 12 digits> leaving :departs + n minutes (seconds
-- since the epoch, so pgbench quotes them too) and room for every booking.
TRUNCATE outbox, bookings, idempotency, flights, destinations;
INSERT INTO destinations (id, name, tax_amount, is_promotion, allows_pets)
VALUES ('00000000-0000-4000-8000-000000000000', 'Bench', 50.00, true, true);
INSERT INTO flights (id, destination_id, flight_number, base_price, departure_at, capacity)
SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid,
       '00000000-0000-4000-8000-000000000000', 'BN' || n, 1000.00,
       to_timestamp(:departs) + make_interval(mins => n), 100000000
FROM generate_series(1, :flights) AS n;
-- One booking to get and cancel.
INSERT INTO bookings (id, flight_id, passenger_name, passenger_age, has_pet, status, base_price, discount, tax, total,
                      owner)
VALUES ('00000000-0000-4000-8000-0000000b0000', '00000000-0000-4000-8000-000000000001', 'Bench', 30, false,
        'confirmed', 1000.00, 100.00, 50.00, 950.00, 'bench');
UPDATE flights SET seats_taken = 1 WHERE id = '00000000-0000-4000-8000-000000000001';
