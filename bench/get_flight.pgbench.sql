-- The query get-flight runs, for pgbench (-M prepared): the real limit of
-- its throughput on this machine.
\set n random(1, :flights)
SELECT f.id, f.flight_number, f.destination_id, d.name AS destination_name, d.tax_amount, d.is_promotion, d.allows_pets, f.base_price, f.departure_at, f.capacity, f.seats_taken, f.created_at, f.version, d.version AS destination_version FROM flights f JOIN destinations d ON d.id = f.destination_id WHERE f.id = ('00000000-0000-4000-8000-' || lpad(:n::text, 12, '0'))::uuid;
